"""Anthropic Messages API over httpx: `POST {base}/v1/messages`, streamed as named SSE events."""

from __future__ import annotations

import base64
import json
from typing import Any, Sequence

from ..errors import ModelHTTPError, UnexpectedModelBehavior, UserError
from ..messages import (BinaryContent, ImageUrl, MediaContent, ModelMessage, ModelRequest, ModelResponse, ResponsePart,
                        RequestUsage, RetryPromptPart, TextPart, ThinkingPart, ToolCallPart, ToolReturnPart, UserPromptPart,
                        join_system, system_text)
from ..settings import ModelSettings
from ..tools import ToolDefinition
from .base import ModelRequestParameters, StreamItem, finish_fields
from .http import HTTPModel, SSEStream
from .providers import PROVIDERS

API_VERSION = "2023-06-01"
# Anthropic requires max_tokens on every request; this is what PydanticAI and the SDK examples send.
DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024  # the API's minimum budget_tokens
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


STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                "model_context_window_exceeded": "length", "tool_use": "tool_call", "refusal": "content_filter"}
"""The Messages API's `stop_reason`s in PydanticAI's words."""


class MessagesStream(SSEStream):
    """Messages API events (`event:` names repeat the data's "type"); only `message_stop` completes."""

    end_marker = "message_stop"
    finish_reasons = STOP_REASONS

    def _data(self, data: bytes) -> str | list[StreamItem] | None:
        event = self._json(data)
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            delta_kind = delta.get("type")
            if delta_kind == "text_delta":
                return delta.get("text")
            if delta_kind == "input_json_delta" and delta.get("partial_json"):
                return [self.tool_call_delta(event.get("index", 0), args=delta["partial_json"])]
            if delta_kind == "thinking_delta":
                return [self.thinking_delta(event.get("index", 0), content=delta.get("thinking"))]
            if delta_kind == "signature_delta":
                return [self.thinking_delta(event.get("index", 0), signature=delta.get("signature"))]
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                # `input` is {} here; the arguments follow as input_json_delta fragments
                initial = block.get("input")
                return [self.tool_call_delta(event.get("index", 0), tool_call_id=block.get("id"),
                                             tool_name=block.get("name"),
                                             args=json.dumps(initial) if initial else None)]
            if block.get("type") == "text" and block.get("text"):
                return block["text"]
            if block.get("type") == "thinking":
                return [self.thinking_delta(event.get("index", 0), content=block.get("thinking"),
                                            signature=block.get("signature"))]
            if block.get("type") == "redacted_thinking":
                return [self.thinking_delta(event.get("index", 0), redacted=block.get("data"))]
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
        super().__init__(model_name, provider=PROVIDERS["anthropic"], base_url=base_url, api_key=api_key,
                         settings=settings)

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": API_VERSION}

    def _body(self, messages: Sequence[ModelMessage], settings: ModelSettings, stream: bool,
              params: ModelRequestParameters) -> dict[str, Any]:
        for name in _UNSUPPORTED_SETTINGS:
            if name in settings:
                raise UserError(
                    f"{self.label}: Anthropic does not support the {name!r} setting; remove it from model_settings"
                )
        if settings.get("temperature", 0) > 1:
            raise UserError(f"{self.label}: Anthropic accepts temperature from 0 to 1, got {settings['temperature']}")
        wire_messages: list[dict[str, Any]] = []
        for message in messages:
            if isinstance(message, ModelRequest):
                role, blocks = "user", _request_blocks(message)
            else:
                role, blocks = "assistant", _response_blocks(message)
            if not blocks:
                continue
            if wire_messages and wire_messages[-1]["role"] == role:
                wire_messages[-1]["content"] += blocks  # the API wants alternating roles
            else:
                wire_messages.append({"role": role, "content": blocks})
        body: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": settings.get("max_tokens", DEFAULT_MAX_TOKENS),
            "messages": wire_messages,
            "stream": stream,
        }
        system = join_system(system_text(messages), params.output_instructions)
        if system:
            body["system"] = system
            if settings.get("anthropic_cache_instructions"):
                body["system"] = [{"type": "text", "text": system,
                                   "cache_control": _cache_control(settings["anthropic_cache_instructions"])}]
        if params.output_mode == "native":
            raise UserError(f"{self.label}: Anthropic has no native JSON-schema output; use the default tool output "
                            "(output_type=T) or PromptedOutput(T)")
        if params.tool_defs:
            body["tools"] = [_tool(tool) for tool in params.tool_defs]
            choice: dict[str, Any] = {"type": "auto" if params.allow_text_output else "any"}
            if settings.get("parallel_tool_calls") is False:
                choice["disable_parallel_tool_use"] = True
            body["tool_choice"] = choice
            if settings.get("anthropic_cache_tool_definitions"):
                body["tools"][-1]["cache_control"] = _cache_control(settings["anthropic_cache_tool_definitions"])
        if settings.get("anthropic_cache_messages") and wire_messages:
            wire_messages[-1]["content"][-1]["cache_control"] = _cache_control(settings["anthropic_cache_messages"])
        if settings.get("anthropic_cache"):
            body["cache_control"] = _cache_control(settings["anthropic_cache"])
        if "thinking" in settings:
            body["thinking"] = self._thinking(settings)
        if "reasoning_effort" in settings:
            raise UserError(f"{self.label}: Anthropic takes a thinking budget, not reasoning_effort; "
                            "use model_settings={'thinking': 2048} (budget tokens, >= 1024)")
        body.update({name: value for name, value in settings.items() if name in _SAME_NAME_SETTINGS})
        body.update(settings.get("extra_body", {}))
        return body

    def _thinking(self, settings: ModelSettings) -> dict[str, Any]:
        """`thinking=True` gives the smallest budget; a number is the budget, which must leave room for the answer."""
        budget = settings["thinking"]
        budget = MIN_THINKING_BUDGET if budget is True else budget
        max_tokens = settings.get("max_tokens", DEFAULT_MAX_TOKENS)
        if budget is False:
            return {"type": "disabled"}
        if not MIN_THINKING_BUDGET <= budget < max_tokens:
            raise UserError(f"{self.label}: a thinking budget must be at least {MIN_THINKING_BUDGET} tokens and below "
                            f"max_tokens ({max_tokens}); got thinking={budget}")
        return {"type": "enabled", "budget_tokens": budget}

    def _answer(self, data: Any) -> ModelResponse:
        parts: list[ResponsePart] = []
        for block in data["content"]:
            if block.get("type") == "text":
                parts.append(TextPart(content=block["text"]))
            elif block.get("type") == "tool_use":
                parts.append(ToolCallPart(tool_name=block["name"], args=block.get("input") or {},
                                          tool_call_id=block["id"]))
            elif block.get("type") == "thinking":
                parts.append(ThinkingPart(content=block.get("thinking") or "", signature=block.get("signature"),
                                          provider_name="anthropic"))
            elif block.get("type") == "redacted_thinking":
                parts.append(ThinkingPart(content="", id="redacted_thinking", signature=block.get("data"),
                                          provider_name="anthropic"))
        return ModelResponse(
            parts=parts or [TextPart(content="")],
            model_name=data.get("model") or self.model_name,
            usage=_usage(data.get("usage")),
            provider_name=self.system,
            **finish_fields(data.get("stop_reason"), STOP_REASONS),
        )


