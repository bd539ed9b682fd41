"""Typed conversation messages, shaped like PydanticAI's, with a JSON round trip.

A conversation is a list of `ModelRequest` (what we sent: system and user prompts, tool returns,
retry prompts) and `ModelResponse` (what the model answered: text and tool calls, model name, usage).
Parts and messages carry a `part_kind` / `kind` discriminator so a saved history loads back into the
exact same objects, and each wire protocol maps them to its own shape (models/openai.py, anthropic.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator
from pydantic_core import to_json

from .media import BinaryContent, ImageUrl, MediaContent, UserContent, describe_media
from .reprs import Positional


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_tool_call_id() -> str:
    """An id for a tool call whose provider sent none (some OpenAI-compatible servers send "")."""
    return f"call_{uuid.uuid4().hex[:24]}"


class RunUsage(BaseModel):
    """Token counts as the provider reported them, summed over a run; `requests` counts HTTP requests
    made, `tool_calls` the tools run. (`Usage` is its v1 name.)

    `input_tokens` counts every input token, those read from or written to the provider's prompt cache
    included (PydanticAI's convention); `cache_read_tokens` / `cache_write_tokens` say how many of them
    were (they are priced differently).

    `result.usage` is one; calling it (`result.usage()`, the v1 spelling) gives it back. A run given
    `usage=ctx.usage` adds its own counts to that object, so a delegate agent's usage counts in its
    caller's run.

    `cost` (USD) is the run's price so far, computed when the run has a `UsageLimits(cost_limit=...)`
    (pricing each response takes half a millisecond, so runs without one skip it); None when unknown."""

    model_config = ConfigDict(extra="forbid")

    cost: Optional[Decimal] = Field(default=None, exclude_if=lambda cost: cost is None)
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    tool_calls: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cache_hit_ratio(self) -> float:
        """The share of input tokens read from the prompt cache (0.0 with no input)."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0

    def __add__(self, other: "RunUsage") -> "RunUsage":
        return type(self)(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            tool_calls=self.tool_calls + other.tool_calls,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost=add_costs(self.cost, other.cost),
        )

    def incr(self, other: "RunUsage | RequestUsage") -> None:
        """Add `other`'s counts to this object in place (the run's usage, shared with delegate runs)."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        if isinstance(other, RunUsage):
            self.requests += other.requests
            self.tool_calls += other.tool_calls
            self.cost = add_costs(self.cost, other.cost)

    def __call__(self) -> "RunUsage":
        """`result.usage()`: the v1 spelling, when `usage` was a method."""
        return self

    def __repr_args__(self) -> Any:
        return [(name, value) for name, value in super().__repr_args__() if value]

    def __str__(self) -> str:
        return repr(self)


Usage = RunUsage


def add_costs(first: Decimal | None, second: Decimal | None) -> Decimal | None:
    """Two costs summed; None only when neither is known."""
    if first is None or second is None:
        return second if first is None else first
    return first + second


_RUN_COUNTS = ("requests", "tool_calls", "cost")


class RequestUsage(BaseModel):
    """The tokens of one request and its response (`ModelResponse.usage`); the run's counts of requests
    and tool calls are the run's `RunUsage`.

    A `RunUsage`, or a response's usage saved before responses carried a `RequestUsage` (with `requests`
    and `tool_calls`), is taken too: its token counts are kept, the run's counts (and cost) dropped."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @model_validator(mode="before")
    @classmethod
    def _tokens_of_run_usage(cls, data: Any) -> Any:
        if isinstance(data, RunUsage):
            data = data.__dict__
        fields = cls.model_fields
        if isinstance(data, dict) and not data.keys() <= fields.keys():
            return {name: value for name, value in data.items() if name in fields or name not in _RUN_COUNTS}
        return data

    @property
    def requests(self) -> int:
        """Always 1: the usage of one request (PydanticAI's spelling, and what prices are per)."""
        return 1

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __repr_args__(self) -> Any:
        return [(name, value) for name, value in super().__repr_args__() if value]

    def __str__(self) -> str:
        return repr(self)


