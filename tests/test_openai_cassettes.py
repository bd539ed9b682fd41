"""Recorded OpenAI(-compatible) exchanges replayed through the loopback server. Both sides are
checked exactly: the request we send equals the one the real client sent (where a difference is
ours by design, it is named and only that field is set aside), and the answer we parse — text,
usage, model name, error — equals what the recording holds.

The cassettes live in tests/fixtures/cassettes/pydantic-ai/ (a copy of the recordings, so a clean
clone has all it needs). Where each one is replayed:
  here: the OpenAI chat cassettes, the compatible providers (Crusoe, Snowflake, OpenRouter) and
    a text output function after a tool call (test_openai_text_output_function);
  tests/test_anthropic.py: the Anthropic exchanges, among them the refused `xhigh` effort;
  tests/test_output.py: the structured-output exchanges, among them Ollama's native output;
  tests/test_tools_wire.py, tests/test_thinking.py, tests/test_provider_server.py: the rest.
Out of scope, replayed nowhere, because nbagent does not offer what they record:
  test_anthropic_advisor_tool_stream — Anthropic's advisor server tool (`advisor_20260301`), a
    provider-side builtin tool; we cannot send its request;
  test_openai_web_search_tool_model_not_supported — the builtin web-search tool
    (`web_search_options`), likewise.
  Partly: test_openrouter_cache_streaming_e2e records prompt-cache points (`cache_control`), which
    we do not send; its answer, usage and the rest of its request are checked.
"""

from __future__ import annotations

from typing import Any

import pytest
from provider_server import cassette_replies, cassette_request, from_cassette

from nbagent import Agent, ModelHTTPError, TextOutput, Tool, UnexpectedModelBehavior


def usage_of(result: Any) -> tuple[int, int, int]:
    usage = result.usage()
    return usage.requests, usage.input_tokens, usage.output_tokens


def sent_requests(server: Any) -> list[Any]:
    return [request.json for request in server.requests]


def test_valid_response(openai_env):
    name = "test_openai_test_valid_response"
    openai_env.enqueue(from_cassette(name))
    result = Agent("openai:gpt-4o").run_sync("What is the capital of France?")
    assert result.output == "The capital of France is Paris."
    assert usage_of(result) == (1, 14, 7)
    assert result.response.model_name == "gpt-4o-2024-08-06"
    assert sent_requests(openai_env) == [cassette_request(name)]


def test_max_completion_tokens(openai_env):
    name = "test_openai_test_max_completion_tokens[gpt-4o-mini]"
    openai_env.enqueue(from_cassette(name))
    result = Agent("openai:gpt-4o-mini").run_sync("hello", model_settings={"max_tokens": 100})
    assert result.output == "Hello! How can I assist you today?"
    assert usage_of(result) == (1, 8, 9)
    assert result.response.model_name == "gpt-4o-mini-2024-07-18"
    assert sent_requests(openai_env) == [cassette_request(name)]


def test_extra_headers_and_extra_body(openai_env):
    name = "test_openai_test_extra_headers"
    openai_env.enqueue(from_cassette(name))
    result = Agent("openai:gpt-4o").run_sync(
        "hello", model_settings={"extra_headers": {"xProxy-Limit-IDs": "monthly_budget"}, "extra_body": {"n": 1}}
    )
    assert result.output == "Hello! How can I assist you today?"
    assert usage_of(result) == (1, 8, 10)
    assert sent_requests(openai_env) == [cassette_request(name)]
    assert openai_env.last_request.headers["xproxy-limit-ids"] == "monthly_budget"


def test_a_text_output_function_after_a_tool_call(openai_env):
    """Two rounds: the model calls the tool, we send its result back, the model answers in text, and
    the text output function makes the output of it."""
    name = "test_openai_test_openai_text_output_function"
    openai_env.enqueue(*cassette_replies(name))

    def get_user_country() -> str:
        return "Mexico"

    def upcase(text: str) -> str:
        return text.upper()

    agent = Agent("openai:gpt-4o", tools=[get_user_country], output_type=TextOutput(upcase))
    result = agent.run_sync("What is the largest city in the user country?")
    assert result.output == "THE LARGEST CITY IN MEXICO IS MEXICO CITY."
    assert result.response.parts[-1].content == "The largest city in Mexico is Mexico City."
    assert usage_of(result) == (2, 42 + 63, 11 + 10)
    assert sent_requests(openai_env) == [cassette_request(name, 0), cassette_request(name, 1)]


def as_we_send_it(recorded: dict[str, Any]) -> dict[str, Any]:
    """The recorded request with the one field we send differently: an assistant message that only
    calls tools goes without `content` (null and absent mean the same to the API)."""
    for message in recorded["messages"]:
        if message["role"] == "assistant" and message.get("content") is None:
            message.pop("content", None)
    return recorded


