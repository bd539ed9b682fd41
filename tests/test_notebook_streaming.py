"""How an answer streams into its cell, in a real kernel against the loopback provider: finished
Markdown blocks sent once and never cut inside, one growing tail updated in place, every output
neutralised, and at the end the exact answer as the cell's one output (the cell cleared with
`wait=True`, the answer shown again under its first display id) when nothing else was shown in it, or
in the first output with the others emptied when something was (a tool's notice, a print); the
model's thinking live above the answer, then one line, never in the answer's text."""

from __future__ import annotations

import html
import re

import pytest
from kernel_session import kernel_env, nbagent_kernel
from provider_server import Hold, anthropic_thinking, openai_stream, openai_tool_stream, split_words, sse

CODE = "def mean(values):\n\n    return sum(values) / len(values)\n\n\nprint(mean([1, 2, 3]))"
LOOSE_LIST = "- first item, with words\n\n- second item, after a blank line\n\n  still the second item"
TABLE = "| name | value |\n|---|---|\n| a | 1 |\n| b | 2 |"
MATH = "$$\nx = \\frac{a}{b}\n$$"


def section(k: int) -> str:
    words = " ".join(f"word{k}_{i}" for i in range(40))
    return "\n\n".join([f"## Part {k}", words, f"```python\n{CODE}\n```", LOOSE_LIST, TABLE, MATH, words])


ANSWER = "\n\n".join(section(k) for k in range(8)) + "\n"
HOSTILE = ("Careful:\n\n<script>window.x=1</script>\n\n" + "text " * 30 + "\n\n<img src=x onerror=alert(1)>\n\n"
           + "[click](javascript:alert(2))\n\n" + "more " * 30 + "\n\n`<b>code</b>`\n")


@pytest.fixture(scope="module")
def kernel(provider_server):
    env = kernel_env(provider_server.openai_base_url, ANTHROPIC_API_KEY="sk-ant-kernel-test-0123456789",
                     ANTHROPIC_BASE_URL=provider_server.anthropic_base_url)
    with nbagent_kernel(env) as session:
        yield session


def ask_slowly(kernel, provider, text: str, options: str = ""):
    provider.enqueue(openai_stream(split_words(text), delay=0.002, usage=(10, len(text.split()))))
    run = kernel.execute(f"%%ask --no-history {options}\nplease", timeout=120)
    assert run.reply["status"] == "ok", run.errors
    return run


def streamed(run, *, emptied: bool = False) -> list[dict]:
    """The display messages sent while the answer streamed: all but the final answer (and any emptying),
    and but merges (past `MAX_OUTPUTS` outputs, an output set to a run of parts, the others emptied:
    output_column.py, test_output_column.py). `emptied`: keep the emptying `{}` messages of merges (an
    output emptied is filled again later with what follows)."""
    messages = run.of_type("display_data", "update_display_data")
    first = messages[0]["content"]["transient"]["display_id"]
    final = max(i for i, m in enumerate(messages) if m["content"]["transient"]["display_id"] == first)
    during = messages[1:final]
    return [message for message, after in zip(during, [*during[1:], None])
            if (message["content"]["data"] or emptied) and (after is None or after["content"]["data"])]


def test_finished_blocks_go_out_once_and_only_the_tail_grows(kernel, provider):
    run = ask_slowly(kernel, provider, ANSWER)
    messages = streamed(run)
    assert len({m["content"]["transient"]["display_id"] for m in messages}) > 8  # a column of outputs

    # Finished blocks carry plain text too; each is the last message of its output, and together
    # they are the answer from its start, cut only between blocks.
    blocks: list[str] = []
    last_of_output = {m["content"]["transient"]["display_id"]: m for m in messages}
    for message in messages:
        data = message["content"]["data"]
        if "text/plain" in data:
            assert last_of_output[message["content"]["transient"]["display_id"]] is message
            assert data["text/markdown"] == data["text/plain"]  # nothing to neutralise here
            blocks.append(data["text/plain"])
        else:
            assert data["text/markdown"].endswith("\n\n---\n*answering…*")
    assert ANSWER.startswith("".join(blocks)) and len("".join(blocks)) > len(ANSWER) / 2
    for block in blocks:
        assert block.count("```") % 2 == 0
        for whole in (CODE, LOOSE_LIST, TABLE, MATH):
            assert not whole.split("\n")[0] in block or whole in block  # never cut inside one

    # Each message carries only what changed: blocks are new text, and the growing tail starts where
    # the blocks shown so far end, never the answer so far. (How much text one update carries depends
    # on how busy the kernel was, so no size is asserted.)
    shown = 0
    for message in messages:
        data = message["content"]["data"]
        if "text/plain" in data:
            assert ANSWER.startswith(data["text/plain"], shown)
            shown += len(data["text/plain"])
        else:
            tail = data["text/markdown"].removesuffix("\n\n---\n*answering…*")
            assert ANSWER.startswith(tail[:40], shown), (shown, tail[:80])

    # At the end: the cell cleared (when the next output comes) and the exact answer with its footer
    # shown once, under the first output's display id: the cell's one output.
    [answer] = run.outputs()
    assert answer["text/markdown"].startswith(ANSWER) and answer["text/plain"].startswith(ANSWER)
    assert "answering…" not in answer["text/markdown"] and "openai:gpt-4o" in answer["text/markdown"]
    [clear] = run.of_type("clear_output")
    assert clear["content"]["wait"] is True
    after = run.messages[run.messages.index(clear) + 1:]
    [final] = [m for m in after if m["msg_type"] in ("display_data", "update_display_data", "stream")]
    assert final["msg_type"] == "display_data" and final["content"]["data"] == answer
    first_id = run.of_type("display_data")[0]["content"]["transient"]["display_id"]
    assert final["content"]["transient"]["display_id"] == first_id  # what a stale note later updates


