"""Structured output over the loopback server, both protocols: the recorded output exchanges replayed
and their outputs checked, validation retries, output validators, streaming partial outputs, the
offline models, and the history a structured run leaves behind."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Literal, Optional

import pytest
from provider_server import (ProviderServer, anthropic_json, anthropic_tool_stream, cassette_request, from_cassette,
                             openai_json, openai_stream, openai_tool_stream)
from pydantic import BaseModel, Field, ValidationError
from typing_extensions import TypedDict

from nbagent import (Agent, AnthropicModel, FunctionModel, ModelResponse, ModelRetry, NativeOutput, OpenAIModel,
                     OfflineModel, PromptedOutput, RunContext, TestModel, TextPart, ToolCallPart, ToolOutput,
                     ToolReturnPart, UnexpectedModelBehavior, UserError)

pytestmark = pytest.mark.usefixtures("closed_client")
KEY = "sk-test-loopback-0123456789"


class CityLocation(BaseModel):
    city: str
    country: str


class CountryLanguage(BaseModel):
    country: str
    language: str


def openai_model(provider: ProviderServer, name: str = "gpt-4o") -> OpenAIModel:
    return OpenAIModel(name, base_url=provider.openai_base_url, api_key=KEY)


def anthropic_model(provider: ProviderServer, name: str = "claude-sonnet-4-5") -> AnthropicModel:
    return AnthropicModel(name, base_url=provider.anthropic_base_url, api_key=KEY)


def with_country_tool(agent: Agent[Any, Any]) -> Agent[Any, Any]:
    @agent.tool_plain
    def get_user_country() -> str:
        return "Mexico"

    return agent


def without_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: without_titles(v) for k, v in schema.items() if k != "title"}
    return [without_titles(v) for v in schema] if isinstance(schema, list) else schema


# ------------------------------------------------------------------ recorded exchanges


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_tool_output_recorded(provider: ProviderServer, protocol: str) -> None:
    name = ("test_openai_test_openai_tool_output" if protocol == "openai"
            else "test_anthropic_test_anthropic_tool_output")
    provider.enqueue(from_cassette(name, 0), from_cassette(name, 1))
    model = openai_model(provider) if protocol == "openai" else anthropic_model(provider)
    agent = with_country_tool(Agent(model, output_type=CityLocation))

    result = agent.run_sync("What is the largest city in the user country?")

    assert result.output == CityLocation(city="Mexico City", country="Mexico")
    for index, request in enumerate(provider.requests):
        sent, expected = request.json, cassette_request(name, index)
        assert sent["messages"] == expected["messages"]
        assert sent["tool_choice"] == expected["tool_choice"]  # a tool call is required
        assert without_titles(sent["tools"]) == without_titles(expected["tools"])
    # the output tool call is answered, so the next run's history is valid on either protocol
    last = result.new_messages()[-1]
    assert isinstance(last.parts[0], ToolReturnPart) and last.parts[0].tool_name == "final_result"
    provider.clear()
    Agent(openai_model(provider)).run_sync("And its population?", message_history=result.new_messages())
    tool_messages = [m for m in provider.last_request.json["messages"] if m["role"] == "tool"]
    assert tool_messages[-1]["content"] == "Final result processed."
    Agent(anthropic_model(provider)).run_sync("And its population?", message_history=result.new_messages())
    assert [block["type"] for block in provider.last_request.json["messages"][-1]["content"]] == ["tool_result", "text"]


def test_native_output_recorded(provider: ProviderServer) -> None:
    name = "test_openai_test_openai_native_output"
    provider.enqueue(from_cassette(name, 0), from_cassette(name, 1))
    agent = with_country_tool(Agent(openai_model(provider), output_type=NativeOutput(CityLocation)))

    result = agent.run_sync("What is the largest city in the user country?")

    assert result.output == CityLocation(city="Mexico City", country="Mexico")
    sent, expected = provider.requests[1].json, cassette_request(name, 1)
    assert sent["messages"] == expected["messages"] and sent["tool_choice"] == "auto"
    wire = sent["response_format"]
    assert wire["type"] == "json_schema"
    assert without_titles(wire["json_schema"]["schema"]) == {**expected["response_format"]["json_schema"]["schema"],
                                                             "additionalProperties": False}
    assert wire["json_schema"]["strict"] is True  # every field required, no defaults: strict mode accepts it


def test_native_output_from_ollama_recorded(provider: ProviderServer) -> None:
    """Ollama's OpenAI-compatible answer carries the model's reasoning in a `reasoning` field: it is
    kept as thinking, the JSON text is the output."""
    name = "test_ollama_test_ollama_local_native_output_uses_json_schema"
    provider.enqueue(from_cassette(name))
    agent = Agent(OpenAIModel("qwen3:0.6b", provider="ollama", base_url=provider.openai_base_url),
                  output_type=NativeOutput(CityLocation))

    result = agent.run_sync("What is the capital of France?")

    assert result.output == CityLocation(city="Paris", country="France")
    usage = result.usage()
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 136, 15)
    thinking, text = result.response.parts
    assert thinking.part_kind == "thinking" and thinking.content.startswith("Okay, the user is asking")
    assert text.content == '{ "city": "Paris", "country": "France" }'
    sent, expected = provider.last_request.json, cassette_request(name)
    # The recorded client sent the schema loose; ours closes it and asks for strict mode, which a
    # schema with every field required allows (the same as test_native_output_recorded checks).
    wire, recorded = sent.pop("response_format"), expected.pop("response_format")
    assert sent == expected
    assert wire["type"] == recorded["type"] and wire["json_schema"]["name"] == recorded["json_schema"]["name"]
    assert without_titles(wire["json_schema"]["schema"]) == {**without_titles(recorded["json_schema"]["schema"]),
                                                             "additionalProperties": False}
    assert wire["json_schema"]["strict"] is True


def test_native_output_with_several_types_recorded(provider: ProviderServer) -> None:
    name = "test_openai_test_openai_native_output_multiple"
    provider.enqueue(from_cassette(name, 0), from_cassette(name, 1))
    agent = with_country_tool(Agent(openai_model(provider),
                                    output_type=NativeOutput([CityLocation, CountryLanguage])))

    result = agent.run_sync("What is the largest city in the user country?")

    assert result.output == CityLocation(city="Mexico City", country="Mexico")
    sent = provider.requests[1].json["response_format"]["json_schema"]
    expected = cassette_request(name, 1)["response_format"]["json_schema"]
    assert sent["name"] == expected["name"] == "final_result"
    assert without_titles(sent["schema"]) == without_titles(_closed(expected["schema"]))


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        closed = {k: _closed(v) for k, v in schema.items()}
        if closed.get("type") == "object" and "properties" in closed:
            closed["additionalProperties"] = False
        return closed
    return [_closed(v) for v in schema] if isinstance(schema, list) else schema


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_prompted_output_recorded(provider: ProviderServer, protocol: str) -> None:
    name = ("test_openai_test_openai_prompted_output" if protocol == "openai"
            else "test_anthropic_test_anthropic_prompted_output")
    prompt = cassette_request(name, 0)["messages"][-1 if protocol == "anthropic" else 1]["content"]
    prompt = prompt if isinstance(prompt, str) else prompt[0]["text"]
    provider.enqueue(from_cassette(name, 0), from_cassette(name, 1))
    model = openai_model(provider) if protocol == "openai" else anthropic_model(provider)
    agent = with_country_tool(Agent(model, output_type=PromptedOutput(CityLocation)))

    result = agent.run_sync(prompt)

    assert result.output == CityLocation(city="Mexico City", country="Mexico")
    sent, expected = provider.requests[1].json, cassette_request(name, 1)
    system = sent["messages"][0]["content"] if protocol == "openai" else sent["system"]
    schema = json.loads(system.split("\n\n", 1)[1])
    assert schema == {"properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                      "required": ["city", "country"], "type": "object", "title": "CityLocation"}
    if protocol == "openai":
        assert sent["response_format"] == expected["response_format"] == {"type": "json_object"}
        assert sent["messages"][1:] == expected["messages"][1:]
    else:
        assert sent["messages"] == expected["messages"] and sent["tool_choice"] == {"type": "auto"}


def test_prompted_int_output_with_thinking_recorded(provider: ProviderServer) -> None:
    """A thinking block before the JSON text: the text alone is the answer; int is wrapped as {"response": 6}."""
    name = "test_anthropic_test_anthropic_output_tool_with_thinking"
    provider.enqueue(from_cassette(name, 0))
    agent = Agent(anthropic_model(provider, "claude-sonnet-4-0"), output_type=PromptedOutput(int))
    result = agent.run_sync("What is 3 + 3?")
    assert result.output == 6
    system = provider.last_request.json["system"]
    assert json.loads(system.split("\n\n", 1)[1]) == {
        "properties": {"response": {"type": "integer"}}, "required": ["response"], "type": "object", "title": "int"}


def test_anthropic_has_no_native_output(provider: ProviderServer) -> None:
    with pytest.raises(UserError, match="no native JSON-schema output; use the default tool output"):
        Agent(anthropic_model(provider), output_type=NativeOutput(CityLocation)).run_sync("x")


# ------------------------------------------------------------------ types, offline


@dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class Nested(BaseModel):
    name: str
    tags: list[str]
    rating: Literal["good", "bad"]
    point: Point
    note: Optional[str] = None


@pytest.mark.parametrize("output_type,check", [
    (CityLocation, lambda out: isinstance(out, CityLocation)),
    (Point, lambda out: isinstance(out, Point)),
    (Movie, lambda out: set(out) == {"title", "year"}),
    (Nested, lambda out: isinstance(out, Nested) and isinstance(out.point, Point) and out.rating == "good"),
    (int, lambda out: out == 0),
    (bool, lambda out: out is False),
    (list[str], lambda out: out == []),
    (dict[str, float], lambda out: out == {}),
    ([CityLocation, CountryLanguage], lambda out: isinstance(out, CityLocation)),
    ([CityLocation, str], lambda out: isinstance(out, CityLocation)),
    (str, lambda out: isinstance(out, str)),
    (NativeOutput([CityLocation, CountryLanguage]), lambda out: isinstance(out, CityLocation)),
    (PromptedOutput(Point), lambda out: isinstance(out, Point)),
    (ToolOutput(Point, name="point"), lambda out: isinstance(out, Point)),
], ids=lambda value: getattr(value, "__name__", None) or type(value).__name__)
def test_every_kind_of_output_type_offline(output_type: Any, check: Any) -> None:
    result = Agent(OfflineModel(), output_type=output_type).run_sync("go")
    assert check(result.output)
    assert Agent(OfflineModel()).run_sync("go", output_type=output_type).output == result.output  # per run


class Opaque:
    """Not something pydantic can describe."""


def test_a_type_that_cannot_be_used_is_one_line() -> None:
    with pytest.raises(UserError, match=r"^output_type 'Opaque' cannot be described as JSON .*") as caught:
        Agent(TestModel(), output_type=Opaque)
    assert "\n" not in str(caught.value)


def test_function_model_returns_the_output_tool_call() -> None:
    def answer(messages: list[Any], info: Any) -> ModelResponse:
        (tool,) = info.output_tools
        assert not info.allow_text_output and tool.name == "final_result"
        return ModelResponse(parts=[ToolCallPart(tool_name=tool.name, args={"x": 1, "y": 2})])

    assert Agent(FunctionModel(answer), output_type=Point).run_sync("go").output == Point(1, 2)


# ------------------------------------------------------------------ retries and validators


class Bounded(BaseModel):
    value: int = Field(ge=0)


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_invalid_output_is_retried_with_the_errors(provider: ProviderServer, protocol: str) -> None:
    if protocol == "openai":
        provider.enqueue(openai_json(None, tool_calls=[("c1", "final_result", '{"value": -5}')]),
                         openai_json(None, tool_calls=[("c2", "final_result", '{"value": 5}')]))
        agent = Agent(openai_model(provider), output_type=Bounded)
    else:
        provider.enqueue(anthropic_json("", tool_calls=[("c1", "final_result", {"value": -5})]),
                         anthropic_json("", tool_calls=[("c2", "final_result", {"value": 5})]))
        agent = Agent(anthropic_model(provider), output_type=Bounded)
    assert agent.run_sync("go").output == Bounded(value=5)
    sent = json.dumps(provider.last_request.json["messages"])
    assert "greater_than_equal" in sent and "Fix the errors and try again." in sent


def test_output_retries_exhausted_quotes_the_error(provider: ProviderServer) -> None:
    provider.enqueue(*(openai_json(None, tool_calls=[(f"c{i}", "final_result", '{"value": -1}')]) for i in range(3)))
    agent = Agent(openai_model(provider), output_type=Bounded, output_retries=2)
    with pytest.raises(UnexpectedModelBehavior, match=r"Exceeded maximum retries \(2\) for output validation: .*"
                                                      r"greater than or equal to 0"):
        agent.run_sync("go")
    assert len(provider.requests) == 3


def test_plain_text_when_an_object_is_required_is_retried(provider: ProviderServer) -> None:
    provider.enqueue(openai_json("Mexico City, Mexico"),
                     openai_json(None, tool_calls=[("c1", "final_result", '{"city": "Mexico City", "country": "Mexico"}')]))
    result = Agent(openai_model(provider), output_type=CityLocation).run_sync("go")
    assert result.output.city == "Mexico City"
    assert "give the result by calling final_result" in provider.last_request.json["messages"][-1]["content"]


def test_prompted_output_accepts_a_fenced_json_block_and_retries_bad_json(provider: ProviderServer) -> None:
    provider.enqueue(openai_json("Here it is: {\"city\": \"Mexico"),
                     openai_json("Sure!\n```json\n{\"city\": \"Mexico City\", \"country\": \"Mexico\"}\n```"))
    result = Agent(openai_model(provider), output_type=PromptedOutput(CityLocation)).run_sync("go")
    assert result.output == CityLocation(city="Mexico City", country="Mexico")
    retry = provider.last_request.json["messages"][-1]
    assert retry["role"] == "user" and "json_invalid" in retry["content"]


@pytest.mark.parametrize("with_ctx,is_async", [(False, False), (True, False), (False, True), (True, True)])
def test_output_validator_may_ask_for_another_answer(provider: ProviderServer, with_ctx: bool, is_async: bool) -> None:
    provider.enqueue(openai_json(None, tool_calls=[("c1", "final_result", '{"city": "Paris", "country": "Mexico"}')]),
                     openai_json(None, tool_calls=[("c2", "final_result", '{"city": "Mexico City", "country": "Mexico"}')]))
    agent = Agent(openai_model(provider), output_type=CityLocation, deps_type=str)
    retries: list[int] = []

    def check(out: CityLocation, ctx: RunContext[str] | None = None) -> CityLocation:
        if ctx is not None:
            retries.append(ctx.retry)
            assert ctx.deps == "deps"
        if out.city == "Paris":
            raise ModelRetry("Paris is not in Mexico")
        return out

    if with_ctx and is_async:
        async def validator(ctx: RunContext[str], out: CityLocation) -> CityLocation:
            return check(out, ctx)
    elif with_ctx:
        def validator(ctx: RunContext[str], out: CityLocation) -> CityLocation:  # type: ignore[misc]
            return check(out, ctx)
    elif is_async:
        async def validator(out: CityLocation) -> CityLocation:  # type: ignore[misc]
            return check(out)
    else:
        def validator(out: CityLocation) -> CityLocation:  # type: ignore[misc]
            return check(out)
    agent.output_validator(validator)

    assert agent.run_sync("go", deps="deps").output.city == "Mexico City"
    tool_message = [m for m in provider.last_request.json["messages"] if m["role"] == "tool"][-1]
    assert tool_message["content"] == "Paris is not in Mexico\n\nFix the errors and try again."
    assert retries == ([0, 1] if with_ctx else [])


def test_function_tools_beside_an_output_call_run_too(provider: ProviderServer) -> None:
    """PydanticAI's default end_strategy, 'graceful' (tests/test_end_strategy.py has the others)."""
    ran: list[str] = []
    provider.enqueue(openai_json(None, tool_calls=[("c1", "side_effect", "{}"),
                                                   ("c2", "final_result", '{"city": "a", "country": "b"}')]))
    agent = Agent(openai_model(provider), output_type=CityLocation)

    @agent.tool_plain
    def side_effect() -> str:
        ran.append("ran")
        return "done"

    result = agent.run_sync("go")
    assert ran == ["ran"] and result.output == CityLocation(city="a", country="b")
    answers = result.new_messages()[-1].parts
    assert [(p.tool_call_id, p.content) for p in answers] == [("c1", "done"), ("c2", "Final result processed.")]


