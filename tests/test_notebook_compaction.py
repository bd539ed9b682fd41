"""A conversation that always fits, in a real kernel against the loopback provider: with a small
`context_window` the third question compacts the first two into a summary the model writes (one line in
the cell's footer), later questions are asked against it, `%agent_history` shows the summary and `--all`
every turn, the history file keeps both; `compact=off`, `%agent_history --compact`, and a provider that
answers "context too long" (compacted and sent again, once)."""

from __future__ import annotations

import json

import pytest
from kernel_session import FORGET_CONVERSATIONS, kernel_env, nbagent_kernel
from provider_server import error, openai_json, openai_stream

from nbagent.compaction import SUMMARY_INSTRUCTIONS

WORDS = "word " * 150


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url)) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute(f"{FORGET_CONVERSATIONS}\n%agent_settings context_window=1000 compact=on history_file=")
    provider.clear()
    yield kernel
    kernel.execute("%agent_settings context_window=default compact=default history_file=")


def ask(kernel, number, cell_id=None, options=""):
    metadata = {"cellId": cell_id} if cell_id else None
    run = kernel.execute(f"%%ask {options}\nquestion {number} {WORDS}", metadata=metadata)
    assert run.reply["status"] == "ok", run.errors
    return run


def is_summary_request(body) -> bool:
    return body.get("stream") is not True and body["messages"][0]["content"] == SUMMARY_INSTRUCTIONS


def history_rows(run):
    markdown = run.of_type("display_data")[0]["content"]["data"]["text/markdown"]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in markdown.splitlines()[2:]]


def test_the_third_question_compacts_the_first_two(fresh, provider, tmp_path):
    history_file = tmp_path / "chat.json"
    fresh.execute(f"%agent_settings history_file={history_file}")
    provider.enqueue(openai_stream(f"answer one {WORDS}"), openai_stream(f"answer two {WORDS}"),
                     openai_json("The user asked two long questions; both were answered at length."),
                     openai_stream("answer three"), openai_stream("answer four"))
    ask(fresh, 1, "c1")
    ask(fresh, 2, "c2")
    third = ask(fresh, 3, "c3")
    bodies = [request.json for request in provider.requests]
    assert [is_summary_request(body) for body in bodies] == [False, False, True, False]
    assert "question 1 word" in bodies[2]["messages"][1]["content"]  # the summarizer reads the old turns
    sent = bodies[3]["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("Summary of 2 earlier turns")
    assert sent[0]["content"].endswith("both were answered at length.")
    assert [m["content"].split()[:2] for m in sent[1:]] == [["question", "3"]]
    footer = third.final_markdown()
    assert "compacted 2 earlier turns, " in footer and " tokens" in footer

    fourth = ask(fresh, 4, "c4")  # asked against the summary kept: no new compaction
    assert "compacted" not in fourth.final_markdown()
    latest = provider.last_request.json["messages"]
    assert latest[0]["content"] == sent[0]["content"] and len(latest) == 4

    rows = history_rows(fresh.execute("%agent_history"))
    assert rows[0][:3] == ["1–2", "–", "summary"] and "The user asked two long questions" in rows[0][3]
    assert [row[0] for row in rows[1:]] == ["3", "3", "4", "4"]
    every = history_rows(fresh.execute("%agent_history --all"))
    assert [row[0] for row in every if row[2] == "user"] == ["1", "2", "3", "4"]

    saved = json.loads(history_file.read_text())["conversations"]["default"]
    assert len(saved["messages"]) == 8 and saved["compacted"]["turns"] == 2
    assert saved["compacted"]["note"].startswith("compacted 2 earlier turns")
    usage = fresh.execute("from nbagent.notebook.state import get_state\nprint(len(get_state().asked))")
    assert usage.stdout.strip() == "5"  # four answers and the summary count in %agent_usage

    # loaded back (as after a kernel restart): the turns whole, the summary still what is sent
    fresh.execute(f"{FORGET_CONVERSATIONS}\n%agent_settings history_file=\n%agent_settings history_file={history_file}")
    reloaded = history_rows(fresh.execute("%agent_history"))
    assert reloaded[0][:3] == ["1–2", "–", "summary"] and len(reloaded) == 5

    # a re-run of a compacted turn asks against the turns before it, whole; the summary no longer holds
    provider.enqueue(openai_stream("answer one, again"))
    ask(fresh, "1b", "c1")
    assert len(provider.last_request.json["messages"]) == 1
    assert history_rows(fresh.execute("%agent_history"))[0][0] == "1"


def test_compact_off_sends_the_conversation_whole(fresh, provider):
    fresh.execute("%agent_settings compact=off")
    provider.enqueue(*(openai_stream(f"answer {n} {WORDS}") for n in range(3)))
    for number in range(3):
        ask(fresh, number)
    assert not any(is_summary_request(request.json) for request in provider.requests)
    assert len(provider.last_request.json["messages"]) == 5


def test_compact_by_hand(fresh, provider):
    fresh.execute("%agent_settings context_window=default")
    provider.enqueue(*(openai_stream(f"answer {n}") for n in range(3)), openai_json("Three short questions."))
    for number in range(3):
        ask(fresh, number)
    run = fresh.execute("%agent_history --compact")
    assert run.stdout.startswith("nbagent: compacted 1 earlier turn, "), run.stdout
    assert is_summary_request(provider.last_request.json)
    rows = history_rows(fresh.execute("%agent_history"))
    assert rows[0][:3] == ["1–1", "–", "summary"] and [row[0] for row in rows[1:]] == ["2", "2", "3", "3"]
    too_few = fresh.execute("%agent_history --compact --agent other")
    assert too_few.reply["status"] == "error" and "nothing to compact" in too_few.errors[0]["evalue"]


def test_a_context_too_long_answer_compacts_and_asks_again(fresh, provider):
    fresh.execute("%agent_settings context_window=default")
    too_long = {"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages "
                                     "resulted in 131000 tokens.", "type": "invalid_request_error",
                          "code": "context_length_exceeded"}}
    provider.enqueue(openai_stream("answer 0"), openai_stream("answer 1"), error(400, too_long),
                     openai_json("Two questions."), openai_stream("answered after compacting"))
    model = "--model openai:gpt-4o-mini"  # the window it learns is this model's alone
    for number in range(2):
        ask(fresh, number, options=model)
    run = ask(fresh, 2, options=model)
    assert "answered after compacting" in run.final_markdown() and "compacted 2 earlier turns" in run.final_markdown()
    assert [is_summary_request(r.json) for r in provider.requests] == [False, False, False, True, False]
