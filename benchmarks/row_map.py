"""map: `agent.map` over many rows, against a raw asyncio + httpx + semaphore loop and the clock.

- CPU per row: the same N short requests posted by a raw loop (`asyncio.Semaphore(16)`,
  `AsyncClient.post`, `json.loads`, the content kept in a list) and by `await agent.map_async(rows)`
  (every row an agent run, its key hashed, folded duplicates checked, the DataFrame built), with
  `cache=False` and with the SQLite cache committing every row. Target: <= 1.5x the raw loop.
- Latency-bound wall time: 1,000 rows against a server answering each in 200 ms, concurrency 16: the
  floor is 1,000 x 0.2 / 16 = 12.5 s. Target: <= 1.2x the floor. The raw loop's time on the same rows
  is shown beside it: on a busy machine both miss the floor alike.
- A rate-limited server (R requests a minute, a token bucket with a small burst, 429s with OpenAI's
  headers): the rate achieved against R, and the 429s against the requests sent. Targets: >= 85 % of
  R, 429s <= 10 % of the requests.
- Offline: 100,000 rows on the built-in `offline` model: rows/s, and the peak memory growth (Linux
  VmHWM after resetting it) per row against the result's own size, at 10,000 and at 100,000 rows
  (flat: no per-row objects kept beyond the result).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.clients import API_KEY
from benchmarks.table import NOTES, ROWS, Row, met, progress, ratio_row
from nbagent import Agent, OpenAIModel

CONCURRENCY = 16


async def raw_map(client: httpx.AsyncClient, url: str, prompts: list[str]) -> list[str]:
    """The floor: the same requests by hand, 16 at a time."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    headers = {"authorization": f"Bearer {API_KEY}"}
    loads = json.loads

    async def one(prompt: str) -> str:
        async with semaphore:
            response = await client.post(url + "/chat/completions", headers=headers,
                                          json={"model": "gpt-4o", "messages": [{"role": "user", "content": prompt}]})
            return str(loads(response.content)["choices"][0]["message"]["content"])

    return await asyncio.gather(*(one(prompt) for prompt in prompts))


async def bench_map_cpu(url: str, rows: int, reps: int) -> None:
    agent = Agent(OpenAIModel("gpt-4o", base_url=url, api_key=API_KEY))
    client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
    folder = Path(tempfile.mkdtemp(prefix="nbagent-bench-map-"))
    samples: dict[str, list[float]] = {"raw": [], "cache=False": [], "cache": []}
    try:
        progress(f"map CPU: {rows} rows x {reps} rounds, raw loop / agent.map_async (cache=False, SQLite cache)")
        for rep in range(reps + 1):  # the first round warms up (imports, connections, the cache file)
            prompts = [f"row {rep} {i}" for i in range(rows)]
            for name in samples:
                start = time.process_time()
                if name == "raw":
                    answers = await raw_map(client, url, prompts)
                else:
                    cache = False if name == "cache=False" else folder / "map.sqlite3"
                    frame = await agent.map_async(prompts, cache=cache, concurrency=CONCURRENCY, progress=False)
                    answers = frame["output"].tolist()
                seconds = time.process_time() - start
                if answers != [f"Echo: {prompt}" for prompt in prompts]:
                    raise AssertionError(f"{name}: wrong answers")
                if rep:
                    samples[name].append(seconds / rows)
    finally:
        await client.aclose()
    per_row = {name: statistics.median(values) for name, values in samples.items()}
    ratio_row("map, CPU per row: agent.map_async(cache=False)", per_row["cache=False"], per_row["raw"],
              "raw loop", limit=1.5)
    ratio_row("map, CPU per row: agent.map_async (SQLite cache)", per_row["cache"], per_row["raw"], "raw loop",
              limit=1.5)
    NOTES.append(f"map CPU: {rows} rows of a 2-word echo, {CONCURRENCY} at a time; raw = asyncio.Semaphore + "
                 "httpx post + json.loads per row, answers in a list; nbagent's a DataFrame (key hashing, dedup, "
                 "result columns; the cache row also commits each answer to SQLite)")


