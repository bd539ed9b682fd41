"""`ModelSettings`: the knobs of one request, validated before anything is sent.

Layers merge key by key: model defaults < agent defaults < per-run settings. A bad value or an
unknown key is a `UserError` naming the field, so a typo like `temprature` never silently does nothing.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import ConfigDict, Field, StrictBool, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from .errors import UserError


@with_config(ConfigDict(extra="forbid"))
class ModelSettings(TypedDict, total=False):
    """Settings for a model request; every key is optional.

    `thinking` asks for reasoning before the answer: True, or a budget in tokens (Anthropic, OpenRouter);
    `reasoning_effort` is how OpenAI-compatible reasoning models take it.
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
        return _adapter.validate_python(dict(settings))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "model_settings"
        raise UserError(f"Invalid model setting {field}={error['input']!r}: {error['msg'].lower()}") from None


def merge_settings(*layers: Optional[Mapping[str, Any]]) -> ModelSettings:
    """Merge validated layers left to right; later layers win key by key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            merged.update(layer)
    return merged  # type: ignore[return-value]
