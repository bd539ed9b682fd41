"""`capture_run_messages()`: the messages of a run, kept even when the run fails.

    with capture_run_messages() as messages:
        try:
            agent.run_sync("...")
        except UnexpectedModelBehavior:
            print(messages)  # what was said up to the failure

The list handed out is the run's own message list (the history given, the request, then each
response and tool-return request as it happens), bound by the first run started inside the block;
later runs in the same block leave it alone, as in PydanticAI.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from .messages import ModelMessage

_capture: ContextVar["_Capture | None"] = ContextVar("nbagent_capture_run_messages", default=None)


class _Capture:
    __slots__ = ("messages", "bound")

    def __init__(self) -> None:
        self.messages: list[ModelMessage] = []
        self.bound = False


@contextmanager
def capture_run_messages() -> Iterator[list[ModelMessage]]:
    """Yield a list that becomes the messages of the first run started inside the block."""
    capture = _Capture()
    token = _capture.set(capture)
    try:
        yield capture.messages
    finally:
        _capture.reset(token)


def run_messages(messages: list[ModelMessage]) -> list[ModelMessage]:
    """The list a new run keeps its messages in: the capturing block's, if one waits for a run, else `messages`."""
    capture = _capture.get()
    if capture is None or capture.bound:
        return messages
    capture.bound = True
    capture.messages[:] = messages
    return capture.messages
