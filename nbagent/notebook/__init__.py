"""The Jupyter layer: magics, live answer display, settings panel, kernel tools. Depends on the core,
never the reverse.

`%load_ext nbagent` imports only the front of this layer: magics.py (the magics and their options),
config.py (the settings traits) and cell_outputs.py (what each cell showed, recorded from then on), which
need nothing but IPython, traitlets and the standard library. Everything else (the core, pydantic, httpx,
widgets) is imported once, by `layer()`, on the first magic call or the first setting checked; the
modules behind it import at their top like ordinary code.

At the top of the layer: `magics`, `config` and `cell_outputs` (what `%load_ext` loads), `commands` (what
the magics do), `ask` (one question), `state` and `compacting` (the conversations), `prompt` (the
question from the cell), `live` (the request loop, the in-place follower, interruptible waits). In rooms:
`markdown/` (Markdown rendering and neutralising), `view/` (the live answer view), `kernel/` (the kernel
tools, approval and running code), `rows/` (`%%ask --each` over rows), `line_magics/` (what the
`%agent_*` line magics show).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


def layer() -> ModuleType:
    """The one lazy boundary of the notebook layer: `commands`, and with it everything behind it."""
    return import_module(f"{__name__}.commands")
