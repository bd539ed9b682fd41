"""The model's thinking as the answer shows it: live and dimmed above the answer, then one line.

While the model thinks, a quote above the answer shows how much it has thought and its latest
paragraph in italics; only that paragraph (at most `EXCERPT_CHARS`), so each update stays small
however long the thinking gets. Once anything else arrives (the answer's text, a tool call) the quote
collapses to one line. The thinking itself stays in the conversation's messages, never in the
answer's text (`-o VAR`, `--code`, `stream_text()`).
"""

from __future__ import annotations

EXCERPT_CHARS = 400


class Thinking:
    """One stretch of thinking in the answer, as it streams (`pending`) and once it is over."""

    def __init__(self, text: str = "", *, pending: bool = True) -> None:
        self.text = text  # only ever replaced whole: the cell's thread reads it while the request adds to it
        self.pending = pending

    def add(self, delta: str) -> None:
        self.text += delta

    def finish(self) -> None:
        self.pending = False

    def __str__(self) -> str:
        text = self.text
        words = f"{len(text.split()):,} words"
        if not self.pending:
            return f"> 💭 *thought for {words}*"
        return f"> 💭 *thinking… {words}*\n>\n> *{_escape(_excerpt(text))}*"


def _excerpt(text: str) -> str:
    """The latest paragraph of `text` with something in it, on one line, its last EXCERPT_CHARS at most."""
    paragraphs = [p for p in text[-4 * EXCERPT_CHARS:].split("\n\n") if p.strip()]
    latest = " ".join(paragraphs[-1].split()) if paragraphs else ""
    if len(latest) <= EXCERPT_CHARS:
        return latest
    cut = latest[-EXCERPT_CHARS:]
    return "…" + cut[cut.find(" ") + 1:] if " " in cut else "…" + cut


def _escape(text: str) -> str:
    """Text that cannot end our italics or start a line's structure: no `*`, `_`, backtick or backslash runs."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_").replace("`", "\\`")
