"""Text shown for an answer: Markdown for the frontend to render (never HTML built from model text).

Model text is neutralised first (neutralize.py): the frontend renders Markdown from a live kernel as
trusted, so raw HTML in it would run.
"""

from __future__ import annotations

from typing import Any

from .neutralize import neutralize

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
