"""The providers' batch engines on the wire: OpenAI's Batch API and Anthropic's Message Batches.

Each row's request body is exactly what the live path sends for it (the model's own `_body`, not
streamed), so a batch answers what `agent.map` would have. A job may need several provider batches
(OpenAI: 50,000 requests or 200 MB per input file; Anthropic: 100,000 requests or 256 MB per batch);
`parts()` splits the lines by both counts. What comes back is read per line, keyed by `custom_id`:
an answer body, or a one-line reason it has none (errored, expired, cancelled).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, ClassVar

from .. import _http
from ..errors import UnexpectedModelBehavior, UserError
from ..models.anthropic import AnthropicModel
from ..models.http import HTTPModel
from ..models.openai import OpenAIModel
from ..settings import ModelSettings

Line = tuple[str, dict[str, Any]]  # (custom_id, request body)


@dataclass
class RemoteBatch:
    """One provider batch as last read: its status in the provider's words, whether it can change
    still, its counts, and where its results are once it ended."""

    id: str
    status: str
    done: bool
    succeeded: int = 0
    failed: int = 0
    processing: int = 0
    results: list[str] = field(default_factory=list)  # file ids (OpenAI) or the results URL (Anthropic)
    problem: str | None = None  # why the whole batch failed, when it did

    def as_record(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "done": self.done, "succeeded": self.succeeded,
                "failed": self.failed, "processing": self.processing, "results": self.results,
                "problem": self.problem}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "RemoteBatch":
        return cls(**record)


@dataclass
class LineResult:
    """What a batch says about one request: its answer body, or why there is none."""

    custom_id: str
    body: dict[str, Any] | None
    error: str | None = None


class BatchProtocol(ABC):
    """One provider's batch endpoints, spoken with the model's key, base URL and settings."""

    provider: ClassVar[str]
    max_requests: ClassVar[int]
    max_bytes: ClassVar[int]

    def __init__(self, model: HTTPModel, settings: ModelSettings) -> None:
        self.model = model
        self.settings = settings

    def parts(self, lines: list[Line]) -> list[list[Line]]:
        """The lines split into batches under both the request and the byte limit, in order."""
        parts: list[list[Line]] = [[]]
        size = 0
        for line in lines:
            line_size = len(self.encode(line))
            if line_size > self.max_bytes:
                raise UserError(f"Row {line[0]}: its request is {line_size:,} bytes, over the "
                                f"{self.provider} batch limit of {self.max_bytes:,}")
            if len(parts[-1]) >= self.max_requests or size + line_size > self.max_bytes:
                parts.append([])
                size = 0
            parts[-1].append(line)
            size += line_size
        return [part for part in parts if part]

    @abstractmethod
    def encode(self, line: Line) -> bytes:
        """The line as the provider's batch input holds it (its size counts against the limit)."""

    @abstractmethod
    async def submit(self, lines: list[Line]) -> RemoteBatch:
        """Create one batch of these lines."""

    @abstractmethod
    async def read(self, batch_id: str) -> RemoteBatch:
        """The batch's current state."""

    @abstractmethod
    async def cancel(self, batch_id: str) -> RemoteBatch:
        """Ask the provider to stop the batch; rows already answered stay answered."""

    @abstractmethod
    def results(self, batch: RemoteBatch) -> AsyncIterator[LineResult]:
        """Every line the ended batch reports on."""

    # ------------------------------------------------------------------ HTTP

    def _headers(self, *, form: bool = False) -> dict[str, str]:
        headers = self.model._headers(self.settings)
        if form:
            del headers["content-type"]  # httpx sets the multipart boundary
        return headers

    async def _send(self, method: str, url: str, **body: Any) -> Any:
        """One call with the shared retries; the JSON answer."""
        response = await _http.send(self.model.label, method, url, headers=self._headers(form="files" in body),
                                    settings=self.settings, **body)
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        try:
            return json.loads(raw)
        except ValueError:
            raise UnexpectedModelBehavior(f"{self.model.label}: {method} {url} did not answer JSON: "
                                          f"{raw[:120].decode(errors='replace')!r}") from None

    async def _lines(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """A JSONL download, a line at a time (result files can be large); a line that is not a result
        is a one-line error naming the file and the line.

        The response is closed before its line iterator, as in models/http.py: closed the other way
        round, httpx's inner iterators are left to the garbage collector and, where no loop finalises
        async generators (nest-asyncio's patched loops), keep the connection taken."""
        response = await _http.send(self.model.label, "GET", url, headers=self._headers(), settings=self.settings)
        lines = response.aiter_lines()
        try:
            number = 0
            async for text in lines:
                number += 1
                if text.strip():
                    yield _result_line(text, url, number, self.model.label)
        finally:
            await response.aclose()
            await lines.aclose()


class OpenAIBatches(BatchProtocol):
    """OpenAI's Batch API: a JSONL input file uploaded with purpose `batch`, a batch over it, output and
    error files read back."""

    provider = "openai"
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024
    endpoint = "/v1/chat/completions"

    def encode(self, line: Line) -> bytes:
        custom_id, body = line
        return json.dumps({"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": body},
                          separators=(",", ":"), ensure_ascii=False).encode() + b"\n"

    async def submit(self, lines: list[Line]) -> RemoteBatch:
        content = b"".join(self.encode(line) for line in lines)
        upload = await self._send("POST", self.model.base_url + "/files", data={"purpose": "batch"},
                                  files={"file": ("nbagent-batch.jsonl", content, "application/jsonl")})
        created = await self._send("POST", self.model.base_url + "/batches", json={
            "input_file_id": upload["id"], "endpoint": self.endpoint, "completion_window": "24h"})
        return self._remote(created)

    async def read(self, batch_id: str) -> RemoteBatch:
        return self._remote(await self._send("GET", f"{self.model.base_url}/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> RemoteBatch:
        return self._remote(await self._send("POST", f"{self.model.base_url}/batches/{batch_id}/cancel"))

    def _remote(self, data: dict[str, Any]) -> RemoteBatch:
        counts = data.get("request_counts") or {}
        status = str(data["status"])
        done = status in ("completed", "failed", "expired", "cancelled")
        problem = None
        errors = (data.get("errors") or {}).get("data") or []
        if errors:
            problem = "; ".join(str(error.get("message") or error.get("code")) for error in errors)
        total, completed, failed = (int(counts.get(name) or 0) for name in ("total", "completed", "failed"))
        return RemoteBatch(id=str(data["id"]), status=status, done=done, succeeded=completed, failed=failed,
                           processing=0 if done else max(0, total - completed - failed),
                           results=[file for file in (data.get("output_file_id"), data.get("error_file_id")) if file],
                           problem=problem)

    async def results(self, batch: RemoteBatch) -> AsyncIterator[LineResult]:
        for file_id in batch.results:
            async for item in self._lines(f"{self.model.base_url}/files/{file_id}/content"):
                response, error = item.get("response") or {}, item.get("error")
                status = response.get("status_code")
                if status == 200 and isinstance(response.get("body"), dict):
                    yield LineResult(item["custom_id"], response["body"])
                elif error:
                    yield LineResult(item["custom_id"], None, f"{error.get('code')}: {error.get('message')}")
                else:
                    yield LineResult(item["custom_id"], None, f"HTTP {status}: {_error_message(response.get('body'))}")


class AnthropicBatches(BatchProtocol):
    """Anthropic's Message Batches: the requests in one JSON body, results as JSONL from `results_url`."""

    provider = "anthropic"
    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024

    def encode(self, line: Line) -> bytes:
        custom_id, body = line
        return json.dumps({"custom_id": custom_id, "params": body}, separators=(",", ":"),
                          ensure_ascii=False).encode() + b","

    async def submit(self, lines: list[Line]) -> RemoteBatch:
        created = await self._send("POST", self._url(), json={
            "requests": [{"custom_id": custom_id, "params": body} for custom_id, body in lines]})
        return self._remote(created)

    async def read(self, batch_id: str) -> RemoteBatch:
        return self._remote(await self._send("GET", self._url(batch_id)))

    async def cancel(self, batch_id: str) -> RemoteBatch:
        return self._remote(await self._send("POST", self._url(batch_id, "cancel")))

    def _url(self, *path: str) -> str:
        return "/".join([self.model.base_url + "/v1/messages/batches", *path])

    def _remote(self, data: dict[str, Any]) -> RemoteBatch:
        counts = data.get("request_counts") or {}
        status = str(data["processing_status"])
        failed = sum(int(counts.get(name) or 0) for name in ("errored", "canceled", "expired"))
        return RemoteBatch(id=str(data["id"]), status=status, done=status == "ended",
                           succeeded=int(counts.get("succeeded") or 0), failed=failed,
                           processing=int(counts.get("processing") or 0),
                           results=[data["results_url"]] if data.get("results_url") else [])

    async def results(self, batch: RemoteBatch) -> AsyncIterator[LineResult]:
        for url in batch.results:
            async for item in self._lines(url):
                result = item.get("result") or {}
                kind = result.get("type")
                if kind == "succeeded" and isinstance(result.get("message"), dict):
                    yield LineResult(item["custom_id"], result["message"])
                elif kind == "errored":
                    yield LineResult(item["custom_id"], None, f"errored: {_error_message(result.get('error'))}")
                else:
                    yield LineResult(item["custom_id"], None, f"{kind}: the batch ended before this row was answered")


def protocol_for(model: Any, settings: ModelSettings) -> BatchProtocol:
    """The batch engine behind this model, or a one-line error for a model that has none here."""
    if isinstance(model, AnthropicModel):
        return AnthropicBatches(model, settings)
    if isinstance(model, OpenAIModel) and model.system == "openai":
        return OpenAIBatches(model, settings)
    label = getattr(model, "label", repr(model))
    raise UserError(f"Batch jobs run on OpenAI's Batch API or Anthropic's Message Batches; {label} has neither "
                    "here: use agent.map(...) for it, or an openai: / anthropic: model")


def _error_message(body: Any) -> str:
    """The message of a provider error body, either protocol's shape."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            inner = error.get("error") if isinstance(error.get("error"), dict) else error
            return str(inner.get("message") or inner.get("type") or inner)
    return str(body)[:200]


def _result_line(text: str, url: str, number: int, label: str) -> dict[str, Any]:
    """One line of a batch's results: a JSON object with the `custom_id` that names its row."""
    try:
        item = json.loads(text)
    except ValueError:
        item = None
    if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
        raise UnexpectedModelBehavior(f"{label}: line {number} of the batch results at {url} is not a result: "
                                      f"{text[:80]!r} (the answers before it are committed to the map cache)")
    return item
