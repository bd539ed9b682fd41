"""Code shaped like PydanticAI's documentation runs with `from nbagent import ...`: the dice game of the
Function Tools page, tested as its Unit Testing page does (`agent.override` with `TestModel` and
`FunctionModel`), and a weather-style agent with dependencies."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from nbagent import (Agent, AgentInfo, FunctionModel, ModelMessage, ModelResponse, RunContext, TestModel, TextPart,
                     ToolCallPart, ToolReturnPart)

dice_agent = Agent(
    "test",
    deps_type=str,
    system_prompt=(
        "You're a dice game: roll the die and see if the number matches the user's guess. "
        "Use the player's name in the response."
    ),
)


@dice_agent.tool_plain
def roll_die() -> str:
    """Roll a six-sided die and return the result."""
    return str(random.randint(1, 6))


@dice_agent.tool
def get_player_name(ctx: RunContext[str]) -> str:
    """Get the player's name."""
    return ctx.deps


def test_dice_game_with_the_test_model() -> None:
    with dice_agent.override(model=TestModel()):
        result = dice_agent.run_sync("My guess is 4", deps="Anne")
    calls = [part.tool_name for message in result.all_messages() for part in message.parts
             if isinstance(part, ToolCallPart)]
    assert calls == ["roll_die", "get_player_name"]
    returns = {part.tool_name: part.content for message in result.all_messages() for part in message.parts
               if isinstance(part, ToolReturnPart)}
    assert returns["get_player_name"] == "Anne" and returns["roll_die"] in list("123456")


def test_dice_game_with_a_function_model() -> None:
    def play(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returned = [part for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
        if not returned:
            assert {tool.name for tool in info.function_tools} == {"roll_die", "get_player_name"}
            return ModelResponse(parts=[ToolCallPart(tool_name="roll_die", args={}),
                                        ToolCallPart(tool_name="get_player_name", args={})])
        values = {part.tool_name: part.content for part in returned}
        won = "winner" if values["roll_die"] == "4" else "not a winner"
        return ModelResponse(parts=[TextPart(content=f"{values['get_player_name']}, you're {won}!")])

    with dice_agent.override(model=FunctionModel(play), deps="Anne"):
        result = dice_agent.run_sync("My guess is 4", deps="someone else")
    assert result.output.startswith("Anne, you're")


@dataclass
class WeatherDeps:
    units: str
    readings: dict[str, float]


weather_agent = Agent("test", deps_type=WeatherDeps, instructions="Be concise, reply with one sentence.")


@weather_agent.tool
async def get_temperature(ctx: RunContext[WeatherDeps], city: str) -> dict[str, Any]:
    """Get the temperature in a city.

    Args:
        city: The city's name.
    """
    return {"city": city, "temperature": ctx.deps.readings.get(city, 20.0), "units": ctx.deps.units}


def test_weather_style_agent_with_dependencies() -> None:
    deps = WeatherDeps(units="celsius", readings={"a": 31.5})
    result = weather_agent.run_sync("What is the weather like in London?", deps=deps)
    schema = weather_agent.tools["get_temperature"].tool_def.parameters_json_schema
    assert schema["properties"]["city"] == {"type": "string", "description": "The city's name."}
    assert '"temperature":31.5' in result.output  # TestModel called it with city="a"
