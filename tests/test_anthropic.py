"""AnthropicModel against the loopback provider: recorded Anthropic exchanges replayed byte for byte,
and what we put on the wire (body, headers) compared with what the real SDK sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbagent import (Agent, AnthropicModel, ModelHTTPError, ModelRequest, ModelResponse, TextPart, UnexpectedModelBehavior,
                     UserError, UserPromptPart)
from nbagent.models import default_model_name
from provider_server import (
    ProviderServer,
    anthropic_json,
    anthropic_stream,
    cassette_request,
    from_cassette,
    raw,
    sse,
)

KEY = "sk-ant-test-0123456789"


pytestmark = pytest.mark.usefixtures("closed_client")


@pytest.fixture
def anthropic_env(provider: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> ProviderServer:
    """Only Anthropic configured, pointing at the loopback server."""
    for name in ("NBAGENT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", provider.anthropic_base_url)
    return provider


def model(provider: ProviderServer, name: str = "claude-sonnet-4-5", **kwargs: Any) -> AnthropicModel:
    return AnthropicModel(name, base_url=provider.anthropic_base_url, api_key=KEY, **kwargs)


def sent_body(provider: ProviderServer, index: int = -1) -> dict[str, Any]:
    request = provider.requests[index]
    assert request.method == "POST" and request.path == "/v1/messages"
    assert isinstance(request.json, dict)
    return request.json


# ------------------------------------------------------------------ recorded exchanges


async def test_cassette_model_instructions_non_stream(provider: ProviderServer) -> None:
    cassette = "test_anthropic_test_anthropic_model_instructions"
    provider.enqueue(from_cassette(cassette))
    agent = Agent(model(provider, "claude-3-opus-latest"), instructions="You are a helpful assistant.")

    result = await agent.run("What is the capital of France?")

    assert result.output == "The capital of France is Paris."
    assert (result.usage().input_tokens, result.usage().output_tokens, result.usage().requests) == (20, 10, 1)
    assert result.response.model_name == "claude-3-opus-20240229"
    assert result.response.finish_reason == "stop"  # PydanticAI's words; the provider's kept beside them
    assert result.response.provider_details == {"finish_reason": "end_turn"}
    assert (result.response.provider_name, result.response.model_id) == ("anthropic", "anthropic:claude-3-opus-latest")
    recorded, ours = cassette_request(cassette), sent_body(provider)
    # PydanticAI ends its system text with a blank line; the content is what matters.
    assert ours.pop("system") == recorded.pop("system").rstrip("\n")
    assert ours == recorded


async def test_cassette_sampling_settings_reach_the_wire(provider: ProviderServer) -> None:
    cassette = "test_anthropic_test_anthropic_sampling_settings_reach_the_wire"
    provider.enqueue(from_cassette(cassette))
    agent = Agent(model(provider, "claude-haiku-4-5"))

    result = await agent.run("hello", model_settings={"temperature": 0.2, "extra_body": {"top_k": 40}})

    assert result.output == "Hello! \N{WAVING HAND SIGN} How can I help you today?"
    assert (result.usage().input_tokens, result.usage().output_tokens) == (8, 16)
    assert sent_body(provider) == cassette_request(cassette)


async def test_cassette_stream_high_max_tokens(provider: ProviderServer) -> None:
    cassette = "test_anthropic_test_request_stream_fallback_for_high_max_tokens"
    provider.enqueue(from_cassette(cassette))
    agent = Agent(model(provider), model_settings={"max_tokens": 32000})

    async with agent.run_stream("What is 1+1? Answer with just the number.") as response:
        deltas = [delta async for delta in response.stream_text(delta=True, debounce_by=None)]
        assert response.is_complete

    assert deltas == ["2"]
    usage = response.usage()
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (20, 5, 1)
    assert response.response is not None and response.response.model_name == "claude-sonnet-4-5-20250929"
    assert response.response.finish_reason == "stop"
    assert response.response.provider_details == {"finish_reason": "end_turn"}
    assert sent_body(provider) == cassette_request(cassette)


async def test_cassette_refused_effort_is_a_typed_short_error(provider: ProviderServer) -> None:
    """A setting we do not model goes through `extra_body` unchanged; the provider's refusal comes
    back as a one-line ModelHTTPError quoting its message."""
    cassette = "test_anthropic_test_anthropic_explicit_effort_xhigh_unsupported_model_errors"
    provider.enqueue(from_cassette(cassette))
    agent = Agent(model(provider, "claude-opus-4-6"), model_settings={"extra_body": {"output_config": {"effort": "xhigh"}}})

    with pytest.raises(ModelHTTPError) as caught:
        await agent.run("What is 2+2?")

    assert caught.value.status_code == 400
    assert str(caught.value) == ("anthropic:claude-opus-4-6 returned HTTP 400: This model does not support effort level "
                                 "'xhigh'. Supported levels: high, low, max, medium.")
    assert sent_body(provider) == cassette_request(cassette)  # the SDK's `?beta=true` query aside


async def test_cassette_redacted_thinking_stream_yields_only_text(provider: ProviderServer) -> None:
    cassette = "test_anthropic_test_anthropic_model_thinking_part_redacted_stream"
    provider.enqueue(from_cassette(cassette))
    recorded = cassette_request(cassette)
    agent = Agent(model(provider, "claude-sonnet-4-5-20250929"))

    async with agent.run_stream(
        recorded["messages"][0]["content"][0]["text"], model_settings={"extra_body": {"thinking": recorded["thinking"]}}
    ) as response:
        text = await response.get_output()

    assert text.startswith("I notice that you've sent what appears to be some kind of test string or command.")
    assert "\n\nI'm Claude, an AI assistant created by Anthropic to be helpful, harmless, and honest." in text
    assert text.endswith("How can I assist you today with a legitimate task or question?")
    assert (response.usage().input_tokens, response.usage().output_tokens) == (92, 189)
    assert sent_body(provider) == recorded


# ------------------------------------------------------------------ streaming and wire mapping


async def test_stream_text_deltas_exact(provider: ProviderServer) -> None:
    pieces = ["Hé", "llo", ",\n", " wörld", " 🎉", " line\u2028separator\u0085", "\n\n```py\nx = 1\n```"]
    provider.enqueue(anthropic_stream(pieces, usage=(7, 11)))
    agent = Agent(model(provider))

    async with agent.run_stream("hi") as response:
        deltas = [delta async for delta in response.stream_text(delta=True, debounce_by=None)]
    assert deltas == pieces
    assert response.is_complete
    assert response.new_messages()[-1].text == "".join(pieces)
    assert (response.usage().input_tokens, response.usage().output_tokens) == (7, 11)

    provider.enqueue(anthropic_stream(pieces))
    async with agent.run_stream("hi") as response:
        grown = [text async for text in response.stream_text(debounce_by=None)]
    assert grown == ["".join(pieces[: i + 1]) for i in range(len(pieces))]


async def test_history_system_prompt_and_settings_on_the_wire(provider: ProviderServer) -> None:
    agent = Agent(model(provider), system_prompt="Be terse.", model_settings={"temperature": 0.5})

    first = await agent.run("first question")
    assert first.output == "Echo: first question"
    async with agent.run_stream(
        "second question",
        message_history=first.all_messages(),
        model_settings={"max_tokens": 77, "top_p": 0.9, "stop_sequences": ["END"], "extra_headers": {"x-trace": "t1"}},
    ) as response:
        assert await response.get_output() == "Echo: second question"

    one, two = sent_body(provider, 0), sent_body(provider, 1)
    assert one == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "first question"}]}],
        "stream": False,
        "system": "Be terse.",
        "temperature": 0.5,
    }
    assert two == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 77,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "first question"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Echo: first question"}]},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
        "stream": True,
        "system": "Be terse.",
        "temperature": 0.5,
        "top_p": 0.9,
        "stop_sequences": ["END"],
    }
    headers = provider.requests[1].headers
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["x-trace"] == "t1"
    assert "authorization" not in headers
    assert [m.kind for m in response.all_messages()] == ["request", "response", "request", "response"]


async def test_consecutive_user_turns_merge_and_empty_answers_are_skipped(provider: ProviderServer) -> None:
    """Anthropic wants alternating roles and non-empty text: a failed turn left in history must not break it."""
    agent = Agent(model(provider))
    question = ModelRequest([UserPromptPart("one")])
    history = [question, question, ModelResponse([TextPart("")])]  # e.g. an answer cancelled before its first word

    await agent.run("two", message_history=history)

    assert sent_body(provider)["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": text} for text in ("one", "one", "two")],
        }
    ]


async def test_non_stream_keeps_text_blocks_only_and_counts_cache_tokens(provider: ProviderServer) -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "let me think", "signature": "sig"},
            {"type": "text", "text": "Forty"},
            {"type": "text", "text": "-two."},
        ],
        "stop_reason": "max_tokens",
        "usage": {
            "input_tokens": 3,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "output_tokens": 9,
        },
    }
    provider.enqueue(raw(200, json.dumps(message), {"Content-Type": "application/json"}))

    result = await Agent(model(provider)).run("q")

    assert result.output == "Forty-two."
    assert (result.response.finish_reason, result.response.provider_details) == ("length",
                                                                                {"finish_reason": "max_tokens"})
    assert (result.usage().input_tokens, result.usage().output_tokens) == (123, 9)


async def test_stream_ignores_thinking_and_ping_events(provider: ProviderServer) -> None:
    events = [
        {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Answer"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
        {"type": "message_stop"},
    ]
    provider.enqueue(sse(events, named=True))

    async with Agent(model(provider)).run_stream("q") as response:
        assert await response.get_output() == "Answer"
    assert (response.usage().input_tokens, response.usage().output_tokens) == (5, 12)
    assert response.response is not None and response.response.model_name == "claude-x"


async def test_overloaded_error_event_mid_stream_is_typed(provider: ProviderServer) -> None:
    events = [
        {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    provider.enqueue(sse(events, named=True))

    async with Agent(model(provider)).run_stream("q") as response:
        seen: list[str] = []
        with pytest.raises(ModelHTTPError) as caught:
            async for delta in response.stream_text(delta=True, debounce_by=None):
                seen.append(delta)
    assert seen == ["Par"]
    assert caught.value.status_code == 529
    assert str(caught.value) == (
        "anthropic:claude-sonnet-4-5 returned HTTP 529: Overloaded (overloaded_error, reported mid-stream) "
        "(the provider is overloaded; try again later)"
    )
    assert not response.is_complete
    assert len(provider.requests) == 1  # never retried once text was delivered


async def test_unknown_error_event_is_unexpected_behavior(provider: ProviderServer) -> None:
    provider.enqueue(sse([{"type": "error", "error": {"type": "weird_error", "message": "boom"}}], named=True))
    async with Agent(model(provider)).run_stream("q") as response:
        with pytest.raises(UnexpectedModelBehavior, match="reported an error mid-stream: boom"):
            await response.get_output()


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize("setting", [{"seed": 1}, {"presence_penalty": 0.5}, {"frequency_penalty": 0.5}])
async def test_unsupported_settings_are_refused_before_sending(
    provider: ProviderServer, setting: dict[str, Any]
) -> None:
    name = next(iter(setting))
    with pytest.raises(UserError, match=f"Anthropic does not support the '{name}' setting"):
        await Agent(model(provider)).run("q", model_settings=setting)
    assert provider.requests == []


async def test_temperature_above_anthropic_range_is_refused(provider: ProviderServer) -> None:
    with pytest.raises(UserError, match="temperature from 0 to 1, got 1.5"):
        await Agent(model(provider)).run("q", model_settings={"temperature": 1.5})
    assert provider.requests == []


async def test_default_model_falls_back_to_anthropic(anthropic_env: ProviderServer) -> None:
    assert default_model_name() == "anthropic:claude-sonnet-4-5"
    agent = Agent()
    assert isinstance(agent.model, AnthropicModel)
    assert agent.model.base_url == anthropic_env.anthropic_base_url

    result = await agent.run("hello there")

    assert result.output == "Echo: hello there"
    assert anthropic_env.requests[0].headers["x-api-key"] == KEY
    assert sent_body(anthropic_env)["model"] == "claude-sonnet-4-5"


async def test_anthropic_model_string_and_repr(anthropic_env: ProviderServer) -> None:
    agent = Agent("anthropic:claude-haiku-4-5")
    assert agent.model.label == "anthropic:claude-haiku-4-5"
    explicit = AnthropicModel("claude-haiku-4-5", api_key="sk-ant-explicit-secret-42", base_url="http://x.invalid")
    for text in (repr(agent), repr(agent.model), repr(explicit)):
        assert KEY not in text and "sk-ant-explicit-secret-42" not in text
    assert repr(explicit) == "AnthropicModel('anthropic:claude-haiku-4-5', base_url='http://x.invalid')"
