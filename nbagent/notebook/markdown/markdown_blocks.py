"""Where a growing answer's finished Markdown blocks end: what later text can no longer change.

An answer streams into the cell as blocks that are shown once and never sent again, followed by the
block still growing (answer_view.py). A top-level block (a paragraph, heading, list, table, quote,
fenced or indented code) is finished when another one has started after a blank line:

- a blank line ends a paragraph or a table, and `removeMath` never pairs `$` across one, so no
  math reaches from one shown part into the next;
- nothing is ever cut inside a block: a fenced code block, a list or a table is one top-level block
  however many blank lines it holds (markdown-it-py reads the structure, as marked will);
- a list, or indented code, can go on after a blank line; so while the line that follows is
  incomplete and could still become a list item or an indented line (it starts with a space, `-`,
  `+`, `*` or a digit), the block before it is not taken as finished.

Only the unfinished part is ever parsed, so the work per update does not grow with the answer.
"""

from __future__ import annotations

import re

from .lab_parser import parser

_NEWLINE = re.compile(r"\r\n?|\n")

_MAY_CONTINUE = " \t-+*0123456789"


def finished_end(text: str) -> int:
    """The length of the longest start of `text` made of finished top-level blocks (0 if none)."""
    tokens = [token for token in parser().parse(text) if token.level == 0 and token.nesting >= 0 and token.map]
    if len(tokens) < 2:
        return 0
    line_starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]  # markdown-it's lines
    for block in reversed(tokens[1:]):
        start = line_starts[block.map[0]]
        after_blank = not text[line_starts[block.map[0] - 1]:start].strip(" \t\r\n")
        if after_blank and (text.find("\n", start) >= 0 or text[start] not in _MAY_CONTINUE):
            return start
    return 0
