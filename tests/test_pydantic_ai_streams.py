"""Streams as PydanticAI's docs show them (agent.md "Streaming All Events", output.md "Streaming Structured
Output"): `TestModel` streams a text part that starts empty and grows a word (with its trailing space) at a
time, and a tool call whose start already holds its arguments as the dict; `stream_output()` yields a partial
output per (debounced) piece and then the validated output once more; a node's `stream_text()` debounces as
`run_stream`'s does. Real providers' tool-call pieces stay JSON text."""

from __future__ import annotations

from typing import Any

import pytest
from typing_extensions import NotRequired, TypedDict

from nbagent import (Agent, AgentInfo, DeltaToolCall, FinalResultEvent, FunctionModel, ModelResponse, PartDeltaEvent,
                     PartEndEvent, PartStartEvent, RetryPromptPart, RunCancelled, TestModel, TextPart, TextPartDelta,
                     ToolCallPart, UnexpectedModelBehavior)


class Profile(TypedDict):
    name: str
    bio: NotRequired[str]


async def events_of(agent: Agent[Any, Any]) -> list[Any]:
    async with agent.run_stream_events("go") as events:
        return [event async for event in events]


def streamed_output_tool(*chunks: str) -> FunctionModel:
    """A model streaming its output tool's arguments in these pieces, as a provider sends them."""

    async def stream(messages: Any, info: AgentInfo) -> Any:
        for number, chunk in enumerate(chunks):
            name = info.output_tools[0].name if number == 0 else None
            yield {0: DeltaToolCall(name=name, json_args=chunk, tool_call_id="c1" if number == 0 else None)}

    return FunctionModel(stream_function=stream)


async def test_test_model_text_starts_empty_and_grows_a_word_at_a_time() -> None:
    events = await events_of(Agent(TestModel()))
    assert events[:7] == [
        PartStartEvent(index=0, part=TextPart("")), FinalResultEvent(tool_name=None, tool_call_id=None),
        *(PartDeltaEvent(index=0, delta=TextPartDelta(content_delta=word)) for word in ("success ", "(no ", "tool ", "calls)")),
        PartEndEvent(index=0, part=TextPart("success (no tool calls)"))]

    async def deltas(text: str) -> list[str]:
        return [event.delta.content_delta for event in await events_of(Agent(TestModel(custom_output_text=text)))
                if isinstance(event, PartDeltaEvent)]

    assert await deltas("x  y") == ["x ", " ", "y"]  # split at each space, the space kept with its word
    assert await deltas("one") == ["o", "ne"]  # a single word comes in two halves
    assert await deltas("ab") == ["ab"]
    assert await deltas("hello\nworld") == ["hello", "\nworld"]


async def test_test_model_tool_call_starts_with_its_arguments_as_the_dict() -> None:
    agent = Agent(TestModel())

    @agent.tool_plain
    def forecast(location: str, days: int) -> str:
        return "sunny"

    events = await events_of(agent)
    start = events[0]
    assert start == PartStartEvent(index=0, part=ToolCallPart("forecast", {"location": "a", "days": 0},
                                                              tool_call_id="pyd_ai_tool_call_id__forecast"))
    assert repr(start.part) == ("ToolCallPart(tool_name='forecast', args={'location': 'a', 'days': 0}, "
                                "tool_call_id='pyd_ai_tool_call_id__forecast')")
    assert not any(isinstance(event, PartDeltaEvent) and event.index == 0 for event in events[:3])  # whole at once


async def test_a_providers_tool_call_pieces_stay_json_text() -> None:
    events = await events_of(Agent(streamed_output_tool('{"name":"Be', 'n"}'), output_type=Profile))
    assert events[0] == PartStartEvent(index=0, part=ToolCallPart("final_result", '{"name":"Be',
                                                                    tool_call_id="c1"))
    assert events[2].delta.args_delta == 'n"}'


