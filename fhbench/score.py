"""Scoring: per estimator and checkpoint, error and rank agreement against the true final accuracy.

Each metric is computed within a repeat (one population of sampled architectures) and then
summarised as mean and population standard deviation (ddof=0) over the suite's repeats.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from fhbench.estimate import EstimateRecord
from fhbench.traces import TrialTrace


def true_accuracy(trace: TrialTrace, truth: str) -> float:
    """The trial's own accuracy at the end of its full budget."""
    curve = trace.curve("test_acc" if truth == "final_test_acc" else "val_acc")
    if len(curve) < trace.budget or not math.isfinite(curve[trace.budget - 1]):
        raise ValueError(f"trace {trace.trial_id} has no {truth} at epoch {trace.budget}")
    return float(curve[trace.budget - 1])


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

    def as_dict(self) -> dict:
        return asdict(self)


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return float(np.mean(finite)), float(np.std(finite))


def _rank_correlations(estimates: list[float], truths: list[float]) -> tuple[float, float]:
    if len(estimates) < 2 or len(set(estimates)) < 2 or len(set(truths)) < 2:
        return math.nan, math.nan  # undefined for constant inputs
    return float(stats.kendalltau(estimates, truths).statistic), float(stats.spearmanr(estimates, truths).statistic)


def score(records: Sequence[EstimateRecord], truths: dict[str, float], epoch_times: dict[str, float],
          budget: int) -> list[Row]:
    groups: dict[tuple[str, int], dict[int, list[EstimateRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        groups[(record.estimator, record.checkpoint)][record.repeat].append(record)
    rows = []
    for (estimator, epoch), by_repeat in groups.items():
        per_repeat: dict[str, list[float]] = defaultdict(list)
        n_ok = n_failed = 0
        for repeat_records in by_repeat.values():
            ok = [r for r in repeat_records if r.estimate is not None]
            n_ok += len(ok)
            n_failed += len(repeat_records) - len(ok)
            estimates = [r.estimate for r in ok]
            true = [truths[r.trial_id] for r in ok]
            per_repeat["mae"].append(float(np.mean(np.abs(np.subtract(estimates, true)))) if ok else math.nan)
            tau, rho = _rank_correlations(estimates, true)
            per_repeat["tau"].append(tau)
            per_repeat["rho"].append(rho)
            per_repeat["sec"].append(float(np.mean([r.overhead_s for r in repeat_records])))
            per_repeat["ep"].append(float(np.mean([r.overhead_s / epoch_times[r.trial_id] for r in repeat_records])))
        rows.append(Row(estimator, epoch, epoch / budget, *_mean_std(per_repeat["mae"]),
                        *_mean_std(per_repeat["tau"]), *_mean_std(per_repeat["rho"]),
                        *_mean_std(per_repeat["sec"]), *_mean_std(per_repeat["ep"]), n_ok, n_failed))
    return sorted(rows, key=lambda row: (row.epoch, row.estimator))
