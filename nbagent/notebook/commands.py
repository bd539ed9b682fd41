"""What the magics do, behind the layer's lazy boundary: magics.py parses, this module acts.

Loaded once, on the first magic call (or the first setting checked), by `layer()`; from here on the
notebook layer imports like ordinary code. Every nbagent error becomes one line in the cell.
"""

from __future__ import annotations

import builtins
import functools
import json
import keyword
import math
import re
import shlex
import sys
from typing import Any, Callable

from IPython.display import display
from traitlets import TraitError

from ..errors import NbAgentError, UserError, with_notes
from ..models import default_model_name, default_model_origin, infer_model
from ..settings import validate_settings
from .view.answer_view import OutputWatch
from .ask import Ask, is_ask_cell
from .config import AgentSettings, get_settings
from .compacting import compact_now
from .rows.each import MapCell
from .line_magics.history import change_history, show_history
from .line_magics.jobs import show_jobs
from .live import is_kernel
from .magics import AskError
from .line_magics.model_list import show_models
from ..prices import check_prices
from .line_magics.usage_report import show_usage
from .line_magics.panel import settings_panel
from .prompt import InterpolationError, interpolate
from .state import check_history_file, get_state

MIN_CONTEXT_WINDOW = 1_000
SETTING_KINDS = {"temperature": float, "max_tokens": int, "model": str, "system": str, "history_file": str,
                 "tools": str, "approve_code": str, "context_window": int, "compact": str, "prices": dict,
                 "confirm_above": float}
_JSON_VALUE = re.compile(r"(?:^|(?<=\s))(\w+)=(?=[{\[])")  # name= followed by a JSON object or list
CHOICES = {"tools": {"kernel": "kernel", "off": "", "default": ""},
           "approve_code": {"ask": "ask", "always": "always", "default": "ask"},
           "compact": {"on": "on", "off": "off", "default": "on"}}


def one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Show nbagent's own errors (bad settings, HTTP failures, ...) as one line, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NbAgentError as exc:
            raise AskError(with_notes(exc)) from None

    return wrapper


@one_line_errors
def ask(shell: Any, args: Any, cell: str) -> None:
    """`%%ask` called as a magic (a terminal, or `run_cell_magic` from code)."""
    (_map_cell(shell, args, cell) if args.each is not None else _question(shell, args, cell)).run()


async def ask_async(shell: Any, args: Any, cell: str) -> None:
    """`%%ask` as a kernel runs the cell: async, so widget clicks arrive while it waits."""
    try:
        await (_map_cell(shell, args, cell) if args.each is not None else _question(shell, args, cell)).run_async()
    except NbAgentError as exc:
        raise AskError(with_notes(exc)) from None


def _map_cell(shell: Any, args: Any, cell: str) -> MapCell:
    """`%%ask --each`: the cell's question over every row (each.py)."""
    if not cell.strip():
        raise AskError("nothing to ask: write the question for each row in the cell, below %%ask --each")
    if args.output is None:
        raise AskError("--each needs -o VAR: the variable that gets the result DataFrame")
    _check_output_name(shell, args.output)
    return MapCell(shell, args, cell)


def _question(shell: Any, args: Any, cell: str) -> Ask:
    """Check the options and fill in the `{expr}` fields: the question, ready to ask."""
    if not cell.strip():
        raise AskError("nothing to ask: write the question in the cell, below %%ask")
    if args.output is not None:
        _check_output_name(shell, args.output)
    if args.concurrency is not None or args.budget is not None:
        raise AskError("--concurrency and --budget go with --each (a question over every row)")
    if args.output_type is not None and args.code:
        raise AskError("--code takes a code block from a text answer; it cannot be used with --output-type")
    # Watched from here, before `{expr}` runs: the answer may be the cell's only output in the end (answer_view.py).
    watch = OutputWatch(shell) if is_kernel() and not args.background and is_ask_cell(shell) else None
    try:
        try:
            prompt, notes = interpolate(cell.strip(), shell.user_ns)
        except InterpolationError as exc:
            raise AskError(str(exc)) from None
        for note in notes:
            print(f"nbagent: {note}", file=sys.stderr)
        return Ask(shell, args, prompt, watch=watch)
    except BaseException:
        if watch is not None:
            watch.stop()
        raise


