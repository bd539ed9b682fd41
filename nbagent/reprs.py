"""Reprs as PydanticAI's dataclasses print themselves: a field still at its default is left out.

Printed conversations, tool definitions and run nodes then read the same as in PydanticAI's docs, and
stay short. A field with a default factory (a timestamp, an id, a list) is always shown, as there.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def repr_without_defaults(self: Any) -> str:
    """`Name(field=value, ...)` of a dataclass instance, the fields equal to their default left out (and
    those declared with `repr=False`)."""
    shown = ", ".join(
        f"{field.name}={getattr(self, field.name)!r}" for field in dataclasses.fields(self)
        if field.repr and (field.default is dataclasses.MISSING or getattr(self, field.name) != field.default)
    )
    return f"{type(self).__name__}({shown})"
