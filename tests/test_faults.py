"""The fault matrix (SPEC §5): each way a provider can fail, through the public Agent API against the
real loopback server, for `run` and `run_stream` and both wire protocols where the fault applies.

Every fault asserts the exception type and its one-line message, that the history passed in is left
exactly as it was, and that nothing leaks: no stray asyncio task, no HTTP request still holding a
pooled connection. Time bounds appear only where the point is "fails fast", and are generous.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import nest_asyncio
import pytest

from nbagent import (
    Agent,
    AnthropicModel,
    ModelConnectionError,
    ModelHTTPError,
    NbAgentError,
    OpenAIModel,
    UnexpectedModelBehavior,
    UserError,
)
from nbagent import _http
from nbagent.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    Usage,
    UserPromptPart,
    messages_to_json,
)
from nbagent.agent import run_coroutine_sync
from nbagent.models import Model
from nbagent.result import StreamedRunResult
from provider_server import (
    Blackhole,
    ProviderServer,
    Reply,
    anthropic_json,
    anthropic_stream,
    error,
    open_connections,
    openai_json,
    openai_stream,
    raw,
    sse,
    stall,
    stall_after_headers,
    unused_port,
)

OPENAI_KEY = "sk-openai-SECRET-5d1c9e77"
ANTHROPIC_KEY = "sk-ant-SECRET-8b2f4a31"
KINDS = ("openai", "anthropic")
MODES = ("run", "stream")
MODEL = {"openai": "openai:gpt-4o", "anthropic": "anthropic:claude-sonnet-4-5"}
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
PROMPT = "What is the capital of France?"

both_kinds = pytest.mark.parametrize("kind", KINDS)
both_modes = pytest.mark.parametrize("mode", MODES)


# ------------------------------------------------------------------ fixtures and helpers


pytestmark = pytest.mark.usefixtures("closed_client")


@pytest.fixture
def env(provider: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> ProviderServer:
    """Both providers configured through their env vars, pointing at the loopback server."""
    monkeypatch.delenv("NBAGENT_MODEL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", provider.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", provider.anthropic_base_url)
    return provider


def model_at(kind: str, url: str) -> Model:
    """A model of this kind whose server lives at `url` (keys still come from the env)."""
    if kind == "openai":
        return OpenAIModel("gpt-4o", base_url=url + "/v1")
    return AnthropicModel("claude-sonnet-4-5", base_url=url)


def make_history() -> list[ModelMessage]:
    return [
        ModelRequest(parts=[SystemPromptPart(content="Be brief."), UserPromptPart(content="Hi")]),
        ModelResponse(parts=[TextPart(content="Hello!")], model_name="x", usage=Usage(requests=1, output_tokens=1)),
    ]


def ok(kind: str, mode: str, text: str = "Paris.") -> Reply:
    """A successful answer in the shape this kind and mode expect."""
    if mode == "run":
        return openai_json(text) if kind == "openai" else anthropic_json(text)
    return streamed(kind, text)


def streamed(kind: str, text: str | list[str], **knobs: Any) -> Reply:
    return (openai_stream if kind == "openai" else anthropic_stream)(text, **knobs)


async def ask(agent: Agent, mode: str, history: list[ModelMessage], **settings: Any) -> str:
    """One successful run through the public API; a stream must end complete."""
    if mode == "run":
        result = await agent.run(PROMPT, message_history=history, model_settings=settings)
        return result.output
    async with agent.run_stream(PROMPT, message_history=history, model_settings=settings) as response:
        text = "".join([delta async for delta in response.stream_text(delta=True, debounce_by=None)])
        assert response.is_complete
    return text


async def assert_no_leak() -> None:
    """No task but the test's own, and no request still holding a connection of the pool.

    httpx reads a body through nested async generators; when a stream stops early (end marker,
    error, cancel) asyncio closes the inner ones through its finalizer hook, as short-lived `aclose`
    tasks. Collect garbage, let those run; anything still pending after that is a leak.
    """
    gc.collect()
    for _ in range(20):
        await asyncio.sleep(0)
        if asyncio.all_tasks() == {asyncio.current_task()}:
            break
    assert asyncio.all_tasks() == {asyncio.current_task()}
    pool = _http.get_client()._transport._pool  # type: ignore[attr-defined]
    assert pool._requests == []
    assert all(conn.is_idle() or conn.is_closed() for conn in pool.connections)


class Fault:
    """What one failed run left behind: the error, the stream (if it started) and the deltas seen."""

    def __init__(self, error: NbAgentError, stream: StreamedRunResult | None, seen: list[str]) -> None:
        self.error, self.stream, self.seen = error, stream, seen

    @property
    def message(self) -> str:
        return str(self.error)


async def fault(
    agent: Agent, mode: str, expected: type[NbAgentError], *needles: str, **settings: Any
) -> Fault:
    """Run, expect `expected`; check the message is one clean line holding `needles`, the history
    passed in is untouched, a cut stream never counts as complete, and nothing leaks."""
    history = make_history()
    before, identities = messages_to_json(history), [id(message) for message in history]
    stream: StreamedRunResult | None = None
    seen: list[str] = []
    with pytest.raises(NbAgentError) as caught:
        if mode == "run":
            await agent.run(PROMPT, message_history=history, model_settings=settings)
        else:
            async with agent.run_stream(PROMPT, message_history=history, model_settings=settings) as stream:
                async for delta in stream.stream_text(delta=True, debounce_by=None):
                    seen.append(delta)
    raised = caught.value
    assert type(raised) is expected, f"{type(raised).__name__}: {raised}"
    message = str(raised)
    assert message and "\n" not in message and message == message.strip()
    for needle in needles:
        assert needle in message
    assert [id(m) for m in history] == identities and messages_to_json(history) == before
    if stream is not None:
        assert not stream.is_complete and stream.response is None
        assert stream.all_messages()[:2] == history and len(stream.new_messages()) == 1
    await assert_no_leak()
    return Fault(raised, stream, seen)


# ------------------------------------------------------------------ cannot connect


@both_kinds
@both_modes
async def test_refused_connection_fails_fast(env: ProviderServer, kind: str, mode: str) -> None:
    port = unused_port()
    agent = Agent(model_at(kind, f"http://127.0.0.1:{port}"))
    found = await fault(agent, mode, ModelConnectionError, "connection refused", f"127.0.0.1:{port}", MODEL[kind])
    # Not worth retrying: one attempt, so the message carries no "(N attempts; ...)" note.
    assert found.message == (
        f"Cannot connect to http://127.0.0.1:{port} for {MODEL[kind]}: "
        "connection refused (is the server running, and is the base URL right?)"
    )


@both_kinds
@both_modes
async def test_connect_timeout(env: ProviderServer, kind: str, mode: str) -> None:
    with Blackhole() as hole:
        found = await fault(Agent(model_at(kind, hole.url)), mode, ModelConnectionError, timeout=0.2, max_retries=0)
    assert found.message == f"{MODEL[kind]} at {hole.url}: timed out connecting after 0.2 s (is the host reachable?)"


async def test_connect_timeout_is_retried(env: ProviderServer) -> None:
    with Blackhole() as hole:
        agent = Agent(model_at("openai", hole.url))
        found = await fault(agent, "run", ModelConnectionError, timeout=0.2, max_retries=1)
    assert found.message == (
        f"openai:gpt-4o at {hole.url}: timed out connecting after 0.2 s (2 attempts; is the host reachable?)"
    )


# ------------------------------------------------------------------ timeouts once connected


@both_kinds
@both_modes
async def test_read_timeout_before_headers(env: ProviderServer, kind: str, mode: str) -> None:
    env.enqueue(stall(30))
    found = await fault(
        Agent(MODEL[kind]), mode, ModelConnectionError, timeout=0.2
    )
    assert found.message == (
        f"{MODEL[kind]} at {env.url}: no data for 0.2 s "
        "(read timeout; raise model_settings['timeout'] if the model is slow)"
    )
    assert len(env.requests) == 1, "a read timeout is not retried: the provider may still be working on it"


@both_kinds
async def test_read_timeout_mid_stream(env: ProviderServer, kind: str) -> None:
    env.enqueue(stall_after_headers(30))
    found = await fault(Agent(MODEL[kind]), "stream", ModelConnectionError, "no data for 0.2 s (read", timeout=0.2)
    assert found.stream is not None and found.seen == []
    assert len(env.requests) == 1


# ------------------------------------------------------------------ HTTP errors


@both_kinds
@both_modes
async def test_401_bad_key(env: ProviderServer, kind: str, mode: str) -> None:
    env.require_key("sk-the-right-key-000")
    needles = (f"{MODEL[kind]} returned HTTP 401: ", "(check the API key)")
    found = await fault(Agent(MODEL[kind]), mode, ModelHTTPError, *needles)
    assert isinstance(found.error, ModelHTTPError)
    assert (found.error.status_code, found.error.attempts) == (401, 1)
    assert len(env.requests) == 1


@both_kinds
@both_modes
async def test_404_unknown_model(env: ProviderServer, kind: str, mode: str) -> None:
    env.enqueue(error(404, "The model `no-such-model` does not exist"))
    found = await fault(Agent(MODEL[kind]), mode, ModelHTTPError)
    assert found.message == (
        f"{MODEL[kind]} returned HTTP 404: The model `no-such-model` does not exist "
        "(check the model name and the base URL)"
    )
    assert len(env.requests) == 1


@both_kinds
@both_modes
async def test_429_is_retried_then_succeeds(env: ProviderServer, kind: str, mode: str) -> None:
    env.enqueue(error(429, retry_after=0), ok(kind, mode))
    history = make_history()
    before = messages_to_json(history)
    assert await ask(Agent(MODEL[kind]), mode, history) == "Paris."
    assert len(env.requests) == 2 and env.requests[0].body == env.requests[1].body
    assert messages_to_json(history) == before
    await assert_no_leak()


async def test_429_waits_as_long_as_retry_after_says(env: ProviderServer) -> None:
    env.enqueue(error(429, retry_after=1), ok("openai", "run"))
    started = time.monotonic()
    assert await ask(Agent(MODEL["openai"]), "run", []) == "Paris."
    assert time.monotonic() - started >= 0.9
    assert len(env.requests) == 2


@both_kinds
async def test_429_retry_after_beyond_the_bound_fails_at_once(env: ProviderServer, kind: str) -> None:
    env.enqueue(error(429, "Rate limit reached", retry_after=3600))
    started = time.monotonic()
    found = await fault(Agent(MODEL[kind]), "run", ModelHTTPError)
    assert time.monotonic() - started < 60  # did not wait the hour (a bound far from both, so load cannot matter)
    assert found.message == (
        f"{MODEL[kind]} returned HTTP 429: Rate limit reached "
        "(the provider asks to wait 3600 s before retrying; try again later)"
    )
    assert len(env.requests) == 1


def test_retry_after_forms() -> None:
    def seconds(headers: dict[str, str]) -> float | None:
        return _http.retry_after_seconds(httpx.Response(429, headers=headers))

    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert seconds({"Retry-After": "2"}) == 2.0
    assert seconds({"Retry-After": "0.5"}) == 0.5
    assert 28 <= (seconds({"Retry-After": format_datetime(soon, usegmt=True)}) or 0) <= 31
    assert 28 <= (seconds({"Retry-After": format_datetime(soon).replace("+0000", "-0000")}) or 0) <= 31
    assert seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past: retry now
    assert seconds({"Retry-After": "soon"}) is None
    assert seconds({"Retry-After": "inf"}) is None
    assert seconds({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert seconds({}) is None


@both_kinds
@both_modes
@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_retried_then_succeeds(env: ProviderServer, kind: str, mode: str, status: int) -> None:
    env.enqueue(error(status, retry_after=0), error(status, retry_after=0), ok(kind, mode))
    assert await ask(Agent(MODEL[kind]), mode, make_history()) == "Paris."
    assert len(env.requests) == 3
    await assert_no_leak()


@both_kinds
@both_modes
@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_gives_up_after_max_retries(env: ProviderServer, kind: str, mode: str, status: int) -> None:
    env.enqueue(*[error(status, retry_after=0)] * 4)
    found = await fault(Agent(MODEL[kind]), mode, ModelHTTPError, f"returned HTTP {status} (after 3 attempts): ")
    assert isinstance(found.error, ModelHTTPError) and found.error.attempts == 3
    assert found.message.endswith("try again later)")
    assert len(env.requests) == 3  # the default max_retries is 2

    env.clear()
    env.enqueue(*[error(status, retry_after=0)] * 2)
    found = await fault(Agent(MODEL[kind]), mode, ModelHTTPError, f"returned HTTP {status}: ", max_retries=0)
    assert len(env.requests) == 1


async def test_5xx_without_retry_after_backs_off(env: ProviderServer) -> None:
    env.enqueue(error(503), ok("openai", "run"))
    started = time.monotonic()
    assert await ask(Agent(MODEL["openai"]), "run", [], max_retries=1) == "Paris."
    assert time.monotonic() - started >= 0.2  # the first backoff is 0.5 s ± 50 %
    assert len(env.requests) == 2


@both_kinds
async def test_connection_dropped_before_the_response_is_retried(env: ProviderServer, kind: str) -> None:
    env.enqueue(stall(0), ok(kind, "stream"))  # read the request, hang up without a byte
    assert await ask(Agent(MODEL[kind]), "stream", make_history()) == "Paris."
    assert len(env.requests) == 2
    await assert_no_leak()


@both_kinds
async def test_connection_dropped_every_time_gives_up(env: ProviderServer, kind: str) -> None:
    env.enqueue(stall(0), stall(0))
    found = await fault(Agent(MODEL[kind]), "run", ModelConnectionError, max_retries=1, timeout=5)
    assert found.message == (
        f"{MODEL[kind]} at {env.url}: connection lost before the answer started "
        "(2 attempts; Server disconnected without sending a response.)"
    )
    assert len(env.requests) == 2


# ------------------------------------------------------------------ broken answers


@both_kinds
async def test_stream_cut_midway(env: ProviderServer, kind: str) -> None:
    env.enqueue(streamed(kind, "one two three four five", cut_after=2))
    found = await fault(
        Agent(MODEL[kind]), "stream", UnexpectedModelBehavior, "the connection closed before the answer was complete"
    )
    assert found.seen == ["one", " two"]
    assert found.stream is not None and found.stream.text_so_far == "one two"
    assert len(env.requests) == 1, "never retried once text was delivered"


@both_kinds
async def test_body_cut_midway_non_stream(env: ProviderServer, kind: str) -> None:
    env.enqueue(sse([b'{"id": "x", "choi'], cut_after=1, headers={"Content-Type": "application/json"}))
    await fault(Agent(MODEL[kind]), "run", UnexpectedModelBehavior, "the connection closed before the answer was")
    assert len(env.requests) == 1


@both_kinds
async def test_malformed_stream_line(env: ProviderServer, kind: str) -> None:
    # openai events: role, piece 0, piece 1, piece 2...; anthropic: message_start, block_start, piece 0, ...
    env.enqueue(streamed(kind, "one two three four", malformed_at=3 if kind == "openai" else 4))
    found = await fault(
        Agent(MODEL[kind]), "stream", UnexpectedModelBehavior, f"{MODEL[kind]} sent a malformed stream line: '{{not"
    )
    assert found.seen == ["one", " two"]


@both_kinds
def test_a_cut_stream_gives_its_connection_back_where_nest_asyncio_patched_the_loop(env: ProviderServer, kind: str) -> None:
    # run_sync inside a running loop (Jupyter) applies nest-asyncio, which patches the loop's class: any
    # later loop's run_until_complete (run_sync's own loop, pytest's) then runs without the hooks that
    # finalise abandoned async generators. A stream cut by a bad line must still free its connection.
    patched = asyncio.new_event_loop()
    nest_asyncio.apply(patched)
    patched.close()
    env.enqueue(streamed(kind, "one two three four", malformed_at=3 if kind == "openai" else 4))

    async def cut_stream() -> None:
        await fault(Agent(MODEL[kind]), "stream", UnexpectedModelBehavior, "sent a malformed stream line")
        await assert_no_leak()

    run_coroutine_sync(cut_stream())


@both_kinds
async def test_malformed_json_body(env: ProviderServer, kind: str) -> None:
    env.enqueue(raw(200, "{not json", {"Content-Type": "application/json"}))
    shape = "a Chat Completion" if kind == "openai" else "a Messages API message"
    await fault(Agent(MODEL[kind]), "run", UnexpectedModelBehavior, f"sent a response that is not {shape}: ")


@both_kinds
async def test_missing_end_marker(env: ProviderServer, kind: str) -> None:
    env.enqueue(streamed(kind, "all of it but no end", omit_done=True))
    marker = "data: [DONE]" if kind == "openai" else "message_stop"
    found = await fault(Agent(MODEL[kind]), "stream", UnexpectedModelBehavior)
    assert found.message == (
        f"{MODEL[kind]}: the stream ended without its end marker ({marker}); the answer may be cut short"
    )
    assert "".join(found.seen) == "all of it but no end"  # every byte shown, yet never called complete


# ------------------------------------------------------------------ a very long answer

_LONG_SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from provider_server import ProviderServer, anthropic_stream, openai_stream
build = openai_stream if sys.argv[2] == "openai" else anthropic_stream
server = ProviderServer().start()
server.enqueue(build("warm up"), build([f" t{i}" for i in range(int(sys.argv[3]))]))
print(server.url, flush=True)
sys.stdin.read()  # serve until the test closes our stdin
"""


