"""How long simulated searches take once estimates are tabled: N replays of one algorithm over a pool.

    python benchmarks/search_replay.py suites/nb201-search-cpu.toml --runs 100     # from the suite's traces
    python benchmarks/search_replay.py --published leaderboard/nb201-search-cpu/1  # from estimates.json
    python benchmarks/search_replay.py suites/nb201-search-cpu.toml --synthetic 512 # no traces needed

From traces, the suite must be recorded (`fhbench record SUITE`); its estimate tables come from the
cache beside the traces (computed on a miss). `--published` replays from a published search
leaderboard's estimates.json. `--synthetic N` times the driver alone on a pool of N random cells with
random estimates and epoch times at the suite's budgets. Every replay uses the first search estimator
and the suite's workers; the time budget is the suite's (or the default: random search's time).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from fhbench.search.pool import encode_cells
from fhbench.search.backends.replay import EpochTimes, EstimateTable, replay
from fhbench.search.run import SearchSpec, default_time_budget, make_algorithm, search_budgets


def from_traces(args):
    from fhbench.estimators import available_estimators, create_estimator
    from fhbench.estimators.registry import effective_settings
    from fhbench.engine.pipeline import load_traces, open_store
    from fhbench.spaces import suite_space
    from fhbench.search.pool import search_pool
    from fhbench.search.run import cached_estimate_table
    from fhbench.inputs.suite import load_suite

    suite = load_suite(args.suite)
    spec = SearchSpec.from_suite(suite)
    store = open_store(suite, args.traces)
    space = suite_space(suite)
    pool = search_pool(suite, space)
    traces = pool.match(load_traces(suite, store))
    name = spec.estimators[0]
    registry = available_estimators()
    settings = suite.estimator_settings.get(name, {})
    cache = Path(args.cache) if args.cache else store.root / "estimates"
    table = cached_estimate_table(cache, name, create_estimator(name, settings, registry=registry),
                                  effective_settings(name, settings, registry), traces, search_budgets(spec),
                                  on_note=print)
    return spec, pool.configs, table, EpochTimes.from_traces(traces)


def from_published(args):
    results = json.loads((Path(args.published) / "results.json").read_text())
    estimates = json.loads((Path(args.published) / "estimates.json").read_text())
    spec = SearchSpec.from_settings(results["suite_settings"])
    name = spec.estimators[0]
    pool = encode_cells(estimates["pool"]["cells"], results["suite_settings"]["space"]["name"])
    return (spec, pool, EstimateTable.from_dict(estimates["estimators"][name]),
            EpochTimes.from_dict(estimates["epoch_costs"]))


def synthetic(args):
    from fhbench.spaces.nb201 import Nb201Space
    from fhbench.inputs.suite import load_suite

    spec = SearchSpec.from_suite(load_suite(args.suite))
    rng = np.random.default_rng(0)
    cells = [str(c) for c in Nb201Space().sample_distinct(rng, args.synthetic)]
    budgets = search_budgets(spec)
    quality = rng.uniform(0.3, 0.9, size=len(cells))
    values = np.clip(quality[:, None] * (1 - 0.5 / np.asarray(budgets)) + rng.normal(0, 0.02, (len(cells), len(budgets))),
                     0, 1)
    table = EstimateTable("synthetic", budgets, values, np.full_like(values, 0.02))
    epoch_time = rng.uniform(0.5, 2.0, size=len(cells))
    times = EpochTimes(tuple(np.full(spec.max_budget, t) for t in epoch_time),
                       tuple(np.full(spec.max_budget, 0.1 * t) for t in epoch_time))
    return spec, encode_cells(cells), table, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", nargs="?")
    parser.add_argument("--traces", default="traces")
    parser.add_argument("--cache", help="estimate cache folder (default: estimates/ beside the traces)")
    parser.add_argument("--published", help="a published search leaderboard directory (with estimates.json)")
    parser.add_argument("--synthetic", type=int, default=0, help="a synthetic pool of this many cells")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--algorithm", default="hyperband")
    args = parser.parse_args()
    if not args.published and not args.suite:
        parser.error("give a suite, or --published DIR")
    spec, pool, table, times = (from_published(args) if args.published else
                                synthetic(args) if args.synthetic else from_traces(args))
    budget = spec.time_budget_s or default_time_budget(spec, pool, {table.estimator: table}, times)
    start = time.perf_counter()
    jobs = 0
    for seed in range(args.runs):
        search = make_algorithm(args.algorithm, pool, spec, seed)
        jobs += len(replay(search, table, times, spec.workers, budget, seed=seed).jobs)
    elapsed = time.perf_counter() - start
    print(f"{args.runs} {args.algorithm} replays over a pool of {pool.size} with '{table.estimator}' estimates, "
          f"{spec.workers} workers, {budget:.0f} simulated s each: {elapsed:.2f} s "
          f"({1000 * elapsed / args.runs:.1f} ms per search, {jobs / args.runs:.0f} jobs each)")
    return 0 if math.isfinite(elapsed) else 1


if __name__ == "__main__":
    sys.exit(main())
