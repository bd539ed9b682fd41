"""`Agent`: the PydanticAI-style entry point — tools, and run / run_sync / run_stream / run_stream_events
over any `Model`. The loop of one run (requests, tool calls, retries, limits) lives in loop.py."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager, contextmanager
from typing import (TYPE_CHECKING, Any, AsyncIterator, Callable, Generic, Iterator, Mapping, Sequence, TypeVar,
                    overload)

from typing_extensions import TypedDict, Unpack

from .capabilities import AbstractCapability, HistoryProcessor, capabilities_from, static_settings
from .errors import UserError
from .events import (AgentRunResultEvent, AgentStreamEvent, FinalResultEvent, FunctionToolCallEvent,
                     FunctionToolResultEvent, ResponseEvents, ThinkingPartDelta, ToolCallPartDelta)
from .loop import AgentRun
from .output import OutputDataT, OutputSchema, OutputSpec
from .output_run import OutputValidator
from .messages import (MediaContent, ModelMessage, ModelRequest, ModelResponse, SystemPromptPart, UserContent,
                       UserPromptPart)
from .models import Model, infer_model
from .result import RunResult, StreamedRunResult
from .settings import ModelSettings, merge_settings, validate_settings
from .tools import AgentDepsT, DocstringFormat, Tool, tool_from
from .usage import UsageLimits

if TYPE_CHECKING:
    import pandas

    from .rowmap.estimate import MapEstimate


F = TypeVar("F", bound=Callable[..., Any])


class ToolOptions(TypedDict, total=False):
    """What `@agent.tool(...)` and `@agent.tool_plain(...)` take, as PydanticAI names it."""

    name: str | None
    description: str | None
    retries: int | None
    docstring_format: DocstringFormat
    require_parameter_descriptions: bool
    strict: bool | None

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
        instructions: str | None = None,
        system_prompt: str | Sequence[str] = (),
        deps_type: type[AgentDepsT] = type(None),  # type: ignore[assignment]
        model_settings: Mapping[str, Any] | None = None,
        name: str | None = None,
        retries: int = 1,
        tools: Sequence[Tool[AgentDepsT] | Callable[..., Any]] = (),
        output_type: OutputSpec[OutputDataT] = str,  # type: ignore[assignment]
        output_retries: int | None = None,
        capabilities: Sequence[AbstractCapability[AgentDepsT]] = (),
        history_processors: Sequence[HistoryProcessor] = (),
    ) -> None:
        self.model: Model = infer_model(model)
        self.instructions = instructions
        self.system_prompts: tuple[str, ...] = (system_prompt,) if isinstance(system_prompt, str) else tuple(system_prompt)
        self.deps_type = deps_type
        self._model_settings: ModelSettings = validate_settings(model_settings)
        self.name = name
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise UserError(f"Agent(retries={retries!r}): give how many times a failed tool call may be retried (>= 0)")
        self.retries = retries
        self.output_retries = retries if output_retries is None else output_retries
        self.output_type = output_type
        self._output = OutputSchema(output_type, default_retries=self.output_retries)
        self._output_validators: list[OutputValidator] = []
        self._tools: dict[str, Tool[AgentDepsT]] = {}
        for tool in tools:
            self._register(tool_from(tool))
        self.capabilities = capabilities_from(capabilities, history_processors)
        self._capability_settings = static_settings(self.capabilities)
        self._model_override: Model | None = None
        self._deps_override: tuple[Any] | None = None

    @property
    def model_settings(self) -> ModelSettings:
        """The agent's default settings (validated when set)."""
        return self._model_settings

    @model_settings.setter
    def model_settings(self, value: Mapping[str, Any] | None) -> None:
        self._model_settings = validate_settings(value)

    @property
    def tools(self) -> dict[str, Tool[AgentDepsT]]:
        """The function tools the model may call, by name."""
        return dict(self._tools)

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        tools = f", tools={list(self._tools)!r}" if self._tools else ""
        return f"Agent({name}model={self.model.label!r}, model_settings={dict(self._model_settings)!r}{tools})"

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
        self._tools[tool.name] = tool

    # ------------------------------------------------------------------ runs

    @contextmanager
    def override(self, *, model: Model | str | None = None, deps: Any = _KEEP) -> Iterator[None]:
        """Inside the block every run uses this model (and these deps), whatever the call says: how unit
        tests put a `TestModel` or `FunctionModel` under code that builds its own agent runs."""
        saved = (self._model_override, self._deps_override)
        if model is not None:
            self._model_override = infer_model(model)
        if deps is not _KEEP:
            self._deps_override = (deps,)
        try:
            yield
        finally:
            self._model_override, self._deps_override = saved

    def _start(
        self,
        prompt: str | Sequence[UserContent],
        message_history: Sequence[ModelMessage] | None,
        model_settings: Mapping[str, Any] | None,
        model: Model | str | None,
        instructions: str | None,
        deps: Any,
        usage_limits: UsageLimits | None,
        output_type: OutputSpec[Any] | None,
    ) -> AgentRun:
        content = _prompt_content(prompt)
        run_model = self._model_override or (self.model if model is None else infer_model(model))
        if self._deps_override is not None:
            deps = self._deps_override[0]
        settings = merge_settings(run_model.settings, self._model_settings, self._capability_settings,
                                  validate_settings(model_settings))
        history = list(message_history or [])
        for message in history:
            if not isinstance(message, (ModelRequest, ModelResponse)):
                raise UserError(
                    f"message_history must hold ModelRequest/ModelResponse objects (e.g. result.new_messages()), "
                    f"got {type(message).__name__}"
                )
        if usage_limits is not None and not isinstance(usage_limits, UsageLimits):
            raise UserError(f"usage_limits must be a UsageLimits(...), got {type(usage_limits).__name__}")
        parts: list[Any] = []
        if not history:
            parts += [SystemPromptPart(content=text) for text in self.system_prompts]
        parts.append(UserPromptPart(content=content))
        request = ModelRequest(parts=parts, instructions=self.instructions if instructions is None else instructions)
        if output_type is None:
            output = self._output
        elif isinstance(output_type, OutputSchema):  # built once by a row map for all its runs
            output = output_type
        else:
            output = OutputSchema(output_type, default_retries=self.output_retries)
        clash = set(output.tools) & set(self._tools)
        if clash:
            raise UserError(f"Output tool name {sorted(clash)[0]!r} is also a function tool's; rename one of them")
        return AgentRun(model=run_model, settings=settings, tools=self._tools, deps=deps,
                        usage_limits=usage_limits or UsageLimits(), default_retries=self.retries,
                        history=history, request=request, prompt=content, output=output,
                        output_validators=self._output_validators, capabilities=self.capabilities)

    async def run(
        self,
        prompt: str | Sequence[UserContent],
        *,
        message_history: Sequence[ModelMessage] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        model: Model | str | None = None,
        instructions: str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        usage_limits: UsageLimits | None = None,
        output_type: OutputSpec[Any] | None = None,
    ) -> RunResult[OutputDataT]:
        """Send the prompt (after the history), run the tools the model calls, and return its answer.

        `model`, `model_settings` and `instructions` given here override the agent's for this run only.
        """
        run = self._start(prompt, message_history, model_settings, model, instructions, deps, usage_limits,
                          output_type)
        return RunResult(run, await run.run())

    def run_sync(
        self,
        prompt: str | Sequence[UserContent],
        *,
        message_history: Sequence[ModelMessage] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        model: Model | str | None = None,
        instructions: str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        usage_limits: UsageLimits | None = None,
        output_type: OutputSpec[Any] | None = None,
    ) -> RunResult[OutputDataT]:
        """`run` for synchronous code — also inside a running loop (Jupyter), where PydanticAI's fails."""
        return run_coroutine_sync(
            self.run(
                prompt,
                message_history=message_history,
                model_settings=model_settings,
                model=model,
                instructions=instructions,
                deps=deps,
                usage_limits=usage_limits,
                output_type=output_type,
            )
        )

    @asynccontextmanager
    async def run_stream(
        self,
        prompt: str | Sequence[UserContent],
        *,
        message_history: Sequence[ModelMessage] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        model: Model | str | None = None,
        instructions: str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        usage_limits: UsageLimits | None = None,
        output_type: OutputSpec[Any] | None = None,
    ) -> AsyncIterator[StreamedRunResult[OutputDataT]]:
        """Send the prompt and stream the answer, running tool rounds on the way; leaving the block
        closes the HTTP stream (and cancels tools still running)."""
        run = self._start(prompt, message_history, model_settings, model, instructions, deps, usage_limits,
                          output_type)
        steps = run.steps()
        try:
            await steps.__anext__()  # the first request is sent and answered (or raised) on entry
            yield StreamedRunResult(run, steps)
        finally:
            await steps.aclose()

    async def run_stream_events(
        self,
        prompt: str | Sequence[UserContent],
        *,
        message_history: Sequence[ModelMessage] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        model: Model | str | None = None,
        instructions: str | None = None,
        deps: AgentDepsT = None,  # type: ignore[assignment]
        usage_limits: UsageLimits | None = None,
        output_type: OutputSpec[Any] | None = None,
    ) -> AsyncIterator[AgentStreamEvent | AgentRunResultEvent[OutputDataT]]:
        """The run as typed events, for interfaces that show tool activity live (see events.py).

        Each response's parts start and grow (`PartStartEvent`, `PartDeltaEvent`), tools are called and
        answer (`FunctionToolCallEvent`, `FunctionToolResultEvent`), the output is announced
        (`FinalResultEvent`, once it validated), and `AgentRunResultEvent` ends it.
        """
        run = self._start(prompt, message_history, model_settings, model, instructions, deps, usage_limits,
                          output_type)
        steps = run.steps()
        parts = ResponseEvents()
        try:
            async for item in steps:
                if item is None:
                    continue
                if type(item) is str:
                    yield parts.text(item)
                elif isinstance(item, ToolCallPartDelta):
                    yield parts.tool_call(item)
                elif isinstance(item, ThinkingPartDelta):
                    yield parts.thinking(item)
                elif isinstance(item, ModelResponse):
                    parts = ResponseEvents()
                elif isinstance(item, (FunctionToolCallEvent, FunctionToolResultEvent)):
                    yield item
            assert run.final is not None  # steps() ends only with the output
            yield FinalResultEvent(run.final.tool_name, run.final.tool_call_id)
            yield AgentRunResultEvent(RunResult(run, run.final))
        finally:
            await steps.aclose()


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
