"""Faults seen from a notebook cell: one short line, no key, and the next %%ask works with a clean history."""

from __future__ import annotations

import json

import pytest
from kernel_session import KernelSession, kernel_env, nbagent_kernel
from provider_server import error, openai_stream, stall_after_headers, unused_port

KEY = "sk-notebook-secret-key-9876543210"

FAULTS = {
    "404 unknown model": ([error(404, "The model `nope` does not exist")], "HTTP 404"),
    "500 after retries": ([error(500, "boom", retry_after=0)] * 3, "HTTP 500"),
    "429 then success": ([error(429, "slow down", retry_after=0)], None),
    "stream cut midway": ([openai_stream("one two three four five", cut_after=2)], "closed before the answer was complete"),
    "malformed line": ([openai_stream("one two three", malformed_at=2)], "malformed stream line"),
    "missing [DONE]": ([openai_stream("one two three", omit_done=True)], "without its end marker"),
    "read timeout mid-stream": ([stall_after_headers(5)], "read timeout"),
    "401 echoing the key": ([error(401, f"Incorrect API key provided: {KEY}")], "HTTP 401"),
}


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url, OPENAI_API_KEY=KEY)) as session:
        yield session


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_one_line_and_history_stays_clean(kernel, provider, fault):
    replies, expected = FAULTS[fault]
    kernel.execute("from nbagent.notebook.state import get_state\nget_state().conversations.clear()\n"
                   "get_state().conversation().agent.model.settings = {'timeout': 1.0}")
    ask = kernel.execute("%%ask\nbefore")
    assert ask.reply["status"] == "ok"
    provider.enqueue(*replies)
    run = kernel.execute("%%ask\nduring the fault")
    produced = json.dumps(run.messages, default=str)
    assert KEY not in produced
    if expected is None:  # retried transparently
        assert run.reply["status"] == "ok"
        assert provider.last_request.json["messages"][-1]["content"] == "during the fault"
        return
    assert run.reply["status"] == "error"
    [err] = run.errors
    assert err["ename"] == "AskError" and len(err["traceback"]) == 1 and "\n" not in err["evalue"]
    assert expected in err["evalue"]
    after = kernel.execute("%%ask\nafter")
    assert after.reply["status"] == "ok"
    assert [m["content"] for m in provider.last_request.json["messages"]] == ["before", "Echo: before", "after"]


def test_refused_connection_in_a_cell(kernel, provider):
    kernel.execute(f"import os; os.environ['OLLAMA_BASE_URL'] = 'http://127.0.0.1:{unused_port()}/v1'")
    run = kernel.execute("%%ask --model ollama:llama3\nhi")
    [err] = run.errors
    assert len(err["traceback"]) == 1 and "connection refused" in err["evalue"]


def test_the_key_appears_nowhere(provider_server, provider, tmp_path):
    """Grep everything a session produces — outputs, saved history, history file, reprs — for the key."""
    history_file = tmp_path / "history.json"
    saved = tmp_path / "saved.json"
    session = KernelSession(kernel_env(provider_server.openai_base_url, OPENAI_API_KEY=KEY))
    try:
        runs = [session.execute(code) for code in (
            "%load_ext nbagent",
            f"%agent_settings history_file={history_file}",
            "%%ask\nfirst",
            "%agent_settings",
            "%agent_history",
            f"%agent_history --save {saved}",
            "from nbagent.notebook.state import get_state\nstate = get_state()\n"
            "print(repr(state.conversation().agent), repr(state.conversation().agent.model), vars(state.settings))",
        )]
        provider.enqueue(error(401, f"Incorrect API key provided: {KEY}"))
        runs.append(session.execute("%%ask\nsecond"))
        runs.append(session.execute("raise RuntimeError('plain error for comparison')"))
        assert provider.last_request.headers["authorization"] == f"Bearer {KEY}"  # it was really used
    finally:
        session.close()
    produced = json.dumps([run.messages for run in runs], default=str) + json.dumps(session.stray, default=str)
    produced += history_file.read_text() + saved.read_text()
    assert "first" in produced and "HTTP 401" in produced
    assert KEY not in produced


@pytest.mark.parametrize("failure", ["no API key", "connection refused", "HTTP 404"])
def test_a_failed_question_leaves_only_its_error(kernel, provider, failure):
    """The `asking…` output is gone, not left as an empty output above the error line."""
    kernel.execute(f"import os; os.environ['OLLAMA_BASE_URL'] = 'http://127.0.0.1:{unused_port()}/v1'\n"
                   "os.environ.pop('GROQ_API_KEY', None)")
    options = {"no API key": "--model groq:llama-3.3-70b", "connection refused": "--model ollama:llama3", "HTTP 404": ""}
    if failure == "HTTP 404":
        provider.enqueue(error(404, "The model `nope` does not exist"))
    run = kernel.execute(f"%%ask {options[failure]}\nhi")
    [err] = run.errors
    assert err["ename"] == "AskError" and len(err["traceback"]) == 1
    assert run.outputs() == []
