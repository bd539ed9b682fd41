"""`%%ask --each DF -o OUT`: the cell's question asked of every row of DF, as one `agent.map`.

The cell's text is the template: `{col}` is filled from each row (a column of DF; `{}` for a Series or a
list of strings), any other `{expr}` once from the namespace, as in every question. Before the first
request the map is estimated; above `%agent_settings confirm_above=<USD>` it waits for the user's Run
click (and is refused, in one line saying how to go on, where nobody can click). While it runs the cell
shows its progress, at most four times a second (map_view.py), and at the end one summary line and the
first rows of OUT. The map runs on the layer's request loop (live.py), the cell waiting on it in short
slices, so an interrupt ends the cell at once: the rows that finished are in the map's cache and
running the cell again sends only the rest. The conversation gets one turn (the template, the row
count, the output variable), and `%agent_usage` counts the map's requests and tokens.
"""

from __future__ import annotations

import asyncio
import string
import sys
import threading
from typing import TYPE_CHECKING, Any

from IPython.display import display

from ...agent import Agent
from ...messages import ModelRequest, ModelResponse, RequestUsage, TextPart, UserPromptPart
from ...models import infer_model
from ...settings import validate_settings
from ..kernel.approval import ask_to_confirm
from ..ask import can_click, cell_id_of
from ..live import CANCEL_GRACE_SECONDS, interruptible, loop_thread
from ..magics import AskError
from .map_view import ProgressView, ProgressWidget, TextDisplay, TextLine, summary_line, with_pilot
from ..prompt import InterpolationError, interpolate
from ..state import Turn, get_state
from ..view.structured import output_type_of

if TYPE_CHECKING:  # the row map (and pandas) load with the first map, not with the layer
    from ...rowmap.progress import MapProgress

UPDATE_INTERVAL = 0.25  # seconds: the progress shows at most four updates a second
HEAD_ROWS = 5
_FORMATTER = string.Formatter()


class MapInterrupted(AskError):
    """The user stopped the map (kernel interrupt); what finished is in the cache."""


def rows_of(expression: str, namespace: dict[str, Any]) -> Any:
    """What `--each` names: a DataFrame, a Series, a list of dicts or of strings from the namespace."""
    try:
        value = eval(expression, dict(namespace))  # noqa: S307 - the user's own expression, in their namespace
    except Exception as exc:
        raise AskError(f"--each {expression}: {type(exc).__name__}: {exc}") from None
    return value


def row_fields(rows: Any) -> set[str]:
    """The names a template may take from each row: the columns (keys), or '' for one value per row."""
    columns = getattr(rows, "columns", None)
    if columns is not None:
        return {str(column) for column in columns}
    name = getattr(rows, "name", None)
    if hasattr(rows, "index") and hasattr(rows, "dtype"):  # a Series
        return {"", *([str(name)] if name is not None else [])}
    if isinstance(rows, (list, tuple)) and rows and all(isinstance(item, dict) for item in rows):
        return {str(key) for item in rows for key in item}
    return {""}


def row_template(cell: str, fields: set[str], namespace: dict[str, Any]) -> tuple[str, list[str]]:
    """The cell as the map's `str.format` template: row fields kept, every other `{expr}` filled in now
    from the namespace (its value's braces escaped), literal braces kept literal; and the notes."""
    try:
        parsed = list(_FORMATTER.parse(cell))
    except ValueError as exc:
        raise AskError(f"cannot read the braces in the question ({exc}); write {{{{ and }}}} for literal braces") from None
    pieces: list[str] = []
    notes: list[str] = []
    for literal, field, spec, conversion in parsed:
        pieces.append(_escaped(literal))
        if field is None:
            continue
        written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if field.split(".", 1)[0].split("[", 1)[0] in fields:
            pieces.append(written)
            continue
        try:
            value, value_notes = interpolate(written, namespace)
        except InterpolationError as exc:
            raise AskError(f"{exc} (the row fields are: {', '.join(sorted(f or '{}' for f in fields))})") from None
        if not isinstance(value, str):
            raise AskError(f"{written}: an image cannot go into every row's question; send text")
        pieces.append(_escaped(value))
        notes += value_notes
    return "".join(pieces), notes


