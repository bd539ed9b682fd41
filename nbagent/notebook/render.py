"""Text shown for an answer: Markdown for the frontend to render (never HTML built from model text).

Model output is untrusted. JupyterLab renders Markdown from a live kernel as *trusted*: raw HTML in it
(`<script>`, `<img onerror=...>`) would run, and its sanitizer only applies to outputs loaded from an
unsigned file. So before an answer is shown, `neutralize` makes every `<` outside code literal text and
drops link targets with a scheme other than http(s)/mailto — the frontend still renders the Markdown.
"""

from __future__ import annotations

import html
import re
from typing import Any

SAFE_SCHEMES = ("http", "https", "mailto")
_FENCE_LINE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)
_INLINE_LINK_TARGET = re.compile(r"(\]\(\s*)([^)\s]*)")
_REFERENCE_TARGET = re.compile(r"^([ \t]{0,3}\[[^\]]+\]:[ \t]*)(\S+)", re.MULTILINE)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


def neutralize(markdown: str) -> str:
    """Markdown with no live HTML and no script links; code blocks and code spans are left as written."""
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines(keepends=True):
        match = _FENCE_LINE.match(line)
        if fence is None:
            if match:
                out.append(_neutralize_prose("".join(prose)))
                prose = []
                fence = match.group(1)
                out.append(line)
            else:
                prose.append(line)
        else:
            out.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and not line.strip()[len(match.group(1)):].strip():
                fence = None
    out.append(_neutralize_prose("".join(prose)))
    return "".join(out)


def _neutralize_prose(text: str) -> str:
    pieces = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        pieces.append(_escape_outside_code(text[position:span.start()]))
        pieces.append(span.group(0))
        position = span.end()
    pieces.append(_escape_outside_code(text[position:]))
    return "".join(pieces)


def _escape_outside_code(text: str) -> str:
    text = text.replace("<", "&lt;")
    text = _INLINE_LINK_TARGET.sub(_safe_target, text)
    return _REFERENCE_TARGET.sub(_safe_target, text)


def _safe_target(match: "re.Match[str]") -> str:
    target = match.group(2)
    plain = re.sub(r"[\x00-\x20]", "", html.unescape(target)).lower()
    scheme = _SCHEME.match(plain)
    if scheme and scheme.group(1) not in SAFE_SCHEMES:
        return match.group(1) + "#unsafe-link-removed"
    return match.group(0)

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
