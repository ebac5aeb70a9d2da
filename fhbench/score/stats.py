"""Uncertainty for the leaderboard: bootstrap intervals, paired comparisons, power, Friedman/Nemenyi, search regret.

Method, for one checkpoint (and budget) of an estimation board:

- Percentile bootstrap over cells, paired and stratified. A resample draws, within each repeat (one
  sampled population of cells), as many cells as the repeat has, with replacement; the same drawn cells
  serve every estimator and every metric (paired), so a difference between two estimators is resampled
  on one population. On each resample every metric is computed per repeat and then averaged over
  repeats, exactly as `fhbench.score.metrics` does on the original data. The interval is the
  (2.5, 97.5) percentile of the B resampled values, the standard error their standard deviation.
- Failure rule (as in `fhbench.score.metrics`): a failed estimate (None) counts as the estimate 0.0.
  A rank-only estimator has no MAE (NaN), and is left out of every MAE comparison.
- Undefined rank correlations score 0: where, in a repeat or in a resample of one, every estimate is
  equal (say an estimator that failed on every trial) or every truth is, Kendall tau and Spearman rho
  are undefined; they count as 0 (no information) rather than being dropped, so an estimator cannot gain
  by being constant. `n_repeats_defined` says how many repeats of the original data had them defined.
  (`fhbench.score.metrics` averages over the defined repeats only; the two agree where all are defined.)
- Precision at the top 10% (k = ceil(n / 10) cells per repeat): the share of the true top k among the
  estimator's top k, in expectation over random tie-breaking (fractional credit for tied cells; see
  `_weighted_top_precision`, also for copies of a trial in a resample), so a constant or wholly failed
  estimator scores the chance level k / n, its "no information" value.
- Pairwise differences: per pair the paired difference with its percentile interval and bootstrap SE,
  and a two-sided p-value from that SE under a normal model (see `difference_p_value` for why not a
  count of resamples), Holm step-down corrected over all pairs of the checkpoint and metric; the
  estimators not significantly behind the leader are "tied with the best".
- Power: a difference's bootstrap SE at n cells per repeat scales as 1/sqrt(n), so the cells per repeat
  that resolve a difference delta (two-sided, alpha 0.05, power 0.8) are
  ceil(n * ((z_0.975 + z_0.80) * se / |delta|)^2).
- Friedman test over complete blocks and the Nemenyi critical difference
  CD = q_alpha * sqrt(k (k + 1) / (6 N)), q_alpha the studentized range quantile over sqrt(2) (Demsar 2006).
- Search boards: final and any-time regret with t-intervals over seeds.

Everything takes explicit seeds (`numpy.random.default_rng(seed)`); nothing keeps state between calls.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import numpy as np
from scipy import stats

FAILED_ESTIMATE = 0.0
"""What a failed estimate counts as, as in `fhbench.score.metrics`."""

DEFAULT_RESAMPLES = 4000
"""B, the bootstrap's resamples. 4,000 rather than the usual 1,000: an interval endpoint is a 2.5%
quantile of B draws, and its Monte Carlo error shrinks as 1/sqrt(B). At B = 1,000 an independent
bootstrap of nb201-cpu/3 at B = 2,000 found endpoints up to 0.035 away (a Spearman rho difference); at
B = 4,000 every rank-correlation and MAE endpoint was within 0.017 (`benchmarks/independent_bootstrap.py`).
It costs a few seconds (`benchmarks/statistics_cost.py`)."""

METRICS = ("mae", "kendall_tau", "spearman_rho", "top10_precision")
HIGHER_IS_BETTER = {"mae": False, "kendall_tau": True, "spearman_rho": True, "top10_precision": True}
TOP_PERCENT = 10
METHOD = "percentile bootstrap over cells, stratified by repeat, paired across estimators and metrics"


# --- results ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A point value, its percentile interval and its bootstrap standard error."""
    point: float
    lo: float
    hi: float
    se: float

    def as_dict(self) -> dict[str, float]:
        return {"point": self.point, "lo": self.lo, "hi": self.hi, "se": self.se}


