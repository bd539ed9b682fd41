"""`Agent`: the PydanticAI-style entry point — what an agent is (model, defaults, instructions, tools, output
type, registered with decorators) and how it is called: run / run_sync / run_stream / run_stream_events / iter.

The rest lives by concern: a call's options checked and its run built in run_start.py, the loop of one run
(requests, tool calls, retries, limits) in loop.py, running a coroutine from sync code in sync.py, the
methods over many rows (map, batch jobs) in agent_rows.py.
"""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Callable, Generic, Iterator, Mapping, Sequence, TypeVar, overload

from typing_extensions import TypedDict, Unpack

from .agent_rows import MapOptions, RowMapMethods  # noqa: F401 - MapOptions is exported here too
from .capabilities import (AbstractCapability, HistoryProcessor, PrepareTools, ToolSearch, ToolsPrepareFunc,
                           capabilities_from, static_settings)
from .errors import UserError
from .concurrency import AnyConcurrencyLimit, limiter_for
from .end_strategy import EndStrategy, check_end_strategy
from .event_stream import AgentRunEvents, handled_steps, run_with_handler
from .loop import AgentRun
from .nodes import NodeRun, UserPromptNode, is_call_tools_node, is_end_node, is_model_request_node, is_user_prompt_node
from .prompts import Prompts, PromptSource
from .output import OutputDataT, OutputSchema, OutputSpec
from .output_run import OutputValidator
from .messages import UserContent
from .models import Model, infer_model
from .result import RunResult, StreamedRunResult
from .run_start import RunOptions, StepSettings, retry_budgets, start_run
from .settings import ModelSettings, validate_settings
from .sync import run_coroutine_sync
from .threads import using_thread_executor
from .tool_run import parallel_tool_call_execution_mode
from .tools import AgentDepsT, DocstringFormat, RunContext, Tool, ToolPrepareFunc, tool_from


F = TypeVar("F", bound=Callable[..., Any])


class ToolOptions(TypedDict, total=False):
    """What `@agent.tool(...)` and `@agent.tool_plain(...)` take, as PydanticAI names it."""

    name: str | None
    description: str | None
    retries: int | None
    docstring_format: DocstringFormat
    require_parameter_descriptions: bool
    strict: bool | None
    prepare: ToolPrepareFunc | None
    args_validator: Callable[..., Any] | None
    sequential: bool
    requires_approval: bool
    timeout: float | None
    metadata: dict[str, Any] | None
    defer_loading: bool


_KEEP: Any = object()  # override(deps=...) was not given (None is a valid deps value)


