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
import dataclasses
import inspect
import weakref
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from typing import Any, AsyncGenerator, Awaitable, Callable, Sequence, Union

from .capture import run_messages
from .concurrency import ConcurrencyLimiter
from .deferred import DeferredToolRequests, DeferredToolResults, pending_calls
from .errors import ModelHTTPError, RunCancelled, UnexpectedModelBehavior, UserError
from .events import FunctionToolCallEvent, FunctionToolResultEvent, ThinkingPartDelta, ToolCallPartDelta
from .messages import (ModelMessage, ModelRequest, ModelResponse, RetryPromptPart, TextPart, ToolCallPart,
                       Usage, UserContent, UserPromptPart)
from .models.base import Model, ModelRequestParameters, StreamedResponse
from .capabilities import AbstractCapability, ModelRequestContext, UseThreadExecutor, step_settings
from .output import OutputSchema
from .end_strategy import EndStrategy, handle_output_calls, not_executed
from .output_run import FinalOutput, OutputFinisher, OutputValidator
from .settings import ModelSettings, ToolOrOutput
from .threads import run_executor
from .tool_run import EXECUTION_MODE, ToolCallBatch, ToolOutcome, handle_deferred, prepared, settle_calls
from .tools import RunContext, Tool
from .usage import UsageLimits

StepItem = Union[str, ToolCallPartDelta, ThinkingPartDelta, FunctionToolCallEvent, FunctionToolResultEvent,
                 ModelResponse, None]
"""What `steps()` yields: text, tool-call and reasoning pieces, tool events, each finished `ModelResponse`
(and one `None` first, once the first request is answered)."""
TOOL_RETRIES_HINT = ("Consider raising the retry limit, or see the docs on tool retries: "
                     "https://pydantic.dev/docs/ai/tools-toolsets/tools-advanced/#tool-retries")  # PydanticAI's words


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


