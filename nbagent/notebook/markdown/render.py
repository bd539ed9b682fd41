"""Text shown for an answer: Markdown for the frontend to render (never HTML built from model text).

Model text is neutralised first (neutralize.py): the frontend renders Markdown from a live kernel as
trusted, so raw HTML in it would run.
"""

from __future__ import annotations

from typing import Any

from ...models import OFFLINE
from .neutralize import neutralize

FENCES = ("```", "~~~")
STREAMING = "answering…"


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
    items = [f"{OFFLINE} model" if model_label == OFFLINE else model_label]
    if usage is not None and (usage.input_tokens or usage.output_tokens):
        items.append(f"{usage.input_tokens:,} → {usage.output_tokens:,} tokens")
        if generation_seconds and generation_seconds > 0 and usage.output_tokens:
            items.append(f"{usage.output_tokens / generation_seconds:,.0f} tok/s")
    if ttft is not None:
        items.append(f"first token {ttft:.2f} s")
    if state:
        items.append(state)
    return " · ".join(items)


def answer_bundle(text: str, footer_line: str) -> dict[str, str]:
    """The MIME bundle of a whole answer: Markdown for frontends, plain text for everything else."""
    return {
        "text/markdown": _with_footer(neutralize(text), footer_line),
        "text/plain": f"{text}\n\n{footer_line}" if text else footer_line,
    }


def block_bundle(text: str) -> dict[str, str]:
    """Finished blocks of a streaming answer, shown once."""
    return {"text/markdown": neutralize(text), "text/plain": text}


def merged_bundle(text: str) -> dict[str, str]:
    """Finished blocks of a streaming answer shown once already, merged into one output to free others
    (output_column.py): Markdown only, as the tail, since the merge re-sends them and only the page
    needs them again; the whole answer at the end carries plain text."""
    return {"text/markdown": neutralize(text)}


def tail_bundle(text: str) -> dict[str, str]:
    """The growing end of a streaming answer, updated in place: Markdown only, since a plain-text
    frontend cannot show a half-written block any better than it shows the finished ones."""
    return {"text/markdown": _with_footer(neutralize(close_open_fence(text)), STREAMING)}


def _with_footer(markdown: str, footer_line: str) -> str:
    separator = "\n\n---\n" if markdown.strip() else ""
    return f"{markdown}{separator}*{_escape_emphasis(footer_line)}*"


def _escape_emphasis(text: str) -> str:
    return text.replace("*", r"\*").replace("_", r"\_")
