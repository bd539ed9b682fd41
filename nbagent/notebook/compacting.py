"""The notebook side of compaction (the core's compaction.py): a conversation that always fits the window.

Every `%%ask` runs with `CompactHistory` unless `%agent_settings compact=off`; the window is the
`context_window` setting, else the core's table (or what a provider's error taught it). A compaction
done during an answer is mapped back to the turns it stands for and kept as the conversation's
`Compacted` prefix: later questions are asked against it, while the turns themselves stay whole
(`%agent_history --all`, `--save`, the history file). The cell's footer says what was done in one
line; the summary request counts in `%agent_usage`. `%agent_history --compact` does it by hand.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Sequence

from ..compaction import CompactHistory, Compaction, compact
from ..context_window import context_window, estimate_tokens
from ..errors import UserError
from ..messages import SystemPromptPart
from .config import COMPACT_OFF, AgentSettings
from .live import loop_thread
from .state import Compacted, Conversation, NotebookState, Turn

THRESHOLD = 0.8


class AnswerCompactions:
    """The compactions done while one question was answered, and what they mean for its conversation."""

    def __init__(self, settings: AgentSettings, basis: Sequence[Turn | Compacted]) -> None:
        self.basis: list[Turn | Compacted] = list(basis)
        self.done: list[Compaction] = []
        self.compacted: Compacted | None = None
        self.capability = None if settings.compact == COMPACT_OFF else CompactHistory(
            context_window=settings.context_window or None, threshold=THRESHOLD, on_compact=self.add)

    def add(self, compaction: Compaction) -> None:
        """Called on the request loop: map the messages replaced to the turns they were, as they happen
        (a second compaction in the same answer replaces the first's messages)."""
        self.done.append(compaction)
        covered = _covered(self.basis, compaction.replaced)
        if covered is None:  # not whole turns (cannot happen with CompactHistory): keep the history whole
            return
        turns, rest = covered
        self.compacted = Compacted(turns, compaction.messages, str(compaction))
        self.basis = [self.compacted, *rest]

    def record(self, conversation: Conversation, state: NotebookState, model: str) -> str | None:
        """Keep the compacted prefix in the conversation (if its turns are still there) and count the
        summaries' usage; the note for the cell's footer."""
        if not self.done:
            return None
        state.asked += [(model, done.summary_response) for done in self.done if done.summary_response]
        if self.compacted is not None and self.compacted.holds(conversation.turns):
            conversation.compacted = self.compacted
        return "; ".join(str(done) for done in self.done)


def _covered(basis: Sequence[Turn | Compacted], replaced: int) -> tuple[list[Turn], list[Turn | Compacted]] | None:
    """The turns the first `replaced` messages of the history were, and the parts after them."""
    turns: list[Turn] = []
    left = replaced
    for index, part in enumerate(basis):
        if left <= 0:
            return (turns, list(basis[index:])) if left == 0 else None
        left -= len(part.messages)
        turns += part.turns if isinstance(part, Compacted) else [part]
    return (turns, []) if left == 0 else None


def compact_now(conversation: Conversation, state: NotebookState, model: Any) -> str:
    """`%agent_history --compact`: summarize all but the latest two turns now; what was done, in a line."""
    with conversation.lock:
        basis = conversation.basis(None)
    if len(conversation.turns) < 2:
        raise UserError(f"conversation {conversation.name!r} has fewer than two turns; nothing to compact")
    messages = [message for part in basis for message in part.messages]
    window = state.settings.context_window or context_window(model.label)
    budget = int(window * THRESHOLD) if window else estimate_tokens(messages) // 2
    answers = AnswerCompactions(state.settings, basis)
    future: Future[Compaction | None] = loop_thread().submit(compact(messages, budget, model, keep_turns=1, force=True))
    try:
        done = future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise UserError("interrupted; the conversation is unchanged") from None
    if done is None:
        return "nothing to compact"
    answers.add(done)
    with conversation.lock:
        return answers.record(conversation, state, model.label) or ""


def summary_text(compacted: Compacted) -> str:
    """What the model reads for the compacted turns: the summary's text (without its heading), or the note
    of a compaction that only cut tool results."""
    for part in compacted.messages[0].parts if compacted.messages else []:
        if isinstance(part, SystemPromptPart) and part.content.startswith("Summary of "):
            return part.content.split("\n\n", 1)[-1]
    return compacted.note
