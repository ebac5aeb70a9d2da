"""The search stage of a search suite: every algorithm with every estimator over every seed, replayed
on the suite's recorded pool, scored by regret against a truth table, published as a leaderboard."""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import fhbench
from fhbench.errors import FhbenchError
from fhbench.estimators import available_estimators, create_estimator
from fhbench.estimators.registry import check_settings_names, describe_estimators
from fhbench.search.algorithms import BOHB, ConfigPool, HyperBand, RandomSearch
from fhbench.search.replay import EstimateTable, SearchRun, estimate_table, replay
from fhbench.search.truth import TruthTable, load_truth
from fhbench.spaces.nb201 import OPS
from fhbench.suite import Suite
from fhbench.traces import traces_hash


def build_pool(cells: list[str], space) -> ConfigPool:
    codes = np.array([[OPS.index(op) for op in space.parse(cell).ops] for cell in cells], dtype=np.int64)
    return ConfigPool(codes, (len(OPS),) * codes.shape[1])


def make_algorithm(name: str, pool: ConfigPool, suite: Suite, seed: int, max_iterations: int | None = None):
    s, budget = suite.search, suite.train.epochs
    try:
        if name == "random":
            return RandomSearch(pool, budget, s.random_configs, seed)
        cls = {"hyperband": HyperBand, "bohb": BOHB}.get(name)
        if cls is None:
            raise FhbenchError(f"unknown search algorithm '{name}' (known: random, hyperband, bohb)")
        return cls(pool, budget, s.min_budget, s.eta, seed, max_iterations=max_iterations)
    except ValueError as err:
        raise FhbenchError(f"{suite.path}: search '{name}': {err} (the pool is the suite's "
                           f"{pool.size} recorded cells: raise space.num_samples)") from None


def search_budgets(suite: Suite) -> tuple[int, ...]:
    """Every budget a search of this suite can stop at: the estimates the replay needs."""
    s = suite.search
    plan = HyperBand.brackets(suite.train.epochs, s.min_budget, s.eta)
    return tuple(sorted({budget for bracket in plan for _, budget in bracket} | {suite.train.epochs}))


def cached_estimate_table(store_root: Path, name: str, estimator, settings: dict, traces, budgets) -> EstimateTable:
    """Estimate tables are measurements of the traces (like their epoch times): kept beside them, so a
    search suite scored again replays the same table and gives the same result."""
    key = json.dumps({"estimator": name, "version": str(estimator.version), "settings": settings,
                      "budgets": list(budgets), "traces": [t.digest for t in traces]}, sort_keys=True)
    path = store_root / "estimates" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if path.exists():
        try:
            return EstimateTable.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            path.unlink()  # a damaged cache is recomputed, never used
    table = estimate_table(name, estimator, traces, budgets)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table.to_dict()))
    tmp.replace(path)
    return table


def default_time_budget(suite: Suite, pool: ConfigPool, tables: dict, epoch_times: np.ndarray) -> float:
    """The simulated time random search needs to finish its configs, the longest over estimators and
    seeds: every algorithm then gets that same time, as in the thesis (about 2 hours for all three)."""
    longest = 0.0
    for name, table in tables.items():
        for seed in range(suite.search.seeds):
            run = replay(make_algorithm("random", pool, suite, seed), table, epoch_times,
                         suite.search.workers, math.inf, estimator=name, seed=seed)
            longest = max(longest, run.simulated_time_s)
    return longest


@dataclass(frozen=True)
class SearchRow:
    algorithm: str
    estimator: str
    true_acc_mean: float
    true_acc_std: float
    regret_mean: float
    regret_std: float
    simulated_time_s_mean: float
    configs_evaluated_mean: float
    jobs_mean: float
    seeds: int

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(runs: list[SearchRun], truth: TruthTable, cells: list[str]) -> list[SearchRow]:
    _, optimum = truth.optimum()
    rows = []
    for algorithm, estimator in sorted({(r.algorithm, r.estimator) for r in runs}):
        mine = [r for r in runs if (r.algorithm, r.estimator) == (algorithm, estimator)]
        accs = [truth.accuracy(cells[r.incumbent]) if r.incumbent is not None else math.nan for r in mine]
        regrets = [optimum - a for a in accs]
        rows.append(SearchRow(algorithm, estimator, float(np.mean(accs)), float(np.std(accs)),
                              float(np.mean(regrets)), float(np.std(regrets)),
                              float(np.mean([r.simulated_time_s for r in mine])),
                              float(np.mean([r.configs_evaluated for r in mine])),
                              float(np.mean([len(r.jobs) for r in mine])), len(mine)))
    return rows


