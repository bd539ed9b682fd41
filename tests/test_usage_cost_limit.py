"""`UsageLimits(cost_limit=...)`, as PydanticAI's agent page ("Capping run cost") describes it: the run's
cost in USD (genai-prices) is checked after each response; a model with no known price warns
(`CostNotFoundWarning`) instead of running silently unbounded."""

from __future__ import annotations

import warnings
from decimal import Decimal

import pytest

from provider_server import openai_json
from nbagent import (Agent, AgentInfo, CostNotFoundWarning, FunctionModel, ModelMessage, ModelResponse, TextPart,
                     ToolCallPart, UsageLimitExceeded, UsageLimits, UserError)

# gpt-4o: $2.50 per million input tokens, $10 per million output tokens (genai-prices)
ROME = Decimal(62) * Decimal("2.5") / 1_000_000 + Decimal(1) * Decimal(10) / 1_000_000


def test_a_run_within_its_cost_limit_reports_its_cost(openai_env):
    openai_env.enqueue(openai_json("Rome", usage=(62, 1)))
    result = Agent("openai:gpt-4o").run_sync("Capital of Italy?", usage_limits=UsageLimits(cost_limit=Decimal("0.01")))
    assert result.output == "Rome"
    assert result.usage.cost == ROME
    assert repr(result.usage).startswith(f"RunUsage(cost={ROME!r}, input_tokens=62")


def test_a_run_past_its_cost_limit_stops_with_usage_limit_exceeded(openai_env):
    openai_env.enqueue(openai_json("Rome", usage=(62, 1)))
    with pytest.raises(UsageLimitExceeded, match=r"Exceeded the `cost_limit` of 0\.0001 \(`usage\.cost`=Decimal\('0\.000165'\)\)"):
        Agent("openai:gpt-4o").run_sync("Capital of Italy?", usage_limits=UsageLimits(cost_limit=Decimal("0.0001")))


def test_the_cost_adds_up_over_tool_rounds_and_stops_before_the_tools_run(openai_env):
    openai_env.enqueue(openai_json(None, usage=(30, 10), tool_calls=[("c1", "lookup", "{}")]),
                       openai_json(None, usage=(30, 10), tool_calls=[("c2", "lookup", "{}")]),
                       openai_json("done", usage=(30, 10)))
    agent = Agent("openai:gpt-4o")
    looked_up = []

    @agent.tool_plain
    def lookup() -> str:
        looked_up.append(1)
        return "found"

    # each response costs 30 * 2.5 + 10 * 10 = 175 millionths of a dollar
    with pytest.raises(UsageLimitExceeded, match=r"`cost_limit` of 0.0003 \(`usage.cost`=Decimal\(.0.000350.\)"):
        agent.run_sync("Go", usage_limits=UsageLimits(cost_limit=0.0003))
    assert len(looked_up) == 1  # the second response went past the limit: its tool call did not run
    assert len(openai_env.requests) == 2


def test_a_model_with_no_price_warns_once_per_run_and_is_not_limited():
    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("ping", {})])
        return ModelResponse(parts=[TextPart("pong")])

    agent = Agent(FunctionModel(answer))

    @agent.tool_plain
    def ping() -> str:
        return "ok"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = agent.run_sync("Ping", usage_limits=UsageLimits(cost_limit=Decimal("0.000001")))
    assert result.output == "pong" and result.usage.cost is None
    assert [warning.category for warning in caught] == [CostNotFoundWarning]
    message = str(caught[0].message)
    assert "\n" not in message and "cost_limit" in message and "function:answer" in message

    with warnings.catch_warnings():
        warnings.simplefilter("error", CostNotFoundWarning)  # the strict choice is one filter away
        with pytest.raises(CostNotFoundWarning):
            agent.run_sync("Ping", usage_limits=UsageLimits(cost_limit=1))


def test_no_cost_limit_no_pricing(openai_env):
    openai_env.enqueue(openai_json("Rome", usage=(62, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = Agent("openai:gpt-4o").run_sync("Capital of Italy?")
    assert result.usage.cost is None and "cost" not in repr(result.usage)


@pytest.mark.parametrize("bad", [-1, "0.1", float("nan"), True])
def test_a_bad_cost_limit_is_a_one_line_error(bad):
    with pytest.raises(UserError, match=r"UsageLimits\(cost_limit="):
        UsageLimits(cost_limit=bad)


def test_a_token_counting_pass_is_refused_in_one_line():
    with pytest.raises(UserError, match=r"count_tokens_before_request=True\) is not supported"):
        UsageLimits(per_request_input_tokens_limit=10, count_tokens_before_request=True)
    assert UsageLimits(count_tokens_before_request=False).count_tokens_before_request is False
