"""Intervals a board's rows do not carry, derived from the board's own published files.

- **Overheads** of an estimation board (results schema 3): a row gives the mean overhead (wall seconds,
  epochs of the trial's own training, CPU time in reference units) but no interval. The estimates carry
  each one's measured overhead, so the interval of the mean over cells is drawn here the way the board's
  other intervals were: a percentile bootstrap over cells stratified by repeat, with the board's own
  number of resamples, seed and confidence (`statistics` in results.json), the per-repeat mean of the
  finite values averaged over repeats, which is how `fhbench.score.metrics` computes the row's mean (the
  point is that mean, and a test checks it). A checkpoint whose statistics give no interval (too few
  cells) gets none here either.
- **Accuracy of the choice** on a declared-search board: each row gives mean ± std over seeds; each search's
  record (`searches`) gives its own chosen configuration's accuracy, summarised here by the same t-interval
  over seeds as search boards' regret.
- **Regret** of a search board published before intervals (results schema 2): each run's final regret and
  any-time regret from its incumbent trajectory (the rules of `fhbench.search.run`, written into newer
  boards as `anytime_regret_rule`), summarised by the t-interval over seeds that newer boards carry
  (`fhbench.score.stats.over_seeds`).

Nothing here changes a verdict: the site and leaderboard.md show these beside the board's own numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fhbench.publish.numbers import finite
from fhbench.score.stats import anytime_regret, over_seeds, resample_weights

__all__ = ["OVERHEADS", "Triple", "declared_intervals", "overhead_intervals", "search_intervals"]

OVERHEADS = ("overhead_s", "overhead_epochs", "overhead_ref")

Triple = tuple[float, float, float]
"""(point, lo, hi); lo and hi are NaN where there is no interval."""

_NONE: Triple = (math.nan, math.nan, math.nan)


def _checkpoints_without_intervals(statistics: Mapping[str, Any]) -> set[tuple[int | None, int]]:
    return {(c.get("budget"), c.get("epoch")) for c in statistics.get("checkpoints", [])
            if isinstance(c, Mapping) and "intervals" in c}


def _per_trial(entry: Mapping[str, Any], epoch_times: Mapping[str, Any], reference: float) -> dict[str, float]:
    seconds = entry.get("overhead_s")
    seconds = float(seconds) if finite(seconds) else math.nan
    epoch_time = epoch_times.get(entry.get("trial_id"))
    cpu = entry.get("overhead_cpu_s")
    return {"overhead_s": seconds,
            "overhead_epochs": seconds / float(epoch_time) if finite(epoch_time) and epoch_time > 0 else math.nan,
            "overhead_ref": float(cpu) / reference if finite(cpu) and finite(reference) and reference > 0 else math.nan}


def _bootstrap_mean(values: np.ndarray, repeats: np.ndarray, weights: np.ndarray,
                    confidence: float) -> Triple:
    """The mean over repeats of each repeat's mean of its finite values, and its percentile interval over
    the resamples in `weights` (resample, trial); NaN where a repeat has no finite value."""
    present = np.isfinite(values)
    clean = np.where(present, values, 0.0)
    points, samples = [], []
    for label in sorted(set(repeats.tolist())):
        member = (repeats == label) & present
        if not member.any():
            return _NONE
        points.append(float(clean[member].mean()))
        w = weights[:, member]
        totals = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            samples.append(np.where(totals > 0, w @ clean[member] / np.maximum(totals, 1), np.nan))
    point = float(np.mean(points))
    drawn = np.mean(samples, axis=0)
    drawn = drawn[np.isfinite(drawn)]
    if weights.shape[0] == 0 or len(drawn) < 0.99 * weights.shape[0]:
        return point, math.nan, math.nan
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(drawn, [tail, 100 - tail])
    return point, float(lo), float(hi)


def overhead_intervals(meta: Mapping[str, Any]) -> dict[tuple[str, int | None, int], dict[str, Triple]]:
    """Per (estimator, budget or None, checkpoint): {quantity in OVERHEADS: (mean, lo, hi)}, from the
    board's estimates (`estimates`, with each one's overheads), `epoch_times`, the reference workload's CPU
    time (`environment.reference_cpu_s`) and `statistics`. Empty for a board without statistics or
    estimates; points without bounds at a checkpoint without intervals."""
    statistics = meta.get("statistics")
    estimates = meta.get("estimates")
    if not isinstance(statistics, Mapping) or not isinstance(estimates, list) or not estimates:
        return {}
    epoch_times = meta.get("epoch_times") if isinstance(meta.get("epoch_times"), Mapping) else {}
    environment = meta.get("environment") if isinstance(meta.get("environment"), Mapping) else {}
    reference = environment.get("reference_cpu_s")
    reference = float(reference) if finite(reference) else math.nan
    by_budget = any(isinstance(r, Mapping) and r.get("budget") is not None for r in meta.get("rows") or [])
    no_interval = _checkpoints_without_intervals(statistics)
    groups: dict[tuple[int | None, int], dict[str, dict[tuple[Any, str], dict[str, float]]]] = \
        defaultdict(lambda: defaultdict(dict))
    for entry in estimates:
        if not isinstance(entry, Mapping):
            continue
        key = (entry.get("budget") if by_budget else None, entry.get("checkpoint"))
        groups[key][str(entry.get("estimator"))][(entry.get("repeat"), str(entry.get("trial_id")))] = \
            _per_trial(entry, epoch_times, reference)
    seed, resamples = int(statistics.get("seed", 0)), int(statistics.get("n_resamples", 1000))
    confidence = float(statistics.get("confidence", 0.95))
    out: dict[tuple[str, int | None, int], dict[str, Triple]] = {}
    for (budget, epoch), by_estimator in sorted(groups.items(), key=lambda item: (item[0][0] or 0, item[0][1])):
        cells = sorted({cell for trials in by_estimator.values() for cell in trials}, key=lambda c: (str(c[0]), c[1]))
        repeats = np.array([str(repeat) for repeat, _ in cells])
        weights = (np.zeros((0, len(cells)), dtype=np.int64) if (budget, epoch) in no_interval
                   else resample_weights(repeats, resamples, seed))
        for name, trials in by_estimator.items():
            out[(name, budget, epoch)] = {
                quantity: _bootstrap_mean(np.array([trials[c][quantity] if c in trials else math.nan for c in cells]),
                                          repeats, weights, confidence)
                for quantity in OVERHEADS}
    return out


def _run_regrets(meta: Mapping[str, Any], run: Mapping[str, Any]) -> tuple[float, float]:
    """(final regret, any-time regret) of one run, by fhbench.search.run's rules: a diverged incumbent
    (no truth) counts accuracy 0; before the first result the regret is the pool's worst's."""
    reference = float(meta["regret"]["reference"])
    truth = [float(v) if finite(v) else math.nan for v in meta.get("pool_truth") or []]

    def regret(config: Any) -> float:
        if config is None or not isinstance(config, int) or not 0 <= config < len(truth):
            return math.nan
        return reference - (0.0 if math.isnan(truth[config]) else truth[config])

    known = [v for v in truth if not math.isnan(v)]
    worst = reference - min(known) if known else math.nan
    points = [(float(t), regret(i)) for t, i in run.get("trajectory") or []]
    budget = meta.get("time_budget_s")
    anytime = (anytime_regret(points, float(budget), initial=worst)
               if finite(budget) and budget > 0 and points else math.nan)
    final = run.get("regret")
    return (float(final) if finite(final) else (points[-1][1] if points else math.nan)), anytime


def search_intervals(meta: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Triple]]:
    """Per (algorithm, estimator) of a search board: {"regret": ..., "anytime_regret": ...}, each
    (mean, lo, hi) over seeds. The rows' own values where they carry intervals (results schema 3), else
    derived from `runs`; empty where neither is there."""
    rows = [r for r in meta.get("rows") or [] if isinstance(r, Mapping)]
    out: dict[tuple[str, str], dict[str, Triple]] = {}
    runs = meta.get("runs")
    if rows and (any(finite(r.get("regret_lo")) for r in rows) or not isinstance(runs, Sequence)):
        for r in rows:
            out[(str(r.get("algorithm")), str(r.get("estimator")))] = {
                metric: tuple(float(r[f"{metric}_{part}"]) if finite(r.get(f"{metric}_{part}")) else math.nan
                              for part in ("mean", "lo", "hi"))
                for metric in ("regret", "anytime_regret")}
        return out
    if not isinstance(runs, Sequence) or not isinstance(meta.get("regret"), Mapping):
        return out
    per_key: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        if isinstance(run, Mapping):
            per_key[(str(run.get("algorithm")), str(run.get("estimator")))].append(_run_regrets(meta, run))
    for key, values in sorted(per_key.items()):
        summary = {}
        for index, metric in enumerate(("regret", "anytime_regret")):
            column = [v[index] for v in values]
            if all(math.isfinite(v) for v in column):
                seeds = over_seeds(column)
                summary[metric] = (seeds.mean, seeds.lo, seeds.hi)
            else:
                summary[metric] = _NONE
        out[key] = summary
    return out


def declared_intervals(meta: Mapping[str, Any]) -> dict[tuple[str, str, str, str], Triple]:
    """Per (target, algorithm, estimator, source) of a declared-search board: the chosen configurations'
    true accuracy over the seeds that have one, (mean, lo, hi) with the t-interval over seeds."""
    per_key: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for record in meta.get("searches") or []:
        if isinstance(record, Mapping) and finite(record.get("true_acc")):
            key = tuple(str(record.get(k)) for k in ("target", "algorithm", "estimator", "source"))
            per_key[key].append(float(record["true_acc"]))
    out = {}
    for key, values in sorted(per_key.items()):
        seeds = over_seeds(values)
        out[key] = (seeds.mean, seeds.lo, seeds.hi)
    return out
