"""Text shown for an answer: Markdown for the frontend to render (never HTML built from model text).

Model output is untrusted. JupyterLab renders Markdown from a live kernel as *trusted*: raw HTML in it
(`<script>`, `<img onerror=...>`) would run, and its sanitizer only applies to outputs loaded from an
unsigned file. So before an answer is shown, `neutralize` rewrites its Markdown so that the frontend can
only make text, code, math and http(s)/mailto links of it.

That takes reading the answer the way JupyterLab does, in its two steps:

1. `removeMath` (in @jupyterlab/rendermime, ported here as `_lab_math`) cuts out the math first —
   `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`, `\\begin{…}…\\end{…}` — HTML-escapes it for MathJax, and leaves a
   `@@n@@` placeholder in its place;
2. marked renders the rest as CommonMark with GFM tables, and the math is pasted back into its HTML.

Math is therefore left as written (escaping it again shows `a &lt; b` in the formula). The rest is
parsed with markdown-it-py — the structure marked sees — to tell code spans and blocks, autolinks, link
destinations and reference definitions from text, and rewritten:

- every `<` outside code, math and http(s)/mailto autolinks becomes `&lt;`, i.e. literal text;
- a link or image destination with another scheme (`javascript:`, `data:`, ...) becomes
  `#unsafe-link-removed`: the whole `(...)`, so nothing is left on screen;
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

While an answer streams this runs on every display update, over the whole answer so far: one parse
of its blocks per round, and inline parses are cached, so of those only the growing paragraph's is new.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from typing import Any

SAFE_SCHEMES = ("http", "https", "mailto")
REMOVED_LINK = "#unsafe-link-removed"
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")

# JupyterLab's removeMath, with JavaScript's meaning of `\s`, `.`, and of `^`/`$` under the /m flag
# spelled out, and /i on ASCII only: where Python and JavaScript disagree, Lab's reading is the one
# that decides what reaches the page as HTML.
_JS_LINE_END = "\n\r\u2028\u2029"
_JS_SPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_SPACE_CHAR = re.compile(f"[{_JS_SPACE}]")
_LINE_START = rf"(?:\A|(?<=[{_JS_LINE_END}]))"
_LINE_END = rf"(?=[{_JS_LINE_END}]|\Z)"
_LAB_FENCE = re.compile(_LINE_START + r"(?P<fence>`{3,}|~{3,})[^`\n]*\n[\s\S]*?" + _LINE_START + r"(?P=fence)`*" + _LINE_END)
_LAB_CODE_SPAN = re.compile(r"(?:" + _LINE_START + r"|[^\\])(?P<ticks>`+)[^\n]*?[^`\n](?P=ticks)(?!`)")
_LAB_MATH_SPLIT = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n[" + _JS_SPACE + r"]*)+|@@[0-9]+@@|\\\\[()[\]])",
    re.IGNORECASE | re.ASCII,
)
_LAB_PARAGRAPH_BREAK = re.compile(rf"\n[^{_JS_LINE_END}]*\n")
_PLACEHOLDER = re.compile("@@[0-9]+@@")
_HIDDEN_DOLLAR = "\0"  # never in the text: `neutralize` turns NUL into U+FFFD first, as markdown-it does

_RECORD = "nbagent.render"  # the key of the `_InlineRecord` in markdown-it's env
_markdown_it: Any = None


def neutralize(markdown: str) -> str:
    """Markdown with no live HTML and no script links; code and math are left as written."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    while True:
        rewrite = _Rewrite(text, _lab_math(text))
        if rewrite.settled:
            return rewrite.result()
        text = rewrite.result()


@dataclass
class _Cut:
    """A piece `removeMath` takes out of the Markdown: math, or text that looks like its placeholder."""

    start: int
    end: int
    placeholder: str
    is_math: bool


