"""Stopping a run on purpose, and continuing from where it stopped.

    token = CancellationToken()
    task = asyncio.create_task(agent.run("...", cancellation_token=token))
    token.cancel()                      # a "stop" button, from any task or thread
    except RunCancelled as exc:  exc.all_messages()  ->  agent.run(message_history=...)

A token governs every run it was given to, and stays cancelled: a run handed an already-cancelled
token does not start. Inside a run, `ctx.cancel()` does the same for its own run. The history a cancel
leaves may end with tool calls that never answered (the cancel came while tools ran);
`resume` answers them when that history is passed back, so every provider accepts it.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from .messages import ModelMessage, ToolReturnPart

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
