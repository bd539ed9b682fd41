"""`FunctionModel`: answers computed by your own Python function, for tests of code built on nbagent.

The function has PydanticAI's signature, `fn(messages, info)`, where `info` is an `AgentInfo` (the
tools on offer, whether text may end the run, the settings). It may return a str or a
`ModelResponse` (e.g. holding `ToolCallPart`s), be async, or be a (sync or async) generator that
streams: yielding text, or `DeltaToolCalls` ({index: DeltaToolCall(...)}) for tool-call pieces.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Callable, Sequence

from ..errors import UserError
from ..messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from ..settings import ModelSettings
from ..tools import ToolDefinition
from .base import LocalModel, ModelRequestParameters, StreamedResponse, StreamItem
from .test import estimated_usage


@dataclass
class AgentInfo:
    """What the function is told about the request: the tools on offer and the settings in force."""

    function_tools: list[ToolDefinition] = field(default_factory=list)
    allow_text_output: bool = True
    output_tools: list[ToolDefinition] = field(default_factory=list)
    model_settings: ModelSettings | None = None


@dataclass
class DeltaToolCall:
    """A piece of a streamed tool call: the name (and id) first, then argument fragments."""

    name: str | None = None
    json_args: str | None = None
    tool_call_id: str | None = None


DeltaToolCalls = dict[int, DeltaToolCall]
FunctionDef = Callable[[list[ModelMessage], AgentInfo], Any]


class FunctionModel(LocalModel):
    """A model whose answer is `function(messages, info)`; `stream_function` (or a generator `function`)
    streams. Give both to answer `run` with one and `run_stream` with the other."""

    system = "function"

    def __init__(self, function: FunctionDef | None = None, *, stream_function: FunctionDef | None = None,
                 model_name: str | None = None, settings: ModelSettings | None = None) -> None:
        for given in (function, stream_function):
            if given is not None and not callable(given):
                raise UserError(f"FunctionModel needs a callable, got {type(given).__name__}")
        chosen = function or stream_function
        if chosen is None:
            raise UserError("FunctionModel needs a function (or stream_function=) that answers (messages, info)")
        super().__init__(model_name or str(getattr(chosen, "__name__", "function")), settings=settings)
        self.function = function
        self.stream_function = stream_function

    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                params: ModelRequestParameters) -> StreamedResponse:
        return _FunctionStream(self, list(messages), settings, params)


class _FunctionStream(StreamedResponse):
    def __init__(self, model: FunctionModel, messages: list[ModelMessage], settings: ModelSettings,
                 params: ModelRequestParameters) -> None:
        super().__init__(model.model_name)
        self._model = model
        self._messages = messages
        self._info = AgentInfo(function_tools=list(params.function_tools), allow_text_output=params.allow_text_output,
                               output_tools=list(params.output_tools), model_settings=settings)

    async def deltas(self) -> AsyncGenerator[StreamItem, None]:
        fn = self._model.stream_function or self._model.function
        assert fn is not None  # checked in FunctionModel.__init__
        result = fn(self._messages, self._info)
        produced: list[str] = []
        if inspect.isasyncgen(result):
            async for item in result:
                for streamed in self._items(item, produced):
                    yield streamed
        elif inspect.isgenerator(result):
            for item in result:
                for streamed in self._items(item, produced):
                    yield streamed
        else:
            if inspect.isawaitable(result):
                result = await result
            for streamed in self._whole(result, produced):
                yield streamed
        self.complete = True
        if not (self.usage.input_tokens or self.usage.output_tokens):  # the function's own usage, if it gave one
            self.usage = estimated_usage(self._messages, "".join(produced), self.tool_calls())

    def _items(self, item: object, produced: list[str]) -> list[StreamItem]:
        if isinstance(item, str):
            produced.append(item)
            return [item] if item else []
        if isinstance(item, dict):
            return [self.tool_call_delta(index, tool_call_id=delta.tool_call_id, tool_name=delta.name,
                                         args=delta.json_args) for index, delta in item.items()]
        raise UserError(f"FunctionModel function {self._model.model_name!r} must yield str or DeltaToolCalls, "
                        f"got {type(item).__name__}")

    def _whole(self, result: object, produced: list[str]) -> list[StreamItem]:
        if isinstance(result, str):
            produced.append(result)
            return [result]
        if not isinstance(result, ModelResponse):
            raise UserError(f"FunctionModel function {self._model.model_name!r} must return str or ModelResponse, "
                            f"got {type(result).__name__}")
        # what the function said of its answer is kept, as a provider's would be (the model name is the model's)
        self.usage, self.provider_name, self.finish_reason = result.usage, result.provider_name, result.finish_reason
        items: list[StreamItem] = []
        for index, part in enumerate(result.parts):
            if isinstance(part, TextPart):
                produced.append(part.content)
                items.append(part.content)
            elif isinstance(part, ToolCallPart):
                items.append(self.tool_call_delta(index, tool_call_id=part.tool_call_id, tool_name=part.tool_name,
                                                  args=part.args))
        return items
