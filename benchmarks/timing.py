"""How a client's CPU is measured: `time.process_time()` around one call, medians over round-robin runs.

Round-robin (floor, nbagent, PydanticAI, SDK, floor, ...) so that a busy neighbour on the machine
slows every contender alike instead of whichever happened to run at the time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Awaitable, Callable

Contenders = dict[str, tuple[Callable[[], Awaitable[Any]], int]]
"""Each contender's name: (the call to time, its repetitions)."""


async def cpu_of(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.process_time()
    value = await call()
    return time.process_time() - start, value


async def interleaved(
    contenders: Contenders, check: Callable[[str, Any], None], *, warm_up: int
) -> dict[str, float]:
    """Median CPU seconds of each contender, its runs interleaved round-robin with the others' so a
    busy neighbour on the machine slows all of them alike. Each value is (call, repetitions); every
    contender first runs `warm_up` times untimed (imports, connections, caches)."""
    for _ in range(warm_up):
        for name, (call, _) in contenders.items():
            check(name, await call())
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for rep in range(max(reps for _, reps in contenders.values())):
        for name, (call, reps) in contenders.items():
            if rep < reps:
                seconds, value = await cpu_of(call)
                check(name, value)
                samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}
