"""One `%%ask`: choose the history and the tools, stream the answer into one output, record the turn.

The run's events drive the output (answer_view.py): text as it streams, the model's thinking above it
(thinking.py), and one line per tool call, completed in place when the tool answers (activity.py). The turn recorded is every message the run added, so a re-run,
`%agent_history` and the history file see the tool calls too.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, NoReturn

from IPython.display import update_display

from ..agent import Agent
from ..errors import NbAgentError, with_notes
from ..events import (AgentRunResultEvent, FunctionToolCallEvent, FunctionToolResultEvent, PartDeltaEvent,
                      PartStartEvent, TextPartDelta, ThinkingPartDelta)
from ..messages import TextPart, ThinkingPart, UserContent
from ..models import announce_offline, default_model_origin, infer_model
from ..result import RunResult
from ..settings import validate_settings
from .view.activity import ToolLine, turn_pieces
from .view.answer_view import AnswerView, OutputWatch
from .compacting import AnswerCompactions
from .config import TOOLS_KERNEL
from .kernel.approval import notebook_approval
from .kernel.kernel_tools import INSTRUCTIONS, NOTICE, KernelContext, notebook_tools, offline_model
from .live import StreamProgress, cancel_and_wait, compose, follow, follow_async, is_kernel, loop_thread
from .magics import AskError
from .prompt import first_code_block
from .markdown.render import answer_bundle, footer
from .state import Turn, get_state
from .view.structured import StructuredAnswer, output_type_of

STALE_NOTE = "⚠ asked against an older version of an earlier question"


class AskInterrupted(AskError):
    """The user stopped the answer (kernel interrupt)."""


def parent_request(shell: Any) -> dict[str, Any]:
    """The execute request being answered (its metadata and content), or {} outside a kernel."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return {}
    try:
        return kernel.get_parent("shell") or {}
    except Exception:
        return {}


def cell_id_of(shell: Any) -> str | None:
    """The id JupyterLab / Notebook 7 put in the execute request's metadata, if any."""
    cell_id = parent_request(shell).get("metadata", {}).get("cellId")
    return str(cell_id) if cell_id else None


def is_ask_cell(shell: Any) -> bool:
    """Whether the cell being run is a `%%ask` cell: no code of its own ran before the question."""
    code = parent_request(shell).get("content", {}).get("code", "")
    return isinstance(code, str) and code.startswith("%%ask")


def can_click(shell: Any) -> bool:
    """Whether the frontend that ran this cell is one a user sits at (JupyterLab, Notebook, VS Code ask
    for the user's input, `allow_stdin`); `jupyter execute`, nbclient and papermill do not."""
    return bool(parent_request(shell).get("content", {}).get("allow_stdin"))


