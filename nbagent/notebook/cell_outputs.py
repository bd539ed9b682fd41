"""What each cell showed as the kernel ran it, for the kernel tools' `read_cell`: what it printed to
stdout and stderr, the text of what it displayed (images noted by kind and size), and whether it raised.

Recorded from `%load_ext nbagent` on, in the kernel itself (the frontend's saved outputs are out of
reach), bounded: `MAX_CHARS` of each stream per cell, the latest `MAX_CELLS` cells. Recording wraps
the streams' `write` and the display publisher only while a cell runs, and puts back what was there.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_CHARS = 4000
MAX_CELLS = 200
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


@dataclass
class CellOutput:
    stdout: str = ""
    stderr: str = ""
    displays: list[str] = field(default_factory=list)  # text/plain of each display, or an image's note
    raised: bool = False

    def add(self, stream: str, text: str) -> None:
        now = getattr(self, stream)
        if len(now) < MAX_CHARS:
            setattr(self, stream, now + text[:MAX_CHARS - len(now)])

    def display(self, data: dict[str, Any]) -> None:
        if len(self.displays) >= 20:
            return
        image = next((kind for kind in _IMAGE_TYPES if kind in data), None)
        if image is not None:
            self.displays.append(f"[{image} image, {len(str(data[image])) * 3 // 4 / 1000:,.0f} kB]")
        elif "text/plain" in data:
            self.displays.append(str(data["text/plain"])[:MAX_CHARS])


class CellOutputRecorder:
    """The pre/post_run_cell hooks that record each cell's output under its execution count."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.cells: OrderedDict[int, CellOutput] = OrderedDict()
        self._current: CellOutput | None = None
        self._patched: list[tuple[Any, str, Any, Any]] = []  # (object, attribute, what its instance had, ours)

    def pre_run_cell(self, info: Any) -> None:
        self._unpatch()
        current = self._current = CellOutput()
        targets = [(sys.stdout, "write", lambda text: current.add("stdout", str(text))),
                   (sys.stderr, "write", lambda text: current.add("stderr", str(text))),
                   (getattr(self.shell, "display_pub", None), "publish",
                    lambda data, *args, **kwargs: None if kwargs.get("update") else current.display(data or {}))]
        for target, name, record in targets:
            if target is None or not hasattr(target, "__dict__"):
                continue
            original = getattr(target, name)

            def recording(*args: Any, _original: Any = original, _record: Any = record, **kwargs: Any) -> Any:
                try:
                    _record(*args, **kwargs)
                except Exception:  # recording never gets in the way of the output itself
                    pass
                return _original(*args, **kwargs)

            self._patched.append((target, name, target.__dict__.get(name), recording))
            setattr(target, name, recording)

    def post_run_cell(self, result: Any) -> None:
        self._unpatch()
        current, self._current = self._current, None
        if current is None or result.execution_count is None:
            return
        current.raised = not result.success
        if result.result is not None:
            current.displays.append(repr(result.result)[:MAX_CHARS])
        self.cells[result.execution_count] = current
        while len(self.cells) > MAX_CELLS:
            self.cells.popitem(last=False)

    def _unpatch(self) -> None:
        for target, name, before, ours in reversed(self._patched):
            if target.__dict__.get(name) is not ours:
                continue  # someone wrapped ours since: leave theirs (ours only records)
            if before is None:
                delattr(target, name)
            else:
                setattr(target, name, before)
        self._patched = []


_recorder: CellOutputRecorder | None = None


def start_recording(shell: Any) -> None:
    global _recorder
    if _recorder is None:
        _recorder = CellOutputRecorder(shell)
        shell.events.register("pre_run_cell", _recorder.pre_run_cell)
        shell.events.register("post_run_cell", _recorder.post_run_cell)


def stop_recording(shell: Any) -> None:
    global _recorder
    if _recorder is not None:
        _recorder._unpatch()
        shell.events.unregister("pre_run_cell", _recorder.pre_run_cell)
        shell.events.unregister("post_run_cell", _recorder.post_run_cell)
        _recorder = None


def cell_output(n: int) -> CellOutput | None:
    """What cell `n` showed, if it ran since `%load_ext` and is among the latest `MAX_CELLS`."""
    return None if _recorder is None else _recorder.cells.get(n)
