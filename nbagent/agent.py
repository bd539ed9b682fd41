"""`Agent`: the PydanticAI-style entry point — tools, and run / run_sync / run_stream / run_stream_events
over any `Model`. The loop of one run (requests, tool calls, retries, limits) lives in loop.py."""

from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import asynccontextmanager, contextmanager
from typing import (TYPE_CHECKING, Any, AsyncIterator, Callable, Generic, Iterator, Mapping, Sequence, TypeVar,
                    overload)

from typing_extensions import TypedDict, Unpack

from .capabilities import (AbstractCapability, HistoryProcessor, PrepareTools, ToolSearch, ToolsPrepareFunc,
                           capabilities_from, static_settings)
from .deferred import DeferredToolResults, check_results, pending_calls
from .errors import UserError
from .cancel import CancellationToken, resume
from .concurrency import AnyConcurrencyLimit, limiter_for
from .end_strategy import EndStrategy, check_end_strategy
from .event_stream import AgentRunEvents, EventStreamHandler, handled_steps, run_with_handler
from .loop import AgentRun
from .nodes import NodeRun, UserPromptNode, is_call_tools_node, is_end_node, is_model_request_node, is_user_prompt_node
from .prompts import Prompts, PromptSource
from .output import OutputDataT, OutputSchema, OutputSpec
from .output_run import OutputValidator
from .messages import MediaContent, ModelMessage, ModelRequest, ModelResponse, RunUsage, UserContent, UserPromptPart
from .models import Model, infer_model
from .result import RunResult, StreamedRunResult
from .settings import ModelSettings, merge_settings, validate_settings
from .threads import using_thread_executor
from .tool_run import parallel_tool_call_execution_mode
from .tools import AgentDepsT, DocstringFormat, RunContext, Tool, ToolPrepareFunc, tool_from
from .usage import UsageLimits

if TYPE_CHECKING:
    import pandas

    from .rowmap.estimate import MapEstimate


F = TypeVar("F", bound=Callable[..., Any])


class RunOptions(TypedDict, total=False):
    """What run / run_sync / run_stream / run_stream_events / iter take besides the prompt, as PydanticAI
    names it."""

    message_history: Sequence[ModelMessage] | None
    model_settings: Mapping[str, Any] | Callable[[RunContext[Any]], Mapping[str, Any]] | None
    model: Model | str | None
    instructions: str | None
    deps: Any
    usage_limits: UsageLimits | None
    usage: RunUsage | None
    output_type: OutputSpec[Any] | None
    metadata: Mapping[str, Any] | Callable[[RunContext[Any]], Mapping[str, Any]] | None
    run_id: str | None
    conversation_id: str | None
    cancellation_token: CancellationToken | None
    event_stream_handler: EventStreamHandler | None
    deferred_tool_results: DeferredToolResults | None
    retries: int | Mapping[str, int] | None


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

class MapOptions(TypedDict, total=False):
    """What `agent.map(...)` and `agent.map_async(...)` take besides the rows and the prompt."""

    output_type: OutputSpec[Any] | None
    concurrency: int
    cache: bool | str | os.PathLike[str]
    budget: float | None
    deps: Any
    model_settings: Mapping[str, Any] | None
    progress: bool | Callable[[Any], None]
    prices: Mapping[str, Sequence[float]] | None


_KEEP: Any = object()  # override(deps=...) was not given (None is a valid deps value)