class AgentRun:
    """The state of one run, from the caller's history to the final answer."""

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

    async def prepare_request(self) -> tuple[list[ModelMessage], ModelSettings, ModelRequestParameters]:
        """What the next request sends: the messages, settings and tools, after the capabilities had
        their say (history processors, prepared tools, per-step settings); as is without capabilities."""
        if not self.capabilities and not self.tool_prepares and "tool_choice" not in self.settings:
            return self.messages, self.settings, self.params
        ctx = self.context()
        ctx.messages = self.messages  # the run's own list: a history processor replaces its contents
        settings = self.settings
        if self.settings_functions:
            settings = self.current_settings = step_settings(self.capabilities, *self.settings_layers, ctx)
            ctx.model_settings = settings
        tool_defs = [tool_def for tool in self.tools.values() if (tool_def := await prepared(tool, ctx)) is not None]
        for capability in self.capabilities:
            tool_defs = await capability.prepare_tools(ctx, tool_defs)
        params = choose_tools(dataclasses.replace(self.params, function_tools=tool_defs), settings.get("tool_choice"))
        self.offered = {tool_def.name for tool_def in params.function_tools}
        request = ModelRequestContext(model=self.model, messages=list(self.messages), model_settings=settings,
                                      model_request_parameters=params)
        for capability in self.capabilities:
            request = await capability.before_model_request(ctx, request)
        return request.messages, request.model_settings, request.model_request_parameters

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

    # ------------------------------------------------------------------ cancellation

    def cancel(self) -> None:
        """Stop the run: safe from any task or thread, a no-op once it ended. Whoever awaits it gets
        `RunCancelled` (see `guard`)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._cancel_now)
                return
        self._cancel_now()

    def cancel_from_context(self) -> None:
        """`ctx.cancel()`: from a tool (or a function the run calls), in the run's own thread or a worker's."""
        self.cancelled_by_tool = True
        self.cancel()

    def _cancel_now(self) -> None:
        if self.final is not None or self.cancel_requested:
            return
        self.cancel_requested = True
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()  # interrupts the await; guard() turns it into RunCancelled

    async def guard(self, awaitable: Awaitable[Any]) -> Any:
        """Await a piece of the run so that `cancel()` can interrupt it: a cancel asked for ends it as
        `RunCancelled` (the history so far attached); a cancel from the surroundings stays a
        `CancelledError`, carrying the same state for `RunCancelled.from_cancellation`."""
        task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self.cancel_requested:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise self.cancelled()
        self._task = task
        try:
            return await awaitable
        except asyncio.CancelledError as exc:
            if self.cancel_requested and task is not None and task.cancelling() == 1:
                task.uncancel()
                raise self.cancelled() from None
            exc._nbagent_cancelled_run = self.cancelled()  # type: ignore[attr-defined]
            raise
        finally:
            self._task = None

    def cancelled(self) -> RunCancelled:
        """The run stops here: the text of a response cut mid-stream is kept as `state="interrupted"`."""
        if self.streaming is not None:
            text, started = self.streaming.text(), self.streaming.started
            self.streaming = None
            if started:  # kept even empty, as PydanticAI keeps a started part (both wires can send it back);
                self.add(ModelResponse(parts=[TextPart(content=text)], model_name=self.model.label,  # a half
                                       state="interrupted"))  # tool call is dropped
        return RunCancelled(list(self.messages), self.new_messages, self.usage)

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

    async def request(self) -> ModelResponse:
        """Send one (unstreamed) request; sent again once if a capability recovered from the provider's
        refusal (e.g. compacted a history that did not fit the context window)."""
        try:
            return await self.model.request(*await self.prepare_request())
        except ModelHTTPError as error:
            if not await self.recovered(error):
                raise
        return await self.model.request(*await self.prepare_request())

    async def open_stream(self, opened: AsyncExitStack) -> StreamedResponse:
        """Send a streamed request (kept open in `opened`); sent again once if a capability recovered from
        the provider's refusal (e.g. compacted a history that did not fit the context window)."""
        try:
            return await opened.enter_async_context(self.model.request_stream(*await self.prepare_request()))
        except ModelHTTPError as error:
            if not await self.recovered(error):
                raise
        return await opened.enter_async_context(self.model.request_stream(*await self.prepare_request()))

    async def recovered(self, error: ModelHTTPError) -> bool:
        """Whether a capability changed what is sent so the refused request is worth sending again."""
        if not self.capabilities:
            return False
        ctx = self.context()
        ctx.messages = self.messages
        for capability in self.capabilities:
            if await capability.retry_after_error(ctx, error):
                return True
        return False

    def record(self, response: ModelResponse) -> None:
        self.add(response)
        self.usage.requests += 1
        self.usage.incr(response.usage)
        limits = self.usage_limits
        limits.check_tokens(self.usage, response.usage)
        if limits.cost_limit is not None:
            self.cost_unknown = limits.check_cost(self.usage, self.model.label, response.model_name, response.usage,
                                                  self.cost_unknown)

    async def handle_response(
        self, response: ModelResponse
    ) -> AsyncGenerator[Union[FunctionToolCallEvent, FunctionToolResultEvent], None]:
        """Decide what a response means: the output (`final` is set), or tools to run and another step.

        Output tool calls, and the function tools called beside them, are settled by the agent's
        `end_strategy` (end_strategy.py).
        """
        calls = response.tool_calls
        output_calls = [call for call in calls if call.tool_name in self.output.tools]
        if output_calls:
            async for event in handle_output_calls(self, response, output_calls):
                yield event
        elif calls:
            async for event in self.handle_tool_calls(calls, {}):
                yield event
        else:
            text_outcome = await self.finisher.from_text(response.text)
            if isinstance(text_outcome, RetryPromptPart):
                self.add(ModelRequest(parts=[text_outcome]))
            else:
                self.finish(FinalOutput(text_outcome, response))

    def finish(self, final: FinalOutput) -> None:
        """The run has its output (metadata is computed again, now that it can include end-of-run values)."""
        self.final = final
        self.refresh_metadata()

    async def handle_tool_calls(
        self, calls: list[ToolCallPart], settled: dict[str, ToolOutcome]
    ) -> AsyncGenerator[Union[FunctionToolCallEvent, FunctionToolResultEvent], None]:
        """Run one response's function tool calls (those not `settled` already, tool_run.py) and settle
        those that wait (deferred ones); yield a call event for each, then a result event as each ends.

        Appends one `ModelRequest` holding the outcomes in call order (and what `ToolReturn` asked to
        send after them). A tool's own exception cancels the others and ends the run with that
        exception; so does cancelling the run. Either way the calls that returned are kept, in a request
        marked `state="interrupted"` (capture_run_messages shows it; a history holding it is repaired
        before it is sent).
        """
        to_run = [call for call in calls if call.tool_call_id not in settled]
        self.usage_limits.check_before_tool_calls(self.usage, len(to_run))
        self.usage.tool_calls += len(to_run)
        batch = ToolCallBatch(self, to_run)
        try:
            async for event in batch.execute():
                yield event
        except (asyncio.CancelledError, Exception) as stop:  # a cancel, or a tool raised, or ran out of retries
            taken_back = isinstance(stop, asyncio.CancelledError) and self.cancelled_by_tool  # as PydanticAI
            if not taken_back:  # keep what returned, so the history can continue
                returned = {**settled, **batch.outcomes}
                self.add(ModelRequest(parts=[returned[call.tool_call_id] for call in calls
                                             if call.tool_call_id in returned], state="interrupted"))
            raise
        outcomes: dict[str, ToolOutcome] = {**settled, **batch.outcomes}
        follow_up = batch.follow_up
        if batch.deferred and self.ending:  # beside a final result, a call that would wait is not run
            outcomes.update(not_executed([item.call for item in batch.deferred]))
        elif batch.deferred:
            async for event in handle_deferred(self, batch.deferred, outcomes, follow_up):
                yield event
        parts: list[Any] = [outcomes[call.tool_call_id] for call in calls if call.tool_call_id in outcomes]
        if follow_up:
            parts.append(UserPromptPart(follow_up))
        if parts or self.final is None:
            self.add(ModelRequest(parts=parts))

    def validation_value(self) -> Any:
        """Pydantic's validation context for tool arguments and outputs: the agent's `validation_context`,
        called with the run context when it is a function."""
        source = self.validation_source
        return source(self.context()) if callable(source) else source

    def deferred_output(self, requests: DeferredToolRequests) -> None:
        """End the run with the calls that wait as its output (the caller settles them and runs again)."""
        response = next(message for message in reversed(self.messages) if isinstance(message, ModelResponse))
        self.final = FinalOutput(requests, response)

    async def resume_deferred(self) -> AsyncGenerator[Union[FunctionToolCallEvent, FunctionToolResultEvent], None]:
        """A run given `deferred_tool_results`: settle the calls the history left waiting, their results
        first in the run's request (before the new prompt, if any)."""
        assert self.resume is not None
        pending = pending_calls(self.history)
        outcomes: dict[str, ToolOutcome] = {}
        follow_up: list[UserContent] = []
        for call in pending:
            yield FunctionToolCallEvent(call)
        async for event in settle_calls(self, pending, self.resume, outcomes, follow_up):
            yield event
        request = self.messages[len(self.history)]
        assert isinstance(request, ModelRequest)
        request.parts[:0] = [outcomes[call.tool_call_id] for call in pending] + (
            [UserPromptPart(follow_up)] if follow_up else [])
        self.resume = None

    def max_retries(self, tool: Tool[Any]) -> int:
        return self.default_retries if tool.max_retries is None else tool.max_retries

    def retry(self, call: ToolCallPart, content: Union[str, list[Any]], max_retries: int,
              cause: Exception | None = None) -> RetryPromptPart:
        """Ask the model to try this call again, unless it already failed `max_retries` times in a row: then
        the run fails, worded as PydanticAI's, from `cause` (the last ModelRetry or ValidationError), with
        the last problem as a note (tracebacks and the notebook's one-line errors show it)."""
        count = self.retries.get(call.tool_name, 0) + 1
        if count > max_retries:
            reason = content if isinstance(content, str) else RetryPromptPart(content=content).model_response()
            failure = UnexpectedModelBehavior(
                f"Tool {call.tool_name!r} exceeded max retries count of {max_retries}. {TOOL_RETRIES_HINT}")
            failure.add_note("last problem: " + " ".join(reason.split())[:300])
            raise failure from cause
        self.retries[call.tool_name] = count
        return RetryPromptPart(content=content, tool_name=call.tool_name, tool_call_id=call.tool_call_id)

    def unknown_tool_text(self, name: str) -> str:
        offered = [tool for tool in self.tools if self.offered is None or tool in self.offered]
        known = ", ".join(repr(tool) for tool in [*offered, *self.output.tools]) or "none"
        return f"Unknown tool name: {name!r}. Available tools: {known}"


def choose_tools(params: ModelRequestParameters, choice: Any) -> ModelRequestParameters:
    """The tools offered once `tool_choice` (settings.py) had its say."""
    if choice is None or choice == "auto":
        return params
    if choice == "none":
        return dataclasses.replace(params, function_tools=[])
    if isinstance(choice, ToolOrOutput):
        names = set(choice.function_tools)
        return dataclasses.replace(params, function_tools=[tool for tool in params.function_tools if tool.name in names])
    names = {tool.name for tool in params.function_tools} if choice == "required" else set(choice)
    return dataclasses.replace(params, function_tools=[tool for tool in params.function_tools if tool.name in names],
                               output_tools=[], allow_text_output=False)