async def test_stream_output_yields_each_partial_then_the_output_once_more() -> None:
    agent = Agent(TestModel(), output_type=Profile)
    for debounce in (0.1, None):
        async with agent.run_stream("go") as result:
            assert [profile async for profile in result.stream_output(debounce_by=debounce)] == [{"name": "a"}] * 2
    agent = Agent(streamed_output_tool('{"name":"Be', 'n"}'), output_type=Profile)
    for debounce in (0.1, None):  # the pieces held by the debounce are parsed when the response ends
        async with agent.run_stream("go") as result:
            outputs = [profile async for profile in result.stream_output(debounce_by=debounce)]
        assert outputs == [{"name": "Be"}, {"name": "Ben"}, {"name": "Ben"}]


async def test_run_stream_text_never_yields_the_empty_start() -> None:
    agent = Agent(TestModel(custom_output_text="a b c"))
    async with agent.run_stream("go") as result:
        assert [text async for text in result.stream_text(debounce_by=None)] == ["a ", "a b ", "a b c"]
    async with agent.run_stream("go") as result:
        assert [text async for text in result.stream_text(delta=True, debounce_by=None)] == ["a ", "b ", "c"]
    async with agent.run_stream("go") as result:
        # all within one debounce window (60 s, so that a slow machine cannot split it; 0.1 s by default)
        assert [text async for text in result.stream_text(debounce_by=60)] == ["a b c"]


async def node_stream(agent: Agent[Any, Any], method: str, **options: Any) -> list[Any]:
    """What a node's stream yields after its `FinalResultEvent`, as agent.md's streaming_iter.py reads it."""
    outputs: list[Any] = []
    async with agent.iter("go") as run:
        async for node in run:
            if Agent.is_model_request_node(node):
                async with node.stream(run.ctx) as stream:
                    async for event in stream:
                        if isinstance(event, FinalResultEvent):
                            outputs += [output async for output in getattr(stream, method)(**options)]
                            break
    return outputs


async def test_a_nodes_stream_debounces_its_text_and_ends_with_the_output() -> None:
    text = Agent(TestModel(custom_output_text="a b c"))
    assert await node_stream(text, "stream_text", debounce_by=60) == ["a b c"]  # one window (0.1 s by default)
    assert await node_stream(text, "stream_text", debounce_by=None) == ["a ", "a b ", "a b c"]
    assert await node_stream(text, "stream_text", delta=True, debounce_by=60) == ["a b c"]
    assert await node_stream(text, "stream_output", debounce_by=None) == ["a ", "a b ", "a b c", "a b c"]
    structured = Agent(TestModel(), output_type=Profile)
    assert await node_stream(structured, "stream_output") == [{"name": "a"}, {"name": "a"}]


async def test_a_cancel_right_after_the_empty_start_keeps_the_started_text_part() -> None:
    agent = Agent(TestModel())
    async with agent.run_stream_events("Write a long essay about Python") as events:
        with pytest.raises(RunCancelled) as caught:
            async for _ in events:
                events.cancel()
    history = caught.value.all_messages()
    assert len(history) == 2 and history[-1].state == "interrupted" and history[-1].parts == [TextPart("")]
    assert (await agent.run("Go on", message_history=history)).output == "success (no tool calls)"


def test_an_empty_text_answer_is_asked_again() -> None:
    answers = iter([ModelResponse([TextPart("")]), ModelResponse([]), ModelResponse([TextPart("ok")])])
    result = Agent(FunctionModel(lambda messages, info: next(answers)), retries=2).run_sync("hi")
    assert result.output == "ok"
    retries = [part.content for message in result.all_messages() for part in message.parts
               if isinstance(part, RetryPromptPart)]
    assert retries == ["Please return text."] * 2
    assert Agent(FunctionModel(lambda messages, info: ModelResponse([TextPart("")])),
                 output_type=str | None).run_sync("hi").output is None  # where None is an output, it is that


async def test_cancelling_each_response_in_iter_runs_out_of_output_retries() -> None:
    agent = Agent(TestModel())
    with pytest.raises(UnexpectedModelBehavior, match="^Exceeded maximum"):
        async with agent.iter("Write a long essay about Python") as run:
            async for node in run:
                if Agent.is_model_request_node(node):
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            if isinstance(event, FinalResultEvent):
                                await stream.cancel()  # the response stays, cut short: no text, no answer
                                break
