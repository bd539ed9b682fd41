"""Structured output, streamed: client CPU per chunk of an output tool call's arguments, nbagent (and
PydanticAI) against raw httpx collecting the same arguments and validating them once at the end.

`Agent(model, output_type=Report)` has the model answer through the tool `final_result`, whose
arguments are the report; `stream_output()` yields it partially validated as they arrive, at most
every `debounce_by` seconds (0.1, the default in both), then whole. One answer of thousands of
fragments of a few characters each, so the per-request cost is spread thin and what is measured is
the cost of each argument chunk plus the partial parses (on loopback the answer takes about one
debounce period, so the default makes one). Target: nbagent (debounced) <= 1.3x the floor; the same
with `debounce_by=None` (a partial parse of all the arguments so far on every chunk) is shown for
what the debouncing saves.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from benchmarks.clients import Clients, Report
from benchmarks.server import ARGUMENT_CHARS, argument_fragments, report
from benchmarks.stream import per_chunk_rows
from benchmarks.table import NOTES


async def bench_structured(clients: Clients, rows: int, reps: int, slow_reps: int) -> None:
    prompt = f"structured {rows}"
    expected = Report.model_validate(report(rows))
    chunks = len(argument_fragments(rows))

    def check(name: str, output: Report) -> None:
        if type(output) is not Report or output != expected:
            raise AssertionError(f"{name} ended with {type(output).__name__} {str(output)[:120]!r}, not the report")

    def last_output(agent: Any, debounce_by: float | None) -> Callable[[], Awaitable[Any]]:
        return lambda: clients.stream_output_agent(agent, prompt, debounce_by)

    contenders = {
        "floor": (lambda: clients.structured_floor(prompt), reps),
        "nbagent": (last_output(clients.nbagent_report, 0.1), reps),
        "nbagent, debounce_by=None": (last_output(clients.nbagent_report, None), slow_reps),
    }
    if clients.pydantic_ai_report is not None:
        contenders["PydanticAI"] = (last_output(clients.pydantic_ai_report, 0.1), slow_reps)
    await per_chunk_rows("structured stream", contenders, check, chunks, "raw httpx (args + 1 validate)")
    NOTES.append(
        f"structured: one final_result call whose arguments (a Report of {rows} rows) come in {chunks:,} chunks of "
        f"{ARGUMENT_CHARS} characters; run_stream + stream_output(debounce_by=0.1 unless said), the last output "
        f"checked equal to the report; raw httpx = AsyncClient.stream + aiter_lines + json.loads + "
        f"choices[0].delta.tool_calls[0].function.arguments joined, then one Report.model_validate_json; "
        f"{reps} runs of the first two, {slow_reps} of the others"
    )
