"""What a map will send and cost, known before its first request (for the notebook's confirm step).

Requests are counted after folding identical ones and leaving out those the cache answers. Input
tokens are counted from the rendered prompts plus what every request carries (instructions, system
prompts, tool and output schemas): exactly as the offline models count (words), else at about 4
characters a token, which `input_tokens_approximate` says. Output tokens: `max_tokens` when set (an
upper bound), else the mean of a small pilot — a few rows run for real and cached, so the map does not
pay for them again —, else unknown (and so is the cost). The cost uses the user's `prices`, then
genai-prices; the batch price (OpenAI Batch, Anthropic Message Batches: half) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from .run import MapRun, prepare, run_in_background
from .store import MapStore

if TYPE_CHECKING:
    from ..agent import Agent


@dataclass(frozen=True)
class MapEstimate:
    """The map's size and cost before it runs. Costs are None where no price is known."""

    model: str
    rows: int
    requests: int  # still to send: after duplicates folded and cache hits
    cache_hits: int  # rows the cache answers
    duplicates_folded: int  # rows that share another row's request
    input_tokens: int
    input_tokens_approximate: bool
    output_tokens: int | None
    output_tokens_from: str  # "max_tokens (an upper bound)", "a pilot of N rows", or why unknown
    cost_usd: float | None
    batch_cost_usd: float | None
    price_from: str | None
    pilot_rows: int = 0
    pilot_cost_usd: float | None = None
    pilot_requests: int = 0  # what the pilot sent (already spent: counted by the notebook's usage)
    pilot_tokens_in: int = 0
    pilot_tokens_out: int = 0
    pilot_rows_answered: int = 0  # rows (duplicates included) the pilot's answers cover: cache hits for the map

    def __str__(self) -> str:
        approx = "about " if self.input_tokens_approximate else ""
        output = (f"{self.output_tokens:,} output tokens ({self.output_tokens_from})" if self.output_tokens is not None
                  else f"output tokens unknown ({self.output_tokens_from})")
        cost = (f"${self.cost_usd:.4f} ({self.price_from})" if self.cost_usd is not None else "no price known")
        batch = f", batch ${self.batch_cost_usd:.4f}" if self.batch_cost_usd is not None else ""
        return (f"{self.rows:,} rows → {self.requests:,} requests to {self.model} ({self.cache_hits:,} cached, "
                f"{self.duplicates_folded:,} duplicates folded); {approx}{self.input_tokens:,} input tokens, "
                f"{output}; {cost}{batch}")


def estimate_map(agent: "Agent[Any, Any]", rows: Any, prompt: str | None, *, output_type: Any, model_settings: Any,
                 prices: Any, cache: Any, pilot: int) -> MapEstimate:
    if isinstance(pilot, bool) or not isinstance(pilot, int) or pilot < 0:
        raise UserError(f"pilot must be a number of rows >= 0, got {pilot!r}")
    spec, plan = prepare(agent, rows, prompt, output_type, model_settings, prices)
    keys = [spec.key(prompt_text) for prompt_text in plan.prompts]
    first: dict[str, int] = {}
    for position, key in enumerate(keys):
        first.setdefault(key, position)
    store = MapStore.for_cache(cache)
    pilot_rows, pilot_cost, mean_output = 0, None, None
    pilot_usage = (0, 0, 0)
    try:
        cached = store.get_many(first)
        to_send = [position for key, position in first.items() if key not in cached]
        hits_before_pilot = sum(1 for key in keys if key in cached)
        if spec.max_tokens is None and pilot and to_send and store.path is not None:
            run = MapRun(spec, plan.subset(to_send[:pilot]), store, concurrency=pilot, budget=None, deps=None)
            frame = run_in_background(run.run())
            pilot_rows = run.done - run.errors
            pilot_usage = (frame.attrs["nbagent"]["requests_sent"], run.tokens_in, run.tokens_out)
            if pilot_rows:
                mean_output = run.tokens_out / pilot_rows
                pilot_cost = frame.attrs["nbagent"]["cost_usd"]
                cached = store.get_many(first)  # the pilot's answers are in the cache now
                to_send = [position for key, position in first.items() if key not in cached]
    finally:
        store.close()
    cache_hits = sum(1 for key in keys if key in cached)
    pilot_rows_answered = cache_hits - hits_before_pilot
    input_tokens = sum(spec.input_tokens(plan.prompts[position]) for position in to_send)
    if spec.max_tokens is not None:
        output_tokens: int | None = spec.max_tokens * len(to_send)
        output_from = "max_tokens, an upper bound"
    elif mean_output is not None:
        output_tokens = round(mean_output * len(to_send))
        output_from = f"the mean of a pilot of {pilot_rows} row{'s' if pilot_rows != 1 else ''}"
    else:
        output_tokens = None if to_send else 0
        output_from = ("no max_tokens set and no pilot run" if store.path is not None or not pilot
                       else "no max_tokens set; a pilot needs the cache")
    cost = batch = None
    if output_tokens is not None and spec.price is not None:
        cost = float(spec.price.cost(input_tokens, output_tokens))
        if spec.batch_price is not None:
            batch = float(spec.batch_price.cost(input_tokens, output_tokens))
    return MapEstimate(model=spec.model.label, rows=len(plan), requests=len(to_send),
                       cache_hits=cache_hits,
                       duplicates_folded=len(plan) - len(first), input_tokens=input_tokens,
                       input_tokens_approximate=not spec.exact_tokens, output_tokens=output_tokens,
                       output_tokens_from=output_from, cost_usd=cost, batch_cost_usd=batch,
                       price_from=spec.price.source if spec.price is not None else None,
                       pilot_rows=pilot_rows, pilot_cost_usd=pilot_cost, pilot_requests=pilot_usage[0],
                       pilot_tokens_in=pilot_usage[1], pilot_tokens_out=pilot_usage[2],
                       pilot_rows_answered=pilot_rows_answered)
