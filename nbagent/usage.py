"""`UsageLimits`: bounds on one run, checked before each request and after each response; `RunUsage`
(a run's counts) and `RequestUsage` (one request's) live in messages.py and are exported here too.

A model that keeps calling tools would otherwise loop (and bill) forever; the default request limit
of 50 stops it with a `UsageLimitExceeded` naming the limit and how to raise it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageLimitExceeded, UserError
from .messages import RequestUsage, RunUsage, Usage  # noqa: F401 - RunUsage and RequestUsage are exported here


@dataclass
class UsageLimits:
    """Limits for one run (`usage_limits=` on run / run_sync / run_stream); None means unbounded."""

    request_limit: int | None = 50
    tool_calls_limit: int | None = None
    input_tokens_limit: int | None = None
    output_tokens_limit: int | None = None
    total_tokens_limit: int | None = None
    per_request_input_tokens_limit: int | None = None
    per_request_output_tokens_limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("request_limit", "tool_calls_limit", "input_tokens_limit", "output_tokens_limit",
                     "total_tokens_limit", "per_request_input_tokens_limit", "per_request_output_tokens_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise UserError(f"UsageLimits({name}={value!r}): give a whole number >= 0, or None for no limit")

    def check_before_request(self, usage: Usage) -> None:
        """Before sending: would one more request go past the request limit?"""
        if self.request_limit is not None and usage.requests >= self.request_limit:
            raise UsageLimitExceeded(
                f"The next request would exceed the request_limit of {self.request_limit} "
                "(the model kept calling tools; raise it with usage_limits=UsageLimits(request_limit=...))"
            )

    def check_before_tool_calls(self, usage: Usage, calls: int) -> None:
        """Before running a response's tool calls: would they go past the tool call limit?"""
        if self.tool_calls_limit is not None and usage.tool_calls + calls > self.tool_calls_limit:
            raise UsageLimitExceeded(
                f"The next tool calls would exceed the tool_calls_limit of {self.tool_calls_limit} "
                f"({usage.tool_calls} made, {calls} more asked for)"
            )

    def check_tokens(self, usage: Usage, request: Usage | RequestUsage | None = None) -> None:
        """After a response: did the run's tokens, or this request's, go past a token limit?"""
        if request is not None:
            for name, used, limit in (
                ("per_request_input_tokens_limit", request.input_tokens, self.per_request_input_tokens_limit),
                ("per_request_output_tokens_limit", request.output_tokens, self.per_request_output_tokens_limit),
            ):
                if limit is not None and used > limit:
                    kind = name.removeprefix("per_request_").removesuffix("_limit")
                    raise UsageLimitExceeded(f"Exceeded the {name} of {limit} (request_{kind}={used})")
        for name, used, limit in (
            ("input_tokens_limit", usage.input_tokens, self.input_tokens_limit),
            ("output_tokens_limit", usage.output_tokens, self.output_tokens_limit),
            ("total_tokens_limit", usage.total_tokens, self.total_tokens_limit),
        ):
            if limit is not None and used > limit:
                raise UsageLimitExceeded(f"Exceeded the {name} of {limit} ({name.removesuffix('_limit')}={used})")
