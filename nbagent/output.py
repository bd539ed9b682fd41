"""Structured output: `output_type=` turns the model's answer into a validated Python object.

What the user writes, as PydanticAI spells it:

    Agent(model, output_type=CityLocation)                # tool output: a `final_result` tool
    Agent(model, output_type=[CityLocation, Country])     # the model picks one (final_result_<Name>)
    Agent(model, output_type=[CityLocation, str])         # ... or answers in plain text
    Agent(model, output_type=NativeOutput(CityLocation))  # the provider's JSON-schema response format
    Agent(model, output_type=PromptedOutput(CityLocation))  # the schema in the instructions, JSON in the text

`OutputSchema` is what a run works with: the output tools or the JSON object the model is asked
for, text (through a `TextOutput` function, if one is given), or None; each concrete output is an
`OutputType` (output_types.py).
"""

from __future__ import annotations

import copy
import json
import types
from dataclasses import dataclass
from typing import Any, Callable, Generic, Literal, Sequence, Union, get_args, get_origin

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, TypeAdapter, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypedDict, TypeVar

from .errors import UserError
from .json_shapes import json_in_text, strict_compatible, with_closed_objects
from .deferred import DeferredToolRequests
from .media import BinaryImage
from .output_types import OUTPUT_TOOL_DESCRIPTION, NoneType, OutputType, TextFunction, is_output_function, type_name
from .tools import ToolDefinition

T = TypeVar("T")
OutputDataT = TypeVar("OutputDataT", default=str)
"""The type of a run's output (`str` unless `output_type` says otherwise)."""

DEFAULT_OUTPUT_TOOL = "final_result"
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


@dataclass
class TextOutput(Generic[T]):
    """A text answer passed through `output_function(text)` (or `(ctx, text)`), whose return is the output;
    it may raise `ModelRetry` to ask again."""

    output_function: Callable[..., Any]


def StructuredDict(json_schema: dict[str, Any], name: str | None = None,  # noqa: N802 - PydanticAI's name
                   description: str | None = None) -> type[dict[str, Any]]:
    """A `dict[str, Any]` output type whose JSON schema is `json_schema` as given (from an external source,
    say). The model is sent the schema; the answer is checked to be a JSON object, no more (add an output
    validator to check further)."""
    if not isinstance(json_schema, dict) or json_schema.get("type") != "object":
        raise UserError("StructuredDict needs a JSON schema of an object: {'type': 'object', 'properties': {...}}")
    schema = {**json_schema, **({"title": name} if name else {}), **({"description": description} if description else {})}

    class _StructuredDict(dict):  # type: ignore[type-arg]
        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
            return core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema())

        @classmethod
        def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
            return copy.deepcopy(schema)

    _StructuredDict.__name__ = _StructuredDict.__qualname__ = name or "StructuredDict"
    return _StructuredDict


OutputSpec = Union[type[T], ToolOutput[T], NativeOutput[T], PromptedOutput[T], TextOutput[T], Callable[..., T],
                   Sequence[Any]]

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
    """The outputs listed or joined in a union (`A | B`, `Union[A, B]`, `[A, B | None]`), one by one."""
    members: list[Any] = []
    for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs]):
        members += list(get_args(output)) if get_origin(output) in (Union, types.UnionType) else [output]
    return [NoneType if member is None else member for member in members]


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
        self.allow_none = False  # None is an output: an empty answer (or the None output tool) gives it
        self.text_function: TextFunction | None = None
        self.image_output = False
        self.allow_deferred = False
        if spec is str:
            return
        if isinstance(spec, (NativeOutput, PromptedOutput)):
            self._object_mode(spec)
            return
        outputs = _as_list(spec)
        if not outputs:
            raise UserError("output_type=[] names no type; give a type such as str or a pydantic model")
        self.image_output = BinaryImage in outputs  # no model nbagent speaks makes images: refused at run time
        self.allow_deferred = DeferredToolRequests in outputs  # a run may end with the tool calls that wait
        outputs = [output for output in outputs if output not in (BinaryImage, DeferredToolRequests)] or [str]
        if all(output is NoneType for output in outputs):
            raise UserError("output_type=None alone is no output; give None beside another type, e.g. str | None")
        texts = [output for output in outputs if output is str or isinstance(output, TextOutput)]
        if len(texts) > 1:
            raise UserError("output_type has more than one text output (str, TextOutput); keep one")
        self.allow_text = bool(texts)
        if texts and isinstance(texts[0], TextOutput):
            self.text_function = TextFunction(texts[0].output_function)
        self.allow_none = NoneType in outputs
        others = [output for output in outputs if output not in texts and not (texts and output is NoneType)]
        if not others:
            return
        self.mode = "tool"
        for output in others:
            if isinstance(output, (NativeOutput, PromptedOutput)):
                raise UserError(f"{type(output).__name__} cannot be mixed with other output types; give it alone")
            self._add_tool(output if isinstance(output, ToolOutput) else ToolOutput(output), len(others))

    def _add_tool(self, tool: ToolOutput[Any], count: int) -> None:
        """One output tool: `final_result` alone, `final_result_<Name>` (then `_2`, ...) beside others."""
        name = tool.name
        if name is None:
            name = DEFAULT_OUTPUT_TOOL if count == 1 else f"{DEFAULT_OUTPUT_TOOL}_{type_name(tool.type_)}"
            name = next(candidate for candidate in (name, *(f"{name}_{n}" for n in range(2, 100)))
                        if candidate not in self.tools)
        elif name in self.tools:
            raise UserError(f"Two output types would both be the tool {name!r}; name them: ToolOutput(T, name=...)")
        description = tool.description
        if count > 1 and not is_output_function(tool.type_):
            description = f"{type_name(tool.type_)}: {description or OUTPUT_TOOL_DESCRIPTION}"
        self.tools[name] = OutputType(tool.type_, name=name, description=description, max_retries=tool.max_retries,
                                      strict=tool.strict)

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

    def parse_text(self, text: str, context: Any = None) -> Any:
        """A native / prompted answer: the JSON object in the text, validated. Raises ValidationError."""
        data = json_in_text(text)
        if len(self.objects) == 1:
            return self.objects[0].validate(data, context)
        envelope = _ENVELOPE.validate_json(data)["result"]
        by_title = {output.title: output for output in self.objects}
        if envelope["kind"] not in by_title:
            expected = " or ".join(repr(title) for title in by_title)
            raise ValidationError.from_exception_data("Output", [{
                "type": "literal_error", "loc": ("result", "kind"), "input": envelope["kind"],
                "ctx": {"expected": expected}}])
        return by_title[envelope["kind"]].validate(envelope["data"], context)

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
