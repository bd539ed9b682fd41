"""Prompt caching: Anthropic `cache_control` breakpoints from PydanticAI's setting names, cached tokens read
from both protocols into usage (`cache_read_tokens`, `cache_write_tokens`), and a 20-turn conversation
replayed against the loopback server's prompt cache, its cached share per turn printed and checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_server import ProviderServer, raw
from prompt_cache import PromptCache

from nbagent import Agent, UserError
from nbagent.models.anthropic import AnthropicModel
from nbagent.models.openai import OpenAIModel

CACHE_ALL = {"anthropic_cache_instructions": True, "anthropic_cache_tool_definitions": "1h",
             "anthropic_cache_messages": True}


def anthropic_agent(provider: ProviderServer, **settings: Any) -> Agent[None, str]:
    model = AnthropicModel("claude-sonnet-4-5", base_url=provider.anthropic_base_url, api_key="sk-ant-test")
    agent = Agent(model, instructions="You are terse. " * 30, model_settings=settings)

    @agent.tool_plain
    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    return agent


def test_breakpoints_on_the_instructions_the_tools_and_the_last_message(provider: ProviderServer) -> None:
    agent = anthropic_agent(provider, **CACHE_ALL)
    agent.run_sync("first question")
    body = provider.requests[0].json
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["messages"][-1]["content"][-1] == {"type": "text", "text": "first question",
                                                   "cache_control": {"type": "ephemeral"}}
    assert "cache_control" not in body


def test_the_automatic_breakpoint_and_its_checks(provider: ProviderServer) -> None:
    anthropic_agent(provider, anthropic_cache=True).run_sync("q")
    assert provider.requests[0].json["cache_control"] == {"type": "ephemeral"}
    with pytest.raises(UserError, match="anthropic_cache and anthropic_cache_messages both"):
        Agent("test", model_settings={"anthropic_cache": True, "anthropic_cache_messages": True})
    with pytest.raises(UserError, match="anthropic_cache_instructions='2h'"):
        Agent("test", model_settings={"anthropic_cache_instructions": "2h"})


def test_openai_requests_ignore_anthropic_cache_settings(provider: ProviderServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=provider.openai_base_url, api_key="sk-test")
    Agent(model, model_settings=CACHE_ALL).run_sync("q")
    assert not any(key.startswith("anthropic") or key == "cache_control" for key in provider.requests[0].json)


async def replay(agent: Agent[None, str], turns: int, stream: bool) -> list[Any]:
    """A conversation of `turns` questions, each asked with the history so far; the usage of each turn."""
    history: list[Any] = []
    usages = []
    for turn in range(turns):
        question = f"question {turn}: " + "tell me more about the data " * 5
        if stream:
            async with agent.run_stream(question, message_history=history) as result:
                await result.get_output()
        else:
            result = await agent.run(question, message_history=history)
        history = result.all_messages()
        usages.append(result.usage())
    return usages


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
async def test_twenty_turns_read_the_conversation_from_the_cache(provider: ProviderServer, protocol: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    provider.prompt_cache = PromptCache()
    if protocol == "anthropic":
        agent = anthropic_agent(provider, **CACHE_ALL)
    else:
        agent = Agent(OpenAIModel("gpt-4o", base_url=provider.openai_base_url, api_key="sk-test"),
                      instructions="You are terse. " * 30)
    usages = await replay(agent, 20, stream=protocol == "anthropic")
    shares = [usage.cache_hit_ratio for usage in usages]
    with capsys.disabled():
        print(f"\n{protocol} cached share per turn: " + " ".join(f"{share:.0%}" for share in shares))
    assert shares[0] == 0 and all(later > earlier for earlier, later in zip(shares[1:], shares[2:]))
    assert shares[-1] > 0.9
    for usage in usages[1:]:
        # every turn re-reads what the one before sent: its whole input but the new question and last answer
        assert 0 < usage.cache_read_tokens < usage.input_tokens
    if protocol == "anthropic":
        assert usages[0].cache_write_tokens == usages[0].input_tokens  # the first turn writes it all
        assert all(u.cache_read_tokens + u.cache_write_tokens == u.input_tokens for u in usages)
    else:
        assert all(u.cache_write_tokens == 0 for u in usages)


def test_cached_token_fields_of_both_protocols_read_into_usage(provider: ProviderServer) -> None:
    """The usage shapes of real responses: OpenAI's (and OpenRouter's) prompt_tokens_details, Anthropic's
    cache_read_input_tokens / cache_creation_input_tokens beside an input_tokens that excludes them."""
    openai_usage = {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                    "prompt_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 64, "audio_tokens": 0}}
    provider.enqueue(raw(200, json.dumps({"id": "c", "object": "chat.completion", "model": "gpt-4o", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": openai_usage}), {"Content-Type": "application/json"}))
    model = OpenAIModel("gpt-4o", base_url=provider.openai_base_url, api_key="sk-test")
    usage = Agent(model).run_sync("q").usage()
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (2006, 1920, 64)

    provider.enqueue(raw(200, json.dumps({"id": "m", "type": "message", "role": "assistant", "model": "claude",
                                          "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                                          "usage": {"input_tokens": 20, "cache_creation_input_tokens": 100,
                                                    "cache_read_input_tokens": 1800, "output_tokens": 5}}),
                         {"Content-Type": "application/json"}))
    usage = anthropic_agent(provider).run_sync("q").usage()
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1920, 1800, 100)
    assert usage.cache_hit_ratio == 1800 / 1920