# ------------------------------------------------------------------ streaming


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_stream_output_yields_growing_valid_instances(provider: ProviderServer, protocol: str) -> None:
    args = json.dumps({"city": "Mexico City", "country": "Mexico"})
    stream = openai_tool_stream if protocol == "openai" else anthropic_tool_stream
    provider.enqueue(stream([("c1", "final_result", args)], split=len(args), delay=0.002))
    model = openai_model(provider) if protocol == "openai" else anthropic_model(provider)

    async with Agent(model, output_type=CityLocation).run_stream("go") as response:
        outputs = [output async for output in response.stream_output(debounce_by=None)]
        with pytest.raises(UserError, match="use stream_output"):
            async for _ in response.stream_text(debounce_by=None):
                pass

    assert all(isinstance(output, CityLocation) for output in outputs)
    assert outputs[-1] == CityLocation(city="Mexico City", country="Mexico")
    cities = [output.city for output in outputs]
    assert cities[0] in ("", "M", None) or len(cities[0]) < 4  # from the first characters on
    assert any(output.country is None for output in outputs)  # a field not seen yet is None
    assert len(outputs) > 10 and await response.get_output() == outputs[-1]


async def test_stream_output_in_native_mode_and_debounced(provider: ProviderServer) -> None:
    text = json.dumps({"city": "Mexico City", "country": "Mexico"})
    provider.enqueue(openai_stream(list(text), delay=0.003))
    agent = Agent(openai_model(provider), output_type=NativeOutput(CityLocation))
    async with agent.run_stream("go") as response:
        every = [output async for output in response.stream_output(debounce_by=0.03)]
    assert 2 <= len(every) < len(text) / 2  # debounced: far fewer parses than chunks
    assert every[-1] == CityLocation(city="Mexico City", country="Mexico")


