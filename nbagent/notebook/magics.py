"""`%%ask`, `%agent_settings` and `%agent_history`: the notebook's way into the agent.

This module is what `%load_ext nbagent` imports, so it imports only IPython at load time; the model
stack, widgets and HTTP load on the first `%%ask`.
"""

from __future__ import annotations

import functools
import shlex
import sys
from typing import Any, Callable

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .ask import AskError


def _one_line_errors(magic: Callable[..., Any]) -> Callable[..., Any]:
    """Show nbagent's own errors (bad settings, HTTP failures, ...) as one line, not a traceback."""

    @functools.wraps(magic)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..errors import NbAgentError

        try:
            return magic(*args, **kwargs)
        except NbAgentError as exc:
            raise AskError(str(exc)) from None

    return wrapper


SETTING_KINDS = {"temperature": float, "max_tokens": int, "model": str, "system": str, "history_file": str}


@magics_class
class AgentMagics(Magics):
    @magic_arguments()
    @argument("--model", "-m", help="model for this question, e.g. openai:gpt-4o, anthropic:claude-sonnet-4-5, ollama:llama3.2, test")
    @argument("--temperature", "-t", type=float, help="temperature for this question (0-2)")
    @argument("--max-tokens", type=int, help="maximum tokens of the answer for this question")
    @argument("--system", "-s", help="system instructions for this question")
    @argument("--new", action="store_true", help="start a fresh conversation (forget the history)")
    @argument("--agent", "-a", default="default", help="name of the conversation to use (several can run side by side)")
    @argument("--output", "-o", metavar="VAR", help="store the answer text in this variable")
    @argument("--no-history", action="store_true", help="a one-off question: send no history and keep none")
    @argument("--code", action="store_true", help="put the first code block of the answer into a new cell below")
    @argument("--background", "-b", action="store_true", help="stream the answer while other cells run")
    @cell_magic
    @_one_line_errors
    def ask(self, line: str, cell: str) -> None:
        """Ask the kernel-resident agent: the cell body is the prompt; the conversation carries across cells.

        The answer streams into one output, updated in place, and stays in the notebook as Markdown.
        `{expr}` in the question is replaced by its value from your namespace (`{{` and `}}` for braces).
        Re-running a cell replaces its earlier question and answer in the conversation.
        """
        args = _parse(self.ask, line)
        if not cell.strip():
            raise AskError("nothing to ask: write the question in the cell, below %%ask")
        if args.output is not None and not args.output.isidentifier():
            raise AskError(f"-o/--output needs a variable name, got {args.output!r}")
        from .prompt import InterpolationError, interpolate

        try:
            prompt, notes = interpolate(cell.strip(), self.shell.user_ns)
        except InterpolationError as exc:
            raise AskError(str(exc)) from None
        for note in notes:
            print(f"nbagent: {note}", file=sys.stderr)
        from .ask import Ask

        Ask(self.shell, args, prompt).run()

    @line_magic
    @_one_line_errors
    def agent_settings(self, line: str) -> Any:
        """Show the settings panel, or change settings: %agent_settings temperature=0.3 max_tokens=200

        Settings: model, temperature, max_tokens, system, history_file. `name=default` goes back to the
        default. Every open panel and the next %%ask follow the change.
        """
        from .state import get_state

        settings = get_state().settings
        if line.strip():
            _apply_settings_line(settings, line)
            print("nbagent settings: " + _describe(settings))
            return None
        from .live import is_kernel

        if not is_kernel():
            print("nbagent settings: " + _describe(settings))
            return None
        from IPython.display import display

        from .panel import settings_panel

        display(settings_panel(settings))
        return None

    @magic_arguments()
    @argument("--agent", "-a", default="default", help="name of the conversation")
    @argument("--clear", action="store_true", help="forget the whole conversation")
    @argument("--pop", action="store_true", help="forget the last question and its answer")
    @argument("--save", metavar="FILE", help="write the conversation as JSON (nbagent's message format)")
    @argument("--load", metavar="FILE", help="replace the conversation by one saved with --save")
    @line_magic
    @_one_line_errors
    def agent_history(self, line: str) -> None:
        """Show the conversation as a table (cell, role, text, tokens), or change it."""
        from .state import get_state

        args = _parse(self.agent_history, line)
        state = get_state()
        conversation = state.conversation(args.agent)
        with conversation.lock:
            message = _change_history(conversation, args)
            if message:
                state.save_history_file()
        if message:
            print(f"nbagent: {message}")
        else:
            _show_history(conversation)


