"""The Chat Completions stream parser splits SSE lines itself: every way a real server may cut, end or
pad its lines must still give the exact answer. Each bytes item below goes out as its own HTTP chunk,
so a line cut between items reaches the client in two network reads."""

from __future__ import annotations

import json

import pytest
from provider_server import sse

from nbagent import Agent, UnexpectedModelBehavior


def chunk(content: str | None = None, *, finish: str | None = None, usage: tuple[int, int] | None = None) -> bytes:
    body: dict = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06"}
    body["choices"] = [] if usage else [{"index": 0, "delta": {} if content is None else {"content": content},
                                          "finish_reason": finish}]
    if usage:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return json.dumps(body, ensure_ascii=False).encode()


async def answer() -> tuple[list[str], object]:
    async with Agent("openai:gpt-4o").run_stream("hi") as result:
        deltas = [delta async for delta in result.stream_text(delta=True, debounce_by=None)]
    return deltas, result


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


WORDS = ["Hello", ", wörld", " — ünïcode ✓", " \u2028line\u0085sep", " end"]


def body(newline: bytes, *, space: bytes = b" ") -> bytes:
    lines = [b": keep-alive", b"event: message"]
    for word in WORDS:
        lines += [b"data:" + space + chunk(word), b""]
    lines += [b"data:" + space + chunk(finish="stop"), b"", b"data:" + space + chunk(usage=(3, 5)), b""]
    lines += [b"data:" + space + b"[DONE]", b""]
    return newline.join(lines)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("space", [b" ", b""], ids=["data: x", "data:x"])
@pytest.mark.parametrize("size", [10_000, 7, 1], ids=["whole", "7-byte pieces", "byte by byte"])
async def test_lines_cut_anywhere_give_the_exact_answer(openai_env, newline: bytes, space: bytes, size: int) -> None:
    openai_env.enqueue(sse(split_every(body(newline, space=space), size)))
    deltas, result = await answer()
    assert deltas == WORDS  # U+2028 and U+0085 inside a JSON string do not end the line
    assert result.is_complete and result.response.finish_reason == "stop"
    assert result.response.provider_details == {"finish_reason": "stop"}
    assert (result.usage().input_tokens, result.usage().output_tokens) == (3, 5)
    assert result.response.model_name == "gpt-4o-2024-08-06"


async def test_crlf_cut_between_cr_and_lf(openai_env) -> None:
    events = [b"data: " + chunk("a") + b"\r", b"\n\r", b"\ndata: " + chunk("b") + b"\r\n\r\n", b"data: [DONE]\r", b"\n\r\n"]
    openai_env.enqueue(sse(events))
    deltas, result = await answer()
    assert deltas == ["a", "b"] and result.is_complete


async def test_end_marker_without_a_final_newline(openai_env) -> None:
    openai_env.enqueue(sse([b"data: " + chunk("only") + b"\n\n", b"data: [DONE]"]))
    deltas, result = await answer()
    assert deltas == ["only"] and result.is_complete


@pytest.mark.parametrize(
    "line",
    [b"data: {not json", b"data: " + chunk("x") + b" trailing", b"data: 5", b"data: ", b'data: {"choices": [] ] }'],
    ids=["broken", "extra data", "not an object", "empty", "unbalanced"],
)
async def test_malformed_lines_are_reported(openai_env, line: bytes) -> None:
    openai_env.enqueue(sse([b"data: " + chunk("ok") + b"\n\n", line + b"\n\n", b"data: [DONE]\n\n"]))
    with pytest.raises(UnexpectedModelBehavior, match="malformed stream line"):
        await answer()


async def test_invalid_utf8_is_replaced_not_fatal(openai_env) -> None:
    openai_env.enqueue(sse([b'data: {"choices":[{"delta":{"content":"a\xff"}}]}\n\n', b"data: [DONE]\n\n"]))
    deltas, _ = await answer()
    assert deltas == ["a\ufffd"]
