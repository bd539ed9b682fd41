"""`neutralize`: what an answer's Markdown becomes before JupyterLab renders it as trusted HTML.

The table pins the rewrite case by case; the random test checks the promise itself on answers nobody
wrote by hand: rendered the way JupyterLab does it (math cut out, Markdown to HTML, math pasted back),
a neutralised answer holds no element, attribute or link beyond what Markdown makes of text.
"""

from __future__ import annotations

import random
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from nbagent.notebook.lab_math import lab_math
from nbagent.notebook.neutralize import _is_safe_link, neutralize

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
    ("angle-destination", f"[a](<b>`x){HOSTILE_IMG}`", f"[a](&lt;b>`x)&lt;{HOSTILE_IMG[1:]}`"),
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


# ------------------------------------------------------------------- JupyterLab's pipeline, simulated

ELEMENTS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li", "pre", "code",
            "em", "strong", "a", "img", "table", "thead", "tbody", "tr", "th", "td"}
ATTRIBUTES = {"href", "src", "alt", "title", "class", "style", "start"}


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


def lab_render(markdown: str) -> str:
    """HTML as JupyterLab makes it of trusted Markdown: removeMath, Markdown to HTML (markdown-it with
    raw HTML on standing in for marked), each placeholder replaced by its math, HTML-escaped."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.validateLink = lambda url: True  # marked keeps every link
    pieces, position, math = [], 0, {}
    for cut in lab_math(markdown):
        pieces += [markdown[position:cut.start], cut.placeholder]
        text = markdown[cut.start:cut.end]
        math[cut.placeholder] = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") if cut.is_math else text
        position = cut.end
    pieces.append(markdown[position:])
    html = md.render("".join(pieces))
    for placeholder, text in math.items():
        html = html.replace(placeholder, text)
    return html


FRAGMENTS = [
    "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\\\(", "\\\\)", "`", "``", "```", "~~~", "\n", "\n\n", "\n> ", "\n- ",
    "\n    ", "\n  ", "\t", " ", "\xa0", "\u2028", "text ", "a", "<", ">", "(", ")", "[", "]", "](", "![", "[x](",
    "[r]: ", "{", "}", "\\begin{aligned}", "\\end{aligned}", "@@1@@", "\\", '"', "*", "_", "|", "\\|", "#",
    "| a | b |\n|---|---|\n", HOSTILE_IMG, "<b>", "<script>", "javascript:alert(1)", "<javascript:x>",
    "<https://e.org>", "https://e.org/", "www.", '$"onerror="alert(1)$', "&lt;", "<a@b.c>",
]


def test_random_answers_render_to_nothing_but_text_code_math_and_safe_links():
    rng = random.Random(20240614)
    for _ in range(400):
        answer = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 30)))
        shown = neutralize(answer)
        audit = _Audit()
        audit.feed(lab_render(shown))
        assert audit.found == [], (answer, shown)
        assert neutralize(shown) == shown, answer


def test_raw_html_in_the_simulation_is_found():
    """The audit above can fail: un-neutralised answers do."""
    audit = _Audit()
    audit.feed(lab_render('![a](x$"onerror="alert(1)$) <b>x</b> [c](javascript:alert(1))'))
    assert audit.found == ["img[onerror=alert(1)$]", "b", "a[href=javascript:alert(1)]"]


def test_load_ext_does_not_import_markdown_it():
    code = ("import sys; from IPython.core.interactiveshell import InteractiveShell; "
            "InteractiveShell.instance().run_line_magic('load_ext', 'nbagent'); print('markdown_it' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
