"""`neutralize`: what an answer's Markdown becomes before JupyterLab renders it as trusted HTML.

The table pins the rewrite case by case; the random test checks the promise itself on answers nobody
wrote by hand: rendered by JupyterLab's own code under node (tests/lab_render: @jupyterlab/rendermime
cuts the math out, marked makes HTML of the rest, the math is pasted back), a neutralised answer holds
no element, attribute or link beyond what Markdown makes of text.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

import pytest

from nbagent.notebook.markdown.neutralize import _is_safe_link, neutralize

HOSTILE_IMG = "<img src=x onerror=alert(1)>"

CASES = [
    # -- math: left as written, JupyterLab escapes it for MathJax itself
    ("dollar-math", "Inline $a < b$ and $$x<y$$", "Inline $a < b$ and $$x<y$$"),
    ("environment", r"$$\begin{aligned} a &< b \\ c &> d \end{aligned}$$",
     r"$$\begin{aligned} a &< b \\ c &> d \end{aligned}$$"),
    ("environment-alone", r"\begin{align} a<b \end{align}", r"\begin{align} a<b \end{align}"),
    ("bracket-math", r"\(a<b\) and \[c<d\]", r"\\(a<b\\) and \\[c<d\\]"),  # the spelling Lab renders
    ("html-in-dollar-math", f"${HOSTILE_IMG}$", f"${HOSTILE_IMG}$"),
    ("html-in-display-math", "$$<script>alert(1)</script>$$", "$$<script>alert(1)</script>$$"),
    ("html-in-bracket-math", rf"\({HOSTILE_IMG}\)", rf"\\({HOSTILE_IMG}\\)"),
    ("script-href-in-math", r"$\href{javascript:alert(1)}{x}$", r"$\href{javascript:alert(1)}{x}$"),  # MathJax's
    ("unclosed-math", "$a<b", "$a&lt;b"),
    ("dollar-in-code-is-not-math", "`$a<b$` and $a<b$", "`$a<b$` and $a<b$"),
    ("lab-reads-dollars-as-math", "cost $5 and <i>x</i> and $6", "cost $5 and <i>x</i> and $6"),
    # -- math pasted into an HTML attribute, with a `"` to end it: becomes text
    ("math-in-image-url", '![a](x$"onerror="alert(1)$)', '![a](x&#36;"onerror="alert(1)&#36;)'),
    ("math-in-link-url", '[t](https://e.org/$"onmouseover="alert(1)$)', '[t](https://e.org/&#36;"onmouseover="alert(1)&#36;)'),
    ("math-in-bare-url", 'see https://e.org/$"onfocus="alert(1)$ ok', 'see https://e.org/&#36;"onfocus="alert(1)&#36; ok'),
    ("math-in-alt-text", '![$"onerror="alert(1)$](x)', '![&#36;"onerror="alert(1)&#36;](x)'),
    ("bracket-math-in-alt-text", r'![\("onerror="alert(1)\)](x)', '![&#92;&#92;("onerror="alert(1)&#92;&#92;)](x)'),
    ("quoted-math-in-link-text", r'[$\text{"a"} < b$](https://e.org)', r'[$\text{"a"} < b$](https://e.org)'),
    ("unquoted-math-in-url", "[t](https://e.org/$a$)", "[t](https://e.org/$a$)"),
    # -- raw HTML outside code and math: literal text
    ("html", "a <b>bold</b>", "a &lt;b>bold&lt;/b>"),
    ("script", "<script>x()</script>", "&lt;script>x()&lt;/script>"),
    ("img", '<img src=x onerror="y()">', '&lt;img src=x onerror="y()">'),
    ("html-in-link-text", f"[{HOSTILE_IMG}](https://e.org)", "[&lt;img src=x onerror=alert(1)>](https://e.org)"),
    ("inequality", "1 < 2 and 3 > 2", "1 &lt; 2 and 3 > 2"),
    ("entities-stay", "&lt;b> and &#36;", "&lt;b> and &#36;"),
    # -- links: another scheme loses its whole destination, balanced parentheses included
    ("javascript-link", "[x](javascript:alert(1))", "[x](#unsafe-link-removed)"),
    ("data-link", "[d](data:text/html,<script>alert(1)</script>)", "[d](#unsafe-link-removed)"),
    ("nested-parentheses", "[y](javascript:f(a(b)))", "[y](#unsafe-link-removed)"),
    ("spaces-and-case", "[a]( JaVaScRiPt:alert(1))", "[a](#unsafe-link-removed)"),
    ("entity-in-scheme", "[a](java&#115;cript:alert(1))", "[a](#unsafe-link-removed)"),
    ("image", "![i](javascript:alert(1))", "![i](#unsafe-link-removed)"),
    ("reference", "[ref]: vbscript:x", "[ref]: #unsafe-link-removed"),
    ("reference-with-title", '[ref]: <javascript:x> "t"\n\n[a][ref]', "[ref]: #unsafe-link-removed\n\n[a][ref]"),
    # -- a `](` CommonMark reads as text: marked takes `[x](javascript:alert(1)` as a link to `javascript:alert(1`
    ("unbalanced-destination", "[x](javascript:alert(1)", "[x]&#40;javascript:alert(1)"),
    ("unbalanced-safe-destination", "see [x](a(b) c", "see [x]&#40;a(b) c"),
    ("safe-links", "[ok](https://e.org) [mail](mailto:a@b.c) [rel](#top) [file](notes.md)",
     "[ok](https://e.org) [mail](mailto:a@b.c) [rel](#top) [file](notes.md)"),
    ("safe-parentheses", "[w](https://en.wikipedia.org/wiki/Set_(mathematics))",
     "[w](https://en.wikipedia.org/wiki/Set_(mathematics))"),
    # -- autolinks: http(s)/mailto stay links, other schemes become text
    ("autolink", "<https://example.org> and <https://e.org/a?b=1&c=2>", "<https://example.org> and <https://e.org/a?b=1&c=2>"),
    ("mail-autolinks", "<mailto:a@b.c> and <a@b.c>", "<mailto:a@b.c> and <a@b.c>"),
    ("javascript-autolink", "<javascript:alert(1)>", "&lt;javascript:alert(1)>"),
    # -- escaping changes what the text around means: read again until nothing changes
    ("autolink-hiding-a-backtick", f"<javascript:a`b>`c{HOSTILE_IMG}`", f"&lt;javascript:a`b>`c&lt;{HOSTILE_IMG[1:]}`"),
    ("angle-destination", f"[a](<b>`x){HOSTILE_IMG}`", f"[a]&#40;&lt;b>`x){HOSTILE_IMG}`"),  # then in code
    # -- where marked may not see the code markdown-it sees, `<` is escaped (at worst `&lt;` shows in code)
    ("code-span-after-bare-url", f'https://e.org/"``<{HOSTILE_IMG}`` x', f'https://e.org/"``&lt;&lt;{HOSTILE_IMG[1:]}`` x'),
    ("code-span-holding-a-backtick", "_`` `a<b>_`` c", "_`` `a&lt;b>_`` c"),
    ("code-span-after-tilde", "~~~`<b>`", "~~~`&lt;b>`"),
    ("code-span-across-lines", "a `x\n<b>` c", "a `x\n&lt;b>` c"),
    ("fence-info-string", "text\n```<b>", "text\n```&lt;b>"),
    ("fence-after-definition-label", "[r]:\n```\n<b>\n```", "[r]&#58;\n```\n&lt;b>\n```"),
    ("fence-indented-with-tab", "- a\n\t```\n\t<b>\n\t```", "- a\n\t```\n\t&lt;b>\n\t```"),
    ("indented-code-after-text", "text\n- a\n    <b>", "text\n- a\n    &lt;b>"),
    ("quoted-math-in-definition", '[r]: ($"onerror="x$', '[r]&#58; (&#36;"onerror="x&#36;'),
    ("definition-only-marked-reads", "[r]:  javascript:alert(1)\\\\(\n\n[r]", "[r]&#58;  javascript:alert(1)\\\\(\n\n[r]"),
    ("safe-definition", "[r]: https://e.org\n\n[a][r]", "[r]: https://e.org\n\n[a][r]"),
    ("unicode-blank-before-scheme", "[x](\u2028javascript:alert(1))", "[x](#unsafe-link-removed)"),
    ("bold-and-bracketed-code", "**`<div>`** and (`<p>`)", "**`<div>`** and (`<p>`)"),
    # -- code: left as written, in every container
    ("code-span", "use `<div>` here", "use `<div>` here"),
    ("fenced-code", "```html\n<script>kept()</script>\n```\n<i>x</i>", "```html\n<script>kept()</script>\n```\n&lt;i>x&lt;/i>"),
    ("tilde-fence", "~~~\n<b>\n~~~", "~~~\n<b>\n~~~"),
    ("indented-code", "text\n\n    <b>x</b>\n", "text\n\n    <b>x</b>\n"),
    ("containers", "- item `a<b` and <c>\n  > quoted <b> `x<y`", "- item `a<b` and &lt;c>\n  > quoted &lt;b> `x<y`"),
    ("table", "| `a\\|<b>` | <i> |\n|---|---|\n| $x<y$ | `<z>` |", "| `a\\|<b>` | &lt;i> |\n|---|---|\n| $x<y$ | `<z>` |"),
    ("headings", "# Head <b> `<c>` ##\n\nSetext <a> `<b>`\n===", "# Head &lt;b> `<c>` ##\n\nSetext &lt;a> `<b>`\n==="),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_neutralize(text, expected):
    assert neutralize(text) == expected
    assert neutralize(expected) == expected  # what is shown is read the same way again


# ---------------------------------------------------------- JupyterLab's own pipeline, under node

LAB_RENDER = Path(__file__).resolve().parent / "lab_render"
REQUIRED = os.environ.get("NBAGENT_NODE_TESTS") == "1"  # CI sets it: there a missing oracle is a failure

ELEMENTS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li", "pre", "code",
            "em", "strong", "del", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "input"}
ATTRIBUTES = {"href", "src", "alt", "title", "class", "style", "start", "id", "align",
              "type", "checked", "disabled"}  # marked's task-list checkbox: <input checked="" disabled="" type="checkbox">


class _Audit(HTMLParser):
    """Everything in the HTML that Markdown does not make of text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ELEMENTS:
            self.found.append(tag)
        for name, value in attrs:
            if name not in ATTRIBUTES or (name in ("href", "src") and not _is_safe_link(value or "")):
                self.found.append(f"{tag}[{name}={value}]")
            elif tag == "input" and name == "type" and value != "checkbox":
                self.found.append(f"input[type={value}]")


