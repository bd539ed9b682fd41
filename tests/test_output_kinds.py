"""Output as PydanticAI's Output page describes it, beyond one type: unions become one output tool per
member, functions as outputs, `TextOutput`, `StructuredDict`, `None` among the outputs, partial output in
validators and output functions while streaming, and `BinaryImage` refused with a clear line."""

from __future__ import annotations

import re
from typing import Any, Union

import pytest
from provider_server import ProviderServer, openai_json, openai_tool_stream
from pydantic import BaseModel, ValidationInfo, field_validator

from nbagent import (Agent, AgentInfo, BinaryImage, FunctionModel, ModelMessage, ModelResponse, ModelRetry,
                     RunContext, StructuredDict, TestModel, TextOutput, TextPart, ThinkingPart, ToolCallPart,
                     UnexpectedModelBehavior, UserError)

pytestmark = pytest.mark.usefixtures("closed_client")


class Box(BaseModel):
    width: int
    units: str


def test_a_union_is_one_output_tool_per_member_sent_over_the_wire(openai_env: ProviderServer) -> None:
    openai_env.enqueue(openai_json(None, tool_calls=[("c1", "final_result_list_2", '{"response": [10, 20]}')]))
    agent = Agent("openai:gpt-4o", output_type=list[str] | list[int] | Box)
    assert agent.run_sync("square size 10, circle size 20").output == [10, 20]
    tools = {tool["function"]["name"]: tool["function"] for tool in openai_env.last_request.json["tools"]}
    assert list(tools) == ["final_result_list", "final_result_list_2", "final_result_Box"]
    assert tools["final_result_list"]["parameters"]["properties"]["response"] == {
        "type": "array", "items": {"type": "string"}}
    assert tools["final_result_Box"]["description"] == "Box: The final response which ends this conversation"
    assert openai_env.last_request.json["tool_choice"] == "required"  # no text answer among the outputs


def test_union_spellings_agree() -> None:
    for spec in (Box | str, Union[Box, str], [Box, str], [Box | str]):
        model = TestModel()
        assert Agent(model, output_type=spec).run_sync("x").output == "success (no tool calls)"
        assert model.last_model_request_parameters is not None
        assert [tool.name for tool in model.last_model_request_parameters.output_tools] == ["final_result"]


class Row(BaseModel):
    name: str
    country: str


TABLES = {"capital_cities": [Row(name="Amsterdam", country="Netherlands")]}


def run_sql_query(query: str) -> list[Row]:
    """Run a SQL query on the database."""
    match = re.match(r"SELECT (.+) FROM (\w+)", query)
    if not match or match.group(2) not in TABLES:
        raise ModelRetry(f"Unsupported query: {query!r}; tables: {', '.join(TABLES)}")
    return TABLES[match.group(2)]


class SQLFailure(BaseModel):
    """An unrecoverable failure."""

    explanation: str


def test_output_functions_are_called_with_the_models_arguments_and_may_ask_again() -> None:
    queries = iter(['{"query": "SELECT * FROM pets"}', '{"query": "SELECT * FROM capital_cities"}'])
    seen: list[ModelMessage] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen[:] = messages
        assert [tool.name for tool in info.output_tools] == ["final_result_run_sql_query", "final_result_SQLFailure"]
        assert info.output_tools[0].description == "Run a SQL query on the database."
        assert info.output_tools[0].parameters_json_schema["required"] == ["query"]
        return ModelResponse([ToolCallPart("final_result_run_sql_query", next(queries))])

    agent = Agent(FunctionModel(model), output_type=[run_sql_query, SQLFailure], retries=2)
    assert agent.run_sync("Capitals?").output == TABLES["capital_cities"]
    retry = seen[-1].parts[0]
    assert retry.part_kind == "retry-prompt" and "Unsupported query: 'SELECT * FROM pets'" in retry.content


async def test_an_output_function_takes_the_run_context_and_its_retries_run_out_with_the_cause() -> None:
    async def hand_off(ctx: RunContext[str], query: str) -> str:
        assert ctx.deps == "db" and isinstance(ctx.messages[-1], ModelResponse)  # the output call is last
        raise ModelRetry(f"cannot answer {query}")

    model = FunctionModel(lambda messages, info: ModelResponse([ToolCallPart("final_result", {"query": "pets"})]))
    with pytest.raises(UnexpectedModelBehavior, match=r"^Exceeded maximum retries \(1\) for output validation: "
                                                      r"cannot answer pets") as caught:
        await Agent(model, output_type=hand_off, deps_type=str).run("x", deps="db")
    assert isinstance(caught.value.__cause__, ModelRetry)


def test_text_output_passes_the_answer_through_a_function() -> None:
    def split_into_words(text: str) -> list[str]:
        return text.split()

    agent = Agent(FunctionModel(lambda messages, info: "Albert Einstein was a physicist."),
                  output_type=TextOutput(split_into_words))
    assert agent.run_sync("Who?").output == ["Albert", "Einstein", "was", "a", "physicist."]

    def shout(ctx: RunContext[None], text: str) -> str:
        if ctx.retry == 0:
            raise ModelRetry("louder")
        return text.upper()

    answers = iter(["hi", "hello"])
    agent = Agent(FunctionModel(lambda messages, info: next(answers)), output_type=[TextOutput(shout), Box])
    assert agent.run_sync("x").output == "HELLO"
    with pytest.raises(UserError, match=r"^TextOutput function 'two' must take the text .*not 2 parameters$"):
        def two(a: str, b: str) -> str:
            return a
        Agent(TestModel(), output_type=TextOutput(two))


