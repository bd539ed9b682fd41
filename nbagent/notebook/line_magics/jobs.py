"""`%agent_jobs`: the batch jobs recorded in the map cache (`agent.submit_batch`), newest first.

What each job was when last read (provider, id, model, status, request counts); `--refresh` asks the
providers first for the jobs not finished yet (a job whose provider cannot be reached keeps its last
status, with a one-line note). The jobs outlive the kernel: they are rows of the cache database.
"""

from __future__ import annotations

import sys

from IPython.display import display

import nbagent

from ...errors import NbAgentError
from ..markdown.neutralize import neutralize
from ..markdown.tables import markdown_table

COLUMNS = ("id", "provider", "model", "status", "rows", "requests", "succeeded", "failed", "processing", "created")


def show_jobs(*, refresh: bool = False) -> None:
    """Display the jobs table (`nbagent.batch_jobs()` loads the row map, and pandas, only now)."""
    jobs = nbagent.batch_jobs()
    if refresh:
        for job in jobs:
            if job.status == "in_progress":
                try:
                    job.refresh()
                except NbAgentError as exc:
                    print(f"nbagent: {job.id}: not refreshed: {exc}", file=sys.stderr)
    if not jobs:
        print("nbagent: no batch jobs recorded (agent.submit_batch(rows, prompt) starts one)")
        return
    rows = [tuple(str(job.as_row()[name]) for name in COLUMNS) for job in jobs]
    plain = "\n".join("  ".join(row) for row in [COLUMNS, *rows])
    display({"text/markdown": neutralize(markdown_table(COLUMNS, rows)), "text/plain": plain}, raw=True)
