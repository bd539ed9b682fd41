"""Typed conversation messages, shaped like PydanticAI's, with a JSON round trip.

A conversation is a list of `ModelRequest` (what we sent: system and user prompts, tool returns,
retry prompts) and `ModelResponse` (what the model answered: text and tool calls, model name, usage).
Parts and messages carry a `part_kind` / `kind` discriminator so a saved history loads back into the
exact same objects, and each wire protocol maps them to its own shape (models/openai.py, anthropic.py).

Parts live in parts.py and token counts in token_usage.py; every name is exported here too, the module
PydanticAI's users import them from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Sequence, Union

from pydantic import Field, TypeAdapter

from .media import BinaryContent, ImageUrl, MediaContent, UserContent  # noqa: F401 - exported here too
from .parts import (RequestPart, ResponsePart, RetryPromptPart, SystemPromptPart, TextPart,  # noqa: F401 - exported
                    ThinkingPart, ToolCallPart, ToolContent, ToolReturn, ToolReturnPart, UserPromptPart, _now,
                    new_tool_call_id, part_text, prompt_text)
from .reprs import Positional
from .token_usage import RequestUsage, RunUsage, Usage, add_costs  # noqa: F401 - exported here too


class ModelRequest(Positional):
    """What was sent to the model in one step. `instructions` are re-sent with every request (each request
    of a run carries them). `timestamp` is when the run made it (None for one built by hand); `metadata` is
    for the application, never sent. `state` is "interrupted" for the tool returns of a run cancelled while
    its tools ran (those that had returned)."""

    positional: ClassVar[tuple[str, ...]] = ("parts",)

    parts: list[RequestPart]
    timestamp: datetime | None = None
    instructions: str | None = None
    run_id: str | None = None
    conversation_id: str | None = None
    metadata: dict[str, Any] | None = None
    state: Literal["complete", "interrupted"] = "complete"
    kind: Literal["request"] = "request"


class ModelResponse(Positional):
    """What the model answered in one step: text, tool calls, or both.

    `usage` is this request's tokens; `model_name` is the model as the provider named it, `model_id` the
    model as the agent was given it (`provider:name`, set by the run), `provider_name` the provider that
    answered. `finish_reason` is why it stopped in PydanticAI's words ("stop", "length", "tool_call",
    "content_filter", "error"; None when unknown), the provider's own in `provider_details`. `metadata` is
    for the application, never sent. `state` is "interrupted" for a response cut
    short by a cancel (its parts are what had arrived), "incomplete" for a snapshot of one still
    streaming (`stream_response`)."""

    positional: ClassVar[tuple[str, ...]] = ("parts",)

    parts: list[ResponsePart]
    usage: RequestUsage = Field(default_factory=RequestUsage)
    model_name: str | None = None
    model_id: str | None = None
    timestamp: datetime = Field(default_factory=_now)
    provider_name: str | None = None
    provider_details: dict[str, Any] | None = None
    finish_reason: str | None = None
    run_id: str | None = None
    conversation_id: str | None = None
    metadata: dict[str, Any] | None = None
    state: Literal["complete", "interrupted", "incomplete"] = "complete"
    kind: Literal["response"] = "response"

    @property
    def text(self) -> str:
        return "".join([part.content for part in self.parts if isinstance(part, TextPart)])

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [part for part in self.parts if isinstance(part, ToolCallPart)]

    @property
    def thinking(self) -> str:
        """The reasoning the model showed before answering ("" if none)."""
        return "".join([part.content for part in self.parts if isinstance(part, ThinkingPart)])


ModelMessage = Annotated[Union[ModelRequest, ModelResponse], Field(discriminator="kind")]
ModelMessagesTypeAdapter: TypeAdapter[list[ModelMessage]] = TypeAdapter(list[ModelMessage])


def messages_to_json(messages: Sequence[ModelMessage], *, indent: int | None = None) -> bytes:
    """Serialise a conversation to JSON bytes (the format `%agent_history --save` writes)."""
    return ModelMessagesTypeAdapter.dump_json(list(messages), indent=indent)


def messages_from_json(data: str | bytes) -> list[ModelMessage]:
    """Load a conversation saved by `messages_to_json` / `all_messages_json()`."""
    return ModelMessagesTypeAdapter.validate_json(data)


def system_text(messages: Sequence[ModelMessage]) -> str | None:
    """The system text every wire protocol sends first: the system prompt parts, then the latest
    request's `instructions` (they apply to the whole conversation as the newest request states them)."""
    texts: list[str] = []
    instructions: str | None = None
    for message in messages:
        if message.kind == "request":
            if message.instructions is not None:
                instructions = message.instructions
            for part in message.parts:
                if part.part_kind == "system-prompt":
                    texts.append(part.content)
    if instructions:
        texts.append(instructions)
    return "\n\n".join(texts) or None


def join_system(*texts: str | None) -> str | None:
    """System texts joined by a blank line, the empty ones left out."""
    return "\n\n".join(text for text in texts if text) or None


def last_user_prompt(messages: Sequence[ModelMessage]) -> str:
    """The newest user question in a conversation ("" if there is none)."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart):
                    return prompt_text(part.content)
    return ""