def _lab_math(text: str) -> list[_Cut]:
    """Where JupyterLab's `removeMath` cuts `text`, in order (a port of its loop, quirks included)."""
    if "`" in text or "~~~" in text:
        # Lab hides the `$` of code blocks and code spans (as it finds them) from the math search.
        def hide(match: "re.Match[str]") -> str:
            return match.group().replace("$", _HIDDEN_DOLLAR)

        searched = _LAB_CODE_SPAN.sub(hide, _LAB_FENCE.sub(hide, text))
    else:
        searched = text
    blocks = _LAB_MATH_SPLIT.split(searched)
    offsets = [0]
    for block in blocks:
        offsets.append(offsets[-1] + len(block))
    cuts: list[_Cut] = []
    count = 0  # Lab's math.length: placeholders are numbered by it

    def cut(first: int, last: int, is_math: bool) -> None:
        nonlocal count
        while cuts and cuts[-1].start >= offsets[first]:
            cuts.pop()  # a placeholder-like text inside the math is part of the math
        cuts.append(_Cut(offsets[first], offsets[last + 1], f"@@{count}@@", is_math))
        count += 1

    start: int | None = None
    end = ""
    last: int | None = None
    braces = 0
    i = 1
    while i < len(blocks):
        block = blocks[i]
        if block[0] == "@":
            cut(i, i, False)
        elif start is not None:
            if block == end:
                if braces:
                    last = i
                else:
                    cut(start, i, True)
                    start, last = None, None
            elif _LAB_PARAGRAPH_BREAK.search(block):
                if last is not None:
                    i = last
                    cut(start, i, True)
                start, last, braces = None, None, 0
            elif block == "{":
                braces += 1
            elif block == "}" and braces:
                braces -= 1
        elif block in ("$", "$$"):
            start, end, braces = i, block, 0
        elif block in ("\\\\(", "\\\\["):
            start, end, braces = i, "\\\\)" if block[-1] == "(" else "\\\\]", 0
        elif block[1:6] == "begin":
            start, end, braces = i, "\\end" + block[6:], 0
        i += 2
    if start is not None and last is not None:
        cut(start, last, True)
    return cuts


def _is_safe_link(href: str) -> bool:
    """http(s), mailto, or no scheme at all (an anchor or a relative link)."""
    scheme = _SCHEME.match(_CONTROL_OR_SPACE.sub("", href).lower())
    return scheme is None or scheme.group(1) in SAFE_SCHEMES


def _in_bare_url(text: str, position: int) -> bool:
    """Whether marked could read `position` as part of a bare URL (GFM autolinks `https://…`, `www.…`)."""
    start = position
    while start and not _JS_SPACE_CHAR.match(text[start - 1]):
        start -= 1
    word = text[start:position].lower()
    return "://" in word or "www." in word


def _may_open_destination(text: str, position: int) -> bool:
    """Whether a `<` could open a link destination in angle brackets: after `(` or `:` (of `](` or
    `]:`), maybe on the next line, past a blockquote's `>`. Escaping such a `<` can make a link of text
    or text of a link; escaping any other `<` changes nothing but that character."""
    start = position
    while start and text[start - 1] in " \t\n>":
        start -= 1
    return start > 0 and text[start - 1] in "(:"


def _defused(math: str) -> str:
    """Math as plain text: no `$` or `\\` left for `removeMath` to pair, no `<` for marked."""
    return math.replace("$", "&#36;").replace("\\", "&#92;").replace("<", "&lt;")


class _Rewrite:
    """One round of `neutralize`: the edits to `text`, given where Lab cuts math out of it (`cuts`).

    markdown-it-py parses what marked will be given (`t`: the text with each cut replaced by its
    placeholder), and what it finds there is mapped back to positions in `text`.
    """

    def __init__(self, text: str, cuts: list[_Cut]) -> None:
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
        escaped = _outside(keep, re.finditer("<", t))
        rewritten = [(start, end) for start, end, _ in self.edits]
        self.settled = not rewritten and not any(
            at in scan.unsafe_autolinks or _may_open_destination(t, at) for at in escaped)
        self.edits += [(at, at + 1, "&lt;") for at in map(self._to_text, escaped)]
        for k in quoted:
            c = self.cuts[k]
            exposed = (c.placeholder not in scan.in_text or c.placeholder in scan.in_attribute
                       or _in_bare_url(t, self._t_ends[k] - len(c.placeholder)))
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
    reach = []  # reach[k]: the furthest end among spans[:k + 1]
    for _, end in spans:
        reach.append(max(end, reach[-1]) if reach else end)
    found = []
    for match in matches:
        k = bisect.bisect_right(starts, match.start()) - 1
        if k < 0 or reach[k] <= match.start():
            found.append(match.start())
    return found


@dataclass
class _InlineRecord:
    """What the inline rules matched in one inline token, as offsets into its content."""

    code: list[tuple[int, int]] = field(default_factory=list)
    autolinks: list[tuple[int, int, str]] = field(default_factory=list)  # ..., href
    links: list[tuple[int, str, int]] = field(default_factory=list)  # (end, href, end of the label)
    bracket_math: list[tuple[int, int]] = field(default_factory=list)
    base: int = 0  # an image's label is parsed as a string of its own: where it starts


