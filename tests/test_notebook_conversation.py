"""Notebook-native conversation in a real kernel: re-run replaces a cell's turn, history commands,
{expr} interpolation, --code, --background, and the history file."""

from __future__ import annotations

import json

import pytest
from kernel_session import FORGET_CONVERSATIONS, KernelSession, kernel_env, nbagent_kernel, printed
from provider_server import Hold, openai_stream

KEY = "sk-kernel-test-key-0123456789"


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url)) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute(FORGET_CONVERSATIONS)
    provider.clear()
    kernel.stray.clear()
    return kernel


def ask(kernel, body, options="", cell_id=None, **kwargs):
    metadata = {"cellId": cell_id} if cell_id else None
    return kernel.execute(f"%%ask {options}\n{body}", metadata=metadata, **kwargs)


def sent_contents(provider):
    return [message["content"] for message in provider.last_request.json["messages"]]


def display_id_of(run):
    return run.of_type("display_data")[0]["content"]["transient"]["display_id"]


def update_of(display_id, shows):
    """A test of iopub messages: an update of `display_id` whose Markdown `shows(markdown)`."""
    return lambda m: (m["msg_type"] == "update_display_data" and m["content"]["transient"]["display_id"] == display_id
                      and shows(m["content"]["data"].get("text/markdown", "")))


def test_rerunning_a_cell_replaces_its_turn(fresh, provider):
    ask(fresh, "question A", cell_id="cell-a")
    run_b = ask(fresh, "question B", cell_id="cell-b")
    rerun = ask(fresh, "question A, edited", cell_id="cell-a")
    assert sent_contents(provider) == ["question A, edited"]  # asked with the history before cell A
    assert "replaced this cell's earlier turn" in rerun.final_markdown()
    assert "1 later turn(s) were asked against the old version" in rerun.final_markdown()
    # cell B's answer is marked as asked against an older version, in place
    b_updates = [u for u in rerun.updates if u["transient"]["display_id"] == display_id_of(run_b)]
    assert b_updates and "asked against an older version" in b_updates[-1]["data"]["text/markdown"]
    ask(fresh, "question C", cell_id="cell-c")
    assert sent_contents(provider) == ["question A, edited", "Echo: question A, edited", "question B",
                                       "Echo: question B", "question C"]
    again = ask(fresh, "question C again", cell_id="cell-c")
    assert again.reply["status"] == "ok"
    assert sent_contents(provider)[-1] == "question C again" and len(sent_contents(provider)) == 5


def test_without_cell_ids_each_run_is_a_new_turn(fresh, provider):
    ask(fresh, "same question")
    ask(fresh, "same question")
    assert sent_contents(provider) == ["same question", "Echo: same question", "same question"]


def test_history_table_pop_clear(fresh, provider):
    ask(fresh, "first | question", cell_id="c1")
    ask(fresh, "second question", cell_id="c2")
    table = fresh.execute("%agent_history")
    markdown = table.of_type("display_data")[0]["content"]["data"]["text/markdown"]
    lines = markdown.splitlines()
    assert lines[0] == "| turn | cell | role | text | tokens |"
    assert len(lines) == 2 + 4
    assert r"first \| question" in lines[2] and "| c1 | user |" in lines[2]
    assert "| assistant |" in lines[3] and "→" in lines[3]
    popped = fresh.execute("%agent_history --pop")
    assert "1 left" in popped.stdout
    ask(fresh, "third")
    assert sent_contents(provider) == ["first | question", "Echo: first | question", "third"]
    fresh.execute("%agent_history --clear")
    ask(fresh, "fourth")
    assert sent_contents(provider) == ["fourth"]


def test_history_table_neutralises_the_table_as_a_whole(fresh, provider):
    """A cell beginning with a fence reads as a code block on its own, but is inline text in the table:
    the `<img onerror>` in it must not reach the frontend as HTML."""
    hostile = "```<img src=x onerror=alert(1)> and a | pipe"
    ask(fresh, hostile)
    markdown = fresh.execute("%agent_history").of_type("display_data")[0]["content"]["data"]["text/markdown"]
    from nbagent.notebook.markdown.lab_parser import parser

    tokens = parser().parse(markdown)
    inline = [child for token in tokens if token.type == "inline" for child in token.children or []]
    assert [token.type for token in tokens].count("tr_open") == 3  # header, question, answer: one table
    assert not [token for token in inline if token.type.startswith("html")]
    assert "&lt;img src=x onerror=alert(1)>" in markdown and r"a \| pipe" in markdown


