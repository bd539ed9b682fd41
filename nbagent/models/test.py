"""The offline `test` model: deterministic answers streamed word by word, no network, no key."""

from __future__ import annotations

import asyncio
import re
from typing import AsyncGenerator, Sequence

from ..messages import ModelMessage, Usage, system_and_turns
from ..settings import ModelSettings
from .base import LocalModel, StreamedResponse

_WORD = re.compile(r"\s*\S+|\s+")  # one word per piece, spaces kept: "".join(pieces) == text


def count_words(text: str) -> int:
    """The token count the offline models report: whitespace-separated words."""
    return len(text.split())


class TestModel(LocalModel):
    """Answers every prompt the same way for the same conversation, so notebooks and tests are reproducible.

    `output_text` fixes the answer; otherwise it restates the question and says how to configure a
    real model. `delay` paces the words (seconds) to make streaming visible in demos.
    """

    __test__ = False  # not a pytest test class
    system = "test"

    def __init__(self, output_text: str | None = None, *, delay: float = 0.0, settings: ModelSettings | None = None):
        super().__init__("test", settings=settings)
        self.output_text = output_text
        self.delay = delay

    @property
    def label(self) -> str:
        return "test"

    def answer_for(self, messages: Sequence[ModelMessage]) -> str:
        """The fixed text, or the question restated with how many came before it."""
        if self.output_text is not None:
            return self.output_text
        _, turns = system_and_turns(messages)
        question = turns[-1][1] if turns else ""
        earlier = sum(1 for role, _ in turns if role == "user") - 1
        excerpt = " ".join(question.split())
        excerpt = excerpt if len(excerpt) <= 200 else excerpt[:199] + "…"
        context = f" (with {earlier} earlier question{'s' if earlier != 1 else ''} in the conversation)" if earlier else ""
        return (
            f"This is nbagent's offline **test** model. You asked: “{excerpt}”{context}. "
            "Set `OPENAI_API_KEY` or `ANTHROPIC_API_KEY`, or `NBAGENT_MODEL` (e.g. `ollama:llama3.2`), "
            "to talk to a real model."
        )

    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings) -> StreamedResponse:
        return _WordStream(self, messages, settings)


class _WordStream(StreamedResponse):
    def __init__(self, model: TestModel, messages: Sequence[ModelMessage], settings: ModelSettings) -> None:
        super().__init__("test")
        self._model = model
        self._messages = messages
        self._settings = settings

    async def deltas(self) -> AsyncGenerator[str, None]:
        pieces = _WORD.findall(self._model.answer_for(self._messages))
        max_tokens = self._settings.get("max_tokens")
        truncated = max_tokens is not None and count_words("".join(pieces)) > max_tokens
        if truncated:
            pieces = pieces[:max_tokens]
        for piece in pieces:
            await asyncio.sleep(self._model.delay)
            yield piece
        system, turns = system_and_turns(self._messages)
        self.usage = Usage(
            requests=1,
            input_tokens=count_words(system or "") + sum(count_words(text) for _, text in turns),
            output_tokens=count_words("".join(pieces)),
        )
        self.finish_reason = "length" if truncated else "stop"
        self.complete = True
