"""The `Agent`'s methods over many rows at once: `map` / `map_async` (one question over every row),
`estimate_map`, and batch jobs (`submit_batch`, `batch_job`).

Each hands off to rowmap/, imported only when called, so pandas loads with the row map, never with the
agent; they are a mixin of `Agent` so the agent module keeps to what an agent is and how one run goes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Generic, Mapping, Sequence

from typing_extensions import TypedDict, Unpack

from .output import OutputSpec
from .tools import AgentDepsT

if TYPE_CHECKING:
    import pandas

    from .rowmap.estimate import MapEstimate


class MapOptions(TypedDict, total=False):
    """What `agent.map(...)` and `agent.map_async(...)` take besides the rows and the prompt."""

    output_type: OutputSpec[Any] | None
    concurrency: int
    cache: bool | str | os.PathLike[str]
    budget: float | None
    deps: Any
    model_settings: Mapping[str, Any] | None
    progress: bool | Callable[[Any], None]
    prices: Mapping[str, Sequence[float]] | None


class RowMapMethods(Generic[AgentDepsT]):
    """`Agent.map`, `map_async`, `estimate_map`, `submit_batch` and `batch_job` (see `Agent`)."""

    # ------------------------------------------------------------------ batch jobs

    def submit_batch(self, rows: Any, prompt: str | None = None, *, output_type: OutputSpec[Any] | None = None,
                     deps: AgentDepsT = None,  # type: ignore[assignment]
                     model_settings: Mapping[str, Any] | None = None, cache: Any = True) -> Any:
        """`map`'s rows as a job on the provider's batch engine (OpenAI Batch API, Anthropic Message
        Batches): about half the price, answered within a day, recorded so it survives a kernel restart.
        Returns a `BatchJob` (`refresh()`, `cancel()`, `wait()`, `result()` → `map`'s DataFrame)."""
        from .rowmap.batch import submit_batch  # pandas loads with the row map, never with the agent

        return submit_batch(self, rows, prompt, output_type=output_type, deps=deps, model_settings=model_settings,
                            cache=cache)

    def batch_job(self, job_id: str, *, output_type: OutputSpec[Any] | None = None, cache: Any = True) -> Any:
        """A recorded batch job (`nbagent.batch_jobs()` lists them) bound to this agent, so `result()`
        validates the answers with its output type, e.g. after a kernel restart."""
        from .rowmap.batch import batch_job

        return batch_job(self, job_id, output_type=output_type, cache=cache)


    # ------------------------------------------------------------------ one question over many rows

    def map(self, rows: Any, prompt: str | None = None, /, **options: Unpack[MapOptions]) -> "pandas.DataFrame":
        """Ask `prompt` (a `str.format` template over each row's fields) of every row, each an independent
        run; return a DataFrame aligned with the input's index (README: "One question over every row").

        `rows`: a DataFrame, a Series, a list of dicts, or a list of strings (each the prompt when no
        template is given). Options (`MapOptions`): `output_type` (the result's columns), `concurrency`
        (16: requests in flight at most, fewer while the provider answers 429), `cache` (True: the
        default SQLite file; a path; False), `budget` (USD; needs a price from `prices` or
        genai-prices), `deps`, `model_settings`, `progress` (True: a text line on stderr; False; or a
        function taking a `MapProgress`), `prices` (`{"provider:model": [input, output]}` USD per million
        tokens). Identical requests are sent once; every answer is committed to the cache as it lands,
        so running it again sends only the rows not answered yet; a row that fails has its one-line
        message in `_error`. Runs on its own loop in a thread, so it works inside Jupyter's loop too.
        """
        from .rowmap.run import map_rows  # pandas, only when a map is asked for

        return map_rows(self, rows, prompt, **options)

    async def map_async(self, rows: Any, prompt: str | None = None, /,
                        **options: Unpack[MapOptions]) -> "pandas.DataFrame":
        """`map` as a coroutine, on the caller's loop; cancelling it loses only the rows in flight."""
        from .rowmap.run import map_rows_async

        return await map_rows_async(self, rows, prompt, **options)

    def estimate_map(
        self,
        rows: Any,
        prompt: str | None = None,
        *,
        output_type: OutputSpec[Any] | None = None,
        model_settings: Mapping[str, Any] | None = None,
        prices: Mapping[str, Sequence[float]] | None = None,
        cache: bool | str | os.PathLike[str] = True,
        pilot: int = 3,
    ) -> "MapEstimate":
        """What `map` would send and cost, before it sends anything: requests after duplicates and cache
        hits, input tokens from the rendered prompts, output tokens from `max_tokens` or a `pilot` of a
        few rows (run for real and cached, so the map does not pay for them twice), the cost and the
        batch price where a price is known."""
        from .rowmap.estimate import estimate_map

        return estimate_map(self, rows, prompt, output_type=output_type, model_settings=model_settings,
                            prices=prices, cache=cache, pilot=pilot)
