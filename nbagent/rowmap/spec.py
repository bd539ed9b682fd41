"""What is fixed for one map: the model, settings, output type and columns, its price, and the key of
each row's request.

A row's key is a SHA-256 of everything that decides its answer: the model (label, its public plain
attributes such as the base URL or an offline model's fixed answer, a FunctionModel's function), the
names of the agent's instructions / system prompt functions and output validators, the settings that reach the provider (not `timeout`,
`max_retries` or `extra_headers`), the agent's instructions and system prompts, the tools' and the
output's definitions as sent, and the rendered prompt. `deps` are not part of it: a map whose tools
answer differently for other deps should use another cache (`cache=PATH`) or `cache=False`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any, Mapping

from ..output import OutputSchema
from ..prices import Price, batch_price_of, check_prices, price_of
from ..settings import ModelSettings, merge_settings, validate_settings
from .columns import ResultColumns

if TYPE_CHECKING:
    from ..agent import Agent
    from ..models import Model

KEY_VERSION = 1
NOT_IN_KEY = frozenset({"timeout", "max_retries", "extra_headers"})
_PLAIN = (str, int, float, bool, type(None), list, tuple, dict)  # a model's attributes that can decide answers
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with BPE tokenizers
MESSAGE_OVERHEAD = 8  # tokens a chat request adds around its messages (roles, separators)


class MapSpec:
    """One map's fixed parts, computed once (not per row)."""

    def __init__(self, agent: "Agent[Any, Any]", output_type: Any, model_settings: Mapping[str, Any] | None,
                 prices: Mapping[str, list[float]] | None) -> None:
        self.agent = agent
        self.model: Model = agent._model_override or agent.model
        self.model_settings = validate_settings(model_settings)
        self.settings: ModelSettings = merge_settings(self.model.settings, agent.model_settings, self.model_settings)
        spec = agent.output_type if output_type is None else output_type
        self.output = agent._output if output_type is None else OutputSchema(output_type,
                                                                              default_retries=agent.output_retries)
        self.columns = ResultColumns(spec)
        self.prices = check_prices(prices) if prices else {}
        self.price: Price | None = price_of(self.model.label, self.prices)
        self.batch_price = batch_price_of(self.model.label, self.price)
        self.exact_tokens = self.model.system == "offline"  # it counts words; TestModel / FunctionModel guess as PydanticAI
        sent = self._sent_with_every_request()
        self._key_prefix = hashlib.sha256(self._fixed_parts(sent).encode())
        texts = [sent["instructions"] or "", *sent["system_prompts"], sent["output"]["instructions"] or ""]
        schemas = [sent["tools"], sent["output"]["tools"], sent["output"]["object"]]
        self.fixed_tokens = MESSAGE_OVERHEAD + sum(self.count_tokens(text) for text in texts) + sum(
            self.count_tokens(json.dumps(schema, ensure_ascii=False)) for schema in schemas if schema)

    def _sent_with_every_request(self) -> dict[str, Any]:
        """What every request carries besides the row's prompt: instructions, system prompts, tools, output."""
        tools = [dataclasses.asdict(tool.tool_def) for tool in self.agent.tools.values()]
        output = {"mode": self.output.mode, "tools": [dataclasses.asdict(tool) for tool in self.output.tool_defs()],
                  "object": dataclasses.asdict(self.output.object_def) if self.output.object_def else None,
                  "instructions": self.output.instructions, "allow_text": self.output.allow_text}
        return {"instructions": self.agent.fixed_instructions, "system_prompts": list(self.agent.fixed_system_prompts),
                "tools": tools, "output": output}

    def _fixed_parts(self, sent: dict[str, Any]) -> str:
        """Everything of every request that decides the answers, as canonical JSON (the key's prefix)."""
        model = self.model
        function = getattr(model, "function", None)
        own = {name: value for name, value in vars(model).items()  # base_url, an offline model's fixed answer, ...
               if not name.startswith("_") and name != "settings" and isinstance(value, _PLAIN)}
        parts = {
            "version": KEY_VERSION,
            "model": model.label, "class": type(model).__name__, "attributes": own,
            "function": getattr(function, "__qualname__", None),
            "settings": {name: value for name, value in self.settings.items() if name not in NOT_IN_KEY},
            "functions": self._function_names(),
            **sent,
        }
        return json.dumps(parts, sort_keys=True, default=repr, ensure_ascii=False)

    def _function_names(self) -> list[str]:
        """The instructions / system prompt functions and output validators, by name (their code cannot be
        hashed; a change of name or of the set asks again)."""
        prompts = self.agent._prompts
        sources = [source for source in (*prompts.instructions, *prompts.system_prompts) if not isinstance(source, str)]
        functions = [getattr(source, "function", source) for source in sources]
        functions += [getattr(validator, "function", validator) for validator in self.agent._output_validators]
        return [f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}"
                for function in functions]

    def key(self, prompt: str) -> str:
        """The request key of one row's prompt."""
        digest = self._key_prefix.copy()
        digest.update(b"\0" + prompt.encode())
        return digest.hexdigest()

    def count_tokens(self, text: str) -> int:
        """Tokens of text: words for the offline model (as it counts), else about 4 characters a token."""
        if self.exact_tokens:
            return len(text.split())
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def input_tokens(self, prompt: str) -> int:
        """The input tokens one row's first request is expected to take."""
        if self.exact_tokens:
            return self.count_tokens(prompt)  # the offline model counts only what the messages say
        return self.fixed_tokens + self.count_tokens(prompt)

    @property
    def max_tokens(self) -> int | None:
        value = self.settings.get("max_tokens")
        return int(value) if isinstance(value, int) else None
