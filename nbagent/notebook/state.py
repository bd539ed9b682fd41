"""Kernel-resident state: the bound settings, the named conversations and their optional history file.

`AgentSettings` is the one source of truth for the settings panel, the `%agent_settings` line form,
`%config AgentSettings.<name>` and every conversation's `Agent`: a change from any of them is pushed
to the others through traitlets observers, so several open panels and the next `%%ask` always agree.

A conversation is a list of turns (one question and its answer), each remembering the notebook cell
that asked it, so re-running a cell replaces its own turn instead of appending a duplicate.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from traitlets import Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

if TYPE_CHECKING:
    from ..agent import Agent
    from ..messages import ModelMessage, ModelRequest, ModelResponse

HISTORY_FILE_FORMAT = "nbagent-history/1"


class AgentSettings(Configurable):
    """Defaults for every `%%ask`: None / "" mean "not set" (the provider's or nbagent's default)."""

    model = Unicode("", help="provider:model-name; empty = NBAGENT_MODEL / a configured key / the offline test model").tag(config=True)
    temperature = Float(None, allow_none=True, help="0-2; None = provider default").tag(config=True)
    max_tokens = Int(None, allow_none=True, help=">= 1; None = provider default").tag(config=True)
    system = Unicode("", help="instructions sent with every request").tag(config=True)
    history_file = Unicode("", help="keep the conversations in this JSON file (survives kernel restarts)").tag(config=True)

    @validate("temperature", "max_tokens")
    def _check_setting(self, proposal: Any) -> Any:
        from ..settings import validate_settings

        name, value = proposal["trait"].name, proposal["value"]
        if value is not None:
            _as_trait_error(validate_settings, {name: value})
        return value

    @validate("history_file")
    def _check_history_file(self, proposal: Any) -> str:
        """Refuse a file that exists but is not an nbagent history, so it is never overwritten."""
        path = proposal["value"].strip()
        if path and os.path.exists(path):
            _as_trait_error(read_history_file, path)
        return path

    @validate("model")
    def _check_model(self, proposal: Any) -> str:
        from ..models import infer_model

        value = proposal["value"].strip()
        if value:
            _as_trait_error(infer_model, value)
        return value

    def model_settings(self) -> dict[str, Any]:
        """The settings that are set, as core `ModelSettings`."""
        settings: dict[str, Any] = {}
        if self.temperature is not None:
            settings["temperature"] = self.temperature
        if self.max_tokens is not None:
            settings["max_tokens"] = self.max_tokens
        return settings


@dataclass
class Turn:
    """One question and its answer, and where in the notebook it was asked."""

    request: ModelRequest
    response: ModelResponse
    cell_id: str | None = None
    display_id: str | None = None
    footer: str = ""
    stale: bool = False  # an earlier turn was re-asked after this one was answered

    @property
    def messages(self) -> list[ModelMessage]:
        return [self.request, self.response]


class Conversation:
    """One named conversation: its agent (bound to the settings) and its turns."""

    def __init__(self, name: str, settings: AgentSettings) -> None:
        from ..agent import Agent

        self.name = name
        self.turns: list[Turn] = []
        self.lock = threading.RLock()  # background answers land from another thread
        self.agent: Agent = Agent(settings.model or None, name=name)
        self.apply(settings)

    def apply(self, settings: AgentSettings) -> None:
        """Push the bound settings into this conversation's agent."""
        from ..models import default_model_name, infer_model

        wanted = settings.model or default_model_name()
        if self.agent.model.label != wanted:
            self.agent.model = infer_model(settings.model or None)
        self.agent.instructions = settings.system or None
        self.agent.model_settings = settings.model_settings()

    @property
    def history(self) -> list[ModelMessage]:
        """All messages, oldest first, as sent to the model."""
        return [message for turn in self.turns for message in turn.messages]

    def turn_of_cell(self, cell_id: str | None) -> int | None:
        if cell_id is None:
            return None
        return next((index for index, turn in enumerate(self.turns) if turn.cell_id == cell_id), None)

    def history_before(self, index: int | None) -> list[ModelMessage]:
        """What a question is asked against: everything, or only the turns before a re-run cell's turn."""
        turns = self.turns if index is None else self.turns[:index]
        return [message for turn in turns for message in turn.messages]

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


