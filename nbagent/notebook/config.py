"""`AgentSettings`: the kernel's nbagent settings as traitlets, the one source of truth.

The settings panel, the `%agent_settings` line form, `%config AgentSettings.<name>` and every
conversation's `Agent` read and write this one object; traitlets observers push each change to the
others, so several open panels and the next `%%ask` always agree. It is created when the extension
loads (so `%config AgentSettings.model = ...` works at once) and therefore imports only traitlets:
a value is checked against the core when it is set, through the layer's lazy boundary.
"""

from __future__ import annotations

import sys
from typing import Any

from IPython import get_ipython
from traitlets import Dict, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from . import layer

TOOLS_OFF, TOOLS_KERNEL = "", "kernel"
APPROVE_ASK, APPROVE_ALWAYS = "ask", "always"
COMPACT_ON, COMPACT_OFF = "on", "off"


class AgentSettings(Configurable):
    """Defaults for every `%%ask`: None / "" mean "not set" (the provider's or nbagent's default)."""

    model = Unicode("", help="provider:model-name; empty = NBAGENT_MODEL / a configured key / the built-in offline model").tag(config=True)
    temperature = Float(None, allow_none=True, help="0-2; None = provider default").tag(config=True)
    max_tokens = Int(None, allow_none=True, help=">= 1; None = provider default").tag(config=True)
    system = Unicode("", help="instructions sent with every request").tag(config=True)
    history_file = Unicode("", help="keep the conversations in this JSON file (survives kernel restarts)").tag(config=True)
    tools = Enum((TOOLS_OFF, TOOLS_KERNEL), default_value=TOOLS_OFF,
                 help="'kernel': every question may look at your variables, errors and cells (as %%ask --tools)").tag(config=True)
    approve_code = Enum((APPROVE_ASK, APPROVE_ALWAYS), default_value=APPROVE_ASK,
                        help="'ask': code the model wants to run waits for your Run click; 'always': it runs unasked").tag(config=True)
    context_window = Int(None, allow_none=True,
                         help="tokens the model can read at once; None = nbagent's table of common models, "
                              "or what the provider's error said").tag(config=True)
    compact = Enum((COMPACT_ON, COMPACT_OFF), default_value=COMPACT_ON,
                   help="'on': a conversation about to pass 80% of the context window is compacted "
                        "(long tool results cut, older turns summarized); 'off': sent whole").tag(config=True)
    confirm_above = Float(1.0, help="USD: a %%ask --each map estimated above this waits for your Run click "
                                     "(refused where nothing can be clicked)").tag(config=True)
    prices = Dict(help='USD per million input / output tokens, for %agent_usage: {"openai:gpt-4o": [2.5, 10]}; '
                       "models not listed are priced by genai-prices when it knows them").tag(config=True)

    @validate("temperature", "max_tokens", "model", "history_file", "prices", "context_window", "confirm_above")
    def _check(self, proposal: Any) -> Any:
        """Refuse a value the core would refuse (range, unknown provider, a file that is not a history)."""
        return layer().check_setting(proposal["trait"].name, proposal["value"])

    def model_settings(self) -> dict[str, Any]:
        """The settings that are set, as core `ModelSettings`."""
        settings: dict[str, Any] = {}
        if self.temperature is not None:
            settings["temperature"] = self.temperature
        if self.max_tokens is not None:
            settings["max_tokens"] = self.max_tokens
        return settings


_settings: AgentSettings | None = None


def get_settings() -> AgentSettings:
    """The kernel's settings, created on first use from the shell's traitlets config and registered
    with the shell (what `%config` looks through). A bad configured value is reported and ignored."""
    global _settings
    if _settings is None:
        shell = get_ipython()
        try:
            _settings = AgentSettings(config=shell.config if shell is not None else None)
        except TraitError as exc:  # a bad value in ipython_config.py must not disable the magics
            print(f"nbagent: ignoring the AgentSettings config: {exc}", file=sys.stderr)
            _settings = AgentSettings()
        if shell is not None:
            shell.configurables.append(_settings)
    return _settings
