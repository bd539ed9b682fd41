"""PydanticAI's Deferred Tools page, as a user reads it: tools that need approval (`requires_approval=True`,
`raise ApprovalRequired`) and tools executed elsewhere (`raise CallDeferred`), settled across runs
(`DeferredToolRequests` output, then `deferred_tool_results=`) or inline (`HandleDeferredToolCalls`)."""

from __future__ import annotations

from typing import Any

import pytest
from provider_server import ProviderServer, openai_json

from nbagent import (Agent, AgentInfo, ApprovalRequired, CallDeferred, DeferredToolRequests, DeferredToolResults,
                     FunctionModel, ModelMessage, ModelResponse, ModelRetry, RunContext, TestModel, TextPart,
                     ToolApproved, ToolCallPart, ToolDenied, ToolReturnPart, UserError, UserPromptPart)
from nbagent.capabilities import HandleDeferredToolCalls
from nbagent.events import FunctionToolCallEvent, FunctionToolResultEvent

pytestmark = pytest.mark.usefixtures("closed_client")

PROTECTED_FILES = {".env"}


def file_agent(model: Any, **kwargs: Any) -> Agent[None, Any]:
    agent: Agent[None, Any] = Agent(model, **kwargs)

    @agent.tool
    def update_file(ctx: RunContext[None], path: str, content: str) -> str:
        if path in PROTECTED_FILES and not ctx.tool_call_approved:
            raise ApprovalRequired(metadata={"reason": "protected"})
        return f"File {path!r} updated: {content!r}"

    @agent.tool_plain(requires_approval=True)
    def delete_file(path: str) -> str:
        return f"File {path!r} deleted"

    return agent


THREE_CALLS = [("delete_file", "delete_file", '{"path": "__init__.py"}'),
               ("update_file_readme", "update_file", '{"path": "README.md", "content": "Hello, world!"}'),
               ("update_file_dotenv", "update_file", '{"path": ".env", "content": ""}')]


def test_approval_across_two_runs_over_the_wire(openai_env: ProviderServer) -> None:
    openai_env.enqueue(openai_json(None, tool_calls=THREE_CALLS), openai_json("Done: README and .env updated."))
    agent = file_agent("openai:gpt-4o", output_type=[str, DeferredToolRequests])
    result = agent.run_sync("Delete `__init__.py`, write `Hello, world!` to `README.md`, and clear `.env`")
    requests = result.output
    assert isinstance(requests, DeferredToolRequests) and requests.calls == []
    assert [(call.tool_name, call.tool_call_id) for call in requests.approvals] == [
        ("delete_file", "delete_file"), ("update_file", "update_file_dotenv")]
    assert requests.approvals[1].args_as_dict() == {"path": ".env", "content": ""}
    assert requests.metadata == {"update_file_dotenv": {"reason": "protected"}}
    ran = result.all_messages()[-1]  # the call that needed nobody ran; its result is kept
    assert [part.tool_call_id for part in ran.parts] == ["update_file_readme"]

    results = DeferredToolResults()
    for call in requests.approvals:
        results.approvals[call.tool_call_id] = (True if call.tool_name == "update_file"
                                                else ToolDenied("Deleting files is not allowed"))
    final = agent.run_sync("Now create a backup of README.md", message_history=result.all_messages(),
                           deferred_tool_results=results)
    assert final.output == "Done: README and .env updated."
    resumed = final.new_messages()[0]
    assert [(part.part_kind, getattr(part, "outcome", None)) for part in resumed.parts] == [
        ("tool-return", "denied"), ("tool-return", "success"), ("user-prompt", None)]
    assert resumed.parts[0].content == "Deleting files is not allowed"
    assert resumed.parts[1].content == "File '.env' updated: ''"
    wire = openai_env.last_request.json["messages"]
    assert [(m["role"], m.get("tool_call_id")) for m in wire[-5:]] == [
        ("assistant", None), ("tool", "update_file_readme"), ("tool", "delete_file"), ("tool", "update_file_dotenv"),
        ("user", None)]  # every call answered before the next question, as the API requires


def test_approved_with_other_arguments_and_metadata_reaches_the_tool() -> None:
    seen: list[Any] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse([ToolCallPart("transfer", {"amount": 500}, "t1")])
        return ModelResponse([TextPart(str(messages[-1].parts[0].content))])

    agent = Agent(FunctionModel(model), output_type=[str, DeferredToolRequests])

    @agent.tool(requires_approval=True)
    def transfer(ctx: RunContext[None], amount: int) -> str:
        seen.append((ctx.tool_call_approved, ctx.tool_call_metadata))
        return f"Transferred {amount}"

    first = agent.run_sync("transfer 500")
    assert isinstance(first.output, DeferredToolRequests) and not seen
    results = first.output.build_results(approvals={"t1": ToolApproved(override_args={"amount": 100})},
                                         metadata={"t1": {"by": "ada"}})
    second = agent.run_sync(message_history=first.all_messages(), deferred_tool_results=results)
    assert second.output == "Transferred 100" and seen == [(True, {"by": "ada"})]
    assert [part.part_kind for part in second.new_messages()[0].parts] == ["tool-return"]  # no new prompt


