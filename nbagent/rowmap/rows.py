"""The rows of a map and the prompt of each: the input normalised, the `str.format` template rendered.

Accepted: a DataFrame (the template's `{name}` fields are its columns), a Series (`{}` or `{its name}`
is the value), a list of dicts (fields are keys), or a list of strings (each one the prompt when no
template is given, else `{}`). A field that is not there is a one-line `UserError` before any request,
naming it and the fields there are.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import pandas as pd

from ..errors import UserError

_FORMATTER = string.Formatter()


@dataclass
class RowPlan:
    """The map's rows: the index the result is aligned with, and the rendered prompt of each row."""

    index: pd.Index
    prompts: list[str]
    template: str | None
    columns: list[str]  # the fields a template could use, for messages

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, positions: Sequence[int]) -> "RowPlan":
        """Some of the rows (a pilot), with their index labels."""
        return RowPlan(self.index[list(positions)], [self.prompts[i] for i in positions], self.template,
                       self.columns)


def plan_rows(rows: Any, prompt: str | None) -> RowPlan:
    """Normalise `rows` and render `prompt` for each; raise a one-line `UserError` on bad input."""
    if prompt is not None and not isinstance(prompt, str):
        raise UserError(f"prompt must be a str.format template such as 'Classify: {{text}}', got {type(prompt).__name__}")
    if isinstance(rows, pd.DataFrame):
        return _plan_frame(rows, prompt)
    if isinstance(rows, pd.Series):
        return _plan_values(rows.index, rows.tolist(), prompt, rows.name)
    if isinstance(rows, (str, bytes, dict)) or not isinstance(rows, Iterable):
        raise UserError(f"rows must be a DataFrame, a Series, a list of dicts or a list of strings, got {type(rows).__name__}")
    items = list(rows)
    if items and all(isinstance(item, dict) for item in items):
        return _plan_frame(pd.DataFrame(items), prompt)
    if all(isinstance(item, str) for item in items):
        return _plan_values(pd.RangeIndex(len(items)), items, prompt, None)
    kinds = sorted({type(item).__name__ for item in items})
    raise UserError(f"rows must all be dicts or all be strings, got {', '.join(kinds)}")


def _fields(template: str) -> list[str]:
    """The top-level names the template uses ('a' for '{a.b[0]}', '' for '{}'), in order."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise UserError(f"prompt is not a valid str.format template ({exc}); write {{{{ and }}}} for literal braces") from None
    names = []
    for _, field, _, _ in parsed:
        if field is None:
            continue
        name = field.split(".", 1)[0].split("[", 1)[0]
        if name not in names:
            names.append(name)
    return names


def _plan_frame(frame: pd.DataFrame, template: str | None) -> RowPlan:
    columns = [str(column) for column in frame.columns]
    if template is None:
        raise UserError(f"prompt= is needed for a DataFrame: a template with {{column}} fields; the columns are: {_names(columns)}")
    fields = _fields(template)
    for name in fields:
        if name == "" or name.isdigit():
            raise UserError(f"prompt field {{{name}}} is positional; name a column instead, e.g. {{{columns[0] if columns else 'text'}}}")
        if name not in columns:
            raise UserError(f"prompt field {{{name}}} is not a column; the columns are: {_names(columns)}")
    by_name = {str(column): column for column in frame.columns}
    values = [frame[by_name[name]].tolist() for name in fields]
    if not fields:
        return RowPlan(frame.index, [template] * len(frame), template, columns)
    return RowPlan(frame.index, _render(template, frame.index, (((), dict(zip(fields, row))) for row in zip(*values))),
                   template, columns)


def _plan_values(index: pd.Index, values: list[Any], template: str | None, name: Any) -> RowPlan:
    if template is None:
        return RowPlan(index, [value if isinstance(value, str) else str(value) for value in values], None, [])
    own = [] if name is None else [str(name)]
    for field in _fields(template):
        if field not in ("", "0", *own):
            there = f"{{}} or {{{own[0]}}}" if own else "{}"
            raise UserError(f"prompt field {{{field}}} is not there; each row is one value, written {there}")
    key = str(name) if name is not None else "_"
    return RowPlan(index, _render(template, index, (((value,), {key: value}) for value in values)), template, own)


def _render(template: str, index: pd.Index, arguments: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[str]:
    """The template filled in per row; a value its format spec cannot take names the row."""
    prompts: list[str] = []
    try:
        for args, fields in arguments:
            prompts.append(template.format(*args, **fields))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise UserError(f"prompt cannot be filled in for row {index[len(prompts)]}: {type(exc).__name__}: {exc}") from None
    return prompts


def _names(columns: list[str]) -> str:
    shown = ", ".join(columns[:20]) + (f", ... ({len(columns)} in all)" if len(columns) > 20 else "")
    return shown or "(none)"
