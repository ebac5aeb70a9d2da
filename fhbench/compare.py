"""Comparing two leaderboards row by row: a regression gate for CI.

A row is identified by its algorithm (search tables), estimator and epoch. Which direction is better
for each metric comes from the results file's "metrics" (results schema 2; the known defaults for
older files). A metric gets worse when it moves in its bad direction by more than its tolerance; a
row that disappeared is a regression, and so are new failures (`n_failed` rose, or `coverage` fell).
Quality metrics have absolute tolerances; overhead, a wall-clock measurement on shared machines, also
a relative one. When something got worse, the recording and scoring conditions that differ between
the two files (device, threads, torch version, traces) are printed as the likely reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhbench.errors import FhbenchError
from fhbench.publish import DIRECTIONS, ESTIMATION_METRICS, SEARCH_METRICS

KEY_FIELDS = ("algorithm", "estimator", "epoch")

# Directions for results files written before results.json carried its own "metrics" (schema 1).
LEGACY_METRICS = {**ESTIMATION_METRICS, **SEARCH_METRICS}


@dataclass(frozen=True)
class Tolerance:
    metric: str
    absolute: float = 0.0
    relative: float = 0.0

    def allowed(self, old: float) -> float:
        return self.absolute + self.relative * abs(old)


DEFAULT_TOLERANCES = {
    t.metric: t for t in (
        Tolerance("mae_mean", absolute=0.005),          # half a percentage point
        Tolerance("kendall_tau_mean", absolute=0.05),
        Tolerance("regret_mean", absolute=0.005),
        # Overhead is a wall-clock ratio: on tiny suites (quickstart epochs last 0.1 s) it doubles between
        # runs of the same code, so only a rise of more than 0.05 epochs beyond double counts.
        Tolerance("overhead_epochs_mean", absolute=0.05, relative=1.0),
        # New failures are regressions: any rise in failed estimates, any fall in coverage.
        Tolerance("n_failed"),
        Tolerance("coverage"),
    )
}


@dataclass(frozen=True)
class Regression:
    key: str
    metric: str
    old: float | None
    new: float | None

    def describe(self) -> str:
        if self.metric == "":
            return f"{self.key}: row missing from the new leaderboard"
        new = "missing" if self.new is None or math.isnan(self.new) else f"{self.new:.6g}"
        note = " (new failures)" if self.metric in ("n_failed", "coverage") else ""
        return f"{self.key}: {self.metric} {self.old:.6g} -> {new}{note}"


@dataclass(frozen=True)
class Results:
    """One leaderboard's results.json: its rows by key, its metric directions and its header."""

    path: Path
    rows: dict[str, dict]
    metrics: dict[str, str]
    header: dict[str, Any]


def _malformed(file: Path, why: str) -> FhbenchError:
    return FhbenchError(f"{file}: not a leaderboard results.json ({why})")


def row_key(row: dict) -> str:
    return " ".join(f"{k}={row[k]}" for k in KEY_FIELDS if k in row)