class SystemPromptPart(Positional):
    """A system prompt; `dynamic_ref` names the `@agent.system_prompt(dynamic=True)` function that
    wrote it, re-evaluated when the history is passed back."""

    content: str
    timestamp: datetime = Field(default_factory=_now)
    dynamic_ref: str | None = None
    part_kind: Literal["system-prompt"] = "system-prompt"


def _media_kind(value: Any) -> str:
    """Only a value that says it is media (`kind`) loads back as media; any other dict stays a dict."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in ("binary", "image-url") and isinstance(value, (dict, *MediaContent)) else "other"


def _tool_content_kind(value: Any) -> str:
    """A list holding media (a result with its images) loads back item by item; other values as `_media_kind`."""
    if isinstance(value, list) and any(_media_kind(item) != "other" for item in value):
        return "with-media"
    return _media_kind(value)


_ToolContentItem = Annotated[
    Union[Annotated[BinaryContent, Tag("binary")], Annotated[ImageUrl, Tag("image-url")], Annotated[Any, Tag("other")]],
    Discriminator(_media_kind),
]
ToolContent = Annotated[
    Union[Annotated[BinaryContent, Tag("binary")], Annotated[ImageUrl, Tag("image-url")],
          Annotated[list[_ToolContentItem], Tag("with-media")], Annotated[Any, Tag("other")]],
    Discriminator(_tool_content_kind),
]


class UserPromptPart(Positional):
    """The user's question: text, or a sequence of text and images."""

    content: Union[str, list[UserContent]]
    timestamp: datetime = Field(default_factory=_now)
    part_kind: Literal["user-prompt"] = "user-prompt"


class ToolReturnPart(Positional):
    """What a tool returned, sent back to the model as the answer to its call (an image is sent as one)."""

    positional: ClassVar[tuple[str, ...]] = ("tool_name", "content", "tool_call_id")

    tool_name: str
    content: ToolContent
    tool_call_id: str = Field(default_factory=new_tool_call_id)
    metadata: Any = None  # for the application (`ToolReturn(metadata=...)`), never sent to the model
    timestamp: datetime = Field(default_factory=_now)
    outcome: Literal["success", "failed", "denied"] = "success"
    part_kind: Literal["tool-return"] = "tool-return"

    @property
    def files(self) -> list[BinaryContent | ImageUrl]:
        """The images the tool returned: its content when that is one, or those in the list it returned
        (e.g. `[{...}, BinaryContent(...)]`). Each protocol sends them as images, not as text."""
        if isinstance(self.content, MediaContent):
            return [self.content]
        if isinstance(self.content, list):
            return [item for item in self.content if isinstance(item, MediaContent)]
        return []

    def model_response_str(self) -> str:
        """The text the model sees: a str as is, an image as a note (the image goes alongside), anything
        else as JSON (pydantic serialises models, dates, ...), a list's images left out and named at the
        end; a failed call as `{"error": ...}`."""
        if self.outcome == "failed":
            return to_json({"error": self.content}, fallback=repr).decode()
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, MediaContent):
            return f"The result is the {describe_media(self.content)} that follows."
        files = self.files
        if not files:
            return to_json(self.content, fallback=repr).decode()
        data = [item for item in self.content if not isinstance(item, MediaContent)]
        value = data[0] if len(data) == 1 else data
        text = value if isinstance(value, str) else to_json(value, fallback=repr).decode() if data else ""
        named = ", ".join(describe_media(file) for file in files)
        return f"{text}\n\nWith the {len(files)} image(s) that follow: {named}.".lstrip()


@dataclass
class ToolReturn:
    """What a tool may return to say more than its value: `return_value` is the tool's result,
    `content` is sent to the model after the results as a user message (text, images), and `metadata`
    stays in the history for the application, unseen by the model."""

    return_value: Any
    content: Union[str, Sequence[UserContent], None] = None
    metadata: Any = None