def _parse(magic: Any, line: str) -> Any:
    try:
        return magic.parser.parse_args(shlex.split(line))  # shlex: quoted values lose their quotes
    except Exception as exc:  # UsageError from argparse, ValueError from shlex
        raise AskError(f"{exc} (see %{magic.__name__}?)") from None


def _change_history(conversation: Any, args: Any) -> str | None:
    """Apply --clear/--pop/--save/--load; returns what was done, or None when only showing."""
    from ..errors import UserError
    from ..messages import messages_from_json, messages_to_json
    from .state import turns_from_messages

    if args.clear:
        count = len(conversation.turns)
        conversation.turns.clear()
        return f"cleared {count} turn(s) of conversation {conversation.name!r}"
    if args.pop:
        if not conversation.turns:
            raise UserError(f"conversation {conversation.name!r} is empty; nothing to pop")
        conversation.turns.pop()
        return f"removed the last turn; {len(conversation.turns)} left"
    if args.save:
        try:
            with open(args.save, "wb") as handle:
                handle.write(messages_to_json(conversation.history, indent=1))
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
            reason = str(exc).strip().splitlines()[0]
            raise UserError(f"{args.load} is not a saved conversation ({reason}); the current history is unchanged") from None
        conversation.turns = turns
        return f"loaded {len(turns)} turn(s) from {args.load}"
    return None


def _show_history(conversation: Any) -> None:
    from IPython.display import display

    from ..messages import ModelRequest, part_text

    rows = []
    for number, turn in enumerate(conversation.turns, 1):
        cell = turn.cell_id[:8] if turn.cell_id else "–"
        for message in turn.messages:
            if isinstance(message, ModelRequest):
                role, text = "user", " ".join(part_text(part) for part in message.parts)
                tokens = ""
            else:
                role, text = "assistant", message.text
                tokens = f"{message.usage.input_tokens:,} → {message.usage.output_tokens:,}"
            rows.append((str(number), cell, role, _excerpt(text), tokens + (" ⚠ stale" if turn.stale and role == "assistant" else "")))
    header = ("turn", "cell", "role", "text", "tokens")
    if not rows:
        plain = f"conversation {conversation.name!r} is empty"
        display({"text/markdown": f"*{plain}*", "text/plain": plain}, raw=True)
        return
    markdown = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(_table_cell(value) for value in row) + " |" for row in rows]
    )
    plain = "\n".join("  ".join(row) for row in [header, *rows])
    display({"text/markdown": markdown, "text/plain": plain}, raw=True)


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _table_cell(text: str) -> str:
    from .render import neutralize

    return neutralize(text).replace("|", r"\|")


def _apply_settings_line(settings: Any, line: str) -> None:
    from traitlets import TraitError

    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise AskError(f"cannot read the settings ({exc}); quote values with spaces") from None
    changes: dict[str, Any] = {}
    for token in tokens:
        name, sep, raw = token.partition("=")
        if not sep:
            raise AskError(f"write settings as name=value (got {token!r}); e.g. %agent_settings temperature=0.2")
        if name not in SETTING_KINDS:
            raise AskError(f"unknown setting {name!r}; known: {', '.join(SETTING_KINDS)}")
        kind = SETTING_KINDS[name]
        if raw.lower() in ("default", "none", ""):
            changes[name] = None if kind is not str else ""
            continue
        try:
            changes[name] = kind(raw)
        except ValueError:
            raise AskError(f"{name} must be a {'number' if kind is float else 'whole number'}, got {raw!r}") from None
    try:
        with settings.hold_trait_notifications():
            for name, value in changes.items():
                setattr(settings, name, value)
    except TraitError as exc:
        raise AskError(str(exc)) from None


def _describe(settings: Any) -> str:
    def shown(name: str) -> str:
        value = getattr(settings, name)
        return "default" if value in (None, "") else repr(value) if name == "system" else str(value)

    return ", ".join(f"{name}={shown(name)}" for name in SETTING_KINDS)


def load_ipython_extension(ipython: Any) -> None:
    from .state import get_state

    ipython.register_magics(AgentMagics)
    get_state()  # registers AgentSettings with the shell, so `%config AgentSettings.<name>` works at once


def unload_ipython_extension(ipython: Any) -> None:
    # IPython has no unregister for magics classes; drop ours from the registry by name.
    for kind, names in (("cell", ("ask",)), ("line", ("agent_settings", "agent_history"))):
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
