"""Streaming: client CPU per streamed chunk, nbagent (and PydanticAI, the openai SDK) against raw httpx.

Per chunk because that is the cost that grows with the answer: one long answer is streamed, so the
per-request cost is spread thin. Target: nbagent <= 1.3x the raw httpx floor.
"""

from __future__ import annotations

from typing import Any, Callable

from benchmarks.clients import Clients
from benchmarks.server import pieces
from benchmarks.table import NOTES, contender_rows, progress
from benchmarks.timing import Contenders, interleaved


async def per_chunk_rows(
    what: str, contenders: Contenders, check: Callable[[str, Any], None], chunks: int, base_name: str
) -> None:
    """Time the contenders over one answer of `chunks` chunks (interleaved, after one warm-up run); a
    row each of CPU per chunk against the one named "floor", nbagent's with the 1.3x target."""
    progress(f"{what}, {chunks:,} chunks: {', '.join(f'{n} x{r}' for n, (_, r) in contenders.items())}")
    cpu = await interleaved(contenders, check, warm_up=1)
    per_chunk = {name: seconds / chunks for name, seconds in cpu.items()}
    contender_rows(f"{what}, CPU per chunk", per_chunk, "floor", base_name, limit=1.3)


async def bench_stream(clients: Clients, chunks: int, reps: int, slow_reps: int) -> None:
    prompt = f"stream {chunks}"
    expected = "".join(pieces(chunks))

    def check(name: str, text: str) -> None:
        if text != expected:
            raise AssertionError(f"{name} streamed {len(text)} characters, expected {len(expected)}")

    contenders = {
        "floor": (lambda: clients.stream_floor(prompt), reps),
        "nbagent": (lambda: clients.stream_agent(clients.nbagent, prompt), reps),
    }
    if clients.pydantic_ai is not None:
        contenders["PydanticAI"] = (lambda: clients.stream_agent(clients.pydantic_ai, prompt), slow_reps)
    if clients.sdk is not None:
        contenders["openai SDK"] = (lambda: clients.stream_sdk(prompt), slow_reps)
    await per_chunk_rows("stream", contenders, check, chunks, "raw httpx")
    NOTES.append(
        f"stream: one answer of {chunks:,} chunks; raw httpx = AsyncClient.stream + aiter_lines + json.loads + "
        f"choices[0].delta.content; the others: run_stream + stream_text(delta=True) (debounced by 0.1 s, both libraries' default), or the SDK's "
        f"chat.completions.create(stream=True); {reps} runs of the first two, {slow_reps} of the others"
    )
