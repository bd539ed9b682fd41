"""Per-run retry budgets (`agent.run(retries=...)`, `agent.override(retries=...)`), `ctx.max_retries` in tools
and output validators, and `ctx.model_settings` in settings functions, as PydanticAI's agent and
tools-advanced pages describe them ("Tool retries", "Dynamic model settings")."""

from __future__ import annotations

from typing import Any

import pytest

from nbagent import (Agent, AgentInfo, FunctionModel, ModelMessage, ModelResponse, ModelRetry, RunContext, TextPart,
                     ToolCallPart, UnexpectedModelBehavior, UserError)


def keeps_calling_flaky(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) < 8:
        return ModelResponse(parts=[ToolCallPart("flaky", {})])
    return ModelResponse(parts=[TextPart("done")])


def flaky_agent() -> tuple[Agent, list[tuple[int, int]]]:
    seen: list[tuple[int, int]] = []
    agent = Agent(FunctionModel(keeps_calling_flaky))

    @agent.tool
    def flaky(ctx: RunContext) -> str:
        seen.append((ctx.retry, ctx.max_retries))
        raise ModelRetry("again")

    return agent, seen


def test_a_runs_retries_replace_the_agents_default_and_tools_see_their_limit() -> None:
    agent, seen = flaky_agent()
    with pytest.raises(UnexpectedModelBehavior, match="max retries count of 1"):
        agent.run_sync("Go")
    assert seen == [(0, 1), (1, 1)]
    seen.clear()
    with pytest.raises(UnexpectedModelBehavior, match="max retries count of 2"):
        agent.run_sync("Go", retries=2)
    assert seen == [(0, 2), (1, 2), (2, 2)]
    seen.clear()
    assert agent.run_sync("Go", retries={"tools": 5}).output == "done"
    assert seen == [(0, 5), (1, 5), (2, 5), (3, 5)]
    seen.clear()
    with pytest.raises(UnexpectedModelBehavior, match="max retries count of 1"):
        agent.run_sync("Go", retries={"output": 5})  # only the output budget changed


def test_override_retries_wins_over_the_runs() -> None:
    agent, seen = flaky_agent()
    with agent.override(retries={"tools": 1}):
        with pytest.raises(UnexpectedModelBehavior, match="max retries count of 1"):
            agent.run_sync("Go", retries=5)
    assert agent.run_sync("Go", retries=5).output == "done"


def test_a_runs_output_retries_reach_the_output_validator() -> None:
    answers = iter(["too short", "long enough, at last"])
    agent = Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart(next(answers))])))
    seen: list[tuple[int, int]] = []

    @agent.output_validator
    def long_enough(ctx: RunContext, output: str) -> str:
        seen.append((ctx.retry, ctx.max_retries))
        if len(output) < 12:
            raise ModelRetry("Longer, please.")
        return output

    assert agent.run_sync("Go", retries={"output": 4}).output == "long enough, at last"
    assert seen == [(0, 4), (1, 4)]


@pytest.mark.parametrize("bad, message", [(-1, "whole number >= 0"), ({"tool": 1}, "unknown key 'tool'"),
                                          ("x", "whole number >= 0")])
def test_bad_run_retries_are_one_line_errors(bad: Any, message: str) -> None:
    agent = Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart("hi")])))
    with pytest.raises(UserError, match=message):
        agent.run_sync("Go", retries=bad)


def test_a_settings_function_sees_the_layers_before_it_and_the_run_wins_over_the_agent() -> None:
    seen: list[Any] = []
    sent: list[Any] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        sent.append(dict(info.model_settings or {}))
        return ModelResponse(parts=[TextPart("hi")])

    def agent_level(ctx: RunContext) -> dict[str, Any]:
        seen.append(dict(ctx.model_settings or {}))
        return {"temperature": 0.5, "max_tokens": 100}

    agent = Agent(FunctionModel(answer, settings={"top_p": 0.9}), model_settings=agent_level)
    agent.run_sync("Go", model_settings={"max_tokens": 5})
    assert seen == [{"top_p": 0.9}]  # the model's defaults: the run's settings are a later layer
    assert sent == [{"top_p": 0.9, "temperature": 0.5, "max_tokens": 5}]  # the run's settings win

    def run_level(ctx: RunContext) -> dict[str, Any]:
        seen.append(dict(ctx.model_settings or {}))
        return {"temperature": 0.0}

    seen.clear(), sent.clear()
    Agent(FunctionModel(answer), model_settings={"max_tokens": 7}).run_sync("Go", model_settings=run_level)
    assert seen == [{"max_tokens": 7}] and sent == [{"max_tokens": 7, "temperature": 0.0}]
