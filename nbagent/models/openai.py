"""OpenAI-compatible Chat Completions over httpx: OpenAI and every preset of providers.py (Groq, Mistral,
DeepSeek, OpenRouter, Gemini's compatible endpoint, Ollama, vLLM, LM Studio, ...)."""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..errors import UnexpectedModelBehavior, UserError
from ..messages import (BinaryContent, ImageUrl, ModelMessage, ModelRequest, ModelResponse, RequestUsage, ResponsePart,
                        RetryPromptPart, TextPart, ThinkingPart, ToolCallPart, ToolReturnPart, UserContent, UserPromptPart,
                        join_system, new_tool_call_id, system_text)
from ..settings import ModelSettings
from ..output import OutputObjectDefinition
from ..tools import ToolDefinition
from .base import ModelRequestParameters, StreamItem, finish_fields
from .http import HTTPModel, SSEStream
from .providers import PROVIDER_ALIASES, PROVIDERS

_SAME_NAME_SETTINGS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}
"""Chat Completions' reasons for stopping that PydanticAI words otherwise ("stop", "length",
"content_filter" are the same)."""


class ChatCompletionsStream(SSEStream):
    """The `data: {...}` lines of a streamed Chat Completion, ending at `data: [DONE]`.

    Tool calls arrive as `delta.tool_calls[i]` pieces keyed by `index`: the first names the call (and
    usually carries its id), the rest are argument fragments; calls may interleave.
    """

    end_marker = "data: [DONE]"
    finish_reasons = FINISH_REASONS

    def _data(self, data: bytes) -> str | list[StreamItem] | None:
        if data == b"[DONE]":
            self.complete = True
            return None
        chunk = self._json(data)
        content = None
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if not content:  # reasoning chunks carry no text: the text path never looks for it
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    content = [self.thinking_delta("reasoning", content=reasoning)]
            if delta.get("tool_calls"):
                content = self._tool_call_pieces(content, delta["tool_calls"])
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
            if chunk.get("model"):
                self.model_name = chunk["model"]
        if chunk.get("error"):
            return self._stream_error(chunk["error"])
        return content

    def _tool_call_pieces(self, before: str | list[StreamItem] | None, pieces: list[dict[str, Any]]) -> list[StreamItem]:
        items: list[StreamItem] = [before] if isinstance(before, str) and before else list(before or [])
        for position, piece in enumerate(pieces):
            function = piece.get("function") or {}
            items.append(self.tool_call_delta(piece.get("index", position), tool_call_id=piece.get("id"),
                                              tool_name=function.get("name"), args=function.get("arguments")))
        return items

    def _stream_error(self, error: Any) -> list[StreamItem]:
        """Groq reports a tool call that failed its own schema check as a `tool_use_failed` error with the
        failed generation; that becomes the tool call, so our validation sends the model a retry prompt."""
        failed = error.get("failed_generation") if isinstance(error, dict) else None
        if isinstance(failed, str) and error.get("code") == "tool_use_failed":
            try:
                call = json.loads(failed)
                name, arguments = call["name"], call.get("arguments", {})
            except (ValueError, KeyError, TypeError):
                call = None
            if call is not None:
                args = arguments if isinstance(arguments, str) else json.dumps(
                    arguments, ensure_ascii=False, separators=(",", ":"))
                self.complete = True
                self.finish_reason = "tool_calls"
                return [self.tool_call_delta("failed_generation", tool_name=name, args=args)]
        raise UnexpectedModelBehavior(f"{self._model.label} reported an error mid-stream: {_error_text(error)}")


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
        provider = PROVIDER_ALIASES.get(provider, provider)
        preset = PROVIDERS.get(provider)
        if preset is None or preset.protocol != "openai":
            known = ", ".join(name for name, known in PROVIDERS.items() if known.protocol == "openai")
            raise UserError(f"Unknown OpenAI-compatible provider {provider!r}; known: {known}")
        self.system = provider
        super().__init__(model_name, provider=preset, base_url=base_url, api_key=api_key, settings=settings)

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def _body(self, messages: Sequence[ModelMessage], settings: ModelSettings, stream: bool,
              params: ModelRequestParameters) -> dict[str, Any]:
        system = join_system(system_text(messages), params.output_instructions)
        wire_messages = [{"role": "system", "content": system}] if system else []
        for message in messages:
            wire_messages += _request_messages(message) if isinstance(message, ModelRequest) else [_assistant_message(message)]
        body: dict[str, Any] = {"model": self.model_name, "messages": wire_messages, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        if params.tool_defs:
            body["tools"] = [_tool(tool) for tool in params.tool_defs]
            body["tool_choice"] = "auto" if params.allow_text_output else "required"
            if "parallel_tool_calls" in settings:
                body["parallel_tool_calls"] = settings["parallel_tool_calls"]
        if params.output_mode == "native" and params.output_object is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": _json_schema_format(params.output_object)}
        elif params.output_mode == "prompted" and self.system == "openai":
            body["response_format"] = {"type": "json_object"}  # OpenAI's JSON mode; compatible servers vary
        if "max_tokens" in settings:
            # OpenAI itself deprecated max_tokens; compatible servers still expect it.
            body["max_completion_tokens" if self.system == "openai" else "max_tokens"] = settings["max_tokens"]
        body.update({name: value for name, value in settings.items() if name in _SAME_NAME_SETTINGS})
        if "stop_sequences" in settings:
            body["stop"] = settings["stop_sequences"]
        body.update(self._reasoning(settings))
        body.update(settings.get("extra_body", {}))
        return body

    def _reasoning(self, settings: ModelSettings) -> dict[str, Any]:
        """`reasoning_effort` as the provider spells it; a thinking budget only where one exists."""
        effort, thinking = settings.get("reasoning_effort"), settings.get("thinking")
        if self.system == "openrouter":
            if effort is not None:
                return {"reasoning": {"effort": effort}}
            if thinking is not None:
                return {"reasoning": {"enabled": thinking} if isinstance(thinking, bool) else {"max_tokens": thinking}}
            return {}
        if thinking is not None and not isinstance(thinking, bool):
            raise UserError(f"{self.label}: Chat Completions reasoning models take reasoning_effort "
                            "('low', 'medium', 'high'), not a thinking budget")
        if effort is None and thinking:
            effort = "medium"
        return {"reasoning_effort": effort} if effort is not None else {}

    def _answer(self, data: Any) -> ModelResponse:
        choice = data["choices"][0]
        message = choice["message"]
        parts: list[ResponsePart] = []
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning:
            parts.append(ThinkingPart(content=reasoning, provider_name=self.system))
        if message.get("content") or not message.get("tool_calls"):
            parts.append(TextPart(content=message.get("content") or ""))
        for call in message.get("tool_calls") or []:
            function = call["function"]
            parts.append(ToolCallPart(tool_name=function["name"], args=function.get("arguments") or "",
                                      tool_call_id=call.get("id") or new_tool_call_id()))
        return ModelResponse(
            parts=parts,
            model_name=data.get("model") or self.model_name,
            usage=_usage(data.get("usage")),
            provider_name=self.system,
            **finish_fields(choice.get("finish_reason"), FINISH_REASONS),
        )


def _request_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """User prompts as `user` messages; tool returns (and retry prompts about a tool call) as `tool` messages.

    Dispatches on exact types (no isinstance chains): this runs for every message of the history on
    every request.
    """
    wire: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []  # tool messages are text only: images a tool returned follow as a user message
    for part in request.parts:
        if type(part) is UserPromptPart:
            content = part.content
            wire.append({"role": "user", "content": content if isinstance(content, str) else _user_content(content)})
        elif type(part) is ToolReturnPart:
            wire.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.model_response_str()})
            files = part.files
            if files:  # named, so images from two calls are told apart
                images += [{"type": "text", "text": f"The image(s) {part.tool_name} returned ({part.tool_call_id}):"},
                           *(_image(file) for file in files)]
        elif type(part) is RetryPromptPart:
            if part.tool_name is None:
                wire.append({"role": "user", "content": part.model_response()})
            else:
                wire.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.model_response()})
    if images:
        wire.append({"role": "user", "content": images})
    return wire


