"""The user's consent: to a tool call the model made — model-written code to run (`run_code`, the exact
code, highlighted) or a call of a tool that requires approval (`@nbagent.tool(requires_approval=True)`),
with Run and Skip buttons — or to spend on a costly map (its estimate, with Run and Cancel).

Tool calls use PydanticAI's deferred-tool mechanism (nbagent/deferred.py): such a call waits
(`ApprovalRequired`), and the question's `HandleDeferredToolCalls` capability (`notebook_approval()`)
asks the user in the cell; Run approves the call (it then runs, told `ctx.tool_call_approved`), Skip
denies it and the model is told the user declined. Where nobody can click (a --background question,
`jupyter execute`), the call is denied with the reason, so the model suggests instead of waiting.

The cell shows the code as Markdown (a fenced Python block, rendered and highlighted by the frontend)
and an ipywidgets row below it, then awaits a click. The `%%ask` cell runs as an async cell, so while it
awaits, the kernel's loop goes on handling the widgets' messages (ipykernel dispatches comm messages
while an async cell waits). Only a click decides: nothing the model sends can. After the click the
buttons are replaced by a line saying what was decided, which is what the saved notebook keeps.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from ...capabilities import HandleDeferredToolCalls
from ...deferred import DeferredToolRequests, DeferredToolResults, ToolDenied
from ...messages import ToolCallPart
from ...tools import RunContext
from ..live import interruptible


def code_block(code: str, language: str = "python") -> str:
    """`code` as a fenced block whose fence no backtick run inside the code can close."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code}\n{fence}"


async def ask_to_run(code: str) -> bool:
    """Show `code` with Run / Skip and wait for the user's click; True means Run."""
    return await ask_to_confirm(
        {"text/markdown": "**nbagent wants to run this code in your kernel:**\n\n" + code_block(code),
         "text/plain": f"nbagent wants to run this code in your kernel:\n{code}"},
        no="Skip", no_tooltip="do not run it; the model is told you declined", run_tooltip="run this code in your kernel",
        waiting="the answer waits for your choice", declined="⏭ you chose Skip: not run")


async def ask_to_call(call: ToolCallPart) -> bool:
    """Show a tool call (its name and arguments) with Run / Skip and wait for the user's click."""
    arguments = json.dumps(call.args_as_dict(), indent=2, ensure_ascii=False, default=str)
    return await ask_to_confirm(
        {"text/markdown": f"**nbagent wants to call `{call.tool_name}` with:**\n\n{code_block(arguments, 'json')}",
         "text/plain": f"nbagent wants to call {call.tool_name} with:\n{arguments}"},
        no="Skip", no_tooltip="do not call it; the model is told you declined", run_tooltip=f"call {call.tool_name}",
        waiting="the answer waits for your choice", declined="⏭ you chose Skip: not called")


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


SKIPPED = {"summary": "skipped by the user", "declined": True}
CODE_SKIPPED = json.dumps({**SKIPPED, "message": "The user chose not to run this code. Do not run it; answer without it."})
CALL_SKIPPED = json.dumps({**SKIPPED, "message": "The user chose not to allow this call. Do not call it again for "
                                                 "the same thing; answer without it."})


async def decide(ctx: RunContext[Any], requests: DeferredToolRequests) -> DeferredToolResults:
    """The Run / Skip decision on each call that needs approval, asked in the cell, one at a time."""
    context = ctx.deps
    approvals: dict[str, Any] = {}
    for call in requests.approvals:
        refusal = refusal_reason(context)
        if refusal is not None:
            approvals[call.tool_call_id] = ToolDenied(json.dumps(
                {"summary": "not run: " + refusal.split(";")[0], "refused": True, "message": f"Not run: {refusal}."}))
            continue
        if call.tool_name == "run_code":
            code = str(call.args_as_dict().get("code", ""))
            approved = await context.progress.on_cell_thread(lambda code=code: ask_to_run(code))
        else:
            approved = await context.progress.on_cell_thread(lambda call=call: ask_to_call(call))
        approvals[call.tool_call_id] = True if approved else ToolDenied(
            CODE_SKIPPED if call.tool_name == "run_code" else CALL_SKIPPED)
    return requests.build_results(approvals=approvals)


def refusal_reason(context: Any) -> str | None:
    """Why nobody can approve in this question (None: someone can click)."""
    if getattr(context, "background", False):
        return "code cannot be approved in a --background question; suggest it as a code block instead"
    if not getattr(context, "interactive", False):
        return ("this frontend cannot show the Run button; suggest the code as a code block instead "
                "(the user may set %agent_settings approve_code=always)")
    return None


def notebook_approval() -> HandleDeferredToolCalls[Any]:
    """The question's capability that asks the user about each call needing approval."""
    return HandleDeferredToolCalls(handler=decide)
