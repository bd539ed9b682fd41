"""History: client CPU of one run against the length of its message history, next to serialising it.

Every turn resends the whole history, so what matters is that nbagent's cost per extra turn stays
about what serialising that turn costs: the ratio to `messages_to_json(history)` must not grow with
the history's length.
"""

from __future__ import annotations

from typing import Any

from benchmarks.clients import Clients
from benchmarks.table import NOTES, ROWS, progress, ratio_row
from benchmarks.timing import interleaved
from nbagent.messages import ModelRequest, ModelResponse, TextPart, Usage, UserPromptPart, messages_to_json


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
    ratios: list[float] = []
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
        ratios.append(
            ratio_row(
                f"history {turns:,} turns, CPU per run: nbagent",
                cpu["nbagent"],
                cpu["serialise"],
                "messages_to_json",
            )
        )
    per_turn = (cpu_by_length[-1][0] - cpu_by_length[0][0]) / (lengths[-1] - lengths[0])
    serialise_per_turn = (cpu_by_length[-1][1] - cpu_by_length[0][1]) / (lengths[-1] - lengths[0])
    ratio_row(
        f"history, CPU per extra turn ({lengths[0]:,} to {lengths[-1]:,}): nbagent",
        per_turn,
        serialise_per_turn,
        "messages_to_json",
    )
    flat = all(later <= earlier * 1.1 for earlier, later in zip(ratios, ratios[1:]))  # 10 %: noise
    ROWS[-2].target, ROWS[-2].met = "not growing", "yes" if flat else "NO"
    NOTES.append(
        "history: a turn is a question and a ~450-character answer; one non-streamed agent.run with that "
        "message_history, next to messages_to_json(history) alone"
    )
