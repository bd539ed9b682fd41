"""Tools on the wire, both protocols, over the loopback server: recorded tool exchanges replayed (our
request bodies compared with what PydanticAI sent), streamed tool calls assembled, histories with tool
calls round-tripped through JSON and sent to the other protocol."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from provider_server import (ProviderServer, anthropic_json, cassette_request, from_cassette, openai_json, openai_stream,
                             sse)

from nbagent import (Agent, AnthropicModel, ModelRequest, ModelResponse, OpenAIModel, RetryPromptPart, TextPart,
                     ToolCallPart, ToolReturnPart, UserPromptPart, messages_from_json)
from nbagent.events import FunctionToolCallEvent, FunctionToolResultEvent, PartDeltaEvent, PartStartEvent
from nbagent.models.base import ModelRequestParameters

pytestmark = pytest.mark.usefixtures("closed_client")
KEY = "sk-test-loopback-0123456789"


def openai_model(provider: ProviderServer, name: str = "gpt-4o-mini") -> OpenAIModel:
    return OpenAIModel(name, base_url=provider.openai_base_url, api_key=KEY)


def anthropic_model(provider: ProviderServer, name: str = "claude-haiku-4-5") -> AnthropicModel:
    return AnthropicModel(name, base_url=provider.anthropic_base_url, api_key=KEY)


def fields(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: body.get(name) for name in names}


def without_strict(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PydanticAI marks a tool strict when it judges the schema strict-compatible; we leave `strict` unset
    unless the user asks (Tool(strict=True)), so it is the one field compared apart."""
    return [{**tool, "function": {k: v for k, v in tool["function"].items() if k != "strict"}} for tool in tools]


def get_capital(country: str) -> str:
    """Get the capital of a country.

    Args:
        country: The country name.
    """
    return {"France": "Paris", "England": "London"}[country]


# ------------------------------------------------------------------ OpenAI: recorded exchanges


def test_openai_tool_rounds_and_history_match_the_recording(provider: ProviderServer) -> None:
    """The recorded second conversation turn: a history holding a tool call, then a new tool round."""
    name = "test_openai_test_multiple_agent_tool_calls"
    recorded = cassette_request(name, 2)["messages"]
    first_call = recorded[1]["tool_calls"][0]
    history = [
        ModelRequest(parts=[UserPromptPart(content="What is the capital of France?")]),
        ModelResponse(parts=[ToolCallPart(tool_name="get_capital", args=first_call["function"]["arguments"],
                                          tool_call_id=first_call["id"])]),
        ModelRequest(parts=[ToolReturnPart(tool_name="get_capital", content="Paris", tool_call_id=first_call["id"])]),
        ModelResponse(parts=[TextPart(content="The capital of France is Paris.\n")]),
    ]
    provider.enqueue(from_cassette(name, 2), from_cassette(name, 3))
    agent = Agent(openai_model(provider), tools=[get_capital])

    result = agent.run_sync("What is the capital of England?", message_history=history)

    assert result.output == "The capital of England is London."
    for index, request in enumerate(provider.requests):
        sent, expected = request.json, cassette_request(name, 2 + index)
        assert fields(sent, "model", "messages", "tool_choice", "stream") == fields(
            expected, "model", "messages", "tool_choice", "stream")
        assert sent["tools"] == expected["tools"]
    assert [m.kind for m in result.new_messages()] == ["request", "response", "request", "response"]
    call = result.new_messages()[1].parts[0]
    assert isinstance(call, ToolCallPart) and call.args_as_dict() == {"country": "England"}
    assert result.usage().requests == 2 and result.usage().tool_calls == 1
    assert (result.usage().input_tokens, result.usage().output_tokens) == (104 + 129, 16 + 9)

    # the conversation saved and loaded back sends the very same request as the recorded last one
    reloaded = messages_from_json(result.all_messages_json())
    assert reloaded == result.all_messages()
    provider.clear()
    params = ModelRequestParameters(function_tools=[agent.tools["get_capital"].tool_def])
    asyncio.run(openai_model(provider).request(reloaded[:-1], {}, params))
    assert provider.last_request.json["messages"] == cassette_request(name, 3)["messages"]


