"""One concrete output as a run handles it: the schema sent for it, validation of the model's JSON (whole
or, while it streams, partial), and for an output function the call that turns arguments into the output.

A type whose schema is not an object with properties (int, list[str], dict[str, float]) is wrapped as
`{"response": ...}`, because tool arguments and JSON answers must be objects. A function given as an
output type is read like a function tool (tools.py): its parameters are the schema, and its return,
computed once the arguments validate, is the output (`ModelRetry` in it asks the model again).
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any, Callable

from pydantic import TypeAdapter, ValidationError, create_model
from pydantic.errors import PydanticUserError

from .errors import UserError
from .json_shapes import partial_type
from .tool_schema import SchemaWithoutFieldTitles
from .tools import RunContext, Tool, ToolDefinition

NoneType = type(None)
OUTPUT_TOOL_DESCRIPTION = "The final response which ends this conversation"


def type_name(type_: Any) -> str:
    if type_ is NoneType:
        return "None"
    name = getattr(type_, "__name__", None) or re.sub(r"\W+", "_", str(type_)).strip("_")
    return str(name)


def is_output_function(output: Any) -> bool:
    """A function (or bound method, or partial) given as an output type: its return is the output."""
    return inspect.isfunction(output) or inspect.ismethod(output) or isinstance(output, functools.partial)


class OutputType:
    """One concrete output type: its schema as sent, and its validators (whole and partial)."""

    def __init__(self, type_: Any, *, name: str, description: str | None = None, max_retries: int | None = None,
                 strict: bool | None = None) -> None:
        self.type_ = type_
        self.name = name
        self.description = description
        self.max_retries = max_retries
        self.strict = strict
        self.function: Tool[Any] | None = None
        if is_output_function(type_):  # the function's parameters are what the model fills in
            self.function = Tool(type_, name=name)
            self.description = description or self.function.description
            self.wrapped, self.title, self.json_schema = False, type_name(type_), self.function.tool_def.parameters_json_schema
            return
        try:
            schema = TypeAdapter(type_).json_schema(schema_generator=SchemaWithoutFieldTitles)
        except (PydanticUserError, TypeError) as exc:
            reason = str(exc).splitlines()[0]
            raise UserError(f"output_type {type_name(type_)!r} cannot be described as JSON ({reason}); "
                            "use a pydantic model, dataclass, TypedDict, or JSON-friendly scalars and containers"
                            ) from None
        self.wrapped = schema.get("type") != "object" or "properties" not in schema
        if self.wrapped:
            inner = {key: value for key, value in schema.items() if key != "$defs"}
            schema = {"type": "object", "properties": {"response": inner}, "required": ["response"],
                      **({"$defs": schema["$defs"]} if "$defs" in schema else {})}
            self._target: Any = create_model("Wrapped", response=(type_, ...))
        else:
            self._target = type_
        self._adapter: TypeAdapter[Any] = TypeAdapter(self._target)
        self.title = schema.pop("title", None) or type_name(type_)
        self.json_schema = schema
        self._partial: TypeAdapter[Any] | None = None

    def tool_def(self) -> ToolDefinition:
        return ToolDefinition(self.name, dict(self.json_schema), self.description or OUTPUT_TOOL_DESCRIPTION,
                              strict=self.strict, outer_typed_dict_key="response" if self.wrapped else None,
                              kind="output", toolset_id="<output>")

    def validate(self, data: str | dict[str, Any] | None, context: Any = None) -> Any:
        """The output from the model's JSON (a string or an already parsed object); raises ValidationError.
        For an output function, the validated arguments it is then called with (`finish`). `context` is
        pydantic's validation context (the agent's `validation_context`)."""
        if self.function is not None:
            return self.function.validate_args(data, context)
        if data is None or data == "":
            data = "{}"
        value = (self._adapter.validate_json(data, context=context) if isinstance(data, str)
                 else self._adapter.validate_python(data, context=context))
        return value.response if self.wrapped else value

    def validate_partial(self, data: str) -> Any:
        """The output as far as the JSON so far allows (fields not seen yet are None); None if nothing yet."""
        if self.function is not None:
            return self.function.validate_partial_args(data)
        if self._partial is None:
            self._partial = TypeAdapter(partial_type(self._target))
        try:
            value = self._partial.validate_json(data, experimental_allow_partial="trailing-strings")
        except ValidationError:
            return None
        return value.response if self.wrapped else value

    async def finish(self, value: Any, ctx: RunContext[Any]) -> Any:
        """The output: `value` itself, or what the output function returns when called with it."""
        return value if self.function is None else await self.function.call(value, ctx)


class TextFunction:
    """`TextOutput(fn)`: the function a text answer goes through."""

    def __init__(self, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise UserError(f"TextOutput needs a function taking the text, got {type(function).__name__}")
        self.tool: Tool[Any] = Tool(function)
        if len(self.tool.parameter_names) != 1:
            raise UserError(f"TextOutput function {self.tool.name!r} must take the text (after an optional ctx), "
                            f"not {len(self.tool.parameter_names)} parameters")

    async def __call__(self, text: str, ctx: RunContext[Any]) -> Any:
        return await self.tool.call({self.tool.parameter_names[0]: text}, ctx)
