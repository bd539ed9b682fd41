"""nbagent: a kernel-resident LLM agent for Jupyter, and the small agent API underneath.

`from nbagent import Agent` gives the PydanticAI-style API (run, run_sync, run_stream);
`%load_ext nbagent` adds the `%%ask` and `%agent_settings` magics. Names are imported lazily so
loading the extension stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Agent": "nbagent.agent",
    "ModelSettings": "nbagent.settings",
    "RunResult": "nbagent.result",
    "StreamedRunResult": "nbagent.result",
    "ModelMessage": "nbagent.messages",
    "ModelRequest": "nbagent.messages",
    "ModelResponse": "nbagent.messages",
    "SystemPromptPart": "nbagent.messages",
    "UserPromptPart": "nbagent.messages",
    "TextPart": "nbagent.messages",
    "Usage": "nbagent.messages",
    "ModelMessagesTypeAdapter": "nbagent.messages",
    "messages_from_json": "nbagent.messages",
    "messages_to_json": "nbagent.messages",
    "Model": "nbagent.models.base",
    "FunctionModel": "nbagent.models.function",
    "TestModel": "nbagent.models.test",
    "OpenAIModel": "nbagent.models.openai",
    "AnthropicModel": "nbagent.models.anthropic",
    "NbAgentError": "nbagent.errors",
    "UserError": "nbagent.errors",
    "ModelHTTPError": "nbagent.errors",
    "ModelConnectionError": "nbagent.errors",
    "UnexpectedModelBehavior": "nbagent.errors",
}

__all__ = sorted(_LAZY) + ["load_ipython_extension", "unload_ipython_extension"]

if TYPE_CHECKING:
    from .agent import Agent
    from .errors import ModelConnectionError, ModelHTTPError, NbAgentError, UnexpectedModelBehavior, UserError
    from .messages import (ModelMessage, ModelMessagesTypeAdapter, ModelRequest, ModelResponse, SystemPromptPart,
                           TextPart, Usage, UserPromptPart, messages_from_json, messages_to_json)
    from .models.anthropic import AnthropicModel
    from .models.base import Model
    from .models.function import FunctionModel
    from .models.openai import OpenAIModel
    from .models.test import TestModel
    from .result import RunResult, StreamedRunResult
    from .settings import ModelSettings


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbagent' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext nbagent`: register the magics (the model stack loads on first use)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .notebook.magics import unload_ipython_extension as unload

    unload(ipython)
