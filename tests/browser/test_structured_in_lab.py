"""`%%ask --output-type` as a user sees it in JupyterLab: the object's table renders while it streams
(a row on screen before the answer is complete), then the final table, with model text inert in it.

The kernel's model is `openai:gpt-4o` at the loopback provider server, which streams the output call.
"""

from __future__ import annotations

import json

from provider_server import Hold, openai_tool_stream

from .test_nbagent_in_lab import lab_env  # noqa: F401 - the same kernel model (a fixture)

NOTEBOOK = "structured.ipynb"
SETUP, ASK = range(2)
CELLS = [
    "%load_ext nbagent\nfrom pydantic import BaseModel\n\n"
    "class City(BaseModel):\n    city: str\n    country: str\n    population: int",
    "%%ask --output-type City -o place\nWhere is the Louvre?",
]
PARIS = {"city": "Paris", "country": "France <img src=x onerror=window.__pwned=1>", "population": 2102650}


def test_the_table_renders_while_the_object_streams(page, provider, browser_artifacts):
    page.open_notebook(NOTEBOOK, CELLS)
    page.run_cell(SETUP)
    # The arguments in 14 pieces (after the one naming the call): the server holds them once "Paris" is
    # sent, until the page showed its row.
    arguments = json.dumps(PARIS)
    step = -(-len(arguments) // 14)
    held = Hold(after=1 + next(n for n in range(15) if '"Paris"' in arguments[:n * step]))
    provider.enqueue(openai_tool_stream([("call_out", "final_result", arguments)], split=14, delay=0.02, hold=held))
    samples, looks = page.sample_releasing(ASK, {"Paris": held}, selector=".jp-RenderedMarkdown table tbody tr",
                                           interval=0.04)
    early = [sample for sample in samples + looks
             if sample.running and "Paris" in sample.text and "2102650" not in sample.text]
    assert early, [sample.texts for sample in samples]  # a row of the table was on screen before the end
    assert [text.split("\t") for text in samples[-1].texts] == [
        ["city", "Paris"], ["country", "France <img src=x onerror=window.__pwned=1>"], ["population", "2102650"]]
    output = page.cell_output(ASK)
    assert output.locator("img").count() == 0 and page.evaluate("() => window.__pwned") is None
    page.screenshot(browser_artifacts / "nbagent-structured.png", cell=ASK)
