"""`TestModel`, as PydanticAI's: a model for unit tests of code built on nbagent, no network, no key.

The first request calls every function tool (or those named in `call_tools`) once, with arguments
made up from each tool's JSON schema; a tool asked to retry is called again. Then it answers: with
`custom_output_text`, or for text output the JSON of every tool's return (`{"tool": result}`), or
`success (no tool calls)` when none ran; for structured output it calls the output tool with
`custom_output_args`, or with arguments made up from the output type's schema. As PydanticAI's it has
no native structured output (`NativeOutput` is a UserError) and answers prompted output with its
text (give the JSON as `custom_output_text`). The parameters of the last request are kept in
`last_model_request_parameters`, for tests to look at.

The offline notebook model (`offline` by name, offline.py) is a different, friendlier model; both
stream word by word through `ScriptedStream` below. This one streams as PydanticAI's does, which tests
and docs print: its text part starts empty and grows a word at a time, each word with the space after
it (`'success '`, `'(no '`, ...); a tool call starts whole, its arguments the dict.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, AsyncGenerator, Callable, Literal, Sequence

from ..errors import UserError
from ..messages import (ModelMessage, ModelRequest, ModelResponse, RequestUsage, RetryPromptPart, SystemPromptPart,
                        TextPart, ThinkingPart, ToolCallPart, ToolReturnPart, UserPromptPart, part_text)
from ..settings import ModelSettings
from ..tools import ToolDefinition
from .base import LocalModel, ModelRequestParameters, StreamedResponse, StreamItem

_WORD = re.compile(r"\s*\S+|\s+")  # one word per piece, spaces kept: "".join(pieces) == text
NO_TOOL_CALLS = "success (no tool calls)"


class TestModel(LocalModel):
    """Calls the tools, then gives an output that fits the output type; see the module docstring."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, call_tools: Literal["all"] | Sequence[str] = "all", custom_output_text: str | None = None,
                 custom_output_args: Any = None, seed: int = 0, model_name: str = "test",
                 settings: ModelSettings | None = None) -> None:
        if custom_output_text is not None and custom_output_args is not None:
            raise UserError("TestModel: give custom_output_text (a text answer) or custom_output_args "
                            "(the output tool's arguments), not both")
        if call_tools != "all" and (isinstance(call_tools, str) or not all(isinstance(n, str) for n in call_tools)):
            raise UserError(f"TestModel(call_tools=...) takes 'all' or a list of tool names, got {call_tools!r}")
        super().__init__(model_name, settings=settings)
        self.call_tools = call_tools
        self.custom_output_text = custom_output_text
        self.custom_output_args = custom_output_args
        self.seed = seed
        self.last_model_request_parameters: ModelRequestParameters | None = None
        self._system = "test"

    @property
    def system(self) -> str:  # type: ignore[override]
        """"test"; a test may set `_system` to play another provider (as PydanticAI's docs do)."""
        return self._system

    @property
    def label(self) -> str:
        return self.model_name

    def script(self, messages: Sequence[ModelMessage], params: ModelRequestParameters) -> tuple[str, list[ToolCallPart]]:
        """This step's text and tool calls."""
        self.last_model_request_parameters = params
        tools = {tool.name: tool for tool in params.function_tools}
        if self.call_tools != "all":
            unknown = [name for name in self.call_tools if name not in tools]
            if unknown:
                raise UserError(f"TestModel(call_tools=...) names {unknown[0]!r}, which is not a tool of this run; "
                                f"its tools: {', '.join(tools) or 'none'}")
        chosen = [tool for tool in tools.values() if self.call_tools == "all" or tool.name in self.call_tools]
        if chosen and not any(isinstance(message, ModelResponse) for message in messages):
            return "", [_call(tool.name, sample_arguments(tool)) for tool in chosen]
        retried = {part.tool_name for part in latest_parts(messages, RetryPromptPart) if part.tool_name}
        if retried:
            calls = [ToolCallPart(tool.name, sample_arguments(tool)) for tool in chosen if tool.name in retried]
            calls += [_call(tool.name, self._output_args(tool)) for tool in params.output_tools if tool.name in retried]
            if calls:
                return "", calls
        return self._answer(messages, params)

    def _answer(self, messages: Sequence[ModelMessage], params: ModelRequestParameters) -> tuple[str, list[ToolCallPart]]:
        if params.output_mode == "native":
            raise UserError("Native structured output is not supported by this model (TestModel, as PydanticAI's); "
                            "use PromptedOutput with custom_output_text, or ToolOutput")
        if params.output_mode == "prompted" and self.custom_output_args is not None:
            raise UserError("TestModel(custom_output_args=...) fills an output tool; prompted output is read from "
                            "the text: give the JSON as custom_output_text")
        if self.custom_output_text is not None:
            if not params.allow_text_output:
                raise UserError("TestModel(custom_output_text=...) but this run's output is structured; "
                                "use custom_output_args")
            return self.custom_output_text, []
        if (self.custom_output_args is not None or not params.allow_text_output) and params.output_tools:
            tool = params.output_tools[self.seed % len(params.output_tools)]
            return "", [_call(tool.name, self._output_args(tool))]
        if self.custom_output_args is not None:
            raise UserError("TestModel(custom_output_args=...) needs a structured output_type; "
                            "for a text answer use custom_output_text")
        returns = {part.tool_name: part.content for message in messages if isinstance(message, ModelRequest)
                   for part in message.parts if isinstance(part, ToolReturnPart)}
        if returns:
            from pydantic_core import to_json

            return to_json(returns, fallback=str).decode(), []
        return NO_TOOL_CALLS, []

    def _output_args(self, tool: ToolDefinition) -> Any:
        if self.custom_output_args is None:
            return sample_arguments(tool)
        key = tool.outer_typed_dict_key
        return {key: self.custom_output_args} if key else self.custom_output_args

    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                params: ModelRequestParameters) -> StreamedResponse:
        text, calls = self.script(messages, params)
        return ScriptedStream(self.model_name, messages, settings, text, calls, estimate=True,
                              pieces=pydantic_ai_pieces)


