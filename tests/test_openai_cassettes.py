"""Recorded OpenAI(-compatible) exchanges replayed through the loopback server: what we send must match
what the real SDK sent, and what we parse must match what the real provider answered."""

from __future__ import annotations

import pytest
from provider_server import cassette_request, from_cassette

from nbagent import Agent, ModelHTTPError, UnexpectedModelBehavior


def wire_fields(body: dict, *names: str) -> dict:
    return {name: body.get(name) for name in names}


def test_valid_response(openai_env):
    name = "test_openai_test_valid_response"
    openai_env.enqueue(from_cassette(name))
    result = Agent("openai:gpt-4o").run_sync("What is the capital of France?")
    assert result.output == "The capital of France is Paris."
    assert (result.usage().input_tokens, result.usage().output_tokens) == (14, 7)
    assert result.response.model_name == "gpt-4o-2024-08-06"
    assert openai_env.last_request.json == cassette_request(name)


def test_max_completion_tokens(openai_env):
    name = "test_openai_test_max_completion_tokens[gpt-4o-mini]"
    openai_env.enqueue(from_cassette(name))
    result = Agent("openai:gpt-4o-mini").run_sync("hello", model_settings={"max_tokens": 100})
    assert result.output == "Hello! How can I assist you today?"
    assert openai_env.last_request.json == cassette_request(name)


def test_extra_headers_and_extra_body(openai_env):
    name = "test_openai_test_extra_headers"
    openai_env.enqueue(from_cassette(name))
    result = Agent("openai:gpt-4o").run_sync(
        "hello", model_settings={"extra_headers": {"xProxy-Limit-IDs": "monthly_budget"}, "extra_body": {"n": 1}}
    )
    assert result.output == "Hello! How can I assist you today?"
    assert openai_env.last_request.json == cassette_request(name)
    assert openai_env.last_request.headers["xproxy-limit-ids"] == "monthly_budget"


async def test_streamed_answer_with_usage(openai_env):
    name = "test_openai_test_run_stream_sync_streams_real_model"
    openai_env.enqueue(from_cassette(name, 1))
    async with Agent("openai:gpt-4o-mini").run_stream("What is the capital of the UK?") as response:
        deltas = [delta async for delta in response.stream_text(delta=True)]
    assert "".join(deltas) == "The capital of the UK is London."
    assert len(deltas) > 5  # really streamed, piece by piece
    assert response.is_complete
    recorded_usage = (response.usage().input_tokens, response.usage().output_tokens)
    assert recorded_usage != (0, 0)
    sent = openai_env.last_request.json
    recorded = cassette_request(name, 1)
    assert wire_fields(sent, "model", "stream", "stream_options") == wire_fields(recorded, "model", "stream", "stream_options")


async def test_streamed_answer_with_extra_chunks(openai_env):
    """A gpt-5 stream with moderation chunks after the usage chunk: ignored, text and usage intact."""
    name = "test_openai_test_openai_moderation_stream"
    openai_env.enqueue(from_cassette(name))
    async with Agent("openai:gpt-5").run_stream(
        "What is the capital of France?", model_settings={"extra_body": {"moderation": {"model": "omni-moderation-latest"}}}
    ) as response:
        text = await response.get_output()
    assert "Paris" in text
    assert (response.usage().input_tokens, response.usage().output_tokens) == (13, 11)
    assert openai_env.last_request.json == cassette_request(name)


@pytest.mark.parametrize("name", ["test_crusoe_test_crusoe_model_streaming", "test_snowflake_test_snowflake_model_streaming",
                                  "test_cache_test_openrouter_cache_streaming_e2e"])
async def test_compatible_providers_streams(openai_env, name):
    openai_env.enqueue(from_cassette(name))
    async with Agent("openai:some-model").run_stream("hi") as response:
        text = await response.get_output()
    assert text.strip()
    assert response.is_complete


def test_provider_error_is_typed_and_short(openai_env):
    openai_env.enqueue(from_cassette("test_openai_test_openai_o1_mini_system_role[system]"))
    agent = Agent("openai:o1-mini", instructions="You are a helpful assistant.")
    with pytest.raises(ModelHTTPError) as caught:
        agent.run_sync("hello")
    assert caught.value.status_code == 400
    assert str(caught.value) == (
        "openai:o1-mini returned HTTP 400: Unsupported value: 'messages[0].role' does not support 'system' with this model."
    )
    assert openai_env.last_request.json["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}


@pytest.mark.parametrize("name", ["test_openai_test_invalid_response", "test_openai_test_text_response"])
def test_a_response_that_is_not_a_completion(openai_env, name):
    openai_env.enqueue(from_cassette(name))
    with pytest.raises(UnexpectedModelBehavior, match="not a Chat Completion"):
        Agent("openai:gpt-4o").run_sync("What is the capital of France?")


async def test_mid_stream_provider_error(openai_env):
    openai_env.enqueue(from_cassette("test_openrouter_test_openrouter_stream_error"))
    with pytest.raises(UnexpectedModelBehavior, match="Token limit reached"):
        async with Agent("openai:minimax").run_stream("hi") as response:
            await response.get_output()
