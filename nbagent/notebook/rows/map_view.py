"""What a `%%ask --each` cell shows: its progress while the map runs, then one summary line.

The progress is the latest `MapProgress` snapshot, shown only when it changed and at most four times a
second (the cell's thread polls; the map's loop only hands snapshots over): a progress bar and a line of
numbers where the user sits at a frontend, a plain-text output updated in place in a kernel nobody
clicks in (`jupyter execute`: the saved notebook keeps the last line), a line on stderr in a terminal.
At the end each is replaced by the summary line, so no widget state is saved with the notebook.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from IPython.display import display

if TYPE_CHECKING:  # the row map (and pandas) load with the first map, not with the layer
    from ...rowmap.progress import MapProgress


def with_pilot(report: dict[str, Any], estimate: Any) -> dict[str, Any]:
    """The map's report with the estimate's pilot added in: its rows came back from the cache, but its
    requests were sent (and paid) for this map."""
    if estimate is None or not estimate.pilot_requests:
        return report
    added = dict(report, requests_sent=report.get("requests_sent", 0) + estimate.pilot_requests,
                 tokens_in=report.get("tokens_in", 0) + estimate.pilot_tokens_in,
                 tokens_out=report.get("tokens_out", 0) + estimate.pilot_tokens_out,
                 cache_hits=report.get("cache_hits", 0) - estimate.pilot_rows_answered,
                 pilot_rows=estimate.pilot_rows)
    if report.get("cost_usd") is not None and estimate.pilot_cost_usd is not None:
        added["cost_usd"] = report["cost_usd"] + estimate.pilot_cost_usd
    return added


def summary_line(report: dict[str, Any], output: str) -> str:
    """`OUT: 1,000 rows · 12 errors · 38 from the cache · 950 requests · 41,002 → 3,400 tokens · $0.0123 · 48 s`"""
    parts = [f"{output}: {report.get('rows', 0):,} rows"]
    if report.get("errors"):
        parts.append(f"{report['errors']:,} errors (see {output}['_error'])")
    if report.get("not_sent"):
        parts.append(f"{report['not_sent']:,} not sent")
    if report.get("cache_hits"):
        parts.append(f"{report['cache_hits']:,} from the cache")
    pilot = f" ({report['pilot_rows']} for the estimate's pilot)" if report.get("pilot_rows") else ""
    parts.append(f"{report.get('requests_sent', 0):,} requests{pilot}")
    parts.append(f"{report.get('tokens_in', 0):,} → {report.get('tokens_out', 0):,} tokens")
    if report.get("cost_usd") is not None:
        parts.append(f"${report['cost_usd']:.4f}")
    parts.append(f"{report.get('seconds', 0.0):.1f} s")
    line = " · ".join(parts)
    if report.get("stopped"):
        line += f" · stopped early: {report['stopped']} (run the cell again to continue)"
    return line


class ProgressView:
    """Shows a map's latest progress snapshot when it changed, then the summary line in its place."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._shown: MapProgress | None = None

    def show(self, snapshot: MapProgress | None) -> None:
        if snapshot is not None and snapshot != self._shown:
            self.target.show(snapshot)
            self._shown = snapshot

    def end(self, line: str) -> None:
        self.target.end(line)


class ProgressWidget:
    """A progress bar and one line of numbers, where the user sits at a frontend; replaced at the end by
    the summary line (which is what the saved notebook keeps)."""

    def __init__(self) -> None:
        import ipywidgets as widgets  # the layer's own dependency, loaded with the first map shown

        self.bar = widgets.IntProgress(value=0, min=0, max=1, bar_style="info")
        self.label = widgets.HTML("estimated; starting…")
        self.box = widgets.HBox([self.bar, self.label])
        self.box.add_class("nbagent-map-progress")
        self.handle: Any = display(self.box, display_id=True)

    def show(self, snapshot: MapProgress) -> None:
        self.bar.max = max(1, snapshot.total)
        self.bar.value = snapshot.done
        if snapshot.errors:
            self.bar.bar_style = "warning"
        self.label.value = _html_escape(snapshot.line())

    def end(self, line: str) -> None:
        self.handle.update({"text/plain": line}, raw=True)
        self.box.close()


class TextDisplay:
    """The progress line as a plain-text output updated in place (a kernel nobody clicks in)."""

    def __init__(self) -> None:
        self.handle: Any = display({"text/plain": "starting…"}, raw=True, display_id=True)
        self._last = 0.0

    def show(self, snapshot: MapProgress) -> None:
        now = time.monotonic()
        if now - self._last >= 1.0:  # a saved notebook keeps only the last one; no need to hurry
            self.handle.update({"text/plain": snapshot.line()}, raw=True)
            self._last = now

    def end(self, line: str) -> None:
        self.handle.update({"text/plain": line}, raw=True)


class TextLine:
    """The progress line on stderr, rewritten in place (a terminal)."""

    def show(self, snapshot: MapProgress) -> None:
        sys.stderr.write("\r\x1b[2K" + snapshot.line())
        sys.stderr.flush()

    def end(self, line: str) -> None:
        sys.stderr.write("\r\x1b[2K")
        print(f"nbagent: {line}")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
