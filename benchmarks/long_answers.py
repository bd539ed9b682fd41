"""Long answers in a real kernel: what streaming one costs on the wire to the browser.

Every display message the kernel publishes for the answer reaches the browser, which renders what it
carries as Markdown. Counted for answers of growing length (the server's "markdown W delay S": a
Markdown answer of W words, headings, paragraphs, lists, code and tables, one word a chunk): the
display messages (`display_data` and `update_display_data`), the bytes each carries (every mimetype
of its bundle, UTF-8), per message (median and max) and in all, against the final answer's size.
Targets: bytes per message do not grow with the answer's length; in all <= 10x the final answer.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.kernel import nbagent_kernel, streaming_updates
from benchmarks.server import LoadServer, long_answer
from benchmarks.table import NOTES, ROWS, Row, met, progress

TOTAL_LIMIT = 10.0


def bundle_bytes(message: dict[str, Any]) -> int:
    return sum(len(str(value).encode()) for value in message["content"]["data"].values())


def bench_long_answers(server: LoadServer, lengths: tuple[int, ...], delay: float) -> None:
    with nbagent_kernel(server, "long") as session:
        if session is None:
            return
        session.execute("%%ask --no-history\nstream 5")  # warm up
        results = []
        for words in lengths:
            progress(f"long: a {words:,}-word answer, a word every {delay * 1e3:g} ms")
            execution = session.execute(f"%%ask --no-history\nmarkdown {words} delay {delay}", timeout=words * delay * 5 + 60)
            answer = long_answer(words)
            shown = execution.final_markdown()
            if execution.errors or not shown.startswith(answer.rstrip()):
                raise AssertionError(f"the {words}-word answer is not shown exactly: {execution.errors or shown[-300:]}")
            messages = execution.of_type("display_data", "update_display_data")
            sizes = [bundle_bytes(m) for m in messages]
            arrivals, rate = streaming_updates(execution)
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
