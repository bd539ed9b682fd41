"""nbagent's client overhead, as ratios measured in one run against one loopback provider server.

    python -m benchmarks            # everything, about a minute on 2 cores
    python -m benchmarks --quick    # fewer chunks and repetitions: a smoke run of every section
    python -m benchmarks --only stream,run

The server is tests/provider_server.py's `ProviderServer` (templated Chat Completions chunks, one
socket write per SSE event), started in its own process so that its CPU never counts: every CPU
figure is `time.process_time()` of this process only. The prompt tells the server what to send:
"stream N [delay S]" streams N content chunks (S seconds apart); anything else is the small echo.

Sections (each prints rows of the one table at the end):

- stream:  client CPU per streamed chunk: raw httpx floor, nbagent, PydanticAI, the openai SDK.
- run:     client CPU of one non-streamed run with a small answer: raw httpx post, nbagent, PydanticAI.
- history: client CPU of one run against history length, next to serialising that history.
- load:    `%load_ext nbagent` in a fresh IPython vs a bare IPython start; the first offline %%ask.
- kernel:  display updates per answer and time to first token shown, in a real kernel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "tests", ROOT):  # provider_server / kernel_session, and this checkout's nbagent
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

SECTIONS = ("stream", "run", "history", "load", "kernel")
WORDS = " The quick brown fox jumps over the lazy dog while a list stays mutable and a tuple does not".split(" ")[1:]
API_KEY = "sk-bench-0123456789"


def pieces(n: int) -> list[str]:
    """The content deltas of an n-chunk answer: one word each, leading space kept, like real tokens."""
    return [" " + WORDS[i % len(WORDS)] for i in range(n)]


# ------------------------------------------------------------------ the load source


def _serve(ready: Any, stop: Any, first_sent: Any) -> None:
    """Child process: a ProviderServer whose replies follow the prompt; records when content starts."""
    import provider_server as ps

    class TimedWire:
        """The handler, but noting when the first content chunk (the one after the role chunk) left."""

        def __init__(self, wire: Any) -> None:
            self._wire = wire
            self._sent = 0

        def send_chunk(self, data: bytes) -> None:
            self._wire.send_chunk(data)
            self._sent += 1
            if self._sent == 2:
                first_sent.value = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes

        def __getattr__(self, name: str) -> Any:
            return getattr(self._wire, name)

    class Timed(ps.Reply):
        def __init__(self, inner: ps.Reply) -> None:
            self.inner = inner

        def play(self, wire: Any, req: Any) -> None:
            self.inner.play(TimedWire(wire), req)

    replies: dict[tuple[int, float], ps.Reply] = {}

    class BenchServer(ps.ProviderServer):
        def _default_reply(self, req: Any) -> ps.Reply:  # type: ignore[override]
            words = ps.last_user_text(ps._req_body(req)).split()
            if req.method != "POST" or len(words) < 2 or words[0] != "stream":
                return ps.ProviderServer._default_reply(req)
            n = int(words[1])
            delay = float(words[3]) if len(words) > 3 and words[2] == "delay" else 0.0
            if (n, delay) not in replies:
                replies[n, delay] = Timed(ps.openai_stream(pieces(n), delay=delay, model=None))
            return replies[n, delay]

    server = BenchServer().start()
    ready.put(server.openai_base_url)
    stop.wait()
    server.stop()


class LoadServer:
    """The provider server in its own process (spawned, so it shares nothing with this one)."""

    def __enter__(self) -> "LoadServer":
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        self._stop = context.Event()
        self._first_sent = context.Value("d", 0.0)
        self._process = context.Process(
            target=_serve, args=(ready, self._stop, self._first_sent), name="bench-provider", daemon=True
        )
        self._process.start()
        self.url: str = ready.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()

    def take_first_sent(self) -> float:
        """perf_counter() when the last stream's first content chunk was sent (then forget it)."""
        value, self._first_sent.value = self._first_sent.value, 0.0
        return value


# ---------------------------------------------------------------------------- table


@dataclass
class Row:
    what: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""


ROWS: list[Row] = []
NOTES: list[str] = []


def ratio_row(what: str, value: float, base: float, base_name: str, *, limit: float | None = None) -> float:
    ratio = value / base
    ROWS.append(
        Row(
            what,
            fmt(value),
            f"{base_name} {fmt(base)}",
            f"{ratio:.2f}x",
            f"<= {limit:g}x" if limit else "",
            ("yes" if ratio <= limit else "NO") if limit else "",
        )
    )
    return ratio


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def print_table() -> None:
    headers = Row("measurement (medians; client CPU unless said)", "value", "baseline", "ratio", "target", "met")
    rows = [headers, *ROWS]
    columns = ("what", "value", "baseline", "ratio", "target", "met")
    widths = {c: max(len(getattr(r, c)) for r in rows) for c in columns}
    right = {"value", "ratio"}

    def line(row: Row) -> str:
        cells = [
            getattr(row, c).rjust(widths[c]) if c in right else getattr(row, c).ljust(widths[c]) for c in columns
        ]
        return "  ".join(cells).rstrip()

    print()
    print(line(headers))
    print("  ".join("-" * widths[c] for c in columns))
    for row in ROWS:
        print(line(row))
    for note in NOTES:
        print(f"note: {note}")


def progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- clients under test


def stream_body(prompt: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def optional_clients() -> tuple[Any, Any]:
    """PydanticAI's Agent class and the openai SDK's AsyncOpenAI, or None for what is not installed."""
    try:
        from pydantic_ai import Agent as PydanticAgent
        from pydantic_ai.models.openai import OpenAIChatModel  # noqa: F401
    except ImportError:
        PydanticAgent = None
        NOTES.append("PydanticAI not installed (pip install -e '.[bench]'): its rows are skipped")
    try:
        from openai import AsyncOpenAI
    except ImportError:
        AsyncOpenAI = None
        NOTES.append("openai SDK not installed (pip install -e '.[bench]'): its rows are skipped")
    return PydanticAgent, AsyncOpenAI


class Clients:
    """One of each client, all talking to the same server, created and closed in one event loop."""

    def __init__(self, url: str) -> None:
        import httpx

        from nbagent import Agent

        self.url = url
        self.httpx = httpx.AsyncClient(timeout=60)
        self.headers = {"authorization": f"Bearer {API_KEY}"}
        self.nbagent = Agent("openai:gpt-4o")  # OPENAI_BASE_URL / OPENAI_API_KEY point at the server
        PydanticAgent, AsyncOpenAI = optional_clients()
        self.sdk = AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0) if AsyncOpenAI else None
        self.pydantic_ai = None
        if PydanticAgent is not None and AsyncOpenAI is not None:
            from pydantic_ai.models.openai import OpenAIChatModel
            from pydantic_ai.providers.openai import OpenAIProvider

            self._pai_sdk = AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0)
            model = OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=self._pai_sdk))
            self.pydantic_ai = PydanticAgent(model)

    async def aclose(self) -> None:
        from nbagent._http import close_client

        await self.httpx.aclose()
        await close_client()
        if self.sdk is not None:
            await self.sdk.close()
        if self.pydantic_ai is not None:
            await self._pai_sdk.close()

    # -- one streamed answer each; each returns the text it got
    async def stream_floor(self, prompt: str) -> str:
        out: list[str] = []
        loads = json.loads
        request = self.httpx.stream("POST", self.url + "/chat/completions", json=stream_body(prompt), headers=self.headers)
        async with request as response:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                choices = loads(data).get("choices")
                if choices:
                    content = choices[0]["delta"].get("content")
                    if content:
                        out.append(content)
        return "".join(out)

    @staticmethod
    async def stream_agent(agent: Any, prompt: str) -> str:
        """nbagent and PydanticAI share this API: `run_stream` + `stream_text(delta=True)`."""
        out: list[str] = []
        async with agent.run_stream(prompt) as result:
            async for delta in result.stream_text(delta=True):
                out.append(delta)
        return "".join(out)

    async def stream_sdk(self, prompt: str) -> str:
        out: list[str] = []
        stream = await self.sdk.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                out.append(chunk.choices[0].delta.content)
        return "".join(out)

    # -- one small non-streamed answer each
    async def run_raw(self, prompt: str, history: list[dict[str, str]] | None = None) -> str:
        body = {"model": "gpt-4o", "messages": [*(history or []), {"role": "user", "content": prompt}]}
        response = await self.httpx.post(self.url + "/chat/completions", json=body, headers=self.headers)
        return json.loads(response.content)["choices"][0]["message"]["content"]

    async def run_nbagent(self, prompt: str, history: list[Any] | None = None) -> str:
        return (await self.nbagent.run(prompt, message_history=history)).output

    async def run_pydantic_ai(self, prompt: str) -> str:
        return (await self.pydantic_ai.run(prompt)).output

    async def run_sdk(self, prompt: str) -> str:
        completion = await self.sdk.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}]
        )
        return completion.choices[0].message.content or ""


