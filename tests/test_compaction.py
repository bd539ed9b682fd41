"""Compaction: the bulk of earlier turns cut first, then older turns summarized by the model (one extra
request), the current turn never touched; the provider's "context too long" answered by compacting and
sending again once, over HTTP against the loopback server on both protocols."""

from __future__ import annotations

import pytest
from provider_server import ProviderServer, anthropic_json, anthropic_stream, error, openai_json

from nbagent import (Agent, AgentInfo, FunctionModel, ModelHTTPError, ModelMessage, ModelRequest, ModelResponse,
                     SystemPromptPart, TextPart, ToolCallPart, ToolReturnPart, UserPromptPart)
from nbagent.compaction import SUMMARY_INSTRUCTIONS, Compaction, CompactHistory, split_turns
from nbagent.context_window import context_too_long, context_window, estimate_tokens
from nbagent.models.anthropic import AnthropicModel
from nbagent.models.openai import OpenAIModel


def text_turn(number: int, words: int = 200) -> list[ModelMessage]:
    return [ModelRequest(parts=[UserPromptPart(content=f"question {number} " + "word " * words)]),
            ModelResponse(parts=[TextPart(content=f"answer {number} " + "word " * words)])]


def tool_turn(number: int, chars: int = 6000) -> list[ModelMessage]:
    """A question whose answer needed a tool that returned a DataFrame-sized dump."""
    return [ModelRequest(parts=[UserPromptPart(content=f"inspect df{number}")]),
            ModelResponse(parts=[ToolCallPart(tool_name="inspect_variable", args={"name": f"df{number}"},
                                              tool_call_id=f"c{number}")]),
            ModelRequest(parts=[ToolReturnPart(tool_name="inspect_variable", tool_call_id=f"c{number}",
                                               content=f"DataFrame df{number}: 500 rows\n" + "x" * chars)]),
            ModelResponse(parts=[TextPart(content=f"df{number} has 500 rows")])]


def recording() -> tuple[FunctionModel, list[list[ModelMessage]], list[AgentInfo]]:
    received: list[list[ModelMessage]] = []
    infos: list[AgentInfo] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        received.append(list(messages))
        infos.append(info)
        if messages[-1].instructions == SUMMARY_INSTRUCTIONS:
            return ModelResponse(parts=[TextPart(content="The user explored df0 to df29; all have 500 rows.")])
        return ModelResponse(parts=[TextPart(content="fine")])

    return FunctionModel(reply), received, infos


def test_the_windows_of_common_models() -> None:
    assert context_window("openai:gpt-4o-mini") == 128_000
    assert context_window("openai:gpt-4.1-nano") == 1_047_576
    assert context_window("anthropic:claude-sonnet-4-5") == 200_000
    assert context_window("ollama:llama3.2") == 4_096
    assert context_window("test") is None


def test_the_bulk_goes_first_and_no_summary_is_asked_for() -> None:
    model, received, _ = recording()
    done: list[Compaction] = []
    agent = Agent(model, capabilities=[CompactHistory(context_window=5_000, on_compact=done.append)])
    history = [message for number in range(3) for message in tool_turn(number)]
    assert estimate_tokens(history) > 4_000
    result = agent.run_sync("and df3?", message_history=history)
    [sent] = received  # one request: cutting the tool results was enough
    returns = [part for message in sent for part in message.parts if isinstance(part, ToolReturnPart)]
    assert [part.content for part in returns] == [
        f"[inspect_variable returned 6,024 characters, cut to save context; it began: DataFrame df{n}: 500 rows]"
        for n in range(3)]
    assert str(done[0]).startswith("cut 3 earlier tool results to a line, 4.6k → ")
    assert estimate_tokens(sent) <= 4_000
    assert [m.parts[0].content for m in result.new_messages()[:1]] == ["and df3?"]
    assert history[2].parts[0].content.startswith("DataFrame df0: 500 rows\nxxx")  # the caller's history untouched


