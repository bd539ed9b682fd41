"""Display updates: how often %%ask redraws its answer in a real kernel, and how soon the first token shows.

A real kernel (jupyter_client, as in the tests) runs `%%ask` against the loopback server; counted are
the `update_display_data` messages per answer, the rate of the streaming ones, and the time from the
server sending the first content chunk to the first update reaching the client. Redrawing on every
token would flood the browser, so the target is <= 15 updates/s however fast the tokens come.
Skipped with a note when ipykernel / jupyter_client are not installed (pip install -e '.[test]').
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from benchmarks import ROOT
from benchmarks.server import LoadServer, pieces
from benchmarks.table import NOTES, ROWS, Row, met, progress


@contextlib.contextmanager
def nbagent_kernel(server: LoadServer, section: str) -> Iterator[Any]:
    """A kernel with nbagent loaded, its model the load server; None (and a note) without ipykernel."""
    try:
        from kernel_session import KernelSession, kernel_env
        import ipykernel  # noqa: F401
    except ImportError as exc:
        NOTES.append(f"{section} section skipped: {exc} (pip install -e '.[test]')")
        yield None
        return
    progress("starting a kernel")
    env = kernel_env(server.url)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    session = KernelSession(env)
    try:
        if session.execute("%load_ext nbagent").errors:
            raise RuntimeError("%load_ext nbagent failed in the kernel")
        yield session
    finally:
        session.close()


def streaming_updates(execution: Any) -> tuple[list[float], float | None]:
    """When the display messages that streamed the answer arrived (after the "asking…" placeholder,
    before the final answer and the emptying of the other outputs), and their rate per second (None:
    too few to tell). Outputs emptied while it streams (`{}`: past `MAX_OUTPUTS` outputs, a merge frees
    them to be filled again, output_column.py) carry nothing to render and are not counted."""
    shown = [(m, t) for m, t in zip(execution.messages, execution.arrivals)
             if m["msg_type"] in ("display_data", "update_display_data")]
    answer = shown[0][0]["content"]["transient"]["display_id"]
    final = max(i for i, (m, _) in enumerate(shown) if m["content"]["transient"]["display_id"] == answer)
    arrivals = [t for m, t in shown[1:final] if m["content"]["data"]]
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else None
    return arrivals, rate


def bench_kernel(server: LoadServer, slow: tuple[int, float], fast: int, fast_reps: int) -> None:
    with nbagent_kernel(server, "kernel") as session:
        if session is None:
            return

        def answer(prompt: str, n: int) -> tuple[int, float | None, float]:
            """(display updates, streaming updates per second, seconds from the server sending the first
            content chunk to the first update reaching us)."""
            server.take_first_sent()
            execution = session.execute(f"%%ask --no-history\n{prompt}", timeout=120)
            first_sent = server.take_first_sent()
            if execution.errors or "".join(pieces(n)).strip() not in execution.final_markdown():
                raise AssertionError(f"%%ask {prompt!r} failed: {execution.errors or execution.stderr}")
            partial, rate = streaming_updates(execution)
            return len(partial) + 1, rate, (partial or [execution.arrivals[-1]])[0] - first_sent

        answer("stream 5", 5)  # warm up: the model stack, the loop thread, the connection
        n, delay = slow
        progress(f"kernel: slow answer, {n} chunks {delay * 1e3:g} ms apart")
        slow_result = answer(f"stream {n} delay {delay}", n)
        progress(f"kernel: fast answer, {fast:,} chunks x{fast_reps}")
        fast_results = [answer(f"stream {fast}", fast) for _ in range(fast_reps)]

    def add(what: str, result: tuple[int, float | None, float]) -> None:
        updates, rate, first = result
        ROWS.append(
            Row(
                what,
                "n/a" if rate is None else f"{rate:.1f}/s",  # None: too short for two streaming updates
                f"{updates:.0f} updates; first token shown {first * 1e3:.0f} ms after sent",
                "",
                "<= 15/s",
                met(None if rate is None else rate <= 15.0),
            )
        )

    add(f"kernel %%ask, {n} chunks {delay * 1e3:g} ms apart: updates", slow_result)
    fast_result = sorted(fast_results, key=lambda result: result[2])[len(fast_results) // 2]  # median run
    add(f"kernel %%ask, {fast:,} chunks at once: updates", fast_result)
    NOTES.append(
        "kernel: a real kernel runs %%ask; updates = display messages per answer (the streaming ones and the "
        "final one), /s = the rate of the streaming ones; first token shown = when the first "
        "update reached the client, from when the server sent the first content chunk"
    )
