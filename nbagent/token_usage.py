"""Token counts: `RunUsage` (a run's, summed over its requests) and `RequestUsage` (one response's).

They are kept apart from `UsageLimits` (usage.py, which prices responses) because every message carries
a `RequestUsage`: messages.py needs them with no more than pydantic, and a saved history's usage must
load back into them (old histories saved a run's counts on each response; those load too).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
