"""Deferred tool calls: calls a run does not finish by itself, because a person must approve them first
(`requires_approval=True`, `raise ApprovalRequired`) or their result comes from elsewhere (`raise
CallDeferred`).

Two ways to settle them, as in PydanticAI:

- inline: a `HandleDeferredToolCalls(handler)` capability is given the `DeferredToolRequests` and
  returns `DeferredToolResults` (the notebook's Run / Skip buttons work this way), and the run goes on;
- across runs: with `DeferredToolRequests` among the output types, the run ends with it as its output;
  the caller decides, then runs again with `message_history=result.all_messages()` and
  `deferred_tool_results=DeferredToolResults(...)`.

Stricter than PydanticAI: results must answer exactly the calls that wait, a one-line `UserError`
naming the first id that does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence, Union

from .errors import UserError
from .messages import ModelMessage, ModelRequest, ModelResponse, RetryPromptPart, ToolCallPart, ToolReturnPart

DEFAULT_DENIAL = "The tool call was denied."


@dataclass
class ToolApproved:
    """Approve a call, optionally with other arguments than the model gave (`override_args`)."""

    override_args: dict[str, Any] | None = None
    kind: Literal["tool-approved"] = "tool-approved"


@dataclass
class ToolDenied:
    """Deny a call; `message` is what the model is told instead of a result."""

    message: str = DEFAULT_DENIAL
    kind: Literal["tool-denied"] = "tool-denied"


Approval = Union[bool, ToolApproved, ToolDenied]


@dataclass
class DeferredToolResults:
    """Decisions on deferred calls, by tool call id: `approvals` (True / False / ToolApproved / ToolDenied)
    and `calls` (the results of external calls: a value, or a `ModelRetry` / `ToolReturn`); `metadata`
    reaches the tool as `ctx.tool_call_metadata`."""

    calls: dict[str, Any] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for call_id, approval in self.approvals.items():
            if not isinstance(approval, (bool, ToolApproved, ToolDenied)):
                raise UserError(f"DeferredToolResults.approvals[{call_id!r}] must be True, False, ToolApproved(...) "
                                f"or ToolDenied(...), got {type(approval).__name__}")

    def decided(self) -> set[str]:
        return {*self.calls, *self.approvals}


@dataclass
class DeferredToolRequests:
    """The calls that wait: `approvals` for a person to approve, `calls` to be executed elsewhere, each a
    `ToolCallPart` (tool name, arguments, id); `metadata` by id, as the tool gave it."""

    calls: list[ToolCallPart] = field(default_factory=list)
    approvals: list[ToolCallPart] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def build_results(self, *, approvals: Mapping[str, Approval] | None = None, calls: Mapping[str, Any] | None = None,
                      metadata: Mapping[str, dict[str, Any]] | None = None,
                      approve_all: bool = False) -> DeferredToolResults:
        """`DeferredToolResults` for these requests, checked: every id must be one of them, of the right
        kind; `approve_all=True` approves the approval requests not decided otherwise."""
        approval_ids = {call.tool_call_id for call in self.approvals}
        call_ids = {call.tool_call_id for call in self.calls}
        for given, kind, known in ((approvals or {}, "approvals", approval_ids), (calls or {}, "calls", call_ids)):
            for call_id in given:
                if call_id not in known:
                    raise UserError(f"build_results({kind}=...): {call_id!r} is not one of the {kind} requested "
                                    f"({', '.join(sorted(known)) or 'none'})")
        decided: dict[str, Approval] = dict(approvals or {})
        if approve_all:
            decided.update({call_id: True for call_id in approval_ids if call_id not in decided})
        return DeferredToolResults(calls=dict(calls or {}), approvals=decided, metadata=dict(metadata or {}))

    def __bool__(self) -> bool:
        return bool(self.calls or self.approvals)


def pending_calls(history: Sequence[ModelMessage]) -> list[ToolCallPart]:
    """The tool calls of the history's last response that no later request answered: what deferred
    results may settle."""
    responses = [index for index, message in enumerate(history) if isinstance(message, ModelResponse)]
    if not responses:
        return []
    last = responses[-1]
    answered = {part.tool_call_id for message in history[last + 1:] if isinstance(message, ModelRequest)
                for part in message.parts if isinstance(part, (ToolReturnPart, RetryPromptPart))}
    calls = history[last].tool_calls  # type: ignore[union-attr]
    return [call for call in calls if call.tool_call_id not in answered]


def check_results(results: DeferredToolResults, pending: Sequence[ToolCallPart]) -> None:
    """The results answer exactly the calls that wait; else a one-line UserError."""
    if not isinstance(results, DeferredToolResults):
        raise UserError(f"deferred_tool_results must be a DeferredToolResults(...), got {type(results).__name__}")
    waiting = {call.tool_call_id for call in pending}
    if not waiting:
        raise UserError("deferred_tool_results given, but no tool call waits in message_history "
                        "(pass the history of the run that ended with DeferredToolRequests)")
    for call_id in results.decided():
        if call_id not in waiting:
            raise UserError(f"deferred_tool_results names {call_id!r}, which is not a tool call waiting in "
                            f"message_history (waiting: {', '.join(sorted(waiting))})")
    missing = sorted(waiting - results.decided())
    if missing:
        raise UserError(f"deferred_tool_results has no decision for the tool call {missing[0]!r}; approve or deny "
                        "each call in DeferredToolRequests.approvals and give a result for each in .calls")
