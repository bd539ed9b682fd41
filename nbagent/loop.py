"""One agent run, step by step: request the model, run the tools it calls, repeat until it answers.

    model request → response ─┬─ no tool calls: the answer, the run ends
                              └─ tool calls: validate the arguments (pydantic), run the tools
                                 concurrently (sync ones in worker threads), append one request
                                 holding every tool return / retry prompt in call order, loop

`AgentRun` owns one run's state: the messages (the caller's history is copied, never mutated), the
usage summed over every request, each tool's retries, and the limits checked before each request.
What counts as the run's output (text, an output tool call, JSON in the text) is output_run.py's.
`run()` drives it to the end; `steps()` drives it while yielding what streams (text as plain `str`,
tool-call pieces, tool events), which `run_stream` and `run_stream_events` consume.
"""

from __future__ import annotations

import asyncio
import weakref
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from typing import Any, AsyncGenerator, Awaitable, Callable, Sequence, Union

from .cancel import RunCancellation
from .capabilities import AbstractCapability, UseThreadExecutor
from .capture import run_messages
from .concurrency import ConcurrencyLimiter
from .deferred import DeferredToolResults
from .end_strategy import EndStrategy
from .errors import UnexpectedModelBehavior, UserError
from .events import FunctionToolCallEvent, FunctionToolResultEvent, ThinkingPartDelta, ToolCallPartDelta
from .messages import ModelMessage, ModelRequest, ModelResponse, Usage, UserContent
from .models.base import Model, ModelRequestParameters
from .output import OutputSchema
from .output_run import FinalOutput, OutputFinisher, OutputValidator
from .request_stage import RequestStage, choose_tools  # noqa: F401 - choose_tools is exported here too
from .response_stage import TOOL_RETRIES_HINT, ResponseStage  # noqa: F401 - TOOL_RETRIES_HINT is exported here too
from .settings import ModelSettings
from .threads import run_executor
from .tool_run import EXECUTION_MODE
from .tools import RunContext, Tool
from .usage import UsageLimits

StepItem = Union[str, ToolCallPartDelta, ThinkingPartDelta, FunctionToolCallEvent, FunctionToolResultEvent,
                 ModelResponse, None]
"""What `steps()` yields: text, tool-call and reasoning pieces, tool events, each finished `ModelResponse`
(and one `None` first, once the first request is answered)."""


class TextBuffer:
    """Streamed text kept as a few large strings, so memory follows the text, not the chunk count
    (100k one-word deltas held as separate str objects would cost ~60 bytes each, ten times the text)."""

    __slots__ = ("_blocks", "_tail")
    _BLOCK = 512

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._tail: list[str] = []

    def append(self, piece: str) -> None:
        tail = self._tail
        tail.append(piece)
        if len(tail) >= self._BLOCK:
            self._blocks.append("".join(tail))
            tail.clear()

    def text(self) -> str:
        return "".join(self._blocks) + "".join(self._tail)

    @property
    def started(self) -> bool:
        """Whether a text part started, perhaps empty (`TestModel` starts its text with an empty piece)."""
        return bool(self._tail or self._blocks)