def test_instructions_kept_through_the_tool_round(provider: ProviderServer) -> None:
    name = "test_openai_test_openai_instructions_with_tool_calls_keep_instructions"
    provider.enqueue(from_cassette(name, 0), from_cassette(name, 1))
    agent = Agent(openai_model(provider, "gpt-4.1-mini"), instructions="You are a helpful assistant.")

    @agent.tool_plain
    def get_temperature(city: str) -> float:
        return 20.0

    result = agent.run_sync("What is the temperature in Tokyo?")

    assert result.output == "The temperature in Tokyo is currently 20.0 degrees Celsius."
    for index, request in enumerate(provider.requests):
        expected = cassette_request(name, index)
        assert fields(request.json, "model", "messages", "tool_choice") == fields(expected, "model", "messages", "tool_choice")
        assert without_strict(request.json["tools"]) == without_strict(expected["tools"])
    # a non-str return value goes back as JSON: 20.0 -> "20.0", as recorded


def test_compatible_server_sending_tool_calls_without_id(provider: ProviderServer) -> None:
    name = "test_openai_test_compatible_api_with_tool_calls_without_id"
    provider.enqueue(from_cassette(name, 0), from_cassette(name, 1))
    agent = Agent(OpenAIModel("gemini-2.5-pro-preview-05-06", provider="openai", base_url=provider.openai_base_url,
                              api_key=KEY))

    @agent.tool_plain
    def get_current_time() -> str:
        """Get the current time."""
        return "Noon"

    result = agent.run_sync("What is the current time?")

    assert result.output == "The current time is Noon."
    call = result.new_messages()[1].parts[0]
    assert isinstance(call, ToolCallPart) and call.tool_call_id  # an id of our own, never ""
    second = provider.requests[1].json
    expected = cassette_request(name, 1)
    assert second["messages"][1]["tool_calls"][0]["id"] == second["messages"][2]["tool_call_id"] == call.tool_call_id
    for ours, theirs in zip(second["messages"], expected["messages"]):  # the same but for the made-up id
        ours, theirs = json.loads(json.dumps(ours).replace(call.tool_call_id, "ID")), json.loads(
            json.dumps(theirs).replace(expected["messages"][2]["tool_call_id"], "ID"))
        assert ours == theirs
    assert second["tools"] == expected["tools"]


async def test_groq_stream_tool_use_failed_is_retried_then_succeeds(provider: ProviderServer) -> None:
    """Groq reports a tool call that failed its schema check as an error mid-stream; it becomes a retry
    prompt with the validation errors, worded exactly as PydanticAI sent it, and the run recovers."""
    name = "test_groq_test_tool_use_failed_error_streaming"
    provider.enqueue(*(from_cassette(name, i) for i in range(3)))
    agent = Agent(openai_model(provider, "openai/gpt-oss-120b"),
                  instructions="Be concise. Never use pretty double quotes, just regular ones.")

    @agent.tool_plain
    def get_something_by_name(name: str) -> str:
        return f"Something with name: {name}"

    prompt = ('Please call the "get_something_by_name" tool with non-existent parameters to test error handling; '
              "on the second try you can use valid args")
    async with agent.run_stream(prompt) as response:
        text = "".join([delta async for delta in response.stream_text(delta=True, debounce_by=None)])
        output = await response.get_output()

    assert output == text and output.strip()
    second = provider.requests[1].json
    recorded = cassette_request(name, 1)
    assert second["messages"][3]["content"] == recorded["messages"][3]["content"]  # the retry prompt, verbatim
    assert second["messages"][3]["role"] == "tool"
    assert second["messages"][2]["tool_calls"][0]["function"] == recorded["messages"][2]["tool_calls"][0]["function"]
    third = provider.requests[2].json
    assert third["messages"][4]["tool_calls"] == cassette_request(name, 2)["messages"][4]["tool_calls"]
    assert third["messages"][5] == cassette_request(name, 2)["messages"][5]
    kinds = [type(part).__name__ for message in response.new_messages() for part in message.parts
             if type(part).__name__ != "ThinkingPart"]
    assert kinds == ["UserPromptPart", "ToolCallPart", "RetryPromptPart", "ToolCallPart", "ToolReturnPart",
                     "TextPart"]
    # the streamed `reasoning` is kept as thinking, never in the text, and not sent back to the server
    responses = [m for m in response.new_messages() if m.kind == "response"]
    assert all(r.thinking for r in responses) and "We need" in responses[0].thinking
    assert "content" not in second["messages"][2]


