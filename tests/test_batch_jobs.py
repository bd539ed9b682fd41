"""Batch jobs (`agent.submit_batch`) against the loopback server's OpenAI Batch API and Anthropic Message
Batches: the request of each row is the live one, the job survives a "restart" (a fresh store read),
the result is `map`'s DataFrame with failed, expired and cancelled rows in `_error`, at the batch price."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import nest_asyncio
import pandas as pd
import pytest
from pydantic import BaseModel

from nbagent import Agent, UnexpectedModelBehavior, UserError, _http
from nbagent.agent import run_coroutine_sync
from nbagent.rowmap import batch_wire
from nbagent.rowmap.batch import batch_jobs
from provider_server import ProviderServer, anthropic_json, error, openai_json

OPENAI_KEY = "sk-test-loopback-0123456789"
ANTHROPIC_KEY = "sk-ant-test-batch-0123456789"


class Review(BaseModel):
    sentiment: Literal["positive", "negative"]
    stars: int


def _review_of(text: str) -> dict[str, Any]:
    return {"sentiment": "negative" if "bad" in text else "positive", "stars": 1 if "bad" in text else 5}


def _last_user(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def openai_review(custom_id: str, body: dict[str, Any]) -> Any:
    args = json.dumps(_review_of(_last_user(body)))
    return openai_json(None, tool_calls=[("call_1", "final_result", args)], usage=(10, 4))


def anthropic_review(custom_id: str, body: dict[str, Any]) -> Any:
    return anthropic_json(tool_calls=[("toolu_1", "final_result", _review_of(_last_user(body)))], usage=(10, 4))


@pytest.fixture
def anthropic_env(provider: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> ProviderServer:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", provider.anthropic_base_url)
    return provider


@pytest.fixture
def cache(tmp_path: Any) -> str:
    return str(tmp_path / "map-cache.sqlite")


REVIEWS = pd.DataFrame({"text": ["great tool", "bad docs", "great tool", "bad support", "fine"]},
                       index=["a", "b", "c", "d", "e"])


def finished(job: Any) -> Any:
    """Refresh until the server's batches ended (each read moves them one step; a few reads at most)."""
    for _ in range(10):
        if job.refresh().status != "in_progress":
            return job
    raise AssertionError(f"the job did not end: {job!r}")


def test_openai_job_sends_the_live_requests_and_reads_back_typed_columns(openai_env: ProviderServer,
                                                                           cache: str) -> None:
    openai_env.batches.answer = openai_review
    agent = Agent("openai:gpt-4o-mini", instructions="Classify the review.")
    job = agent.submit_batch(REVIEWS, "Review: {text}", output_type=Review, cache=cache)
    assert job.provider == "openai" and job.status == "in_progress"
    upload = next(req for req in openai_env.requests if req.path == "/v1/files")
    assert OPENAI_KEY not in upload.text
    lines = [json.loads(line) for line in next(iter(openai_env.batches.files.values()))[1].splitlines()]
    assert [line["custom_id"] for line in lines] == ["row-0", "row-1", "row-2", "row-3"]  # "great tool" sent once
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v1/chat/completions")}

    openai_env.enqueue(openai_review("live", {"messages": [{"content": "Review: bad docs"}]}))
    live = agent.run_sync("Review: bad docs", output_type=Review)
    assert live.output == Review(sentiment="negative", stars=1)
    assert lines[1]["body"] == openai_env.requests[-1].json  # byte for byte the live request of that row

    frame = finished(job).result(prices={"openai:gpt-4o-mini": [1.0, 2.0]})
    assert job.status == "completed"
    assert list(frame.index) == ["a", "b", "c", "d", "e"]
    assert frame["sentiment"].tolist() == ["positive", "negative", "positive", "negative", "positive"]
    assert str(frame["stars"].dtype) == "Int64" and str(frame["sentiment"].dtype) == "string"
    assert frame["_error"].isna().all()
    report = frame.attrs["nbagent"]
    assert (report["rows"], report["requests sent"], report["duplicates folded"]) == (5, 4, 1)
    assert (report["tokens in"], report["tokens out"]) == (40, 16)
    assert report["cost"] == pytest.approx((40 * 1.0 + 16 * 2.0) / 1e6 / 2)  # the batch price: half


