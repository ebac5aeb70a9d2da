"""Live search wall time: one worker in this process against W Ray workers, the same search.

Runs one live search (`--algorithm`, default HyperBand, one iteration, estimator `original`) over a
search suite's pool twice in one run: in this process with `--threads` torch threads, then on `--workers`
Ray workers of one thread each (Ray's start-up and shutdown included). Prints and writes both wall
times, the jobs, the epochs trained and the clock's simulated time (which charges the workers' measured
costs as W parallel workers). HyperBand and random search train the same number of epochs whatever they
promote, so the two runs do the same work; at the same threads per trial they would also promote the
same configs (tested), but here the one-process run trains at `--threads` threads, whose floating-point
results differ from one thread's, so a near tie can promote another config ("same jobs" says whether it did).

    python benchmarks/parallel_search.py suites/nb201-search-cpu.toml --data-dir ../shared/data \
        --workers 2 --threads 2 --out benchmarks/results/parallel_search_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--algorithm", default="hyperband", choices=("hyperband", "random"))
    parser.add_argument("--estimator", default="original")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import torch

    from fhbench.estimators import create_estimator
    from fhbench.runtime.ray import Execution
    from fhbench.engine.pipeline import load_suite_splits
    from fhbench.spaces import suite_space
    from fhbench.search.backends.live import LiveBackend, live_search
    from fhbench.search.backends.ray import RayLiveBackend
    from fhbench.search.pool import search_pool
    from fhbench.search.run import SearchSpec, make_algorithm
    from fhbench.inputs.suite import load_suite

    suite = load_suite(args.suite)
    space = suite_space(suite)
    pool = search_pool(suite, space)
    spec = SearchSpec.from_suite(suite)
    splits = load_suite_splits(suite, Path(args.data_dir) if args.data_dir else None)
    settings = suite.estimator_settings.get(args.estimator, {})
    cpu = torch.device("cpu")
    results = {}

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    serial_backend = LiveBackend(suite, space, splits, pool, cpu, args.estimator,
                                 create_estimator(args.estimator, settings))
    serial = live_search(make_algorithm(args.algorithm, pool.configs, spec, 0, max_iterations=1), serial_backend,
                         seed=0, workers=1)
    results["one process"] = {"threads": args.threads, "wall_s": time.perf_counter() - start,
                              "jobs": len(serial.jobs), "epochs_trained": serial_backend.epochs_trained,
                              "simulated_s": serial.simulated_time_s}

    torch.set_num_threads(1)
    start = time.perf_counter()
    with RayLiveBackend(suite, splits, pool, estimator=args.estimator, settings=settings, sealed_paths=(),
                        execution=Execution(workers=args.workers), workers=args.workers, device_type="cpu",
                        cuda_available=False) as backend:
        parallel = live_search(make_algorithm(args.algorithm, pool.configs, spec, 0, max_iterations=1), backend,
                               seed=0, workers=args.workers)
        epochs = backend.epochs_trained
    results["ray workers"] = {"workers": args.workers, "threads_each": 1, "wall_s": time.perf_counter() - start,
                              "jobs": len(parallel.jobs), "epochs_trained": epochs,
                              "simulated_s": parallel.simulated_time_s}
    same = sorted((j["config"], j["budget"]) for j in serial.jobs) == sorted((j["config"], j["budget"])
                                                                             for j in parallel.jobs)
    results["same_jobs"] = same
    results["speedup"] = results["one process"]["wall_s"] / results["ray workers"]["wall_s"]
    for name in ("one process", "ray workers"):
        r = results[name]
        print(f"{name:12s} wall {r['wall_s']:6.1f} s  jobs {r['jobs']}  epochs {r['epochs_trained']}  "
              f"clock {r['simulated_s']:.1f} s")
    print(f"speed-up {results['speedup']:.2f}x; same jobs: {same}")
    if args.out:
        Path(args.out).write_text(json.dumps({"suite": suite.name, "algorithm": args.algorithm,
                                              "estimator": args.estimator, **results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
