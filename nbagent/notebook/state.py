"""Kernel-resident state: the named conversations, their turns and the optional history file.

A conversation is a list of turns (one question, its answer, and the tool calls in between), each
remembering the notebook cell that asked it, so re-running a cell replaces its own turn instead of
appending a duplicate. Every conversation's `Agent` follows the bound `AgentSettings` (config.py).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from ..agent import Agent
from ..errors import UserError
from ..messages import (ModelMessage, ModelMessagesTypeAdapter, ModelRequest, ModelResponse, ToolReturnPart,
                        UserPromptPart, messages_from_json)
from ..models import default_model_name, default_model_origin, infer_model
from .config import AgentSettings, get_settings

HISTORY_FILE_FORMAT = "nbagent-history/1"
PROMPT_CACHING = {"anthropic_cache_instructions": True, "anthropic_cache_tool_definitions": True,
                  "anthropic_cache_messages": True}
"""A notebook conversation re-sends its whole history with every question: on Anthropic, cache breakpoints
after the instructions, the tools and the latest message let the next question read all of it from the
prompt cache (a tenth of the input price). Other protocols ignore these; OpenAI caches by itself."""


@dataclass
class Turn:
    """One question and everything the run added for it: the request, then each response and (after
    tool calls) the request holding the tool returns. The final answer is the last response: the last
    message, or (structured output) the one before the request that answers its output call."""

    messages: list[ModelMessage]
    cell_id: str | None = None
    model: str = ""  # the model asked, as `provider:name` (the responses only say the name the server gave)
    display_id: str | None = None
    footer: str = ""
    stale: bool = False  # an earlier turn was re-asked after this one was answered


@dataclass
class Compacted:
    """The conversation's first turns as they are sent now: `messages` (a summary, or the turns with their
    long tool results cut) stand for `turns`, which stay whole in the conversation and the history file."""

    turns: list[Turn]
    messages: list[ModelMessage]
    note: str = ""  # what the compaction did, e.g. "compacted 14 earlier turns, 38k → 3k tokens"

    def holds(self, turns: Sequence[Turn]) -> bool:
        """Whether it still stands for the first of these turns (none of them re-asked, popped or cleared)."""
        return len(turns) >= len(self.turns) and all(a is b for a, b in zip(self.turns, turns))


class Conversation:
    """One named conversation: its agent (bound to the settings) and its turns."""

    def __init__(self, name: str, settings: AgentSettings) -> None:
        self.name = name
        self.turns: list[Turn] = []
        self.compacted: Compacted | None = None  # the first turns as they are sent, once compacted
        self.lock = threading.RLock()  # background answers land from another thread
        self.agent: Agent = Agent(settings.model or _default_model(), name=name)
        self.apply(settings)

    def apply(self, settings: AgentSettings) -> None:
        """Push the bound settings into this conversation's agent."""
        wanted = settings.model or default_model_name()
        if self.agent.model.label != wanted:
            self.agent.model = infer_model(settings.model or _default_model())
        self.agent.fixed_instructions = settings.system or None
        self.agent.model_settings = {**PROMPT_CACHING, **settings.model_settings()}

    @property
    def history(self) -> list[ModelMessage]:
        """All messages, oldest first, as sent to the model."""
        return self.history_before(None)

    def turn_of_cell(self, cell_id: str | None) -> int | None:
        if cell_id is None:
            return None
        return next((index for index, turn in enumerate(self.turns) if turn.cell_id == cell_id), None)

    def history_before(self, index: int | None) -> list[ModelMessage]:
        """What a question is asked against: everything, or only the turns before a re-run cell's turn;
        the compacted first turns as they are sent now (all of them, whole, before a compacted turn)."""
        return [message for part in self.basis(index) for message in part.messages]

    def basis(self, index: int | None) -> list[Turn | Compacted]:
        """What `history_before` is made of: the compacted prefix (if it still holds), then whole turns."""
        turns = self.turns if index is None else self.turns[:index]
        prefix = self.compacted
        if prefix is None or not prefix.holds(turns):
            return list(turns)
        return [prefix, *turns[len(prefix.turns):]]

    @property
    def all_history(self) -> list[ModelMessage]:
        """Every message of every turn, none compacted (`%agent_history --all`, --save, the history file)."""
        return [message for turn in self.turns for message in turn.messages]

    def record(self, turn: Turn, replacing: int | None) -> list[Turn]:
        """Add a turn, or replace a re-run cell's turn; returns the later turns that are now stale."""
        if replacing is None:
            self.turns.append(turn)
            return []
        self.turns[replacing] = turn
        later = self.turns[replacing + 1:]
        for stale in later:
            stale.stale = True
        return later


