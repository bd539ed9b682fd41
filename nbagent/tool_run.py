"""One response's function tool calls, run: the step between a model's tool calls and the next request.

For each call, in the order the model made them: the tool is looked up among those offered on this
step, its arguments validated (pydantic), then a task runs its `args_validator` and the function (sync
ones in worker threads), bounded by its timeout. Calls run concurrently, except that a `sequential`
tool is a barrier: the calls before it finish first, it runs alone, the calls after it start once it
is done. Within `Agent.parallel_tool_call_execution_mode('sequential')`, or with the setting
`parallel_tool_calls=False`, every call is such a barrier (one at a time, in call order); under
'parallel_ordered_events' they run concurrently but their result events come in call order, once all
ended. What a call comes to:

- a `ToolReturnPart` (its value; `ToolReturn` adds metadata, and content sent after the results;
  `ToolFailed` gives a failed result, `outcome="failed"`, without spending a retry);
- a `RetryPromptPart` (invalid arguments, an unknown tool, `ModelRetry`, a timeout), counted against the
  tool's retries;
- `Deferred`: the call waits for a person's approval (`requires_approval`, `ApprovalRequired`) or for a
  result from elsewhere (`CallDeferred`); see deferred.py for how the run settles it.

Any other exception in a tool cancels the others and ends the run: the exception itself propagates, as
in PydanticAI (code that catches it keeps working), with a note naming the tool and the call.
"""

from __future__ import annotations

import asyncio
import inspect
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncGenerator, Iterator, Literal, Union, get_args

from pydantic import ValidationError

from .deferred import DEFAULT_DENIAL, DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied
from .errors import ApprovalRequired, CallDeferred, ModelRetry, ToolExecutionError, ToolFailed, UserError
from .events import FunctionToolCallEvent, FunctionToolResultEvent
from .messages import RetryPromptPart, ToolCallPart, ToolReturn, ToolReturnPart, UserContent
from .tools import Tool, ToolDefinition

if TYPE_CHECKING:
    from .loop import AgentRun

ParallelExecutionMode = Literal["parallel", "sequential", "parallel_ordered_events"]
EXECUTION_MODE: ContextVar[ParallelExecutionMode] = ContextVar("nbagent_tool_execution_mode", default="parallel")


@contextmanager
def parallel_tool_call_execution_mode(mode: ParallelExecutionMode = "parallel") -> Iterator[None]:
    """How the runs started inside the block run one response's tool calls: 'parallel' (the default),
    'sequential' (one at a time, in call order) or 'parallel_ordered_events' (result events in call order)."""
    if mode not in get_args(ParallelExecutionMode):
        raise UserError(f"parallel_tool_call_execution_mode({mode!r}): choose one of "
                        + ", ".join(repr(name) for name in get_args(ParallelExecutionMode)))
    token = EXECUTION_MODE.set(mode)
    try:
        yield
    finally:
        EXECUTION_MODE.reset(token)


@dataclass
class Deferred:
    """A call that waits: for approval, or for its result from elsewhere."""

    call: ToolCallPart
    kind: Literal["approval", "external"]
    metadata: dict[str, Any] | None = None


ToolOutcome = Union[ToolReturnPart, RetryPromptPart]
CallOutcome = Union[ToolReturnPart, RetryPromptPart, Deferred]
ToolEvent = Union[FunctionToolCallEvent, FunctionToolResultEvent]


