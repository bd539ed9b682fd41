"""The map: every row an independent run of the agent, many in flight, each answer committed as it lands.

    plan the rows → a key per row → identical keys folded → answers already in the cache filled in →
    `concurrency` workers run the rest (every HTTP request through the map's `RequestGate`) → each
    answer stored, its row (and the rows folded into it) filled in → the DataFrame and its report

A row that fails after its retries gets its one-line message in `_error` and is not stored, so the
next run retries it. The map stops sending, keeping what finished and saying so in one line, when the
`budget` would be passed or the rate limit does not clear; the rows not sent say so in `_error`.
Cancelling (an interrupt) loses only the rows in flight: the next run finds the others in the cache.
"""

from __future__ import annotations

import asyncio
import sys
import time
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pandas as pd

from .. import _http
from ..errors import ModelConnectionError, ModelHTTPError, UserError, with_notes
from ..messages import Usage
from .background import run_in_background
from .columns import ResultTable
from .limiter import RateLimitNotClearing, RequestGate
from .progress import TICK, MapProgress, progress_reporter
from .rows import RowPlan, plan_rows
from .spec import MapSpec
from .store import CachedAnswer, MapStore

if TYPE_CHECKING:
    from ..agent import Agent

OUTPUT_GUESS = 256  # output tokens per request assumed for the budget until the first answers come back
Reporter = Callable[[MapProgress, bool], None]


