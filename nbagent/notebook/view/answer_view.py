"""One answer in the cell, streamed so that each update carries only what changed.

Jupyter can only replace a display's whole bundle, and the frontend re-renders all of it: one display
re-sent on every update costs the square of the answer's length. So while the answer streams it is
shown as a column of outputs, top to bottom:

- finished Markdown blocks (markdown_blocks.py: never cut inside a code block, list or table), each
  set of them shown once, in an output that is not sent again while the answer streams (but once
  when merged, below);
- below them one output updated in place with the part still growing (and `answering…`).

When blocks in that bottom output finish, one update sets it to exactly those blocks, and the next
update opens a new output below for what follows. A single block too long to re-send on every
update (a long code block or paragraph) is cut the same way while it streams, at a line or sentence
(long_blocks.py). Every update is one message, at most `MAX_UPDATES_PER_SECOND` a second (live.py),
carrying one block's worth of text, however long the answer. JupyterLab shows only the first 50
outputs of a cell, so the column opens at most `MAX_OUTPUTS` of them: past that, a trailing run of
finished parts is merged into one output and the outputs it emptied are filled again, in order
(output_column.py). What is not yet settled (a tool line still running, thinking still streaming) is
never shown as finished.

When the answer ends, the whole answer, exactly, with its footer is what the notebook saves (for
GitHub, nbviewer, nbconvert) and what `%%ask` re-runs and the history update; it keeps the first
output's display id, which later updates (a stale note, state.py / ask.py) address. A kernel cannot
remove an output; it can only clear the whole cell. So:

- when the cell showed nothing but this answer's outputs (`alone`: the Ask decides, conservatively,
  from what it knows: a `%%ask` cell, no tool ran, no notice, not `--background`, nothing else
  printed or displayed meanwhile, `OutputWatch`) and the answer took more than one output, the cell
  is cleared with `wait=True` (the frontend clears on the next output, so nothing flickers) and the
  answer shown once under the first output's display id: the saved notebook holds exactly one output;
- otherwise the first output is set to the whole answer and the others emptied (`{}`), since clearing
  the cell would also clear what else it shows (the kernel-tools notice, the approval of code, what
  that code printed or plotted), which sits between them.

Every output holds neutralised Markdown (neutralize.py) of exactly what it shows, so each is safe on
its own.

In a terminal the text is simply written as it comes.
"""

from __future__ import annotations

import sys
from typing import Any

from IPython import get_ipython
from IPython.display import clear_output

from ..markdown.long_blocks import long_block_cut
from ..markdown.markdown_blocks import finished_end
from ..markdown.render import answer_bundle, tail_bundle
from .output_column import OutputColumn, Part


