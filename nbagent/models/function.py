"""`FunctionModel`: answers computed by your own Python function, for tests of code built on nbagent."""

from __future__ import annotations

import inspect
from typing import Any, AsyncGenerator, Callable, Sequence

from ..errors import UserError
from ..messages import ModelMessage, Usage, system_and_turns
from ..settings import ModelSettings
from .base import LocalModel, StreamedResponse
from .test import count_words


class FunctionModel(LocalModel):
    """A model whose answer is `fn(messages, settings)`.

    `fn` may return a str, be async and return a str, or be a (sync or async) generator yielding text
    deltas, which are then streamed one by one.
    """

    system = "function"

    def __init__(self, fn: Callable[[list[ModelMessage], ModelSettings], Any], *, name: str | None = None,
                 settings: ModelSettings | None = None) -> None:
        if not callable(fn):
            raise UserError(f"FunctionModel needs a callable, got {type(fn).__name__}")
        super().__init__(name or str(getattr(fn, "__name__", "function")), settings=settings)
        self.fn = fn

    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings) -> StreamedResponse:
        return _FunctionStream(self, list(messages), settings)


class _FunctionStream(StreamedResponse):
    def __init__(self, model: FunctionModel, messages: list[ModelMessage], settings: ModelSettings) -> None:
        super().__init__(model.model_name)
        self._model = model
        self._messages = messages
        self._settings = settings

    async def deltas(self) -> AsyncGenerator[str, None]:
        result = self._model.fn(self._messages, self._settings)
        produced: list[str] = []
        if inspect.isasyncgen(result):
            async for delta in result:
                produced.append(str(delta))
                yield str(delta)
        elif inspect.isgenerator(result):
            for delta in result:
                produced.append(str(delta))
                yield str(delta)
        else:
            if inspect.isawaitable(result):
                result = await result
            if not isinstance(result, str):
                raise UserError(f"FunctionModel function {self._model.model_name!r} must return str, got {type(result).__name__}")
            produced.append(result)
            yield result
        system, turns = system_and_turns(self._messages)
        self.usage = Usage(
            requests=1,
            input_tokens=count_words(system or "") + sum(count_words(t) for _, t in turns),
            output_tokens=count_words("".join(produced)),
        )
        self.finish_reason = "stop"
        self.complete = True