def turns_from_messages(messages: Sequence[ModelMessage], cell_ids: Sequence[str | None] | None = None) -> list[Turn]:
    """Pair messages into turns; a message out of order is an error naming its position."""
    from ..errors import UserError
    from ..messages import ModelRequest, ModelResponse

    if len(messages) % 2:
        raise UserError(f"not a conversation: {len(messages)} messages, expected question/answer pairs")
    turns = []
    for position in range(0, len(messages), 2):
        request, response = messages[position], messages[position + 1]
        if not isinstance(request, ModelRequest) or not isinstance(response, ModelResponse):
            raise UserError(f"not a conversation: message {position} should be a request followed by a response")
        cell_id = cell_ids[position // 2] if cell_ids else None
        turns.append(Turn(request, response, cell_id=cell_id))
    return turns


class NotebookState:
    """Everything nbagent keeps in the kernel."""

    def __init__(self, config: Any = None) -> None:
        try:
            self.settings = AgentSettings(config=config)
        except TraitError as exc:  # a bad value in ipython_config.py must not disable the magics
            print(f"nbagent: ignoring the AgentSettings config: {exc}", file=sys.stderr)
            self.settings = AgentSettings()
        self.conversations: dict[str, Conversation] = {}
        self._file_lock = threading.Lock()  # background answers save from their own thread
        self.settings.observe(self._push_settings, names=["model", "temperature", "max_tokens", "system"])
        self.settings.observe(self._history_file_changed, names=["history_file"])
        if self.settings.history_file:
            self.load_history_file()

    def conversation(self, name: str = "default") -> Conversation:
        if name not in self.conversations:
            self.conversations[name] = Conversation(name, self.settings)
        return self.conversations[name]

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
        for name, turns in read_history_file(path).items():
            self.conversation(name).turns = turns

    def save_history_file(self) -> None:
        """Write all conversations atomically (temp file + rename), if a history file is set."""
        path = self.settings.history_file
        if not path:
            return
        from ..messages import ModelMessagesTypeAdapter

        with self._file_lock:
            conversations = {}
            for name, conversation in list(self.conversations.items()):
                with conversation.lock:
                    turns = list(conversation.turns)
                conversations[name] = {
                    "messages": ModelMessagesTypeAdapter.dump_python(
                        [message for turn in turns for message in turn.messages], mode="json"),
                    "cell_ids": [turn.cell_id for turn in turns],
                }
            directory = os.path.dirname(os.path.abspath(path))
            descriptor, temporary = tempfile.mkstemp(prefix=".nbagent-history-", dir=directory)
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    json.dump({"format": HISTORY_FILE_FORMAT, "conversations": conversations}, handle,
                              ensure_ascii=False, indent=1)
                os.replace(temporary, path)
            except BaseException:
                os.unlink(temporary)
                raise


def read_history_file(path: str) -> dict[str, list[Turn]]:
    """The conversations saved in a history file; a `UserError` naming the file if it is not one."""
    from ..errors import UserError
    from ..messages import messages_from_json

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != HISTORY_FILE_FORMAT:
            raise ValueError(f"not an nbagent history file (format {data.get('format')!r})")
        return {
            name: turns_from_messages(messages_from_json(json.dumps(saved["messages"])), saved.get("cell_ids"))
            for name, saved in data["conversations"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UserError) as exc:
        raise UserError(f"cannot use {path} as history file: {_first_line(exc)}") from None


def _as_trait_error(check: Callable[[Any], Any], value: Any) -> None:
    """Run a core check inside a traitlets validator, which must signal refusal with a TraitError."""
    from ..errors import UserError

    try:
        check(value)
    except UserError as exc:
        raise TraitError(str(exc)) from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_state: NotebookState | None = None


def get_state() -> NotebookState:
    """The kernel's nbagent state, created on first use (with the shell's traitlets config)."""
    global _state
    if _state is None:
        from IPython import get_ipython

        shell = get_ipython()
        _state = NotebookState(config=shell.config if shell is not None else None)
        if shell is not None:
            shell.configurables.append(_state.settings)
    return _state
