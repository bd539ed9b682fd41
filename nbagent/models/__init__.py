"""Model lookup: `provider:model-name` strings to `Model` objects, and the default model.

Each wire protocol lives in its own module (openai.py, anthropic.py, test.py, function.py) behind
the small `Model` protocol of base.py; they are imported only when a model of theirs is asked for.
"""

from __future__ import annotations

import os
import sys

from ..errors import UserError
from .base import Model, StreamedResponse
from .providers import PROVIDER_ALIASES, PROVIDERS

__all__ = ["Model", "StreamedResponse", "infer_model", "default_model_name", "default_model_origin", "KNOWN_PROVIDERS",
           "PROVIDERS"]

ALLOW_MODEL_REQUESTS = True
"""Set it to False in a test suite so no HTTP model request leaves by accident (TestModel and FunctionModel
still answer), as PydanticAI's `models.ALLOW_MODEL_REQUESTS`."""

KNOWN_PROVIDERS = (*PROVIDERS, *PROVIDER_ALIASES, "offline", "test")

HOW_TO_CONFIGURE = (
    "set OPENAI_API_KEY or ANTHROPIC_API_KEY, or NBAGENT_MODEL=provider:model (e.g. ollama:llama3.2), before starting "
    "Jupyter (a running kernel does not see them), or in a notebook %agent_settings model=provider:model"
)
OFFLINE = "offline"
"""The name of the built-in offline model (`OfflineModel`); `test` is PydanticAI's `TestModel`, as there."""
OFFLINE_NOTICE = f"nbagent: no model configured, using the built-in `offline` model; {HOW_TO_CONFIGURE}."
_notice_shown = False
_DEFAULTS = (("OPENAI_API_KEY", "openai:gpt-4o"), ("ANTHROPIC_API_KEY", "anthropic:claude-sonnet-4-5"))


def default_model_name() -> str:
    """NBAGENT_MODEL, else the provider whose key is set, else the built-in `offline` model."""
    configured = os.environ.get("NBAGENT_MODEL", "").strip()
    if configured:
        return configured
    return next((model for variable, model in _DEFAULTS if os.environ.get(variable)), OFFLINE)


def default_model_origin() -> str:
    """The environment variable that chose the default model (NBAGENT_MODEL, or the key found), "" if none did."""
    if os.environ.get("NBAGENT_MODEL", "").strip():
        return "NBAGENT_MODEL"
    return next((variable for variable, _ in _DEFAULTS if os.environ.get(variable)), "")


def announce_offline() -> None:
    """Say, once per process, that the built-in `offline` model answers because no model is configured."""
    global _notice_shown
    if not _notice_shown:
        _notice_shown = True
        print(OFFLINE_NOTICE, file=sys.stderr)


def infer_model(model: "Model | str | None") -> Model:
    """Turn what a user wrote into a `Model`; `None` resolves the default (with a notice if offline, and
    naming NBAGENT_MODEL if that is what cannot be used)."""
    if isinstance(model, Model):
        return model
    if model is None:
        if default_model_origin() == "NBAGENT_MODEL":
            try:
                return infer_model(default_model_name())
            except UserError as exc:
                raise UserError(f"the environment variable NBAGENT_MODEL: {exc}; correct it and restart, "
                                "or choose a model with %agent_settings model=provider:model") from None
        model = default_model_name()
        if model == OFFLINE:
            announce_offline()
    if not isinstance(model, str) or not model.strip():
        raise UserError(f"model must be 'provider:model-name' or a Model object, got {model!r}")
    provider, _, name = model.strip().partition(":")
    provider = PROVIDER_ALIASES.get(provider, provider)
    if provider == "openai-responses":
        raise UserError(f"{model!r}: nbagent speaks Chat Completions, not the Responses API; "
                        f"write 'openai:{name or '<model-name>'}'")
    if provider == OFFLINE:
        from .offline import OfflineModel

        return OfflineModel()
    if provider == "test":
        from .test import TestModel

        return TestModel()
    if provider not in KNOWN_PROVIDERS:
        raise UserError(
            f"Unknown model provider {provider!r} in {model!r}; known providers: {', '.join(KNOWN_PROVIDERS)} "
            "(write e.g. 'openai:gpt-4o')"
        )
    if not name:
        raise UserError(f"Model {model!r} has no model name; write it as '{provider}:<model-name>'")
    if provider == "anthropic":
        from .anthropic import AnthropicModel

        return AnthropicModel(name)
    from .openai import OpenAIModel

    return OpenAIModel(name, provider=provider)
