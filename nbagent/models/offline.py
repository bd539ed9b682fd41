"""The built-in `offline` model: what nbagent runs with when no provider is configured, announced as such.

It answers every prompt the same way for the same conversation, streamed word by word, so notebooks
and their tests are reproducible with no key: it restates the question and says how to configure a
real model. With tools offered, the first step calls each tool (or those named in `call_tools`) once,
with arguments made up from the tool's schema; the next step answers with the tools' results as
JSON, or calls the output tool (a JSON answer in native / prompted modes). PydanticAI's `TestModel`
(test.py, the model named `test`, as in PydanticAI) is the model for unit tests; this one is for people.
"""

from __future__ import annotations

import json
from typing import Literal, Sequence

from ..messages import ModelMessage, ModelRequest, RetryPromptPart, ToolCallPart, ToolReturnPart, last_user_prompt
from ..settings import ModelSettings
from .base import LocalModel, ModelRequestParameters, StreamedResponse
from .test import ScriptedStream, latest_parts, sample, sample_arguments


class OfflineModel(LocalModel):
    """The model named `offline`. `output_text` fixes the answer; `call_tools` is "all" or the names of
    the tools to call; `delay` paces the words (seconds) to make streaming visible in demos."""

    system = "offline"

    def __init__(self, output_text: str | None = None, *, call_tools: Literal["all"] | Sequence[str] = "all",
                 delay: float = 0.0, settings: ModelSettings | None = None):
        super().__init__("offline", settings=settings)
        self.output_text = output_text
        self.call_tools = call_tools
        self.delay = delay

    @property
    def label(self) -> str:
        return "offline"

    def answer_for(self, messages: Sequence[ModelMessage], params: ModelRequestParameters) -> str:
        """The fixed text, a JSON object fitting the schema asked for, the results of the tools that just
        ran, or the question restated."""
        if self.output_text is not None:
            return self.output_text
        if params.output_object is not None:
            return json.dumps(sample(params.output_object.json_schema, fill_arrays=False), ensure_ascii=False)
        returns = latest_parts(messages, ToolReturnPart)
        if returns:
            return json.dumps({part.tool_name: part.content for part in returns}, default=str, ensure_ascii=False)
        excerpt = " ".join(last_user_prompt(messages).split())
        excerpt = excerpt if len(excerpt) <= 200 else excerpt[:199] + "…"
        earlier = sum(1 for m in messages if isinstance(m, ModelRequest) for p in m.parts if p.part_kind == "user-prompt") - 1
        context = f" (with {earlier} earlier question{'s' if earlier != 1 else ''} in the conversation)" if earlier > 0 else ""
        return (
            f"This is nbagent's built-in **offline** model. You asked: “{excerpt}”{context}. "
            "To talk to a real model, set `OPENAI_API_KEY` or `ANTHROPIC_API_KEY`, or `NBAGENT_MODEL` (e.g. "
            "`ollama:llama3.2`), before starting Jupyter (a running kernel does not see them), or run "
            "`%agent_settings model=provider:model` in the notebook."
        )

    def calls_for(self, messages: Sequence[ModelMessage], params: ModelRequestParameters) -> list[ToolCallPart]:
        """Tool calls for this step: the chosen function tools once after a question, then the first output
        tool (if the output comes through one); a tool asked to retry, again."""
        tools = {tool.name: tool for tool in params.tool_defs}
        retried = [part.tool_name for part in latest_parts(messages, RetryPromptPart) if part.tool_name in tools]
        if retried:
            names = retried
        elif latest_parts(messages, ToolReturnPart):
            names = [tool.name for tool in params.output_tools[:1]]
        else:
            names = [tool.name for tool in params.function_tools
                     if self.call_tools == "all" or tool.name in self.call_tools]
            names = names or [tool.name for tool in params.output_tools[:1]]
        return [ToolCallPart(tool_name=name, args=sample_arguments(tools[name], fill_arrays=False)) for name in names]

    def _stream(self, messages: Sequence[ModelMessage], settings: ModelSettings,
                params: ModelRequestParameters) -> StreamedResponse:
        calls = self.calls_for(messages, params)
        text = "" if calls else self.answer_for(messages, params)
        return ScriptedStream(self.model_name, messages, settings, text, calls, delay=self.delay,
                              provider_name=self.system)