def _escaped(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class MapCell:
    """One `%%ask --each` cell: estimate, confirm, map with progress, store OUT, record one turn."""

    def __init__(self, shell: Any, args: Any, cell: str) -> None:
        for flag in ("code", "background", "tools"):
            if getattr(args, flag):
                raise AskError(f"--{flag} cannot be used with --each (every row is one independent question)")
        if args.concurrency is not None and args.concurrency < 1:
            raise AskError(f"--concurrency must be 1 or more, got {args.concurrency}")
        self.shell = shell
        self.args = args
        self.state = get_state()
        self.conversation = self.state.conversation(args.agent)
        self.rows = rows_of(args.each, shell.user_ns)
        self.template, notes = row_template(cell.strip(), row_fields(self.rows), shell.user_ns)
        for note in notes:
            print(f"nbagent: {note}", file=sys.stderr)
        self.output_type = output_type_of(args.output_type, shell.user_ns) if args.output_type else None
        base = self.conversation.agent
        self.model = infer_model(args.model) if args.model else base.model
        self.agent: Agent[Any, Any] = Agent(self.model, instructions=args.system if args.system is not None
                                            else base.fixed_instructions, model_settings=base.model_settings)
        self.settings = validate_settings({name: value for name, value in (
            ("temperature", args.temperature), ("max_tokens", args.max_tokens)) if value is not None})
        self.prices = dict(self.state.settings.prices)
        self.cell_id = cell_id_of(shell)
        self._latest: MapProgress | None = None
        self._estimate: Any = None  # MapEstimate; its pilot's requests are part of what the map spent

    # ------------------------------------------------------------------ the two ways a cell runs

    def run(self) -> None:
        """From this thread: a terminal, or the magic called from code (a text line on stderr)."""
        estimate = self.estimate()
        self._check_cost(estimate, interactive=False)
        view = ProgressView(TextLine())
        future, ended = self._start()
        try:
            while not ended.wait(UPDATE_INTERVAL):
                view.show(self._latest)
        except KeyboardInterrupt:
            self._interrupted(future, ended, view)
        self._finish(future, view)

    async def run_async(self) -> None:
        """In a kernel's async cell: widget clicks (Run / Cancel) arrive while it waits."""
        interactive = can_click(self.shell)
        estimating = asyncio.ensure_future(asyncio.to_thread(self.estimate))
        try:
            estimate = await interruptible(estimating)
        except (KeyboardInterrupt, asyncio.CancelledError):
            estimating.cancel()
            raise MapInterrupted("interrupted while estimating the map; no row was asked by the map") from None
        if await self._confirmed(estimate, interactive):
            view = ProgressView(ProgressWidget() if interactive else TextDisplay())
            future, ended = self._start()
            try:
                while not ended.is_set():
                    view.show(self._latest)
                    await asyncio.sleep(UPDATE_INTERVAL)
            except (KeyboardInterrupt, asyncio.CancelledError):
                self._interrupted(future, ended, view)
            self._finish(future, view)

    # ------------------------------------------------------------------ before the first request

    def estimate(self) -> Any:
        """What the map will send and cost (a pilot of a few rows may run for it, answered into the cache)."""
        self._estimate = self.agent.estimate_map(
            self.rows, self.template, output_type=self.output_type, model_settings=self.settings, prices=self.prices)
        return self._estimate

    def _check_cost(self, estimate: Any, *, interactive: bool) -> bool:
        """Whether the map must be confirmed first; refused here when nobody can click."""
        limit = self.state.settings.confirm_above
        cost = estimate.cost_usd
        if cost is None or cost <= limit:
            return False
        if not interactive:
            raise AskError(f"this map is estimated at ${cost:,.2f}, above confirm_above=${limit:,.2f}, and nothing "
                           f"here can click Run: raise the limit (%agent_settings confirm_above={_round_up(cost)}) "
                           "to run it")
        return True

    async def _confirmed(self, estimate: Any, interactive: bool) -> bool:
        if not self._check_cost(estimate, interactive=interactive):
            return True
        text = str(estimate)
        limit = self.state.settings.confirm_above
        shown = f"**This map is estimated above confirm_above=${limit:,.2f}:**\n\n{text}"
        approved = await ask_to_confirm(
            # Dollars, not TeX: `\\$` is neither math to Lab's removeMath nor to MathJax once marked made it `\$`.
            {"text/markdown": shown.replace("$", "\\\\$"),
             "text/plain": f"This map is estimated above confirm_above=${limit:,.2f}: {text}"},
            no="Cancel", no_tooltip="do not run the map", run_tooltip="send the requests",
            waiting="the map waits for your choice", declined="⏹ you chose Cancel: no request was sent")
        if not approved:
            print("nbagent: map cancelled; no request was sent", file=sys.stderr)
        return approved

    # ------------------------------------------------------------------ running

    def _start(self) -> tuple[Any, threading.Event]:
        """Start the map on the request loop; its future and an event set once it has really ended."""
        ended = threading.Event()

        async def run_map() -> Any:
            try:
                return await self.agent.map_async(
                    self.rows, self.template, output_type=self.output_type, model_settings=self.settings,
                    concurrency=self.args.concurrency or 16, budget=self.args.budget, progress=self._progress,
                    prices=self.prices)
            finally:
                ended.set()

        return loop_thread().submit(run_map()), ended

    def _progress(self, snapshot: MapProgress) -> None:
        self._latest = snapshot  # from the request loop; the cell's thread shows it

    def _interrupted(self, future: Any, ended: threading.Event, view: "ProgressView") -> None:
        future.cancel()
        ended.wait(CANCEL_GRACE_SECONDS)
        done = self._latest.done if self._latest is not None else 0
        said = (f"⏹ interrupted: {done:,} rows finished and are in the cache; run the cell again to "
                "send only the rest")
        view.end(said)
        raise MapInterrupted(said.removeprefix("⏹ ")) from None

    def _finish(self, future: Any, view: "ProgressView") -> None:
        try:
            frame = future.result()
        except BaseException as exc:  # a map that could not run (e.g. a budget without a price): said once, below
            view.end(f"✗ the map did not run: {type(exc).__name__}")
            raise
        report = with_pilot(frame.attrs.get("nbagent", {}), self._estimate)
        summary = summary_line(report, self.args.output)
        view.end(summary)
        self.shell.user_ns[self.args.output] = frame
        display(frame.head(HEAD_ROWS))
        self._record(report, summary)

    def _record(self, report: dict[str, Any], summary: str) -> None:
        """One turn for the whole map: what was asked of how many rows, and where the result went."""
        question = (f"%%ask --each {self.args.each} -o {self.args.output} ({report.get('rows', 0):,} rows), "
                    f"each asked:\n{self.template}")
        usage = RequestUsage(input_tokens=report.get("tokens_in", 0), output_tokens=report.get("tokens_out", 0))
        # the map's one response stands for all its requests: %agent_usage counts them from `metadata`
        turn = Turn([ModelRequest(parts=[UserPromptPart(content=question)]),
                     ModelResponse(parts=[TextPart(content=summary)], model_name=self.model.model_name, usage=usage,
                                   metadata={"requests": report.get("requests_sent", 0)})],
                    cell_id=self.cell_id, model=self.model.label, footer=summary)
        self.state.count_usage(turn)
        if self.args.no_history:
            return
        with self.conversation.lock:
            if self.args.new:
                self.conversation.turns.clear()
            self.conversation.record(turn, self.conversation.turn_of_cell(self.cell_id))
        self.state.save_history_file()


def _round_up(cost: float) -> str:
    """A limit just above the cost, written simply (2.35 → 2.4, 12.1 → 13)."""
    step = 0.1 if cost < 10 else 1.0
    return f"{(int(cost / step) + 1) * step:g}"