def load_results(path: str | Path) -> Results:
    """A leaderboard directory (or its results.json), checked: rows a list of objects with distinct
    keys, metric directions "lower" or "higher"."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise FhbenchError(f"{file}: no such leaderboard (expected a results.json or its directory)") from None
    except OSError as err:
        raise FhbenchError(f"{file}: cannot read ({err.strerror or err})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise _malformed(file, f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise _malformed(file, f"a JSON object expected, got {type(data).__name__}")
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise _malformed(file, "no 'rows' list")
    keyed: dict[str, dict] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _malformed(file, f"row {index} is not an object")
        key = row_key(row)
        if not key:
            raise _malformed(file, f"row {index} has none of the key fields {', '.join(KEY_FIELDS)}")
        if key in keyed:
            raise _malformed(file, f"duplicate row key '{key}'")
        keyed[key] = row
    metrics = data.get("metrics", LEGACY_METRICS)
    if not isinstance(metrics, dict) or not all(v in DIRECTIONS for v in metrics.values()):
        raise _malformed(file, "'metrics' must map each metric to 'lower' or 'higher'")
    header = {k: v for k, v in data.items() if k != "rows"}
    return Results(file, keyed, dict(metrics), header)


def load_rows(path: str | Path) -> dict[str, dict]:
    """The rows of a leaderboard directory (or its results.json), keyed by their identity."""
    return load_results(path).rows


def parse_tolerance(text: str) -> Tolerance:
    """`metric=0.01` (absolute) or `metric=50%` (relative): a finite number >= 0."""
    metric, _, value = text.partition("=")
    if not metric or not value:
        raise FhbenchError(f"--tolerance '{text}': expected METRIC=VALUE or METRIC=PERCENT%")
    try:
        number = float(value[:-1] if value.endswith("%") else value)
    except ValueError:
        raise FhbenchError(f"--tolerance '{text}': '{value}' is not a number") from None
    if not (math.isfinite(number) and number >= 0):
        raise FhbenchError(f"--tolerance '{text}': expected a finite number >= 0, got {value}")
    if value.endswith("%"):
        return Tolerance(metric, relative=number / 100)
    return Tolerance(metric, absolute=number)


def _number(results: Results, key: str, metric: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _malformed(results.path, f"row '{key}': {metric} is not a number ({value!r})")
    return None if math.isnan(value) else float(value)


def compare(old: dict[str, dict], new: dict[str, dict], tolerances: dict[str, Tolerance],
            directions: dict[str, str] | None = None) -> list[Regression]:
    """The regressions of `new` against `old`: rows that disappeared, and metrics with a tolerance that
    moved in their bad direction (from `directions`, else the known defaults) by more than it."""
    directions = directions if directions is not None else LEGACY_METRICS
    regressions = []
    for key, old_row in old.items():
        new_row = new.get(key)
        if new_row is None:
            regressions.append(Regression(key, "", None, None))
            continue
        for metric, tolerance in tolerances.items():
            if metric not in directions or metric not in old_row:
                continue
            a, b = old_row.get(metric), new_row.get(metric)
            if a is None or (isinstance(a, float) and math.isnan(a)):
                continue  # the old leaderboard had no value: nothing to hold the new one to
            if b is None or (isinstance(b, float) and math.isnan(b)):
                regressions.append(Regression(key, metric, a, math.nan))
                continue
            worse_by = (a - b) if directions[metric] == "higher" else (b - a)
            if worse_by > tolerance.allowed(a) + 1e-12:
                regressions.append(Regression(key, metric, a, b))
    return regressions


def _conditions(header: dict[str, Any]) -> dict[str, Any]:
    """The recording and scoring conditions a results header names (either schema)."""
    env = header.get("environment") if isinstance(header.get("environment"), dict) else {}
    suite = header.get("suite") if isinstance(header.get("suite"), dict) else {}
    out = {
        "scoring device": env.get("device", env.get("score_device")),
        "scoring threads": env.get("threads", env.get("score_threads")),
        "torch": env.get("torch"),
        "cuda": env.get("cuda"),
        "deterministic algorithms": env.get("deterministic_algorithms"),
        "traces_hash": header.get("traces_hash"),
        "record_hash": suite.get("record_hash"),
    }
    truth = header.get("truth")
    out["truth"] = truth.get("spec", truth.get("source")) if isinstance(truth, dict) else truth
    recording = env.get("recording")
    if isinstance(recording, dict):
        for k, v in sorted(recording.items()):
            out[f"recording {k}"] = v
    else:
        out["recording devices"] = env.get("record_devices")
        out["recording torch"] = env.get("record_torch")
    return out


def differing_conditions(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = _conditions(old), _conditions(new)
    return [f"{name} {a.get(name)!r} -> {b.get(name)!r}" for name in a.keys() | b.keys()
            if a.get(name) != b.get(name) and not (a.get(name) is None or b.get(name) is None)]


@dataclass
class Comparison:
    old: Results
    new: Results
    regressions: list[Regression]
    conditions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"worse: {r.describe()}" for r in self.regressions]
        out.append(f"{len(self.old.rows)} row(s) compared, {len(self.regressions)} regression(s) beyond tolerance")
        if self.regressions and self.conditions:
            out.append("conditions differ between the two leaderboards (a likely reason): "
                       + "; ".join(sorted(self.conditions)))
        return out


def compare_files(old_path: str | Path, new_path: str | Path, tolerance_texts: list[str] = ()) -> Comparison:
    """`fhbench compare`: loads, checks and compares two leaderboards."""
    old, new = load_results(old_path), load_results(new_path)
    if not old.rows:
        raise FhbenchError(f"{old.path}: the reference leaderboard has no rows: nothing to compare against")
    directions = dict(old.metrics)
    for metric, direction in new.metrics.items():
        if directions.setdefault(metric, direction) != direction:
            raise FhbenchError(f"{new.path}: metric '{metric}' is '{direction}'-is-better, but "
                               f"'{old.metrics[metric]}' in {old.path}: the leaderboards do not agree")
    tolerances = dict(DEFAULT_TOLERANCES)
    for text in tolerance_texts:
        tolerance = parse_tolerance(text)
        if tolerance.metric not in directions:
            raise FhbenchError(f"--tolerance '{text}': '{tolerance.metric}' is not a metric of these leaderboards "
                               f"({', '.join(sorted(directions))})")
        tolerances[tolerance.metric] = tolerance
    for results in (old, new):
        for key, row in results.rows.items():
            for metric in tolerances:
                if metric in directions:
                    _number(results, key, metric, row.get(metric))
    regressions = compare(old.rows, new.rows, tolerances, directions)
    return Comparison(old, new, regressions, differing_conditions(old.header, new.header))
