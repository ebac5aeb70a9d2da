"""Learning-curve extrapolation (Domhan, Springenberg and Hutter 2015, IJCAI).

The paper models a validation-accuracy curve as a weighted combination of 11 parametric families
(its Table 1), samples parameters and weights by MCMC, and reads the prediction at the final epoch.
This module keeps the families and the combination, and replaces MCMC with deterministic fits:

1. each family is fitted to the observed curve ``y_1..y_n`` (x = epoch 1..n) by bounded nonlinear
   least squares (`scipy.optimize.least_squares`, trust-region reflective), from a start computed
   from the curve;
2. the fitted families are combined with Akaike weights, ``w_k ~ exp(-AICc_k / 2)``, where
   ``AICc = n ln(RSS/n) + 2k + 2k(k+1)/(n-k-1)`` for a family of k parameters: the least-squares
   analogue of weighting models by how well they explain the curve, penalising parameters, in place
   of the paper's sampled weights;
3. the estimate is the weighted mean of the families' values at x = budget.

Families (k parameters); bounds keep each increasing in x where its form allows, and keep the
asymptote in [0, 1] where it has one (vap and loglog_linear grow without one):
vap (3) ``exp(a + b/x + c ln x)``; pow3 (3) ``c - a x^-alpha``; loglog_linear (2) ``ln(a ln x + b)``;
hill3 (3) ``ymax x^eta / (kappa^eta + x^eta)``; log_power (3) ``a / (1 + (x / e^b)^c)``;
pow4 (4) ``c - (a x + b)^-alpha``; mmf (4) ``alpha - (alpha - beta) / (1 + (kappa x)^delta)``;
exp4 (4) ``c - exp(-a x^alpha + b)``; janoschek (4) ``alpha - (alpha - beta) exp(-kappa x^delta)``;
weibull (4) ``alpha - (alpha - beta) exp(-(kappa x)^delta)``; ilog2 (2) ``c - a / ln(x + 1)``
(the paper's ``c - a / ln x`` is infinite at the first epoch, so x is shifted by one).

When there is nothing to extrapolate with: a family is fitted only where ``n >= k + 2`` (AICc needs
one degree of freedom beyond the parameters and the noise variance), so curves of fewer than 4
epochs fit none; a family whose value at the budget is not finite or outside [0, 1] is dropped (the
paper's prior gives such curves no mass); a constant curve extrapolates to its constant. If no family
is left, ``fallback="last"`` (the default) returns the last observed value, the estimate a search has
without extrapolation, and ``fallback="error"`` raises, which the harness records as a failed estimate.

Early in a long run it ranks below the last observed value, and that is a limit of the method, not a
defect of this implementation (tests/test_curve_estimators_nb201.py shows it). On 200
NAS-Bench-201-like curves (200 epochs, cosine schedule) at epochs 10, 20 and 50 its Kendall tau
against the final accuracy was 0.35, 0.52 and 0.75, the last value's 0.68, 0.71 and 0.75. The same
curves without their epoch-to-epoch noise give 0.69, 0.73 and 0.77 (the last value: 0.70, 0.73,
0.76): the families follow the curves' shape well enough, the schedule's late rise included as far as
ranking goes. What costs the ranking is noise carried 20 times the observed horizon: with a point or
two of noise on 10 epochs, a fitted curvature (and with it the rise extrapolated to epoch 200) varies
from cell to cell by more than the cells' levels differ, and is nearly unrelated to the real rise
(Kendall tau between the two 0.08 at epoch 10, 0.11 at epoch 20, 0.26 at epoch 50). Less of the
budget left to extrapolate (epoch 50: 4 times the horizon) and the loss is gone. The two families
without an asymptote (vap, loglog_linear) add to it: they pass 1 at the budget on curves that are
already high and are dropped there, but stay (with large rises) on lower ones, so the extrapolated
rise falls with the level; without them the tau at epoch 10 is 0.44, still far below the last value.
Fitting them under the constraint of a value at most 1 at the budget instead of dropping them (as the
paper's prior would) changes nothing (0.34).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

KNOWN_METRICS = ("val_acc", "train_acc")
FALLBACKS = ("last", "error")
_PENALTY = 1e3  # residual that stands in for a non-finite model value, so the fit steers away from it
_TINY = 1e-6


@dataclass(frozen=True)
class Family:
    name: str
    n_params: int
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    start: Callable[[np.ndarray, np.ndarray], list[float]]  # (x, y) -> initial parameters
    lower: tuple[float, ...]
    upper: tuple[float, ...]


def _top(y):
    """A starting asymptote: a little above the best value seen, as an accuracy at most 1."""
    return min(1.0, float(np.max(y)) + 0.05)


def _first(y):
    return float(np.clip(y[0], _TINY, 1 - _TINY))


def _vap_start(x, y):
    # ln y is linear in (1, 1/x, ln x): its least-squares solution is a close start.
    basis = np.column_stack([np.ones_like(x), 1 / x, np.log(x)])
    return list(np.linalg.lstsq(basis, np.log(np.clip(y, _TINY, None)), rcond=None)[0])


def _loglog_start(x, y):
    # exp(y) = a ln x + b is linear in (a, b).
    a, b = np.linalg.lstsq(np.column_stack([np.log(x), np.ones_like(x)]), np.exp(y), rcond=None)[0]
    return [max(a, 0.0), max(b, _TINY)]


def _ilog2_start(x, y):
    # y = c - a / ln(x + 1) is linear in (c, a).
    c, minus_a = np.linalg.lstsq(np.column_stack([np.ones_like(x), 1 / np.log(x + 1)]), y, rcond=None)[0]
    return [c, -minus_a]


def _saturation_rate(y):
    """kappa such that a curve from 0 to the asymptote reaches the first value at x = 1."""
    return -math.log(max(1 - _first(y) / _top(y), _TINY))


FAMILIES = {family.name: family for family in (
    Family("vap", 3, lambda x, p: np.exp(p[0] + p[1] / x + p[2] * np.log(x)), _vap_start,
           (-20, -50, -5), (20, 50, 5)),
    Family("pow3", 3, lambda x, p: p[0] - p[1] * x ** -p[2],
           lambda x, y: [_top(y), _top(y) - _first(y), 0.5], (0, 0, 0), (1, np.inf, 10)),
    Family("loglog_linear", 2, lambda x, p: np.log(p[0] * np.log(x) + p[1]), _loglog_start,
           (0, _TINY), (np.inf, np.inf)),
    Family("hill3", 3, lambda x, p: p[0] * x ** p[1] / (p[2] ** p[1] + x ** p[1]),
           lambda x, y: [_top(y), 1.0, max(_top(y) / _first(y) - 1, 1e-3)], (0, 0, _TINY), (1, 10, 1e4)),
    Family("log_power", 3, lambda x, p: p[0] / (1 + (x / np.exp(p[1])) ** p[2]),
           lambda x, y: [_top(y), math.log(max(_top(y) / _first(y) - 1, 1e-3)), -1.0], (0, -20, -10), (1, 20, 0)),
    Family("pow4", 4, lambda x, p: p[0] - (p[1] * x + p[2]) ** -p[3],
           lambda x, y: [_top(y), 1.0, max((_top(y) - _first(y)) ** -2 - 1, 0.0), 0.5],
           (0, _TINY, 0, 0), (1, np.inf, np.inf, 10)),
    Family("mmf", 4, lambda x, p: p[0] - (p[0] - p[1]) / (1 + (p[2] * x) ** p[3]),
           lambda x, y: [_top(y), 0.0, _first(y) / max(_top(y) - _first(y), _TINY), 1.0],
           (0, 0, _TINY, 0), (1, 1, 1e4, 10)),
    Family("exp4", 4, lambda x, p: p[0] - np.exp(-p[1] * x ** p[3] + p[2]),
           lambda x, y: [_top(y), 0.5, math.log(max(_top(y) - _first(y), _TINY)) + 0.5, 1.0],
           (0, 0, -50, 0), (1, 100, 50, 10)),
    Family("janoschek", 4, lambda x, p: p[0] - (p[0] - p[1]) * np.exp(-p[2] * x ** p[3]),
           lambda x, y: [_top(y), 0.0, _saturation_rate(y), 1.0], (0, 0, 0, 0), (1, 1, 1e4, 10)),
    Family("weibull", 4, lambda x, p: p[0] - (p[0] - p[1]) * np.exp(-(p[2] * x) ** p[3]),
           lambda x, y: [_top(y), 0.0, _saturation_rate(y), 1.0], (0, 0, 0, 0), (1, 1, 1e4, 10)),
    Family("ilog2", 2, lambda x, p: p[0] - p[1] / np.log(x + 1), _ilog2_start, (0, 0), (1, np.inf)),
)}


def aicc_weights(rss: Sequence[float], n_params: Sequence[int], n: int) -> np.ndarray:
    """Akaike weights from the corrected AIC of least-squares fits to n points (each n >= k + 2).

    RSS is floored so that an exact fit gives a finite, if overwhelming, weight."""
    rss = np.maximum(np.asarray(rss, dtype=np.float64), n * 1e-12)
    k = np.asarray(n_params, dtype=np.float64)
    aicc = n * np.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    relative = np.exp(-(aicc - aicc.min()) / 2)
    return relative / relative.sum()


def fit_family(family: Family, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least-squares parameters and residual sum of squares, or None where the fit breaks down."""
    lower, upper = np.asarray(family.lower, float), np.asarray(family.upper, float)
    start = np.clip(np.nan_to_num(np.asarray(family.start(x, y), float)), lower, upper)

    def residuals(p):
        with np.errstate(all="ignore"):
            r = family.f(x, p) - y
        return np.where(np.isfinite(r), r, _PENALTY)

    try:
        result = least_squares(residuals, start, bounds=(lower, upper), method="trf")
    except (ValueError, np.linalg.LinAlgError):
        return None
    rss = float(np.sum(residuals(result.x) ** 2))
    return (result.x, rss) if math.isfinite(rss) else None


