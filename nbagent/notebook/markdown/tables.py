"""Markdown tables of untrusted text (`%agent_history`, structured answers, `%agent_usage`).

A cell of a table is inline text only to a reader that already knows it is in a table: on its own,
a cell beginning with ```` ``` ```` reads as a code block and would be left alone by `neutralize`,
while in the table it is text whose `<img onerror=…>` is live HTML. So each cell is only made to stay
in its cell (its `|` escaped, its lines joined), and the caller neutralises the whole table, once,
as the frontend will read it.

A `|` is escaped so that both parsers agree it is text: markdown-it takes any `\\|` as a literal
pipe, marked only one after an odd number of backslashes; doubling the backslashes before it and
adding one satisfies both, and both show the backslashes as written.
"""

from __future__ import annotations

import re
from typing import Sequence

_PIPE = re.compile(r"(\\*)\|")


def table_cell(text: str) -> str:
    """One cell's text, kept on its line and in its column."""
    flat = " ".join(text.split())
    return _PIPE.sub(lambda match: match.group(1) * 2 + "\\|", flat)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GFM table of the given cells (not yet neutralised: see the module's docstring)."""
    lines = ["| " + " | ".join(table_cell(name) for name in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(table_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
