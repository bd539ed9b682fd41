"""A reasoning model's thinking as a user sees it in JupyterLab: while the model thinks, a dimmed quote
(`💭 thinking… N words` and the latest paragraph, in italics) above where the answer will be; once the
answer's text streams, that quote collapses to one line (`💭 thought for N words`), which is what the
saved notebook keeps. The kernel's model is `anthropic:claude-sonnet-4-0` at the loopback provider
server, which scripts the thinking stream.
"""

from __future__ import annotations

import pytest

from provider_server import Hold, ProviderServer, anthropic_thinking, split_words, sse

from .test_nbagent_in_lab import loopback_env

NOTEBOOK = "thinking.ipynb"
MODEL = "anthropic:claude-sonnet-4-0"

SETUP, ASK, SAID = range(3)
CELLS = [
    "%load_ext nbagent",
    f"%%ask --no-history --model {MODEL} -o said\nLists or tuples: which can be a dict key?",
    "print(repr(said))",
]
FIRST = "Let me think about lists first: they can change, so their hash could change too. " * 4
SECOND = "Now tuples: they are *immutable* and hashable when their items are. " * 4
THINKING = FIRST.strip() + "\n\n" + SECOND.strip()
WORDS = len(THINKING.split())
SENTENCE = "A tuple can be a dict key; a list cannot, since a list can change after it is made."
CODE = "d = {(1, 2): 'ok'}"
ANSWER = f"{SENTENCE}\n\n```python\n{CODE}\n```\n"


@pytest.fixture(scope="module")
def lab_env(provider_server: ProviderServer) -> dict[str, str]:
    """The kernel can reach Anthropic at the loopback provider server (and OpenAI, the default model)."""
    return {**loopback_env(provider_server), "ANTHROPIC_BASE_URL": provider_server.anthropic_base_url,
            "ANTHROPIC_API_KEY": "sk-ant-browser-test-0123456789"}


@pytest.fixture(scope="module")
def nb(page):
    page.open_notebook(NOTEBOOK, CELLS)
    page.run_cell(SETUP)
    return page


# JS: the outputs' rendered Markdown, top to bottom (while the answer streams, finished blocks are outputs
# of their own above the growing end): the quote above the answer (its HTML and text) and the text of
# what follows it up to the footer's <hr>.
_PARTS_JS = """
(area) => {
  const blocks = Array.from(area.querySelectorAll('.jp-RenderedMarkdown')).flatMap(md => Array.from(md.children));
  if (!blocks.length) return null;
  const hr = blocks.findIndex(b => b.tagName === 'HR');
  const quote = blocks[0] && blocks[0].tagName === 'BLOCKQUOTE' ? blocks[0] : null;
  return {
    quoteHtml: quote ? quote.innerHTML : '',
    quoteText: quote ? quote.innerText.trim() : '',
    quoteItalic: quote ? Array.from(quote.querySelectorAll('em')).map(e => e.innerText) : [],
    answer: blocks.slice(quote ? 1 : 0, hr < 0 ? blocks.length : hr).map(b => b.innerText.trim()),
    footer: hr < 0 ? '' : blocks.slice(hr + 1).map(b => b.innerText).join('\\n').trim(),
  };
}
"""


def _sent_text(events: list[dict]) -> str:
    """The thinking and the text the `events` carry."""
    deltas = [event["delta"] for event in events if event["type"] == "content_block_delta"]
    return "".join(delta.get("thinking", "") + delta.get("text", "") for delta in deltas)


def _parts(nb, index: int) -> dict | None:
    return nb.evaluate(_PARTS_JS, nb.cell_output(index).element_handle())


def _assert_collapsed(parts: dict) -> None:
    assert parts["quoteText"] == f"💭 thought for {WORDS:,} words", parts["quoteText"]
    assert parts["quoteItalic"] == [f"thought for {WORDS:,} words"]
    assert parts["answer"] == [SENTENCE, CODE], parts["answer"]
    assert "Let me think" not in "\n".join(parts["answer"]) and "Now tuples" not in "\n".join(parts["answer"])


