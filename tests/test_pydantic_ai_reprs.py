"""Messages, tool definitions and run nodes print and carry fields as PydanticAI v2's do, so the docs blocks
that print a conversation (Messages and chat history, Function Tools, Advanced Tools, Agents pages) read the
same: fields at their default left out, a response's usage per request (`RequestUsage`), `model_id` and
`provider_name` on responses, a timestamp and the instructions on every request of a run, a tool's
description apart from its schema and its `toolset_id`. Old saved histories still load."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from pydantic import BaseModel

from nbagent import (Agent, ModelRequest, ModelResponse, RequestUsage, RunContext, RunUsage, TestModel, TextPart,
                     Tool, ToolDefinition, UserError)
from nbagent.messages import messages_from_json, messages_to_json


def masked(value: object) -> str:
    """The repr with what changes from run to run (times, ids) replaced, as the docs print `...`."""
    text = re.sub(r"datetime\.datetime\([^)]*\)", "<datetime>", repr(value))
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    return re.sub(r"\b(pyd_ai_|call_)[A-Za-z0-9_]+", "<id>", text)


def test_a_run_prints_its_messages_as_the_message_history_page() -> None:
    agent = Agent(TestModel(), instructions="Be a helpful assistant.")
    result = agent.run_sync("Tell me a joke.")
    assert masked(result.all_messages()) == (
        "[ModelRequest(parts=[UserPromptPart(content='Tell me a joke.', timestamp=<datetime>)], timestamp=<datetime>, "
        "instructions='Be a helpful assistant.', run_id='<uuid>', conversation_id='<uuid>'), "
        "ModelResponse(parts=[TextPart(content='success (no tool calls)')], "
        "usage=RequestUsage(input_tokens=55, output_tokens=4), model_name='test', model_id='test:test', "
        "timestamp=<datetime>, provider_name='test', run_id='<uuid>', conversation_id='<uuid>')]"
    )


def test_every_request_of_a_run_has_its_time_and_instructions_and_responses_their_model() -> None:
    agent = Agent(TestModel(), instructions="Roll and tell.")

    @agent.tool_plain
    def roll_dice() -> str:
        return "4"

    result = agent.run_sync("My guess is 4")
    requests = [m for m in result.all_messages() if isinstance(m, ModelRequest)]
    responses = [m for m in result.all_messages() if isinstance(m, ModelResponse)]
    assert len(requests) == 2 and len(responses) == 2
    assert all(isinstance(r.timestamp, datetime) and r.instructions == "Roll and tell." for r in requests)
    for response in responses:
        assert isinstance(response.usage, RequestUsage) and response.usage.requests == 1
        assert (response.model_id, response.provider_name, response.finish_reason) == ("test:test", "test", None)
    assert "ToolReturnPart(tool_name='roll_dice', content='4'" in repr(requests[1])
    # the run's usage still counts the requests and the tool calls, and sums the tokens
    usage = result.usage
    assert (usage.requests, usage.tool_calls) == (2, 1)
    assert usage.input_tokens == sum(r.usage.input_tokens for r in responses)


def test_a_hand_built_request_has_no_timestamp_and_prints_only_what_was_given() -> None:
    from nbagent import UserPromptPart

    request = ModelRequest(parts=[UserPromptPart("hi", timestamp=datetime(2026, 1, 1))])
    assert request.timestamp is None
    assert repr(request) == ("ModelRequest(parts=[UserPromptPart(content='hi', "
                             "timestamp=datetime.datetime(2026, 1, 1, 0, 0))])")


def test_request_usage_keeps_cache_tokens_and_the_run_sums_them() -> None:
    run = RunUsage(requests=1)
    run.incr(RequestUsage(input_tokens=100, output_tokens=5, cache_read_tokens=80, cache_write_tokens=10))
    assert (run.requests, run.input_tokens, run.cache_read_tokens, run.cache_write_tokens) == (1, 100, 80, 10)
    assert repr(RequestUsage(input_tokens=3, cache_read_tokens=2)) == "RequestUsage(input_tokens=3, cache_read_tokens=2)"


def test_a_run_usage_given_to_a_response_keeps_its_tokens() -> None:
    """The v1 spelling: a response built with the run's usage type."""
    response = ModelResponse(parts=[TextPart("x")], usage=RunUsage(requests=1, tool_calls=2, input_tokens=7,
                                                                   cache_read_tokens=3))
    assert response.usage == RequestUsage(input_tokens=7, cache_read_tokens=3)
    with pytest.raises(ValueError, match="bogus"):
        RequestUsage(bogus=1)


