"""Results of agent runs: the finished `RunResult` and the live `StreamedRunResult`.

Both hold the history they were given and the messages the run added: the question, and for each
step the model's response and (after tool calls) the request holding the tool returns.
"""

from __future__ import annotations

from typing import AsyncIterator

from .errors import UnexpectedModelBehavior
from .loop import AgentRun, StepItem, TextBuffer
from .messages import ModelMessage, ModelResponse, Usage, messages_to_json


class _Conversation:
    """What both result kinds share: the history they were given and the messages they added."""

    _run: AgentRun

    def new_messages(self) -> list[ModelMessage]:
        """The messages this run added: its request, then every response and tool-return request."""
        return self._run.new_messages

    def all_messages(self) -> list[ModelMessage]:
        """The whole conversation: the history passed in, then this run's messages."""
        return list(self._run.messages)

    def new_messages_json(self) -> bytes:
        return messages_to_json(self.new_messages())

    def all_messages_json(self) -> bytes:
        return messages_to_json(self.all_messages())

    def usage(self) -> Usage:
        """Tokens, requests and tool calls summed over every step of the run so far."""
        return self._run.usage


class RunResult(_Conversation):
    """A completed run. `output` is the final answer's text; `response` the final `ModelResponse`."""

    def __init__(self, run: AgentRun, response: ModelResponse) -> None:
        self._run = run
        self.response = response
        self.output: str = response.text

    def __repr__(self) -> str:
        return f"RunResult(output={self.output!r}, usage={self.usage()!r})"


class StreamedRunResult(_Conversation):
    """A run whose answer is still arriving; iterate `stream_text()` or await `get_output()`.

    Tool rounds run transparently: the text streamed is every text the model wrote in this run
    (a remark before its tool calls included), never tool-call JSON; `get_output()` is the final
    answer's text.
    """

    def __init__(self, run: AgentRun, steps: AsyncIterator[StepItem]) -> None:
        self._run = run
        self._steps = steps
        self._text = TextBuffer()
        self._response: ModelResponse | None = None
        self._done = False

    @property
    def is_complete(self) -> bool:
        """True once the final answer arrived whole (its provider's end marker included)."""
        return self._done

    async def stream_text(self, *, delta: bool = False) -> AsyncIterator[str]:
        """Yield the text as it grows (accumulated), or only the new pieces with `delta=True`."""
        pieces = self._text
        if delta:
            async for item in self._steps:
                if type(item) is str:
                    pieces.append(item)
                    yield item
                elif isinstance(item, ModelResponse):
                    self._response = item
        else:
            text = pieces.text()
            async for item in self._steps:
                if type(item) is str:
                    pieces.append(item)
                    text += item
                    yield text
                elif isinstance(item, ModelResponse):
                    self._response = item
        self._finish()

    async def get_output(self) -> str:
        """Wait for the whole run and return the final answer's text."""
        async for item in self._steps:
            if type(item) is str:
                self._text.append(item)
            elif isinstance(item, ModelResponse):
                self._response = item
        self._finish()
        assert self._response is not None  # _finish raised otherwise
        return self._response.text

    @property
    def text_so_far(self) -> str:
        """All the text streamed so far (what a display shows)."""
        return self._text.text()

    def _finish(self) -> None:
        if self._response is None or self._response.tool_calls:
            raise UnexpectedModelBehavior(f"{self._run.model.label}: the stream stopped before the answer was complete")
        self._done = True

    def new_messages(self) -> list[ModelMessage]:
        """The messages this run added so far (only the request while the first answer streams)."""
        return self._run.new_messages

    @property
    def response(self) -> ModelResponse | None:
        """The final answer, or None while the run is still going (or if it was cut short)."""
        return self._response if self._done else None
