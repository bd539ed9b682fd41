"""Thinking models over the loopback server: Anthropic thinking / redacted thinking and OpenAI-compatible
reasoning become `ThinkingPart`s (never text), round-trip through JSON, are sent back where the protocol
requires (Anthropic's own, with its signature) and dropped where they must not go; the settings that
ask for them are validated."""

from __future__ import annotations

from typing import Any

import pytest
from provider_server import ProviderServer, cassette_request, from_cassette, openai_json, sse

from nbagent import (Agent, AnthropicModel, ModelRequest, ModelResponse, OpenAIModel, TextPart, UserError,
                     UserPromptPart, messages_from_json)
from nbagent.events import PartDeltaEvent, PartStartEvent
from nbagent.messages import ThinkingPart

pytestmark = pytest.mark.usefixtures("closed_client")
KEY = "sk-test-loopback-0123456789"


def anthropic_model(provider: ProviderServer, name: str = "claude-sonnet-4-0") -> AnthropicModel:
    return AnthropicModel(name, base_url=provider.anthropic_base_url, api_key=KEY)


def openai_model(provider: ProviderServer, name: str = "gpt-4o", system: str = "openai") -> OpenAIModel:
    return OpenAIModel(name, provider=system, base_url=provider.openai_base_url, api_key=KEY)


async def test_anthropic_thinking_stream_recorded(provider: ProviderServer) -> None:
    name = "test_anthropic_test_anthropic_model_thinking_part_stream"
    provider.enqueue(from_cassette(name))
    agent = Agent(anthropic_model(provider), model_settings={"thinking": 1024})

    async with agent.run_stream("How do I cross the street?") as response:
        text = "".join([delta async for delta in response.stream_text(delta=True, debounce_by=None)])

    sent = provider.last_request.json
    assert sent["thinking"] == cassette_request(name)["thinking"] == {"budget_tokens": 1024, "type": "enabled"}
    final = response.response
    assert final is not None and text == final.text and text.startswith("Here are")
    (thinking,) = [part for part in final.parts if isinstance(part, ThinkingPart)]
    assert thinking.content.startswith("This") and thinking.signature and thinking.provider_name == "anthropic"
    assert thinking.content not in text
    assert messages_from_json(response.all_messages_json()) == response.all_messages()

    # the next turn sends Claude's thinking back, verbatim, with its signature
    provider.clear()
    Agent(anthropic_model(provider)).run_sync("Thanks", message_history=response.all_messages())
    assistant = provider.last_request.json["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": thinking.content, "signature": thinking.signature}
    assert assistant[1] == {"type": "text", "text": text}


async def test_anthropic_redacted_thinking_stream_recorded(provider: ProviderServer) -> None:
    name = "test_anthropic_test_anthropic_model_thinking_part_redacted_stream"
    provider.enqueue(from_cassette(name))
    prompt = cassette_request(name)["messages"][0]["content"][0]["text"]
    agent = Agent(anthropic_model(provider, "claude-sonnet-4-5-20250929"), model_settings={"thinking": 1024})
    async with agent.run_stream(prompt) as response:
        text = await response.get_output()
    assert text.startswith("I notice that you've sent what")
    redacted = [part for part in response.response.parts if isinstance(part, ThinkingPart)]
    assert len(redacted) == 2  # two redacted blocks in this recording
    assert all(part.redacted and part.content == "" and part.signature for part in redacted)
    provider.clear()
    Agent(anthropic_model(provider)).run_sync("ok", message_history=response.all_messages())
    assert provider.last_request.json["messages"][1]["content"][:2] == [
        {"type": "redacted_thinking", "data": part.signature} for part in redacted]


async def test_openrouter_streaming_reasoning_recorded(provider: ProviderServer) -> None:
    name = "test_openrouter_test_openrouter_streaming_reasoning"
    provider.enqueue(from_cassette(name))
    agent = Agent(openai_model(provider, "anthropic/claude-sonnet-4.5", "openrouter"), model_settings={"thinking": True})

    events = [event async for event in agent.run_stream_events("What is 2+2?")]

    sent = provider.last_request.json
    assert sent["reasoning"] == cassette_request(name)["reasoning"] == {"enabled": True}
    result = events[-1].result
    assert result.output == "2 + 2 = 4"
    assert result.response.thinking == "This is a simple arithmetic question. 2+2 equals 4."
    starts = [event.part for event in events if isinstance(event, PartStartEvent)]
    assert isinstance(starts[0], ThinkingPart) and isinstance(starts[1], TextPart)  # reasoning streams first
    assert any(isinstance(e, PartDeltaEvent) and e.delta.part_delta_kind == "thinking" for e in events)


async def test_thinking_kept_through_an_anthropic_tool_loop(provider: ProviderServer) -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-0", "content": [],
               "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
    thinking_then_call = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "I should look "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "it up."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-123"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}},
        {"type": "message_stop"},
    ]
    answer = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "42."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    provider.enqueue(sse(thinking_then_call, named=True), sse(answer, named=True))
    agent = Agent(anthropic_model(provider), model_settings={"thinking": 2048})

    @agent.tool_plain
    def lookup() -> str:
        return "42"

    async with agent.run_stream("What is the answer?") as response:
        text = "".join([delta async for delta in response.stream_text(delta=True, debounce_by=None)])
    assert text == "42."  # thinking never in the text
    assistant = provider.requests[1].json["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "I should look it up.", "signature": "sig-123"}
    assert assistant[1]["type"] == "tool_use"


def test_reasoning_is_dropped_where_it_must_not_go(provider: ProviderServer) -> None:
    history: list[Any] = [
        ModelRequest(parts=[UserPromptPart(content="q")]),
        ModelResponse(parts=[ThinkingPart(content="hmm", signature="sig", provider_name="anthropic"),
                             ThinkingPart(content="deep", provider_name="deepseek"), TextPart(content="a")]),
    ]
    Agent(openai_model(provider)).run_sync("next", message_history=history)
    assert provider.last_request.json["messages"][1] == {"role": "assistant", "content": "a"}
    Agent(anthropic_model(provider)).run_sync("next", message_history=history)
    assert provider.last_request.json["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "text", "text": "a"}]


def test_deepseek_reasoning_content_in_a_whole_answer(provider: ProviderServer) -> None:
    reply = openai_json("Four.")
    provider.enqueue(reply)
    result = Agent(openai_model(provider, "deepseek-reasoner")).run_sync("2+2?", model_settings={"reasoning_effort": "high"})
    assert provider.last_request.json["reasoning_effort"] == "high"
    assert result.output == "Four."


@pytest.mark.parametrize("settings,model_kind,message", [
    ({"thinking": 512}, "anthropic", "at least 1024 tokens and below max_tokens"),
    ({"thinking": 5000}, "anthropic", "below max_tokens \\(4096\\)"),
    ({"reasoning_effort": "high"}, "anthropic", "takes a thinking budget, not reasoning_effort"),
    ({"thinking": 2048}, "openai", "take reasoning_effort .* not a thinking budget"),
    ({"reasoning_effort": "extreme"}, "openai", "Invalid model setting reasoning_effort='extreme'"),
    ({"thinking": "yes"}, "openai", "Invalid model setting thinking"),
])
def test_reasoning_settings_are_validated(provider: ProviderServer, settings: dict[str, Any], model_kind: str,
                                          message: str) -> None:
    model = anthropic_model(provider) if model_kind == "anthropic" else openai_model(provider)
    with pytest.raises(UserError, match=message):
        Agent(model).run_sync("x", model_settings=settings)
    assert provider.requests == []  # refused before anything was sent