def test_a_history_saved_with_run_usage_on_responses_loads_and_round_trips() -> None:
    saved = (b'[{"kind":"request","parts":[{"part_kind":"user-prompt","content":"hi",'
             b'"timestamp":"2026-01-01T00:00:00Z"}],"instructions":"Be brief."},'
             b'{"kind":"response","parts":[{"part_kind":"text","content":"hello"}],"model_name":"gpt-4o",'
             b'"timestamp":"2026-01-01T00:00:01Z","usage":{"input_tokens":12,"output_tokens":3,"requests":1,'
             b'"tool_calls":0,"cache_read_tokens":8,"cache_write_tokens":0},"finish_reason":"stop"}]')
    messages = messages_from_json(saved)
    response = messages[1]
    assert isinstance(response, ModelResponse)
    assert response.usage == RequestUsage(input_tokens=12, output_tokens=3, cache_read_tokens=8)
    assert (response.model_id, response.provider_name, messages[0].timestamp) == (None, None, None)
    assert messages_from_json(messages_to_json(messages)) == messages


class Foobar(BaseModel):
    """This is a Foobar"""

    x: int
    y: str
    z: float = 3.14


class Point(BaseModel):
    """A point."""

    x: int


def test_a_single_parameter_tool_is_described_as_the_function_tools_page() -> None:
    agent = Agent()

    @agent.tool_plain
    def foobar(f: Foobar) -> str:
        return str(f)

    test_model = TestModel()
    assert agent.run_sync("hello", model=test_model).output == '{"foobar":"x=0 y=\'a\' z=3.14"}'
    assert repr(test_model.last_model_request_parameters.function_tools) == (
        "[ToolDefinition(name='foobar', parameters_json_schema={'properties': {'x': {'type': 'integer'}, "
        "'y': {'type': 'string'}, 'z': {'default': 3.14, 'type': 'number'}}, 'required': ['x', 'y'], "
        "'title': 'Foobar', 'type': 'object'}, description='This is a Foobar', toolset_id='<agent>')]"
    )


def test_a_tools_own_docstring_describes_it_and_the_models_stays_in_the_schema() -> None:
    def move(p: Point) -> str:
        """Move there."""
        return ""

    tool_def = Tool(move).tool_def
    assert tool_def.description == "Move there."
    assert tool_def.parameters_json_schema["description"] == "A point."
    assert tool_def.toolset_id is None  # a Tool alone belongs to no agent yet


def test_tool_definitions_print_without_defaults_and_say_whose_they_are() -> None:
    tool_def = ToolDefinition("greet", {"type": "object", "properties": {}})
    assert repr(tool_def) == "ToolDefinition(name='greet', parameters_json_schema={'type': 'object', 'properties': {}})"
    assert repr(ToolDefinition("t", description="d", strict=True, sequential=True)) == (
        "ToolDefinition(name='t', parameters_json_schema={'type': 'object', 'properties': {}}, description='d', "
        "strict=True, sequential=True)")
    with pytest.raises(UserError, match="second field is parameters_json_schema"):
        ToolDefinition("greet", "a description")  # type: ignore[arg-type]

    model = TestModel()
    Agent(model, output_type=int).run_sync("x")
    (output_tool,) = model.last_model_request_parameters.output_tools
    assert (output_tool.kind, output_tool.toolset_id, output_tool.outer_typed_dict_key) == ("output", "<output>",
                                                                                             "response")


def test_a_prepared_tool_sees_its_toolset_id() -> None:
    seen: list[str | None] = []

    async def prepare(ctx: RunContext[None], tool_def: ToolDefinition) -> ToolDefinition:
        seen.append(tool_def.toolset_id)
        return tool_def

    def greet(name: str) -> str:
        return f"hello {name}"

    Agent(TestModel(), tools=[Tool(greet, prepare=prepare)]).run_sync("hi")
    assert seen and set(seen) == {"<agent>"}


async def test_agent_iter_nodes_print_as_the_agents_page() -> None:
    agent = Agent(TestModel())
    nodes = []
    async with agent.iter("What is the capital of France?") as agent_run:
        async for node in agent_run:
            nodes.append(node)
    assert masked(nodes) == (
        "[UserPromptNode(user_prompt='What is the capital of France?', instructions_functions=[], system_prompts=(), "
        "system_prompt_functions=[], system_prompt_dynamic_functions={}), "
        "ModelRequestNode(request=ModelRequest(parts=[UserPromptPart(content='What is the capital of France?', "
        "timestamp=<datetime>)], timestamp=<datetime>, run_id='<uuid>', conversation_id='<uuid>')), "
        "CallToolsNode(model_response=ModelResponse(parts=[TextPart(content='success (no tool calls)')], "
        "usage=RequestUsage(input_tokens=56, output_tokens=4), model_name='test', model_id='test:test', "
        "timestamp=<datetime>, provider_name='test', run_id='<uuid>', conversation_id='<uuid>')), "
        "End(data=FinalResult(output='success (no tool calls)'))]"
    )


