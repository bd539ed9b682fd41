"""Where a long block that is still growing may be cut while it streams, so that it costs no more per
update than a short one.

The growing end of an answer is re-sent on every update (answer_view.py), so a single long block (a
300-line code block, a paragraph of thousands of words) would be re-sent whole, again and again. Once
that block is longer than `LONG_BLOCK_CHARS`, its start is cut off and shown once as an output of its
own, and only the rest keeps growing:

- a fenced code block is cut after its last complete line: the part shown is closed with a fence of
  the same characters, and the rest is opened again with the very opening line (same language), so
  each part is a valid code block and the lines shown are the block's lines, in order;
- a paragraph is cut after a sentence (or, when none ended since the last update, after a word)
  where nothing inline is left open: every backtick, `$`, `*`, `_` and `~` since the cut before is paired and every `[`
  and `(` closed, so no emphasis, code span, link or math can reach from one part into the next, and
  the rest starts with a letter, so it is read as a paragraph again.

A cut never takes back what the block's output showed at the last update (it ends at or after that
text's end, at the next line or word end), so every output only grows: nothing flickers away.
Only an answer's tail that is one top-level block still open is ever cut. While it streams, a cut
paragraph shows as two paragraphs, a cut code block as two boxes; at the end the whole answer is
shown exactly (answer_view.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .lab_parser import parser

LONG_BLOCK_CHARS = 300
"""Past this length the growing block is cut: the most any update re-sends, besides what arrived."""

_FENCE_OPENING = re.compile(r"^( {0,3})(`{3,}|~{3,})[^\n]*\n", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*\s+(?=[^\W\d_])")
_WORD_END = re.compile(r"\s+(?=[^\W\d_])")
_ESCAPED = re.compile(r"\\.", re.DOTALL)
_PAIRED = "`$*_~"


@dataclass(frozen=True)
class Cut:
    """The start of a long block, shown once: `shown` chars of the tail, as the Markdown `part`; what
    follows is shown after `reopen` (the code block's opening line again, or nothing)."""

    shown: int
    part: str
    reopen: str


def long_block_cut(tail: str, shown: int = 0, limit: int = LONG_BLOCK_CHARS) -> Cut | None:
    """Where to cut `tail` (the unfinished end of an answer) when it is one open block longer than `limit`;
    never before `shown`, the length of it its output shows now, so that output only ever grows."""
    if len(tail) <= limit:
        return None
    tokens = [token for token in parser().parse(tail) if token.level == 0 and token.nesting >= 0 and token.map]
    if len(tokens) != 1:
        return None
    if tokens[0].type == "fence":
        return _fence_cut(tail, shown)
    if tokens[0].type == "paragraph_open":
        return _paragraph_cut(tail, shown)
    return None


def _fence_cut(tail: str, shown: int) -> Cut | None:
    opening = _FENCE_OPENING.search(tail)
    if opening is None or tail[:opening.start()].strip():
        return None
    indent, fence = opening.group(1), opening.group(2)
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
    if closing.search(tail, opening.end()):
        return None  # closed: it ends here, no longer long
    end = tail.rfind("\n") + 1
    if end <= max(opening.end(), shown - 1):  # up to the end of the line shown last, at least
        return None
    return Cut(end, f"{tail[:end]}{indent}{fence}\n", opening.group(0))


def _paragraph_cut(tail: str, shown: int) -> Cut | None:
    """The latest place where nothing inline is open: after a sentence if one ended since the last update,
    else after a word."""
    for pattern in (_SENTENCE_END, _WORD_END):
        best = _latest_closed(tail, pattern)
        if best is not None and best >= shown:
            return Cut(best, tail[:best], "")
    return None


def _latest_closed(tail: str, pattern: re.Pattern[str]) -> int | None:
    latest = None
    counted = 0
    counts = {char: 0 for char in _PAIRED + "[]()"}
    plain = _ESCAPED.sub("  ", tail)  # an escaped character opens nothing; same offsets
    for match in pattern.finditer(plain):
        for char in plain[counted:match.end()]:
            if char in counts:
                counts[char] += 1
        counted = match.end()
        if (all(counts[char] % 2 == 0 for char in _PAIRED)
                and counts["["] == counts["]"] and counts["("] == counts[")"]):
            latest = match.end()
    return latest