# ------------------------------------------------------------------ OpenAI: streamed tool calls


def _call_chunk(index: int, *, call_id: str | None = None, name: str | None = None, args: str = "") -> dict:
    piece: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        piece.update(id=call_id, type="function")
    if name is not None:
        piece["function"]["name"] = name
    return {"tool_calls": [piece]}


async def test_openai_streamed_calls_interleaved_and_split_are_assembled(provider: ProviderServer) -> None:
    chunks = [
        _call_chunk(0, call_id="call_a", name="get_capital"),
        _call_chunk(1, call_id="call_b", name="get_capital"),
        _call_chunk(0, args='{"coun'),
        _call_chunk(1, args='{"country"'),
        _call_chunk(0, args='try": "Fra'),
        _call_chunk(1, args=': "England"}'),
        _call_chunk(0, args='nce"}'),
    ]
    provider.enqueue(openai_stream(chunks, finish_reason="tool_calls"), openai_stream("Paris and London."))
    agent = Agent(openai_model(provider), tools=[get_capital])

    events = [event async for event in agent.run_stream_events("Capitals of France and England?")]

    calls = [e.part for e in events if isinstance(e, FunctionToolCallEvent)]
    assert [(c.tool_call_id, c.args_as_dict()) for c in calls] == [
        ("call_a", {"country": "France"}), ("call_b", {"country": "England"})]
    results = [e.result for e in events if isinstance(e, FunctionToolResultEvent)]
    assert sorted((r.tool_call_id, r.content) for r in results) == [("call_a", "Paris"), ("call_b", "London")]
    starts = [e for e in events if isinstance(e, PartStartEvent)]
    assert [type(s.part).__name__ for s in starts][:2] == ["ToolCallPart", "ToolCallPart"]
    arg_pieces = [e.delta.args_delta for e in events if isinstance(e, PartDeltaEvent)
                  and e.delta.part_delta_kind == "tool_call"]
    assert len(arg_pieces) == 5  # streamed fragment by fragment, not at the end
    tool_messages = [m for m in provider.requests[1].json["messages"] if m["role"] == "tool"]
    assert tool_messages == [{"role": "tool", "tool_call_id": "call_a", "content": "Paris"},
                             {"role": "tool", "tool_call_id": "call_b", "content": "London"}]
    assert events[-1].result.output == "Paris and London."


async def test_run_stream_never_yields_tool_call_json(provider: ProviderServer) -> None:
    provider.enqueue(
        openai_stream([_call_chunk(0, call_id="c1", name="get_capital", args='{"country": "France"}')],
                      finish_reason="tool_calls"),
        openai_stream("It is Paris."),
    )
    agent = Agent(openai_model(provider), tools=[get_capital])
    async with agent.run_stream("Capital of France?") as response:
        deltas = [delta async for delta in response.stream_text(delta=True, debounce_by=None)]
    assert "".join(deltas) == "It is Paris."
    assert response.is_complete and await response.get_output() == "It is Paris."
    assert response.usage().requests == 2


