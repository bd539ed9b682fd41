"""The benchmarks still run and print their table (a smoke run; no timing is asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_prints_the_ratio_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "stream,structured,run,tool,history"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for row in (
        "stream, CPU per chunk: nbagent",
        "structured stream, CPU per chunk: nbagent",
        "run, CPU per run: nbagent",
        "tool round trip, CPU per run: nbagent",
        "history 1,000 turns, CPU per run: nbagent",
    ):
        assert row in out
    assert "raw httpx" in out and "x  <=" in out  # ratios and targets are printed
