"""The one small protocol every wire format implements: a request, and a streamed request.

Each request carries `ModelRequestParameters` next to the messages and settings: the tools the model
may call. One object keeps the signatures stable as features grow, and `FunctionModel` hands it to
user functions as `AgentInfo`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, AsyncIterator, ClassVar, Mapping, Sequence, Union

from ..errors import UnexpectedModelBehavior
from ..events import ThinkingPartDelta, ToolCallPartDelta, json_arguments
from ..messages import (ModelMessage, ModelResponse, RequestUsage, ResponsePart, TextPart, ThinkingPart, ToolCallPart,
                        new_tool_call_id)
from ..settings import ModelSettings
from ..output import OutputMode, OutputObjectDefinition
from ..tools import ToolDefinition

FINISH_REASONS = ("stop", "length", "content_filter", "tool_call", "error")
"""Why a model stopped, in PydanticAI's words (`ModelResponse.finish_reason`)."""


def finish_fields(raw: str | None, words: Mapping[str, str]) -> dict[str, Any]:
    """A provider's reason for stopping as a response's fields: in PydanticAI's words (`words` maps the
    provider's; an unknown one is None) and as the provider said it (`provider_details`). With no `words`
    (a local model) the reason is ours already."""
    if not words or raw is None:
        return {"finish_reason": raw}
    return {"finish_reason": words.get(raw, raw if raw in FINISH_REASONS else None),
            "provider_details": {"finish_reason": raw}}


StreamItem = Union[str, ToolCallPartDelta, ThinkingPartDelta]
"""What a model stream yields: text as a plain `str` (no object per chunk), tool-call and reasoning
pieces as deltas."""


@dataclass
class ModelRequestParameters:
    """What the model is offered besides the conversation: function tools, and the output asked for.

    `output_mode` says how the output comes: text, an output tool call (`output_tools`), or a JSON
    object in the text, constrained by the provider (`native`) or described in `output_instructions`
    (`prompted`); `output_object` is that object's schema. `allow_text_output` says whether a text
    answer may end the run (when not, a tool call is required).
    """

    function_tools: list[ToolDefinition] = field(default_factory=list)
    output_mode: OutputMode = "text"
    output_tools: list[ToolDefinition] = field(default_factory=list)
    output_object: OutputObjectDefinition | None = None
    output_instructions: str | None = None
    allow_text_output: bool = True

    @property
    def tool_defs(self) -> list[ToolDefinition]:
        """Every tool the model may call: function tools, then output tools."""
        return [*self.function_tools, *self.output_tools]


class _PendingCall:
    """A tool call being assembled from streamed pieces."""

    __slots__ = ("index", "tool_call_id", "tool_name", "args", "whole_args")

    def __init__(self, index: int) -> None:
        self.index = index
        self.tool_call_id = ""
        self.tool_name = ""
        self.args: list[str] = []
        self.whole_args: dict[str, Any] | None = None  # a local model's arguments, kept as the dict it gave


