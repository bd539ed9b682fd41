"""Prices of models, for costs shown before and after a run: the user's own first, then genai-prices.

A price is only ever a known one, never a guess: the user's `prices` mapping (`{"provider:model":
[input, output]}`, USD per million tokens, optionally then cache read / cache write: `[2.5, 10, 1.25,
0]`; without them cached tokens cost as input), else Pydantic's genai-prices library for the hosted
providers it knows (imported on first use: it takes a quarter of a second to load). Local servers, the
offline model and any model neither knows have no price. OpenAI's Batch API and Anthropic's Message
Batches charge half; other providers have no batch price here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from .errors import UserError
from .messages import RequestUsage, Usage
from .models.providers import PROVIDERS

YOUR_PRICES, LIBRARY = "your prices", "genai-prices"
MILLION = Decimal(1_000_000)
GENAI_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "groq": "groq", "mistral": "mistral",
                  "deepseek": "deepseek", "together": "together", "fireworks": "fireworks", "cerebras": "cerebras",
                  "openrouter": "openrouter", "gemini": "google"}  # nbagent's provider names -> genai-prices ids
BATCH_DISCOUNT = {"openai": Decimal("0.5"), "anthropic": Decimal("0.5")}  # batch price = live price x this
PRICES_FORMAT = ('give prices as {"provider:model": [input, output]} (or [input, output, cache read, cache write]) '
                 'in USD per million tokens, e.g. {"openai:gpt-4o": [2.5, 10]}')


def check_prices(value: Any) -> dict[str, list[float]]:
    """The `prices` mapping, validated: `provider:model` names of known providers, 2 or 4 numbers >= 0 each."""
    if not isinstance(value, Mapping):
        raise UserError(f"prices: {PRICES_FORMAT}")
    checked = {}
    for model, pair in value.items():
        provider, colon, name = str(model).partition(":")
        if not colon or not name or provider not in PROVIDERS:
            raise UserError(f"prices: {model!r} is not provider:model with a known provider; {PRICES_FORMAT}")
        numbers = list(pair) if isinstance(pair, (list, tuple)) else []
        if len(numbers) not in (2, 4) or not all(_is_price(number) for number in numbers):
            raise UserError(f"prices[{model!r}] = {pair!r}: {PRICES_FORMAT}")
        checked[str(model)] = [float(number) for number in numbers]
    return checked


def _is_price(number: Any) -> bool:
    return isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number) and number >= 0


@dataclass(frozen=True)
class Price:
    """USD per million input, output, cache-read and cache-write tokens, and where that came from."""

    per_million_input: Decimal
    per_million_output: Decimal
    per_million_cache_read: Decimal
    per_million_cache_write: Decimal
    source: str

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
             cache_write_tokens: int = 0) -> Decimal:
        """The cost of this usage; `input_tokens` include the cached ones (PydanticAI's convention)."""
        uncached = input_tokens - cache_read_tokens - cache_write_tokens
        return (self.per_million_input * uncached + self.per_million_cache_read * cache_read_tokens
                + self.per_million_cache_write * cache_write_tokens + self.per_million_output * output_tokens) / MILLION


def _your_price(numbers: list[float]) -> Price:
    per_input, per_output, *per_cache = (Decimal(str(number)) for number in numbers)
    read, write = per_cache or (per_input, per_input)
    return Price(per_input, per_output, read, write, YOUR_PRICES)


def cost_of(model: str, response_model_name: str | None, usage: Usage | RequestUsage,
            prices: Mapping[str, list[float]]) -> tuple[Decimal, str] | None:
    """What this usage cost on `model` (`provider:name`), and where the price came from; None when unknown.

    genai-prices is asked for the exact usage (its prices may depend on it); `response_model_name`, the
    name the provider answered with, is preferred there as it can be more specific.
    """
    if model in prices:
        return _your_price(prices[model]).cost(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                                               usage.cache_write_tokens), YOUR_PRICES
    provider, _, name = model.partition(":")
    if provider not in GENAI_PROVIDER:
        return None
    import genai_prices  # a quarter of a second to import: only when a price is needed

    try:
        calculated = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                               cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens),
            response_model_name or name, provider_id=GENAI_PROVIDER[provider])
    except LookupError:
        return None
    return Decimal(calculated.total_price), LIBRARY


def price_of(model: str, prices: Mapping[str, list[float]]) -> Price | None:
    """The price per million tokens of `model` (`provider:name`), or None when no price is known."""
    if model in prices:
        return _your_price(prices[model])
    million = 1_000_000
    rates = [cost_of(model, None, Usage(input_tokens=million), prices),
             cost_of(model, None, Usage(output_tokens=million), prices),
             cost_of(model, None, Usage(input_tokens=million, cache_read_tokens=million), prices),
             cost_of(model, None, Usage(input_tokens=million, cache_write_tokens=million), prices)]
    if any(rate is None for rate in rates):
        return None
    per_input, per_output, read, write = (rate[0] for rate in rates if rate is not None)
    return Price(per_input, per_output, read, write, LIBRARY)


def batch_price_of(model: str, price: Price | None) -> Price | None:
    """The provider's batch price (OpenAI Batch, Anthropic Message Batches: half), or None."""
    discount = BATCH_DISCOUNT.get(model.partition(":")[0])
    if price is None or discount is None:
        return None
    return Price(price.per_million_input * discount, price.per_million_output * discount,
                 price.per_million_cache_read * discount, price.per_million_cache_write * discount, price.source)
