"""The request stage of a run (a mixin of `AgentRun`, loop.py): what the next request sends once the
capabilities had their say, the request sent (streamed or not), sent again once when a capability recovered
from the provider's refusal, and its response recorded against the usage limits.

Kept apart from the loop, which says in what order the stages go, so what one request is reads on its own.
"""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack
from typing import Any

from .capabilities import ModelRequestContext, step_settings
from .errors import ModelHTTPError
from .messages import ModelMessage, ModelResponse
from .models.base import ModelRequestParameters, StreamedResponse
from .settings import ModelSettings, ToolOrOutput
from .tool_run import prepared


class RequestStage:
    """`AgentRun`'s methods that send a request and take in its response."""

    async def prepare_request(self) -> tuple[list[ModelMessage], ModelSettings, ModelRequestParameters]:
        """What the next request sends: the messages, settings and tools, after the capabilities had
        their say (history processors, prepared tools, per-step settings); as is without capabilities."""
        if not self.capabilities and not self.tool_prepares and "tool_choice" not in self.settings:
            return self.messages, self.settings, self.params
        ctx = self.context()
        ctx.messages = self.messages  # the run's own list: a history processor replaces its contents
        settings = self.settings
        if self.settings_functions:
            settings = self.current_settings = step_settings(self.capabilities, *self.settings_layers, ctx)
            ctx.model_settings = settings
        tool_defs = [tool_def for tool in self.tools.values() if (tool_def := await prepared(tool, ctx)) is not None]
        for capability in self.capabilities:
            tool_defs = await capability.prepare_tools(ctx, tool_defs)
        params = choose_tools(dataclasses.replace(self.params, function_tools=tool_defs), settings.get("tool_choice"))
        self.offered = {tool_def.name for tool_def in params.function_tools}
        request = ModelRequestContext(model=self.model, messages=list(self.messages), model_settings=settings,
                                      model_request_parameters=params)
        for capability in self.capabilities:
            request = await capability.before_model_request(ctx, request)
        return request.messages, request.model_settings, request.model_request_parameters

    async def request(self) -> ModelResponse:
        """Send one (unstreamed) request; sent again once if a capability recovered from the provider's
        refusal (e.g. compacted a history that did not fit the context window)."""
        try:
            return await self.model.request(*await self.prepare_request())
        except ModelHTTPError as error:
            if not await self.recovered(error):
                raise
        return await self.model.request(*await self.prepare_request())

    async def open_stream(self, opened: AsyncExitStack) -> StreamedResponse:
        """Send a streamed request (kept open in `opened`); sent again once if a capability recovered from
        the provider's refusal (e.g. compacted a history that did not fit the context window)."""
        try:
            return await opened.enter_async_context(self.model.request_stream(*await self.prepare_request()))
        except ModelHTTPError as error:
            if not await self.recovered(error):
                raise
        return await opened.enter_async_context(self.model.request_stream(*await self.prepare_request()))

    async def recovered(self, error: ModelHTTPError) -> bool:
        """Whether a capability changed what is sent so the refused request is worth sending again."""
        if not self.capabilities:
            return False
        ctx = self.context()
        ctx.messages = self.messages
        for capability in self.capabilities:
            if await capability.retry_after_error(ctx, error):
                return True
        return False

    def record(self, response: ModelResponse) -> None:
        self.add(response)
        self.usage.requests += 1
        self.usage.incr(response.usage)
        limits = self.usage_limits
        limits.check_tokens(self.usage, response.usage)
        if limits.cost_limit is not None:
            self.cost_unknown = limits.check_cost(self.usage, self.model.label, response.model_name, response.usage,
                                                  self.cost_unknown)


def choose_tools(params: ModelRequestParameters, choice: Any) -> ModelRequestParameters:
    """The tools offered once `tool_choice` (settings.py) had its say."""
    if choice is None or choice == "auto":
        return params
    if choice == "none":
        return dataclasses.replace(params, function_tools=[])
    if isinstance(choice, ToolOrOutput):
        names = set(choice.function_tools)
        return dataclasses.replace(params, function_tools=[tool for tool in params.function_tools if tool.name in names])
    names = {tool.name for tool in params.function_tools} if choice == "required" else set(choice)
    return dataclasses.replace(params, function_tools=[tool for tool in params.function_tools if tool.name in names],
                               output_tools=[], allow_text_output=False)
