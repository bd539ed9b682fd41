"""The providers' batch endpoints, played by the loopback server (tests/provider_server.py), as documented.

OpenAI Batch API (base URL ``server.openai_base_url``):
  ``POST /v1/files`` (multipart: ``purpose=batch``, ``file`` = JSONL, one request per line with a
  ``custom_id``, ``method``, ``url``, ``body``), ``POST /v1/batches`` (``input_file_id``, ``endpoint``,
  ``completion_window``), ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``,
  ``GET /v1/files/{id}/content`` (the output and error files: JSONL lines ``{id, custom_id, response:
  {status_code, request_id, body}, error}``).
Anthropic Message Batches (base URL ``server.anthropic_base_url``):
  ``POST /v1/messages/batches`` (``{"requests": [{custom_id, params}]}``), ``GET /v1/messages/batches/{id}``,
  ``POST /v1/messages/batches/{id}/cancel``, ``GET`` its ``results_url`` (JSONL lines ``{custom_id, result:
  {type: succeeded | errored | canceled | expired, ...}}``).

A batch moves one step each time it is read (OpenAI: validating → in_progress → finalizing → completed;
Anthropic: in_progress → ended), unless ``hold()`` keeps it where it is. Its rows are answered when it
finishes, each as the live endpoint would answer the same body (the echo by default), or by
``answer(custom_id, body)`` returning a scripted Reply (``openai_json``, ``anthropic_json``, ``error``).
Rows named in ``expire`` end expired instead (the batch then ends ``expired`` on OpenAI).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from provider_server import RecordedRequest, Reply

OPENAI_MAX_REQUESTS = 50_000  # per input file, as documented
OPENAI_MAX_BYTES = 200 * 1024 * 1024
ANTHROPIC_MAX_REQUESTS = 100_000
ANTHROPIC_MAX_BYTES = 256 * 1024 * 1024
CHAT_ENDPOINT = "/v1/chat/completions"
_ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_OPENAI_STEPS = {"validating": "in_progress", "in_progress": "finalizing", "finalizing": "completed",
                 "cancelling": "cancelled"}

Answer = Callable[[str, dict[str, Any]], Optional["Reply"]]


@dataclass
class Batch:
    """One batch as the server keeps it."""

    id: str
    anthropic: bool
    requests: list[tuple[str, dict[str, Any]]]
    status: str
    created_at: float = field(default_factory=time.time)
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    outcomes: dict[str, tuple[str, int, Any]] = field(default_factory=dict)  # custom_id -> (kind, status, body)
    cancelled: bool = False


class Batches:
    """The batch endpoints' state: uploaded files, batches, and how their rows are answered."""

    def __init__(self, server_url: Callable[[], str]) -> None:
        self._url = server_url
        self._lock = threading.Lock()
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (filename, content)
        self.batches: dict[str, Batch] = {}
        self.answer: Answer | None = None
        self.expire: set[str] = set()
        self._held = False
        self.openai_max_requests, self.openai_max_bytes = OPENAI_MAX_REQUESTS, OPENAI_MAX_BYTES
        self.anthropic_max_requests, self.anthropic_max_bytes = ANTHROPIC_MAX_REQUESTS, ANTHROPIC_MAX_BYTES

    def reset(self) -> None:
        with self._lock:
            self.files.clear()
            self.batches.clear()
            self.answer, self.expire, self._held = None, set(), False
            self.openai_max_requests, self.openai_max_bytes = OPENAI_MAX_REQUESTS, OPENAI_MAX_BYTES
            self.anthropic_max_requests, self.anthropic_max_bytes = ANTHROPIC_MAX_REQUESTS, ANTHROPIC_MAX_BYTES

    def hold(self, held: bool = True) -> None:
        """Keep every batch in its current state when read (until `hold(False)`)."""
        self._held = held

    @staticmethod
    def owns(path: str) -> bool:
        return path.startswith(("/v1/files", "/v1/batches", "/v1/messages/batches"))

    # ------------------------------------------------------------------ routing

    def route(self, req: RecordedRequest) -> Reply | None:
        """The reply to a batch endpoint request, or None when the path is not one."""
        path, method = req.path.rstrip("/"), req.method
        parts = path.split("/")[1:]  # "v1", ...
        with self._lock:
            if path == "/v1/files" and method == "POST":
                return self._upload(req)
            if len(parts) == 4 and parts[1] == "files" and parts[3] == "content" and method == "GET":
                return self._file_content(parts[2])
            if path == "/v1/batches" and method == "POST":
                return self._create_openai(req)
            if path == "/v1/messages/batches" and method == "POST":
                return self._create_anthropic(req)
            anthropic = parts[1:3] == ["messages", "batches"]
            rest = parts[3:] if anthropic else parts[2:]
            if (anthropic or parts[1:2] == ["batches"]) and rest:
                batch = self.batches.get(rest[0])
                if batch is None or batch.anthropic != anthropic:
                    return _error(404, f"No batch found with id {rest[0]!r}", anthropic, "not_found_error")
                if len(rest) == 1 and method == "GET":
                    self._advance(batch)
                    return _json(self._view(batch))
                if rest[1:] == ["cancel"] and method == "POST":
                    return self._cancel(batch)
                if rest[1:] == ["results"] and method == "GET" and anthropic:
                    return self._anthropic_results(batch)
        return None

    # ------------------------------------------------------------------ OpenAI

    def _upload(self, req: RecordedRequest) -> Reply:
        fields = _multipart(req)
        if fields is None:
            return _error(400, "The request must be multipart/form-data with a file and a purpose", False)
        if fields.get("purpose", (None, b""))[1] != b"batch":
            return _error(400, "This test server takes files with purpose 'batch'", False)
        if "file" not in fields:
            return _error(400, "Missing the 'file' field", False)
        filename, content = fields["file"]
        file_id = _new("file-")
        self.files[file_id] = (filename or "upload.jsonl", content)
        return _json({"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                      "filename": filename, "purpose": "batch", "status": "processed"})

    def _create_openai(self, req: RecordedRequest) -> Reply:
        body = req.json if isinstance(req.json, dict) else {}
        if body.get("endpoint") != CHAT_ENDPOINT:
            return _error(400, f"endpoint must be {CHAT_ENDPOINT!r} here, got {body.get('endpoint')!r}", False)
        if body.get("completion_window") != "24h":
            return _error(400, "completion_window must be '24h'", False)
        file = self.files.get(str(body.get("input_file_id")))
        if file is None:
            return _error(404, f"No such File object: {body.get('input_file_id')}", False)
        batch = Batch(_new("batch_"), False, [], "validating", input_file_id=str(body["input_file_id"]))
        problem = self._read_input(file[1], batch)
        if problem:
            batch.status = "failed"
            batch.outcomes = {"__errors__": ("failed", 400, problem)}
        self.batches[batch.id] = batch
        return _json(self._view(batch))

    def _read_input(self, content: bytes, batch: Batch) -> str | None:
        """Validate the JSONL input as the Batch API does; the first problem, or None."""
        if len(content) > self.openai_max_bytes:
            return f"the input file is over {self.openai_max_bytes} bytes"
        lines = content.decode("utf-8").splitlines()
        if len(lines) > self.openai_max_requests:
            return f"the input file has {len(lines)} requests, over {self.openai_max_requests}"
        models, seen = set(), set()
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
            except ValueError:
                return f"line {number} is not JSON"
            if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
                return f"line {number} has no custom_id"
            if item["custom_id"] in seen:
                return f"line {number}: duplicate custom_id {item['custom_id']!r}"
            if item.get("method") != "POST" or item.get("url") != CHAT_ENDPOINT:
                return f"line {number}: method and url must be POST {CHAT_ENDPOINT}"
            if not isinstance(item.get("body"), dict):
                return f"line {number} has no body"
            seen.add(item["custom_id"])
            models.add(item["body"].get("model"))
            batch.requests.append((item["custom_id"], item["body"]))
        if len(models) > 1:
            return "every request of a batch file must use the same model"
        return None

    def _file_content(self, file_id: str) -> Reply:
        file = self.files.get(file_id)
        if file is None:
            return _error(404, f"No such File object: {file_id}", False)
        from provider_server import raw

        return raw(200, file[1], {"Content-Type": "application/octet-stream"})

    # ------------------------------------------------------------------ Anthropic

    def _create_anthropic(self, req: RecordedRequest) -> Reply:
        if len(req.body) > self.anthropic_max_bytes:
            return _error(413, f"the batch is over {self.anthropic_max_bytes} bytes", True, "request_too_large")
        body = req.json if isinstance(req.json, dict) else {}
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return _error(400, "requests: a list of at least one request is required", True)
        if len(requests) > self.anthropic_max_requests:
            return _error(400, f"requests: at most {self.anthropic_max_requests} items", True)
        batch = Batch(_new("msgbatch_"), True, [], "in_progress")
        for item in requests:
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not _ANTHROPIC_CUSTOM_ID.match(custom_id):
                return _error(400, f"custom_id must match {_ANTHROPIC_CUSTOM_ID.pattern}, got {custom_id!r}", True)
            if any(custom_id == seen for seen, _ in batch.requests):
                return _error(400, f"duplicate custom_id {custom_id!r}", True)
            if not isinstance(item.get("params"), dict) or "max_tokens" not in item["params"]:
                return _error(400, f"{custom_id}: params.max_tokens: Field required", True)
            batch.requests.append((custom_id, item["params"]))
        self.batches[batch.id] = batch
        return _json(self._view(batch))

    def _anthropic_results(self, batch: Batch) -> Reply:
        if batch.status != "ended":
            return _error(400, f"Message Batch {batch.id} has not yet ended", True)
        lines = []
        for custom_id, _ in batch.requests:
            kind, status, body = batch.outcomes[custom_id]
            result: dict[str, Any] = {"type": kind}
            if kind == "succeeded":
                result["message"] = body
            elif kind == "errored":
                result["error"] = body
            lines.append({"custom_id": custom_id, "result": result})
        from provider_server import raw

        return raw(200, b"".join(_line(item) for item in lines), {"Content-Type": "application/binary"})

    # ------------------------------------------------------------------ both

    def _advance(self, batch: Batch) -> None:
        if self._held:
            return
        if batch.anthropic:
            if batch.status in ("in_progress", "canceling"):
                self._finish(batch)
                batch.status = "ended"
            return
        following = _OPENAI_STEPS.get(batch.status)
        if following is None:
            return
        if following in ("completed", "cancelled"):
            self._finish(batch)
            if following == "completed" and any(kind == "expired" for kind, _, _ in batch.outcomes.values()):
                following = "expired"
            self._write_openai_files(batch)
        batch.status = following

    def _cancel(self, batch: Batch) -> Reply:
        if batch.anthropic:
            if batch.status == "in_progress":
                batch.status, batch.cancelled = "canceling", True
        elif batch.status in ("validating", "in_progress", "finalizing"):
            batch.status, batch.cancelled = "cancelling", True
        return _json(self._view(batch))

    def _finish(self, batch: Batch) -> None:
        """Answer every row (a cancelled batch answers none)."""
        from provider_server import ANTHROPIC_MESSAGES_PATH, OPENAI_CHAT_PATH, RecordedRequest, echo

        for custom_id, body in batch.requests:
            if batch.cancelled:
                batch.outcomes[custom_id] = ("canceled", 0, None)
                continue
            if custom_id in self.expire:
                batch.outcomes[custom_id] = ("expired", 0, None)
                continue
            reply = (self.answer(custom_id, body) if self.answer else None) or echo()
            path = ANTHROPIC_MESSAGES_PATH if batch.anthropic else OPENAI_CHAT_PATH
            req = RecordedRequest("POST", path, {}, json.dumps(body).encode(), body)
            status, answer = _played(reply, req)
            if status == 200:
                batch.outcomes[custom_id] = ("succeeded", 200, answer)
            else:
                batch.outcomes[custom_id] = ("errored", status, answer)

    def _write_openai_files(self, batch: Batch) -> None:
        output, errors = [], []
        for custom_id, _ in batch.requests:
            kind, status, body = batch.outcomes[custom_id]
            line: dict[str, Any] = {"id": _new("batch_req_"), "custom_id": custom_id, "response": None, "error": None}
            if kind in ("succeeded", "errored"):
                line["response"] = {"status_code": status, "request_id": _new("req_"), "body": body}
            else:
                code, message = (("batch_expired", "This request could not be executed before the completion "
                                                   "window expired.") if kind == "expired" else
                                 ("batch_cancelled", "This request was cancelled with its batch."))
                line["error"] = {"code": code, "message": message}
            (output if kind == "succeeded" else errors).append(line)
        if output:
            batch.output_file_id = _new("file-")
            self.files[batch.output_file_id] = ("output.jsonl", b"".join(map(_line, output)))
        if errors:
            batch.error_file_id = _new("file-")
            self.files[batch.error_file_id] = ("errors.jsonl", b"".join(map(_line, errors)))

    def _view(self, batch: Batch) -> dict[str, Any]:
        """The batch object as GET returns it."""
        kinds = [batch.outcomes[custom_id][0] for custom_id, _ in batch.requests if custom_id in batch.outcomes]
        created = int(batch.created_at)
        if batch.anthropic:
            ended = batch.status == "ended"
            return {
                "id": batch.id, "type": "message_batch", "processing_status": batch.status,
                "request_counts": {"processing": len(batch.requests) - len(kinds),
                                   **{kind: kinds.count(kind) for kind in ("succeeded", "errored", "canceled", "expired")}},
                "ended_at": _rfc3339(time.time()) if ended else None, "created_at": _rfc3339(created),
                "expires_at": _rfc3339(created + 86400), "archived_at": None,
                "cancel_initiated_at": _rfc3339(time.time()) if batch.cancelled else None,
                "results_url": f"{self._url()}/v1/messages/batches/{batch.id}/results" if ended else None,
            }
        errors = None
        if batch.status == "failed":
            errors = {"object": "list", "data": [{"code": "invalid_input", "message": batch.outcomes["__errors__"][2],
                                                   "param": None, "line": None}]}
        return {
            "id": batch.id, "object": "batch", "endpoint": CHAT_ENDPOINT, "errors": errors,
            "input_file_id": batch.input_file_id, "completion_window": "24h", "status": batch.status,
            "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id, "created_at": created,
            "request_counts": {"total": len(batch.requests), "completed": kinds.count("succeeded"),
                               "failed": len(kinds) - kinds.count("succeeded")},
            "metadata": None,
        }


# ---------------------------------------------------------------------- helpers


_counter = iter(range(1, 1 << 62))


def _new(prefix: str) -> str:
    return f"{prefix}nbagent{next(_counter):06d}"


def _line(item: Any) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _json(body: dict[str, Any]) -> Reply:
    from provider_server import raw

    return raw(200, _line(body)[:-1], {"Content-Type": "application/json"})


def _error(status: int, message: str, anthropic: bool, kind: str = "invalid_request_error") -> Reply:
    from provider_server import raw

    body = ({"type": "error", "error": {"type": kind, "message": message}} if anthropic else
            {"error": {"message": message, "type": kind, "param": None, "code": None}})
    return raw(status, _line(body)[:-1], {"Content-Type": "application/json"})


def _played(reply: Reply, req: RecordedRequest) -> tuple[int, Any]:
    """What a scripted whole-body reply would have answered the live endpoint: (status, JSON body)."""
    from provider_server import _BodyReply, _EchoReply, anthropic_json, last_user_text, openai_json

    if isinstance(reply, _EchoReply):
        text = "Echo: " + last_user_text(req.json)
        reply = anthropic_json(text, model=None) if req.is_anthropic else openai_json(text, model=None)
    if not isinstance(reply, _BodyReply):
        raise TypeError(f"a batch row is answered by a whole-body reply (openai_json, error, ...), not {reply!r}")
    body = reply.body(req) if callable(reply.body) else reply.body
    return reply.status, json.loads(body)


def _multipart(req: RecordedRequest) -> dict[str, tuple[str | None, bytes]] | None:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    content_type = req.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + req.body)
    if not message.is_multipart():
        return None
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields
