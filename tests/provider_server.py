"""A real HTTP server on 127.0.0.1 that plays an LLM provider for tests and benchmarks.

Why a real server rather than an httpx mock transport: the client's behaviour we care
about (streaming over time, timeouts, dropped connections, keep-alive, retries) lives in
the transport layer, and only real sockets exercise it.

It speaks two protocols:

* OpenAI Chat Completions: ``POST /v1/chat/completions`` (base URL ``server.openai_base_url``)
* Anthropic Messages:      ``POST /v1/messages``         (base URL ``server.anthropic_base_url``)
* both providers' batch endpoints (files, batches, results): ``server.batches``, provider_batches.py

With an empty reply queue it echoes ("Echo: " + last user text).  Tests script other
answers with ``server.enqueue(openai_stream(...), error(429, retry_after=1), ...)``, or answer every
request by what it asks with ``server.respond_with(responder)`` (``per_prompt``, ``RateLimit``,
``slow``: per-row answers, a provider's request rate limit, a fixed latency).

Run ``python tests/provider_server.py [--port N]`` for a standalone echo server.
"""

from __future__ import annotations

import argparse
import copy
import functools
import http.server
import itertools
import json
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, Union
from urllib.parse import urlsplit

from prompt_cache import CacheUse, PromptCache
from provider_batches import Batches

CASSETTES = Path(__file__).resolve().parent / "fixtures" / "cassettes" / "pydantic-ai"

OPENAI_CHAT_PATH = "/v1/chat/completions"
ANTHROPIC_MESSAGES_PATH = "/v1/messages"
DEFAULT_OPENAI_MODEL = "gpt-4o"
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"

HeadersArg = Union[Mapping[str, Any], Iterable[tuple[str, Any]], None]
Usage = Union[tuple[int, int], None, bool]

# Headers the server computes itself; recorded values would lie about the replayed body.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "content-encoding",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
# Errors that just mean "the client went away"; never worth a traceback.
_QUIET_ERRORS = (ConnectionError, TimeoutError, socket.timeout, OSError)

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    """Unique, readable ids so a failing test shows which reply it got."""
    return f"{prefix}nbagent{next(_ids):06d}"


def _dumps(obj: Any) -> bytes:
    """Compact JSON like the real providers send (keeps per-chunk bytes small)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------- requests


@dataclass
class RecordedRequest:
    """One request as the server saw it, so tests can assert on what the client sent."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: Any  # parsed body, or None when absent / not JSON
    query: str = ""
    client_hung_up: bool = False  # the client closed the connection before the reply was all written
    replied: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)  # reply over
    cache: CacheUse | None = None  # what the server's prompt cache read / wrote (None: no cache simulated)
    # The server thread that served it: joined, the server is done with the request's connection (and
    # has reported any error of it).
    thread: threading.Thread | None = field(default=None, repr=False, compare=False)
    # When each event of a streamed answer was written (time.perf_counter() in this process).
    sent_at: list[float] = field(default_factory=list, repr=False, compare=False)

    def wait_replied(self, timeout: float = 10.0) -> bool:
        """Block until the server is done with the reply (written in full, or the client hung up);
        False when `timeout` passed first."""
        return self.replied.wait(timeout)

    @property
    def is_anthropic(self) -> bool:
        """Anthropic paths get Anthropic-shaped errors and echoes."""
        return self.path.startswith(ANTHROPIC_MESSAGES_PATH)

    @property
    def text(self) -> str:
        """The body decoded, for quick substring assertions."""
        return self.body.decode("utf-8", "replace")


# ------------------------------------------------------------------------ text helpers


def split_words(text: str) -> list[str]:
    """Split into word pieces that keep their leading spaces, so "".join() is exact."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[sum(map(len, pieces)) :]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces.append(rest)
    return pieces


def count_words(text: str) -> int:
    """Our deterministic stand-in for a tokenizer."""
    return len(text.split())


def content_text(content: Any) -> str:
    """Text of a message content: a string or a list of text / tool_result parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif part.get("type") == "tool_result":
                    parts.append(content_text(part.get("content")))
        return "\n".join(p for p in parts if p)
    return ""


def last_user_text(body: Any) -> str:
    """Text of the last user message: what the echo answers."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def prompt_words(body: Any) -> int:
    """Input "tokens": words of every message plus Anthropic's top-level system."""
    if not isinstance(body, dict):
        return 0
    total = count_words(content_text(body.get("system")))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            total += count_words(content_text(message.get("content")))
    return total


def _pieces(text_or_chunks: str | Sequence[Any]) -> list[Any]:
    """A str is split into words; a list is used as given."""
    if isinstance(text_or_chunks, str):
        return split_words(text_or_chunks)
    return list(text_or_chunks)


def _text_of(pieces: Sequence[Any]) -> str:
    return "".join(p for p in pieces if isinstance(p, str))


def _req_body(req: RecordedRequest) -> dict[str, Any]:
    return req.json if isinstance(req.json, dict) else {}


