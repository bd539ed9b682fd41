"""`%agent_usage`: requests and tokens per model, for a conversation and for the session, and their cost.

The conversation's numbers are what its turns hold now (a re-run cell counts once, a cleared
conversation is empty); the session's count every question answered since the kernel started,
replaced and cleared turns included (what was spent). A question interrupted or failed before its
answer is not counted: its usage never arrived.

A cost is shown only from a known price, never a guess: the user's own (`%agent_settings
prices={"openai:gpt-4o": [2.5, 10]}`, USD per million input / output tokens, optionally then cache read /
cache write: `[2.5, 10, 1.25, 0]`; without them cached tokens cost as input), else Pydantic's
genai-prices library for the hosted providers it knows (nbagent/prices.py: imported on first use, as it
takes a quarter of a second to load). Local servers, the offline model and any model neither knows show
"no price", and the table says where each price came from. Tokens read from the provider's prompt
cache are shown apart ("cached in", with their share of the input) and priced as cache reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Mapping

from IPython.display import display

from ...messages import ModelResponse
from ...prices import cost_of
from ..markdown.neutralize import neutralize
from ..state import Conversation
from ..markdown.tables import markdown_table

NO_PRICE = "no price"


@dataclass
class ModelUsage:
    """One model's line: what it was asked and, if every response of it has a known price, the cost."""

    requests: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = Decimal(0)
    sources: set[str] = field(default_factory=set)

    def add(self, response: ModelResponse, price: tuple[Decimal, str] | None) -> None:
        self.requests += (response.metadata or {}).get("requests", 1)  # a map's turn stands for many
        self.input_tokens += response.usage.input_tokens
        self.cache_read_tokens += response.usage.cache_read_tokens
        self.output_tokens += response.usage.output_tokens
        if price is None or self.cost is None:
            self.cost = None
        else:
            self.cost += price[0]
            self.sources.add(price[1])


def tally(asked: Iterable[tuple[str, ModelResponse]], prices: Mapping[str, list[float]]) -> dict[str, ModelUsage]:
    """Usage per model asked (`provider:name`), in the order the models were first used."""
    lines: dict[str, ModelUsage] = {}
    for model, response in asked:
        model = model or response.model_name or "unknown"
        lines.setdefault(model, ModelUsage()).add(response, price_of(model, response, prices))
    return lines


def price_of(model: str, response: ModelResponse, prices: Mapping[str, list[float]]) -> tuple[Decimal, str] | None:
    """One response's cost and where its price came from, or None when no price is known."""
    return cost_of(model, response.model_name, response.usage, prices)


def show_usage(conversation: Conversation, asked: list[tuple[str, ModelResponse]],
               prices: Mapping[str, list[float]]) -> None:
    """Display the conversation's and the session's usage tables."""
    in_conversation = [(turn.model, message) for turn in conversation.turns for message in turn.messages
                       if isinstance(message, ModelResponse)]
    sections = [(f"Conversation {conversation.name!r} (its turns now)", tally(in_conversation, prices)),
                ("Session (every question answered since the kernel started, replaced and cleared ones too)",
                 tally(asked, prices))]
    markdown, plain = [], []
    for title, lines in sections:
        table = _table(lines)
        markdown.append(f"**{title}**\n\n" + (markdown_table(*table) if table[1] else "nothing asked yet"))
        plain.append("\n".join([title, *("  ".join(row) for row in [table[0], *table[1]])]))
    display({"text/markdown": neutralize("\n\n".join(markdown)), "text/plain": "\n\n".join(plain)}, raw=True)


def _table(lines: dict[str, ModelUsage]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    header = ("model", "requests", "tokens in", "cached in", "tokens out", "cost (USD)", "price from")
    rows: list[tuple[str, ...]] = [(model, f"{line.requests:,}", f"{line.input_tokens:,}",
                                    _cached(line.cache_read_tokens, line.input_tokens), f"{line.output_tokens:,}", _money(line.cost),
             ", ".join(sorted(line.sources)) if line.cost is not None else NO_PRICE) for model, line in lines.items()]
    if len(lines) > 1:
        priced = [line.cost for line in lines.values() if line.cost is not None]
        unpriced = [model for model, line in lines.items() if line.cost is None]
        total = {name: sum(getattr(line, name) for line in lines.values())
                 for name in ("requests", "input_tokens", "cache_read_tokens", "output_tokens")}
        rows.append(("total", f"{total['requests']:,}", f"{total['input_tokens']:,}",
                     _cached(total["cache_read_tokens"], total["input_tokens"]), f"{total['output_tokens']:,}",
                     _money(sum(priced, Decimal(0))) if priced else "–",
                     f"not counted: {', '.join(unpriced)}" if unpriced else ""))
    return header, rows


def _cached(cached: int, total: int) -> str:
    """Input tokens read from the prompt cache, and their share of all input tokens."""
    return f"{cached:,} ({cached / total:.0%})" if cached and total else "0"


def _money(cost: Decimal | None) -> str:
    """Dollars to the cent, under a dollar to four significant digits (a question often costs $0.0004)."""
    if cost is None:
        return "–"
    if cost == 0 or cost >= 1:
        return f"${cost:,.2f}"
    return f"${cost:.{3 - cost.adjusted()}f}".rstrip("0")
