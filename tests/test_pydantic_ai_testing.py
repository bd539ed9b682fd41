"""PydanticAI's Unit Testing page, as a user would follow it with `nbagent` in the imports: `TestModel`
under `agent.override`, `capture_run_messages`, `FunctionModel` building `ToolCallPart('name', args)`,
`models.ALLOW_MODEL_REQUESTS = False`; and the offline notebook model (`'offline'`) staying a separate, friendly one."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel

from nbagent import (Agent, AgentInfo, FunctionModel, ModelMessage, ModelRequest, ModelResponse, NativeOutput,
                     OfflineModel, PromptedOutput, RetryPromptPart, RunContext, TestModel, TextPart, ToolCallPart,
                     ToolReturnPart, UnexpectedModelBehavior, UserError, UserPromptPart, capture_run_messages, models)


class WeatherService:
    def get_forecast(self, location: str, forecast_date: date) -> str:
        return "Rainy with a chance of sun"

    def get_historic_weather(self, location: str, forecast_date: date) -> str:
        return "Sunny with a chance of rain"


weather_agent = Agent("openai:gpt-4o", deps_type=WeatherService,
                      instructions="Providing a weather forecast at the locations the user provides.")


@weather_agent.tool
def weather_forecast(ctx: RunContext[WeatherService], location: str, forecast_date: date) -> str:
    if forecast_date < date.today():
        return ctx.deps.get_historic_weather(location, forecast_date)
    return ctx.deps.get_forecast(location, forecast_date)


async def run_weather_forecast(prompts: list[tuple[str, int]], store: dict[int, str]) -> None:
    service = WeatherService()

    async def run_forecast(prompt: str, user_id: int) -> None:
        result = await weather_agent.run(prompt, deps=service)
        store[user_id] = result.output

    await asyncio.gather(*(run_forecast(prompt, user_id) for prompt, user_id in prompts))


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)


async def test_test_model_calls_the_tools_and_messages_are_captured(no_requests: None) -> None:
    store: dict[int, str] = {}
    with capture_run_messages() as messages:
        with weather_agent.override(model=TestModel()):
            await run_weather_forecast([("What will the weather be like in London on 2024-11-28?", 1)], store)
    assert store[1] == '{"weather_forecast":"Sunny with a chance of rain"}'
    assert [type(message) for message in messages] == [ModelRequest, ModelResponse, ModelRequest, ModelResponse]
    assert messages[0].parts == [UserPromptPart(messages[0].parts[0].content, timestamp=messages[0].parts[0].timestamp)]
    assert messages[0].instructions == "Providing a weather forecast at the locations the user provides."
    call = messages[1].parts[0]
    assert call == ToolCallPart("weather_forecast", {"location": "a", "forecast_date": "2024-01-01"},
                                tool_call_id=call.tool_call_id)
    assert messages[1].model_name == "test"
    returned = messages[2].parts[0]
    assert isinstance(returned, ToolReturnPart) and returned.content == "Sunny with a chance of rain"
    assert returned.tool_call_id == call.tool_call_id
    assert messages[3].parts == [TextPart('{"weather_forecast":"Sunny with a chance of rain"}')]


async def test_function_model_drives_the_tool_with_its_own_arguments(no_requests: None) -> None:
    def call_weather_forecast(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            user_prompt = messages[0].parts[-1]
            assert [tool.name for tool in info.function_tools] == ["weather_forecast"]
            return ModelResponse(parts=[ToolCallPart("weather_forecast",
                                                     {"location": "London", "forecast_date": "2032-01-01"})])
        msg = messages[-1].parts[0]
        assert msg.part_kind == "tool-return" and user_prompt_seen(messages)
        return ModelResponse(parts=[TextPart(f"The forecast is: {msg.content}")])

    store: dict[int, str] = {}
    with weather_agent.override(model=FunctionModel(call_weather_forecast)):
        await run_weather_forecast([("What will the weather be like in London on 2032-01-01?", 1)], store)
    assert store[1] == "The forecast is: Rainy with a chance of sun"


def user_prompt_seen(messages: list[ModelMessage]) -> bool:
    return isinstance(messages[0].parts[-1], UserPromptPart)


def test_a_blocked_request_is_one_line_and_test_models_still_answer(no_requests: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    with pytest.raises(UserError, match=r"^Model requests are not allowed here \(nbagent\.models\.ALLOW_MODEL_REQUESTS "
                                        r"is False\); openai:gpt-4o was asked: use TestModel or FunctionModel"):
        weather_agent.run_sync("hello", deps=WeatherService())
    assert Agent(TestModel()).run_sync("hello").output == "success (no tool calls)"


def test_test_model_defaults_and_its_options() -> None:
    agent = Agent(TestModel())
    assert agent.run_sync("anything").output == "success (no tool calls)"
    assert Agent(TestModel(custom_output_text="Sunny")).run_sync("x").output == "Sunny"

    model = TestModel(call_tools=["b"])
    calls: list[str] = []
    agent = Agent(model)

    @agent.tool_plain
    def a(x: int) -> str:
        calls.append("a")
        return "A"

    @agent.tool_plain
    def b(name: str) -> str:
        calls.append(f"b({name})")
        return "B"

    assert agent.run_sync("go").output == '{"b":"B"}'
    assert calls == ["b(a)"]
    params = model.last_model_request_parameters
    assert params is not None and [tool.name for tool in params.function_tools] == ["a", "b"]
    assert params.allow_text_output and params.output_tools == []


class City(BaseModel):
    name: str
    population: int


def test_test_model_structured_output_made_up_or_given() -> None:
    made_up = Agent(TestModel(), output_type=City).run_sync("go").output
    assert made_up == City(name="a", population=0)
    given = Agent(TestModel(custom_output_args={"name": "Paris", "population": 2}), output_type=City).run_sync("go")
    assert given.output == City(name="Paris", population=2)
    wrapped = Agent(TestModel(custom_output_args=[1, 2]), output_type=list[int]).run_sync("go")
    assert wrapped.output == [1, 2]  # the model is given the type's one key (`response`) to fill
    assert Agent(TestModel(seed=1), output_type=[City, int]).run_sync("go").output == 0  # seed picks the tool


def test_test_model_misuse_is_one_line() -> None:
    with pytest.raises(UserError, match=r"^TestModel: give custom_output_text .* not both$"):
        TestModel(custom_output_text="a", custom_output_args={})
    with pytest.raises(UserError, match=r"^TestModel\(call_tools=\.\.\.\) names 'nope', which is not a tool of "
                                        r"this run; its tools: none$"):
        Agent(TestModel(call_tools=["nope"])).run_sync("x")
    with pytest.raises(UserError, match=r"^TestModel\(custom_output_text=\.\.\.\) but this run's output is "
                                        r"structured; use custom_output_args$"):
        Agent(TestModel(custom_output_text="x"), output_type=City).run_sync("x")


def test_test_model_calls_a_retried_tool_again() -> None:
    agent = Agent(TestModel(), retries=2)
    tries: list[int] = []

    @agent.tool
    def flaky(ctx: RunContext[None], n: int) -> str:
        tries.append(ctx.retry)
        if ctx.retry < 2:
            from nbagent import ModelRetry

            raise ModelRetry("again")
        return "ok"

    result = agent.run_sync("go")
    assert tries == [0, 1, 2] and result.output == '{"flaky":"ok"}'
    assert any(isinstance(part, RetryPromptPart) for message in result.all_messages() for part in message.parts)


def test_captured_messages_survive_a_failed_run_and_bind_the_first_run_only() -> None:
    agent = Agent(FunctionModel(lambda messages, info: ModelResponse(parts=[ToolCallPart("calc", {"n": "x"})])),
                  retries=1)

    @agent.tool_plain
    def calc(n: int) -> int:
        return n

    with capture_run_messages() as messages:
        with pytest.raises(UnexpectedModelBehavior, match=r"^Tool 'calc' exceeded max retries count of 1"):
            agent.run_sync("go")
        Agent(TestModel()).run_sync("a second run")
    kinds = [[part.part_kind for part in message.parts] for message in messages]
    assert kinds == [["user-prompt"], ["tool-call"], ["retry-prompt"], ["tool-call"], []]  # [] interrupted, as PydanticAI
    assert messages[0].parts[0].content == "go"
    with capture_run_messages() as later:
        pass
    assert later == []  # nothing ran in that block


async def test_streamed_and_whole_runs_keep_the_same_tool_call_arguments() -> None:
    agent = Agent(TestModel())

    @agent.tool_plain
    def lookup(city: str, when: date) -> str:
        return f"{city} {when}"

    whole = await agent.run("go")
    async with agent.run_stream("go") as streamed:
        assert await streamed.get_output() == whole.output == '{"lookup":"a 2024-01-01"}'
    assert streamed.new_messages()[1].parts == whole.new_messages()[1].parts == [
        ToolCallPart("lookup", {"city": "a", "when": "2024-01-01"}, tool_call_id="pyd_ai_tool_call_id__lookup")]


def test_message_parts_take_positional_arguments() -> None:
    args: dict[str, Any] = {"location": "London"}
    call = ToolCallPart("weather", args, "call_1")
    assert call.args is args and call.tool_name == "weather" and call.tool_call_id == "call_1"
    assert call.args_as_dict() == {"location": "London"}
    assert TextPart("hi") == TextPart(content="hi")
    assert ToolReturnPart("weather", "sunny", "call_1").content == "sunny"
    assert ModelResponse([TextPart("x")]).text == "x"
    assert ModelRequest([UserPromptPart("q")]).parts[0].content == "q"
    with pytest.raises(TypeError, match=r"^TextPart\(\) takes at most 1 positional argument\(s\) \(content\)"):
        TextPart("a", "b")
    with pytest.raises(TypeError, match=r"^TextPart\(\) got two values for 'content'$"):
        TextPart("a", content="b")
    loaded = ModelResponse.model_validate_json(ModelResponse([call]).model_dump_json())
    assert loaded.parts == [call]
    assert repr(call) == "ToolCallPart(tool_name='weather', args={'location': 'London'}, tool_call_id='call_1')"
    assert repr(ToolReturnPart("weather", "sunny", "c", timestamp=call_time())).startswith(
        "ToolReturnPart(tool_name='weather', content='sunny', tool_call_id='c', timestamp=")  # defaults left out


def call_time() -> Any:
    from datetime import datetime, timezone

    return datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_test_names_test_model_and_the_friendly_offline_model_is_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NBAGENT_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(Agent("test").model, TestModel)  # as PydanticAI's Agent('test')
    assert Agent("test").run_sync("hello").output == "success (no tool calls)"
    assert isinstance(Agent("offline").model, OfflineModel) and isinstance(Agent().model, OfflineModel)
    assert Agent().model.label == Agent().model.system == "offline"
    assert "offline** model" in Agent("offline").run_sync("hello").output
    monkeypatch.setenv("NBAGENT_MODEL", "offline")
    assert isinstance(Agent().model, OfflineModel)
    monkeypatch.setenv("NBAGENT_MODEL", "test")
    assert isinstance(Agent().model, TestModel)


def test_test_model_reports_usage_as_pydantic_ais_does() -> None:
    class CityLocation(BaseModel):
        city: str
        country: str

    result = Agent(TestModel(), output_type=CityLocation).run_sync("Where were the olympics held in 2012?")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.requests) == (57, 7, 1)
    agent = Agent(TestModel())

    @agent.tool_plain
    def roll_dice() -> str:
        return "4"

    two_steps = agent.run_sync("My guess is 4").new_messages()
    assert [(m.usage.input_tokens, m.usage.output_tokens) for m in two_steps if isinstance(m, ModelResponse)] == [
        (54, 2), (55, 6)]  # the second counts the first response's call and the tool's result too


def test_test_model_has_no_native_output_and_answers_prompted_output_with_its_text() -> None:
    """As PydanticAI's TestModel: NativeOutput is refused (its profile has no JSON-schema output);
    prompted output gets its text answer, so `custom_output_text` supplies the JSON."""

    class Vehicle(BaseModel):
        name: str
        wheels: int

    with pytest.raises(UserError, match="^Native structured output is not supported by this model"):
        Agent(TestModel(), output_type=NativeOutput(Vehicle)).run_sync("What is a Ford Explorer?")
    json_text = TestModel(custom_output_text='{"name": "Ford Explorer", "wheels": 4}')
    assert Agent(json_text, output_type=PromptedOutput(Vehicle)).run_sync("x").output == Vehicle(
        name="Ford Explorer", wheels=4)
    with pytest.raises(UnexpectedModelBehavior, match="output validation"):  # 'success (no tool calls)' is no JSON
        Agent(TestModel(), output_type=PromptedOutput(Vehicle)).run_sync("x")
    with pytest.raises(UserError, match="custom_output_text"):
        Agent(TestModel(custom_output_args={"name": "x", "wheels": 1}),
              output_type=PromptedOutput(Vehicle)).run_sync("x")
    assert Agent("offline", output_type=NativeOutput(Vehicle)).run_sync("x").output == Vehicle(name="a", wheels=0)
