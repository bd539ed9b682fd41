"""`%%ask`, `%agent_settings`, `%agent_history`, `%agent_models`, `%agent_usage`, `%agent_jobs`: the magics
and their options.

This is what `%load_ext nbagent` imports, so it needs only IPython: each magic parses its options and
hands over to `commands`, behind the layer's one lazy boundary (`layer()`), which loads the model
stack, widgets and HTTP on the first call.

In a kernel a `%%ask` cell runs as an async cell (an input transformer turns it into one awaited
call): while the answer waits for the model, or for the user's Run click on code the model wants to
run, the kernel's loop stays free to deliver widget messages. Elsewhere (a terminal, a direct
`run_cell_magic` call) the magic runs as usual.
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from . import layer
from .cell_outputs import start_recording, stop_recording
from .config import get_settings


class AskError(Exception):
    """A failed nbagent magic: shown as one short line in the cell, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mnbagent: {self}\x1b[0m"]


@magics_class
class AgentMagics(Magics):
    @magic_arguments()
    @argument("--model", "-m", help="model for this question, e.g. openai:gpt-4o, anthropic:claude-sonnet-4-5, ollama:llama3.2, offline")
    @argument("--temperature", "-t", type=float, help="temperature for this question (0-2)")
    @argument("--max-tokens", type=int, help="maximum tokens of the answer for this question")
    @argument("--system", "-s", help="system instructions for this question")
    @argument("--new", action="store_true", help="start a fresh conversation (forget the history)")
    @argument("--agent", "-a", default="default", help="name of the conversation to use (several can run side by side)")
    @argument("--output", "-o", metavar="VAR", help="store the answer in this variable (text, or the --output-type object)")
    @argument("--output-type", metavar="TYPE",
              help="answer with an object of this type, shown as it forms: a class of yours (a pydantic model, "
                   "dataclass, TypedDict) or a type such as list[str]; quote it if it has spaces")
    @argument("--no-history", action="store_true", help="a one-off question: send no history and keep none")
    @argument("--code", action="store_true", help="put the first code block of the answer into a new cell below")
    @argument("--background", "-b", action="store_true", help="stream the answer while other cells run")
    @argument("--each", metavar="ROWS",
              help="ask the cell's question of every row of ROWS (a DataFrame, Series or list), as one map: "
                   "{column} is filled from each row, any other {expr} from your namespace; needs -o VAR")
    @argument("--concurrency", type=int, metavar="N", help="with --each: at most N requests in flight (default 16)")
    @argument("--budget", type=float, metavar="USD", help="with --each: stop sending before the cost passes USD")
    @argument("--tools", action="store_true",
              help="let the model look at your variables, last error and cells, and propose code you approve "
                   "(variable contents may be sent to the model)")
    @cell_magic
    def ask(self, line: str, cell: str) -> None:
        """Ask the kernel-resident agent: the cell body is the prompt; the conversation carries across cells.

        The answer streams into one output, updated in place, and stays in the notebook as Markdown.
        `{expr}` in the question is replaced by its value from your namespace (`{{` and `}}` for braces);
        a matplotlib figure, PIL image, IPython Image or PNG/JPEG bytes is sent as an image.
        Re-running a cell replaces its earlier question and answer in the conversation.
        With --tools (or `%agent_settings tools=kernel`) the model may call the kernel tools:
        list_variables, inspect_variable, last_error, read_cell, and run_code after you click Run.
        With --each DF -o OUT the question is asked of every row of DF ({column} from the row) and OUT
        gets a DataFrame of the answers (typed columns with --output-type, and `_error`), cached and
        resumable; above `%agent_settings confirm_above` (USD) it waits for your Run click first.
        """
        layer().ask(self.shell, _parse(self.ask, line), cell)

    @line_magic
    def agent_settings(self, line: str) -> Any:
        """Show the settings panel, or change settings: %agent_settings temperature=0.3 max_tokens=200

        Settings: model, temperature, max_tokens, system, history_file, tools (kernel or off),
        approve_code (ask or always), prices (for %agent_usage, USD per million input / output tokens:
        prices={"openai:gpt-4o": [2.5, 10]}). `name=default` goes back to the default. Every open panel
        and the next %%ask follow the change.
        """
        return layer().agent_settings(self.shell, line)

    @magic_arguments()
    @argument("--agent", "-a", default="default", help="name of the conversation")
    @argument("--clear", action="store_true", help="forget the whole conversation")
    @argument("--pop", action="store_true", help="forget the last question and its answer")
    @argument("--save", metavar="FILE", help="write the conversation as JSON (nbagent's message format)")
    @argument("--load", metavar="FILE", help="replace the conversation by one saved with --save")
    @argument("--all", action="store_true", help="show every turn, the compacted ones too")
    @argument("--compact", action="store_true",
              help="compact now: all but the latest two turns replaced by a summary the model writes")
    @line_magic
    def agent_history(self, line: str) -> None:
        """Show the conversation as a table (cell, role, text, tokens), or change it."""
        layer().agent_history(_parse(self.agent_history, line))

    @line_magic
    def agent_models(self, line: str) -> None:
        """List the providers configured here (a key set, or a local server) and the models the local
        servers (ollama, lmstudio, vllm) serve; keys are never shown, only the variables that hold them."""
        if line.strip():
            raise AskError("%agent_models takes no arguments")
        layer().agent_models()

    @magic_arguments()
    @argument("--agent", "-a", default="default", help="name of the conversation")
    @line_magic
    def agent_usage(self, line: str) -> None:
        """Requests, tokens in / out and cost per model, for the conversation and for the session (every
        question answered, replaced and cleared ones too). Costs come from your prices
        (%agent_settings prices={"openai:gpt-4o": [2.5, 10]}, USD per million input / output tokens) or
        from the genai-prices library; a model with neither shows "no price"."""
        layer().agent_usage(_parse(self.agent_usage, line))

    @magic_arguments()
    @argument("--refresh", action="store_true", help="ask the providers for the status of unfinished jobs now")
    @line_magic
    def agent_jobs(self, line: str) -> None:
        """The batch jobs recorded in the map cache (agent.submit_batch): provider, id, model, status and
        request counts, newest first; they survive a kernel restart (read one with agent.batch_job(id))."""
        layer().agent_jobs(_parse(self.agent_jobs, line))


async def ask_in_kernel(shell: Any, line: str, cell: str) -> None:
    """What a `%%ask` cell becomes in a kernel (see `_await_ask_cells`)."""
    await layer().ask_async(shell, _parse(AgentMagics.ask, line), cell)


def _await_ask_cells(lines: list[str]) -> list[str]:
    """Input transformer: a `%%ask` cell becomes one awaited call of `ask_in_kernel`, so the kernel runs
    it as an async cell. `%%ask?` (help) and other cells are left alone."""
    if not lines or not lines[0].startswith("%%ask") or lines[0].rstrip().endswith("?"):
        return lines
    first, *body = lines
    magic, _, line = first.rstrip("\n").partition(" ")
    if magic != "%%ask":
        return lines
    call = f"ask_in_kernel(get_ipython(), {line!r}, {''.join(body)!r})"
    return [f"await __import__({__name__!r}, fromlist=['ask_in_kernel']).{call}\n"]


def _parse(magic: Any, line: str) -> Any:
    try:
        return magic.parser.parse_args(shlex.split(line))  # shlex: quoted values lose their quotes
    except Exception as exc:  # UsageError from argparse, ValueError from shlex
        raise AskError(f"{exc} (see %{magic.__name__}?)") from None


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(AgentMagics)
    start_recording(ipython)  # what each cell shows, for the kernel tools' read_cell / list_cells
    get_settings()  # registers AgentSettings with the shell, so `%config AgentSettings.<name>` works at once
    if hasattr(ipython, "kernel") and ipython.autoawait and _await_ask_cells not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(_await_ask_cells)


def unload_ipython_extension(ipython: Any) -> None:
    stop_recording(ipython)
    if _await_ask_cells in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(_await_ask_cells)
    # IPython has no unregister for magics classes; drop ours from the registry by name.
    for kind, names in (("cell", ("ask",)), ("line", ("agent_settings", "agent_history", "agent_models", "agent_usage",
                                                          "agent_jobs"))):
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
