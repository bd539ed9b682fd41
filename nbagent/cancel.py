"""Stopping a run on purpose, and continuing from where it stopped.

    token = CancellationToken()
    task = asyncio.create_task(agent.run("...", cancellation_token=token))
    token.cancel()                      # a "stop" button, from any task or thread
    except RunCancelled as exc:  exc.all_messages()  ->  agent.run(message_history=...)

A token governs every run it was given to, and stays cancelled: a run handed an already-cancelled
token does not start. Inside a run, `ctx.cancel()` does the same for its own run. The history a cancel
leaves may end with tool calls that never answered (the cancel came while tools ran);
`resume` answers them when that history is passed back, so every provider accepts it.
`RunCancellation` is the run's side of it (a mixin of `AgentRun`): `cancel()` and the `guard()` each awaited
piece of a run goes through.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from typing import TYPE_CHECKING, Any, Awaitable

from .errors import RunCancelled
from .messages import ModelMessage, ModelResponse, TextPart, ToolReturnPart

if TYPE_CHECKING:
    from .loop import AgentRun

INTERRUPTED = "The run was cancelled before this tool call returned."


class CancellationToken:
    """Cancels the runs it is passed to (`cancellation_token=`); `cancel()` is idempotent and thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._runs: weakref.WeakSet[AgentRun] = weakref.WeakSet()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            runs = list(self._runs)
        for run in runs:
            run.cancel()

    def attach(self, run: AgentRun) -> None:
        """Govern `run` (a cancelled token stops it before its first request)."""
        with self._lock:
            self._runs.add(run)
            cancelled = self._cancelled
        if cancelled:
            run.cancel()

    def __repr__(self) -> str:
        return f"CancellationToken(cancelled={self._cancelled})"


def resume(history: list[ModelMessage]) -> tuple[list[ModelMessage], list[Any]]:
    """A history a cancel left, made valid to continue: when it ends with the model calling tools (and
    maybe the interrupted request holding those that returned), the history without that request, and
    the parts the next request starts with: every call answered, the cancelled ones saying so."""
    returned: list[Any] = []
    if history and history[-1].kind == "request" and history[-1].state == "interrupted":
        returned = list(history[-1].parts)
        history = history[:-1]
    if not history or history[-1].kind != "response" or not history[-1].tool_calls:
        return history, returned
    answered = {getattr(part, "tool_call_id", None) for part in returned}
    missing = [ToolReturnPart(tool_name=call.tool_name, content=INTERRUPTED, tool_call_id=call.tool_call_id)
               for call in history[-1].tool_calls if call.tool_call_id not in answered]
    order = {call.tool_call_id: index for index, call in enumerate(history[-1].tool_calls)}
    return history, sorted([*returned, *missing], key=lambda part: order.get(getattr(part, "tool_call_id", None), 0))


class RunCancellation:
    """`AgentRun`'s methods that stop it (a mixin of `AgentRun`, loop.py): `cancel()` from any task or thread,
    `guard()` around each awaited piece so a cancel interrupts it, `cancelled()` the `RunCancelled` it ends with."""

    def cancel(self) -> None:
        """Stop the run: safe from any task or thread, a no-op once it ended. Whoever awaits it gets
        `RunCancelled` (see `guard`)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._cancel_now)
                return
        self._cancel_now()

    def cancel_from_context(self) -> None:
        """`ctx.cancel()`: from a tool (or a function the run calls), in the run's own thread or a worker's."""
        self.cancelled_by_tool = True
        self.cancel()

    def _cancel_now(self) -> None:
        if self.final is not None or self.cancel_requested:
            return
        self.cancel_requested = True
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()  # interrupts the await; guard() turns it into RunCancelled

    async def guard(self, awaitable: Awaitable[Any]) -> Any:
        """Await a piece of the run so that `cancel()` can interrupt it: a cancel asked for ends it as
        `RunCancelled` (the history so far attached); a cancel from the surroundings stays a
        `CancelledError`, carrying the same state for `RunCancelled.from_cancellation`."""
        task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self.cancel_requested:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise self.cancelled()
        self._task = task
        try:
            return await awaitable
        except asyncio.CancelledError as exc:
            if self.cancel_requested and task is not None and task.cancelling() == 1:
                task.uncancel()
                raise self.cancelled() from None
            exc._nbagent_cancelled_run = self.cancelled()  # type: ignore[attr-defined]
            raise
        finally:
            self._task = None

    def cancelled(self) -> RunCancelled:
        """The run stops here: the text of a response cut mid-stream is kept as `state="interrupted"`."""
        if self.streaming is not None:
            text, started = self.streaming.text(), self.streaming.started
            self.streaming = None
            if started:  # kept even empty, as PydanticAI keeps a started part (both wires can send it back);
                self.add(ModelResponse(parts=[TextPart(content=text)], model_name=self.model.label,  # a half
                                       state="interrupted"))  # tool call is dropped
        return RunCancelled(list(self.messages), self.new_messages, self.usage)
