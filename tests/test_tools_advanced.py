"""PydanticAI's Advanced Tool Features page, as a user reads it: `ToolReturn`, `Tool.from_schema`,
`prepare=` and `prepare_tools=`, `ToolFailed`, tool timeouts, `sequential=True`, `args_validator`, and
`tool_choice` with `ToolOrOutput`."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

import pytest
from provider_server import ProviderServer, openai_json

from nbagent import (Agent, AgentInfo, BinaryContent, FunctionModel, ModelMessage, ModelResponse, ModelRetry,
                     RetryPromptPart, RunContext, TestModel, TextPart, Tool, ToolCallPart, ToolDefinition, ToolFailed,
                     ToolOrOutput, ToolReturn, ToolReturnPart, UnexpectedModelBehavior, UserError, UserPromptPart)

pytestmark = pytest.mark.usefixtures("closed_client")


def test_tool_return_keeps_metadata_and_sends_content_after_the_results(openai_env: ProviderServer) -> None:
    png = BinaryContent(data=b"\x89PNG\r\n", media_type="image/png")
    openai_env.enqueue(openai_json(None, tool_calls=[("c1", "click_and_capture", '{"x": 3, "y": 4}')]),
                       openai_json("clicked"))
    agent = Agent("openai:gpt-4o")

    @agent.tool_plain
    def click_and_capture(x: int, y: int) -> ToolReturn:
        """Click at coordinates and show a screenshot."""
        return ToolReturn(return_value=f"Successfully clicked at ({x}, {y})", content=["After:", png],
                          metadata={"clicked_at": {"x": x, "y": y}})

    result = agent.run_sync("Click submit")
    request = result.new_messages()[2]
    returned, follow_up = request.parts
    assert isinstance(returned, ToolReturnPart) and returned.content == "Successfully clicked at (3, 4)"
    assert returned.metadata == {"clicked_at": {"x": 3, "y": 4}}
    assert isinstance(follow_up, UserPromptPart) and follow_up.content == ["After:", png]
    wire = openai_env.last_request.json["messages"]
    assert wire[-2] == {"role": "tool", "tool_call_id": "c1", "content": "Successfully clicked at (3, 4)"}
    assert wire[-1]["role"] == "user" and wire[-1]["content"][0] == {"type": "text", "text": "After:"}
    assert "clicked_at" not in str(openai_env.last_request.json)  # metadata stays with the application
    assert Agent(TestModel(), tools=[click_and_capture]).run_sync("go").output == \
        '{"click_and_capture":"Successfully clicked at (0, 0)"}'


def test_a_tool_from_a_json_schema() -> None:
    def foobar(**kwargs: Any) -> str:
        return kwargs["a"] + kwargs["b"]

    tool = Tool.from_schema(function=foobar, name="sum", description="Sum two numbers.", json_schema={
        "additionalProperties": False, "type": "object", "required": ["a", "b"],
        "properties": {"a": {"description": "the first number", "type": "integer"},
                       "b": {"description": "the second number", "type": "integer"}}})
    model = TestModel()
    assert Agent(model, tools=[tool]).run_sync("testing...").output == '{"sum":0}'
    assert model.last_model_request_parameters is not None
    offered = model.last_model_request_parameters.function_tools[0]
    assert (offered.name, offered.description) == ("sum", "Sum two numbers.")
    assert offered.parameters_json_schema["properties"]["a"]["description"] == "the first number"
    with pytest.raises(UserError, match=r"^Tool\.from_schema\('x'\): json_schema must describe an object"):
        Tool.from_schema(foobar, "x", None, {"type": "string"})


def test_prepare_shapes_or_hides_a_tool_on_each_step() -> None:
    agent = Agent(TestModel(), deps_type=int)

    async def only_if_42(ctx: RunContext[int], tool_def: ToolDefinition) -> ToolDefinition | None:
        return tool_def if ctx.deps == 42 else None

    @agent.tool(prepare=only_if_42)
    def hitchhiker(ctx: RunContext[int], answer: str) -> str:
        return f"{ctx.deps} {answer}"

    assert agent.run_sync("testing...", deps=41).output == "success (no tool calls)"
    assert agent.run_sync("testing...", deps=42).output == '{"hitchhiker":"42 a"}'

    def greet(name: str) -> str:
        return f"hello {name}"

    def prepare_greet(ctx: RunContext[Literal["human", "machine"]], tool_def: ToolDefinition) -> ToolDefinition:
        tool_def.parameters_json_schema["properties"]["name"]["description"] = f"Name of the {ctx.deps} to greet."
        return tool_def

    model = TestModel()
    greeter = Agent(model, tools=[Tool(greet, prepare=prepare_greet)], deps_type=Literal["human", "machine"])
    assert greeter.run_sync("testing...", deps="human").output == '{"greet":"hello a"}'
    assert model.last_model_request_parameters is not None
    schema = model.last_model_request_parameters.function_tools[0].parameters_json_schema
    assert schema["properties"]["name"]["description"] == "Name of the human to greet."
    assert "description" not in Tool(greet).tool_def.parameters_json_schema["properties"]["name"]  # a copy changed

    bad = Agent(TestModel(), tools=[Tool(greet, prepare=lambda ctx, tool_def: "yes")])
    with pytest.raises(UserError, match=r"^Tool 'greet': prepare must return a ToolDefinition or None, got str$"):
        bad.run_sync("x")


def test_agent_wide_prepare_tools_comes_after_each_tools_prepare() -> None:
    seen: list[list[str]] = []

    async def turn_on_strict(ctx: RunContext[None], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        seen.append([tool_def.name for tool_def in tool_defs])
        return [ToolDefinition(tool_def.name, tool_def.parameters_json_schema, tool_def.description, strict=True)
                for tool_def in tool_defs]

    model = TestModel()
    agent = Agent(model, prepare_tools=turn_on_strict)

    @agent.tool_plain(prepare=lambda ctx, tool_def: None)
    def hidden() -> str:
        return "never"

    @agent.tool_plain
    def launch_potato(target: str) -> str:
        return f"Potato launched at {target}!"

    assert agent.run_sync("go").output == '{"launch_potato":"Potato launched at a!"}'
    assert seen[0] == ["launch_potato"]
    assert model.last_model_request_parameters is not None
    assert [tool.strict for tool in model.last_model_request_parameters.function_tools] == [True]


def test_tool_failed_is_a_failed_result_and_spends_no_retry(openai_env: ProviderServer) -> None:
    openai_env.enqueue(openai_json(None, tool_calls=[("c1", "read_file", '{"path": "a.txt"}')]),
                       openai_json(None, tool_calls=[("c2", "read_file", '{"path": "b.txt"}')]),
                       openai_json("no such files"))
    agent = Agent("openai:gpt-4o", retries=0)

    @agent.tool_plain
    def read_file(path: str) -> str:
        raise ToolFailed(f"File not found: {path}")

    result = agent.run_sync("read them")
    assert result.output == "no such files"
    failed = result.new_messages()[2].parts[0]
    assert isinstance(failed, ToolReturnPart) and failed.outcome == "failed" and failed.content == "File not found: a.txt"
    assert openai_env.last_request.json["messages"][-1]["content"] == '{"error":"File not found: b.txt"}'


async def test_a_tool_past_its_timeout_is_asked_again_then_fails_the_run() -> None:
    release = asyncio.Event()
    agent = Agent(TestModel(), tool_timeout=30, retries=1)

    @agent.tool_plain(timeout=0.05)
    async def slow_tool() -> str:
        await release.wait()  # never set: only the timeout ends it
        return "Done"

    with pytest.raises(UnexpectedModelBehavior, match=r"^Tool 'slow_tool' exceeded max retries count of 1\. "
                                                      r"Consider raising the retry limit") as caught:
        await agent.run("go")
    assert caught.value.__notes__ == ["last problem: Timed out after 0.05 seconds."]
    agent_default = Agent(TestModel(), tool_timeout=0.05, retries=0)

    @agent_default.tool_plain
    async def hangs() -> str:
        await release.wait()
        return "Done"

    with pytest.raises(UnexpectedModelBehavior, match="Timed out after 0.05 seconds"):
        await agent_default.run("go")
    with pytest.raises(UserError, match=r"^Agent\(tool_timeout=0\): give the seconds a tool may take"):
        Agent(TestModel(), tool_timeout=0)


def test_a_sequential_tool_is_a_barrier() -> None:
    agent = Agent()
    calls: list[str] = []
    fetch_started = threading.Event()

    @agent.tool_plain
    def fetch_record(record_id: int) -> str:
        fetch_started.set()
        calls.append(f"fetch_record({record_id})")
        return f"record-{record_id}"

    @agent.tool_plain(sequential=True)
    def write_to_database(record: str) -> str:
        assert fetch_started.is_set() and calls == ["fetch_record(1)"]  # the call before it has finished
        calls.append(f"write_to_database({record!r})")
        return "written"

    @agent.tool_plain
    def notify(who: str) -> str:
        assert calls[-1] == "write_to_database('data')"  # the call after it waited for it
        calls.append(f"notify({who})")
        return "sent"

    def call_tools(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("fetch_record", {"record_id": 1}),
                                        ToolCallPart("write_to_database", {"record": "data"}),
                                        ToolCallPart("notify", {"who": "ops"})])
        return ModelResponse(parts=[TextPart("done")])

    result = agent.run_sync("store the record", model=FunctionModel(call_tools))
    assert result.output == "done"
    assert calls == ["fetch_record(1)", "write_to_database('data')", "notify(ops)"]
    assert Tool(write_to_database, sequential=True).tool_def.sequential


def test_args_validator_runs_before_the_tool_and_may_ask_again() -> None:
    def validate_sum_limit(ctx: RunContext[int], x: int, y: int) -> None:
        if x + y > ctx.deps:
            raise ModelRetry(f"Sum of x and y must not exceed {ctx.deps}")

    answers = iter([{"x": 60, "y": 50}, {"x": 5, "y": 3}])

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if isinstance(messages[-1].parts[0], (RetryPromptPart, UserPromptPart)):
            return ModelResponse(parts=[ToolCallPart("add_numbers", next(answers))])
        return ModelResponse(parts=[TextPart(str(messages[-1].parts[0].content))])

    agent = Agent(FunctionModel(model), deps_type=int)

    @agent.tool(args_validator=validate_sum_limit)
    def add_numbers(ctx: RunContext[int], x: int, y: int) -> int:
        return x + y

    result = agent.run_sync("add", deps=100)
    assert result.output == "8"
    retry = result.new_messages()[2].parts[0]
    assert isinstance(retry, RetryPromptPart) and retry.content == "Sum of x and y must not exceed 100"


def test_tool_choice_and_tool_or_output() -> None:
    model = TestModel()
    agent = Agent(model)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return f"Sunny in {city}"

    @agent.tool_plain
    def get_time(city: str) -> str:
        return f"12:00 in {city}"

    assert agent.run_sync("Hello", model_settings={"tool_choice": "none"}).output == "success (no tool calls)"
    restricted = agent.run_sync("Hello", model_settings={"tool_choice": ToolOrOutput(function_tools=["get_weather"])})
    assert restricted.output == '{"get_weather":"Sunny in a"}'
    with pytest.raises(UserError, match=r"^tool_choice='required' for a whole run would force a tool call"):
        agent.run_sync("Hello", model_settings={"tool_choice": "required"})
    with pytest.raises(UserError, match=r"^Invalid model setting tool_choice"):
        agent.run_sync("Hello", model_settings={"tool_choice": "sometimes"})


def test_prepare_tools_may_depend_on_the_model() -> None:
    from dataclasses import replace

    from nbagent.capabilities import PrepareTools

    async def turn_on_strict_if_openai(ctx: RunContext[None], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        if ctx.model.system == "openai":
            return [replace(tool_def, strict=True) for tool_def in tool_defs]
        return tool_defs

    test_model = TestModel()
    agent = Agent(test_model, capabilities=[PrepareTools(turn_on_strict_if_openai)])

    @agent.tool_plain
    def echo(message: str) -> str:
        return message

    agent.run_sync("testing...")
    assert test_model.last_model_request_parameters is not None
    assert test_model.last_model_request_parameters.function_tools[0].strict is None
    test_model._system = "openai"  # playing another provider, as PydanticAI's page does
    agent.run_sync("testing with openai...")
    assert test_model.last_model_request_parameters.function_tools[0].strict


def test_a_failed_tool_result_uses_anthropics_error_flag(provider: ProviderServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from provider_server import anthropic_json

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", provider.anthropic_base_url)
    provider.enqueue(anthropic_json(tool_calls=[("toolu_1", "read_file", {"path": "a.txt"})]),
                     anthropic_json("it is missing"))
    agent = Agent("anthropic:claude-sonnet-4-5")

    @agent.tool_plain
    def read_file(path: str) -> str:
        raise ToolFailed(f"File not found: {path}")

    assert agent.run_sync("read a.txt").output == "it is missing"
    [block] = provider.last_request.json["messages"][-1]["content"]
    assert block["type"] == "tool_result" and block["is_error"] is True
    assert block["content"] == '{"error":"File not found: a.txt"}'
