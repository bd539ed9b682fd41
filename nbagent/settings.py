"""`ModelSettings`: the knobs of one request, validated before anything is sent.

Layers merge key by key: model defaults < agent defaults < per-run settings. A bad value or an
unknown key is a `UserError` naming the field, so a typo like `temprature` never silently does nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import ConfigDict, Field, StrictBool, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from .errors import UserError


CacheTTL = Union[StrictBool, Literal["5m", "1h"]]
"""A prompt cache breakpoint: True (5 minutes), False (none), or the time it lives."""


@dataclass
class ToolOrOutput:
    """`tool_choice=ToolOrOutput(function_tools=[...])`: offer only these function tools, and every output tool."""

    function_tools: list[str]


ToolChoice = Union[Literal["auto", "none", "required"], list[str], ToolOrOutput]
"""Which tools the model may use: all ('auto'), no function tools ('none'), a function tool must be called
('required', or one of the names listed: per step only, from a capability), or `ToolOrOutput`."""


@with_config(ConfigDict(extra="forbid"))
class ModelSettings(TypedDict, total=False):
    """Settings for a model request; every key is optional.

    `thinking` asks for reasoning before the answer: True, or a budget in tokens (Anthropic, OpenRouter);
    `reasoning_effort` is how OpenAI-compatible reasoning models take it.

    Anthropic prompt caching, as PydanticAI names it (True: 5 minutes, or "5m" / "1h"):
    `anthropic_cache_instructions` and `anthropic_cache_tool_definitions` put a cache breakpoint after the
    system text and after the tools; `anthropic_cache_messages` after the last message, so the next turn
    reads the conversation so far from the cache; `anthropic_cache` asks Anthropic to place it
    (not with `anthropic_cache_messages`). Other protocols ignore them (OpenAI caches by itself).
    """

    max_tokens: Annotated[int, Field(ge=1, strict=True)]
    temperature: Annotated[float, Field(ge=0, le=2)]
    top_p: Annotated[float, Field(ge=0, le=1)]
    timeout: Annotated[float, Field(gt=0)]
    seed: Annotated[int, Field(strict=True)]
    presence_penalty: Annotated[float, Field(ge=-2, le=2)]
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)]
    stop_sequences: list[str]
    extra_headers: dict[str, str]
    extra_body: dict[str, Any]
    max_retries: Annotated[int, Field(ge=0, le=10, strict=True)]
    parallel_tool_calls: Annotated[bool, Field(strict=True)]
    thinking: Union[StrictBool, Annotated[int, Field(ge=1, strict=True)]]
    reasoning_effort: Literal["minimal", "low", "medium", "high"]
    tool_choice: ToolChoice
    anthropic_cache_instructions: CacheTTL
    anthropic_cache_tool_definitions: CacheTTL
    anthropic_cache_messages: CacheTTL
    anthropic_cache: CacheTTL


SETTING_NAMES: tuple[str, ...] = tuple(ModelSettings.__annotations__)
_adapter: TypeAdapter[ModelSettings] = TypeAdapter(ModelSettings)


def validate_settings(settings: Optional[Mapping[str, Any]]) -> ModelSettings:
    """Check names and values; return a clean copy. Raises `UserError` naming the first bad field."""
    if not settings:
        return {}
    if not isinstance(settings, Mapping):
        raise UserError(f"model_settings must be a dict like {{'temperature': 0.2}}, got {type(settings).__name__}")
    for key in settings:
        if key not in SETTING_NAMES:
            close = difflib.get_close_matches(str(key), SETTING_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"Unknown model setting {key!r}{hint}; known settings: {', '.join(SETTING_NAMES)}")
    try:
        valid = _adapter.validate_python(dict(settings))
    except ValidationError as exc:
        errors = exc.errors()
        field = str(errors[0]["loc"][0]) if errors[0]["loc"] else "model_settings"
        # a union (e.g. True or "1h") fails once per member: say every way the value could have been right
        reasons = dict.fromkeys(e["msg"].lower() for e in errors if e["loc"] and str(e["loc"][0]) == field)
        raise UserError(f"Invalid model setting {field}={settings[field]!r}: {' or '.join(reasons)}") from None
    if valid.get("anthropic_cache") and valid.get("anthropic_cache_messages"):
        raise UserError("anthropic_cache and anthropic_cache_messages both place the messages' cache breakpoint; "
                        "keep one of them")
    return valid


def merge_settings(*layers: Optional[Mapping[str, Any]]) -> ModelSettings:
    """Merge validated layers left to right; later layers win key by key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            merged.update(layer)
    return merged  # type: ignore[return-value]