async def test_stream_output_of_a_list() -> None:
    async def stream(messages: list[Any], info: Any) -> Any:
        from nbagent import DeltaToolCall

        yield {0: DeltaToolCall(name="final_result", tool_call_id="c1")}
        for piece in ['{"response": ["al', 'pha", "be', 'ta"]}']:
            yield {0: DeltaToolCall(json_args=piece)}

    async with Agent(FunctionModel(stream_function=stream), output_type=list[str]).run_stream("go") as response:
        outputs = [output async for output in response.stream_output(debounce_by=None)]
    assert outputs == [["al"], ["alpha", "be"], ["alpha", "beta"], ["alpha", "beta"]]  # then the validated output


def test_stream_output_of_text_is_the_text_so_far() -> None:
    async def main() -> list[str]:
        async with Agent(TestModel(custom_output_text="one two three")).run_stream("go") as response:
            return [output async for output in response.stream_output(debounce_by=None)]

    assert asyncio.run(main()) == ["one ", "one two ", "one two three", "one two three"]  # as PydanticAI's


def test_native_answer_naming_an_unknown_kind_is_retried(provider: ProviderServer) -> None:
    provider.enqueue(openai_json('{"result": {"kind": "Planet", "data": {}}}'),
                     openai_json('{"result": {"kind": "CountryLanguage", "data": {"country": "Mexico", '
                                 '"language": "Spanish"}}}'))
    agent = Agent(openai_model(provider), output_type=NativeOutput([CityLocation, CountryLanguage]))
    assert agent.run_sync("go").output == CountryLanguage(country="Mexico", language="Spanish")
    retry = provider.last_request.json["messages"][-1]["content"]
    assert "literal_error" in retry and "'CityLocation' or 'CountryLanguage'" in retry


