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

__all__ = ["Model", "StreamedResponse", "infer_model", "default_model_name", "KNOWN_PROVIDERS", "PROVIDERS"]

ALLOW_MODEL_REQUESTS = True
"""Set it to False in a test suite so no HTTP model request leaves by accident (TestModel and FunctionModel
still answer), as PydanticAI's `models.ALLOW_MODEL_REQUESTS`."""

KNOWN_PROVIDERS = (*PROVIDERS, *PROVIDER_ALIASES, "test")

OFFLINE_NOTICE = (
    "nbagent: no model configured, using the offline `test` model. "
    "Set OPENAI_API_KEY or ANTHROPIC_API_KEY, or NBAGENT_MODEL=provider:model (e.g. ollama:llama3.2)."
)
_notice_shown = False


def default_model_name() -> str:
    """NBAGENT_MODEL, else the provider whose key is set, else the offline `test` model."""
    configured = os.environ.get("NBAGENT_MODEL", "").strip()
    if configured:
        return configured
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic:claude-sonnet-4-5"
    return "test"


def infer_model(model: "Model | str | None") -> Model:
    """Turn what a user wrote into a `Model`; `None` resolves the default (with a notice if offline)."""
    global _notice_shown
    if isinstance(model, Model):
        return model
    if model is None:
        model = default_model_name()
        if model == "test" and not _notice_shown:
            _notice_shown = True
            print(OFFLINE_NOTICE, file=sys.stderr)
    if not isinstance(model, str) or not model.strip():
        raise UserError(f"model must be 'provider:model-name' or a Model object, got {model!r}")
    provider, _, name = model.strip().partition(":")
    provider = PROVIDER_ALIASES.get(provider, provider)
    if provider == "openai-responses":
        raise UserError(f"{model!r}: nbagent speaks Chat Completions, not the Responses API; "
                        f"write 'openai:{name or '<model-name>'}'")
    if provider == "test":
        from .offline import OfflineModel

        return OfflineModel()
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
