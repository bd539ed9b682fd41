"""nbagent's client overhead, as ratios measured in one run against one loopback provider server.

    python -m benchmarks            # everything, about 80 s on 2 cores
    python -m benchmarks --quick    # fewer chunks and repetitions: a smoke run of every section
    python -m benchmarks --only stream,structured

Sections, in the order they run (each adds rows to the one table printed at the end):

- stream:  client CPU per streamed chunk: raw httpx floor, nbagent, PydanticAI, the openai SDK (stream.py).
- structured: client CPU per chunk of a streamed structured output (an output tool's arguments), with
           stream_output(): raw httpx (the arguments, validated once), nbagent, PydanticAI (structured_stream.py).
- run:     client CPU of one non-streamed run with a small answer: raw httpx post, nbagent, ... (run_cost.py).
- tool:    client CPU of one run with a tool call (two posts): raw httpx, nbagent, PydanticAI (tool_round_trip.py).
- history: client CPU of one run against history length, next to serialising that history (history.py).
- load:    `%load_ext nbagent` in a fresh IPython vs a bare IPython start; the first offline %%ask (load_ext.py).
- kernel:  display updates per answer and time to first token shown, in a real kernel (kernel.py).
- long:    display messages and bytes sent for 1,000 / 4,000 / 16,000-word answers, in a real kernel (long_answers.py).

The server runs in its own process (server.py); the clients are in clients.py, the table in table.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from benchmarks.clients import API_KEY, Clients
from benchmarks.history import bench_history
from benchmarks.kernel import bench_kernel
from benchmarks.load_ext import bench_load
from benchmarks.long_answers import bench_long_answers
from benchmarks.run_cost import bench_run
from benchmarks.server import LoadServer
from benchmarks.stream import bench_stream
from benchmarks.structured_stream import bench_structured
from benchmarks.table import print_table
from benchmarks.tool_round_trip import bench_tool

SECTIONS = ("stream", "structured", "run", "tool", "history", "load", "kernel", "long")
CLIENT_SECTIONS = {"stream", "structured", "run", "tool", "history"}  # run by one Clients in one event loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer chunks and repetitions (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {','.join(SECTIONS)}")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")

    chunks, reps, slow_reps = (2_000, 3, 1) if args.quick else (20_000, 7, 3)
    report_rows = 30 if args.quick else 300  # ~500 or ~5,000 chunks of arguments
    runs = 40 if args.quick else 300
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
                    await bench_stream(clients, chunks, reps, slow_reps)
                if "structured" in only:
                    await bench_structured(clients, report_rows, reps, slow_reps)
                if "run" in only:
                    await bench_run(clients, runs)
                if "tool" in only:
                    await bench_tool(clients, runs)
                if "history" in only:
                    await bench_history(clients, (10, 100, 1000), 100 if args.quick else 400)
            finally:
                await clients.aclose()

        if CLIENT_SECTIONS & set(only):
            asyncio.run(client_sections())
        if "load" in only:
            bench_load(3 if args.quick else 7)
        if "kernel" in only:
            bench_kernel(server, (60, 0.01) if args.quick else (300, 0.01), chunks, 1 if args.quick else 3)
        if "long" in only:
            bench_long_answers(server, (100, 400) if args.quick else (1_000, 4_000, 16_000), 0.005)
    print_table()
    print(f"(whole run {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
