"""The column of outputs one answer streams into: at most `MAX_OUTPUTS` of them, however long it is.

An answer streams as finished parts, each shown once in an output of its own, and one output below
them updated in place with the growing end (answer_view.py). JupyterLab shows the first 50 outputs
of a cell (its `maxNumberOutputs` setting) and a "Show more outputs" button instead of the rest, so a
long answer would stop growing on screen after 50 parts. So the column opens at most `MAX_OUTPUTS`
outputs (room is left for the cell's other outputs: the kernel-tools notice, approvals, what
approved code printed). When it needs one more, it merges a trailing run of its finished parts into
the first of them by one update (the run's text sent once more, as Markdown only: render.py), empties
the others (`{}`, which frontends show as nothing) and fills those again, in order, with what follows
(update_display_data on their display ids) before it opens any new one. An emptied output still
counts for JupyterLab (seen in test_lab_harness.py), so the count stays at the cap.

The run merged is the one that re-sends the fewest bytes per output it frees: for parts of about one
size, all of them the first time, then the parts added since (the large merged outputs stay), so
each byte is re-sent about once over a hundred parts, two or three times over a thousand.

Another output of the cell may sit between an answer's outputs: something printed or displayed while
it streams (an approval, what approved code printed) appears below the outputs open at that moment.
Merging across it, or filling an output emptied above it, would move text of the answer above it. So
what else the cell is sent is counted (OutputWatch, answer_view.py), and when that count moved the
outputs open so far stay as they are: only outputs below everything else are merged or reused, and
there the answer takes up to `MIN_ROOM` more outputs, past the cap if need be (with many such
interruptions JupyterLab may then hide the end until the answer is whole, as before).

A merged part is valid Markdown on its own: parts of one code block cut while it streamed
(long_blocks.py) are merged into one block (the first's opening line, the lines, the last's closing
fence), parts of one paragraph into one paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any

from IPython.display import clear_output, display

from ..markdown.render import block_bundle, merged_bundle

MAX_OUTPUTS = 40
"""The most outputs an answer opens: JupyterLab shows 50 of a cell, leaving ten for the cell's others."""
MIN_ROOM = 16
"""The outputs an answer may take below something else the cell shows, even past `MAX_OUTPUTS`: merging
within fewer would re-send its text too often (over 1,000 parts of one size each byte is re-sent about
5 times in 16 outputs, 14 times in 10, 60 in 4; 2.6 in 40)."""


@dataclass(frozen=True)
class Part:
    """A finished piece of the answer as its output shows it: `body`, the answer's own text, after
    `opening` (a code block's opening line again, when the block was cut just before) and before
    `closing` (the fence closing a code block cut just after)."""

    body: str
    opening: str = ""
    closing: str = ""

    @property
    def markdown(self) -> str:
        return f"{self.opening}{self.body}{self.closing}"

    def then(self, later: "Part") -> "Part":
        """This part and the one right after it as one: a cut's closing fence and the reopening cancel."""
        return Part(self.body + later.body, self.opening, later.closing)


class OutputColumn:
    """One answer's outputs: parts shown once, the tail updated in place, at most `MAX_OUTPUTS` open."""

    def __init__(self, first: dict[str, str], watch: Any) -> None:
        """Open the first output with `first`; `watch` (an OutputWatch, started before) counts what the
        cell is sent: what it counts besides the column's own messages is something else shown."""
        self._watch = watch
        self._before = watch.seen()
        self._handles = [display(first, raw=True, display_id=True)]
        self.display_id: str = self._handles[0].display_id
        self._parts: list[Part | None] = [None]  # what each output shows for good; None: the tail, or nothing
        self._tail: int | None = 0  # the output updated in place; None: the next update places one
        self._fixed = 0  # outputs before this index are above something else in the cell: never merged or reused
        self._next = 1  # the output the next part or tail goes to; from here on all are empty (or not open yet)
        self.sent = 1  # display messages sent (opened or updated)
        self._others_seen = self._others()

    @property
    def count(self) -> int:
        """The outputs opened (emptied ones too: they still count for JupyterLab)."""
        return len(self._handles)

    @property
    def tail_open(self) -> bool:
        """Whether an output shows the growing end now (else the next update places a new one)."""
        return self._tail is not None

    def show_tail(self, bundle: dict[str, str]) -> None:
        """The growing end, in the tail's output (placed first when there is none)."""
        self._show(bundle)

    def show_part(self, part: Part) -> None:
        """A finished part, in the tail's output (or a new one), which then shows it for good."""
        index = self._show(block_bundle(part.markdown))
        self._parts[index] = part
        self._tail = None

    def replace_all(self, bundle: dict[str, str]) -> None:
        """The first output shows `bundle`, the others nothing."""
        self._handles[0].update(bundle, raw=True)
        self.sent += 1
        for index in range(1, len(self._handles)):
            if self._parts[index] is not None or self._tail == index:  # the others are empty already
                self._handles[index].update({}, raw=True)
                self.sent += 1
        self._parts = [None] * len(self._handles)
        self._tail = 0

    def clear_and_show(self, bundle: dict[str, str]) -> None:
        """Clear the cell (when its next output arrives, so nothing flickers) and show `bundle` as its one
        output, under the first output's display id."""
        clear_output(wait=True)
        self._handles = [display(bundle, raw=True, display_id=self.display_id)]
        self._parts, self._tail, self._fixed, self._next = [None], 0, 0, 1
        self.sent += 1

    def _show(self, bundle: dict[str, str]) -> int:
        if self._tail is None:
            self._tail = self._place()
        index = self._tail
        if index == len(self._handles):
            self._handles.append(display(bundle, raw=True, display_id=True))
            self._parts.append(None)
        else:
            self._handles[index].update(bundle, raw=True)
        self.sent += 1
        return index

    def _place(self) -> int:
        """The output for what comes next: an emptied one below everything else, or a new one, merging
        first when the column is at its cap."""
        others = self._others()
        if others != self._others_seen:  # something else appeared below the outputs open so far
            self._others_seen = others
            self._fixed = self._next = len(self._handles)
        room = max(MAX_OUTPUTS - self._fixed, MIN_ROOM)
        if self._next == len(self._handles) and len(self._handles) - self._fixed >= room:
            self._merge()
        self._next += 1
        return self._next - 1

    def _others(self) -> int:
        """The messages the cell was sent since the column opened besides its own."""
        return self._watch.seen() - self._before - self.sent

    def _merge(self) -> None:
        """Merge the trailing run of parts below everything else that re-sends the fewest bytes per output
        it frees; the freed outputs are emptied, to be filled again in order."""
        parts = [part for part in self._parts[self._fixed:self._next] if part is not None]  # all: no tail now
        sizes = [len(part.markdown) for part in parts]
        length = min(range(2, len(parts) + 1), key=lambda n: sum(sizes[-n:]) / (n - 1))
        start = self._next - length
        merged = reduce(Part.then, parts[-length:])
        self._handles[start].update(merged_bundle(merged.markdown), raw=True)
        self._parts[start] = merged
        for index in range(start + 1, self._next):
            self._handles[index].update({}, raw=True)
            self._parts[index] = None
        self.sent += length
        self._next = start + 1
