"""Kernel-resident state: the bound settings and the named conversations.

`NotebookSettings` is the one source of truth for the settings panel, the `%agent_settings` line form
and every conversation's `Agent`: a change from any of them is pushed to the others through
traitlets observers, so several open panels and the next `%%ask` always agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traitlets import Float, HasTraits, Int, TraitError, Unicode, validate

if TYPE_CHECKING:
    from ..agent import Agent
    from ..messages import ModelMessage


class NotebookSettings(HasTraits):
    """Defaults for every `%%ask`: None / "" mean "not set" (the provider's or nbagent's default)."""

    model = Unicode("", help="provider:model-name; empty = NBAGENT_MODEL / a configured key / the offline test model")
    temperature = Float(None, allow_none=True, help="0-2; None = provider default")
    max_tokens = Int(None, allow_none=True, help=">= 1; None = provider default")
    system = Unicode("", help="instructions sent with every request")

    @validate("temperature", "max_tokens")
    def _check_setting(self, proposal: Any) -> Any:
        from ..errors import UserError
        from ..settings import validate_settings

        name, value = proposal["trait"].name, proposal["value"]
        if value is not None:
            try:
                validate_settings({name: value})
            except UserError as exc:
                raise TraitError(str(exc)) from None
        return value

    @validate("model")
    def _check_model(self, proposal: Any) -> str:
        from ..errors import UserError
        from ..models import infer_model

        value = proposal["value"].strip()
        if value:
            try:
                infer_model(value)
            except UserError as exc:
                raise TraitError(str(exc)) from None
        return value

    def model_settings(self) -> dict[str, Any]:
        """The settings that are set, as core `ModelSettings`."""
        settings: dict[str, Any] = {}
        if self.temperature is not None:
            settings["temperature"] = self.temperature
        if self.max_tokens is not None:
            settings["max_tokens"] = self.max_tokens
        return settings


class Conversation:
    """One named conversation: its agent (bound to the settings) and its history."""

    def __init__(self, name: str, settings: NotebookSettings) -> None:
        from ..agent import Agent

        self.name = name
        self.history: list[ModelMessage] = []
        self.agent: Agent = Agent(settings.model or None, name=name)
        self.apply(settings)

    def apply(self, settings: NotebookSettings) -> None:
        """Push the bound settings into this conversation's agent."""
        from ..models import infer_model

        if settings.model and settings.model != self.agent.model.label:
            self.agent.model = infer_model(settings.model)
        elif not settings.model and self.agent.model.label != _default_label():
            self.agent.model = infer_model(None)
        self.agent.instructions = settings.system or None
        self.agent.model_settings = settings.model_settings()


def _default_label() -> str:
    from ..models import default_model_name

    return default_model_name()


class NotebookState:
    """Everything nbagent keeps in the kernel."""

    def __init__(self) -> None:
        self.settings = NotebookSettings()
        self.conversations: dict[str, Conversation] = {}
        self.settings.observe(self._push_settings)

    def conversation(self, name: str = "default") -> Conversation:
        if name not in self.conversations:
            self.conversations[name] = Conversation(name, self.settings)
        return self.conversations[name]

    def _push_settings(self, change: Any) -> None:
        for conversation in self.conversations.values():
            conversation.apply(self.settings)


_state: NotebookState | None = None


def get_state() -> NotebookState:
    """The kernel's nbagent state, created on first use."""
    global _state
    if _state is None:
        _state = NotebookState()
    return _state
