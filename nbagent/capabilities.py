"""Capabilities: behaviour that plugs into every step of a run, as PydanticAI's `nbagent.capabilities`.

A capability is an object the agent consults before each model request. It may rewrite what is
about to be sent (`before_model_request`: the messages, settings and request parameters), choose
the function tools the model sees on this step (`prepare_tools`), and add settings
(`get_model_settings`, a dict or a function of the run context evaluated per step).
`Agent(capabilities=[...])` applies them in order; `Agent(history_processors=[...])` (PydanticAI's
first spelling) wraps each processor in `ProcessHistory`.

`ProcessHistory(fn)` wraps a history processor: `fn(messages)` or `fn(ctx, messages)`, sync or async,
returning the messages to send. What it returns *replaces* the run's messages, as in PydanticAI, so a
processor that trims the history keeps it trimmed for the rest of the run; `new_messages()` still
names the messages the run itself added (those the processor kept). `PrepareTools(fn)` wraps
`fn(ctx, tool_defs)` the same way. `ToolSearch` hides `defer_loading=True` tools until the model finds
them (tool_search.py). Both are checked where PydanticAI is lax: a processor whose
signature fits neither shape is a `UserError` when the capability is made, and one that returns
something other than a non-empty list of messages ending with a request is a `UserError` naming it.
"""

from __future__ import annotations

import inspect
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, Mapping, Sequence, Union

from .deferred import DeferredToolRequests, DeferredToolResults
from .errors import UserError
from .messages import ModelMessage, ModelRequest, ModelResponse
from .settings import ModelSettings, merge_settings, validate_settings
from .threads import in_thread
from .tool_search import ToolSearchStrategy, check_search, offered_tools, search_tool
from .tools import AgentDepsT, RunContext, Tool, ToolDefinition

if TYPE_CHECKING:
    from .models.base import Model, ModelRequestParameters

__all__ = ["AbstractCapability", "ModelRequestContext", "ProcessHistory", "PrepareTools", "HandleDeferredToolCalls",
           "HistoryProcessor", "ToolSearch", "UseThreadExecutor"]

HistoryProcessor = Union[
    Callable[[list[ModelMessage]], Union[list[ModelMessage], Awaitable[list[ModelMessage]]]],
    Callable[[RunContext[Any], list[ModelMessage]], Union[list[ModelMessage], Awaitable[list[ModelMessage]]]],
]
"""`fn(messages)` or `fn(ctx, messages)`, sync or async, returning the messages to send."""

ToolsPrepareFunc = Callable[[RunContext[Any], list[ToolDefinition]],
                            Union[list[ToolDefinition], None, Awaitable[Union[list[ToolDefinition], None]]]]


@dataclass
class ModelRequestContext:
    """What is about to be sent to the model; `before_model_request` hooks may change any of it."""

    model: Model
    messages: list[ModelMessage]
    model_settings: ModelSettings
    model_request_parameters: ModelRequestParameters


