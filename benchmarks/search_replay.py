"""How long simulated searches take once estimates are cached: 100 HyperBand replays over a pool.

    python benchmarks/search_replay.py suites/nb201-search-cpu.toml --runs 100

Needs the suite's traces recorded (`fhbench record SUITE`) and its estimate tables cached (any
`fhbench search SUITE` run does that); uses the cached table of the first search estimator.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from fhbench.estimators import create_estimator
from fhbench.pipeline import load_traces, make_space, open_store
from fhbench.search.replay import replay
from fhbench.search.run import cached_estimate_table, build_pool, make_algorithm, search_budgets
from fhbench.suite import load_suite


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite")
    parser.add_argument("--traces", default="traces")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--algorithm", default="hyperband")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    store = open_store(suite, args.traces)
    traces = [t for t in load_traces(suite, store) if t.status == "complete"]
    pool = build_pool([t.config for t in traces], make_space(suite))
    name = suite.search.estimators[0]
    settings = suite.estimator_settings.get(name, {})
    table = cached_estimate_table(store.root, name, create_estimator(name, settings), settings, traces, search_budgets(suite))
    epoch_times = np.stack([t.curve("epoch_time") for t in traces])
    budget = float(np.mean(epoch_times.sum(axis=1))) * math.ceil(suite.search.random_configs / suite.search.workers)
    start = time.perf_counter()
    jobs = 0
    for seed in range(args.runs):
        run = replay(make_algorithm(args.algorithm, pool, suite, seed), table, epoch_times, suite.search.workers,
                     budget, estimator=name, seed=seed)
        jobs += len(run.jobs)
    elapsed = time.perf_counter() - start
    print(f"{args.runs} {args.algorithm} replays over a pool of {pool.size} with cached '{name}' estimates: "
          f"{elapsed:.2f} s ({1000 * elapsed / args.runs:.1f} ms per search, {jobs / args.runs:.0f} jobs each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
