"""Seconds per cell of every zero-cost proxy on suites/nb201-zc.toml's networks, on one CPU thread.

    FHBENCH_DATA=data python benchmarks/zero_cost_seconds.py [--cells 20] [--suite suites/nb201-zc.toml]

Builds the suite's first planned cells exactly as the recorder does (`initial_model`, `initial_proxies`:
the full NAS-Bench-201 network on the suite's batch of 64 images) and prints, per cell on average, the
wall time of all proxies together (their shared passes counted once) and of each proxy alone (its passes
in full), and what the 2,000 and the 15,625 cells would take on 2 cores. One warm-up cell runs first
(torch's FLOP counter imports on its first use). Wall times: the load on the machine moves them.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--suite", default="suites/nb201-zc.toml")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from fhbench.engine.pipeline import load_suite_splits
    from fhbench.inputs.suite import load_suite
    from fhbench.record.train import initial_model, initial_proxies, plan_trials
    from fhbench.spaces import suite_space

    suite = load_suite(args.suite)
    space = suite_space(suite)
    splits = load_suite_splits(suite, Path(os.environ["FHBENCH_DATA"]))
    cpu = torch.device("cpu")
    trials = plan_trials(suite, space)
    initial_proxies(initial_model(trials[0], space, splits, cpu), suite, splits, cpu)  # warm-up
    results = [initial_proxies(initial_model(t, space, splits, cpu), suite, splits, cpu) for t in trials[:args.cells]]
    together = [r.total_s for r in results]
    mean = statistics.mean(together)
    print(f"{len(results)} cells of {suite.name}, load {os.getloadavg()[0]:.1f}: all proxies together "
          f"{mean:.2f} s per cell (median {statistics.median(together):.2f}, {min(together):.2f} to {max(together):.2f})")
    for name in results[0].seconds:
        print(f"  {name:10s} alone {statistics.mean(r.seconds[name] for r in results):.3f} s")
    for cells in (suite.space.num_samples, 15_625):
        print(f"{cells:,} cells on 2 cores: {cells * mean / 2 / 3600:.1f} h")


if __name__ == "__main__":
    main()
