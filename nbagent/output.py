"""Structured output: `output_type=` turns the model's answer into a validated Python object.

What the user writes, as PydanticAI spells it:

    Agent(model, output_type=CityLocation)                # tool output: a `final_result` tool
    Agent(model, output_type=[CityLocation, Country])     # the model picks one (final_result_<Name>)
    Agent(model, output_type=[CityLocation, str])         # ... or answers in plain text
    Agent(model, output_type=NativeOutput(CityLocation))  # the provider's JSON-schema response format
    Agent(model, output_type=PromptedOutput(CityLocation))  # the schema in the instructions, JSON in the text

`OutputSchema` is what a run works with: the output tools or the JSON object the model is asked
for, and how to validate an answer, whole or (while it streams) partial. A type whose schema is not
an object with properties (int, list[str], dict[str, float]) is wrapped as `{"response": ...}`,
because tool arguments and JSON answers must be objects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Generic, Literal, Sequence, Union

from pydantic import TypeAdapter, ValidationError, create_model
from pydantic.errors import PydanticUserError
from typing_extensions import TypedDict, TypeVar

from .errors import UserError
from .json_shapes import json_in_text, partial_type, strict_compatible, with_closed_objects
from .tools import SchemaWithoutFieldTitles, ToolDefinition

T = TypeVar("T")
OutputDataT = TypeVar("OutputDataT", default=str)
"""The type of a run's output (`str` unless `output_type` says otherwise)."""

DEFAULT_OUTPUT_TOOL = "final_result"
OUTPUT_TOOL_DESCRIPTION = "The final response which ends this conversation"
OutputMode = Literal["text", "tool", "native", "prompted"]


@dataclass(init=False)
class ToolOutput(Generic[T]):
    """Output through a tool call whose arguments are the output (the default mode)."""

    type_: Any
    name: str | None
    description: str | None
    max_retries: int | None
    strict: bool | None

    def __init__(self, type_: type[T], *, name: str | None = None, description: str | None = None,
                 max_retries: int | None = None, strict: bool | None = None) -> None:
        self.type_, self.name, self.description, self.max_retries, self.strict = (
            type_, name, description, max_retries, strict)


@dataclass(init=False)
class NativeOutput(Generic[T]):
    """Output as JSON text constrained by the provider (`response_format: json_schema`)."""

    outputs: Sequence[Any]
    name: str | None
    description: str | None
    strict: bool | None

    def __init__(self, outputs: type[T] | Sequence[type[T]], *, name: str | None = None,
                 description: str | None = None, strict: bool | None = None) -> None:
        self.outputs = _as_list(outputs)
        self.name, self.description, self.strict = name, description, strict


@dataclass(init=False)
class PromptedOutput(Generic[T]):
    """Output as JSON text, the schema given in the instructions (works with any model)."""

    outputs: Sequence[Any]
    name: str | None
    description: str | None
    template: str | None

    def __init__(self, outputs: type[T] | Sequence[type[T]], *, name: str | None = None,
                 description: str | None = None, template: str | None = None) -> None:
        self.outputs = _as_list(outputs)
        self.name, self.description, self.template = name, description, template


OutputSpec = Union[type[T], ToolOutput[T], NativeOutput[T], PromptedOutput[T], Sequence[Any]]

PROMPT_TEMPLATE = (
    "Answer with a single JSON object that validates against this JSON schema, and nothing else "
    "(no prose, no Markdown fences):\n\n{schema}"
)


@dataclass
class OutputObjectDefinition:
    """The JSON object asked for in native and prompted modes."""

    name: str
    json_schema: dict[str, Any]
    description: str | None = None
    strict: bool | None = None


