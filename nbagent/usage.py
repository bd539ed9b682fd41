"""`UsageLimits`: bounds on one run, checked before each request and after each response; `RunUsage`
(a run's counts) and `RequestUsage` (one request's) live in token_usage.py and are exported here too.

A model that keeps calling tools would otherwise loop (and bill) forever; the default request limit
of 50 stops it with a `UsageLimitExceeded` naming the limit and how to raise it, worded as
PydanticAI's (whose API this is, so its docs are the ones it points to).

`cost_limit` bounds the run's cost in USD: each response is priced with genai-prices (prices.py) and
the run stops once the sum passes the limit, so the response that passed it is the last one paid for
(its tool calls do not run). A model genai-prices has no price for cannot be held to a cost: the run
warns (`CostNotFoundWarning`, one line naming the model) rather than running silently unbounded, as
PydanticAI documents; `warnings.simplefilter("error", CostNotFoundWarning)` makes that an error.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from decimal import Decimal

from .errors import UsageLimitExceeded, UserError
from .token_usage import RequestUsage, RunUsage, Usage, add_costs  # noqa: F401 - RunUsage and RequestUsage are exported here
from .prices import cost_of


class CostNotFoundWarning(Warning):
    """A run has a `cost_limit` but its model has no known price, so the limit cannot be enforced."""


HINT = ("Consider raising the limit, or see the docs on usage limits for budget-aware patterns: "
        "https://pydantic.dev/docs/ai/core-concepts/agent/#usage-limits")


def exceeded(what: str) -> UsageLimitExceeded:
    """The error for a limit gone past: what happened, then how to get on."""
    return UsageLimitExceeded(f"{what}. {HINT}")


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
    cost_limit: Decimal | float | int | None = None
    """USD the run may cost at most (its `usage.cost`), checked after each response."""
    count_tokens_before_request: bool = False
    """PydanticAI's token-counting pass before each request: not available here (refused when True)."""

    def __post_init__(self) -> None:
        if self.count_tokens_before_request:
            raise UserError("UsageLimits(count_tokens_before_request=True) is not supported: nbagent checks token and "
                            "cost limits against the provider's reported usage after each response; leave it False")
        cost = self.cost_limit
        if cost is not None and (not isinstance(cost, (Decimal, float, int)) or isinstance(cost, bool)
                                 or not math.isfinite(cost) or cost < 0):
            raise UserError(f"UsageLimits(cost_limit={cost!r}): give the USD the run may cost (a number >= 0, "
                            "e.g. Decimal('0.05')), or None for no limit")
        for name in ("request_limit", "tool_calls_limit", "input_tokens_limit", "output_tokens_limit",
                     "total_tokens_limit", "per_request_input_tokens_limit", "per_request_output_tokens_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise UserError(f"UsageLimits({name}={value!r}): give a whole number >= 0, or None for no limit")

    def check_before_request(self, usage: Usage) -> None:
        """Before sending: would one more request go past the request limit?"""
        if self.request_limit is not None and usage.requests >= self.request_limit:
            raise exceeded(f"The next request would exceed the request_limit of {self.request_limit}")

    def check_before_tool_calls(self, usage: Usage, calls: int) -> None:
        """Before running a response's tool calls: would they go past the tool call limit?"""
        if self.tool_calls_limit is not None and usage.tool_calls + calls > self.tool_calls_limit:
            raise exceeded(f"The next tool call(s) would exceed the tool_calls_limit of {self.tool_calls_limit} "
                           f"(tool_calls={usage.tool_calls + calls})")

    def check_tokens(self, usage: Usage, request: Usage | RequestUsage | None = None) -> None:
        """After a response: did the run's tokens, or this request's, go past a token limit?"""
        if request is not None:
            for name, used, limit in (
                ("per_request_input_tokens_limit", request.input_tokens, self.per_request_input_tokens_limit),
                ("per_request_output_tokens_limit", request.output_tokens, self.per_request_output_tokens_limit),
            ):
                if limit is not None and used > limit:
                    kind = name.removeprefix("per_request_").removesuffix("_limit")
                    raise exceeded(f"Exceeded the {name} of {limit} (request_{kind}={used})")
        for name, used, limit in (
            ("input_tokens_limit", usage.input_tokens, self.input_tokens_limit),
            ("output_tokens_limit", usage.output_tokens, self.output_tokens_limit),
            ("total_tokens_limit", usage.total_tokens, self.total_tokens_limit),
        ):
            if limit is not None and used > limit:
                raise exceeded(f"Exceeded the {name} of {limit} ({name.removesuffix('_limit')}={used})")

    def check_cost(self, usage: Usage, model_label: str, response_model_name: str | None,
                   response_usage: RequestUsage, warned: bool) -> bool:
        """After a response, with a `cost_limit`: add its price to the run's cost and stop the run once
        the cost passed the limit. Returns whether the run has warned that its model has no price."""
        priced = cost_of(model_label, response_model_name, response_usage, {})
        if priced is None:
            if not warned:
                warnings.warn(f"UsageLimits(cost_limit={self.cost_limit}) cannot be enforced: no price is known for "
                              f"{model_label} (genai-prices has none), so this run is not limited by cost; bound it "
                              "with request_limit or a tokens limit", CostNotFoundWarning, stacklevel=2)
            return True
        usage.cost = add_costs(usage.cost, priced[0])
        assert self.cost_limit is not None and usage.cost is not None
        if usage.cost > Decimal(str(self.cost_limit)):
            raise exceeded(f"Exceeded the `cost_limit` of {self.cost_limit} (`usage.cost`={usage.cost!r})")
        return warned