async def test_the_first_node_shows_the_agents_prompts() -> None:
    agent = Agent(TestModel(), instructions="Be brief.", system_prompt="You are a bot.")

    @agent.system_prompt(dynamic=True)
    def today() -> str:
        return "Today is Monday."

    async with agent.iter("hi") as agent_run:
        first = agent_run.next_node
    assert first.instructions == "Be brief." and first.system_prompts == ("You are a bot.",)
    assert first.system_prompt_functions == [today]
    assert list(first.system_prompt_dynamic_functions.values()) == [today]


def test_a_function_models_response_keeps_what_the_function_said_of_it() -> None:
    from nbagent import AgentInfo, FunctionModel, ModelMessage

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("hi")], usage=RequestUsage(input_tokens=7), finish_reason="length",
                             provider_name="mine")

    result = Agent(FunctionModel(answer)).run_sync("x")
    response = result.all_messages()[-1]
    assert (response.usage, response.finish_reason, response.provider_name) == (
        RequestUsage(input_tokens=7), "length", "mine")
    assert (result.usage.input_tokens, result.usage.requests) == (7, 1)

    def bare(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("hi")])

    response = Agent(FunctionModel(bare)).run_sync("x").all_messages()[-1]
    assert response.usage == RequestUsage(input_tokens=51, output_tokens=1)  # guessed, as PydanticAI's
    assert (response.finish_reason, response.provider_name, response.model_id) == (None, None, "function:bare")


def test_printing_a_message_shows_its_repr() -> None:
    response = ModelResponse(parts=[TextPart("hi")])
    assert str(response) == repr(response) and str(response).startswith("ModelResponse(parts=[TextPart(content='hi')]")


async def test_openai_finish_reasons_in_pydantic_ais_words_the_providers_kept(openai_env) -> None:
    """A provider's reason for stopping, in PydanticAI's words ('stop', 'length', 'tool_call', ...), both when
    streamed and not; the provider's own word stays in `provider_details`."""
    from provider_server import openai_json, openai_stream, openai_tool_stream

    agent = Agent("openai:gpt-4o")

    @agent.tool_plain
    def lookup(key: str) -> str:
        return "42"

    openai_env.enqueue(openai_json(tool_calls=[("call_1", "lookup", '{"key":"a"}')]), openai_json("done",
                                                                                                  finish_reason="length"))
    result = await agent.run("q")
    first, last = (m for m in result.all_messages() if isinstance(m, ModelResponse))
    assert (first.finish_reason, first.provider_details) == ("tool_call", {"finish_reason": "tool_calls"})
    assert (last.finish_reason, last.provider_details) == ("length", {"finish_reason": "length"})
    assert (last.provider_name, last.model_id) == ("openai", "openai:gpt-4o")

    openai_env.enqueue(openai_tool_stream([("call_2", "lookup", '{"key":"b"}')]),
                       openai_stream("odd", finish_reason="something_new"))
    async with agent.run_stream("q") as streamed:
        await streamed.get_output()
    first, last = (m for m in streamed.all_messages() if isinstance(m, ModelResponse))
    assert (first.finish_reason, first.provider_details) == ("tool_call", {"finish_reason": "tool_calls"})
    assert (last.finish_reason, last.provider_details) == (None, {"finish_reason": "something_new"})


def test_a_tool_return_prints_its_outcome_after_its_time_as_the_deferred_tools_page() -> None:
    from nbagent import ToolReturnPart

    part = ToolReturnPart("delete_file", "Deleting files is not allowed", "delete_file", outcome="denied",
                          timestamp=datetime(2026, 1, 1))
    assert repr(part) == ("ToolReturnPart(tool_name='delete_file', content='Deleting files is not allowed', "
                          "tool_call_id='delete_file', timestamp=datetime.datetime(2026, 1, 1, 0, 0), outcome='denied')")
    assert ToolReturnPart("t", "x").tool_call_id  # an id of its own when none is given, as PydanticAI's


def test_media_takes_its_leading_fields_positionally_and_prints_short() -> None:
    from nbagent import BinaryContent, ImageUrl

    image = ImageUrl("https://example.com/cat.png")
    assert image.url == "https://example.com/cat.png" and repr(image) == "ImageUrl(url='https://example.com/cat.png')"
    binary = BinaryContent(b"\x89PNG", "image/png")
    assert (binary.data, binary.media_type) == (b"\x89PNG", "image/png")
    assert repr(binary) == "BinaryContent(<4 bytes>, media_type='image/png')"  # never the bytes themselves