@both_kinds
async def test_very_long_answer_is_exact_and_memory_stays_flat(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """100k streamed tokens: the text is exact, and the client's peak memory follows the text's size,
    not the chunk count. The server runs in its own process so tracemalloc sees only the client.

    tracemalloc makes every allocation ~3x slower, so memory is measured on the OpenAI stream only:
    what could grow per chunk is the answer buffer in StreamedRunResult, which both protocols share.
    """
    tokens = 100_000
    traced = kind == "openai"
    monkeypatch.setenv(KEY_ENV[kind], OPENAI_KEY)
    expected = "".join(f" t{i}" for i in range(tokens))
    server = subprocess.Popen(
        [sys.executable, "-c", _LONG_SERVER, str(Path(__file__).parent), kind, str(tokens)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        agent = Agent(model_at(kind, server.stdout.readline().strip()))  # type: ignore[union-attr]
        assert await ask(agent, "stream", []) == "warm up"  # the pooled client exists before measuring
        if traced:
            tracemalloc.start()
        try:
            async with agent.run_stream(PROMPT) as response:
                count = 0
                async for _ in response.stream_text(delta=True, debounce_by=None):
                    count += 1
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
    assert count == tokens
    assert response.response is not None and response.response.text == expected
    if traced:
        # ~3x the text here; keeping each delta as its own str would be ~10x.
        assert peak < 5 * len(expected), f"peak {peak} B for a {len(expected)} B answer"
    await assert_no_leak()


# ------------------------------------------------------------------ the user stops it


async def wait_until_server_hung_up(server: ProviderServer, earlier: set[Any]) -> None:
    """The server sees every connection opened since `earlier` closed (its handler ends with the socket)."""
    for _ in range(200):
        if not open_connections(server) - earlier:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(open_connections(server) - earlier)} connection(s) still open on the server")


@both_kinds
async def test_cancel_mid_stream(env: ProviderServer, kind: str) -> None:
    env.enqueue(streamed(kind, " ".join(f"w{i}" for i in range(100)), delay=0.02))
    earlier = open_connections(env)
    history = make_history()
    before = messages_to_json(history)
    seen: list[str] = []
    three = asyncio.Event()

    async def consume() -> None:
        async with Agent(MODEL[kind]).run_stream(PROMPT, message_history=history) as response:
            async for delta in response.stream_text(delta=True, debounce_by=None):
                seen.append(delta)
                if len(seen) == 3:
                    three.set()

    task = asyncio.create_task(consume())
    await three.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 3 <= len(seen) < 100
    assert messages_to_json(history) == before
    await assert_no_leak()
    await _http.close_client()  # idle keep-alive connections go too; the cancelled one already went
    await wait_until_server_hung_up(env, earlier)


@both_kinds
async def test_leaving_the_block_early_closes_the_stream(env: ProviderServer, kind: str) -> None:
    env.enqueue(streamed(kind, " ".join(f"w{i}" for i in range(100)), delay=0.02))
    earlier = open_connections(env)
    async with Agent(MODEL[kind]).run_stream(PROMPT) as response:
        async for delta in response.stream_text(delta=True, debounce_by=None):
            break
    assert delta == "w0" and not response.is_complete
    await assert_no_leak()
    assert len(_http.get_client()._transport._pool.connections) == 0  # type: ignore[attr-defined]
    await wait_until_server_hung_up(env, earlier)


# ------------------------------------------------------------------ configuration errors


@both_kinds
@both_modes
@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"temperature": 5}, "Invalid model setting temperature=5: input should be less than or equal to 2"),
        ({"max_tokens": 0}, "Invalid model setting max_tokens=0: input should be greater than or equal to 1"),
        ({"temprature": 0.1}, "Unknown model setting 'temprature' (did you mean 'temperature'?)"),
    ],
)
async def test_invalid_settings_fail_before_any_request(
    env: ProviderServer, kind: str, mode: str, settings: dict[str, Any], needle: str
) -> None:
    await fault(Agent(MODEL[kind]), mode, UserError, needle, **settings)
    assert env.requests == []


