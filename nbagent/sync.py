"""`run_coroutine_sync`: a coroutine run to completion from synchronous code (`run_sync`, a row map's batch
jobs), in or out of a running event loop.

Its own module because it owns process-wide state (the private loop reused across calls) and the one
place nest-asyncio is applied, which nothing else in the core should touch.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nest_asyncio

_own_loop: asyncio.AbstractEventLoop | None = None


def run_coroutine_sync(coroutine: Any) -> Any:
    """Run a coroutine to completion from synchronous code.

    With no running loop, a private loop is reused across calls so the pooled HTTP connections are
    too. Inside a running loop (Jupyter, IPython autoawait) nest-asyncio makes the loop re-entrant;
    it is applied only then.
    """
    global _own_loop
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        if _own_loop is None or _own_loop.is_closed():
            _own_loop = asyncio.new_event_loop()
        return _own_loop.run_until_complete(coroutine)
    if not getattr(loop, "_nest_patched", False):
        nest_asyncio.apply(loop)
    return loop.run_until_complete(coroutine)
