"""Tool search, as PydanticAI's tools-advanced page ("Tool Search") describes it: tools registered with
`defer_loading=True` are hidden from the model until it finds them with `search_tools`; then they are
offered and can be called. Over real HTTP to the loopback server (what the provider is sent), and with
a FunctionModel for a custom search strategy."""

from __future__ import annotations

import json
from typing import Any, Sequence

import pytest

from provider_server import openai_json
from nbagent import (Agent, AgentInfo, FunctionModel, ModelMessage, ModelResponse, RunContext, TextPart, Tool,
                     ToolCallPart, ToolDefinition, UserError, messages_from_json, messages_to_json)
from nbagent.capabilities import ToolSearch


def mortgage_calculator(principal: float, rate: float, years: int) -> str:
    """Calculate monthly mortgage payment for a home loan."""
    monthly_rate = rate / 100 / 12
    n_payments = years * 12
    payment = principal * (monthly_rate * (1 + monthly_rate) ** n_payments) / ((1 + monthly_rate) ** n_payments - 1)
    return f"${payment:.2f}/month"


def weather_forecast(city: str) -> str:
    """Tomorrow's weather forecast for a city."""
    return f"Sunny in {city}"


def offered(request: Any) -> list[str]:
    return [tool["function"]["name"] for tool in request.json.get("tools", [])]


def test_deferred_tools_are_hidden_until_the_model_searches_for_them(openai_env):
    agent = Agent("openai:gpt-4o", tools=[Tool(weather_forecast, defer_loading=True)])
    agent.tool_plain(defer_loading=True)(mortgage_calculator)

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    openai_env.enqueue(
        openai_json(None, tool_calls=[("c1", "search_tools", '{"queries": ["mortgage payment"]}')]),
        openai_json(None, tool_calls=[("c2", "mortgage_calculator", '{"principal": 120000, "rate": 6, "years": 30}')]),
        openai_json("About $719.46 a month."))
    result = agent.run_sync("What is my monthly payment on a $120k loan at 6% over 30 years?")
    assert result.output == "About $719.46 a month."
    first, second, third = openai_env.requests
    assert offered(first) == ["add", "search_tools"]
    search = next(tool["function"] for tool in first.json["tools"] if tool["function"]["name"] == "search_tools")
    assert search["parameters"]["properties"]["queries"]["type"] == "array"
    assert offered(second) == offered(third) == ["mortgage_calculator", "add", "search_tools"]
    found = json.loads(second.json["messages"][-1]["content"])
    assert found == {"discovered_tools": [{"name": "mortgage_calculator",
                                           "description": "Calculate monthly mortgage payment for a home loan."}]}
    assert third.json["messages"][-1]["content"] == "$719.46/month"

    # the history remembers what was found: the next run offers it from the start
    openai_env.enqueue(openai_json("Yes."))
    agent.run_sync("Still there?", message_history=messages_from_json(messages_to_json(result.all_messages())))
    assert offered(openai_env.last_request) == ["mortgage_calculator", "add", "search_tools"]


def test_a_deferred_tool_not_found_yet_cannot_be_called(openai_env):
    agent = Agent("openai:gpt-4o", tools=[Tool(weather_forecast, defer_loading=True)])
    openai_env.enqueue(openai_json(None, tool_calls=[("c1", "weather_forecast", '{"city": "Paris"}')]),
                       openai_json(None, tool_calls=[("c2", "search_tools", '{"queries": ["nothing", "like", "it"]}')]),
                       openai_json("I cannot tell."))
    assert agent.run_sync("Weather in Paris?").output == "I cannot tell."
    retry = openai_env.requests[1].json["messages"][-1]["content"]
    assert "Unknown tool name: 'weather_forecast'" in retry and "'search_tools'" in retry
    assert json.loads(openai_env.requests[2].json["messages"][-1]["content"]) == {"discovered_tools": []}
    assert offered(openai_env.requests[2]) == ["search_tools"]


def test_an_agent_without_deferred_tools_offers_no_search(openai_env):
    agent = Agent("openai:gpt-4o", tools=[weather_forecast], capabilities=[ToolSearch()])
    openai_env.enqueue(openai_json("Hello."))
    agent.run_sync("Hi")
    assert offered(openai_env.last_request) == ["weather_forecast"]


def test_a_custom_strategy_chooses_what_a_search_finds():
    seen: list[tuple[list[str], list[str]]] = []

    def fuzzy_search(ctx: RunContext, queries: Sequence[str], tools: Sequence[ToolDefinition]) -> list[str]:
        seen.append((list(queries), [tool.name for tool in tools]))
        return [tool.name for tool in tools if tool.name.startswith("weather")]

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        names = [tool.name for tool in info.function_tools]
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("search_tools", {"queries": ["anything"]})])
        return ModelResponse(parts=[TextPart(f"now offered: {names}")])

    agent = Agent(FunctionModel(model), capabilities=[ToolSearch(strategy=fuzzy_search, max_results=1)])
    agent.tool_plain(defer_loading=True)(mortgage_calculator)
    agent.tool_plain(defer_loading=True)(weather_forecast)
    assert agent.run_sync("Go").output == "now offered: ['weather_forecast', 'search_tools']"
    assert seen == [(["anything"], ["mortgage_calculator", "weather_forecast"])]


def test_max_results_bounds_one_search_and_new_finds_come_first():
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) < 4:
            return ModelResponse(parts=[ToolCallPart("search_tools", {"queries": ["city report"]})])
        return ModelResponse(parts=[TextPart(",".join(tool.name for tool in info.function_tools))])

    agent = Agent(FunctionModel(model), capabilities=[ToolSearch(max_results=1)])
    for name in ("city_weather", "city_traffic"):
        agent.tool_plain(name=name, defer_loading=True)(weather_forecast)
    result = agent.run_sync("Go")
    finds = [part.content["discovered_tools"][0]["name"] for message in result.all_messages()
             for part in message.parts if part.part_kind == "tool-return"]
    assert finds == ["city_weather", "city_traffic"]
    assert result.output == "city_weather,city_traffic,search_tools"


@pytest.mark.parametrize("options, message", [({"strategy": "bm25"}, "not with a provider's native search"),
                                              ({"strategy": 3}, "takes 'keywords' or a function"),
                                              ({"max_results": 0}, "max_results=0")])
def test_bad_tool_search_options_are_one_line_errors(options: dict[str, Any], message: str):
    with pytest.raises(UserError, match=message):
        ToolSearch(**options)


def test_a_tool_named_search_tools_conflicts_with_tool_search():
    def search_tools(query: str) -> str:
        return query

    with pytest.raises(UserError, match="conflicts with an existing tool: 'search_tools'"):
        Agent("test", tools=[search_tools, Tool(weather_forecast, defer_loading=True)])
