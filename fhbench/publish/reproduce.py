"""Reproduce a published leaderboard from its own files, without traces or estimators.

An estimation board (results schema 3) publishes every per-trial estimate with its measured overheads,
the truths, each trial's recorded epoch time and the bootstrap's settings: `reproduce_published` scores
it again (`fhbench.score.published.rescore`) and lists every row and statistic that differs. The
measured times themselves (overhead_s, overhead_cpu_s, the reference workload, the epoch times) are
inputs a replay cannot recompute; every column derived from them is recomputed.

A search leaderboard publishes, beside results.json, the estimates.json its searches replayed: per
estimator the estimates and measured overheads at every budget (and which failed), each pool
config's recorded epoch and validation times, the pool's cells and true accuracies, and the truth's
description. `reproduce_published` rebuilds every search from these and the suite settings in
results.json (algorithms, seeds, workers, budgets, time budget), replays it with the same driver, cost
model and regret rule, and lists every published number that the replay does not give back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fhbench.core.errors import FhbenchError
from fhbench.publish.board_files import read_json_object, read_results
from fhbench.score.published import rescore
from fhbench.search.pool import encode_cells
from fhbench.search.backends.replay import EpochTimes, EstimateTable
from fhbench.search.run import (Regret, SearchSpec, default_time_budget, replay_all, run_record, search_budgets,
                                summarise)

_REL = 1e-9  # results.json rounds floats to 10 significant digits
# Search-board numbers added with the intervals (results schema 3): a board published before them is
# reproduced on what it published.
_SCHEMA_3_SEARCH_KEYS = {"anytime_regret", "regret_lo", "regret_hi", "anytime_regret_mean", "anytime_regret_lo",
                         "anytime_regret_hi"}
_REL_RESCORED = 1e-6  # an estimation board's rows are recomputed from those rounded estimates: a std or an
_ABS_RESCORED = 1e-9  # interval endpoint of rounded inputs moves in its last digits, never beyond these


def _read(path: Path) -> dict:
    return read_json_object(path, "a search leaderboard publishes results.json and estimates.json")


def _same(published: Any, replayed: Any, rel: float = _REL, abs_: float = 1e-12) -> bool:
    if isinstance(replayed, float) and not math.isfinite(replayed):  # results.json writes NaN and inf as null
        return published is None or published == replayed or (isinstance(published, float) and math.isnan(published)
                                                               and math.isnan(replayed))
    if isinstance(published, bool) or isinstance(replayed, bool):
        return published == replayed
    if isinstance(published, (int, float)) and isinstance(replayed, (int, float)):
        return math.isclose(published, replayed, rel_tol=rel, abs_tol=abs_)
    if isinstance(published, list) and isinstance(replayed, (list, tuple)):
        return len(published) == len(replayed) and all(_same(p, r, rel, abs_) for p, r in zip(published, replayed))
    if isinstance(published, dict) and isinstance(replayed, dict):
        return published.keys() == replayed.keys() and all(_same(published[k], replayed[k], rel, abs_)
                                                           for k in published)
    return published == replayed


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _compare(where: str, published: dict, replayed: dict, differences: list[str], rel: float = _REL,
             abs_: float = 1e-12) -> None:
    for key in sorted(set(published) | set(replayed)):
        if key not in replayed:
            differences.append(f"{where}: published '{key}' is not something a replay gives")
        elif key not in published:
            differences.append(f"{where}: '{key}' is missing from the published files")
        elif not _same(published[key], replayed[key], rel, abs_):
            p, r = published[key], replayed[key]
            if isinstance(p, list) and isinstance(r, (list, tuple)) and len(p) == len(r):
                index = next(i for i, (a, b) in enumerate(zip(p, r)) if not _same(a, b, rel, abs_))
                differences.append(f"{where}: {key}[{index}] published {_show(p[index])}, replayed {_show(r[index])}")
            else:
                differences.append(f"{where}: {key} published {_show(p)}, replayed {_show(r)}")


def reproduce_published(directory: str | Path) -> list[str]:
    """Replays every search of the search leaderboard in `directory` from its published files alone
    and returns the differences from its published runs and rows (an empty list: reproduced).
    Raises FhbenchError (one line) when the directory is not a search leaderboard with its estimates."""
    directory = Path(directory)
    results = read_results(directory)
    if results.get("kind") == "estimation":
        return _reproduce_estimation(directory, results)
    estimates = _read(directory / "estimates.json")
    if results.get("kind") != "search":
        raise FhbenchError(f"{directory}: results.json is of kind {results.get('kind')!r}, not a search leaderboard")
    try:
        settings = results["suite_settings"]
        spec = SearchSpec.from_settings(settings, source=str(directory))
        cells = list(estimates["pool"]["cells"])
        pool = encode_cells(cells, settings["space"]["name"])
        times = EpochTimes.from_dict(estimates["epoch_costs"])
        tables = {name: EstimateTable.from_dict(estimates["estimators"][name]) for name in spec.estimators}
        pool_truth = [math.nan if v is None else float(v) for v in estimates["pool_truth"]]
        truth = estimates["truth"]
        optimum = None if truth.get("optimum") is None else (truth["optimum_cell"], float(truth["optimum"]))
        published_runs = {(r["algorithm"], r["estimator"], r["seed"]): r for r in results["runs"]}
        published_rows = {(r["algorithm"], r["estimator"]): r for r in results["rows"]}
    except (KeyError, TypeError, ValueError, FhbenchError) as err:
        raise FhbenchError(f"{directory}: not a reproducible search leaderboard ({type(err).__name__}: {err})") from None
    sizes = {len(cells), len(pool_truth), len(times)} | {table.n_configs for table in tables.values()}
    if len(sizes) != 1:
        raise FhbenchError(f"{directory}: estimates.json's pool, truths, epoch costs and tables differ in size")
    budgets = list(search_budgets(spec))
    bad = [name for name, table in tables.items() if list(table.budgets) != budgets]
    if bad:
        raise FhbenchError(f"{directory}: estimates of {', '.join(bad)} are not at the search budgets {budgets}")

    differences: list[str] = []
    regret = Regret.of(optimum, cells, pool_truth)
    _compare("inputs", {"pool": results.get("pool"), "pool_truth": results.get("pool_truth"),
                        "truth": results.get("truth"), "regret": results.get("regret"),
                        "estimates.json regret": estimates.get("regret")},
             {"pool": cells, "pool_truth": pool_truth, "truth": truth, "regret": regret.as_dict(),
              "estimates.json regret": regret.as_dict()}, differences)
    time_budget = spec.time_budget_s or default_time_budget(spec, pool, tables, times)
    _compare("search", {"time_budget_s": results.get("time_budget_s")}, {"time_budget_s": time_budget}, differences)

    runs = replay_all(spec, pool, tables, times, time_budget)
    records = [run_record(run, cells, pool_truth, regret.reference) for run in runs]
    older = int(results.get("results_schema", 0)) < 3

    def as_published(entry: dict) -> dict:
        return {k: v for k, v in entry.items() if not (older and k in _SCHEMA_3_SEARCH_KEYS)}

    for record in records:
        key = (record["algorithm"], record["estimator"], record["seed"])
        published = published_runs.pop(key, None)
        if published is None:
            differences.append(f"run {'/'.join(map(str, key))}: replayed, but not published")
            continue
        _compare(f"run {key[0]}/{key[1]}/seed {key[2]}", published, as_published(record), differences)
    differences += [f"run {'/'.join(map(str, key))}: published, but not a search of these settings"
                    for key in published_runs]
    for row in summarise(records):
        key = (row.algorithm, row.estimator)
        published = published_rows.pop(key, None)
        if published is None:
            differences.append(f"row {key[0]}/{key[1]}: replayed, but not published")
            continue
        _compare(f"row {key[0]}/{key[1]}", published, as_published(row.as_dict()), differences)
    differences += [f"row {key[0]}/{key[1]}: published, but not a search of these settings" for key in published_rows]
    return differences


def _reproduce_estimation(directory: Path, results: dict) -> list[str]:
    rows, statistics = rescore(results, str(directory / "results.json"))
    differences: list[str] = []
    published = {(row["estimator"], row.get("budget"), row["epoch"]): row for row in results.get("rows", [])}
    for row in rows:
        key = (row.estimator, row.budget, row.epoch)
        where = f"row {row.estimator} at epoch {row.epoch}" + (f", budget {row.budget}" if row.budget else "")
        if key not in published:
            differences.append(f"{where}: scored, but not published")
            continue
        _compare(where, published.pop(key), row.as_dict(), differences, _REL_RESCORED, _ABS_RESCORED)
    differences += [f"row {key[0]} at epoch {key[2]}: published, but not scored from the published estimates"
                    for key in published]
    for index, (old, new) in enumerate(zip(results["statistics"]["checkpoints"], statistics["checkpoints"])):
        _compare(f"statistics at epoch {new['epoch']}", old, new, differences, _REL_RESCORED, _ABS_RESCORED)
    settings = {k: v for k, v in results["statistics"].items() if k != "checkpoints"}
    _compare("statistics", settings, {k: v for k, v in statistics.items() if k != "checkpoints"}, differences)
    return differences
