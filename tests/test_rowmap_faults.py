"""agent.map under bad input and faults (issue 17, item 8): each ends with the finished rows kept and
at most one line saying what happened, never a crash."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest
from pydantic import BaseModel

from nbagent import Agent
from nbagent.errors import UserError
from nbagent.rowmap.store import MapStore
from provider_server import ProviderServer, error, last_user_text, per_prompt, slow

MODEL = "openai:gpt-4o-mini"
TESTS = Path(__file__).resolve().parent


pytestmark = pytest.mark.usefixtures("map_cache_home")


class Label(BaseModel):
    label: Literal["a", "b"]
    n: int


def test_empty_input_gives_an_empty_frame_with_the_columns(openai_env: ProviderServer):
    empty = pd.DataFrame({"text": pd.Series([], dtype=str)})
    frame = Agent(MODEL).map(empty, "{text}", output_type=Label, progress=False)
    assert frame.empty and list(frame.columns) == ["label", "n", "_error"]
    assert str(frame["n"].dtype) == "Int64"
    assert Agent(MODEL).map([], progress=False).columns.tolist() == ["output", "_error"]
    assert openai_env.requests == []


def test_a_missing_template_field_names_it_and_the_columns(openai_env: ProviderServer):
    with pytest.raises(UserError, match=r"prompt field \{colour\} is not a column; the columns are: text, size"):
        Agent(MODEL).map(pd.DataFrame({"text": ["x"], "size": [1]}), "{text} is {colour}")
    assert openai_env.requests == []


def test_an_output_type_without_fields_is_one_object_column_and_says_so(capsys):
    frame = Agent("test").map(["a", "b"], output_type=list[str], cache=False, progress=False)
    assert frame.columns.tolist() == ["output", "_error"] and frame["output"].dtype == object
    assert isinstance(frame["output"].iloc[0], list)
    note = "output_type list[str] has no fields to make columns of"
    assert note in capsys.readouterr().err
    assert any(note in line for line in frame.attrs["nbagent"]["notes"])


def test_a_budget_stops_sending_and_keeps_what_finished(openai_env: ProviderServer, tmp_path, capsys):
    prices = {MODEL: [1000.0, 1000.0]}  # a tenth of a cent a token: a row costs about 2 cents
    rows = [f"row {i}" for i in range(20)]
    agent = Agent(MODEL)
    settings = {"max_tokens": 10}
    frame = agent.map(rows, budget=0.1, prices=prices, model_settings=settings, concurrency=2,
                      cache=tmp_path / "c.db", progress=False)
    report = frame.attrs["nbagent"]
    answered = frame["_error"].isna().sum()
    assert 0 < answered < 20 and report["cost_usd"] <= 0.1
    assert frame["_error"].dropna().str.startswith("not sent: the budget of $0.1 would be passed").all()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stopped early: the budget" in err
    sent = len(openai_env.requests)
    again = agent.map(rows, prices=prices, model_settings=settings, cache=tmp_path / "c.db", progress=False)
    assert again["_error"].isna().all() and len(openai_env.requests) == sent + 20 - answered
    with pytest.raises(UserError, match="budget= needs the price of openai:gpt-4o-mystery"):
        Agent("openai:gpt-4o-mystery").map(rows, budget=1.0)


def test_an_unreadable_cache_file_is_replaced_with_one_line(openai_env: ProviderServer, tmp_path, capsys):
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not a database" * 200)
    frame = Agent(MODEL).map(["a", "b"], cache=path, progress=False)
    assert frame["output"].tolist() == ["Echo: a", "Echo: b"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was unreadable" in err and "started a fresh one" in err
    assert answers_in(path) == 2
    assert [p.name for p in tmp_path.iterdir() if ".unreadable-" in p.name]


def test_a_locked_cache_file_is_one_line_and_the_map_runs(openai_env: ProviderServer, tmp_path, capsys):
    path = tmp_path / "c.db"
    MapStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        frame = Agent(MODEL).map(["a", "b"], cache=path, progress=False)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert frame["output"].tolist() == ["Echo: a", "Echo: b"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "locked by another process" in err and "in memory only" in err


def test_429s_that_never_clear_end_the_run_keeping_finished_rows(openai_env: ProviderServer, capsys):
    openai_env.respond_with(per_prompt(lambda text: None if text in ("row 0", "row 1") else
                                       error(429, "Rate limit reached", retry_after=3600)))
    frame = Agent(MODEL).map([f"row {i}" for i in range(6)], concurrency=1, cache=False, progress=False)
    assert frame["output"].iloc[:2].tolist() == ["Echo: row 0", "Echo: row 1"]
    assert frame["_error"].iloc[2:].str.startswith("not sent: openai:gpt-4o-mini kept answering 429").all()
    assert frame.attrs["nbagent"]["stopped"] and frame.attrs["nbagent"]["rate_limited_429s"] == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stopped early" in err and "asks to wait 3600 s" in err


def test_rows_answered_with_500s_get_errors_and_a_rerun_retries_only_them(openai_env: ProviderServer, tmp_path):
    openai_env.respond_with(per_prompt(lambda text: error(500, "boom") if "bad" in text else None))
    rows = pd.Series(["ok 1", "bad 2", "ok 3", "bad 4"], name="q")
    agent = Agent(MODEL)
    frame = agent.map(rows, "{q}", cache=tmp_path / "c.db", model_settings={"max_retries": 1}, progress=False)
    assert frame["output"].tolist()[::2] == ["Echo: ok 1", "Echo: ok 3"]
    errors = frame["_error"].tolist()
    assert errors[0] is pd.NA and errors[1].startswith("ModelHTTPError: openai:gpt-4o-mini returned HTTP 500")
    assert "\n" not in errors[1] and frame.attrs["nbagent"]["errors"] == 2
    assert frame.attrs["nbagent"]["retries"] == 2
    openai_env.clear()
    again = agent.map(rows, "{q}", cache=tmp_path / "c.db", model_settings={"max_retries": 1}, progress=False)
    assert again["_error"].isna().all()
    assert sorted(last_user_text(request.json) for request in openai_env.requests) == ["bad 2", "bad 4"]


def test_an_error_of_the_set_up_stops_after_the_first_row(openai_env: ProviderServer, capsys):
    openai_env.require_key("sk-another-key-0123456789")  # every request is a 401
    frame = Agent(MODEL).map([f"row {i}" for i in range(50)], concurrency=1, cache=False, progress=False)
    assert len(openai_env.requests) == 1
    assert frame["_error"].iloc[0].startswith("ModelHTTPError: openai:gpt-4o-mini returned HTTP 401")
    assert frame["_error"].iloc[1:].str.startswith("not sent: every request would fail (ModelHTTPError").all()
    assert "stopped early: every request would fail" in capsys.readouterr().err


MAPPER = textwrap.dedent("""
    import sys
    from nbagent import Agent
    rows = [f"row {i}" for i in range(int(sys.argv[2]), int(sys.argv[3]))]
    frame = Agent("openai:gpt-4o-mini").map(rows, cache=sys.argv[1], concurrency=4, progress=False)
    print(int(frame["_error"].isna().sum()))
