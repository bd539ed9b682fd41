"""The gate every HTTP request of a map passes: how many are in flight, when the next may start, and
what a 429 means.

One place owns the decision to resend a rate-limited request (nbagent/_http.py asks the gate when a
map is running, instead of counting the 429 as one of the request's own retries), so retries never
stack up into a storm:

- never more than `concurrency` requests in flight; the limit halves on a 429 and grows back by one
  per `limit` successes (additive increase, multiplicative decrease);
- a 429 pauses every sender until the provider's reset: `retry-after-ms`, `Retry-After`, the
  `x-ratelimit-reset-*` durations (`1s`, `6m0s`) or Anthropic's `anthropic-ratelimit-*-reset` times,
  else a backoff that grows while 429s keep coming; the paused request is then sent again;
- requests are paced when the provider says how many remain (`x-ratelimit-remaining-requests` and
  `-limit-requests`, or Anthropic's `anthropic-ratelimit-requests-*`): with few left (providers enforce
  a minute's limit in finer slices, so the bucket can be much smaller than the limit), starts are spaced
  at the per-minute limit; with no such headers, a 429 sets the pace a little under the rate that met
  it, which then rises again slowly with each success;
- when the limit does not clear (the provider asks to wait longer than `patience`, or nothing has
  succeeded for `patience` seconds of 429s), the gate closes: every request waiting or yet to come
  fails with `RateLimitNotClearing`, and the map ends keeping the finished rows.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections import deque
from datetime import datetime, timezone

import httpx

from .. import _http
from ..errors import ModelHTTPError

PATIENCE = 120.0  # seconds of nothing but 429s (or one asked wait) after which the limit "does not clear"
SLOW_DOWN = 1.25  # with no rate headers, a 429 sets the pace this much slower than the rate that met it
PROBE = 0.995  # ... and each success then shortens the interval by this factor (~45 successes to find it again)
CATCH_UP = 2  # late starts the pace may make up at once
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class RateLimitNotClearing(ModelHTTPError):
    """The provider kept answering 429 past the map's patience; nothing more is sent."""