def test_history_save_and_load(fresh, provider, tmp_path):
    ask(fresh, "remember this")
    saved = tmp_path / "conversation.json"
    assert "saved 1 turn(s)" in fresh.execute(f"%agent_history --save {saved}").stdout
    data = json.loads(saved.read_text())
    assert [message["kind"] for message in data] == ["request", "response"]
    fresh.execute("%agent_history --clear")
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a conversation"}')
    for path in (bad, tmp_path / "missing.json"):
        failed = fresh.execute(f"%agent_history --load {path}")
        assert failed.reply["status"] == "error" and len(failed.errors[0]["traceback"]) == 1
        assert "the current history is unchanged" in failed.errors[0]["evalue"]
    assert "loaded 1 turn(s)" in fresh.execute(f"%agent_history --load {saved}").stdout
    ask(fresh, "what did I say?")
    assert sent_contents(provider) == ["remember this", "Echo: remember this", "what did I say?"]


def test_interpolation_from_the_namespace(fresh, provider):
    fresh.execute("x = 41\nrows = list(range(5000))")
    ask(fresh, "value {x + 1}, literal {{braces}}, name {x!r}")
    assert sent_contents(provider)[-1] == "value 42, literal {braces}, name 41"
    long_run = ask(fresh, "the data: {rows}")
    assert "{rows} is" in long_run.stderr and "sent the first 2,000" in long_run.stderr
    assert "truncated" in sent_contents(provider)[-1] and len(sent_contents(provider)[-1]) < 2200
    provider.clear()
    failed = ask(fresh, "what is {undefined_name}?")
    assert failed.reply["status"] == "error"
    assert "unknown name 'undefined_name'" in failed.errors[0]["evalue"] and len(failed.errors[0]["traceback"]) == 1
    assert provider.requests == []


def test_code_goes_to_a_new_cell_below(fresh, provider):
    provider.enqueue(openai_stream("Here you go:\n\n```python\nimport math\nprint(math.pi)\n```\n\nDone."))
    run = ask(fresh, "write code", "--code")
    [payload] = [p for p in run.reply["payload"] if p["source"] == "set_next_input"]
    assert payload["text"] == "import math\nprint(math.pi)" and payload["replace"] is False


def test_background_answer_streams_while_other_cells_run(fresh, provider):
    words = [f"b{i} " for i in range(150)]
    hold = Hold(after=50)  # the answer waits halfway until another cell has run
    provider.enqueue(openai_stream(words, delay=0.005, hold=hold))
    background = ask(fresh, "slow background question", "--background", cell_id="bg")
    assert background.reply["status"] == "ok"
    assert "tok/s" not in background.final_markdown()  # the cell finished before the answer did
    ask_msg_id = background.messages[0]["parent_header"]["msg_id"]
    display_id = display_id_of(background)
    try:
        # The first half streams into the asking cell while no cell runs ...
        fresh.drain_until(update_of(display_id, lambda markdown: "b49" in markdown))
        # ... another cell runs while the answer is still in flight ...
        other = fresh.execute("print('other cell done')")
        assert other.stdout == "other cell done\n"
    finally:
        hold.release()
    # ... and the rest follows, to the end.
    final = fresh.drain_until(update_of(display_id, lambda markdown: "tok/s" in markdown))["content"]["data"]["text/markdown"]
    assert final.startswith("".join(words))
    updates = [m for m in fresh.stray if update_of(display_id, lambda markdown: True)(m)]
    assert len(updates) >= 3
    assert all(m["parent_header"]["msg_id"] == ask_msg_id for m in updates)  # routed to the asking cell
    ask(fresh, "after the background answer")
    assert sent_contents(provider) == ["slow background question", "".join(f"b{i} " for i in range(150)),
                                       "after the background answer"]


def test_interrupting_the_kernel_does_not_corrupt_a_background_answer(fresh, provider):
    words = [f"k{i} " for i in range(100)]
    hold = Hold(after=50)  # the answer is in flight while the kernel is interrupted
    provider.enqueue(openai_stream(words, delay=0.005, hold=hold))
    background = ask(fresh, "background", "--background")
    try:
        assert hold.reached.wait(60)
        interrupted = fresh.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)",
                                    on_message=fresh.interrupt_when(printed("sleeping")))
        assert interrupted.reply["status"] == "error" and interrupted.reply["ename"] == "KeyboardInterrupt"
    finally:
        hold.release()
    fresh.drain_until(update_of(display_id_of(background), lambda markdown: "tok/s" in markdown))
    ask(fresh, "next")
    assert sent_contents(provider) == ["background", "".join(words), "next"]


