"""`%%ask --output-type T -o VAR`: the answer as a Python object of type T, shown as it forms.

T is written as in code, a class of the user's (`City`) or a type expression (`list[str]`,
`dict[str, float]`), and is evaluated in the user's namespace, as `{expr}` in a question is. The run
asks for it the core's way (an output tool whose arguments are the object); while those arguments
stream, the answer shows the object so far as Markdown: a model or dataclass as a field / value
table, a list as one row per item, a dict as key / value rows; fields not seen yet show `…`.

The object is parsed from its JSON so far only when the display is redrawn (at most a few times a
second, live.py), not on every streamed piece, with the core's partial validation: what is shown is
what `stream_output()` would yield at that moment, and at the end exactly the validated output.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, get_origin

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ...errors import UserError
from ...events import PartDeltaEvent, PartStartEvent, ToolCallPartDelta, json_arguments
from ...messages import ToolCallPart
from ...output import OutputSchema
from ...output_types import OutputType
from ..state import first_line
from ..markdown.tables import markdown_table

NOT_YET = "…"


def output_type_of(expression: str, namespace: dict[str, Any]) -> Any:
    """The type `--output-type` names, checked as the core would check it; a one-line error naming it."""
    try:
        value = eval(expression, namespace)  # noqa: S307 - the user's own expression, in their namespace
    except Exception as exc:
        raise UserError(f"--output-type {expression}: {type(exc).__name__}: {first_line(exc)}") from None
    if not isinstance(value, type) and get_origin(value) is None:
        raise UserError(f"--output-type {expression} is a value of type {type(value).__name__}, not a type; "
                        "give a class (a pydantic model, dataclass, TypedDict) or e.g. list[str]")
    try:
        OutputSchema(value, default_retries=0)
    except UserError as exc:
        raise UserError(f"--output-type {expression}: {exc}") from None
    return value


class ObjectView:
    """The output object as the answer shows it: a block redrawn from the JSON arguments so far."""

    def __init__(self, output: OutputType) -> None:
        self.output = output
        self.arguments: list[str] = []
        self.pending = True
        self.value: Any = None
        self._parsed_length = -1

    def restart(self, output: OutputType) -> None:
        """The model writes the object again (its first one did not validate)."""
        self.output, self.arguments, self.value, self._parsed_length = output, [], None, -1

    def finish(self, value: Any) -> None:
        self.value, self.pending = value, False

    def __str__(self) -> str:
        if self.pending:
            data = "".join(self.arguments)
            if len(data) != self._parsed_length:
                self._parsed_length = len(data)
                self.value = self.output.validate_partial(data) if data else None
            if self.value is None:
                return f"*{NOT_YET}*"
        return object_markdown(self.value, partial=self.pending)


class StructuredAnswer:
    """Follows a run's events for its output call and keeps the answer's `ObjectView` up to date."""

    def __init__(self, output_type: Any) -> None:
        self.output_type = output_type
        self.tools = OutputSchema(output_type, default_retries=0).tools
        self.view: ObjectView | None = None
        self._index: int | None = None  # the output call's part in the response streaming now

    def take(self, event: Any, progress: Any) -> bool:
        """Take the event if it is a piece of the output call (True), showing it through `progress`."""
        if type(event) is PartStartEvent:
            part = event.part
            if type(part) is not ToolCallPart or part.tool_name not in self.tools:
                self._index = None
                return False
            self._index = event.index
            if self.view is None:
                self.view = ObjectView(self.tools[part.tool_name])
                progress.add_block(self.view)
            else:
                self.view.restart(self.tools[part.tool_name])
            self._add(None if part.args is None else json_arguments(part.args), progress)
            return True
        if type(event) is PartDeltaEvent and type(event.delta) is ToolCallPartDelta and event.index == self._index:
            self._add(event.delta.args_json, progress)
            return True
        return False

    def finish(self, output: Any) -> None:
        if self.view is not None:
            self.view.finish(output)

    def _add(self, piece: str | None, progress: Any) -> None:
        assert self.view is not None
        if piece:
            self.view.arguments.append(piece)
        progress.changed()


def object_markdown(value: Any, *, partial: bool = False) -> str:
    """A value as Markdown (not yet neutralised): a record as field / value rows, a list as rows, a dict
    as key / value rows, anything else as its text."""
    fields = _record(value)
    if isinstance(value, (dict, list, tuple, set, frozenset)) and not value:
        return f"*{NOT_YET if partial else 'empty'}*"
    if fields is not None:
        return markdown_table(("field", "value"), [(name, _cell(item, partial)) for name, item in fields.items()])
    if isinstance(value, dict):
        return markdown_table(("key", "value"), [(str(key), _cell(item, partial)) for key, item in value.items()])
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        records = [_record(item) if not isinstance(item, dict) else item for item in items]
        if items and all(record is not None for record in records):
            columns = list(dict.fromkeys(str(name) for record in records for name in record))  # type: ignore[union-attr]
            return markdown_table(("#", *columns), [
                (str(number), *(_cell(record.get(column), partial) for column in columns))  # type: ignore[union-attr]
                for number, record in enumerate(records, 1)])
        return markdown_table(("#", "value"), [(str(number), _cell(item, partial)) for number, item in enumerate(items, 1)])
    return _cell(value, partial) if not isinstance(value, str) else value


def _record(value: Any) -> dict[str, Any] | None:
    """A model's or dataclass's fields in their order (a partial one's too: it is a subclass), else None."""
    if isinstance(value, BaseModel):
        return {name: getattr(value, name) for name in type(value).model_fields}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return None


def _cell(value: Any, partial: bool) -> str:
    if value is None:
        return NOT_YET if partial else "None"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)
