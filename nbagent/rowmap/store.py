"""The map's SQLite cache: every finished row's answer committed as it finishes, and the batch jobs.

One file (stdlib sqlite3, WAL journal) in the user's cache directory by default
(`$XDG_CACHE_HOME/nbagent/map.sqlite3`, else `~/.cache/nbagent/map.sqlite3`), or the path given as
`cache=`; `cache=False` keeps answers in memory for the one run (duplicates are still sent once).
Answers are keyed by a hash of everything that decides them (run.py's `request_key`), so a re-run
sends requests only for the rows not answered yet. Failed rows are never stored.

WAL lets two kernels write one file: each write is one short transaction, and a writer waits for the
other up to `BUSY_TIMEOUT`. A file that is not a database (or is damaged) is moved aside with a
one-line note and a fresh one is made; a file another process keeps locked is a one-line note and the
run keeps its answers in memory. Nothing here ever fails a map.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

BUSY_TIMEOUT = 5.0  # seconds a write waits for another process's transaction
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    output TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    model TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    provider TEXT NOT NULL,
    id TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    counts TEXT NOT NULL,
    meta TEXT NOT NULL,
    PRIMARY KEY (provider, id)
);
"""


def default_cache_path() -> Path:
    """`$XDG_CACHE_HOME/nbagent/map.sqlite3`, else `~/.cache/nbagent/map.sqlite3`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbagent" / "map.sqlite3"


@dataclass(frozen=True)
class CachedAnswer:
    """A stored answer: the output as JSON text, and what it cost when it was asked."""

    output: str
    input_tokens: int
    output_tokens: int
    requests: int


class MapStore:
    """The answers (and jobs) table of one cache file, or of memory. Safe to use from one thread at a time
    per call (a lock serialises calls from the map's loop and the notebook's thread)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._db = self._open(path)

    @classmethod
    def for_cache(cls, cache: Any) -> "MapStore":
        """The store `cache=` asks for: True → the default file, a path → that file, False → memory."""
        from ..errors import UserError

        if cache is True:
            return cls(default_cache_path())
        if cache is False or cache is None:
            return cls(None)
        if isinstance(cache, (str, os.PathLike)):
            return cls(Path(cache).expanduser())
        raise UserError(f"cache must be True, False or a file path, got {type(cache).__name__}")

    # ------------------------------------------------------------------ opening, and recovering

    def _open(self, path: Path | None) -> sqlite3.Connection:
        if path is None:
            return self._connect(":memory:")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return self._connect(str(path))
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                self._note(f"the cache file {path} is locked by another process (waited {BUSY_TIMEOUT:g} s); "
                           "this run keeps its answers in memory only")
            else:
                self._note(f"the cache file {path} cannot be opened ({exc}); this run keeps its answers in memory only")
            return self._connect(":memory:")
        except OSError as exc:
            self._note(f"the cache file {path} cannot be opened ({exc.strerror or exc}); "
                       "this run keeps its answers in memory only")
            return self._connect(":memory:")
        except sqlite3.DatabaseError as exc:
            aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.replace(f"{path}{suffix}", f"{aside}{suffix}")
                except OSError:
                    pass
            self._note(f"the cache file {path} was unreadable ({exc}); moved it to {aside.name} and started a fresh one")
            try:
                return self._connect(str(path))
            except sqlite3.Error:
                return self._connect(":memory:")

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            if target != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process; fsync at checkpoints
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.executescript(_SCHEMA)
            if version != SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def _note(self, text: str) -> None:
        self.notes.append(text)

    def _fall_back(self, exc: sqlite3.Error) -> None:
        """A read or write failed mid-run: keep going in memory, saying so once."""
        what = "locked by another process" if _locked(exc) else f"failing ({exc})"
        self._note(f"the cache file {self.path} is {what}; the rest of this run keeps its answers in memory only")
        self.path = None
        try:
            self._db.close()
        except sqlite3.Error:
            pass
        self._db = self._connect(":memory:")

    # ------------------------------------------------------------------ answers

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """The stored answers among `keys` (asked 500 at a time)."""
        found: dict[str, CachedAnswer] = {}
        for batch in _batches(list(keys), 500):
            marks = ",".join("?" * len(batch))
            sql = f"SELECT key, output, input_tokens, output_tokens, requests FROM answers WHERE key IN ({marks})"
            with self._lock:
                try:
                    rows = self._db.execute(sql, batch).fetchall()
                except sqlite3.Error as exc:
                    self._fall_back(exc)
                    return found
            for key, output, input_tokens, output_tokens, requests in rows:
                found[key] = CachedAnswer(output, input_tokens, output_tokens, requests)
        return found

    def put(self, key: str, answer: CachedAnswer, model: str) -> None:
        """Commit one answer now (its own transaction: a crash later cannot lose it)."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO answers (key, output, input_tokens, output_tokens, requests, model, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, answer.output, answer.input_tokens, answer.output_tokens, answer.requests, model, time.time()))
            except sqlite3.Error as exc:
                self._fall_back(exc)
                self._db.execute(
                    "INSERT OR REPLACE INTO answers (key, output, input_tokens, output_tokens, requests, model, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, answer.output, answer.input_tokens, answer.output_tokens, answer.requests, model, time.time()))

    def answer_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    # ------------------------------------------------------------------ batch jobs

    def record_job(self, provider: str, job_id: str, *, model: str, status: str,
                   counts: dict[str, int] | None = None, meta: dict[str, Any] | None = None) -> None:
        """Remember a submitted batch job (its meta: what `result()` needs to rebuild the DataFrame)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (provider, id, model, status, created, updated, counts, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (provider, job_id, model, status, now, now, json.dumps(counts or {}), json.dumps(meta or {})))

    def update_job(self, provider: str, job_id: str, *, status: str | None = None,
                   counts: dict[str, int] | None = None, meta: dict[str, Any] | None = None) -> None:
        """Change a job's status, counts or meta (meta is merged key by key)."""
        job = self.job(provider, job_id)
        if job is None:
            raise KeyError(f"no batch job {provider}:{job_id} in {self.path or 'memory'}")
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = ?, counts = ?, meta = ?, updated = ? WHERE provider = ? AND id = ?",
                (status or job["status"], json.dumps(counts if counts is not None else job["counts"]),
                 json.dumps({**job["meta"], **(meta or {})}), time.time(), provider, job_id))

    def job(self, provider: str, job_id: str) -> dict[str, Any] | None:
        return next(self._jobs("WHERE provider = ? AND id = ?", (provider, job_id)), None)

    def jobs(self) -> list[dict[str, Any]]:
        """Every recorded job, newest first: provider, id, model, status, created, updated, counts, meta."""
        return list(self._jobs("ORDER BY created DESC", ()))

    def _jobs(self, where: str, args: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT provider, id, model, status, created, updated, counts, meta FROM jobs {where}", args).fetchall()
        for provider, job_id, model, status, created, updated, counts, meta in rows:
            yield {"provider": provider, "id": job_id, "model": model, "status": status, "created": created,
                   "updated": updated, "counts": json.loads(counts), "meta": json.loads(meta)}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _locked(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