def _request_blocks(request: ModelRequest) -> list[dict[str, Any]]:
    """User prompts as text blocks, tool returns and retry prompts about a call as `tool_result` blocks."""
    blocks: list[dict[str, Any]] = []
    for part in request.parts:
        if isinstance(part, UserPromptPart):
            pieces = [part.content] if isinstance(part.content, str) else part.content
            blocks += [_image(piece) if isinstance(piece, MediaContent) else {"type": "text", "text": piece}
                       for piece in pieces if piece]  # Anthropic rejects empty text blocks
        elif isinstance(part, ToolReturnPart):
            result: Any = part.model_response_str()
            files = part.files
            if files:  # a tool_result holds text and image blocks
                result = [{"type": "text", "text": result}, *(_image(file) for file in files)]
            blocks.append({"type": "tool_result", "tool_use_id": part.tool_call_id, "content": result,
                           "is_error": part.outcome == "failed"})  # ToolFailed: Anthropic's own error flag
        elif isinstance(part, RetryPromptPart):
            if part.tool_name is None:
                blocks.append({"type": "text", "text": part.model_response()})
            else:
                blocks.append({"type": "tool_result", "tool_use_id": part.tool_call_id,
                               "content": part.model_response(), "is_error": True})
    return blocks


def _image(media: BinaryContent | ImageUrl) -> dict[str, Any]:
    if isinstance(media, ImageUrl):
        if media.url.startswith("data:"):
            return _image(_from_data_uri(media.url))
        return {"type": "image", "source": {"type": "url", "url": media.url}}
    if not media.is_image:
        raise UserError(f"Anthropic models take images here, not {media.media_type}; send it as text instead")
    return {"type": "image", "source": {"type": "base64", "media_type": media.media_type, "data": media.base64}}