async def cpu_of(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.process_time()
    value = await call()
    return time.process_time() - start, value


async def interleaved(
    contenders: dict[str, tuple[Callable[[], Awaitable[Any]], int]], check: Callable[[str, Any], None]
) -> dict[str, float]:
    """Median CPU seconds of each contender, its runs interleaved round-robin with the others' so a
    busy neighbour on the machine slows all of them alike. Each value is (call, repetitions)."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for rep in range(max(reps for _, reps in contenders.values())):
        for name, (call, reps) in contenders.items():
            if rep < reps:
                seconds, value = await cpu_of(call)
                check(name, value)
                samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


# ------------------------------------------------------------------------- sections


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
    for name, (call, _) in contenders.items():  # warm up: imports, connection, caches
        check(name, await call())
    progress(f"streaming {chunks:,} chunks: {', '.join(f'{n} x{r}' for n, (_, r) in contenders.items())}")
    cpu = await interleaved(contenders, check)
    per_chunk = {name: seconds / chunks for name, seconds in cpu.items()}
    floor = per_chunk.pop("floor")
    for name, seconds in per_chunk.items():
        limit = 1.3 if name == "nbagent" else None
        ratio_row(f"stream, CPU per chunk: {name}", seconds, floor, "raw httpx", limit=limit)
    NOTES.append(
        f"stream: one answer of {chunks:,} chunks; raw httpx = AsyncClient.stream + aiter_lines + json.loads + "
        f"choices[0].delta.content; the others: run_stream + stream_text(delta=True), or the SDK's "
        f"chat.completions.create(stream=True); {reps} runs of the first two, {slow_reps} of the others"
    )


async def bench_run(clients: Clients, runs: int) -> None:
    def check(name: str, text: str) -> None:
        if text != "Echo: hi":
            raise AssertionError(f"{name} answered {text!r}")

    contenders = {
        "raw": (lambda: clients.run_raw("hi"), runs),
        "nbagent": (lambda: clients.run_nbagent("hi"), runs),
    }
    if clients.pydantic_ai is not None:
        contenders["PydanticAI"] = (lambda: clients.run_pydantic_ai("hi"), runs)
    if clients.sdk is not None:
        contenders["openai SDK"] = (lambda: clients.run_sdk("hi"), runs)
    for _ in range(20):
        for name, (call, _) in contenders.items():
            check(name, await call())
    progress(f"{runs} non-streamed runs each: {', '.join(contenders)}")
    cpu = await interleaved(contenders, check)
    raw = cpu.pop("raw")
    for name, seconds in cpu.items():
        limit = 1.5 if name == "nbagent" else None
        ratio_row(f"run, CPU per run: {name}", seconds, raw, "raw httpx post", limit=limit)
    NOTES.append(
        f"run: {runs} non-streamed runs each with a 2-word answer: `await agent.run(...)`, the SDK's "
        "chat.completions.create; raw = httpx post + json.loads + choices[0].message.content"
    )


def make_history(turns: int) -> list[Any]:
    from nbagent.messages import ModelRequest, ModelResponse, TextPart, Usage, UserPromptPart

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
    from nbagent.messages import messages_to_json

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
            "nbagent": (lambda: clients.run_nbagent("hi", history), reps),
            "serialise": (serialise, reps),
        }
        await clients.run_nbagent("hi", history)
        progress(f"history of {turns} turns: {reps} runs")
        cpu = await interleaved(contenders, check)
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


def ipython_command(code: str) -> list[str]:
    return [
        sys.executable, "-m", "IPython", "--quick", "--no-banner", "--HistoryManager.hist_file=:memory:", "-c", code,
    ]


def timed_subprocess(code: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run IPython with this code: (wall seconds, CPU seconds of the child, its stdout)."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(ipython_command(code), env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "Error" in done.stdout:
        raise RuntimeError(f"IPython failed running {code!r}:\n{done.stdout}\n{done.stderr}")
    return seconds, _children_cpu() - cpu_before, done.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def marker(stdout: str) -> float:
    return float(next(line for line in stdout.splitlines() if line.startswith("BENCH ")).split()[1])


def bench_load(runs: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "NBAGENT_"))}
    env["NBAGENT_MODEL"] = "test"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    asks = max(3, runs // 2)
    with tempfile.TemporaryDirectory() as ipython_dir:
        env["IPYTHONDIR"] = ipython_dir
        timer = "import time; t = time.perf_counter(); {}; print('BENCH', time.perf_counter() - t)"
        bare = timer.format("pass")
        load = timer.format("get_ipython().run_line_magic('load_ext', 'nbagent')")
        ask = "%load_ext nbagent\n" + timer.format("get_ipython().run_cell_magic('ask', '', 'What is a tuple?')")
        timed_subprocess(load, env)  # warm the OS file cache and the bytecode caches
        progress(f"IPython starts: {runs} pairs of bare / with %load_ext nbagent, {asks} with a first %%ask")
        bare_wall, added_wall, added_cpu, inside, first_ask = [], [], [], [], []
        for rep in range(runs):
            # Back to back, so each pair sees the same machine: the median of the differences is far
            # steadier than the difference of the medians when other work shares the cores.
            wall_0, cpu_0, _ = timed_subprocess(bare, env)
            wall_1, cpu_1, out = timed_subprocess(load, env)
            bare_wall.append(wall_0)
            added_wall.append(wall_1 - wall_0)
            added_cpu.append(cpu_1 - cpu_0)
            inside.append(marker(out))
            if rep < asks:
                out = timed_subprocess(ask, env)[2]
                if "offline **test** model" not in out:
                    raise AssertionError(f"the offline %%ask did not answer: {out[-300:]!r}")
                first_ask.append(marker(out))
    base, added = statistics.median(bare_wall), statistics.median(added_wall)
    ROWS.append(
        Row(
            "%load_ext nbagent: added to a fresh IPython (wall)",
            f"{added * 1e3:+,.0f} ms",
            f"bare IPython start {base * 1e3:,.0f} ms",
            f"{(base + added) / base:.2f}x",
            "<= +100 ms",
            "yes" if added <= 0.1 else "NO",
        )
    )
    ROWS.append(Row("%load_ext nbagent: added CPU of that process", f"{statistics.median(added_cpu) * 1e3:+,.0f} ms"))
    ROWS.append(Row("%load_ext nbagent: the magic alone, inside IPython", f"{statistics.median(inside) * 1e3:,.1f} ms"))
    ROWS.append(Row("first %%ask after it (offline test model, wall)", f"{statistics.median(first_ask) * 1e3:,.0f} ms"))


def bench_kernel(server: LoadServer, slow: tuple[int, float], fast: int, fast_reps: int) -> None:
    try:
        from kernel_session import KernelSession, kernel_env
        import ipykernel  # noqa: F401
    except ImportError as exc:
        NOTES.append(f"kernel section skipped: {exc} (pip install -e '.[test]')")
        return
    progress("starting a kernel")
    env = kernel_env(server.url)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    session = KernelSession(env)
    try:
        if session.execute("%load_ext nbagent").errors:
            raise RuntimeError("%load_ext nbagent failed in the kernel")

        def answer(prompt: str, n: int) -> tuple[int, float | None, float]:
            """(display updates, streaming updates per second, seconds from the server sending the first
            content chunk to the first update reaching us)."""
            server.take_first_sent()
            execution = session.execute(f"%%ask --no-history\n{prompt}", timeout=120)
            first_sent = server.take_first_sent()
            if execution.errors or "".join(pieces(n)).strip() not in execution.final_markdown():
                raise AssertionError(f"%%ask {prompt!r} failed: {execution.errors or execution.stderr}")
            shown = [t for m, t in zip(execution.messages, execution.arrivals) if m["msg_type"] == "update_display_data"]
            partial = shown[:-1]  # the last update is the final answer with its footer
            rate = (len(partial) - 1) / (partial[-1] - partial[0]) if len(partial) > 1 else None
            return len(shown), rate, shown[0] - first_sent

        answer("stream 5", 5)  # warm up: the model stack, the loop thread, the connection
        n, delay = slow
        progress(f"kernel: slow answer, {n} chunks {delay * 1e3:g} ms apart")
        slow_result = answer(f"stream {n} delay {delay}", n)
        progress(f"kernel: fast answer, {fast:,} chunks x{fast_reps}")
        fast_results = [answer(f"stream {fast}", fast) for _ in range(fast_reps)]
    finally:
        session.close()

    def add(what: str, result: tuple[int, float | None, float]) -> None:
        updates, rate, first = result
        ROWS.append(
            Row(
                what,
                "-" if rate is None else f"{rate:.1f}/s",  # None: too short for two streaming updates
                f"{updates:.0f} updates; first token shown {first * 1e3:.0f} ms after sent",
                "",
                "<= 15/s",
                "yes" if rate is None or rate <= 15.0 else "NO",
            )
        )

    add(f"kernel %%ask, {n} chunks {delay * 1e3:g} ms apart: updates", slow_result)
    fast_result = sorted(fast_results, key=lambda result: result[2])[len(fast_results) // 2]  # median run
    add(f"kernel %%ask, {fast:,} chunks at once: updates", fast_result)
    NOTES.append(
        "kernel: a real kernel runs %%ask; updates = update_display_data messages per answer (the streaming "
        "ones and the final one), /s = the rate of the streaming ones; first token shown = when the first "
        "update reached the client, from when the server sent the first content chunk"
    )


# ----------------------------------------------------------------------------- main


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
                if "run" in only:
                    await bench_run(clients, runs)
                if "history" in only:
                    await bench_history(clients, (10, 100, 1000), 100 if args.quick else 400)
            finally:
                await clients.aclose()

        if {"stream", "run", "history"} & set(only):
            asyncio.run(client_sections())
        if "load" in only:
            bench_load(3 if args.quick else 7)
        if "kernel" in only:
            bench_kernel(server, (60, 0.01) if args.quick else (300, 0.01), chunks, 1 if args.quick else 3)
    print_table()
    print(f"(whole run {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
