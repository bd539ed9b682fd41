"""Streaming an answer into the notebook: a background event loop does the HTTP, the cell shows it.

The kernel's own event loop is left alone: requests run on one long-lived loop in a daemon thread
(which also keeps the HTTP connection pool warm between cells), while the cell's thread wakes at
most `MAX_UPDATES_PER_SECOND` times a second to update one display in place. The first token is
shown at once, the final text exactly, and an interrupt cancels the request and closes its stream.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine

MAX_UPDATES_PER_SECOND = 15
CANCEL_GRACE_SECONDS = 5.0


class LoopThread:
    """One asyncio loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="nbagent-loop", daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, Any]) -> "asyncio.Future[Any]":
        """Start a task on the loop; returns a concurrent future for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[return-value]


_loop_thread: LoopThread | None = None


def loop_thread() -> LoopThread:
    global _loop_thread
    if _loop_thread is None:
        _loop_thread = LoopThread()
    return _loop_thread


@dataclass
class StreamProgress:
    """What the request thread has received so far; read by the display thread."""

    parts: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    finished_at: float | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def add(self, delta: str) -> None:
        self.parts.append(delta)
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            self.wake.set()

    def finish(self) -> None:
        self.finished_at = time.perf_counter()
        self.done.set()
        self.wake.set()

    @property
    def text(self) -> str:
        return "".join(self.parts)


def follow(
    progress: StreamProgress,
    render: Callable[[str], None],
    *,
    max_updates_per_second: float = MAX_UPDATES_PER_SECOND,
) -> None:
    """Call `render(text)` as the answer grows: first token at once, then at most N times a second.

    Returns when the answer is finished (the caller renders the final text). KeyboardInterrupt
    propagates to the caller, who cancels the request.
    """
    interval = 1.0 / max_updates_per_second
    shown = 0
    progress.wake.wait()  # first token or the end, whichever comes first
    last = 0.0
    while True:
        finished = progress.done.is_set()
        count = len(progress.parts)
        if count != shown and not finished:
            render("".join(progress.parts[:count]))
            shown = count
            last = time.perf_counter()
        if finished:
            return
        progress.done.wait(max(0.0, last + interval - time.perf_counter()))


def cancel_and_wait(future: Any, progress: StreamProgress) -> None:
    """Cancel the request task and wait (briefly) until it has closed its HTTP stream."""
    future.cancel()
    progress.done.wait(CANCEL_GRACE_SECONDS)


def is_kernel() -> bool:
    """True in a Jupyter kernel (rich displays can be updated in place); False in a terminal IPython."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