""")


def mapper(cache: Path, start: int, stop: int, server: ProviderServer) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
           "OPENAI_API_KEY": "sk-test-loopback-0123456789", "OPENAI_BASE_URL": server.openai_base_url}
    return subprocess.Popen([sys.executable, "-c", MAPPER, str(cache), str(start), str(stop)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def answers_in(path: Path) -> int:
    if not path.exists():
        return 0
    store = MapStore(path)
    try:
        return store.answer_count()
    finally:
        store.close()


def test_a_process_killed_mid_map_leaves_a_consistent_cache(openai_env: ProviderServer, tmp_path):
    openai_env.respond_with(slow(0.02))
    path = tmp_path / "c.db"
    child = mapper(path, 0, 400, openai_env)
    try:
        deadline = time.monotonic() + 60
        while answers_in(path) < 20:
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read() if child.stderr else ""
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = answers_in(path)
    assert 20 <= kept < 400
    openai_env.clear()
    frame = Agent(MODEL).map([f"row {i}" for i in range(400)], cache=path, progress=False)
    assert frame["output"].tolist() == [f"Echo: row {i}" for i in range(400)]
    assert len(openai_env.requests) == 400 - kept


def test_an_interrupt_loses_only_the_rows_in_flight_and_a_rerun_resumes(openai_env: ProviderServer, tmp_path):
    openai_env.respond_with(slow(0.02))
    path = tmp_path / "c.db"
    child = mapper(path, 0, 400, openai_env)
    deadline = time.monotonic() + 60
    while answers_in(path) < 20:
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)  # what Ctrl-C (or a kernel interrupt) delivers
    out, err = child.communicate(timeout=60)  # a bound on failure only: it ends at once
    assert child.returncode != 0 and "KeyboardInterrupt" in err and out == ""
    kept = answers_in(path)
    assert f"nbagent: interrupted: {kept:,} of 400 rows answered and kept in the cache" in err
    openai_env.clear()
    frame = Agent(MODEL).map([f"row {i}" for i in range(400)], cache=path, progress=False)
    assert frame["output"].tolist() == [f"Echo: row {i}" for i in range(400)]
    assert len(openai_env.requests) == 400 - kept


def test_two_processes_mapping_into_one_file(openai_env: ProviderServer, tmp_path):
    path = tmp_path / "shared.db"
    children = [mapper(path, 0, 150, openai_env), mapper(path, 100, 250, openai_env)]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["150", "150"]
    assert all("locked" not in err for _, err in outputs)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert answers_in(path) == 250


def test_a_tool_raising_fails_its_row_naming_the_tool():
    agent = Agent("test")

    @agent.tool_plain
    def lookup(word: str) -> str:
        raise RuntimeError("the dictionary is closed")

    frame = agent.map(["a", "b"], cache=False, progress=False)
    assert frame["_error"].str.startswith("RuntimeError: the dictionary is closed; raised by the tool 'lookup' "
                                          "(call ").all()