def _check_output_name(shell: Any, name: str) -> None:
    """-o VAR must be a name the answer can take without breaking Python: refused rather than warned,
    since by the time a warning is read `print` or `list` would already be gone from the namespace."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise AskError(f"-o/--output needs a variable name, got {name!r}" + (" (a Python keyword)" if name.isidentifier() else ""))
    if hasattr(builtins, name):
        raise AskError(f"-o/--output {name}: {name!r} is a Python builtin the answer would hide; choose another name, "
                       f"e.g. -o {name}_answer")
    if name in getattr(shell, "user_ns_hidden", {}):
        raise AskError(f"-o/--output {name}: {name!r} is one of IPython's own names; choose another, e.g. -o answer")


@one_line_errors
def agent_settings(shell: Any, line: str) -> None:
    """`%agent_settings`: change settings from the line, or show the panel."""
    settings = get_settings()
    if line.strip() or not is_kernel():
        if line.strip():
            _apply_settings_line(settings, line)
        print("nbagent settings: " + _describe(settings))
        return
    display(settings_panel(settings))


@one_line_errors
def agent_history(args: Any) -> None:
    """`%agent_history`: show the conversation, or change it."""
    state = get_state()
    conversation = state.conversation(args.agent)
    if args.compact:  # a model request: not under the conversation's lock
        message: str | None = compact_now(conversation, state, conversation.agent.model)
        state.save_history_file()
    else:
        with conversation.lock:
            message = change_history(conversation, args)
            if message:
                state.save_history_file()
    if message:
        print(f"nbagent: {message}")
    else:
        show_history(conversation, every_turn=args.all)


@one_line_errors
def agent_models() -> None:
    """`%agent_models`: the providers configured here, and the models the local servers serve."""
    chosen = get_settings().model
    show_models(chosen or default_model_name(), "%agent_settings" if chosen else default_model_origin())


@one_line_errors
def agent_usage(args: Any) -> None:
    """`%agent_usage`: tokens, requests and cost per model, for the conversation and the session."""
    state = get_state()
    show_usage(state.conversation(args.agent), list(state.asked), state.settings.prices)


@one_line_errors
def agent_jobs(args: Any) -> None:
    """`%agent_jobs`: the batch jobs recorded in the map cache, newest first."""
    show_jobs(refresh=args.refresh)


def check_setting(name: str, value: Any) -> Any:
    """A setting's value as the core accepts it, else a TraitError saying why (for config.py's validator)."""
    try:
        if name in ("temperature", "max_tokens") and value is not None:
            validate_settings({name: value})
        elif name == "model":
            value = value.strip()
            if value:
                infer_model(value)
        elif name == "prices":
            value = check_prices(value)
        elif name == "confirm_above" and not (math.isfinite(value) and value >= 0):
            raise UserError(f"confirm_above is an amount in USD >= 0 (a map estimated above it asks first), got {value}")
        elif name == "context_window" and value is not None and value < MIN_CONTEXT_WINDOW:
            raise UserError(f"context_window={value}: give the model's window in tokens (at least "
                            f"{MIN_CONTEXT_WINDOW:,}), or default for nbagent's table")
        elif name == "history_file":
            value = value.strip()
            if value:
                check_history_file(value)
    except UserError as exc:
        raise TraitError(str(exc)) from None
    return value


def _settings_tokens(line: str) -> list[tuple[str, str, Any]]:
    """(name, separator, value) of each `name=value` on the line: a value that starts with `{` or `[` is
    read as JSON (its spaces and quotes kept, so `prices={"openai:gpt-4o": [2.5, 10]}` needs no quoting),
    the others as shell words."""
    values: dict[str, Any] = {}
    rest, start = "", 0
    for match in _JSON_VALUE.finditer(line):
        if match.start() < start:
            continue
        try:
            value, end = json.JSONDecoder().raw_decode(line, match.end())
        except ValueError as exc:
            raise AskError(f"{match.group(1)}: not valid JSON ({exc})") from None
        placeholder = f"\0{len(values)}"
        values[placeholder] = value
        rest += line[start:match.end()] + placeholder
        start = end
    try:
        tokens = shlex.split(rest + line[start:])
    except ValueError as exc:
        raise AskError(f"cannot read the settings ({exc}); quote values with spaces") from None
    return [(name, sep, values.get(raw, raw)) for name, sep, raw in (token.partition("=") for token in tokens)]


def _apply_settings_line(settings: AgentSettings, line: str) -> None:
    changes: dict[str, Any] = {}
    for name, sep, raw in _settings_tokens(line):
        if not sep:
            raise AskError(f"write settings as name=value (got {name!r}); e.g. %agent_settings temperature=0.2")
        if name not in SETTING_KINDS:
            raise AskError(f"unknown setting {name!r}; known: {', '.join(SETTING_KINDS)}")
        kind = SETTING_KINDS[name]
        if kind is dict:
            if not isinstance(raw, dict) and not (isinstance(raw, str) and raw.lower() in ("default", "none", "")):
                raise AskError(f"{name} takes a JSON object, e.g. {name}=" + '{"openai:gpt-4o": [2.5, 10]}')
            changes[name] = raw if isinstance(raw, dict) else {}
            continue
        if not isinstance(raw, str):
            raise AskError(f"{name} takes a single value, not JSON; got {json.dumps(raw)}")
        if name in CHOICES:
            if raw.lower() not in CHOICES[name]:
                raise AskError(f"{name} must be one of: {', '.join(CHOICES[name])}; got {raw!r}")
            changes[name] = CHOICES[name][raw.lower()]
            continue
        if raw.lower() in ("default", "none", ""):
            changes[name] = settings.trait_defaults(name)
            continue
        try:
            changes[name] = kind(raw)
        except ValueError:
            raise AskError(f"{name} must be a {'number' if kind is float else 'whole number'}, got {raw!r}") from None
    try:
        with settings.hold_trait_notifications():
            for name, value in changes.items():
                setattr(settings, name, value)
    except TraitError as exc:  # refused by a check: traitlets puts every value of the line back
        raise AskError(str(exc)) from None


def _describe(settings: AgentSettings) -> str:
    def shown(name: str) -> str:
        value = getattr(settings, name)
        if name == "tools":
            return value or "off"
        if name == "prices":
            return json.dumps(value) if value else "default"
        return "default" if value in (None, "") else repr(value) if name == "system" else str(value)

    return ", ".join(f"{name}={shown(name)}" for name in SETTING_KINDS)