def test_thinking_shows_as_a_quote_then_collapses_to_one_line(nb, provider, browser_artifacts):
    thinking, answer = split_words(THINKING), split_words(ANSWER)
    # The server holds the stream in the second paragraph of the thinking until the page showed it and
    # the screenshot was taken, and again after the answer's first words until the page showed them.
    events = anthropic_thinking(thinking, answer)
    in_thinking = Hold(after=next(n for n in range(len(events)) if "Now tuples: they are" in _sent_text(events[:n])))
    in_answer = Hold(after=next(n for n in range(len(events)) if SENTENCE[:12] in _sent_text(events[:n])))
    provider.enqueue(sse(events, named=True, delay=0.02, hold=[in_thinking, in_answer]))
    seen: list[dict] = []

    def look(sample) -> None:
        parts = _parts(nb, ASK) if sample.count else None
        if parts is not None:
            seen.append(parts)
            if "Now tuples" in parts["quoteText"] and not in_thinking.released.is_set():
                nb.screenshot(browser_artifacts / "nbagent-thinking.png", cell=ASK)
                in_thinking.release()
            if parts["answer"] and SENTENCE[:12] in parts["answer"][0]:
                in_answer.release()

    try:
        samples = nb.sample_while_running(ASK, interval=0.05, on_sample=look)
    finally:
        in_thinking.release()
        in_answer.release()
    assert not samples[-1].running

    # While it thinks: a quote (rendered, not raw Markdown) in italics, the words so far, the latest
    # paragraph only, and no answer text yet.
    thinking = [s for s in seen if "thinking…" in s["quoteText"]]
    print(f"\nthinking: {len(seen)} looks, {len(thinking)} while thinking")
    assert thinking, [s["quoteText"][:40] for s in seen[:5]]
    for parts in thinking:
        assert parts["quoteText"].startswith("💭 thinking… ") and " words" in parts["quoteText"]
        assert parts["quoteItalic"] and parts["quoteItalic"][0].startswith("thinking… ")
        assert "&gt;" not in parts["quoteHtml"] and not parts["quoteText"].startswith(">")
        assert not [line for line in parts["answer"] if SENTENCE[:12] in line]  # above the answer, before it
    later = [s for s in thinking if "Now tuples" in s["quoteText"]]
    assert later, "no sample showed the second paragraph of the thinking"
    assert all("Let me think" not in s["quoteText"] for s in later)
    assert any("they are *immutable* and hashable" in italic for italic in later[-1]["quoteItalic"])  # `*` as text
    counts = [int(s["quoteText"].split("thinking… ")[1].split(" words")[0].replace(",", "")) for s in thinking]
    assert counts == sorted(counts) and counts[-1] <= WORDS

    # Once the answer's text streams: the quote is one line, the answer below it.
    answering = [s for s in seen if s["answer"] and SENTENCE[:12] in s["answer"][0]]
    assert answering
    assert all("thinking…" not in s["quoteText"] and s["quoteText"].startswith("💭 thought for") for s in answering)
    assert seen.index(thinking[-1]) < seen.index(answering[0])

    # At the end: the collapsed line, the exact answer, the footer; the answer's text without the thinking.
    parts = _parts(nb, ASK)
    _assert_collapsed(parts)
    assert parts["footer"].startswith(MODEL)
    nb.run_cell(SAID)
    assert nb.cell_output(SAID).inner_text().strip() == repr(ANSWER)


def test_the_collapsed_thinking_survives_save_and_reopen(nb, provider, browser_artifacts):
    if not (_parts(nb, ASK) or {}).get("footer"):
        test_thinking_shows_as_a_quote_then_collapses_to_one_line(nb, provider, browser_artifacts)  # alone (-k)
    nb.save()
    saved = nb.lab.read_notebook(NOTEBOOK)
    [output] = saved.cells[ASK].outputs
    plain = output["data"]["text/plain"]
    assert plain.startswith(f"> 💭 *thought for {WORDS:,} words*\n\n{ANSWER}\n")
    assert "Let me think" not in plain and "Now tuples" not in plain

    nb.close_and_reopen()
    nb.cell_output(ASK).locator(".jp-RenderedMarkdown blockquote").wait_for()
    _assert_collapsed(_parts(nb, ASK))
