"""Reproduce a published search leaderboard from its own files, without traces or estimators.

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
from fhbench.search.pool import encode_cells
from fhbench.search.backends.replay import EpochTimes, EstimateTable
from fhbench.search.run import (Regret, SearchSpec, default_time_budget, replay_all, run_record, search_budgets,
                                summarise)

_REL = 1e-9  # results.json rounds floats to 10 significant digits


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FhbenchError(f"{path}: not found (a search leaderboard publishes results.json and estimates.json)") from None
    except (OSError, ValueError) as err:
        raise FhbenchError(f"{path}: unreadable ({err})") from None
    if not isinstance(data, dict):
        raise FhbenchError(f"{path}: not a JSON object")
    return data


def _same(published: Any, replayed: Any) -> bool:
    if isinstance(replayed, float) and math.isnan(replayed):
        return published is None or (isinstance(published, float) and math.isnan(published))
    if isinstance(published, bool) or isinstance(replayed, bool):
        return published == replayed
    if isinstance(published, (int, float)) and isinstance(replayed, (int, float)):
        return math.isclose(published, replayed, rel_tol=_REL, abs_tol=1e-12)
    if isinstance(published, list) and isinstance(replayed, (list, tuple)):
        return len(published) == len(replayed) and all(_same(p, r) for p, r in zip(published, replayed))
    if isinstance(published, dict) and isinstance(replayed, dict):
        return published.keys() == replayed.keys() and all(_same(published[k], replayed[k]) for k in published)
    return published == replayed


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _compare(where: str, published: dict, replayed: dict, differences: list[str]) -> None:
    for key in sorted(set(published) | set(replayed)):
        if key not in replayed:
            differences.append(f"{where}: published '{key}' is not something a replay gives")
        elif key not in published:
            differences.append(f"{where}: '{key}' is missing from the published files")
        elif not _same(published[key], replayed[key]):
            p, r = published[key], replayed[key]
            if isinstance(p, list) and isinstance(r, (list, tuple)) and len(p) == len(r):
                index = next(i for i, (a, b) in enumerate(zip(p, r)) if not _same(a, b))
                differences.append(f"{where}: {key}[{index}] published {_show(p[index])}, replayed {_show(r[index])}")
            else:
                differences.append(f"{where}: {key} published {_show(p)}, replayed {_show(r)}")


def reproduce_published(directory: str | Path) -> list[str]:
    """Replays every search of the search leaderboard in `directory` from its published files alone
    and returns the differences from its published runs and rows (an empty list: reproduced).
    Raises FhbenchError (one line) when the directory is not a search leaderboard with its estimates."""
    directory = Path(directory)
    results = _read(directory / "results.json")
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
    for record in records:
        key = (record["algorithm"], record["estimator"], record["seed"])
        published = published_runs.pop(key, None)
        if published is None:
            differences.append(f"run {'/'.join(map(str, key))}: replayed, but not published")
            continue
        _compare(f"run {key[0]}/{key[1]}/seed {key[2]}", published, record, differences)
    differences += [f"run {'/'.join(map(str, key))}: published, but not a search of these settings"
                    for key in published_runs]
    for row in summarise(records):
        key = (row.algorithm, row.estimator)
        published = published_rows.pop(key, None)
        if published is None:
            differences.append(f"row {key[0]}/{key[1]}: replayed, but not published")
            continue
        _compare(f"row {key[0]}/{key[1]}", published, row.as_dict(), differences)
    differences += [f"row {key[0]}/{key[1]}: published, but not a search of these settings" for key in published_rows]
    return differences