class Ask:
    """One `%%ask`: pick the history and tools, stream the answer into the cell, record the turn."""

    def __init__(self, shell: Any, args: Any, prompt: str | list[UserContent], *,
                 watch: OutputWatch | None = None) -> None:
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
        if not (args.model or self.state.settings.model or default_model_origin()):
            announce_offline()  # nothing chose a model: this question gets the offline one
        self.cell_id = cell_id_of(shell)
        self.kernel = is_kernel()
        self.kernel_tools = args.tools or self.state.settings.tools == TOOLS_KERNEL
        self.interactive = False  # the user can click Run: set for an async cell in a frontend they sit at
        self.tool_called = False  # a tool ran for this answer (it may have shown something in the cell)
        self._watch = watch  # what else the cell was shown since it started (None: not watched, never cleared)
        self.structured = StructuredAnswer(output_type_of(args.output_type, shell.user_ns)) if args.output_type else None
        if self.kernel_tools:
            self.model = offline_model(self.model, prompt if isinstance(prompt, str) else " ".join(
                piece for piece in prompt if isinstance(piece, str)))
        with self.conversation.lock:
            if args.new:
                self.conversation.turns.clear()
                self.conversation.compacted = None
            self.replacing = None if args.no_history else self.conversation.turn_of_cell(self.cell_id)
            basis = [] if args.no_history else self.conversation.basis(self.replacing)
        self.history = [message for part in basis for message in part.messages]
        self.compactions = AnswerCompactions(self.state.settings, basis)

    def run(self) -> None:
        """Ask and follow the answer from this thread (a terminal, or a magic called from code)."""
        progress, view, future = self._start()
        if progress is None:
            return
        try:
            try:
                follow(progress, view.show_partial, upto_pending=not self.kernel)
            except KeyboardInterrupt:
                self._interrupted(future, progress, view)
            self._finish(self._result(future, view), progress, view)
        finally:
            self._alone(view)  # the watch stopped, however the answer ended

    async def run_async(self) -> None:
        """Ask and follow the answer in an async cell, where the user can click Run on code to run."""
        self.interactive = can_click(self.shell)
        progress, view, future = self._start()
        if progress is None:
            return
        try:
            try:
                await follow_async(progress, view.show_partial)
            except (KeyboardInterrupt, asyncio.CancelledError):  # the kernel's interrupt, in an async cell
                self._interrupted(future, progress, view)
            self._finish(self._result(future, view), progress, view)
        finally:
            self._alone(view)  # the watch stopped, however the answer ended

    def _start(self) -> tuple[StreamProgress | None, "AnswerView", Any]:
        """Send the question; the answer's progress, its view and the request's future (no progress:
        a --background answer, followed from its own thread)."""
        if self.kernel_tools:
            print("nbagent: " + NOTICE.format(model=self.model.label), file=sys.stderr)
        progress = StreamProgress()
        view = AnswerView(self.model.label, kernel=self.kernel, progress=progress, watch=self._watch)
        future = loop_thread().submit(self._consume(progress))
        if not self.args.background:
            return progress, view, future
        if not self.kernel:
            raise AskError("--background needs a Jupyter kernel")
        self._follow_in_background(progress, future, view)
        return None, view, future

    def _alone(self, view: "AnswerView") -> bool:
        """Stop watching the cell; whether it showed nothing but this answer's outputs: then the view
        may clear the cell and show the answer as its one output (answer_view.py)."""
        watch, self._watch = self._watch, None
        if watch is None:
            return False
        alone = watch.only(view)
        return alone and self.kernel and not (self.tool_called or self.kernel_tools or self.args.background)

    def _interrupted(self, future: Any, progress: StreamProgress, view: "AnswerView") -> NoReturn:
        cancel_and_wait(future, progress)
        view.show_final(progress.text(), self._footer(progress, None, "⏹ interrupted: partial answer, not added to the conversation"),
                        alone=self._alone(view))
        raise AskInterrupted("interrupted; the partial answer above is not part of the conversation") from None

    def _result(self, future: Any, view: "AnswerView") -> RunResult:
        try:
            result: RunResult = future.result()
        except BaseException:
            view.clear(alone=self._alone(view))  # the error line that follows is all a failed question leaves
            raise
        return result

    def _agent(self) -> Agent[Any]:
        """The conversation's agent, or one like it that offers the question's tools and compacts."""
        agent = self.conversation.agent
        tools = notebook_tools(kernel=self.kernel_tools)
        compactor = self.compactions.capability
        if not tools and self.args.system is None and compactor is None:
            return agent
        asked = self.args.system if self.args.system is not None else agent.fixed_instructions
        capabilities: list[Any] = [compactor] if compactor is not None else []
        if tools:
            capabilities.append(notebook_approval())  # Run / Skip on calls that need approval (approval.py)
        return Agent(agent.model, instructions=asked, model_settings=agent.model_settings,
                     name=agent.name, deps_type=KernelContext, tools=tools, capabilities=capabilities)

    def _instructions(self, agent: Agent[Any]) -> str | None:
        """What this question adds to the agent's instructions (run instructions add, as in PydanticAI)."""
        return INSTRUCTIONS if self.kernel_tools else None

    async def _consume(self, progress: StreamProgress) -> RunResult:
        agent = self._agent()
        context = KernelContext(self.shell, progress, self.state.settings.approve_code,
                                interactive=self.interactive, background=self.args.background)
        lines: dict[str, ToolLine] = {}
        try:
            async for event in agent.run_stream_events(
                self.prompt, message_history=self.history, model_settings=self.run_settings,
                model=self.model, instructions=self._instructions(agent), deps=context,
                output_type=self.structured.output_type if self.structured else None,
            ):
                if self.structured is not None and self.structured.take(event, progress):
                    continue
                if type(event) is PartDeltaEvent:
                    if type(event.delta) is TextPartDelta:
                        progress.add(event.delta.content_delta)
                    elif type(event.delta) is ThinkingPartDelta and event.delta.content_delta:
                        progress.add_thinking(event.delta.content_delta)
                elif type(event) is PartStartEvent:
                    if type(event.part) is TextPart and event.part.content:
                        progress.add(event.part.content)
                    elif type(event.part) is ThinkingPart and event.part.content:
                        progress.add_thinking(event.part.content)
                elif type(event) is FunctionToolCallEvent:
                    self.tool_called = True
                    lines[event.tool_call_id] = line = ToolLine(event.part)
                    progress.add_block(line)
                elif type(event) is FunctionToolResultEvent and event.tool_call_id in lines:
                    lines[event.tool_call_id].finish(event.result)
                    progress.changed()
                elif type(event) is AgentRunResultEvent:
                    if self.structured is not None:
                        self.structured.finish(event.result.output)
                    return event.result
            raise AskError("the answer ended without a result")  # run_stream_events always ends with one
        finally:
            progress.finish()

    def _follow_in_background(self, progress: StreamProgress, future: Any, view: "AnswerView") -> None:
        """Keep updating this cell's output from a thread while the kernel runs other cells."""
        parent = self.shell.kernel.get_parent("shell")
        publisher = self.shell.display_pub

        def follow_and_finish() -> None:
            if hasattr(publisher, "set_thread_parent"):
                publisher.set_thread_parent(parent)  # outputs of this thread belong to the asking cell
            follow(progress, view.show_partial)
            try:
                result = future.result()
            except NbAgentError as exc:
                view.show_error(with_notes(exc))
                return
            except BaseException as exc:  # the thread has no cell to raise into: say it in the output
                view.show_error(f"{type(exc).__name__}: {with_notes(exc)}")
                return
            self._finish(result, progress, view)

        threading.Thread(target=follow_and_finish, name="nbagent-background-answer", daemon=True).start()

    def _footer(self, progress: StreamProgress, usage: Any, state: str = "") -> str:
        ttft = None if progress.first_token_at is None else progress.first_token_at - progress.started
        generation = None
        if progress.first_token_at is not None and progress.finished_at is not None:
            generation = progress.finished_at - progress.first_token_at
        return footer(self.model.label, usage, ttft, generation, state=state)

    def _finish(self, result: RunResult, progress: StreamProgress, view: "AnswerView") -> None:
        notes = []
        stale: list[Turn] = []
        turn = Turn(result.new_messages(), cell_id=self.cell_id, display_id=view.display_id, model=self.model.label)
        self.state.count_usage(turn)
        if not self.args.no_history:
            with self.conversation.lock:
                compacted = self.compactions.record(self.conversation, self.state, self.model.label)
                replacing = self.conversation.turn_of_cell(self.cell_id) if self.replacing is not None else None
                stale = self.conversation.record(turn, replacing)
            if compacted:
                notes.append(compacted)
            if replacing is not None:
                notes.append("replaced this cell's earlier turn")
            if stale:
                notes.append(f"{len(stale)} later turn(s) were asked against the old version")
        turn.footer = self._footer(progress, result.usage(), " · ".join(notes))
        view.show_final(progress.text(), turn.footer, alone=self._alone(view))
        for later in stale:
            if later.display_id:
                update_display(answer_bundle(compose(turn_pieces(later.messages)), f"{later.footer} · {STALE_NOTE}"),
                               display_id=later.display_id, raw=True)
        try:
            self.state.save_history_file()
        except NbAgentError as exc:  # the answer stands and its turn stays in the kernel's conversation
            print(f"nbagent: {exc}; the conversation is kept in this kernel only", file=sys.stderr)
        if self.args.output:
            self.shell.user_ns[self.args.output] = result.output
        if self.args.code:
            self._code_to_next_cell(result.output)

    def _code_to_next_cell(self, output: str) -> None:
        code = first_code_block(output)
        if code is None:
            print("nbagent: the answer has no code block to put in a cell", file=sys.stderr)
        else:
            self.shell.set_next_input(code, replace=False)

