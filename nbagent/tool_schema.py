"""How a function's signature and docstring become a tool's JSON schema and argument validator.

The type hints (resolving `from __future__ import annotations` strings where possible) give a TypedDict
of the parameters, whose pydantic validator yields the keyword arguments themselves; the docstring
(google, numpy or sphinx) gives the description and each parameter's. Field titles are left out: they
only repeat the parameter name. A mistake here is a one-line `UserError` naming the function.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Annotated, Any, Callable, Literal, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, with_config
from pydantic.json_schema import GenerateJsonSchema
from typing_extensions import NotRequired, TypedDict, is_typeddict

from .errors import UserError

DocstringFormat = Literal["google", "numpy", "sphinx", "auto"]

_STYLES = {
    "google": docstring_parser.Style.GOOGLE,
    "numpy": docstring_parser.Style.NUMPYDOC,
    "sphinx": docstring_parser.Style.REST,
    "auto": docstring_parser.Style.AUTO,
}


class SchemaWithoutFieldTitles(GenerateJsonSchema):
    """Field titles only repeat the parameter name in title case: tokens the model does not need."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _annotations(function: Callable[..., Any], params: list[inspect.Parameter]) -> dict[str, Any]:
    """Each parameter's type, resolving `from __future__ import annotations` strings where possible.

    `get_type_hints` resolves them all at once but fails as a whole on one unresolvable name (a return
    type imported only under TYPE_CHECKING, say), so strings it leaves are tried one by one; what still
    fails stays a string, for `_check_ctx` to recognise `"RunContext[...]"` and the schema to reject.
    """
    try:
        hints = get_type_hints(function, include_extras=True)
    except Exception:  # an unresolvable name, or a callable (partial, instance) get_type_hints cannot read
        hints = {}
    resolved: dict[str, Any] = {}
    for param in params:
        annotation = hints.get(param.name, param.annotation)
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, getattr(function, "__globals__", {}))  # what inspect's eval_str does
            except Exception:
                pass
        resolved[param.name] = Any if annotation is inspect.Parameter.empty else annotation
    return resolved


def _parse_docstring(label: str, function: Callable[..., Any], style: str) -> tuple[str | None, dict[str, str]]:
    """The description (summary and body, without the sections) and each documented parameter's text."""
    if style not in _STYLES:
        raise UserError(f"Tool {label!r}: docstring_format={style!r} is not one of {', '.join(_STYLES)}")
    doc = inspect.getdoc(function)
    if not doc:
        return None, {}
    try:
        parsed = docstring_parser.parse(doc, _STYLES[style])
    except docstring_parser.ParseError as exc:
        if style != "auto":
            raise UserError(f"Tool {label!r}: its docstring is not valid {style} style ({exc}); "
                            "fix it or use docstring_format='auto'") from None
        return doc, {}  # no style fits: the whole text is the description
    params = {p.arg_name: p.description.strip() for p in parsed.params if p.description}
    return (parsed.description or "").strip() or None, params


def _is_model_like(annotation: Any) -> bool:
    return isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation) or is_typeddict(annotation))


def _arguments_typeddict(label: str, params: list[inspect.Parameter], annotations: dict[str, Any],
                         param_docs: dict[str, str]) -> Any:
    """A TypedDict of the parameters: validation then yields the keyword-argument dict itself (no model
    instance to unpack, no clash between a parameter name and a BaseModel attribute like `json`)."""
    fields: dict[str, Any] = {}
    for param in params:
        annotation = annotations[param.name]
        if isinstance(annotation, str):
            raise UserError(f"Tool {label!r}: cannot resolve the type {annotation!r} of parameter {param.name!r}; "
                            "import or define it at module level")
        if param.default is inspect.Parameter.empty:
            fields[param.name] = Annotated[annotation, Field(description=param_docs.get(param.name))]
        else:
            info = Field(default=param.default, description=param_docs.get(param.name))
            fields[param.name] = NotRequired[Annotated[annotation, info]]
    return with_config(ConfigDict(extra="forbid"))(TypedDict(label, fields))  # type: ignore[operator]
