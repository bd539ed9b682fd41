"""Instructions and system prompts: fixed texts, and functions evaluated when a run starts.

    Agent(instructions=["Be brief.", add_the_date])     # strings and functions, in order
    @agent.instructions                                  # fn() or fn(ctx), sync or async
    @agent.system_prompt / @agent.system_prompt(dynamic=True)

Instructions ride on every request of the run and are never taken from the history: each run states
its own (the fixed texts first, then the functions', then the run's `instructions=`). System prompts
open a new conversation and stay in its history; a `dynamic=True` one is marked with its function's
name (`SystemPromptPart.dynamic_ref`) and re-evaluated when that history is passed back. A function
returning "" or None adds nothing. Sync functions run in a worker thread, like sync tools, so a slow
one never blocks the event loop a notebook shares.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

from .errors import UserError
from .threads import in_thread
from .messages import ModelRequest, SystemPromptPart

if TYPE_CHECKING:
    from .tools import RunContext

PromptSource = Union[str, Callable[..., Any]]


class PromptFunction:
    """A function giving a text for the run: no parameter, or the run's `RunContext` alone."""

    def __init__(self, function: Callable[..., Any], kind: str, dynamic: bool = False) -> None:
        if not callable(function):
            raise UserError(f"{kind} must be a str or a function returning one, got {type(function).__name__}")
        try:
            params = [p for p in inspect.signature(function).parameters.values() if p.default is p.empty]
        except (TypeError, ValueError):
            raise UserError(f"{kind} {function!r}: cannot read its signature; wrap it in a plain def") from None
        if len(params) > 1:
            raise UserError(f"{kind} {getattr(function, '__qualname__', function)!r} takes "
                            f"{len(params)} parameters; give it none, or one: ctx: RunContext")
        self.function = function
        self.takes_ctx = len(params) == 1
        self.dynamic = dynamic
        self.ref = getattr(function, "__qualname__", repr(function))
        self.is_async = inspect.iscoroutinefunction(function)

    async def text(self, ctx: RunContext[Any]) -> str | None:
        args = (ctx,) if self.takes_ctx else ()
        if self.is_async:
            value = await self.function(*args)
        else:
            value = await in_thread(ctx._thread_executor, self.function, *args)
        if value is not None and not isinstance(value, str):
            raise UserError(f"{self.ref} returned {type(value).__name__}; an instructions or system prompt "
                            "function returns a str (or None for nothing)")
        return value or None


class Prompts:
    """An agent's instructions and system prompts, in the order they were given."""

    def __init__(self, instructions: PromptSource | Sequence[PromptSource] | None,
                 system_prompt: str | Sequence[str]) -> None:
        self.instructions: list[str | PromptFunction] = []
        for source in _as_list(instructions):
            self.add_instructions(source)
        self.system_prompts: list[str | PromptFunction] = []
        for text in _as_list(system_prompt):
            if not isinstance(text, str):
                raise UserError(f"system_prompt must be a str or a list of str, got {type(text).__name__}; "
                                "register functions with @agent.system_prompt")
            self.system_prompts.append(text)

    def add_instructions(self, source: PromptSource) -> None:
        self.instructions.append(source if isinstance(source, str) else PromptFunction(source, "instructions"))

    def add_system_prompt(self, function: Callable[..., Any], dynamic: bool) -> None:
        self.system_prompts.append(PromptFunction(function, "system_prompt", dynamic))

    @property
    def fixed_instructions(self) -> str | None:
        return "\n\n".join(text for text in self.instructions if isinstance(text, str) and text) or None

    @fixed_instructions.setter
    def fixed_instructions(self, text: str | None) -> None:
        functions = [source for source in self.instructions if not isinstance(source, str)]
        self.instructions = ([text] if text else []) + functions

    @property
    def has_functions(self) -> bool:
        return any(not isinstance(source, str) for source in (*self.instructions, *self.system_prompts))

    def system_parts(self) -> list[SystemPromptPart]:
        """The fixed system prompts of a new conversation (functions are evaluated by `complete`)."""
        return [SystemPromptPart(content=text) for text in self.system_prompts if isinstance(text, str)]

    def join_instructions(self, run_instructions: str | None) -> str | None:
        """The request's instructions when there are no functions: the fixed texts, then the run's."""
        return "\n\n".join(text for text in [self.fixed_instructions, run_instructions] if text) or None

    async def complete(self, ctx: RunContext[Any], request: ModelRequest, messages: list[Any], history_length: int,
                       run_instructions: str | None) -> None:
        """Evaluate the functions for this run: the request's instructions, a new conversation's system
        prompts (in their declared order), a passed-back history's dynamic system prompts."""
        texts = [text for text in self.instructions if isinstance(text, str)]
        texts += [await source.text(ctx) for source in self.instructions if not isinstance(source, str)]
        request.instructions = "\n\n".join(text for text in [*texts, run_instructions] if text) or None
        if not history_length:
            parts = []
            for source in self.system_prompts:
                text = source if isinstance(source, str) else await source.text(ctx)
                if text:
                    ref = source.ref if isinstance(source, PromptFunction) and source.dynamic else None
                    parts.append(SystemPromptPart(content=text, dynamic_ref=ref))
            request.parts[:] = [*parts, *(part for part in request.parts if part.part_kind != "system-prompt")]
            return
        dynamic = {source.ref: source for source in self.system_prompts
                   if isinstance(source, PromptFunction) and source.dynamic}
        if not dynamic:
            return
        for index, message in enumerate(messages[:history_length]):
            if message.kind != "request" or not any(getattr(part, "dynamic_ref", None) in dynamic
                                                    for part in message.parts):
                continue
            parts = []
            for part in message.parts:
                source = dynamic.get(getattr(part, "dynamic_ref", None))
                if source is not None:
                    part = part.model_copy(update={"content": await source.text(ctx) or ""})
                parts.append(part)
            messages[index] = message.model_copy(update={"parts": parts})  # the caller's history is not changed


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or callable(value):
        return [value]
    return list(value)
