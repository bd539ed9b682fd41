"""The user's consent to run model-written code (the exact code, highlighted, with Run and Skip buttons),
or to spend on a costly map (its estimate, with Run and Cancel).

The cell shows the code as Markdown (a fenced Python block, rendered and highlighted by the frontend)
and an ipywidgets row below it, then awaits a click. The `%%ask` cell runs as an async cell, so while it
awaits, the kernel's loop goes on handling the widgets' messages (ipykernel dispatches comm messages
while an async cell waits). Only a click decides: nothing the model sends can. After the click the
buttons are replaced by a line saying what was decided, which is what the saved notebook keeps.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from .live import interruptible


def code_block(code: str) -> str:
    """`code` as a fenced Python block whose fence no backtick run inside the code can close."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}python\n{code}\n{fence}"


async def ask_to_run(code: str) -> bool:
    """Show `code` with Run / Skip and wait for the user's click; True means Run."""
    return await ask_to_confirm(
        {"text/markdown": "**nbagent wants to run this code in your kernel:**\n\n" + code_block(code),
         "text/plain": f"nbagent wants to run this code in your kernel:\n{code}"},
        no="Skip", no_tooltip="do not run it; the model is told you declined", run_tooltip="run this code in your kernel",
        waiting="the answer waits for your choice", declined="⏭ you chose Skip: not run")


async def ask_to_confirm(what: dict[str, str], *, no: str, no_tooltip: str, run_tooltip: str, waiting: str,
                         declined: str) -> bool:
    """Show `what` (a MIME bundle) with Run and `no` buttons and wait for the user's click; True means Run."""
    display(what, raw=True)
    run = widgets.Button(description="Run", button_style="success", icon="play", tooltip=run_tooltip)
    skip = widgets.Button(description=no, icon="times", tooltip=no_tooltip)
    note = widgets.Label(waiting)
    row = widgets.HBox([run, skip, note])
    row.add_class("nbagent-approval")
    decision: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    run.on_click(lambda _: _decide(decision, True))
    skip.on_click(lambda _: _decide(decision, False))
    handle: Any = display(row, display_id=True)
    said = "⏹ interrupted before a choice"
    try:
        approved = await interruptible(decision)
        said = "▶ you chose Run" if approved else declined
        return approved
    finally:
        handle.update({"text/markdown": f"*{said}*", "text/plain": said}, raw=True)
        row.close()


def _decide(decision: "asyncio.Future[bool]", run: bool) -> None:
    """The first click decides; a second one (a double click) changes nothing."""
    if not decision.done():
        decision.set_result(run)