def _openai_usage(counts: tuple[int, int], req: RecordedRequest) -> dict[str, Any]:
    """Chat Completions usage; with the prompt cache on, the cached prefix in prompt_tokens_details."""
    usage: dict[str, Any] = {"prompt_tokens": counts[0], "completion_tokens": counts[1],
                             "total_tokens": counts[0] + counts[1]}
    if req.cache is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": req.cache.read, "audio_tokens": 0}
    return usage


def _anthropic_input(counts: tuple[int, int], req: RecordedRequest) -> dict[str, Any]:
    """Messages usage of the input: `input_tokens` excludes what was read from or written to the cache."""
    if req.cache is None:
        return {"input_tokens": counts[0]}
    return {"input_tokens": counts[0] - req.cache.read - req.cache.write,
            "cache_creation_input_tokens": req.cache.write, "cache_read_input_tokens": req.cache.read}


def _usage_for(usage: Usage, req: RecordedRequest, answer: str) -> tuple[int, int] | None:
    """Explicit (in, out) wins; None means count words; False means no usage."""
    if usage is False:
        return None
    if isinstance(usage, tuple):
        return usage
    return prompt_words(_req_body(req)), count_words(answer)


# ---------------------------------------------------------------------------- headers


def _header_pairs(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k), str(v)) for k, v in items]


def _merge_headers(defaults: HeadersArg, extra: HeadersArg) -> list[tuple[str, str]]:
    """Defaults overridden by name (case-insensitive) by extra; framing headers dropped."""
    extra_pairs = [(k, v) for k, v in _header_pairs(extra) if k.lower() not in _HOP_BY_HOP]
    overridden = {k.lower() for k, _ in extra_pairs}
    base = [(k, v) for k, v in _header_pairs(defaults) if k.lower() not in overridden]
    return base + extra_pairs


# ----------------------------------------------------------------------------- replies


class Reply:
    """One scripted answer to one request; subclasses know how to put it on the wire."""

    def play(self, wire: _Handler, req: RecordedRequest) -> None:
        raise NotImplementedError


class _BodyReply(Reply):
    """A complete response with Content-Length (JSON answers, errors, raw bodies)."""

    def __init__(
        self,
        status: int,
        body: bytes | Callable[[RecordedRequest], bytes],
        headers: list[tuple[str, str]],
        reason: str | None = None,
    ) -> None:
        self.status, self.body, self.headers, self.reason = status, body, headers, reason

    def play(self, wire: _Handler, req: RecordedRequest) -> None:
        body = self.body(req) if callable(self.body) else self.body
        wire.send_full(self.status, self.headers, body, self.reason)


class Hold:
    """A point in a scripted stream where the server stops until the test releases it: the state the
    client shows of what came before is held for as long as the test needs to look at it, instead of
    lasting a timed window the test might miss. `after`: the content pieces sent first (openai_stream),
    or the events (sse). `reached` is set when the server starts waiting; it gives up (and cuts the
    stream) when the client hangs up, the server is stopped or cleared, or after `limit` seconds."""

    def __init__(self, after: int, *, limit: float = 600.0) -> None:
        self.after, self.limit = after, limit
        self.reached = threading.Event()
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()


def _holds(hold: Hold | Sequence[Hold], offset: int = 0) -> dict[int, Hold]:
    """{event number: hold} for holds counted from the event numbered `offset`."""
    return {offset + h.after: h for h in ([hold] if isinstance(hold, Hold) else hold)}


class _StreamReply(Reply):
    """A chunked response, one event per chunk, optionally slow, cut, stalled or held."""

    def __init__(
        self,
        events: Callable[[RecordedRequest], list[bytes]],
        *,
        status: int = 200,
        headers: list[tuple[str, str]],
        delay: float = 0.0,
        first_delay: float = 0.0,
        cut_after: int | None = None,
        stall_before_cut: float = 0.0,
        reason: str | None = None,
        holds: Mapping[int, Hold] | None = None,
    ) -> None:
        self.events, self.status, self.headers = events, status, headers
        self.delay, self.first_delay = delay, first_delay
        self.cut_after, self.stall_before_cut, self.reason = cut_after, stall_before_cut, reason
        self.holds = dict(holds or {})  # {event number: the hold before it}

    def play(self, wire: _Handler, req: RecordedRequest) -> None:
        events = self.events(req)
        if self.cut_after is not None:
            events = events[: self.cut_after]
        wire.start_stream(self.status, self.headers, self.reason)
        for i, event in enumerate(events):
            pause = self.first_delay if i == 0 else self.delay
            hold = self.holds.get(i)
            if (pause > 0 and not wire.wait(pause)) or (hold is not None and not wire.hold(hold)):
                wire.cut()
                return
            wire.send_chunk(event)
            req.sent_at.append(time.perf_counter())
        if self.cut_after is None:
            wire.end_stream()
            return
        if self.stall_before_cut > 0:
            wire.wait(self.stall_before_cut)
        wire.cut()


class _StallReply(Reply):
    """Say nothing for a while, then either drop the connection or play `then`."""

    def __init__(self, seconds: float, then: Reply | None) -> None:
        self.seconds, self.then = seconds, then

    def play(self, wire: _Handler, req: RecordedRequest) -> None:
        if not wire.wait(self.seconds) or self.then is None:
            wire.cut()
            return
        self.then.play(wire, req)


