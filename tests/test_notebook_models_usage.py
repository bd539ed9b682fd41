"""`%agent_models` and `%agent_usage` in a real kernel: the loopback provider stands in for OpenAI and
for a local ollama server, a dead port for lmstudio and vllm."""

from __future__ import annotations

import pytest
from kernel_session import KernelSession, kernel_env
from provider_server import unused_port

OTHER_KEYS = ("GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "TOGETHER_API_KEY", "FIREWORKS_API_KEY",
              "CEREBRAS_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY", "OLLAMA_API_KEY", "LMSTUDIO_API_KEY",
              "VLLM_API_KEY")
KEY = "sk-kernel-test-key-0123456789"


@pytest.fixture(scope="module")
def dead_url():
    return f"http://127.0.0.1:{unused_port()}/v1"


@pytest.fixture(scope="module")
def kernel(provider_server, dead_url):
    env = kernel_env(provider_server.openai_base_url, OLLAMA_BASE_URL=provider_server.openai_base_url,
                     LMSTUDIO_BASE_URL=dead_url, VLLM_BASE_URL=dead_url)
    session = KernelSession({**env, **{name: None for name in OTHER_KEYS}})
    assert session.execute("%load_ext nbagent").reply["status"] == "ok"
    yield session
    session.close()


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute("from nbagent.notebook.state import get_state\nget_state().conversations.clear()\n"
                   "get_state().asked.clear()\n%agent_settings prices=default")
    provider.clear()
    return kernel


def shown(run) -> tuple[str, str]:
    [display] = run.of_type("display_data")
    return display["content"]["data"]["text/markdown"], display["content"]["data"]["text/plain"]


def test_agent_models_lists_configured_providers_and_served_models(fresh, provider, dead_url):
    run = fresh.execute("%agent_models")
    assert run.reply["status"] == "ok", run.errors
    markdown, plain = shown(run)
    rows = {line.split(" | ")[0].strip("| "): line for line in markdown.splitlines()[2:] if line.startswith("| ")}
    assert list(rows) == ["openai", "ollama", "lmstudio", "vllm", "test"]
    assert f"| key in OPENAI_API_KEY | {provider.openai_base_url} | `openai:<name>` |" in rows["openai"]
    assert rows["ollama"].endswith("| ollama:llama3.2, ollama:qwen2.5-coder |")
    assert f"lmstudio: no server at {dead_url} (start it, or set LMSTUDIO_BASE_URL)" in rows["lmstudio"]
    assert "%%ask uses openai:gpt-4o" in markdown
    assert "not configured (set the key variable before starting Jupyter): anthropic (ANTHROPIC_API_KEY), groq" in markdown
    assert KEY not in markdown + plain and "ollama:llama3.2" in plain
    [listing] = [request for request in provider.requests if request.method == "GET"]
    assert listing.path == "/v1/models"
    assert [request.method for request in provider.requests] == ["GET"]  # nothing asked of OpenAI itself
    bad = fresh.execute("%agent_models now")
    assert bad.reply["status"] == "error" and len(bad.errors[0]["traceback"]) == 1
