"""The Jupyter layer: magics, live answer display, settings panel, kernel tools. Depends on the core,
never the reverse.

`%load_ext nbagent` imports only the front of this layer: magics.py (the magics and their options)
and config.py (the settings traits), which need nothing but IPython and traitlets. Everything else
(the core, pydantic, httpx, widgets) is imported once, by `layer()`, on the first magic call or the
first setting checked; the modules behind it import at their top like ordinary code.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


def layer() -> ModuleType:
    """The one lazy boundary of the notebook layer: `commands`, and with it everything behind it."""
    return import_module(f"{__name__}.commands")
