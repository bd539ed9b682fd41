"""`%%ask --each` as a user sees it in JupyterLab: a map estimated above `confirm_above` waits for the click
on Run (or Cancel), then shows a progress bar and a line of numbers that grow while the rows are asked,
and ends as its summary line and the first rows of the result.

The kernel's model is `openai:gpt-4o` at the loopback provider server, which answers each row after a
short pause so the progress can be seen moving.
"""

from __future__ import annotations

import pytest

from provider_server import echo, stall

from .test_nbagent_in_lab import _publish, lab_env  # noqa: F401 - the same kernel model (a fixture)

NOTEBOOK = "map-rows-lab.ipynb"
ROWS = 12
SETUP, PRICES, MAP, CANCELLED = range(4)
CELLS = [
    "%load_ext nbagent\nimport os, tempfile\nos.environ['XDG_CACHE_HOME'] = tempfile.mkdtemp()  # a fresh map cache\n"
    f"import pandas as pd\nrows = pd.DataFrame({{'text': [f'row {{n}}' for n in range({ROWS})]}})",
    '%agent_settings prices={"openai:gpt-4o": [100000, 100000]} confirm_above=0.01',
    "%%ask --each rows -o out --max-tokens 5 --concurrency 2\nSay something about {text}",
    "%%ask --each rows -o never --max-tokens 5\nSay nothing about {text}",
]


@pytest.fixture(scope="module")
def nb(page):
    page.open_notebook(NOTEBOOK, CELLS)
    page.run_cell(SETUP)
    page.run_cell(PRICES)
    return page


def _approval(nb, cell: int):
    row = nb.cell_output(cell).locator(".nbagent-approval")
    row.locator("button", has_text="Run").wait_for(timeout=nb.DEFAULT_TIMEOUT * 1000)  # a bound on a failure only
    return row


def test_run_click_then_progress_then_summary(nb, provider, browser_artifacts):
    provider.enqueue(*[stall(0.4, echo()) for _ in range(ROWS)])  # 2.4 s of progress at concurrency 2
    before = nb.start_cell(MAP)
    row = _approval(nb, MAP)
    output = nb.cell_output(MAP)
    assert "estimated above confirm_above=$0.01" in output.inner_text()
    assert "12 requests to openai:gpt-4o" in output.inner_text()
    assert "(your prices), batch $" in output.inner_text() and output.locator(".MathJax, mjx-container").count() == 0
    assert provider.requests == []  # nothing is sent before the click
    row.locator("button", has_text="Run").click()
    progress = output.locator(".nbagent-map-progress")
    progress.wait_for(timeout=nb.DEFAULT_TIMEOUT * 1000)
    seen = set()
    shot = None
    while progress.count():  # the numbers move while the rows are asked; the widget goes at the end
        try:
            seen.add(progress.inner_text(timeout=5000).split(" rows")[0])
        except Exception:  # the widget was replaced between count() and inner_text(): the loop ends
            continue
        if shot is None and any(done[:1] in "123456789" and done.endswith(f"/{ROWS}") for done in seen):
            nb.cell(MAP).scroll_into_view_if_needed()
            shot = nb.screenshot(browser_artifacts / "nbagent-map-progress.png", cell=MAP)
        nb.page.wait_for_timeout(100)
    nb.wait_cell_done(MAP, before)
    assert len(seen) >= 2, seen  # more than one state of "done/total" was shown
    if shot is not None:
        _publish(shot)
    text = output.inner_text()
    assert "you chose Run" in text and "out: 12 rows" in text and "12 requests" in text
    assert "Echo: Say something about row 0" in text  # the first rows of OUT
    assert output.locator(".nbagent-approval").count() == 0 and output.locator(".nbagent-map-progress").count() == 0
    assert len([req for req in provider.requests if req.path == "/v1/chat/completions"]) == ROWS


def test_cancel_sends_nothing(nb, provider):
    before = nb.start_cell(CANCELLED)
    _approval(nb, CANCELLED).locator("button", has_text="Cancel").click()
    nb.wait_cell_done(CANCELLED, before)
    assert "you chose Cancel: no request was sent" in nb.cell_output(CANCELLED).inner_text()
    assert provider.requests == []
