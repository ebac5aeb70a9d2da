"""The replay backend: searches over a pool of recorded traces with an event-driven simulated clock.

Training a configuration to budget b replays the first b epochs of its trace. That is faithful
because the learning-rate schedule of every pool trace is fixed to the maximal budget (A.3.2), so the
first b epochs of a long run are exactly a run stopped at b. A job costs the recorded wall time of
the epochs it adds (a promoted configuration continues from its previous budget) plus the
estimator's measured overhead at that budget. W workers run jobs in parallel; the search stops when
the simulated time budget is spent, and a job still running then does not count.

Estimates are computed once per (configuration, budget) into an `EstimateTable`, together with the
overhead measured while computing them; every replay reads the table, so the same table and seed give
the same search, and a hundred replays cost seconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fhbench.estimate import run_estimators
from fhbench.search.algorithms import SearchAlgorithm


@dataclass(frozen=True)
class EstimateTable:
    """One estimator's estimates on the pool: rows are pool configs, columns `budgets`."""

    estimator: str
    budgets: tuple[int, ...]
    values: np.ndarray  # (n_configs, n_budgets); a failed estimate is 0.0 (ranked last) and counted
    overhead_s: np.ndarray  # same shape: fit time shared over the pool plus the estimate's own time
    failures: tuple[str, ...] = ()

    def lookup(self, config: int, budget: int) -> tuple[float, float]:
        column = self.budgets.index(budget)
        return float(self.values[config, column]), float(self.overhead_s[config, column])

    def to_dict(self) -> dict:
        return {"estimator": self.estimator, "budgets": list(self.budgets), "values": self.values.tolist(),
                "overhead_s": self.overhead_s.tolist(), "failures": list(self.failures)}

    @classmethod
    def from_dict(cls, data: dict) -> EstimateTable:
        return cls(data["estimator"], tuple(data["budgets"]), np.asarray(data["values"], dtype=np.float64),
                   np.asarray(data["overhead_s"], dtype=np.float64), tuple(data["failures"]))


def estimate_table(name: str, estimator, traces: Sequence, budgets: Sequence[int]) -> EstimateTable:
    """Runs `estimator` on every pool trace cut at every budget through the harness
    (`fhbench.estimate`), which times it and turns its failures into records.

    `fit` sees the whole pool cut at the same budget: a simplification for population-level
    estimators (LCNet), which in a real search would see only the curves observed so far.
    """
    row = {trace.trial_id: i for i, trace in enumerate(traces)}
    values = np.zeros((len(traces), len(budgets)))
    overhead = np.zeros_like(values)
    failures = []
    for record in run_estimators({name: estimator}, traces, budgets):
        cell = row[record.trial_id], budgets.index(record.checkpoint)
        values[cell] = record.estimate if record.estimate is not None else 0.0
        overhead[cell] = record.overhead_s
        if record.error:
            failures.append(f"{record.trial_id} at budget {record.checkpoint}: {record.error}")
    return EstimateTable(name, tuple(budgets), values, overhead, tuple(failures))


@dataclass
class SearchRun:
    algorithm: str
    estimator: str
    seed: int
    incumbent: int | None = None
    simulated_time_s: float = 0.0
    jobs: list[dict] = field(default_factory=list)  # finished jobs in finishing order
    trajectory: list[tuple[float, int]] = field(default_factory=list)  # (time, incumbent) after each result

    @property
    def configs_evaluated(self) -> int:
        return len({job["config"] for job in self.jobs})


def replay(algorithm: SearchAlgorithm, table: EstimateTable, epoch_times: np.ndarray, workers: int,
           time_budget_s: float, *, estimator: str, seed: int) -> SearchRun:
    """Drives `algorithm` with `workers` simulated workers until `time_budget_s` is spent.

    `epoch_times[c, e]` is the recorded wall time of epoch e + 1 of pool config c.
    """
    run = SearchRun(algorithm.name, estimator, seed)
    running: list[tuple[float, int, object]] = []  # (finish time, job id, job): a heap
    clock = 0.0
    while True:
        while len(running) < workers and not algorithm.done:
            job = algorithm.propose()
            if job is None:
                break
            start = algorithm.previous_budget(job)
            _, overhead = table.lookup(job.config, job.budget)
            cost = float(epoch_times[job.config, start:job.budget].sum()) + overhead
            heapq.heappush(running, (clock + cost, job.job_id, job))
        if not running:
            break
        finish, _, job = heapq.heappop(running)
        if finish > time_budget_s:
            break  # time is up before this job (the earliest to finish) ends
        clock = finish
        score, _ = table.lookup(job.config, job.budget)
        algorithm.report(job, score)
        run.jobs.append({"job_id": job.job_id, "config": job.config, "budget": job.budget, "bracket": job.bracket,
                         "rung": job.rung, "finish_s": round(finish, 6), "score": score})
        run.trajectory.append((clock, algorithm.incumbent()))
    run.incumbent = algorithm.incumbent()
    run.simulated_time_s = clock
    return run