class Agent(RowMapMethods[AgentDepsT], Generic[AgentDepsT, OutputDataT]):
    """A model plus defaults (instructions, settings, tools, output type). Holds no conversation: pass
    `message_history`.

    `system_prompt` is sent once, at the start of a new conversation, and kept in its history;
    `instructions` are sent with every request, as the latest agent states them. Tools are functions
    the model may call (`@agent.tool`, `@agent.tool_plain`, `tools=[...]`); `deps` given to a run
    reach them through `RunContext.deps`. `output_type` makes `result.output` a validated object
    (output.py); `@agent.output_validator` checks it further. `capabilities` (and `history_processors`,
    each wrapped in `ProcessHistory`) act before every request (capabilities.py).
    """

    def __init__(
        self,
        model: Model | str | None = None,
        *,
        instructions: PromptSource | Sequence[PromptSource] | None = None,
        system_prompt: str | Sequence[str] = (),
        deps_type: type[AgentDepsT] = type(None),  # type: ignore[assignment]
        model_settings: Mapping[str, Any] | Callable[[RunContext[AgentDepsT]], Mapping[str, Any]] | None = None,
        name: str | None = None,
        retries: int | Mapping[str, int] = 1,
        tools: Sequence[Tool[AgentDepsT] | Callable[..., Any]] = (),
        output_type: OutputSpec[OutputDataT] = str,  # type: ignore[assignment]
        output_retries: int | None = None,
        capabilities: Sequence[AbstractCapability[AgentDepsT]] = (),
        history_processors: Sequence[HistoryProcessor] = (),
        metadata: Mapping[str, Any] | Callable[[RunContext[AgentDepsT]], Mapping[str, Any]] | None = None,
        prepare_tools: ToolsPrepareFunc | None = None,
        tool_timeout: float | None = None,
        validation_context: Any = None,
        max_concurrency: AnyConcurrencyLimit = None,
        end_strategy: EndStrategy = "graceful",
    ) -> None:
        self.model: Model = infer_model(model)
        self._prompts = Prompts(instructions, system_prompt)
        self.deps_type = deps_type
        self._model_settings: ModelSettings = {}
        self._step_settings: list[AbstractCapability[Any]] = []
        self.model_settings = model_settings  # type: ignore[assignment] - a dict, or a function of the context
        self.name = name
        self.retries, self.output_retries = retry_budgets(retries, output_retries)
        if metadata is not None and not (callable(metadata) or isinstance(metadata, Mapping)):
            raise UserError(f"metadata must be a dict or a function of the RunContext, got {type(metadata).__name__}")
        self.metadata = metadata
        self.output_type = output_type
        self._output = OutputSchema(output_type, default_retries=self.output_retries)
        self._output_validators: list[OutputValidator] = []
        self.capabilities = capabilities_from(capabilities, history_processors)
        if prepare_tools is not None:  # PydanticAI's spelling of a PrepareTools capability
            self.capabilities.append(PrepareTools(prepare_tools))
        self._tools: dict[str, Tool[AgentDepsT]] = {}
        self._search_tool: Tool[Any] | None = None  # search_tools, once the agent has deferred tools
        for tool in tools:
            self._register(tool_from(tool))
        if any(isinstance(capability, ToolSearch) for capability in self.capabilities):
            self._search_tools()
        if tool_timeout is not None and (isinstance(tool_timeout, bool) or not isinstance(tool_timeout, (int, float))
                                         or tool_timeout <= 0):
            raise UserError(f"Agent(tool_timeout={tool_timeout!r}): give the seconds a tool may take (> 0)")
        self.tool_timeout = tool_timeout
        self.validation_context = validation_context  # pydantic's context for tool arguments and outputs
        self.end_strategy = check_end_strategy(end_strategy)  # other tool calls beside an output tool's
        self.concurrency_limiter = limiter_for(max_concurrency, f"agent {name!r}" if name else "the agent")
        self._capability_settings = static_settings(self.capabilities)
        self._model_override: Model | None = None
        self._deps_override: tuple[Any] | None = None
        self._retries_override: tuple[int, int] | None = None

    @property
    def model_settings(self) -> ModelSettings:
        """The agent's default settings (validated when set)."""
        return self._model_settings

    @model_settings.setter
    def model_settings(self, value: Mapping[str, Any] | Callable[[RunContext[Any]], Mapping[str, Any]] | None) -> None:
        """A dict, or (as PydanticAI's dynamic model settings) a function of the run context giving them
        before each request."""
        if callable(value):
            self._model_settings, self._step_settings = {}, [StepSettings(value)]
        else:
            self._model_settings, self._step_settings = validate_settings(value), []

    @property
    def fixed_instructions(self) -> str | None:
        """The instructions given as text (functions registered with `@agent.instructions` come after)."""
        return self._prompts.fixed_instructions

    @fixed_instructions.setter
    def fixed_instructions(self, text: str | None) -> None:
        self._prompts.fixed_instructions = text

    @property
    def fixed_system_prompts(self) -> tuple[str, ...]:
        """The system prompts given as text (`@agent.system_prompt` functions are evaluated per run)."""
        return tuple(text for text in self._prompts.system_prompts if isinstance(text, str))

    @property
    def tools(self) -> dict[str, Tool[AgentDepsT]]:
        """The function tools the model may call, by name."""
        return dict(self._tools)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        tools = f", tools={list(self._tools)!r}" if self._tools else ""
        return f"Agent({name}model={self.model.label!r}, model_settings={dict(self._model_settings)!r}{tools})"

    # ------------------------------------------------------------------ instructions

    def instructions(self, function: F, /) -> F:
        """Register a function giving instructions for each run: `fn()` or `fn(ctx: RunContext)`, sync or
        async, returning a str ("" or None adds nothing). Evaluated when a run starts, never taken from
        the history."""
        self._prompts.add_instructions(function)
        return function

    @overload
    def system_prompt(self, function: F, /) -> F: ...

    @overload
    def system_prompt(self, /, *, dynamic: bool = False) -> Callable[[F], F]: ...

    def system_prompt(self, function: Any = None, /, *, dynamic: bool = False) -> Any:
        """Register a function giving a system prompt for a new conversation (`fn()` or `fn(ctx)`, sync or
        async). With `dynamic=True` it is evaluated again when its history is passed back."""
        def register(fn: F) -> F:
            self._prompts.add_system_prompt(fn, dynamic)
            return fn

        return register if function is None else register(function)

    # ------------------------------------------------------------------ tools

    @overload
    def tool(self, function: F, /) -> F: ...

    @overload
    def tool(self, /, **options: Unpack[ToolOptions]) -> Callable[[F], F]: ...

    def tool(self, function: Any = None, /, **options: Any) -> Any:
        """Register a tool whose first parameter is `ctx: RunContext[Deps]`; with or without parentheses."""
        return self._decorate(function, True, options)

    @overload
    def tool_plain(self, function: F, /) -> F: ...

    @overload
    def tool_plain(self, /, **options: Unpack[ToolOptions]) -> Callable[[F], F]: ...

    def tool_plain(self, function: Any = None, /, **options: Any) -> Any:
        """Register a tool that takes no `RunContext`; with or without parentheses."""
        return self._decorate(function, False, options)

    def _decorate(self, function: Any, takes_ctx: bool, options: dict[str, Any]) -> Any:
        def register(fn: F) -> F:
            retries = options.pop("retries", None)
            self._register(Tool(fn, takes_ctx=takes_ctx, max_retries=retries, **options))
            return fn

        return register if function is None else register(function)

    def output_validator(self, function: F, /) -> F:
        """Register a check of the output: `fn(output)` or `fn(ctx, output)`, sync or async, returning the
        (possibly changed) output or raising `ModelRetry` to ask the model for another one."""
        self._output_validators.append(OutputValidator(function))
        return function

    def _register(self, tool: Tool[AgentDepsT]) -> None:
        if tool.name in self._tools or tool.name in self._output.tools:
            function = getattr(tool.function, "__qualname__", tool.name)
            raise UserError(
                f"Tool name conflicts with an existing tool: {tool.name!r} (function {function}); "
                "give one of them another name, e.g. @agent.tool(name=...)"
            )
        tool.toolset_id = "<agent>"
        self._tools[tool.name] = tool
        if tool.defer_loading:
            self._search_tools()

    def _search_tools(self) -> None:
        """Deferred tools are found with `search_tools` (tool_search.py): the agent's `ToolSearch`
        (a default one, added on the first deferred tool) and its tool over this agent's tools."""
        search = next((capability for capability in self.capabilities if isinstance(capability, ToolSearch)), None)
        if search is None:
            search = ToolSearch()
            self.capabilities.append(search)
        if self._search_tool is None:
            self._search_tool = search.search_tool(self._tools)
            self._register(self._search_tool)  # a tool of yours named search_tools is a conflict

    # ------------------------------------------------------------------ runs

    @contextmanager
    def override(self, *, model: Model | str | None = None, deps: Any = _KEEP,
                 retries: int | Mapping[str, int] | None = None) -> Iterator[None]:
        """Inside the block every run uses this model (and these deps, these retry budgets), whatever the
        call says: how unit tests put a `TestModel` or `FunctionModel` under code that builds its own runs."""
        saved = (self._model_override, self._deps_override, self._retries_override)
        if model is not None:
            self._model_override = infer_model(model)
        if deps is not _KEEP:
            self._deps_override = (deps,)
        if retries is not None:
            self._retries_override = retry_budgets(retries, None, (self.retries, self.output_retries))
        try:
            yield
        finally:
            self._model_override, self._deps_override, self._retries_override = saved

    def _start(self, prompt: str | Sequence[UserContent] | None, options: RunOptions) -> AgentRun:
        return start_run(self, prompt, options)

    async def run(self, user_prompt: str | Sequence[UserContent] | None = None, /,
                  **options: Unpack[RunOptions]) -> RunResult[OutputDataT]:
        """Send the prompt (after the history), run the tools the model calls, and return its answer.

        `model`, `model_settings` and `instructions` given here override the agent's for this run only;
        `event_stream_handler` sees the run's events as they happen (event_stream.py).
        """
        handler = options.pop("event_stream_handler", None)
        run = self._start(user_prompt, options)
        if handler is not None:
            return await run.guard(run_with_handler(run, handler))
        return RunResult(run, await run.guard(run.run()))

    def run_sync(self, user_prompt: str | Sequence[UserContent] | None = None, /,
                 **options: Unpack[RunOptions]) -> RunResult[OutputDataT]:
        """`run` for synchronous code — also inside a running loop (Jupyter), where PydanticAI's fails."""
        return run_coroutine_sync(self.run(user_prompt, **options))

    @asynccontextmanager
    async def run_stream(self, user_prompt: str | Sequence[UserContent] | None = None, /,
                         **options: Unpack[RunOptions]) -> AsyncIterator[StreamedRunResult[OutputDataT]]:
        """Send the prompt and stream the answer, running tool rounds on the way; leaving the block
        closes the HTTP stream (and cancels tools still running)."""
        handler = options.pop("event_stream_handler", None)
        run = self._start(user_prompt, options)
        run.end_strategy = "early"  # the first output is committed as it streams, as PydanticAI's run_stream
        run.finisher.streamed = True  # as PydanticAI: an output that fails once streamed is not asked for again
        steps = run.steps() if handler is None else handled_steps(run, handler)
        try:
            await run.guard(steps.__anext__())  # the first request is sent and answered (or raised) on entry
            yield StreamedRunResult(run, steps)
        finally:
            await steps.aclose()

    def run_stream_events(self, user_prompt: str | Sequence[UserContent] | None = None, /,
                          **options: Unpack[RunOptions]) -> AgentRunEvents[OutputDataT]:
        """The run as typed events, for interfaces that show tool activity live (event_stream.py):
        `async for event in agent.run_stream_events(...)`, or within `async with` first.

        Each response's parts start, grow and end (`PartStartEvent`, `PartDeltaEvent`, `PartEndEvent`),
        the output is announced as it starts (`FinalResultEvent`), tools are called and answer
        (`FunctionToolCallEvent`, `FunctionToolResultEvent`), and `AgentRunResultEvent` ends it.
        """
        return AgentRunEvents(self._start(user_prompt, options))

    @asynccontextmanager
    async def iter(self, user_prompt: str | Sequence[UserContent] | None = None, /,
                   **options: Unpack[RunOptions]) -> AsyncIterator[NodeRun[OutputDataT]]:
        """The run node by node (nodes.py): `async for node in agent_run`, or `await agent_run.next(node)`;
        `agent_run.result` once it reached `End`."""
        options.pop("event_stream_handler", None)
        run = self._start(user_prompt, options)
        first = UserPromptNode.starting(run, self._prompts, options.get("instructions"))
        try:
            yield NodeRun(run, first)  # leaving early runs nothing more
        finally:
            run.release_slot()

    parallel_tool_call_execution_mode = staticmethod(parallel_tool_call_execution_mode)
    using_thread_executor = staticmethod(using_thread_executor)
    is_user_prompt_node = staticmethod(is_user_prompt_node)
    is_model_request_node = staticmethod(is_model_request_node)
    is_call_tools_node = staticmethod(is_call_tools_node)
    is_end_node = staticmethod(is_end_node)