class RetryPromptPart(Positional):
    """Asks the model to try again: after invalid tool arguments, an unknown tool or a `ModelRetry`.

    `content` is either the reason as text, or pydantic's error list (rendered as JSON for the model).
    Without a `tool_name` it answers plain text (e.g. an output that failed validation).
    """

    content: Union[list[dict[str, Any]], str]
    tool_name: str | None = None
    tool_call_id: str = Field(default_factory=new_tool_call_id)
    timestamp: datetime = Field(default_factory=_now)
    part_kind: Literal["retry-prompt"] = "retry-prompt"

    def model_response(self) -> str:
        if isinstance(self.content, str):
            description = self.content
        else:
            count = len(self.content)
            errors = json.dumps(self.content, indent=2, default=repr)
            description = f"{count} validation error{'s' if count != 1 else ''}:\n```json\n{errors}\n```"
        return f"{description}\n\nFix the errors and try again."


class TextPart(Positional):
    content: str
    part_kind: Literal["text"] = "text"


class ThinkingPart(Positional):
    """The model's reasoning before its answer (Anthropic thinking, OpenAI-compatible `reasoning`).

    Never part of the answer's text. `signature` is Anthropic's proof the thinking is its own, needed
    to send it back in a tool loop; a redacted block keeps its encrypted data there, with
    `id="redacted_thinking"` and no content. `provider_name` says which protocol may take it back.
    """

    content: str
    id: str | None = None
    signature: str | None = None
    provider_name: str | None = None
    part_kind: Literal["thinking"] = "thinking"

    @property
    def redacted(self) -> bool:
        return self.id == "redacted_thinking"


class ToolCallPart(Positional):
    """The model asks for a tool to be run. `args` is kept as the model sent it: a JSON string, or the very
    dict it was given."""

    positional: ClassVar[tuple[str, ...]] = ("tool_name", "args", "tool_call_id")

    tool_name: str
    args: Union[str, dict[str, Any], None] = None
    tool_call_id: str = Field(default_factory=new_tool_call_id)
    part_kind: Literal["tool-call"] = "tool-call"

    def __init__(self, /, *args: Any, **data: Any) -> None:
        super().__init__(*args, **data)
        given = args[1] if len(args) > 1 else data.get("args")
        if type(given) is dict:
            self.__dict__["args"] = given  # validation copied it; the caller's dict compares and mutates as theirs

    def args_as_dict(self) -> dict[str, Any]:
        """The arguments as a dict (empty when none); raises ValueError if the model sent invalid JSON."""
        if not self.args:
            return {}
        if isinstance(self.args, dict):
            return self.args
        value = json.loads(self.args)
        if not isinstance(value, dict):
            raise ValueError(f"tool call arguments must be a JSON object, got {self.args[:80]!r}")
        return value

    def args_as_json_str(self) -> str:
        """The arguments as a JSON string, exactly as received when the model sent a string."""
        if not self.args:
            return "{}"
        if isinstance(self.args, str):
            return self.args
        return json.dumps(self.args, ensure_ascii=False, separators=(",", ":"))


RequestPart = Annotated[
    Union[SystemPromptPart, UserPromptPart, ToolReturnPart, RetryPromptPart], Field(discriminator="part_kind")
]
ResponsePart = Annotated[Union[TextPart, ToolCallPart, ThinkingPart], Field(discriminator="part_kind")]


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


def prompt_text(content: str | Sequence[UserContent]) -> str:
    """A user prompt as text: images named in brackets."""
    if isinstance(content, str):
        return content
    return " ".join(piece if isinstance(piece, str) else f"[{describe_media(piece)}]" for piece in content)


def part_text(part: RequestPart | ResponsePart) -> str:
    """A part as the model reads it (for word counts of the offline models and for summaries)."""
    if isinstance(part, UserPromptPart):
        return prompt_text(part.content)
    if isinstance(part, (SystemPromptPart, TextPart, ThinkingPart)):
        return part.content
    if isinstance(part, ToolReturnPart):
        return part.model_response_str()
    if isinstance(part, RetryPromptPart):
        return part.model_response()
    return f"{part.tool_name}({part.args_as_json_str()})"


def last_user_prompt(messages: Sequence[ModelMessage]) -> str:
    """The newest user question in a conversation ("" if there is none)."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart):
                    return prompt_text(part.content)
    return ""
