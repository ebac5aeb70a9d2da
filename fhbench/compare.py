"""Comparing two leaderboards row by row: a regression gate for CI.

A row is identified by its algorithm (search tables), estimator and epoch. A metric gets worse when
it moves in its bad direction by more than its tolerance; a row that disappeared is a regression too.
Quality metrics have absolute tolerances; overhead, a wall-clock measurement on shared machines, a
relative one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from fhbench.errors import FhbenchError

KEY_FIELDS = ("algorithm", "estimator", "epoch")


@dataclass(frozen=True)
class Tolerance:
    metric: str
    higher_is_better: bool
    absolute: float = 0.0
    relative: float = 0.0

    def allowed(self, old: float) -> float:
        return self.absolute + self.relative * abs(old)


DEFAULT_TOLERANCES = {
    t.metric: t for t in (
        Tolerance("mae_mean", higher_is_better=False, absolute=0.005),          # half a percentage point
        Tolerance("kendall_tau_mean", higher_is_better=True, absolute=0.05),
        Tolerance("regret_mean", higher_is_better=False, absolute=0.005),
        # Overhead is a wall-clock ratio: on tiny suites (quickstart epochs last 0.1 s) it doubles between
        # runs of the same code, so only a rise of more than 0.05 epochs beyond double counts.
        Tolerance("overhead_epochs_mean", higher_is_better=False, absolute=0.05, relative=1.0),
    )
}


@dataclass(frozen=True)
class Regression:
    key: str
    metric: str
    old: float | None
    new: float | None

    def describe(self) -> str:
        if self.new is None:
            return f"{self.key}: row missing from the new leaderboard"
        return f"{self.key}: {self.metric} {self.old:.6g} -> {self.new:.6g}"


def load_rows(path: str | Path) -> dict[str, dict]:
    """The rows of a leaderboard directory (or its results.json), keyed by their identity."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    try:
        rows = json.loads(file.read_text())["rows"]
    except FileNotFoundError:
        raise FhbenchError(f"{file}: no such leaderboard (expected a results.json or its directory)") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FhbenchError(f"{file}: not a leaderboard results.json ({type(err).__name__}: {err})") from None
    return {" ".join(f"{k}={row[k]}" for k in KEY_FIELDS if k in row): row for row in rows}


def parse_tolerance(text: str) -> Tolerance:
    """`metric=0.01` (absolute) or `metric=50%` (relative), for a metric with a known direction."""
    metric, _, value = text.partition("=")
    base = DEFAULT_TOLERANCES.get(metric)
    if base is None or not value:
        raise FhbenchError(f"--tolerance '{text}': expected METRIC=VALUE or METRIC=PERCENT% with METRIC one of "
                           f"{', '.join(DEFAULT_TOLERANCES)}")
    try:
        number = float(value.rstrip("%"))
    except ValueError:
        raise FhbenchError(f"--tolerance '{text}': '{value}' is not a number") from None
    if value.endswith("%"):
        return Tolerance(metric, base.higher_is_better, relative=number / 100)
    return Tolerance(metric, base.higher_is_better, absolute=number)


def compare(old: dict[str, dict], new: dict[str, dict], tolerances: dict[str, Tolerance]) -> list[Regression]:
    regressions = []
    for key, old_row in old.items():
        new_row = new.get(key)
        if new_row is None:
            regressions.append(Regression(key, "", None, None))
            continue
        for metric, tolerance in tolerances.items():
            a, b = old_row.get(metric), new_row.get(metric)
            if a is None or (isinstance(a, float) and math.isnan(a)):
                continue  # the old leaderboard had no value: nothing to hold the new one to
            if b is None or (isinstance(b, float) and math.isnan(b)):
                regressions.append(Regression(key, metric, a, math.nan))
                continue
            worse_by = (a - b) if tolerance.higher_is_better else (b - a)
            if worse_by > tolerance.allowed(a) + 1e-12:
                regressions.append(Regression(key, metric, a, b))
    return regressions
