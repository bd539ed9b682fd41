"""The one table every measurement adds rows to: a value, its baseline, the ratio, the target, met.

Rows and notes are collected while the measurements run and printed together at the end, so that
the progress lines on stderr never interleave with the table. A row with a target says whether it was
met: "yes", "NO", or "n/a" when the run could not measure it (never "yes" for that);
`python -m benchmarks --check` fails on any "NO".
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


MET, MISSED, UNMEASURED = "yes", "NO", "n/a"


def met(ok: bool | None) -> str:
    """The "met" cell of a row with a target: None when the run could not measure it."""
    return UNMEASURED if ok is None else MET if ok else MISSED


@dataclass
class Row:
    what: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""


ROWS: list[Row] = []
NOTES: list[str] = []


def ratio_row(what: str, value: float, base: float, base_name: str, *, limit: float | None = None) -> float:
    ratio = value / base
    ROWS.append(
        Row(
            what,
            fmt(value),
            f"{base_name} {fmt(base)}",
            f"{ratio:.2f}x",
            f"<= {limit:g}x" if limit else "",
            met(ratio <= limit) if limit else "",
        )
    )
    return ratio


def contender_rows(what: str, seconds: dict[str, float], baseline: str, base_name: str, *, limit: float) -> None:
    """A ratio row per contender against `baseline`, one of them; only nbagent's row has the limit."""
    for name, value in seconds.items():
        if name != baseline:
            nbagent = name == "nbagent"
            ratio_row(f"{what}: {name}", value, seconds[baseline], base_name, limit=limit if nbagent else None)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def print_table() -> None:
    headers = Row("measurement (medians; client CPU unless said)", "value", "baseline", "ratio", "target", "met")
    rows = [headers, *ROWS]
    columns = ("what", "value", "baseline", "ratio", "target", "met")
    widths = {c: max(len(getattr(r, c)) for r in rows) for c in columns}
    right = {"value", "ratio"}

    def line(row: Row) -> str:
        cells = [
            getattr(row, c).rjust(widths[c]) if c in right else getattr(row, c).ljust(widths[c]) for c in columns
        ]
        return "  ".join(cells).rstrip()

    print()
    print(line(headers))
    print("  ".join("-" * widths[c] for c in columns))
    for row in ROWS:
        print(line(row))
    for note in NOTES:
        print(f"note: {note}")


def missed_targets() -> list[Row]:
    return [row for row in ROWS if row.met == MISSED]


def check_targets() -> int:
    """For `--check`: a line on the targets; 1 when one was missed, else 0."""
    targets = [row for row in ROWS if row.target]
    missed = missed_targets()
    unmeasured = [row for row in targets if row.met == UNMEASURED]
    print(f"targets: {len(targets) - len(missed) - len(unmeasured)} met, {len(missed)} missed, "
          f"{len(unmeasured)} not measured")
    for row in missed:
        measured = row.value if row.ratio in ("", row.value) else f"{row.value}, {row.ratio}"
        print(f"missed: {row.what}: {measured}, target {row.target}")
    return 1 if missed else 0


def progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)
