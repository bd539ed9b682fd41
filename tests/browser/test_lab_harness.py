"""Proof of the browser harness on plain IPython/ipywidgets (no nbagent).

One notebook, one kernel, for the whole module; the tests run in file order
(test_output_survives_save_close_reopen re-runs the streaming cell if run alone).
The sanitizer tests use notebooks of their own.
"""

from __future__ import annotations

import sys
import textwrap

import nbformat
import pytest

NOTEBOOK = "harness.ipynb"

SETUP, STREAM, SLIDER, READ, SET = range(5)

# The brief's payload, plus the link again in a paragraph of its own (on the
# first line it sits in an HTML block, where markdown links are not parsed).
PAYLOAD = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    " [x](javascript:window.__pwned=3)\n\n[x](javascript:window.__pwned=3)"
)

CELLS = [
    # SETUP
    textwrap.dedent(
        """\
        import os, sys, time
        from IPython.display import Markdown, display
        import ipywidgets as w
        print("PREFIX=" + sys.prefix)
        print("PROBE=" + os.environ.get("NBAGENT_HARNESS_PROBE", "<unset>"))
        """
    ),
    # STREAM: one display, updated in place 20 times into heading + paragraph + code + table
    textwrap.dedent(
        """\
        h = display(Markdown('# start'), display_id=True)
        words = "the quick brown fox jumps over the lazy dog and keeps on running".split()
        parts = ["# Streaming answer\\n\\n"]
        for i in range(20):
            time.sleep(0.1)
            if i < 10:
                parts.append(words[i] + " ")
            elif i == 10:
                parts.append("\\n\\n```python\\nprint('hi')\\n")
            elif i < 14:
                parts.append(f"x{i} = {i}\\n")
            elif i == 14:
                parts.append("```\\n\\n| n | n squared |\\n|---|---|\\n")
            else:
                parts.append(f"| {i} | {i * i} |\\n")
            h.update(Markdown("".join(parts)))
        """
    ),
    # SLIDER
    textwrap.dedent(
        """\
        slider = w.FloatSlider(min=0, max=2, step=0.1, value=1.0, description="temp")
        seen = {"value": slider.value}
        def _on_value(change):
            seen["value"] = change["new"]
        slider.observe(_on_value, names="value")
        slider
        """
    ),
    # READ
    'print(f"VALUE={seen[\'value\']:.1f} SLIDER={slider.value:.1f}")',
    # SET
    "slider.value = 0.3",
]


@pytest.fixture(scope="module")
def lab_env():
    return {"NBAGENT_HARNESS_PROBE": "42"}


@pytest.fixture(scope="module")
def nb(page):
    page.open_notebook(NOTEBOOK, CELLS)
    page.run_cell(SETUP)
    return page


def test_kernel_is_this_python_and_env_passes(nb):
    text = nb.cell_output(SETUP).inner_text()
    assert f"PREFIX={sys.prefix}" in text
    assert "PROBE=42" in text
    nb.screenshot("01-opened.png")


def test_markdown_display_updates_in_place(nb):
    samples = nb.sample_while_running(STREAM, interval=0.05)
    nb.screenshot("02-streamed-markdown.png")

    assert not samples[-1].running
    counts = [s.count for s in samples]
    assert max(counts) == 1, counts
    # Once the display appeared it stayed ONE output node ...
    first = counts.index(1)
    assert all(c == 1 for c in counts[first:]), counts
    # ... the very same DOM node, whose text grew.
    ids = {s.node_ids[0] for s in samples[first:]}
    assert len(ids) == 1, ids
    texts = [s.text for s in samples[first:]]
    distinct = list(dict.fromkeys(texts))
    assert len(distinct) >= 5, distinct
    lengths = [len(t) for t in distinct]
    assert lengths[-1] > lengths[0]
    assert "Streaming answer" in distinct[-1]

    out = nb.cell_output(STREAM)
    assert out.locator(".jp-OutputArea-output").count() == 1
    assert "Streaming answer" in out.locator("h1").inner_text()
    assert "print('hi')" in out.locator("pre code").inner_text()
    table = out.locator("table")
    assert table.count() == 1
    assert table.locator("tbody tr").count() == 5
    assert "361" in table.inner_text()  # 19 * 19, the last update


