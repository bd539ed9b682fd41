"""Neutralising an answer's Markdown: nothing the frontend makes of it can be live HTML or a script link.

Model output is untrusted. JupyterLab renders Markdown from a live kernel as *trusted*: raw HTML in it
(`<script>`, `<img onerror=...>`) would run, and its sanitizer only applies to outputs loaded from an
unsigned file. So before an answer is shown, `neutralize` rewrites its Markdown so that the frontend can
only make text, code, math and http(s)/mailto links of it.

That takes reading the answer the way JupyterLab does, in its two steps:

1. `removeMath` (in @jupyterlab/rendermime, ported in lab_math.py) cuts out the math first —
   `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`, `\\begin{…}…\\end{…}` — HTML-escapes it for MathJax, and leaves a
   `@@n@@` placeholder in its place;
2. marked renders the rest as CommonMark with GFM tables, and the math is pasted back into its HTML.

Math is therefore left as written (escaping it again shows `a &lt; b` in the formula). The rest is
parsed with markdown-it-py — the structure marked sees (lab_parser.py) — to tell code spans and blocks, autolinks, link
destinations and reference definitions from text, and rewritten:

- every `<` outside code, math and http(s)/mailto autolinks becomes `&lt;`, i.e. literal text. Code
  counts only where marked surely reads code too (`_is_plain_code_span`, `_is_plain_code_block`: not
  a fence's info string, a code span right after a bare URL or holding a backtick, ...); elsewhere
  the two parsers may disagree, and a `<` escaped there at worst shows as `&lt;` inside code;
- a link or image destination with another scheme (`javascript:`, `data:`, ...) becomes
  `#unsafe-link-removed`: the whole `(...)`, so nothing is left on screen;
- a `](` that CommonMark reads as text gets its `(` written `&#40;`: marked is laxer and may still
  read a link there (it takes `[x](javascript:alert(1)` as a link to `javascript:alert(1`); a `]:`
  that is no reference definition to CommonMark gets its `:` written `&#58;`, for the same reason;
- math written `\\(…\\)` or `\\[…\\]` (which both marked and Lab read as escaped brackets) is rewritten to
  `\\\\(…\\\\)` or `\\\\[…\\\\]`, the spelling Lab renders as math;
- math that would be pasted into an HTML attribute (a URL, a title, an image's alt text) and holds a `"`
  is turned into text: Lab pastes it back unescaped, so its `"` would end the attribute and could add an
  `onerror`.

Escaping a `<` where a link destination in angle brackets could start can change what the Markdown
around it means (`[a](<b>`…` stops being a link, and a backtick after it may open a code span), and
removing a link or respelling math can re-pair `$` signs. So unless a round only escaped `<` that
nothing else depends on, its result is rewritten again, until a round finds nothing left to change:
what is shown is Markdown in which this reading finds no raw HTML. Each round removes some of finitely
many things (raw `<`, unsafe destinations, `\\(` spellings, `$` in attributes), so this ends.

While an answer streams this runs once over each set of finished blocks and, on every update, over the
part still growing (answer_view.py); inline parses are cached, so the final answer's are mostly known.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from .lab_math import JS_SPACE_CHAR, PLACEHOLDER, Cut, lab_math
from .lab_parser import parse_inline, parser

SAFE_SCHEMES = ("http", "https", "mailto")
REMOVED_LINK = "#unsafe-link-removed"
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
# controls and every blank JavaScript trims or a URL parser drops (marked trims a destination first)
_CONTROL_OR_SPACE = re.compile("[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]")


def neutralize(markdown: str) -> str:
    """Markdown with no live HTML and no script links; code and math are left as written."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    while True:
        rewrite = _Rewrite(text, lab_math(text))
        if rewrite.settled:
            return rewrite.result()
        text = rewrite.result()


def _is_safe_link(href: str) -> bool:
    """http(s), mailto, or no scheme at all (an anchor or a relative link)."""
    scheme = _SCHEME.match(_CONTROL_OR_SPACE.sub("", href).lower())
    return scheme is None or scheme.group(1) in SAFE_SCHEMES


def _in_bare_url(text: str, position: int) -> bool:
    """Whether marked could read `position` as part of a bare URL (GFM autolinks `https://…`, `www.…`)."""
    start = position
    while start and not JS_SPACE_CHAR.match(text[start - 1]):
        start -= 1
    word = text[start:position].lower()
    return "://" in word or "www." in word