def test_history_file_survives_a_kernel_restart(provider_server, provider, tmp_path):
    path = tmp_path / "history.json"
    first = KernelSession(kernel_env(provider_server.openai_base_url))
    try:
        first.execute("%load_ext nbagent")
        set_file = first.execute(f"%agent_settings history_file={path}")
        assert set_file.reply["status"] == "ok", set_file.errors
        ask(first, "persist me", cell_id="p1")
        ask(first, "and me", "--agent side")
    finally:
        first.close()
    saved = path.read_text()
    assert "persist me" in saved and KEY not in saved
    data = json.loads(saved)
    assert set(data["conversations"]) == {"default", "side"} and data["conversations"]["default"]["cell_ids"] == ["p1"]
    # a new kernel configured by the traitlets option picks the conversation up again
    second = KernelSession(kernel_env(provider_server.openai_base_url), extra_arguments=(f"--AgentSettings.history_file={path}",))
    try:
        second.execute("%load_ext nbagent")
        rerun = ask(second, "persist me, edited", cell_id="p1")
        assert rerun.reply["status"] == "ok"
        assert sent_contents(provider) == ["persist me, edited"]  # re-running p1 replaced its turn
        ask(second, "continue")
        assert sent_contents(provider) == ["persist me, edited", "Echo: persist me, edited", "continue"]
    finally:
        second.close()
    assert "continue" in path.read_text()


def test_a_file_that_is_not_a_history_is_refused_and_never_overwritten(fresh, provider, tmp_path):
    precious = tmp_path / "data.json"
    precious.write_text('{"my": "data"}')
    run = fresh.execute(f"%agent_settings history_file={precious}")
    assert run.reply["status"] == "error" and len(run.errors[0]["traceback"]) == 1
    assert "cannot use" in run.errors[0]["evalue"] and "not an nbagent history file" in run.errors[0]["evalue"]
    ask(fresh, "a question after the refusal")
    assert precious.read_text() == '{"my": "data"}'
    assert "history_file=default" in fresh.execute("%agent_settings model=default").stdout


SETTINGS_AS_SET = "temperature=0.5 max_tokens=100 model=openai:gpt-4o system=terse history_file=default tools=off approve_code=ask"


@pytest.mark.parametrize("bad, says", [
    ("history_file=/missing_dir/h.json", "the directory /missing_dir does not exist"),
    ("history_file=/tmp", "it is a directory"),
    ("temperature=0.7 history_file=/missing_dir/h.json", "does not exist"),  # the line's good setting is not kept either
    ("model=opnai:gpt-4o", "opnai"),
    ("temperature=5", "temperature"),
    ("max_tokens=0", "max_tokens"),
    ("tools=everything", "tools must be one of"),
    ("approve_code=never", "approve_code must be one of"),
    ('prices={"openai:gpt-4o": "cheap"}', "prices"),
])
def test_a_setting_that_fails_is_one_line_and_not_kept(fresh, bad, says):
    assert fresh.execute(f"%agent_settings {SETTINGS_AS_SET}").reply["status"] == "ok"
    before = fresh.execute("%agent_settings").stdout
    try:
        run = fresh.execute(f"%agent_settings {bad}")
        assert run.reply["status"] == "error"
        [error] = run.errors
        assert len(error["traceback"]) == 1 and "\n" not in error["evalue"] and says in error["evalue"], error
        assert fresh.execute("%agent_settings").stdout == before
    finally:
        fresh.execute("%agent_settings temperature=default max_tokens=default model=default system=default")


def test_a_history_file_that_cannot_be_written_never_breaks_an_answer(fresh, provider, tmp_path):
    directory = tmp_path / "gone"
    directory.mkdir()
    assert fresh.execute(f"%agent_settings history_file={directory / 'h.json'}").reply["status"] == "ok"
    try:
        ask(fresh, "saved")
        (directory / "h.json").unlink()
        directory.rmdir()  # the file's directory disappears under the running kernel
        run = ask(fresh, "not saved")
        assert run.reply["status"] == "ok", run.errors
        assert run.final_markdown().startswith("Echo: not saved")
        [warning] = run.stderr.strip().splitlines()
        assert warning.startswith(f"nbagent: cannot write the history file {directory / 'h.json'}: ")
        assert warning.endswith("the conversation is kept in this kernel only")
        ask(fresh, "next")
        assert sent_contents(provider) == ["saved", "Echo: saved", "not saved", "Echo: not saved", "next"]
    finally:
        fresh.execute("%agent_settings history_file=default")