class _EchoReply(Reply):
    """The default: "Echo: <last user text>" in the protocol and mode the request asked for."""

    def play(self, wire: _Handler, req: RecordedRequest) -> None:
        body = _req_body(req)
        text = "Echo: " + last_user_text(body)
        streaming = body.get("stream") is True
        if req.is_anthropic:
            reply = anthropic_stream(text, model=None) if streaming else anthropic_json(text, model=None)
        else:
            reply = openai_stream(text, model=None) if streaming else openai_json(text, model=None)
        reply.play(wire, req)


_SSE_HEADERS = [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")]
_JSON_HEADERS = [("Content-Type", "application/json")]


def echo() -> Reply:
    """Explicitly queue the default echo (e.g. after an error, to script a retry)."""
    return _EchoReply()


def openai_stream(
    text_or_chunks: str | Sequence[Any] = "",
    *,
    delay: float = 0.0,
    first_delay: float = 0.0,
    usage: Usage = None,
    model: str | None = DEFAULT_OPENAI_MODEL,
    finish_reason: str = "stop",
    cut_after: int | None = None,
    omit_done: bool = False,
    malformed_at: int | None = None,
    headers: HeadersArg = None,
    hold: Hold | Sequence[Hold] = (),
) -> Reply:
    """A Chat Completions SSE stream: role chunk, one chunk per piece, finish chunk,
    optional usage chunk, ``data: [DONE]``.

    - pieces: a str is split into words (spaces kept); list items are used as-is, a dict
      item is sent as the raw ``delta`` (e.g. ``{"tool_calls": [...]}``).
    - usage: (in, out) always adds a usage chunk; None adds one (word counts) only if the
      request set ``stream_options.include_usage``; False never.
    - model: None answers with the requested model.
    - cut_after=N: close the socket after N content chunks (no finish, no terminator).
    - omit_done: end the body cleanly but without ``data: [DONE]``.
    - malformed_at=N: the N-th SSE event (0-based over all events; 0 is the role chunk)
      becomes ``data: {not json``.
    - hold: wait after ``hold.after`` pieces until the test releases it (see Hold); several may be given.
    """
    pieces = _pieces(text_or_chunks)

    def build(req: RecordedRequest) -> list[bytes]:
        body = _req_body(req)
        name = model or body.get("model") or DEFAULT_OPENAI_MODEL
        head = _dumps(
            {"id": _new_id("chatcmpl-"), "object": "chat.completion.chunk", "created": int(time.time()), "model": name}
        )[:-1]
        # Templated bytes: benchmarks push 10k+ chunks and json.dumps per dict would dominate.
        prefix = b"data: " + head + b',"choices":[{"index":0,"delta":'
        suffix = b',"logprobs":null,"finish_reason":null}]}\n\n'
        events = [prefix + b'{"role":"assistant","content":""}' + suffix]
        for piece in pieces:
            events.append(prefix + _dumps(piece if isinstance(piece, dict) else {"content": piece}) + suffix)
        events.append(prefix + b'{},"logprobs":null,"finish_reason":' + _dumps(finish_reason) + b"}]}\n\n")
        include = usage is not None or bool((body.get("stream_options") or {}).get("include_usage"))
        counts = _usage_for(usage, req, _text_of(pieces)) if include else None
        if counts is not None:
            events.append(b"data: " + head + b',"choices":[],"usage":' + _dumps(_openai_usage(counts, req)) + b"}\n\n")
        if not omit_done:
            events.append(b"data: [DONE]\n\n")
        if malformed_at is not None and 0 <= malformed_at < len(events):
            events[malformed_at] = b"data: {not json\n\n"
        return events

    cut = None if cut_after is None else 1 + min(cut_after, len(pieces))
    return _StreamReply(
        build, headers=_merge_headers(_SSE_HEADERS, headers), delay=delay, first_delay=first_delay, cut_after=cut,
        holds=_holds(hold, offset=1),
    )


def openai_json(
    text: str | None = "",
    *,
    usage: Usage = None,
    model: str | None = DEFAULT_OPENAI_MODEL,
    finish_reason: str = "stop",
    status: int = 200,
    headers: HeadersArg = None,
    tool_calls: Sequence[tuple[str, str, str]] = (),
) -> Reply:
    """A non-streaming ``chat.completion``; usage None means word counts, False omits it.
    tool_calls: (id, name, arguments JSON) triples; they set finish_reason "tool_calls"."""
    wire_calls = [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
                  for call_id, name, args in tool_calls]
    if wire_calls:
        finish_reason = "tool_calls"

    def build(req: RecordedRequest) -> bytes:
        body: dict[str, Any] = {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model or _req_body(req).get("model") or DEFAULT_OPENAI_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None,
                                **({"tool_calls": wire_calls} if wire_calls else {})},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
        }
        counts = _usage_for(usage, req, text or "")
        if counts is not None:
            body["usage"] = _openai_usage(counts, req)
        return _dumps(body)

    return _BodyReply(status, build, _merge_headers(_JSON_HEADERS, headers))


