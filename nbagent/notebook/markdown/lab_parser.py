"""markdown-it-py configured to read an answer as marked (JupyterLab's Markdown renderer) does, with
the inline rules that matter to neutralising recording where they matched: code spans, autolinks,
links and images, and `\\(…\\)` / `\\[…\\]` math.

Imported on first use only: `%load_ext nbagent` stays fast.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from .lab_math import PLACEHOLDER

_RECORD = "nbagent.lab_parser"  # the key of the `InlineRecord` in markdown-it's env
_markdown_it: Any = None


@dataclass
class InlineRecord:
    """What the inline rules matched in one inline token, as offsets into its content."""

    code: list[tuple[int, int]] = field(default_factory=list)
    autolinks: list[tuple[int, int, str]] = field(default_factory=list)  # ..., href
    links: list[tuple[int, str, int]] = field(default_factory=list)  # (end, href, end of the label)
    bracket_math: list[tuple[int, int]] = field(default_factory=list)
    base: int = 0  # an image's label is parsed as a string of its own: where it starts



@functools.lru_cache(maxsize=4096)
def parse_inline(content: str, references: tuple[tuple[str, str, str], ...],
                  watch_placeholders: bool) -> tuple[InlineRecord, frozenset[str], frozenset[str]]:
    """What the inline rules find in `content` (given the reference definitions of its document), and
    with `watch_placeholders` which placeholders it holds in text and which in attributes. Cached: while
    an answer streams, every update parses the same paragraphs again, and only the last one changes."""
    md = parser()
    record = InlineRecord()
    env = {_RECORD: record, "references": {label: {"href": href, "title": title} for label, href, title in references}}
    children: list[Any] = []
    md.inline.parse(content, md, env, children)
    in_text: set[str] = set()
    in_attribute: set[str] = set()
    if watch_placeholders:
        for child in children:
            if child.type in ("text", "code_inline"):
                in_text.update(PLACEHOLDER.findall(child.content))
            elif child.type in ("link_open", "image"):
                in_attribute.update(PLACEHOLDER.findall(" ".join(map(str, child.attrs.values())) + " " + child.content))
    return record, frozenset(in_text), frozenset(in_attribute)



def parser() -> Any:
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
        md.validateLink = lambda url: True  # type: ignore[method-assign]  # every link: neutralising judges them
        md.normalizeLink = lambda url: url  # type: ignore[method-assign]  # positions must match the source
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
