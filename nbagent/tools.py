"""Function tools: turn a Python function into what the model is told (`ToolDefinition`) and back into a call.

A `Tool` reads its function once, at registration: the signature gives the parameters (after an optional
leading `ctx: RunContext[...]`), the type hints give a pydantic validator and the JSON schema, the
docstring (google, numpy or sphinx) gives the description and each parameter's description. Every
mistake the user can make here (a context parameter in the wrong place, `*args`, a type pydantic cannot
describe, a missing parameter description when they are required) is a one-line `UserError` naming the
function, raised before any request is sent. At run time only two cheap things happen per call:
`validate_args` (one prebuilt validator, JSON parsed by pydantic so bad JSON is a `ValidationError` the
loop can send back to the model) and `call` (sync functions in a worker thread, so a slow tool never
blocks the event loop the notebook shares).

Schemas follow PydanticAI's shape: an object with `additionalProperties: false`, no top-level title and
no per-field titles (they only repeat the parameter name); titles naming a type (in `$defs`) stay. A
function whose only parameter is a pydantic model, dataclass or TypedDict uses that type's schema as is.
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Callable, Generic, Literal, get_args, get_origin

from pydantic import TypeAdapter, ValidationError
from pydantic.errors import PydanticUserError
from typing_extensions import TypeVar

from .deferred import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied
from .errors import UserError
from .json_shapes import partial_type
from .reprs import repr_without_defaults
from .threads import in_thread
from .tool_schema import (DocstringFormat, SchemaWithoutFieldTitles, _annotations, _arguments_typeddict, _is_model_like,
                          _parse_docstring)

if TYPE_CHECKING:
    from .messages import ModelMessage, Usage, UserContent
    from .models.base import Model

__all__ = ["AgentDepsT", "RunContext", "ToolDefinition", "DocstringFormat", "Tool", "tool_from", "ToolPrepareFunc",
           "DeferredToolRequests", "DeferredToolResults", "ToolApproved", "ToolDenied"]

AgentDepsT = TypeVar("AgentDepsT", default=None)


@dataclass
class RunContext(Generic[AgentDepsT]):
    """What a tool (and later an output validator) is told about the run it is called in."""

    deps: AgentDepsT
    model: Model
    usage: Usage
    prompt: str | list[UserContent] | None = None
    messages: list[ModelMessage] = field(default_factory=list)
    tool_name: str | None = None
    tool_call_id: str | None = None
    retry: int = 0
    """How many times in a row this tool (or the output, in an output validator) was retried so far."""
    max_retries: int = 0
    """The retries that would stop the run: this tool's limit, or in an output validator the output's."""
    run_step: int = 0
    tool_call_approved: bool = False
    """True when this call runs because a person approved it (see deferred.py)."""
    tool_call_metadata: Any = None
    """What `DeferredToolResults.metadata` gave for this call, if anything."""
    partial_output: bool = False
    """True while an output validator or output function sees a streamed output that is not whole yet."""
    run_id: str | None = None
    metadata: dict[str, Any] | None = None
    usage_limits: Any = None
    model_settings: Any = None
    """The settings of the run's requests; in a settings function, those of the layers before it."""
    _cancel: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _thread_executor: Any = field(default=None, repr=False, compare=False)  # where sync functions run (threads.py)

    def cancel(self) -> None:
        """Stop this run (from a tool, an instructions function, an event handler): it ends with
        `RunCancelled` at its next await; a tool's return value is then discarded."""
        if self._cancel is None:
            raise UserError("This RunContext belongs to no run that can be cancelled")
        self._cancel()


@dataclass
class ToolDefinition:
    """What the model is told about one tool. Fields in PydanticAI's order (positional construction
    `ToolDefinition(name, parameters_json_schema, description)` means the same); the repr shows the fields
    that differ from their defaults, as PydanticAI's does."""

    name: str
    parameters_json_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    description: str | None = None
    outer_typed_dict_key: str | None = None
    """For an output tool whose type is not an object (`int`, `list[str]`): the one key its arguments wrap
    the value in (`response`)."""
    strict: bool | None = None
    sequential: bool = False
    kind: Literal["function", "output"] = "function"
    metadata: dict[str, Any] | None = None
    defer_loading: bool = False
    """Hidden from the model until it finds the tool with `search_tools` (tool_search.py)."""
    toolset_id: str | None = None
    """Where the tool comes from: `'<agent>'` for an agent's function tools, `'<output>'` for output tools."""

    __repr__ = repr_without_defaults

    def __post_init__(self) -> None:
        if not isinstance(self.parameters_json_schema, dict):  # v0's order put the description second
            raise UserError(f"ToolDefinition({self.name!r}, ...): the second field is parameters_json_schema (a dict), "
                            f"got {type(self.parameters_json_schema).__name__}; give description= by name")


ToolPrepareFunc = Callable[["RunContext[Any]", ToolDefinition], Any]
"""`prepare=`: `(ctx, tool_def)`, sync or async, returning the definition to offer on this step (changed or
not) or None to leave the tool out of it."""