class _Scan:
    """What marked will make of `t`, as markdown-it-py reads it; positions in `t` of

    - `keep`: code blocks, code spans and http(s)/mailto autolinks (their `<` stays as written),
    - `replacements`: unsafe link destinations and reference definitions, with what replaces them,
    - `bracket_math`: `\\(…\\)` and `\\[…\\]` outside code,
    - `unsafe_autolinks`: the `<` of autolinks with another scheme (escaping it makes them text);

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
        self.in_text: set[str] = set()
        self.in_attribute: set[str] = set()
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", t)] + [len(t) + 1]
        env: dict[str, Any] = {}
        tokens = _parser().parse(t, env)
        references = tuple(sorted((label, ref["href"], ref["title"]) for label, ref in env.get("references", {}).items()))
        row_cursor = 0
        for index, token in enumerate(tokens):
            if token.type in ("fence", "code_block"):
                self.keep.append((self._line_start(token.map[0]), self._line_start(token.map[1])))
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

    def _line_start(self, line: int) -> int:
        return min(self.line_starts[line], len(self.t))

    def _placeholders(self, text: str, into: set[str]) -> None:
        if self.watch:
            into.update(_PLACEHOLDER.findall(text))

    def _worth_parsing(self, content: str) -> bool:
        return ("<" in content or "](" in content or "\\(" in content or "\\[" in content
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
        if _is_safe_link(token.meta["url"]):
            return
        close = self.t.index("[", self._line_start(token.map[0])) + 1
        while self.t[close] != "]":
            close += 2 if self.t[close] == "\\" else 1
        self.replacements.append((close + 1, self.line_starts[token.map[1]] - 1, ": " + REMOVED_LINK))

    def _inline(self, content: str, references: tuple[tuple[str, str, str], ...], runs: "_Runs") -> None:
        record, in_text, in_attribute = _parse_inline(content, references, self.watch)
        for start, end in record.code:
            self.keep.append((runs(start), runs(end)))
        for start, end, href in record.autolinks:
            if _is_safe_link(href):
                self.keep.append((runs(start), runs(end)))
            else:
                self.unsafe_autolinks.add(runs(start))
        for end, href, label_end in record.links:
            if not _is_safe_link(href) and content.startswith("(", label_end + 1):
                self.replacements.append((runs(label_end + 1), runs(end), f"({REMOVED_LINK})"))
        self.bracket_math += [(runs(start), runs(end)) for start, end in record.bracket_math]
        self.in_text |= in_text
        self.in_attribute |= in_attribute


@functools.lru_cache(maxsize=4096)
def _parse_inline(content: str, references: tuple[tuple[str, str, str], ...],
                  watch_placeholders: bool) -> tuple[_InlineRecord, frozenset[str], frozenset[str]]:
    """What the inline rules find in `content` (given the reference definitions of its document), and
    with `watch_placeholders` which placeholders it holds in text and which in attributes. Cached: while
    an answer streams, every update parses the same paragraphs again, and only the last one changes."""
    md = _parser()
    record = _InlineRecord()
    env = {_RECORD: record, "references": {label: {"href": href, "title": title} for label, href, title in references}}
    children: list[Any] = []
    md.inline.parse(content, md, env, children)
    in_text: set[str] = set()
    in_attribute: set[str] = set()
    if watch_placeholders:
        for child in children:
            if child.type in ("text", "code_inline"):
                in_text.update(_PLACEHOLDER.findall(child.content))
            elif child.type in ("link_open", "image"):
                in_attribute.update(_PLACEHOLDER.findall(" ".join(map(str, child.attrs.values())) + " " + child.content))
    return record, frozenset(in_text), frozenset(in_attribute)


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


def _parser() -> Any:
    """markdown-it-py as marked reads an answer: CommonMark and GFM tables, raw HTML as plain text (it
    will be), every link kept whatever its scheme (the scheme check is ours), and the inline rules that
    matter recording where they matched. Imported on first use: `%load_ext nbagent` stays fast."""
    global _markdown_it
    if _markdown_it is None:
        from markdown_it import MarkdownIt
        from markdown_it import rules_inline

        md = MarkdownIt("commonmark", {"html": False, "inline_definitions": True, "maxNesting": 100})
        md.enable("table")
        # Inline content is parsed by _Scan, only where it can matter; emphasis, line breaks and
        # entities do not move code spans or links.
        md.disable(["inline", "text_join", "emphasis", "newline", "entity", "html_inline", "html_block"])
        md.validateLink = lambda url: True
        md.normalizeLink = lambda url: url
        md.inline.ruler.before("escape", "bracket_math", _bracket_math)
        md.inline.ruler.at("backticks", _recording(rules_inline.backtick, "`", _record_code))
        md.inline.ruler.at("autolink", _recording(rules_inline.autolink, "<", _record_autolink))
        md.inline.ruler.at("link", _recording(rules_inline.link, "[", _record_link))
        md.inline.ruler.at("image", _recording(_recording_image(rules_inline.image), "!", _record_link))
        _markdown_it = md
    return _markdown_it


def _bracket_math(state: Any, silent: bool) -> bool:
    """`\\(…\\)` and `\\[…\\]` as one unit, so what they hold is not read as Markdown."""
    src, start = state.src, state.pos
    if not src.startswith(("\\(", "\\["), start):
        return False
    end = src.find("\\)" if src[start + 1] == "(" else "\\]", start + 3, state.posMax)
    if end < 0:
        return False
    state.pos = end + 2
    if not silent:
        record = state.env[_RECORD]
        record.bracket_math.append((record.base + start, record.base + state.pos))
    return True


def _recording(rule: Any, marker: str, record: Any) -> Any:
    """`rule`, which starts at `marker`, calling `record(state, start, first_new_token)` on a match."""

    def recording_rule(state: Any, silent: bool) -> bool:
        start, count = state.pos, len(state.tokens)
        if silent or state.src[start] != marker:
            return rule(state, silent)
        matched = rule(state, silent)
        if matched:
            record(state, start, count)
        return matched

    return recording_rule


def _record_code(state: Any, start: int, count: int) -> None:
    if len(state.tokens) > count and state.tokens[-1].type == "code_inline":  # not a lone backtick run
        record = state.env[_RECORD]
        record.code.append((record.base + start, record.base + state.pos))


def _record_autolink(state: Any, start: int, count: int) -> None:
    record = state.env[_RECORD]
    record.autolinks.append((record.base + start, record.base + state.pos, state.tokens[-3].attrs["href"]))


def _record_link(state: Any, start: int, count: int) -> None:
    record = state.env[_RECORD]
    opening = next(t for t in state.tokens[count:] if t.type in ("link_open", "image"))
    if opening.type == "link_open":
        href, label_end = opening.attrs["href"], state.md.helpers.parseLinkLabel(state, start, True)
    else:
        href, label_end = opening.attrs["src"], state.md.helpers.parseLinkLabel(state, start + 1, False)
    record.links.append((record.base + state.pos, href, record.base + label_end))


def _recording_image(rule: Any) -> Any:
    """An image parses its label as a string of its own: offsets found there start at `base`."""

    def image(state: Any, silent: bool) -> bool:
        record = state.env[_RECORD]
        outer = record.base
        if not silent:
            record.base = outer + state.pos + 2
        try:
            return rule(state, silent)
        finally:
            record.base = outer

    return image


FENCES = ("```", "~~~")


def close_open_fence(markdown: str) -> str:
    """While streaming, close a code block the model has opened but not yet closed, so the footer
    below it does not render as code."""
    open_fence: str | None = None
    for line in markdown.splitlines():
        stripped = line.lstrip()
        for fence in FENCES:
            if stripped.startswith(fence):
                if open_fence is None:
                    open_fence = fence
                elif open_fence == fence:
                    open_fence = None
                break
    return markdown if open_fence is None else f"{markdown}\n{open_fence}"


def footer(model_label: str, usage: Any | None, ttft: float | None, generation_seconds: float | None,
           *, state: str = "") -> str:
    """One line under the answer: model, tokens, time to first token, tokens/s."""
    items = [model_label + (" (offline)" if model_label == "test" else "")]
    if usage is not None and (usage.input_tokens or usage.output_tokens):
        items.append(f"{usage.input_tokens:,} → {usage.output_tokens:,} tokens")
        if generation_seconds and generation_seconds > 0 and usage.output_tokens:
            items.append(f"{usage.output_tokens / generation_seconds:,.0f} tok/s")
    if ttft is not None:
        items.append(f"first token {ttft:.2f} s")
    if state:
        items.append(state)
    return " · ".join(items)


def answer_bundle(text: str, footer_line: str, *, streaming: bool) -> dict[str, str]:
    """The MIME bundle of one answer display: Markdown for frontends, plain text for everything else."""
    shown = neutralize(close_open_fence(text) if streaming else text)
    separator = "\n\n---\n" if shown.strip() else ""
    return {
        "text/markdown": f"{shown}{separator}*{_escape_emphasis(footer_line)}*",
        "text/plain": f"{text}\n\n{footer_line}" if text else footer_line,
    }


def _escape_emphasis(text: str) -> str:
    return text.replace("*", r"\*").replace("_", r"\_")
