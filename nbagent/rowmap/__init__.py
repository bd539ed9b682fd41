"""One question over every row: `agent.map` (SPEC §10), in the core, free of Jupyter imports.

    rows.py      the input (DataFrame, Series, list of dicts or strings) and the prompt rendered per row
    columns.py   the output type as result columns and dtypes; the result DataFrame
    store.py     the SQLite cache of answers (and the batch jobs table), committed row by row
    limiter.py   the gate every HTTP request of a map passes: concurrency that adapts to 429s, pacing
    estimate.py  requests, tokens and cost before the first request
    run.py       the map itself: dedup, cache, workers, budget, progress, the report

pandas is imported here, where the feature needs it; `%load_ext nbagent` never imports this package.
"""

from __future__ import annotations

from ..errors import UserError

try:
    import pandas  # noqa: F401  (the one place the row map requires it)
except ImportError:  # pragma: no cover - pandas is installed wherever the tests run
    raise UserError("agent.map needs pandas: pip install pandas") from None