def _sse_event(name: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def anthropic_stream(
    text_or_chunks: str | Sequence[Any] = "",
    *,
    delay: float = 0.0,
    first_delay: float = 0.0,
    usage: Usage = None,
    model: str | None = DEFAULT_ANTHROPIC_MODEL,
    stop_reason: str = "end_turn",
    cut_after: int | None = None,
    omit_done: bool = False,
    malformed_at: int | None = None,
    headers: HeadersArg = None,
) -> Reply:
    """A Messages API stream: message_start, content_block_start, one text_delta per piece,
    content_block_stop, message_delta, message_stop.

    Knobs as in openai_stream; usage is always present (None = word counts); omit_done drops
    message_stop; cut_after=N cuts after N deltas; malformed_at indexes all events
    (0 = message_start) and keeps the ``event:`` line but breaks the ``data:`` line.
    """
    pieces = _pieces(text_or_chunks)

    def build(req: RecordedRequest) -> list[bytes]:
        name = model or _req_body(req).get("model") or DEFAULT_ANTHROPIC_MODEL
        counts = _usage_for(usage, req, _text_of(pieces)) or (0, 0)
        message = {
            "id": _new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": name,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**_anthropic_input(counts, req), "output_tokens": 1},
        }
        names = ["message_start", "content_block_start"]
        events = [
            _sse_event("message_start", {"type": "message_start", "message": message}),
            _sse_event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
        ]
        prefix = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        for piece in pieces:
            delta = piece if isinstance(piece, dict) else {"type": "text_delta", "text": piece}
            events.append(prefix + _dumps(delta) + b"}\n\n")
            names.append("content_block_delta")
        tail = [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": counts[1]},
                },
            ),
        ]
        if not omit_done:
            tail.append(("message_stop", {"type": "message_stop"}))
        for event_name, data in tail:
            events.append(_sse_event(event_name, data))
            names.append(event_name)
        if malformed_at is not None and 0 <= malformed_at < len(events):
            events[malformed_at] = b"event: " + names[malformed_at].encode() + b"\ndata: {not json\n\n"
        return events

    cut = None if cut_after is None else 2 + min(cut_after, len(pieces))
    return _StreamReply(
        build, headers=_merge_headers(_SSE_HEADERS, headers), delay=delay, first_delay=first_delay, cut_after=cut
    )


def anthropic_json(
    text: str = "",
    *,
    usage: Usage = None,
    model: str | None = DEFAULT_ANTHROPIC_MODEL,
    stop_reason: str = "end_turn",
    status: int = 200,
    headers: HeadersArg = None,
    tool_calls: Sequence[tuple[str, str, dict[str, Any]]] = (),
) -> Reply:
    """A non-streaming Messages API ``message``; usage None means word counts.
    tool_calls: (id, name, input) triples, sent as tool_use blocks after the text; stop_reason tool_use."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text or not tool_calls else []
    content += [{"type": "tool_use", "id": call_id, "name": name, "input": args} for call_id, name, args in tool_calls]
    if tool_calls:
        stop_reason = "tool_use"

    def build(req: RecordedRequest) -> bytes:
        counts = _usage_for(usage, req, text) or (0, 0)
        return _dumps(
            {
                "id": _new_id("msg_"),
                "type": "message",
                "role": "assistant",
                "model": model or _req_body(req).get("model") or DEFAULT_ANTHROPIC_MODEL,
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": {**_anthropic_input(counts, req), "output_tokens": counts[1]},
            }
        )

    return _BodyReply(status, build, _merge_headers(_JSON_HEADERS, headers))


def sse(
    events: Sequence[bytes | str | Mapping[str, Any]],
    *,
    named: bool = False,
    delay: float = 0.0,
    first_delay: float = 0.0,
    cut_after: int | None = None,
    status: int = 200,
    headers: HeadersArg = None,
    hold: Hold | Sequence[Hold] = (),
) -> Reply:
    """Any SSE stream (tool calls, thinking, odd providers): a dict becomes ``data: JSON``
    (preceded by ``event: <its "type">`` when named=True); str/bytes go out verbatim,
    so include the blank line yourself. cut_after=N cuts after N events; hold waits after
    ``hold.after`` events until the test releases it (see Hold), several may be given."""
    wire_events: list[bytes] = []
    for ev in events:
        if isinstance(ev, Mapping):
            wire_events.append(_sse_event(str(ev.get("type", "message")), ev) if named else b"data: " + _dumps(ev) + b"\n\n")
        else:
            wire_events.append(ev.encode("utf-8") if isinstance(ev, str) else bytes(ev))
    return _StreamReply(
        lambda req: wire_events,
        status=status,
        headers=_merge_headers(_SSE_HEADERS, headers),
        delay=delay,
        first_delay=first_delay,
        cut_after=cut_after,
        holds=_holds(hold),
    )


def anthropic_thinking(thinking: Sequence[str], text: Sequence[str]) -> list[dict[str, Any]]:
    """The events of a Messages API answer that thinks (the `thinking` deltas, then a signature) and then
    answers with the `text` deltas: for `sse(..., named=True)`."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-0", "content": [],
               "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
    return [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": t}} for t in thinking),
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-1"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": t}} for t in text),
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 90}},
        {"type": "message_stop"},
    ]


ToolCalls = Sequence[tuple[str, str, str]]  # (id, name, arguments as the model writes them: JSON text)


