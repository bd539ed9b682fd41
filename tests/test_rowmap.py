"""agent.map: typed columns aligned with the input, per-row runs against the loopback provider, the
cache and duplicates, concurrency and 429s, the estimate, progress, cancelling and resuming."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Literal

import pandas as pd
import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from nbagent import Agent
from nbagent.errors import UserError
from nbagent.rowmap.progress import MapProgress
from nbagent.rowmap.store import MapStore
from provider_server import ProviderServer, RateLimit, Reply, RecordedRequest, error, last_user_text, per_prompt, slow

MODEL = "openai:gpt-4o-mini"


pytestmark = pytest.mark.usefixtures("map_cache_home")


class Sentiment(BaseModel):
    label: Literal["pos", "neg"]
    score: float
    words: int
    sure: bool


def sentiment_json(text: str) -> str:
    label = "neg" if "bad" in text else "pos"
    return (f'{{"label": "{label}", "score": {len(text) / 10}, "words": {len(text.split())}, '
            f'"sure": {"true" if "!" in text else "false"}}}')


def reviews() -> pd.DataFrame:
    return pd.DataFrame({"text": ["good film", "bad plot!", "good film", "fine"], "stars": [5, 1, 5, 3]},
                        index=pd.Index(["a", "b", "c", "d"], name="review"))


def test_typed_columns_aligned_with_the_index_offline():
    frame = Agent("offline").map(reviews(), "Classify: {text} ({stars} stars)", output_type=Sentiment, cache=False,
                              progress=False)
    assert list(frame.columns) == ["label", "score", "words", "sure", "_error"]
    assert frame.index.equals(reviews().index)
    assert dict(frame.dtypes.astype(str)) == {"label": "string", "score": "float64", "words": "Int64",
                                              "sure": "boolean", "_error": "string"}
    assert frame["_error"].isna().all()
    assert frame.attrs["nbagent"]["duplicates_folded"] == 1


def test_every_row_an_independent_run_against_the_provider(openai_env: ProviderServer):
    openai_env.respond_with(per_prompt(lambda text: "Answer to " + text))
    agent = Agent(MODEL, instructions="Be brief.")
    frame = agent.map(["one", "two", "three"], "Q: {}", progress=False)
    assert frame["output"].tolist() == ["Answer to Q: one", "Answer to Q: two", "Answer to Q: three"]
    assert frame["output"].dtype == "string"
    bodies = [request.json for request in openai_env.requests]
    assert len(bodies) == 3
    for body in bodies:  # no shared history: the instructions and one question each
        assert [message["role"] for message in body["messages"]] == ["system", "user"]


def test_series_dicts_and_dataclass_and_typeddict_outputs(openai_env: ProviderServer):
    @dataclasses.dataclass
    class Pair:
        name: str
        size: int

    class Row(TypedDict):
        name: str
        size: int

    openai_env.respond_with(per_prompt(lambda text: f'{{"name": "{text}", "size": {len(text)}}}'))
    agent = Agent(MODEL)
    from nbagent import PromptedOutput

    series = pd.Series(["x", "yy"], index=[10, 20], name="word")
    by_series = agent.map(series, "{word}", output_type=PromptedOutput(Pair), progress=False)
    assert by_series.index.tolist() == [10, 20]
    assert by_series["size"].tolist() == [1, 2] and str(by_series["size"].dtype) == "Int64"
    by_dicts = agent.map([{"word": "abc"}, {"word": "d"}], "{word}", output_type=PromptedOutput(Row), progress=False)
    assert by_dicts["name"].tolist() == ["abc", "d"] and by_dicts.index.tolist() == [0, 1]


def test_identical_requests_once_and_a_rerun_from_the_cache(openai_env: ProviderServer, tmp_path):
    openai_env.respond_with(per_prompt(sentiment_json))
    agent = Agent(MODEL)
    from nbagent import PromptedOutput

    first = agent.map(reviews(), "{text}", output_type=PromptedOutput(Sentiment), cache=tmp_path / "c.db",
                      progress=False)
    assert len(openai_env.requests) == 3  # "good film" twice: one request
    assert first["label"].tolist() == ["pos", "neg", "pos", "pos"]
    assert first.attrs["nbagent"]["requests_sent"] == 3
    again = agent.map(reviews(), "{text}", output_type=PromptedOutput(Sentiment), cache=tmp_path / "c.db",
                      progress=False)
    assert len(openai_env.requests) == 3
    pd.testing.assert_frame_equal(first, again)
    assert again.attrs["nbagent"]["cache_hits"] == 4 and again.attrs["nbagent"]["requests_sent"] == 0
    # anything that decides the answer is in the key: other instructions, other settings ask again
    Agent(MODEL, instructions="Be strict.").map(reviews(), "{text}", cache=tmp_path / "c.db", progress=False)
    assert len(openai_env.requests) == 6
    agent.map(reviews(), "{text}", cache=tmp_path / "c.db", model_settings={"temperature": 0.5}, progress=False)
    assert len(openai_env.requests) == 9


def test_default_cache_file_in_the_user_cache_dir(openai_env: ProviderServer, tmp_path):
    Agent(MODEL).map(["a"], progress=False)
    assert (tmp_path / "cache-home" / "nbagent" / "map.sqlite3").exists()


class InFlight(Reply):
    """Counts the requests being answered at once (the most seen), then plays `inner`."""

    def __init__(self, counter: dict, inner: Reply) -> None:
        self.counter, self.inner = counter, inner

    def play(self, wire, req: RecordedRequest) -> None:
        with self.counter["lock"]:
            self.counter["now"] += 1
            self.counter["most"] = max(self.counter["most"], self.counter["now"])
        try:
            self.inner.play(wire, req)
        finally:
            with self.counter["lock"]:
                self.counter["now"] -= 1


def test_never_more_than_concurrency_in_flight(openai_env: ProviderServer):
    counter = {"lock": threading.Lock(), "now": 0, "most": 0}
    latency = slow(0.05)
    openai_env.respond_with(lambda req: InFlight(counter, latency(req)))
    frame = Agent(MODEL).map([f"row {i}" for i in range(40)], concurrency=4, cache=False, progress=False)
    assert frame["_error"].isna().all()
    assert 1 <= counter["most"] <= 4


def test_429s_with_reset_headers_slow_down_and_no_row_fails(openai_env: ProviderServer):
    limit = RateLimit(20, period=1.0, burst=4)  # 20 a second, 4 at once
    openai_env.respond_with(limit)
    frame = Agent(MODEL).map([f"row {i}" for i in range(30)], concurrency=8, cache=False, progress=False)
    assert frame["_error"].isna().all()
    assert frame["output"].tolist() == [f"Echo: row {i}" for i in range(30)]
    report = frame.attrs["nbagent"]
    assert report["rate_limited_429s"] == limit.refused
    assert report["requests_sent"] == 30 + limit.refused


def test_bare_429s_without_headers_are_waited_out(openai_env: ProviderServer):
    limit = RateLimit(30, period=1.0, burst=3, headers=False)
    openai_env.respond_with(limit)
    frame = Agent(MODEL).map([f"row {i}" for i in range(12)], concurrency=6, cache=False, progress=False)
    assert frame["_error"].isna().all()


def test_progress_callable_gets_snapshots_and_the_last_one_is_complete(openai_env: ProviderServer):
    seen: list[MapProgress] = []
    openai_env.respond_with(slow(0.02))
    Agent(MODEL).map([f"r{i}" for i in range(20)], concurrency=2, cache=False, progress=seen.append)
    assert seen and seen[-1].done == seen[-1].total == 20 and seen[-1].errors == 0
    assert all(isinstance(snapshot, MapProgress) for snapshot in seen)
    assert seen[-1].tokens_in > 0 and seen[-1].cost_usd is not None  # genai-prices knows gpt-4o-mini


def test_text_progress_line_on_stderr(openai_env: ProviderServer, capsys):
    Agent(MODEL).map(["a", "b"], cache=False)
    err = capsys.readouterr().err
    assert "2/2 rows" in err and "rows/s" in err


async def test_map_inside_a_running_loop_and_map_async(openai_env: ProviderServer):
    agent = Agent(MODEL)
    inside = agent.map(["a", "b"], cache=False, progress=False)  # the test's loop is running here
    assert inside["output"].tolist() == ["Echo: a", "Echo: b"]
    awaited = await agent.map_async(["c"], cache=False, progress=False)
    assert awaited["output"].tolist() == ["Echo: c"]


async def test_cancelling_keeps_finished_rows_and_a_rerun_sends_only_the_rest(openai_env: ProviderServer, tmp_path):
    held = threading.Semaphore(0)

    def responder(req: RecordedRequest):
        if last_user_text(req.json) == "row 0":
            return None
        held.release()
        return slow(30.0)(req)  # held until the test cancels (clear() ends the stall)

    openai_env.respond_with(responder)
    agent = Agent(MODEL)
    rows = [f"row {i}" for i in range(4)]
    task = asyncio.ensure_future(agent.map_async(rows, cache=tmp_path / "c.db", concurrency=4, progress=False))
    store = MapStore(tmp_path / "c.db")
    for _ in range(3):
        while not held.acquire(blocking=False):
            await asyncio.sleep(0.01)
    while store.answer_count() < 1:  # row 0 answered and committed
        await asyncio.sleep(0.01)
    store.close()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    openai_env.clear()
    again = await agent.map_async(rows, cache=tmp_path / "c.db", progress=False)
    assert again["output"].tolist() == [f"Echo: row {i}" for i in range(4)]
    assert sorted(last_user_text(request.json) for request in openai_env.requests) == ["row 1", "row 2", "row 3"]


def test_estimate_before_any_request_with_user_prices(openai_env: ProviderServer, tmp_path):
    frame = pd.DataFrame({"text": ["a b c d", "e f g h", "a b c d"]})
    estimate = Agent(MODEL).estimate_map(frame, "Summarise: {text}", model_settings={"max_tokens": 100},
                                         prices={MODEL: [1.0, 2.0]}, cache=tmp_path / "c.db")
    assert openai_env.requests == []
    assert estimate.requests == 2 and estimate.duplicates_folded == 1 and estimate.cache_hits == 0
    assert estimate.input_tokens_approximate and estimate.input_tokens > 0
    assert estimate.output_tokens == 200 and "max_tokens" in estimate.output_tokens_from
    expected = (estimate.input_tokens * 1.0 + 200 * 2.0) / 1e6
    assert estimate.cost_usd == pytest.approx(expected)
    assert estimate.batch_cost_usd == pytest.approx(expected / 2)
    assert estimate.price_from == "your prices"
    assert "2 requests" in str(estimate)


def test_the_offline_models_estimate_is_exact_and_test_models_approximate():
    for name, exact in (("offline", True), ("test", False)):
        estimate = Agent(name).estimate_map(["good film", "bad plot here"], "Review: {}", cache=False)
        sent = Agent(name).map(["good film", "bad plot here"], "Review: {}", cache=False, progress=False)
        assert estimate.input_tokens_approximate is not exact
        assert (estimate.input_tokens == sent.attrs["nbagent"]["tokens_in"]) is exact  # TestModel adds 50 a request


def test_estimate_with_a_pilot_that_the_map_then_reuses(openai_env: ProviderServer, tmp_path):
    openai_env.respond_with(per_prompt(lambda text: "one two three four"))
    rows = [f"row {i}" for i in range(10)]
    estimate = Agent(MODEL).estimate_map(rows, pilot=2, cache=tmp_path / "c.db")
    assert estimate.pilot_rows == 2 and len(openai_env.requests) == 2
    assert estimate.requests == 8 and estimate.cache_hits == 2
    assert estimate.output_tokens == 8 * 4 and "pilot" in estimate.output_tokens_from
    Agent(MODEL).map(rows, cache=tmp_path / "c.db", progress=False)
    assert len(openai_env.requests) == 10


def test_bad_arguments_are_one_line_errors_before_any_request(openai_env: ProviderServer):
    agent = Agent(MODEL)
    for call, words in [
        (lambda: agent.map(reviews(), "{txt}"), ["{txt}", "text, stars"]),
        (lambda: agent.map(reviews()), ["prompt="]),
        (lambda: agent.map(42), ["rows must be"]),
        (lambda: agent.map(["a"], concurrency=0), ["concurrency"]),
        (lambda: agent.map(["a"], budget=-1), ["budget"]),
        (lambda: agent.map(["a"], progress="yes"), ["progress"]),
    ]:
        with pytest.raises(UserError) as caught:
            call()
        assert "\n" not in str(caught.value)
        for word in words:
            assert word in str(caught.value)
    assert openai_env.requests == []


def test_reset_header_forms():
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    import httpx

    from nbagent.rowmap.limiter import parse_duration, reset_seconds

    assert [parse_duration(text) for text in ("1s", "6m0s", "20ms", "1h2m3.5s", "0.5", "soon")] == [
        1.0, 360.0, 0.02, 3723.5, 0.5, None]
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)

    def waits(headers: dict[str, str]) -> float | None:
        return reset_seconds(httpx.Response(429, headers=headers))

    assert waits({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert waits({"retry-after": "3"}) == 3.0
    assert 25 < waits({"retry-after": format_datetime(soon, usegmt=True)}) <= 30
    # the limit that ran out decides, not the one with requests left
    assert waits({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s",
                  "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "50ms"}) == 2.0
    assert 25 < waits({"anthropic-ratelimit-requests-remaining": "0",
                       "anthropic-ratelimit-requests-reset": soon.isoformat().replace("+00:00", "Z")}) <= 30
    assert waits({}) is None


def test_429_with_only_openai_reset_headers_is_waited_out(openai_env: ProviderServer):
    refused = iter([True, True])
    openai_env.respond_with(lambda req: error(429, "slow down", headers={
        "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "50ms"}) if next(refused, False) else None)
    frame = Agent(MODEL).map(["a", "b"], concurrency=1, cache=False, progress=False)
    assert frame["output"].tolist() == ["Echo: a", "Echo: b"]
    assert frame.attrs["nbagent"]["rate_limited_429s"] == 2 and frame.attrs["nbagent"]["retries"] == 2


def test_429_with_anthropic_reset_headers_is_waited_out(provider: ProviderServer, monkeypatch):
    from datetime import datetime, timedelta, timezone

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-loopback-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", provider.anthropic_base_url)
    refused = iter([True])

    def respond(req: RecordedRequest):
        if next(refused, False):
            reset = (datetime.now(timezone.utc) + timedelta(milliseconds=300)).isoformat()
            return error(429, "rate limited", headers={"anthropic-ratelimit-requests-remaining": "0",
                                                       "anthropic-ratelimit-requests-reset": reset})
        return None

    provider.respond_with(respond)
    frame = Agent("anthropic:claude-sonnet-4-5").map(["a", "b"], concurrency=1, cache=False, progress=False)
    assert frame["output"].tolist() == ["Echo: a", "Echo: b"] and frame["_error"].isna().all()
    assert frame.attrs["nbagent"]["rate_limited_429s"] == 1


def test_a_sync_map_inside_a_map_says_to_await_map_async():
    inner = Agent("test")
    blocking, threaded = Agent("test"), Agent("test")

    @blocking.tool_plain
    async def lookup(word: str) -> str:  # async: runs on the map's own loop, which a sync map would block
        """Look the word up."""
        return inner.map([word], cache=False, progress=False)["output"].iloc[0]

    @threaded.tool_plain
    def define(word: str) -> str:  # sync tools run in worker threads: a sync map there is fine
        """Define the word."""
        return inner.map([word], cache=False, progress=False)["output"].iloc[0]

    frame = blocking.map(["x"], cache=False, progress=False)
    assert "use `await agent.map_async(...)` there" in frame["_error"].iloc[0]
    assert threaded.map(["y"], cache=False, progress=False)["_error"].isna().all()


def test_instruction_functions_are_part_of_the_key(tmp_path):
    def agent_with(function) -> Agent:
        agent = Agent("test")
        agent.instructions(function)
        return agent

    def formal() -> str:
        return "Be formal."

    def casual() -> str:
        return "Be casual."

    first = agent_with(formal).map(["a"], cache=tmp_path / "c.db", progress=False)
    assert first.attrs["nbagent"]["cache_hits"] == 0
    assert agent_with(formal).map(["a"], cache=tmp_path / "c.db", progress=False).attrs["nbagent"]["cache_hits"] == 1
    assert agent_with(casual).map(["a"], cache=tmp_path / "c.db", progress=False).attrs["nbagent"]["cache_hits"] == 0