def test_every_output_is_neutralised(kernel, provider):
    run = ask_slowly(kernel, provider, HOSTILE)
    shown = [m["content"]["data"].get("text/markdown", "") for m in run.of_type("display_data", "update_display_data")]
    assert any("&lt;script>" in markdown for markdown in shown[1:-1])  # seen while streaming, as text
    for markdown in shown:
        assert "<script" not in markdown and "<img" not in markdown and "javascript:" not in markdown
    assert run.final_markdown().startswith(
        "Careful:\n\n&lt;script>window.x=1&lt;/script>\n\n" + "text " * 30 + "\n\n&lt;img src=x onerror=alert(1)>\n\n"
        "[click](#unsafe-link-removed)\n\n")
    assert "`<b>code</b>`" in run.final_markdown()  # code stays as written


def test_thinking_streams_above_the_answer_then_collapses_to_one_line(kernel, provider):
    first = "Let me think about lists first. " * 8
    second = "Now tuples: they are *immutable* and hashable. " * 6
    thinking = split_words(first + "\n\n" + second)
    answer = "A tuple can be a dict key; a list cannot.\n\n```python\nd = {(1, 2): 'ok'}\n```\n"
    provider.enqueue(sse(anthropic_thinking(thinking, split_words(answer)), named=True, delay=0.01))
    run = kernel.execute("%%ask --no-history --model anthropic:claude-sonnet-4-0 -o said\nlists or tuples?", timeout=60)
    assert run.reply["status"] == "ok", run.errors

    shown = [m["content"]["data"].get("text/markdown", "") for m in run.of_type("update_display_data")]
    live = [markdown for markdown in shown if "💭 *thinking…" in markdown]
    assert live, shown[:3]
    # While it thinks: the latest paragraph, dimmed (a quote, in italics, its own `*` escaped), and only that.
    later = [markdown for markdown in live if "Now tuples" in markdown]
    assert later and all("lists first" not in markdown for markdown in later)
    assert "> *Now tuples: they are \\*immutable\\* and hashable." in later[-1]
    assert all("A tuple can be" not in markdown for markdown in live)  # above the answer, before it

    words = len((first + second).split())
    collapsed = f"> 💭 *thought for {words:,} words*"
    assert run.final_markdown().startswith(f"{collapsed}\n\n{answer}")
    assert not any(output for output in run.outputs()[1:])
    said = kernel.execute("print(repr(said))").stdout.strip()
    assert said == repr(answer)  # the answer's text: no thinking in it


def blocks_answer(words: int = 60) -> str:
    return "\n\n".join(f"Paragraph {k}: " + " ".join(f"w{k}_{i}" for i in range(words)) for k in range(6)) + "\n"


def assert_kept_and_emptied(run, text: str) -> None:
    """The cell was not cleared: the whole answer in its first output, its other outputs emptied."""
    assert not run.of_type("clear_output")
    [answer, *rest] = run.outputs()
    assert text in answer["text/plain"] and "openai:gpt-4o" in answer["text/markdown"]
    assert "answering…" not in answer["text/markdown"]
    assert rest and all(output == {} for output in rest)