@dataclass(frozen=True)
class BoardTable:
    """One checkpoint's estimates in the shape `bootstrap_board` takes (failures already 0.0)."""
    estimators: tuple[str, ...]
    trial_ids: tuple[str, ...]
    estimates: np.ndarray = field(compare=False, repr=False)  # (estimator, trial)
    truths: np.ndarray = field(compare=False, repr=False)  # (trial,)
    repeats: np.ndarray = field(compare=False, repr=False)  # (trial,)
    n_failed: tuple[int, ...] = ()


@dataclass(frozen=True)
class BoardBootstrap:
    """The bootstrap of one checkpoint: per estimator and metric an `Interval`, plus the resampled values
    (`samples[metric]`, shape (estimator, resample)) that the pairwise comparisons reuse."""
    method: str
    n_resamples: int
    seed: int
    confidence: float
    estimators: tuple[str, ...]
    repeats: tuple[Any, ...]
    cells_per_repeat: tuple[int, ...]
    n_repeats_defined: tuple[int, ...]  # per estimator: repeats whose rank correlations were defined (original data)
    points: Mapping[str, np.ndarray] = field(compare=False, repr=False)
    samples: Mapping[str, np.ndarray] = field(compare=False, repr=False)

    def interval(self, estimator: str, metric: str) -> Interval:
        index = self.estimators.index(estimator)
        return _interval(float(self.points[metric][index]), self.samples[metric][index], self.confidence)

    def settings(self) -> dict[str, Any]:
        """What results.json should record beside the intervals."""
        return {"method": self.method, "n_resamples": self.n_resamples, "seed": self.seed,
                "confidence": self.confidence}

    def as_dict(self) -> dict[str, Any]:
        return {**self.settings(), "cells_per_repeat": list(self.cells_per_repeat),
                "estimators": {name: {"n_repeats_defined": self.n_repeats_defined[i],
                                      **{m: self.interval(name, m).as_dict() for m in METRICS}}
                               for i, name in enumerate(self.estimators)}}


@dataclass(frozen=True)
class PairDifference:
    """`first` minus `second` on `metric`; p-values two-sided, `p_holm` corrected over the checkpoint's pairs."""
    first: str
    second: str
    metric: str
    difference: Interval
    p_value: float
    p_holm: float


@dataclass(frozen=True)
class Ties:
    """The leader on a metric and every estimator not significantly behind it (the leader included),
    best point value first."""
    metric: str
    higher_is_better: bool
    alpha: float
    leader: str
    tied: tuple[str, ...]


@dataclass(frozen=True)
class PairPower:
    """An adjacent pair in rank order: the observed difference and the cells per repeat it would need."""
    better: str
    worse: str
    metric: str
    difference: Interval
    cells_per_repeat: float
    cells_needed: float  # math.inf where the observed difference is 0


@dataclass(frozen=True)
class CriticalDifference:
    """Average ranks (1 best) over complete blocks, the Friedman test and the Nemenyi critical difference.
    `groups` are the bars of a CD diagram: maximal sets of at least two estimators, consecutive in
    average rank, whose ranks differ by less than `cd`."""
    estimators: tuple[str, ...]
    average_ranks: tuple[float, ...]
    n_blocks: int
    friedman_statistic: float
    friedman_p: float
    alpha: float
    q_alpha: float
    cd: float
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SeedInterval:
    """A mean over seeds with a t-interval (NaN with a single seed)."""
    mean: float
    lo: float
    hi: float
    n_seeds: int
    confidence: float
    method: str = "t-interval over seeds"


# --- input --------------------------------------------------------------------------------------------

def _field(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, Mapping):
        return record.get(name, default)
    return getattr(record, name, default)


