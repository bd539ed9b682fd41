"""nbagent as a user sees it: JupyterLab 4 in headless Chromium, a kernel talking to the loopback
provider server (tests/provider_server.py) as an OpenAI-compatible model.

One server, one page, one notebook for the module; the tests run in file order and build on the
cells run before them (each re-runs what it needs when run alone with -k).

Screenshots go to artifacts/browser/; nbagent-streaming.png and nbagent-settings.png are also
copied to docs/screenshots/ (for the README) when missing there, or with NBAGENT_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from provider_server import Hold, ProviderServer, openai_stream, split_words

from nbagent.notebook.view.output_column import MAX_OUTPUTS

NOTEBOOK = "nbagent.ipynb"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

(SETUP, STREAM, PANEL, ASK_AFTER_SLIDERS, SETTINGS_LINE, PANEL2, ASK_AFTER_SYNC, XSS, MATH, LONG, LONG_CODE,
 LONG_PARAGRAPH) = range(12)

CELLS = [
    "%load_ext nbagent",
    "%%ask\nWhat is the difference between a list and a tuple?",
    "%agent_settings",
    "%%ask\nWhich one can be a dict key?",
    "%agent_settings temperature=0.3 max_tokens=77",
    "%agent_settings",
    "%%ask\nSummarise that in one line.",
    "%%ask\nShow me some HTML that runs in the browser.",
    "%%ask\nHow do I write p < 0.05 in a formula?",
    "%%ask\nTell me everything about lists.",
    "%%ask\nWrite the whole script.",
    "%%ask\nExplain it in one paragraph.",
]

CODE = textwrap.dedent(
    """\
    point = (3, 4)
    names = ["ada", "grace"]
    names.append("linus")
    print(point[0], len(names))"""
)
TABLE = [
    ["Property", "list", "tuple"],
    ["Mutable", "yes", "no"],
    ["Hashable", "no", "yes"],
    ["Syntax", "[1, 2]", "(1, 2)"],
]
ANSWER = (
    "# Lists and tuples in Python\n\n"
    "Both hold an ordered sequence of values, but a list can change after it is made while a tuple "
    "cannot. Reach for a tuple when the values belong together as one record, such as a point or a "
    "row from a database, and for a list when items come and go over time. Because a tuple never "
    "changes, Python can hash it, so it works as a dictionary key or as a member of a set; a list "
    "cannot do either. Tuples are also a little smaller and faster to create, which matters only "
    "in very hot loops. Here is the difference in a few lines of code:\n\n"
    f"```python\n{CODE}\n```\n\n"
    "## At a glance\n\n"
    + "\n".join(
        ["| " + " | ".join(TABLE[0]) + " |", "|---|---|---|"]
        + ["| " + " | ".join(row) + " |" for row in TABLE[1:]]
    )
    + "\n"
)
CHUNKS = 120
CHUNK_DELAY = 0.025
USAGE = (42, CHUNKS)

# The answer of the security test: each hostile variant in a paragraph of its own, each setting
# window.__pwned if it ran. 9 and 10 did run before neutralising knew math: JupyterLab pastes math
# back into marked's HTML unescaped, attributes included.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
IMG_IN_LINK_TEXT = '<img src=x onerror="window.__pwned=6">'
HOSTILE = [
    SCRIPT,
    IMG,
    "[click me](javascript:window.__pwned=3)",
    "[data link](data:text/html,<script>window.__pwned=4</script>)",
    "<javascript:window.__pwned=5>",  # an autolink
    f"[{IMG_IN_LINK_TEXT}](https://example.org/)",
    '$<img src=x onerror="window.__pwned=7">$',  # raw HTML in math
    r'\(<img src=x onerror="window.__pwned=8">\)',
    '![image](x$"onerror="window.__pwned=9//$)',  # math pasted into an attribute by Lab
    '[hover me](https://example.org/$"onmouseover="window.__pwned=10//$)',
    r"$\href{javascript:window.__pwned=11}{math link}$",  # MathJax's own links
]
XSS_ANSWER = "Careful with these:\n\n" + "\n\n".join(HOSTILE) + "\n"

# The answer of the math test: `<`, `>` and `&` in each way of writing math Lab renders, the issue's
# example, an autolink, and two unsafe links between plain words.
FORMULAS = [
    r"$p < 0.05 \;\&\; q > 1$",
    r"\(a < b \;\&\; c > d\)",
    r"$$\begin{aligned} x &< y \\ y &> z \end{aligned}$$",
    r"\[c < d \;\&\; e > f\]",
]
AUTOLINK = "https://example.org/docs"
MATH_ANSWER = (
    "Write it as math:\n\n" + "\n\n".join(FORMULAS) + "\n\n"
    "Inline $a < b$ and $$x<y$$\n\n"
    f"More in <{AUTOLINK}>.\n\n"
    "Before [x](javascript:window.__pwned=20) and [d](data:text/html,<b>x</b>) after.\n"
)

FOOTER = re.compile(
    r"^openai:gpt-4o · 42 → 120 tokens · [\d,]+ tok/s · first token \d+\.\d\d s$"
)


def chunks(text: str, count: int) -> list[str]:
    """`text` as exactly `count` stream chunks, cut between words (as a model's tokens would be)."""
    words = split_words(text)
    assert len(words) >= count, f"the answer has only {len(words)} words"
    bounds = [round(i * len(words) / count) for i in range(count + 1)]
    pieces = ["".join(words[a:b]) for a, b in zip(bounds, bounds[1:])]
    assert "".join(pieces) == text and len(pieces) == count
    return pieces


def rendered_words(markdown: str) -> list[str]:
    """The words a Markdown renderer shows for ANSWER: no '#', fences, pipes or delimiter rows."""
    words: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("```") or re.fullmatch(r"\|(-+\|)+", line):
            continue
        if line.startswith("|"):
            words += [word for cell in line.strip("|").split("|") for word in cell.split()]
            continue
        words += line.lstrip("#").split()
    return words


def letters(text: str) -> str:
    """Letters and digits only: what a growing answer keeps while its Markdown is re-rendered
    (a table's header row is a paragraph with pipes until its delimiter row arrives)."""
    return re.sub(r"[^0-9A-Za-z]", "", text)


def shown_answer(sample) -> str:
    """The answer's text in a sample of its outputs: all of them while it streams (finished blocks and
    the growing end; between the update that sets finished blocks apart and the next one, which opens
    a new growing end, only blocks); once the first has the whole answer, that one (the cell's one
    output, or the others are being emptied)."""
    first = sample.htmls[0] if sample.htmls else ""
    done = "<hr" in first and "answering…" not in first
    return " ".join(answer_part(output) for output in ([first] if done else sample.htmls))


def answer_part(output_html: str) -> str:
    """The text of the answer in one output's HTML: before the footer's <hr> in the growing end or the
    whole answer, all of a finished block (no footer), nothing in the "asking …" placeholder.
    (The answers here have no thematic break of their own.)"""
    if re.fullmatch(r"\s*<p><em>asking [^<]*</em></p>\s*", output_html):
        return ""
    body = output_html[: output_html.rfind("<hr")] if "<hr" in output_html else output_html
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def pieces_until(pieces: list[str], text: str) -> int:
    """How many of the stream's `pieces` it takes to send `text`."""
    return next(n for n in range(len(pieces) + 1) if text in "".join(pieces[:n]))


# JS: the answer (blocks before the last <hr>, heading anchors left out) and the footer (after it).
_ANSWER_AND_FOOTER_JS = """
(area) => {
  const md = area.querySelector('.jp-RenderedMarkdown');
  if (!md) return null;
  const blocks = Array.from(md.children);
  let hr = -1;
  blocks.forEach((b, i) => { if (b.tagName === 'HR') hr = i; });
  const strip = (b) => {
    let t = b.innerText;
    for (const a of b.querySelectorAll('.jp-InternalAnchorLink')) t = t.replace(a.innerText, '');
    return t;
  };
  return {
    answer: blocks.slice(0, hr).map(strip).join('\\n'),
    footer: blocks.slice(hr + 1).map(b => b.innerText).join('\\n').trim(),
  };
}
"""


def loopback_env(provider_server: ProviderServer) -> dict[str, str]:
    """The kernel's model: `openai:gpt-4o` at the loopback provider server."""
    return {
        "OPENAI_BASE_URL": provider_server.openai_base_url,
        "OPENAI_API_KEY": "sk-browser-test-0123456789",
        "NBAGENT_MODEL": "openai:gpt-4o",
    }


@pytest.fixture(scope="module")
def lab_env(provider_server: ProviderServer) -> dict[str, str]:
    return loopback_env(provider_server)


@pytest.fixture(scope="module")
def nb(page):
    page.open_notebook(NOTEBOOK, CELLS)
    page.run_cell(SETUP)
    assert page.cell_output(SETUP).inner_text().strip() == ""
    return page


def _answer_and_footer(nb, index: int) -> dict:
    area = nb.cell_output(index).element_handle()
    return nb.evaluate(_ANSWER_AND_FOOTER_JS, area)


def _ask_long_answer(nb, provider: ProviderServer, hold: Hold | None = None, **sample_options):
    provider.enqueue(openai_stream(chunks(ANSWER, CHUNKS), delay=CHUNK_DELAY, usage=USAGE, hold=hold))
    try:
        return nb.sample_while_running(STREAM, interval=0.04, **sample_options)
    finally:
        if hold is not None:
            hold.release()  # whatever happened, the kernel's request does not wait on it any more


def _assert_answer_rendered(nb) -> None:
    out = nb.cell_output(STREAM)
    assert out.locator(".jp-RenderedMarkdown").count() == 1
    headings = out.locator("h1, h2")
    assert [letters(t) for t in headings.all_inner_texts()] == ["ListsandtuplesinPython", "Ataglance"]
    code = out.locator("pre code")
    assert code.count() == 1
    assert code.inner_text().rstrip("\n") == CODE
    table = out.locator("table")
    assert table.count() == 1
    rows = [
        [cell.strip() for cell in row.locator("th, td").all_inner_texts()]
        for row in table.locator("tr").all()
    ]
    assert rows == TABLE


# ------------------------------------------------------------------------------ 1. streaming


def test_answer_streams_into_one_output_in_place(nb, provider, browser_artifacts):
    final_letters = letters("".join(rendered_words(ANSWER)))
    shot = browser_artifacts / "nbagent-streaming.png"
    last_code_line = CODE.splitlines()[-1]
    # Mid-stream, for the screenshot: the server holds the stream once the code's last line is sent
    # (the table not yet), until the page shows it and the screenshot is taken.
    hold = Hold(after=pieces_until(chunks(ANSWER, CHUNKS), last_code_line))
    taken: list[float] = []  # the share of the answer on screen in the screenshot

    def screenshot_mid_stream(sample) -> None:
        if not taken and last_code_line in sample.text and "answering…" in sample.text:
            nb.screenshot(shot)
            taken.append(len(letters(shown_answer(sample))) / len(final_letters))
            hold.release()

    samples = _ask_long_answer(nb, provider, hold, on_sample=screenshot_mid_stream)
    assert not samples[-1].running

    # While it streams, finished blocks stay in outputs of their own and only the last one changes:
    # a column of outputs, the first of them the same DOM node throughout. At the end the cell was
    # cleared and the whole answer shown once: the cell's one output.
    counts = [s.count for s in samples]
    first = next(i for i, c in enumerate(counts) if c)
    assert max(counts) >= 3, counts
    streaming = [s for s in samples[first:] if "answering…" in s.text or "asking" in s.text]
    assert len({s.node_ids[0] for s in streaming}) == 1
    assert samples[-1].count == 1 and "answering…" not in samples[-1].text

    # The answer's text only grows: from the first frame that showed some of it, every frame the page
    # painted shows at least all of the one before (never an instant with less, or none of it).
    answers = [letters(shown_answer(s)) for s in samples[first:]]
    growing = answers[next(i for i, a in enumerate(answers) if a):]
    for before, after in zip(growing, growing[1:]):
        assert after.startswith(before), (before[-60:], after[-60:])
    distinct = list(dict.fromkeys(growing))
    assert len(distinct) >= 10, len(distinct)
    partial = [a for a in distinct if 0 < len(a) < len(final_letters)]
    assert len(partial) >= 8, len(partial)
    assert distinct[-1] == final_letters
    # While streaming, the footer says so.
    assert any("answering…" in s.text for s in samples[first:-1])
    print(f"\nstreaming: {len(samples)} samples over {samples[-1].t:.2f} s, "
          f"{len(distinct)} distinct answer texts ({len(partial)} partial); screenshot at {taken}")

    assert taken and 0.1 < taken[0] < 1.0, taken
    _publish(shot)

    # The final output: Markdown rendered by JupyterLab, the exact words, the footer.
    _assert_answer_rendered(nb)
    shown = _answer_and_footer(nb, STREAM)
    assert shown["answer"].replace("¶", "").split() == rendered_words(ANSWER)
    assert FOOTER.match(shown["footer"]), shown["footer"]

    request = provider.last_request.json
    assert request["model"] == "gpt-4o" and request["stream"] is True
    assert request["messages"][-1]["content"] == "What is the difference between a list and a tuple?"


# ------------------------------------------------------------------------------- 2. settings


def _slider(nb, cell: int, name: str, panel: int = 0):
    settings = nb.cell_output(cell).locator(".nbagent-settings").nth(panel)
    return settings.locator(".widget-slider", has=nb.page.locator(".widget-label", has_text=re.compile(f"^{name}$")))


def _readout(slider) -> str:
    return slider.locator(".widget-readout").inner_text().strip()


def _wait_readout(nb, slider, expected: str, timeout: float = 60.0) -> None:
    nb.page.wait_for_function(
        "([el, want]) => el.innerText.trim() === want",
        arg=[slider.locator(".widget-readout").element_handle(), expected],
        timeout=timeout * 1000,
    )


def _press(nb, slider, *keys: str) -> None:
    """Click the slider's handle (focusing it), then press keys like a user."""
    slider.locator(".noUi-handle").click()
    for key in keys:
        nb.page.keyboard.press(key)


def _drag(nb, slider, dx: float) -> None:
    """Drag the slider's handle `dx` pixels with the mouse."""
    box = slider.locator(".noUi-handle").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mouse = nb.page.mouse
    mouse.move(x, y)
    mouse.down()
    mouse.move(x + dx, y, steps=8)
    mouse.up()


def _ask_short(nb, provider: ProviderServer, cell: int) -> dict:
    provider.enqueue(openai_stream("Tuples, since they are hashable.", usage=(10, 6)))
    before = len(provider.requests)
    nb.run_cell(cell)
    assert "Tuples, since they are hashable." in nb.cell_output(cell).inner_text()
    requests = provider.requests
    assert len(requests) == before + 1
    return requests[-1].json


def test_settings_sliders_drive_the_request(nb, provider):
    nb.run_cell(PANEL)
    nb.cell_output(PANEL).locator(".nbagent-settings .noUi-handle").first.wait_for()
    temperature = _slider(nb, PANEL, "temperature")
    max_tokens = _slider(nb, PANEL, "max_tokens")
    assert (_readout(temperature), _readout(max_tokens)) == ("1.00", "1024")

    # Keyboard: four steps right, one back.
    _press(nb, temperature, "ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft")
    _wait_readout(nb, temperature, "1.15")
    # Mouse: drag the handle to the right, then fine-tune with the keyboard.
    _drag(nb, max_tokens, 40)
    nb.page.wait_for_function(
        "el => el.innerText.trim() !== '1024'", arg=max_tokens.locator(".widget-readout").element_handle()
    )
    dragged = int(_readout(max_tokens))
    assert dragged > 1024
    _press(nb, max_tokens, "ArrowLeft", "ArrowLeft", "ArrowLeft")
    _wait_readout(nb, max_tokens, str(dragged - 3))

    shot = nb.screenshot("nbagent-settings.png", cell=PANEL)
    _publish(shot)

    shown_temperature, shown_max_tokens = float(_readout(temperature)), int(_readout(max_tokens))
    body = _ask_short(nb, provider, ASK_AFTER_SLIDERS)
    assert body["temperature"] == pytest.approx(shown_temperature, abs=1e-9)
    assert body["max_completion_tokens"] == shown_max_tokens == dragged - 3
    assert "max_tokens" not in body

    # The line form moves the sliders of the panel shown earlier (its output stays in its cell).
    nb.run_cell(SETTINGS_LINE)
    assert "temperature=0.3, max_tokens=77" in nb.cell_output(SETTINGS_LINE).inner_text()
    _wait_readout(nb, temperature, "0.30")
    _wait_readout(nb, max_tokens, "77")
    assert nb.cell_output(SETTINGS_LINE).locator(".nbagent-settings").count() == 0

    # A second panel: it starts from the current settings, and the two stay in sync both ways.
    nb.run_cell(PANEL2)
    nb.cell_output(PANEL2).locator(".nbagent-settings .noUi-handle").first.wait_for()
    temperature2 = _slider(nb, PANEL2, "temperature")
    max_tokens2 = _slider(nb, PANEL2, "max_tokens")
    assert (_readout(temperature2), _readout(max_tokens2)) == ("0.30", "77")

    _press(nb, temperature2, "ArrowRight", "ArrowRight")  # in the second panel ...
    _wait_readout(nb, temperature2, "0.40")
    _wait_readout(nb, temperature, "0.40")  # ... the first follows

    readout = max_tokens.locator(".widget-readout")  # type into the first panel's readout ...
    readout.click()
    nb.page.keyboard.press("Control+A")
    nb.page.keyboard.type("300")
    nb.page.keyboard.press("Enter")
    _wait_readout(nb, max_tokens, "300")
    _wait_readout(nb, max_tokens2, "300")  # ... the second follows

    body = _ask_short(nb, provider, ASK_AFTER_SYNC)
    assert body["temperature"] == pytest.approx(0.4, abs=1e-9)
    assert body["max_completion_tokens"] == 300


# ------------------------------------------------------------------------------- 3. security


def _pwned(nb):
    return nb.evaluate("() => window.__pwned")


# JS: every attribute in the output area that is an event handler or a script/data URL.
_LIVE_ATTRIBUTES_JS = """
(area) => Array.from(area.querySelectorAll('*')).flatMap(e => Array.from(e.attributes)
  .filter(a => a.name.startsWith('on') || /^\\s*(javascript|data|vbscript):/i.test(a.value))
  .map(a => `${e.tagName}[${a.name}=${a.value}]`))
"""


def _assert_xss_neutralised(nb) -> None:
    out = nb.cell_output(XSS)
    out.locator(".jp-RenderedMarkdown").wait_for()
    nb.page.wait_for_timeout(300)  # give an <img onerror> its chance
    assert _pwned(nb) is None
    text = out.inner_text()
    assert SCRIPT in text and IMG in text  # shown as text ...
    assert out.locator("script").count() == 0  # ... not as elements
    assert nb.evaluate(_LIVE_ATTRIBUTES_JS, out.element_handle()) == []
    assert out.locator("a", has_text=IMG_IN_LINK_TEXT).get_attribute("href") == "https://example.org/"
    assert "<javascript:window.__pwned=5>" in text  # an autolink with another scheme is text
    out.locator("a", has_text="hover me").hover()
    for name in ("click me", "data link"):
        link = out.locator("a", has_text=name)
        assert link.get_attribute("href") == "#unsafe-link-removed"
        link.click()
    nb.page.wait_for_timeout(300)
    assert _pwned(nb) is None


def test_raw_html_in_an_answer_does_not_run(nb, provider):
    provider.enqueue(openai_stream(XSS_ANSWER, usage=(12, 20)))
    nb.run_cell(XSS)
    _assert_xss_neutralised(nb)


def _assert_math_rendered(nb) -> None:
    """Every formula typeset by MathJax without an error, holding its `<`, `>` and `&`; the autolink
    a link; nothing left on screen of the unsafe links but their text."""
    out = nb.cell_output(MATH)
    formulas = out.locator("mjx-container")
    nb.page.wait_for_function("(area) => area.querySelectorAll('mjx-container').length === 6",
                              arg=out.element_handle())
    assert out.locator("mjx-merror, [data-mjx-error]").count() == 0
    assert "&lt;" not in out.inner_text()
    shown = [formula.locator("mjx-assistive-mml").text_content() for formula in formulas.all()]
    assert shown == ["p<0.05&q>1", "a<b&c>d", "x<yy>z", "c<d&e>f", "a<b", "x<y"]
    assert formulas.nth(2).locator("mjx-assistive-mml mtable").count() == 1  # there `&` aligns the rows
    assert [formula.get_attribute("display") for formula in formulas.all()] == [None, None, "true", "true", None, "true"]
    link = out.locator("a", has_text=AUTOLINK)
    assert link.get_attribute("href") == AUTOLINK
    with nb.page.context.expect_page() as opened:
        link.click()
    page = opened.value
    page.wait_for_load_state()
    assert page.url == AUTOLINK
    page.close()
    paragraphs = [text.strip() for text in out.locator(".jp-RenderedMarkdown p").all_inner_texts()]
    assert "Before x and d after." in paragraphs, paragraphs
    assert _pwned(nb) is None


def test_math_links_and_autolinks_render_as_written(nb, provider):
    nb.page.context.route(f"{AUTOLINK}*", lambda route: route.fulfill(body="the docs", content_type="text/plain"))
    provider.enqueue(openai_stream(MATH_ANSWER, usage=(12, 30)))
    nb.run_cell(MATH)
    _assert_math_rendered(nb)
    nb.screenshot("nbagent-math.png", cell=MATH)


# --------------------------------------------------------------------------- 4. save, reopen


def test_rerunning_a_cell_in_lab_replaces_its_turn(nb, provider):
    """JupyterLab sends the cell id with each execution: re-running cell 3 asks with only what came before it."""
    sent = _ask_short(nb, provider, 3)
    users = [message["content"] for message in sent["messages"] if message["role"] == "user"]
    assert users == ["What is the difference between a list and a tuple?", "Which one can be a dict key?"]
    footer = nb.cell_output(3).inner_text()
    assert "replaced this cell's earlier turn" in footer and "later turn(s) were asked against the old version" in footer


# A 4,000-word answer: sections of a heading, paragraphs, a list, code and a table.
LONG_SECTION = "\n\n".join([
    "## Part {k}",
    " ".join(["Lists keep their order and can change after they are made, unlike tuples."] * 6),
    "\n".join(f"- point {{k}}.{i}: append, extend, insert and pop all work in place" for i in range(5)),
    "```python\n" + "\n".join(f"items_{i} = [x * {i} for x in range(10)]" for i in range(8)) + "\n```",
    "| method | cost |\n|---|---|\n| append | O(1) |\n| insert | O(n) |\n| pop() | O(1) |",
])
LONG_ANSWER = "\n\n".join(LONG_SECTION.format(k=k) for k in range(21)) + "\n"

# JS: start recording the main thread's long tasks: a timer asks to run every 10 ms, and each time it
# runs more than 50 ms late (performance.now()), the main thread was busy that long. (The Long Tasks
# API's PerformanceObserver reports nothing in headless Chromium here, even for a 120 ms busy loop.)
_RECORD_LONG_TASKS_JS = """
() => {
  window.__longTasks = [];
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    if (now - last - 10 > 50) window.__longTasks.push([last, now - last - 10]);
    last = now;
    window.__longTaskTimer = setTimeout(tick, 10);
  };
  tick();
  return performance.now();
}
"""


def _stream_measuring_long_tasks(nb, provider: ProviderServer, index: int, answer: str, report_path: Path,
                                 holds: dict[str, int] | None = None, held_looks: dict | None = None) -> list:
    """Stream `answer` into cell `index` a word a chunk, looking at it every 0.2 s; the main thread's long
    tasks while it streams and when it is rendered whole at the end go to `report_path` (measured only).
    `holds` ({text: pieces}): the server stops after that many pieces until a look showed the text, the
    last output the growing end (all the kernel had was shown, nothing is on its way); those looks go to
    `held_looks` ({text: look})."""
    pieces = split_words(answer)
    held_looks = {} if held_looks is None else held_looks
    held = {text: Hold(after=after) for text, after in (holds or {}).items()}
    provider.enqueue(openai_stream(pieces, delay=0.002, usage=(10, len(answer.split())), hold=list(held.values())))
    started = nb.evaluate(_RECORD_LONG_TASKS_JS)
    marks: list[float] = []

    def mark_the_end(sample) -> None:
        end = sample.texts[-1] if sample.texts else ""
        for text, hold in held.items():  # (a part and the growing end may each show some of the text)
            if "answering…" in end and letters(text) in letters(shown_answer(sample)) and not hold.released.is_set():
                held_looks[text] = sample
                hold.release()
        if not marks and "tokens" in sample.text and "answering…" not in sample.text:
            marks.append(nb.evaluate("() => performance.now()"))

    try:
        samples = nb.sample_while_running(index, interval=0.2, timeout=120, on_sample=mark_the_end,
                                          every_frame=False)
    finally:
        for hold in held.values():
            hold.release()
    nb.page.wait_for_timeout(300)
    tasks = nb.evaluate("() => { clearTimeout(window.__longTaskTimer); return window.__longTasks; }")
    ended = marks[0] if marks else nb.evaluate("() => performance.now()")
    streaming = [duration for start, duration in tasks if start < ended - 1000]  # before the final render
    final = [duration for start, duration in tasks if start >= ended - 1000]
    report = {
        "streaming_seconds": round((ended - started) / 1000, 1),
        "streaming_long_tasks": len(streaming), "streaming_long_task_ms_total": round(sum(streaming)),
        "streaming_long_task_ms_max": round(max(streaming, default=0)),
        "final_long_tasks_ms": [round(d) for d in final],
    }
    report_path.write_text(json.dumps(report, indent=1))
    print(f"\n{report_path.stem}, main-thread long tasks: {report}")
    return samples


def test_a_long_answer_keeps_the_page_responsive(nb, provider, browser_artifacts):
    """Measured, not asserted (timing is for benchmarks): the main thread's long tasks while a 4,000-word
    answer streams, and when it is rendered whole at the end."""
    assert len(LONG_ANSWER.split()) > 4000
    report = browser_artifacts / "long-answer-long-tasks.json"
    samples = _stream_measuring_long_tasks(nb, provider, LONG, LONG_ANSWER, report)
    out = nb.cell_output(LONG)
    assert out.locator("table").count() == 21 and out.locator("pre code").count() == 21
    assert letters(shown_answer(samples[-1])).startswith(letters("".join(rendered_words(LONG_ANSWER))))


def test_a_stale_note_reaches_an_answer_shown_again_after_clearing(nb, provider, browser_artifacts):
    """The long answer took many outputs, so its cell was cleared and the answer shown again under its
    first display id: re-running an earlier question still updates it in place with the stale note."""
    out = nb.cell_output(LONG)
    if out.locator("table").count() == 0:
        test_a_long_answer_keeps_the_page_responsive(nb, provider, browser_artifacts)  # this test alone (-k)
    assert out.locator(".jp-OutputArea-output").count() == 1
    assert "older version" not in out.inner_text()
    _ask_short(nb, provider, ASK_AFTER_SLIDERS)
    nb.page.wait_for_function("(area) => area.innerText.includes('asked against an older version')",
                              arg=out.element_handle())
    assert out.locator(".jp-OutputArea-output").count() == 1
    assert out.locator("table").count() == 21


# One 300-line code block, and one 4,000-word paragraph: a single block each, cut while it streams.
LONG_SCRIPT = "\n".join(f"values_{i} = [x * {i % 17} for x in range({i})]  # step {i} of the table" for i in range(300))
LONG_CODE_ANSWER = f"Here is the whole script:\n\n```python\n{LONG_SCRIPT}\n```\n"
LONG_PARAGRAPH_ANSWER = " ".join(
    f"Sentence {i} keeps *lists* and `tuples` apart, as the table showed before we moved on" + ("." if i % 3 else ",")
    for i in range(260)) + "\n"


def growing_ends(index: int, answer: str) -> dict[str, int]:
    """Texts of the long block at a quarter, half, three quarters and near the end of it, with the pieces
    of the stream it takes to send each: where the server holds until the page shows it."""
    pieces = split_words(answer)
    if index == LONG_CODE:
        texts = [f"# step {line} of the table" for line in (75, 150, 225, 290)]
    else:
        texts = [f"Sentence {sentence} keeps" for sentence in (65, 130, 195, 250)]
    return {text: pieces_until(pieces, text) for text in texts}


@pytest.mark.parametrize("index, answer", [(LONG_CODE, LONG_CODE_ANSWER), (LONG_PARAGRAPH, LONG_PARAGRAPH_ANSWER)],
                         ids=["code-block", "paragraph"])
def test_one_long_block_streams_in_parts_and_ends_whole(nb, provider, browser_artifacts, index, answer):
    """A single long block is shown in parts while it streams (a column of outputs: closed code blocks of
    its lines, or paragraphs of its sentences), its growing end on the page to the end: the server holds
    the stream at a quarter, half, three quarters and near the end until the page shows what it sent at
    the growing end, and then the page shows exactly the answer so far, each piece once and in order,
    within `MAX_OUTPUTS` outputs (JupyterLab shows 50 of a cell, then "Show more outputs"; past that many
    parts, output_column.py merges them). At the end the cell holds one output: the block whole, exactly.
    Long tasks measured."""
    assert len(answer.split()) >= 3000
    name = f"long-{'code-block' if index == LONG_CODE else 'paragraph'}-long-tasks.json"
    holds = growing_ends(index, answer)
    held_looks: dict = {}
    samples = _stream_measuring_long_tasks(nb, provider, index, answer, browser_artifacts / name, holds, held_looks)
    pieces = split_words(answer)
    assert list(held_looks) == list(holds), list(held_looks)
    for text, after in holds.items():  # at each hold: the answer so far, exactly, however many parts it took
        look = held_looks[text]
        assert letters(shown_answer(look)) == letters(" ".join(rendered_words("".join(pieces[:after])))), text
        assert look.count <= MAX_OUTPUTS and "Show more outputs" not in look.text, (text, look.count)
    print(f"{name}: {len(samples)} looks, {[held_looks[text].count for text in holds]} outputs at the holds")
    assert held_looks[list(holds)[-1]].count >= 3  # in parts
    assert not any("Show more outputs" in sample.text for sample in samples)
    assert max(sample.count for sample in samples) <= MAX_OUTPUTS
    assert letters(shown_answer(samples[-1])) == letters(" ".join(rendered_words(answer)))

    out = nb.cell_output(index)
    assert out.locator(".jp-OutputArea-output").count() == 1 and "answering…" not in out.inner_text()
    if index == LONG_CODE:
        code = out.locator("pre code")
        assert code.count() == 1 and code.inner_text().rstrip("\n") == LONG_SCRIPT
    else:
        paragraphs = out.locator(".jp-RenderedMarkdown > p")
        assert paragraphs.count() == 2  # the paragraph, and the footer
        assert paragraphs.first.inner_text().split() == html.unescape(
            re.sub(r"[*`]", "", LONG_PARAGRAPH_ANSWER)).split()


def test_answers_survive_save_close_reopen(nb, provider):
    if nb.cell_output(STREAM).locator("table").count() == 0:
        _ask_long_answer(nb, provider)  # this test alone (-k)
    if nb.cell_output(XSS).locator(".jp-RenderedMarkdown").count() == 0:
        test_raw_html_in_an_answer_does_not_run(nb, provider)
    if nb.cell_output(MATH).locator(".jp-RenderedMarkdown").count() == 0:
        test_math_links_and_autolinks_render_as_written(nb, provider)
    nb.save()
    saved = nb.lab.read_notebook(NOTEBOOK)
    outputs = saved.cells[STREAM].outputs  # exactly one: the cell was cleared for the whole answer
    assert len(outputs) == 1 and outputs[0]["output_type"] == "display_data"
    plain = outputs[0]["data"]["text/plain"]
    assert plain.startswith(ANSWER) and FOOTER.match(plain[len(ANSWER):].strip())

    nb.close_and_reopen()
    assert _pwned(nb) is None
    out = nb.cell_output(STREAM)
    out.locator("table").wait_for()
    _assert_answer_rendered(nb)
    assert nb.execution_count(STREAM) is not None
    _assert_xss_neutralised(nb)
    _assert_math_rendered(nb)
    nb.cell(STREAM).scroll_into_view_if_needed()
    nb.screenshot("nbagent-reopened.png")


def _publish(shot: Path) -> None:
    """Copy a screenshot to docs/screenshots/ (shown in the README) when it is missing there, or
    always with NBAGENT_UPDATE_SCREENSHOTS=1: a plain test run leaves the committed images alone."""
    target = DOCS_SCREENSHOTS / shot.name
    if target.exists() and os.environ.get("NBAGENT_UPDATE_SCREENSHOTS") != "1":
        return
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, target)
