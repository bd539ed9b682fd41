"""An answer's column of outputs never passes `MAX_OUTPUTS` (JupyterLab shows 50 outputs of a cell), however
long the answer (output_column.py): finished parts are merged and emptied outputs filled again, in order, at
a bounded cost in bytes; never across something else the cell shows. In a real kernel, as a frontend sees it."""

from __future__ import annotations

import pytest
from kernel_session import kernel_env, nbagent_kernel
from provider_server import openai_stream, split_words

from nbagent.notebook.view.output_column import MAX_OUTPUTS, MIN_ROOM, Part

FOOTER = "\n\n---\n*answering…*"


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url)) as session:
        yield session


def frontend_states(run) -> list[list[tuple[str, str]]]:
    """The cell's outputs after each message, as a frontend holds them: ("display", its text: text/plain,
    else text/markdown, "" when emptied) or ("stream", the text, consecutive writes to one stream joined).
    Not in the middle of a merge (the merged output updated, the others being emptied, one message each)."""
    outputs: list[list[str]] = []  # [kind, display id or stream name, text]
    states = []
    messages = run.of_type("display_data", "update_display_data", "stream")
    for message, after in zip(messages, [*messages[1:], None]):
        content = message["content"]
        if message["msg_type"] == "stream":
            if outputs and outputs[-1][:2] == ["stream", content["name"]]:
                outputs[-1][2] += content["text"]
            else:
                outputs.append(["stream", content["name"], content["text"]])
        else:
            data = content["data"]
            text = data.get("text/plain", data.get("text/markdown", ""))
            display_id = content["transient"]["display_id"]
            if message["msg_type"] == "display_data":
                outputs.append(["display", display_id, text])
            for output in outputs:
                if output[:2] == ["display", display_id]:
                    output[2] = text
        if after is None or after["msg_type"] != "update_display_data" or after["content"]["data"]:
            states.append([(kind, text) for kind, _, text in outputs])
    return states


def test_parts_of_one_code_block_merge_into_one_block():
    first = Part("```python\na = 1\n", closing="```\n")
    middle = Part("b = 2\n", opening="```python\n", closing="```\n")
    last = Part("c = 3\n```\n\nDone.\n", opening="```python\n")
    assert first.then(middle).markdown == "```python\na = 1\nb = 2\n```\n"
    assert first.then(middle).then(last).markdown == "```python\na = 1\nb = 2\nc = 3\n```\n\nDone.\n"


COLUMN = """
from IPython import get_ipython
from nbagent.notebook.view.answer_view import OutputWatch
from nbagent.notebook.view.output_column import OutputColumn, Part
column = OutputColumn({{"text/markdown": "*asking…*"}}, OutputWatch(get_ipython()))
for i in range({parts}):
    column.show_tail({{"text/markdown": f"part {{i}} growing"}})
    column.show_part(Part(f"part {{i}} " + "x" * (i % 7 * 40 + 200) + "\\n\\n"))
    if i in {prints}:
        print(f"printed after part {{i}}")
"""


def column_run(kernel, parts: int, prints: tuple[int, ...] = ()):
    run = kernel.execute(COLUMN.format(parts=parts, prints=set(prints) or "()"), timeout=120)
    assert run.reply["status"] == "ok", run.errors
    texts = [f"part {i} " + "x" * (i % 7 * 40 + 200) + "\n\n" for i in range(parts)]
    return run, texts


@pytest.mark.parametrize("parts", [39, 65, 400])
def test_a_long_column_stays_within_the_cap_in_order_at_a_bounded_cost(kernel, parts):
    run, texts = column_run(kernel, parts)
    opened = run.of_type("display_data")
    assert len(opened) == min(parts, MAX_OUTPUTS)  # the first shows part 0: one opened per part up to the cap
    for state in frontend_states(run):  # at every moment: the parts so far, in order, then the growing one
        shown = [text for _, text in state if text]
        finished = [text for text in shown if not text.endswith(("growing", "asking…*"))]
        assert shown[:len(finished)] == finished  # the growing one last
        assert "".join(texts).startswith("".join(finished))
    assert "".join(text for _, text in frontend_states(run)[-1]) == "".join(texts)
    resent = sum(len(m["content"]["data"].get("text/plain", m["content"]["data"].get("text/markdown", "")))
                 for m in run.of_type("update_display_data") if "growing" not in str(m["content"]["data"]))
    answer = len("".join(texts))
    assert resent <= (1.2 if parts < MAX_OUTPUTS else 4) * answer, resent / answer  # each part, and merges


def test_nothing_moves_above_what_else_the_cell_shows(kernel):
    """Prints while the column streams sit between its outputs: what came before each stays above it,
    what came after below, and the column still stays near its cap below the last print."""
    prints = (30, 90, 95)
    run, texts = column_run(kernel, 200, prints)
    for state in frontend_states(run):
        order = [text for _, text in state if text]
        for printed in prints:
            line = f"printed after part {printed}\n"
            if line in order:
                at = order.index(line)
                above = "".join(text for text in order[:at] if not text.startswith("printed"))
                below = "".join(order[at + 1:])
                assert above.endswith(texts[printed]) and "".join(texts).startswith(above)
                assert f"part {printed + 1} " not in above and f"part {printed} " not in below
    assert len(run.of_type("display_data")) <= MAX_OUTPUTS + MIN_ROOM * len(prints)


CODE = "\n".join(f"values_{i} = [x * {i % 17} for x in range({i})]  # step {i} of the table" for i in range(300))


def test_a_300_line_code_block_streams_within_the_cap_and_ends_exact(kernel, provider):
    """The 300-line block of issue 20: JupyterLab would hide its end past 50 outputs; it takes at most
    `MAX_OUTPUTS`, every output one closed code block of the next lines, the page always the block so far."""
    answer = f"Here is the whole script:\n\n```python\n{CODE}\n```\n"
    provider.enqueue(openai_stream(split_words(answer), delay=0.001, usage=(10, len(answer.split()))))
    run = kernel.execute("%%ask --no-history\nthe script", timeout=180)
    assert run.reply["status"] == "ok", run.errors
    [clear] = run.of_type("clear_output")
    streaming = run.messages[:run.messages.index(clear)]
    assert len([m for m in streaming if m["msg_type"] == "display_data"]) <= MAX_OUTPUTS
    lines = CODE.splitlines()
    for state in frontend_states(run)[:-1]:
        shown = [text.removesuffix(FOOTER) for _, text in state if text]
        code = [line for text in shown for line in text.splitlines()  # the code's lines, no fence or paragraph
                if line and not line.startswith(("```", "asking")) and not "Here is the whole script:".startswith(line)]
        if code:
            assert code[:-1] == lines[:len(code) - 1], [(a, b) for a, b in zip(code, lines) if a != b][:2]
            assert lines[len(code) - 1].startswith(code[-1]), (code[-1], lines[len(code) - 1])
        for text in shown[1:]:
            assert text.startswith("```python\n") and text.count("```") == 2, text[:80]  # one closed block each
    [final] = run.outputs()
    assert final["text/plain"].startswith(answer) and final["text/markdown"].startswith(answer)
