"""Recording throughput on Ray against one process, same trials, in one run.

The same first `--trials` trials of a suite (shortened to `--epochs`) are recorded twice into fresh
stores: by one process with `--threads` torch threads (the single-process path, `record_trial` in a
loop), then with `--workers` Ray workers of one thread each (`fhbench.record.parallel.record_parallel`, the
code `fhbench record --workers N` runs). The parallel figure is the whole call's wall time: starting
Ray, the store probe, the workers' start-up (importing torch) and shutting Ray down are included,
since a user pays them too. Printed and written as JSON to --out.

    python benchmarks/parallel_record.py suites/nb201-cpu.toml --data-dir ../shared/data \\
        --trials 4 --epochs 5 --workers 2 --threads 2 --out benchmarks/results/parallel_record_cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from fhbench.inputs.data import resolve_data_dir
from fhbench.record.parallel import record_parallel
from fhbench.runtime.ray import Execution
from fhbench.engine.pipeline import load_suite_splits
from fhbench.spaces import suite_space
from fhbench.record.train import plan_trials, record_trial
from fhbench.inputs.suite import load_suite
from fhbench.record.store import TraceStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="Ray workers, one thread each")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the single process")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    suite = load_suite(args.suite)
    suite = dataclasses.replace(
        suite, train=dataclasses.replace(suite.train, epochs=args.epochs),
        estimate=dataclasses.replace(suite.estimate, every=args.epochs, checkpoints=()))
    space = suite_space(suite)
    splits = load_suite_splits(suite, resolve_data_dir(args.data_dir))
    trials = plan_trials(suite, space)[: args.trials]
    images = len(trials) * args.epochs * len(splits.train.labels)

    with tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(args.threads)
        store = TraceStore(Path(tmp) / "serial")
        start = time.perf_counter()
        for trial in trials:
            record_trial(trial, suite, space, splits, store, torch.device("cpu"))
        serial_s = time.perf_counter() - start

        torch.set_num_threads(1)
        store = TraceStore(Path(tmp) / "parallel")
        store.lock()
        start = time.perf_counter()
        record_parallel(suite, store, trials, splits, execution=Execution(workers=args.workers, cpus_per_trial=1),
                        cuda_available=False, device_type="cpu", report=lambda text: print(text, file=sys.stderr))
        parallel_s = time.perf_counter() - start

    result = {
        "suite": suite.name, "trials": len(trials), "epochs": args.epochs, "train_images": len(splits.train.labels),
        "serial": {"threads": args.threads, "wall_s": serial_s, "images_per_s": images / serial_s},
        "parallel": {"workers": args.workers, "threads_per_worker": 1, "wall_s": parallel_s,
                     "images_per_s": images / parallel_s},
        "speedup": serial_s / parallel_s,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__},
    }
    print(f"{len(trials)} trials x {args.epochs} epochs of {suite.name}: one process at {args.threads} threads "
          f"{serial_s:.1f} s ({images / serial_s:,.0f} img/s); {args.workers} Ray workers at 1 thread "
          f"{parallel_s:.1f} s ({images / parallel_s:,.0f} img/s, Ray start-up included); "
          f"speed-up {serial_s / parallel_s:.2f}x")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