# ------------------------------------------------------------------ Anthropic


def test_anthropic_parallel_tool_calls_match_the_recording(provider: ProviderServer) -> None:
    name = "test_anthropic_test_multiple_parallel_tool_calls"
    provider.enqueue(from_cassette(name, 0), from_cassette(name, 1))
    recorded = cassette_request(name, 0)
    facts = {"Alice": "alice is bob's wife", "Bob": "bob is alice's husband", "Charlie": "charlie is alice's son",
             "Daisy": "daisy is bob's daughter and charlie's younger sister"}
    agent = Agent(anthropic_model(provider), instructions=recorded["system"])

    @agent.tool_plain
    async def retrieve_entity_info(name: str) -> str:
        """Get the knowledge about the given entity."""
        return facts[name]

    result = agent.run_sync("Alice, Bob, Charlie and Daisy are a family. Who is the youngest?")

    assert "Daisy" in result.output
    for index, request in enumerate(provider.requests):
        expected = cassette_request(name, index)
        assert fields(request.json, "model", "max_tokens", "messages", "system", "tool_choice", "tools", "stream") == \
            fields(expected, "model", "max_tokens", "messages", "system", "tool_choice", "tools", "stream")


async def test_anthropic_streamed_tool_use_with_input_json_deltas(provider: ProviderServer) -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": [],
               "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
    tool_stream = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me look."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_capital", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"coun'}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": 'try": "France"}'}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}},
        {"type": "message_stop"},
    ]
    answer = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Paris."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    provider.enqueue(sse(tool_stream, named=True), sse(answer, named=True))
    agent = Agent(anthropic_model(provider), tools=[get_capital])

    async with agent.run_stream("Capital of France?") as response:
        text = "".join([delta async for delta in response.stream_text(delta=True, debounce_by=None)])
        output = await response.get_output()

    assert output == "Paris."
    assert text == "Let me look.Paris."  # the remark before the tool call streams too; no tool JSON
    sent = provider.requests[1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_capital", "input": {"country": "France"}}]}
    assert sent[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Paris", "is_error": False}]}
    assert provider.requests[0].json["tools"] == [{
        "name": "get_capital", "description": "Get the capital of a country.",
        "input_schema": {"type": "object", "additionalProperties": False, "required": ["country"],
                         "properties": {"country": {"type": "string", "description": "The country name."}}}}]


# ------------------------------------------------------------------ across protocols


def test_a_history_with_tool_calls_goes_to_the_other_protocol(provider: ProviderServer) -> None:
    provider.enqueue(openai_json(None, tool_calls=[("call_x1", "get_capital", '{"country": "France"}')]),
                     openai_json("Paris."))
    openai_agent = Agent(openai_model(provider), tools=[get_capital])
    first = openai_agent.run_sync("Capital of France?")

    anthropic_agent = Agent(anthropic_model(provider), tools=[get_capital])
    second = anthropic_agent.run_sync("Thanks!", message_history=messages_from_json(first.all_messages_json()))

    assert second.output  # the echo server answered the Anthropic request
    sent = provider.last_request.json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[1]["content"] == [{"type": "tool_use", "id": "call_x1", "name": "get_capital",
                                   "input": {"country": "France"}}]
    assert sent[2]["content"] == [{"type": "tool_result", "tool_use_id": "call_x1", "content": "Paris",
                                   "is_error": False}]


def test_retry_prompts_on_both_protocols(provider: ProviderServer) -> None:
    history = [
        ModelRequest(parts=[UserPromptPart(content="q")]),
        ModelResponse(parts=[ToolCallPart(tool_name="get_capital", args="{not json", tool_call_id="c1")]),
        ModelRequest(parts=[RetryPromptPart(content="bad arguments", tool_name="get_capital", tool_call_id="c1")]),
    ]
    asyncio.run(openai_model(provider).request(history, {}))
    openai_sent = provider.last_request.json["messages"]
    assert openai_sent[1]["tool_calls"][0]["function"]["arguments"] == "{not json"  # as the model sent it
    assert openai_sent[2] == {"role": "tool", "tool_call_id": "c1",
                              "content": "bad arguments\n\nFix the errors and try again."}
    asyncio.run(anthropic_model(provider).request(history, {}))
    anthropic_sent = provider.last_request.json["messages"]
    assert anthropic_sent[1]["content"][0]["input"] == {"invalid_arguments": "{not json"}
    assert anthropic_sent[2]["content"][0] == {"type": "tool_result", "tool_use_id": "c1", "is_error": True,
                                               "content": "bad arguments\n\nFix the errors and try again."}


def test_tool_return_values_are_sent_as_text(provider: ProviderServer) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        name: str
        population: int

    returns = [ToolReturnPart(tool_name="t", content=value, tool_call_id=f"c{i}")
               for i, value in enumerate(["plain", {"a": [1, 2]}, City(name="Paris", population=2100000), 3.5, None])]
    assert [part.model_response_str() for part in returns] == [
        "plain", '{"a":[1,2]}', '{"name":"Paris","population":2100000}', "3.5", "null"]


# ------------------------------------------------------------------ images


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_images_in_the_prompt_on_both_protocols(provider: ProviderServer) -> None:
    from nbagent import BinaryContent, ImageUrl

    prompt = ["What is in this plot?", BinaryContent(data=PNG, media_type="image/png"),
              ImageUrl(url="https://example.org/chart.jpg")]
    Agent(openai_model(provider)).run_sync(prompt)
    user = provider.last_request.json["messages"][-1]
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert user == {"role": "user", "content": [
        {"type": "text", "text": "What is in this plot?"},
        {"type": "image_url", "image_url": {"url": data_uri}},
        {"type": "image_url", "image_url": {"url": "https://example.org/chart.jpg"}}]}

    result = Agent(anthropic_model(provider)).run_sync(prompt)
    blocks = provider.last_request.json["messages"][-1]["content"]
    assert blocks == [
        {"type": "text", "text": "What is in this plot?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": base64.b64encode(PNG).decode()}},
        {"type": "image", "source": {"type": "url", "url": "https://example.org/chart.jpg"}}]
    # in the JSON round trip, the bytes come back as bytes
    reloaded = messages_from_json(result.all_messages_json())
    assert reloaded[0].parts[0].content[1] == BinaryContent(data=PNG, media_type="image/png")


def test_a_tool_returning_an_image(provider: ProviderServer) -> None:
    from nbagent import BinaryContent

    def plot() -> BinaryContent:
        """Draw the plot."""
        return BinaryContent(data=PNG, media_type="image/png")

    provider.enqueue(openai_json(None, tool_calls=[("c1", "plot", "{}")]), openai_json("A line."))
    Agent(openai_model(provider), tools=[plot]).run_sync("Show me")
    sent = provider.last_request.json["messages"]
    assert sent[-2] == {"role": "tool", "tool_call_id": "c1",
                        "content": "The result is the image/png image that follows."}
    assert sent[-1] == {"role": "user", "content": [{"type": "text", "text": "The image(s) plot returned (c1):"},
                                                     {"type": "image_url", "image_url": {"url": DATA_URI}}]}

    provider.clear()
    provider.enqueue(anthropic_json("", tool_calls=[("c1", "plot", {})]), anthropic_json("A line."))
    Agent(anthropic_model(provider), tools=[plot]).run_sync("Show me")
    result_block = provider.last_request.json["messages"][-1]["content"][0]
    assert result_block["type"] == "tool_result" and result_block["content"][1]["type"] == "image"


def test_a_tool_returning_data_with_images(provider: ProviderServer) -> None:
    """A tool may return a list holding its data and images (as read_cell does with a cell's plots): OpenAI's
    tool message takes text only, so the data goes there and the images follow in a user message, named by
    call; Anthropic's tool_result holds the text block and the image blocks. The list survives the JSON
    round trip, and compaction names the images in its one line."""
    from nbagent import BinaryContent, ImageUrl
    from nbagent.compaction import cut_bulk

    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 8

    def cell() -> list[Any]:
        """What a cell showed."""
        return [{"summary": "In[3], 2 line(s)", "images": ["image 1", "image 2"]},
                BinaryContent(data=PNG, media_type="image/png"), BinaryContent(data=jpeg, media_type="image/jpeg")]

    def chart() -> list[Any]:
        """A chart."""
        return ["the chart", ImageUrl(url="https://example.org/chart.jpg")]

    calls = [("c1", "cell", "{}"), ("c2", "chart", "{}")]
    provider.enqueue(openai_json(None, tool_calls=calls), openai_json("Two plots and a chart."))
    result = Agent(openai_model(provider), tools=[cell, chart]).run_sync("What did cell 3 show?")
    sent = provider.last_request.json["messages"]
    text = ('{"summary":"In[3], 2 line(s)","images":["image 1","image 2"]}\n\n'
            "With the 2 image(s) that follow: image/png image, image/jpeg image.")
    assert sent[-3:] == [
        {"role": "tool", "tool_call_id": "c1", "content": text},
        {"role": "tool", "tool_call_id": "c2",
         "content": "the chart\n\nWith the 1 image(s) that follow: image at https://example.org/chart.jpg."},
        {"role": "user", "content": [
            {"type": "text", "text": "The image(s) cell returned (c1):"},
            {"type": "image_url", "image_url": {"url": DATA_URI}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}},
            {"type": "text", "text": "The image(s) chart returned (c2):"},
            {"type": "image_url", "image_url": {"url": "https://example.org/chart.jpg"}}]}]

    reloaded = messages_from_json(result.all_messages_json())
    assert reloaded == result.all_messages()
    returned = reloaded[2].parts[0]
    assert returned.files == [BinaryContent(data=PNG, media_type="image/png"), BinaryContent(data=jpeg, media_type="image/jpeg")]
    assert returned.content[0] == {"summary": "In[3], 2 line(s)", "images": ["image 1", "image 2"]}
    [compacted], cut = cut_bulk([reloaded[2]])
    assert cut == 2 and compacted.parts[0].content == (
        f"[cell returned image/png image, image/jpeg image, {len(text):,} characters, cut to save context; "
        f"it began: {text.splitlines()[0]}]")

    provider.clear()
    provider.enqueue(anthropic_json("", tool_calls=[("c1", "cell", {})]), anthropic_json("Two plots."))
    Agent(anthropic_model(provider), tools=[cell]).run_sync("What did cell 3 show?")
    [result_block] = provider.last_request.json["messages"][-1]["content"]
    assert result_block == {"type": "tool_result", "tool_use_id": "c1", "is_error": False, "content": [
        {"type": "text", "text": text},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}}]}


def test_a_server_refusing_images_is_one_line(provider: ProviderServer) -> None:
    from provider_server import error

    from nbagent import BinaryContent, ModelHTTPError, UserError

    provider.enqueue(error(400, "This model does not support image inputs."))
    with pytest.raises(ModelHTTPError) as caught:
        Agent(openai_model(provider)).run_sync(["Look", BinaryContent(data=PNG, media_type="image/png")])
    assert "\n" not in str(caught.value) and "does not support image inputs" in str(caught.value)
    with pytest.raises(UserError, match="take images, not application/pdf"):
        Agent(openai_model(provider)).run_sync(["Read", BinaryContent(data=b"%PDF", media_type="application/pdf")])
    with pytest.raises(UserError, match="The prompt must be a str or a list"):
        Agent(openai_model(provider)).run_sync(["Look", 42])
