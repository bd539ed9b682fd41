"""Results of agent runs: the finished `RunResult` and the live `StreamedRunResult`.

Both hold the history they were given and the messages the run added: the question, and for each
step the model's response and (after tool calls) the request holding the tool returns.
"""

from __future__ import annotations

import time
from typing import Any, AsyncIterator, Generic

from pydantic import ValidationError

from .errors import UnexpectedModelBehavior, UserError
from .events import ToolCallPartDelta
from .loop import AgentRun, StepItem
from .messages import ModelMessage, ModelResponse, RunUsage, TextPart, ToolCallPart, messages_to_json
from .output import OutputDataT
from .output_types import OutputType
from .output_run import NOT_YET, FinalOutput


class _Conversation:
    """What both result kinds share: the history they were given and the messages they added."""

    _run: AgentRun

    def new_messages(self) -> list[ModelMessage]:
        """The messages this run added: its request, then every response and tool-return request (while
        a run streams, only those finished so far)."""
        return self._run.new_messages

    def all_messages(self) -> list[ModelMessage]:
        """The whole conversation: the history passed in, then this run's messages."""
        return list(self._run.messages)

    def new_messages_json(self) -> bytes:
        return messages_to_json(self.new_messages())

    def all_messages_json(self) -> bytes:
        return messages_to_json(self.all_messages())

    @property
    def usage(self) -> RunUsage:
        """Tokens, requests and tool calls summed over every step of the run so far (`usage()` works too,
        as in v1)."""
        return self._run.usage

    @property
    def run_id(self) -> str:
        """This run's id (new for each run unless given as `run_id=`)."""
        return self._run.run_id

    @property
    def conversation_id(self) -> str | None:
        """The conversation's id, shared by the runs that continue its history."""
        return self._run.conversation_id

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The agent's and the run's `metadata=`, as computed when the run ended."""
        return self._run.metadata


class RunResult(_Conversation, Generic[OutputDataT]):
    """A completed run. `output` is the answer: text, or an instance of the output type;
    `response` is the model's final `ModelResponse`."""

    def __init__(self, run: AgentRun, final: FinalOutput) -> None:
        self._run = run
        self.response = final.response
        self.output: OutputDataT = final.value

    def __repr__(self) -> str:
        return f"AgentRunResult(output={self.output!r})"  # PydanticAI v2's name; `result.usage` has the counts


