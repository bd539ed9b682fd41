"""The benchmarks still run: every section once at its smallest (`--smoke`), and `--check` fails exactly
when a target is missed. No timing is asserted here: whether a target is met is the benchmark's business,
not a test's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION_ROWS = (
    "stream, CPU per chunk: nbagent",
    "structured stream, CPU per chunk: nbagent",
    "run, CPU per run: nbagent",
    "tool round trip, CPU per run: nbagent",
    "history 1,000 turns, CPU per run: nbagent",
    "history, CPU per extra turn (100 to 1,000): nbagent",
    "%load_ext nbagent: added to a fresh IPython (wall)",
    "kernel %%ask, 20 chunks 10 ms apart: updates",
    "long answer, 100 words: bytes in all",
    "map, CPU per row: agent.map_async(cache=False)",
    "map, wall time of 48 rows at 200 ms, concurrency 16",
    "map, rate achieved under 1,200 requests/min",
    "map offline, 2,000 rows: rows per CPU second",
)
TARGET = re.compile(r"  ([<>]= \S+(?: ms)?|not growing) +(\S+)$")  # a row's last two cells: its target, met


def benchmarks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.timeout(600)  # a kernel, IPython starts and a few hundred runs: slow on a busy machine
def test_every_section_runs_and_check_fails_exactly_on_a_missed_target() -> None:
    done = benchmarks("--smoke", "--check")
    out = done.stdout
    assert "Traceback" not in done.stderr and "targets:" in out, done.stderr[-3000:]
    for row in SECTION_ROWS:
        assert row in out
    rows = [line for line in out.splitlines() if TARGET.search(line)]
    assert len(rows) >= 12  # every target is printed with its verdict
    verdicts = [TARGET.search(line).group(2) for line in rows]
    assert set(verdicts) <= {"yes", "NO", "n/a"}
    for line, verdict in zip(rows, verdicts):
        if " n/a " in line.split("  <=")[0]:  # an unmeasured value is never called met
            assert verdict == "n/a", line
    assert done.returncode == (1 if "NO" in verdicts else 0), out[-3000:]


def test_check_counts_a_missed_target_and_names_it() -> None:
    code = ("from benchmarks.table import ROWS, Row, check_targets, met\n"
            "ROWS.append(Row('kept', '1.00x', ratio='1.00x', target='<= 1.3x', met=met(True)))\n"
            "ROWS.append(Row('unmeasured', 'n/a', target='<= 15/s', met=met(None)))\n"
            "raise SystemExit(check_targets())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "targets: 1 met, 0 missed, 1 not measured\n")
    code = code.replace("raise", "ROWS.append(Row('slow', '2.00x', ratio='2.00x', target='<= 1.5x', met=met(False)))\nraise")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (
        1, "targets: 1 met, 1 missed, 1 not measured\nmissed: slow: 2.00x, target <= 1.5x\n")
