"""`%%ask --each DF -o OUT` in a real kernel against the loopback provider: every row asked, OUT a DataFrame,
one turn in the conversation, the map counted in %agent_usage, re-runs answered from the cache, the cost
confirmed above `confirm_above` (a click, or a one-line refusal where nobody can click), an interrupt
that keeps the finished rows, and `%agent_jobs`."""

from __future__ import annotations

import json
import time

import pytest
from kernel_session import FORGET_CONVERSATIONS, KernelSession, clicker, displayed, kernel_env, nbagent_kernel
from provider_server import echo, stall

SETUP = """
import pandas as pd
reviews = pd.DataFrame({"product": ["lamp", "desk", "lamp", "chair"],
                        "text": ["too dim", "sturdy", "too dim", "wobbly"]}, index=[10, 11, 12, 13])
tone = "friendly"
"""
CELL = "%%ask --each reviews -o out\nReply in a {tone} way to this review of the {product}: {text}"


@pytest.fixture(scope="module")
def kernel(provider_server, tmp_path_factory):
    cache_home = tmp_path_factory.mktemp("cache-home")
    with nbagent_kernel(kernel_env(provider_server.openai_base_url, XDG_CACHE_HOME=str(cache_home)), SETUP) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    reset = (f"{FORGET_CONVERSATIONS}\nget_state().asked.clear()\n"
             "%agent_settings prices=default confirm_above=default\n"
             "import nbagent.rowmap.store as _s, os\n"
             "_p = _s.default_cache_path()\n"
             "[os.remove(str(_p) + _x) for _x in ('', '-wal', '-shm') if os.path.exists(str(_p) + _x)]")
    run = kernel.execute(reset)
    assert run.reply["status"] == "ok", run.errors
    provider.clear()
    return kernel


def chat_requests(provider):
    return [req for req in provider.requests if req.path == "/v1/chat/completions"]


def plain_outputs(run) -> list[str]:
    return [shown.get("text/plain", "") for shown in run.outputs()]


def value(kernel: KernelSession, expression: str):
    run = kernel.execute(f"import json as _j\nprint(_j.dumps({expression}))")
    assert run.reply["status"] == "ok", run.errors
    return json.loads(run.stdout)


def test_each_row_is_asked_and_the_map_is_one_turn(fresh, provider):
    run = fresh.execute(CELL, metadata={"cellId": "c-each"})
    assert run.reply["status"] == "ok", run.errors
    sent = sorted(req.json["messages"][-1]["content"] for req in chat_requests(provider))
    assert sent == ["Reply in a friendly way to this review of the chair: wobbly",
                    "Reply in a friendly way to this review of the desk: sturdy",
                    "Reply in a friendly way to this review of the lamp: too dim"]  # the duplicate row sent once
    assert value(fresh, "out.index.tolist()") == [10, 11, 12, 13]
    assert value(fresh, "out['output'].tolist()")[0] == "Echo: Reply in a friendly way to this review of the lamp: too dim"
    assert value(fresh, "out['_error'].isna().all().item()") is True
    summary = next(text for text in plain_outputs(run) if text.startswith("out: 4 rows"))
    assert "3 requests" in summary
    assert any("Echo: Reply" in text for text in plain_outputs(run))  # the first rows of OUT
    history = fresh.execute("%agent_history")
    assert history.reply["status"] == "ok"
    shown = json.dumps([m["content"] for m in history.of_type("display_data")])
    assert "--each reviews -o out (4 rows)" in shown
    assert value(fresh, "len(get_state().conversation().turns)") == 1
    usage = fresh.execute("%agent_usage")
    table = json.dumps([m["content"]["data"] for m in usage.of_type("display_data")])
    assert "openai:gpt-4o" in table and "| 3 |" in table  # the map's three requests


def test_running_the_cell_again_answers_from_the_cache(fresh, provider):
    assert fresh.execute(CELL, metadata={"cellId": "c-again"}).reply["status"] == "ok"
    provider.clear()
    again = fresh.execute(CELL, metadata={"cellId": "c-again"})
    assert again.reply["status"] == "ok", again.errors
    assert chat_requests(provider) == []
    assert any("4 from the cache" in text for text in plain_outputs(again))
    assert value(fresh, "len(get_state().conversation().turns)") == 1  # the re-run replaced its turn


def test_a_costly_map_is_refused_where_nobody_can_click(fresh, provider):
    fresh.execute('%agent_settings prices={"openai:gpt-4o": [500000, 500000]} confirm_above=0.5')
    run = fresh.execute(CELL.replace("-o out", "-o costly --max-tokens 10"))
    assert run.reply["status"] == "error"
    [line] = run.errors[0]["traceback"]
    assert "above confirm_above=$0.50" in line and "%agent_settings confirm_above=" in line
    assert chat_requests(provider) == []


def test_a_costly_map_waits_for_run_and_shows_a_progress_widget(fresh, provider):
    fresh.execute('%agent_settings prices={"openai:gpt-4o": [500000, 500000]} confirm_above=0.5')
    run = fresh.execute(CELL.replace("-o out", "-o costly --max-tokens 10"), allow_stdin=True,
                        on_message=clicker(fresh, "Run"))
    assert run.reply["status"] == "ok", run.errors
    assert len(chat_requests(provider)) == 3
    opened = [m["content"]["data"]["state"].get("_model_name") for m in run.of_type("comm_open")]
    assert "IntProgressModel" in opened
    texts = plain_outputs(run)
    assert "▶ you chose Run" in " ".join(texts)
    assert any(text.startswith("costly: 4 rows") for text in texts)  # the widget ends as the summary line