class AnswerView:
    """One answer's outputs: finished blocks, the growing tail, and at the end the whole answer in the first."""

    def __init__(self, model_label: str, *, kernel: bool, progress: Any = None,
                 watch: "OutputWatch | None" = None) -> None:
        """`watch`: what the cell is sent, watched since before the view (else the view watches from now)."""
        self.kernel = kernel
        self.progress = progress  # the StreamProgress: what of the text is settled (no pending pieces)
        self.display_id: str | None = None
        self._printed = 0
        self._shown = 0  # how much of the answer the outputs above the tail hold for good
        self._reopen = ""  # a long code block cut while it streams: its opening line, shown again above the rest
        self._tail_shown = 0  # how much of the unfinished text (reopen and all) the tail's output shows
        self._own_watch: OutputWatch | None = None  # started by the view, stopped when the answer ends
        if kernel:
            if watch is None:
                watch = self._own_watch = OutputWatch(get_ipython())
            self._column = OutputColumn(
                {"text/markdown": f"*asking {model_label}…*", "text/plain": f"asking {model_label}…"}, watch)
            self.display_id = self._column.display_id

    @property
    def sent(self) -> int:
        """Display messages sent (opened or updated), for OutputWatch."""
        return self._column.sent if self.kernel else 0

    def show_partial(self, text: str) -> bool:
        """Show `text`, the answer so far; False when only finished parts of it were shown this time
        (the rest goes in the next update's new tail, which `follow` sends even if nothing new arrives)."""
        if not self.kernel:
            self._write(text)
            return True
        settled = text if self.progress is None else self.progress.text(upto_pending=True)
        if not text.startswith(settled):  # a tool line changed between the two readings: settle nothing now
            settled = text[:self._shown]
        unfinished = self._reopen + settled[self._shown:]
        end = finished_end(unfinished)
        cut = None if end else long_block_cut(unfinished, self._tail_shown if self._column.tail_open else 0)
        if end:
            self._column.show_part(Part(unfinished[len(self._reopen):end], self._reopen))
            self._shown += end - len(self._reopen)
            self._reopen = ""
        elif cut is not None:
            self._column.show_part(Part(unfinished[len(self._reopen):cut.shown], self._reopen, cut.part[cut.shown:]))
            self._shown += cut.shown - len(self._reopen)
            self._reopen = cut.reopen
        else:
            tail = self._reopen + text[self._shown:]
            self._column.show_tail(tail_bundle(tail))
            self._tail_shown = len(tail)
            return True
        return not text[self._shown:].strip()

    def show_final(self, text: str, footer_line: str, *, alone: bool = False) -> None:
        """The whole answer; `alone`: the cell shows nothing else, so it may be cleared to hold only this."""
        if self.kernel and alone and self._column.count > 1:  # one output already: updated as below
            self._column.clear_and_show(answer_bundle(text, footer_line))
        elif self.kernel:
            self._column.replace_all(answer_bundle(text, footer_line))
        else:
            self._write(text)
            print(f"\n\n{footer_line}", flush=True)
        self._stop_watching()

    def show_error(self, message: str) -> None:
        self._column.replace_all({"text/plain": f"nbagent: {message}"})
        self._stop_watching()

    def clear(self, *, alone: bool = False) -> None:
        """Take the answer's outputs away (the question failed): `alone`, the cell is cleared when its
        next output (the error) arrives; otherwise each output is emptied, which frontends show as nothing."""
        if not self.kernel:
            return
        if alone:
            clear_output(wait=True)
        else:
            self._column.replace_all({})
        self._stop_watching()

    def _stop_watching(self) -> None:
        if self._own_watch is not None:
            self._own_watch.stop()

    def _write(self, text: str) -> None:
        sys.stdout.write(text[self._printed:])
        sys.stdout.flush()
        self._printed = len(text)


class OutputWatch:
    """What the kernel sent to the cell while an answer streamed besides the answer's own outputs:
    writes to stdout / stderr (from any thread, a logging handler too: they share the stream objects)
    and displays, counted while it watches. Conservative: a display of another cell (a `--background`
    answer) counts as well."""

    def __init__(self, shell: Any) -> None:
        self.writes = 0
        self.displays = 0
        self._patched: list[tuple[Any, str, Any]] = []  # (object, attribute, what its instance had)
        self._watching = False
        targets = [(sys.stdout, "write"), (sys.stderr, "write"), (getattr(shell, "display_pub", None), "publish")]
        for target, name in targets:
            if target is None or not hasattr(target, "__dict__"):
                continue
            original = getattr(target, name)
            self._patched.append((target, name, target.__dict__.get(name)))
            setattr(target, name, self._counting(original, "writes" if name == "write" else "displays"))
        self._watching = True

    def _counting(self, original: Any, counter: str) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            if self._watching:
                setattr(self, counter, getattr(self, counter) + 1)
            return original(*args, **kwargs)
        counted.__nbagent_watch__ = self  # type: ignore[attr-defined]
        return counted

    def seen(self) -> int:
        """The messages counted so far (writes and displays)."""
        return self.writes + self.displays

    def stop(self) -> None:
        """Stop counting and put back what was there (a wrapper someone added over ours stays, harmless)."""
        self._watching = False
        for target, name, before in self._patched:
            if getattr(getattr(target, name, None), "__nbagent_watch__", None) is not self:
                continue
            if before is None:
                delattr(target, name)
            else:
                setattr(target, name, before)
        self._patched = []

    def only(self, view: AnswerView) -> bool:
        """Stop, and say whether the cell was shown nothing but `view`'s displays since the watch began
        (started before the view, so every display of the view was counted)."""
        self.stop()
        return self.writes == 0 and self.displays == view.sent
