"""PydanticAI's dataclass manners for our objects: reprs leaving out the fields still at their default,
and (for pydantic models: messages, parts, media) leading fields given positionally.

Printed conversations, tool definitions and run nodes then read the same as in PydanticAI's docs, and
stay short. A field with a default factory (a timestamp, an id, a list) is always shown, as there.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from pydantic import BaseModel


def repr_without_defaults(self: Any) -> str:
    """`Name(field=value, ...)` of a dataclass instance, the fields equal to their default left out (and
    those declared with `repr=False`)."""
    shown = ", ".join(
        f"{field.name}={getattr(self, field.name)!r}" for field in dataclasses.fields(self)
        if field.repr and (field.default is dataclasses.MISSING or getattr(self, field.name) != field.default)
    )
    return f"{type(self).__name__}({shown})"


class Positional(BaseModel):
    """Parts, messages and media take their leading fields positionally too (`TextPart('hi')`,
    `ToolCallPart('name', {'a': 1})`), as PydanticAI's dataclasses do."""

    positional: ClassVar[tuple[str, ...]] = ("content",)

    def __init__(self, /, *args: Any, **data: Any) -> None:
        if args:
            names = self.positional
            if len(args) > len(names):
                raise TypeError(f"{type(self).__name__}() takes at most {len(names)} positional argument(s) "
                                f"({', '.join(names)}); give the others by name")
            for name, value in zip(names, args):
                if name in data:
                    raise TypeError(f"{type(self).__name__}() got two values for {name!r}")
                data[name] = value
        super().__init__(**data)

    def __repr_args__(self) -> Any:
        """As PydanticAI's dataclasses show themselves: fields still at their default (and the kind tags)
        left out, so a printed conversation reads the same."""
        fields = type(self).model_fields
        for name, value in super().__repr_args__():
            field = fields.get(name) if name is not None else None
            if name in ("part_kind", "kind") or (field is not None and field.default_factory is None
                                                  and not field.is_required() and value == field.default):
                continue
            yield name, value

    def __str__(self) -> str:
        """`print(message)` shows the same as its repr, as a dataclass does (not pydantic's bare fields)."""
        return repr(self)
