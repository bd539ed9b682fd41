"""From a model's response to the run's output: validate it, run the output validators, or ask again.

A response ends the run when it holds an output the run accepts: text (when text is an output), an
output tool call whose arguments validate, or (native / prompted modes) a JSON object in the text
that validates. Anything else goes back to the model as a retry prompt carrying the reason (pydantic's
errors, or a validator's `ModelRetry` text), up to the output retries; past them the run fails with
`UnexpectedModelBehavior` quoting the last reason. Under `run_stream` the output is streamed as it
comes, so, as in PydanticAI, an output that fails at the end is not retried: the run fails from it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Union

from pydantic import ValidationError

from .errors import ModelRetry, UnexpectedModelBehavior, UserError
from .messages import ModelResponse, RetryPromptPart, ToolCallPart
from .output import OutputSchema
from .output_types import OutputType
from .tools import RunContext

NOT_YET: Any = object()  # a partial output a validator or output function refused: not shown


@dataclass
class FinalOutput:
    """The run's output, and the response (and output tool call, if any) it came from."""

    value: Any
    response: ModelResponse
    tool_name: str | None = None
    tool_call_id: str | None = None


class OutputValidator:
    """A user function that checks (and may change) the output; it may raise `ModelRetry`.

    It takes `(output)` or `(ctx: RunContext, output)`, sync or async, as in PydanticAI.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise UserError(f"@agent.output_validator needs a function, got {type(function).__name__}")
        parameters = [p for p in inspect.signature(function).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(parameters) not in (1, 2):
            name = getattr(function, "__name__", repr(function))
            raise UserError(f"Output validator {name!r} must take (output) or (ctx, output), "
                            f"not {len(parameters)} parameters")
        self.function = function
        self.takes_ctx = len(parameters) == 2

    async def __call__(self, value: Any, ctx: RunContext[Any]) -> Any:
        result = self.function(ctx, value) if self.takes_ctx else self.function(value)
        return await result if inspect.isawaitable(result) else result


class OutputFinisher:
    """Turns responses into the output for one run, counting the output retries it spends."""

    def __init__(self, output: OutputSchema, validators: Any, context: Callable[..., RunContext[Any]]) -> None:
        self.output = output
        self.validators: list[OutputValidator] = list(validators)
        self.context = context
        self.retries = 0
        self.max_retries = output.max_retries  # the output budget (a run's `retries=` may change it)
        self.validation_context: Callable[[], Any] = lambda: None  # pydantic's context for validation (the run's)
        self.streamed = False  # run_stream: the output was shown as it came, so it cannot be asked for again

    async def from_tool_call(self, call: ToolCallPart) -> Union[Any, RetryPromptPart]:
        """The output an output tool call carries, or a retry prompt answering that call."""
        limit = self._call_limit(call)
        try:
            return await self._call_output(call, limit)
        except ValidationError as exc:
            return self._retry(list(exc.errors(include_url=False, include_context=False)), call, limit, exc)
        except ModelRetry as exc:
            return self._retry(exc.message, call, limit, exc)

    async def from_text(self, text: str) -> Union[Any, RetryPromptPart]:
        """The output a text answer gives, or a retry prompt saying what an answer must be."""
        limit = self.max_retries
        if not self._text_is_output(text):  # not an output at all: asked again even when streamed
            names = ", ".join(self.output.tools)
            return self._retry(f"Plain text is not an answer here: give the result by calling {names}.", None, limit,
                               output=False)
        if not text and self.output.mode not in ("native", "prompted") and not self.output.allow_none:
            return self._retry("Please return text.", None, limit, output=False)  # no answer: empty, or cut short
        try:
            return await self._text_output(text)
        except ValidationError as exc:
            return self._retry(list(exc.errors(include_url=False, include_context=False)), None, limit, exc)
        except ModelRetry as exc:
            return self._retry(exc.message, None, limit, exc)

    async def whole(self, response: ModelResponse) -> Any:
        """The output a whole response holds, for a node's `stream_output()` to end with (as PydanticAI's, the
        output function and validators run for it, and again when the run takes the output); NOT_YET when it
        holds none that validates: the run then asks again, counting the retry as usual."""
        call = next((part for part in response.tool_calls if part.tool_name in self.output.tools), None)
        try:
            if call is not None:
                return await self._call_output(call, self._call_limit(call))
            if self._text_is_output(response.text) and not response.tool_calls:
                return await self._text_output(response.text)
        except (ValidationError, ModelRetry):
            pass
        return NOT_YET

    def _call_limit(self, call: ToolCallPart) -> int:
        tool = self.output.tools[call.tool_name]
        return self.max_retries if tool.max_retries is None else tool.max_retries

    async def _call_output(self, call: ToolCallPart, limit: int) -> Any:
        """The output an output tool call carries, validated; raises ValidationError or ModelRetry."""
        tool = self.output.tools[call.tool_name]
        value = tool.validate(call.args, self.validation_context())
        value = await tool.finish(value, self._context(call.tool_name, call.tool_call_id, limit))
        return await self._validated(value, call.tool_name, call.tool_call_id, limit)

    def _text_is_output(self, text: str) -> bool:
        """Whether this text may be the output (else the model is asked to call an output tool)."""
        output = self.output
        return output.mode in ("native", "prompted") or output.allow_text or (output.allow_none and not text.strip())

    async def _text_output(self, text: str) -> Any:
        """The output a text answer gives, validated; raises ValidationError or ModelRetry."""
        limit = self.max_retries
        if self.output.mode in ("native", "prompted"):
            value = self.output.parse_text(text, self.validation_context())
        elif self.output.allow_none and not text.strip():
            value = None  # `str | None`: an empty answer (or thinking only) means no output
        else:
            value = text
            if self.output.text_function is not None:
                value = await self.output.text_function(text, self._context(None, None, limit))
        return await self._validated(value, None, None, limit)

    async def _validated(self, value: Any, tool_name: str | None, tool_call_id: str | None, limit: int) -> Any:
        for validator in self.validators:
            value = await validator(value, self._context(tool_name, tool_call_id, limit))
        return value

    def _context(self, tool_name: str | None, tool_call_id: str | None, limit: int) -> RunContext[Any]:
        """The run context an output function or validator is given: `ctx.retry` the output retries spent,
        `ctx.max_retries` the limit that would stop the run (the output tool's own, or the output budget)."""
        ctx = self.context(tool_name, tool_call_id, self.retries)
        ctx.max_retries = limit
        return ctx

    @property
    def checks_partial_output(self) -> bool:
        """Whether a partial output goes through user code (validators, an output function) before it is shown."""
        return bool(self.validators) or self.output.text_function is not None or any(
            tool.function is not None for tool in self.output.tools.values())

    async def partial(self, value: Any, tool: OutputType | None, *, text_function: bool = True) -> Any:
        """A streamed output that is not whole yet, through the output function and the validators, each told
        `ctx.partial_output`; NOT_YET when one of them refuses it (the whole output is checked in earnest)."""
        limit = self.max_retries if tool is None or tool.max_retries is None else tool.max_retries
        ctx = self._context(None if tool is None else tool.name, None, limit)
        ctx.partial_output = True
        try:
            if tool is not None:
                value = await tool.finish(value, ctx)
            elif self.output.text_function is not None and text_function:
                value = await self.output.text_function(value, ctx)
            for validator in self.validators:
                value = await validator(value, ctx)
        except (ModelRetry, ValidationError, TypeError, ValueError):
            return NOT_YET
        return value

    def _retry(self, content: Union[str, list[Any]], call: ToolCallPart | None, limit: int,
               cause: Exception | None = None, *, output: bool = True) -> RetryPromptPart:
        if output and self.streamed:
            raise UnexpectedModelBehavior("Output validation failed during streaming, and retries are not "
                                          "supported in `run_stream()`") from cause
        prompt = (RetryPromptPart(content=content) if call is None else
                  RetryPromptPart(content=content, tool_name=call.tool_name, tool_call_id=call.tool_call_id))
        self.retries += 1
        if self.retries > limit:
            reason = " ".join(prompt.model_response().split())
            raise UnexpectedModelBehavior(
                f"Exceeded maximum retries ({limit}) for output validation: {reason[:400]}") from cause
        return prompt
