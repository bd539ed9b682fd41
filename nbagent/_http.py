"""HTTP plumbing shared by the wire protocols: one pooled client per event loop, typed errors, retries.

Retries cover what is usually transient (connect timeouts, a dropped keep-alive connection,
408/409/429/5xx) with exponential backoff and jitter, honour `Retry-After`, and stay within a total
bound. They only happen before a response is handed to the caller, so a token that was shown is
never shown twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import weakref
from typing import Any

import httpx

from .errors import ModelConnectionError, ModelHTTPError
from .settings import ModelSettings

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_TOTAL_RETRY_WAIT = 60.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


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
    seconds = settings.get("timeout", DEFAULT_TIMEOUT)
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds, from either of its forms (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def backoff_seconds(attempt: int) -> float:
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.5, 1.5)


async def send(
    model_label: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    json: dict[str, Any],
    settings: ModelSettings,
) -> httpx.Response:
    """Send a request with retries; return the streaming response (status < 400) or raise a typed error.

    The caller owns the returned response and must close it (`aclose`) when done.
    """
    client = get_client()
    request = client.build_request(method, url, headers=headers, json=json, timeout=timeout_for(settings))
    max_retries = settings.get("max_retries", DEFAULT_MAX_RETRIES)
    waited = 0.0
    attempt = 0
    while True:
        retry_wait: float | None = None
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            # Refused / unreachable: not transient in practice (server not running), so fail fast.
            raise ModelConnectionError(f"Cannot connect to {_origin(url)} for {model_label}: {_reason(exc)}") from None
        except (httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if attempt >= max_retries:
                raise _connection_error(exc, url, model_label, settings) from None
            retry_wait = backoff_seconds(attempt)
        except httpx.TimeoutException as exc:
            raise _connection_error(exc, url, model_label, settings) from None
        else:
            if response.status_code < 400:
                return response
            body = (await response.aread()).decode("utf-8", errors="replace")
            await response.aclose()
            if response.status_code not in RETRY_STATUSES or attempt >= max_retries:
                raise ModelHTTPError(response.status_code, model_label, body)
            retry_wait = retry_after_seconds(response)
            if retry_wait is None:
                retry_wait = backoff_seconds(attempt)
            if waited + retry_wait > MAX_TOTAL_RETRY_WAIT:
                raise ModelHTTPError(response.status_code, model_label, body)
        attempt += 1
        waited += retry_wait
        await asyncio.sleep(retry_wait)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower() or "errno 111" in text.lower():
        return "connection refused (is the server running?)"
    return text


def _connection_error(exc: Exception, url: str, model_label: str, settings: ModelSettings) -> ModelConnectionError:
    if isinstance(exc, httpx.ConnectTimeout):
        what = "timed out connecting"
    elif isinstance(exc, httpx.TimeoutException):
        seconds = settings.get("timeout", DEFAULT_TIMEOUT)
        what = f"no data for {seconds:g} s (read timeout; raise model_settings['timeout'] if the model is slow)"
    else:
        what = f"connection lost ({_reason(exc)})"
    return ModelConnectionError(f"{model_label} at {_origin(url)}: {what}")


def stream_error(exc: Exception, url: str, model_label: str, settings: ModelSettings) -> Exception:
    """Map an httpx error raised while reading a stream to our error tree."""
    from .errors import UnexpectedModelBehavior

    if isinstance(exc, httpx.TimeoutException):
        return _connection_error(exc, url, model_label, settings)
    return UnexpectedModelBehavior(
        f"{model_label} at {_origin(url)}: the connection closed before the answer was complete ({_reason(exc)})"
    )