def _may_be_block_attribute(text: str, position: int) -> bool:
    """Whether marked could read `position` as part of a fence's info string (its line opens with a
    fence) or of a reference definition's URL or title (a `]:` before it on its line or the line
    above): marked takes fences and definitions where CommonMark reads a table row or text."""
    line = text.rfind("\n", 0, position) + 1
    if text[line:position].lstrip(" \t>").startswith(("```", "~~~")):
        return True
    return "]:" in text[text.rfind("\n", 0, max(line - 1, 0)) + 1:position]


def _may_open_destination(text: str, position: int) -> bool:
    """Whether a `<` could open a link destination in angle brackets: after `(` or `:` (of `](` or
    `]:`), maybe on the next line, past a blockquote's `>`. Escaping such a `<` can make a link of text
    or text of a link; escaping any other `<` changes nothing but that character."""
    start = position
    while start and text[start - 1] in " \t\n>":
        start -= 1
    return start > 0 and text[start - 1] in "(:"


def _is_plain_code_span(content: str, start: int, end: int) -> bool:
    """Whether marked surely reads this code span as markdown-it does, so its `<` can stay as written.
    Not when its opening backticks could end a bare URL (marked's GFM autolink runs on to the next space
    or `<`, backticks included) or follow a `~` (marked's text takes a run of `~` and backticks), nor
    when it holds a backtick (marked's emphasis may then cross it) or spans lines (marked may dedent
    them otherwise, in a list item)."""
    inner = content[start:end].strip("`")
    return ("`" not in inner and "\n" not in inner and content[start - 1:start] != "~"
            and not _in_bare_url(content, start))


def _defused(math: str) -> str:
    """Math as plain text: no `$` or `\\` left for `removeMath` to pair, no `<` for marked."""
    return math.replace("$", "&#36;").replace("\\", "&#92;").replace("<", "&lt;")


class _Rewrite:
    """One round of `neutralize`: the edits to `text`, given where Lab cuts math out of it (`cuts`).

    markdown-it-py parses what marked will be given (`t`: the text with each cut replaced by its
    placeholder), and what it finds there is mapped back to positions in `text`.
    """

    def __init__(self, text: str, cuts: list[Cut]) -> None:
        self.text = text
        self.cuts = cuts
        pieces = []
        position = 0
        self._t_ends: list[int] = []  # where each cut's placeholder ends in `t`
        for c in cuts:
            pieces += [text[position:c.start], c.placeholder]
            self._t_ends.append((self._t_ends[-1] if self._t_ends else 0) + c.start - position + len(c.placeholder))
            position = c.end
        pieces.append(text[position:])
        self.t = "".join(pieces)
        self.edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in `text`
        self.settled = True  # whether `result()` is final: a new round would find nothing to change
        self._find_edits()

    def _to_text(self, t_position: int) -> int:
        """A position in `t` (never inside a placeholder) as a position in `text`."""
        k = bisect.bisect_right(self._t_ends, t_position) - 1
        return t_position if k < 0 else self.cuts[k].end + t_position - self._t_ends[k]

    def _find_edits(self) -> None:
        t = self.t
        quoted = [k for k, c in enumerate(self.cuts) if c.is_math and '"' in self.text[c.start:c.end]]
        scan = _Scan(t, watch_placeholders=bool(quoted))
        for start, end, replacement in scan.replacements:
            self.edits.append((self._to_text(start), self._to_text(end), replacement))
        for start, end in scan.bracket_math:
            start, end = self._to_text(start), self._to_text(end)
            written = self.text[start:end]
            self.edits.append((start, end, "\\" + written[:-2] + "\\" + written[-2:]))
        keep = scan.keep + [(start, end) for start, end, _ in scan.replacements] + scan.bracket_math
        for bracket in _outside(keep, re.finditer(r"\]\(", t)):
            if bracket + 1 not in scan.link_openings:  # text to CommonMark, maybe a link to marked
                at = self._to_text(bracket + 1)
                self.edits.append((at, at + 1, "&#40;"))
        for colon in _outside(keep, re.finditer(r"(?<=\]):", t)):
            if colon not in scan.definition_colons and not _in_bare_url(t, colon):
                at = self._to_text(colon)  # text to CommonMark, maybe a definition to marked
                self.edits.append((at, at + 1, "&#58;"))
        escaped = _outside(keep, re.finditer("<", t))
        rewritten = [(start, end) for start, end, _ in self.edits]
        self.settled = not rewritten and not any(
            at in scan.unsafe_autolinks or _may_open_destination(t, at) for at in escaped)
        self.edits += [(at, at + 1, "&lt;") for at in map(self._to_text, escaped)]
        for k in quoted:
            c = self.cuts[k]
            exposed = (c.placeholder not in scan.in_text or c.placeholder in scan.in_attribute
                       or _in_bare_url(t, self._t_ends[k] - len(c.placeholder))
                       or _may_be_block_attribute(t, self._t_ends[k] - len(c.placeholder)))
            if exposed and not any(start <= c.start and c.end <= end for start, end in rewritten):
                self.edits.append((c.start, c.end, _defused(self.text[c.start:c.end])))
                self.settled = False
        self.edits.sort()

    def result(self) -> str:
        pieces = []
        position = 0
        for start, end, replacement in self.edits:
            pieces += [self.text[position:start], replacement]
            position = end
        pieces.append(self.text[position:])
        return "".join(pieces)