class Tool(Generic[AgentDepsT]):
    """A function the model may call, with its schema and validator built once, at construction."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        takes_ctx: bool | None = None,
        max_retries: int | None = None,
        name: str | None = None,
        description: str | None = None,
        docstring_format: DocstringFormat = "auto",
        require_parameter_descriptions: bool = False,
        strict: bool | None = None,
        prepare: ToolPrepareFunc | None = None,
        args_validator: Callable[..., Any] | None = None,
        sequential: bool = False,
        requires_approval: bool = False,
        timeout: float | None = None,
        metadata: dict[str, Any] | None = None,
        defer_loading: bool = False,
    ) -> None:
        self.function = function
        # a partial is named and documented by the function it wraps, not by functools
        described = function.func if isinstance(function, functools.partial) else function
        self.name = name or getattr(described, "__name__", None) or type(described).__name__
        self.docstring_format = docstring_format
        self.require_parameter_descriptions = require_parameter_descriptions
        self._options(max_retries, strict, prepare, args_validator, sequential, requires_approval, timeout, metadata)
        self.defer_loading = defer_loading  # hidden until the model finds it with search_tools (tool_search.py)
        self.toolset_id: str | None = None  # '<agent>' once an agent registered it
        label = getattr(described, "__name__", self.name)

        try:
            params = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):
            raise UserError(f"Tool {label!r}: cannot read its signature; wrap it in a plain def") from None
        annotations = _annotations(described, params)
        self.takes_ctx = _check_ctx(label, params, annotations, takes_ctx)
        params = params[1:] if self.takes_ctx else params
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise UserError(f"Tool {label!r}: *args/**kwargs ({param.name}) cannot be described to the model; "
                                "list the parameters explicitly")

        doc_description, param_docs = _parse_docstring(label, described, docstring_format)
        self.description = description if description is not None else doc_description
        missing = [p.name for p in params if not param_docs.get(p.name)]
        if require_parameter_descriptions and missing:
            raise UserError(f"Tool {label!r}: no docstring description for parameter(s) {', '.join(missing)}; "
                            "document them (e.g. in an Args: section) or drop require_parameter_descriptions")

        self._positional_only = tuple(p.name for p in params if p.kind is p.POSITIONAL_ONLY)
        self._is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None))
        self._single_arg: str | None = None
        if len(params) == 1 and _is_model_like(annotations[params[0].name]):
            self._single_arg = params[0].name
            target: Any = annotations[params[0].name]
        else:
            target = _arguments_typeddict(label, params, annotations, param_docs)
        self.parameter_names = tuple(param.name for param in params)
        self._target = target
        self._partial: TypeAdapter[Any] | None = None
        try:
            self._validator: TypeAdapter[Any] = TypeAdapter(target)
            self._schema = self._validator.json_schema(schema_generator=SchemaWithoutFieldTitles)
        except PydanticUserError as exc:
            reason = str(exc).splitlines()[0].split(". ")[0]  # pydantic's advice after it does not apply
            raise UserError(f"Tool {label!r}: cannot describe its parameters to the model ({reason}); "
                            "use JSON-friendly types: str, int, float, bool, lists, dicts, pydantic models") from None
        if self._single_arg is None:
            self._schema.pop("title", None)
        elif self.description is None and "description" in self._schema:  # the type's docstring describes the tool
            self.description = self._schema.pop("description")

    def _options(self, max_retries: int | None, strict: bool | None, prepare: ToolPrepareFunc | None,
                 args_validator: Callable[..., Any] | None, sequential: bool, requires_approval: bool,
                 timeout: float | None, metadata: dict[str, Any] | None) -> None:
        """What PydanticAI's tools take besides the function: how the run treats each call."""
        for label, hook in (("prepare", prepare), ("args_validator", args_validator)):
            if hook is not None and not callable(hook):
                raise UserError(f"Tool {self.name!r}: {label}= takes a function, got {type(hook).__name__}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise UserError(f"Tool {self.name!r}: timeout={timeout!r} must be a number of seconds > 0")
        self.max_retries = max_retries  # None: the agent's default
        self.strict = strict
        self.prepare = prepare  # (ctx, tool_def) -> the definition offered on this step, or None to hide it
        self.args_validator = args_validator  # (ctx, **args) after validation: ModelRetry, ApprovalRequired, ...
        self.sequential = sequential  # runs alone: the calls before it finish first, those after wait for it
        self.requires_approval = requires_approval  # every call is deferred until a person approves it
        self.timeout = timeout  # None: the agent's tool_timeout
        self.metadata = metadata

    @classmethod
    def from_schema(cls, function: Callable[..., Any], name: str, description: str | None,
                    json_schema: dict[str, Any], takes_ctx: bool = False, sequential: bool = False,
                    args_validator: Callable[..., Any] | None = None) -> "Tool[Any]":
        """A tool whose parameters the given JSON schema describes (not the function's signature): the
        model's arguments must be a JSON object and are passed as keyword arguments, unchecked further."""
        if not isinstance(json_schema, dict) or json_schema.get("type", "object") != "object":
            raise UserError(f"Tool.from_schema({name!r}): json_schema must describe an object of parameters")
        tool = cls.__new__(cls)
        tool.function, tool.name, tool.description = function, name, description
        tool.docstring_format, tool.require_parameter_descriptions = "auto", False
        tool._options(None, None, None, args_validator, sequential, False, None, None)
        tool.defer_loading, tool.toolset_id = False, None
        tool.takes_ctx = takes_ctx
        tool.parameter_names = tuple(json_schema.get("properties", {}))
        tool._positional_only, tool._single_arg, tool._partial = (), None, None
        tool._is_async = inspect.iscoroutinefunction(function)
        tool._target = dict[str, Any]
        tool._validator = TypeAdapter(dict[str, Any])
        tool._schema = copy.deepcopy(json_schema)
        return tool

    @property
    def tool_def(self) -> ToolDefinition:
        """A fresh definition each time, so a provider adapter that edits the schema cannot corrupt the tool."""
        return ToolDefinition(self.name, copy.deepcopy(self._schema), self.description, strict=self.strict,
                              sequential=self.sequential, metadata=self.metadata, defer_loading=self.defer_loading,
                              toolset_id=self.toolset_id)

    def validate_args(self, args: str | dict[str, Any] | None, context: Any = None) -> dict[str, Any]:
        """Validate the model's arguments (a JSON string, a dict, or None/"" meaning no arguments) against the
        parameters; return the keyword arguments for the function (nested models as instances, defaults filled).

        Raises `pydantic.ValidationError` on bad arguments, including a string that is not JSON (error type
        `json_invalid`), so the loop can send every such problem back to the model as a retry prompt.
        `context` is pydantic's validation context (the agent's `validation_context`).
        """
        if args is None or args == "":
            validated = self._validator.validate_python({}, context=context)
        elif isinstance(args, str):
            validated = self._validator.validate_json(args, context=context)
        else:
            validated = self._validator.validate_python(args, context=context)
        if self._single_arg is not None:
            return {self._single_arg: validated}
        arguments: dict[str, Any] = validated  # the TypedDict validator builds a fresh plain dict
        return arguments

    def validate_partial_args(self, args: str) -> dict[str, Any] | None:
        """The keyword arguments as far as a half-streamed JSON allows (fields not seen yet left out or
        None); None when nothing usable arrived yet. For output functions called on partial output."""
        if self._partial is None:
            self._partial = TypeAdapter(partial_type(self._target))
        try:
            validated = self._partial.validate_json(args or "{}", experimental_allow_partial="trailing-strings")
        except ValidationError:
            return None
        return {self._single_arg: validated} if self._single_arg is not None else dict(validated)

    async def call(self, args: dict[str, Any], ctx: RunContext[Any]) -> Any:
        """Run the function with validated `args` (`ctx` first when it takes one).

        Coroutine functions are awaited; others run in a worker thread (threads.py: asyncio's or yours; both keep
        context variables) and an awaitable they return is awaited. Exceptions propagate unchanged.
        """
        positional: list[Any] = [ctx] if self.takes_ctx else []
        kwargs = args
        if self._positional_only:
            kwargs = dict(args)
            positional += [kwargs.pop(name) for name in self._positional_only if name in kwargs]
        if self._is_async:
            return await self.function(*positional, **kwargs)
        result = await in_thread(ctx._thread_executor, self.function, *positional, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, takes_ctx={self.takes_ctx})"


def tool_from(value: Tool[Any] | Callable[..., Any]) -> Tool[Any]:
    """Agent(tools=[...]) accepts Tool objects or bare functions (takes_ctx detected from the first
    parameter's annotation)."""
    if isinstance(value, Tool):
        return value
    if callable(value):
        return Tool(value)
    raise UserError(f"tools= takes functions or Tool objects, got {type(value).__name__}: {value!r}")


def _is_run_context(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith("RunContext")
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is RunContext or get_origin(annotation) is RunContext


def _check_ctx(label: str, params: list[inspect.Parameter], annotations: dict[str, Any],
               takes_ctx: bool | None) -> bool:
    """Resolve `takes_ctx` (None: detect from the first parameter) and reject a RunContext anywhere else."""
    first_is_ctx = bool(params) and _is_run_context(annotations[params[0].name])
    if takes_ctx is None:
        takes_ctx = first_is_ctx
    if takes_ctx and not first_is_ctx:
        raise UserError(f"Tool {label!r}: its first parameter must be `ctx: RunContext[...]` "
                        "(use @agent.tool_plain for a tool without context)")
    rest = params[1:] if takes_ctx else params
    if any(_is_run_context(annotations[p.name]) for p in rest):
        if takes_ctx:
            raise UserError(f"Tool {label!r}: only its first parameter may be a RunContext; remove the others")
        raise UserError(f"Tool {label!r} takes a RunContext; register it with @agent.tool (not tool_plain) "
                        "or Tool(fn, takes_ctx=True)")
    return takes_ctx