async def bench_map_latency(url: str, rows: int, reps: int) -> None:
    agent = Agent(OpenAIModel("gpt-4o", base_url=url, api_key=API_KEY))
    progress(f"map latency: {rows} rows, each answered in 200 ms, concurrency {CONCURRENCY} "
             f"(the raw loop and agent.map in turn, {reps} each)")
    prompts = [f"wait 200 row {i}" for i in range(rows)]
    walls: dict[str, list[float]] = {"raw": [], "map": []}
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(reps):  # in turn, so that a busy neighbour slows both alike
            started = time.perf_counter()
            await raw_map(client, url, prompts)
            walls["raw"].append(time.perf_counter() - started)
            started = time.perf_counter()
            frame = await agent.map_async(prompts, cache=False, concurrency=CONCURRENCY, progress=False)
            walls["map"].append(time.perf_counter() - started)
            if frame["_error"].notna().any():
                raise AssertionError(f"map latency: {frame['_error'].notna().sum()} rows failed")
    seconds, raw_seconds = statistics.median(walls["map"]), statistics.median(walls["raw"])
    floor = rows * 0.2 / CONCURRENCY
    what = f"map, wall time of {rows:,} rows at 200 ms, concurrency 16"
    ROWS.append(Row(what, f"{seconds:.2f} s", f"floor {floor:.2f} s", f"{seconds / floor:.2f}x", "<= 1.2x",
                    met(seconds <= floor * 1.2)))
    ROWS.append(Row(what + " (the raw loop)", f"{raw_seconds:.2f} s", f"floor {floor:.2f} s",
                    f"{raw_seconds / floor:.2f}x"))


async def bench_map_rate_limit(url: str, rows: int, per_minute: int, burst: int) -> None:
    agent = Agent(OpenAIModel("gpt-4o", base_url=url, api_key=API_KEY))
    progress(f"map rate limit: {rows} rows against {per_minute:,} requests a minute (burst {burst})")
    name = f"bench{time.monotonic_ns()}"
    started = time.perf_counter()
    frame = await agent.map_async([f"limited {name} {per_minute} 60 {burst} row {i}" for i in range(rows)],
                                  cache=False, concurrency=CONCURRENCY, progress=False)
    seconds = time.perf_counter() - started
    report = frame.attrs["nbagent"]
    if frame["_error"].notna().any():
        raise AssertionError(f"map rate limit: {frame['_error'].notna().sum()} rows failed")
    # the bucket starts full: `burst` rows come free, the rest at the limit's pace
    achieved = (rows - burst) / seconds * 60
    share = achieved / per_minute
    refused = report["rate_limited_429s"] / report["requests_sent"]
    ROWS.append(Row(f"map, rate achieved under {per_minute:,} requests/min", f"{achieved:,.0f}/min",
                    f"limit {per_minute:,}/min", f"{share:.0%}", ">= 85%", met(share >= 0.85)))
    ROWS.append(Row("map, 429s received / requests sent under that limit",
                    f"{report['rate_limited_429s']}/{report['requests_sent']}", "", f"{refused:.1%}", "<= 10%",
                    met(refused <= 0.10)))


def _memory(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def bench_map_offline(sizes: tuple[int, ...]) -> None:
    """Rows/s and peak memory growth on the offline model (the sync `agent.map`, its own loop thread)."""
    agent = Agent("offline")
    agent.map(["warm up"] * 10, cache=False, progress=False)
    for rows in sizes:
        progress(f"map offline: {rows:,} rows on the offline model")
        prompts = [f"row {i}" for i in range(rows)]
        before = _memory("VmRSS:")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak, to the current size
            peak_known = True
        except OSError:
            peak_known = False
        started = time.perf_counter()
        cpu = time.process_time()
        frame = agent.map(prompts, cache=False, progress=False)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        result_bytes = int(frame.memory_usage(deep=True).sum())
        ROWS.append(Row(f"map offline, {rows:,} rows: rows per CPU second", f"{rows / cpu:,.0f}/s",
                        f"wall {rows / seconds:,.0f}/s"))
        if peak_known:
            growth = _memory("VmHWM:") - before
            ROWS.append(Row(f"map offline, {rows:,} rows: peak memory growth per row", f"{growth / rows:,.0f} B",
                            f"result {result_bytes / rows:,.0f} B/row", f"{growth / result_bytes:.2f}x"))
        del frame
    NOTES.append("map offline: the offline model's answers restate the question (~230 B of text a row); peak growth is "
                 "VmHWM after writing 5 to /proc/self/clear_refs, minus VmRSS before; flat = the same per row at "
                 "every size, a small multiple of the result")
