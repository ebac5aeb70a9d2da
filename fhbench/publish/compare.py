"""Comparing two leaderboards row by row: a regression gate for CI.

Only leaderboards of the same suite (by name) and the same kind (estimation, search or live, from the
results header; inferred for schema-1 files) are compared: anything else is an error, never a list of
"regressions". A row is identified by its algorithm (search tables), estimator and epoch. Which
direction is better for each metric comes from the results file's "metrics" (results schema 2; the
known defaults for metrics a file does not list, and for older files). A metric gets worse when it
moves in its bad direction by more than its tolerance; a row that disappeared is a regression, and so
are new failures (`n_failed` rose, or `coverage` fell).

Overhead is gated on `overhead_ref_mean`: the estimator's CPU time in units of a fixed reference
workload timed in the same scoring run (`fhbench.estimators.harness`, `fhbench.score.metrics`). Both are CPU times from
one run, so the load on a shared machine does not move it (tested under busy processes) while a real
slowdown does. It may rise to four times its old value plus 0.1 reference units (about a millisecond
of CPU) before it counts: that absorbs a move to another CPU, the noise of sub-millisecond estimators
and that of multi-threaded native code (two scorings of the same traces on a loaded 2-core machine
moved lcnet's from 16.6 to 44.7, 2.7x, which failed the earlier twice-plus-0.1 gate), and still fails
an estimator made 5x slower (tests/test_compare.py; the measurement: benchmarks/overhead_gate.py). The CPU clock is exact at one torch thread; a note says so when either
file was scored at more. The wall-clock columns (`overhead_s_mean`, `overhead_epochs_mean`: estimator
wall time over a training epoch's wall time recorded at another moment) are shown, not gated
(`--tolerance` gates them on request).

The report (`Comparison.lines`) is the whole side-by-side table, one block per gated metric with old,
new and delta for every row and the rows that got worse marked, within 80 columns; then the
regressions one per line, a summary line, and, when something got worse, the recording and scoring
conditions that differ between the two files (device, threads, torch version, traces) as the likely
reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhbench.core.errors import FhbenchError
from fhbench.publish.board_files import read_results
from fhbench.publish.provenance import DIRECTIONS, ESTIMATION_METRICS, SEARCH_METRICS, check_signature

# budget: suites with train.budgets; target and source: declared search suites (fhbench.publish.declared_board)
KEY_FIELDS = ("target", "algorithm", "estimator", "source", "budget", "epoch")

# Directions for results files written before results.json carried its own "metrics" (schema 1), and
# for metrics a file does not list (columns added after it was written).
LEGACY_METRICS = {**ESTIMATION_METRICS, **SEARCH_METRICS}
KNOWN_METRICS = {**LEGACY_METRICS, "overhead_ref_mean": "lower", "overhead_cpu_s_mean": "lower"}

KINDS = ("estimation", "search", "live", "declared-search")


@dataclass(frozen=True)
class Tolerance:
    metric: str
    absolute: float = 0.0
    relative: float = 0.0

    def allowed(self, old: float) -> float:
        return self.absolute + self.relative * abs(old)

    def describe(self) -> str:
        """"0.005", "100% of old + 0.1", or "0" (any change in the bad direction counts)."""
        parts = ([f"{100 * self.relative:g}% of old"] if self.relative else []) + \
                ([f"{self.absolute:g}"] if self.absolute or not self.relative else [])
        return " + ".join(parts)


DEFAULT_TOLERANCES = {
    t.metric: t for t in (
        Tolerance("mae_mean", absolute=0.005),          # half a percentage point
        Tolerance("kendall_tau_mean", absolute=0.05),
        Tolerance("regret_mean", absolute=0.005),
        # Overhead in reference units (CPU time over a reference's CPU time, one run): see the docstring.
        Tolerance("overhead_ref_mean", absolute=0.1, relative=3.0),
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

    @property
    def kind(self) -> str:
        """"estimation", "search", "live" or "declared-search": the header's, or for schema-1 files (no "kind") what the
        file holds: search results have runs (and rows keyed by algorithm), live ones jobs."""
        kind = self.header.get("kind")
        if isinstance(kind, str):
            return kind
        if "runs" in self.header or any("algorithm" in row for row in self.rows.values()):
            return "search"
        if "jobs" in self.header and "incumbent" in self.header:
            return "live"
        return "estimation"

    @property
    def suite(self) -> str | None:
        suite = self.header.get("suite")
        name = suite.get("name") if isinstance(suite, dict) else suite
        return name if isinstance(name, str) else None

    def describe(self) -> str:
        return f"{self.path} (suite '{self.suite or '?'}', {self.kind})"


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
        if path.is_dir():
            raise FhbenchError(f"{path}: no results.json in this folder: not a published leaderboard "
                               f"(give a leaderboard/<suite>/<version> folder or its results.json)") from None
        raise FhbenchError(f"{file}: no such leaderboard (expected a results.json or its directory)") from None
    except OSError as err:
        raise FhbenchError(f"{file}: cannot read ({err.strerror or err})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise _malformed(file, f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise _malformed(file, f"a JSON object expected, got {type(data).__name__}")
    if "estimates_file" in data:  # the per-trial estimates, in their own file (`--statistical` pairs them)
        data["estimates"] = read_results(file.parent)["estimates"]
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
    directions = directions if directions is not None else KNOWN_METRICS
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
        "suite version": suite.get("version"),
        "suite hash": suite.get("hash"),
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


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def _delta(old: Any, new: Any) -> str:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (old, new)):
        return ""
    delta = new - old
    if delta == 0:
        return "0"
    return f"{delta:+d}" if isinstance(delta, int) else f"{delta:+.3g}"


def _columns(table: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return ["  " + "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(line, widths))).rstrip() for line in table]


@dataclass
class Comparison:
    old: Results
    new: Results
    regressions: list[Regression]
    conditions: list[str] = field(default_factory=list)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    signature_notes: list[str] = field(default_factory=list)

    def table(self) -> list[str]:
        """The side-by-side table: per gated metric (a tolerance and a direction), every row's old and
        new value and their difference; rows that got worse are marked `worse`, rows gone `missing`,
        rows only in the new leaderboard `new`. Fits 80 columns for fhbench's own leaderboards."""
        rows = list(self.old.rows) + [key for key in self.new.rows if key not in self.old.rows]
        fields = [k for k in KEY_FIELDS if any(k in r for r in (*self.old.rows.values(), *self.new.rows.values()))]
        worse = {(r.key, r.metric) for r in self.regressions}
        gone = {r.key for r in self.regressions if r.metric == ""}
        out = []
        for metric, tolerance in self.tolerances.items():
            if metric not in self.directions:
                continue
            in_old = any(metric in r for r in self.old.rows.values())
            if not in_old:
                if any(metric in r for r in self.new.rows.values()):
                    out.append(f"{metric}: not in the reference leaderboard, not compared")
                continue
            if out:
                out.append("")
            out.append(f"{metric} ({self.directions[metric]} is better; worse beyond {tolerance.describe()})")
            table = [[*fields, "old", "new", "delta", ""]]
            for key in rows:
                a, b = self.old.rows.get(key), self.new.rows.get(key)
                row = a if a is not None else b
                mark = ("missing" if key in gone else "new" if a is None else
                        "worse" if (key, metric) in worse else "")
                old_value = a.get(metric) if a is not None else None
                new_value = b.get(metric) if b is not None else None
                table.append([str(row.get(k, "")) for k in fields]
                             + [_format(old_value), _format(new_value), _delta(old_value, new_value), mark])
            numbers = set(range(len(fields), len(fields) + 3)) | {i for i, k in enumerate(fields) if k == "epoch"}
            out += _columns(table, right=numbers)
        return out

    def notes(self) -> list[str]:
        """Caveats about what was compared: unsigned boards, and CPU-time overhead, which is load-stable
        only at one torch thread."""
        if "overhead_ref_mean" not in self.tolerances:
            return list(self.signature_notes)
        threads = {_conditions(r.header).get("scoring threads") for r in (self.old, self.new)}
        many = sorted(t for t in threads if isinstance(t, int) and t > 1)
        if not many:
            return list(self.signature_notes)
        return [*self.signature_notes, f"note: scored at {' and '.join(map(str, many))} torch threads: idle workers spin, and spinning is CPU "
                f"time, so overhead_ref_mean is load-stable only when both are scored at --threads 1"]

    def lines(self) -> list[str]:
        out = self.table()
        out += self.notes()
        out += [f"worse: {r.describe()}" for r in self.regressions]
        out.append(f"{len(self.old.rows)} row(s) compared, {len(self.regressions)} regression(s) beyond tolerance")
        if self.regressions and self.conditions:
            out.append("conditions differ between the two leaderboards (a likely reason): "
                       + "; ".join(sorted(self.conditions)))
        return out


