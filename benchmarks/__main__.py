"""nbagent's client overhead, as ratios measured in one run against one loopback provider server.

    python -m benchmarks            # every section
    python -m benchmarks --quick    # fewer chunks and repetitions: a rough run of every section
    python -m benchmarks --smoke    # every section once at its smallest: that it runs, not what it measures
    python -m benchmarks --only stream,structured
    python -m benchmarks --check    # exit 1 when a target is missed ("NO" in the table)

Sections, in the order they run (each adds rows to the one table printed at the end):

- stream:  client CPU per streamed chunk: raw httpx floor, nbagent, PydanticAI, the openai SDK (stream.py).
- structured: client CPU per chunk of a streamed structured output (an output tool's arguments), with
           stream_output(): raw httpx (the arguments, validated once), nbagent, PydanticAI (structured_stream.py).
- run:     client CPU of one non-streamed run with a small answer: raw httpx post, nbagent, ... (run_cost.py).
- tool:    client CPU of one run with a tool call (two posts): raw httpx, nbagent, PydanticAI (tool_round_trip.py).
- history: client CPU of one run against history length, next to serialising that history (history.py).
- load:    `%load_ext nbagent` in a fresh IPython vs a bare IPython start; the first offline %%ask (load_ext.py).
- kernel:  display updates per answer and time to first token shown, in a real kernel (kernel.py).
- long:    display messages and bytes sent for 1,000 / 4,000 / 16,000-word answers, and one 300-line code
           block and one 4,000-word paragraph, in a real kernel (long_answers.py).
- map:     agent.map: CPU per row against a raw asyncio + httpx + semaphore loop, 1,000 rows at 200 ms each, a
           rate-limited server (rate achieved, 429s), 100,000 rows offline (rows/s, peak memory) (row_map.py).

The server runs in its own process (server.py); the clients are in clients.py, the table in table.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass

from benchmarks.clients import API_KEY, Clients
from benchmarks.history import bench_history
from benchmarks.kernel import bench_kernel
from benchmarks.load_ext import bench_load
from benchmarks.long_answers import bench_long_answers, bench_long_blocks
from benchmarks.row_map import bench_map_cpu, bench_map_latency, bench_map_offline, bench_map_rate_limit
from benchmarks.run_cost import bench_run
from benchmarks.server import LoadServer
from benchmarks.stream import bench_stream
from benchmarks.structured_stream import bench_structured
from benchmarks.table import check_targets, print_table
from benchmarks.tool_round_trip import bench_tool

SECTIONS = ("stream", "structured", "run", "tool", "history", "load", "kernel", "long", "map")
CLIENT_SECTIONS = {"stream", "structured", "run", "tool", "history", "map"}  # run by one Clients in one event loop


@dataclass(frozen=True)
class Sizes:
    """How much each section measures."""

    chunks: int  # of the streamed answer (stream; kernel's fast answer)
    reps: int  # runs of the floor and nbagent per streamed answer
    slow_reps: int  # runs of the slower contenders
    report_rows: int  # of the structured output (~15 chunks a row)
    runs: int  # non-streamed runs (run, tool)
    history_runs: int
    load_pairs: int  # bare / with %load_ext IPython starts
    load_asks: int
    kernel_slow: tuple[int, float]  # chunks, seconds apart
    kernel_reps: int
    long_words: tuple[int, ...]
    map_rows: int  # rows per round of the map's CPU comparison
    map_reps: int
    map_latency_rows: int  # rows answered in 200 ms each
    map_limited: tuple[int, int, int]  # rows, requests a minute, burst
    map_offline: tuple[int, ...]  # rows on the offline model
    long_blocks: tuple[int, int]  # lines of the one code block, words of the one paragraph


SIZES = {
    "full": Sizes(20_000, 7, 3, 300, 300, 400, 7, 3, (300, 0.01), 3, (1_000, 4_000, 16_000),
                  1_000, 3, 1_000, (400, 1_200, 10), (10_000, 100_000), (300, 4_000)),
    "quick": Sizes(2_000, 3, 1, 30, 40, 100, 3, 3, (60, 0.01), 1, (100, 400), 200, 1, 160, (100, 1_200, 5),
                   (1_000, 10_000), (300, 4_000)),
    "smoke": Sizes(200, 1, 1, 5, 5, 10, 1, 1, (20, 0.01), 1, (50, 100), 48, 1, 48, (30, 1_200, 5), (500, 2_000),
                   (100, 1_000)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer chunks and repetitions (a rough run)")
    size.add_argument("--smoke", action="store_true", help="every section once at its smallest (that it runs)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")

    sizes = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    started = time.perf_counter()
    with LoadServer() as server:
        os.environ.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=API_KEY)
        os.environ.pop("NBAGENT_MODEL", None)
        print(f"nbagent benchmarks · Python {sys.version.split()[0]} · {os.cpu_count()} cores · server {server.url} "
              "(ProviderServer, own process)", flush=True)

        async def client_sections() -> None:
            clients = Clients(server.url)
            try:
                if "stream" in only:
                    await bench_stream(clients, sizes.chunks, sizes.reps, sizes.slow_reps)
                if "structured" in only:
                    await bench_structured(clients, sizes.report_rows, sizes.reps, sizes.slow_reps)
                if "run" in only:
                    await bench_run(clients, sizes.runs)
                if "tool" in only:
                    await bench_tool(clients, sizes.runs)
                if "history" in only:
                    await bench_history(clients, (10, 100, 1000), sizes.history_runs)
                if "map" in only:
                    await bench_map_cpu(server.url, sizes.map_rows, sizes.map_reps)
                    await bench_map_latency(server.url, sizes.map_latency_rows, sizes.map_reps)
                    await bench_map_rate_limit(server.url, *sizes.map_limited)
            finally:
                await clients.aclose()

        if CLIENT_SECTIONS & set(only):
            asyncio.run(client_sections())
        if "load" in only:
            bench_load(sizes.load_pairs, sizes.load_asks)
        if "kernel" in only:
            bench_kernel(server, sizes.kernel_slow, sizes.chunks, sizes.kernel_reps)
        if "long" in only:
            bench_long_answers(server, sizes.long_words, 0.005)
            bench_long_blocks(server, *sizes.long_blocks, 0.005)
        if "map" in only:
            bench_map_offline(sizes.map_offline)
    print_table()
    print(f"(whole run {time.perf_counter() - started:.0f} s)")
    return check_targets() if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
