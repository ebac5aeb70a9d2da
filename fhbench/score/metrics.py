"""Scoring: per estimator and checkpoint, error and rank agreement against the true final accuracy.
In a suite with train.budgets, per estimator, budget and checkpoint: a budget's rows score its trials
against their own final accuracy (at the end of that budget), and rank them among themselves.

Each metric is computed within a repeat (one population of sampled architectures) and then
summarised as mean and population standard deviation (ddof=0) over the suite's repeats.

A failed estimate is not dropped: it is scored as the estimate 0.0 (an accuracy of zero), so it
counts its whole truth as error in the MAE and ranks below every trial that was estimated in Kendall
tau and Spearman rho. An estimator that fails on hard trials therefore cannot look better by failing;
`coverage` (the fraction of estimates that succeeded) is published beside, and the search replay ranks
a failed estimate last by the same rule.

A rank-only estimator (class attribute `rank_only = True`: a score that orders trials but is no
accuracy, such as the sum of training losses) is scored on Kendall tau and Spearman rho only; its MAE
is NaN ("n/a" in the tables), never a number that would read as an accuracy error.

Overhead, per estimate (fit share plus estimate, as `fhbench.estimators.harness` measures it), in four columns:

- `overhead_s`: wall seconds, what a user waits; depends on the machine's load.
- `overhead_epochs`: those wall seconds divided by the trial's mean recorded training epoch, only where
  both ran on the same kind of device (cpu or cuda), else NaN: the thesis's unit (Figure 4.3). Two wall
  clocks read at different times (recording, then scoring), so on a shared machine it moves with the
  load of either moment: informative, not a gate.
- `overhead_cpu_s`: CPU seconds of the scoring process (all its threads) during the estimate.
- `overhead_ref`: those CPU seconds divided by the median CPU time of the fixed reference workload
  (`fhbench.estimators.harness.reference_workload`) timed in the same scoring run: overhead in reference units.
  Both sides are CPU time measured in one run, so a loaded machine does not move it and a faster or
  slower CPU moves both; `fhbench compare` gates overhead on it. Exact at one torch thread (with more,
  idle workers spin and spinning is CPU time; see `fhbench.estimators.harness`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from fhbench.estimators.harness import EstimateRecord

FAILED_ESTIMATE = 0.0
"""What a failed estimate counts as (see the module docstring)."""


@dataclass(frozen=True)
class Row:
    estimator: str
    epoch: int
    budget_fraction: float
    mae_mean: float
    mae_std: float
    kendall_tau_mean: float
    kendall_tau_std: float
    spearman_rho_mean: float
    spearman_rho_std: float
    overhead_s_mean: float
    overhead_s_std: float
    overhead_epochs_mean: float
    overhead_epochs_std: float
    n_estimates: int
    n_failed: int
    coverage: float
    overhead_cpu_s_mean: float = math.nan
    overhead_cpu_s_std: float = math.nan
    overhead_ref_mean: float = math.nan
    overhead_ref_std: float = math.nan
    rank_only: bool = False
    budget: int | None = None  # set only in suites with train.budgets: the budget the row's trials trained for

    def as_dict(self) -> dict:
        data = asdict(self)
        if self.budget is None:
            data.pop("budget")  # the rows of single-budget suites, and their results.json, stay as they were
        return data


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return float(np.mean(finite)), float(np.std(finite))


def _rank_correlations(estimates: list[float], truths: list[float]) -> tuple[float, float]:
    if len(estimates) < 2 or len(set(estimates)) < 2 or len(set(truths)) < 2:
        return math.nan, math.nan  # undefined for constant inputs
    return float(stats.kendalltau(estimates, truths).statistic), float(stats.spearmanr(estimates, truths).statistic)


def reference_cpu_s(records: Sequence[EstimateRecord]) -> float:
    """The median CPU time of the reference workload over the scoring run (NaN where none was timed:
    records from before the reference existed, or made outside `run_estimators`)."""
    timed = [r.reference_cpu_s for r in records if math.isfinite(r.reference_cpu_s) and r.reference_cpu_s > 0]
    return float(np.median(timed)) if timed else math.nan


def score(records: Sequence[EstimateRecord], truths: dict[str, float], epoch_times: dict[str, float],
          budget: int, rank_only: frozenset[str] = frozenset(), *, by_budget: bool = False) -> list[Row]:
    """`truths` and `epoch_times` are per trial id; an epoch time is NaN where the trial was recorded
    on another kind of device than the estimators ran on. `rank_only` names the estimators scored
    without MAE (see the module docstring).

    With `by_budget` (a suite with train.budgets) the rows are per estimator, budget (each record's own)
    and checkpoint, each against the truths of that budget's trials, with `budget_fraction` relative to
    that budget; `budget` is then unused."""
    reference = reference_cpu_s(records)
    groups: dict[tuple[str, int | None, int], dict[int, list[EstimateRecord]]] = \
        defaultdict(lambda: defaultdict(list))
    for record in records:
        if by_budget and record.budget is None:
            raise ValueError(f"score by budget: the record of {record.estimator} on {record.trial_id} has no budget")
        key = (record.estimator, record.budget if by_budget else None, record.checkpoint)
        groups[key][record.repeat].append(record)
    rows = []
    for (estimator, row_budget, epoch), by_repeat in groups.items():
        per_repeat: dict[str, list[float]] = defaultdict(list)
        n_failed = n_all = 0
        for repeat_records in by_repeat.values():
            n_all += len(repeat_records)
            n_failed += sum(r.estimate is None for r in repeat_records)
            estimates = [FAILED_ESTIMATE if r.estimate is None else r.estimate for r in repeat_records]
            true = [truths[r.trial_id] for r in repeat_records]
            per_repeat["mae"].append(math.nan if estimator in rank_only
                                     else float(np.mean(np.abs(np.subtract(estimates, true)))))
            tau, rho = _rank_correlations(estimates, true)
            per_repeat["tau"].append(tau)
            per_repeat["rho"].append(rho)
            per_repeat["sec"].append(float(np.mean([r.overhead_s for r in repeat_records])))
            ratios = [r.overhead_s / epoch_times[r.trial_id] for r in repeat_records]
            finite = [x for x in ratios if math.isfinite(x)]
            per_repeat["ep"].append(float(np.mean(finite)) if finite else math.nan)
            cpu = [r.overhead_cpu_s for r in repeat_records if math.isfinite(r.overhead_cpu_s)]
            per_repeat["cpu"].append(float(np.mean(cpu)) if cpu else math.nan)
            per_repeat["ref"].append(per_repeat["cpu"][-1] / reference)
        rows.append(Row(estimator, epoch, epoch / (row_budget or budget), *_mean_std(per_repeat["mae"]),
                        *_mean_std(per_repeat["tau"]), *_mean_std(per_repeat["rho"]),
                        *_mean_std(per_repeat["sec"]), *_mean_std(per_repeat["ep"]), n_all - n_failed, n_failed,
                        (n_all - n_failed) / n_all, *_mean_std(per_repeat["cpu"]), *_mean_std(per_repeat["ref"]),
                        estimator in rank_only, row_budget))
    return sorted(rows, key=lambda row: (row.budget or 0, row.epoch, row.estimator))
