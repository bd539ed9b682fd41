"""The parts of a conversation's messages, shaped like PydanticAI's: what a request carries (system and
user prompts, tool returns, retry prompts) and what a response carries (text, thinking, tool calls).

Each part has a `part_kind` discriminator so a saved history loads back into the exact same objects; a
tool's content keeps its images (`BinaryContent`, `ImageUrl`) through that round trip. The messages
holding them, and the JSON of a whole conversation, are messages.py's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal, Sequence, Union

from pydantic import Discriminator, Field, Tag
from pydantic_core import to_json

from .media import BinaryContent, ImageUrl, MediaContent, UserContent, describe_media
from .reprs import Positional


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_tool_call_id() -> str:
    """An id for a tool call whose provider sent none (some OpenAI-compatible servers send "")."""
    return f"call_{uuid.uuid4().hex[:24]}"


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
