"""Batch jobs: a map run by the provider's own batch engine (OpenAI Batch API, Anthropic Message Batches),
for maps too large or too cheap to run live — about half the price, answered within a day.

`agent.submit_batch(rows, prompt, output_type=...)` renders the rows as `map` does, folds identical
requests into one, builds each request exactly as the live path would (the model's own request body),
submits it in as many provider batches as the limits need, and records the job in the cache database,
so `batch_jobs()` lists it after a kernel restart. `job.refresh()` reads the provider's status,
`job.cancel()` stops it, `job.result()` reads the answers back into the DataFrame `map` returns (typed
columns and `_error`; rows that errored, expired or were cancelled say so there), costed at the batch
price. Reading the answers back (batch_answers.py) validates each as the live run would and commits it
to the map's cache; rows the cache answered already are not submitted at all.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

import pandas as pd

from ..agent import Agent, run_coroutine_sync
from ..errors import UserError
from ..models.anthropic import AnthropicModel
from ..models.http import HTTPModel
from ..models.openai import OpenAIModel
from ..prices import batch_price_of, price_of
from .batch_answers import BatchAnswers
from .batch_wire import BatchProtocol, Line, RemoteBatch, protocol_for
from .rows import plan_rows
from .spec import MapSpec
from .store import MapStore

_HTTP_SETTINGS = ("timeout", "max_retries")  # what reading the job later needs (never headers: they may hold keys)


def submit_batch(agent: Agent[Any, Any], rows: Any, prompt: str | None = None, *, output_type: Any = None,
                 deps: Any = None, model_settings: Mapping[str, Any] | None = None,
                 cache: Any = True) -> BatchJob:
    """Submit the rows as a batch job and record it; see the module docstring."""
    plan = plan_rows(rows, prompt)
    if agent.tools:
        raise UserError(f"A batch job answers each row in one request, without tool rounds; this agent has tools "
                        f"({', '.join(agent.tools)}): use agent.map(...) for it")
    if not plan.prompts:
        raise UserError("submit_batch: there are no rows to submit")
    options = {"model_settings": model_settings, "deps": deps, "output_type": output_type}
    protocol, lines, request_of_row = run_coroutine_sync(_requests(agent, plan.prompts, options))
    first_row = _first_rows(request_of_row)
    spec = MapSpec(agent, output_type, model_settings, None)
    keys = [spec.key(plan.prompts[first_row[number]]) for number in range(len(lines))]  # as agent.map keys them
    store = MapStore.for_cache(cache)
    cached = store.get_many(keys)
    to_send = [line for line, key in zip(lines, keys) if key not in cached]
    if not to_send:
        raise UserError("Every row's answer is in the map cache already: agent.map(...) returns them without a request")
    parts = [run_coroutine_sync(protocol.submit(part)) for part in protocol.parts(to_send)]
    model = protocol.model
    meta = {"base_url": model.base_url, "rows": len(request_of_row), "parts": [part.as_record() for part in parts],
            "request_of_row": request_of_row, "keys": keys,
            "cached": [number for number, key in enumerate(keys) if key in cached],
            "index": _index_json(plan.index), "output": _output_name(agent, output_type),
            "settings": {name: protocol.settings[name] for name in _HTTP_SETTINGS if name in protocol.settings}}
    store.record_job(protocol.provider, parts[0].id, model=model.label, status=_job_status(parts),
                     counts=_counts(parts, len(to_send)), meta=meta)
    job = store.job(protocol.provider, parts[0].id)
    assert job is not None
    return BatchJob(job, store, agent=agent, output_type=output_type, index=plan.index, prompts=plan.prompts)


async def _requests(agent: Agent[Any, Any], prompts: list[str],
                    options: dict[str, Any]) -> tuple[BatchProtocol, list[Line], list[int]]:
    """Each row's request as the live path sends it (instructions functions, capabilities and history
    processors applied), identical ones folded: the batch engine, the lines, and each row's line."""
    protocol: BatchProtocol | None = None
    lines: list[Line] = []
    request_of_row: list[int] = []
    seen: dict[bytes, int] = {}
    for prompt in prompts:
        run = agent._start(prompt, options)  # type: ignore[arg-type]
        await run.begin()
        messages, settings, params = await run.prepare_request()
        if protocol is None:
            protocol = protocol_for(run.model, settings)
        body = protocol.model._body(messages, settings, False, params)
        key = protocol.encode(("", body))
        if key not in seen:
            seen[key] = len(lines)
            lines.append((f"row-{len(lines)}", body))
        request_of_row.append(seen[key])
    assert protocol is not None  # there is a row
    return protocol, lines, request_of_row