def _user_content(content: list[UserContent]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": piece} if isinstance(piece, str) else _image(piece) for piece in content]


def _image(media: BinaryContent | ImageUrl) -> dict[str, Any]:
    if isinstance(media, ImageUrl):
        return {"type": "image_url", "image_url": {"url": media.url}}
    if not media.is_image:
        raise UserError(f"Chat Completions models take images, not {media.media_type}; send it as text instead")
    return {"type": "image_url", "image_url": {"url": media.data_uri}}


def _assistant_message(response: ModelResponse) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in response.parts:
        if type(part) is TextPart:
            texts.append(part.content)
        elif type(part) is ToolCallPart:
            calls.append({"id": part.tool_call_id, "type": "function",
                          "function": {"name": part.tool_name, "arguments": part.args_as_json_str()}})
    message: dict[str, Any] = {"role": "assistant"}
    text = "".join(texts)
    if text or not calls:
        message["content"] = text
    if calls:
        message["tool_calls"] = calls
    return message


def _json_schema_format(output: OutputObjectDefinition) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": output.name, "schema": output.json_schema}
    if output.description:
        wire["description"] = output.description
    if output.strict is not None:
        wire["strict"] = output.strict
    return wire


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "description": tool.description or "",
                                "parameters": tool.parameters_json_schema}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _usage(raw: dict[str, Any] | None) -> RequestUsage:
    if not raw:
        return RequestUsage()
    details = raw.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    return RequestUsage(
        input_tokens=raw.get("prompt_tokens") or 0,
        output_tokens=raw.get("completion_tokens") or 0,
        cache_read_tokens=details.get("cached_tokens") or 0,  # OpenAI caches prefixes by itself
        cache_write_tokens=details.get("cache_write_tokens") or 0,  # OpenRouter, for models billed for writes
    )


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('message', error)} (code {error.get('code')})"
    return str(error)


OpenAIChatModel = OpenAIModel
"""PydanticAI v2's name for the Chat Completions model."""
