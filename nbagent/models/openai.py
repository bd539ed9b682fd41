"""OpenAI-compatible Chat Completions over httpx: OpenAI, Ollama, OpenRouter, vLLM, LM Studio, ..."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..errors import UnexpectedModelBehavior, UserError
from ..messages import ModelMessage, ModelResponse, TextPart, Usage, system_and_turns
from ..settings import ModelSettings
from .http import HTTPModel, SSEStream

# provider -> (base URL env var, default base URL, key env var or None when no key is needed)
PROVIDERS: dict[str, tuple[str, str, str | None]] = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "ollama": ("OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1", None),
    "openrouter": ("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
}

_SAME_NAME_SETTINGS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


class ChatCompletionsStream(SSEStream):
    """The `data: {...}` lines of a streamed Chat Completion, ending at `data: [DONE]`."""

    end_marker = "data: [DONE]"

    def _data(self, data: bytes) -> str | None:
        if data == b"[DONE]":
            self.complete = True
            return None
        chunk = self._json(data)
        content = None
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            content = choice.get("delta", {}).get("content")
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
            if chunk.get("model"):
                self.model_name = chunk["model"]
        if chunk.get("error"):
            raise UnexpectedModelBehavior(f"{self._model.label} reported an error mid-stream: {_error_text(chunk['error'])}")
        return content


class OpenAIModel(HTTPModel):
    """A Chat Completions model. `provider` picks the env vars; `base_url`/`api_key` override them."""

    endpoint = "/chat/completions"
    answer_kind = "a Chat Completion"
    stream_class = ChatCompletionsStream

    def __init__(
        self,
        model_name: str,
        *,
        provider: str = "openai",
        base_url: str | None = None,
        api_key: str | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        if provider not in PROVIDERS:
            raise UserError(f"Unknown OpenAI-compatible provider {provider!r}; known: {', '.join(PROVIDERS)}")
        url_env, default_url, key_env = PROVIDERS[provider]
        self.system = provider
        super().__init__(model_name, base_url=base_url or os.environ.get(url_env) or default_url,
                         key_env=key_env, api_key=api_key, settings=settings)

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def _body(self, messages: Sequence[ModelMessage], settings: ModelSettings, stream: bool) -> dict[str, Any]:
        system, turns = system_and_turns(messages)
        wire_messages = [{"role": "system", "content": system}] if system else []
        wire_messages += [{"role": role, "content": text} for role, text in turns]
        body: dict[str, Any] = {"model": self.model_name, "messages": wire_messages, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        if "max_tokens" in settings:
            # OpenAI itself deprecated max_tokens; compatible servers still expect it.
            body["max_completion_tokens" if self.system == "openai" else "max_tokens"] = settings["max_tokens"]
        body.update({name: value for name, value in settings.items() if name in _SAME_NAME_SETTINGS})
        if "stop_sequences" in settings:
            body["stop"] = settings["stop_sequences"]
        body.update(settings.get("extra_body", {}))
        return body

    def _answer(self, data: Any) -> ModelResponse:
        choice = data["choices"][0]
        return ModelResponse(
            parts=[TextPart(content=choice["message"].get("content") or "")],
            model_name=data.get("model") or self.model_name,
            usage=_usage(data.get("usage")),
            finish_reason=choice.get("finish_reason"),
        )


def _usage(raw: dict[str, Any] | None) -> Usage:
    if not raw:
        return Usage(requests=1)
    return Usage(
        requests=1,
        input_tokens=raw.get("prompt_tokens") or 0,
        output_tokens=raw.get("completion_tokens") or 0,
    )


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('message', error)} (code {error.get('code')})"
    return str(error)
