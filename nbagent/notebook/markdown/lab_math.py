"""JupyterLab's `removeMath` (in @jupyterlab/rendermime), ported: where Lab cuts math out of Markdown.

Lab renders an answer in two steps: `removeMath` first cuts out `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]` and
`\\begin{…}…\\end{…}`, leaving a `@@n@@` placeholder in each one's place; marked then renders the rest,
and the math is pasted back into its HTML unescaped. Neutralising must know exactly what was cut,
so this is a port of Lab's loop, quirks included, with JavaScript's regular expressions spelled out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# JupyterLab's removeMath, with JavaScript's meaning of `\s`, `.`, and of `^`/`$` under the /m flag
# spelled out, and /i on ASCII only: where Python and JavaScript disagree, Lab's reading is the one
# that decides what reaches the page as HTML.
_JS_LINE_END = "\n\r\u2028\u2029"
_JS_SPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
JS_SPACE_CHAR = re.compile(f"[{_JS_SPACE}]")
_LINE_START = rf"(?:\A|(?<=[{_JS_LINE_END}]))"
_LINE_END = rf"(?=[{_JS_LINE_END}]|\Z)"
_LAB_FENCE = re.compile(_LINE_START + r"(?P<fence>`{3,}|~{3,})[^`\n]*\n[\s\S]*?" + _LINE_START + r"(?P=fence)`*" + _LINE_END)
_LAB_CODE_SPAN = re.compile(r"(?:" + _LINE_START + r"|[^\\])(?P<ticks>`+)[^\n]*?[^`\n](?P=ticks)(?!`)")
_LAB_MATH_SPLIT = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n[" + _JS_SPACE + r"]*)+|@@[0-9]+@@|\\\\[()[\]])",
    re.IGNORECASE | re.ASCII,
)
_LAB_PARAGRAPH_BREAK = re.compile(rf"\n[^{_JS_LINE_END}]*\n")
PLACEHOLDER = re.compile("@@[0-9]+@@")
_HIDDEN_DOLLAR = "\0"  # never in the text: `neutralize` turns NUL into U+FFFD first, as markdown-it does


@dataclass
class Cut:
    """A piece `removeMath` takes out of the Markdown: math, or text that looks like its placeholder."""

    start: int
    end: int
    placeholder: str
    is_math: bool


def lab_math(text: str) -> list[Cut]:
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
    cuts: list[Cut] = []
    count = 0  # Lab's math.length: placeholders are numbered by it

    def cut(first: int, last: int, is_math: bool) -> None:
        nonlocal count
        while cuts and cuts[-1].start >= offsets[first]:
            cuts.pop()  # a placeholder-like text inside the math is part of the math
        cuts.append(Cut(offsets[first], offsets[last + 1], f"@@{count}@@", is_math))
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