@both_kinds
@both_modes
async def test_missing_key_names_the_variable(
    env: ProviderServer, monkeypatch: pytest.MonkeyPatch, kind: str, mode: str
) -> None:
    monkeypatch.delenv(KEY_ENV[kind])
    found = await fault(Agent(MODEL[kind]), mode, UserError)
    assert found.message == (
        f"No API key for {MODEL[kind]}: set the {KEY_ENV[kind]} environment variable (or pass api_key=...)"
    )
    assert env.requests == []


# ------------------------------------------------------------------ keys never show


async def test_keys_never_appear_in_errors_reprs_or_logs(env: ProviderServer, caplog: pytest.LogCaptureFixture) -> None:
    """Env keys and an explicit api_key, through failing and succeeding runs, with every logger at DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "nbagent"):
        caplog.set_level(logging.DEBUG, logger=name)
    explicit = "sk-explicit-SECRET-0c4d7e"
    secrets = (OPENAI_KEY, ANTHROPIC_KEY, explicit)
    agents = [
        Agent(MODEL["openai"]),
        Agent(MODEL["anthropic"]),
        Agent(OpenAIModel("gpt-4o", base_url=env.openai_base_url, api_key=explicit)),
        Agent(AnthropicModel("claude-x", base_url=env.anthropic_base_url, api_key=explicit)),
    ]
    produced: list[str] = []
    for agent in agents:
        produced += [repr(agent), str(agent), repr(agent.model)]
        # The provider echoes the keys back in its error, as some do for a bad key.
        env.enqueue(error(401, f"Incorrect API key provided: {OPENAI_KEY} {ANTHROPIC_KEY} {explicit}"))
        found = await fault(agent, "run", ModelHTTPError, "Incorrect API key provided: *** *** ***")
        assert isinstance(found.error, ModelHTTPError)
        produced += [str(found.error), repr(found.error), repr(found.error.args), found.error.body]
        env.enqueue(error(503, retry_after=0), streamed(agent.model.system, "fine"))
        async with agent.run_stream(PROMPT) as response:
            produced.append(await response.get_output())
        result = await agent.run(PROMPT, message_history=response.all_messages())
        produced += [repr(result), result.all_messages_json().decode(), repr(result.all_messages())]
    produced += [caplog.text, *(record.getMessage() for record in caplog.records)]
    assert any("HTTP Request: POST" in record.getMessage() for record in caplog.records)  # httpx did log
    assert any("retry 1 of 2" in record.getMessage() for record in caplog.records)  # and so did we
    wire = " ".join(str(request.headers) for request in env.requests)
    assert all(secret in wire for secret in secrets)  # the keys were really sent
    for text in produced:
        for secret in secrets:
            assert secret not in text