class MapRun:
    """One map's progress, counters and result table."""

    def __init__(self, spec: MapSpec, plan: RowPlan, store: MapStore, *, concurrency: int, budget: float | None,
                 deps: Any) -> None:
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
            raise UserError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 0:
                raise UserError(f"budget must be an amount in USD >= 0, got {budget!r}")
            if spec.price is None:
                raise UserError(f"budget= needs the price of {spec.model.label}: pass "
                                f"prices={{{spec.model.label!r}: [input, output]}} (USD per million tokens)")
        self.spec, self.plan, self.store = spec, plan, store
        self.concurrency, self.deps = concurrency, deps
        self.budget = None if budget is None else Decimal(str(budget))
        self.table = ResultTable(spec.columns, len(plan))
        self.gate = RequestGate(concurrency)
        self.total = len(plan)
        self.done = self.errors = self.cache_hits = self.folded = 0
        self.running = 0
        self.requests = 0  # model requests of the rows answered (usage), for models that speak no HTTP
        self.tokens_in = self.tokens_out = 0
        self.spent = Decimal(0)
        self.committed = Decimal(0)  # what the requests in flight are expected to cost, for the budget
        self.stopped: str | None = None
        self.notes: list[str] = list(store.notes)
        if spec.columns.note:
            self.notes.append(spec.columns.note)
        self._started = time.monotonic()
        self._answered_rows = 0  # rows answered by requests of this run (not the cache), for the rate
        self._unsent: list[tuple[str, int]] = []  # taken by a worker when the map stopped sending

    # ------------------------------------------------------------------ the run

    async def run(self, reporter: Reporter | None = None) -> pd.DataFrame:
        """Run the map; `reporter` gets a snapshot every `TICK` seconds and one at the end."""
        self._started = time.monotonic()
        keys = [self.spec.key(prompt) for prompt in self.plan.prompts]
        first: dict[str, int] = {}
        followers: dict[str, list[int]] = {}
        for position, key in enumerate(keys):
            if key in first:
                followers.setdefault(key, []).append(position)
            else:
                first[key] = position
        del keys
        self.folded = self.total - len(first)
        for key, answer in self.store.get_many(first).items():
            others = followers.pop(key, ())
            self._fill(first.pop(key), others, self.spec.columns.load(answer.output))
            self.cache_hits += 1 + len(others)
        pending = iter(list(first.items()))
        del first
        ticker = asyncio.ensure_future(self._tick(reporter)) if reporter is not None else None
        token = _http.request_gate.set(self.gate)
        try:
            workers = [asyncio.ensure_future(self._worker(pending, followers)) for _ in range(self.concurrency)]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        finally:
            _http.request_gate.reset(token)
            if ticker is not None:
                ticker.cancel()
        for key, position in [*self._unsent, *pending]:  # the budget was reached or the rate limit did not clear
            for row in (position, *followers.get(key, ())):
                self.table.set_error(row, f"not sent: {self.stopped}")
        if self.stopped:
            self.notes.append(f"stopped early: {self.stopped}; {self.done:,} of {self.total:,} rows finished "
                              "(run the map again to continue)")
        if reporter is not None:
            reporter(self.snapshot(), True)
        frame = self.table.frame(self.plan.index)
        frame.attrs["nbagent"] = self.report()
        return frame

    async def _worker(self, pending: Iterator[tuple[str, int]], followers: dict[str, list[int]]) -> None:
        for key, position in pending:
            if self.stopped:
                self._unsent.append((key, position))
                return
            prompt = self.plan.prompts[position]
            expected = self._expected_cost(prompt)
            if self.budget is not None and self.spent + self.committed + expected > self.budget:
                self.stopped = f"the budget of ${self.budget} would be passed (${self.spent:.4f} spent)"
                self._unsent.append((key, position))
                return
            self.committed += expected
            self.running += 1
            try:
                result = await self.spec.agent.run(prompt, deps=self.deps, model_settings=self.spec.model_settings,
                                                   output_type=self.spec.output)
            except RateLimitNotClearing:
                self.stopped = self.gate.closed or "the rate limit did not clear"
                self._unsent.append((key, position))
                return
            except Exception as exc:  # one bad row never fails the map: its message goes in `_error`
                self._fail(position, followers.pop(key, ()), exc)
                if fails_every_row(exc):  # a missing key, a wrong model name: the next rows would fail alike
                    self.stopped = f"every request would fail ({self.table.error_of(position)})"
            else:
                usage = result.usage()
                cached = CachedAnswer(self.spec.columns.dump(result.output), usage.input_tokens,
                                      usage.output_tokens, usage.requests)
                self.store.put(key, cached, self.spec.model.label)
                self._count(usage)
                self._fill(position, followers.pop(key, ()), result.output)
                self._answered_rows += 1
            finally:
                self.running -= 1
                self.committed -= expected
        # the iterator is shared: a worker ends when nothing is left to take

    def _fill(self, position: int, others: Any, output: Any) -> None:
        for row in (position, *others):
            self.table.set_output(row, output)
            self.done += 1

    def _fail(self, position: int, others: Any, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {' '.join(with_notes(exc).split())}"
        for row in (position, *others):
            self.table.set_error(row, message[:500])
            self.done += 1
            self.errors += 1

    def _count(self, usage: Usage) -> None:
        self.tokens_in += usage.input_tokens
        self.tokens_out += usage.output_tokens
        self.requests += usage.requests
        if self.spec.price is not None:
            self.spent += self.spec.price.cost(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                                               usage.cache_write_tokens)

    def _expected_cost(self, prompt: str) -> Decimal:
        """What one row is expected to cost before it is sent (for the budget)."""
        price = self.spec.price
        if price is None or self.budget is None:
            return Decimal(0)
        output = self.spec.max_tokens
        if output is None:
            output = round(self.tokens_out / self._answered_rows) if self._answered_rows else OUTPUT_GUESS
        return price.cost(self.spec.input_tokens(prompt), output)

    async def _tick(self, reporter: Reporter) -> None:
        while True:
            await asyncio.sleep(TICK)
            reporter(self.snapshot(), False)

    # ------------------------------------------------------------------ what it reports

    def snapshot(self) -> MapProgress:
        elapsed = time.monotonic() - self._started
        rate = self._answered_rows / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        return MapProgress(done=self.done, total=self.total, errors=self.errors, cache_hits=self.cache_hits,
                           in_flight=self.running, rows_per_s=rate, eta_s=left / rate if rate > 0 else None,
                           tokens_in=self.tokens_in, tokens_out=self.tokens_out,
                           cost_usd=float(self.spent) if self.spec.price is not None else None, elapsed_s=elapsed)

    def report(self) -> dict[str, Any]:
        """`result.attrs["nbagent"]`: what the map did and cost."""
        return {
            "model": self.spec.model.label,
            "rows": self.total,
            "rows_answered": self.done - self.errors,
            "errors": self.errors,
            "not_sent": self.total - self.done,
            "requests_sent": self.gate.sent or self.requests,
            "cache_hits": self.cache_hits,
            "duplicates_folded": self.folded,
            "retries": self.gate.retries,
            "rate_limited_429s": self.gate.rate_limited_count,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": float(self.spent) if self.spec.price is not None else None,
            "price_from": self.spec.price.source if self.spec.price is not None else None,
            "seconds": round(time.monotonic() - self._started, 3),
            "cache": str(self.store.path) if self.store.path is not None else None,
            "stopped": self.stopped,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------- entry points (Agent.map & co)


def fails_every_row(exc: Exception) -> bool:
    """An error of the set-up, not of the row: sending the other rows would only repeat it."""
    if isinstance(exc, UserError):
        return True
    if isinstance(exc, ModelHTTPError):
        return exc.status_code in (401, 403, 404)
    return isinstance(exc, ModelConnectionError) and "connection refused" in str(exc)


def prepare(agent: "Agent[Any, Any]", rows: Any, prompt: str | None, output_type: Any,
            model_settings: Any, prices: Any) -> tuple[MapSpec, RowPlan]:
    """Check everything a map needs before any request: the rows, the template, the output type, prices."""
    plan = plan_rows(rows, prompt)
    return MapSpec(agent, output_type, model_settings, prices), plan


@contextmanager
def opened(agent: "Agent[Any, Any]", rows: Any, prompt: str | None, *, output_type: Any = None,
           concurrency: int = 16, cache: Any = True, budget: float | None = None, deps: Any = None,
           model_settings: Any = None, progress: Any = True,
           prices: Any = None) -> Iterator[tuple[MapRun, Reporter | None]]:
    """A map ready to run (everything checked, the cache open) and its progress reporter; the cache is
    closed on leaving."""
    spec, plan = prepare(agent, rows, prompt, output_type, model_settings, prices)
    reporter = progress_reporter(progress)
    store = MapStore.for_cache(cache)
    try:
        yield MapRun(spec, plan, store, concurrency=concurrency, budget=budget, deps=deps), reporter
    finally:
        store.close()


async def map_rows_async(agent: "Agent[Any, Any]", rows: Any, prompt: str | None, **options: Any) -> pd.DataFrame:
    """`await agent.map_async(...)`: the map on the caller's loop."""
    with opened(agent, rows, prompt, **options) as (run, reporter):
        frame = await run.run(reporter)
    say(frame.attrs["nbagent"]["notes"])
    return frame


def map_rows(agent: "Agent[Any, Any]", rows: Any, prompt: str | None, **options: Any) -> pd.DataFrame:
    """`agent.map(...)`: the map on its own loop in a thread (also inside Jupyter), progress reported here."""
    with opened(agent, rows, prompt, **options) as (run, reporter):

        def tick() -> None:
            if reporter is not None:
                reporter(run.snapshot(), False)

        try:
            frame = run_in_background(run.run(), tick)  # the last snapshot is reported here too, below
        except KeyboardInterrupt:
            say([f"interrupted: {run.done - run.errors:,} of {run.total:,} rows answered and kept in the cache; "
                 "run the same map again to continue"] if run.store.path is not None else
                ["interrupted: the answers so far were in memory only (cache=False) and are lost"])
            raise
    if reporter is not None:
        reporter(run.snapshot(), True)
    say(frame.attrs["nbagent"]["notes"])
    return frame


def say(lines: list[str]) -> None:
    """The map's one-line notes (a budget reached, a cache file replaced, ...) on stderr."""
    for line in lines:
        print(f"nbagent: {line}", file=sys.stderr)