class StreamedRunResult(_Conversation, Generic[OutputDataT]):
    """A run whose answer is still arriving: `stream_text()` (text answers), `stream_output()`
    (the output growing, for any output type), or `get_output()`.

    Tool rounds run transparently: the text streamed is every text the model wrote in this run
    (a remark before its tool calls included), never tool-call JSON; `get_output()` is the output.
    """

    def __init__(self, run: AgentRun, steps: AsyncIterator[StepItem]) -> None:
        self._run = run
        self._steps = steps

    @property
    def is_complete(self) -> bool:
        """True once the output arrived whole (its provider's end marker included) and validated."""
        return self._run.final is not None

    async def stream_text(self, *, delta: bool = False, debounce_by: float | None = 0.1) -> AsyncIterator[str]:
        """Yield the text as it grows (accumulated), or only the new pieces with `delta=True`.

        As PydanticAI's, pieces arriving within `debounce_by` seconds of the first one held come as one
        (a piece is held until the window passed and the next one arrives, or the answer ends);
        `debounce_by=None` yields every piece as it arrives."""
        if self._run.output.mode in ("native", "prompted") or not self._run.output.allow_text:
            raise UserError("stream_text() streams text answers; this run's output is structured: "
                            "use stream_output() (or get_output())")
        if delta and debounce_by is None:  # the common case, one generator hop per chunk
            async for item in self._steps:
                if type(item) is str and item:
                    yield item
            self._finish()
            return
        pieces = debounced_text(self._steps, debounce_by)
        if delta:
            async for piece in pieces:
                yield piece
        elif self._run.finisher.validators:  # each text so far goes through them, as partial output
            text = self._run.streamed_text()
            async for piece in pieces:
                text += piece
                checked = await self._run.finisher.partial(text, None, text_function=False)
                if checked is not NOT_YET:
                    yield checked
        else:
            text = self._run.streamed_text()
            async for piece in pieces:
                text += piece
                yield text
        self._finish()

    async def stream_output(self, *, debounce_by: float | None = 0.1) -> AsyncIterator[OutputDataT]:
        """Yield the output as it forms, each a valid value with what arrived so far (fields not seen
        yet are None), at most every `debounce_by` seconds (what a window held is parsed when the
        response ends), then, as PydanticAI does, the final validated output (even when the last
        partial one equals it).

        Partial values come from pydantic_core's partial JSON parsing of the output tool's arguments
        (or, in native / prompted modes, of the JSON text), parsed at most at that rate so a long
        answer is not re-parsed on every chunk; for text output, the text so far.
        """
        async for partial in self.partial_outputs(self._steps, debounce_by):
            yield partial
        yield self._finish().value

    async def partial_outputs(self, items: AsyncIterator[StepItem], debounce_by: float | None) -> AsyncIterator[Any]:
        """The output as it forms from `items` (the run's steps, or one response's pieces in `Agent.iter`)."""
        output = self._run.output
        growing: list[str] = []  # the output tool call's arguments, or the answer's text
        call_index: int | None = None
        call_type: OutputType | None = None
        last_check = 0.0
        parsed = ""  # what was parsed last: nothing new arrived, nothing to parse
        async for item in items:
            if type(item) is str:
                if call_type is None:
                    growing.append(item)
            elif isinstance(item, ToolCallPartDelta):
                if call_type is None and item.tool_name_delta in output.tools:
                    call_index, call_type, growing = item.index, output.tools[item.tool_name_delta], []
                if item.index != call_index or item.args_delta is None:
                    continue
                growing.append(item.args_json)
            elif isinstance(item, ModelResponse):  # the response is whole: what a window held, then afresh
                data = "".join(growing)
                if data != parsed:
                    partial = await self._checked_partial(data, call_type)
                    if partial is not None:
                        yield partial
                call_index, call_type, growing, parsed = None, None, [], ""
                continue
            else:
                continue
            now = time.monotonic()
            if debounce_by is not None and now - last_check < debounce_by:
                continue
            last_check = now
            data = "".join(growing)
            if data == parsed:
                continue
            parsed = data
            partial = await self._checked_partial(data, call_type)
            if partial is not None:
                yield partial

    async def _checked_partial(self, data: str, call_type: OutputType | None) -> Any:
        """The output so far, through the output function and validators if any; None when nothing usable
        arrived yet or they refused it."""
        output = self._run.output
        if call_type is not None:
            partial = call_type.validate_partial(data)
        elif output.mode in ("native", "prompted"):
            partial = output.parse_text_partial(data)
        else:
            partial = data if output.allow_text and data else None
        if partial is not None and self._run.finisher.checks_partial_output:
            partial = await self._run.finisher.partial(partial, call_type)
            return None if partial is NOT_YET else partial
        return partial

    async def get_output(self) -> OutputDataT:
        """Wait for the whole run and return its output."""
        async for _ in self._steps:
            pass
        return self._finish().value

    @property
    def text_so_far(self) -> str:
        """All the text streamed so far (what a display shows)."""
        return self._run.streamed_text()

    def _finish(self) -> FinalOutput:
        """The run's output; raises if the run ended without one (a cut stream)."""
        final = self._run.final
        if final is None:
            raise UnexpectedModelBehavior(f"{self._run.model.label}: the stream stopped before the answer was complete")
        return final

    @property
    def response(self) -> ModelResponse | None:
        """The final response, or None while the run is still going (or if it was cut short)."""
        return None if self._run.final is None else self._run.final.response

    async def stream_response(self, *, debounce_by: float | None = 0.1) -> AsyncIterator[ModelResponse]:
        """The response being streamed, as a `ModelResponse` (`state="incomplete"`) holding what arrived
        so far: its text, and its tool calls with the arguments so far; at most every `debounce_by`
        seconds; then the final response, whole. `validate_response_output` reads one."""
        last_check = 0.0
        calls: dict[int, list[Any]] = {}  # index: [name, id, argument pieces]
        async for item in self._steps:
            if isinstance(item, ToolCallPartDelta):
                call = calls.setdefault(item.index, [item.tool_name_delta or "", item.tool_call_id or "", []])
                if item.args_delta is not None:
                    call[2].append(item.args_json)
            elif isinstance(item, ModelResponse):
                calls = {}
                continue
            elif type(item) is not str:
                continue
            now = time.monotonic()
            if debounce_by is not None and now - last_check < debounce_by:
                continue
            last_check = now
            text = self._run.streaming.text() if self._run.streaming is not None else ""
            parts: list[Any] = [TextPart(content=text)] if text else []
            parts += [ToolCallPart(tool_name=name, args="".join(args), tool_call_id=call_id)
                      for name, call_id, args in calls.values()]
            yield ModelResponse(parts=parts, model_name=self._run.model.label, state="incomplete")
        yield self._finish().response

    async def validate_response_output(self, message: ModelResponse, *, allow_partial: bool = False) -> OutputDataT:
        """The output a response (e.g. from `stream_response`) holds: its output tool call's arguments, or
        its text, validated (as far as they go, with `allow_partial=True`). Raises pydantic's
        `ValidationError` when they do not validate."""
        output = self._run.output
        call = next((part for part in message.tool_calls if part.tool_name in output.tools), None)
        if call is not None:
            call_type = output.tools[call.tool_name]
            if allow_partial and isinstance(call.args, str):
                value = call_type.validate_partial(call.args)
                if value is None:
                    raise ValidationError.from_exception_data("Output", [{"type": "missing", "loc": (), "input": call.args}])
                return value
            return call_type.validate(call.args)
        if output.mode in ("native", "prompted"):
            return output.parse_text_partial(message.text) if allow_partial else output.parse_text(message.text)
        return message.text  # type: ignore[return-value]

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` stopped this run."""
        return self._run.cancel_requested

    async def cancel(self) -> None:
        """Stop the run here: the HTTP stream closes, the response cut short stays in the history as
        `state="interrupted"` (with the text that arrived), and nothing more runs."""
        if self._run.final is not None:
            return
        self._run.cancel_requested = True
        self._run.cancelled()
        await self._steps.aclose()


AgentRunResult = RunResult  # PydanticAI v2's name



async def debounced_text(items: AsyncIterator[Any], debounce_by: float | None) -> AsyncIterator[str]:
    """The text pieces among `items`, those arriving within `debounce_by` seconds of the first one held
    joined as one (a piece after the window joins and releases them; any other item releases them);
    empty pieces left out."""
    if debounce_by is None:
        async for item in items:
            if type(item) is str and item:
                yield item
        return
    held: list[str] = []
    opened = 0.0
    clock = time.monotonic
    async for item in items:
        if type(item) is str:
            if not item:
                continue
            now = clock()
            if not held:
                opened = now
            held.append(item)
            if now - opened < debounce_by:
                continue
        if held:
            yield "".join(held)
            held.clear()
    if held:
        yield "".join(held)
