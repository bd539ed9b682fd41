"""Typed conversation messages, shaped like PydanticAI's, with a JSON round trip.

A conversation is a list of `ModelRequest` (what we sent: system and user parts) and `ModelResponse`
(what the model answered: text parts, model name, usage). Parts and messages carry a `part_kind` /
`kind` discriminator so a saved history loads back into the exact same objects.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Usage(BaseModel):
    """Token counts as the provider reported them; `requests` counts HTTP requests made."""

    model_config = ConfigDict(extra="forbid")

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class SystemPromptPart(BaseModel):
    content: str
    timestamp: datetime = Field(default_factory=_now)
    part_kind: Literal["system-prompt"] = "system-prompt"


class UserPromptPart(BaseModel):
    content: str
    timestamp: datetime = Field(default_factory=_now)
    part_kind: Literal["user-prompt"] = "user-prompt"


class TextPart(BaseModel):
    content: str
    part_kind: Literal["text"] = "text"


RequestPart = Annotated[Union[SystemPromptPart, UserPromptPart], Field(discriminator="part_kind")]


class ModelRequest(BaseModel):
    """What was sent to the model in one turn. `instructions` are re-sent with every request."""

    parts: list[RequestPart]
    instructions: str | None = None
    kind: Literal["request"] = "request"


class ModelResponse(BaseModel):
    """What the model answered in one turn."""

    parts: list[TextPart]
    model_name: str | None = None
    timestamp: datetime = Field(default_factory=_now)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    kind: Literal["response"] = "response"

    @property
    def text(self) -> str:
        return "".join([part.content for part in self.parts])  # a list, not a generator: join sizes it once


ModelMessage = Annotated[Union[ModelRequest, ModelResponse], Field(discriminator="kind")]
ModelMessagesTypeAdapter: TypeAdapter[list[ModelMessage]] = TypeAdapter(list[ModelMessage])


def messages_to_json(messages: Sequence[ModelMessage], *, indent: int | None = None) -> bytes:
    """Serialise a conversation to JSON bytes (the format `%agent_history --save` writes)."""
    return ModelMessagesTypeAdapter.dump_json(list(messages), indent=indent)


def messages_from_json(data: str | bytes) -> list[ModelMessage]:
    """Load a conversation saved by `messages_to_json` / `all_messages_json()`."""
    return ModelMessagesTypeAdapter.validate_json(data)


def system_and_turns(messages: Sequence[ModelMessage]) -> tuple[str | None, list[tuple[str, str]]]:
    """Flatten a history into (system text, [(role, text), ...]) — the shape every wire protocol wants.

    System prompt parts and the latest request's `instructions` are joined into one system text, so
    instructions apply to the whole conversation as the newest request states them.
    """
    system_texts: list[str] = []
    turns: list[tuple[str, str]] = []
    instructions: str | None = None
    for message in messages:
        if isinstance(message, ModelRequest):
            if message.instructions is not None:
                instructions = message.instructions
            for part in message.parts:
                if isinstance(part, SystemPromptPart):
                    system_texts.append(part.content)
                else:
                    turns.append(("user", part.content))
        else:
            turns.append(("assistant", message.text))
    if instructions:
        system_texts.append(instructions)
    return ("\n\n".join(system_texts) or None), turns