def _outside(spans: list[tuple[int, int]], matches: Any) -> list[int]:
    """The start of each match that lies in none of `spans`."""
    spans = sorted(spans)
    starts = [start for start, _ in spans]
    reach: list[int] = []  # reach[k]: the furthest end among spans[:k + 1]
    for _, end in spans:
        reach.append(max(end, reach[-1]) if reach else end)
    found = []
    for match in matches:
        k = bisect.bisect_right(starts, match.start()) - 1
        if k < 0 or reach[k] <= match.start():
            found.append(match.start())
    return found



class _Scan:
    """What marked will make of `t`, as markdown-it-py reads it; positions in `t` of

    - `keep`: code blocks, code spans and http(s)/mailto autolinks (their `<` stays as written),
    - `replacements`: unsafe link destinations and reference definitions, with what replaces them,
    - `bracket_math`: `\\(…\\)` and `\\[…\\]` outside code,
    - `unsafe_autolinks`: the `<` of autolinks with another scheme (escaping it makes them text),
    - `link_openings`: the `(` of every inline link and image,
    - `definition_colons`: the `:` of every reference definition;

    and, with `watch_placeholders`, which placeholders are in text (`in_text`) and which in an HTML
    attribute (`in_attribute`).
    """

    def __init__(self, t: str, *, watch_placeholders: bool) -> None:
        self.t = t
        self.watch = watch_placeholders
        self.keep: list[tuple[int, int]] = []
        self.replacements: list[tuple[int, int, str]] = []
        self.bracket_math: list[tuple[int, int]] = []
        self.unsafe_autolinks: set[int] = set()
        self.link_openings: set[int] = set()
        self.definition_colons: set[int] = set()
        self.in_text: set[str] = set()
        self.in_attribute: set[str] = set()
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", t)] + [len(t) + 1]
        env: dict[str, Any] = {}
        tokens = parser().parse(t, env)
        references = tuple(sorted((label, ref["href"], ref["title"]) for label, ref in env.get("references", {}).items()))
        row_cursor = 0
        for index, token in enumerate(tokens):
            if token.type in ("fence", "code_block"):
                # A fence's opening line is not kept: its info string is never shown, and marked may
                # read the line as text (it does when the answer ends there, after a paragraph).
                first = token.map[0] + (token.type == "fence")
                if self._is_plain_code_block(token):
                    self.keep.append((self._line_start(first), self._line_start(token.map[1])))
                self._placeholders(token.content, self.in_text)
                self._placeholders(token.info, self.in_attribute)
            elif token.type == "definition":
                self._definition(token)
            elif token.type == "tr_open":
                row_cursor = self._line_start(token.map[0])
            elif token.type == "inline":
                parent = tokens[index - 1]
                if parent.type in ("th_open", "td_open"):
                    runs, row_cursor = self._cell_runs(token.content, row_cursor)
                else:
                    runs = self._line_runs(token, atx=parent.markup.startswith("#"))
                if self._worth_parsing(token.content):
                    self._inline(token.content, references, runs)

    def _is_plain_code_block(self, token: Any) -> bool:
        """Whether marked surely reads this block as code too. Not an indented block after anything but
        a blank line (marked may read it as a paragraph's or list item's continuation), nor a fence
        right after a line ending in `]:` (marked takes the fence's line as that definition's URL) or
        indented with a tab (marked expands tabs in list items otherwise)."""
        line = token.map[0]
        before = self.t[self._line_start(line - 1):self._line_start(line)] if line else ""
        if token.type == "code_block":
            return not before.strip(" \n")  # marked's blank line holds spaces only
        opening = self.t[self._line_start(line):self._line_start(line + 1)]
        return not before.strip().endswith("]:") and "\t" not in opening[:opening.find(token.markup)]

    def _line_start(self, line: int) -> int:
        return min(self.line_starts[line], len(self.t))

    def _placeholders(self, text: str, into: set[str]) -> None:
        if self.watch:
            into.update(PLACEHOLDER.findall(text))

    def _worth_parsing(self, content: str) -> bool:
        return ("<" in content or "](" in content or "]:" in content or "\\(" in content or "\\[" in content
                or (self.watch and "@@" in content))

    def _line_runs(self, token: Any, *, atx: bool) -> "_Runs":
        """Where the lines of a paragraph's or heading's content are in `t`. The content leaves out
        each line's indentation and container markers (`>`, a list item's indent), so a content line is
        the end of its line in `t` (an ATX heading's: before the closing `#`s). Lines holding nothing
        but blanks such as U+00A0 are trimmed away before the first content line."""
        runs = _Runs()
        offset = 0
        line = token.map[0]
        for number, content_line in enumerate(token.content.split("\n")):
            core = content_line.lstrip(" \t")
            if core:
                at = self._locate(core, line, atx)
                while at < 0 and number == 0:
                    line += 1
                    at = self._locate(core, line, atx)
                if at < 0:
                    raise AssertionError(f"content line {core!r} is not in line {line} of the answer")
                runs.add(offset + len(content_line) - len(core), at)
            offset += len(content_line) + 1
            line += 1
        return runs

    def _locate(self, core: str, line: int, atx: bool) -> int:
        start, end = self.line_starts[line], self.line_starts[line + 1] - 1
        if not atx:
            return self.t.rfind(core, start, end)
        opening = self.t.index("#", start)
        while self.t[opening] == "#":
            opening += 1
        return self.t.find(core, opening, end)

    def _cell_runs(self, content: str, cursor: int) -> tuple["_Runs", int]:
        """Where a table cell's content is in its row, searching on from the previous cell. In a cell,
        `\\|` is read as `|`, so each `|` of the content stands for two characters of the row."""
        runs = _Runs()
        if not content:
            return runs, cursor
        written = content.replace("|", "\\|")
        at = self.t.index(written, cursor)
        runs.add(0, at)
        for pipes, match in enumerate(re.finditer(r"\|", content), start=1):
            runs.add(match.start(), at + match.start() + pipes)
        return runs, at + len(written)

    def _definition(self, token: Any) -> None:
        self._placeholders(token.meta["url"] + " " + token.meta["title"], self.in_attribute)
        close = self.t.index("[", self._line_start(token.map[0])) + 1
        while self.t[close] != "]":
            close += 2 if self.t[close] == "\\" else 1
        self.definition_colons.add(close + 1)
        if _is_safe_link(token.meta["url"]):
            return
        self.replacements.append((close + 1, self.line_starts[token.map[1]] - 1, ": " + REMOVED_LINK))

    def _inline(self, content: str, references: tuple[tuple[str, str, str], ...], runs: "_Runs") -> None:
        record, in_text, in_attribute = parse_inline(content, references, self.watch)
        for start, end in record.code:
            if _is_plain_code_span(content, start, end):
                self.keep.append((runs(start), runs(end)))
        for start, end, href in record.autolinks:
            if _is_safe_link(href):
                self.keep.append((runs(start), runs(end)))
            else:
                self.unsafe_autolinks.add(runs(start))
        for end, href, label_end in record.links:
            if content.startswith("(", label_end + 1):
                self.link_openings.add(runs(label_end + 1))
                if not _is_safe_link(href):
                    self.replacements.append((runs(label_end + 1), runs(end), f"({REMOVED_LINK})"))
        self.bracket_math += [(runs(start), runs(end)) for start, end in record.bracket_math]
        self.in_text |= in_text
        self.in_attribute |= in_attribute



class _Runs:
    """Maps offsets in an inline token's content to offsets in `t`, run by run (a run is a stretch
    that is the same in both)."""

    def __init__(self) -> None:
        self._content: list[int] = []
        self._t: list[int] = []

    def add(self, content_offset: int, t_offset: int) -> None:
        self._content.append(content_offset)
        self._t.append(t_offset)

    def __call__(self, offset: int) -> int:
        k = bisect.bisect_right(self._content, offset) - 1
        return self._t[k] + offset - self._content[k]
