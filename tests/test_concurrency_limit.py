"""`Agent(max_concurrency=...)`, as PydanticAI's agent page ("Concurrency Limiting") describes it: runs past
the limit wait for a slot; with `max_queued`, a run that finds the line full fails with
`ConcurrencyLimitExceeded`. The model is a FunctionModel whose answers wait on events the test sets, so
what is running and what waits is known exactly (no timing)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import pytest

from provider_server import openai_json
from nbagent import (Agent, AgentInfo, ConcurrencyLimit, ConcurrencyLimitedModel, ConcurrencyLimiter,
                     ConcurrencyLimitExceeded, FunctionModel, ModelMessage, ModelResponse, TextPart, UserError)
from nbagent.exceptions import ConcurrencyLimitExceeded as ExceptionsName


class GatedModel:
    """Answers once the test opens the gate; counts the answers in progress."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.inside = 0
        self.peak = 0

    async def answer(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await self.gate.wait()
        finally:
            self.inside -= 1
        return ModelResponse(parts=[TextPart("done")])


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds; the deadline only bounds a failure."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0)


async def test_runs_past_max_concurrency_wait_for_a_slot() -> None:
    model = GatedModel()
    agent = Agent(FunctionModel(model.answer), max_concurrency=2)
    runs = [asyncio.create_task(agent.run(f"Question {i}")) for i in range(5)]
    await until(lambda: model.inside == 2)
    for _ in range(20):  # the others stay in line however long the first two take
        await asyncio.sleep(0)
    assert model.inside == 2
    model.gate.set()
    results = await asyncio.gather(*runs)
    assert [result.output for result in results] == ["done"] * 5 and model.peak == 2


async def test_a_full_line_fails_at_once_and_a_cancelled_waiter_leaves_it() -> None:
    model = GatedModel()
    agent = Agent(FunctionModel(model.answer), name="support", max_concurrency=ConcurrencyLimit(max_running=1, max_queued=1))
    first = asyncio.create_task(agent.run("First"))
    await until(lambda: model.inside == 1)
    second = asyncio.create_task(agent.run("Second"))
    await until(lambda: agent.concurrency_limiter.waiting_count == 1)
    with pytest.raises(ConcurrencyLimitExceeded, match=r"queue depth \(2\) exceeds max_queued \(1\)"):
        await agent.run("Third")
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert agent.concurrency_limiter.waiting_count == 0
    third = asyncio.create_task(agent.run("Third again"))
    await until(lambda: agent.concurrency_limiter.waiting_count == 1)
    model.gate.set()
    assert (await first).output == "done" and (await third).output == "done"
    assert agent.concurrency_limiter.running_count == 0
    assert ConcurrencyLimitExceeded is ExceptionsName


async def test_a_slot_is_given_back_when_a_run_fails() -> None:
    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("the model broke")

    agent = Agent(FunctionModel(broken), max_concurrency=1)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="the model broke"):
            await agent.run("Hi")
    assert agent.concurrency_limiter.running_count == 0


async def test_streamed_and_iterated_runs_hold_a_slot_until_they_end() -> None:
    model = GatedModel()
    model.gate.set()
    agent = Agent(FunctionModel(model.answer, stream_function=None), max_concurrency=1)
    limiter = agent.concurrency_limiter
    async with agent.iter("Step by step") as agent_run:
        await agent_run.next(agent_run.next_node)  # the run has begun: it holds the slot
        waiting = asyncio.create_task(agent.run("Meanwhile"))
        await until(lambda: limiter.waiting_count == 1)
        async for _ in agent_run:
            pass
    assert (await waiting).output == "done"
    async with agent.run_stream("Streamed") as streamed:
        waiting = asyncio.create_task(agent.run("Meanwhile"))
        await until(lambda: limiter.waiting_count == 1)
        assert await streamed.get_output() == "done"
    assert (await waiting).output == "done" and limiter.running_count == 0


async def test_agents_sharing_a_limiter_share_its_slots() -> None:
    model = GatedModel()
    shared = ConcurrencyLimiter(1, name="pool")
    first, second = (Agent(FunctionModel(model.answer), max_concurrency=shared) for _ in range(2))
    runs = [asyncio.create_task(first.run("A")), asyncio.create_task(second.run("B"))]
    await until(lambda: model.inside == 1 and shared.waiting_count == 1)
    model.gate.set()
    assert [result.output for result in await asyncio.gather(*runs)] == ["done", "done"]
    assert model.peak == 1


def test_run_sync_takes_a_slot_too() -> None:
    agent = Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart("ok")])), max_concurrency=1)
    assert agent.run_sync("Hi").output == "ok" and agent.run_sync("Again").output == "ok"
    assert agent.concurrency_limiter.running_count == 0


@pytest.mark.parametrize("bad, message", [(0, "max_running must be a whole number >= 1"),
                                          ("10", r"max_concurrency=\.\.\.\) takes a number"),
                                          (True, r"max_concurrency=\.\.\.\) takes a number")])
def test_a_bad_max_concurrency_is_a_one_line_error(bad: Any, message: str) -> None:
    with pytest.raises(UserError, match=message):
        Agent("test", max_concurrency=bad)
    with pytest.raises(UserError, match="max_queued must be"):
        ConcurrencyLimit(max_running=2, max_queued=-1)


async def test_a_concurrency_limited_model_limits_requests_across_agents() -> None:
    model = GatedModel()
    limited = ConcurrencyLimitedModel(FunctionModel(model.answer), limiter=1)
    first, second = Agent(limited), Agent(limited)
    runs = [asyncio.create_task(first.run("A")), asyncio.create_task(second.run("B"))]
    await until(lambda: model.inside == 1 and limited.limiter.waiting_count == 1)

    async def streamed() -> str:
        async with first.run_stream("C") as response:  # a streamed request waits its turn too
            return await response.get_output()

    third = asyncio.create_task(streamed())
    await until(lambda: limited.limiter.waiting_count == 2)
    model.gate.set()
    assert [result.output for result in await asyncio.gather(*runs)] == ["done", "done"] and model.peak == 1
    assert await third == "done"
    assert limited.limiter.running_count == 0


def test_a_concurrency_limited_model_speaks_for_the_model_it_wraps(openai_env) -> None:
    openai_env.enqueue(openai_json("Paris"))
    limited = ConcurrencyLimitedModel("openai:gpt-4o", limiter=ConcurrencyLimit(max_running=2, max_queued=10))
    assert limited.label == "openai:gpt-4o" and limited.system == "openai"
    assert Agent(limited).run_sync("Capital of France?").output == "Paris"
    assert openai_env.last_request.json["model"] == "gpt-4o"
    with pytest.raises(UserError, match=r"ConcurrencyLimitedModel\(limiter=None\) limits nothing"):
        ConcurrencyLimitedModel("openai:gpt-4o", limiter=None)  # type: ignore[arg-type]
