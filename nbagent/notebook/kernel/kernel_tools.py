"""The notebook agent's tools: the model looks at the user's kernel, and runs code the user approves.

    list_variables()        the namespace: each name with its type and a short summary
    inspect_variable(name)  one value in depth (a DataFrame's dtypes, head, describe, nulls; a figure as an image)
    last_error()            the last exception: type, message, plain traceback, the cell that raised it
    list_cells()            the cells run so far, in order: first line, names each defines, whether it raised
    read_cell(n)            the source of In[n], a short repr of Out[n], what it printed and displayed (plots as images)
    find_cells(name)        the cells that define or use a name (from their code's AST)
    run_code(code)          runs code in the namespace once the user clicked Run on that exact code

They are ordinary function tools (`Tool`, `RunContext`): `KernelContext` reaches them as the run's
deps. They are offered only when the user turned them on (`%%ask --tools`, `tools=kernel`); functions
the user registers with `@nbagent.tool` are offered with every question. Every result goes through
the same guard before the model sees it: values of secret-looking names are never shown, and the
configured API keys are scrubbed from whatever a tool returns.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import re
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, TypeVar, overload

from IPython import get_ipython
from pydantic_core import to_jsonable_python

from ...errors import ApprovalRequired, UserError, redact
from ...messages import BinaryContent, ImageUrl
from ...models import Model
from ...models.offline import OfflineModel
from ...tools import DocstringFormat, RunContext, Tool
from .approval import refusal_reason
from .cell_index import cell_names
from ..cell_outputs import cell_output
from .code_runner import run_code as run_in_namespace
from ..config import APPROVE_ALWAYS
from .describe import MASK, bounded, inspection, looks_secret, mask_secret_literals, summary
from .images import ImageTooLarge, describe_image, displayed_images, image_of, text_only
from ..live import StreamProgress

MAX_VARIABLES = 100
MAX_CELLS = 100
MIN_SECRET_CHARS = 4  # shorter values ("", "x") would blank out ordinary text
_ABOUT_AN_ERROR = re.compile(r"error|fail|exception|traceback|wrong|broke", re.IGNORECASE)
F = TypeVar("F", bound=Callable[..., Any])

NOTICE = "kernel tools on: variable contents may be sent to {model}"
INSTRUCTIONS = (
    "You run inside the user's Jupyter kernel. Use the tools to look at their variables, errors and cells "
    "instead of guessing; propose code with run_code only when running it answers the question (the user "
    "approves each run)."
)


@dataclass
class KernelContext:
    """What the kernel tools reach through `RunContext.deps`: the shell and the asking cell."""

    shell: Any
    progress: StreamProgress  # the asking cell's thread serves approvals and code runs
    approve_code: str  # "ask" or "always"
    interactive: bool  # an async cell in a frontend that can show buttons and send their clicks
    background: bool  # --background: the cell is not waiting, so nothing can be approved in it


def list_variables(ctx: RunContext[KernelContext]) -> dict[str, Any]:
    """List the user's variables: each name with its type and a short summary (shape, length, value).

    Leaves out names starting with `_`, modules, and IPython's own names.
    """
    names = [name for name, value in ctx.deps.shell.user_ns.items() if _is_user_variable(ctx.deps.shell, name, value)]
    shown = {name: _summary_of(name, ctx.deps.shell.user_ns[name]) for name in names[:MAX_VARIABLES]}
    result: dict[str, Any] = {"summary": f"{len(names)} variable(s)", "variables": shown}
    if len(names) > MAX_VARIABLES:
        result["note"] = f"showing the first {MAX_VARIABLES} of {len(names)} variables"
    return result


def inspect_variable(ctx: RunContext[KernelContext], name: str) -> Any:
    """Look at one variable in depth: a DataFrame's shape, dtypes, head, describe() and null counts; an
    array's shape, dtype, min/max/mean; a sample of a dict or list; a figure or image as the picture itself.

    Args:
        name: The variable's name in the user's namespace.
    """
    namespace = ctx.deps.shell.user_ns
    if name not in namespace or not _is_user_variable(ctx.deps.shell, name, namespace[name]):
        return {"summary": f"no variable {name!r}", "error": f"there is no user variable named {name!r}; "
                                                              "list_variables() shows what there is"}
    value = namespace[name]
    if looks_secret(name):
        return {"summary": f"{type(value).__name__}, hidden", "value": MASK}
    try:
        image = image_of(value)
    except ImageTooLarge as exc:
        return {"summary": summary(value), "note": str(exc)}
    if image is not None:
        blind = text_only(ctx.model)
        return image if blind is None else {"summary": summary(value), "note": f"{describe_image(image)}; {blind}"}
    return inspection(value)


def last_error(ctx: RunContext[KernelContext]) -> dict[str, Any]:
    """The last exception raised in the notebook: its type, message, traceback, and the source of the
    cell that raised it."""
    error = getattr(sys, "last_value", None)
    if error is None:
        return {"summary": "no error yet", "error": None}
    frames = traceback.extract_tb(error.__traceback__)
    cell = next((frame.filename for frame in frames if _is_cell(frame.filename)), None)
    result = {
        "summary": f"{type(error).__name__}: {_first_line(str(error))}",
        "type": type(error).__name__,
        "message": bounded(str(error), 500),
        "traceback": bounded("".join(traceback.format_exception(type(error), error, error.__traceback__))),
    }
    if cell is not None:
        result["cell_source"] = bounded(mask_secret_literals("".join(linecache.getlines(cell))))
    result["traceback"] = mask_secret_literals(result["traceback"])
    return result


def read_cell(ctx: RunContext[KernelContext], n: int) -> dict[str, Any] | list[Any]:
    """The source of input cell `In[n]`, a short repr of its output `Out[n]` if it had one, what it
    printed (stdout, stderr) and displayed, as the kernel saw it, and whether it raised. The plots and
    images it displayed are sent as images after the result (`images` says which).

    Args:
        n: The cell's execution count, as shown in its `[n]:` prompt.
    """
    inputs = ctx.deps.shell.user_ns.get("In", [])
    if not 1 <= n < len(inputs):
        return {"summary": f"no cell {n}", "error": f"there is no In[{n}]; cells run so far: 1 to {len(inputs) - 1}"}
    result = {"summary": f"In[{n}], {len(inputs[n].splitlines())} line(s)",
              "source": bounded(mask_secret_literals(inputs[n]))}
    outputs = ctx.deps.shell.user_ns.get("Out", {})
    if n in outputs:
        result["output"] = bounded(repr(outputs[n]), 500)
    shown = cell_output(n)
    if shown is not None:  # what the cell printed and displayed, as the kernel saw it
        result.update(stdout=mask_secret_literals(shown.stdout), stderr=mask_secret_literals(shown.stderr),
                      displays=[mask_secret_literals(text) for text in shown.displays], raised=shown.raised)
    if shown is None or not shown.images:
        return result
    images, result["images"] = displayed_images(shown.images, ctx.model)
    if not images:
        return result
    result["summary"] += f", {len(images)} image(s)"
    return [result, *images]  # the core sends the images as images (ToolReturnPart.files)


def list_cells(ctx: RunContext[KernelContext]) -> dict[str, Any]:
    """The notebook's cells as the kernel ran them, in execution order (the latest `MAX_CELLS`): each
    one's execution count, first line, the names it defines, and whether it raised."""
    inputs = ctx.deps.shell.user_ns.get("In", [])
    first = max(1, len(inputs) - MAX_CELLS)
    cells = []
    for n in range(first, len(inputs)):
        source = mask_secret_literals(inputs[n])
        output = cell_output(n)
        cells.append({"n": n, "first_line": _first_line(source), "defines": cell_names(inputs[n]).defines,
                      "raised": output is not None and output.raised})
    shown = f"{len(cells)} cell(s)" + (f", the latest of {len(inputs) - 1}" if first > 1 else "")
    return {"summary": shown, "cells": cells}


