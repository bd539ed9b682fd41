"""`%agent_settings` panel: ipywidgets bound two-way to the kernel's `AgentSettings`."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from traitlets import TraitError

from ..config import TOOLS_KERNEL, TOOLS_OFF, AgentSettings

SHOWN_WHEN_UNSET = {"temperature": 1.0, "max_tokens": 1024}
MAX_TOKENS_LIMIT = 32768


def settings_panel(settings: AgentSettings) -> widgets.VBox:
    """A panel of sliders and fields; every panel observes the same settings, so they stay in sync."""
    def shown_value(name: str) -> Any:
        value = getattr(settings, name)
        if name == "tools":
            return value == TOOLS_KERNEL
        return SHOWN_WHEN_UNSET[name] if value is None and name in SHOWN_WHEN_UNSET else value

    def setting_value(name: str, shown: Any) -> Any:
        if name == "tools":
            return TOOLS_KERNEL if shown else TOOLS_OFF
        return shown

    style = {"description_width": "110px"}
    layout = widgets.Layout(width="520px")
    temperature = widgets.FloatSlider(
        value=shown_value("temperature"), min=0.0, max=2.0, step=0.05, readout_format=".2f", description="temperature", style=style, layout=layout
    )
    max_tokens = widgets.IntSlider(value=shown_value("max_tokens"), min=1, max=MAX_TOKENS_LIMIT, step=1, description="max_tokens", style=style,
                                   layout=layout)
    model = widgets.Text(value=settings.model, description="model", placeholder="default (NBAGENT_MODEL, a configured key, or test)",
                         continuous_update=False, style=style, layout=layout)
    system = widgets.Textarea(value=settings.system, description="system prompt", placeholder="instructions sent with every question",
                              continuous_update=False, style=style, layout=widgets.Layout(width="520px", height="70px"))
    tools = widgets.Checkbox(value=shown_value("tools"), description="kernel tools: the model may read your variables, errors and cells",
                             indent=False, layout=widgets.Layout(width="520px"))
    reset = widgets.Button(description="reset to defaults", layout=widgets.Layout(width="160px"))
    status = widgets.Label()
    controls = {"temperature": temperature, "max_tokens": max_tokens, "model": model, "system": system, "tools": tools}
    syncing = {"active": False}

    def describe() -> None:
        unset = [name for name in ("temperature", "max_tokens") if getattr(settings, name) is None]
        status.value = f"provider default for: {', '.join(unset)}" if unset else ""

    def show(name: str) -> None:
        syncing["active"] = True
        try:
            controls[name].value = shown_value(name)
        finally:
            syncing["active"] = False

    def on_settings_change(change: dict[str, Any]) -> None:
        show(change["name"])
        describe()

    def on_control_change(name: str):
        def handler(change: dict[str, Any]) -> None:
            if syncing["active"]:
                return
            try:
                setattr(settings, name, setting_value(name, change["new"]))
            except TraitError as exc:
                status.value = f"not applied: {exc}"
                show(name)
        return handler

    for name, control in controls.items():
        control.observe(on_control_change(name), names="value")
    settings.observe(on_settings_change, names=list(controls))
    reset.on_click(lambda _: _reset(settings))
    describe()
    panel = widgets.VBox([temperature, max_tokens, model, system, tools, widgets.HBox([reset, status])])
    panel.add_class("nbagent-settings")

    def stop_following(change: dict[str, Any]) -> None:
        if change["new"] is None:  # panel closed: stop pushing settings into dead widgets
            settings.unobserve(on_settings_change, names=list(controls))

    panel.observe(stop_following, names="comm")
    return panel


def _reset(settings: AgentSettings) -> None:
    with settings.hold_trait_notifications():
        settings.temperature = None
        settings.max_tokens = None
        settings.model = ""
        settings.system = ""
        settings.tools = TOOLS_OFF