async def test_run_stream_does_not_retry_an_output_that_fails_validation() -> None:
    """As PydanticAI: the output being streamed is the run's; if it fails validation at the end the run
    fails (run / iter / run_stream_events retry instead). Text that is no answer is still retried."""
    agent = Agent(TestModel())

    @agent.output_validator
    def long_enough(ctx: RunContext, output: str) -> str:
        if not ctx.partial_output and len(output) < 50:
            raise ModelRetry("Output is too short.")
        return output

    texts: list[str] = []
    with pytest.raises(UnexpectedModelBehavior) as caught:
        async with agent.run_stream("Write a long story about a cat") as result:
            async for text in result.stream_text(debounce_by=None):
                texts.append(text)
    assert str(caught.value) == ("Output validation failed during streaming, and retries are not supported in "
                                 "`run_stream()`")
    assert repr(caught.value.__cause__) == "ModelRetry('Output is too short.')"
    assert texts[-1] == "success (no tool calls)"  # one answer streamed, not two run together
    with pytest.raises(UnexpectedModelBehavior):
        await agent.run("Write a long story about a cat")  # retried once, then past the output retries

    def answers(messages: list[Any], info: Any) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[TextPart("Let me think.")])  # no answer: text is not an output here
        return ModelResponse(parts=[ToolCallPart("final_result", {"city": "x"})])

    with pytest.raises(UnexpectedModelBehavior, match="retries are not supported in `run_stream") as caught:
        async with Agent(FunctionModel(answers), output_type=CityLocation).run_stream("go") as result:
            await result.get_output()
    assert isinstance(caught.value.__cause__, ValidationError)  # "country" missing, after the text was retried
