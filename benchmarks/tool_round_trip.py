"""Tool round trip: client CPU of one run in which the model calls a tool, the tool runs, and the model
answers with its result: two non-streamed posts, against raw httpx making the same two posts by hand.

What a function tool adds to a run: its JSON schema in each request, reading the call and validating
its arguments, running it, and the assistant and tool messages resent for the final answer. Target:
nbagent <= 1.5x the two raw posts.
"""

from __future__ import annotations

from benchmarks.clients import Clients, get_value
from benchmarks.server import tool_answer
from benchmarks.table import NOTES, contender_rows, progress
from benchmarks.timing import interleaved

PROMPT = "tool round trip: what is the value of a?"


async def bench_tool(clients: Clients, runs: int) -> None:
    expected = tool_answer(get_value("a"))

    def check(name: str, text: str) -> None:
        if text != expected:
            raise AssertionError(f"{name} answered {text!r}, expected {expected!r}")

    contenders = {
        "raw": (lambda: clients.tool_round_trip_raw(PROMPT), runs),
        "nbagent": (lambda: clients.run_agent(clients.nbagent_tools, PROMPT), runs),
    }
    if clients.pydantic_ai_tools is not None:
        contenders["PydanticAI"] = (lambda: clients.run_agent(clients.pydantic_ai_tools, PROMPT), runs)
    progress(f"{runs} tool round trips each: {', '.join(contenders)}")
    cpu = await interleaved(contenders, check, warm_up=20)
    contender_rows("tool round trip, CPU per run", cpu, "raw", "raw httpx 2 posts", limit=1.5)
    NOTES.append(
        f"tool: {runs} runs each in which the model calls get_value(key='a'), then answers with its result: "
        "`await agent.run(...)` of an agent with tools=[get_value]; raw = two httpx posts with a hand-written "
        "tool schema, json.loads, the tool called in between"
    )
