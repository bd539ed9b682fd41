"""What a response holding output tool calls does to its other tool calls: `Agent(end_strategy=...)`, as
PydanticAI's output page ("Tool calls alongside a final result") describes it.

The output tools are tried in the order the model called them; the first that validates is the final
result. Then, by strategy:

- `'graceful'` (the default): the function tools called beside it run too (their side effects happen),
  later output tools are not used. If one of those function tools asks for a retry (`ModelRetry`, bad
  arguments), the output is not used: the retry goes back to the model, since its output may rest on
  the failed call, and the run goes on.
- `'early'`: the run ends at once; the function tools are answered as not executed.
- `'exhaustive'`: every tool runs, the other output tools too (validated, their output functions
  called); the first valid output stays the result.

A tool that waits for approval or an external result is never run beside a final result (it is answered
as not executed). `run_stream` commits the first output the moment it streams, as `'early'` does. Every
call of the response gets an answer, so the history stays valid on every protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncGenerator, Literal

from .errors import UserError
from .messages import ModelRequest, ModelResponse, RetryPromptPart, ToolCallPart, ToolReturnPart
from .output_run import FinalOutput

if TYPE_CHECKING:
    from .loop import AgentRun

EndStrategy = Literal["graceful", "early", "exhaustive"]
END_STRATEGIES = ("graceful", "early", "exhaustive")

OUTPUT_PROCESSED = "Final result processed."
OUTPUT_NOT_USED = "Output tool not used - a final result was already processed."
OUTPUT_NOT_FINAL = "Output tool processed, but its value will not be the final result of the agent run."
TOOL_NOT_EXECUTED = "Tool not executed - a final result was already processed."
OUTPUT_AFTER_RETRIES = "Output not used as the final result - addressing tool retries from this round first."


def check_end_strategy(value: Any) -> EndStrategy:
    if value not in END_STRATEGIES:
        raise UserError(f"Agent(end_strategy={value!r}): choose one of "
                        + ", ".join(repr(strategy) for strategy in END_STRATEGIES))
    return value  # type: ignore[no-any-return]


def answer(call: ToolCallPart, content: str) -> ToolReturnPart:
    return ToolReturnPart(tool_name=call.tool_name, content=content, tool_call_id=call.tool_call_id)


async def handle_output_calls(run: AgentRun, response: ModelResponse,
                              output_calls: list[ToolCallPart]) -> AsyncGenerator[Any, None]:
    """Settle a response that called output tools (and maybe function tools); set `run.final` when its
    output stands. Yields the events of the function tools it runs."""
    calls = response.tool_calls
    strategy = run.end_strategy
    settled: dict[str, Any] = {}
    found: FinalOutput | None = None
    processed: ToolReturnPart | None = None
    for call in output_calls:
        if found is not None and strategy != "exhaustive":
            settled[call.tool_call_id] = answer(call, OUTPUT_NOT_USED)
            continue
        outcome = await run.finisher.from_tool_call(call)
        if isinstance(outcome, RetryPromptPart):
            settled[call.tool_call_id] = outcome
        elif found is None:
            found = FinalOutput(outcome, response, call.tool_name, call.tool_call_id)
            processed = settled[call.tool_call_id] = answer(call, OUTPUT_PROCESSED)
        else:
            settled[call.tool_call_id] = answer(call, OUTPUT_NOT_FINAL)
    function_calls = [call for call in calls if call.tool_call_id not in settled]
    if found is not None and (strategy == "early" or not function_calls):
        settled.update({call.tool_call_id: answer(call, TOOL_NOT_EXECUTED) for call in function_calls})
        run.add(ModelRequest(parts=[settled[call.tool_call_id] for call in calls]))
        run.finish(found)
        return
    run.ending = found is not None  # calls that would wait are answered as not executed
    try:
        async for event in run.handle_tool_calls(calls, settled):
            yield event
    finally:
        run.ending = False
    if found is None or processed is None:
        return
    returned = run.messages[-1].parts
    if any(isinstance(part, RetryPromptPart) and part.tool_name not in run.output.tools for part in returned):
        processed.content = OUTPUT_AFTER_RETRIES
        return
    run.finish(found)


def not_executed(calls: list[ToolCallPart]) -> dict[str, ToolReturnPart]:
    """The answers of calls that would wait, beside a final result: they are not run."""
    return {call.tool_call_id: answer(call, TOOL_NOT_EXECUTED) for call in calls}