@dataclass(frozen=True)
class SearchOutcome:
    rows: list[SearchRow]
    runs: list[SearchRun]
    tables: dict[str, EstimateTable]
    truth: TruthTable
    time_budget_s: float
    cells: list[str]  # the pool: config i of every run is cells[i]
    estimators: dict[str, dict]  # what results.json records of each estimator


def search_suite(suite: Suite, traces, space, *, store_root: Path,
                 on_step: Callable[[str], None] | None = None) -> SearchOutcome:
    """Every algorithm with every estimator over every seed, on the pool of finished `traces`."""
    cells = [t.config for t in traces]
    pool = build_pool(cells, space)
    truth = load_truth(suite.search.truth, suite.search.truth_table, traces)
    for cell in cells:
        truth.accuracy(cell)  # every pool cell must have a true accuracy, before any work
    epoch_times = np.stack([t.curve("epoch_time") for t in traces])
    for name in suite.search.algorithms:
        make_algorithm(name, pool, suite, seed=0)  # a pool too small fails here, before estimates
    budgets = search_budgets(suite)
    registry = available_estimators()
    check_settings_names(suite.estimator_settings, registry)
    estimators, tables = {}, {}
    for name in suite.search.estimators:
        settings = suite.estimator_settings.get(name, {})
        estimators[name] = create_estimator(name, settings, registry=registry)
        tables[name] = cached_estimate_table(store_root, name, estimators[name], settings, traces, budgets)
        if on_step:
            on_step(f"estimates: {name}")
    time_budget = suite.search.time_budget_s or default_time_budget(suite, pool, tables, epoch_times)
    runs = []
    for algorithm in suite.search.algorithms:
        for name in suite.search.estimators:
            for seed in range(suite.search.seeds):
                search = make_algorithm(algorithm, pool, suite, seed)
                runs.append(replay(search, tables[name], epoch_times, suite.search.workers, time_budget,
                                   estimator=name, seed=seed))
            if on_step:
                on_step(f"{algorithm} with {name}")
    return SearchOutcome(summarise(runs, truth, cells), runs, tables, truth, time_budget, cells,
                         describe_estimators(estimators, registry, suite.estimator_settings))


def search_meta(suite: Suite, outcome: SearchOutcome, traces) -> dict:
    truth, cells = outcome.truth, outcome.cells
    optimum_cell, optimum = truth.optimum()
    return {
        "fhbench_version": fhbench.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "suite": {"name": suite.name, "version": suite.version, "description": suite.description,
                  "hash": suite.hash, "record_hash": suite.record_hash},
        "suite_settings": suite.to_dict(),
        "estimators": outcome.estimators,
        "truth": {"source": truth.source, "optimum_cell": optimum_cell, "optimum": optimum},
        "time_budget_s": outcome.time_budget_s,
        "pool": cells,
        "pool_truth": [truth.accuracy(cell) for cell in cells],
        "traces_hash": traces_hash(traces),
        "dataset_source": ", ".join(sorted({t.manifest["dataset_source"] for t in traces})),
        "estimate_failures": {name: list(table.failures) for name, table in outcome.tables.items()},
        "runs": [{"algorithm": r.algorithm, "estimator": r.estimator, "seed": r.seed,
                  "incumbent": cells[r.incumbent] if r.incumbent is not None else None,
                  "true_acc": truth.accuracy(cells[r.incumbent]) if r.incumbent is not None else None,
                  "simulated_time_s": r.simulated_time_s, "configs_evaluated": r.configs_evaluated,
                  "jobs": len(r.jobs), "trajectory": r.trajectory} for r in outcome.runs],
    }