def table_from_records(records: Iterable[Any], truths: Mapping[str, float], checkpoint: int, *,
                       budget: int | None = None, estimators: Sequence[str] | None = None) -> BoardTable:
    """The estimates of one checkpoint (and budget) as a table: `records` are results.json `estimates`
    entries or `EstimateRecord`s. Trials are ordered by (repeat, trial id); every estimator must have
    estimated exactly the same trials. A None estimate becomes `FAILED_ESTIMATE`."""
    by_estimator: dict[str, dict[tuple[Any, str], float | None]] = {}
    for record in records:
        if _field(record, "checkpoint") != checkpoint or _field(record, "budget") != budget:
            continue
        key = (_field(record, "repeat"), _field(record, "trial_id"))
        by_estimator.setdefault(_field(record, "estimator"), {})[key] = _field(record, "estimate")
    names = tuple(estimators) if estimators is not None else tuple(sorted(by_estimator))
    if not names or any(name not in by_estimator for name in names):
        raise ValueError(f"no estimates at checkpoint {checkpoint} for {[n for n in names if n not in by_estimator]}")
    keys = sorted(by_estimator[names[0]])
    for name in names:
        if sorted(by_estimator[name]) != keys:
            raise ValueError(f"{name} did not estimate the same trials as {names[0]} at checkpoint {checkpoint}")
    raw = [[by_estimator[name][key] for key in keys] for name in names]
    return BoardTable(names, tuple(trial for _, trial in keys), _with_failures_as_zero(raw),
                      np.array([truths[trial] for _, trial in keys], dtype=float),
                      np.array([repeat for repeat, _ in keys]),
                      tuple(sum(v is None for v in row) for row in raw))


def _with_failures_as_zero(estimates: Any) -> np.ndarray:
    """None is a failure and becomes `FAILED_ESTIMATE`; a NaN is refused, since failures arrive as None
    and a silent NaN would turn into an arbitrary rank."""
    if isinstance(estimates, np.ndarray) and estimates.dtype.kind == "f":
        table = estimates
    else:
        table = np.array([[FAILED_ESTIMATE if value is None else value for value in row] for row in estimates],
                         dtype=float)
    if table.ndim != 2 or not np.all(np.isfinite(table)):
        raise ValueError("estimates must be an (estimator, trial) table of finite numbers or None")
    return table


# --- resampling ---------------------------------------------------------------------------------------