class Agent(Generic[AgentDepsT, OutputDataT]):
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
        self.retries, self.output_retries = _retry_budgets(retries, output_retries)
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
            self._retries_override = _retry_budgets(retries, None, (self.retries, self.output_retries))
        try:
            yield
        finally:
            self._model_override, self._deps_override, self._retries_override = saved

    def _start(self, prompt: str | Sequence[UserContent] | None, options: RunOptions) -> AgentRun:
        unknown = set(options) - set(RunOptions.__annotations__)
        if unknown:
            raise UserError(f"Unknown run option {sorted(unknown)[0]!r}; the options are: "
                            + ", ".join(RunOptions.__annotations__))
        content = None if prompt is None else _prompt_content(prompt)
        model = options.get("model")
        run_model = self._model_override or (self.model if model is None else infer_model(model))
        deps = self._deps_override[0] if self._deps_override is not None else options.get("deps")
        run_settings = options.get("model_settings")
        run_step_settings = [StepSettings(run_settings)] if callable(run_settings) else []
        base_settings = merge_settings(run_model.settings, self._model_settings)
        run_static_settings = validate_settings(None if run_step_settings else run_settings)
        settings = merge_settings(base_settings, self._capability_settings, run_static_settings)
        history = list(options.get("message_history") or [])
        for message in history:
            if not isinstance(message, (ModelRequest, ModelResponse)):
                raise UserError(
                    f"message_history must hold ModelRequest/ModelResponse objects (e.g. result.new_messages()), "
                    f"got {type(message).__name__}"
                )
        usage_limits = options.get("usage_limits")
        if usage_limits is not None and not isinstance(usage_limits, UsageLimits):
            raise UserError(f"usage_limits must be a UsageLimits(...), got {type(usage_limits).__name__}")
        usage = options.get("usage")
        if usage is not None and not isinstance(usage, RunUsage):
            raise UserError(f"usage must be a RunUsage (e.g. ctx.usage in a tool), got {type(usage).__name__}")
        run_instructions = options.get("instructions")
        if run_instructions is not None and not isinstance(run_instructions, str):
            raise UserError(f"instructions= of a run must be a str, got {type(run_instructions).__name__}")
        run_id, conversation_id = _run_ids(history, options.get("run_id"), options.get("conversation_id"))
        deferred = options.get("deferred_tool_results")
        if deferred is not None:  # calls the history left waiting, settled by the run before its request
            check_results(deferred, pending_calls(history))
            parts: list[Any] = []
        else:
            history, parts = resume(history)
        if not history:
            parts += self._prompts.system_parts()
        if content is not None:
            parts.append(UserPromptPart(content=content))
        request: ModelRequest | None = None
        if parts or not history or history[-1].kind == "response" or deferred is not None:
            if not parts and deferred is None:
                raise UserError("Give a prompt: the history passed ends with the model's answer, so there is "
                                "nothing to send")
            request = ModelRequest(parts=parts,
                                   instructions=self._prompts.join_instructions(run_instructions))
        run_retries = options.get("retries")
        tool_retries, output_retries = self._retries_override or (
            (self.retries, self.output_retries) if run_retries is None else
            _retry_budgets(run_retries, None, (self.retries, self.output_retries)))
        output_type = options.get("output_type")
        if output_type is None:
            output = self._output
        elif isinstance(output_type, OutputSchema):  # built once by a row map for all its runs
            output = output_type
        else:
            output = OutputSchema(output_type, default_retries=output_retries)
        clash = set(output.tools) & set(self._tools)
        if clash:
            raise UserError(f"Output tool name {sorted(clash)[0]!r} is also a function tool's; rename one of them")
        metadata = [source for source in (self.metadata, options.get("metadata")) if source is not None]
        needs_setup = self._prompts.has_functions or any(callable(source) for source in metadata)
        run = AgentRun(model=run_model, settings=settings, tools=self._tools, deps=deps,
                       usage_limits=usage_limits or UsageLimits(), default_retries=tool_retries,
                       history=history, request=request, prompt=content, output=output,
                       output_validators=self._output_validators, usage=usage,
                       capabilities=[*self._step_settings, *self.capabilities, *run_step_settings],
                       run_id=run_id, conversation_id=conversation_id, tool_timeout=self.tool_timeout,
                       deferred_tool_results=deferred, validation_context=self.validation_context,
                       setup=self._setup(request, run_instructions) if needs_setup else None)
        run.metadata_sources = metadata
        run.limiter = self.concurrency_limiter
        run.end_strategy = self.end_strategy
        run.settings_layers = (base_settings, run_static_settings)
        run.finisher.max_retries = output_retries if output is self._output else output.max_retries
        if not needs_setup:
            run.refresh_metadata()
        token = options.get("cancellation_token")
        if token is not None:
            if not isinstance(token, CancellationToken):
                raise UserError(f"cancellation_token must be a CancellationToken(), got {type(token).__name__}")
            token.attach(run)
        return run

    def _setup(self, request: ModelRequest | None, run_instructions: str | None) -> Callable[[AgentRun], Any]:
        async def setup(run: AgentRun) -> None:
            ctx = run.context()
            run.refresh_metadata()
            if request is not None:
                history_length = len(run.history)
                await self._prompts.complete(ctx, request, run.messages, history_length, run_instructions)
        return setup

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

    # ------------------------------------------------------------------ batch jobs

    def submit_batch(self, rows: Any, prompt: str | None = None, *, output_type: OutputSpec[Any] | None = None,
                     deps: AgentDepsT = None,  # type: ignore[assignment]
                     model_settings: Mapping[str, Any] | None = None, cache: Any = True) -> Any:
        """`map`'s rows as a job on the provider's batch engine (OpenAI Batch API, Anthropic Message
        Batches): about half the price, answered within a day, recorded so it survives a kernel restart.
        Returns a `BatchJob` (`refresh()`, `cancel()`, `wait()`, `result()` → `map`'s DataFrame)."""
        from .rowmap.batch import submit_batch  # pandas loads with the row map, never with the agent

        return submit_batch(self, rows, prompt, output_type=output_type, deps=deps, model_settings=model_settings,
                            cache=cache)

    def batch_job(self, job_id: str, *, output_type: OutputSpec[Any] | None = None, cache: Any = True) -> Any:
        """A recorded batch job (`nbagent.batch_jobs()` lists them) bound to this agent, so `result()`
        validates the answers with its output type, e.g. after a kernel restart."""
        from .rowmap.batch import batch_job

        return batch_job(self, job_id, output_type=output_type, cache=cache)


    # ------------------------------------------------------------------ one question over many rows

    def map(self, rows: Any, prompt: str | None = None, /, **options: Unpack[MapOptions]) -> "pandas.DataFrame":
        """Ask `prompt` (a `str.format` template over each row's fields) of every row, each an independent
        run; return a DataFrame aligned with the input's index (README: "One question over every row").

        `rows`: a DataFrame, a Series, a list of dicts, or a list of strings (each the prompt when no
        template is given). Options (`MapOptions`): `output_type` (the result's columns), `concurrency`
        (16: requests in flight at most, fewer while the provider answers 429), `cache` (True: the
        default SQLite file; a path; False), `budget` (USD; needs a price from `prices` or
        genai-prices), `deps`, `model_settings`, `progress` (True: a text line on stderr; False; or a
        function taking a `MapProgress`), `prices` (`{"provider:model": [input, output]}` USD per million
        tokens). Identical requests are sent once; every answer is committed to the cache as it lands,
        so running it again sends only the rows not answered yet; a row that fails has its one-line
        message in `_error`. Runs on its own loop in a thread, so it works inside Jupyter's loop too.
        """
        from .rowmap.run import map_rows  # pandas, only when a map is asked for

        return map_rows(self, rows, prompt, **options)

    async def map_async(self, rows: Any, prompt: str | None = None, /,
                        **options: Unpack[MapOptions]) -> "pandas.DataFrame":
        """`map` as a coroutine, on the caller's loop; cancelling it loses only the rows in flight."""
        from .rowmap.run import map_rows_async

        return await map_rows_async(self, rows, prompt, **options)

    def estimate_map(
        self,
        rows: Any,
        prompt: str | None = None,
        *,
        output_type: OutputSpec[Any] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        prices: Mapping[str, Sequence[float]] | None = None,
        cache: bool | str | os.PathLike[str] = True,
        pilot: int = 3,
    ) -> "MapEstimate":
        """What `map` would send and cost, before it sends anything: requests after duplicates and cache
        hits, input tokens from the rendered prompts, output tokens from `max_tokens` or a `pilot` of a
        few rows (run for real and cached, so the map does not pay for them twice), the cost and the
        batch price where a price is known."""
        from .rowmap.estimate import estimate_map

        return estimate_map(self, rows, prompt, output_type=output_type, model_settings=model_settings,
                            prices=prices, cache=cache, pilot=pilot)


