"""Function tools: context detection, JSON schemas, docstrings, argument validation and calling.

Pure Python: no model, no HTTP. The module under test uses `from __future__ import annotations`
semantics here too, so every annotation below is a string the tool layer has to resolve.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Optional

import pytest
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict

from nbagent.errors import UserError
from nbagent.tools import RunContext, Tool, ToolDefinition, tool_from


class Location(BaseModel):
    lat: float
    lng: float


class Color(Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: int


class Query(TypedDict):
    text: str
    limit: int


def _ctx(deps: Any = None) -> RunContext[Any]:
    nothing: Any = None  # calling a tool needs neither a model nor usage
    return RunContext(deps=deps, model=nothing, usage=nothing)


def _props(tool: Tool[Any]) -> dict[str, Any]:
    return tool.tool_def.parameters_json_schema["properties"]


# --------------------------------------------------------------- context detection


def test_takes_ctx_detected_from_annotation() -> None:
    def with_ctx(ctx: RunContext[int], city: str) -> str:
        return city

    def with_bare_ctx(ctx: RunContext, city: str) -> str:
        return city

    def plain(city: str) -> str:
        return city

    assert Tool(with_ctx).takes_ctx is True
    assert Tool(with_bare_ctx).takes_ctx is True
    assert Tool(plain).takes_ctx is False
    assert list(_props(Tool(with_ctx))) == ["city"]


def test_takes_ctx_falls_back_to_the_annotation_string() -> None:
    # UndefinedDeps exists nowhere, so get_type_hints fails and only the string is left to recognise
    def with_ctx(ctx: RunContext[UndefinedDeps], city: str) -> str:  # type: ignore[name-defined]  # noqa: F821
        return city

    tool = Tool(with_ctx)
    assert tool.takes_ctx is True
    assert list(_props(tool)) == ["city"]


def test_takes_ctx_true_without_context_parameter_names_the_function() -> None:
    def get_weather(city: str) -> str:
        return city

    with pytest.raises(UserError, match="get_weather") as info:
        Tool(get_weather, takes_ctx=True)
    assert "RunContext" in str(info.value) and "tool_plain" in str(info.value)
    assert "\n" not in str(info.value)


def test_takes_ctx_false_with_context_parameter_names_the_function() -> None:
    def lookup(ctx: RunContext[int], key: str) -> str:
        return key

    with pytest.raises(UserError, match="lookup") as info:
        Tool(lookup, takes_ctx=False)
    assert "takes_ctx=True" in str(info.value) and "@agent.tool" in str(info.value)


def test_run_context_after_the_first_parameter_is_rejected() -> None:
    def late(key: str, ctx: RunContext[int]) -> str:
        return key

    with pytest.raises(UserError, match="late"):
        Tool(late)


def test_var_args_and_kwargs_are_rejected() -> None:
    def star(*names: str) -> str:
        return ""

    def double_star(city: str, **options: Any) -> str:
        return city

    with pytest.raises(UserError, match="star"):
        Tool(star)
    with pytest.raises(UserError, match="double_star"):
        Tool(double_star)


def test_unsupported_type_is_a_user_error() -> None:
    def takes_lock(lock: threading.Event) -> None:
        return None

    with pytest.raises(UserError, match="takes_lock"):
        Tool(takes_lock)


# --------------------------------------------------------------- schema


def test_schema_shape_defaults_optional_literal() -> None:
    def search(query: str, limit: int = 10, lang: Optional[str] = None, mode: Literal["fast", "exact"] = "fast",
               anything=None) -> list[str]:
        return []

    schema = Tool(search).tool_def.parameters_json_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["query"]
    assert "title" not in schema
    props = schema["properties"]
    assert props["query"] == {"type": "string"}
    assert props["limit"] == {"type": "integer", "default": 10}
    assert props["lang"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["lang"]["default"] is None
    assert props["mode"]["enum"] == ["fast", "exact"] and props["mode"]["default"] == "fast"
    assert props["anything"] == {"default": None}


def test_schema_nested_model_lists_dicts_enums() -> None:
    def plan(stops: list[Location], counts: list[int], weights: dict[str, float], color: Color) -> None:
        return None

    schema = Tool(plan).tool_def.parameters_json_schema
    props = schema["properties"]
    assert props["stops"] == {"type": "array", "items": {"$ref": "#/$defs/Location"}}
    assert schema["$defs"]["Location"]["properties"]["lat"] == {"type": "number"}
    assert props["counts"] == {"type": "array", "items": {"type": "integer"}}
    assert props["weights"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["color"] == {"$ref": "#/$defs/Color"}
    assert schema["$defs"]["Color"]["enum"] == ["red", "blue"]
    assert schema["required"] == ["stops", "counts", "weights", "color"]


def test_no_parameters_gives_an_empty_object() -> None:
    def now() -> str:
        return "noon"

    definition = Tool(now).tool_def
    assert definition == ToolDefinition(
        name="now", description=None,
        parameters_json_schema={"type": "object", "properties": {}, "additionalProperties": False})


def test_tool_def_is_a_fresh_copy() -> None:
    def f(x: int) -> int:
        return x

    tool = Tool(f)
    tool.tool_def.parameters_json_schema["properties"].clear()
    assert "x" in _props(tool)


# --------------------------------------------------------------- docstrings


def google(city: str, days: int = 1) -> str:
    """Forecast the weather.

    Uses the national service.

    Args:
        city: The city to forecast.
        days: How many days ahead.

    Returns:
        The forecast.
    """
    return city


def numpy(city: str, days: int = 1) -> str:
    """Forecast the weather.

    Uses the national service.

    Parameters
    ----------
    city : str
        The city to forecast.
    days : int, optional
        How many days ahead.

    Returns
    -------
    str
        The forecast.
    """
    return city


def sphinx(city: str, days: int = 1) -> str:
    """Forecast the weather.

    Uses the national service.

    :param city: The city to forecast.
    :param days: How many days ahead.
    :returns: The forecast.
    """
    return city


@pytest.mark.parametrize("fmt", ["auto", "named"])
@pytest.mark.parametrize("function, style", [(google, "google"), (numpy, "numpy"), (sphinx, "sphinx")])
def test_docstring_styles(function: Any, style: Any, fmt: str) -> None:
    tool = Tool(function, docstring_format=style if fmt == "named" else "auto")
    assert tool.description == "Forecast the weather.\n\nUses the national service."
    assert tool.tool_def.description == tool.description
    props = _props(tool)
    assert props["city"]["description"] == "The city to forecast."
    assert props["days"]["description"] == "How many days ahead."
    assert tool.name == function.__name__


def test_explicit_description_and_name_win() -> None:
    tool = Tool(google, description="Weather.", name="weather")
    assert tool.tool_def.description == "Weather."
    assert tool.tool_def.name == "weather"
    assert _props(tool)["city"]["description"] == "The city to forecast."


def test_no_docstring_means_no_description() -> None:
    def bare(x: int) -> int:
        return x

    assert Tool(bare).description is None
    assert "description" not in _props(Tool(bare))["x"]


def test_require_parameter_descriptions_names_function_and_missing_parameters() -> None:
    def half_documented(city: str, days: int, ctx_free: bool = True) -> str:
        """Forecast.

        Args:
            city: The city.
        """
        return city

    with pytest.raises(UserError, match="half_documented") as info:
        Tool(half_documented, require_parameter_descriptions=True)
    assert "days" in str(info.value) and "ctx_free" in str(info.value) and "city" not in str(info.value)
    Tool(google, require_parameter_descriptions=True)  # fully documented: fine


def test_name_and_max_retries_kept() -> None:
    assert Tool(google).max_retries is None
    assert Tool(google, max_retries=3).max_retries == 3
    assert Tool(google, strict=True).tool_def.strict is True


# --------------------------------------------------------------- validate_args


def _plan_tool() -> Tool[Any]:
    def plan(stop: Location, counts: list[int], weight: float = 1.0) -> None:
        return None

    return Tool(plan)


def test_validate_args_from_json_and_dict() -> None:
    tool = _plan_tool()
    from_json = tool.validate_args('{"stop": {"lat": 1, "lng": 2}, "counts": [1, "2"]}')
    assert from_json == {"stop": Location(lat=1, lng=2), "counts": [1, 2], "weight": 1.0}
    assert isinstance(from_json["stop"], Location) and type(from_json) is dict
    assert tool.validate_args({"stop": {"lat": 1, "lng": 2}, "counts": [], "weight": 2}) == {
        "stop": Location(lat=1, lng=2), "counts": [], "weight": 2.0}


@pytest.mark.parametrize("empty", [None, "", "{}", {}])
def test_validate_args_empty_means_no_arguments(empty: Any) -> None:
    def f(x: int = 5) -> int:
        return x

    assert Tool(f).validate_args(empty) == {"x": 5}
    with pytest.raises(ValidationError):
        _plan_tool().validate_args(empty)


def test_validate_args_bad_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        _plan_tool().validate_args('{"stop": {"lat": 1,')
    assert info.value.errors()[0]["type"] == "json_invalid"


def test_validate_args_wrong_type_and_extra_keys() -> None:
    tool = _plan_tool()
    with pytest.raises(ValidationError) as info:
        tool.validate_args({"stop": {"lat": "north", "lng": 2}, "counts": []})
    assert info.value.errors()[0]["loc"] == ("stop", "lat")
    with pytest.raises(ValidationError) as info:
        tool.validate_args('{"stop": {"lat": 1, "lng": 2}, "counts": [], "colour": "red"}')
    assert info.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("model", [Location, Point, Query])
def test_single_model_argument_uses_the_model_schema(model: Any) -> None:
    def take(ctx: RunContext[None], arg: model) -> Any:
        return arg

    take.__annotations__["arg"] = model  # a local name get_type_hints cannot see
    tool = Tool(take)
    schema = tool.tool_def.parameters_json_schema
    assert schema["title"] == model.__name__  # the type's own schema, as PydanticAI sends it
    assert schema["type"] == "object" and set(schema["properties"]) == set(model.__annotations__)
    assert "arg" not in schema["properties"]
    sample = {"lat": 1.5, "lng": 2} if model is Location else {"x": 1, "y": 2} if model is Point else {
        "text": "hi", "limit": 3}
    validated = tool.validate_args(sample)
    assert list(validated) == ["arg"]
    assert validated["arg"] == (model(**sample) if model is not Query else sample)
    with pytest.raises(ValidationError):
        tool.validate_args("{}")


# --------------------------------------------------------------- call


async def test_sync_tool_runs_in_a_worker_thread_with_ctx() -> None:
    def where(ctx: RunContext[str], n: int) -> tuple[str, int, int]:
        return ctx.deps, n, threading.get_ident()

    tool = Tool(where)
    deps, n, thread = await tool.call(tool.validate_args('{"n": 3}'), _ctx("deps"))
    assert (deps, n) == ("deps", 3)
    assert thread != threading.get_ident()


async def test_async_tool_runs_on_the_event_loop_thread() -> None:
    async def where(n: int) -> tuple[int, int]:
        await asyncio.sleep(0)
        return n, threading.get_ident()

    assert await Tool(where).call({"n": 1}, _ctx()) == (1, threading.get_ident())


async def test_sync_function_returning_an_awaitable_is_awaited() -> None:
    async def later(n: int) -> int:
        return n * 2

    def deferred(n: int) -> Any:
        return later(n)

    assert await Tool(deferred).call({"n": 4}, _ctx()) == 8


async def test_exceptions_propagate_and_positional_only_parameters_work() -> None:
    def fails(x: int, /) -> int:
        raise KeyError(x)

    tool = Tool(fails)
    with pytest.raises(KeyError):
        await tool.call(tool.validate_args('{"x": 1}'), _ctx())

    def pos(a: int, /, b: int = 2) -> int:
        return a * 10 + b

    assert await Tool(pos).call(Tool(pos).validate_args({"a": 1}), _ctx()) == 12


def test_partial_is_named_and_described_by_the_wrapped_function() -> None:
    tool = Tool(functools.partial(google, days=3))
    assert tool.name == "google" and (tool.description or "").startswith("Forecast the weather.")
    assert _props(tool)["city"] == {"type": "string", "description": "The city to forecast."}
    assert tool.validate_args('{"city": "Oslo"}') == {"city": "Oslo", "days": 3}


def test_tool_from_accepts_tools_and_functions() -> None:
    tool = Tool(google)
    assert tool_from(tool) is tool
    built = tool_from(google)
    assert isinstance(built, Tool) and built.name == "google" and built.takes_ctx is False
    with pytest.raises(UserError, match="tools="):
        tool_from(42)  # type: ignore[arg-type]


class Foobar(BaseModel):
    """This is a Foobar"""

    x: int
    z: float = 3.14


def test_a_single_model_argument_is_described_by_the_models_docstring_unless_the_function_has_one() -> None:
    def foobar(f: Foobar) -> str:
        return str(f)

    def documented(f: Foobar) -> str:
        """Tool doc."""
        return str(f)

    plain = Tool(foobar).tool_def
    assert plain.description == "This is a Foobar" and "description" not in plain.parameters_json_schema
    own = Tool(documented).tool_def
    assert own.description == "Tool doc." and own.parameters_json_schema["description"] == "This is a Foobar"


def test_tool_definition_takes_pydantic_ais_positional_order_and_shows_what_is_not_default() -> None:
    definition = ToolDefinition("greet", {"type": "object", "properties": {}}, "Say hello.")
    assert definition.description == "Say hello." and definition.parameters_json_schema["type"] == "object"
    assert repr(definition) == ("ToolDefinition(name='greet', parameters_json_schema={'type': 'object', "
                                "'properties': {}}, description='Say hello.')")
    assert repr(ToolDefinition("t", {}, strict=True, defer_loading=True, toolset_id="<agent>")) == (
        "ToolDefinition(name='t', parameters_json_schema={}, strict=True, defer_loading=True, toolset_id='<agent>')")
