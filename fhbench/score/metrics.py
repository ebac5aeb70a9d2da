"""Scoring: per estimator and checkpoint, error and rank agreement against the true final accuracy.
In a suite with train.budgets, per estimator, budget and checkpoint: a budget's rows score its trials
against their own final accuracy (at the end of that budget), and rank them among themselves.

Each metric is computed within a repeat (one population of sampled architectures) and then
summarised as the mean over the suite's repeats, with a 95% interval from a paired bootstrap over cells
stratified by repeat (`fhbench.score.stats`: the same resampled cells for every estimator, B = 4,000,
seed 0 by default; boards published before that say B = 1,000 in their results.json) and, beside it,
the population standard deviation (ddof=0) over repeats, which is a
spread, not an uncertainty. A board with fewer than `MIN_CELLS_FOR_INTERVALS` cells per repeat gets no
intervals (NaN, "n/a" with that reason): a bootstrap over so few cells says nothing.

At each checkpoint the estimators are compared pair by pair (paired differences, Holm-corrected
p-values); the leader on Kendall tau and on MAE and every estimator not significantly behind it are
marked ("best", "tied"), and the cells per repeat that would resolve each adjacent pair are computed
(`statistics`, written into results.json).

A repeat whose rank correlation is undefined (every estimate equal: an estimator that failed on every
trial, or one whose estimates all sit at a bound) scores 0 there (no information), never dropped;
`repeats_scored` says in how many repeats it was defined. Precision at the top 10% is the share of the
true top 10% of cells among the estimator's top 10%, per repeat. `at_bound` is the share of an
estimator's successful estimates that sit exactly at 0 or 1 (a clipped estimate): such estimates tie
their cells and rank nothing among them.

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
from scipy import stats as scipy_stats

from fhbench.estimators.harness import EstimateRecord
from fhbench.score import stats

MIN_CELLS_FOR_INTERVALS = 10
"""Below this many cells per repeat a board prints n/a for every interval over cells."""


@dataclass(frozen=True)
class BootstrapSettings:
    """How the intervals are drawn; written into results.json beside them."""

    n_resamples: int = stats.DEFAULT_RESAMPLES
    seed: int = 0
    confidence: float = 0.95
    alpha: float = 0.05  # ties: Holm-adjusted p >= alpha against the leader

    def as_dict(self) -> dict:
        return {"method": stats.METHOD, "n_resamples": self.n_resamples, "seed": self.seed,
                "confidence": self.confidence, "alpha": self.alpha, "min_cells_per_repeat": MIN_CELLS_FOR_INTERVALS,
                "p_value": "two-sided, normal model on the paired difference's bootstrap SE, Holm-corrected "
                           "over the pairs of one checkpoint and metric",
                "power": "cells per repeat = ceil(n * ((z_0.975 + z_0.80) * se / |delta|)^2), SE from the bootstrap",
                "undefined_rank_correlation": "scored 0 (no information)"}

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
    # The 95% bootstrap intervals (NaN: too few cells per repeat, or a metric the estimator lacks) and
    # the verdicts at this checkpoint: "best" (the leader), "tied" (not significantly behind it),
    # "behind", or "" (no verdict: no intervals or no such metric).
    mae_lo: float = math.nan
    mae_hi: float = math.nan
    kendall_tau_lo: float = math.nan
    kendall_tau_hi: float = math.nan
    spearman_rho_lo: float = math.nan
    spearman_rho_hi: float = math.nan
    top10_precision_mean: float = math.nan
    top10_precision_lo: float = math.nan
    top10_precision_hi: float = math.nan
    repeats_scored: int = 0
    repeats: int = 0
    kendall_tau_verdict: str = ""
    mae_verdict: str = ""
    at_bound: float = math.nan  # share of the successful estimates exactly at 0 or 1: ties that rank nothing

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


def _rank_correlations(estimates: list[float], truths: list[float]) -> tuple[float, float] | None:
    """None where undefined (constant estimates or truths): the caller scores that repeat 0."""
    if len(estimates) < 2 or len(set(estimates)) < 2 or len(set(truths)) < 2:
        return None
    return (float(scipy_stats.kendalltau(estimates, truths).statistic),
            float(scipy_stats.spearmanr(estimates, truths).statistic))


def reference_cpu_s(records: Sequence[EstimateRecord]) -> float:
    """The median CPU time of the reference workload over the scoring run (NaN where none was timed:
    records from before the reference existed, or made outside `run_estimators`)."""
    timed = [r.reference_cpu_s for r in records if math.isfinite(r.reference_cpu_s) and r.reference_cpu_s > 0]
    return float(np.median(timed)) if timed else math.nan


def score(records: Sequence[EstimateRecord], truths: dict[str, float], epoch_times: dict[str, float],
          budget: int, rank_only: frozenset[str] = frozenset(), *, by_budget: bool = False,
          bootstrap: BootstrapSettings = BootstrapSettings()) -> list[Row]:
    """The rows of `score_board` (see there)."""
    return score_board(records, truths, epoch_times, budget, rank_only, by_budget=by_budget, bootstrap=bootstrap)[0]


def score_board(records: Sequence[EstimateRecord], truths: dict[str, float], epoch_times: dict[str, float],
                budget: int, rank_only: frozenset[str] = frozenset(), *, by_budget: bool = False,
                bootstrap: BootstrapSettings = BootstrapSettings()) -> tuple[list[Row], dict]:
    """(rows, statistics): `truths` and `epoch_times` are per trial id; an epoch time is NaN where the
    trial was recorded on another kind of device than the estimators ran on. `rank_only` names the
    estimators scored without MAE (see the module docstring). `statistics` is results.json's
    "statistics": the bootstrap's settings and, per checkpoint, the pairwise differences, the ties and
    the power of each adjacent pair.

    With `by_budget` (a suite with train.budgets) the rows are per estimator, budget (each record's own)
    and checkpoint, each against the truths of that budget's trials, with `budget_fraction` relative to
    that budget; `budget` is then unused."""
    reference = reference_cpu_s(records)
    groups: dict[tuple[int | None, int], dict[str, dict[int, list[EstimateRecord]]]] = \
        defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for record in records:
        if by_budget and record.budget is None:
            raise ValueError(f"score by budget: the record of {record.estimator} on {record.trial_id} has no budget")
        groups[(record.budget if by_budget else None, record.checkpoint)][record.estimator][record.repeat].append(record)
    rows, checkpoints = [], []
    for (row_budget, epoch), by_estimator in groups.items():
        verdicts = _checkpoint_statistics(by_estimator, truths, rank_only, bootstrap)
        checkpoints.append({"epoch": epoch, **({"budget": row_budget} if by_budget else {}), **verdicts.document})
        for estimator, by_repeat in by_estimator.items():
            rows.append(_row(estimator, epoch, row_budget or budget, row_budget, by_repeat, truths, epoch_times,
                             reference, estimator in rank_only, verdicts))
    statistics = {**bootstrap.as_dict(), "checkpoints": sorted(checkpoints, key=lambda c: (c.get("budget") or 0,
                                                                                           c["epoch"]))}
    return sorted(rows, key=lambda row: (row.budget or 0, row.epoch, row.estimator)), statistics


@dataclass(frozen=True)
class _Verdicts:
    intervals: dict[tuple[str, str], stats.Interval]  # (estimator, metric) -> interval
    defined: dict[str, int]  # estimator -> repeats with a defined rank correlation
    verdicts: dict[tuple[str, str], str]  # (estimator, metric) -> "best", "tied" or "behind"
    document: dict


def _checkpoint_statistics(by_estimator: dict[str, dict[int, list[EstimateRecord]]], truths: dict[str, float],
                           rank_only: frozenset[str], bootstrap: BootstrapSettings) -> _Verdicts:
    """The bootstrap of one checkpoint: every estimator on the same resampled cells."""
    names = sorted(by_estimator)
    entries = [{"estimator": name, "repeat": r.repeat, "trial_id": r.trial_id, "estimate": r.estimate,
                "checkpoint": 0} for name in names for repeat_records in by_estimator[name].values()
               for r in repeat_records]
    try:
        table = stats.table_from_records(entries, truths, 0, estimators=names)
    except ValueError as err:  # estimators that saw different trials cannot be paired
        return _Verdicts({}, {}, {}, {"intervals": f"n/a: {err}"})
    board = stats.bootstrap_board(table.estimates, table.truths, table.repeats, names,
                                  rank_only=[n for n in names if n in rank_only],
                                  n_resamples=bootstrap.n_resamples, seed=bootstrap.seed,
                                  confidence=bootstrap.confidence)
    defined = dict(zip(names, board.n_repeats_defined))
    cells = min(board.cells_per_repeat)
    if cells < MIN_CELLS_FOR_INTERVALS:
        return _Verdicts({}, defined, {}, {
            "cells_per_repeat": list(board.cells_per_repeat),
            "intervals": f"n/a: {cells} cells in a repeat, fewer than {MIN_CELLS_FOR_INTERVALS}; a bootstrap over "
                         "so few cells says nothing"})
    intervals = {(name, metric): board.interval(name, metric) for name in names for metric in stats.METRICS}
    verdicts, pairs_doc, ties_doc, power_doc = {}, {}, {}, {}
    for metric in stats.METRICS:
        pairs = stats.pairwise_differences(board, metric)
        if not pairs:
            continue
        ties = stats.tied_with_best(board, metric, alpha=bootstrap.alpha, pairs=pairs)
        for name in names:
            if math.isfinite(board.points[metric][names.index(name)]):
                verdicts[(name, metric)] = ("best" if name == ties.leader else
                                            "tied" if name in ties.tied else "behind")
        pairs_doc[metric] = [{"first": p.first, "second": p.second, **p.difference.as_dict(),
                              "p_value": p.p_value, "p_holm": p.p_holm} for p in pairs]
        ties_doc[metric] = {"leader": ties.leader, "tied": list(ties.tied)}
        power_doc[metric] = [{"better": p.better, "worse": p.worse, "difference": p.difference.point,
                              "se": p.difference.se, "cells_needed": p.cells_needed}
                             for p in stats.adjacent_power(board, metric)]
    return _Verdicts(intervals, defined, verdicts, {
        "cells_per_repeat": list(board.cells_per_repeat), "ties": ties_doc, "power": power_doc, "pairs": pairs_doc})


def _row(estimator: str, epoch: int, budget: int, row_budget: int | None, by_repeat: dict[int, list[EstimateRecord]],
         truths: dict[str, float], epoch_times: dict[str, float], reference: float, rank_only: bool,
         verdicts: _Verdicts) -> Row:
    per_repeat: dict[str, list[float]] = defaultdict(list)
    n_failed = n_all = 0
    for repeat_records in by_repeat.values():
        n_all += len(repeat_records)
        n_failed += sum(r.estimate is None for r in repeat_records)
        estimates = [FAILED_ESTIMATE if r.estimate is None else r.estimate for r in repeat_records]
        true = [truths[r.trial_id] for r in repeat_records]
        per_repeat["mae"].append(math.nan if rank_only else float(np.mean(np.abs(np.subtract(estimates, true)))))
        tau, rho = _rank_correlations(estimates, true) or (0.0, 0.0)  # undefined: no information
        per_repeat["tau"].append(tau)
        per_repeat["rho"].append(rho)
        per_repeat["sec"].append(float(np.mean([r.overhead_s for r in repeat_records])))
        ratios = [r.overhead_s / epoch_times[r.trial_id] for r in repeat_records]
        finite = [x for x in ratios if math.isfinite(x)]
        per_repeat["ep"].append(float(np.mean(finite)) if finite else math.nan)
        cpu = [r.overhead_cpu_s for r in repeat_records if math.isfinite(r.overhead_cpu_s)]
        per_repeat["cpu"].append(float(np.mean(cpu)) if cpu else math.nan)
        per_repeat["ref"].append(per_repeat["cpu"][-1] / reference)

    def bounds(metric: str) -> tuple[float, float]:
        interval = verdicts.intervals.get((estimator, metric))
        return (interval.lo, interval.hi) if interval is not None else (math.nan, math.nan)

    made = [r.estimate for records in by_repeat.values() for r in records if r.estimate is not None]
    at_bound = sum(e in (0.0, 1.0) for e in made) / len(made) if made else math.nan
    top = verdicts.intervals.get((estimator, "top10_precision"))
    return Row(estimator, epoch, epoch / budget if budget else 0.0,  # proxy-only: epoch 0 of 0
               *_mean_std(per_repeat["mae"]),
               *_mean_std(per_repeat["tau"]), *_mean_std(per_repeat["rho"]),
               *_mean_std(per_repeat["sec"]), *_mean_std(per_repeat["ep"]), n_all - n_failed, n_failed,
               (n_all - n_failed) / n_all, *_mean_std(per_repeat["cpu"]), *_mean_std(per_repeat["ref"]),
               rank_only, row_budget, *bounds("mae"), *bounds("kendall_tau"), *bounds("spearman_rho"),
               top.point if top is not None else _top_precision(by_repeat, truths), *bounds("top10_precision"),
               verdicts.defined.get(estimator, 0), len(by_repeat),
               verdicts.verdicts.get((estimator, "kendall_tau"), ""), verdicts.verdicts.get((estimator, "mae"), ""),
               at_bound)


def _top_precision(by_repeat: dict[int, list[EstimateRecord]], truths: dict[str, float]) -> float:
    """Precision at the top 10% without a bootstrap (too few cells for intervals), by the same rule."""
    values = []
    for repeat_records in by_repeat.values():
        estimates = [FAILED_ESTIMATE if r.estimate is None else r.estimate for r in repeat_records]
        true = [truths[r.trial_id] for r in repeat_records]
        metrics = stats.weighted_metrics(np.array([estimates], dtype=float), np.array(true), np.zeros(len(true)),
                                         np.ones((1, len(true))))
        values.append(float(metrics["top10_precision"][0, 0]))
    return float(np.mean(values))