def test_a_job_is_listed_and_read_back_after_a_restart(openai_env: ProviderServer, cache: str) -> None:
    openai_env.batches.answer = openai_review
    job = Agent("openai:gpt-4o-mini").submit_batch(REVIEWS, "Review: {text}", output_type=Review, cache=cache)
    finished(job)
    listed = batch_jobs(cache)  # what a new kernel sees: only the cache file
    assert [(item.id, item.provider, item.status) for item in listed] == [(job.id, "openai", "completed")]
    assert listed[0].as_row()["succeeded"] == 4 and listed[0].as_row()["rows"] == 5
    with pytest.raises(UserError, match="asked for Review output"):
        listed[0].result()
    again = Agent("openai:gpt-4o-mini", output_type=Review).batch_job(job.id, cache=cache).result()
    pd.testing.assert_frame_equal(again, job.result())
    with pytest.raises(UserError, match="No batch job 'batch_nope'"):
        Agent("openai:gpt-4o-mini").batch_job("batch_nope", cache=cache)


def test_a_broken_result_line_is_one_line_and_gives_the_connection_back(openai_env: ProviderServer,
                                                                         cache: str) -> None:
    # nest-asyncio (applied by run_sync inside a running loop) patches the loop class, so job.result()'s own
    # loop then runs without async-generator hooks: the download cut by the bad line must still be closed.
    patched = asyncio.new_event_loop()
    nest_asyncio.apply(patched)
    patched.close()
    openai_env.batches.answer = openai_review
    job = finished(Agent("openai:gpt-4o-mini").submit_batch(REVIEWS, "Review: {text}", output_type=Review,
                                                            cache=cache))
    name, content = openai_env.batches.files[_output_file(openai_env)]
    first, rest = content.split(b"\n", 1)
    openai_env.batches.files[_output_file(openai_env)] = (name, first + b"\n{not json\n" + rest)
    with pytest.raises(UnexpectedModelBehavior) as raised:
        job.result()
    assert str(raised.value).startswith("openai:gpt-4o-mini: line 2 of the batch results at ")
    assert str(raised.value).endswith("is not a result: '{not json' (the answers before it are committed to the map cache)")
    assert "\n" not in str(raised.value)

    async def pool_is_free() -> None:
        pool = _http.get_client()._transport._pool  # type: ignore[attr-defined]
        assert pool._requests == [] and all(conn.is_idle() or conn.is_closed() for conn in pool.connections)

    run_coroutine_sync(pool_is_free())


def _output_file(env: ProviderServer) -> str:
    return next(file_id for file_id, (name, _) in env.batches.files.items() if name == "output.jsonl")


def test_anthropic_job_keeps_errored_and_expired_rows_in_error(anthropic_env: ProviderServer, cache: str) -> None:
    def answer(custom_id: str, body: dict[str, Any]) -> Any:
        return error(500, "overloaded, try later") if "support" in _last_user(body) else anthropic_review(custom_id, body)

    anthropic_env.batches.answer = answer
    anthropic_env.batches.expire = {"row-3"}
    rows = ["great tool", "bad docs", "bad support", "fine"]
    job = Agent("anthropic:claude-haiku-4-5").submit_batch(rows, "Review: {}", output_type=Review, cache=cache)
    sent = anthropic_env.requests[-1]
    assert sent.path == "/v1/messages/batches" and sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.json["requests"][0]["params"]["tools"][0]["name"] == "final_result"
    frame = finished(job).result()
    assert frame["stars"].tolist()[:2] == [5, 1]
    assert frame["_error"][:2].isna().all()
    errors = frame["_error"].tolist()
    assert errors[2] == "errored: overloaded, try later"
    assert errors[3].startswith("expired:")
    assert job.counts == {"requests": 4, "succeeded": 2, "failed": 2, "processing": 0}
    assert frame.attrs["nbagent"]["failed rows"] == 2


def test_a_large_map_is_split_into_several_batches(openai_env: ProviderServer, cache: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_wire.OpenAIBatches, "max_requests", 2)
    openai_env.batches.openai_max_requests = 2  # the server enforces the same (documented: 50,000)
    texts = [f"text {n}" for n in range(5)]
    job = Agent("openai:gpt-4o-mini").submit_batch(texts, cache=cache)
    assert len(job.batch_ids) == 3 and job.id == job.batch_ids[0]
    frame = finished(job).result()
    assert frame["output"].tolist() == [f"Echo: text {n}" for n in range(5)]
    assert str(frame["output"].dtype) == "string"


