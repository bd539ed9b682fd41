"""`%%ask --output-type T -o VAR` in a real kernel against the loopback provider: the object streams in
as a table, the variable holds the validated object, and the turn joins the conversation."""

from __future__ import annotations

import json

import pytest
from kernel_session import FORGET_CONVERSATIONS, kernel_env, nbagent_kernel
from provider_server import openai_tool_stream

TYPES = """
from dataclasses import dataclass
from pydantic import BaseModel

class City(BaseModel):
    city: str
    country: str
    population: int

@dataclass
class Point:
    x: float
    label: str

class Opaque:
    def __init__(self, handle):
        self.handle = handle
"""

PARIS = {"city": "Paris", "country": "France", "population": 2102650}


@pytest.fixture(scope="module")
def kernel(provider_server):
    with nbagent_kernel(kernel_env(provider_server.openai_base_url), TYPES) as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute(FORGET_CONVERSATIONS)
    provider.clear()
    return kernel


def output_call(value, **knobs):
    return openai_tool_stream([("call_out", "final_result", json.dumps(value))], **knobs)


def markdowns(run) -> list[str]:
    """Every Markdown the cell showed, in the order sent."""
    return [message["content"]["data"].get("text/markdown", "")
            for message in run.of_type("display_data", "update_display_data")]


def test_the_object_streams_as_a_table_and_lands_in_the_variable(fresh, provider):
    provider.enqueue(output_call(PARIS, split=12, delay=0.1))
    run = fresh.execute("%%ask --output-type City -o place\nWhere is the Louvre?", metadata={"cellId": "c-louvre"})
    assert run.reply["status"] == "ok", run.errors
    [tool] = provider.last_request.json["tools"]
    assert tool["function"]["name"] == "final_result"
    assert set(tool["function"]["parameters"]["properties"]) == {"city", "country", "population"}
    growing = [markdown for markdown in markdowns(run) if "| city | Paris |" in markdown and "| population | … |" in markdown]
    assert growing, markdowns(run)  # a row was on screen before the object was complete
    assert "answering…" in growing[0]
    final = run.final_markdown()
    assert final.startswith("| field | value |\n|---|---|\n| city | Paris |\n| country | France |\n"
                            "| population | 2102650 |\n"), final
    assert "openai:gpt-4o" in final and "answering…" not in final
    shown = fresh.execute("print(type(place).__name__, type(place) is City, place)")
    assert shown.stdout.strip() == "City True city='Paris' country='France' population=2102650"
    history = fresh.execute("%agent_history").of_type("display_data")[0]["content"]["data"]["text/markdown"]
    assert 'final_result(city="Paris", country="France", population=2102650)' in history

    provider.enqueue(output_call({**PARIS, "city": "Lyon"}))  # re-run: the cell's turn is replaced
    rerun = fresh.execute("%%ask --output-type City -o place\nWhere is the Louvre?", metadata={"cellId": "c-louvre"})
    assert "replaced this cell's earlier turn" in rerun.final_markdown()
    assert fresh.execute("print(place.city)").stdout.strip() == "Lyon"
    fresh.execute("%%ask\nAnd its population?")
    sent = provider.last_request.json["messages"]
    assert [message["role"] for message in sent] == ["user", "assistant", "tool", "user"]
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"])["city"] == "Lyon"


def test_type_expressions_lists_and_dicts(fresh, provider):
    provider.enqueue(output_call({"response": ["ruff", "mypy"]}),
                     output_call({"response": {"paris": 2.1, "lyon": 0.5}}),
                     output_call({"response": [{"x": 1.5, "label": "a | b"}, {"x": 2, "label": "c"}]}))
    listed = fresh.execute('%%ask --output-type list[str] -o tools\nName two linters')
    assert listed.final_markdown().startswith("| # | value |\n|---|---|\n| 1 | ruff |\n| 2 | mypy |\n")
    sized = fresh.execute('%%ask --output-type "dict[str, float]" -o sizes\nPopulations in millions')
    assert sized.final_markdown().startswith("| key | value |\n|---|---|\n| paris | 2.1 |\n| lyon | 0.5 |\n")
    points = fresh.execute('%%ask --output-type list[Point] -o points\nTwo points')
    assert points.final_markdown().startswith("| # | x | label |\n|---|---|---|\n| 1 | 1.5 | a \\| b |\n| 2 | 2.0 | c |\n")
    values = fresh.execute("print(tools, sizes, points)").stdout.strip()
    assert values == "['ruff', 'mypy'] {'paris': 2.1, 'lyon': 0.5} [Point(x=1.5, label='a | b'), Point(x=2.0, label='c')]"


def test_an_unusable_type_is_a_one_line_error_naming_it(fresh, provider):
    for option, says in (("Nope", "--output-type Nope: NameError: name 'Nope' is not defined"),
                         ("3", "--output-type 3 is a value of type int, not a type"),
                         ("Opaque", "--output-type Opaque: output_type 'Opaque' cannot be described as JSON"),
                         ("City --code", "cannot be used with --output-type")):
        run = fresh.execute(f"%%ask --output-type {option}\nanything")
        assert run.reply["status"] == "error"
        [error] = run.errors
        assert len(error["traceback"]) == 1 and says in error["evalue"], error["evalue"]
    assert provider.requests == []


def test_a_structured_turn_survives_the_history_file(fresh, provider, tmp_path):
    provider.enqueue(output_call(PARIS))
    path = tmp_path / "chat.json"
    fresh.execute(f"%agent_settings history_file={path}")
    try:
        assert fresh.execute("%%ask --output-type City\nWhere is the Louvre?").reply["status"] == "ok"
        fresh.execute("get_state().conversations.clear()")
        fresh.execute(f"%agent_settings history_file=\n%agent_settings history_file={path}")
        turns = fresh.execute("print(len(get_state().conversation().turns))")
        assert turns.stdout.strip() == "1", turns.stdout + str(turns.errors)
    finally:
        fresh.execute("%agent_settings history_file=")
    assert provider.pending == 0
