"""How a running map reports itself: `MapProgress` snapshots, and the text line on stderr.

`progress=True` writes a text line to stderr (rewritten in place on a terminal, at most 4 times a
second; elsewhere a line at most every 10 seconds, and always at the end); `progress=False` nothing; a
callable gets a `MapProgress` at most 4 times a second and once at the end (the notebook's widget).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, TextIO

from ..errors import UserError

TICK = 0.25  # seconds between snapshots handed to a progress callable


@dataclass(frozen=True)
class MapProgress:
    """Where a map is: rows done (answered from the cache, by a request, or failed) of `total`, and so on."""

    done: int
    total: int
    errors: int
    cache_hits: int
    in_flight: int
    rows_per_s: float
    eta_s: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    elapsed_s: float

    def line(self) -> str:
        """One line of text: `412/1,000 rows · 3 errors · 38 cached · 21.4 rows/s · ETA 27 s · ...`."""
        parts = [f"{self.done:,}/{self.total:,} rows"]
        if self.errors:
            parts.append(f"{self.errors:,} error{'s' if self.errors != 1 else ''}")
        if self.cache_hits:
            parts.append(f"{self.cache_hits:,} cached")
        parts.append(f"{self.rows_per_s:.1f} rows/s")
        if self.eta_s is not None and self.done < self.total:
            parts.append(f"ETA {format_seconds(self.eta_s)}")
        parts.append(f"{self.tokens_in:,} tokens in, {self.tokens_out:,} out")
        if self.cost_usd is not None:
            parts.append(f"${self.cost_usd:.4f}")
        parts.append(format_seconds(self.elapsed_s))
        return " · ".join(parts)


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class TextProgress:
    """The text line on a stream (stderr): in place on a terminal, else now and then."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._every = TICK if self.interactive else 10.0
        self._last = 0.0

    def __call__(self, progress: MapProgress, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self._every:
            return
        self._last = now
        if self.interactive:
            self.stream.write("\r\x1b[2K" + progress.line() + ("\n" if final else ""))
        else:
            self.stream.write(progress.line() + "\n")
        self.stream.flush()


def progress_reporter(progress: Any) -> Callable[[MapProgress, bool], None] | None:
    """What `progress=` asks for, as a function of (snapshot, final)."""
    if progress is True:
        return TextProgress()
    if progress is False or progress is None:
        return None
    if callable(progress):
        return lambda snapshot, final: progress(snapshot)
    raise UserError(f"progress must be True, False or a function taking a MapProgress, got {type(progress).__name__}")
