"""The one small protocol every wire format implements: a request, and a streamed request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import AsyncGenerator, AsyncIterator, Sequence

from ..messages import ModelMessage, ModelResponse, TextPart, Usage
from ..settings import ModelSettings


class StreamedResponse(ABC):
    """Text deltas of one answer as they arrive; `usage` and `finish_reason` fill in as it goes.

    `complete` turns true only when the provider's end marker arrived, so a cut stream is never
    mistaken for a finished answer.
    """

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.usage = Usage(requests=1)
        self.finish_reason: str | None = None
        self.complete = False

    def __aiter__(self) -> AsyncIterator[str]:
        return self.deltas()

    @abstractmethod
    def deltas(self) -> AsyncGenerator[str, None]:
        """Yield text deltas; set `complete` when the stream ended properly."""


class Model(ABC):
    """A model behind one wire protocol. `system` names the provider (openai, anthropic, test, ...)."""

    system: str = "unknown"

    def __init__(self, model_name: str, *, settings: ModelSettings | None = None) -> None:
        from ..settings import validate_settings

        self.model_name = model_name
        self.settings: ModelSettings = validate_settings(settings)

    @property
    def label(self) -> str:
        """`provider:model`, as users write it; used in errors and footers."""
        return f"{self.system}:{self.model_name}"

    @abstractmethod
    async def request(self, messages: Sequence[ModelMessage], settings: ModelSettings) -> ModelResponse:
        """Send the conversation, return the whole answer."""

    @abstractmethod
    def request_stream(
        self, messages: Sequence[ModelMessage], settings: ModelSettings
    ) -> AbstractAsyncContextManager[StreamedResponse]:
        """An async context manager: the request is sent on entry; leaving closes the stream."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


class LocalModel(Model):
    """A model computed in-process: `request` collects the stream, so subclasses only stream."""

    @abstractmethod
    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings) -> StreamedResponse:
        """Build the streamed answer for this conversation."""

    @asynccontextmanager
    async def request_stream(
        self, messages: Sequence[ModelMessage], settings: ModelSettings
    ) -> AsyncIterator[StreamedResponse]:
        yield self._stream(messages, settings)

    async def request(self, messages: Sequence[ModelMessage], settings: ModelSettings) -> ModelResponse:
        stream = self._stream(messages, settings)
        text = "".join([delta async for delta in stream])
        return ModelResponse(
            parts=[TextPart(content=text)],
            model_name=stream.model_name,
            usage=stream.usage,
            finish_reason=stream.finish_reason,
        )