def turns_from_messages(messages: Sequence[ModelMessage], cell_ids: Sequence[str | None] | None = None,
                        models: Sequence[str] | None = None) -> list[Turn]:
    """Split a saved conversation into turns: each starts at a request holding a user prompt and runs to
    the response before the next one (a file of plain question/answer pairs reads as before). A
    conversation that does not fit is an error naming the message."""
    starts = [index for index, message in enumerate(messages)
              if isinstance(message, ModelRequest) and any(isinstance(part, UserPromptPart) for part in message.parts)]
    if messages and starts[:1] != [0]:
        raise UserError("not a conversation: message 0 should be a request with the user's question")
    turns = []
    for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(messages)])):
        if not _answered(messages[start + 1:end]):
            raise UserError(f"not a conversation: the question at message {start} has no answer")
        cell_id = cell_ids[number] if cell_ids and number < len(cell_ids) else None
        model = models[number] if models and number < len(models) else ""
        turns.append(Turn(list(messages[start:end]), cell_id=cell_id, model=model))
    return turns


def _answered(after_question: Sequence[ModelMessage]) -> bool:
    """A turn ends with the answer, or with the tool returns answering the output call of the answer."""
    if after_question and isinstance(after_question[-1], ModelRequest) and len(after_question) >= 2:
        return (isinstance(after_question[-2], ModelResponse)
                and all(isinstance(part, ToolReturnPart) for part in after_question[-1].parts))
    return bool(after_question) and isinstance(after_question[-1], ModelResponse)


def _default_model() -> str | None:
    """The default model by name, so that making a conversation never announces the offline model (a
    question announces it when it uses it); None when NBAGENT_MODEL chose it, so an error names the variable."""
    return None if default_model_origin() == "NBAGENT_MODEL" else default_model_name()


