"""Compaction: a conversation that always fits the model's context window, as a capability.

Before a request whose messages would pass `threshold` (80%) of the context window (context_window.py),
`CompactHistory` shrinks the history in two steps, each only if still needed:

1. the bulk: tool results of earlier turns longer than a few lines (DataFrame dumps, file contents,
   images) are cut to a one-line note naming the tool and what it returned;
2. the older turns (all but the `keep_turns` latest and the current one) are replaced by a summary the
   model writes (one extra request, made with the run's model), kept as a system part at the start.

Turns are cut whole (a turn starts at a request holding a user prompt), so every tool call keeps its
return. The current run's messages are never touched. What was done is a `Compaction` handed to
`on_compact` (the notebook shows it as one line, stores it, and keeps the full history apart).

When the provider still says the context is too long, the run asks its capabilities to recover
(`retry_after_error`): `CompactHistory` learns the window from the error and compacts to half of what
was refused, and the request is sent again, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .capabilities import AbstractCapability, ModelRequestContext
from .context_window import context_too_long, context_window, estimate_tokens, learn_window
from .messages import (ModelMessage, ModelRequest, ModelResponse, SystemPromptPart, ToolReturnPart, UserPromptPart,
                       part_text)
from .media import MediaContent, describe_media
from .tools import RunContext

SUMMARY_INSTRUCTIONS = (
    "You compact a conversation between a user and an assistant working in a Jupyter notebook, so it can go "
    "on within the model's context window. Write a summary the assistant will read instead of these turns: "
    "the user's goals and questions, the facts found (variable and column names, shapes, numbers, results), "
    "errors met and how they were fixed, decisions made, and what is still open. Be concise and concrete; "
    "no preamble."
)
SUMMARY_HEADING = "Summary of {turns} earlier turn{s} of this conversation (compacted to fit the context window):"
BULK_CHARS = 1_000  # a tool result longer than this (about 250 tokens) is bulk
TRANSCRIPT_PART_CHARS = 4_000  # what of one part the summarizer reads


@dataclass
class Compaction:
    """What one compaction did: the first `replaced` messages of the history became `messages`."""

    replaced: int
    messages: list[ModelMessage]
    turns: int  # earlier turns summarized (0: only their bulk was cut)
    cut_results: int
    tokens_before: int
    tokens_after: int
    summary_response: ModelResponse | None = None  # the summarizer's answer (its usage is this compaction's cost)

    def __str__(self) -> str:
        what = (f"compacted {self.turns} earlier turn{'s' if self.turns != 1 else ''}" if self.turns
                else f"cut {self.cut_results} earlier tool result{'s' if self.cut_results != 1 else ''} to a line")
        return f"{what}, {_k(self.tokens_before)} → {_k(self.tokens_after)} tokens"


def _k(tokens: int) -> str:
    return f"{tokens / 1000:.0f}k" if tokens >= 10_000 else f"{tokens / 1000:.1f}k" if tokens >= 1000 else str(tokens)


def split_turns(messages: Sequence[ModelMessage]) -> list[list[ModelMessage]]:
    """The conversation in turns: each starts at a request holding a user prompt (what comes before the
    first one, e.g. an earlier summary, belongs to the first turn)."""
    turns: list[list[ModelMessage]] = []
    for message in messages:
        starts = isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts)
        if starts and turns and any(isinstance(m, ModelResponse) for m in turns[-1]):
            turns.append([message])
        elif turns:
            turns[-1].append(message)
        else:
            turns.append([message])
    return turns


def cut_bulk(messages: Sequence[ModelMessage]) -> tuple[list[ModelMessage], int]:
    """The messages with every long tool result (and every image a tool returned) cut to one line."""
    out: list[ModelMessage] = []
    cut = 0
    for message in messages:
        if isinstance(message, ModelRequest) and any(_is_bulk(part) for part in message.parts):
            parts = [_one_line(part) if _is_bulk(part) else part for part in message.parts]
            cut += sum(_is_bulk(part) for part in message.parts)
            message = message.model_copy(update={"parts": parts})
        out.append(message)
    return out, cut


def _is_bulk(part: Any) -> bool:
    return isinstance(part, ToolReturnPart) and (bool(part.files) or len(part.model_response_str()) > BULK_CHARS)


def _one_line(part: ToolReturnPart) -> ToolReturnPart:
    """A bulky result as one line: what it held (its images by kind, its text by length) and how it began."""
    held = [describe_media(file) for file in part.files]
    text = "" if isinstance(part.content, MediaContent) else part.model_response_str()
    if text:
        held.append(f"{len(text):,} characters")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")[:120]
    began = f"; it began: {first}" if first else ""
    return part.model_copy(update={"content": f"[{part.tool_name} returned {', '.join(held)}, cut to save context{began}]"})


def transcript(messages: Sequence[ModelMessage]) -> str:
    """The turns as text for the summarizer (each part bounded): who said what, which tools returned what."""
    lines = []
    for message in messages:
        for part in message.parts:
            kind = part.part_kind
            if kind in ("thinking",):
                continue
            who = {"user-prompt": "User", "system-prompt": "Context", "text": "Assistant",
                   "tool-call": "Assistant called", "tool-return": "Tool result", "retry-prompt": "Retry"}[kind]
            text = part_text(part)  # type: ignore[arg-type]
            if len(text) > TRANSCRIPT_PART_CHARS:
                text = text[:TRANSCRIPT_PART_CHARS] + " […]"
            lines.append(f"{who}: {text}")
    return "\n\n".join(lines)


async def compact(messages: Sequence[ModelMessage], budget: int, model: Any, *, keep_turns: int = 2,
                  force: bool = False) -> Compaction | None:
    """Shrink `messages` (a history ending with the current turn, never touched) below `budget` tokens if
    it is over; with `force`, summarize the earlier turns whatever their size. None: nothing to do."""
    before = estimate_tokens(messages)
    if before <= budget and not force:
        return None
    *earlier_turns, current = split_turns(messages)
    if not earlier_turns:
        return None
    earlier = _flat(earlier_turns)
    cut, count = cut_bulk(earlier)
    if count and not force and estimate_tokens([*cut, *current]) <= budget:
        return Compaction(len(earlier), cut, 0, count, before, estimate_tokens([*cut, *current]))
    keep = min(keep_turns, len(earlier_turns) - 1)  # at least one turn is summarized
    while keep and estimate_tokens([*cut_bulk(_flat(earlier_turns[-keep:]))[0], *current]) > budget * 0.7:
        keep -= 1  # the recent turns alone are too big: summarize one more of them
    old_turns, kept_turns = earlier_turns[:len(earlier_turns) - keep], earlier_turns[len(earlier_turns) - keep:]
    old = _flat(old_turns)
    kept, kept_count = cut_bulk(_flat(kept_turns))
    summary_response = await _summarize(model, old)
    system_parts = [part for message in old if isinstance(message, ModelRequest) for part in message.parts
                    if isinstance(part, SystemPromptPart) and not part.content.startswith("Summary of ")]
    turn_count = sum(1 for turn in old_turns if _asks(turn)) + _summarized_before(old)
    heading = SUMMARY_HEADING.format(turns=turn_count, s="s" if turn_count != 1 else "")
    summary = ModelRequest(parts=[*system_parts, SystemPromptPart(content=f"{heading}\n\n{summary_response.text}")])
    # the kept turns stay as they were unless their bulk was cut (then they are part of what is replaced)
    replacement, replaced = ([summary, *kept], len(earlier)) if kept_count else ([summary], len(old))
    after = estimate_tokens([*replacement, *earlier[replaced:], *current])
    return Compaction(replaced, replacement, turn_count, kept_count, before, after, summary_response)


def _flat(turns: Sequence[Sequence[ModelMessage]]) -> list[ModelMessage]:
    return [message for turn in turns for message in turn]


def _asks(turn: Sequence[ModelMessage]) -> bool:
    return any(isinstance(part, UserPromptPart) for message in turn if isinstance(message, ModelRequest)
               for part in message.parts)


def _summarized_before(messages: Sequence[ModelMessage]) -> int:
    """How many turns an earlier summary among `messages` stood for (a summary of a summary counts them)."""
    for message in messages:
        for part in message.parts:
            if isinstance(part, SystemPromptPart) and part.content.startswith("Summary of "):
                words = part.content.split()
                return int(words[2]) if len(words) > 2 and words[2].isdigit() else 0
    return 0


async def _summarize(model: Any, old: Sequence[ModelMessage]) -> ModelResponse:
    from .models.base import ModelRequestParameters

    request = ModelRequest(parts=[UserPromptPart(content=transcript(old))], instructions=SUMMARY_INSTRUCTIONS)
    response: ModelResponse = await model.request([request], {}, ModelRequestParameters())
    return response


@dataclass
class CompactHistory(AbstractCapability[Any]):
    """Keep the run's messages within `threshold` of the model's context window (see the module docstring).

    `context_window` overrides the table (None: the table, or what the provider's error taught);
    `on_compact` is told each `Compaction` done.
    """

    context_window: int | None = None
    threshold: float = 0.8
    keep_turns: int = 2
    on_compact: Callable[[Compaction], None] | None = field(default=None, repr=False)

    def window(self, model: Any) -> int | None:
        return self.context_window or context_window(model.label)

    async def before_model_request(self, ctx: RunContext[Any], request_context: ModelRequestContext) -> ModelRequestContext:
        window = self.window(ctx.model)
        if window is not None and await self._compact(ctx, int(window * self.threshold)):
            request_context.messages = list(ctx.messages)
        return request_context

    async def retry_after_error(self, ctx: RunContext[Any], error: BaseException) -> bool:
        """A "context too long" refusal: learn the window, compact to half of what was refused, send again."""
        if not context_too_long(error):
            return False
        sent = estimate_tokens(ctx.messages)
        if self.context_window is None:
            learn_window(ctx.model.label, error, sent)  # type: ignore[arg-type]
        return await self._compact(ctx, sent // 2, force=True)

    async def _compact(self, ctx: RunContext[Any], budget: int, force: bool = False) -> bool:
        """Compact the run's messages in place if they pass `budget`; whether anything was done."""
        done = await compact(ctx.messages, budget, ctx.model, keep_turns=self.keep_turns, force=force)
        if done is None:
            return False
        ctx.messages[:] = [*done.messages, *ctx.messages[done.replaced:]]
        if self.on_compact is not None:
            self.on_compact(done)
        return True