class NoExtrapolationError(ValueError):
    """No family could be fitted, or none gave an accuracy at the budget."""


def extrapolate(y: np.ndarray, budget: int, families: Sequence[str]) -> tuple[float, dict[str, float]]:
    """The ensemble's value at x = budget for a curve observed at x = 1..len(y), with each family's
    weight; raises NoExtrapolationError where nothing can be fitted."""
    n = len(y)
    if n and np.ptp(y) == 0:
        return float(y[-1]), {}  # every saturating family fits a flat curve with its own constant
    x = np.arange(1, n + 1, dtype=np.float64)
    fits, predictions = [], []
    for name in families:
        family = FAMILIES[name]
        if n < family.n_params + 2:
            continue
        fitted = fit_family(family, x, y)
        if fitted is None:
            continue
        with np.errstate(all="ignore"):
            value = float(family.f(np.array([float(budget)]), fitted[0])[0])
        if math.isfinite(value) and 0.0 <= value <= 1.0:
            fits.append((family, fitted[1]))
            predictions.append(value)
    if not fits:
        raise NoExtrapolationError(
            f"no curve family extrapolates a {n}-epoch curve to epoch {budget} (a family of k parameters "
            f"needs at least k + 2 epochs, and its value at the budget must be an accuracy in [0, 1])")
    weights = aicc_weights([rss for _, rss in fits], [family.n_params for family, _ in fits], n)
    value = float(np.clip(np.dot(weights, predictions), 0.0, 1.0))  # clip: rounding of a convex mean
    return value, {family.name: float(w) for (family, _), w in zip(fits, weights)}


