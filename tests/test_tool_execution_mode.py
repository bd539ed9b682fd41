"""How one response's tool calls run: concurrently by default; one at a time within
`agent.parallel_tool_call_execution_mode('sequential')` or with `parallel_tool_calls=False`; concurrently with
their result events in call order under 'parallel_ordered_events' (PydanticAI's tools-advanced page,
"Parallel tool calls & concurrency"). Each tool yields to the loop a few times, so the order in which
they start and end shows how they ran (no timing involved)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nbagent import (Agent, AgentInfo, FunctionModel, FunctionToolResultEvent, ModelMessage, ModelResponse, TextPart,
                     ToolCallPart, UserError)


def calls_slow_then_fast(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart("slow", {}), ToolCallPart("fast", {})])
    return ModelResponse(parts=[TextPart("done")])


def logging_agent(**options: Any) -> tuple[Agent, list[str]]:
    log: list[str] = []
    agent = Agent(FunctionModel(calls_slow_then_fast), **options)

    @agent.tool_plain
    async def slow() -> str:
        log.append("slow starts")
        for _ in range(5):
            await asyncio.sleep(0)
        log.append("slow ends")
        return "slow"

    @agent.tool_plain
    async def fast() -> str:
        log.append("fast starts")
        log.append("fast ends")
        return "fast"

    return agent, log


async def result_order(agent: Agent) -> list[str]:
    return [event.result.tool_name async for event in agent.run_stream_events("Go")
            if isinstance(event, FunctionToolResultEvent)]


async def test_tools_run_concurrently_by_default() -> None:
    agent, log = logging_agent()
    assert await result_order(agent) == ["fast", "slow"]
    assert log == ["slow starts", "fast starts", "fast ends", "slow ends"]


async def test_sequential_mode_runs_them_one_at_a_time_in_call_order() -> None:
    agent, log = logging_agent()
    with Agent.parallel_tool_call_execution_mode("sequential"):
        assert await result_order(agent) == ["slow", "fast"]
    assert log == ["slow starts", "slow ends", "fast starts", "fast ends"]
    log.clear()
    assert await result_order(agent) == ["fast", "slow"]  # only inside the block


async def test_parallel_tool_calls_false_runs_them_one_at_a_time() -> None:
    agent, log = logging_agent(model_settings={"parallel_tool_calls": False})
    assert (await agent.run("Go")).output == "done"
    assert log == ["slow starts", "slow ends", "fast starts", "fast ends"]


async def test_ordered_events_mode_runs_concurrently_and_reports_in_call_order() -> None:
    agent, log = logging_agent()
    with agent.parallel_tool_call_execution_mode("parallel_ordered_events"):
        assert await result_order(agent) == ["slow", "fast"]
    assert log == ["slow starts", "fast starts", "fast ends", "slow ends"]


def test_an_unknown_mode_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="'serial'.*'sequential'"):
        with Agent.parallel_tool_call_execution_mode("serial"):
            pass
