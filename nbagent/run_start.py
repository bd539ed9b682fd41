"""A run's start: what run / run_sync / run_stream / run_stream_events / iter take besides the prompt
(`RunOptions`, as PydanticAI names them), each checked, and the `AgentRun` built from them and the agent.

Kept apart from agent.py, which says what an agent is (its defaults, tools, prompts) and how it is called:
this module is everything a call is checked against before anything is sent (retry budgets, run and
conversation ids, the prompt, the history), so each bad option fails here in one line.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from typing_extensions import TypedDict

from .cancel import CancellationToken, resume
from .capabilities import AbstractCapability
from .deferred import DeferredToolResults, check_results, pending_calls
from .errors import UserError
from .event_stream import EventStreamHandler
from .loop import AgentRun
from .messages import MediaContent, ModelMessage, ModelRequest, ModelResponse, RunUsage, UserContent, UserPromptPart
from .models import Model, infer_model
from .output import OutputSchema, OutputSpec
from .settings import merge_settings, validate_settings
from .tools import RunContext
from .usage import UsageLimits

if TYPE_CHECKING:
    from .agent import Agent


class RunOptions(TypedDict, total=False):
    """What run / run_sync / run_stream / run_stream_events / iter take besides the prompt, as PydanticAI
    names it."""

    message_history: Sequence[ModelMessage] | None
    model_settings: Mapping[str, Any] | Callable[[RunContext[Any]], Mapping[str, Any]] | None
    model: Model | str | None
    instructions: str | None
    deps: Any
    usage_limits: UsageLimits | None
    usage: RunUsage | None
    output_type: OutputSpec[Any] | None
    metadata: Mapping[str, Any] | Callable[[RunContext[Any]], Mapping[str, Any]] | None
    run_id: str | None
    conversation_id: str | None
    cancellation_token: CancellationToken | None
    event_stream_handler: EventStreamHandler | None
    deferred_tool_results: DeferredToolResults | None
    retries: int | Mapping[str, int] | None


def start_run(agent: Agent[Any, Any], prompt: str | Sequence[UserContent] | None, options: RunOptions) -> AgentRun:
    """The `AgentRun` of one call: each option checked (a one-line `UserError` naming what is wrong), the
    history resumed, the request built, and the agent's defaults, overrides and the call's merged."""
    unknown = set(options) - set(RunOptions.__annotations__)
    if unknown:
        raise UserError(f"Unknown run option {sorted(unknown)[0]!r}; the options are: "
                        + ", ".join(RunOptions.__annotations__))
    content = None if prompt is None else prompt_content(prompt)
    model = options.get("model")
    run_model = agent._model_override or (agent.model if model is None else infer_model(model))
    deps = agent._deps_override[0] if agent._deps_override is not None else options.get("deps")
    run_settings = options.get("model_settings")
    run_step_settings = [StepSettings(run_settings)] if callable(run_settings) else []
    base_settings = merge_settings(run_model.settings, agent._model_settings)
    run_static_settings = validate_settings(None if run_step_settings else run_settings)
    settings = merge_settings(base_settings, agent._capability_settings, run_static_settings)
    history = list(options.get("message_history") or [])
    for message in history:
        if not isinstance(message, (ModelRequest, ModelResponse)):
            raise UserError(
                f"message_history must hold ModelRequest/ModelResponse objects (e.g. result.new_messages()), "
                f"got {type(message).__name__}"
            )
    usage_limits = options.get("usage_limits")
    if usage_limits is not None and not isinstance(usage_limits, UsageLimits):
        raise UserError(f"usage_limits must be a UsageLimits(...), got {type(usage_limits).__name__}")
    usage = options.get("usage")
    if usage is not None and not isinstance(usage, RunUsage):
        raise UserError(f"usage must be a RunUsage (e.g. ctx.usage in a tool), got {type(usage).__name__}")
    run_instructions = options.get("instructions")
    if run_instructions is not None and not isinstance(run_instructions, str):
        raise UserError(f"instructions= of a run must be a str, got {type(run_instructions).__name__}")
    run_id, conversation_id = run_ids(history, options.get("run_id"), options.get("conversation_id"))
    deferred = options.get("deferred_tool_results")
    if deferred is not None:  # calls the history left waiting, settled by the run before its request
        check_results(deferred, pending_calls(history))
        parts: list[Any] = []
    else:
        history, parts = resume(history)
    if not history:
        parts += agent._prompts.system_parts()
    if content is not None:
        parts.append(UserPromptPart(content=content))
    request: ModelRequest | None = None
    if parts or not history or history[-1].kind == "response" or deferred is not None:
        if not parts and deferred is None:
            raise UserError("Give a prompt: the history passed ends with the model's answer, so there is "
                            "nothing to send")
        request = ModelRequest(parts=parts,
                               instructions=agent._prompts.join_instructions(run_instructions))
    run_retries = options.get("retries")
    tool_retries, output_retries = agent._retries_override or (
        (agent.retries, agent.output_retries) if run_retries is None else
        retry_budgets(run_retries, None, (agent.retries, agent.output_retries)))
    output_type = options.get("output_type")
    if output_type is None:
        output = agent._output
    elif isinstance(output_type, OutputSchema):  # built once by a row map for all its runs
        output = output_type
    else:
        output = OutputSchema(output_type, default_retries=output_retries)
    clash = set(output.tools) & set(agent._tools)
    if clash:
        raise UserError(f"Output tool name {sorted(clash)[0]!r} is also a function tool's; rename one of them")
    metadata = [source for source in (agent.metadata, options.get("metadata")) if source is not None]
    needs_setup = agent._prompts.has_functions or any(callable(source) for source in metadata)
    run = AgentRun(model=run_model, settings=settings, tools=agent._tools, deps=deps,
                   usage_limits=usage_limits or UsageLimits(), default_retries=tool_retries,
                   history=history, request=request, prompt=content, output=output,
                   output_validators=agent._output_validators, usage=usage,
                   capabilities=[*agent._step_settings, *agent.capabilities, *run_step_settings],
                   run_id=run_id, conversation_id=conversation_id, tool_timeout=agent.tool_timeout,
                   deferred_tool_results=deferred, validation_context=agent.validation_context,
                   setup=run_setup(agent, request, run_instructions) if needs_setup else None)
    run.metadata_sources = metadata
    run.limiter = agent.concurrency_limiter
    run.end_strategy = agent.end_strategy
    run.settings_layers = (base_settings, run_static_settings)
    run.finisher.max_retries = output_retries if output is agent._output else output.max_retries
    if not needs_setup:
        run.refresh_metadata()
    token = options.get("cancellation_token")
    if token is not None:
        if not isinstance(token, CancellationToken):
            raise UserError(f"cancellation_token must be a CancellationToken(), got {type(token).__name__}")
        token.attach(run)
    return run

def run_setup(agent: Agent[Any, Any], request: ModelRequest | None,
              run_instructions: str | None) -> Callable[[AgentRun], Any]:
    """What a run does when it starts, before its first request: the metadata and prompt functions evaluated."""
    async def setup(run: AgentRun) -> None:
        ctx = run.context()
        run.refresh_metadata()
        if request is not None:
            history_length = len(run.history)
            await agent._prompts.complete(ctx, request, run.messages, history_length, run_instructions)
    return setup


class StepSettings(AbstractCapability[Any]):
    """Settings given as a function of the run context (`model_settings=lambda ctx: ...`), asked before
    each request."""

    def __init__(self, function: Callable[[RunContext[Any]], Mapping[str, Any]]) -> None:
        self.function = function

    def get_model_settings(self) -> Callable[[RunContext[Any]], Mapping[str, Any]]:
        return self.function


def run_ids(history: list[ModelMessage], run_id: str | None, conversation_id: str | None) -> tuple[str, str]:
    """This run's id (new unless given) and its conversation's (the history's, unless given or "new")."""
    if run_id is not None:
        if not isinstance(run_id, str) or not run_id:
            raise UserError(f"run_id must be a non-empty str, got {run_id!r}")
        if any(message.run_id == run_id for message in history):
            raise UserError(f"run_id {run_id!r} is already in message_history; give each run its own id")
    if conversation_id is not None and (not isinstance(conversation_id, str) or not conversation_id):
        raise UserError(f"conversation_id must be a non-empty str (or 'new'), got {conversation_id!r}")
    if conversation_id is None:
        conversation_id = next((message.conversation_id for message in reversed(history)
                                if message.conversation_id), None)
    if conversation_id is None or conversation_id == "new":
        conversation_id = str(uuid.uuid4())
    return run_id or str(uuid.uuid4()), conversation_id


def retry_budgets(retries: Any, output_retries: int | None, defaults: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """`retries=n` (tools and output), or `retries={'tools': n, 'output': m}` (a key left out keeps its
    default); `output_retries=` (v1) wins."""
    def budget(value: Any, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UserError(f"Agent(retries=...): {name} must be a whole number >= 0, got {value!r}")
        return value

    if isinstance(retries, Mapping):
        unknown = set(retries) - {"tools", "output"}
        if unknown:
            raise UserError(f"Agent(retries=...): unknown key {sorted(unknown)[0]!r}; use 'tools' and 'output'")
        tools = budget(retries.get("tools", defaults[0]), "retries['tools']")
        output = budget(retries.get("output", defaults[1]), "retries['output']")
    else:
        tools = output = budget(retries, "retries")
    return tools, output if output_retries is None else budget(output_retries, "output_retries")


def prompt_content(prompt: Any) -> str | list[UserContent]:
    """A prompt is text, or a sequence of text and images (`BinaryContent`, `ImageUrl`)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)) and all(isinstance(piece, (str, *MediaContent)) for piece in prompt):
        return list(prompt)
    raise UserError(
        f"The prompt must be a str or a list of str / BinaryContent / ImageUrl, got {type(prompt).__name__}"
    )
