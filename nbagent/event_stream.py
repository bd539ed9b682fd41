"""A run as a stream of typed events: `run_stream_events()` and `event_stream_handler=`.

`run_events(run)` turns what the loop's `steps()` yields (text as plain `str`, tool-call and reasoning
pieces, finished responses, tool events) into PydanticAI's events, in its order: a part starts
(`PartStartEvent`), grows (`PartDeltaEvent`) and ends (`PartEndEvent`, once its response is whole);
`FinalResultEvent` follows the start of the part that may be the run's output (text, when text is an
output; an output tool's call); tools are called and answer; `AgentRunResultEvent` ends the stream.

`AgentRunEvents` is what `run_stream_events()` returns: iterate it directly, or enter it with
`async with` first (leaving the block closes the run); `cancel()` stops the run from any task, the
iteration then raising `RunCancelled` with the history so far.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Generic

from .errors import UserError
from .events import (AgentRunResultEvent, AgentStreamEvent, FinalResultEvent, FunctionToolCallEvent,
                     FunctionToolResultEvent, PartEndEvent, ResponseEvents, ThinkingPartDelta, ToolCallPartDelta)
from .messages import ModelMessage, ModelResponse, RunUsage
from .output import OutputDataT
from .result import RunResult

if TYPE_CHECKING:
    from .loop import AgentRun, StepItem
    from .tools import RunContext

EventStreamHandler = Callable[["RunContext[Any]", AsyncIterator[AgentStreamEvent]], Awaitable[None]]


class StepEvents:
    """Turns the loop's step items into events, one response at a time (shared with `Agent.iter`'s nodes)."""

    def __init__(self, run: AgentRun) -> None:
        self.parts = ResponseEvents()
        self.final_announced = False
        self.output_tools = run.output.tools
        self.allow_text = run.output.allow_text and run.output.mode not in ("native", "prompted")

    def convert(self, item: StepItem) -> tuple[Any, ...]:
        """The events an item makes: a part event, followed by `FinalResultEvent` when that part may be
        the output; the ends of the parts once the response is whole; tool events as they are."""
        if type(item) is str:
            event = self.parts.text(item)
            if not self.final_announced and self.allow_text and event.event_kind == "part_start" \
                    and not self.parts.calls:
                self.final_announced = True
                return event, FinalResultEvent(None, None)
            return (event,)
        if isinstance(item, ToolCallPartDelta):
            event = self.parts.tool_call(item)
            if not self.final_announced and event.event_kind == "part_start" and item.tool_name_delta in self.output_tools:
                self.final_announced = True
                return event, FinalResultEvent(item.tool_name_delta, item.tool_call_id)
            return (event,)
        if isinstance(item, ThinkingPartDelta):
            return (self.parts.thinking(item),)
        if isinstance(item, ModelResponse):
            ends = tuple(PartEndEvent(index, part) for index, part in enumerate(item.parts) if index < self.parts.count)
            self.parts = ResponseEvents()
            return ends
        if isinstance(item, (FunctionToolCallEvent, FunctionToolResultEvent)):
            return (item,)
        return ()


async def run_events(run: AgentRun) -> AsyncIterator[AgentStreamEvent | AgentRunResultEvent[Any]]:
    """Drive `run` to its end, yielding its events; the last is the `AgentRunResultEvent`."""
    steps = run.steps()
    events = StepEvents(run)
    try:
        async for item in steps:
            for event in events.convert(item):
                yield event
        assert run.final is not None  # steps() ends only with the output
        if not events.final_announced:
            yield FinalResultEvent(run.final.tool_name, run.final.tool_call_id)
        yield AgentRunResultEvent(RunResult(run, run.final))
    finally:
        await steps.aclose()


async def handled_steps(run: AgentRun, handler: EventStreamHandler) -> AsyncIterator[StepItem]:
    """The run's steps for `run_stream`, their events also handed to `handler(ctx, events)` (a task
    reading a queue), until the output starts streaming: from then the caller streams it."""
    _check_handler(handler)
    queue: asyncio.Queue[Any] = asyncio.Queue()
    done = object()

    async def events() -> AsyncIterator[AgentStreamEvent]:
        while (event := await queue.get()) is not done:
            yield event

    task = asyncio.ensure_future(handler(run.context(), events()))
    converter = StepEvents(run)
    steps = run.steps()
    try:
        async for item in steps:
            if not converter.final_announced:
                for event in converter.convert(item):
                    queue.put_nowait(event)
                if converter.final_announced:
                    queue.put_nowait(done)
                    await task
            yield item
    finally:
        queue.put_nowait(done)
        if not task.done():
            await task
        await steps.aclose()


def _check_handler(handler: Any) -> None:
    if not callable(handler) or not inspect.iscoroutinefunction(handler):
        raise UserError("event_stream_handler must be an async function (ctx, events) -> None")


async def run_with_handler(run: AgentRun, handler: EventStreamHandler) -> RunResult[Any]:
    """Drive `run`, handing its events to `handler(ctx, events)`; what the handler leaves is drained."""
    _check_handler(handler)
    outcome: list[RunResult[Any]] = []
    events = run_events(run)

    async def stream() -> AsyncIterator[AgentStreamEvent]:
        async for event in events:
            if isinstance(event, AgentRunResultEvent):
                outcome.append(event.result)
            else:
                yield event

    inner = stream()
    try:
        await handler(run.context(), inner)
        async for _ in inner:
            pass
    finally:
        await inner.aclose()
        await events.aclose()
    return outcome[0]


class AgentRunEvents(Generic[OutputDataT]):
    """The events of one run: `async for event in agent.run_stream_events(...)`, or
    `async with agent.run_stream_events(...) as events: async for event in events`."""

    def __init__(self, run: AgentRun) -> None:
        self._run = run
        self._events = run_events(run)
        self.result: RunResult[OutputDataT] | None = None  # once the run is over

    async def __aenter__(self) -> AgentRunEvents[OutputDataT]:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._events.aclose()

    def __aiter__(self) -> AgentRunEvents[OutputDataT]:
        return self

    async def __anext__(self) -> AgentStreamEvent | AgentRunResultEvent[OutputDataT]:
        try:
            event = await self._run.guard(self._events.__anext__())
        except BaseException:
            await self._events.aclose()
            raise
        if type(event) is AgentRunResultEvent:
            self.result = event.result
        return event

    def cancel(self) -> None:
        """Stop the run (from any task or thread); iterating on raises `RunCancelled`."""
        self._run.cancel()

    def all_messages(self) -> list[ModelMessage]:
        return list(self._run.messages)

    def new_messages(self) -> list[ModelMessage]:
        return self._run.new_messages

    @property
    def usage(self) -> RunUsage:
        return self._run.usage
