"""The replay backend: searches over a pool of recorded traces, driven by `fhbench.search.driver`.

Training a configuration to budget b replays the first b epochs of its trace. That is faithful
because the learning-rate schedule of every pool trace is fixed to the maximal budget (A.3.2), so the
first b epochs of a long run are exactly a run stopped at b. A job costs what the cost model
(`fhbench.search.cost`) charges, from the recorded epoch and validation times and the overhead the
estimation harness measured for the estimate.

Estimates are computed once per (configuration, budget) into an `EstimateTable` through the harness
(`fhbench.estimators.harness.fit_and_estimate`, the same one the live backend and estimation suites use),
together with the overhead measured while computing them; every replay reads the table, so the same
table and seed give the same search, and a hundred replays cost well under a second.

Replaying a live search (`LookupReplayBackend`). A live search with a trace store writes every run it
trained as a trace (`fhbench.search.backends.live`), "stopped" where the search stopped it. A replay on those
traces maps each job's config to its trial (for a declared search `fhbench.search.trials`) and the
trial to the row of its trace; the table is `estimate_table` over the recorded traces, so a trace that
stopped at epoch e has estimates up to e only. A job that needs epochs never recorded (the trial has no
trace, or its trace stopped below the job's budget) fails with an error starting "not recorded:"
(`fhbench.search.driver.NOT_RECORDED`; `SearchRun.unrecorded_jobs` counts them) and is charged an
estimate of what training it would have cost: the recorded epoch + validation times of the epochs it
adds that the trace holds, and for each epoch beyond, the mean recorded epoch + validation time of its
own trace, or where it has none, the mean over every recorded epoch of every trace; no estimation
overhead. Such a job reports `epochs` = its budget, as if trained. The same algorithm, seed and
estimator (one whose estimate of a trial does not depend on the population: original, fh-ensemble)
replayed on what a live search wrote makes that search's jobs again, with its estimates and
incumbent, and no unrecorded job (tested in tests/test_live_traces.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from pathlib import Path

import numpy as np

from fhbench.core.errors import FhbenchError
from fhbench.core.seal import sealed_files_under
from fhbench.inputs.suite import DEFAULT_ESTIMATE_TIMEOUT_S
from fhbench.search.algorithms import Job, SearchAlgorithm
from fhbench.search.cost import job_cost
from fhbench.search.driver import NOT_RECORDED, JobOutcome, SearchRun, run_search


def _floats(values) -> list:
    """A JSON-ready list of lists: NaN becomes None; floats keep every digit (JSON round-trips them)."""
    return [[None if v != v else float(v) for v in row] for row in np.asarray(values, dtype=np.float64)]


@dataclass(frozen=True, eq=False)
class EstimateTable:
    """One estimator's estimates on the pool: rows are pool configs, columns `budgets`.

    `values` is NaN where there is no estimate: a failed one (listed in `failures` with its error) or
    a trial that did not reach the budget. `overhead_s` is what the harness measured for each estimate
    (the fit's equal share plus the estimate's own time), 0 where the trial did not reach the budget.
    """

    estimator: str
    budgets: tuple[int, ...]
    values: np.ndarray  # (n_configs, n_budgets)
    overhead_s: np.ndarray  # same shape
    failures: tuple[tuple[int, int, str], ...] = ()  # (config, budget, error)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        overhead = np.asarray(self.overhead_s, dtype=np.float64)
        budgets = tuple(int(b) for b in self.budgets)
        if values.ndim != 2 or values.shape[1] != len(budgets) or overhead.shape != values.shape:
            raise ValueError(f"estimate table '{self.estimator}': values {values.shape} and overheads "
                             f"{overhead.shape} do not fit {len(budgets)} budgets")
        if not np.all(np.isfinite(overhead)) or np.any(overhead < 0):
            raise ValueError(f"estimate table '{self.estimator}': overheads must be finite seconds >= 0")
        finite = values[np.isfinite(values)]
        if np.any((finite < 0) | (finite > 1)):
            raise ValueError(f"estimate table '{self.estimator}': estimates must be accuracies in [0, 1]")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "overhead_s", overhead)
        object.__setattr__(self, "budgets", budgets)
        object.__setattr__(self, "failures", tuple((int(c), int(b), str(e)) for c, b, e in self.failures))

    @property
    def n_configs(self) -> int:
        return int(self.values.shape[0])

    def lookup(self, config: int, budget: int) -> tuple[float | None, float, str | None]:
        """(estimate or None, overhead in seconds, error) of `config` at `budget`."""
        column = self.budgets.index(budget)
        value = float(self.values[config, column])
        overhead = float(self.overhead_s[config, column])
        if value == value:
            return value, overhead, None
        error = next((e for c, b, e in self.failures if (c, b) == (config, budget)), "no estimate")
        return None, overhead, error

    def to_dict(self) -> dict:
        return {"estimator": self.estimator, "budgets": list(self.budgets), "values": _floats(self.values),
                "overhead_s": _floats(self.overhead_s),
                "failures": [{"config": c, "budget": b, "error": e} for c, b, e in self.failures]}

    @classmethod
    def from_dict(cls, data: dict) -> EstimateTable:
        """Raises ValueError, KeyError or TypeError when `data` is not a well-formed table."""
        values = np.array([[np.nan if v is None else float(v) for v in row] for row in data["values"]],
                          dtype=np.float64)
        overhead = np.array([[float(v) for v in row] for row in data["overhead_s"]], dtype=np.float64)
        failures = tuple((int(f["config"]), int(f["budget"]), str(f["error"])) for f in data["failures"])
        return cls(str(data["estimator"]), tuple(data["budgets"]), values, overhead, failures)


@dataclass(frozen=True, eq=False)
class EpochTimes:
    """The recorded times the cost model charges: per pool config, each epoch's training pass
    (`epoch_time`) and validation pass (`val_time`), as long as the trial ran."""

    epoch_time: tuple[np.ndarray, ...]
    val_time: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        epoch_time = tuple(np.asarray(a, dtype=np.float64) for a in self.epoch_time)
        val_time = tuple(np.asarray(a, dtype=np.float64) for a in self.val_time)
        if len(epoch_time) != len(val_time) or any(a.ndim != 1 or a.shape != b.shape
                                                   for a, b in zip(epoch_time, val_time)):
            raise ValueError("epoch_time and val_time must hold one 1-D array per config, of equal lengths")
        for a in epoch_time:  # a free epoch would let HyperBand repeat iterations without end
            if not np.all(np.isfinite(a)) or np.any(a <= 0):
                raise ValueError("recorded training times must be finite seconds > 0")
        for a in val_time:
            if not np.all(np.isfinite(a)) or np.any(a < 0):
                raise ValueError("recorded validation times must be finite seconds >= 0")
        object.__setattr__(self, "epoch_time", epoch_time)
        object.__setattr__(self, "val_time", val_time)

    @classmethod
    def from_traces(cls, traces: Sequence) -> EpochTimes:
        epoch_time, val_time = [], []
        for trace in traces:
            try:
                val_time.append(trace.curve("val_time"))
            except KeyError:
                raise FhbenchError(f"trace {trace.trial_id} records no val_time (the validation pass's time): "
                                   f"it was recorded by an older fhbench; record the suite again") from None
            epoch_time.append(trace.curve("epoch_time"))
        return cls(tuple(epoch_time), tuple(val_time))

    def __len__(self) -> int:
        return len(self.epoch_time)

    def epochs_completed(self, config: int) -> int:
        return len(self.epoch_time[config])

    def to_dict(self) -> dict:
        return {"epoch_time": [[float(v) for v in a] for a in self.epoch_time],
                "val_time": [[float(v) for v in a] for a in self.val_time]}

    @classmethod
    def from_dict(cls, data: dict) -> EpochTimes:
        return cls(tuple(np.array([float(v) for v in a]) for a in data["epoch_time"]),
                   tuple(np.array([float(v) for v in a]) for a in data["val_time"]))


def estimate_table(name: str, estimator, traces: Sequence, budgets: Sequence[int], *, device=None,
                   on_step: Callable[[str], None] | None = None, sealed_paths: Sequence = (),
                   isolate: bool = False, timeout_s: float | None = None, threads: int | None = None) -> EstimateTable:
    """Runs `estimator` on every pool trace cut at every budget through the harness's runner
    (`fhbench.estimators.harness.EstimatorRunner`: a fresh copy per budget; with `isolate`, in a worker
    process of its own under `timeout_s` per call, as a suite's scoring does), which times it and turns
    its failures, time-outs included, into records.

    `fit` sees every pool trace that reached the budget, cut there: a simplification for
    population-level estimators (LCNet), which in a real search would see only the curves observed so
    far (the live backend fits on those). A trial that did not reach a budget has no estimate there.
    """
    from fhbench.estimators.harness import EstimatorRunner

    budgets = tuple(int(b) for b in budgets)
    row = {trace.trial_id: i for i, trace in enumerate(traces)}
    values = np.full((len(traces), len(budgets)), np.nan)
    overhead = np.zeros_like(values)
    failures = []
    # every sealed file of the pool's store, by identity (a hard link to one stays sealed), as in scoring
    sealed_files = sealed_files_under(sorted({str(Path(t.path).parent) for t in traces if getattr(t, "path", None)}))
    with EstimatorRunner(name, estimator, isolate=isolate, timeout_s=timeout_s or DEFAULT_ESTIMATE_TIMEOUT_S,
                         threads=threads, device=device, sealed_paths=sealed_paths,
                         sealed_files=sealed_files) as runner:
        for column, budget in enumerate(budgets):
            if on_step:
                on_step(f"estimates: {name} at budget {budget}")
            views = [trace.view(budget) for trace in traces if trace.epochs_completed >= budget]
            for record in runner.step(views, repeat=0, checkpoint=budget):
                config = row[record.trial_id]
                overhead[config, column] = record.overhead_s
                if record.error is None:
                    values[config, column] = record.estimate
                else:
                    failures.append((config, budget, record.error))
    return EstimateTable(name, budgets, values, overhead, tuple(failures))


class ReplayBackend:
    """Answers the driver's jobs from an estimate table and the recorded times (see the module docstring)."""

    def __init__(self, table: EstimateTable, times: EpochTimes):
        if table.n_configs != len(times):
            raise ValueError(f"estimate table '{table.estimator}' has {table.n_configs} configs, "
                             f"the recorded times {len(times)}")
        self.table = table
        self.times = times
        self.estimator = table.estimator

    def run(self, job: Job, start: int) -> JobOutcome:
        return self._recorded(job.config, job, start, "stopped at epoch {} (diverged, or lost while recording)")

    def _recorded(self, row: int, job: Job, start: int, stopped: str) -> JobOutcome:
        """The job answered from row `row` of the table and times; a trace that ends before the job's
        budget fails the job with "the trial " + `stopped` (formatted with its epochs) + the budget."""
        completed = self.times.epochs_completed(row)
        first, stop = min(start, completed), min(job.budget, completed)
        epoch_time, val_time = self.times.epoch_time[row], self.times.val_time[row]
        if stop < job.budget:
            return JobOutcome(None, job_cost(epoch_time, val_time, first, stop, 0.0), 0.0, stop,
                              f"the trial {stopped.format(completed)}, before budget {job.budget}")
        score, overhead, error = self.table.lookup(row, job.budget)
        return JobOutcome(score, job_cost(epoch_time, val_time, first, stop, overhead), overhead, stop, error)


def replay(algorithm: SearchAlgorithm, table: EstimateTable, times: EpochTimes, workers: int, time_budget_s: float,
           *, seed: int, on_note: Callable[[str], None] | None = None) -> SearchRun:
    """One replayed search: `run_search` with a `ReplayBackend`."""
    return run_search(algorithm, ReplayBackend(table, times), workers=workers, time_budget_s=time_budget_s,
                      seed=seed, on_note=on_note)


class LookupReplayBackend(ReplayBackend):
    """Answers the driver's jobs from recorded traces found by a lookup (a replay of what live searches
    wrote; see the module docstring). `row_of(job.config)` is the row of the job's trace in `table` and
    `times`, or None where its trial was never recorded; `diverged` holds the rows whose trace diverged
    (a result: a job past it fails as in `ReplayBackend`, it is not unrecorded)."""

    def __init__(self, table: EstimateTable, times: EpochTimes, row_of: Callable[[int], int | None], *,
                 diverged: Collection[int] = ()):
        super().__init__(table, times)
        per_epoch = [e + v for e, v in zip(times.epoch_time, times.val_time) if len(e)]
        if not per_epoch:
            raise FhbenchError("replay of recorded traces: no trace holds an epoch (nothing was recorded)")
        self.row_of = row_of
        self.diverged = frozenset(int(row) for row in diverged)
        self.mean_epoch_s = float(np.mean(np.concatenate(per_epoch)))  # what an epoch of no trace is charged

    @classmethod
    def from_traces(cls, table: EstimateTable, traces: Sequence, trial_of: Callable[[int], object]
                    ) -> LookupReplayBackend:
        """The backend over `traces` (the rows of `table`), where `trial_of(config)` is the trial of a
        search's config (`DeclaredTrials.__getitem__`, or a pool's `trials.__getitem__`). A trace found
        for a trial but recorded for another config is an error, not a lookup miss."""
        rows = {trace.trial_id: i for i, trace in enumerate(traces)}

        def row_of(config: int) -> int | None:
            trial = trial_of(config)
            row = rows.get(trial.trial_id)
            if row is not None and traces[row].config != trial.config:
                raise FhbenchError(f"trace {trial.trial_id} is of {traces[row].config}, but the search's config "
                                   f"{config} is {trial.config}")
            return row

        return cls(table, EpochTimes.from_traces(traces), row_of,
                   diverged=[i for i, trace in enumerate(traces) if trace.status == "diverged"])

    def _mean_epoch(self, row: int | None) -> float:
        if row is None or self.times.epochs_completed(row) == 0:
            return self.mean_epoch_s
        return float(np.mean(self.times.epoch_time[row] + self.times.val_time[row]))

    def run(self, job: Job, start: int) -> JobOutcome:
        row = self.row_of(job.config)
        completed = 0 if row is None else self.times.epochs_completed(row)
        if row is not None and (completed >= job.budget or row in self.diverged):
            return self._recorded(row, job, start, "diverged at epoch {}")
        cost = (self._mean_epoch(row) * (job.budget - max(start, completed)))
        if row is not None and completed > start:
            cost += job_cost(self.times.epoch_time[row], self.times.val_time[row], start, completed, 0.0)
        why = ("its trial was never trained" if row is None else
               f"its trace stopped at epoch {completed}, before budget {job.budget}")
        return JobOutcome(None, cost, 0.0, job.budget, f"{NOT_RECORDED} config {job.config}: {why}")


def recorded_traces(store, *, prefix: str = "") -> list:
    """The traces in `store` whose trial ids start with `prefix` (declared searches: "c-"), in id order;
    lost trials (no epochs) are left out."""
    traces = [store.open(trial_id) for trial_id in store.trial_ids() if trial_id.startswith(prefix)]
    return [trace for trace in traces if trace.status != "lost"]