def parse_duration(text: str) -> float | None:
    """OpenAI's reset durations: `1s`, `6m0s`, `20ms`, `1h2m3.5s`; a bare number is seconds."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _until(text: str) -> float | None:
    """Seconds until an RFC 3339 time (Anthropic's resets) or an HTTP date."""
    text = text.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def reset_seconds(response: httpx.Response) -> float | None:
    """How long a 429 asks to wait: retry-after-ms / Retry-After, else the reset of the exhausted limit."""
    asked = _http.retry_after_seconds(response)
    if asked is not None:
        return asked
    headers = response.headers
    waits = []
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        openai_reset = headers.get(f"x-ratelimit-reset-{kind}")
        anthropic_reset = headers.get(f"anthropic-ratelimit-{kind}-reset")
        remaining = headers.get(f"x-ratelimit-remaining-{kind}") or headers.get(f"anthropic-ratelimit-{kind}-remaining")
        seconds = parse_duration(openai_reset) if openai_reset else _until(anthropic_reset) if anthropic_reset else None
        if seconds is not None:
            waits.append((remaining is not None and remaining.strip() == "0", seconds))
    exhausted = [seconds for is_out, seconds in waits if is_out]
    if exhausted:
        return max(exhausted)
    return min((seconds for _, seconds in waits), default=None)


def request_budget(response: httpx.Response) -> tuple[int, int] | None:
    """(requests a minute, requests remaining) when the provider says so (OpenAI's and Anthropic's
    request limits are both per minute)."""
    headers = response.headers
    limit = headers.get("x-ratelimit-limit-requests") or headers.get("anthropic-ratelimit-requests-limit")
    remaining = headers.get("x-ratelimit-remaining-requests") or headers.get("anthropic-ratelimit-requests-remaining")
    try:
        return (int(limit), int(remaining)) if limit and remaining else None
    except ValueError:
        return None


class RequestGate(_http.RequestGate):
    """The shared state of one map's requests (see the module's docstring)."""

    def __init__(self, concurrency: int, *, patience: float = PATIENCE) -> None:
        self.concurrency = concurrency
        self.patience = patience
        self.limit = float(concurrency)
        self.in_flight = 0
        self.sent = 0
        self.rate_limited_count = 0
        self.retries = 0
        self.closed: str | None = None  # why the gate closed, once the limit did not clear
        self._paused_until = 0.0
        self._next_start = 0.0
        self._interval = 0.0  # seconds between starts while pacing
        self._learned_pace = False  # the pace came from 429s, not from the provider's headers
        self._strikes = 0  # 429s since the last success, for the backoff when no reset is given
        self._last_success = time.monotonic()
        self._starts: deque[float] = deque(maxlen=64)
        self._admission = asyncio.Lock()  # FIFO: requests are admitted in the order they asked
        self._freed = asyncio.Event()

    async def acquire(self, resend: bool = False) -> None:
        if resend:
            self.retries += 1
        async with self._admission:
            while True:
                self._raise_if_closed()
                now = time.monotonic()
                wait = max(self._paused_until, self._next_start) - now
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                if self.in_flight >= max(1, int(self.limit)):
                    self._freed.clear()
                    await self._freed.wait()
                    continue
                break
            self.in_flight += 1
            self.sent += 1
            self._starts.append(now)
            # on the pace's own timeline: starts that came late (a busy machine) let the next catch up, two at most
            self._next_start = max(self._next_start + self._interval, now - CATCH_UP * self._interval)

    def release(self, response: httpx.Response | None) -> None:
        self.in_flight -= 1
        self._freed.set()
        if response is None or response.status_code == 429:
            return
        if response.is_success:
            self._last_success = time.monotonic()
            self._strikes = 0
            self.limit = min(float(self.concurrency), self.limit + 1.0 / max(self.limit, 1.0))
            if self._learned_pace:
                self._interval *= PROBE  # a little faster after each success, to find the limit again
        self._pace_from(response)

    def _pace_from(self, response: httpx.Response) -> bool:
        """When the provider says few requests remain, space starts at its per-minute limit; with many
        left, send freely. False when it says nothing."""
        budget = request_budget(response)
        if budget is None:
            return False
        per_minute, remaining = budget
        self._learned_pace = False
        self._interval = 60.0 / per_minute if per_minute > 0 and remaining <= 2 * self.concurrency else 0.0
        return True

    async def rate_limited(self, response: httpx.Response, body: str, model_label: str) -> None:
        """A 429 came back: pause everyone until the reset, slow down, then let the caller send it again."""
        self.rate_limited_count += 1
        self._strikes += 1
        now = time.monotonic()
        asked = reset_seconds(response)
        wait = asked if asked is not None else _http.backoff_seconds(min(self._strikes - 1, 6))
        if wait > self.patience or now + wait - self._last_success > self.patience:
            if self.closed is None:
                waited = now - self._last_success
                self.closed = (f"{model_label} kept answering 429 (rate limited) for {waited:.0f} s"
                               + (f" and asks to wait {wait:.0f} s more" if asked is not None else "")
                               + "; stopped sending")
            raise RateLimitNotClearing(429, model_label, body, attempts=1, retry_after=asked)
        self.limit = max(1.0, self.limit / 2)
        self._paused_until = max(self._paused_until, now + wait)
        if not self._pace_from(response):
            recent = [start for start in self._starts if start > now - 2.0]
            if len(recent) >= 2:  # a little under the rate that met the limit
                self._interval = max(self._interval, (now - recent[0]) / (len(recent) - 1) * SLOW_DOWN)
                self._learned_pace = True
        await asyncio.sleep(max(0.0, self._paused_until - time.monotonic()))
        self._raise_if_closed()

    def _raise_if_closed(self) -> None:
        if self.closed is not None:
            raise RateLimitNotClearing(429, "the map", self.closed)
