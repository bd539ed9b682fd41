"""The notebook agent as a user sees it in JupyterLab: tool lines streaming in the answer's one output,
and code the model wants to run waiting for the user's click on Run or Skip.

The kernel's model is `openai:gpt-4o` at the loopback provider server, which scripts the tool calls.
Screenshots go to artifacts/browser/; nbagent-tools.png and nbagent-approval.png are copied to
docs/screenshots/ (for the README) when missing there, or with NBAGENT_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json

import pytest

from provider_server import Hold, openai_stream, openai_tool_stream

from .test_nbagent_in_lab import _publish, lab_env  # noqa: F401 - the same kernel model (a fixture)

NOTEBOOK = "kernel-tools.ipynb"

SETUP, DATA, ASK_DATA, ASK_RUN, ASK_SKIP = range(5)
CELLS = [
    "%load_ext nbagent",
    "from palmerpenguins import load_penguins\npenguins = load_penguins()",
    "%%ask --tools\nWhich species is heaviest, and is any data missing?",
    "%%ask --tools\nHow many penguins weigh over 5 kg?",
    "%%ask --tools\nDelete the rows with missing values.",
]
ANSWER = ("**Gentoo** penguins are the heaviest: about 5,076 g on average, against 3,701 g for Adelie and "
          "3,733 g for Chinstrap. Two rows have no measurements at all and `sex` is missing for 11 penguins, "
          "so drop or impute those before comparing the sexes.")
RUN_CODE = "heavy = penguins[penguins.body_mass_g > 5000]\nprint(len(heavy), 'penguins over 5 kg')\nheavy.species.value_counts()"
SKIP_CODE = "penguins = penguins.dropna()"


def call(call_id: str, name: str, arguments: dict | None = None) -> tuple[str, str, str]:
    return (call_id, name, json.dumps(arguments or {}))


def tool_results(request) -> list:
    """The tool results a request carried, parsed back from their JSON text."""
    return [json.loads(message["content"]) for message in request.json["messages"] if message["role"] == "tool"]


@pytest.fixture(scope="module")
def nb(page):
    page.open_notebook(NOTEBOOK, CELLS)
    page.run_cell(SETUP)
    page.run_cell(DATA)
    return page


def test_tool_lines_stream_in_place_in_the_answer(nb, provider, browser_artifacts):
    listed = "list_variables() → 2 variable(s)"
    inspected = "inspect_variable(penguins) → DataFrame 344 × 8"
    # The server holds the second request until the page showed the first tool's line, and the answer
    # after its first word until the page showed that: two states seen for certain, not by timing.
    after_listing, after_first_word = Hold(after=0), Hold(after=1)
    provider.enqueue(openai_tool_stream([call("c1", "list_variables")]),
                     openai_tool_stream([call("c2", "inspect_variable", {"name": "penguins"})], hold=after_listing),
                     openai_stream([word + " " for word in ANSWER.split(" ")], delay=0.03, hold=after_first_word))
    # Released on the finished line's start: in a fresh environment the live line's text was not read as
    # `listed` by the page sampler (the cell hung on the hold in every CI run), though the end shows it.
    samples, looks = nb.sample_releasing(ASK_DATA, {"list_variables() →": after_listing, "Gentoo": after_first_word},
                                         selector=".jp-RenderedMarkdown", interval=0.04)
    shown = [sample for sample in samples if sample.count]
    # While it streams, finished blocks (tool lines among them) stay in outputs of their own apart from the
    # growing end; at the end the first output, the same node throughout, holds the whole answer.
    assert len({sample.node_ids[0] for sample in shown}) == 1 and shown[-1].count == 1
    texts = [sample.text for sample in shown + looks]
    only_listing = [text for text in texts if listed in text and "inspect_variable" not in text]
    lines_and_partial_text = [text for text in texts if inspected in text and "Gentoo" in text and "impute" not in text]
    assert only_listing and lines_and_partial_text, texts  # the lines came first, the answer grew below them
    final = nb.cell_output(ASK_DATA)
    assert listed in final.inner_text() and inspected in final.inner_text()
    assert final.locator("strong", has_text="Gentoo").count() == 1
    nb.cell(ASK_DATA).scroll_into_view_if_needed()
    _publish(nb.screenshot(browser_artifacts / "nbagent-tools.png", cell=ASK_DATA))
    [listing, inspection] = tool_results(provider.last_request)
    assert listing["variables"]["penguins"] == "DataFrame 344 × 8" and inspection["shape"] == [344, 8]


def _wait_for_approval(nb, cell: int):
    row = nb.cell_output(cell).locator(".nbagent-approval")
    row.locator("button", has_text="Run").wait_for()
    return row


def test_code_runs_after_the_user_clicks_run(nb, provider, browser_artifacts):
    provider.enqueue(openai_tool_stream([call("c3", "run_code", {"code": RUN_CODE})]),
                     openai_stream("**61 penguins** weigh over 5 kg, almost all of them Gentoo."))
    before = nb.start_cell(ASK_RUN)
    row = _wait_for_approval(nb, ASK_RUN)
    output = nb.cell_output(ASK_RUN)
    assert "run_code" in output.inner_text() and "… running" in output.inner_text()
    assert output.locator("pre code").first.inner_text().rstrip("\n") == RUN_CODE  # the exact code, highlighted
    assert len(provider.requests) == 1  # the answer waits for the click
    nb.cell(ASK_RUN).scroll_into_view_if_needed()
    _publish(nb.screenshot(browser_artifacts / "nbagent-approval.png", cell=ASK_RUN))
    row.locator("button", has_text="Run").click()
    nb.wait_cell_done(ASK_RUN, before)
    text = output.inner_text()
    assert "61 penguins over 5 kg" in text and "you chose Run" in text and "61 penguins weigh over 5 kg" in text
    assert output.locator(".nbagent-approval").count() == 0  # the buttons are gone, the decision stays
    result = tool_results(provider.last_request)[-1]
    assert result["stdout"] == "61 penguins over 5 kg\n" and "Gentoo" in result["result"]
    assert nb.execution_count(ASK_RUN) is not None


def test_skip_leaves_the_namespace_alone_and_tells_the_model(nb, provider):
    provider.enqueue(openai_tool_stream([call("c4", "run_code", {"code": SKIP_CODE})]),
                     openai_stream("Understood, I left the data as it is."))
    before = nb.start_cell(ASK_SKIP)
    _wait_for_approval(nb, ASK_SKIP).locator("button", has_text="Skip").click()
    nb.wait_cell_done(ASK_SKIP, before)
    text = nb.cell_output(ASK_SKIP).inner_text()
    assert "you chose Skip" in text and "skipped by the user" in text and "left the data as it is" in text
    declined = tool_results(provider.last_request)[-1]
    assert declined["declined"] is True
    provider.enqueue(openai_tool_stream([call("c5", "inspect_variable", {"name": "penguins"})]),
                     openai_stream("Still 344 rows."))
    nb.run_cell(ASK_DATA)
    assert tool_results(provider.last_request)[-1]["shape"] == [344, 8]  # the skipped dropna never ran
