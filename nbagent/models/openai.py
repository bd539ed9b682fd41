"""OpenAI-compatible Chat Completions over httpx: OpenAI, Ollama, OpenRouter, vLLM, LM Studio, ..."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from json import JSONDecoder, loads
from typing import Any, AsyncIterator, Sequence

import httpx

from .. import _http
from ..errors import UnexpectedModelBehavior, UserError, register_secret
from ..messages import ModelMessage, ModelResponse, TextPart, Usage, system_and_turns
from ..settings import ModelSettings
from .base import Model, StreamedResponse

# provider -> (base URL env var, default base URL, key env var or None when no key is needed)
PROVIDERS: dict[str, tuple[str, str, str | None]] = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    "ollama": ("OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1", None),
    "openrouter": ("OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
}

# json.loads without its wrapper (~1 µs less per chunk): returns (value, end); we check the end ourselves.
_decode_json = JSONDecoder().raw_decode

_SAME_NAME_SETTINGS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


class OpenAIModel(Model):
    """A Chat Completions model. `provider` picks the env vars; `base_url`/`api_key` override them."""

    def __init__(
        self,
        model_name: str,
        *,
        provider: str = "openai",
        base_url: str | None = None,
        api_key: str | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        super().__init__(model_name, settings=settings)
        if provider not in PROVIDERS:
            raise UserError(f"Unknown OpenAI-compatible provider {provider!r}; known: {', '.join(PROVIDERS)}")
        self.system = provider
        url_env, default_url, self._key_env = PROVIDERS[provider]
        self.base_url = (base_url or os.environ.get(url_env) or default_url).rstrip("/")
        self._explicit_key = api_key
        register_secret(api_key)

    def __repr__(self) -> str:
        return f"OpenAIModel({self.label!r}, base_url={self.base_url!r})"

    def _headers(self, settings: ModelSettings) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        key = self._explicit_key or (os.environ.get(self._key_env) if self._key_env else None)
        if key:
            headers["authorization"] = f"Bearer {key}"
        elif self._key_env and self._explicit_key is None:
            raise UserError(
                f"No API key for {self.label}: set the {self._key_env} environment variable "
                f"(or pass api_key=...)"
            )
        headers.update(settings.get("extra_headers", {}))
        return headers

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
        for name in _SAME_NAME_SETTINGS:
            if name in settings:
                body[name] = settings[name]
        if "stop_sequences" in settings:
            body["stop"] = settings["stop_sequences"]
        body.update(settings.get("extra_body", {}))
        return body

    async def _post(self, messages: Sequence[ModelMessage], settings: ModelSettings, stream: bool) -> httpx.Response:
        return await _http.send(
            self.label,
            "POST",
            f"{self.base_url}/chat/completions",
            headers=self._headers(settings),
            json=self._body(messages, settings, stream),
            settings=settings,
        )

    async def request(self, messages: Sequence[ModelMessage], settings: ModelSettings) -> ModelResponse:
        response = await self._post(messages, settings, stream=False)
        try:
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise _http.stream_error(exc, self.base_url, self.label, settings) from None
        finally:
            await response.aclose()
        try:
            data = loads(raw)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise UnexpectedModelBehavior(
                f"{self.label} sent a response that is not a Chat Completion: {raw[:120].decode(errors='replace')!r}"
            ) from None
        return ModelResponse(
            parts=[TextPart(content=text)],
            model_name=data.get("model") or self.model_name,
            usage=_usage(data.get("usage")),
            finish_reason=choice.get("finish_reason"),
        )

    @asynccontextmanager
    async def request_stream(
        self, messages: Sequence[ModelMessage], settings: ModelSettings
    ) -> AsyncIterator[StreamedResponse]:
        response = await self._post(messages, settings, stream=True)
        try:
            yield ChatCompletionsStream(self, response, settings)
        finally:
            await response.aclose()


class ChatCompletionsStream(StreamedResponse):
    """Parses the `data: {...}` SSE lines of a streamed Chat Completion, ending at `data: [DONE]`."""

    def __init__(self, model: OpenAIModel, response: httpx.Response, settings: ModelSettings) -> None:
        super().__init__(model.model_name)
        self._model = model
        self._response = response
        self._settings = settings

    async def deltas(self) -> AsyncIterator[str]:
        # The hot loop of a streamed answer. It splits the bytes into lines itself, as SSE defines them
        # (LF, CRLF or CR; a line cut by the network is completed by the next chunk), rather than with
        # aiter_lines(), which stacks two more async generators and a text decoder on every chunk and
        # also splits at U+2028, U+0085 and other characters that JSON strings may hold unescaped.
        label = self._model.label
        pending = b""
        try:
            async for chunk in self._response.aiter_bytes():
                lines = (pending + chunk).splitlines(keepends=True)
                pending = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
                for line in lines:
                    if line.startswith(b"data:"):  # else blank separators, comments (": keep-alive"), event names
                        content = self._data(line[5:].strip())
                        if content:
                            yield content
                        elif self.complete:
                            return
            if pending.startswith(b"data:"):  # the last line may come without its newline
                content = self._data(pending[5:].strip())
                if content:
                    yield content
                if self.complete:
                    return
        except httpx.HTTPError as exc:
            raise _http.stream_error(exc, self._model.base_url, label, self._settings) from None
        raise UnexpectedModelBehavior(f"{label}: the stream ended without its end marker (data: [DONE]); the answer may be cut short")

    def _data(self, data: bytes) -> str | None:
        """One `data:` payload: returns its text delta; notes usage, finish reason and the end marker."""
        if data == b"[DONE]":
            self.complete = True
            return None
        try:
            text = data.decode()
        except UnicodeDecodeError:
            text = data.decode(errors="replace")  # as a text decode of the stream would
        try:
            chunk, end = _decode_json(text)
        except ValueError:
            chunk, end = None, 0
        if end != len(text) or not isinstance(chunk, dict):
            raise UnexpectedModelBehavior(f"{self._model.label} sent a malformed stream line: {text[:80]!r}")
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
