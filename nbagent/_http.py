"""HTTP plumbing shared by the wire protocols: one pooled client per event loop, typed errors, retries.

Retries cover what is usually transient (connect timeouts, a dropped keep-alive connection,
408/409/429/5xx) with exponential backoff and jitter, honour `Retry-After`, and stay within a total
bound. They only happen before a response is handed to the caller, so a token that was shown is
never shown twice. Inside a row map (`agent.map`), every attempt passes the map's `request_gate`,
which owns the 429s: it waits them out for all the map's requests at once, so retries never stack.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
import weakref
from contextvars import ContextVar
from datetime import timezone
from typing import Any

import httpx

from .errors import ModelConnectionError, ModelHTTPError, UnexpectedModelBehavior
from .settings import ModelSettings

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_TOTAL_RETRY_WAIT = 60.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0

logger = logging.getLogger("nbagent")

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


class RequestGate:
    """What a row map (rowmap/limiter.py) puts in front of every request its runs make, through
    `request_gate`: `send` waits for a slot before each attempt, hands back the response (or None on a
    connection error), and on a 429 asks the gate, which then owns the wait and the resend (not counted
    as one of the request's retries), so retries at two layers never multiply into a storm."""

    async def acquire(self, resend: bool = False) -> None:
        """Wait until this request may start (`resend`: it is sent again after a failure)."""

    def release(self, response: httpx.Response | None) -> None:
        """The attempt got its response headers (or failed to connect)."""

    async def rate_limited(self, response: httpx.Response, body: str, model_label: str) -> None:
        """A 429: wait as the gate decides before the request is sent again, or raise to give up."""


request_gate: ContextVar[RequestGate | None] = ContextVar("nbagent_request_gate", default=None)


def get_client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (a client cannot be shared across loops)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        _clients[loop] = client
    return client


async def close_client() -> None:
    """Close the running loop's client (called before a loop we own is closed)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def timeout_for(settings: ModelSettings) -> httpx.Timeout:
    """`timeout` bounds every wait (connect, each read, pool); connecting never waits over 10 s."""
    seconds = settings.get("timeout", DEFAULT_TIMEOUT)
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """How long the provider asks us to wait: `retry-after-ms` (OpenAI), else `Retry-After` in either
    of its forms (delta-seconds or an HTTP date). None when absent or unreadable."""
    headers = response.headers
    try:
        seconds = float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        value = headers.get("retry-after", "").strip()
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT
                when = when.replace(tzinfo=timezone.utc)
            seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_seconds(attempt: int) -> float:
    """Exponential (0.5 s, 1 s, 2 s, ... up to 8 s) with ±50 % jitter so clients don't retry in lockstep."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.5, 1.5)


async def send(
    model_label: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json: dict[str, Any] | None = None,
    settings: ModelSettings,
    files: dict[str, Any] | None = None,
    data: dict[str, str] | None = None,
) -> httpx.Response:
    """Send a request with retries; return the streaming response (2xx) or raise a typed error.

    The body is `json`, or a multipart form of `files` and `data` fields (a batch input file).

    Retried: connect timeouts, connections dropped before any response byte, and 408/409/429/5xx
    answers, up to `max_retries` times and `MAX_TOTAL_RETRY_WAIT` seconds of waiting. Not retried: a
    refused connection (nothing listens there: fail fast), a read timeout (the provider may still be
    working on it; retrying would pay twice), and anything after the response is returned — the
    caller owns it from then on and must close it (`aclose`).
    """
    client = get_client()
    request = client.build_request(method, url, headers=headers, json=json, files=files, data=data,
                                   timeout=timeout_for(settings))
    max_retries = settings.get("max_retries", DEFAULT_MAX_RETRIES)
    gate = request_gate.get()
    waited = 0.0
    attempt = 0
    resend = False
    while True:
        try:
            response = await _attempt(client, request, gate, resend)
        except httpx.ConnectError as exc:
            raise ModelConnectionError(f"Cannot connect to {_origin(url)} for {model_label}: {_reason(exc)}") from None
        except (httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            wait = backoff_seconds(attempt)
            if attempt >= max_retries or waited + wait > MAX_TOTAL_RETRY_WAIT:
                raise _connection_error(exc, url, model_label, settings, attempts=attempt + 1) from None
            cause = type(exc).__name__
        except httpx.TimeoutException as exc:
            raise _connection_error(exc, url, model_label, settings, attempts=attempt + 1) from None
        else:
            if response.is_success:
                return response
            try:
                body = (await response.aread()).decode("utf-8", errors="replace")
            except httpx.HTTPError:
                body = ""  # the status alone still says what went wrong
            finally:
                await response.aclose()
            status = response.status_code
            if status == 429 and gate is not None:
                await gate.rate_limited(response, body, model_label)  # the gate waits, resends or gives up
                resend = True
                continue
            if status not in RETRY_STATUSES or attempt >= max_retries:
                raise ModelHTTPError(status, model_label, body, attempts=attempt + 1)
            asked = retry_after_seconds(response)
            wait = backoff_seconds(attempt) if asked is None else asked
            if waited + wait > MAX_TOTAL_RETRY_WAIT:
                raise ModelHTTPError(status, model_label, body, attempts=attempt + 1, retry_after=asked)
            cause = f"HTTP {status}"
        attempt += 1
        resend = True
        waited += wait
        logger.info("%s: %s, retry %d of %d in %.2f s", model_label, cause, attempt, max_retries, wait)
        await asyncio.sleep(wait)


async def _attempt(client: httpx.AsyncClient, request: httpx.Request, gate: RequestGate | None,
                   resend: bool) -> httpx.Response:
    """One attempt, through the map's gate when there is one."""
    if gate is None:
        return await client.send(request, stream=True)
    await gate.acquire(resend)
    response = None
    try:
        response = await client.send(request, stream=True)
        return response
    finally:
        gate.release(response)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _reason(exc: BaseException) -> str:
    """A short cause, looking through httpx's wrappers for the OS error that says what happened."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the server running, and is the base URL right?)"
        cause = cause.__cause__ or cause.__context__
    return " ".join((str(exc) or type(exc).__name__).split())


def _connection_error(
    exc: Exception, url: str, model_label: str, settings: ModelSettings, *, attempts: int = 1
) -> ModelConnectionError:
    seconds = settings.get("timeout", DEFAULT_TIMEOUT)
    tried = f"{attempts} attempts; " if attempts > 1 else ""
    if isinstance(exc, httpx.ConnectTimeout):
        what = f"timed out connecting after {min(seconds, CONNECT_TIMEOUT):g} s ({tried}is the host reachable?)"
    elif isinstance(exc, httpx.PoolTimeout):
        what = f"no free connection within {seconds:g} s (too many requests at once?)"
    elif isinstance(exc, httpx.TimeoutException):
        what = f"no data for {seconds:g} s (read timeout; raise model_settings['timeout'] if the model is slow)"
    else:
        what = f"connection lost before the answer started ({tried}{_reason(exc)})"
    return ModelConnectionError(f"{model_label} at {_origin(url)}: {what}")


def stream_error(exc: Exception, url: str, model_label: str, settings: ModelSettings) -> Exception:
    """Map an httpx error raised while reading an answer to our error tree (never retried: text was shown)."""
    if isinstance(exc, httpx.TimeoutException):
        return _connection_error(exc, url, model_label, settings)
    return UnexpectedModelBehavior(
        f"{model_label} at {_origin(url)}: the connection closed before the answer was complete ({_reason(exc)})"
    )
