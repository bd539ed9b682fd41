"""Streaming an answer into the notebook: a background event loop does the HTTP, the cell shows it.

The kernel's own event loop is left alone: requests run on one long-lived loop in a daemon thread
(which also keeps the HTTP connection pool warm between cells), while the cell's thread wakes at
most `MAX_UPDATES_PER_SECOND` times a second to update one display in place. The first token is
shown at once, the final text exactly, and an interrupt cancels the request and closes its stream.
What must happen on the cell's own thread while the request waits for it (asking the user to approve
code, and running that code where an interrupt reaches it) is queued by the request and done there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, Iterator

from IPython import get_ipython

from .view.thinking import Thinking

MAX_UPDATES_PER_SECOND = 15
CANCEL_GRACE_SECONDS = 5.0
INTERRUPT_SLICE = 0.1
"""The longest a `%%ask` cell's await lasts. ipykernel delivers an interrupt to an async cell only when
the await it sits in returns (its SIGINT handler queues the cancel without waking the kernel's loop), so
every wait of the cell is cut into slices of this length: the interrupt lands within one."""


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
    """What the request thread has produced so far; read, and served, by the cell's thread.

    `pieces` are the answer in order: text deltas (`str`), and blocks shown on lines of their own (tool
    activity lines, whose text changes in place when the tool answers; the model's thinking). `changes`
    counts every change, so the display follows in-place changes too. Work that must happen on the cell's thread (asking the
    user to approve code, running it) is queued with `on_cell_thread` and done by `follow`.
    """

    pieces: list[Any] = field(default_factory=list)
    changes: int = 0
    has_blocks: bool = False
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    finished_at: float | None = None
    thinking: Thinking | None = None  # the thinking shown live, if the model is thinking now
    wake: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    cell_tasks: "queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]" = field(
        default_factory=queue.SimpleQueue)

    def add(self, delta: str) -> None:
        self._end_thinking()
        self.pieces.append(delta)
        self.changes += 1
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            self.wake.set()

    def add_block(self, block: Any) -> None:
        """A piece shown on lines of its own (`str(block)`), e.g. a tool call; shown at once."""
        self._end_thinking()
        self.pieces.append(block)
        self.has_blocks = True
        self.changed()

    def add_thinking(self, delta: str) -> None:
        """More of the model's thinking: shown live until anything else arrives, then as one line."""
        if self.thinking is None:
            self.add_block(Thinking())
            self.thinking = self.pieces[-1]
        self.thinking.add(delta)
        self.changed()

    def _end_thinking(self) -> None:
        if self.thinking is not None:
            self.thinking.finish()
            self.thinking = None

    def changed(self) -> None:
        """A block changed in place: show it at the next update, without waiting for text."""
        self.changes += 1
        self.wake.set()

    async def on_cell_thread(self, work: Callable[[], Any]) -> Any:
        """Run `work()` on the cell's thread (which `follow` keeps serving) and wait for its result."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.cell_tasks.put((work, future))
        self.wake.set()
        return await asyncio.wrap_future(future)

    def run_cell_tasks(self) -> None:
        """Do the queued cell-thread work; a failure goes to whoever waits for it, an interrupt to the cell."""
        while (task := self._next_task()) is not None:
            work, future = task
            with _settling(future):
                future.set_result(work())

    async def run_cell_tasks_async(self) -> None:
        """`run_cell_tasks` in an async cell, where work may await (e.g. a click) while the kernel's loop runs."""
        while (task := self._next_task()) is not None:
            work, future = task
            with _settling(future):
                result = work()
                future.set_result(await result if inspect.isawaitable(result) else result)

    def _next_task(self) -> tuple[Callable[[], Any], "concurrent.futures.Future[Any]"] | None:
        try:
            return self.cell_tasks.get_nowait()
        except queue.Empty:
            return None

    def finish(self) -> None:
        self._end_thinking()
        self.finished_at = time.perf_counter()
        self.done.set()
        self.wake.set()

    def text(self, *, upto_pending: bool = False) -> str:
        """The answer so far as Markdown (see `compose`)."""
        if not self.has_blocks:
            return "".join(self.pieces)
        return compose(list(self.pieces), upto_pending=upto_pending)


@contextlib.contextmanager
def _settling(future: "concurrent.futures.Future[Any]") -> Iterator[None]:
    """A failure of cell-thread work goes to the tool waiting for it; an interrupt cancels that tool (it
    must never reach the request loop, which it would stop) and goes on to the cell."""
    try:
        yield
    except Exception as exc:
        if not future.done():  # a tool cancelled meanwhile no longer waits
            future.set_exception(exc)
    except BaseException:
        future.cancel()
        raise


def compose(pieces: list[Any], *, upto_pending: bool = False) -> str:
    """Text pieces as written, each other piece (`str(piece)`) on lines of its own. With `upto_pending`,
    stop before the first piece still `pending` (for displays that can only append, like a terminal)."""
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        if upto_pending and getattr(piece, "pending", False):
            break
        tail = "".join(out[-2:])
        if tail and not tail.endswith("\n\n"):
            out.append("\n" if tail.endswith("\n") else "\n\n")
        out.append(f"{piece}\n\n")
    return "".join(out)


def follow(
    progress: StreamProgress,
    render: Callable[[str], bool | None],
    *,
    max_updates_per_second: float = MAX_UPDATES_PER_SECOND,
    upto_pending: bool = False,
) -> None:
    """Call `render(text)` as the answer grows: the first token at once, then at most N times a second,
    doing any work the request queued for the cell's thread in between. When `render` returns False
    (it showed only part of the text, answer_view.py), it is called again at the next update's time
    even if nothing new arrived: a pause in the stream never hides the end of what came.

    Returns when the answer is finished (the caller renders the final text). KeyboardInterrupt
    propagates to the caller, who cancels the request.
    """
    for timeout in _updates(progress, render, max_updates_per_second, upto_pending):
        progress.run_cell_tasks()
        progress.wake.wait(timeout)


async def follow_async(
    progress: StreamProgress,
    render: Callable[[str], bool | None],
    *,
    max_updates_per_second: float = MAX_UPDATES_PER_SECOND,
) -> None:
    """`follow` in an async cell: between updates the kernel's loop is free, so widget clicks arrive
    while the answer waits. An interrupt arrives as CancelledError (or KeyboardInterrupt from code run
    for a tool) and propagates to the caller; no wait is longer than `INTERRUPT_SLICE`."""
    for timeout in _updates(progress, render, max_updates_per_second, False):
        await progress.run_cell_tasks_async()
        if not progress.wake.is_set():
            await asyncio.to_thread(progress.wake.wait, INTERRUPT_SLICE if timeout is None else min(timeout, INTERRUPT_SLICE))


async def interruptible(future: "asyncio.Future[Any]") -> Any:
    """Await `future` (e.g. a click) in slices of `INTERRUPT_SLICE`, so the kernel's interrupt reaches
    the cell meanwhile; the future itself is left alone by the interrupt."""
    while not future.done():
        await asyncio.wait({future}, timeout=INTERRUPT_SLICE)
    return future.result()


def _updates(progress: StreamProgress, render: Callable[[str], bool | None], max_updates_per_second: float,
             upto_pending: bool) -> Iterator[float | None]:
    """The display side of an answer: renders when due, and yields how long to wait for `progress.wake`
    next (None: until the first token, tool call, work for the cell, or the end). Ends when it is done."""
    interval = 1.0 / max_updates_per_second
    shown = 0
    last = float("-inf")
    yield None
    while True:
        progress.wake.clear()
        if progress.done.is_set():
            return
        now = time.perf_counter()
        changes = progress.changes
        if changes != shown and (now >= last + interval or not progress.cell_tasks.empty()):  # shown before asking
            whole = render(progress.text(upto_pending=upto_pending)) is not False
            shown, last = changes if whole else -1, now
        yield max(0.0, last + interval - time.perf_counter()) or interval


def cancel_and_wait(future: Any, progress: StreamProgress) -> None:
    """Cancel the request task and wait (briefly) until it has closed its HTTP stream."""
    future.cancel()
    progress.done.wait(CANCEL_GRACE_SECONDS)


def is_kernel() -> bool:
    """True in a Jupyter kernel (rich displays can be updated in place); False in a terminal IPython."""
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