def signature_notes(*boards: Results) -> list[str]:
    """Refuses a board edited since it was scored (FhbenchError); one note per board published before
    boards were signed."""
    notes = []
    for board in boards:
        note = check_signature(board.path.parent)
        if note:
            notes.append(note)
    return notes


def compare_files(old_path: str | Path, new_path: str | Path, tolerance_texts: list[str] = ()) -> Comparison:
    """`fhbench compare`: loads, checks and compares two leaderboards of the same suite and kind."""
    old, new = load_results(old_path), load_results(new_path)
    signatures = signature_notes(old, new)
    if old.kind != new.kind:
        raise FhbenchError(f"cannot compare {old.describe()} with {new.describe()}: different kinds of leaderboard")
    if old.suite is not None and new.suite is not None and old.suite != new.suite:
        raise FhbenchError(f"cannot compare {old.describe()} with {new.describe()}: different suites")
    if old.kind == "live":
        raise FhbenchError(f"{old.path}: a live search's results have no rows to compare "
                           f"(compare estimation or search leaderboards)")
    if not old.rows:
        raise FhbenchError(f"{old.path}: the reference leaderboard has no rows: nothing to compare against")
    directions = dict(old.metrics)
    for metric, direction in new.metrics.items():
        if directions.setdefault(metric, direction) != direction:
            raise FhbenchError(f"{new.path}: metric '{metric}' is '{direction}'-is-better, but "
                               f"'{old.metrics[metric]}' in {old.path}: the leaderboards do not agree")
    published = {m for results in (old, new) for row in results.rows.values() for m in row}
    for metric, direction in KNOWN_METRICS.items():
        if metric in published:
            directions.setdefault(metric, direction)  # a column newer than the files' "metrics"
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
    return Comparison(old, new, regressions, differing_conditions(old.header, new.header), tolerances, directions,
                      signatures)