def find_cells(ctx: RunContext[KernelContext], name: str) -> dict[str, Any]:
    """The cells whose code defines `name` (assigns, imports, or defines a function or class of that name)
    and those that use it, by execution count.

    Args:
        name: A variable, function, class or module name, e.g. `df`.
    """
    inputs = ctx.deps.shell.user_ns.get("In", [])
    defines, uses = [], []
    for n in range(1, len(inputs)):
        names = cell_names(inputs[n])
        if name in names.defines:
            defines.append(n)
        if name in names.uses:
            uses.append(n)
    return {"summary": f"{name}: defined in {len(defines)}, used in {len(uses)} cell(s)",
            "defined_in": defines, "used_in": uses}


async def run_code(ctx: RunContext[KernelContext], code: str) -> dict[str, Any]:
    """Run Python code in the user's namespace, as a new cell would, and see what it printed, its last
    expression's value, any exception, and whether it made plots (shown to the user). The user sees
    the exact code and must click Run first; if they skip it, do not ask again for the same code.

    Args:
        code: The Python code to run.
    """
    context = ctx.deps
    asks = context.approve_code != APPROVE_ALWAYS and not ctx.tool_call_approved
    refusal = refusal_reason(context)
    if refusal is not None and (asks or context.background):
        return _refused(refusal)
    if asks:
        raise ApprovalRequired()  # the question's approval capability shows Run / Skip (approval.py)
    return await context.progress.on_cell_thread(lambda: run_in_namespace(context.shell.user_ns, code))


KERNEL_TOOLS: tuple[Callable[..., Any], ...] = (list_variables, inspect_variable, last_error, list_cells, read_cell,
                                                find_cells, run_code)


# ------------------------------------------------------------------ the guard on every result


def guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with its result made safe to send: the configured keys, and the text values of the
    namespace's secret-looking names, scrubbed from every text in it (a traceback or a printout may
    quote them). Its signature and docstring stay those of `function` (they become the tool's schema)."""
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            return _scrubbed(await function(*args, **kwargs), _namespace_secrets())

        return guarded_async

    @functools.wraps(function)
    def guarded_sync(*args: Any, **kwargs: Any) -> Any:
        return _scrubbed(function(*args, **kwargs), _namespace_secrets())

    return guarded_sync


def _namespace_secrets() -> list[str]:
    """Text values held under secret-looking names in the user's namespace (and in its dicts), longest
    first so a secret containing another is hidden whole."""
    shell = get_ipython()  # type: ignore[no-untyped-call]
    found: set[str] = set()
    for name, value in (shell.user_ns.items() if shell is not None else ()):
        items = value.items() if isinstance(value, dict) else [(name, value)]
        for key, item in items:
            if isinstance(key, str) and isinstance(item, str) and len(item) >= MIN_SECRET_CHARS and looks_secret(key):
                found.add(item)
    return sorted(found, key=len, reverse=True)


def _scrubbed(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, (BinaryContent, ImageUrl, bool, int, float)) or value is None:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return redact(value)
    if isinstance(value, dict):
        return {_scrubbed(str(key), secrets): _scrubbed(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(item, secrets) for item in value]
    return _scrubbed(to_jsonable_python(value, fallback=repr), secrets)


# ------------------------------------------------------------------ the user's own tools

_user_tools: dict[str, Tool[Any]] = {}
_kernel_tools = [Tool(guarded(function), takes_ctx=True) for function in KERNEL_TOOLS]


@overload
def tool(function: F, /) -> F: ...


@overload
def tool(*, name: str | None = None, description: str | None = None, retries: int | None = None,
         docstring_format: DocstringFormat = "auto", require_parameter_descriptions: bool = False,
         strict: bool | None = None, requires_approval: bool = False, timeout: float | None = None,
         sequential: bool = False) -> Callable[[F], F]: ...


def tool(function: Any = None, /, **options: Any) -> Any:
    """`@nbagent.tool`: offer a notebook function to the notebook agent (as `@agent.tool_plain` does).

    Re-running the cell that defines it replaces it; its results pass the same guard as the kernel tools.
    `requires_approval=True` asks you first, with Run / Skip showing the call, as for `run_code`.
    """
    def register(fn: F) -> F:
        retries = options.pop("retries", None)
        registered = Tool(guarded(fn), takes_ctx=False, max_retries=retries, **options)
        if registered.name in {kernel_tool.name for kernel_tool in _kernel_tools}:
            raise UserError(f"@nbagent.tool: {registered.name!r} is the name of a kernel tool; "
                            "give yours another, e.g. @nbagent.tool(name=...)")
        _user_tools[registered.name] = registered
        return fn

    return register if function is None else register(function)


def notebook_tools(*, kernel: bool) -> list[Tool[Any]]:
    """The tools a question may use: the user's own, and the kernel tools when they are on."""
    return [*(_kernel_tools if kernel else []), *_user_tools.values()]


def offline_model(model: Model, question: str) -> Model:
    """The built-in `offline` model calls every tool it is offered, with made-up arguments; asking in a
    notebook it looks around instead: it calls list_variables (last_error too when the question is
    about an error, and the user's own tools) and answers with what they returned, so notebooks show
    tool use with no key."""
    if not isinstance(model, OfflineModel) or model.call_tools != "all":
        return model
    looks = ["list_variables", *(["last_error"] if _ABOUT_AN_ERROR.search(question) else []), *_user_tools]
    return OfflineModel(model.output_text, call_tools=looks, delay=model.delay, settings=model.settings)


# ------------------------------------------------------------------ helpers


def _is_user_variable(shell: Any, name: str, value: Any) -> bool:
    """Not `_`-prefixed, not a module, not one of IPython's own names (unless the user rebound it)."""
    hidden = shell.user_ns_hidden
    return not (name.startswith("_") or inspect.ismodule(value) or (name in hidden and hidden[name] is value))


def _is_cell(filename: str) -> bool:
    """IPython keeps each cell's source in linecache under a name of its own, with no file behind it."""
    entry = linecache.cache.get(filename)
    return entry is not None and len(entry) > 1 and entry[1] is None


def _summary_of(name: str, value: Any) -> str:
    if looks_secret(name):
        return f"{type(value).__name__}, hidden (the name looks like a secret)"
    try:
        return summary(value)
    except Exception:  # a user object whose len() or shape misbehaves
        return type(value).__name__


def _refused(reason: str) -> dict[str, Any]:
    return {"summary": "not run: " + reason.split(";")[0], "refused": True, "message": f"Not run: {reason}."}


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:120]
