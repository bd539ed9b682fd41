"""Long answers in a real kernel: what streaming one costs on the wire to the browser.

Every display message the kernel publishes for the answer reaches the browser, which renders what it
carries as Markdown. Counted for answers of growing length (the server's "markdown W delay S": a
Markdown answer of W words, headings, paragraphs, lists, code and tables, one word a chunk): the
display messages (`display_data` and `update_display_data`), the bytes each carries (every mimetype
of its bundle, UTF-8), per message (median and max) and in all, against the final answer's size.
Targets: bytes per message do not grow with the answer's length; in all <= 10x the final answer; at
most `MAX_OUTPUTS` outputs opened, however long the answer (JupyterLab shows 50 of a cell).

A single long block is all growing tail, so it is measured on its own too (`bench_long_blocks`): one
fenced code block of L lines ("codeblock L delay S") and one paragraph of W words ("paragraph W delay
S"), a word a chunk. Targets: the streaming messages of the second half of the answer are no larger
than those of the first (median; re-sending the block would double them), and in all <= 10x.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.kernel import nbagent_kernel, streaming_updates
from benchmarks.server import LONG_ANSWERS, LoadServer
from benchmarks.table import NOTES, ROWS, Row, met, progress
from nbagent.notebook.view.output_column import MAX_OUTPUTS

TOTAL_LIMIT = 10.0
FLAT_LIMIT = 1.5  # second half's median bytes per streaming message over the first half's


def bundle_bytes(message: dict[str, Any]) -> int:
    return sum(len(str(value).encode()) for value in message["content"]["data"].values())


def ask_streamed(session: Any, kind: str, n: int, delay: float,
                 what: str) -> tuple[str, list[int], list[float], float | None]:
    """Ask for the server's long answer `kind` of size `n`, a word every `delay` s: the answer, the bytes
    of each display message, when the streaming ones arrived and their rate (`streaming_updates`). The
    outputs it opened (JupyterLab shows 50 of a cell) are a row of their own."""
    progress(f"long: {what}, a word every {delay * 1e3:g} ms")
    answer = LONG_ANSWERS[kind](n)
    execution = session.execute(f"%%ask --no-history\n{kind} {n} delay {delay}",
                                timeout=len(answer.split()) * delay * 5 + 60)
    shown = execution.final_markdown()
    if execution.errors or not shown.startswith(answer.rstrip()):
        raise AssertionError(f"{what} is not shown exactly: {execution.errors or shown[-300:]}")
    sizes = [bundle_bytes(m) for m in execution.of_type("display_data", "update_display_data")]
    arrivals, rate = streaming_updates(execution)
    opened = len(execution.of_type("display_data")) - 1  # the last: the whole answer, once the cell is cleared
    ROWS.append(Row(f"long, {what}: outputs opened", f"{opened:,}", "", "", f"<= {MAX_OUTPUTS}",
                    met(opened <= MAX_OUTPUTS)))
    return answer, sizes, arrivals, rate


def bench_long_answers(server: LoadServer, lengths: tuple[int, ...], delay: float) -> None:
    with nbagent_kernel(server, "long") as session:
        if session is None:
            return
        session.execute("%%ask --no-history\nstream 5")  # warm up
        results = []
        for words in lengths:
            answer, sizes, arrivals, rate = ask_streamed(session, "markdown", words, delay, f"a {words:,}-word answer")
            results.append((words, len(answer.encode()), sizes, max(sizes[1:len(arrivals) + 1], default=0), rate))

    per_message = []
    for words, final, sizes, streaming_max, rate in results:
        median = statistics.median(sizes)
        per_message.append(median)
        streaming = "rate n/a" if rate is None else f"{rate:.1f}/s"  # None: too short for two streaming updates
        ROWS.append(Row(f"long answer, {words:,} words: display messages", f"{len(sizes):,}",
                        f"{streaming} while streaming", "", "<= 15/s", met(None if rate is None else rate <= 15)))
        ROWS.append(Row(f"long answer, {words:,} words: bytes per message", f"{median / 1e3:,.1f} KB",
                        f"max {streaming_max / 1e3:,.1f} KB streaming, {max(sizes) / 1e3:,.1f} KB the final one"))
        total = sum(sizes)
        ratio = total / final
        ROWS.append(Row(f"long answer, {words:,} words: bytes in all", f"{total / 1e3:,.0f} KB",
                        f"final answer {final / 1e3:,.1f} KB", f"{ratio:.1f}x", f"<= {TOTAL_LIMIT:g}x",
                        met(ratio <= TOTAL_LIMIT)))
    growth = per_message[-1] / per_message[0]
    ROWS.append(Row(f"long answer, bytes per message {lengths[-1]:,} vs {lengths[0]:,} words (median)",
                    f"{growth:.2f}x", "", "", "not growing", met(growth <= 1.5)))
    NOTES.append(
        f"long: %%ask in a real kernel streams a Markdown answer (headings, paragraphs, lists, code, tables) a word "
        f"every {delay * 1e3:g} ms; bytes = every mimetype of each display message's bundle, UTF-8; the final "
        "answer's size is its Markdown"
    )


def bench_long_blocks(server: LoadServer, lines: int, words: int, delay: float) -> None:
    with nbagent_kernel(server, "long blocks") as session:
        if session is None:
            return
        session.execute("%%ask --no-history\nstream 5")  # warm up
        for kind, n, what in (("codeblock", lines, f"one {lines:,}-line code block"),
                              ("paragraph", words, f"one {words:,}-word paragraph")):
            answer, sizes, arrivals, _ = ask_streamed(session, kind, n, delay, what)
            streaming = sizes[1:len(arrivals) + 1]
            half = len(streaming) // 2
            growth = statistics.median(streaming[half:]) / statistics.median(streaming[:half]) if half else None
            typical = f"{statistics.median(streaming or [0]) / 1e3:,.2f} KB, max {max(streaming, default=0) / 1e3:,.2f} KB"
            ROWS.append(Row(f"long block, {what}: bytes per message, 2nd half vs 1st (median)",
                            "n/a" if growth is None else f"{growth:.2f}x", typical,
                            "", f"<= {FLAT_LIMIT:g}x", met(None if growth is None else growth <= FLAT_LIMIT)))
            total = sum(sizes)
            ratio = total / len(answer.encode())
            ROWS.append(Row(f"long block, {what}: bytes in all", f"{total / 1e3:,.0f} KB",
                            f"final answer {len(answer.encode()) / 1e3:,.1f} KB, {len(sizes):,} messages",
                            f"{ratio:.1f}x", f"<= {TOTAL_LIMIT:g}x", met(ratio <= TOTAL_LIMIT)))
    NOTES.append("long blocks: the same for an answer that is one long fenced code block, and one long paragraph")