class AbstractCapability(Generic[AgentDepsT]):
    """Subclass and override what you need; every method's default changes nothing.

    Plain classes and dataclasses both work (no `__init__` to call).
    """

    def get_model_settings(self) -> ModelSettings | Callable[[RunContext[AgentDepsT]], ModelSettings] | None:
        """Settings this capability adds (over the agent's, under the run's), or a function of the run
        context giving them for each step."""
        return None

    async def before_model_request(
        self, ctx: RunContext[AgentDepsT], request_context: ModelRequestContext
    ) -> ModelRequestContext:
        """Called before each model request with what is about to be sent; return it (changed or not).
        `ctx.messages` is the run's own list: assigning into it changes the run's history."""
        return request_context

    async def prepare_tools(self, ctx: RunContext[AgentDepsT], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        """The function tools the model sees on this step (and may call): filter or change the definitions."""
        return tool_defs

    async def retry_after_error(self, ctx: RunContext[AgentDepsT], error: BaseException) -> bool:
        """The provider refused a request (`ModelHTTPError`): return True after changing the run's messages
        (`ctx.messages`) so the request is worth sending again; it is sent again once. (nbagent's own hook:
        `CompactHistory` compacts here when the context was too long.)"""
        return False

    async def handle_deferred_tool_calls(
        self, ctx: RunContext[AgentDepsT], requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        """Settle tool calls that wait for approval or an external result, in the run (deferred.py):
        results for some or all of them, or None to leave them to the next capability."""
        return None


def _takes_ctx(function: Callable[..., Any], label: str, shapes: str) -> bool:
    """Does `function` take the run context first? Decided from how many positional parameters it has."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        raise UserError(f"{label}: cannot read the signature of {function!r}; wrap it in a plain def") from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.default is p.empty]
    if any(p.kind is p.VAR_POSITIONAL for p in params) or len(positional) not in (1, 2):
        name = getattr(function, "__qualname__", repr(function))
        raise UserError(f"{label}: {name} must be {shapes}")
    return len(positional) == 2


async def _call(function: Callable[..., Any], ctx: RunContext[Any], *args: Any) -> Any:
    """Await a coroutine function; run a plain one in a worker thread (threads.py), so a slow one never blocks
    the loop. `ctx` is passed first when the function takes it (`ctx.takes_ctx` decided that)."""
    if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(getattr(function, "__call__", None)):
        return await function(*args)
    result = await in_thread(ctx._thread_executor, function, *args)
    return await result if inspect.isawaitable(result) else result


@dataclass
class ProcessHistory(AbstractCapability[AgentDepsT]):
    """Pass the messages through `processor` before each request; what it returns replaces the run's history."""

    processor: HistoryProcessor
    _takes_ctx: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        self._takes_ctx = _takes_ctx(self.processor, "history processor",
                                     "fn(messages) or fn(ctx: RunContext, messages), sync or async")

    async def before_model_request(
        self, ctx: RunContext[AgentDepsT], request_context: ModelRequestContext
    ) -> ModelRequestContext:
        messages = list(request_context.messages)
        args = (ctx, messages) if self._takes_ctx else (messages,)
        processed = check_history(await _call(self.processor, ctx, *args), self.processor)
        request_context.messages = list(processed)
        ctx.messages[:] = processed
        return request_context


def check_history(messages: Any, processor: Any) -> list[ModelMessage]:
    """A processor's result, or a `UserError` saying what is wrong with it."""
    name = getattr(processor, "__qualname__", type(processor).__name__)
    if not isinstance(messages, list) or not all(isinstance(m, (ModelRequest, ModelResponse)) for m in messages):
        raise UserError(f"history processor {name} must return a list of ModelRequest / ModelResponse, "
                        f"got {type(messages).__name__}")
    if not messages or not isinstance(messages[-1], ModelRequest):
        raise UserError(f"history processor {name} must return messages ending with a ModelRequest "
                        "(the request about to be sent)")
    return messages


@dataclass
class PrepareTools(AbstractCapability[AgentDepsT]):
    """Choose the function tools the model sees on each step: `fn(ctx, tool_defs)`, sync or async,
    returning the definitions to offer (None offers none). A tool left out cannot be called either."""

    prepare: ToolsPrepareFunc

    def __post_init__(self) -> None:
        if not _takes_ctx(self.prepare, "PrepareTools", "fn(ctx: RunContext, tool_defs), sync or async"):
            raise UserError("PrepareTools: the function must take (ctx: RunContext, tool_defs)")

    async def prepare_tools(self, ctx: RunContext[AgentDepsT], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        prepared = await _call(self.prepare, ctx, ctx, tool_defs)
        if prepared is None:
            return []
        if not isinstance(prepared, list) or not all(isinstance(d, ToolDefinition) for d in prepared):
            name = getattr(self.prepare, "__qualname__", repr(self.prepare))
            raise UserError(f"PrepareTools: {name} must return a list of ToolDefinition (or None), "
                            f"got {type(prepared).__name__}")
        return prepared


@dataclass
class HandleDeferredToolCalls(AbstractCapability[AgentDepsT]):
    """Settle deferred tool calls inline: `handler(ctx, requests)`, sync or async, returns
    `DeferredToolResults` for those it decides (None: none); the run goes on with their results."""

    handler: Callable[[RunContext[Any], DeferredToolRequests], Any]

    def __post_init__(self) -> None:
        if not _takes_ctx(self.handler, "HandleDeferredToolCalls", "fn(ctx: RunContext, requests), sync or async"):
            raise UserError("HandleDeferredToolCalls: the handler must take (ctx: RunContext, requests)")

    async def handle_deferred_tool_calls(
        self, ctx: RunContext[AgentDepsT], requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        results: DeferredToolResults | None = await _call(self.handler, ctx, ctx, requests)
        return results


@dataclass
class ToolSearch(AbstractCapability[AgentDepsT]):
    """Hide `defer_loading=True` tools until the model finds them with a `search_tools` tool (tool_search.py).

    `strategy`: None or `'keywords'` (words shared with the tools' names and descriptions), or your function
    `fn(ctx, queries, tools)`, sync or async, returning the names of the matching deferred tools.
    `max_results`: how many tools one search reveals at most. `tool_description` / `parameter_description`
    replace what the model is told about `search_tools`. Added by the agent on its first deferred tool.
    """

    strategy: ToolSearchStrategy | str | None = None
    max_results: int = 10
    tool_description: str | None = None
    parameter_description: str | None = None

    def __post_init__(self) -> None:
        check_search(self.strategy, self.max_results)

    async def prepare_tools(self, ctx: RunContext[AgentDepsT], tool_defs: list[ToolDefinition]) -> list[ToolDefinition]:
        return offered_tools(tool_defs, ctx.messages)

    def search_tool(self, tools: Mapping[str, Tool[Any]]) -> Tool[Any]:
        """The `search_tools` tool over an agent's tools."""
        return search_tool(tools, self.strategy, self.max_results, self.tool_description, self.parameter_description)


@dataclass
class UseThreadExecutor(AbstractCapability[AgentDepsT]):
    """Run this agent's sync functions (tools, history processors, instructions functions, ...) on `executor`,
    e.g. a bounded `ThreadPoolExecutor` in a long-running server (threads.py)."""

    executor: Executor

    def __post_init__(self) -> None:
        if not isinstance(self.executor, Executor):
            raise UserError(f"UseThreadExecutor takes a concurrent.futures.Executor (e.g. ThreadPoolExecutor(16)), "
                            f"got {type(self.executor).__name__}")


def capabilities_from(capabilities: Sequence[Any], history_processors: Sequence[Any]) -> list[AbstractCapability[Any]]:
    """The agent's capabilities in order: those given, then one `ProcessHistory` per history processor."""
    found: list[AbstractCapability[Any]] = []
    for capability in capabilities:
        if not isinstance(capability, AbstractCapability):
            raise UserError(f"capabilities= takes AbstractCapability instances (e.g. ProcessHistory(fn)), "
                            f"got {type(capability).__name__}")
        found.append(capability)
    return found + [ProcessHistory(processor) for processor in history_processors]


def step_settings(capabilities: Sequence[AbstractCapability[Any]], base: ModelSettings, run: ModelSettings,
                  ctx: RunContext[Any]) -> ModelSettings:
    """One step's settings, layer by layer as PydanticAI resolves them: `base` (the model's defaults and the
    agent's settings), then each capability's in order (the agent's settings function comes first, the
    run's last), then the run's own settings. A settings function sees the layers before it in
    `ctx.model_settings`."""
    settings = base
    for capability in capabilities:
        layer = capability.get_model_settings()
        if callable(layer):
            ctx.model_settings = settings
            layer = layer(ctx)
        if layer:
            settings = merge_settings(settings, validate_settings(layer))
    return merge_settings(settings, run)


def static_settings(capabilities: Sequence[AbstractCapability[Any]]) -> ModelSettings:
    """The settings capabilities give as plain dicts, validated once, merged in order."""
    merged: dict[str, Any] = {}
    for capability in capabilities:
        settings = capability.get_model_settings()
        if settings is not None and not callable(settings):
            merged.update(validate_settings(settings))
    return merged  # type: ignore[return-value]