def _as_list(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def type_name(type_: Any) -> str:
    name = getattr(type_, "__name__", None) or re.sub(r"\W+", "_", str(type_)).strip("_")
    return str(name)


class OutputType:
    """One concrete output type: its schema as sent, and its validators (whole and partial)."""

    def __init__(self, type_: Any, *, name: str, description: str | None = None, max_retries: int | None = None,
                 strict: bool | None = None) -> None:
        self.type_ = type_
        self.name = name
        self.description = description
        self.max_retries = max_retries
        self.strict = strict
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
        return ToolDefinition(self.name, self.description or OUTPUT_TOOL_DESCRIPTION, dict(self.json_schema),
                              self.strict, "response" if self.wrapped else None)

    def validate(self, data: str | dict[str, Any] | None) -> Any:
        """The output from the model's JSON (a string or an already parsed object); raises ValidationError."""
        if data is None or data == "":
            data = "{}"
        value = self._adapter.validate_json(data) if isinstance(data, str) else self._adapter.validate_python(data)
        return value.response if self.wrapped else value

    def validate_partial(self, data: str) -> Any:
        """The output as far as the JSON so far allows (fields not seen yet are None); None if nothing yet."""
        if self._partial is None:
            self._partial = TypeAdapter(partial_type(self._target))
        try:
            value = self._partial.validate_json(data, experimental_allow_partial="trailing-strings")
        except ValidationError:
            return None
        return value.response if self.wrapped else value


class OutputSchema:
    """How a run gets its output: plain text, output tools, or a JSON object in the text."""

    def __init__(self, spec: Any, *, default_retries: int) -> None:
        self.mode: OutputMode = "text"
        self.allow_text = True
        self.tools: dict[str, OutputType] = {}
        self.objects: list[OutputType] = []
        self.object_def: OutputObjectDefinition | None = None
        self.instructions: str | None = None
        self.max_retries = default_retries
        if spec is str:
            return
        if isinstance(spec, (NativeOutput, PromptedOutput)):
            self._object_mode(spec)
            return
        outputs = _as_list(spec)
        if not outputs:
            raise UserError("output_type=[] names no type; give a type such as str or a pydantic model")
        self.mode = "tool"
        self.allow_text = str in outputs
        others = [output for output in outputs if output is not str]
        if not others:
            self.mode = "text"
            return
        for output in others:
            if isinstance(output, (NativeOutput, PromptedOutput)):
                raise UserError(f"{type(output).__name__} cannot be mixed with other output types; give it alone")
            tool = output if isinstance(output, ToolOutput) else ToolOutput(output)
            name = tool.name or (DEFAULT_OUTPUT_TOOL if len(others) == 1 else
                                 f"{DEFAULT_OUTPUT_TOOL}_{type_name(tool.type_)}")
            if name in self.tools:
                raise UserError(f"Two output types would both be the tool {name!r}; name them: ToolOutput(T, name=...)")
            self.tools[name] = OutputType(tool.type_, name=name, description=tool.description,
                                          max_retries=tool.max_retries, strict=tool.strict)

    def _object_mode(self, spec: NativeOutput[Any] | PromptedOutput[Any]) -> None:
        self.mode = "native" if isinstance(spec, NativeOutput) else "prompted"  # text is the answer
        if str in spec.outputs:
            raise UserError(f"{type(spec).__name__} asks for JSON; str cannot be one of its outputs")
        self.objects = [OutputType(output, name=type_name(output)) for output in spec.outputs]
        if len(self.objects) == 1:
            only = self.objects[0]
            schema = dict(only.json_schema)
            name = spec.name or only.title
        else:
            schema = {"type": "object", "properties": {"result": {"anyOf": [
                {"type": "object", "description": output.title,
                 "properties": {"kind": {"const": output.title}, "data": output.json_schema},
                 "required": ["kind", "data"], "additionalProperties": False} for output in self.objects]}},
                "required": ["result"], "additionalProperties": False}
            name = spec.name or DEFAULT_OUTPUT_TOOL
        strict = getattr(spec, "strict", None)
        if self.mode == "native" and strict is None:
            strict = strict_compatible(schema)
        if strict:
            schema = with_closed_objects(schema)
        self.object_def = OutputObjectDefinition(name, schema, spec.description, strict)
        if self.mode == "prompted":
            template = spec.template if isinstance(spec, PromptedOutput) and spec.template else PROMPT_TEMPLATE
            if "{schema}" not in template:
                raise UserError("PromptedOutput(template=...) must contain {schema} where the JSON schema goes")
            self.instructions = template.replace("{schema}", json.dumps(self._prompt_schema()))

    def _prompt_schema(self) -> dict[str, Any]:
        assert self.object_def is not None
        if len(self.objects) == 1:
            return {**self.object_def.json_schema, "title": self.objects[0].title}
        return self.object_def.json_schema

    def tool_defs(self) -> list[ToolDefinition]:
        return [tool.tool_def() for tool in self.tools.values()]

    def parse_text(self, text: str) -> Any:
        """A native / prompted answer: the JSON object in the text, validated. Raises ValidationError."""
        data = json_in_text(text)
        if len(self.objects) == 1:
            return self.objects[0].validate(data)
        envelope = _ENVELOPE.validate_json(data)["result"]
        by_title = {output.title: output for output in self.objects}
        if envelope["kind"] not in by_title:
            expected = " or ".join(repr(title) for title in by_title)
            raise ValidationError.from_exception_data("Output", [{
                "type": "literal_error", "loc": ("result", "kind"), "input": envelope["kind"],
                "ctx": {"expected": expected}}])
        return by_title[envelope["kind"]].validate(envelope["data"])

    def parse_text_partial(self, text: str) -> Any:
        if len(self.objects) != 1:
            return None  # which type it is shows only once "kind" arrived; whole answers only
        return self.objects[0].validate_partial(json_in_text(text, partial=True))


class _Choice(TypedDict):
    kind: str
    data: dict[str, Any]


class _Envelope(TypedDict):
    result: _Choice


_ENVELOPE: TypeAdapter[_Envelope] = TypeAdapter(_Envelope)
"""A multi-type JSON answer: {"result": {"kind": <type title>, "data": {...}}}."""
