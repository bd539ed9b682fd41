"""Tests of the fake provider server itself, with plain httpx, so later client tests can trust it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from provider_server import (
    Hold,
    ProviderServer,
    anthropic_stream,
    cassette_request,
    cassette_response_body,
    echo,
    error,
    from_cassette,
    openai_json,
    openai_stream,
    raw,
    split_words,
    sse,
    stall,
    stall_after_headers,
    unused_port,
)

RUN_STREAM = "test_openai_test_run_stream_sync_streams_real_model"
ANTHROPIC_INSTRUCTIONS = "test_anthropic_test_anthropic_model_instructions"


@pytest.fixture
def client() -> Any:
    with httpx.Client(timeout=5.0) as c:
        yield c


def chat(prompt: Any = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": prompt}], **extra}


def data_events(text: str) -> list[str]:
    """The data payloads of an SSE body, in order."""
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


def openai_text(text: str) -> str:
    out = ""
    for payload in data_events(text):
        if payload == "[DONE]":
            continue
        for choice in json.loads(payload)["choices"]:
            out += choice["delta"].get("content") or ""
    return out


# ---------------------------------------------------------------------------- echo


def test_split_words_is_lossless() -> None:
    for text in ["", "a", " a  b\n c ", "Echo: hi there", "  "]:
        assert "".join(split_words(text)) == text
    assert split_words("Echo: hi there") == ["Echo:", " hi", " there"]


def test_openai_echo_json(provider: ProviderServer, client: httpx.Client) -> None:
    r = client.post(provider.openai_base_url + "/chat/completions", json=chat("hello there"))
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-test"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Echo: hello there", "refusal": None}
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    req = provider.last_request
    assert req is not None and req.method == "POST" and req.path == "/v1/chat/completions"
    assert req.json == chat("hello there")
    assert req.headers["content-type"] == "application/json"


def test_openai_echo_stream(provider: ProviderServer, client: httpx.Client) -> None:
    prompt = [{"type": "text", "text": "what is  up"}]
    body = chat(prompt, stream=True, stream_options={"include_usage": True})
    r = client.post(provider.openai_base_url + "/chat/completions", json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = data_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-test" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]] == ["Echo:", " what", " is", "  up"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 3 + 4
    assert openai_text(r.text) == "Echo: what is  up"


def test_openai_stream_usage_only_when_asked(provider: ProviderServer, client: httpx.Client) -> None:
    r = client.post(provider.openai_base_url + "/chat/completions", json=chat(stream=True))
    assert "usage" not in r.text
    provider.enqueue(openai_stream("a b", usage=(7, 9)))
    r = client.post(provider.openai_base_url + "/chat/completions", json=chat(stream=True))
    assert json.loads(data_events(r.text)[-2])["usage"]["prompt_tokens"] == 7


def test_anthropic_echo_json(provider: ProviderServer, client: httpx.Client) -> None:
    body = {"model": "claude-x", "system": "be brief", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    r = client.post(provider.anthropic_base_url + "/v1/messages?beta=true", json=body)
    msg = r.json()
    assert msg["type"] == "message" and msg["model"] == "claude-x" and msg["stop_reason"] == "end_turn"
    assert msg["content"] == [{"type": "text", "text": "Echo: hi"}]
    assert msg["usage"] == {"input_tokens": 3, "output_tokens": 2}
    assert provider.last_request is not None and provider.last_request.query == "beta=true"


def test_anthropic_echo_stream(provider: ProviderServer, client: httpx.Client) -> None:
    body = {
        "model": "claude-x",
        "stream": True,
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "good day"}]}],
    }
    r = client.post(provider.anthropic_base_url + "/v1/messages", json=body)
    blocks = [b for b in r.text.split("\n\n") if b]
    names = [b.split("\n")[0].removeprefix("event: ") for b in blocks]
    assert names == ["message_start", "content_block_start"] + ["content_block_delta"] * 3 + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    datas = [json.loads(b.split("\n")[1].removeprefix("data: ")) for b in blocks]
    assert all(d["type"] == n for d, n in zip(datas, names))
    assert datas[0]["message"]["usage"]["input_tokens"] == 2
    assert "".join(d["delta"]["text"] for d in datas[2:5]) == "Echo: good day"
    assert datas[-2]["usage"]["output_tokens"] == 3 and datas[-2]["delta"]["stop_reason"] == "end_turn"


# ------------------------------------------------------------------------ scripting


def test_enqueue_is_fifo_then_echo(provider: ProviderServer, client: httpx.Client) -> None:
    url = provider.openai_base_url + "/chat/completions"
    provider.enqueue(openai_json("one"), error(500), raw(418, b"teapot", {"Content-Type": "text/plain"}))
    provider.enqueue(openai_json("two", usage=(1, 2)), echo())
    assert provider.pending == 5
    assert client.get(provider.url + "/health").status_code == 200  # GET does not consume
    assert client.post(url, json=chat()).json()["choices"][0]["message"]["content"] == "one"
    r = client.post(url, json=chat())
    assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    r = client.post(url, json=chat())
    assert (r.status_code, r.text, r.headers["content-type"]) == (418, "teapot", "text/plain")
    assert client.post(url, json=chat()).json()["usage"]["completion_tokens"] == 2
    assert client.post(url, json=chat("x")).json()["choices"][0]["message"]["content"] == "Echo: x"
    assert provider.pending == 0
    assert client.post(url, json=chat("y")).json()["choices"][0]["message"]["content"] == "Echo: y"
    assert [r.method for r in provider.requests] == ["GET"] + ["POST"] * 6
    provider.enqueue(openai_json("left over"))
    provider.clear()
    assert provider.requests == [] and provider.pending == 0


def test_error_shapes_and_retry_after(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(error(429, "slow down", retry_after=2), error(429, retry_after="3"), error(400, {"x": 1}))
    r = client.post(provider.openai_base_url + "/chat/completions", json=chat())
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json() == {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    r = client.post(provider.anthropic_base_url + "/v1/messages", json=chat())
    assert r.headers["retry-after"] == "3"
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "rate_limit_error"
    assert client.post(provider.openai_base_url + "/chat/completions", json=chat()).json() == {"x": 1}


def test_omit_done_and_malformed(provider: ProviderServer, client: httpx.Client) -> None:
    url = provider.openai_base_url + "/chat/completions"
    provider.enqueue(openai_stream("a b", omit_done=True), openai_stream("a b c", malformed_at=2))
    provider.enqueue(anthropic_stream("a b", malformed_at=2, omit_done=True))
    r = client.post(url, json=chat(stream=True))
    assert "[DONE]" not in r.text and openai_text(r.text) == "a b"
    events = data_events(client.post(url, json=chat(stream=True)).text)
    assert events[2] == "{not json" and json.loads(events[1])["choices"][0]["delta"]["content"] == "a"
    text = client.post(provider.anthropic_base_url + "/v1/messages", json=chat(stream=True)).text
    assert "event: content_block_delta\ndata: {not json\n\n" in text and "message_stop" not in text


def test_sse_builder_for_tool_calls(provider: ProviderServer, client: httpx.Client) -> None:
    delta = {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    provider.enqueue(openai_stream([delta], finish_reason="tool_calls"), sse([{"type": "ping"}, "data: [DONE]\n\n"], named=True))
    events = data_events(client.post(provider.openai_base_url + "/chat/completions", json=chat(stream=True)).text)
    assert json.loads(events[1])["choices"][0]["delta"] == delta
    assert json.loads(events[2])["choices"][0]["finish_reason"] == "tool_calls"
    r = client.post(provider.openai_base_url + "/chat/completions", json=chat(stream=True))
    assert r.text == 'event: ping\ndata: {"type":"ping"}\n\ndata: [DONE]\n\n'


# ------------------------------------------------------------------ broken streams


def test_cut_after_really_cuts(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(openai_stream("one two three four five", cut_after=2))
    got: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", provider.openai_base_url + "/chat/completions", json=chat(stream=True)) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    got.append(line)
    assert openai_text("\n".join(got)) == "one two"
    # The client's pool must recover on a fresh connection.
    assert client.post(provider.openai_base_url + "/chat/completions", json=chat("ok")).status_code == 200


def test_anthropic_cut_after(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(anthropic_stream("a b c", cut_after=1))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(provider.anthropic_base_url + "/v1/messages", json=chat(stream=True))


def test_delay_spreads_chunks_over_time(provider: ProviderServer, client: httpx.Client) -> None:
    """The server waits first_delay, then delay before each further event (its own send times: lower
    bounds, which no load can break), and each event leaves when it is written: the client reads the
    first pieces while the server holds the rest."""
    hold = Hold(after=2)
    provider.enqueue(openai_stream("a b c d e", delay=0.05, first_delay=0.1, hold=hold))
    start = time.perf_counter()
    seen: list[str] = []
    with client.stream("POST", provider.openai_base_url + "/chat/completions", json=chat(stream=True)) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen.append(line)
                if len(seen) == 3:  # the role chunk, "a", " b": read while the server holds " c"
                    assert openai_text("\n".join(seen)) == "a b"
                    assert hold.reached.wait(10) and len(provider.last_request.sent_at) == 3
                    hold.release()
    assert openai_text("\n".join(seen)) == "a b c d e"
    sent = provider.last_request.sent_at
    assert len(sent) == len(seen) and sent[0] - start >= 0.1 - 0.005  # (a clock's rounding)
    assert all(later - earlier >= 0.05 - 0.005 for earlier, later in zip(sent, sent[1:]))


def test_require_key(provider: ProviderServer, client: httpx.Client) -> None:
    provider.require_key("sk-good")
    provider.enqueue(openai_json("scripted"))
    url = provider.openai_base_url + "/chat/completions"
    r = client.post(url, json=chat(), headers={"Authorization": "Bearer sk-bad"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = client.post(provider.anthropic_base_url + "/v1/messages", json=chat(), headers={"Authorization": "Bearer sk-good"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert provider.pending == 1
    r = client.post(url, json=chat(), headers={"Authorization": "Bearer sk-good"})
    assert r.json()["choices"][0]["message"]["content"] == "scripted"
    r = client.post(provider.anthropic_base_url + "/v1/messages", json=chat(), headers={"x-api-key": "sk-good"})
    assert r.status_code == 200
    provider.clear()
    assert client.post(url, json=chat()).status_code == 200


def test_constructor_api_key() -> None:
    with ProviderServer(api_key="sk-k") as server, httpx.Client() as c:
        assert c.post(server.openai_base_url + "/chat/completions", json=chat()).status_code == 401
        r = c.post(server.openai_base_url + "/chat/completions", json=chat(), headers={"Authorization": "Bearer sk-k"})
        assert r.status_code == 200


def test_stall_times_out(provider: ProviderServer) -> None:
    provider.enqueue(stall(600))
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post(provider.openai_base_url + "/chat/completions", json=chat())
    assert provider.last_request.thread.is_alive()  # the client gave up: the server still stalls


def test_stall_then_answer(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(stall(0.1, then=openai_json("late")))
    r = client.post(provider.openai_base_url + "/chat/completions", json=chat())
    assert r.json()["choices"][0]["message"]["content"] == "late"


def test_stall_after_headers(provider: ProviderServer) -> None:
    provider.enqueue(stall_after_headers(10))
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as c:
        with c.stream("POST", provider.openai_base_url + "/chat/completions", json=chat(stream=True)) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            first = next(lines)
            assert json.loads(first.removeprefix("data: "))["choices"][0]["delta"]["role"] == "assistant"
            with pytest.raises(httpx.ReadTimeout):
                for _ in lines:
                    pass


def test_stop_does_not_hang_during_stall() -> None:
    server = ProviderServer().start()
    server.enqueue(stall(600))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(server.openai_base_url + "/chat/completions", json=chat(), timeout=10)
        except BaseException as exc:  # noqa: BLE001 - we only record it
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    [stalled] = server.wait_for_requests(1)
    server.stop()
    # The stall was cut short: the server's thread for it and the client both end (bounds of a
    # failure only, far below the stall's 600 s).
    stalled.thread.join(30)
    t.join(30)
    assert not stalled.thread.is_alive() and not t.is_alive()
    assert isinstance(errors[0], httpx.RemoteProtocolError)


def test_client_disconnect_is_quiet(provider: ProviderServer, client: httpx.Client, capfd: pytest.CaptureFixture[str]) -> None:
    provider.enqueue(openai_stream("w " * 200, delay=0.002))
    with client.stream("POST", provider.openai_base_url + "/chat/completions", json=chat(stream=True)) as r:
        next(r.iter_raw())
    stream = provider.last_request.thread  # the server writes on, hits the closed socket and ends
    stream.join(30)
    assert not stream.is_alive()
    assert client.post(provider.openai_base_url + "/chat/completions", json=chat()).status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_unused_port_refuses() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{unused_port()}/", timeout=2)


# ------------------------------------------------------------------------ cassettes


def test_cassette_streams_byte_exact(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(from_cassette(RUN_STREAM, 1))
    sent = cassette_request(RUN_STREAM, 1)
    assert sent["messages"][-1]["role"] == "tool"
    r = client.post(provider.openai_base_url + "/chat/completions", json=sent)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["openai-version"] == "2020-10-01" and "content-length" not in r.headers
    expected = cassette_response_body(RUN_STREAM, 1)
    assert r.content == expected and expected.endswith(b"data: [DONE]\n\n")
    assert openai_text(r.text).startswith("The capital of the UK is")


def test_cassette_json_and_request(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(from_cassette(ANTHROPIC_INSTRUCTIONS))
    sent = cassette_request(ANTHROPIC_INSTRUCTIONS)
    assert sent["system"] == "You are a helpful assistant.\n\n" and sent["stream"] is False
    r = client.post(provider.anthropic_base_url + "/v1/messages?beta=true", json=sent)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == cassette_response_body(ANTHROPIC_INSTRUCTIONS)
    assert r.json()["content"][0]["text"] == "The capital of France is Paris."
    assert provider.last_request is not None and provider.last_request.json == sent


def test_cassette_error_status(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(from_cassette("test_anthropic_test_anthropic_count_tokens_error"))
    r = client.post(provider.anthropic_base_url + "/v1/messages", json=chat())
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_cassette_stream_delay(provider: ProviderServer, client: httpx.Client) -> None:
    provider.enqueue(from_cassette(RUN_STREAM, 0, delay=0.02))
    start = time.perf_counter()
    r = client.post(provider.openai_base_url + "/chat/completions", json=chat(stream=True))
    assert r.content == cassette_response_body(RUN_STREAM, 0)
    assert time.perf_counter() - start >= 0.02 * 8


# ----------------------------------------------------------------------- throughput


def test_many_chunks_and_requests(provider: ProviderServer, client: httpx.Client) -> None:
    """What benchmarks push through the server arrives whole (how fast is for the benchmarks to say)."""
    provider.enqueue(openai_stream(["x"] * 20_000, usage=(1, 1)))
    with client.stream("POST", provider.openai_base_url + "/chat/completions", json=chat(stream=True)) as r:
        text = openai_text(r.read().decode())
    assert text == "x" * 20_000 and len(provider.last_request.sent_at) == 20_000 + 4
    provider.clear()
    answers = [client.post(provider.openai_base_url + "/chat/completions", json=chat(f"q{i}")) for i in range(200)]
    assert [a.json()["choices"][0]["message"]["content"] for a in answers] == [f"Echo: q{i}" for i in range(200)]
    assert len(provider.requests) == 200
