"""`%agent_history`: the conversation as a table, and its commands (--clear, --pop, --save, --load)."""

from __future__ import annotations

from typing import Any

from IPython.display import display

from ...errors import UserError
from ...messages import ModelRequest, messages_from_json, messages_to_json, part_text
from ..view.activity import call_text
from ..compacting import summary_text
from ..markdown.neutralize import neutralize
from ..state import Conversation, first_line, turns_from_messages
from ..markdown.tables import markdown_table


def change_history(conversation: Conversation, args: Any) -> str | None:
    """Apply --clear/--pop/--save/--load; returns what was done, or None when only showing."""
    if args.clear:
        count = len(conversation.turns)
        conversation.turns.clear()
        conversation.compacted = None
        return f"cleared {count} turn(s) of conversation {conversation.name!r}"
    if args.pop:
        if not conversation.turns:
            raise UserError(f"conversation {conversation.name!r} is empty; nothing to pop")
        conversation.turns.pop()
        return f"removed the last turn; {len(conversation.turns)} left"
    if args.save:
        try:
            with open(args.save, "wb") as handle:
                handle.write(messages_to_json(conversation.all_history, indent=1))
        except OSError as exc:
            raise UserError(f"cannot write {args.save}: {exc.strerror or exc}") from None
        return f"saved {len(conversation.turns)} turn(s) to {args.save}"
    if args.load:
        try:
            with open(args.load, "rb") as handle:
                turns = turns_from_messages(messages_from_json(handle.read()))
        except OSError as exc:
            raise UserError(f"cannot read {args.load}: {exc.strerror or exc}; the current history is unchanged") from None
        except (ValueError, UserError) as exc:
            raise UserError(f"{args.load} is not a saved conversation ({first_line(exc)}); "
                            "the current history is unchanged") from None
        conversation.turns, conversation.compacted = turns, None
        return f"loaded {len(turns)} turn(s) from {args.load}"
    return None


def show_history(conversation: Conversation, *, every_turn: bool = False) -> None:
    """One row per message: the question, each tool round (calls, then what they returned), the answer.
    Compacted turns show as the one summary row the model reads, unless `every_turn`."""
    rows = []
    compacted = conversation.compacted
    first = 0
    if compacted is not None and compacted.holds(conversation.turns) and not every_turn:
        first = len(compacted.turns)
        rows.append((f"1–{first}", "–", "summary", _excerpt(summary_text(compacted)), compacted.note.split(", ")[-1]))
    for number, turn in enumerate(conversation.turns[first:], first + 1):
        cell = turn.cell_id[:8] if turn.cell_id else "–"
        for message in turn.messages:
            if isinstance(message, ModelRequest):
                role = "user" if message is turn.messages[0] else "tools"
                text, tokens = " ".join(part_text(part) for part in message.parts), ""
            else:
                role = "assistant"
                text = " ".join(filter(None, [message.text, *map(call_text, message.tool_calls)]))
                tokens = f"{message.usage.input_tokens:,} → {message.usage.output_tokens:,}"
                if turn.stale and message is turn.messages[-1]:
                    tokens += " ⚠ stale"
            rows.append((str(number), cell, role, _excerpt(text), tokens))
    header = ("turn", "cell", "role", "text", "tokens")
    if not rows:
        plain = f"conversation {conversation.name!r} is empty"
        display({"text/markdown": f"*{plain}*", "text/plain": plain}, raw=True)
        return
    markdown = neutralize(markdown_table(header, rows))  # the whole table, as the frontend reads it
    plain = "\n".join("  ".join(row) for row in [header, *rows])
    display({"text/markdown": markdown, "text/plain": plain}, raw=True)


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