class ToolCallBatch:
    """Runs some of one response's calls; `outcomes` by tool call id, `deferred` in call order, and
    `follow_up`: what `ToolReturn(content=...)` asked to send after the results."""

    def __init__(self, run: AgentRun, calls: list[ToolCallPart], *,
                 approved: dict[str, ToolApproved] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.run = run
        self.calls = calls
        self.approved = approved or {}  # call id -> the approval a person gave (its override_args, if any)
        self.metadata = metadata or {}
        self.outcomes: dict[str, ToolOutcome] = {}
        self.deferred: list[Deferred] = []
        self.follow_up: list[UserContent] = []
        # 'parallel_ordered_events': result events held back, to come in call order once all calls ended
        self.held: list[FunctionToolResultEvent] | None = [] if run.tool_execution_mode == "parallel_ordered_events" \
            else None

    async def execute(self, *, announce: bool = True) -> AsyncGenerator[ToolEvent, None]:
        """Yield a call event per call (unless `announce` is False: they were announced before approval),
        then a result event as each ends."""
        run = self.run
        ready: list[tuple[ToolCallPart, Tool[Any], dict[str, Any]]] = []
        for call in self.calls:
            if announce:
                yield FunctionToolCallEvent(call)
            tool = run.tools.get(call.tool_name)
            if tool is None or (run.offered is not None and call.tool_name not in run.offered):
                self._settle(call, run.retry(call, run.unknown_tool_text(call.tool_name), run.default_retries))
                continue
            override = self.approved.get(call.tool_call_id)
            try:
                args = tool.validate_args(override.override_args if override and override.override_args
                                          is not None else call.args, run.validation_value())
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_context=False)
                self._settle(call, run.retry(call, list(errors), run.max_retries(tool), exc))
                continue
            ready.append((call, tool, args))
        for call in self.calls:
            if call.tool_call_id in self.outcomes:
                yield FunctionToolResultEvent(self.outcomes[call.tool_call_id])
        pending: dict[asyncio.Task[CallOutcome], ToolCallPart] = {}
        serial = run.tool_execution_mode == "sequential" or run.current_settings.get("parallel_tool_calls") is False
        try:
            for call, tool, args in ready:
                if tool.sequential or serial:  # a barrier: what came before ends first, it runs alone
                    async for event in self._drain(pending):
                        yield event
                pending[asyncio.ensure_future(self._call(tool, call, args))] = call
                if tool.sequential or serial:
                    async for event in self._drain(pending):
                        yield event
            async for event in self._drain(pending):
                yield event
            order = [call.tool_call_id for call in self.calls]
            for event in sorted(self.held or (), key=lambda held: order.index(held.tool_call_id)):
                yield event
        finally:
            unfinished = [task for task in pending if not task.done()]
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.gather(*unfinished, return_exceptions=True)

    async def _drain(self, pending: dict[asyncio.Task[CallOutcome], ToolCallPart]) -> AsyncGenerator[ToolEvent, None]:
        """Wait for every pending call, yielding each result as it comes; `pending` ends empty."""
        waiting = set(pending)
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                call = pending.pop(task)
                outcome = task.result()  # a tool's exception surfaces here
                if isinstance(outcome, Deferred):
                    self.deferred.append(outcome)
                else:
                    self._settle(call, outcome)
                    if self.held is None:
                        yield FunctionToolResultEvent(outcome)
                    else:
                        self.held.append(FunctionToolResultEvent(outcome))
        self.deferred.sort(key=lambda deferred: self.calls.index(deferred.call))

    def _settle(self, call: ToolCallPart, outcome: ToolOutcome) -> None:
        self.outcomes[call.tool_call_id] = outcome

    async def _call(self, tool: Tool[Any], call: ToolCallPart, args: dict[str, Any]) -> CallOutcome:
        run = self.run
        ctx = run.context(call.tool_name, call.tool_call_id, run.retries.get(call.tool_name, 0))
        ctx.max_retries = run.max_retries(tool)
        ctx.tool_call_approved = call.tool_call_id in self.approved
        ctx.tool_call_metadata = self.metadata.get(call.tool_call_id)
        timeout = tool.timeout if tool.timeout is not None else run.tool_timeout
        try:
            if tool.args_validator is not None:
                await _call_validator(tool, ctx, args)
            if tool.requires_approval and not ctx.tool_call_approved:
                return Deferred(call, "approval")
            task = asyncio.ensure_future(tool.call(args, ctx))
            try:
                done, _ = await asyncio.wait({task}, timeout=timeout)
            finally:
                if not task.done():
                    task.cancel()
            if not done:
                await asyncio.gather(task, return_exceptions=True)
            else:
                content = task.result()
        except ModelRetry as exc:
            return run.retry(call, exc.message, run.max_retries(tool), exc)
        except ToolFailed as exc:
            return ToolReturnPart(call.tool_name, exc.message, call.tool_call_id, outcome="failed")
        except ApprovalRequired as exc:
            if ctx.tool_call_approved:
                raise ToolExecutionError(call.tool_name, exc) from exc  # approved, and asking again: a bug
            return Deferred(call, "approval", exc.metadata)
        except CallDeferred as exc:
            return Deferred(call, "external", exc.metadata)
        except Exception as exc:
            exc.add_note(f"raised by the tool {call.tool_name!r} (call {call.tool_call_id})")
            raise
        if not done:
            return run.retry(call, f"Timed out after {timeout:g} seconds.", run.max_retries(tool))
        run.retries.pop(call.tool_name, None)  # retries count the failures in a row
        return self.returned(call, content)

    def returned(self, call: ToolCallPart, content: Any) -> ToolReturnPart:
        """The part a tool's return makes (a `ToolReturn` gives metadata, and content to send after)."""
        if isinstance(content, ToolReturn):
            if content.content is not None:
                self.follow_up += [content.content] if isinstance(content.content, str) else list(content.content)
            return ToolReturnPart(call.tool_name, content.return_value, call.tool_call_id, metadata=content.metadata)
        return ToolReturnPart(call.tool_name, content, call.tool_call_id)