def resample_weights(repeats: Sequence[Any] | np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(resample, trial) counts: how often each trial is drawn. Within each repeat as many trials are drawn,
    with replacement, as the repeat holds, so every repeat keeps its size and no resample mixes repeats."""
    repeats = np.asarray(repeats)
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_resamples, len(repeats)), dtype=np.int64)
    for label in _repeat_labels(repeats):
        members = np.flatnonzero(repeats == label)
        n = len(members)
        drawn = rng.integers(0, n, size=(n_resamples, n))
        counts = np.bincount((drawn + n * np.arange(n_resamples)[:, None]).ravel(), minlength=n_resamples * n)
        weights[:, members] = counts.reshape(n_resamples, n)
    return weights


def _repeat_labels(repeats: np.ndarray) -> list[Any]:
    return sorted(set(repeats.tolist()))


# --- metrics of weighted populations ------------------------------------------------------------------
#
# A resample is a weight vector w over the original trials (w_i copies of trial i). Every metric below is
# computed from w directly, for B weight vectors at once, and equals the metric of the population that
# holds w_i copies of each trial i: copies are tied with each other in estimate and truth, which is how
# scipy counts duplicates too. Kendall tau-b is w'(S_e*S_t)w / sqrt(w'|S_e|w * w'|S_t|w) with
# S_x[i, j] = sign(x_i - x_j); Spearman rho is the weighted Pearson correlation of average ranks.

@dataclass(frozen=True)
class _Ordering:
    """How a variable orders the trials, and for each weight vector the weighted counts of trials
    strictly below and tied with each trial (the trial's own copies included)."""
    sign: np.ndarray  # (n, n)
    below: np.ndarray  # (B, n)
    tied: np.ndarray  # (B, n)

    @property
    def ranks(self) -> np.ndarray:
        return self.below + (self.tied + 1) / 2


def _ordering(values: np.ndarray, weights: np.ndarray) -> _Ordering:
    """The weighted counts come from cumulative sums of the weights in value order (no n x n product)."""
    order = np.argsort(values, kind="stable")
    in_order = values[order]
    first, past = np.searchsorted(in_order, values, "left"), np.searchsorted(in_order, values, "right")
    cumulative = np.zeros((len(weights), len(values) + 1))
    np.cumsum(weights[:, order], axis=1, out=cumulative[:, 1:])
    below = cumulative[:, first]
    return _Ordering(np.sign(values[:, None] - values[None, :]), below, cumulative[:, past] - below)


def _untied_pairs(weights: np.ndarray, o: _Ordering) -> np.ndarray:
    """Twice the number of pairs of cells that the variable does not tie, per weight vector."""
    return weights.sum(axis=1) ** 2 - np.einsum("bi,bi->b", weights, o.tied)


def _weighted_kendall(weights: np.ndarray, e: _Ordering, t: _Ordering) -> np.ndarray:
    concordance = np.einsum("bi,bi->b", weights @ (e.sign * t.sign), weights)
    return _ratio_or_zero(concordance, _untied_pairs(weights, e) * _untied_pairs(weights, t))


def _rank_correlation_defined(weights: np.ndarray, e: _Ordering, t: _Ordering) -> np.ndarray:
    return (_untied_pairs(weights, e) > 0) & (_untied_pairs(weights, t) > 0)


def _weighted_spearman(weights: np.ndarray, e: _Ordering, t: _Ordering) -> np.ndarray:
    """Sums of half-integer ranks times integer weights are exact in float64, so a constant variable gives
    exactly zero variance."""
    n = weights.sum(axis=1)
    mean_square = n * ((n + 1) / 2) ** 2
    re, rt = e.ranks, t.ranks
    covariance = np.einsum("bi,bi,bi->b", weights, re, rt) - mean_square
    variance_e = np.einsum("bi,bi,bi->b", weights, re, re) - mean_square
    variance_t = np.einsum("bi,bi,bi->b", weights, rt, rt) - mean_square
    return _ratio_or_zero(covariance, variance_e * variance_t)


def _ratio_or_zero(numerator: np.ndarray, denominator_squared: np.ndarray) -> np.ndarray:
    defined = denominator_squared > 0
    return np.where(defined, numerator / np.sqrt(np.where(defined, denominator_squared, 1.0)), 0.0)


def top_k(n_cells: Any) -> Any:
    """The size of the top 10% of a population of n cells: ceil(n / 10), in integers (n an int or an
    integer array)."""
    return (n_cells * TOP_PERCENT + 99) // 100


def _membership(o: _Ordering, weights: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trial: the probability that one of its cells is among the top k under random tie-breaking,
    the size of its tie group and the slots that group shares."""
    above = weights.sum(axis=1, keepdims=True) - o.below - o.tied
    slots = np.clip(k[:, None] - above, 0, None)
    share = np.clip(slots / np.where(o.tied > 0, o.tied, 1.0), 0.0, 1.0)
    return np.where(o.tied > 0, share, 0.0), o.tied, slots


def _weighted_top_precision(weights: np.ndarray, e: _Ordering, t: _Ordering) -> np.ndarray:
    """Expected |estimator's top k  &  true top k| / k, k = ceil(n / 10), ties broken at random.

    Ties between different trials are broken independently for the estimator and for the truth, so a
    tie is never resolved in the estimator's favour: each tied cell gets fractional credit. Copies of one
    trial in a resample are separate cells but one architecture: they are ordered among themselves the
    same way by estimate and by truth, so a perfect estimator scores 1 on every resample. For a trial with
    c copies whose tie groups straddle the cut on both sides, the estimator takes X of its copies and the
    truth Y (independent hypergeometric draws) and the overlap is min(X, Y); everywhere else the
    expectation is c * p_e * p_t with p the per-cell membership probabilities."""
    k = top_k(weights.sum(axis=1).astype(np.int64))
    p_e, group_e, slots_e = _membership(e, weights, k)
    p_t, group_t, slots_t = _membership(t, weights, k)
    overlap = weights * p_e * p_t
    straddles = (weights > 1) & (p_e > 0) & (p_e < 1) & (p_t > 0) & (p_t < 1)
    if straddles.any():
        overlap[straddles] = _expected_min_hypergeometric(
            weights[straddles], group_e[straddles], slots_e[straddles], group_t[straddles], slots_t[straddles])
    return overlap.sum(axis=1) / k


def _expected_min_hypergeometric(copies, group_e, slots_e, group_t, slots_t) -> np.ndarray:
    """E[min(X, Y)] = sum_m P(X >= m) P(Y >= m), X ~ copies drawn in slots_e draws from group_e cells."""
    m = np.arange(1, int(copies.max()) + 1)[None, :]
    copies, group_e, slots_e, group_t, slots_t = (
        a.astype(np.int64)[:, None] for a in (copies, group_e, slots_e, group_t, slots_t))
    at_least_e = stats.hypergeom.sf(m - 1, group_e, copies, slots_e)
    at_least_t = stats.hypergeom.sf(m - 1, group_t, copies, slots_t)
    return np.where(m <= copies, at_least_e * at_least_t, 0.0).sum(axis=1)


def _weighted_mae(weights: np.ndarray, estimates: np.ndarray, truths: np.ndarray) -> np.ndarray:
    return weights @ np.abs(estimates - truths) / weights.sum(axis=1)


def weighted_metrics(estimates: Any, truths: Any, repeats: Any, weights: np.ndarray,
                     rank_only: Sequence[bool] | None = None) -> dict[str, np.ndarray]:
    """Every metric, shape (estimator, weight vector), for populations given as (weight vector, trial) counts
    (the original data is one vector of ones): per repeat, then the mean over repeats. Undefined rank
    correlations are 0. Also returns "defined": the number of repeats with defined rank correlations."""
    estimates = _with_failures_as_zero(estimates)
    truths, repeats = np.asarray(truths, dtype=float), np.asarray(repeats)
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    n_estimators, n_vectors = len(estimates), len(weights)
    totals = {name: np.zeros((n_estimators, n_vectors)) for name in (*METRICS, "defined")}
    labels = _repeat_labels(repeats)
    for label in labels:
        members = repeats == label
        w, t = weights[:, members], truths[members]
        truth = _ordering(t, w)
        for index, row in enumerate(estimates[:, members]):
            estimate = _ordering(row, w)
            totals["mae"][index] += _weighted_mae(w, row, t)
            totals["kendall_tau"][index] += _weighted_kendall(w, estimate, truth)
            totals["spearman_rho"][index] += _weighted_spearman(w, estimate, truth)
            totals["top10_precision"][index] += _weighted_top_precision(w, estimate, truth)
            totals["defined"][index] += _rank_correlation_defined(w, estimate, truth)
    result = {name: totals[name] / len(labels) for name in METRICS}
    if rank_only is not None:
        result["mae"][np.asarray(rank_only, dtype=bool)] = math.nan
    result["defined"] = totals["defined"]
    return result


# --- the bootstrap ------------------------------------------------------------------------------------

def bootstrap_board(estimates: Any, truths: Any, repeats: Any, estimators: Sequence[str], *,
                    rank_only: Iterable[str] = (), n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                    confidence: float = 0.95) -> BoardBootstrap:
    """Paired, stratified percentile bootstrap of one checkpoint.

    `estimates[estimator, trial]`: None marks a failure and counts as `FAILED_ESTIMATE`; `truths[trial]`
    the true final accuracies; `repeats[trial]` the repeat (population) of each trial. `rank_only`
    estimators get NaN for MAE.

    Hand-written rather than `scipy.stats.bootstrap`: that resamples each sample on its own and offers
    no strata, whereas here trials are drawn within each repeat and one draw serves every estimator and
    every metric, which the paired differences need; it is also vectorised over resamples (the metrics
    are functions of the weight vectors) where scipy would call kendalltau once per resample."""
    estimators = tuple(estimators)
    table = _with_failures_as_zero(estimates)
    if len(table) != len(estimators):
        raise ValueError(f"{len(table)} rows of estimates for {len(estimators)} estimators")
    repeats = np.asarray(repeats)
    only_ranks = [name in set(rank_only) for name in estimators]
    original = weighted_metrics(table, truths, repeats, np.ones((1, len(repeats))), only_ranks)
    resampled = weighted_metrics(table, truths, repeats, resample_weights(repeats, n_resamples, seed), only_ranks)
    labels = _repeat_labels(repeats)
    return BoardBootstrap(
        METHOD, n_resamples, seed, confidence, estimators, tuple(labels),
        tuple(int(np.sum(repeats == label)) for label in labels),
        tuple(int(d) for d in original["defined"][:, 0]),
        {m: original[m][:, 0] for m in METRICS}, {m: resampled[m] for m in METRICS})


def _interval(point: float, samples: np.ndarray, confidence: float) -> Interval:
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return Interval(point, float(lo), float(hi), float(np.std(samples, ddof=1)))


# --- pairwise comparisons -----------------------------------------------------------------------------

def difference_p_value(difference: float, se: float) -> float:
    """Two-sided p-value of a paired difference being 0: 2 * (1 - Phi(|difference| / se)), with se the
    bootstrap standard error of the difference; 1 for a difference of exactly 0, 0 for a nonzero one
    that no resample moved.

    Not the share of resampled differences beyond 0: that cannot fall below about 2 / B, while Holm over
    the m pairs of a board needs p < 0.05 / m for its first rejection (0.00055 for the 91 pairs of 14
    estimators), so with B = 1000 no pair of such a board could ever differ. The normal model is the
    one the power formula (`cells_needed`) assumes too."""
    if difference == 0:
        return 1.0
    if se == 0:
        return 0.0
    return float(2 * stats.norm.sf(abs(difference) / se))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: the i-th smallest is multiplied by (m - i + 1), kept monotone
    and capped at 1; returned in the input order."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def _scored(board: BoardBootstrap, metric: str) -> list[int]:
    """Estimators that have the metric (rank-only estimators have no MAE)."""
    return [i for i, value in enumerate(board.points[metric]) if math.isfinite(value)]


def pairwise_differences(board: BoardBootstrap, metric: str) -> tuple[PairDifference, ...]:
    """Every pair of estimators that have `metric`, first minus second, on the board's own resamples."""
    points, samples = board.points[metric], board.samples[metric]
    pairs = list(itertools.combinations(_scored(board, metric), 2))
    differences = [_interval(float(points[a] - points[b]), samples[a] - samples[b], board.confidence)
                   for a, b in pairs]
    p_values = [difference_p_value(d.point, d.se) for d in differences]
    adjusted = holm(p_values) if pairs else []
    return tuple(PairDifference(board.estimators[a], board.estimators[b], metric, d, p, float(q))
                 for (a, b), d, p, q in zip(pairs, differences, p_values, adjusted))


def _direction(metric: str, higher_is_better: bool | None) -> bool:
    return HIGHER_IS_BETTER[metric] if higher_is_better is None else higher_is_better


def _ranked(board: BoardBootstrap, metric: str, higher_is_better: bool) -> list[str]:
    """Estimators with the metric, best point value first (equal points keep the board's order)."""
    points = board.points[metric]
    order = sorted(_scored(board, metric), key=lambda i: -points[i] if higher_is_better else points[i])
    return [board.estimators[i] for i in order]


def tied_with_best(board: BoardBootstrap, metric: str, *, higher_is_better: bool | None = None,
                   alpha: float = 0.05, pairs: Sequence[PairDifference] | None = None) -> Ties:
    """The leader (best point value) and every estimator whose difference with it has a Holm-adjusted
    p-value >= alpha. `higher_is_better` defaults to `HIGHER_IS_BETTER[metric]`."""
    higher = _direction(metric, higher_is_better)
    ranked = _ranked(board, metric, higher)
    if not ranked:
        raise ValueError(f"no estimator has {metric}")
    pairs = pairwise_differences(board, metric) if pairs is None else pairs
    leader = ranked[0]
    adjusted = {(pair.first, pair.second): pair.p_holm for pair in pairs}

    def p_with_leader(name: str) -> float:
        return adjusted.get((leader, name), adjusted.get((name, leader), math.nan))

    tied = tuple(name for name in ranked if name == leader or p_with_leader(name) >= alpha)
    return Ties(metric, higher, alpha, leader, tied)


# --- power --------------------------------------------------------------------------------------------

def cells_needed(se: float, cells_per_repeat: float, delta: float, *, alpha: float = 0.05,
                 power: float = 0.8) -> float:
    """Cells per repeat at which a difference delta is resolved by a two-sided test at level alpha with
    the given power, from the difference's standard error `se` at `cells_per_repeat` cells.

    Assumes the SE scales as 1/sqrt(cells per repeat) with the number of repeats fixed (the metrics are
    means over cells, and the rank correlations asymptotically behave so) and a normal sampling
    distribution: n * ((z_{1-alpha/2} + z_power) * se / |delta|)^2, rounded up. math.inf for delta 0."""
    if delta == 0:
        return math.inf
    if not math.isfinite(se):
        return math.nan  # no spread to scale (fewer than two resamples)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    needed = cells_per_repeat * (z * se / abs(delta)) ** 2
    return float(math.ceil(needed * (1 - 1e-12)))  # so that a float product just above an integer stays it


def _mean_cells(board: BoardBootstrap) -> float:
    """Cells per repeat (the mean, where repeats differ in size)."""
    return float(np.mean(board.cells_per_repeat))


def adjacent_power(board: BoardBootstrap, metric: str, *, higher_is_better: bool | None = None,
                   alpha: float = 0.05, power: float = 0.8) -> tuple[PairPower, ...]:
    """For each pair of neighbours in the metric's ranking: the cells per repeat needed to resolve their
    observed difference."""
    ranked = _ranked(board, metric, _direction(metric, higher_is_better))
    index = {name: i for i, name in enumerate(board.estimators)}
    result = []
    for better, worse in zip(ranked, ranked[1:]):
        a, b = index[better], index[worse]
        difference = _interval(float(board.points[metric][a] - board.points[metric][b]),
                               board.samples[metric][a] - board.samples[metric][b], board.confidence)
        result.append(PairPower(better, worse, metric, difference, _mean_cells(board),
                                cells_needed(difference.se, _mean_cells(board), difference.point,
                                             alpha=alpha, power=power)))
    return tuple(result)


def cells_to_detect(board: BoardBootstrap, metric: str, delta: float, *, alpha: float = 0.05,
                    power: float = 0.8) -> float:
    """Cells per repeat needed to resolve a difference delta between two typical estimators of this board:
    from the median bootstrap SE of all its pairwise differences on the metric."""
    pairs = pairwise_differences(board, metric)
    if not pairs:
        raise ValueError(f"fewer than two estimators have {metric}")
    se = median(pair.difference.se for pair in pairs)
    return cells_needed(se, _mean_cells(board), delta, alpha=alpha, power=power)


# --- Friedman and Nemenyi -----------------------------------------------------------------------------

def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Demsar's (2006) q_alpha for k estimators: the studentized range quantile (infinite df) over sqrt(2)."""
    return float(stats.studentized_range.ppf(1 - alpha, k, math.inf) / math.sqrt(2))


def friedman_nemenyi(scores: Any, estimators: Sequence[str], *, alpha: float = 0.05) -> CriticalDifference:
    """`scores[block, estimator]`, higher better, complete blocks only (no NaN). Ranks are 1 for the best
    with ties averaged. The Friedman p-value needs at least three estimators (NaN otherwise)."""
    scores = np.asarray(scores, dtype=float)
    estimators = tuple(estimators)
    if scores.ndim != 2 or scores.shape[1] != len(estimators) or len(estimators) < 2:
        raise ValueError("scores must be (block, estimator) for at least two estimators")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite: pass complete blocks only")
    n_blocks, k = scores.shape
    average_ranks = stats.rankdata(-scores, axis=1).mean(axis=0)
    if k >= 3:
        statistic, p = stats.friedmanchisquare(*scores.T)
    else:
        statistic, p = math.nan, math.nan
    q = nemenyi_q(k, alpha)
    cd = q * math.sqrt(k * (k + 1) / (6 * n_blocks))
    return CriticalDifference(estimators, tuple(float(r) for r in average_ranks), n_blocks, float(statistic),
                              float(p), alpha, q, cd, _cd_groups(estimators, average_ranks, cd))


def _cd_groups(estimators: tuple[str, ...], ranks: np.ndarray, cd: float) -> tuple[tuple[str, ...], ...]:
    order = np.argsort(ranks, kind="stable")
    groups: list[tuple[int, int]] = []
    for start in range(len(order)):
        end = start
        while end + 1 < len(order) and ranks[order[end + 1]] - ranks[order[start]] < cd:
            end += 1
        if end > start and not (groups and groups[-1][1] >= end):
            groups.append((start, end))
    return tuple(tuple(estimators[i] for i in order[start:end + 1]) for start, end in groups)


# --- search regret ------------------------------------------------------------------------------------

def over_seeds(values: Sequence[float], *, confidence: float = 0.95) -> SeedInterval:
    """Mean over seeds with a Student t-interval, mean +- t_{n-1} * s / sqrt(n). Chosen over a bootstrap
    because search boards have few seeds (3 to 10), where a percentile bootstrap is too narrow. With one
    seed the interval is NaN (n/a)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        raise ValueError("no seeds")
    mean = float(np.mean(x))
    if len(x) < 2:
        return SeedInterval(mean, math.nan, math.nan, 1, confidence)
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    return SeedInterval(mean, float(mean - half), float(mean + half), len(x), confidence)


def final_regrets(per_seed: Mapping[Any, Sequence[float]], *, confidence: float = 0.95) -> dict[Any, SeedInterval]:
    """Per key (say (algorithm, estimator)), the final regrets of its seeds summarised by `over_seeds`."""
    return {key: over_seeds(values, confidence=confidence) for key, values in per_seed.items()}


def anytime_regret(points: Sequence[tuple[float, float]], budget: float, *, initial: float | None = None) -> float:
    """The area under the step function regret(cost) over [0, budget], divided by the budget.

    `points` are (cost, regret) where the incumbent changed, in order of cost; the regret holds from each
    point to the next. Before the first point the regret is `initial` (default: the first point's regret).
    Points past the budget are ignored."""
    if budget <= 0:
        raise ValueError("budget must be positive")
    costs = [float(c) for c, _ in points]
    if any(c < 0 for c in costs) or any(b < a for a, b in zip(costs, costs[1:])):
        raise ValueError("costs must be non-negative and in order")
    if initial is None:
        if not points:
            raise ValueError("no points and no initial regret")
        initial = float(points[0][1])
    area, cost, regret = 0.0, 0.0, float(initial)
    for next_cost, next_regret in points:
        if next_cost >= budget:
            break
        area += regret * (next_cost - cost)
        cost, regret = next_cost, float(next_regret)
    return (area + regret * (budget - cost)) / budget


def anytime_regret_over_seeds(runs: Sequence[Sequence[tuple[float, float]]], budget: float, *,
                              initial: float | None = None, confidence: float = 0.95) -> SeedInterval:
    """`anytime_regret` of each seed's run, summarised by `over_seeds`."""
    return over_seeds([anytime_regret(run, budget, initial=initial) for run in runs], confidence=confidence)
