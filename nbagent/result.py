"""Results of agent runs: the finished `RunResult` and the live `StreamedRunResult`."""

from __future__ import annotations

from typing import AsyncIterator

from .errors import UnexpectedModelBehavior
from .messages import ModelMessage, ModelRequest, ModelResponse, TextPart, Usage, messages_to_json
from .models.base import StreamedResponse


class _Conversation:
    """What both result kinds share: the history they were given and the turn they added."""

    _history: list[ModelMessage]
    _request: ModelRequest

    def _new(self) -> list[ModelMessage]:
        raise NotImplementedError

    def new_messages(self) -> list[ModelMessage]:
        """The messages this run added (its request and, once there is one, the answer)."""
        return self._new()

    def all_messages(self) -> list[ModelMessage]:
        """The whole conversation: the history passed in, then this run's messages."""
        return self._history + self._new()

    def new_messages_json(self) -> bytes:
        return messages_to_json(self._new())

    def all_messages_json(self) -> bytes:
        return messages_to_json(self.all_messages())


class RunResult(_Conversation):
    """A completed run. `output` is the answer text."""

    def __init__(self, history: list[ModelMessage], request: ModelRequest, response: ModelResponse) -> None:
        self._history = history
        self._request = request
        self.response = response
        self.output: str = response.text

    def _new(self) -> list[ModelMessage]:
        return [self._request, self.response]

    def usage(self) -> Usage:
        return self.response.usage

    def __repr__(self) -> str:
        return f"RunResult(output={self.output!r}, usage={self.usage()!r})"


class _TextBuffer:
    """The answer so far, kept as a few large strings so memory follows the text, not the chunk count
    (100k one-word deltas held as separate str objects would cost ~60 bytes each, ten times the text)."""

    __slots__ = ("_blocks", "_tail")
    _BLOCK = 512

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._tail: list[str] = []

    def append(self, piece: str) -> None:
        tail = self._tail
        tail.append(piece)
        if len(tail) >= self._BLOCK:
            self._blocks.append("".join(tail))
            tail.clear()

    def text(self) -> str:
        return "".join(self._blocks) + "".join(self._tail)


class StreamedRunResult(_Conversation):
    """A run whose answer is still arriving; iterate `stream_text()` or await `get_output()`."""

    def __init__(self, history: list[ModelMessage], request: ModelRequest, stream: StreamedResponse) -> None:
        self._history = history
        self._request = request
        self._stream = stream
        self._deltas = stream.deltas()
        self._parts = _TextBuffer()
        self._response: ModelResponse | None = None

    @property
    def is_complete(self) -> bool:
        """True once the provider's end marker arrived: the answer is whole."""
        return self._response is not None

    async def stream_text(self, *, delta: bool = False) -> AsyncIterator[str]:
        """Yield the answer as it grows (accumulated text), or only the new pieces with `delta=True`."""
        parts = self._parts
        if delta:
            async for piece in self._deltas:
                parts.append(piece)
                yield piece
        else:
            text = parts.text()
            async for piece in self._deltas:
                parts.append(piece)
                text += piece
                yield text
        self._finish()

    async def get_output(self) -> str:
        """Wait for the whole answer and return it."""
        async for piece in self._deltas:
            self._parts.append(piece)
        self._finish()
        return self._parts.text()

    @property
    def text_so_far(self) -> str:
        return self._parts.text()

    def _finish(self) -> None:
        if self._response is not None:
            return
        if not self._stream.complete:
            raise UnexpectedModelBehavior(f"{self._stream.model_name}: the stream stopped before the answer was complete")
        self._response = ModelResponse(
            parts=[TextPart(content=self._parts.text())],
            model_name=self._stream.model_name,
            usage=self._stream.usage,
            finish_reason=self._stream.finish_reason,
        )

    def _new(self) -> list[ModelMessage]:
        return [self._request] if self._response is None else [self._request, self._response]

    def usage(self) -> Usage:
        return self._stream.usage

    @property
    def response(self) -> ModelResponse | None:
        """The finished answer, or None while it is still streaming (or if it was cut short)."""
        return self._response
