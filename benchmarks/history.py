"""History: client CPU of one run against the length of its message history, next to serialising it.

Every turn resends the whole history, so a run's CPU grows with it; what matters is what each extra
turn of history costs: about what serialising that turn costs. So the target is on the slope, per
stretch of lengths (10 to 100 turns, 100 to 1,000): nbagent's CPU per extra turn <= 1.5x that of
`messages_to_json`. A per-turn cost above serialising's fails it on both stretches, even when it is
constant (the per-run ratio would only fall towards it, the fixed per-request cost being shared by
more turns); one that grows with the history fails it on the longer stretch.
"""

from __future__ import annotations

from typing import Any

from benchmarks.clients import Clients
from benchmarks.table import NOTES, progress, ratio_row
from benchmarks.timing import interleaved
from nbagent.messages import ModelRequest, ModelResponse, TextPart, Usage, UserPromptPart, messages_to_json

PER_TURN_LIMIT = 1.5


def make_history(turns: int) -> list[Any]:
    question = "How do I read a CSV file with pandas and keep only the rows where a column is above 3?"
    answer = ("Use `pd.read_csv(path)` then filter with a boolean mask: `df[df['col'] > 3]`. " * 6).strip()
    history: list[Any] = []
    for i in range(turns):
        history.append(ModelRequest(parts=[UserPromptPart(content=f"{i}: {question}")]))
        history.append(
            ModelResponse(parts=[TextPart(content=answer)], model_name="gpt-4o", usage=Usage(requests=1, input_tokens=20, output_tokens=120))
        )
    return history


async def bench_history(clients: Clients, lengths: tuple[int, ...], runs: int) -> None:
    cpu_by_length: list[tuple[float, float]] = []  # (agent.run, messages_to_json) per length
    for turns in lengths:
        history = make_history(turns)
        reps = max(15, runs * 10 // turns)

        async def serialise() -> bytes:
            return messages_to_json(history)

        def check(name: str, value: Any) -> None:
            if name == "nbagent" and value != "Echo: hi":
                raise AssertionError(f"nbagent answered {value!r}")

        contenders = {
            "nbagent": (lambda: clients.run_agent(clients.nbagent, "hi", history), reps),
            "serialise": (serialise, reps),
        }
        progress(f"history of {turns} turns: {reps} runs")
        cpu = await interleaved(contenders, check, warm_up=1)
        cpu_by_length.append((cpu["nbagent"], cpu["serialise"]))
        ratio_row(f"history {turns:,} turns, CPU per run: nbagent", cpu["nbagent"], cpu["serialise"], "messages_to_json")
    for (shorter, (agent_0, serialise_0)), (longer, (agent_1, serialise_1)) in zip(
            zip(lengths, cpu_by_length), zip(lengths[1:], cpu_by_length[1:])):
        extra = longer - shorter
        ratio_row(f"history, CPU per extra turn ({shorter:,} to {longer:,}): nbagent", (agent_1 - agent_0) / extra,
                  (serialise_1 - serialise_0) / extra, "messages_to_json", limit=PER_TURN_LIMIT)
    NOTES.append(
        "history: a turn is a question and a ~450-character answer; one non-streamed agent.run with that "
        "message_history, next to messages_to_json(history) alone"
    )
