"""Tool faults, each against the loopback server on both protocols, with `run` and `run_stream`: a tool
raising, arguments that fail validation (retried, then succeeding) or are not JSON, an unknown tool, a
model calling tools forever, a stream cut inside a call's arguments, an interrupt during a slow tool.
The history the caller passed in is intact after every one."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from typing import Any

import pytest
from pydantic import ValidationError
from provider_server import (ProviderServer, anthropic_json, anthropic_stream, anthropic_tool_stream, openai_json,
                             openai_stream, openai_tool_stream)

from nbagent import (Agent, AnthropicModel, FunctionModel, ModelRequest, ModelResponse, ModelRetry, OpenAIModel,
                     RetryPromptPart, TestModel, TextPart, ToolCallPart, UnexpectedModelBehavior,
                     UsageLimitExceeded, UsageLimits, UserPromptPart, UserError, RunContext, capture_run_messages)

pytestmark = pytest.mark.usefixtures("closed_client")
KEY = "sk-test-loopback-0123456789"
USAGE_LIMITS_HINT = ("Consider raising the limit, or see the docs on usage limits for budget-aware patterns: "
                     "https://pydantic.dev/docs/ai/core-concepts/agent/#usage-limits")  # PydanticAI's words
HISTORY = [ModelRequest(parts=[UserPromptPart(content="earlier question")]),
           ModelResponse(parts=[TextPart(content="earlier answer")])]


class Wire:
    """One protocol and one way of running, so each fault is checked four times."""

    def __init__(self, provider: ProviderServer, protocol: str, streamed: bool) -> None:
        self.provider, self.protocol, self.streamed = provider, protocol, streamed

    def model(self) -> Any:
        if self.protocol == "openai":
            return OpenAIModel("gpt-4o-mini", base_url=self.provider.openai_base_url, api_key=KEY)
        return AnthropicModel("claude-haiku-4-5", base_url=self.provider.anthropic_base_url, api_key=KEY)

    def calls(self, *calls: tuple[str, str, str], **knobs: Any) -> Any:
        """A reply calling tools: (id, name, arguments JSON text)."""
        if self.streamed:
            return (openai_tool_stream if self.protocol == "openai" else anthropic_tool_stream)(calls, **knobs)
        if self.protocol == "openai":
            return openai_json(None, tool_calls=calls)
        return anthropic_json("", tool_calls=[(i, n, json.loads(a)) for i, n, a in calls])

    def text(self, text: str) -> Any:
        if self.protocol == "openai":
            return openai_stream(text) if self.streamed else openai_json(text)
        return anthropic_stream(text) if self.streamed else anthropic_json(text)

    async def run(self, agent: Agent, prompt: str = "go", **kwargs: Any) -> tuple[str, list[Any]]:
        if not self.streamed:
            result = await agent.run(prompt, message_history=HISTORY, **kwargs)
            return result.output, result.new_messages()
        async with agent.run_stream(prompt, message_history=HISTORY, **kwargs) as response:
            text = "".join([delta async for delta in response.stream_text(delta=True, debounce_by=None)])
            assert text.endswith(await response.get_output())
            return await response.get_output(), response.new_messages()

    def tool_messages(self, index: int) -> list[Any]:
        """What request `index` sent back about tool calls: tool messages / tool_result blocks."""
        body = self.provider.requests[index].json
        if self.protocol == "openai":
            return [m for m in body["messages"] if m["role"] == "tool"]
        return [block for m in body["messages"] if m["role"] == "user" for block in m["content"]
                if block.get("type") == "tool_result"]


@pytest.fixture(params=[("openai", False), ("openai", True), ("anthropic", False), ("anthropic", True)],
                ids=["openai-run", "openai-stream", "anthropic-run", "anthropic-stream"])
def wire(request: pytest.FixtureRequest, provider: ProviderServer) -> Wire:
    return Wire(provider, *request.param)


@pytest.fixture(autouse=True)
def history_is_intact() -> Any:
    before = copy.deepcopy(HISTORY)
    yield
    assert HISTORY == before


def content_of(message: dict[str, Any]) -> str:
    return message["content"]


def capital_agent(wire: Wire, **kwargs: Any) -> tuple[Agent, list[str]]:
    ran: list[str] = []
    agent = Agent(wire.model(), **kwargs)

    @agent.tool_plain
    def get_capital(country: str) -> str:
        ran.append(country)
        return {"France": "Paris"}.get(country, "unknown")

    return agent, ran


async def test_tool_raising_ends_the_run_with_its_own_exception_naming_the_tool(wire: Wire) -> None:
    """As in PydanticAI the tool's exception itself propagates (code catching it keeps working); a note
    names the tool, shown under the traceback."""
    wire.provider.enqueue(wire.calls(("c1", "explode", "{}")))
    agent = Agent(wire.model())

    @agent.tool_plain
    def explode() -> str:
        raise ValueError("the disk is full")

    with capture_run_messages() as messages:
        with pytest.raises(ValueError) as caught:
            await wire.run(agent)
    assert str(caught.value) == "the disk is full"
    assert caught.value.__notes__ == ["raised by the tool 'explode' (call c1)"]
    assert len(wire.provider.requests) == 1
    assert isinstance(messages[-1], ModelRequest) and messages[-1].parts == [] and messages[-1].state == "interrupted"


def test_the_calls_that_returned_before_a_tool_raised_are_kept_and_the_history_continues() -> None:
    def call_tools(messages: list[Any], info: Any) -> ModelResponse:
        if isinstance(messages[-1].parts[-1], UserPromptPart) and messages[-1].parts[-1].content == "go on":
            return ModelResponse(parts=[TextPart("fine")])
        return ModelResponse(parts=[ToolCallPart("get_volume", {"size": 6}, tool_call_id="volume_call"),
                                    ToolCallPart("get_mass", {"size": 6}, tool_call_id="mass_call")])

    agent = Agent(FunctionModel(call_tools))

    @agent.tool_plain(sequential=True)
    def get_volume(size: int) -> int:
        return size**3

    @agent.tool_plain(sequential=True)
    def get_mass(size: int) -> int:
        raise RuntimeError("missing density")

    before = copy.deepcopy(HISTORY)
    with capture_run_messages() as messages:
        with pytest.raises(RuntimeError, match="missing density"):
            agent.run_sync("Calculate volume and mass.", message_history=HISTORY)
    interrupted = messages[-1]
    assert isinstance(interrupted, ModelRequest) and interrupted.state == "interrupted"
    assert [(part.tool_name, part.content) for part in interrupted.parts] == [("get_volume", 216)]
    assert HISTORY == before  # the caller's, untouched
    assert agent.run_sync("go on", message_history=messages).output == "fine"  # repaired before it is sent


async def test_invalid_arguments_are_retried_then_succeed(wire: Wire) -> None:
    wire.provider.enqueue(wire.calls(("c1", "get_capital", '{"country": 5}')),
                          wire.calls(("c2", "get_capital", '{"country": "France"}')), wire.text("Paris it is."))
    agent, ran = capital_agent(wire)

    output, messages = await wire.run(agent)

    assert output == "Paris it is." and ran == ["France"]
    retry = wire.tool_messages(1)[0]
    assert "1 validation error" in content_of(retry) and "string_type" in content_of(retry)
    assert "Fix the errors and try again." in content_of(retry)
    assert any(isinstance(part, RetryPromptPart) for message in messages for part in message.parts)


async def test_retries_exhausted_is_unexpected_model_behavior(wire: Wire) -> None:
    wire.provider.enqueue(wire.calls(("c1", "get_capital", '{"country": 5}')),
                          wire.calls(("c2", "get_capital", '{"country": 6}')))
    agent, ran = capital_agent(wire)
    with pytest.raises(UnexpectedModelBehavior) as caught:
        await wire.run(agent)
    assert ran == [] and len(wire.provider.requests) == 2
    assert str(caught.value) == ("Tool 'get_capital' exceeded max retries count of 1. Consider raising the retry "
                                 "limit, or see the docs on tool retries: "
                                 "https://pydantic.dev/docs/ai/tools-toolsets/tools-advanced/#tool-retries")  # PydanticAI's
    assert isinstance(caught.value.__cause__, ValidationError)  # the last problem, as in PydanticAI
    [note] = caught.value.__notes__
    assert note.startswith("last problem: ") and "string_type" in note  # shown under the one-line message


async def test_a_tool_retrying_past_its_limit_fails_with_its_last_model_retry_as_cause() -> None:
    agent = Agent(TestModel())

    @agent.tool_plain
    def calc_volume(size: int) -> int:
        if size == 42:
            return size**3
        raise ModelRetry("Please try again.")

    with capture_run_messages() as messages:
        with pytest.raises(UnexpectedModelBehavior, match="^Tool 'calc_volume' exceeded max retries count of 1. ") as caught:
            await agent.run("Please get me the volume of a box with size 6.")
    assert repr(caught.value.__cause__) == "ModelRetry('Please try again.')"
    assert caught.value.__notes__ == ["last problem: Please try again."]
    assert [[part.part_kind for part in message.parts] for message in messages][:4] == [
        ["user-prompt"], ["tool-call"], ["retry-prompt"], ["tool-call"]]


async def test_unknown_tool_gets_a_retry_prompt_listing_the_tools(wire: Wire) -> None:
    wire.provider.enqueue(wire.calls(("c1", "get_capitol", '{"country": "France"}')), wire.text("Sorry."))
    agent, _ = capital_agent(wire)
    output, _ = await wire.run(agent)
    assert output == "Sorry."
    assert "Unknown tool name: 'get_capitol'. Available tools: 'get_capital'" in content_of(wire.tool_messages(1)[0])


async def test_model_retry_from_a_tool_is_sent_back(wire: Wire) -> None:
    wire.provider.enqueue(wire.calls(("c1", "lookup", '{"key": "x"}')), wire.calls(("c2", "lookup", '{"key": "y"}')),
                          wire.text("done"))
    agent = Agent(wire.model())
    seen_retries: list[int] = []

    @agent.tool
    def lookup(ctx: RunContext[None], key: str) -> str:
        seen_retries.append(ctx.retry)
        if key == "x":
            raise ModelRetry("no key x; try y")
        return "found"

    output, _ = await wire.run(agent)
    assert output == "done" and seen_retries == [0, 1]
    assert content_of(wire.tool_messages(1)[0]) == "no key x; try y\n\nFix the errors and try again."


async def test_model_calling_tools_forever_is_stopped_by_the_request_limit(wire: Wire) -> None:
    wire.provider.enqueue(*(wire.calls((f"c{i}", "get_capital", '{"country": "France"}')) for i in range(5)))
    agent, ran = capital_agent(wire)
    with pytest.raises(UsageLimitExceeded) as caught:
        await wire.run(agent, usage_limits=UsageLimits(request_limit=3))
    assert str(caught.value) == ("The next request would exceed the request_limit of 3. " + USAGE_LIMITS_HINT)
    assert len(wire.provider.requests) == 3 and ran == ["France"] * 3


async def test_tool_calls_limit(wire: Wire) -> None:
    wire.provider.enqueue(wire.calls(("c1", "get_capital", '{"country": "France"}'),
                                     ("c2", "get_capital", '{"country": "Spain"}')))
    agent, ran = capital_agent(wire)
    with pytest.raises(UsageLimitExceeded) as caught:
        await wire.run(agent, usage_limits=UsageLimits(tool_calls_limit=1))
    assert str(caught.value) == ("The next tool call(s) would exceed the tool_calls_limit of 1 (tool_calls=2). "
                                 + USAGE_LIMITS_HINT)  # worded as PydanticAI's
    assert ran == []


async def test_interrupt_during_a_slow_tool_cancels_it(wire: Wire) -> None:
    wire.provider.enqueue(wire.calls(("c1", "slow", "{}"), ("c2", "quick", "{}")))
    agent = Agent(wire.model())
    started, cancelled = asyncio.Event(), []

    @agent.tool_plain
    async def slow() -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise
        return "late"

    @agent.tool_plain
    def quick() -> str:
        return "quick"

    task = asyncio.ensure_future(wire.run(agent))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["slow"] and len(wire.provider.requests) == 1


@pytest.mark.parametrize("protocol,cut", [("openai", {"cut_after": 3}), ("openai", {"omit_done": True}),
                                          ("anthropic", {"cut_after": 4})],
                         ids=["openai-connection-cut", "openai-no-done", "anthropic-connection-cut"])
async def test_stream_cut_inside_a_tool_calls_arguments_never_runs_it(provider: ProviderServer, protocol: str,
                                                                      cut: dict[str, Any]) -> None:
    wire = Wire(provider, protocol, streamed=True)
    args = '{"country": "France", "padding": "' + "x" * 60 + '"}'
    provider.enqueue(wire.calls(("c1", "get_capital", args), split=6, **cut))
    agent, ran = capital_agent(wire)
    with pytest.raises(UnexpectedModelBehavior, match="before the answer was complete|without its end marker"):
        await wire.run(agent)
    assert ran == [] and len(provider.requests) == 1


async def test_arguments_that_are_not_json_are_retried(provider: ProviderServer) -> None:
    for wire in (Wire(provider, "openai", False), Wire(provider, "openai", True), Wire(provider, "anthropic", True)):
        provider.clear()
        provider.enqueue(wire.calls(("c1", "get_capital", '{"country": "Fra')),
                         wire.calls(("c2", "get_capital", '{"country": "France"}')), wire.text("ok"))
        agent, ran = capital_agent(wire)
        output, _ = await wire.run(agent)
        assert output == "ok" and ran == ["France"]
        assert "json_invalid" in content_of(wire.tool_messages(1)[0])


# ------------------------------------------------------------------ offline: the loop itself


async def test_several_calls_run_concurrently_and_return_in_call_order() -> None:
    # Each async tool waits for the other to start (events, not asyncio.Barrier: Python 3.10 has
    # none), so the run only finishes if both run at once; `first` also waits for `second` to finish
    # so the results come back out of call order.
    first_started, second_started, second_finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
    loop_thread = threading.get_ident()
    threads: list[int] = []

    async def first(value: str) -> str:
        first_started.set()
        await asyncio.wait_for(second_started.wait(), 5)
        await asyncio.wait_for(second_finished.wait(), 5)
        return "first"

    async def second(value: str) -> str:
        second_started.set()
        await asyncio.wait_for(first_started.wait(), 5)
        second_finished.set()
        return "second"

    def blocking(value: str) -> str:
        threads.append(threading.get_ident())
        return "blocking"

    agent = Agent(TestModel(), tools=[first, second, blocking])
    result = await agent.run("go")
    returns = result.new_messages()[2].parts
    assert [part.tool_name for part in returns] == ["first", "second", "blocking"]
    assert [part.content for part in returns] == ["first", "second", "blocking"]
    assert threads and threads[0] != loop_thread  # sync tools run in a worker thread


async def test_a_slow_sync_tool_does_not_block_the_event_loop() -> None:
    """The tool waits for the event loop to tick while it runs: only a tool in a worker thread sees
    the release; one called on the loop thread blocks the ticker and reaches its failure bound."""
    release = threading.Event()
    ticks: list[int] = []

    def slow_sync() -> str:
        return "released" if release.wait(10) else "timed out: the tool blocked the loop"

    async def ticker() -> None:
        for i in range(5):
            ticks.append(i)
            await asyncio.sleep(0.01)
        release.set()

    run = asyncio.ensure_future(Agent(TestModel(), tools=[slow_sync]).run("go"))
    await ticker()
    result = await run
    assert ticks == [0, 1, 2, 3, 4]
    assert "released" in result.output, result.output


def test_the_default_request_limit_stops_a_model_that_never_answers() -> None:
    def always_call(messages: list[Any], info: Any) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart(tool_name="noop", args="{}")])

    agent = Agent(FunctionModel(always_call), tools=[lambda: "ok"])
    agent_tools = list(agent.tools)
    assert agent_tools == ["<lambda>"]
    agent = Agent(FunctionModel(always_call))

    @agent.tool_plain
    def noop() -> str:
        return "ok"

    with pytest.raises(UsageLimitExceeded, match="request_limit of 50"):
        agent.run_sync("go")


def test_token_limits() -> None:
    agent = Agent(TestModel(custom_output_text="one two three four five"))
    with pytest.raises(UsageLimitExceeded) as caught:
        agent.run_sync("go", usage_limits=UsageLimits(output_tokens_limit=3))
    assert str(caught.value) == "Exceeded the output_tokens_limit of 3 (output_tokens=5). " + USAGE_LIMITS_HINT
    with pytest.raises(UserError, match="request_limit"):
        UsageLimits(request_limit=-1)


def test_misuse_is_a_user_error_at_decoration_naming_the_function() -> None:
    agent = Agent(TestModel())

    with pytest.raises(UserError, match="without_ctx"):
        @agent.tool
        def without_ctx(x: int) -> int:
            return x

    with pytest.raises(UserError, match="with_ctx"):
        @agent.tool_plain
        def with_ctx(ctx: RunContext[None], x: int) -> int:
            return x

    @agent.tool_plain
    def twice() -> str:
        return ""

    with pytest.raises(UserError, match="'twice'"):
        @agent.tool_plain(name="twice")
        def other() -> str:
            return ""

    with pytest.raises(UserError, match="undocumented"):
        @agent.tool_plain(require_parameter_descriptions=True)
        def undocumented(x: int) -> int:
            """No Args section."""
            return x


def test_tool_options_with_and_without_parentheses() -> None:
    agent = Agent(TestModel(), deps_type=str)

    @agent.tool(name="renamed", description="Custom.", retries=3)
    async def original(ctx: RunContext[str], n: int = 1) -> str:
        return ctx.deps * n

    tool = agent.tools["renamed"]
    assert (tool.description, tool.max_retries, tool.takes_ctx) == ("Custom.", 3, True)
    result = agent.run_sync("go", deps="ab")
    assert json.loads(result.output) == {"renamed": "ab"}


def test_deps_and_run_context_reach_the_tool() -> None:
    seen: dict[str, Any] = {}

    def record(ctx: RunContext[dict], city: str) -> str:
        seen.update(deps=ctx.deps, tool=ctx.tool_name, prompt=ctx.prompt, requests=ctx.usage.requests,
                    messages=len(ctx.messages), call_id=ctx.tool_call_id, model=ctx.model.label)
        return "ok"

    from nbagent import Tool

    agent = Agent(TestModel(), tools=[Tool(record, takes_ctx=True)], deps_type=dict)
    agent.run_sync("where?", deps={"user": "ada"})
    assert seen["deps"] == {"user": "ada"} and seen["tool"] == "record" and seen["prompt"] == "where?"
    assert seen["requests"] == 1 and seen["messages"] == 2 and seen["call_id"] and seen["model"] == "test"


