"""History processors and capabilities, shaped like PydanticAI's message-history and capabilities pages:
`Agent(history_processors=[...])` and `capabilities=[ProcessHistory(fn)]` (sync / async, with or without
`RunContext`), `PrepareTools`, a subclass of `AbstractCapability`; the processed history sent to the
loopback provider over HTTP, and checks of what a processor may return."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from nbagent import (Agent, AgentInfo, FunctionModel, ModelMessage, ModelRequest, ModelResponse, RunContext, TextPart,
                     ToolCallPart, ToolDefinition, UserError, UserPromptPart)
from nbagent.capabilities import AbstractCapability, ModelRequestContext, PrepareTools, ProcessHistory
from nbagent.models.openai import OpenAIModel
from provider_server import ProviderServer, openai_json, openai_stream

HISTORY = [
    ModelRequest(parts=[UserPromptPart(content="Question 1")]),
    ModelResponse(parts=[TextPart(content="Answer 1")]),
]


def capture() -> tuple[FunctionModel, list[list[ModelMessage]], list[list[str]]]:
    """A model that records the messages and the tool names each request was given."""
    received: list[list[ModelMessage]] = []
    tools: list[list[str]] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        received.append(list(messages))
        tools.append([tool.name for tool in info.function_tools])
        return ModelResponse(parts=[TextPart(content="Provider response")])

    return FunctionModel(reply), received, tools


def filter_responses(messages: list[ModelMessage]) -> list[ModelMessage]:
    return [message for message in messages if isinstance(message, ModelRequest)]


def test_the_docs_test_of_a_history_processor() -> None:
    model, received, _ = capture()
    agent = Agent(model, capabilities=[ProcessHistory(filter_responses)])
    agent.run_sync("Question 2", message_history=HISTORY)
    assert [[part.content for part in message.parts] for message in received[0]] == [["Question 1"], ["Question 2"]]


@pytest.mark.parametrize("spelling", ["history_processors", "capabilities"])
async def test_async_and_context_processors_apply_in_order(spelling: str) -> None:
    model, received, _ = capture()
    seen: list[tuple[int, str]] = []

    async def keep_recent(messages: list[ModelMessage]) -> list[ModelMessage]:
        return messages[-2:]

    def note_deps(ctx: RunContext[str], messages: list[ModelMessage]) -> list[ModelMessage]:
        seen.append((len(messages), ctx.deps))
        return messages

    processors = [keep_recent, note_deps]
    agent: Agent[str, str] = (Agent(model, deps_type=str, history_processors=processors) if spelling == "history_processors"
                              else Agent(model, deps_type=str, capabilities=[ProcessHistory(p) for p in processors]))
    history = [*HISTORY, ModelRequest(parts=[UserPromptPart(content="Question 2")]),
               ModelResponse(parts=[TextPart(content="Answer 2")])]
    result = await agent.run("Question 3", message_history=history, deps="Ada")
    assert seen == [(2, "Ada")]
    assert [message.kind for message in received[0]] == ["response", "request"]
    # the processed history replaces the run's; new_messages() is still what this run added
    assert [message.kind for message in result.all_messages()] == ["response", "request", "response"]
    assert [message.kind for message in result.new_messages()] == ["request", "response"]
    assert history[-1].parts[0].content == "Answer 2"  # the caller's list untouched


async def test_a_processor_runs_before_every_request_of_a_tool_loop(provider: ProviderServer) -> None:
    provider.enqueue(openai_json(None, tool_calls=[("c1", "lookup", '{"key": "a"}')]), openai_json("done"))
    model = OpenAIModel("gpt-4o", base_url=provider.openai_base_url, api_key="sk-test")
    sizes: list[int] = []

    def drop_old_turns(ctx: RunContext[None], messages: list[ModelMessage]) -> list[ModelMessage]:
        sizes.append(len(messages))
        return messages[2:] if len(messages) > 3 and ctx.run_step == 0 else messages

    agent = Agent(model, history_processors=[drop_old_turns])

    @agent.tool_plain
    def lookup(key: str) -> str:
        return key.upper()

    result = await agent.run("Look it up", message_history=HISTORY + HISTORY)
    assert result.output == "done"
    assert sizes == [5, 5]  # 3 after trimming, then the call and its return
    bodies = [request.json for request in provider.requests]
    assert [m["content"] for m in bodies[0]["messages"]] == ["Question 1", "Answer 1", "Look it up"]
    assert [m["role"] for m in bodies[1]["messages"]] == ["user", "assistant", "user", "assistant", "tool"]
    assert [message.kind for message in result.new_messages()] == ["request", "response", "request", "response"]


async def test_streamed_runs_are_processed_too(provider: ProviderServer) -> None:
    provider.enqueue(openai_stream("streamed"))
    model = OpenAIModel("gpt-4o", base_url=provider.openai_base_url, api_key="sk-test")
    agent = Agent(model, history_processors=[filter_responses])
    async with agent.run_stream("Question 2", message_history=HISTORY) as result:
        assert await result.get_output() == "streamed"
    sent = provider.requests[0].json["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [("user", "Question 1"), ("user", "Question 2")]


def test_prepare_tools_hides_a_tool_from_the_model_and_from_calls() -> None:
    calls: list[str] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(",".join(tool.name for tool in info.function_tools))
        if len(calls) == 1:
            return ModelResponse(parts=[ToolCallPart(tool_name="delete_file", args={"path": "x"})])
        return ModelResponse(parts=[TextPart(content=str(messages[-1].parts[0].content))])

    async def hide_dangerous(ctx: RunContext[Any], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        return [td for td in tool_defs if not td.name.startswith("delete_")]

    agent = Agent(FunctionModel(reply), capabilities=[PrepareTools(hide_dangerous)])
    deleted: list[str] = []

    @agent.tool_plain
    def delete_file(path: str) -> str:
        """Delete a file."""
        deleted.append(path)
        return f"deleted {path}"

    @agent.tool_plain
    def read_file(path: str) -> str:
        """Read a file."""
        return f"contents of {path}"

    result = agent.run_sync("hello")
    assert calls == ["read_file", "read_file"]
    assert deleted == [] and "Unknown tool name: 'delete_file'. Available tools: 'read_file'" in result.output


@dataclass
class HideDangerousTools(AbstractCapability[Any]):
    hidden_prefixes: tuple[str, ...] = ("delete_", "drop_")

    async def prepare_tools(self, ctx: RunContext[Any], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        return [td for td in tool_defs if not any(td.name.startswith(p) for p in self.hidden_prefixes)]


@dataclass
class Deps:
    user_name: str


@dataclass
class PersonalGreeter(AbstractCapability[Deps]):
    def get_model_settings(self) -> Any:
        return {"temperature": 0.25}

    async def before_model_request(self, ctx: RunContext[Deps], request_context: ModelRequestContext) -> ModelRequestContext:
        request_context.messages = [*request_context.messages[:-1], ModelRequest(
            parts=[UserPromptPart(content=f"{ctx.deps.user_name} asks: hi")])]
        return request_context


def test_a_subclassed_capability_changes_what_is_sent(provider: ProviderServer) -> None:
    provider.enqueue(openai_json("hello Alice"))
    model = OpenAIModel("gpt-4o", base_url=provider.openai_base_url, api_key="sk-test")
    agent = Agent(model, deps_type=Deps, capabilities=[HideDangerousTools(), PersonalGreeter()])

    @agent.tool_plain
    def drop_table(name: str) -> str:
        return name

    result = agent.run_sync("hi", deps=Deps(user_name="Alice"))
    body = provider.requests[0].json
    assert body["messages"][-1]["content"] == "Alice asks: hi" and body["temperature"] == 0.25
    assert "tools" not in body
    # only what was sent changed: the run's own history keeps the question as asked
    assert result.new_messages()[0].parts[0].content == "hi"


def test_processors_with_the_wrong_shape_are_one_line_errors() -> None:
    with pytest.raises(UserError, match=r"history processor: .*three must be fn\(messages\) or fn\(ctx"):
        def three(a: Any, b: Any, c: Any) -> Any:
            return a
        Agent("test", history_processors=[three])
    with pytest.raises(UserError, match="capabilities= takes AbstractCapability instances"):
        Agent("test", capabilities=[filter_responses])  # type: ignore[list-item]

    agent = Agent("test", history_processors=[lambda messages: messages[:-1]])
    with pytest.raises(UserError, match="must return messages ending with a ModelRequest"):
        agent.run_sync("q", message_history=HISTORY)
    agent = Agent("test", history_processors=[lambda messages: None])
    with pytest.raises(UserError, match="must return a list of ModelRequest / ModelResponse, got NoneType"):
        agent.run_sync("q")


def test_the_history_survives_a_json_round_trip_after_processing() -> None:
    agent = Agent("test", history_processors=[filter_responses])
    result = agent.run_sync("Question 2", message_history=HISTORY)
    assert json.loads(result.all_messages_json())[0]["kind"] == "request"
    again = agent.run_sync("Question 3", message_history=result.all_messages())
    assert again.output
