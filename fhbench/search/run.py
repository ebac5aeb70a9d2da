"""The search stage of a search suite: every algorithm with every estimator over every seed, replayed on
the suite's recorded pool, scored by regret against the suite's truth, published as a leaderboard.

Regret (A.3.2): the truth's accuracy of the global optimum over the whole space minus that of the
architecture a search returns. A truth that is a table of the space (nb201-api, nb201-table, csv)
has that optimum; an own-run truth (final_test_acc, final_val_acc) knows only the recorded pool, so
regret is then measured against the pool's best, and the results say so. Beside it the results
publish the pool's floor, the optimum minus the pool's best truth: no search of this pool can have
less regret.

Estimate tables are measurements of the traces, like their epoch times: they are cached beside the
traces (`<store>/estimates/`), so a suite scored again replays the same tables and gives the same
searches. The cache is not trusted as it stands: each file holds the key it was computed for and a
sha256 of its content; a file that does not match, or whose table does not have the pool's shape,
is recomputed (never used), with a note through the progress callback.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fhbench.core.atomic import write_file
from fhbench.core.errors import FhbenchError
from fhbench.score import stats
from fhbench.score.stats import anytime_regret
from fhbench.search.algorithms import BOHB, ConfigPool, HyperBand, RandomSearch, pool_size_warning
from fhbench.search.driver import SearchRun
from fhbench.search.backends.replay import EpochTimes, EstimateTable, estimate_table, replay

COST_MODEL = ("a job costs, for each epoch it adds (a promoted configuration continues from its previous "
              "budget), the recorded training time plus the validation pass (epoch_time + val_time), plus the "
              "estimator's measured overhead at the job's budget; the test pass is not charged")
CACHE_FORMAT = 2


@dataclass(frozen=True)
class SearchSpec:
    """What a search suite asks for, independent of how it is stored (a Suite, or a published
    results.json's suite_settings)."""

    algorithms: tuple[str, ...]
    estimators: tuple[str, ...]
    max_budget: int
    min_budget: int
    eta: int
    workers: int
    seeds: int
    random_configs: int
    time_budget_s: float
    source: str = "<suite>"

    @classmethod
    def from_suite(cls, suite) -> SearchSpec:
        s = suite.search
        if s is None:
            raise FhbenchError(f"{suite.path}: key 'search': expected a [search] table")
        return cls(tuple(s.algorithms), tuple(s.estimators), suite.train.epochs, s.min_budget, s.eta, s.workers,
                   s.seeds, s.random_configs, float(s.time_budget_s), suite.path or suite.name)

    @classmethod
    def from_settings(cls, settings: dict, source: str = "<results>") -> SearchSpec:
        s = settings["search"]
        return cls(tuple(s["algorithms"]), tuple(s["estimators"]), int(settings["train"]["epochs"]),
                   int(s["min_budget"]), int(s["eta"]), int(s["workers"]), int(s["seeds"]),
                   int(s["random_configs"]), float(s["time_budget_s"]), source)


def _spec(spec_or_suite) -> SearchSpec:
    return spec_or_suite if isinstance(spec_or_suite, SearchSpec) else SearchSpec.from_suite(spec_or_suite)


def make_algorithm(name: str, pool: ConfigPool, spec, seed: int, max_iterations: int | None = None):
    """The search `name` of a suite (or SearchSpec) over `pool`; one-line FhbenchError if it cannot be."""
    spec = _spec(spec)
    try:
        if name == "random":
            return RandomSearch(pool, spec.max_budget, spec.random_configs, seed)
        cls = {"hyperband": HyperBand, "bohb": BOHB}.get(name)
        if cls is None:
            raise FhbenchError(f"unknown search algorithm '{name}' (known: random, hyperband, bohb)")
        return cls(pool, spec.max_budget, spec.min_budget, spec.eta, seed, max_iterations=max_iterations)
    except ValueError as err:
        raise FhbenchError(f"{spec.source}: search '{name}': {err} (the pool is the suite's "
                           f"{pool.size} planned cells: raise space.num_samples)") from None


def search_budgets(suite) -> tuple[int, ...]:
    """Every budget a search of this suite can stop at: the estimates the replay needs."""
    spec = _spec(suite)
    plan = HyperBand.brackets(spec.max_budget, spec.min_budget, spec.eta)
    return tuple(sorted({budget for bracket in plan for _, budget in bracket} | {spec.max_budget}))


def pool_warnings(spec, pool_size: int) -> list[str]:
    """Warnings about the pool: one when it is smaller than what one HyperBand iteration draws."""
    spec = _spec(spec)
    if not {"hyperband", "bohb"} & set(spec.algorithms):
        return []
    text = pool_size_warning(pool_size, spec.max_budget, spec.min_budget, spec.eta)
    return [text] if text else []


def check_terminates(spec) -> None:
    """An infinite time budget never ends HyperBand or BOHB (their iterations repeat forever)."""
    spec = _spec(spec)
    if not math.isfinite(spec.time_budget_s):
        forever = [a for a in spec.algorithms if a != "random"]
        if forever:
            raise FhbenchError(f"{spec.source}: key 'search.time_budget_s': {spec.time_budget_s} never ends "
                               f"{', '.join(forever)} (they repeat their iterations until time is up): give a "
                               f"finite number of seconds, or 0 for the time random search needs")


# -- the estimate cache -------------------------------------------------------------------------------

def estimate_cache_key(name: str, estimator, settings: dict, traces: Sequence, budgets: Sequence[int],
                       device=None) -> dict:
    """What an estimate table depends on: the estimator (name, version, effective settings), the traces
    (ids, content digests, epochs reached), the budgets, and the device its overheads were measured on."""
    key = {"format": CACHE_FORMAT, "estimator": name, "version": str(estimator.version), "settings": settings,
           "budgets": [int(b) for b in budgets], "device": str(device) if device is not None else "cpu",
           "traces": [[t.trial_id, t.digest, int(t.epochs_completed)] for t in traces]}
    return json.loads(json.dumps(key, default=repr))  # as it reads back from a file (tuples become lists)


def _digest(key: dict, table: dict) -> str:
    text = json.dumps({"key": key, "table": table}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_path(cache_dir: Path, key: dict) -> Path:
    text = json.dumps(key, sort_keys=True)
    return Path(cache_dir) / f"{key['estimator']}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"


def read_cached_table(path: Path, key: dict, n_configs: int) -> tuple[EstimateTable | None, str | None]:
    """(the table, None) if `path` holds a sound table for `key`, else (None, why not)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as err:
        return None, f"unreadable ({err})"
    if not isinstance(data, dict) or not {"key", "table", "sha256"} <= set(data):
        return None, "not an estimate cache file"
    if data["key"] != key:
        return None, "computed for other inputs"
    try:
        digest = _digest(data["key"], data["table"])
    except (TypeError, ValueError) as err:
        return None, f"unhashable content ({err})"
    if digest != data["sha256"]:
        return None, "its content does not match its sha256 (edited or damaged)"
    try:
        table = EstimateTable.from_dict(data["table"])
    except (KeyError, TypeError, ValueError) as err:
        return None, f"malformed table ({type(err).__name__}: {err})"
    if table.estimator != key["estimator"] or list(table.budgets) != key["budgets"] or table.n_configs != n_configs:
        return None, (f"wrong shape: {table.n_configs} rows x budgets {list(table.budgets)} for "
                      f"{n_configs} trials x {key['budgets']}")
    if any(not 0 <= c < n_configs or b not in table.budgets for c, b, _ in table.failures):
        return None, "lists failures outside the table"
    return table, None


def write_cached_table(path: Path, key: dict, table: EstimateTable) -> None:
    content = table.to_dict()
    data = {"key": key, "table": content, "sha256": _digest(key, content)}
    write_file(path, json.dumps(data, sort_keys=True))


def cached_estimate_table(cache_dir: Path, name: str, estimator, settings: dict, traces: Sequence,
                          budgets: Sequence[int], *, device=None,
                          on_note: Callable[[str], None] | None = None, sealed_paths: Sequence = (),
                          isolate: bool = False, timeout_s: float | None = None,
                          threads: int | None = None) -> EstimateTable:
    """The estimate table of `estimator` on `traces`, from the cache when a sound entry exists, else
    computed through the harness and cached (see the module docstring)."""
    key = estimate_cache_key(name, estimator, settings, traces, budgets, device)
    path = cache_path(cache_dir, key)
    table, problem = read_cached_table(path, key, len(traces))
    if table is not None:
        return table
    if problem and on_note:
        on_note(f"cached estimates {path} not used: {problem}; recomputing them")
    table = estimate_table(name, estimator, traces, budgets, device=device, on_step=on_note,
                           sealed_paths=sealed_paths, isolate=isolate, timeout_s=timeout_s, threads=threads)
    write_cached_table(path, key, table)
    return table


# -- searching and scoring ----------------------------------------------------------------------------

def default_time_budget(spec, pool: ConfigPool, tables: dict[str, EstimateTable], times: EpochTimes) -> float:
    """The simulated time random search needs to finish its configs, the longest over estimators and
    seeds: every algorithm then gets that same time, as in the thesis (about 2 hours for all three)."""
    spec = _spec(spec)
    longest = 0.0
    for table in tables.values():
        for seed in range(spec.seeds):
            run = replay(make_algorithm("random", pool, spec, seed), table, times, spec.workers, math.inf, seed=seed)
            longest = max(longest, run.simulated_time_s)
    return longest


@dataclass(frozen=True)
class Regret:
    """What regret is measured against (A.3.2: the global optimum), and the pool's floor."""

    against: str  # "global optimum" or "pool best"
    reference: float
    reference_cell: str
    pool_best: float
    pool_best_cell: str

    @property
    def pool_floor(self) -> float:
        return self.reference - self.pool_best

    def as_dict(self) -> dict:
        return {**asdict(self), "pool_floor": self.pool_floor}

    @classmethod
    def of(cls, optimum: tuple[str, float] | None, cells: Sequence[str], pool_truth: Sequence[float]) -> Regret:
        values = np.asarray(pool_truth, dtype=np.float64)
        if not np.any(np.isfinite(values)):
            raise FhbenchError("search: no pool configuration has a true accuracy")
        best = int(np.nanargmax(values))
        if optimum is None:
            return cls("pool best", float(values[best]), cells[best], float(values[best]), cells[best])
        return cls("global optimum", float(optimum[1]), optimum[0], float(values[best]), cells[best])


DIVERGED_INCUMBENT_RULE = ("under an own-run truth, a trial whose recording diverged has no true accuracy (its "
                           "pool_truth is null); a search that returns it returned a network that did not train, "
                           "and counts true accuracy 0")


def run_record(run: SearchRun, cells: Sequence[str], pool_truth: Sequence[float], reference: float) -> dict:
    """What results.json publishes of one search (and what reproduction compares); see
    DIVERGED_INCUMBENT_RULE for an incumbent without a true accuracy, and `anytime_regret`."""
    def accuracy(config: int) -> float:
        value = float(pool_truth[config])
        return 0.0 if math.isnan(value) else value

    acc = math.nan if run.incumbent is None else accuracy(run.incumbent)
    finite = [float(v) for v in pool_truth if not math.isnan(float(v))]
    worst = reference - min(finite) if finite else math.nan
    points = [(float(t), reference - accuracy(i)) for t, i in run.trajectory]
    anytime = (anytime_regret(points, run.time_budget_s, initial=worst)
               if math.isfinite(run.time_budget_s) and run.time_budget_s > 0 else math.nan)
    return {"algorithm": run.algorithm, "estimator": run.estimator, "seed": run.seed,
            "incumbent": cells[run.incumbent] if run.incumbent is not None else None,
            "true_acc": acc, "regret": reference - acc, "anytime_regret": anytime,
            "simulated_time_s": run.simulated_time_s,
            "stopped": run.stopped, "configs_evaluated": run.configs_evaluated, "jobs": len(run.jobs),
            "failed_jobs": run.failed_jobs, "trajectory": [[t, i] for t, i in run.trajectory]}


ANYTIME_REGRET_RULE = ("any-time regret: the mean of the regret over the search's time budget, the incumbent's "
                       "regret at each moment (before the first result: the pool's worst configuration's), so a "
                       "search that finds a good configuration early scores lower than one that finds it late")


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
    n_failed: int  # jobs whose estimate failed or whose trial diverged, over all seeds (ranked last)
    coverage: float  # the fraction of jobs with an estimate
    seeds: int
    # 95% t-intervals over seeds (NaN with one seed), and the any-time regret (ANYTIME_REGRET_RULE)
    regret_lo: float = math.nan
    regret_hi: float = math.nan
    anytime_regret_mean: float = math.nan
    anytime_regret_lo: float = math.nan
    anytime_regret_hi: float = math.nan

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(records: Sequence[dict]) -> list[SearchRow]:
    """One row per (algorithm, estimator): means, standard deviations and 95% intervals over seeds."""
    rows = []
    for algorithm, estimator in sorted({(r["algorithm"], r["estimator"]) for r in records}):
        mine = [r for r in records if (r["algorithm"], r["estimator"]) == (algorithm, estimator)]
        accs = np.array([r["true_acc"] for r in mine], dtype=np.float64)
        regrets = np.array([r["regret"] for r in mine], dtype=np.float64)
        jobs = sum(r["jobs"] for r in mine)
        failed = sum(r["failed_jobs"] for r in mine)
        final = stats.over_seeds(list(regrets))
        anytime = stats.over_seeds([r.get("anytime_regret", math.nan) for r in mine])
        rows.append(SearchRow(algorithm, estimator, float(np.mean(accs)), float(np.std(accs)),
                              float(np.mean(regrets)), float(np.std(regrets)),
                              float(np.mean([r["simulated_time_s"] for r in mine])),
                              float(np.mean([r["configs_evaluated"] for r in mine])), float(jobs / len(mine)),
                              int(failed), float(1.0 - failed / jobs) if jobs else math.nan, len(mine),
                              final.lo, final.hi, anytime.mean, anytime.lo, anytime.hi))
    return rows


def replay_all(spec, pool: ConfigPool, tables: dict[str, EstimateTable], times: EpochTimes, time_budget_s: float,
               *, on_step: Callable[[str], None] | None = None) -> list[SearchRun]:
    """Every algorithm with every estimator over every seed, in that order."""
    spec = _spec(spec)
    runs = []
    for algorithm in spec.algorithms:
        for name in spec.estimators:
            for seed in range(spec.seeds):
                runs.append(replay(make_algorithm(algorithm, pool, spec, seed), tables[name], times, spec.workers,
                                   time_budget_s, seed=seed, on_note=on_step))
            if on_step:
                on_step(f"{algorithm} with {name}")
    return runs


@dataclass(frozen=True)
class SearchOutcome:
    rows: list[SearchRow]
    runs: list[SearchRun]
    records: list[dict]  # run_record of each run
    tables: dict[str, EstimateTable]
    times: EpochTimes
    cells: list[str]  # the pool: config i of every run is cells[i]
    trial_ids: list[str]
    pool_truth: list[float]  # NaN where a diverged trial has no own-run truth
    truth: dict  # Truth.describe()
    regret: Regret
    time_budget_s: float
    estimators: dict[str, dict]  # what results.json records of each estimator
    warnings: list[str] = field(default_factory=list)


def _pool_truth(truth, traces: Sequence) -> list[float]:
    values = []
    for trace in traces:
        try:
            values.append(float(truth.accuracy(trace)))
        except FhbenchError:
            if trace.status == "complete":
                raise
            values.append(math.nan)  # a diverged trial has no own-run accuracy at its budget
    return values


def search_suite(suite, traces: Sequence, space, *, store_root: Path, truth, on_step: Callable[[str], None] | None = None,
                 device=None) -> SearchOutcome:
    """Every algorithm with every estimator over every seed, on the suite's pool (`search_pool`), whose
    traces are `traces` (all planned trials, diverged ones included); `truth` is a `fhbench.inputs.truth.Truth`."""
    import torch

    from fhbench.estimators import available_estimators, create_estimator
    from fhbench.estimators.registry import describe_estimators, effective_settings
    from fhbench.search.pool import search_pool

    def step(text: str) -> None:
        if on_step:
            on_step(text)

    spec = SearchSpec.from_suite(suite)
    check_terminates(spec)
    pool = search_pool(suite, space)
    traces = pool.match(traces)
    for name in spec.algorithms:
        make_algorithm(name, pool.configs, spec, seed=0)  # a pool too small fails here, before estimates
    warnings = pool_warnings(spec, pool.size)
    for text in warnings:
        step(f"warning: {text}")
    times = EpochTimes.from_traces(traces)
    pool_truth = _pool_truth(truth, traces)
    regret = Regret.of(truth.optimum(), pool.cells, pool_truth)
    budgets = search_budgets(spec)
    registry = available_estimators()
    estimators, tables = {}, {}
    for name in spec.estimators:
        settings = suite.estimator_settings.get(name, {})
        estimators[name] = create_estimator(name, settings, registry=registry, device=device)
        tables[name] = cached_estimate_table(Path(store_root) / "estimates", name, estimators[name],
                                             effective_settings(name, settings, registry), traces, budgets,
                                             device=device, on_note=step, sealed_paths=truth.files,
                                             isolate=suite.estimate.isolate, timeout_s=suite.estimate.timeout_s,
                                             threads=torch.get_num_threads())
        step(f"estimates: {name}")
    time_budget = spec.time_budget_s or default_time_budget(spec, pool.configs, tables, times)
    runs = replay_all(spec, pool.configs, tables, times, time_budget, on_step=step)
    if all(run.incumbent is None for run in runs):
        raise FhbenchError(f"{suite.path}: key 'search.time_budget_s': no search finished a single job in "
                           f"{time_budget:g} simulated seconds; give more (0: automatic)")
    for run in runs:
        warnings += [text for text in run.notes if text not in warnings]
    records = [run_record(run, pool.cells, pool_truth, regret.reference) for run in runs]
    return SearchOutcome(summarise(records), runs, records, tables, times, pool.cells,
                         [t.trial_id for t in traces], pool_truth, truth.describe(), regret, time_budget,
                         describe_estimators(estimators, registry, suite.estimator_settings), warnings)


def estimates_document(outcome: SearchOutcome, budgets: Sequence[int]) -> dict:
    """estimates.json: everything the replay read, so that `reproduce_published` can replay every search
    from the published files alone. Floats keep every digit (JSON round-trips them exactly)."""
    return {
        "estimates_schema": 1,
        "cost_model": COST_MODEL,
        "budgets": [int(b) for b in budgets],
        "pool": {"cells": list(outcome.cells), "trial_ids": list(outcome.trial_ids)},
        "epoch_costs": outcome.times.to_dict(),
        "pool_truth": [None if math.isnan(v) else float(v) for v in outcome.pool_truth],
        "truth": outcome.truth,
        "regret": outcome.regret.as_dict(),
        "estimators": {name: {**outcome.estimators.get(name, {}), **table.to_dict()}
                       for name, table in outcome.tables.items()},
    }


def results_extra(outcome: SearchOutcome, dataset_source: str) -> dict:
    """What a search leaderboard's results.json adds to the common header."""
    return {
        "dataset_source": dataset_source,
        "cost_model": COST_MODEL,
        "time_budget_s": outcome.time_budget_s,
        "regret": outcome.regret.as_dict(),
        "pool": list(outcome.cells),
        "pool_truth": list(outcome.pool_truth),
        "warnings": list(outcome.warnings),
        "failed_estimate_rule": "a failed estimate or a diverged trial ranks its job last (score 0.0)",
        "diverged_incumbent_rule": DIVERGED_INCUMBENT_RULE,
        "anytime_regret_rule": ANYTIME_REGRET_RULE,
        "estimate_failures": {name: [f"{outcome.cells[c]} at budget {b}: {e}" for c, b, e in table.failures]
                              for name, table in outcome.tables.items()},
        "runs": outcome.records,
    }