def openai_tool_stream(calls: ToolCalls, *, split: int = 3, **knobs: Any) -> Reply:
    """A streamed Chat Completion calling tools: each call's first chunk names it, then its arguments
    follow in `split` fragments, the calls interleaved; finish_reason "tool_calls". Knobs as openai_stream."""
    chunks: list[Any] = [{"tool_calls": [{"index": i, "id": call_id, "type": "function",
                                          "function": {"name": name, "arguments": ""}}]}
                         for i, (call_id, name, _) in enumerate(calls)]
    step = max(1, -(-max((len(args) for _, _, args in calls), default=1) // split))
    for start in range(0, max((len(args) for _, _, args in calls), default=0), step):
        for i, (_, _, args) in enumerate(calls):
            if args[start:start + step]:
                chunks.append({"tool_calls": [{"index": i, "function": {"arguments": args[start:start + step]}}]})
    return openai_stream(chunks, finish_reason="tool_calls", **knobs)


def anthropic_tool_stream(calls: ToolCalls, *, text: str = "", split: int = 3, cut_after: int | None = None,
                          delay: float = 0.0) -> Reply:
    """A streamed Messages API answer calling tools: an optional text block, then per call a tool_use block
    whose input arrives as `split` input_json_delta fragments; stop_reason tool_use. cut_after=N cuts
    the stream after N events."""
    message = {"id": _new_id("msg_"), "type": "message", "role": "assistant", "model": DEFAULT_ANTHROPIC_MODEL,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 10, "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    blocks = 0
    if text:
        events += [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
                   {"type": "content_block_stop", "index": 0}]
        blocks = 1
    for offset, (call_id, name, args) in enumerate(calls):
        index = blocks + offset
        events.append({"type": "content_block_start", "index": index,
                       "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}})
        step = max(1, -(-len(args) // split))
        for start in range(0, len(args), step):
            events.append({"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta", "partial_json": args[start:start + step]}})
        events.append({"type": "content_block_stop", "index": index})
    events += [{"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 20}},
               {"type": "message_stop"}]
    return sse(events, named=True, cut_after=cut_after, delay=delay)


_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _error_body(status: int, message: str, anthropic: bool) -> bytes:
    if anthropic:
        kind = _ANTHROPIC_ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return _dumps({"type": "error", "error": {"type": kind, "message": message}})
    kind, code = _OPENAI_ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return _dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def error(
    status: int,
    body: str | bytes | Mapping[str, Any] | list[Any] | None = None,
    *,
    headers: HeadersArg = None,
    retry_after: str | float | None = None,
    shape: str = "auto",
) -> Reply:
    """An HTTP error. body None/str becomes the message of the provider's error JSON;
    a dict/list is sent as JSON, bytes verbatim. shape "auto" uses Anthropic's shape on
    /v1/messages and OpenAI's (``{"error": {message, type, param, code}}``) elsewhere."""
    extra = _header_pairs(headers)
    if retry_after is not None:
        if isinstance(retry_after, float) and retry_after.is_integer():
            retry_after = int(retry_after)
        extra.append(("Retry-After", str(retry_after)))

    def build(req: RecordedRequest) -> bytes:
        if isinstance(body, (bytes, bytearray)):
            return bytes(body)
        if isinstance(body, (Mapping, list)):
            return _dumps(body)
        try:
            message = body if body is not None else f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            message = f"HTTP {status}"
        anthropic = shape == "anthropic" or (shape == "auto" and req.is_anthropic)
        return _error_body(status, message, anthropic)

    return _BodyReply(status, build, _merge_headers(_JSON_HEADERS, extra))


def stall(seconds: float, then: Reply | None = None) -> Reply:
    """Read the request, send nothing for `seconds` (read-timeout tests), then drop the
    connection, or play `then` (a slow-but-eventually-answering provider)."""
    return _StallReply(seconds, then)


def stall_after_headers(seconds: float) -> Reply:
    """Send 200 + SSE headers and a first event (OpenAI role chunk, or message_start on
    /v1/messages), then go silent for `seconds` and drop the connection (mid-stream timeout)."""

    def build(req: RecordedRequest) -> list[bytes]:
        inner = anthropic_stream("", model=None) if req.is_anthropic else openai_stream("", model=None)
        assert isinstance(inner, _StreamReply)
        return inner.events(req)[:1]

    return _StreamReply(build, headers=list(_SSE_HEADERS), cut_after=1, stall_before_cut=seconds)


def raw(status: int, body: bytes | str = b"", headers: HeadersArg = None) -> Reply:
    """Exactly this status, body and headers (Content-Length added), for anything else."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return _BodyReply(status, data, _merge_headers(None, headers))


# --------------------------------------------------------------------------- cassettes


def _cassette_path(name: str | Path) -> Path:
    path = Path(name)
    if path.is_absolute() or path.exists():
        return path
    stem = str(name)
    return CASSETTES / (stem if stem.endswith(".yaml") else stem + ".yaml")


@functools.lru_cache(maxsize=None)
def _load_interactions(path: Path) -> tuple[dict[str, Any], ...]:
    import yaml  # lazy: the standalone echo server should not need PyYAML

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(data["interactions"])


def _interaction(name: str | Path, index: int) -> dict[str, Any]:
    interactions = _load_interactions(_cassette_path(name))
    if not -len(interactions) <= index < len(interactions):
        raise IndexError(f"cassette {name!r} has {len(interactions)} interactions, not index {index}")
    return interactions[index]


def _split_sse(body: bytes) -> list[bytes]:
    """Split a recorded SSE body into events, separators kept, so joins are byte-exact."""
    events: list[bytes] = []
    start = 0
    for match in re.finditer(rb"\r?\n\r?\n", body):
        events.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        events.append(body[start:])
    return events


def cassette_response_body(name: str | Path, index: int = 0) -> bytes:
    """The bytes from_cassette() sends: the recorded string, or the parsed_body as JSON."""
    response = _interaction(name, index)["response"]
    recorded = (response.get("body") or {}).get("string")
    if recorded is not None:
        return recorded.encode("utf-8") if isinstance(recorded, str) else bytes(recorded)
    return _dumps(response.get("parsed_body"))


def cassette_count(name: str | Path) -> int:
    """How many request/response pairs a cassette holds."""
    return len(_load_interactions(_cassette_path(name)))


def from_cassette(name: str | Path, index: int = 0, *, delay: float = 0.0, first_delay: float = 0.0) -> Reply:
    """Replay a recorded pydantic-ai VCR response: status, headers (minus framing ones)
    and body bytes. SSE bodies stream one event per chunk, `delay` apart."""
    response = _interaction(name, index)["response"]
    status = int(response["status"]["code"])
    reason = response["status"].get("message")
    headers: list[tuple[str, str]] = []
    for key, values in (response.get("headers") or {}).items():
        if key.lower() in _HOP_BY_HOP:
            continue
        for value in values if isinstance(values, list) else [values]:
            headers.append((key, str(value)))
    body = cassette_response_body(name, index)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    if "text/event-stream" in content_type:
        events = _split_sse(body)
        return _StreamReply(
            lambda req: events, status=status, headers=headers, delay=delay, first_delay=first_delay, reason=reason
        )
    return _BodyReply(status, body, headers, reason)


def cassette_replies(name: str | Path, *, delay: float = 0.0) -> list[Reply]:
    """Every response of a cassette, in order, ready for ``server.enqueue(*...)``."""
    return [from_cassette(name, i, delay=delay) for i in range(cassette_count(name))]


def cassette_request(name: str | Path, index: int = 0) -> dict[str, Any]:
    """The JSON body the real SDK sent, to compare against what our client sends."""
    request = _interaction(name, index)["request"]
    if "parsed_body" in request:
        return copy.deepcopy(request["parsed_body"])
    recorded = (request.get("body") or {}).get("string") if isinstance(request.get("body"), dict) else request.get("body")
    return json.loads(recorded) if recorded else {}


# ----------------------------------------------------------------------------- server


class _Handler(http.server.BaseHTTPRequestHandler):
    """Per-connection handler; also the "wire" that replies write to."""

    protocol_version = "HTTP/1.1"
    server_version = "nbagent-provider-server/1"
    sys_version = ""
    server: _HTTPServer
    cancel: threading.Event

    # -- lifecycle ------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        # Each chunk must leave immediately: tests measure arrival over time.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cancel = self.server.owner._cancel
        self.server.owner._track(self.connection, add=True)

    def handle(self) -> None:
        try:
            super().handle()
        except _QUIET_ERRORS:
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except _QUIET_ERRORS:
            pass
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: per-request logging would drown test output and slow benchmarks."""

    def _dispatch(self) -> None:
        self.server.owner._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    # -- request --------------------------------------------------------------------
    def read_body(self) -> bytes:
        """Content-Length or chunked request bodies (httpx streams generators chunked)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- wire primitives used by Reply.play ------------------------------------------
    def _head(self, status: int, headers: list[tuple[str, str]], reason: str | None, framing: str) -> bytes:
        if reason is None:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {self.date_time_string()}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(framing)
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_full(self, status: int, headers: list[tuple[str, str]], body: bytes, reason: str | None = None) -> None:
        """Head and body in a single write: no Nagle/delayed-ACK stalls on keep-alive."""
        self.wfile.write(self._head(status, headers, reason, f"Content-Length: {len(body)}") + body)

    def start_stream(self, status: int, headers: list[tuple[str, str]], reason: str | None = None) -> None:
        self.wfile.write(self._head(status, headers, reason, "Transfer-Encoding: chunked"))

    def send_chunk(self, data: bytes) -> None:
        """One chunk, one socket write, so the client sees events exactly as scripted."""
        if data:
            self.wfile.write(b"%X\r\n%b\r\n" % (len(data), data))

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def cut(self) -> None:
        """Drop the connection now (FIN, no chunked terminator): an abrupt provider death."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait(self, seconds: float) -> bool:
        """Sleep that stop()/clear() can interrupt; False when interrupted."""
        return not self.cancel.wait(seconds)

    def hold(self, hold: Hold) -> bool:
        """Wait until the test releases `hold`; False when stop()/clear() came first, the client hung up
        (as a server writing on would notice) or the hold's limit passed."""
        hold.reached.set()
        deadline = time.monotonic() + hold.limit
        while not hold.released.wait(0.05):  # in slices, to notice the rest too
            if self.cancel.is_set() or self.client_gone() or time.monotonic() > deadline:
                return False
        return True

    def client_gone(self) -> bool:
        """The client closed its end: its socket reads as ended (it sends nothing while it waits for us)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once
    owner: ProviderServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal here; only real bugs deserve a traceback."""
        if isinstance(sys.exc_info()[1], _QUIET_ERRORS):
            return
        super().handle_error(request, client_address)


class ProviderServer:
    """Fake LLM provider on 127.0.0.1: records requests, plays queued replies, else echoes."""

    def __init__(self, port: int = 0, *, api_key: str | None = None, host: str = "127.0.0.1") -> None:
        self._host, self._port_wanted = host, port
        self._default_api_key = api_key
        self.api_key = api_key
        self.prompt_cache: PromptCache | None = None  # set a PromptCache() to report cached tokens
        self._lock = threading.Condition()
        self._queue: deque[Reply] = deque()
        self._responder: Responder | None = None
        self._requests: list[RecordedRequest] = []
        self._cancel = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.batches = Batches(lambda: self.url)  # the batch endpoints (provider_batches.py)

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> ProviderServer:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._httpd is not None:
            return self
        self._cancel = threading.Event()
        httpd = _HTTPServer((self._host, self._port_wanted), _Handler)
        httpd.owner = self
        self._httpd = httpd
        # Short poll interval so stop() returns promptly.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="provider-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; interrupts stalls and delays and closes open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._cancel.set()
        httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ProviderServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic client appends /v1/messages itself."""
        return self.url

    # -- scripting and recording ----------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        """Queue replies; each POST consumes the oldest one (FIFO)."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"expected a Reply, got {reply!r}")
        with self._lock:
            self._queue.extend(replies)

    def respond_with(self, responder: Responder | None) -> None:
        """Answer every POST the queue does not script with `responder(request)` (a Reply, or None for
        the default echo), until `clear()`."""
        with self._lock:
            self._responder = responder

    def require_key(self, key: str | None) -> None:
        """Demand this key (Bearer on OpenAI paths, x-api-key on Anthropic); None disables."""
        self.api_key = key

    def clear(self) -> None:
        """Fresh state for the next test: empty queue and recordings, constructor key,
        and in-flight stalls/delays of earlier tests interrupted."""
        with self._lock:
            self._queue.clear()
            self._responder = None
            self._requests.clear()
            self.api_key = self._default_api_key
            self.prompt_cache = None
            old, self._cancel = self._cancel, threading.Event()
        old.set()
        self.batches.reset()

    @property
    def pending(self) -> int:
        """Queued replies not yet consumed (assert 0 to check a script ran fully)."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until `count` requests arrived (for clients running in other threads)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"got {len(self._requests)} requests, wanted {count}")
            return list(self._requests)

    # -- internals ------------------------------------------------------------------
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _authorized(self, req: RecordedRequest) -> bool:
        key = self.api_key
        if key is None or not req.path.startswith("/v1/"):
            return True
        if req.is_anthropic:
            return req.headers.get("x-api-key") == key
        return req.headers.get("authorization") == f"Bearer {key}"

    def _serve(self, handler: _Handler) -> None:
        body = handler.read_body()
        parts = urlsplit(handler.path)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        req = RecordedRequest(
            method=handler.command,
            path=parts.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            json=parsed,
            query=parts.query,
            thread=threading.current_thread(),
        )
        if self.prompt_cache is not None and req.method == "POST" and parts.path in (OPENAI_CHAT_PATH,
                                                                                     ANTHROPIC_MESSAGES_PATH):
            req.cache = self.prompt_cache.use(parsed, anthropic=req.is_anthropic)
        with self._lock:
            self._requests.append(req)
            self._lock.notify_all()
            handler.cancel = self._cancel
            reply: Reply | None = None
            authorized = self._authorized(req)
            if authorized and req.method == "POST" and self._queue and not self.batches.owns(req.path):
                reply = self._queue.popleft()
            responder = self._responder
        if authorized and reply is None and responder is not None and req.method == "POST" \
                and not self.batches.owns(req.path):
            reply = responder(req)
        if not authorized:
            message = "invalid x-api-key" if req.is_anthropic else "Incorrect API key provided."
            reply = error(401, message)
        elif reply is None:
            reply = self.batches.route(req) or self._default_reply(req)
        try:
            reply.play(handler, req)
        except _QUIET_ERRORS:
            req.client_hung_up = True
            raise
        finally:
            req.replied.set()

    @staticmethod
    def _default_reply(req: RecordedRequest) -> Reply:
        if req.method == "POST" and req.path in (OPENAI_CHAT_PATH, ANTHROPIC_MESSAGES_PATH):
            return _EchoReply()
        if req.method == "GET" and req.path in ("/", "/health"):
            return raw(200, b'{"status":"ok"}', {"Content-Type": "application/json"})
        if req.method == "GET" and req.path.endswith("/models"):  # what a local server serves
            return raw(200, _dumps({"object": "list", "data": [{"id": name, "object": "model"} for name in SERVED_MODELS]}),
                       {"Content-Type": "application/json"})
        return error(404, f"no route for {req.method} {req.path}")


SERVED_MODELS = ("llama3.2", "qwen2.5-coder")


# ------------------------------------------------- responders: answers chosen per request (row maps)

Responder = Callable[[RecordedRequest], Union[Reply, None]]


def echo_text(req: RecordedRequest) -> str:
    return "Echo: " + last_user_text(_req_body(req))


def answer(req: RecordedRequest, text: str, *, headers: HeadersArg = None) -> Reply:
    """`text` as a whole answer in the request's protocol (streamed if it asked to stream)."""
    streaming = _req_body(req).get("stream") is True
    if req.is_anthropic:
        return (anthropic_stream if streaming else anthropic_json)(text, model=None, headers=headers)
    return (openai_stream if streaming else openai_json)(text, model=None, headers=headers)


def per_prompt(choose: Callable[[str], Union[Reply, str, None]]) -> Responder:
    """Answer by the last user text: `choose(text)` gives a Reply, a text to answer, or None (echo)."""

    def respond(req: RecordedRequest) -> Reply | None:
        chosen = choose(last_user_text(_req_body(req)))
        return answer(req, chosen) if isinstance(chosen, str) else chosen

    return respond


def slow(seconds: float, then: Responder | None = None) -> Responder:
    """Every answer after `seconds` (a provider's latency): `then`'s, else the echo."""

    def respond(req: RecordedRequest) -> Reply:
        return stall(seconds, (then(req) if then is not None else None) or echo())

    return respond


class RateLimit:
    """A provider's request rate limit as a token bucket: `limit` requests per `period` seconds (60: per
    minute), at most `burst` at once (default: `limit`). Answers carry OpenAI's headers
    (`x-ratelimit-limit-requests` per minute, `-remaining-requests`, `-reset-requests` as `1.5s`); over the limit
    a 429 also says `retry-after-ms` (and `Retry-After` in whole seconds). `headers=False` sends a
    bare 429 with no headers at all. `then` answers the requests let through (default: the echo)."""

    def __init__(self, limit: int, period: float = 60.0, *, burst: int | None = None, headers: bool = True,
                 then: Responder | None = None) -> None:
        self.limit, self.period = limit, period
        self.capacity = float(burst if burst is not None else limit)
        self.rate = limit / period  # tokens per second
        self.headers = headers
        self.then = then
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.allowed = self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, req: RecordedRequest) -> Reply:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            ok = self.tokens >= 1.0
            if ok:
                self.tokens -= 1.0
                self.allowed += 1
            else:
                self.refused += 1
            to_full = (self.capacity - self.tokens) / self.rate
            info = [("x-ratelimit-limit-requests", str(round(self.rate * 60))),  # per minute, as OpenAI says it
                    ("x-ratelimit-remaining-requests", str(int(self.tokens))),
                    ("x-ratelimit-reset-requests", f"{to_full:.3f}s")] if self.headers else []
            wait = (1.0 - self.tokens) / self.rate
        if ok:
            return (self.then(req) if self.then is not None else None) or answer(req, echo_text(req), headers=info)
        if self.headers:
            info += [("retry-after-ms", str(max(1, round(wait * 1000)))), ("retry-after", str(max(1, round(wait))))]
        return error(429, "Rate limit reached for requests", headers=info)


def unused_port() -> int:
    """A 127.0.0.1 port with no listener (connection-refused tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone echo server for trying the notebook extension by hand."""
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic echo server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--api-key", default=None, help="require this API key")
    args = parser.parse_args(argv)
    server = ProviderServer(args.port, api_key=args.api_key).start()
    print(f"provider server on {server.url}", flush=True)
    print(f"  OpenAI base_url:    {server.openai_base_url}", flush=True)
    print(f"  Anthropic base_url: {server.anthropic_base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ------------------------------------ fault-test helpers (connect timeouts, open connections)


class Blackhole:
    """A 127.0.0.1 port where connecting hangs instead of being refused (connect-timeout tests).

    A listener with backlog 0 that never accepts, its one queue slot taken by a parked client:
    Linux then drops further SYNs, so a new connect neither succeeds nor fails until it times out.
    Works offline, unlike an unroutable address.
    """

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._parked: list[socket.socket] = []
        for _ in range(2):  # the queue holds backlog + 1; a spare makes sure it is full
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._parked.append(sock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connecting(self) -> int:
        """How many connects to this port wait for an answer now (SYN-SENT in /proc/net/tcp), the parked
        clients' included: a client that started connecting raises the count."""
        target = f"0100007F:{self.port:04X}"
        with open("/proc/net/tcp") as table:
            return sum(1 for line in table if line.split()[2:4] == [target, "02"])

    def close(self) -> None:
        for sock in self._parked:
            sock.close()
        self._listener.close()

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_connections(server: ProviderServer) -> set[socket.socket]:
    """The client connections the server still holds open; one leaves the set when its client hangs
    up. Compare sets taken before and after a test: other tests' clients may still be connected."""
    with server._lock:
        return set(server._conns)


def open_connection_count(server: ProviderServer) -> int:
    """How many client connections the server holds open (0 once every client hung up)."""
    return len(open_connections(server))
