"""What each cell showed as the kernel ran it, for the kernel tools' `read_cell`: what it printed to
stdout and stderr, the text of what it displayed, the PNG / JPEG images it displayed (plots), and
whether it raised.

Recorded from `%load_ext nbagent` on, in the kernel itself (the frontend's saved outputs are out of
reach), bounded: `MAX_CHARS` of each stream per cell, `MAX_IMAGES` images per cell and `IMAGE_BUDGET`
bytes of images in all (the oldest cells' images are let go first), the latest `MAX_CELLS` cells.
Recording wraps the streams' `write`, the display publisher and the result's display hook only while
a cell runs, and puts back what was there.
"""

from __future__ import annotations

import binascii
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_CHARS = 4000
MAX_CELLS = 200
MAX_DISPLAYS = 20
MAX_IMAGES = 8  # kept per cell
MAX_KEPT_IMAGE_BYTES = 20_000_000  # a larger image is noted, not kept
IMAGE_BUDGET = 100_000_000  # the images of all cells together
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
KEPT_IMAGE_TYPES = ("image/png", "image/jpeg")  # what every provider takes


@dataclass
class DisplayedImage:
    """A PNG or JPEG a cell displayed, as published; `data` is None once let go to stay in `IMAGE_BUDGET`."""

    media_type: str
    data: bytes | None


@dataclass
class CellOutput:
    stdout: str = ""
    stderr: str = ""
    displays: list[str] = field(default_factory=list)  # text/plain of each display, or an image's note
    images: list[DisplayedImage] = field(default_factory=list)  # "[image k: ...]" in displays names images[k-1]
    raised: bool = False

    def add(self, stream: str, text: str) -> None:
        now = getattr(self, stream)
        if len(now) < MAX_CHARS:
            setattr(self, stream, now + text[:MAX_CHARS - len(now)])

    def display(self, data: dict[str, Any], *, text: bool = True) -> None:
        """One display's bundle: its image kept (a PNG / JPEG), else noted, else its text (unless `text`
        is False: a result's text is recorded from its value)."""
        if len(self.displays) >= MAX_DISPLAYS:
            return
        kind = next((kind for kind in _IMAGE_TYPES if kind in data), None)
        image = _image_bytes(data[kind]) if kind in KEPT_IMAGE_TYPES and len(self.images) < MAX_IMAGES else None
        if kind is not None and image is not None and len(image) <= MAX_KEPT_IMAGE_BYTES:
            self.images.append(DisplayedImage(kind, image))
            self.displays.append(f"[image {len(self.images)}: {kind}, {len(image) / 1000:,.0f} kB]")
        elif kind is not None:
            size = len(image) if image is not None else len(str(data[kind])) * 3 // 4
            self.displays.append(f"[{kind} image, {size / 1000:,.0f} kB]")
        elif text and "text/plain" in data:
            self.displays.append(str(data["text/plain"])[:MAX_CHARS])

    @property
    def image_bytes(self) -> int:
        return sum(len(image.data) for image in self.images if image.data is not None)


def _image_bytes(value: Any) -> bytes | None:
    """An image in a display bundle: bytes, or base64 text as IPython's formatters often give it."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return binascii.a2b_base64(str(value))
    except (binascii.Error, ValueError):
        return None


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
                    lambda data, *args, **kwargs: None if kwargs.get("update") else current.display(data or {})),
                   (getattr(self.shell, "displayhook", None), "write_format_data",  # Out[n]'s bundle: its image
                    lambda data, *args, **kwargs: current.display(data or {}, text=False))]
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
        self._within_image_budget()

    def _within_image_budget(self) -> None:
        """Let go of the oldest cells' images until all kept images fit in `IMAGE_BUDGET`."""
        kept = sum(cell.image_bytes for cell in self.cells.values())
        for cell in self.cells.values():
            for image in cell.images:
                if kept <= IMAGE_BUDGET:
                    return
                if image.data is not None:
                    kept -= len(image.data)
                    image.data = None

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