class NotebookState:
    """Everything nbagent keeps in the kernel."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.conversations: dict[str, Conversation] = {}
        self.asked: list[tuple[str, ModelResponse]] = []  # every response of the session: (model asked, response)
        self._file_lock = threading.Lock()  # background answers save from their own thread
        self.settings.observe(self._push_settings, names=["model", "temperature", "max_tokens", "system"])
        self.settings.observe(self._history_file_changed, names=["history_file"])
        if self.settings.history_file:
            self.load_history_file()

    def conversation(self, name: str = "default") -> Conversation:
        if name not in self.conversations:
            self.conversations[name] = Conversation(name, self.settings)
        return self.conversations[name]

    def count_usage(self, turn: Turn) -> None:
        """Count a finished turn in the session's usage, whatever happens to it in the conversation later."""
        self.asked += [(turn.model, message) for message in turn.messages if isinstance(message, ModelResponse)]

    def _push_settings(self, change: Any) -> None:
        for conversation in self.conversations.values():
            conversation.apply(self.settings)

    def _history_file_changed(self, change: Any) -> None:
        if change["new"]:
            self.load_history_file()

    def load_history_file(self) -> None:
        """Restore conversations from the history file if it exists, else start the file."""
        path = self.settings.history_file
        if not os.path.exists(path):
            self.save_history_file()
            return
        for name, (turns, compacted) in read_history(path).items():
            conversation = self.conversation(name)
            conversation.turns, conversation.compacted = turns, compacted

    def save_history_file(self) -> None:
        """Write all conversations atomically (temp file + rename), if a history file is set; a
        `UserError` naming the file if it cannot be written (the conversations stay in memory)."""
        path = self.settings.history_file
        if not path:
            return
        with self._file_lock:
            conversations = {}
            for name, conversation in list(self.conversations.items()):
                with conversation.lock:
                    turns = list(conversation.turns)
                    compacted = conversation.compacted if conversation.compacted and conversation.compacted.holds(turns) else None
                conversations[name] = {
                    "messages": ModelMessagesTypeAdapter.dump_python(
                        [message for turn in turns for message in turn.messages], mode="json"),
                    "cell_ids": [turn.cell_id for turn in turns],
                    "models": [turn.model for turn in turns],
                }
                if compacted is not None:  # what is sent for the first turns, the turns themselves kept above
                    conversations[name]["compacted"] = {
                        "turns": len(compacted.turns), "note": compacted.note,
                        "messages": ModelMessagesTypeAdapter.dump_python(compacted.messages, mode="json")}
            try:
                descriptor, temporary = tempfile.mkstemp(prefix=".nbagent-history-", dir=_directory_of(path))
            except OSError as exc:
                raise UserError(f"cannot write the history file {path}: {first_line(exc)}") from None
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump({"format": HISTORY_FILE_FORMAT, "conversations": conversations}, handle,
                              ensure_ascii=False, indent=1)
                os.replace(temporary, path)
            except BaseException as exc:
                os.unlink(temporary)
                if isinstance(exc, OSError):
                    raise UserError(f"cannot write the history file {path}: {first_line(exc)}") from None
                raise


def check_history_file(path: str) -> None:
    """A `UserError` unless `path` can be the history file: an existing history file, or a new file in
    an existing directory this kernel can write to. Checked when the setting is made, not at the next answer."""
    directory = _directory_of(path)
    if os.path.isdir(path):
        raise UserError(f"cannot use {path} as history file: it is a directory; name a file in it, e.g. {os.path.join(path, 'history.json')}")
    if not os.path.isdir(directory):
        raise UserError(f"cannot use {path} as history file: the directory {directory} does not exist; create it first")
    if os.path.exists(path):
        read_history_file(path)  # refuse a file that is not a history, so it is never overwritten
        return
    try:
        with tempfile.TemporaryFile(prefix=".nbagent-history-", dir=directory):
            pass
    except OSError as exc:
        raise UserError(f"cannot use {path} as history file: cannot write in {directory} ({first_line(exc)})") from None


def _directory_of(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def read_history_file(path: str) -> dict[str, list[Turn]]:
    """The conversations saved in a history file; a `UserError` naming the file if it is not one."""
    return {name: turns for name, (turns, _) in read_history(path).items()}


def read_history(path: str) -> dict[str, tuple[list[Turn], Compacted | None]]:
    """The conversations of a history file, each with its compacted first turns if it had them."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != HISTORY_FILE_FORMAT:
            raise ValueError(f"not an nbagent history file (format {data.get('format')!r})")
        read = {}
        for name, saved in data["conversations"].items():
            turns = turns_from_messages(messages_from_json(json.dumps(saved["messages"])), saved.get("cell_ids"),
                                        saved.get("models"))
            compacted = None
            if saved.get("compacted"):
                kept = saved["compacted"]
                compacted = Compacted(turns[:int(kept["turns"])], messages_from_json(json.dumps(kept["messages"])),
                                      str(kept.get("note", "")))
            read[name] = (turns, compacted)
        return read
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UserError) as exc:
        raise UserError(f"cannot use {path} as history file: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_state: NotebookState | None = None


def get_state() -> NotebookState:
    """The kernel's nbagent state, created on first use around the bound settings."""
    global _state
    if _state is None:
        _state = NotebookState(get_settings())
    return _state