def audit(html: str) -> list[str]:
    found = _Audit()
    found.feed(html)
    return found.found


@pytest.fixture(scope="module")
def lab_render() -> Callable[[list[str]], list[str]]:
    """HTML as JupyterLab makes it of trusted Markdown, from JupyterLab's own code: tests/lab_render/
    runs @jupyterlab/rendermime's removeMath/replaceMath around marked, set up as Lab sets it up."""
    node = shutil.which("node")
    missing = ("node is not on PATH" if node is None else
               "tests/lab_render/node_modules is missing (run: npm ci --prefix tests/lab_render)"
               if not (LAB_RENDER / "node_modules" / "marked").is_dir() else None)
    if missing:
        if REQUIRED:
            pytest.fail(f"NBAGENT_NODE_TESTS=1 but {missing}", pytrace=False)
        pytest.skip(f"JupyterLab's renderer under node: {missing}; set NBAGENT_NODE_TESTS=1 to require it")

    def render(markdowns: list[str]) -> list[str]:
        done = subprocess.run([str(node), "render.mjs"], cwd=LAB_RENDER, input=json.dumps(markdowns),
                              capture_output=True, text=True, encoding="utf-8", timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return render


FRAGMENTS = [
    "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\\\(", "\\\\)", "`", "``", "```", "~~~", "\n", "\n\n", "\n> ", "\n- ",
    "\n    ", "\n  ", "\t", " ", "\xa0", "\u2028", "text ", "a", "<", ">", "(", ")", "[", "]", "](", "![", "[x](",
    "[r]: ", "{", "}", "\\begin{aligned}", "\\end{aligned}", "@@1@@", "\\", '"', "*", "_", "|", "\\|", "#",
    "| a | b |\n|---|---|\n", HOSTILE_IMG, "<b>", "<script>", "javascript:alert(1)", "<javascript:x>",
    "<https://e.org>", "https://e.org/", "www.", '$"onerror="alert(1)$', "&lt;", "<a@b.c>",
]


# The committed run is quick; NBAGENT_RANDOM_ANSWERS=8000 (and NBAGENT_RANDOM_SEED) search wider.
RANDOM_ANSWERS = int(os.environ.get("NBAGENT_RANDOM_ANSWERS", "400"))
RANDOM_SEED = int(os.environ.get("NBAGENT_RANDOM_SEED", "20240614"))


def test_random_answers_render_to_nothing_but_text_code_math_and_safe_links(lab_render):
    rng = random.Random(RANDOM_SEED)
    answers = ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 30))) for _ in range(RANDOM_ANSWERS)]
    shown = [neutralize(answer) for answer in answers]
    live = [(answer, text, html) for answer, text, html in zip(answers, shown, lab_render(shown)) if audit(html)]
    assert not live, f"{len(live)} of {len(answers)} neutralised answers render live HTML, e.g. {live[:3]}"
    assert [answer for answer, text in zip(answers, shown) if neutralize(text) != text] == []


def test_raw_html_in_lab_rendering_is_found(lab_render):
    """The audit above can fail: un-neutralised answers do."""
    [html] = lab_render(['![a](x$"onerror="alert(1)$) <b>x</b> [c](javascript:alert(1))'])
    assert audit(html) == ["img[onerror=alert(1)$]", "b", "a[href=javascript:alert(1)]"]


def test_load_ext_does_not_import_markdown_it():
    code = ("import sys; from IPython.core.interactiveshell import InteractiveShell; "
            "InteractiveShell.instance().run_line_magic('load_ext', 'nbagent'); print('markdown_it' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
