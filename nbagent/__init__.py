"""nbagent: a kernel-resident LLM agent for Jupyter, and the small agent API underneath.

`from nbagent import Agent` gives the PydanticAI-style API (run, run_sync, run_stream);
`%load_ext nbagent` adds the `%%ask` and `%agent_settings` magics. Names are imported lazily so
loading the extension stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Agent": "nbagent.agent",
    "ModelSettings": "nbagent.settings",
    "RunResult": "nbagent.result",
    "StreamedRunResult": "nbagent.result",
    "AgentRunResult": "nbagent.result",
    "RunContext": "nbagent.tools",
    "Tool": "nbagent.tools",
    "ToolDefinition": "nbagent.tools",
    "UsageLimits": "nbagent.usage",
    "CostNotFoundWarning": "nbagent.usage",
    "ConcurrencyLimit": "nbagent.concurrency",
    "ConcurrencyLimiter": "nbagent.concurrency",
    "ConcurrencyLimitExceeded": "nbagent.concurrency",
    "ConcurrencyLimitedModel": "nbagent.concurrency",
    "RunUsage": "nbagent.messages",
    "RequestUsage": "nbagent.messages",
    "CancellationToken": "nbagent.cancel",
    "RunCancelled": "nbagent.errors",
    "AgentRunError": "nbagent.exceptions",
    "AgentRunEvents": "nbagent.event_stream",
    "End": "nbagent.nodes",
    "FinalResult": "nbagent.nodes",
    "UserPromptNode": "nbagent.nodes",
    "ModelRequestNode": "nbagent.nodes",
    "CallToolsNode": "nbagent.nodes",
    "PartEndEvent": "nbagent.events",
    "AgentStreamEvent": "nbagent.events",
    "ModelRequestContext": "nbagent.capabilities",
    "ToolOutput": "nbagent.output",
    "NativeOutput": "nbagent.output",
    "PromptedOutput": "nbagent.output",
    "ModelMessage": "nbagent.messages",
    "ModelRequest": "nbagent.messages",
    "ModelResponse": "nbagent.messages",
    "SystemPromptPart": "nbagent.messages",
    "UserPromptPart": "nbagent.messages",
    "BinaryContent": "nbagent.messages",
    "ImageUrl": "nbagent.messages",
    "BinaryImage": "nbagent.media",
    "TextOutput": "nbagent.output",
    "StructuredDict": "nbagent.output",
    "TextPart": "nbagent.messages",
    "ThinkingPart": "nbagent.messages",
    "ToolCallPart": "nbagent.messages",
    "ToolReturnPart": "nbagent.messages",
    "RetryPromptPart": "nbagent.messages",
    "Usage": "nbagent.messages",
    "ModelMessagesTypeAdapter": "nbagent.messages",
    "messages_from_json": "nbagent.messages",
    "messages_to_json": "nbagent.messages",
    "PartStartEvent": "nbagent.events",
    "PartDeltaEvent": "nbagent.events",
    "TextPartDelta": "nbagent.events",
    "ToolCallPartDelta": "nbagent.events",
    "ThinkingPartDelta": "nbagent.events",
    "FinalResultEvent": "nbagent.events",
    "FunctionToolCallEvent": "nbagent.events",
    "FunctionToolResultEvent": "nbagent.events",
    "AgentRunResultEvent": "nbagent.events",
    "Model": "nbagent.models.base",
    "ModelRequestParameters": "nbagent.models.base",
    "FunctionModel": "nbagent.models.function",
    "AgentInfo": "nbagent.models.function",
    "DeltaToolCall": "nbagent.models.function",
    "DeltaToolCalls": "nbagent.models.function",
    "TestModel": "nbagent.models.test",
    "OfflineModel": "nbagent.models.offline",
    "capture_run_messages": "nbagent.capture",
    "OpenAIModel": "nbagent.models.openai",
    "OpenAIChatModel": "nbagent.models.openai",
    "AnthropicModel": "nbagent.models.anthropic",
    "NbAgentError": "nbagent.errors",
    "UserError": "nbagent.errors",
    "ModelHTTPError": "nbagent.errors",
    "ModelConnectionError": "nbagent.errors",
    "UnexpectedModelBehavior": "nbagent.errors",
    "UsageLimitExceeded": "nbagent.errors",
    "ToolExecutionError": "nbagent.errors",
    "ModelRetry": "nbagent.errors",
    "ToolFailed": "nbagent.errors",
    "ApprovalRequired": "nbagent.errors",
    "CallDeferred": "nbagent.errors",
    "ToolReturn": "nbagent.messages",
    "DeferredToolRequests": "nbagent.deferred",
    "DeferredToolResults": "nbagent.deferred",
    "ToolApproved": "nbagent.deferred",
    "ToolDenied": "nbagent.deferred",
    "ToolOrOutput": "nbagent.settings",
    "tool": "nbagent.notebook.kernel.kernel_tools",
    "models": "nbagent.models",
    "batch_jobs": "nbagent.rowmap.batch",
    "BatchJob": "nbagent.rowmap.batch",
}

__all__ = sorted(_LAZY) + ["load_ipython_extension", "unload_ipython_extension"]

if TYPE_CHECKING:
    from .agent import Agent
    from .capabilities import ModelRequestContext
    from .deferred import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied
    from .errors import (ApprovalRequired, CallDeferred, ModelConnectionError, ModelHTTPError, ModelRetry, NbAgentError,
                         RunCancelled, ToolExecutionError, ToolFailed, UnexpectedModelBehavior, UsageLimitExceeded,
                         UserError)
    from .cancel import CancellationToken
    from .concurrency import ConcurrencyLimit, ConcurrencyLimitedModel, ConcurrencyLimiter, ConcurrencyLimitExceeded
    from .event_stream import AgentRunEvents
    from .exceptions import AgentRunError
    from .messages import RequestUsage, RunUsage, ToolReturn
    from .nodes import CallToolsNode, End, FinalResult, ModelRequestNode, UserPromptNode
    from .settings import ToolOrOutput
    from .events import (AgentRunResultEvent, AgentStreamEvent, PartEndEvent, FinalResultEvent, FunctionToolCallEvent, FunctionToolResultEvent,
                         PartDeltaEvent, PartStartEvent, TextPartDelta, ThinkingPartDelta, ToolCallPartDelta)
    from .messages import (BinaryContent, ImageUrl, ModelMessage, ModelMessagesTypeAdapter, ModelRequest, ModelResponse, RetryPromptPart,
                           SystemPromptPart, TextPart, ThinkingPart, ToolCallPart, ToolReturnPart, Usage, UserPromptPart,
                           messages_from_json, messages_to_json)
    from .models.anthropic import AnthropicModel
    from .models.base import Model, ModelRequestParameters
    from .models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
    from .models.openai import OpenAIChatModel, OpenAIModel
    from .models.offline import OfflineModel
    from .models.test import TestModel
    from .capture import capture_run_messages
    from .notebook.kernel.kernel_tools import tool
    from .rowmap.batch import BatchJob, batch_jobs
    from .result import AgentRunResult, RunResult, StreamedRunResult
    from .settings import ModelSettings
    from .tools import RunContext, Tool, ToolDefinition
    from .media import BinaryImage
    from .output import NativeOutput, PromptedOutput, StructuredDict, TextOutput, ToolOutput
    from .usage import CostNotFoundWarning, UsageLimits


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbagent' has no attribute {name!r}")
    value = import_module(module) if module == f"nbagent.{name}" else getattr(import_module(module), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext nbagent`: register the magics (the model stack loads on first use)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .notebook.magics import unload_ipython_extension as unload

    unload(ipython)