def test_a_tool_call_keeps_the_cells_other_outputs(kernel, provider):
    """With kernel tools on, the notice (and whatever a tool shows) stays: the cell is never cleared."""
    text = blocks_answer()
    provider.enqueue(openai_tool_stream([("call_1", "list_variables", "{}")]),
                     openai_stream(split_words(text), delay=0.002, usage=(10, 20)))
    run = kernel.execute("%%ask --no-history --tools\nwhat is there?", timeout=120)
    assert run.reply["status"] == "ok", run.errors
    assert "kernel tools on" in run.stderr
    assert_kept_and_emptied(run, text)
    assert "list_variables" in run.outputs()[0]["text/plain"]


def test_a_print_while_the_answer_streams_keeps_the_cell(kernel, provider):
    """Something printed into the cell while the question is asked (here by a `{expr}` in it) is not
    erased: the answer's outputs are emptied, the cell not cleared."""
    text = blocks_answer()
    provider.enqueue(openai_stream(split_words(text), delay=0.002, usage=(10, 20)))
    run = kernel.execute("%%ask --no-history\nsay {print('printed before') or 'hi'}", timeout=120)
    assert run.reply["status"] == "ok", run.errors
    assert "printed before" in run.stdout
    assert_kept_and_emptied(run, text)


def test_a_user_tool_keeps_the_cell(kernel, provider):
    """A tool of the user's ran (it might have printed or plotted): not cleared, even when it showed nothing."""
    setup = kernel.execute("import nbagent\n@nbagent.tool\ndef penguin_count() -> int:\n    '''How many.'''\n    return 344")
    assert setup.reply["status"] == "ok", setup.errors
    text = blocks_answer()
    try:
        provider.enqueue(openai_tool_stream([("call_1", "penguin_count", "{}")]),
                         openai_stream(split_words(text), delay=0.002, usage=(10, 20)))
        run = kernel.execute("%%ask --no-history\nhow many?", timeout=120)
        assert run.reply["status"] == "ok", run.errors
        assert run.stdout == run.stderr == ""
        assert_kept_and_emptied(run, text)
    finally:
        kernel.execute("from nbagent.notebook.kernel import kernel_tools\nkernel_tools._user_tools.clear()")


LONG_CODE = "\n".join(f"values_{i} = [x * {i % 7} for x in range({i})]  # step {i}" for i in range(200))
LONG_PARAGRAPH = " ".join(
    f"Sentence {i} has *emphasis*, `code {i}` and [a link](https://example.com/{i}) in it." if i % 4 == 0
    else f"Sentence {i} shows <b>bold {i}</b> as text, not markup, and goes on a while" + (". " if i % 3 else "")
    for i in range(160)) + "\n"


def parts_shown_once(run) -> list[str]:
    """The plain text of the streamed outputs shown once (finished blocks and parts of long ones), in order;
    every other streamed message is a growing tail, under its footer."""
    parts = []
    for message in streamed(run):
        data = message["content"]["data"]
        if "text/plain" in data:
            parts.append(data["text/plain"])
        else:
            assert data["text/markdown"].endswith("\n\n---\n*answering…*")
    return parts


def test_a_long_code_block_streams_as_closed_blocks_of_its_lines(kernel, provider):
    """A code block far longer than one update carries is cut at line ends while it streams: each part
    shown once is a closed block of the same language, of the next lines; the growing tail is the block
    opened again with only the lines not shown yet. At the end the answer is exactly what was written."""
    answer = f"The script:\n\n```python\n{LONG_CODE}\n```\n\nThat is all.\n"
    run = ask_slowly(kernel, provider, answer)
    parts = parts_shown_once(run)
    assert parts[0] == "The script:\n\n"
    code_parts = [part for part in parts[1:] if part.startswith("```python\n")]
    assert len(code_parts) >= 2, parts  # 9 KB of code: cut into parts while it streamed
    lines, shown = LONG_CODE.splitlines(), 0
    for message in streamed(run):  # in order: parts of the next lines; tails only of lines not shown yet
        data = message["content"]["data"]
        markdown = data["text/markdown"].removesuffix("\n\n---\n*answering…*")
        if not markdown.startswith("```python\n") or markdown == "```python\n":
            continue
        body = markdown.removeprefix("```python\n").rstrip("\n").splitlines()
        assert (lines + ["```"])[shown].startswith(body[0]), (shown, body[0])  # a tail's last line may be partial
        if "text/plain" in data:
            assert body[-1] == "```" and markdown.count("```") == 2  # closed, nothing else inside
            assert body[:-1] == lines[shown:shown + len(body) - 1]
            shown += len(body) - 1
    assert shown == len(lines) or "\n```\n\nThat is all." in run.outputs()[0]["text/markdown"]
    for message in streamed(run):
        assert "answering" not in message["content"]["data"].get("text/plain", "")
    [final] = run.outputs()
    assert final["text/plain"].startswith(answer) and final["text/markdown"].startswith(answer)


