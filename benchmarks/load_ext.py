"""`%load_ext nbagent`: what loading the extension adds to a fresh IPython, and the first %%ask after it.

Loading must stay cheap because it happens in every notebook that uses nbagent. Measured as
`python -m IPython --quick -c ...` with and without `%load_ext nbagent`, run back to back in pairs
(the median of the pair differences is steadier than a difference of medians); also the child's
CPU, the magic timed inside IPython, and the first `%%ask` on the built-in offline model. Target: adds
<= 100 ms.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import ROOT
from benchmarks.table import ROWS, Row, met, progress


def ipython_command(code: str) -> list[str]:
    return [
        sys.executable, "-m", "IPython", "--quick", "--no-banner", "--HistoryManager.hist_file=:memory:", "-c", code,
    ]


def timed_subprocess(code: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run IPython with this code: (wall seconds, CPU seconds of the child, its stdout)."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(ipython_command(code), env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "Error" in done.stdout:
        raise RuntimeError(f"IPython failed running {code!r}:\n{done.stdout}\n{done.stderr}")
    return seconds, _children_cpu() - cpu_before, done.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def marker(stdout: str) -> float:
    return float(next(line for line in stdout.splitlines() if line.startswith("BENCH ")).split()[1])


def bench_load(runs: int, asks: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "NBAGENT_"))}
    env["NBAGENT_MODEL"] = "offline"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as ipython_dir:
        env["IPYTHONDIR"] = ipython_dir
        timer = "import time; t = time.perf_counter(); {}; print('BENCH', time.perf_counter() - t)"
        bare = timer.format("pass")
        load = timer.format("get_ipython().run_line_magic('load_ext', 'nbagent')")
        ask = "%load_ext nbagent\n" + timer.format("get_ipython().run_cell_magic('ask', '', 'What is a tuple?')")
        timed_subprocess(load, env)  # warm the OS file cache and the bytecode caches
        progress(f"IPython starts: {runs} pairs of bare / with %load_ext nbagent, {asks} with a first %%ask")
        bare_wall, added_wall, added_cpu, inside, first_ask = [], [], [], [], []
        for rep in range(runs):
            # Back to back, so each pair sees the same machine: the median of the differences is far
            # steadier than the difference of the medians when other work shares the cores.
            wall_0, cpu_0, _ = timed_subprocess(bare, env)
            wall_1, cpu_1, out = timed_subprocess(load, env)
            bare_wall.append(wall_0)
            added_wall.append(wall_1 - wall_0)
            added_cpu.append(cpu_1 - cpu_0)
            inside.append(marker(out))
            if rep < asks:
                out = timed_subprocess(ask, env)[2]
                if "built-in **offline** model" not in out:
                    raise AssertionError(f"the offline %%ask did not answer: {out[-300:]!r}")
                first_ask.append(marker(out))
    base, added = statistics.median(bare_wall), statistics.median(added_wall)
    ROWS.append(
        Row(
            "%load_ext nbagent: added to a fresh IPython (wall)",
            f"{added * 1e3:+,.0f} ms",
            f"bare IPython start {base * 1e3:,.0f} ms",
            f"{(base + added) / base:.2f}x",
            "<= +100 ms",
            met(added <= 0.1),
        )
    )
    ROWS.append(Row("%load_ext nbagent: added CPU of that process", f"{statistics.median(added_cpu) * 1e3:+,.0f} ms"))
    ROWS.append(Row("%load_ext nbagent: the magic alone, inside IPython", f"{statistics.median(inside) * 1e3:,.1f} ms"))
    ROWS.append(Row("first %%ask after it (offline model, wall)", f"{statistics.median(first_ask) * 1e3:,.0f} ms"))
