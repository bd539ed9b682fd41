"""How many runs of an agent go at once: `Agent(max_concurrency=10)`, as PydanticAI's agent page
("Concurrency Limiting") describes it.

`max_concurrency` is a number of runs, a `ConcurrencyLimit(max_running, max_queued=None)`, or a
`ConcurrencyLimiter` shared by several agents. A run takes a slot before its first request and gives it
back when it ends however it ends (answer, error, cancel); a run that finds every slot taken waits in
line, first come first served, and with `max_queued` set one that finds the line full fails at once
with `ConcurrencyLimitExceeded` (backpressure instead of an unbounded queue). A run cancelled while it
waits leaves the line; a slot handed to it as it was cancelled goes on to the next in line.

The limiter is not tied to one event loop: `run_sync` may run on a private loop, in a thread or in
Jupyter's loop, and all of them share an agent's slots (a lock guards the counts; a waiter is woken on
its own loop).

`ConcurrencyLimitedModel(model, limiter=5)` limits HTTP requests instead of runs: every request of that
model (from any agent) takes a slot, a streamed one until its stream is closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence, Union

from .errors import NbAgentError, UserError
from .messages import ModelMessage, ModelResponse
from .models import infer_model
from .models.base import Model, ModelRequestParameters, StreamedResponse
from .settings import ModelSettings

__all__ = ["ConcurrencyLimit", "ConcurrencyLimiter", "ConcurrencyLimitExceeded", "ConcurrencyLimitedModel",
           "AnyConcurrencyLimit", "limiter_for"]


class ConcurrencyLimitExceeded(NbAgentError):
    """A run found every slot taken and the line of waiting runs full (`max_queued`)."""


def _check(max_running: object, max_queued: object, label: str) -> None:
    if not isinstance(max_running, int) or isinstance(max_running, bool) or max_running < 1:
        raise UserError(f"{label}: max_running must be a whole number >= 1, got {max_running!r} "
                        "(max_concurrency=None for no limit)")
    if max_queued is not None and (not isinstance(max_queued, int) or isinstance(max_queued, bool)
                                   or max_queued < 0):
        raise UserError(f"{label}: max_queued must be a whole number >= 0 or None (no bound), got {max_queued!r}")


@dataclass
class ConcurrencyLimit:
    """At most `max_running` runs at once; at most `max_queued` waiting for a slot (None: no bound)."""

    max_running: int
    max_queued: int | None = None

    def __post_init__(self) -> None:
        _check(self.max_running, self.max_queued, "ConcurrencyLimit")


class _Waiter:
    __slots__ = ("loop", "future", "granted")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False  # a slot was handed to it (it holds the slot even if it no longer wants it)


def _wake(waiter: _Waiter) -> None:
    if not waiter.future.done():
        waiter.future.set_result(None)


class ConcurrencyLimiter:
    """Slots for runs, shareable by several agents (`max_concurrency=limiter` on each)."""

    def __init__(self, max_running: int, *, max_queued: int | None = None, name: str | None = None) -> None:
        _check(max_running, max_queued, "ConcurrencyLimiter")
        self.max_running = max_running
        self.max_queued = max_queued
        self.name = name
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: deque[_Waiter] = deque()

    @property
    def running_count(self) -> int:
        """Runs holding a slot now."""
        return self._running

    @property
    def waiting_count(self) -> int:
        """Runs waiting in line for a slot now."""
        return len(self._waiting)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return (f"ConcurrencyLimiter({name}max_running={self.max_running}, max_queued={self.max_queued}, "
                f"running={self._running}, waiting={len(self._waiting)})")

    async def acquire(self) -> None:
        """Take a slot, waiting in line for one if all are taken; pair it with one `release()`."""
        with self._lock:
            if self._running < self.max_running and not self._waiting:
                self._running += 1
                return
            if self.max_queued is not None and len(self._waiting) >= self.max_queued:
                owner = f" for {self.name}" if self.name else ""
                raise ConcurrencyLimitExceeded(
                    f"Concurrency queue depth ({len(self._waiting) + 1}) exceeds max_queued ({self.max_queued}){owner}: "
                    f"{self._running} runs hold the {self.max_running} slots; raise max_queued or start fewer runs")
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiting.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                if waiter.granted:
                    self._hand_on()  # the slot came as it was cancelled: the next in line gets it
                else:
                    self._waiting.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: the first run in line gets it, else it is free."""
        with self._lock:
            self._hand_on()

    def _hand_on(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if waiter.loop.is_closed():
                continue
            waiter.granted = True
            waiter.loop.call_soon_threadsafe(_wake, waiter)
            return
        self._running -= 1


AnyConcurrencyLimit = Union[int, ConcurrencyLimit, ConcurrencyLimiter, None]


def limiter_for(limit: AnyConcurrencyLimit, owner: str,
                option: str = "Agent(max_concurrency=...)") -> ConcurrencyLimiter | None:
    """The limiter `max_concurrency=` (or `option`) asks for (None: not limited)."""
    if limit is None or isinstance(limit, ConcurrencyLimiter):
        return limit
    if isinstance(limit, ConcurrencyLimit):
        return ConcurrencyLimiter(limit.max_running, max_queued=limit.max_queued, name=owner)
    if isinstance(limit, int) and not isinstance(limit, bool):
        _check(limit, None, option.replace("...", repr(limit)))
        return ConcurrencyLimiter(limit, name=owner)
    raise UserError(f"{option} takes a number, ConcurrencyLimit(max_running, max_queued) or a ConcurrencyLimiter, "
                    f"got {type(limit).__name__}")


class ConcurrencyLimitedModel(Model):
    """A model whose requests each take a slot of `limiter` (a number, a `ConcurrencyLimit`, or a
    `ConcurrencyLimiter` shared with other models): at most that many HTTP requests at once, however many
    agents and runs use it. A streamed request holds its slot until its stream is closed. Everything
    else (name, settings, provider) is the wrapped model's."""

    def __init__(self, wrapped: Model | str, limiter: int | ConcurrencyLimit | ConcurrencyLimiter) -> None:
        self.wrapped = infer_model(wrapped)
        super().__init__(self.wrapped.model_name, settings=self.wrapped.settings)
        self.system = self.wrapped.system
        found = limiter_for(limiter, self.wrapped.label, "ConcurrencyLimitedModel(limiter=...)")
        if found is None:
            raise UserError("ConcurrencyLimitedModel(limiter=None) limits nothing: give a number of requests, a "
                            "ConcurrencyLimit or a ConcurrencyLimiter (or use the model itself)")
        self.limiter = found

    @property
    def label(self) -> str:
        return self.wrapped.label

    def __getattr__(self, name: str) -> Any:  # what a caller asks of the wrapped model (its provider, ...)
        if name == "wrapped":
            raise AttributeError(name)
        return getattr(self.wrapped, name)

    async def request(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                      params: ModelRequestParameters | None = None) -> ModelResponse:
        await self.limiter.acquire()
        try:
            return await self.wrapped.request(messages, settings, params)
        finally:
            self.limiter.release()

    @asynccontextmanager
    async def request_stream(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                             params: ModelRequestParameters | None = None) -> AsyncIterator[StreamedResponse]:
        await self.limiter.acquire()
        try:
            async with self.wrapped.request_stream(messages, settings, params) as stream:
                yield stream
        finally:
            self.limiter.release()
