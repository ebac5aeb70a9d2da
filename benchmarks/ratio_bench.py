"""Ratio benchmarks for pytest-benchmark: what it times is a ratio measured within one round.

pytest-benchmark times a function and compares the timing statistics of two runs
(`--benchmark-compare`, `--benchmark-compare-fail=median:50%`). Absolute times on a shared CI machine
are not comparable between runs (a loaded run is slower, a faster machine is faster), so the
benchmarks here hand pytest-benchmark a clock that advances by a *ratio* instead of by seconds:

- each round measures two things one after the other on the CPU clock (`time.process_time`, which
  other processes on the machine barely change), say training with and without recording, and adds
  their ratio to `RatioClock`;
- pytest-benchmark reads that clock before and after the round, so the "duration" of the round is
  the ratio, and min, median, mean, stddev and iqr in its tables and saved JSON are statistics of the
  ratio. `--benchmark-compare-fail` then gates the ratio with pytest-benchmark's own machinery.

A ratio of two CPU times from the same round cancels the machine's speed (to first order) and the
machine's load (CPU time does not count the time other processes hold the core). What is left is
cache and memory-bandwidth interference, about 10-30% on the 2-core machine this was written on, which
is why the CI threshold is generous (see benchmarks/README.md). Each benchmark also stores the raw CPU
and wall seconds in `benchmark.extra_info`, for reading, never for asserting.

Use: `ratio_benchmark(measure, rounds=5)` where `measure()` returns (ratio, extra_info dict) for one
round. torch runs at one thread here (more threads than free cores spin, and spinning is CPU time).
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from collections.abc import Callable

import pytest


class RatioClock:
    """A clock for pytest-benchmark that advances only by the ratios measured in rounds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ratio: float) -> None:
        if not (math.isfinite(ratio) and ratio > 0):
            raise ValueError(f"a benchmark ratio must be finite and > 0, got {ratio!r}")
        self.now += ratio


def cpu_seconds(function: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.process_time() - cpu, time.perf_counter() - wall


def python_reference() -> list:
    """A fixed pure-Python workload (about 12 ms): the unit for code that is interpreter-bound rather than
    torch-bound (the search driver). Seeded random numbers and dict updates over 500 keys. Of three
    candidates (this, a heap of 20,000 tuples, an arithmetic loop) it tracked the driver best under
    busy processes: HyperBand replays over it measured 0.75-0.76 idle and under load, where the heap
    gave 0.88 idle and 0.68-0.71 loaded."""
    rng = random.Random(0)
    totals: dict[int, int] = {}
    for i in range(60_000):
        key = rng.randrange(500)
        totals[key] = totals.get(key, 0) + i
    return sorted(totals.items())


@pytest.fixture
def one_thread():
    """torch at one thread for the benchmark, where the benchmark module imported torch (a benchmark
    that does not use torch is not made to import it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ratio_benchmark(benchmark, one_thread):
    """`ratio_benchmark(measure, rounds=5, warmup_rounds=1)`: runs `measure` (returning (ratio, info))
    `rounds` times under pytest-benchmark with the ratio as each round's duration; returns the
    ratios. `benchmark.extra_info` gets the median ratio and each round's info."""
    if not hasattr(benchmark, "_timer"):  # pytest-benchmark's fixture keeps its clock there (4.x, 5.x)
        pytest.fail("this pytest-benchmark has no BenchmarkFixture._timer: the ratio clock cannot be installed")

    def run(measure: Callable[[], tuple[float, dict]], rounds: int = 5, warmup_rounds: int = 1) -> list[float]:
        clock = RatioClock()
        ratios: list[float] = []
        infos: list[dict] = []

        def target():
            ratio, info = measure()
            clock.advance(ratio)
            ratios.append(ratio)
            infos.append({"ratio": ratio, **info})

        benchmark._timer = clock
        benchmark.pedantic(target, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
        measured = ratios[warmup_rounds:]
        benchmark.extra_info.update({"statistic": "a ratio of two CPU times measured in the same round "
                                                  "(pytest-benchmark's 'time' columns are this ratio)",
                                     "ratio_median": statistics.median(measured),
                                     "rounds": infos[warmup_rounds:]})
        return measured

    return run