class LearningCurveExtrapolation:
    """Extrapolates each trial's own accuracy curve to its budget (see the module docstring)."""

    name = "lc-extrapolation"
    version = "1"

    def __init__(self, metric: str = "val_acc", families: Sequence[str] = tuple(FAMILIES), fallback: str = "last"):
        if metric not in KNOWN_METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(KNOWN_METRICS)}")
        if isinstance(families, str):  # a lone name would be read as its letters
            raise ValueError(f"families must be a list of names, got {families!r}")
        families = tuple(families)
        unknown = [f for f in families if f not in FAMILIES]
        if not families or unknown or len(set(families)) != len(families):
            raise ValueError(f"families must be distinct names out of {', '.join(FAMILIES)}; got {list(families)!r}")
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        self.metric, self.families, self.fallback = metric, families, fallback

    def fit(self, population: Sequence) -> None:
        """Nothing to learn across trials: each curve is extrapolated on its own."""

    def estimate(self, trial) -> float:
        y = np.asarray(trial.curve(self.metric), dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{self.metric} has non-finite values at epochs "
                             f"{(np.flatnonzero(~np.isfinite(y)) + 1).tolist()}")
        try:
            return extrapolate(y, int(trial.budget), self.families)[0]
        except NoExtrapolationError:
            if self.fallback == "error" or len(y) == 0:
                raise
            return float(np.clip(y[-1], 0.0, 1.0))
