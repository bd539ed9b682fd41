"""The output type as result columns: one per field with a fitting pandas dtype, plus `_error`.

`str` gives one column `output`; a pydantic model, a dataclass or a TypedDict one column per field
(int → `Int64`, float → `float64`, bool → `boolean`, str and Literal of strings → `string`, anything
else → object); a scalar type one `output` column of its dtype. A type with no fields to spread (a
list, a dict, a union of several types) keeps each row's whole value in one object column `output`,
and `ResultColumns.note` says so. `ResultTable` holds only the column values while rows finish, not
the output objects, so a large map's memory is the result's.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

import pandas as pd
from pydantic import BaseModel, TypeAdapter
from typing_extensions import is_typeddict

from ..output import NativeOutput, PromptedOutput, ToolOutput

ERROR_COLUMN = "_error"
OUTPUT_COLUMN = "output"
_SCALAR_DTYPES = {int: "Int64", float: "float64", bool: "boolean", str: "string"}


def output_python_type(spec: Any) -> Any:
    """The Python type a run's output has, from an `output_type` spec (markers and lists unwrapped)."""
    if isinstance(spec, (NativeOutput, PromptedOutput)):
        types_ = [output_python_type(output) for output in spec.outputs]
    elif isinstance(spec, ToolOutput):
        return spec.type_
    elif isinstance(spec, (list, tuple)):
        types_ = [output_python_type(output) for output in spec]
    else:
        return spec
    return types_[0] if len(types_) == 1 else Union[tuple(types_)]  # type: ignore[return-value]


def _optional_inner(annotation: Any) -> Any:
    """`int` for `Optional[int]` / `int | None`; the annotation itself otherwise."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def dtype_of(annotation: Any) -> str:
    """The pandas dtype a field of this type gets."""
    annotation = _optional_inner(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Literal:
        kinds = {type(value) for value in typing.get_args(annotation)}
        return _SCALAR_DTYPES.get(kinds.pop(), "object") if len(kinds) == 1 else "object"
    return _SCALAR_DTYPES.get(annotation, "object") if isinstance(annotation, type) else "object"


def _fields_of(output: Any) -> dict[str, Any] | None:
    """Field name -> annotation for a record type (pydantic model, dataclass, TypedDict); else None."""
    if isinstance(output, type) and issubclass(output, BaseModel):
        return {name: field.annotation for name, field in output.model_fields.items()}
    if isinstance(output, type) and dataclasses.is_dataclass(output):
        hints = typing.get_type_hints(output, include_extras=True)
        return {field.name: hints.get(field.name, Any) for field in dataclasses.fields(output)}
    if is_typeddict(output):
        return dict(typing.get_type_hints(output, include_extras=True))
    return None


class ResultColumns:
    """The result's columns and dtypes for one output type, and how a value becomes a row of them."""

    def __init__(self, spec: Any) -> None:
        self.python_type = output_python_type(spec)
        self.adapter: TypeAdapter[Any] = TypeAdapter(self.python_type)
        self.note: str | None = None
        fields = _fields_of(self.python_type)
        if fields is not None:
            if ERROR_COLUMN in fields:
                raise_reserved(self.python_type)
            self.fields: list[str] | None = list(fields)
            self.dtypes = {name: dtype_of(annotation) for name, annotation in fields.items()}
            self._typed_dict = is_typeddict(self.python_type)
        else:
            self.fields = None
            self.dtypes = {OUTPUT_COLUMN: dtype_of(self.python_type)}
            if self.dtypes[OUTPUT_COLUMN] == "object" and self.python_type is not Any:
                self.note = (f"output_type {_type_name(self.python_type)} has no fields to make columns of: "
                             f"each row's value is in one column {OUTPUT_COLUMN!r} (object)")
        self.dtypes[ERROR_COLUMN] = "string"

    @property
    def names(self) -> list[str]:
        return list(self.dtypes)

    def values_of(self, output: Any) -> tuple[Any, ...]:
        """One output as the values of the columns before `_error`."""
        if self.fields is None:
            return (output,)
        if self._typed_dict:
            return tuple(output.get(name) for name in self.fields)
        return tuple(getattr(output, name, None) for name in self.fields)

    def dump(self, output: Any) -> str:
        """The output as JSON text, for the cache."""
        return self.adapter.dump_json(output).decode()

    def load(self, text: str) -> Any:
        """An output back from the cache's JSON, validated as the type (the same object a run gives)."""
        return self.adapter.validate_json(text)


def raise_reserved(python_type: Any) -> None:
    from ..errors import UserError

    raise UserError(f"output_type {_type_name(python_type)} has a field named {ERROR_COLUMN!r}, which the result "
                    "keeps for each row's error; rename that field")


def _type_name(python_type: Any) -> str:
    if typing.get_origin(python_type) is None and hasattr(python_type, "__name__"):
        return str(python_type.__name__)
    return repr(python_type).replace("typing.", "")


class ResultTable:
    """The result being filled in as rows finish: a list per column, nothing else kept per row."""

    def __init__(self, columns: ResultColumns, size: int) -> None:
        self.columns = columns
        self._values: list[list[Any]] = [[None] * size for _ in columns.names]

    def set_output(self, position: int, output: Any) -> None:
        for column, value in zip(self._values, self.columns.values_of(output)):
            column[position] = value

    def set_error(self, position: int, message: str) -> None:
        self._values[-1][position] = message

    def error_of(self, position: int) -> str | None:
        return self._values[-1][position]

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """The DataFrame, aligned with the input's index, each column of its dtype."""
        data = {name: _column(values, dtype) for name, values, dtype in
                zip(self.columns.names, self._values, self.columns.dtypes.values())}
        return pd.DataFrame(data, index=index)


def _column(values: list[Any], dtype: str) -> Any:
    """The values as a pandas array of `dtype`; values that do not fit it (a model's surprise) stay objects."""
    if dtype == "object":
        array = pd.array([None] * len(values), dtype=object)
        for position, value in enumerate(values):  # element-wise: lists and dicts stay whole
            array[position] = value
        return array
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):
        return pd.array(values, dtype=object)