def test_slider_round_trip(nb):
    nb.run_cell(SLIDER)
    out = nb.cell_output(SLIDER)
    out.locator(".widget-slider").wait_for()
    readout = out.locator(".widget-readout")
    assert readout.inner_text().strip() == "1.00"

    # The user: click the handle, press ArrowRight three times.
    handle = out.locator(".noUi-handle")
    handle.click()
    for _ in range(3):
        nb.page.keyboard.press("ArrowRight")
    nb.page.wait_for_function(
        "el => el.innerText.trim() === '1.30'", arg=readout.element_handle(), timeout=10_000
    )
    nb.screenshot("03-slider-moved.png")

    nb.run_cell(READ)
    assert "VALUE=1.3 SLIDER=1.3" in nb.cell_output(READ).inner_text()

    # The other way: Python sets the value, the slider's readout follows.
    nb.run_cell(SET)
    nb.page.wait_for_function(
        "el => el.innerText.trim() === '0.30'", arg=readout.element_handle(), timeout=10_000
    )
    nb.run_cell(READ)
    assert "VALUE=0.3 SLIDER=0.3" in nb.cell_output(READ).inner_text()
    nb.screenshot("04-slider-set-from-python.png")


def test_output_survives_save_close_reopen(nb):
    if nb.cell_output(STREAM).locator("table").count() == 0:
        nb.run_cell(STREAM)  # this test alone (-k)
    nb.save()
    saved = nb.lab.read_notebook(NOTEBOOK)
    outputs = saved.cells[STREAM].outputs
    assert len(outputs) == 1 and "text/markdown" in outputs[0]["data"]
    assert "| 19 | 361 |" in outputs[0]["data"]["text/markdown"]

    nb.close_and_reopen()
    # Rendered from the file, without re-running anything.
    out = nb.cell_output(STREAM)
    out.locator("table").wait_for()
    assert out.locator(".jp-OutputArea-output").count() == 1
    assert "Streaming answer" in out.locator("h1").inner_text()
    assert out.locator("pre code").count() == 1
    assert nb.execution_count(STREAM) is not None
    nb.screenshot("05-reopened.png")


def _pwned(page):
    return page.evaluate("() => window.__pwned")


def test_untrusted_markdown_output_is_sanitized(page):
    """Output that comes from the file (not signed, so not trusted) goes through
    JupyterLab's sanitizer: no script, no onerror, no javascript: link."""
    cell = nbformat.v4.new_code_cell("# output from disk, never run here")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": PAYLOAD})]
    page.open_notebook("untrusted.ipynb", [cell])
    out = page.cell_output(0)
    out.locator(".jp-RenderedMarkdown").wait_for()
    page.page.wait_for_timeout(300)  # give an <img onerror> its chance
    assert _pwned(page.page) is None
    assert out.locator("script").count() == 0
    assert out.locator("[onerror]").count() == 0
    assert out.locator("[href^='javascript' i]").count() == 0
    links = out.locator("a", has_text="x")
    assert links.count() >= 1
    for i in range(links.count()):
        links.nth(i).click()
    page.page.wait_for_timeout(300)
    assert _pwned(page.page) is None
    page.screenshot("06-untrusted-sanitized.png")


def test_live_markdown_output_is_trusted_not_sanitized(page):
    """Positive control, and a fact to design against: an output that a kernel
    produces in this session is *trusted* by JupyterLab and is NOT sanitized, so
    raw HTML inside text/markdown runs (script tag, onerror).  Anything that
    displays untrusted text (an LLM answer) as markdown must neutralise raw HTML
    itself.  This also shows that the window.__pwned probe does detect a hit."""
    page.open_notebook(
        "live.ipynb",
        ["from IPython.display import Markdown, display\ndisplay(Markdown(%r))" % PAYLOAD],
    )
    page.run_cell(0)
    page.cell_output(0).locator(".jp-RenderedMarkdown").wait_for()
    page.page.wait_for_function("() => window.__pwned !== undefined", timeout=5_000)
    assert _pwned(page.page) in (1, 2)
    page.screenshot("07-live-trusted-runs-js.png")


def test_emptied_outputs_count_toward_the_50_shown_and_refill_in_place(page):
    """Facts the answer view is designed against (output_column.py): JupyterLab shows the first 50
    outputs of a cell (then a "Show more outputs" button), an output emptied by update_display_data
    (`{}`) shows nothing but still counts toward those 50, and one filled again renders in its place."""
    page.open_notebook("outputs.ipynb", [textwrap.dedent(
        """\
        from IPython.display import display
        handles = [display({"text/markdown": f"out {i}"}, raw=True, display_id=True) for i in range(45)]
        for handle in handles[5:]:
            handle.update({}, raw=True)
        for i, handle in enumerate(handles[5:10]):
            handle.update({"text/markdown": f"again {i}"}, raw=True)
        for i in range(45, 52):
            display({"text/markdown": f"out {i}"}, raw=True)
        """)])
    page.run_cell(0)
    out = page.cell_output(0)
    out.locator(".jp-TrimmedOutputs").wait_for()
    shown = out.locator(".jp-RenderedMarkdown").all_inner_texts()
    assert [text.strip() for text in shown] == (
        [f"out {i}" for i in range(5)] + [f"again {i}" for i in range(5)] + [f"out {i}" for i in range(45, 50)])
    assert "Show more outputs" in out.inner_text()