class BatchJob:
    """A submitted batch job: its provider, id, status and row counts; refresh, cancel, result."""

    def __init__(self, job: dict[str, Any], store: MapStore, *, agent: Agent[Any, Any] | None = None,
                 output_type: Any = None, index: Any = None, prompts: list[str] | None = None) -> None:
        self._job = job  # the store's record: provider, id, model, status, created, counts, meta
        self._store = store
        self._agent = agent
        self._output_type = output_type
        self._index = index
        self._prompts = prompts

    # ------------------------------------------------------------------ what it is

    @property
    def id(self) -> str:
        return str(self._job["id"])

    @property
    def provider(self) -> str:
        return str(self._job["provider"])

    @property
    def model(self) -> str:
        return str(self._job["model"])

    @property
    def _meta(self) -> dict[str, Any]:
        return self._job["meta"]  # type: ignore[no-any-return]

    @property
    def status(self) -> str:
        """`in_progress` until every provider batch ended, then `completed`, `cancelled`, `expired` or `failed`."""
        return str(self._job["status"])

    @property
    def batch_ids(self) -> list[str]:
        """The provider's batch ids (one per batch the rows needed)."""
        return [part.id for part in self._parts]

    @property
    def counts(self) -> dict[str, int]:
        """Requests succeeded, failed (errored, expired or cancelled) and still processing, over every batch."""
        return dict(self._job["counts"])

    @property
    def _parts(self) -> list[RemoteBatch]:
        return [RemoteBatch.from_record(part) for part in self._meta["parts"]]

    def __repr__(self) -> str:
        counts = self.counts
        return (f"BatchJob({self.id!r}, {self.model}, {self.status}, {self._meta['rows']} rows: "
                f"{counts['succeeded']} succeeded, {counts['failed']} failed, {counts['processing']} processing)")

    def as_row(self) -> dict[str, Any]:
        """The job as a line of `batch_jobs()`."""
        return {"id": self.id, "provider": self.provider, "model": self.model, "status": self.status,
                "rows": self._meta["rows"], **self.counts,
                "created": datetime.fromtimestamp(self._job["created"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}

    # ------------------------------------------------------------------ talking to the provider

    def _protocol(self) -> BatchProtocol:
        return protocol_for(_model(self.model, self._meta["base_url"]), self._meta.get("settings") or {})

    def refresh(self) -> BatchJob:
        """Read every unfinished provider batch's status now, and record it."""
        return self._each_unfinished("read")

    def cancel(self) -> BatchJob:
        """Ask the provider to stop every unfinished batch; rows already answered are kept for `result()`."""
        return self._each_unfinished("cancel")

    def _each_unfinished(self, action: str) -> BatchJob:
        """`read` or `cancel` each provider batch that has not ended; record what the provider says."""
        call = getattr(self._protocol(), action)

        async def each() -> list[RemoteBatch]:
            return [part if part.done else await call(part.id) for part in self._parts]

        self._save(run_coroutine_sync(each()))
        return self

    def wait(self, *, poll: float = 30.0, timeout: float | None = None) -> BatchJob:
        """Refresh every `poll` seconds until the job ended (an interrupt stops waiting; the job runs on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.refresh()
        while self.status == "in_progress":
            if deadline is not None and time.monotonic() >= deadline:
                raise UserError(f"Batch job {self.id} is still in progress after {timeout:g} s; "
                                "call job.wait() again or job.result() later")
            time.sleep(poll)
            self.refresh()
        return self

    def _save(self, parts: list[RemoteBatch]) -> None:
        counts = _counts(parts, self.counts["requests"])
        status = _job_status(parts)
        self._store.update_job(self.provider, self.id, status=status, counts=counts,
                               meta={"parts": [part.as_record() for part in parts]})
        job = self._store.job(self.provider, self.id)
        assert job is not None
        self._job = job

    # ------------------------------------------------------------------ the answers

    def result(self, *, prices: Mapping[str, list[float]] | None = None) -> pd.DataFrame:
        """The answers as `map`'s DataFrame: one row per input row, typed columns, `_error`; costed at the batch price."""
        if self.status == "in_progress":
            self.refresh()
        if self.status == "in_progress":
            counts = self.counts
            raise UserError(f"Batch job {self.id} is still in progress ({counts['succeeded'] + counts['failed']} of "
                            f"{counts['requests']} requests done): call job.result() later, or job.wait() first")
        agent = self._agent_for_result()
        request_of_row: list[int] = self._meta["request_of_row"]
        first_row = _first_rows(request_of_row)
        answers = BatchAnswers(agent, self._output_type, self._protocol(), self._store, self._meta["keys"])
        answers.from_cache(self._meta["cached"])
        prompts = self._prompts
        run_coroutine_sync(answers.read(self._parts, lambda number: prompts[first_row[number]] if prompts else ""))
        problem = next((part.problem for part in self._parts if part.problem), None)
        frame, failed = answers.frame(request_of_row, self._result_index(),
                                      problem or f"no answer: the batch {self.status} before this row was answered")
        cost = self._cost(answers.tokens_in, answers.tokens_out, prices or {})
        frame.attrs["nbagent"] = {
            "rows": len(request_of_row), "requests sent": self.counts["requests"],
            "cache hits": answers.cache_hits, "duplicates folded": len(request_of_row) - len(first_row),
            "failed rows": failed, "tokens in": answers.tokens_in, "tokens out": answers.tokens_out,
            "cost": None if cost is None else float(cost), "price": "batch", "batch job": self.id,
            "batches": self.batch_ids,
        }
        return frame

    def _agent_for_result(self) -> Agent[Any, Any]:
        if self._agent is not None:
            return self._agent
        if self._meta.get("output") != "str":
            raise UserError(f"Batch job {self.id} asked for {self._meta.get('output')} output; read it with "
                            f"agent.batch_job({self.id!r}).result() on an agent with that output_type")
        return Agent(_model(self.model, self._meta["base_url"]))

    def _result_index(self) -> pd.Index:
        if self._index is not None:
            return self._index
        values = self._meta.get("index")
        return pd.RangeIndex(self._meta["rows"]) if values is None else pd.Index(values)

    def _cost(self, tokens_in: int, tokens_out: int, prices: Mapping[str, list[float]]) -> Decimal | None:
        price = batch_price_of(self.model, price_of(self.model, prices))
        return None if price is None else price.cost(tokens_in, tokens_out)


def batch_jobs(cache: Any = True) -> list[BatchJob]:
    """Every batch job recorded in the cache database, newest first (as last read; `job.refresh()` reads it now)."""
    store = MapStore.for_cache(cache)
    return [BatchJob(job, store) for job in store.jobs()]


def batch_job(agent: Agent[Any, Any], job_id: str, *, output_type: Any = None, cache: Any = True) -> BatchJob:
    """A recorded job bound to this agent, so `result()` validates with its output type (after a restart)."""
    store = MapStore.for_cache(cache)
    for job in store.jobs():
        if job["id"] == job_id or job_id in [part["id"] for part in job["meta"].get("parts", [])]:
            wanted = _output_name(agent, output_type)
            if wanted != job["meta"].get("output"):
                raise UserError(f"Batch job {job_id} was submitted for {job['meta'].get('output')} output, "
                                f"this agent gives {wanted}: pass output_type=... or use the agent that submitted it")
            return BatchJob(job, store, agent=agent, output_type=output_type)
    raise UserError(f"No batch job {job_id!r} is recorded in this cache; nbagent.batch_jobs() lists them")


def _job_status(parts: list[RemoteBatch]) -> str:
    if not all(part.done for part in parts):
        return "in_progress"
    statuses = {_ended_as(part) for part in parts}
    for status in ("failed", "expired", "cancelled"):
        if status in statuses:
            return status
    return "completed"


def _ended_as(part: RemoteBatch) -> str:
    if part.status == "ended":  # Anthropic says how rows ended only in the counts
        return "cancelled" if part.failed and not part.succeeded else "completed"
    return part.status


def _first_rows(request_of_row: list[int]) -> dict[int, int]:
    """The first row of each request (the one whose prompt it was built from)."""
    return {request: row for row, request in reversed(list(enumerate(request_of_row)))}


def _counts(parts: list[RemoteBatch], sent: int) -> dict[str, int]:
    """Requests sent, succeeded, failed (errored, expired or cancelled) and still processing, over every batch."""
    return {"requests": sent, "succeeded": sum(part.succeeded for part in parts),
            "failed": sum(part.failed for part in parts), "processing": sum(part.processing for part in parts)}


def _model(label: str, base_url: str) -> HTTPModel:
    """The model a recorded job ran on, at the address it was sent to (the key is read from the environment)."""
    provider, _, name = label.partition(":")  # jobs are only ever recorded for these two
    return AnthropicModel(name, base_url=base_url) if provider == "anthropic" else OpenAIModel(name, base_url=base_url)


def _output_name(agent: Agent[Any, Any], output_type: Any) -> str:
    spec = agent.output_type if output_type is None else output_type
    return getattr(spec, "__qualname__", None) or repr(spec)


def _index_json(index: pd.Index) -> list[Any] | None:
    """The index as JSON when its values are plain ints and strings; None for a default range index."""
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return None
    values = index.tolist()
    if all(isinstance(value, (int, str)) and not isinstance(value, bool) for value in values):
        return values
    return None  # kept in memory by this job; after a restart the result has a position index