class AgentRun(RunCancellation, RequestStage, ResponseStage):
    """The state of one run, from the caller's history to the final answer; its stages are mixins: sending a
    request (request_stage.py), acting on the response (response_stage.py), being cancelled (cancel.py)."""

    def __init__(self, *, model: Model, settings: ModelSettings, tools: dict[str, Tool[Any]], deps: Any,
                 usage_limits: UsageLimits, default_retries: int, history: Sequence[ModelMessage],
                 request: ModelRequest | None, prompt: str | list[UserContent] | None, output: OutputSchema,
                 output_validators: Sequence[OutputValidator],
                 capabilities: Sequence[AbstractCapability[Any]] = (), usage: Usage | None = None,
                 run_id: str = "", conversation_id: str | None = None, metadata: dict[str, Any] | None = None,
                 setup: Callable[[AgentRun], Awaitable[None]] | None = None, tool_timeout: float | None = None,
                 deferred_tool_results: DeferredToolResults | None = None, validation_context: Any = None) -> None:
        self.run_id = run_id
        self.conversation_id = conversation_id
        self.metadata = metadata
        self.metadata_sources: list[Any] = []  # the agent's and the run's: dicts, or functions of the context
        self._setup = setup  # what must be awaited before the first request (instructions functions, ...)
        self.cancel_requested = False
        self.cancelled_by_tool = False
        self._task: asyncio.Task[Any] | None = None  # the task awaiting the run now (what cancel() interrupts)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.model = model
        self.settings = settings
        self.current_settings = settings  # this step's, once settings functions had their say (ctx.model_settings)
        self.settings_layers: tuple[ModelSettings, ModelSettings] = (settings, {})  # (model's + agent's, run's)
        self.settings_functions = any(callable(capability.get_model_settings()) for capability in capabilities)
        self.tools = tools
        self.deps = deps
        self.usage_limits = usage_limits
        self.default_retries = default_retries
        self.history = history
        # capture_run_messages' list, if any
        self.messages: list[ModelMessage] = run_messages([*history, request] if request is not None else list(history))
        self.capabilities = capabilities
        self.tool_timeout = tool_timeout  # seconds, for tools that set no timeout of their own
        self.tool_prepares = any(tool.prepare is not None for tool in tools.values())  # tools' own prepare=
        choice = settings.get("tool_choice")
        if choice == "required" or isinstance(choice, list):
            raise UserError(f"tool_choice={choice!r} for a whole run would force a tool call on every step, so it "
                            "could never end; set it per step from a capability's get_model_settings, or use "
                            "ToolOrOutput(function_tools=[...])")
        self.resume = deferred_tool_results  # decisions on calls the history left waiting, settled first
        # with capabilities, a history processor may replace the messages: the run's own are known by identity
        self._added: dict[int, ModelMessage] | None = (
            {id(request): request} if request is not None else {}) if capabilities else None
        self.first_request = request  # the run's first request: the later ones carry its instructions too
        if request is not None:
            request.run_id, request.conversation_id = run_id or None, conversation_id
            request.timestamp = request.timestamp or datetime.now(timezone.utc)
        self.offered: set[str] | None = None  # the function tools prepared for this step (None: all of them)
        self.prompt = prompt
        self.usage = Usage() if usage is None else usage  # a caller's usage (delegation) counts this run too
        self.end_strategy: EndStrategy = "graceful"  # the agent's; run_stream commits the first output ('early')
        self.ending = False  # function tools are running beside a final result (end_strategy.py)
        self.tool_execution_mode = EXECUTION_MODE.get()  # Agent.parallel_tool_call_execution_mode, where the run started
        self.thread_executor = run_executor(next((capability.executor for capability in capabilities
                                                  if isinstance(capability, UseThreadExecutor)), None))
        self.cost_unknown = False  # warned that a response could not be priced for the cost_limit
        self.limiter: ConcurrencyLimiter | None = None  # the agent's max_concurrency
        self.holds_slot = False
        self.retries: dict[str, int] = {}
        self.output = output
        context = weakref.WeakMethod(self.context)  # not self.context: a run must not be a cycle the GC has to find
        self.finisher = OutputFinisher(output, output_validators, lambda *args: context()(*args))  # type: ignore[misc]
        self.validation_source = validation_context  # a value, or a function of the run context
        if validation_context is not None:
            validation = weakref.WeakMethod(self.validation_value)
            self.finisher.validation_context = lambda: validation()()  # type: ignore[misc]
        self.final: FinalOutput | None = None
        if output.image_output:
            raise UserError(f"Image output is not supported by {model.label}: nbagent's models answer in text "
                            "(and tool calls); take BinaryImage out of output_type")
        self.streaming: TextBuffer | None = None  # the text of the response being streamed, until it is whole
        self.params = ModelRequestParameters(
            function_tools=[tool.tool_def for tool in tools.values()], output_mode=output.mode,
            output_tools=output.tool_defs(), output_object=output.object_def,
            output_instructions=output.instructions, allow_text_output=output.allow_text,
        )

    @property
    def new_messages(self) -> list[ModelMessage]:
        if self._added is None:
            return self.messages[len(self.history):]
        return [message for message in self.messages if id(message) in self._added]

    def add(self, message: ModelMessage) -> None:
        """Append a message the run made (a response, tool returns, a retry prompt): a request with its
        time and the run's instructions, a response with the model it was asked of (`model_id`)."""
        message.run_id, message.conversation_id = self.run_id or None, self.conversation_id
        if message.kind == "request":
            message.timestamp = message.timestamp or datetime.now(timezone.utc)
            if message.instructions is None and self.first_request is not None:
                message.instructions = self.first_request.instructions
        elif message.model_id is None:
            message.model_id = self.model.model_id
        self.messages.append(message)
        if self._added is not None:
            self._added[id(message)] = message

    def streamed_text(self) -> str:
        """All the text the model wrote in this run so far: finished responses, then the one streaming."""
        done = [message.text for message in self.new_messages if isinstance(message, ModelResponse)]
        return "".join(done) + (self.streaming.text() if self.streaming is not None else "")

    def context(self, tool_name: str | None = None, tool_call_id: str | None = None, retry: int = 0) -> RunContext[Any]:
        """What a tool or an output validator is told about the run, now."""
        return RunContext(deps=self.deps, model=self.model, usage=self.usage, prompt=self.prompt,
                          messages=list(self.messages), tool_name=tool_name, tool_call_id=tool_call_id,
                          retry=retry, run_step=self.usage.requests, run_id=self.run_id,
                          metadata=self.metadata, usage_limits=self.usage_limits, model_settings=self.current_settings,
                          _cancel=self.cancel_from_context, _thread_executor=self.thread_executor)

    def refresh_metadata(self) -> None:
        """Compute the run's metadata: at the start, and again once it has its output."""
        if not self.metadata_sources:
            return
        merged: dict[str, Any] = {}
        for source in self.metadata_sources:
            merged.update(source(self.context()) if callable(source) else source)
        self.metadata = merged

    # ------------------------------------------------------------------ driving

    def check_can_request(self) -> None:
        """Before each request: the run was not cancelled, and one more request stays within the limits."""
        if self.cancel_requested:
            raise self.cancelled()
        self.usage_limits.check_before_request(self.usage)

    async def begin(self) -> None:
        """What must happen before the first request: a slot of the agent's `max_concurrency` (waited for),
        evaluating instructions functions, ..."""
        if self.limiter is not None and not self.holds_slot:
            await self.limiter.acquire()
            self.holds_slot = True
        if self._setup is not None:
            setup, self._setup = self._setup, None
            await setup(self)

    def release_slot(self) -> None:
        """The run is over (however it ended): its concurrency slot goes to the next run in line."""
        if self.holds_slot and self.limiter is not None:
            self.holds_slot = False
            self.limiter.release()

    async def run(self) -> FinalOutput:
        """Request and run tools until the model gives an output that validates; return it."""
        try:
            await self.begin()
            if self.resume is not None:
                async for _ in self.resume_deferred():
                    pass
            while self.final is None:
                self.check_can_request()
                response = await self.request()
                self.record(response)
                async for _ in self.handle_response(response):
                    pass
            return self.final
        finally:
            self.release_slot()

    async def steps(self) -> AsyncGenerator[StepItem, None]:
        """Like `run`, streaming each response; yields `None` once the first request is answered (headers in).

        A response counts only once its stream completed: a stream cut in the middle of a tool call's
        arguments raises before any tool runs.
        """
        try:
            await self.begin()
            if self.resume is not None:
                async for event in self.resume_deferred():
                    yield event
            first = True
            while True:
                self.check_can_request()
                async with AsyncExitStack() as opened:
                    stream = await self.open_stream(opened)
                    if first:
                        first = False
                        yield None  # the caller's signal that the run is under way
                    text = self.streaming = TextBuffer()
                    items = stream.deltas()
                    try:
                        async for item in items:
                            if type(item) is str:
                                text.append(item)
                            yield item
                    finally:
                        await items.aclose()  # now, while the loop runs, not whenever it is collected
                    if not stream.complete:
                        raise UnexpectedModelBehavior(
                            f"{self.model.label}: the stream stopped before the answer was complete")
                    response = stream.response(text.text())
                self.streaming = None
                self.record(response)
                yield response
                async for event in self.handle_response(response):
                    yield event
                if self.final is not None:
                    return
        finally:
            self.release_slot()

    def validation_value(self) -> Any:
        """Pydantic's validation context for tool arguments and outputs: the agent's `validation_context`,
        called with the run context when it is a function."""
        source = self.validation_source
        return source(self.context()) if callable(source) else source
