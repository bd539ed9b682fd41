"""`Agent`: the PydanticAI-style entry point — run, run_sync, run_stream over any `Model`."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Mapping, Sequence

from .errors import UserError
from .messages import ModelMessage, ModelRequest, ModelResponse, SystemPromptPart, UserPromptPart
from .models import Model, infer_model
from .result import RunResult, StreamedRunResult
from .settings import ModelSettings, merge_settings, validate_settings


class Agent:
    """A model plus defaults (instructions, settings). Holds no conversation: pass `message_history`.

    `system_prompt` is sent once, at the start of a new conversation, and kept in its history;
    `instructions` are sent with every request, as the latest agent states them.
    """

    def __init__(
        self,
        model: Model | str | None = None,
        *,
        instructions: str | None = None,
        system_prompt: str | Sequence[str] = (),
        model_settings: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        self.model: Model = infer_model(model)
        self.instructions = instructions
        self.system_prompts: tuple[str, ...] = (system_prompt,) if isinstance(system_prompt, str) else tuple(system_prompt)
        self._model_settings: ModelSettings = validate_settings(model_settings)
        self.name = name

    @property
    def model_settings(self) -> ModelSettings:
        """The agent's default settings (validated when set)."""
        return self._model_settings

    @model_settings.setter
    def model_settings(self, value: Mapping[str, Any] | None) -> None:
        self._model_settings = validate_settings(value)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return f"Agent({name}model={self.model.label!r}, model_settings={dict(self._model_settings)!r})"

    def _prepare(
        self,
        prompt: str,
        message_history: Sequence[ModelMessage] | None,
        model_settings: Mapping[str, Any] | None,
        model: Model | str | None,
        instructions: str | None,
    ) -> tuple[Model, ModelSettings, list[ModelMessage], ModelRequest]:
        if not isinstance(prompt, str):
            raise UserError(f"The prompt must be a str, got {type(prompt).__name__}")
        run_model = self.model if model is None else infer_model(model)
        settings = merge_settings(run_model.settings, self._model_settings, validate_settings(model_settings))
        history = list(message_history or [])
        for message in history:
            if not isinstance(message, (ModelRequest, ModelResponse)):
                raise UserError(
                    f"message_history must hold ModelRequest/ModelResponse objects (e.g. result.new_messages()), "
                    f"got {type(message).__name__}"
                )
        parts: list[Any] = []
        if not history:
            parts += [SystemPromptPart(content=text) for text in self.system_prompts]
        parts.append(UserPromptPart(content=prompt))
        request = ModelRequest(parts=parts, instructions=self.instructions if instructions is None else instructions)
        return run_model, settings, history, request

    async def run(
        self,
        prompt: str,
        *,
        message_history: Sequence[ModelMessage] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        model: Model | str | None = None,
        instructions: str | None = None,
    ) -> RunResult:
        """Send the prompt (after the history) and wait for the whole answer.

        `model`, `model_settings` and `instructions` given here override the agent's for this run only.
        """
        run_model, settings, history, request = self._prepare(
            prompt, message_history, model_settings, model, instructions
        )
        response = await run_model.request([*history, request], settings)
        return RunResult(history, request, response)

    def run_sync(
        self,
        prompt: str,
        *,
        message_history: Sequence[ModelMessage] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        model: Model | str | None = None,
        instructions: str | None = None,
    ) -> RunResult:
        """`run` for synchronous code — also inside a running loop (Jupyter), where PydanticAI's fails."""
        return run_coroutine_sync(
            self.run(
                prompt,
                message_history=message_history,
                model_settings=model_settings,
                model=model,
                instructions=instructions,
            )
        )

    @asynccontextmanager
    async def run_stream(
        self,
        prompt: str,
        *,
        message_history: Sequence[ModelMessage] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        model: Model | str | None = None,
        instructions: str | None = None,
    ) -> AsyncIterator[StreamedRunResult]:
        """Send the prompt and stream the answer; leaving the block closes the HTTP stream."""
        run_model, settings, history, request = self._prepare(
            prompt, message_history, model_settings, model, instructions
        )
        async with run_model.request_stream([*history, request], settings) as stream:
            result = StreamedRunResult(history, request, stream)
            try:
                yield result
            finally:
                await result._deltas.aclose()


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
    import nest_asyncio

    if not getattr(loop, "_nest_patched", False):
        nest_asyncio.apply(loop)
    return loop.run_until_complete(coroutine)
