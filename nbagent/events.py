"""What happens during a run, as typed events, named as PydanticAI names them.

`Agent.run_stream_events` yields these so a user interface can show tool activity live: a part of
the model's response starts (`PartStartEvent`) and grows (`PartDeltaEvent`), a tool is called
(`FunctionToolCallEvent`) and answers (`FunctionToolResultEvent`), the final answer begins
(`FinalResultEvent`), and the run ends (`AgentRunResultEvent`, holding the `RunResult`).

They are slotted dataclasses, not pydantic models: one is built per streamed chunk, so they must
cost next to nothing. Model streams themselves yield plain `str` for text (99% of chunks) and a
`ToolCallPartDelta` / `ThinkingPartDelta` only for tool-call and reasoning pieces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Union

from .messages import RetryPromptPart, TextPart, ThinkingPart, ToolCallPart, ToolReturnPart
from .output import OutputDataT

if TYPE_CHECKING:
    from .result import RunResult


@dataclass(slots=True)
class TextPartDelta:
    """More text for a text part."""

    content_delta: str
    part_delta_kind: Literal["text"] = field(default="text", repr=False)


@dataclass(slots=True)
class ThinkingPartDelta:
    """More reasoning (or its signature) for a thinking part; never part of the answer's text."""

    content_delta: str | None = None
    signature_delta: str | None = None
    index: int = 0
    part_delta_kind: Literal["thinking"] = field(default="thinking", repr=False)


@dataclass(slots=True)
class ToolCallPartDelta:
    """A piece of a tool call as it streams: the name and id arrive first, then argument fragments.

    `index` is the call's position among this response's tool calls (the provider's own index for
    Chat Completions, the content block for Anthropic). `args_delta` is a piece of the arguments' JSON
    from a provider, or the whole arguments as a dict from a local model (`TestModel`), as in PydanticAI.
    """

    tool_name_delta: str | None = None
    args_delta: str | dict[str, Any] | None = None
    tool_call_id: str | None = None
    index: int = 0
    part_delta_kind: Literal["tool_call"] = field(default="tool_call", repr=False)

    @property
    def args_json(self) -> str | None:
        """This piece of the arguments as JSON text (a local model's dict written as a provider sends it)."""
        return None if self.args_delta is None else json_arguments(self.args_delta)


def json_arguments(args: str | dict[str, Any]) -> str:
    """A tool call's arguments, or a piece of them, as JSON text: a dict written compactly."""
    if isinstance(args, str):
        return args
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(slots=True)
class PartStartEvent:
    """A new part of the response began; `index` is its position in `ModelResponse.parts`."""

    index: int
    part: TextPart | ToolCallPart | ThinkingPart
    event_kind: Literal["part_start"] = field(default="part_start", repr=False)


@dataclass(slots=True)
class PartDeltaEvent:
    """The part at `index` grew."""

    index: int
    delta: TextPartDelta | ToolCallPartDelta | ThinkingPartDelta
    event_kind: Literal["part_delta"] = field(default="part_delta", repr=False)


@dataclass(slots=True)
class PartEndEvent:
    """The part at `index` is whole (its response arrived complete)."""

    index: int
    part: TextPart | ToolCallPart | ThinkingPart
    event_kind: Literal["part_end"] = field(default="part_end", repr=False)


@dataclass(slots=True)
class FinalResultEvent:
    """The run has its output: from the output tool `tool_name`, or (both None) from the text."""

    tool_name: str | None = None
    tool_call_id: str | None = None
    event_kind: Literal["final_result"] = field(default="final_result", repr=False)


@dataclass(slots=True)
class FunctionToolCallEvent:
    """A tool is about to run with these (validated) arguments."""

    part: ToolCallPart
    event_kind: Literal["function_tool_call"] = field(default="function_tool_call", repr=False)

    @property
    def tool_call_id(self) -> str:
        return self.part.tool_call_id


@dataclass(slots=True)
class FunctionToolResultEvent:
    """A tool answered (`ToolReturnPart`) or the model is asked to retry (`RetryPromptPart`)."""

    result: ToolReturnPart | RetryPromptPart
    event_kind: Literal["function_tool_result"] = field(default="function_tool_result", repr=False)

    @property
    def tool_call_id(self) -> str:
        return self.result.tool_call_id

    @property
    def part(self) -> ToolReturnPart | RetryPromptPart:
        """PydanticAI v2's name for `result`."""
        return self.result


@dataclass(slots=True)
class AgentRunResultEvent(Generic[OutputDataT]):
    """The run is over; `result` is what `run` would have returned."""

    result: "RunResult[OutputDataT]"
    event_kind: Literal["agent_run_result"] = field(default="agent_run_result", repr=False)


ModelResponseStreamEvent = Union[PartStartEvent, PartDeltaEvent, PartEndEvent, FinalResultEvent]
HandleResponseEvent = Union[FunctionToolCallEvent, FunctionToolResultEvent]
AgentStreamEvent = Union[ModelResponseStreamEvent, HandleResponseEvent]


class ResponseEvents:
    """Turns one streamed response's pieces into part events, numbering the parts as they start."""

    def __init__(self) -> None:
        self.count = 0
        self.text_index: int | None = None
        self.calls: dict[int, int] = {}
        self.reasoning: dict[int, int] = {}

    def text(self, piece: str) -> PartStartEvent | PartDeltaEvent:
        if self.text_index is None:
            self.text_index = self._next()
            return PartStartEvent(self.text_index, TextPart(content=piece))
        return PartDeltaEvent(self.text_index, TextPartDelta(piece))

    def tool_call(self, delta: ToolCallPartDelta) -> PartStartEvent | PartDeltaEvent:
        index = self.calls.get(delta.index)
        if index is None:
            index = self.calls[delta.index] = self._next()
            part = ToolCallPart(tool_name=delta.tool_name_delta or "", args=delta.args_delta,
                                tool_call_id=delta.tool_call_id or "")
            return PartStartEvent(index, part)
        return PartDeltaEvent(index, delta)

    def thinking(self, delta: ThinkingPartDelta) -> PartStartEvent | PartDeltaEvent:
        index = self.reasoning.get(delta.index)
        if index is None:
            index = self.reasoning[delta.index] = self._next()
            return PartStartEvent(index, ThinkingPart(content=delta.content_delta or "",
                                                      signature=delta.signature_delta))
        return PartDeltaEvent(index, delta)

    def _next(self) -> int:
        self.count += 1
        return self.count - 1
