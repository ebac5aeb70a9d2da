"""Speed benchmarks, each a ratio measured within one run so that machine noise mostly cancels.

1. recording: wall time of training a trial while recording its feature history (capture, fp16
   conversion, writing the trace) against training the same trial, same seed, without recording.
   Rounds alternate the two so drifting load affects both. Target: at most 1.03. Also printed: the
   training pass's images per second with and without recording (on a GPU, the figure to compare
   with NAS-Bench-201's ~2,800 images/s per cell).
2. fh-ensemble: the wall time of one estimate (feature loading included) against the mean time of
   one training epoch of the same trial, both on `--device`: the probes run where the network
   trained, so the ratio compares like with like. Target: at most 0.05 (the thesis reports about 0.5).

    python benchmarks/overhead.py suites/nb201-cpu.toml --data-dir ../shared/data --threads 2

The suite gives the network, data and training settings; --epochs shortens the budget (the learning
rate schedule follows the shortened budget). Results are printed and written as JSON to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fhbench.inputs.data import resolve_data_dir
from fhbench.estimators.fh_ensemble import FeatureHistoryEnsemble
from fhbench.engine.pipeline import load_suite_splits
from fhbench.spaces import suite_space
from fhbench.record.train import plan_trials, record_trial, train_trial
from fhbench.inputs.suite import load_suite
from fhbench.record.store import TraceStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10, help="budget per benchmark trial")
    parser.add_argument("--rounds", type=int, default=3, help="alternating with/without recording rounds")
    parser.add_argument("--trials", type=int, default=2, help="how many of the suite's cells to measure")
    parser.add_argument("--window", type=int, default=None,
                        help="fh-ensemble's K and the recorded window (default: the suite's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    suite = load_suite(args.suite)
    suite = dataclasses.replace(
        suite,
        train=dataclasses.replace(suite.train, epochs=args.epochs),
        estimate=dataclasses.replace(suite.estimate, every=args.epochs, checkpoints=()),
    )
    if args.window:
        suite = dataclasses.replace(suite, record=dataclasses.replace(suite.record, window=args.window))
    space = suite_space(suite)
    splits = load_suite_splits(suite, resolve_data_dir(args.data_dir))
    settings = dict(suite.estimator_settings.get("fh-ensemble", {}))
    if args.window:
        settings["window"] = args.window
    estimator = FeatureHistoryEnsemble(**settings, device=str(device))  # probes on the training device

    results = []
    for trial in plan_trials(suite, space)[: args.trials]:
        with_recording, without, epochs_without = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            store = TraceStore(tmp)
            for _ in train_trial(trial, suite, space, splits, device, capture=False):
                pass  # warm-up, untimed: first calls allocate and (on a GPU) pick kernels
            for _ in range(args.rounds):
                start = time.perf_counter()
                for record in train_trial(trial, suite, space, splits, device, capture=False):
                    epochs_without.append(record["epoch_time"])
                without.append(time.perf_counter() - start)
                start = time.perf_counter()
                record_trial(trial, suite, space, splits, store, device)
                with_recording.append(time.perf_counter() - start)
            trace = store.open(trial.trial_id)
            epoch_time = float(np.mean(trace.curve("epoch_time")))
            view = trace.view(suite.train.epochs)
            estimator.estimate(view)  # warm-up: first-call allocations
            timings = []
            for _ in range(5):
                start = time.perf_counter()
                estimator.estimate(view)
                timings.append(time.perf_counter() - start)
        results.append({
            "trial": trial.trial_id, "config": trial.config,
            "train_s_without_recording": statistics.median(without),
            "train_s_with_recording": statistics.median(with_recording),
            "recording_ratio": statistics.median(w / o for w, o in zip(with_recording, without)),
            "train_images_per_s_without_recording": len(splits.train.labels) / statistics.median(epochs_without),
            "train_images_per_s_with_recording": len(splits.train.labels) / epoch_time,
            "epoch_s": epoch_time,
            "fh_ensemble_s": statistics.median(timings),
            "fh_ensemble_epochs": statistics.median(timings) / epoch_time,
            "fh_ensemble_probes": len(estimator.epochs_used(view)),
        })
        r = results[-1]
        print(f"{trial.trial_id} {trial.config}\n  recording: {r['train_s_with_recording']:.2f} s vs "
              f"{r['train_s_without_recording']:.2f} s without, ratio {r['recording_ratio']:.3f}; training "
              f"{r['train_images_per_s_with_recording']:.0f} images/s with recording, "
              f"{r['train_images_per_s_without_recording']:.0f} without\n"
              f"  fh-ensemble: {r['fh_ensemble_s'] * 1000:.1f} ms per estimate ({r['fh_ensemble_probes']} probes), "
              f"{r['fh_ensemble_epochs']:.4f} of a {epoch_time:.2f} s training epoch", flush=True)

    summary = {
        "suite": suite.name, "epochs": args.epochs, "window": estimator.window, "rounds": args.rounds, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "threads": args.threads, "torch": torch.__version__, "dataset_source": splits.source,
        "recording_ratio_median": statistics.median(r["recording_ratio"] for r in results),
        "fh_ensemble_epochs_median": statistics.median(r["fh_ensemble_epochs"] for r in results),
        "trials": results,
    }
    print(f"median recording ratio {summary['recording_ratio_median']:.3f} (target <= 1.03); "
          f"median fh-ensemble overhead {summary['fh_ensemble_epochs_median']:.4f} epochs (target <= 0.05)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