def test_external_calls_get_their_results_later() -> None:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse([ToolCallPart("send_to_worker", {"task": "render"}, "w1"),
                                  ToolCallPart("send_to_worker", {"task": "crash"}, "w2")])
        return ModelResponse([TextPart(" | ".join(str(part.content) for part in messages[-1].parts))])

    agent = Agent(FunctionModel(model), output_type=[str, DeferredToolRequests])

    @agent.tool
    async def send_to_worker(ctx: RunContext[None], task: str) -> str:
        raise CallDeferred(metadata={"queued_as": ctx.tool_call_id})

    first = agent.run_sync("work")
    assert isinstance(first.output, DeferredToolRequests) and first.output.approvals == []
    assert [call.tool_call_id for call in first.output.calls] == ["w1", "w2"]
    assert first.output.metadata == {"w1": {"queued_as": "w1"}, "w2": {"queued_as": "w2"}}
    results = DeferredToolResults(calls={"w1": "rendered.png", "w2": ModelRetry("the worker crashed")})
    second = agent.run_sync(message_history=first.all_messages(), deferred_tool_results=results)
    assert second.output.startswith("rendered.png | the worker crashed")


def test_results_must_answer_exactly_the_waiting_calls() -> None:
    agent = file_agent(FunctionModel(lambda m, i: ModelResponse([ToolCallPart("delete_file", {"path": "x"}, "d1")])),
                       output_type=[str, DeferredToolRequests])
    first = agent.run_sync("delete x")
    history = first.all_messages()
    with pytest.raises(UserError, match=r"^deferred_tool_results has no decision for the tool call 'd1'"):
        agent.run_sync(message_history=history, deferred_tool_results=DeferredToolResults())
    with pytest.raises(UserError, match=r"^deferred_tool_results names 'zz', which is not a tool call waiting"):
        agent.run_sync(message_history=history, deferred_tool_results=DeferredToolResults(approvals={"d1": True,
                                                                                                     "zz": True}))
    with pytest.raises(UserError, match=r"^deferred_tool_results given, but no tool call waits in message_history"):
        agent.run_sync("x", deferred_tool_results=DeferredToolResults())
    assert isinstance(first.output, DeferredToolRequests)
    with pytest.raises(UserError, match=r"^build_results\(calls=\.\.\.\): 'd1' is not one of the calls requested"):
        first.output.build_results(calls={"d1": "x"})
    with pytest.raises(UserError, match=r"approvals\['d1'\] must be True, False, ToolApproved"):
        DeferredToolResults(approvals={"d1": "yes"})  # type: ignore[dict-item]


def test_without_a_way_to_wait_the_run_says_how_to_allow_it() -> None:
    agent = file_agent(TestModel(call_tools=["delete_file"]))
    with pytest.raises(UserError, match=r"^Tool 'delete_file' needs approval, but this run cannot wait for it: add "
                                        r"DeferredToolRequests to output_type, or a HandleDeferredToolCalls capability$"):
        agent.run_sync("delete")


async def test_a_handler_settles_calls_inline_and_the_run_goes_on() -> None:
    asked: list[DeferredToolRequests] = []

    async def handle_deferred(ctx: RunContext[None], requests: DeferredToolRequests) -> DeferredToolResults:
        asked.append(requests)
        approvals: dict[str, Any] = {call.tool_call_id: ToolDenied("Deleting files is not allowed")
                                     if call.tool_name == "delete_file" else True for call in requests.approvals}
        return requests.build_results(approvals=approvals)

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse([ToolCallPart(name, args, call_id) for call_id, name, args in THREE_CALLS])
        return ModelResponse([TextPart("; ".join(str(part.content) for part in messages[-1].parts))])

    agent = file_agent(FunctionModel(model), capabilities=[HandleDeferredToolCalls(handler=handle_deferred)])
    events = [event async for event in agent.run_stream_events("do it")]
    result = events[-1].result
    assert result.output == ("Deleting files is not allowed; File 'README.md' updated: 'Hello, world!'; "
                             "File '.env' updated: ''")
    assert [call.tool_call_id for call in asked[0].approvals] == ["delete_file", "update_file_dotenv"]
    calls = [event.part.tool_call_id for event in events if isinstance(event, FunctionToolCallEvent)]
    answered = [event.result.tool_call_id for event in events if isinstance(event, FunctionToolResultEvent)]
    assert calls == ["delete_file", "update_file_readme", "update_file_dotenv"]  # announced once each
    assert sorted(answered) == sorted(calls)
    denied = result.new_messages()[2].parts[0]
    assert isinstance(denied, ToolReturnPart) and denied.outcome == "denied"
    assert isinstance(result.new_messages()[0].parts[0], UserPromptPart)


def test_the_names_live_where_pydantic_ai_puts_them() -> None:
    import nbagent
    from nbagent.exceptions import ApprovalRequired as Approval, CallDeferred as Deferred, ToolFailed
    from nbagent.tools import DeferredToolRequests as Requests, DeferredToolResults as Results

    assert (Approval, Deferred, ToolFailed) == (nbagent.ApprovalRequired, nbagent.CallDeferred, nbagent.ToolFailed)
    assert (Requests, Results) == (DeferredToolRequests, DeferredToolResults)
    assert ToolDenied().message == "The tool call was denied." and ToolApproved().override_args is None
