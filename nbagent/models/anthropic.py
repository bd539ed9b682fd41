"""Anthropic Messages API over httpx: `POST {base}/v1/messages`, streamed as named SSE events."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..errors import ModelHTTPError, UnexpectedModelBehavior, UserError
from ..messages import ModelMessage, ModelResponse, TextPart, Usage, system_and_turns
from ..settings import ModelSettings
from .http import HTTPModel, SSEStream

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# Anthropic requires max_tokens on every request; this is what PydanticAI and the SDK examples send.
DEFAULT_MAX_TOKENS = 4096
_SAME_NAME_SETTINGS = ("temperature", "top_p", "stop_sequences")
# Settings the Messages API has no equivalent for: refusing them beats silently ignoring them.
_UNSUPPORTED_SETTINGS = ("seed", "presence_penalty", "frequency_penalty")
# Error types of mid-stream `error` events, mapped to the HTTP status the same error has up front.
_ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class MessagesStream(SSEStream):
    """Messages API events (`event:` names repeat the data's "type"); only `message_stop` completes."""

    end_marker = "message_stop"

    def _data(self, data: bytes) -> str | None:
        event = self._json(data)
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                return delta.get("text")
        elif kind == "message_start":
            message = event.get("message") or {}
            self.usage = _usage(message.get("usage"))
            if message.get("model"):
                self.model_name = message["model"]
        elif kind == "message_delta":
            self.finish_reason = (event.get("delta") or {}).get("stop_reason") or self.finish_reason
            self.usage = _updated_usage(self.usage, event.get("usage"))
        elif kind == "message_stop":
            self.complete = True
        elif kind == "error":
            raise _stream_error_event(self._model.label, event.get("error"))
        elif kind is None:
            raise UnexpectedModelBehavior(f"{self._model.label} sent a stream event without a type: {data[:80]!r}")
        return None


class AnthropicModel(HTTPModel):
    """A Claude model. `ANTHROPIC_API_KEY` / `ANTHROPIC_BASE_URL` apply unless `api_key` / `base_url` are given."""

    system = "anthropic"
    endpoint = "/v1/messages"
    answer_kind = "a Messages API message"
    stream_class = MessagesStream

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        super().__init__(model_name, base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
                         key_env="ANTHROPIC_API_KEY", api_key=api_key, settings=settings)

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": API_VERSION}

    def _body(self, messages: Sequence[ModelMessage], settings: ModelSettings, stream: bool) -> dict[str, Any]:
        for name in _UNSUPPORTED_SETTINGS:
            if name in settings:
                raise UserError(
                    f"{self.label}: Anthropic does not support the {name!r} setting; remove it from model_settings"
                )
        if settings.get("temperature", 0) > 1:
            raise UserError(f"{self.label}: Anthropic accepts temperature from 0 to 1, got {settings['temperature']}")
        system, turns = system_and_turns(messages)
        wire_messages: list[dict[str, Any]] = []
        for role, text in turns:
            if not text:
                continue  # Anthropic rejects empty text blocks (e.g. an empty earlier answer)
            block = {"type": "text", "text": text}
            if wire_messages and wire_messages[-1]["role"] == role:
                wire_messages[-1]["content"].append(block)  # the API wants alternating roles
            else:
                wire_messages.append({"role": role, "content": [block]})
        body: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": settings.get("max_tokens", DEFAULT_MAX_TOKENS),
            "messages": wire_messages,
            "stream": stream,
        }
        if system:
            body["system"] = system
        body.update({name: value for name, value in settings.items() if name in _SAME_NAME_SETTINGS})
        body.update(settings.get("extra_body", {}))
        return body

    def _answer(self, data: Any) -> ModelResponse:
        return ModelResponse(
            parts=[TextPart(content="".join(block["text"] for block in data["content"] if block.get("type") == "text"))],
            model_name=data.get("model") or self.model_name,
            usage=_usage(data.get("usage")),
            finish_reason=data.get("stop_reason"),
        )


def _usage(raw: dict[str, Any] | None) -> Usage:
    """Cache reads and writes are input tokens too (billed as such), so they count as input."""
    if not raw:
        return Usage(requests=1)
    return Usage(requests=1, input_tokens=_input_tokens(raw), output_tokens=raw.get("output_tokens") or 0)


def _updated_usage(usage: Usage, raw: dict[str, Any] | None) -> Usage:
    """`message_delta` carries the final (cumulative) output count, and sometimes the input count again."""
    if not raw:
        return usage
    return Usage(
        requests=usage.requests,
        input_tokens=_input_tokens(raw) if "input_tokens" in raw else usage.input_tokens,
        output_tokens=raw.get("output_tokens", usage.output_tokens) or 0,
    )


def _input_tokens(raw: dict[str, Any]) -> int:
    names = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(raw.get(name) or 0 for name in names)


def _stream_error_event(label: str, error: Any) -> Exception:
    """An `error` event after the 200 (e.g. overloaded_error) is the same failure as the HTTP status."""
    if isinstance(error, dict):
        status = _ERROR_STATUSES.get(str(error.get("type")))
        message = str(error.get("message") or error.get("type") or "")
        if status is not None:
            return ModelHTTPError(status, label, f"{message} ({error['type']}, reported mid-stream)")
        return UnexpectedModelBehavior(f"{label} reported an error mid-stream: {message}")
    return UnexpectedModelBehavior(f"{label} reported an error mid-stream: {error}")