def _from_data_uri(uri: str) -> BinaryContent:
    header, _, data = uri.partition(",")
    if not header.endswith(";base64"):
        raise UserError("An image data: URI must be base64 (data:image/png;base64,...)")
    return BinaryContent(data=base64.b64decode(data), media_type=header[5:].removesuffix(";base64"))


def _response_blocks(response: ModelResponse) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, TextPart):
            if part.content:  # e.g. an empty earlier answer
                blocks.append({"type": "text", "text": part.content})
        elif isinstance(part, ThinkingPart):
            # Claude's own thinking goes back verbatim (a tool loop requires it); other reasoning cannot
            if part.provider_name == "anthropic" and part.signature:
                blocks.append({"type": "redacted_thinking", "data": part.signature} if part.redacted else
                              {"type": "thinking", "thinking": part.content, "signature": part.signature})
        else:
            blocks.append({"type": "tool_use", "id": part.tool_call_id, "name": part.tool_name,
                           "input": _args_object(part)})
    return blocks


def _args_object(call: ToolCallPart) -> dict[str, Any]:
    """`tool_use.input` must be an object; arguments that were never valid JSON (the model was asked to
    retry them) are sent as what they were, under one key, rather than failing the whole request."""
    try:
        return call.args_as_dict()
    except ValueError:
        return {"invalid_arguments": call.args_as_json_str()}


def _cache_control(ttl: bool | str) -> dict[str, str]:
    """A cache breakpoint: everything up to here is cached, for 5 minutes (True) or as long as asked."""
    return {"type": "ephemeral"} if ttl is True else {"type": "ephemeral", "ttl": str(ttl)}


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description or "", "input_schema": tool.parameters_json_schema}


def _usage(raw: dict[str, Any] | None) -> RequestUsage:
    """Cache reads and writes are input tokens too (billed as such), so they count as input."""
    if not raw:
        return RequestUsage()
    return RequestUsage(input_tokens=_input_tokens(raw), output_tokens=raw.get("output_tokens") or 0,
                        cache_read_tokens=raw.get("cache_read_input_tokens") or 0,
                        cache_write_tokens=raw.get("cache_creation_input_tokens") or 0)


def _updated_usage(usage: RequestUsage, raw: dict[str, Any] | None) -> RequestUsage:
    """`message_delta` carries the final (cumulative) output count, and sometimes the input counts again."""
    if not raw:
        return usage
    return RequestUsage(
        input_tokens=_input_tokens(raw) if "input_tokens" in raw else usage.input_tokens,
        output_tokens=raw.get("output_tokens", usage.output_tokens) or 0,
        cache_read_tokens=raw.get("cache_read_input_tokens", usage.cache_read_tokens) or 0,
        cache_write_tokens=raw.get("cache_creation_input_tokens", usage.cache_write_tokens) or 0,
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
