"""One `%%ask`: choose the history, stream the answer into one output, record the turn.

Imports only the standard library at load time (`%load_ext` stays fast); the model stack loads when
a question is asked.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

STALE_NOTE = "⚠ asked against an older version of an earlier question"


class AskError(Exception):
    """A failed nbagent magic: shown as one short line in the cell, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mnbagent: {self}\x1b[0m"]


class AskInterrupted(AskError):
    """The user stopped the answer (kernel interrupt)."""


def cell_id_of(shell: Any) -> str | None:
    """The id JupyterLab / Notebook 7 put in the execute request's metadata, if any."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent("shell")
    except Exception:
        return None
    cell_id = (parent or {}).get("metadata", {}).get("cellId")
    return str(cell_id) if cell_id else None


class Ask:
    """One `%%ask`: pick the history, stream the answer into the cell, record the turn."""

    def __init__(self, shell: Any, args: Any, prompt: str) -> None:
        from ..models import infer_model
        from ..settings import validate_settings
        from .live import is_kernel
        from .state import get_state

        self.shell = shell
        self.args = args
        self.prompt = prompt
        self.state = get_state()
        self.conversation = self.state.conversation(args.agent)
        self.run_settings = validate_settings(
            {name: value for name, value in (("temperature", args.temperature), ("max_tokens", args.max_tokens))
             if value is not None}
        )
        self.model = infer_model(args.model) if args.model else self.conversation.agent.model
        self.cell_id = cell_id_of(shell)
        self.kernel = is_kernel()
        with self.conversation.lock:
            if args.new:
                self.conversation.turns.clear()
            self.replacing = None if args.no_history else self.conversation.turn_of_cell(self.cell_id)
            self.history = [] if args.no_history else self.conversation.history_before(self.replacing)

    def run(self) -> None:
        from .live import StreamProgress, cancel_and_wait, follow, loop_thread

        progress = StreamProgress()
        view = AnswerView(self.model.label, kernel=self.kernel)
        future = loop_thread().submit(self._consume(progress))
        if self.args.background:
            if not self.kernel:
                raise AskError("--background needs a Jupyter kernel")
            self._follow_in_background(progress, future, view)
            return
        try:
            follow(progress, view.show_partial)
        except KeyboardInterrupt:
            cancel_and_wait(future, progress)
            view.show_final(progress.text, self._footer(progress, None, "⏹ interrupted: partial answer, not added to the conversation"))
            raise AskInterrupted("interrupted; the partial answer above is not part of the conversation") from None
        try:
            result = future.result()
        except BaseException:
            view.clear()
            raise
        self._finish(result, progress, view)

    async def _consume(self, progress: Any) -> Any:
        try:
            async with self.conversation.agent.run_stream(
                self.prompt, message_history=self.history, model_settings=self.run_settings,
                model=self.model, instructions=self.args.system,
            ) as result:
                async for delta in result.stream_text(delta=True):
                    progress.add(delta)
                return result
        finally:
            progress.finish()

    def _follow_in_background(self, progress: Any, future: Any, view: "AnswerView") -> None:
        """Keep updating this cell's output from a thread while the kernel runs other cells."""
        parent = self.shell.kernel.get_parent("shell")
        publisher = self.shell.display_pub

        def follow_and_finish() -> None:
            from ..errors import NbAgentError
            from .live import follow

            if hasattr(publisher, "set_thread_parent"):
                publisher.set_thread_parent(parent)  # outputs of this thread belong to the asking cell
            follow(progress, view.show_partial)
            try:
                result = future.result()
            except NbAgentError as exc:
                view.show_error(str(exc))
                return
            except BaseException as exc:  # the thread has no cell to raise into: say it in the output
                view.show_error(f"{type(exc).__name__}: {exc}")
                return
            self._finish(result, progress, view)

        threading.Thread(target=follow_and_finish, name="nbagent-background-answer", daemon=True).start()

    def _footer(self, progress: Any, usage: Any, state: str = "") -> str:
        from .render import footer

        ttft = None if progress.first_token_at is None else progress.first_token_at - progress.started
        generation = None
        if progress.first_token_at is not None and progress.finished_at is not None:
            generation = progress.finished_at - progress.first_token_at
        return footer(self.model.label, usage, ttft, generation, state=state)

    def _finish(self, result: Any, progress: Any, view: "AnswerView") -> None:
        from .render import answer_bundle
        from .state import Turn

        output = progress.text
        notes = []
        stale: list[Any] = []
        if not self.args.no_history:
            request, response = result.new_messages()
            turn = Turn(request, response, cell_id=self.cell_id, display_id=view.display_id)
            with self.conversation.lock:
                replacing = self.conversation.turn_of_cell(self.cell_id) if self.replacing is not None else None
                stale = self.conversation.record(turn, replacing)
            if replacing is not None:
                notes.append("replaced this cell's earlier turn")
            if stale:
                notes.append(f"{len(stale)} later turn(s) were asked against the old version")
        turn_footer = self._footer(progress, result.usage(), " · ".join(notes))
        if not self.args.no_history:
            turn.footer = turn_footer
        view.show_final(output, turn_footer)
        for later in stale:
            if later.display_id:
                view.update_other(later.display_id, answer_bundle(later.response.text, f"{later.footer} · {STALE_NOTE}", streaming=False))
        self.state.save_history_file()
        if self.args.output:
            self.shell.user_ns[self.args.output] = output
        if self.args.code:
            self._code_to_next_cell(output)

    def _code_to_next_cell(self, output: str) -> None:
        from .prompt import first_code_block

        code = first_code_block(output)
        if code is None:
            print("nbagent: the answer has no code block to put in a cell", file=sys.stderr)
        else:
            self.shell.set_next_input(code, replace=False)


class AnswerView:
    """One output for one answer: a display updated in place in a kernel, streamed text in a terminal."""

    def __init__(self, model_label: str, *, kernel: bool) -> None:
        from .render import answer_bundle

        self.kernel = kernel
        self.display_id: str | None = None
        self._printed = 0
        self._bundle = answer_bundle
        if kernel:
            from IPython.display import display

            self._handle = display(
                {"text/markdown": f"*asking {model_label}…*", "text/plain": f"asking {model_label}…"},
                raw=True, display_id=True,
            )
            self.display_id = self._handle.display_id

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

    def show_error(self, message: str) -> None:
        self._handle.update({"text/plain": f"nbagent: {message}"}, raw=True)

    def update_other(self, display_id: str, bundle: dict[str, str]) -> None:
        from IPython.display import update_display

        update_display(bundle, display_id=display_id, raw=True)

    def clear(self) -> None:
        if self.kernel:
            self._handle.update({"text/plain": ""}, raw=True)

    def _write(self, text: str) -> None:
        sys.stdout.write(text[self._printed:])
        sys.stdout.flush()
        self._printed = len(text)