def test_structured_dict_sends_the_schema_as_given() -> None:
    human = StructuredDict({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                            "required": ["name", "age"]}, name="Human", description="A human with a name and age")
    model = TestModel()
    output = Agent(model, output_type=human).run_sync("Create a person").output
    assert output == {"name": "a", "age": 0} and type(output) is dict
    assert model.last_model_request_parameters is not None
    schema = model.last_model_request_parameters.output_tools[0].parameters_json_schema
    assert schema["properties"] == {"name": {"type": "string"}, "age": {"type": "integer"}}
    assert schema["description"] == "A human with a name and age"
    with pytest.raises(UserError, match=r"^StructuredDict needs a JSON schema of an object"):
        StructuredDict({"type": "string"})


def test_none_among_the_outputs() -> None:
    calls: list[int] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse([ToolCallPart("mark_task_done", {"task_id": 1})])
        return ModelResponse([ThinkingPart("done, nothing to add"), TextPart("")])

    agent = Agent(FunctionModel(model), output_type=str | None)

    @agent.tool_plain
    def mark_task_done(task_id: int) -> str:
        calls.append(task_id)
        return f"Task {task_id} marked done."

    result = agent.run_sync("Mark task 1 as done, then stop.")
    assert result.output is None and calls == [1]
    assert Agent(FunctionModel(lambda m, i: "said"), output_type=str | None).run_sync("x").output == "said"

    model_with_tools = TestModel()
    assert Agent(model_with_tools, output_type=int | None).run_sync("x").output == 0
    params = model_with_tools.last_model_request_parameters
    assert params is not None and [tool.name for tool in params.output_tools] == ["final_result_int", "final_result_None"]
    empty = Agent(FunctionModel(lambda m, i: ""), output_type=int | None).run_sync("x")
    assert empty.output is None  # an empty answer is None too
    none_tool = FunctionModel(lambda m, i: ModelResponse([ToolCallPart("final_result_None", {"response": None})]))
    assert Agent(none_tool, output_type=[int, None]).run_sync("x").output is None
    with pytest.raises(UserError, match=r"^output_type=None alone is no output"):
        Agent(TestModel(), output_type=None)  # type: ignore[arg-type]


class Record(BaseModel):
    name: str
    value: int | None = None


async def test_partial_output_in_validators_and_output_functions_while_streaming(openai_env: ProviderServer) -> None:
    saved: list[tuple[bool, Any]] = []

    def save_to_database(ctx: RunContext[None], record: Record) -> Record:
        saved.append((ctx.partial_output, record.model_dump()))
        return record

    openai_env.enqueue(openai_tool_stream([("c1", "final_result", '{"name": "test", "value": 42}')], split=4))
    agent = Agent("openai:gpt-4o", output_type=save_to_database)
    async with agent.run_stream("Create a record") as result:
        outputs = [output async for output in result.stream_output(debounce_by=None)]
    assert outputs[-1] == Record(name="test", value=42)
    assert saved[-1] == (False, {"name": "test", "value": 42})  # once, whole, after the partial calls
    assert [partial for partial, _ in saved[:-1]] == [True] * (len(saved) - 1) and len(saved) > 2

    checks: list[tuple[bool, str]] = []
    text_agent = Agent(FunctionModel(stream_function=words("Once upon a time there was a cat")))

    @text_agent.output_validator
    def long_enough(ctx: RunContext[None], output: str) -> str:
        checks.append((ctx.partial_output, output))
        if not ctx.partial_output and len(output) < 10:
            raise ModelRetry("Output is too short.")
        return output

    async with text_agent.run_stream("story") as result:
        texts = [text async for text in result.stream_text(debounce_by=None)]
    assert texts[-1] == "Once upon a time there was a cat" and len(texts) == 8
    assert checks[-1] == (False, "Once upon a time there was a cat")
    assert all(partial for partial, _ in checks[:-1])


def words(text: str) -> Any:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> Any:
        for index, word in enumerate(text.split()):
            yield ("" if index == 0 else " ") + word
    return stream


def test_binary_image_is_an_image_and_image_output_is_refused_in_one_line() -> None:
    assert BinaryImage(data=b"\x89PNG", media_type="image/png").is_image
    with pytest.raises(ValueError, match="BinaryImage needs an image media type"):
        BinaryImage(data=b"x", media_type="text/plain")
    agent = Agent(TestModel(), output_type=BinaryImage | str)
    with pytest.raises(UserError, match=r"^Image output is not supported by test: .* take BinaryImage out of "
                                        r"output_type$"):
        agent.run_sync("Draw an axolotl")


class Value(BaseModel):
    x: int

    @field_validator("x")
    @classmethod
    def increment_value(cls, value: int, info: ValidationInfo) -> int:
        return value + (info.context or 0)


def test_validation_context_reaches_outputs_and_tool_arguments() -> None:
    five = FunctionModel(lambda messages, info: ModelResponse([ToolCallPart("final_result", {"x": 5})]))
    assert Agent(five, output_type=Value, validation_context=10).run_sync("Give me 5.").output == Value(x=15)
    per_run = Agent(five, output_type=Value, deps_type=int, validation_context=lambda ctx: ctx.deps)
    assert per_run.run_sync("Give me 5.", deps=3).output == Value(x=8)

    seen: list[int] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse([ToolCallPart("record", {"x": 1})])  # a lone model parameter: its own schema
        return ModelResponse([TextPart("ok")])

    agent = Agent(FunctionModel(model), validation_context=100)

    @agent.tool_plain
    def record(value: Value) -> str:
        seen.append(value.x)
        return "recorded"

    assert agent.run_sync("go").output == "ok" and seen == [101]
