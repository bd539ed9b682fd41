"""`%%ask` and `%agent_settings`: the notebook's way into the agent.

This module is what `%load_ext nbagent` imports, so it imports only IPython at load time; the model
stack, widgets and HTTP load on the first `%%ask`.
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments


class AskError(Exception):
    """A failed `%%ask`: shown as one short line in the cell, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mnbagent: {self}\x1b[0m"]


class AskInterrupted(AskError):
    """The user stopped the answer (kernel interrupt)."""


SETTING_KINDS = {"temperature": float, "max_tokens": int, "model": str, "system": str}


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
    @cell_magic
    def ask(self, line: str, cell: str) -> None:
        """Ask the kernel-resident agent: the cell body is the prompt; the conversation carries across cells.

        The answer streams into one output, updated in place, and stays in the notebook as Markdown.
        """
        try:
            args = self.ask.parser.parse_args(shlex.split(line))  # shlex: quoted values lose their quotes
        except Exception as exc:  # UsageError from argparse, ValueError from shlex
            raise AskError(f"{exc} (see %%ask?)") from None
        prompt = cell.strip()
        if not prompt:
            raise AskError("nothing to ask: write the question in the cell, below %%ask")
        if args.output is not None and not args.output.isidentifier():
            raise AskError(f"-o/--output needs a variable name, got {args.output!r}")
        from ..errors import NbAgentError

        try:
            _ask(self.shell, args, prompt)
        except NbAgentError as exc:
            raise AskError(str(exc)) from None

    @line_magic
    def agent_settings(self, line: str) -> Any:
        """Show the settings panel, or change settings: %agent_settings temperature=0.3 max_tokens=200

        Settings: model, temperature, max_tokens, system. `name=default` goes back to the default.
        Every open panel and the next %%ask follow the change.
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


def _ask(shell: Any, args: Any, prompt: str) -> None:
    """Run one question through the conversation and show the answer as it streams."""
    from ..models import infer_model
    from ..settings import validate_settings
    from .live import StreamProgress, cancel_and_wait, follow, is_kernel, loop_thread
    from .render import footer
    from .state import get_state

    conversation = get_state().conversation(args.agent)
    if args.new:
        conversation.history.clear()
    run_settings = validate_settings(
        {name: value for name, value in (("temperature", args.temperature), ("max_tokens", args.max_tokens))
         if value is not None}
    )
    model = infer_model(args.model) if args.model else conversation.agent.model
    history = [] if args.no_history else list(conversation.history)
    progress = StreamProgress()
    agent = conversation.agent

    async def consume() -> Any:
        try:
            async with agent.run_stream(prompt, message_history=history, model_settings=run_settings,
                                        model=model, instructions=args.system) as result:
                async for delta in result.stream_text(delta=True):
                    progress.add(delta)
                return result
        finally:
            progress.finish()

    view = _AnswerView(model.label, kernel=is_kernel())
    future = loop_thread().submit(consume())
    try:
        view.updates = follow(progress, future, view.show_partial)
    except KeyboardInterrupt:
        cancel_and_wait(future, progress)
        view.show_final(progress.text, footer(model.label, None, _ttft(progress), None,
                                              state="⏹ interrupted: partial answer, not added to the conversation"))
        raise AskInterrupted("interrupted; the partial answer above is not part of the conversation") from None
    try:
        result = future.result()
    except BaseException:
        view.clear()
        raise
    usage = result.usage()
    generation = (progress.finished_at - progress.first_token_at) if progress.first_token_at else None
    output = progress.text
    view.show_final(output, footer(model.label, usage,
                                   _ttft(progress), generation))
    if not args.no_history:
        conversation.history.extend(result.new_messages())
    if args.output:
        shell.user_ns[args.output] = output


def _ttft(progress: Any) -> float | None:
    return None if progress.first_token_at is None else progress.first_token_at - progress.started


class _AnswerView:
    """One output for one answer: a display updated in place in a kernel, streamed text in a terminal."""

    def __init__(self, model_label: str, *, kernel: bool) -> None:
        from .render import answer_bundle

        self.kernel = kernel
        self.updates = 0
        self._printed = 0
        self._bundle = answer_bundle
        if kernel:
            from IPython.display import display

            self._handle = display(
                {"text/markdown": f"*asking {model_label}…*", "text/plain": f"asking {model_label}…"},
                raw=True, display_id=True,
            )

    def show_partial(self, text: str) -> None:
        if self.kernel:
            self._handle.update(self._bundle(text, "answering…", streaming=True), raw=True)
        else:
            self._write(text)

    def show_final(self, text: str, footer_line: str) -> None:
        if self.kernel:
            self._handle.update(self._bundle(text, footer_line, streaming=False), raw=True)
        else:
            self._write(text)
            print(f"\n\n{footer_line}", flush=True)

    def clear(self) -> None:
        if self.kernel:
            self._handle.update({"text/plain": ""}, raw=True)

    def _write(self, text: str) -> None:
        import sys

        sys.stdout.write(text[self._printed:])
        sys.stdout.flush()
        self._printed = len(text)


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(AgentMagics)


def unload_ipython_extension(ipython: Any) -> None:
    # IPython has no unregister for magics classes; drop ours from the registry by name.
    for kind, names in (("cell", ("ask",)), ("line", ("agent_settings",))):
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
