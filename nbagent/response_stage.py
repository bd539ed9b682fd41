"""The response stage of a run (a mixin of `AgentRun`, loop.py): what a response means — the run's output,
or function tool calls run and answered in one request — and each tool's retries, deferred calls settled
or left as the run's output.

Kept apart from the loop, which says in what order the stages go; what counts as the output itself is
output_run.py's, running the calls tool_run.py's, output tools beside function tools end_strategy.py's.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncGenerator, Union

from .deferred import DeferredToolRequests, pending_calls
from .end_strategy import handle_output_calls, not_executed
from .errors import UnexpectedModelBehavior
from .events import FunctionToolCallEvent, FunctionToolResultEvent
from .messages import ModelRequest, ModelResponse, RetryPromptPart, ToolCallPart, UserContent, UserPromptPart
from .output_run import FinalOutput
from .tool_run import ToolCallBatch, ToolOutcome, handle_deferred, settle_calls
from .tools import Tool

TOOL_RETRIES_HINT = ("Consider raising the retry limit, or see the docs on tool retries: "
                     "https://pydantic.dev/docs/ai/tools-toolsets/tools-advanced/#tool-retries")  # PydanticAI's words


class ResponseStage:
    """`AgentRun`'s methods that act on a response: the output, tool calls, retries, deferred calls."""

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
