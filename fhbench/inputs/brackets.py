"""HyperBand's bracket plan (Li et al. 2018): a pure function of a search suite's budgets, which the
suite schema checks before any work and `fhbench.search.algorithms.HyperBand` (and BOHB) run."""

from __future__ import annotations

import math
from fractions import Fraction


def _whole(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__") or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def hyperband_brackets(max_budget: int, min_budget: int, eta: int) -> list[list[tuple[int, int]]]:
    """The bracket plan: for s = s_max, ..., 0 the rungs (n_i, r_i) of that bracket.

    s_max = floor(log_eta(R / r_min)), n = ceil((s_max + 1) / (s + 1) * eta^s), r = R * eta^-s,
    n_i = floor(n * eta^-i), r_i = r * eta^i. Integer and exact rational arithmetic throughout,
    so no float log or division error shifts a bracket; budgets are rounded half up to ints
    (already ints when R / r_min is a power of eta).
    """
    max_budget = _whole("max_budget", max_budget, 1)
    min_budget = _whole("min_budget", min_budget, 1)
    eta = _whole("eta", eta, 2)
    if min_budget > max_budget:
        raise ValueError(f"min_budget={min_budget} exceeds max_budget={max_budget}")
    s_max = 0
    while min_budget * eta ** (s_max + 1) <= max_budget:
        s_max += 1
    plan = []
    for s in range(s_max, -1, -1):
        n = -(-((s_max + 1) * eta**s) // (s + 1))
        rungs = []
        for i in range(s + 1):
            budget = Fraction(max_budget * eta**i, eta**s)
            rungs.append((n // eta**i, math.floor(budget + Fraction(1, 2))))
        plan.append(rungs)
    return plan


__all__ = ["hyperband_brackets"]