def pydantic_ai_pieces(text: str) -> list[str]:
    """The text as PydanticAI's TestModel streams it: an empty start, then the text cut after every space
    (a piece may be a lone space, or empty at the end); a text without a space comes in two halves."""
    if " " not in text:
        halves = [text[:len(text) // 2], text[len(text) // 2:]] if len(text) > 2 else [text]
        return ["", *halves]
    *words, last = text.split(" ")
    return ["", *(word + " " for word in words), last]


def offline_pieces(text: str) -> list[str]:
    """The text as the offline model streams it: a word per piece, with the spaces before it."""
    return _WORD.findall(text)


def _call(name: str, args: Any) -> ToolCallPart:
    """A call with the id PydanticAI's TestModel gives, so tests comparing messages see the same ids."""
    return ToolCallPart(name, args, tool_call_id=f"pyd_ai_tool_call_id__{name}")


_TOKEN_SPLIT = re.compile(r'[\s",.:]+')


def estimated_tokens(content: Any) -> int:
    """PydanticAI's rough token count for test models: pieces split at spaces and punctuation; an image's
    bytes one each; nothing for nothing."""
    if not content:
        return 0
    if isinstance(content, str):
        return len(_TOKEN_SPLIT.split(content.strip()))
    return sum(estimated_tokens(piece) if isinstance(piece, str) else len(getattr(piece, "data", b""))
               for piece in content)


def estimated_usage(messages: Sequence[ModelMessage], text: str, calls: list[ToolCallPart]) -> RequestUsage:
    """The usage PydanticAI's TestModel reports, so printed usages match its docs: 50 tokens of overhead plus
    every prompt and tool result sent so far in, every response part so far (this one included) out."""
    sent, answered = 50, 0
    for message in messages:
        for part in message.parts:
            if isinstance(part, (SystemPromptPart, UserPromptPart)):
                sent += estimated_tokens(part.content)
            elif isinstance(part, ToolReturnPart):
                sent += estimated_tokens(part.model_response_str())
            elif isinstance(part, RetryPromptPart):
                sent += estimated_tokens(part.model_response())
            elif isinstance(part, (TextPart, ThinkingPart)):
                answered += estimated_tokens(part.content)
            elif isinstance(part, ToolCallPart):
                answered += 1 + estimated_tokens(part.args_as_json_str())
    answered += estimated_tokens(text) + sum(1 + estimated_tokens(call.args_as_json_str()) for call in calls)
    return RequestUsage(input_tokens=sent, output_tokens=answered)


def count_words(text: str) -> int:
    """The token count the offline models report: whitespace-separated words."""
    return len(text.split())


def conversation_words(messages: Sequence[ModelMessage]) -> int:
    """Input tokens as the offline models count them: the words of every part sent."""
    return sum(count_words(part_text(part)) for message in messages for part in message.parts)


def latest_parts(messages: Sequence[ModelMessage], kind: type) -> list[Any]:
    """Parts of `kind` in the newest request (what the previous step's tools produced)."""
    if not messages or not isinstance(messages[-1], ModelRequest):
        return []
    return [part for part in messages[-1].parts if isinstance(part, kind)]


_FORMATS = {"date": "2024-01-01", "date-time": "2024-01-01T00:00:00Z", "time": "00:00:00", "email": "a@example.com",
            "uri": "https://example.com", "uuid": "00000000-0000-4000-8000-000000000000", "duration": "P1D"}


def sample_arguments(tool: ToolDefinition, *, fill_arrays: bool = True) -> dict[str, Any]:
    """Arguments that fit the tool's schema: its required parameters, each with a plain value of its type."""
    value = sample(tool.parameters_json_schema, fill_arrays=fill_arrays)
    return value if isinstance(value, dict) else {}


def sample(schema: dict[str, Any], *, fill_arrays: bool = True) -> Any:
    """A plain value valid against `schema`, as PydanticAI's TestModel makes them up: strings "a", numbers
    0 (or the lower bound), the first enum member or example, required fields only, one item per array
    (none with `fill_arrays=False`, as the offline model answers)."""
    return _Sampler(schema.get("$defs", {}), fill_arrays).value(schema)


class _Sampler:
    def __init__(self, defs: dict[str, Any], fill_arrays: bool) -> None:
        self.defs = defs
        self.fill_arrays = fill_arrays

    def value(self, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return "a"
        if "const" in schema:
            return schema["const"]
        for listed in ("enum", "examples"):
            if schema.get(listed):
                return schema[listed][0]
        if "$ref" in schema:
            return self.value(self.defs.get(schema["$ref"].rsplit("/", 1)[-1], {}))
        for union in ("anyOf", "oneOf", "allOf"):
            if schema.get(union):
                options = [option for option in schema[union] if option.get("type") != "null"] or schema[union]
                return self.value(options[0])
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            data = {name: self.value(properties[name]) for name in schema.get("required", []) if name in properties}
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and self.fill_arrays:
                data["additionalProperty"] = self.value(extra)
            return data
        if kind == "array":
            count = max(schema.get("minItems", 0), 1 if self.fill_arrays and "items" in schema else 0)
            return [self.value(schema.get("items", {})) for _ in range(count)]
        if kind == "string":
            return _FORMATS.get(schema.get("format", ""), "a" * max(1, schema.get("minLength", 1)))
        if kind in ("integer", "number"):
            if "minimum" in schema or "exclusiveMinimum" in schema:
                low = schema["minimum"] if "minimum" in schema else schema["exclusiveMinimum"] + 1
            elif "maximum" in schema or "exclusiveMaximum" in schema:
                low = schema["maximum"] if "maximum" in schema else schema["exclusiveMaximum"] - 1
            else:
                low = 0
            return int(low) if kind == "integer" else float(low)
        return {"boolean": False, "null": None}.get(str(kind), "a")


class ScriptedStream(StreamedResponse):
    """A text (word by word, `delay` seconds apart) and then tool calls, streamed as a provider would."""

    def __init__(self, model_name: str, messages: Sequence[ModelMessage], settings: ModelSettings, text: str,
                 calls: list[ToolCallPart], delay: float = 0.0, estimate: bool = False,
                 provider_name: str = "test", pieces: Callable[[str], list[str]] = offline_pieces) -> None:
        super().__init__(model_name)
        self.provider_name = provider_name
        self._estimate = estimate  # usage as PydanticAI's test models guess it, else words
        self._messages = messages
        self._settings = settings
        self._text = text
        self._calls_scripted = calls
        self._delay = delay
        self._pieces = pieces

    async def deltas(self) -> AsyncGenerator[StreamItem, None]:
        calls = self._calls_scripted
        pieces = [] if calls else self._pieces(self._text)
        max_tokens = self._settings.get("max_tokens")
        truncated = max_tokens is not None and count_words("".join(pieces)) > max_tokens
        if truncated:
            pieces = _first_words(pieces, max_tokens)
        for piece in pieces:
            await asyncio.sleep(self._delay)  # also with no delay: the loop serves others between words
            yield piece
        for index, call in enumerate(calls):
            await asyncio.sleep(self._delay)
            yield self.tool_call_delta(index, tool_call_id=call.tool_call_id, tool_name=call.tool_name, args=call.args)
        if self._estimate:
            self.usage = estimated_usage(self._messages, "".join(pieces), calls)
        else:
            self.usage = RequestUsage(
                input_tokens=conversation_words(self._messages),
                output_tokens=count_words("".join(pieces)) + sum(count_words(part_text(call)) for call in calls),
            )
        self.finish_reason = "length" if truncated else None  # as PydanticAI's TestModel: none unless cut short
        self.complete = True


def _first_words(pieces: list[str], count: int) -> list[str]:
    """The pieces holding the first `count` words (an answer cut at `max_tokens`)."""
    kept, words = [], 0
    for piece in pieces:
        words += count_words(piece)
        if words > count:
            break
        kept.append(piece)
    return kept
