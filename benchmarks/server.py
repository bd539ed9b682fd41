"""The load source: tests/provider_server.py's `ProviderServer` in its own (spawned) process.

Its own process so that its CPU never counts: every CPU figure is `time.process_time()` of the
benchmark process only. The prompt tells the server what to send: "stream N [delay S]" streams N
content chunks (S seconds apart); "structured R" streams one call of the output tool `final_result`
whose arguments, a report of R table rows, come a few characters a chunk; "markdown W delay S" a
Markdown answer of W words (`long_answer`), a word a chunk, and alike "codeblock L delay S" one
fenced code block of L lines, "paragraph W delay S" one paragraph of W words; "wait MS ..." the echo after MS
milliseconds; "limited NAME R PERIOD BURST ..." the echo within a rate limit of R requests per PERIOD
seconds (a token bucket of BURST, one per NAME; 429s with OpenAI's headers beyond it); "tool ..." calls the tool
`get_value` and, once the request ends with the tool's result (a `tool` message), answers with that
result; anything else gets the small echo. The server also notes when a stream's first content chunk
left, for the kernel's time to first token shown.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from typing import Any

import provider_server as ps

WORDS = " The quick brown fox jumps over the lazy dog while a list stays mutable and a tuple does not".split(" ")[1:]


def pieces(n: int) -> list[str]:
    """The content deltas of an n-chunk answer: one word each, leading space kept, like real tokens."""
    return [" " + WORDS[i % len(WORDS)] for i in range(n)]


def _sentence(start: int, words: int) -> str:
    return " ".join(WORDS[(start + i) % len(WORDS)] for i in range(words)).capitalize() + "."


def _section_blocks(k: int) -> list[str]:
    """One section of a long answer, as a model writes one: a heading, paragraphs, lists, code, a table."""
    code = "\n".join(f"values_{i} = [x * {i} for x in range({k + i})]  # step {i}" for i in range(10))
    table = ["| name | kind | size |", "|---|---|---|"] + [f"| item {i} | {WORDS[i]} | {i * k} |" for i in range(5)]
    return [
        f"## Part {k + 1}",
        " ".join(_sentence(k + 7 * i, 10) for i in range(7)),
        "\n".join(f"- {_sentence(k + i, 8)}" for i in range(5)),
        " ".join(_sentence(k + 3 * i, 10) for i in range(5)),
        f"```python\n{code}\n```",
        "\n".join(table),
        "\n".join(f"{i + 1}. {_sentence(k + 2 * i, 7)}" for i in range(4)),
    ]


def long_answer(words: int) -> str:
    """A Markdown answer of exactly `words` words, sections of ~280 words (blocks of 10 to 80 words)."""
    blocks: list[str] = []
    count = 0
    k = 0
    while True:
        for block in _section_blocks(k):
            size = len(block.split())
            if count + size > words:
                blocks.append(_sentence(k, words - count - 1) + " end" if words - count > 1 else "end")
                return "\n\n".join(blocks) + "\n"
            blocks.append(block)
            count += size
        k += 1


def long_code_block(lines: int) -> str:
    """An answer that is mostly one fenced Python block of `lines` lines."""
    code = "\n".join(f"values_{i} = [x * {i % 17} for x in range({i})]  # step {i} of the table" for i in range(lines))
    return f"Here is the whole script:\n\n```python\n{code}\n```\n"


def long_paragraph(words: int) -> str:
    """One paragraph of `words` words, in sentences of ten."""
    return " ".join(_sentence(k, 10) for k in range(words // 10)) + "\n"


LONG_ANSWERS = {"markdown": long_answer, "codeblock": long_code_block, "paragraph": long_paragraph}
"""The long answers the server streams, by the prompt's first word: "KIND N delay S"."""

ROW_NOTES = ("steady", "up 3 % on the last quarter", "estimated; revised in March", "n/a", "down, see the footnote")
ARGUMENT_CHARS = 4  # characters of a structured answer's arguments per chunk, as a model's tokens come


def report(rows: int) -> dict[str, Any]:
    """The object a "structured R" answer holds: a title and a table of R rows (as plain JSON data)."""
    return {
        "title": f"Quarterly figures, {rows} items",
        "rows": [
            {"name": f"item {i}", "value": round(i * 1.37 - 40, 2), "note": ROW_NOTES[i % len(ROW_NOTES)]}
            for i in range(rows)
        ],
    }


def argument_fragments(rows: int) -> list[str]:
    """The output tool call's arguments as they stream: the report's compact JSON, ARGUMENT_CHARS a chunk."""
    text = json.dumps(report(rows), separators=(",", ":"))
    return [text[i : i + ARGUMENT_CHARS] for i in range(0, len(text), ARGUMENT_CHARS)]


def structured_stream(rows: int) -> ps.Reply:
    """One call of `final_result`: a chunk naming it, then a chunk per argument fragment; "tool_calls"."""
    named = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "final_result", "arguments": ""}}
    fragments = [{"tool_calls": [{"index": 0, "function": {"arguments": f}}]} for f in argument_fragments(rows)]
    return ps.openai_stream([{"tool_calls": [named]}, *fragments], finish_reason="tool_calls", model=None)


TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_value", "arguments": '{"key": "a"}'}}
TOOL_CALL_COMPLETION = {
    "id": "chatcmpl-bench-tool",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [TOOL_CALL]},
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50},
}


def tool_answer(result: str) -> str:
    """The final answer of a tool round trip, given what the tool returned."""
    return f"The value of a is {result}."


def _serve(ready: Any, stop: Any, first_sent: Any) -> None:
    """Child process: a ProviderServer whose replies follow the prompt; records when content starts."""

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

    replies: dict[tuple[Any, ...], ps.Reply] = {}
    structured: dict[int, ps.Reply] = {}
    limits: dict[str, ps.RateLimit] = {}
    tool_call = ps.raw(200, json.dumps(TOOL_CALL_COMPLETION), {"Content-Type": "application/json"})

    class BenchServer(ps.ProviderServer):
        def _default_reply(self, req: Any) -> ps.Reply:  # type: ignore[override]
            body = ps._req_body(req)
            words = ps.last_user_text(body).split() if req.method == "POST" else []
            if words[:1] == ["tool"]:
                last = body["messages"][-1]
                return ps.openai_json(tool_answer(last["content"]), model=None) if last["role"] == "tool" else tool_call
            if words[:1] == ["structured"]:
                rows = int(words[1])
                if rows not in structured:
                    structured[rows] = structured_stream(rows)
                return structured[rows]
            if words[:1] == ["wait"]:  # "wait MS ...": the echo after MS milliseconds
                return ps.stall(int(words[1]) / 1000, ps.echo())
            if words[:1] == ["limited"]:  # "limited NAME R PERIOD BURST ...": the echo within a rate limit
                name, limit, period, burst = words[1], int(words[2]), float(words[3]), int(words[4])
                if name not in limits:
                    limits[name] = ps.RateLimit(limit, period, burst=burst)
                return limits[name](req)
            if words[:1] and words[0] in LONG_ANSWERS:
                kind, n, delay = words[0], int(words[1]), float(words[3])
                if (kind, n, delay) not in replies:
                    replies[kind, n, delay] = ps.openai_stream(ps.split_words(LONG_ANSWERS[kind](n)), delay=delay,
                                                               model=None)
                return replies[kind, n, delay]
            if len(words) < 2 or words[0] != "stream":
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
