"""Running approved code in the user's namespace, as a cell would, with what it did captured for the model.

It runs on the cell's own thread, so the kernel's interrupt stops it. What it prints shows in the cell
and is captured; the value of a last expression is kept as a repr; an exception is caught with its
traceback; figures it makes are shown in the cell. Each text is bounded before the model sees it.
"""

from __future__ import annotations

import ast
import contextlib
import io
import itertools
import linecache
import signal
import sys
import threading
import traceback
from typing import Any, Iterator, TextIO, cast

from IPython.display import Image as DisplayImage
from IPython.display import display

from .describe import bounded
from .images import figure_png

MAX_OUTPUT_CHARS = 2000
_runs = itertools.count(1)


def run_code(namespace: dict[str, Any], code: str) -> dict[str, Any]:
    """Run `code` in `namespace`; what it printed, its last expression's value, its exception, its figures."""
    filename = f"<nbagent run_code {next(_runs)}>"
    try:
        body = ast.parse(code, filename)
    except SyntaxError as exc:
        return {"summary": f"SyntaxError: {exc.msg} (line {exc.lineno})", "error": bounded(_last_line(exc))}
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)  # tracebacks show the code
    last = cast(ast.Expr, body.body.pop()) if body.body and isinstance(body.body[-1], ast.Expr) else None
    figures_before = _figure_numbers()
    stdout, stderr = _Tee(sys.stdout), _Tee(sys.stderr)
    found: dict[str, Any] = {}
    try:
        with _interruptible(), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):  # type: ignore[type-var]
            exec(compile(body, filename, "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
                if value is not None:
                    found["result"] = bounded(repr(value), MAX_OUTPUT_CHARS)
    except Exception as exc:
        found["error"] = bounded(_traceback(exc, filename), MAX_OUTPUT_CHARS)
        found["summary"] = _last_line(exc)
    figures = _show_new_figures(figures_before)
    for name, tee in (("stdout", stdout), ("stderr", stderr)):
        if tee.size:
            found[name] = bounded("".join(tee.parts), MAX_OUTPUT_CHARS, total=tee.size)
    if figures:
        found["figures"] = f"{figures} figure(s) shown to the user in the cell"
    found.setdefault("summary", _outcome(found))
    return {"summary": found.pop("summary"), **found}


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """The kernel's interrupt raises KeyboardInterrupt in the code, as in any cell. (An async cell's
    interrupt only cancels at the next await, which code stuck in a loop never reaches.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Tee(io.TextIOBase):
    """Writes through to the cell's stream and keeps a copy (bounded) for the model."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.stream.write(text)
        if self.size <= MAX_OUTPUT_CHARS:
            self.parts.append(text)
        self.size += len(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _figure_numbers() -> set[int]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return set(pyplot.get_fignums()) if pyplot is not None else set()


def _show_new_figures(before: set[int]) -> int:
    """Show the figures the code made (as the inline backend would at the end of a cell) and close them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return 0
    new = [number for number in pyplot.get_fignums() if number not in before]
    for number in new:
        figure = pyplot.figure(number)
        display(DisplayImage(data=figure_png(figure), format="png"))  # whatever the backend, as the inline one shows it
        pyplot.close(figure)
    return len(new)


def _traceback(exc: BaseException, filename: str) -> str:
    """The traceback from the model's code on (nbagent's own frames left out), without colour codes."""
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((index for index, frame in enumerate(frames) if frame.filename == filename), 0)
    lines = traceback.format_list(frames[start:]) + traceback.format_exception_only(type(exc), exc)
    return "Traceback (most recent call last):\n" + "".join(lines)


def _last_line(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]


def _outcome(found: dict[str, Any]) -> str:
    said = [f"{len(found[name].splitlines())} line(s) of {name}" for name in ("stdout", "stderr") if name in found]
    if "result" in found:
        said.append("a value")
    if "figures" in found:
        said.append(found["figures"].split(" shown")[0])
    return "ran" + (": " + ", ".join(said) if said else ", no output")
