"""The event loop a synchronous `agent.map` runs on: its own, in a worker thread, with the caller
waiting in short slices.

Many concurrent requests inside the kernel's own loop through nest-asyncio sometimes left a kernel
hung after an interrupt; on a loop in a thread, with the caller waiting a quarter of a second at a
time, a KeyboardInterrupt lands in the caller at once: the map is cancelled on its loop (the rows in
flight are lost, every finished one is already in the cache) and the interrupt goes on. One loop is
kept for the process, so its pooled HTTP connections are reused across maps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine, Callable, TypeVar

T = TypeVar("T")
CANCEL_WAIT = 5.0  # seconds an interrupted map may take to cancel its requests before the caller goes on

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _map_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=_loop.run_forever, name="nbagent-map-loop", daemon=True)
            _thread.start()
        return _loop


def run_in_background(coroutine: Coroutine[Any, Any, T], on_tick: Callable[[], None] | None = None,
                      tick: float = 0.25) -> T:
    """Run `coroutine` on the map loop and wait for it here, calling `on_tick` between slices.

    A KeyboardInterrupt (or any exception in `on_tick`) cancels the coroutine, waits for it to unwind
    (at most `CANCEL_WAIT` seconds), and is raised again.
    """
    loop = _map_loop()
    if threading.current_thread() is _thread:
        from ..errors import UserError

        coroutine.close()
        raise UserError("agent.map was called from inside a running map (a tool or validator of one): "
                        "use `await agent.map_async(...)` there")
    finished = threading.Event()

    async def guarded() -> T:
        try:
            return await coroutine
        finally:
            finished.set()

    future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(guarded(), loop)
    try:
        while True:
            try:
                return future.result(timeout=tick)
            except concurrent.futures.TimeoutError:
                if on_tick is not None:
                    on_tick()
    except BaseException:
        future.cancel()
        finished.wait(CANCEL_WAIT)
        raise
