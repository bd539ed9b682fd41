"""Provider presets: each OpenAI-compatible service reached at its base URL (overridable by
<NAME>_BASE_URL) with its usual key variable; a missing key names the variable; local servers need no
key and list what they serve."""

from __future__ import annotations

import pytest
from provider_server import ProviderServer, openai_json, unused_port

from nbagent import Agent, ModelConnectionError, UserError
from nbagent.models import PROVIDERS
from nbagent.models.http import served_models

pytestmark = pytest.mark.usefixtures("closed_client")
PRESETS = [name for name, provider in PROVIDERS.items() if provider.protocol == "openai" and name != "openai"]


def test_the_presets_users_have() -> None:
    assert set(PRESETS) >= {"groq", "mistral", "deepseek", "together", "fireworks", "cerebras", "openrouter",
                            "gemini", "lmstudio", "vllm", "ollama"}
    assert PROVIDERS["gemini"].base_url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert PROVIDERS["groq"].key_env == "GROQ_API_KEY" and PROVIDERS["ollama"].key_env is None


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_speaks_chat_completions_with_its_key(name: str, provider: ProviderServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    preset = PROVIDERS[name]
    monkeypatch.setenv(preset.base_url_env, provider.openai_base_url)
    key = f"sk-{name}-loopback-0123456789"
    monkeypatch.setenv(preset.optional_key_env, key)
    provider.enqueue(openai_json("hi"))
    assert Agent(f"{name}:some-model").run_sync("hello", model_settings={"max_tokens": 5}).output == "hi"
    request = provider.last_request
    assert request.headers["authorization"] == f"Bearer {key}"
    assert request.json["model"] == "some-model" and request.json["max_tokens"] == 5  # not OpenAI's own name


@pytest.mark.parametrize("name", [name for name in PRESETS if not PROVIDERS[name].local])
def test_a_missing_key_names_the_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROVIDERS[name].key_env or "", raising=False)
    with pytest.raises(UserError, match=rf"^No API key for {name}:m: set the {PROVIDERS[name].key_env} environment"):
        Agent(f"{name}:m").run_sync("hello")


async def test_local_servers_need_no_key_and_list_their_models(provider: ProviderServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", provider.openai_base_url)
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    assert await served_models(PROVIDERS["ollama"]) == ["llama3.2", "qwen2.5-coder"]
    assert "authorization" not in provider.last_request.headers
    monkeypatch.setenv("LMSTUDIO_BASE_URL", f"http://127.0.0.1:{unused_port()}/v1")
    with pytest.raises(ModelConnectionError, match=r"^lmstudio: no server at http://127\.0\.0\.1:\d+/v1 "
                                                   r"\(start it, or set LMSTUDIO_BASE_URL\)$"):
        await served_models(PROVIDERS["lmstudio"])


@pytest.mark.parametrize("written, preset", [("google-gla:gemini-2.5-flash", "gemini"),
                                             ("google:gemini-2.5-flash", "gemini"),
                                             ("openai-chat:gpt-4o", "openai")])
def test_pydantic_ai_provider_names_reach_the_same_presets(written: str, preset: str, provider: ProviderServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDERS[preset].base_url_env, provider.openai_base_url)
    monkeypatch.setenv(PROVIDERS[preset].optional_key_env, "sk-alias-loopback-0123456789")
    provider.enqueue(openai_json("hi"))
    agent = Agent(written)
    assert agent.model.label == f"{preset}:{written.split(':')[1]}"
    assert agent.run_sync("hello").output == "hi"
    assert provider.last_request.json["model"] == written.split(":")[1]


def test_openai_chat_model_is_pydantic_ai_v2s_name() -> None:
    from nbagent import OpenAIChatModel, OpenAIModel

    assert OpenAIChatModel is OpenAIModel
    assert OpenAIChatModel("gpt-4o", provider="google-gla").label == "gemini:gpt-4o"


def test_the_responses_api_is_pointed_to_chat_completions() -> None:
    with pytest.raises(UserError, match=r"^'openai-responses:gpt-5': nbagent speaks Chat Completions, not the "
                                        r"Responses API; write 'openai:gpt-5'$"):
        Agent("openai-responses:gpt-5")
