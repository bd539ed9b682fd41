"""PydanticAI v2 shapes, as its Agents, Messages and Multi-agent pages describe them: instructions and
system prompt decorators, `Agent.iter()` and its nodes, cancellation, results and events (issue 19)."""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from typing import Any, AsyncIterator

import pytest

from nbagent import (Agent, AgentInfo, AgentRunResultEvent, CallToolsNode, CancellationToken, End, FinalResultEvent,
                     FunctionModel, FunctionToolCallEvent, FunctionToolResultEvent, ModelMessage, ModelRequestNode,
                     ModelResponse, PartDeltaEvent, PartEndEvent, PartStartEvent, RunCancelled, RunContext, RunUsage,
                     TextPart, ToolCallPart, ToolReturnPart, UsageLimitExceeded, UsageLimits, UserError,
                     UserPromptNode)
from nbagent.models.function import DeltaToolCall


def echo_system(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Answers with what it was told: the system prompts, then the latest request's instructions."""
    system = [part.content for message in messages if message.kind == "request" for part in message.parts
              if part.part_kind == "system-prompt"]
    instructions = [message.instructions for message in messages if message.kind == "request"][-1]
    return ModelResponse(parts=[TextPart(content=f"system={system} instructions={instructions!r}")])


def call_then_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Calls the first tool once, then answers with what the tools returned."""
    returned = [part.content for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
    if not returned:
        return ModelResponse(parts=[ToolCallPart(tool_name=info.function_tools[0].name, args={})])
    return ModelResponse(parts=[TextPart(content=f"tools said {returned}")])


async def stream_call_then_answer(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
    returned = [part.content for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
    if not returned:
        yield {0: DeltaToolCall(name=info.function_tools[0].name, json_args="{}")}
        return
    for piece in ("tools ", "said ", str(returned)):
        yield piece


# ---------------------------------------------------------------- instructions and system prompts


def test_instructions_are_strings_and_functions_with_or_without_context_sync_or_async() -> None:
    agent = Agent(FunctionModel(echo_system), deps_type=str, instructions=["Be brief.", lambda: "Use metric units."])

    @agent.instructions
    def users_name(ctx: RunContext[str]) -> str:
        return f"The user's name is {ctx.deps}."

    @agent.instructions
    async def nothing_today() -> str:
        return ""  # adds nothing

    result = agent.run_sync("Hi", deps="Frank", instructions="Answer in French.")
    assert result.output == ("system=[] instructions=\"Be brief.\\n\\nUse metric units.\\n\\nThe user's name is "
                             "Frank.\\n\\nAnswer in French.\"")
    # instructions are the current run's, never taken from the history
    again = agent.run_sync("Again", deps="Anne", message_history=result.all_messages())
    assert "Anne" in again.output and "Frank" not in again.output and "French" not in again.output


def test_system_prompt_functions_open_a_conversation_and_dynamic_ones_are_evaluated_again() -> None:
    agent = Agent(FunctionModel(echo_system), deps_type=str, system_prompt="Use the customer's name.")
    calls: list[str] = []

    @agent.system_prompt
    def add_the_date() -> str:
        calls.append("date")
        return "The date is 2032-01-02."

    @agent.system_prompt(dynamic=True)
    async def add_the_users_name(ctx: RunContext[str]) -> str:
        return f"The user's name is {ctx.deps}."

    first = agent.run_sync("Hi", deps="Frank")
    assert first.output == ("system=[\"Use the customer's name.\", 'The date is 2032-01-02.', "
                            "\"The user's name is Frank.\"] instructions=None")
    second = agent.run_sync("Again", deps="Anne", message_history=first.all_messages())
    assert "The user's name is Anne." in second.output and "Frank" not in second.output
    assert calls == ["date"]  # a static function runs once, for the new conversation
    assert first.all_messages()[0].parts[2].content == "The user's name is Frank."  # the history given stays


def test_prompt_functions_with_two_parameters_or_a_wrong_return_are_one_line_errors() -> None:
    agent = Agent(FunctionModel(echo_system))
    with pytest.raises(UserError, match="takes 2 parameters"):
        agent.instructions(lambda ctx, other: "x")

    @agent.instructions
    def not_text() -> int:
        return 3

    with pytest.raises(UserError, match="returned int"):
        agent.run_sync("Hi")


# ---------------------------------------------------------------- Agent.iter()


async def test_iter_yields_the_nodes_of_a_run_with_a_tool_call() -> None:
    agent = Agent(FunctionModel(call_then_answer))

    @agent.tool_plain
    def roll() -> str:
        return "4"

    async with agent.iter("Roll") as agent_run:
        nodes = [node async for node in agent_run]
    assert [type(node).__name__ for node in nodes] == ["UserPromptNode", "ModelRequestNode", "CallToolsNode",
                                                       "ModelRequestNode", "CallToolsNode", "End"]
    assert nodes[0].user_prompt == "Roll" and Agent.is_user_prompt_node(nodes[0])
    assert Agent.is_model_request_node(nodes[1]) and Agent.is_call_tools_node(nodes[2]) and Agent.is_end_node(nodes[5])
    assert nodes[2].model_response.parts[0].tool_name == "roll"
    assert nodes[5].data.output == "tools said ['4']" == agent_run.result.output
    assert agent_run.usage.requests == 2 and agent_run.usage.tool_calls == 1


async def test_iter_driven_with_next_behaves_as_run() -> None:
    agent = Agent(FunctionModel(call_then_answer))

    @agent.tool_plain
    def roll() -> str:
        return "4"

    async with agent.iter("Roll") as agent_run:
        node = agent_run.next_node
        assert isinstance(node, UserPromptNode)
        seen = [node]
        while not isinstance(node, End):
            node = await agent_run.next(node)
            seen.append(node)
    plain = await agent.run("Roll")
    assert len(seen) == 6 and agent_run.result.output == plain.output
    assert [m.kind for m in agent_run.result.all_messages()] == [m.kind for m in plain.all_messages()]
    with pytest.raises(UserError, match="End"):
        await agent_run.next(node)


async def test_node_stream_gives_the_response_events_then_the_tool_events() -> None:
    agent = Agent(FunctionModel(stream_function=stream_call_then_answer))

    @agent.tool_plain
    def roll() -> str:
        return "4"

    log: list[str] = []
    async with agent.iter("Roll") as run:
        async for node in run:
            if isinstance(node, ModelRequestNode):
                async with node.stream(run.ctx) as request_stream:
                    async for event in request_stream:
                        log.append(type(event).__name__)
                        if isinstance(event, FinalResultEvent):
                            break
                    log += [f"text {text}" async for text in request_stream.stream_text(debounce_by=None)]
            elif isinstance(node, CallToolsNode):
                async with node.stream(run.ctx) as handle_stream:
                    log += [type(event).__name__ async for event in handle_stream]
    assert log == ["PartStartEvent", "PartEndEvent", "FunctionToolCallEvent", "FunctionToolResultEvent",
                   "PartStartEvent", "FinalResultEvent", "text tools ", "text tools said ",
                   "text tools said ['4']"]  # piece by piece: not debounced
    assert run.result.output == "tools said ['4']"


# ---------------------------------------------------------------- cancellation


def slow_agent() -> tuple[Agent, asyncio.Event]:
    agent = Agent(FunctionModel(call_then_answer))
    started = asyncio.Event()

    @agent.tool_plain
    async def slow_lookup() -> str:
        started.set()
        await asyncio.sleep(60)
        return "result"

    return agent, started


async def test_a_token_cancels_a_run_and_its_history_continues() -> None:
    agent, started = slow_agent()
    token = CancellationToken()
    task = asyncio.create_task(agent.run("Look something up", cancellation_token=token))
    await asyncio.wait_for(started.wait(), 10)
    token.cancel()
    with pytest.raises(RunCancelled) as caught:
        await asyncio.wait_for(task, 10)
    messages = caught.value.all_messages()
    assert [(m.kind, m.state) for m in messages] == [("request", "complete"), ("response", "complete"),
                                                     ("request", "interrupted")]  # no tool had returned
    assert caught.value.usage.requests == 1

    answer = FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart(content=str(messages[-1].parts))]))
    resumed = await agent.run(message_history=messages, model=answer)  # no prompt: the dangling call is answered
    assert "cancelled before this tool call returned" in resumed.output
    with pytest.raises(RunCancelled):  # a cancelled token stops a run before it starts
        await agent.run("Again", cancellation_token=token, model=answer)


def test_a_token_cancels_run_sync_from_another_thread() -> None:
    agent = Agent(FunctionModel(call_then_answer))
    token = CancellationToken()
    started = threading.Event()

    @agent.tool_plain
    async def slow_lookup() -> str:
        started.set()
        await asyncio.sleep(60)
        return "result"

    def press_stop() -> None:
        started.wait(10)
        token.cancel()

    stopper = threading.Thread(target=press_stop)
    stopper.start()
    with pytest.raises(RunCancelled):
        agent.run_sync("Look something up", cancellation_token=token)
    stopper.join(10)


async def test_a_tool_cancels_its_own_run_and_its_value_is_discarded() -> None:
    agent = Agent(FunctionModel(call_then_answer))

    @agent.tool
    async def stop(ctx: RunContext) -> str:
        ctx.cancel()
        return "discarded"

    with pytest.raises(RunCancelled) as caught:
        await agent.run("Stop now")
    assert len(caught.value.all_messages()) == 2
    assert not any(isinstance(part, ToolReturnPart) for m in caught.value.all_messages() for part in m.parts)


async def test_an_external_cancel_stays_cancelled_error_carrying_the_run() -> None:
    agent, started = slow_agent()
    task = asyncio.create_task(agent.run("Look something up"))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as caught:
        await task
    cancelled = RunCancelled.from_cancellation(caught.value)
    assert cancelled is not None and len(cancelled.all_messages()) == 3
    assert RunCancelled.from_cancellation(asyncio.CancelledError()) is None


async def test_cancelling_events_and_an_iterated_run() -> None:
    agent = Agent(FunctionModel(stream_function=stream_call_then_answer))

    @agent.tool_plain
    def roll() -> str:
        return "4"

    with pytest.raises(RunCancelled) as caught:
        async with agent.run_stream_events("Roll") as events:
            async for _event in events:
                events.cancel()
    assert [m.kind for m in caught.value.all_messages()] == ["request"]  # cut while a tool call streamed

    with pytest.raises(RunCancelled) as caught:
        async with agent.iter("Roll") as agent_run:
            async for node in agent_run:
                if Agent.is_call_tools_node(node):
                    agent_run.cancel()
    assert [m.kind for m in caught.value.all_messages()] == ["request", "response"]


async def test_cancelling_a_stream_keeps_the_interrupted_response() -> None:
    async def talk(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        for piece in ("Python ", "is ", "a ", "language."):
            yield piece

    agent = Agent(FunctionModel(stream_function=talk))
    async with agent.run_stream("Tell me about Python") as result:
        async for text in result.stream_text(delta=True, debounce_by=None):
            break
        await result.cancel()
    last = result.all_messages()[-1]
    assert last.state == "interrupted" and last.parts[0].content == "Python "
    again = await agent.run("Go on", message_history=result.all_messages())
    assert again.output == "Python is a language."


# ---------------------------------------------------------------- results and events


def test_usage_is_a_run_usage_property_that_can_still_be_called() -> None:
    agent = Agent(FunctionModel(call_then_answer))

    @agent.tool_plain
    def roll() -> str:
        return "4"

    result = agent.run_sync("Roll")
    assert isinstance(result.usage, RunUsage) and result.usage() is result.usage
    assert (result.usage.requests, result.usage.tool_calls) == (2, 1)
    assert repr(RunUsage(requests=1, input_tokens=3)) == "RunUsage(input_tokens=3, requests=1)"


def test_a_delegate_agents_usage_counts_in_its_callers_run() -> None:
    delegate = Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart(content="a joke")])))
    caller = Agent(FunctionModel(call_then_answer))

    @caller.tool
    async def joke_factory(ctx: RunContext[None]) -> str:
        return (await delegate.run("A joke", usage=ctx.usage)).output

    result = caller.run_sync("Tell me a joke")
    assert result.output == "tools said ['a joke']" and result.usage.requests == 3


def test_per_request_token_limits_retries_by_kind_metadata_and_ids() -> None:
    agent = Agent(FunctionModel(echo_system), retries={"tools": 3, "output": 2},
                  metadata=lambda ctx: {"tenant": ctx.deps})
    assert (agent.retries, agent.output_retries) == (3, 2)
    with pytest.raises(UserError, match="unknown key 'tool'"):
        Agent(retries={"tool": 3})
    with pytest.raises(UsageLimitExceeded, match="per_request_input_tokens_limit of 1"):
        agent.run_sync("A long question", usage_limits=UsageLimits(per_request_input_tokens_limit=1))

    first = agent.run_sync("Hi", deps="t-1", metadata=lambda ctx: {"requests": ctx.usage.requests})
    assert first.metadata == {"tenant": "t-1", "requests": 1}
    second = agent.run_sync("Again", message_history=first.all_messages(), run_id="run-42")
    assert second.run_id == "run-42" and second.conversation_id == first.conversation_id
    assert {m.run_id for m in second.new_messages()} == {"run-42"}
    forked = agent.run_sync("Fork", message_history=first.all_messages(), conversation_id="new")
    assert forked.conversation_id != first.conversation_id
    with pytest.raises(UserError, match="already in message_history"):
        agent.run_sync("Again", message_history=second.all_messages(), run_id="run-42")


async def test_run_stream_events_with_async_with_or_async_for_and_event_handlers() -> None:
    agent = Agent(FunctionModel(stream_function=stream_call_then_answer))

    @agent.tool_plain
    def weather_forecast(location: str = "Paris", forecast_date: date | None = None) -> str:
        return "sunny"

    async with agent.run_stream_events("Weather?") as events:
        kinds = [type(event).__name__ async for event in events]
    assert events.result is not None and events.result.output == "tools said ['sunny']"
    assert events.usage.requests == 2 and len(events.all_messages()) == 4
    assert kinds == ["PartStartEvent", "PartEndEvent", "FunctionToolCallEvent", "FunctionToolResultEvent",
                     "PartStartEvent", "FinalResultEvent", "PartDeltaEvent", "PartDeltaEvent", "PartEndEvent",
                     "AgentRunResultEvent"]
    assert kinds == [type(event).__name__ async for event in agent.run_stream_events("Weather?")]

    seen: list[Any] = []

    async def handler(ctx: RunContext[None], stream: AsyncIterator[Any]) -> None:
        async for event in stream:
            seen.append(event)

    result = await agent.run("Weather?", event_stream_handler=handler)
    assert [type(event).__name__ for event in seen] == kinds[:-1] and result.output == "tools said ['sunny']"
    assert isinstance(seen[3], FunctionToolResultEvent) and seen[3].part.content == "sunny"

    seen.clear()
    async with agent.run_stream("Weather?", event_stream_handler=handler) as streamed:
        texts = [text async for text in streamed.stream_text()]
    assert [type(event).__name__ for event in seen] == kinds[:6]  # up to the start of the output
    assert texts[-1] == "tools said ['sunny']"
    assert isinstance(seen[2], FunctionToolCallEvent) and isinstance(seen[0], PartStartEvent)
    assert isinstance(seen[1], PartEndEvent) and not any(isinstance(e, (PartDeltaEvent, AgentRunResultEvent))
                                                        for e in seen)


async def test_stream_response_gives_model_responses_and_exceptions_has_the_names() -> None:
    agent = Agent(FunctionModel(stream_function=stream_call_then_answer))

    @agent.tool_plain
    def roll() -> str:
        return "4"

    async with agent.run_stream("Roll") as result:
        responses = [response async for response in result.stream_response(debounce_by=None)]
    assert all(isinstance(response, ModelResponse) for response in responses)
    assert responses[-1].text == "tools said ['4']"

    from nbagent.exceptions import AgentRunError, ModelRetry, UnexpectedModelBehavior, UsageLimitExceeded as Limit
    assert issubclass(UnexpectedModelBehavior, AgentRunError) and Limit is UsageLimitExceeded and ModelRetry


async def cancelled_after_the_fast_tool(agent: Agent) -> Any:
    """Give `agent` a fast tool and one that never returns, run it on "Both" (whose model calls the two),
    cancel once the fast one returned, and give back the `RunCancelled` caught (pytest's ExceptionInfo)."""
    fast_done = asyncio.Event()

    @agent.tool_plain
    async def fast() -> str:
        fast_done.set()
        return "fast result"

    @agent.tool_plain
    async def slow() -> str:
        await asyncio.sleep(60)
        return "never"

    token = CancellationToken()
    task = asyncio.create_task(agent.run("Both", cancellation_token=token))
    await asyncio.wait_for(fast_done.wait(), 10)
    token.cancel()
    with pytest.raises(RunCancelled) as caught:
        await asyncio.wait_for(task, 10)
    return caught


async def test_a_cancel_keeps_the_tools_that_returned_and_answers_the_others_on_resume() -> None:
    def call_both(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart("fast", {}, tool_call_id="a"), ToolCallPart("slow", {}, tool_call_id="b")])

    agent = Agent(FunctionModel(call_both))
    caught = await cancelled_after_the_fast_tool(agent)  # the fast tool's return is kept if the loop saw it finish first
    interrupted = caught.value.all_messages()[-1]
    assert interrupted.state == "interrupted"
    assert [part.content for part in interrupted.parts] in ([], ["fast result"])

    seen: list[ModelMessage] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.extend(messages)
        return ModelResponse(parts=[TextPart("ok")])

    resumed = await agent.run("Go on", message_history=caught.value.all_messages(), model=FunctionModel(answer))
    request = seen[-1]
    assert [getattr(part, "tool_call_id", None) for part in request.parts] == ["a", "b", None]
    assert "cancelled" in request.parts[1].content and resumed.output == "ok"
    assert all(m.state == "complete" for m in seen)  # the interrupted request merged into the next one


async def test_iter_streams_structured_output_and_a_response_stream_can_be_cancelled() -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        country: str

    async def city(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        name = info.output_tools[0].name
        yield {0: DeltaToolCall(name=name, json_args='{"name": "Par')}
        yield {0: DeltaToolCall(json_args='is", "country": "France"}')}

    agent = Agent(FunctionModel(stream_function=city), output_type=City)
    outputs: list[Any] = []
    async with agent.iter("Capital of France?") as run:
        async for node in run:
            if Agent.is_model_request_node(node):
                async with node.stream(run.ctx) as stream:
                    async for event in stream:
                        if isinstance(event, FinalResultEvent):
                            break
                    outputs += [output async for output in stream.stream_output(debounce_by=None)]
    assert outputs[-1].model_dump() == {"name": "Paris", "country": "France"} == run.result.output.model_dump()
    assert outputs[0].name == "Par" and isinstance(run.result.output, City)

    async def talk(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        for piece in ("Python ", "is ", "a ", "language."):
            yield piece

    talker = Agent(FunctionModel(stream_function=talk))
    async with talker.iter("Essay") as run:
        async for node in run:
            if Agent.is_model_request_node(node):
                async with node.stream(run.ctx) as stream:
                    async for event in stream:
                        if isinstance(event, FinalResultEvent):
                            await stream.cancel()
                            break
    response = run.result.all_messages()[1]
    assert response.state == "interrupted" and response.text == "Python " == run.result.output

    async with talker.run_stream("Essay") as streamed:
        async for _ in streamed.stream_text(delta=True, debounce_by=None):
            await streamed.cancel()
            break
    assert streamed.cancelled and streamed.all_messages()[-1].state == "interrupted"


async def test_event_and_result_reprs_read_as_pydantic_ais() -> None:
    agent = Agent(FunctionModel(stream_function=stream_call_then_answer))

    @agent.tool_plain
    def roll() -> str:
        return "4"

    events = [event async for event in agent.run_stream_events("Roll")]
    assert repr(events[-1]) == "AgentRunResultEvent(result=AgentRunResult(output=\"tools said ['4']\"))"
    assert repr(events[-2]).startswith("PartEndEvent(index=0, part=TextPart(")
    assert repr(PartDeltaEvent(0, __import__("nbagent").TextPartDelta("x"))) == \
        "PartDeltaEvent(index=0, delta=TextPartDelta(content_delta='x'))"


# ---------------------------------------------------------------- a cancelled history on the wire


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_a_history_cancelled_while_tools_ran_is_accepted_by_both_protocols(provider: Any, protocol: str) -> None:
    """Over the loopback server: the model calls two tools, the run is cancelled while one still runs;
    continuing sends every call answered, in order, right after the assistant's calls."""
    from provider_server import anthropic_json, openai_json

    from nbagent import AnthropicModel, OpenAIModel

    key = "sk-test-loopback-0123456789"
    if protocol == "openai":
        model: Any = OpenAIModel("gpt-4o-mini", base_url=provider.openai_base_url, api_key=key)
        provider.enqueue(openai_json(None, tool_calls=[("c1", "fast", "{}"), ("c2", "slow", "{}")]),
                         openai_json("Understood."))
    else:
        model = AnthropicModel("claude-haiku-4-5", base_url=provider.anthropic_base_url, api_key=key)
        provider.enqueue(anthropic_json(tool_calls=[("c1", "fast", {}), ("c2", "slow", {})]),
                         anthropic_json("Understood."))
    agent = Agent(model)
    caught = await cancelled_after_the_fast_tool(agent)

    result = await agent.run("Go on", message_history=caught.value.all_messages())
    assert result.output == "Understood."
    sent = provider.requests[-1].json["messages"]
    if protocol == "openai":
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
        assert [m["tool_call_id"] for m in sent[2:4]] == ["c1", "c2"]
        assert "cancelled" in sent[3]["content"]
    else:
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        blocks = sent[2]["content"]
        assert [b.get("tool_use_id") for b in blocks[:2]] == ["c1", "c2"] and blocks[2]["type"] == "text"


async def test_stream_text_debounced_as_pydantic_ai_groups_pieces() -> None:
    async def talk(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        for piece in ("success ", "(no ", "tool ", "calls)"):
            yield piece

    agent = Agent(FunctionModel(stream_function=talk))
    async with agent.run_stream("Hi") as result:
        grouped = [text async for text in result.stream_text(debounce_by=60)]
    assert grouped == ["success (no tool calls)"]  # all arrived within the window: one piece
    async with agent.run_stream("Hi") as result:
        every = [piece async for piece in result.stream_text(delta=True, debounce_by=None)]
    assert every == ["success ", "(no ", "tool ", "calls)"]


def test_model_settings_as_a_function_of_the_context_are_asked_before_each_request() -> None:
    sent: list[Any] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        sent.append(dict(info.model_settings or {}))
        return call_then_answer(messages, info)

    agent = Agent(FunctionModel(answer), model_settings=lambda ctx: {"temperature": 0.0 if ctx.run_step < 1 else 0.7})

    @agent.tool_plain
    def roll() -> str:
        return "4"

    agent.run_sync("Roll")
    assert [settings.get("temperature") for settings in sent] == [0.0, 0.7]
    sent.clear()
    agent.run_sync("Roll", model_settings=lambda ctx: {"max_tokens": 10 * (ctx.run_step + 1)})
    assert [(s.get("temperature"), s.get("max_tokens")) for s in sent] == [(0.0, 10), (0.7, 20)]


async def test_stream_response_snapshots_validate_as_partial_outputs() -> None:
    from pydantic import ValidationError
    from typing_extensions import TypedDict

    class UserProfile(TypedDict, total=False):
        name: str
        bio: str

    async def profile(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        name = info.output_tools[0].name
        yield {0: DeltaToolCall(name=name, json_args='{"name": "Ben", "bi')}
        yield {0: DeltaToolCall(json_args='o": "Likes the')}
        yield {0: DeltaToolCall(json_args=' pyramid"}')}

    agent = Agent(FunctionModel(stream_function=profile), output_type=UserProfile)
    profiles = []
    async with agent.run_stream("My name is Ben") as result:
        async for message in result.stream_response(debounce_by=None):
            try:
                profiles.append(await result.validate_response_output(
                    message, allow_partial=message.state == "incomplete"))
            except ValidationError:
                continue
    assert profiles[0] == {"name": "Ben"} and profiles[-1] == {"name": "Ben", "bio": "Likes the pyramid"}
    assert profiles[-2] == {"name": "Ben", "bio": "Likes the pyramid"}  # the last snapshot, then the whole