def test_split_by_bytes_keeps_each_file_under_the_limit(openai_env: ProviderServer) -> None:
    protocol = batch_wire.OpenAIBatches(Agent("openai:gpt-4o-mini").model, {})
    lines = [(f"row-{n}", {"messages": [{"role": "user", "content": "x" * 100}]}) for n in range(10)]
    size = len(protocol.encode(lines[0]))
    protocol.max_bytes = size * 3 + 1  # type: ignore[misc]
    parts = protocol.parts(lines)
    assert [len(part) for part in parts] == [3, 3, 3, 1]
    assert [line for part in parts for line in part] == lines


def test_cancel_ends_the_job_and_every_unanswered_row_says_so(openai_env: ProviderServer, cache: str) -> None:
    openai_env.batches.hold()
    job = Agent("openai:gpt-4o-mini").submit_batch(["one", "two"], cache=cache)
    with pytest.raises(UserError, match="still in progress"):
        job.result()
    job.cancel()
    openai_env.batches.hold(False)
    assert finished(job).status == "cancelled"
    frame = job.result()
    assert frame["output"].isna().all()
    assert all(message.startswith("batch_cancelled") for message in frame["_error"])


def test_an_answer_that_does_not_validate_is_that_rows_error(openai_env: ProviderServer, cache: str) -> None:
    def answer(custom_id: str, body: dict[str, Any]) -> Any:
        if custom_id == "row-1":
            return openai_json(None, tool_calls=[("call_1", "final_result", '{"sentiment": "meh", "stars": 3}')])
        return openai_review(custom_id, body)

    openai_env.batches.answer = answer
    frame = finished(Agent("openai:gpt-4o-mini").submit_batch(["good", "odd"], "{}", output_type=Review,
                                                               cache=cache)).result()
    assert pd.isna(frame["_error"].iloc[0]) and frame["stars"].iloc[0] == 5
    assert frame["_error"].iloc[1].startswith("the answer did not validate:") and "sentiment" in frame["_error"].iloc[1]


def test_what_cannot_be_a_batch_job_is_one_line(openai_env: ProviderServer, cache: str) -> None:
    with pytest.raises(UserError, match="OpenAI's Batch API or Anthropic's Message Batches; test has neither"):
        Agent("test").submit_batch(["a"], cache=cache)
    agent = Agent("openai:gpt-4o-mini")

    @agent.tool_plain
    def lookup(name: str) -> str:
        return name

    with pytest.raises(UserError, match=r"without tool rounds; this agent has tools \(lookup\)"):
        agent.submit_batch(["a"], cache=cache)
    with pytest.raises(UserError, match="prompt field {name} is not a column"):
        Agent("openai:gpt-4o-mini").submit_batch(REVIEWS, "{name}", cache=cache)
    assert not [req for req in openai_env.requests if req.path.startswith(("/v1/files", "/v1/batches"))]


def test_batch_answers_go_into_the_map_cache_and_cached_rows_are_not_sent(openai_env: ProviderServer,
                                                                          cache: str) -> None:
    openai_env.batches.answer = openai_review
    openai_env.respond_with(lambda req: openai_review("live", req.json))  # the live path answers alike
    agent = Agent("openai:gpt-4o-mini")
    agent.map(REVIEWS.iloc[:2], "Review: {text}", output_type=Review, cache=cache, progress=False)  # 2 answered live
    job = agent.submit_batch(REVIEWS, "Review: {text}", output_type=Review, cache=cache)
    lines = next(iter(openai_env.batches.files.values()))[1].splitlines()
    assert len(lines) == 2 and job.counts["requests"] == 2  # "bad support" and "fine": the others were cached
    frame = finished(job).result()
    assert frame["_error"].isna().all() and frame.attrs["nbagent"]["cache hits"] == 2
    assert frame["sentiment"].tolist() == ["positive", "negative", "positive", "negative", "positive"]
    chat = len([req for req in openai_env.requests if req.path == "/v1/chat/completions"])
    again = agent.map(REVIEWS, "Review: {text}", output_type=Review, cache=cache, progress=False)
    assert len([req for req in openai_env.requests if req.path == "/v1/chat/completions"]) == chat  # none sent
    pd.testing.assert_frame_equal(again.drop(columns="_error"), frame.drop(columns="_error"))
    with pytest.raises(UserError, match="Every row's answer is in the map cache already"):
        agent.submit_batch(REVIEWS, "Review: {text}", output_type=Review, cache=cache)
