"""JSON helpers for structured output: the JSON object inside an answer's text, whether OpenAI's strict
mode accepts a schema (and closing its objects when it does), and the "partial" version of a type that
validates a half-streamed answer.

Kept apart from output.py, which decides what output a run asks for; these only transform schemas,
types and text.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Optional, Sequence, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, create_model
from typing_extensions import TypedDict, is_typeddict


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)(?:\n```|$)", re.S)


def json_in_text(text: str, *, partial: bool = False) -> str:
    """The JSON object in an answer: a ```json fenced block if there is one, else from the first `{`."""
    fenced = _FENCE.search(text)
    if fenced:
        return fenced.group(1).strip()
    start = text.find("{")
    if start < 0:
        return text.strip()
    if partial:
        return text[start:]
    end = text.rfind("}")
    return text[start:end + 1] if end > start else text[start:]


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts the schema: every object lists all its properties as
    required and no keyword strict mode rejects (defaults, formats, patterns, numeric bounds) is used."""
    if isinstance(schema, dict):
        if set(schema) & {"default", "format", "pattern", "minimum", "maximum", "minLength", "maxLength",
                          "minItems", "maxItems", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}:
            return False
        if "properties" in schema and set(schema.get("required", [])) != set(schema["properties"]):
            return False
        if schema.get("type") == "object" and "properties" not in schema and "additionalProperties" in schema:
            return False  # a free-form dict
        return all(strict_compatible(value) for value in schema.values())
    if isinstance(schema, list):
        return all(strict_compatible(value) for value in schema)
    return True


def with_closed_objects(schema: Any) -> Any:
    """Strict mode requires `additionalProperties: false` on every object."""
    if isinstance(schema, dict):
        closed = {key: with_closed_objects(value) for key, value in schema.items()}
        if closed.get("type") == "object" and "properties" in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [with_closed_objects(value) for value in schema]
    return schema


def partial_type(type_: Any) -> Any:
    """The type with every field optional (None until seen), so a half-streamed answer validates.

    Models and dataclasses become subclasses of themselves, so a partial output is still an instance
    of the user's type; containers take partial items.
    """
    origin = get_origin(type_)
    if origin in (list, Sequence, tuple, set, frozenset) and get_args(type_):
        return list.__class_getitem__(partial_type(get_args(type_)[0]))
    if origin is dict and get_args(type_):
        key, value = get_args(type_)
        return dict.__class_getitem__((key, partial_type(value)))
    if origin is Union:
        return Union[tuple(partial_type(arg) for arg in get_args(type_))]
    if isinstance(type_, type) and issubclass(type_, BaseModel):
        fields: dict[str, Any] = {name: (Optional[partial_type(field.annotation)], None)
                                  for name, field in type_.model_fields.items()}
        return create_model(type_.__name__, __base__=type_, **fields)
    if dataclasses.is_dataclass(type_) and isinstance(type_, type):
        hints = get_type_hints(type_)
        return dataclasses.make_dataclass(
            type_.__name__, [(f.name, Optional[partial_type(hints[f.name])], dataclasses.field(default=None))
                             for f in dataclasses.fields(type_)], bases=(type_,))
    if is_typeddict(type_):
        hints = get_type_hints(type_)
        fields = {name: partial_type(hint) for name, hint in hints.items()}
        return TypedDict(type_.__name__, fields, total=False)  # type: ignore[operator]
    return type_