async def _call_validator(tool: Tool[Any], ctx: Any, args: dict[str, Any]) -> None:
    """`args_validator(ctx, **args)`, sync or async; what it raises decides the call (ModelRetry, ...)."""
    validator = tool.args_validator
    assert validator is not None
    result = validator(ctx, **args)
    if inspect.isawaitable(result):
        await result


async def settle_calls(run: AgentRun, calls: list[ToolCallPart], results: DeferredToolResults,
                       outcomes: dict[str, ToolOutcome], follow_up: list[UserContent]) -> AsyncGenerator[ToolEvent, None]:
    """Apply decisions on waiting calls: run the approved ones (told `ctx.tool_call_approved`), answer the
    denied ones with their denial (`outcome="denied"`) and the external ones with the result given.
    Calls no decision names are left alone; what they come to goes into `outcomes` / `follow_up`."""
    approved: dict[str, ToolApproved] = {}
    answered = ToolCallBatch(run, [])
    for call in calls:
        call_id = call.tool_call_id
        if call_id in results.approvals:
            decision = results.approvals[call_id]
            if decision is True or isinstance(decision, ToolApproved):
                approved[call_id] = decision if isinstance(decision, ToolApproved) else ToolApproved()
                continue
            message = decision.message if isinstance(decision, ToolDenied) else DEFAULT_DENIAL
            outcomes[call_id] = ToolReturnPart(call.tool_name, message, call_id, outcome="denied")
        elif call_id in results.calls:
            value = results.calls[call_id]
            if isinstance(value, ModelRetry):
                outcomes[call_id] = run.retry(call, value.message, run.default_retries, value)
            elif isinstance(value, RetryPromptPart):
                outcomes[call_id] = RetryPromptPart(value.content, tool_name=call.tool_name, tool_call_id=call_id)
            else:
                outcomes[call_id] = answered.returned(call, value)
        else:
            continue
        yield FunctionToolResultEvent(outcomes[call_id])
    follow_up += answered.follow_up
    if approved:
        batch = ToolCallBatch(run, [call for call in calls if call.tool_call_id in approved], approved=approved,
                              metadata=results.metadata)
        async for event in batch.execute(announce=False):
            yield event
        if batch.deferred:
            raise UserError(f"Tool {batch.deferred[0].call.tool_name!r} was approved, then deferred its call "
                            "(CallDeferred); defer before asking for approval, or not at all")
        outcomes.update(batch.outcomes)
        follow_up += batch.follow_up


async def handle_deferred(run: AgentRun, deferred: list[Deferred], outcomes: dict[str, ToolOutcome],
                          follow_up: list[UserContent]) -> AsyncGenerator[ToolEvent, None]:
    """Offer the waiting calls to the capabilities that settle them inline (`HandleDeferredToolCalls`), in
    order; what is still waiting ends the run with `DeferredToolRequests` as its output, if the output
    type allows it (else a UserError says how to allow it)."""
    waiting = list(deferred)
    for capability in run.capabilities:
        if not waiting:
            break
        requests = requests_for(waiting)
        results = await capability.handle_deferred_tool_calls(run.context(), requests)
        if results is None:
            continue
        if not isinstance(results, DeferredToolResults):
            raise UserError(f"{type(capability).__name__}.handle_deferred_tool_calls must return DeferredToolResults "
                            f"or None, got {type(results).__name__}")
        async for event in settle_calls(run, [item.call for item in waiting], results, outcomes, follow_up):
            yield event
        waiting = [item for item in waiting if item.call.tool_call_id not in outcomes]
    if waiting:
        if not run.output.allow_deferred:
            kind = "needs approval" if waiting[0].kind == "approval" else "is executed elsewhere (CallDeferred)"
            raise UserError(f"Tool {waiting[0].call.tool_name!r} {kind}, but this run cannot wait for it: add "
                            "DeferredToolRequests to output_type, or a HandleDeferredToolCalls capability")
        run.deferred_output(requests_for(waiting))


def requests_for(waiting: list[Deferred]) -> DeferredToolRequests:
    return DeferredToolRequests(calls=[item.call for item in waiting if item.kind == "external"],
                                approvals=[item.call for item in waiting if item.kind == "approval"],
                                metadata={item.call.tool_call_id: item.metadata for item in waiting if item.metadata})


async def prepared(tool: Tool[Any], ctx: Any) -> ToolDefinition | None:
    """The tool's definition for this step: as built, or as its `prepare(ctx, tool_def)` returns it (None
    leaves the tool out of the step: the model neither sees nor may call it)."""
    tool_def = tool.tool_def
    if tool.prepare is None:
        return tool_def
    result = tool.prepare(ctx, tool_def)
    if inspect.isawaitable(result):
        result = await result
    if result is not None and not isinstance(result, ToolDefinition):
        raise UserError(f"Tool {tool.name!r}: prepare must return a ToolDefinition or None, got {type(result).__name__}")
    return result
