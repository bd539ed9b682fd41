"""Tool activity as the answer shows it: one compact line per call, `inspect_variable(df) → DataFrame 344 × 8`.

A line starts when the model calls a tool (`… running`) and is completed in place when the tool
answers. The same lines are rebuilt from a finished turn's messages (calls and their returns), so
an answer re-shown from the history reads exactly as it streamed.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from ...messages import (BinaryContent, ImageUrl, ModelMessage, ModelRequest, ModelResponse, RetryPromptPart,
                        ToolCallPart, ToolReturnPart)
from ..kernel.images import describe_image
from .thinking import Thinking

MAX_ARGS_CHARS = 60
MAX_RESULT_CHARS = 80


class ToolLine:
    """One tool call in the answer: what was called and, once it answered, what came back."""

    def __init__(self, call: ToolCallPart) -> None:
        self.call = call
        self.outcome = "… running"

    def finish(self, result: ToolReturnPart | RetryPromptPart) -> None:
        if isinstance(result, RetryPromptPart):
            self.outcome = "↻ " + _shorten(" ".join(result.model_response().split()), MAX_RESULT_CHARS)
        else:
            self.outcome = "→ " + result_summary(result.content)

    @property
    def pending(self) -> bool:
        return self.outcome.startswith("…")

    def __str__(self) -> str:
        return f"⚙ `{call_text(self.call)}` {self.outcome}"


def call_text(call: ToolCallPart) -> str:
    """`name(arguments)`, short: one argument by value (`inspect_variable(df)`), several as name=value."""
    try:
        args = call.args_as_dict()
    except ValueError:
        return f"{call.tool_name}(…)"
    if len(args) == 1:
        [value] = args.values()
        shown = value if isinstance(value, str) and value.isidentifier() else _json(value)
    else:
        shown = ", ".join(f"{name}={_json(value)}" for name, value in args.items())
    shown = " ".join(shown.split()).replace("`", "'")
    return f"{call.tool_name}({_shorten(shown, MAX_ARGS_CHARS)})"


def result_summary(content: Any) -> str:
    """What a tool returned, in a few words: its `summary` when it gives one (the kernel tools do); a
    result with images (`[data, image, ...]`) by its data."""
    if isinstance(content, list) and any(isinstance(item, (BinaryContent, ImageUrl)) for item in content):
        data = [item for item in content if not isinstance(item, (BinaryContent, ImageUrl))]
        content = data[0] if len(data) == 1 else data or f"{len(content)} image(s)"
    if isinstance(content, (BinaryContent, ImageUrl)):
        text = describe_image(content)
    elif isinstance(content, dict) and isinstance(content.get("summary"), str):
        text = content["summary"]
    elif isinstance(content, str):
        text = _summary_in_json(content) or content
    else:
        text = _json(content)
    return _shorten(" ".join(text.split()).replace("`", "'"), MAX_RESULT_CHARS)


def _summary_in_json(text: str) -> str | None:
    """The `summary` of a result written as a JSON object (a declined or refused call), if it has one."""
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value["summary"] if isinstance(value, dict) and isinstance(value.get("summary"), str) else None


def lines_of(messages: Sequence[ModelMessage]) -> list[ToolLine]:
    """The tool lines of a finished turn, in call order, each with its outcome."""
    results = {part.tool_call_id: part for message in messages if isinstance(message, ModelRequest)
               for part in message.parts if isinstance(part, (ToolReturnPart, RetryPromptPart))}
    lines = []
    for message in messages:
        if isinstance(message, ModelResponse):
            for call in message.tool_calls:
                line = ToolLine(call)
                if call.tool_call_id in results:
                    line.finish(results[call.tool_call_id])
                lines.append(line)
    return lines


def turn_pieces(messages: Sequence[ModelMessage]) -> list[str | ToolLine | Thinking]:
    """A finished turn as the answer showed it: each response's thinking line, its text, its tool lines."""
    lines = iter(lines_of(messages))
    pieces: list[str | ToolLine | Thinking] = []
    for message in messages:
        if isinstance(message, ModelResponse):
            if message.thinking:
                pieces.append(Thinking(message.thinking, pending=False))
            if message.text:
                pieces.append(message.text)
            pieces += [next(lines) for _ in message.tool_calls]
    return pieces


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
