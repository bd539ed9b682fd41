"""One run: client CPU of one non-streamed run with a small answer, against a raw httpx post.

The fixed cost nbagent adds to every request (messages, settings, the request body, parsing the
answer), which a short answer cannot hide. Target: nbagent <= 1.5x the raw post.
"""

from __future__ import annotations

from benchmarks.clients import Clients
from benchmarks.table import NOTES, contender_rows, progress
from benchmarks.timing import interleaved


async def bench_run(clients: Clients, runs: int) -> None:
    def check(name: str, text: str) -> None:
        if text != "Echo: hi":
            raise AssertionError(f"{name} answered {text!r}")

    contenders = {
        "raw": (lambda: clients.run_raw("hi"), runs),
        "nbagent": (lambda: clients.run_agent(clients.nbagent, "hi"), runs),
    }
    if clients.pydantic_ai is not None:
        contenders["PydanticAI"] = (lambda: clients.run_agent(clients.pydantic_ai, "hi"), runs)
    if clients.sdk is not None:
        contenders["openai SDK"] = (lambda: clients.run_sdk("hi"), runs)
    progress(f"{runs} non-streamed runs each: {', '.join(contenders)}")
    cpu = await interleaved(contenders, check, warm_up=20)
    contender_rows("run, CPU per run", cpu, "raw", "raw httpx post", limit=1.5)
    NOTES.append(
        f"run: {runs} non-streamed runs each with a 2-word answer: `await agent.run(...)`, the SDK's "
        "chat.completions.create; raw = httpx post + json.loads + choices[0].message.content"
    )
