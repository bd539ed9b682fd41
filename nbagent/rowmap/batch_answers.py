"""A batch job's answers read back into the DataFrame `map` returns, and into the map's cache.

Each answer goes through the agent's own output validation, as the live run of that row would (a batch
has no second round: an answer that does not validate is the row's `_error`, not a retry). Every answer
that validated is committed to the map's cache under the key `agent.map` gives the same row, so a map
over those rows afterwards sends nothing for them; rows whose answer was in the cache when the job was
submitted were never sent, and are read from it here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from ..errors import NbAgentError
from ..messages import ModelRequest, RetryPromptPart
from .batch_wire import BatchProtocol, RemoteBatch
from .columns import ResultColumns, ResultTable
from .store import CachedAnswer, MapStore

if TYPE_CHECKING:
    from ..agent import Agent

Outcome = tuple[Any, "str | None"]  # (output, None) or (None, the one-line reason there is none)


class BatchAnswers:
    """The outcome of every request of a job (numbered as submitted), and the tokens they used."""

    def __init__(self, agent: Agent[Any, Any], output_type: Any, protocol: BatchProtocol, store: MapStore,
                 keys: list[str]) -> None:
        self.agent = agent
        self.output_type = output_type
        self.protocol = protocol
        self.store = store
        self.keys = keys  # each request's map cache key
        self.columns = ResultColumns(agent.output_type if output_type is None else output_type)
        self.outcomes: dict[int, Outcome] = {}
        self.tokens_in = self.tokens_out = 0
        self.cache_hits = 0

    async def read(self, parts: list[RemoteBatch], prompt_of: Callable[[int], str]) -> None:
        """Every answer the provider's batches hold, validated; those that validate committed to the cache."""
        for part in parts:
            async for line in self.protocol.results(part):
                number = int(line.custom_id.removeprefix("row-"))
                if line.body is None:
                    self.outcomes[number] = (None, line.error)
                else:
                    self.outcomes[number] = await self._validated(number, line.body, prompt_of(number))

    def from_cache(self, requests: list[int]) -> None:
        """The requests the cache answered when the job was submitted (so they were not sent)."""
        found = self.store.get_many(self.keys[number] for number in requests)
        for number in requests:
            answer = found.get(self.keys[number])
            if answer is None:
                self.outcomes[number] = (None, "its answer was in the map cache when the job was submitted and is "
                                               "gone now: run agent.map(...) for it")
            else:
                self.outcomes[number] = (self.columns.load(answer.output), None)
                self.cache_hits += 1

    async def _validated(self, number: int, body: dict[str, Any], prompt: str) -> Outcome:
        model = self.protocol.model
        try:
            response = model._answer(body)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return None, f"the provider's answer is not {model.answer_kind}"
        usage = response.usage
        self.tokens_in += usage.input_tokens
        self.tokens_out += usage.output_tokens
        run = self.agent._start(prompt, {"output_type": self.output_type})
        try:
            run.record(response)
            async for _ in run.handle_response(response):
                pass
        except NbAgentError as exc:
            return None, " ".join(str(exc).split())
        if run.final is None:
            last = run.messages[-1]
            retry = [part for part in last.parts if isinstance(part, RetryPromptPart)] if isinstance(last, ModelRequest) else []
            reason = retry[0].model_response() if retry else "the model called a tool, and a batch has no tool rounds"
            return None, "the answer did not validate: " + " ".join(reason.split())[:300]
        value = run.final.value
        self.store.put(self.keys[number], CachedAnswer(self.columns.dump(value), usage.input_tokens,
                                                       usage.output_tokens, 1), model.label)
        return value, None

    def frame(self, request_of_row: list[int], index: pd.Index, missing: str) -> tuple[pd.DataFrame, int]:
        """The result, one row per input row (a request without an outcome gets `missing`); and how many failed."""
        table = ResultTable(self.columns, len(request_of_row))
        failed = 0
        for row, request in enumerate(request_of_row):
            value, error = self.outcomes.get(request, (None, missing))
            if error is None:
                table.set_output(row, value)
            else:
                table.set_error(row, error)
                failed += 1
        return table.frame(index), failed