async def test_streamed_tool_round_then_answer_with_usage(openai_env):
    name = "test_openai_test_run_stream_sync_streams_real_model"
    openai_env.enqueue(*cassette_replies(name))

    def get_capital(country: str) -> str:
        return "London"

    async with Agent("openai:gpt-4o-mini", tools=[Tool(get_capital, strict=True)]).run_stream(
        "What is the capital of the UK? Use the tool, then answer."
    ) as response:
        deltas = [delta async for delta in response.stream_text(delta=True, debounce_by=None)]
    assert "".join(deltas) == "The capital of the UK is London."
    assert len(deltas) == 8  # as recorded, piece by piece
    assert response.is_complete
    assert usage_of(response) == (2, 53 + 78, 15 + 9)
    assert response.response is not None and response.response.model_name == "gpt-4o-mini-2024-07-18"
    last = response.response.usage
    assert (last.input_tokens, last.output_tokens) == (78, 9)
    assert sent_requests(openai_env) == [as_we_send_it(cassette_request(name, 0)), as_we_send_it(cassette_request(name, 1))]


async def test_streamed_answer_with_extra_chunks(openai_env):
    """A gpt-5 stream with moderation chunks after the usage chunk: ignored, text and usage intact."""
    name = "test_openai_test_openai_moderation_stream"
    openai_env.enqueue(from_cassette(name))
    async with Agent("openai:gpt-5").run_stream(
        "What is the capital of France?", model_settings={"extra_body": {"moderation": {"model": "omni-moderation-latest"}}}
    ) as response:
        text = await response.get_output()
    assert text == "Paris."
    assert usage_of(response) == (1, 13, 11)
    assert sent_requests(openai_env) == [cassette_request(name)]


@pytest.mark.parametrize(
    ("name", "model", "prompt", "text", "tokens"),
    [("test_crusoe_test_crusoe_model_streaming", "meta-llama/Llama-3.3-70B-Instruct",
      "Count from 1 to 5, comma separated.", "1, 2, 3, 4, 5", (46, 14)),
     ("test_snowflake_test_snowflake_model_streaming", "claude-sonnet-4-6",
      "What is 2 + 2? Reply with just the number.", "4", (22, 5))],
)
async def test_compatible_providers_streams(openai_env, name, model, prompt, text, tokens):
    openai_env.enqueue(from_cassette(name))
    async with Agent(f"openai:{model}").run_stream(prompt) as response:
        assert await response.get_output() == text
    assert response.is_complete
    assert usage_of(response) == (1, *tokens)
    assert sent_requests(openai_env) == [cassette_request(name)]


async def test_openrouter_stream_with_processing_comments(openai_env):
    """OpenRouter's `: OPENROUTER PROCESSING` keep-alive comments are skipped. The recording marks
    its messages as prompt-cache points (`cache_control` text blocks), which we do not send: the
    same texts go as plain strings, and the rest of the request is compared exactly."""
    name = "test_cache_test_openrouter_cache_streaming_e2e"
    recorded = cassette_request(name)
    system, user = ([block["text"] for block in message["content"]] for message in recorded.pop("messages"))
    openai_env.enqueue(from_cassette(name))
    async with Agent("openai:anthropic/claude-sonnet-4.6", system_prompt=system[0]).run_stream(user[0]) as response:
        assert await response.get_output() == "Hello!"
    assert usage_of(response) == (1, 254, 5)
    sent = openai_env.last_request.json
    assert sent.pop("messages") == [{"role": "system", "content": system[0]}, {"role": "user", "content": user[0]}]
    assert sent == recorded


def test_provider_error_is_typed_and_short(openai_env):
    name = "test_openai_test_openai_o1_mini_system_role[system]"
    openai_env.enqueue(from_cassette(name))
    agent = Agent("openai:o1-mini", instructions="You are a helpful assistant.")
    with pytest.raises(ModelHTTPError) as caught:
        agent.run_sync("Hello", model_settings={"extra_body": {"n": 1}})
    assert caught.value.status_code == 400
    assert str(caught.value) == (
        "openai:o1-mini returned HTTP 400: Unsupported value: 'messages[0].role' does not support 'system' with this model."
    )
    assert sent_requests(openai_env) == [cassette_request(name)]


@pytest.mark.parametrize("name", ["test_openai_test_invalid_response", "test_openai_test_text_response"])
def test_a_response_that_is_not_a_completion(openai_env, name):
    openai_env.enqueue(from_cassette(name))
    with pytest.raises(UnexpectedModelBehavior, match="not a Chat Completion"):
        Agent("openai:gpt-4o").run_sync("What is the capital of France?")
    assert sent_requests(openai_env) == [cassette_request(name)]


async def test_mid_stream_provider_error(openai_env):
    name = "test_openrouter_test_openrouter_stream_error"
    openai_env.enqueue(from_cassette(name))
    with pytest.raises(UnexpectedModelBehavior) as caught:
        async with Agent("openai:minimax/minimax-m2:free").run_stream(
            "Hello there", model_settings={"max_tokens": 10}
        ) as response:
            await response.get_output()
    assert str(caught.value) == "openai:minimax/minimax-m2:free reported an error mid-stream: Token limit reached (code 400)"
    assert sent_requests(openai_env) == [cassette_request(name)]
