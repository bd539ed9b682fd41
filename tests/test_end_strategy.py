"""`Agent(end_strategy=...)`: what happens to the other tool calls of a response whose output tool gives
the final result, as PydanticAI's output page ("Tool calls alongside a final result") describes it.
'graceful' (the default) runs the function tools too, 'early' skips them, 'exhaustive' also runs the other
output tools; a function tool asking for a retry beside the output makes the model answer again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from nbagent import (Agent, AgentInfo, DeferredToolRequests, FunctionModel, ModelMessage, ModelResponse, ModelRetry,
                     ToolCallPart, UserError)


class Out(BaseModel):
    x: int


def side_then_two_outputs(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart("side", {}, tool_call_id="c1"),
                                ToolCallPart("final_result", {"x": 1}, tool_call_id="c2"),
                                ToolCallPart("final_result", {"x": 2}, tool_call_id="c3")])


def run_with(strategy: str | None) -> tuple[Any, list[str], list[int]]:
    ran: list[str] = []
    validated: list[int] = []
    options = {} if strategy is None else {"end_strategy": strategy}
    agent = Agent(FunctionModel(side_then_two_outputs), output_type=Out, **options)

    @agent.tool_plain
    def side() -> str:
        ran.append("side")
        return "side done"

    @agent.output_validator
    def seen(output: Out) -> Out:
        validated.append(output.x)
        return output

    return agent.run_sync("Go"), ran, validated


def answers(result: Any) -> list[tuple[str, Any]]:
    return [(part.tool_call_id, part.content) for part in result.all_messages()[-1].parts]


def test_graceful_by_default_runs_the_function_tools_beside_the_output() -> None:
    result, ran, validated = run_with(None)
    assert result.output == Out(x=1) and ran == ["side"] and validated == [1]
    assert answers(result) == [("c1", "side done"), ("c2", "Final result processed."),
                               ("c3", "Output tool not used - a final result was already processed.")]


def test_early_skips_the_function_tools() -> None:
    result, ran, _ = run_with("early")
    assert result.output == Out(x=1) and ran == []
    assert answers(result) == [("c1", "Tool not executed - a final result was already processed."),
                               ("c2", "Final result processed."),
                               ("c3", "Output tool not used - a final result was already processed.")]


def test_exhaustive_runs_every_tool_and_keeps_the_first_output() -> None:
    result, ran, validated = run_with("exhaustive")
    assert result.output == Out(x=1) and ran == ["side"] and validated == [1, 2]
    assert answers(result)[2] == ("c3", "Output tool processed, but its value will not be the final result of "
                                        "the agent run.")


def test_a_retry_beside_the_output_makes_the_model_answer_again() -> None:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("final_result", {"x": 1}), ToolCallPart("bad", {})])
        return ModelResponse(parts=[ToolCallPart("final_result", {"x": 9})])

    agent = Agent(FunctionModel(model), output_type=Out)

    @agent.tool_plain
    def bad() -> str:
        raise ModelRetry("fix it")

    result = agent.run_sync("Go")
    assert result.output == Out(x=9)
    returned = result.all_messages()[2].parts
    assert returned[0].content.startswith("Output not used as the final result")
    assert returned[1].part_kind == "retry-prompt" and returned[1].content == "fix it"


def test_a_tool_that_needs_approval_beside_the_output_is_not_run() -> None:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart("final_result", {"x": 1}), ToolCallPart("delete_file", {})])

    agent = Agent(FunctionModel(model), output_type=[Out, DeferredToolRequests])

    @agent.tool_plain(requires_approval=True)
    def delete_file() -> str:
        return "deleted"

    result = agent.run_sync("Go")
    assert result.output == Out(x=1)
    assert answers(result)[1][1] == "Tool not executed - a final result was already processed."


async def test_run_stream_commits_the_first_output_as_early_does() -> None:
    agent = Agent(FunctionModel(side_then_two_outputs), output_type=Out)
    ran: list[str] = []

    @agent.tool_plain
    def side() -> str:
        ran.append("side")
        return "side done"

    async with agent.run_stream("Go") as streamed:
        assert await streamed.get_output() == Out(x=1)
    assert ran == []


def test_an_unknown_end_strategy_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="end_strategy='eager'.*'graceful'"):
        Agent("test", end_strategy="eager")