def test_older_turns_are_summarized_by_the_model_in_one_extra_request() -> None:
    model, received, infos = recording()
    done: list[Compaction] = []
    agent = Agent(model, capabilities=[CompactHistory(context_window=4_000, on_compact=done.append)])
    history = [message for number in range(30) for message in text_turn(number)]
    history[0] = ModelRequest(parts=[SystemPromptPart(content="You help with pandas."), *history[0].parts])
    result = agent.run_sync("what next?", message_history=history)
    summary_request, sent = received
    assert summary_request[-1].instructions == SUMMARY_INSTRUCTIONS and infos[0].function_tools == []
    assert "User: question 0 word" in summary_request[0].parts[0].content
    first = sent[0]
    assert [type(part) for part in first.parts] == [SystemPromptPart, SystemPromptPart]
    assert first.parts[0].content == "You help with pandas."
    assert first.parts[1].content.startswith("Summary of 28 earlier turns of this conversation")
    assert first.parts[1].content.endswith("The user explored df0 to df29; all have 500 rows.")
    kept = [part.content.split()[1] for message in sent[1:] for part in message.parts
            if isinstance(part, UserPromptPart)]
    assert kept == ["28", "29", "next?"]  # two recent turns kept whole, then the question
    assert str(done[0]) == f"compacted 28 earlier turns, {done[0].tokens_before / 1000:.0f}k → " \
                           f"{done[0].tokens_after / 1000:.1f}k tokens"
    assert done[0].summary_response is not None and done[0].replaced == 56  # the 28 summarized turns
    assert estimate_tokens(sent) < 3_200
    # the run's messages are the compacted ones; new_messages() is still this run's own
    assert [message.kind for message in result.new_messages()] == ["request", "response"]
    assert result.all_messages()[0] is first


def test_a_history_that_fits_is_sent_as_is() -> None:
    model, received, _ = recording()
    history = [message for number in range(3) for message in text_turn(number)]
    Agent(model, capabilities=[CompactHistory(context_window=100_000)]).run_sync("q", message_history=history)
    assert received[0][:-1] == history


def test_turns_split_at_each_question_with_a_summary_joining_the_first() -> None:
    summary = ModelRequest(parts=[SystemPromptPart(content="Summary of 3 earlier turns")])
    turns = split_turns([summary, *tool_turn(0), *text_turn(1), ModelRequest(parts=[UserPromptPart(content="now")])])
    assert [len(turn) for turn in turns] == [5, 2, 1]


CONTEXT_ERRORS = {
    "openai": {"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages "
                                    "resulted in 130532 tokens. Please reduce the length of the messages.",
                         "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
    "anthropic": {"type": "error", "error": {"type": "invalid_request_error",
                                             "message": "prompt is too long: 210443 tokens > 200000 maximum"}},
}


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_a_context_too_long_answer_compacts_and_sends_again_once(provider: ProviderServer, protocol: str) -> None:
    done: list[Compaction] = []
    if protocol == "openai":
        model = OpenAIModel("gpt-4o-retry-test", base_url=provider.openai_base_url, api_key="sk-test")
        provider.enqueue(error(400, CONTEXT_ERRORS["openai"]), openai_json("the summary"), openai_json("answered"))
    else:
        model = AnthropicModel("claude-retry-test", base_url=provider.anthropic_base_url, api_key="sk-ant-test")
        provider.enqueue(error(400, CONTEXT_ERRORS["anthropic"]), anthropic_json("the summary"),
                         anthropic_stream("answered"))
    agent = Agent(model, capabilities=[CompactHistory(on_compact=done.append)])
    history = [message for number in range(6) for message in text_turn(number)]
    if protocol == "openai":
        result = await agent.run("go on", message_history=history)
        output = result.output
    else:
        async with agent.run_stream("go on", message_history=history) as streamed:
            output = await streamed.get_output()
    assert output == "answered"
    refused, summarize, again = [request.json for request in provider.requests]
    assert len(refused["messages"]) == 13 and summarize.get("stream") is not True
    texts = str(again)
    assert "Summary of " in texts and "the summary" in texts and "question 0 " not in texts
    assert "go on" in texts and done and done[0].turns >= 4
    assert context_window(model.label) < 128_000  # learned: below what was refused


async def test_a_second_refusal_is_the_error(provider: ProviderServer) -> None:
    model = OpenAIModel("gpt-4o-twice-test", base_url=provider.openai_base_url, api_key="sk-test")
    provider.enqueue(error(400, CONTEXT_ERRORS["openai"]), openai_json("the summary"),
                     error(400, CONTEXT_ERRORS["openai"]))
    agent = Agent(model, capabilities=[CompactHistory()])
    with pytest.raises(ModelHTTPError, match="maximum context length is 128000 tokens") as raised:
        await agent.run("go on", message_history=[message for number in range(4) for message in text_turn(number)])
    assert context_too_long(raised.value) and len(provider.requests) == 3


async def test_other_errors_are_not_retried(provider: ProviderServer) -> None:
    model = OpenAIModel("gpt-4o", base_url=provider.openai_base_url, api_key="sk-test")
    provider.enqueue(error(400, "Invalid value for 'temperature'"))
    with pytest.raises(ModelHTTPError, match="temperature"):
        await Agent(model, capabilities=[CompactHistory()]).run("q")
    assert len(provider.requests) == 1