class StepSettings(AbstractCapability[Any]):
    """Settings given as a function of the run context (`model_settings=lambda ctx: ...`), asked before
    each request."""

    def __init__(self, function: Callable[[RunContext[Any]], Mapping[str, Any]]) -> None:
        self.function = function

    def get_model_settings(self) -> Callable[[RunContext[Any]], Mapping[str, Any]]:
        return self.function


def _run_ids(history: list[ModelMessage], run_id: str | None, conversation_id: str | None) -> tuple[str, str]:
    """This run's id (new unless given) and its conversation's (the history's, unless given or "new")."""
    if run_id is not None:
        if not isinstance(run_id, str) or not run_id:
            raise UserError(f"run_id must be a non-empty str, got {run_id!r}")
        if any(message.run_id == run_id for message in history):
            raise UserError(f"run_id {run_id!r} is already in message_history; give each run its own id")
    if conversation_id is not None and (not isinstance(conversation_id, str) or not conversation_id):
        raise UserError(f"conversation_id must be a non-empty str (or 'new'), got {conversation_id!r}")
    if conversation_id is None:
        conversation_id = next((message.conversation_id for message in reversed(history)
                                if message.conversation_id), None)
    if conversation_id is None or conversation_id == "new":
        conversation_id = str(uuid.uuid4())
    return run_id or str(uuid.uuid4()), conversation_id


def _retry_budgets(retries: Any, output_retries: int | None, defaults: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """`retries=n` (tools and output), or `retries={'tools': n, 'output': m}` (a key left out keeps its
    default); `output_retries=` (v1) wins."""
    def budget(value: Any, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UserError(f"Agent(retries=...): {name} must be a whole number >= 0, got {value!r}")
        return value

    if isinstance(retries, Mapping):
        unknown = set(retries) - {"tools", "output"}
        if unknown:
            raise UserError(f"Agent(retries=...): unknown key {sorted(unknown)[0]!r}; use 'tools' and 'output'")
        tools = budget(retries.get("tools", defaults[0]), "retries['tools']")
        output = budget(retries.get("output", defaults[1]), "retries['output']")
    else:
        tools = output = budget(retries, "retries")
    return tools, output if output_retries is None else budget(output_retries, "output_retries")


def _prompt_content(prompt: Any) -> str | list[UserContent]:
    """A prompt is text, or a sequence of text and images (`BinaryContent`, `ImageUrl`)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)) and all(isinstance(piece, (str, *MediaContent)) for piece in prompt):
        return list(prompt)
    raise UserError(
        f"The prompt must be a str or a list of str / BinaryContent / ImageUrl, got {type(prompt).__name__}"
    )


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