def test_cancel_sends_nothing(fresh, provider):
    fresh.execute('%agent_settings prices={"openai:gpt-4o": [500000, 500000]} confirm_above=0.5')
    run = fresh.execute(CELL.replace("-o out", "-o never --max-tokens 10"), allow_stdin=True,
                        on_message=clicker(fresh, "Cancel"))
    assert run.reply["status"] == "ok", run.errors
    assert chat_requests(provider) == []
    assert value(fresh, "'never' in globals()") is False


def test_an_interrupt_ends_the_cell_and_the_next_run_sends_only_the_rest(fresh, provider):
    provider.enqueue(echo(), echo(), stall(30, echo()), stall(30, echo()))
    started = time.perf_counter()
    cell = CELL.replace("-o out", "-o part --concurrency 1 --max-tokens 5")  # max_tokens: no pilot is needed
    run = fresh.execute(cell, on_message=fresh.interrupt_when(displayed("3/4 rows")))  # the fourth stalls
    assert time.perf_counter() - started < 30  # not held by the stalled request
    assert run.reply["status"] == "error"
    [line] = run.errors[0]["traceback"]
    assert "interrupted: 3 rows finished and are in the cache" in line  # the duplicate came with its twin
    assert value(fresh, "'part' in globals()") is False
    provider.clear()
    again = fresh.execute(cell)
    assert again.reply["status"] == "ok", again.errors
    assert len(chat_requests(provider)) == 1  # the two answered before the interrupt came from the cache
    assert value(fresh, "part['_error'].isna().all().item()") is True


def test_bad_options_are_one_line(fresh, provider):
    cases = {
        "%%ask --each reviews\n{text}": "--each needs -o VAR",
        "%%ask --each nothing_here -o x\n{text}": "--each nothing_here: NameError",
        "%%ask --each reviews -o x\n{missing}": "unknown name 'missing'",
        "%%ask --each reviews -o x --code\n{text}": "--code cannot be used with --each",
        "%%ask --concurrency 4\nhello": "--concurrency and --budget go with --each",
    }
    for cell, expected in cases.items():
        run = fresh.execute(cell)
        assert run.reply["status"] == "error", cell
        [line] = run.errors[0]["traceback"]
        assert expected in line, (cell, line)
    assert chat_requests(provider) == []


def test_agent_jobs_lists_the_recorded_batch_jobs(fresh, provider):
    run = fresh.execute("%agent_jobs")
    assert "no batch jobs recorded" in run.stdout
    submit = fresh.execute("job = nbagent.Agent('openai:gpt-4o').submit_batch(['one', 'two'])" if False else
                           "from nbagent import Agent\njob = Agent('openai:gpt-4o').submit_batch(['one', 'two'])")
    assert submit.reply["status"] == "ok", submit.errors
    listed = fresh.execute("%agent_jobs --refresh")
    assert listed.reply["status"] == "ok", listed.errors
    [table] = [m["content"]["data"]["text/plain"] for m in listed.of_type("display_data")]
    assert "openai" in table and "gpt-4o" in table and value(fresh, "job.id") in table


def test_an_interrupt_during_the_estimate_ends_the_cell(fresh, provider):
    provider.enqueue(*[stall(30, echo()) for _ in range(3)])  # the estimate's pilot waits on the provider
    started = time.perf_counter()
    run = fresh.execute(CELL.replace("-o out", "-o early"),  # interrupted once the pilot's request reached the server
                        on_message=fresh.interrupt_when(lambda _: bool(provider.wait_for_requests(1, timeout=60))))
    assert time.perf_counter() - started < 30
    [line] = run.errors[0]["traceback"]
    assert "interrupted while estimating the map" in line
    assert value(fresh, "'early' in globals()") is False


def test_a_map_that_cannot_run_is_one_line_and_leaves_no_widget(fresh, provider):
    run = fresh.execute("%%ask --each reviews -o nothing --budget 0.5 --model ollama:llama3.2\n{text}",
                        allow_stdin=True)
    assert run.reply["status"] == "error"
    [line] = run.errors[0]["traceback"]
    assert "budget= needs the price of ollama:llama3.2" in line
    assert any(text.startswith("✗ the map did not run") for text in plain_outputs(run))


def test_in_a_terminal_the_map_prints_its_progress_and_summary(tmp_path):
    """Terminal IPython: no widget, no display to update; the progress goes to stderr, the summary to stdout."""
    import os
    import subprocess
    import sys

    cells = ("shell = get_ipython(); shell.run_cell('%load_ext nbagent'); "
             "shell.run_cell('rows = [\"one\", \"two\", \"two\"]'); "
             "shell.run_cell('%%ask --each rows -o out --model offline\\nSay {}'); "
             "print(out['output'].tolist())")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NBAGENT_MODEL")}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--quick", "-c", cells],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert "nbagent: out: 3 rows" in done.stdout, done.stdout + done.stderr
    assert "You asked: “Say two”" in done.stdout.splitlines()[-1]  # the offline model's answer per row