def test_a_long_paragraph_streams_in_sentences_each_shown_once(kernel, provider):
    """One paragraph far longer than one update carries is cut after sentences where nothing inline
    (emphasis, code, link) is open: the parts are the answer's text, in order, each once and
    neutralised; the tail never holds what a part showed. At the end the paragraph is whole, exact."""
    run = ask_slowly(kernel, provider, LONG_PARAGRAPH)
    parts = parts_shown_once(run)
    assert len(parts) >= 2, parts
    assert LONG_PARAGRAPH.startswith("".join(parts)), parts
    shown = 0
    markdowns = [m["content"]["data"]["text/markdown"] for m in streamed(run) if "text/plain" in m["content"]["data"]]
    for part, markdown in zip(parts, markdowns):
        shown += len(part)
        assert part[-1].isspace() and LONG_PARAGRAPH[shown].isalpha(), part[-80:]  # between words
        assert part.count("`") % 2 == 0 and part.count("*") % 2 == 0 and part.count("[") == part.count("]"), part
        assert "<b>" not in markdown and ("&lt;b>" in markdown) == ("<b>" in part), markdown
    shown = 0
    for message in streamed(run):  # in order: each tail starts where the parts shown so far end
        data = message["content"]["data"]
        assert "<b>" not in data["text/markdown"]
        if "text/plain" in data:
            shown += len(data["text/plain"])
        else:
            tail = data["text/markdown"].removesuffix("\n\n---\n*answering…*")
            assert LONG_PARAGRAPH.startswith(html.unescape(tail)[:10], shown), (shown, tail[:40])  # a tail may open with an escaped <b>
    by_output: dict[str, list[str]] = {}  # what each output showed since it was opened, or last emptied
    for message in streamed(run, emptied=True):
        display_id = message["content"]["transient"]["display_id"]
        if not message["content"]["data"]:
            by_output[display_id + str(len(by_output))] = by_output.pop(display_id, [])
            continue
        markdown = message["content"]["data"]["text/markdown"].removesuffix("\n\n---\n*answering…*")
        by_output.setdefault(display_id, []).append(markdown)
    for texts in by_output.values():  # a cut never takes back what its output showed: each only grows
        words = [re.sub(r"\W", "", html.unescape(text)) for text in texts]  # however a partial tag was escaped
        for before, after in zip(words, words[1:]):
            assert after.startswith(before), (before[-80:], after[-80:])
    [final] = run.outputs()
    assert final["text/plain"].startswith(LONG_PARAGRAPH)
    assert final["text/markdown"].startswith(LONG_PARAGRAPH.replace("<b>", "&lt;b>").replace("</b>", "&lt;/b>"))


def test_a_pause_never_hides_the_end_of_what_came(kernel, provider):
    """When an update sets a finished part apart, the rest goes in the next update's new tail, sent even if
    nothing new arrives: the server holds the stream at places of a long paragraph until the kernel showed
    what it sent at the growing end (without that, a stall right after a cut hid the end until more came)."""
    pieces = split_words(LONG_PARAGRAPH)
    ends = [f"Sentence {i} shows" for i in range(21, 160, 10)]
    holds = {text: Hold(after=next(n for n in range(len(pieces)) if text in "".join(pieces[:n]))) for text in ends}

    shown: dict[str, str] = {}  # what each output shows, in the order they were opened

    def release_when_shown(message) -> None:
        if message["msg_type"] in ("display_data", "update_display_data"):
            tail = message["content"]["data"].get("text/markdown", "")
            shown[message["content"]["transient"]["display_id"]] = tail.removesuffix("\n\n---\n*answering…*")
            for text, hold in holds.items():  # a part and the tail may each hold some of the text
                if text in "".join(shown.values()) and tail.endswith("*answering…*"):
                    hold.release()

    provider.enqueue(openai_stream(pieces, delay=0.001, usage=(10, 20), hold=list(holds.values())))
    try:
        run = kernel.execute("%%ask --no-history\nplease", timeout=120, on_message=release_when_shown)
    finally:
        for hold in holds.values():
            hold.release()
    assert run.reply["status"] == "ok", run.errors
    assert all(hold.reached.is_set() for hold in holds.values())
    [final] = run.outputs()
    assert final["text/plain"].startswith(LONG_PARAGRAPH)
