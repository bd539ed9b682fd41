"""The offline `test` model: deterministic answers streamed word by word, no network, no key.

With tools offered it behaves as PydanticAI's TestModel does: the first step calls each tool (or
those named in `call_tools`) once, with arguments made up from the tool's JSON schema; the next step
answers with the tools' results as JSON, or calls the output tool with arguments made up from the
output type's schema (a JSON answer in native / prompted modes). So code using tools and structured
output runs, and is tested, with no key.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, AsyncGenerator, Literal, Sequence

from ..messages import (ModelMessage, ModelRequest, RetryPromptPart, ToolCallPart, ToolReturnPart, Usage,
                        last_user_prompt, part_text)
from ..settings import ModelSettings
from ..tools import ToolDefinition
from .base import LocalModel, ModelRequestParameters, StreamedResponse, StreamItem

_WORD = re.compile(r"\s*\S+|\s+")  # one word per piece, spaces kept: "".join(pieces) == text


def count_words(text: str) -> int:
    """The token count the offline models report: whitespace-separated words."""
    return len(text.split())


def conversation_words(messages: Sequence[ModelMessage]) -> int:
    """Input tokens as the offline models count them: the words of every part sent."""
    return sum(count_words(part_text(part)) for message in messages for part in message.parts)


class TestModel(LocalModel):
    """Answers every prompt the same way for the same conversation, so notebooks and tests are reproducible.

    `output_text` fixes the answer; otherwise it restates the question and says how to configure a
    real model (or, after tools ran, gives their results as JSON). `call_tools` is "all" or the names
    of the tools to call. `delay` paces the words (seconds) to make streaming visible in demos.
    """

    __test__ = False  # not a pytest test class
    system = "test"

    def __init__(self, output_text: str | None = None, *, call_tools: Literal["all"] | Sequence[str] = "all",
                 delay: float = 0.0, settings: ModelSettings | None = None):
        super().__init__("test", settings=settings)
        self.output_text = output_text
        self.call_tools = call_tools
        self.delay = delay

    @property
    def label(self) -> str:
        return "test"

    def answer_for(self, messages: Sequence[ModelMessage], params: ModelRequestParameters) -> str:
        """The fixed text, a JSON object fitting the schema asked for, the results of the tools that just
        ran, or the question restated."""
        if self.output_text is not None:
            return self.output_text
        if params.output_object is not None:
            schema = params.output_object.json_schema
            return json.dumps(_sample(schema, schema.get("$defs", {})), ensure_ascii=False)
        returns = _latest_parts(messages, ToolReturnPart)
        if returns:
            return json.dumps({part.tool_name: part.content for part in returns}, default=str, ensure_ascii=False)
        excerpt = " ".join(last_user_prompt(messages).split())
        excerpt = excerpt if len(excerpt) <= 200 else excerpt[:199] + "…"
        earlier = sum(1 for m in messages if isinstance(m, ModelRequest) for p in m.parts if p.part_kind == "user-prompt") - 1
        context = f" (with {earlier} earlier question{'s' if earlier != 1 else ''} in the conversation)" if earlier > 0 else ""
        return (
            f"This is nbagent's offline **test** model. You asked: “{excerpt}”{context}. "
            "Set `OPENAI_API_KEY` or `ANTHROPIC_API_KEY`, or `NBAGENT_MODEL` (e.g. `ollama:llama3.2`), "
            "to talk to a real model."
        )

    def calls_for(self, messages: Sequence[ModelMessage], params: ModelRequestParameters) -> list[ToolCallPart]:
        """Tool calls for this step: the chosen function tools once after a question, then the first output
        tool (if the output comes through one); a tool asked to retry, again."""
        tools = {tool.name: tool for tool in params.tool_defs}
        retried = [part.tool_name for part in _latest_parts(messages, RetryPromptPart) if part.tool_name in tools]
        if retried:
            names = retried
        elif _latest_parts(messages, ToolReturnPart):
            names = [tool.name for tool in params.output_tools[:1]]
        else:
            names = [tool.name for tool in params.function_tools
                     if self.call_tools == "all" or tool.name in self.call_tools]
            names = names or [tool.name for tool in params.output_tools[:1]]
        return [ToolCallPart(tool_name=name, args=sample_arguments(tools[name])) for name in names]

    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                params: ModelRequestParameters) -> StreamedResponse:
        return _WordStream(self, messages, settings, params)


def _latest_parts(messages: Sequence[ModelMessage], kind: type) -> list[Any]:
    """Parts of `kind` in the newest request (what the previous step's tools produced)."""
    if not messages or not isinstance(messages[-1], ModelRequest):
        return []
    return [part for part in messages[-1].parts if isinstance(part, kind)]


def sample_arguments(tool: ToolDefinition) -> dict[str, Any]:
    """Arguments that fit the tool's schema: its required parameters, each with a plain value of its type."""
    schema = tool.parameters_json_schema
    value = _sample(schema, schema.get("$defs", {}))
    return value if isinstance(value, dict) else {}


def _sample(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _sample(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf", "allOf"):
        if schema.get(union):
            options = [option for option in schema[union] if option.get("type") != "null"] or schema[union]
            return _sample(options[0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _sample(properties[name], defs) for name in schema.get("required", []) if name in properties}
    if kind == "array":
        return [_sample(schema["items"], defs)] * schema.get("minItems", 0) if "items" in schema else []
    samples = {"string": "a", "integer": 0, "number": 0.0, "boolean": False, "null": None}
    return samples.get(str(kind), "a")


class _WordStream(StreamedResponse):
    def __init__(self, model: TestModel, messages: Sequence[ModelMessage], settings: ModelSettings,
                 params: ModelRequestParameters) -> None:
        super().__init__("test")
        self._model = model
        self._messages = messages
        self._settings = settings
        self._params = params

    async def deltas(self) -> AsyncGenerator[StreamItem, None]:
        calls = self._model.calls_for(self._messages, self._params)
        pieces = [] if calls else _WORD.findall(self._model.answer_for(self._messages, self._params))
        max_tokens = self._settings.get("max_tokens")
        truncated = max_tokens is not None and count_words("".join(pieces)) > max_tokens
        if truncated:
            pieces = pieces[:max_tokens]
        for piece in pieces:
            await asyncio.sleep(self._model.delay)
            yield piece
        for index, call in enumerate(calls):
            await asyncio.sleep(self._model.delay)
            yield self.tool_call_delta(index, tool_call_id=call.tool_call_id, tool_name=call.tool_name,
                                       args=call.args_as_json_str())
        self.usage = Usage(
            requests=1,
            input_tokens=conversation_words(self._messages),
            output_tokens=count_words("".join(pieces)) + sum(count_words(part_text(call)) for call in calls),
        )
        self.finish_reason = "tool_calls" if calls else "length" if truncated else "stop"
        self.complete = True
