"""Where the sync functions the agent calls for you run (tools, history processors, `prepare_tools`,
instructions and system prompt functions, deferred-call handlers): a worker thread, so a slow one never
blocks the event loop.

By default that is asyncio's own pool (`asyncio.to_thread`). A long-running server can bound the threads
with an executor of its own, as PydanticAI's tools-advanced page describes: for one agent,
`Agent(capabilities=[UseThreadExecutor(executor)])`; for every run started inside a block,
`with Agent.using_thread_executor(executor):` (an agent's own executor wins). Context variables reach the
function either way.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, Callable, Iterator

__all__ = ["in_thread", "using_thread_executor", "run_executor"]

_EXECUTOR: contextvars.ContextVar[Executor | None] = contextvars.ContextVar("nbagent_thread_executor", default=None)


@contextmanager
def using_thread_executor(executor: Executor) -> Iterator[None]:
    """The runs started inside the block run sync functions on `executor`."""
    token = _EXECUTOR.set(executor)
    try:
        yield
    finally:
        _EXECUTOR.reset(token)


def run_executor(own: Executor | None) -> Executor | None:
    """A run's executor: the agent's own (`UseThreadExecutor`), else the block's it started in, else None."""
    return own if own is not None else _EXECUTOR.get()


async def in_thread(executor: Executor | None, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)` in a worker thread of `executor` (asyncio's pool when None)."""
    if executor is None:
        return await asyncio.to_thread(function, *args, **kwargs)
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor, call)
