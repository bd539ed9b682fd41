"""No answer is not an output: a response with no text and no tool calls (nothing written, or a stream
cancelled inside `agent.iter` before any text arrived, as PydanticAI's output page "Cancelling with iter"
shows) makes the run ask the model again, spending an output retry, as PydanticAI does; text that did
arrive before a cancel is the output."""

from __future__ import annotations

from typing import Any

import pytest

from nbagent import (Agent, AgentInfo, FinalResultEvent, FunctionModel, ModelMessage, ModelResponse, TestModel,
                     TextPart, UnexpectedModelBehavior)


async def drive(agent: Agent, cancels: int) -> Any:
    async with agent.iter("Write a long essay about Python") as run:
        async for node in run:
            if Agent.is_model_request_node(node):
                async with node.stream(run.ctx) as stream:
                    async for event in stream:
                        if isinstance(event, FinalResultEvent) and cancels:
                            cancels -= 1
                            await stream.cancel()
                            break
    return run


async def test_a_response_cancelled_before_any_text_is_asked_again() -> None:
    run = await drive(Agent(TestModel()), cancels=1)
    assert run.result.output == "success (no tool calls)"
    states = [(message.kind, message.state) for message in run.all_messages()]
    assert states == [("request", "complete"), ("response", "interrupted"), ("request", "complete"),
                      ("response", "complete")]
    retry = run.all_messages()[2].parts[0]
    assert retry.part_kind == "retry-prompt" and retry.content == "Please return text."


async def test_cancelling_every_response_spends_the_output_retries() -> None:
    with pytest.raises(UnexpectedModelBehavior, match=r"Exceeded maximum retries \(1\)"):
        await drive(Agent(TestModel()), cancels=5)


def test_an_empty_answer_is_asked_again() -> None:
    answers = iter(["", "Rome"])

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(next(answers))])

    result = Agent(FunctionModel(model)).run_sync("Capital of Italy?")
    assert result.output == "Rome" and len(result.all_messages()) == 4
    assert Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[])), output_type=str | None).run_sync(
        "Anything?").output is None  # where None is an answer, saying nothing gives it