class StreamedResponse(ABC):
    """Text deltas and tool-call pieces of one answer as they arrive; usage and finish_reason fill in.

    `complete` turns true only when the provider's end marker arrived, so a cut stream is never
    mistaken for a finished answer, and a tool call cut in the middle of its arguments never runs.
    """

    provider_name: str | None = None  # the provider: on the response, and on reasoning parts (only it takes them back)
    finish_reasons: ClassVar[Mapping[str, str]] = {}  # the provider's reasons for stopping, in PydanticAI's words

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.usage = RequestUsage()
        self.finish_reason: str | None = None
        self.complete = False
        self._calls: dict[int | str, _PendingCall] = {}
        self._thinking: dict[int | str, ThinkingPart] = {}
        self._thinking_index: dict[int | str, int] = {}

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        return self.deltas()

    @abstractmethod
    def deltas(self) -> AsyncGenerator[StreamItem, None]:
        """Yield text (`str`) and tool-call pieces; set `complete` when the stream ended properly."""

    def tool_call_delta(self, key: int | str, *, tool_call_id: str | None = None, tool_name: str | None = None,
                        args: str | dict[str, Any] | None = None) -> ToolCallPartDelta:
        """Record a piece of the tool call `key` (the provider's index or block) and return it as a delta.

        `args` is a piece of the arguments' JSON, or (a local model's) the whole arguments as a dict,
        which the delta carries (a `PartStartEvent` shows the dict, as PydanticAI's do for such models)
        and the finished call keeps."""
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = _PendingCall(len(self._calls))
        if tool_call_id:
            call.tool_call_id = tool_call_id
        if tool_name:
            call.tool_name += tool_name
        if isinstance(args, dict):  # kept even when empty: `{}` are arguments, not their absence
            call.whole_args = args
            call.args.append(json_arguments(args))
        elif args:
            call.args.append(args)
        else:
            args = None
        return ToolCallPartDelta(tool_name_delta=tool_name or None, args_delta=args,
                                 tool_call_id=tool_call_id or None, index=call.index)

    def tool_calls(self) -> list[ToolCallPart]:
        """The tool calls of this answer, in the order they started; only once the stream is complete."""
        if not self.complete:
            raise UnexpectedModelBehavior(
                f"{self.model_name}: the stream stopped before the answer was complete; no tool call was run"
            )
        calls = []
        for call in self._calls.values():
            if not call.tool_name:
                raise UnexpectedModelBehavior(f"{self.model_name} sent a tool call without a tool name")
            args = call.whole_args if call.whole_args is not None else "".join(call.args)
            calls.append(ToolCallPart(tool_name=call.tool_name, args=args,
                                      tool_call_id=call.tool_call_id or new_tool_call_id()))
        return calls

    def thinking_delta(self, key: int | str, *, content: str | None = None, signature: str | None = None,
                       redacted: str | None = None) -> ThinkingPartDelta:
        """Record a piece of the reasoning block `key` (its text, signature, or redacted data) and return it."""
        part = self._thinking.get(key)
        if part is None:
            part = self._thinking[key] = ThinkingPart(content="", provider_name=self.provider_name)
            self._thinking_index[key] = len(self._thinking_index)  # reasoning chunks are many: no search per chunk
        if content:
            part.content += content
        if signature:
            part.signature = (part.signature or "") + signature
        if redacted:
            part.id, part.signature = "redacted_thinking", redacted
        return ThinkingPartDelta(content_delta=content or None, signature_delta=signature or None,
                                 index=self._thinking_index[key])

    def response(self, text: str) -> ModelResponse:
        """The whole answer, given the text that was streamed (kept by the consumer, not copied here):
        reasoning first, then the text, then the tool calls."""
        parts: list[ResponsePart] = list(self._thinking.values())
        if text or not self._calls:
            parts.append(TextPart(content=text))
        parts += self.tool_calls()
        return ModelResponse(parts=parts, usage=self.usage, model_name=self.model_name, provider_name=self.provider_name,
                             **finish_fields(self.finish_reason, self.finish_reasons))


class Model(ABC):
    """A model behind one wire protocol. `system` names the provider (openai, anthropic, test, ...)."""

    system: str = "unknown"

    def __init__(self, model_name: str, *, settings: ModelSettings | None = None) -> None:
        from ..settings import validate_settings

        self.model_name = model_name
        self.settings: ModelSettings = validate_settings(settings)

    @property
    def label(self) -> str:
        """`provider:model`, as users write it; used in errors and footers."""
        return f"{self.system}:{self.model_name}"

    @property
    def model_id(self) -> str:
        """`provider:model`: what the run records on each response as `ModelResponse.model_id`."""
        return f"{self.system}:{self.model_name}"

    @abstractmethod
    async def request(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                      params: ModelRequestParameters | None = None) -> ModelResponse:
        """Send the conversation, return the whole answer."""

    @abstractmethod
    def request_stream(
        self, messages: Sequence[ModelMessage], settings: ModelSettings, params: ModelRequestParameters | None = None
    ) -> AbstractAsyncContextManager[StreamedResponse]:
        """An async context manager: the request is sent on entry; leaving closes the stream."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


class LocalModel(Model):
    """A model computed in-process: `request` collects the stream, so subclasses only stream."""

    @abstractmethod
    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                params: ModelRequestParameters) -> StreamedResponse:
        """Build the streamed answer for this conversation."""

    @asynccontextmanager
    async def request_stream(
        self, messages: Sequence[ModelMessage], settings: ModelSettings, params: ModelRequestParameters | None = None
    ) -> AsyncIterator[StreamedResponse]:
        yield self._stream(messages, settings, params or ModelRequestParameters())

    async def request(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                      params: ModelRequestParameters | None = None) -> ModelResponse:
        stream = self._stream(messages, settings, params or ModelRequestParameters())
        text = "".join([item async for item in stream if type(item) is str])
        return stream.response(text)
