"""The providers users have: where each one's API lives and which variable holds its key.

Every OpenAI-compatible service is a preset of the one Chat Completions model (openai.py): a default
base URL (overridable by `<NAME>_BASE_URL`) and its usual key variable. Local servers (ollama,
lmstudio, vllm) need no key, and `served_models` (http.py) asks them what they serve. Anthropic speaks its own
protocol (anthropic.py) but is listed here too, so `%agent_models` can say what is configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    """One provider: `name` as in `name:model`, its API's default address and its key variable."""

    name: str
    base_url: str
    key_env: str | None  # None: a local server, no key needed (one is sent if `<NAME>_API_KEY` is set)
    protocol: str = "openai"  # "openai" (Chat Completions) or "anthropic" (Messages)

    @property
    def base_url_env(self) -> str:
        return f"{self.name.upper()}_BASE_URL"

    @property
    def local(self) -> bool:
        return self.key_env is None

    @property
    def optional_key_env(self) -> str:
        return self.key_env or f"{self.name.upper()}_API_KEY"

    def resolved_base_url(self) -> str:
        return os.environ.get(self.base_url_env) or self.base_url

    def configured(self) -> bool:
        """A key is set (or none is needed: a local server)."""
        return self.local or bool(os.environ.get(self.optional_key_env))


PROVIDERS: dict[str, Provider] = {provider.name: provider for provider in (
    Provider("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    Provider("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", protocol="anthropic"),
    Provider("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    Provider("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    Provider("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    Provider("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    Provider("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    Provider("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    Provider("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    Provider("gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
    Provider("ollama", "http://127.0.0.1:11434/v1", None),
    Provider("lmstudio", "http://127.0.0.1:1234/v1", None),
    Provider("vllm", "http://127.0.0.1:8000/v1", None),
)}
"""Every provider by name; the README's provider table lists the same."""

PROVIDER_ALIASES: dict[str, str] = {"google": "gemini", "google-gla": "gemini", "openai-chat": "openai"}
"""PydanticAI's names for the same presets: `google-gla:gemini-2.5-flash` is Gemini's endpoint, `openai-chat:`
is Chat Completions."""
