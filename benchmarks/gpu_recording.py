"""GPU recording throughput: W concurrent trials per GPU, recording on, and fh-ensemble's overhead there.

Issue 8, part 6 (the GPU benchmark). Two figures, both on `--device`:

1. Aggregate training images/s of NB201 cells (C=16, N=5, the thesis's network) on 32x32 CIFAR-10
   (`cifar10-jpeg`), recording their feature history (every epoch kept, float16, written to a
   temporary trace store), with W = 1, 4, 8 trials at once on one GPU: W processes (multiprocessing,
   spawn), each recording its own cell for `--epochs` epochs after an untimed warm-up, all started
   together at a barrier. Two aggregates are printed: `wall` (every image trained by all W workers /
   the wall time from the common start to the last worker's end: validation passes, feature copies,
   the test pass and the trace writes included) and `training pass` (the sum over workers of each
   worker's training images / its training-pass seconds: the figure `overhead.py` prints per cell).
   Target: at least 28,000 images/s on one H100 (ten times NAS-Bench-201's ~2,800 per cell).
2. fh-ensemble's wall time per estimate at K=10 (`--window`), probes on the same device, in training
   epochs of the trial it estimates (one cell recorded for K epochs, mean training-pass time).
   Target: at most 0.05 epochs.

For a GPU session (one H100; about 4 minutes of device time at the defaults, plus machine start):
copy the data into the working tree first, since the device machine sees only the repository
(`/data/` is git-ignored; carry it and the venv):

    cp -r ../shared/data/cifar10-jpeg data/     # here, once
    python benchmarks/gpu_recording.py --device cuda --data-dir data \\
        --out benchmarks/results/gpu-recording-h100.json

(defaults: --workers 1,4,8 --epochs 3 --train-size 40000 --val-size 10000 --test-size 2000
--channels 16 --cells 5 --window 10 --threads 1.) On the CPU, the same script at tiny settings
(the check that it runs; the figures mean nothing there):

    python benchmarks/gpu_recording.py --device cpu --data-dir ../shared/data --epochs 1 --workers 2 \\
        --train-size 512 --channels 4 --cells 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from fhbench.inputs.data import ImageSet, Splits, load_splits, resolve_data_dir  # noqa: E402
from fhbench.estimators.fh_ensemble import FeatureHistoryEnsemble  # noqa: E402
from fhbench.spaces import suite_space  # noqa: E402
from fhbench.record.train import plan_trials, record_trial, train_trial  # noqa: E402
from fhbench.inputs.suite import load_suite  # noqa: E402
from fhbench.record.store import TraceStore  # noqa: E402

WORKER_TIMEOUT_S = 900


def bench_suite(args, epochs: int, num_samples: int):
    """nb201.toml with the benchmark's sizes: `epochs` epochs, one checkpoint at the end, every epoch's
    features kept (as the full suite keeps them: its window covers every epoch)."""
    suite = load_suite(REPO / "suites" / "nb201.toml")
    return dataclasses.replace(
        suite,
        space=dataclasses.replace(suite.space, channels=args.channels, cells_per_stage=args.cells,
                                  num_samples=num_samples),
        data=dataclasses.replace(suite.data, dataset="cifar10-jpeg", train_size=args.train_size,
                                 val_size=args.val_size, test_size=args.test_size),
        train=dataclasses.replace(suite.train, epochs=epochs),
        record=dataclasses.replace(suite.record, window=max(args.window, epochs)),
        estimate=dataclasses.replace(suite.estimate, every=epochs, checkpoints=(), repeats=1),
    )


def save_splits(splits: Splits, path: Path) -> None:
    """Decoded once here, read by every worker (JPEG decoding per worker would dominate its start)."""
    torch.save({"train": (splits.train.images, splits.train.labels), "val": (splits.val.images, splits.val.labels),
                "test": (splits.test.images, splits.test.labels), "num_classes": splits.num_classes,
                "source": splits.source, "mean": list(splits.mean), "std": list(splits.std)}, path)


def load_saved_splits(path: str) -> Splits:
    d = torch.load(path, weights_only=True)
    return Splits(train=ImageSet(*d["train"]), val=ImageSet(*d["val"]), test=ImageSet(*d["test"]),
                  num_classes=d["num_classes"], source=d["source"], mean=tuple(d["mean"]), std=tuple(d["std"]))


def worker(rank: int, suite, splits_path: str, device_name: str, threads: int, store_root: str,
           background: bool, barrier, results) -> None:
    """Records trial `rank` of the suite into its own store, timed from the common barrier."""
    try:
        torch.set_num_threads(threads)
        device = torch.device(device_name)
        splits = load_saved_splits(splits_path)
        space = suite_space(suite)
        trial = plan_trials(suite, space)[rank]
        # warm-up, untimed: two batches, one epoch, features captured (allocations, kernels, pinned memory)
        few = 2 * suite.train.batch_size
        small = dataclasses.replace(splits, train=ImageSet(splits.train.images[:few], splits.train.labels[:few]))
        short = dataclasses.replace(suite, train=dataclasses.replace(suite.train, epochs=1),
                                    estimate=dataclasses.replace(suite.estimate, every=1))
        for _ in train_trial(trial, short, space, small, device):
            pass
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_times: list[float] = []
        barrier.wait(timeout=WORKER_TIMEOUT_S)
        start = time.time()
        status = record_trial(trial, suite, space, splits, TraceStore(store_root), device,
                              on_epoch=lambda epoch, seconds: epoch_times.append(seconds), background=background)
        end = time.time()
        results.put({"rank": rank, "trial": trial.trial_id, "config": trial.config, "status": status,
                     "start": start, "end": end, "epochs": len(epoch_times), "epoch_times": epoch_times,
                     "train_images": len(splits.train.labels) * len(epoch_times)})
    except BaseException as err:  # noqa: BLE001 - reported by the parent
        barrier.abort()
        results.put({"rank": rank, "error": f"{type(err).__name__}: {err}"})


def run_concurrent(w: int, suite, splits_path: Path, args, tmp: Path) -> dict:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(w), ctx.Queue()
    processes = [ctx.Process(target=worker, args=(rank, suite, str(splits_path), args.device, args.threads,
                                                  str(tmp / f"w{w}-{rank}"), not args.sync_writer, barrier, results))
                 for rank in range(w)]
    for p in processes:
        p.start()
    rows = []
    try:
        for _ in range(w):
            rows.append(results.get(timeout=WORKER_TIMEOUT_S))
    finally:
        for p in processes:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
                p.join()
    errors = [r["error"] for r in rows if "error" in r]
    if errors:
        raise RuntimeError(f"W={w}: {len(errors)} worker(s) failed: {errors[0]}")
    bad = [p.exitcode for p in processes if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"W={w}: worker exit codes {bad}")
    rows.sort(key=lambda r: r["rank"])
    wall = max(r["end"] for r in rows) - min(r["start"] for r in rows)
    images = sum(r["train_images"] for r in rows)
    training_pass = sum(r["train_images"] / sum(r["epoch_times"]) for r in rows)
    return {"workers": w, "wall_s": wall, "train_images": images,
            "images_per_s_wall": images / wall, "images_per_s_training_pass": training_pass,
            "per_worker_images_per_s_training_pass": [r["train_images"] / sum(r["epoch_times"]) for r in rows],
            "statuses": [r["status"] for r in rows], "trials": rows}


def fh_ensemble_overhead(args, splits: Splits, tmp: Path) -> dict:
    """One cell recorded for K epochs, then fh-ensemble at K on the same device: seconds per estimate
    (feature loading included) over the mean training-pass time of that cell's epochs."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    suite = bench_suite(args, epochs=args.window, num_samples=1)
    space = suite_space(suite)
    trial = plan_trials(suite, space)[0]
    store = TraceStore(tmp / "fh")
    record_trial(trial, suite, space, splits, store, device)
    trace = store.open(trial.trial_id)
    epoch_time = float(np.mean(trace.curve("epoch_time")))
    estimator = FeatureHistoryEnsemble(window=args.window, device=str(device))
    view = trace.view(suite.train.epochs)
    estimator.estimate(view)  # warm-up: first-call allocations
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        estimator.estimate(view)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings.append(time.perf_counter() - start)
    seconds = statistics.median(timings)
    return {"window": args.window, "probes": len(estimator.epochs_used(view)), "trial": trial.trial_id,
            "config": trial.config, "epoch_s": epoch_time, "estimate_s": seconds,
            "estimate_epochs": seconds / epoch_time}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder holding cifar10-jpeg/ (else $FHBENCH_DATA)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", default="1,4,8", help="comma-separated W: concurrent trials on the device")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per trial")
    parser.add_argument("--train-size", type=int, default=40000)
    parser.add_argument("--val-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=16, help="C")
    parser.add_argument("--cells", type=int, default=5, help="N, cells per stage")
    parser.add_argument("--window", type=int, default=10, help="fh-ensemble's K (0: skip that figure)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--sync-writer", action="store_true", help="write features in the training thread")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/results/gpu-recording-DEVICE.json)")
    args = parser.parse_args()

    device = torch.device(args.device)
    counts = [int(w) for w in args.workers.split(",")]
    if not counts or min(counts) < 1:
        parser.error("--workers: positive integers, e.g. 1,4,8")
    data_dir = resolve_data_dir(args.data_dir)
    out = Path(args.out or REPO / "benchmarks" / "results" / f"gpu-recording-{device.type}.json")
    d = bench_suite(args, args.epochs, max(counts)).data
    started = time.perf_counter()
    splits = load_splits(d.dataset, data_dir, d.train_size, d.val_size, d.test_size, d.split_seed)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or \
        platform.machine()
    print(f"{device_name}: C={args.channels} N={args.cells}, {d.train_size} train / {d.val_size} val images "
          f"({splits.source}, 32x32), batch 256, {args.epochs} epochs per trial, recording every epoch (float16), "
          f"{'synchronous' if args.sync_writer else 'background'} writer; data loaded in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="fhbench-gpu-recording-") as tmp_name:
        tmp = Path(tmp_name)
        splits_path = tmp / "splits.pt"
        save_splits(splits, splits_path)
        for w in counts:
            suite = bench_suite(args, args.epochs, max(counts))
            r = run_concurrent(w, suite, splits_path, args, tmp)
            runs.append(r)
            per = ", ".join(f"{x:.0f}" for x in r["per_worker_images_per_s_training_pass"])
            print(f"W={w}: {r['images_per_s_wall']:.0f} images/s aggregate (wall {r['wall_s']:.1f} s for "
                  f"{r['train_images']} training images); training pass {r['images_per_s_training_pass']:.0f} "
                  f"images/s summed over workers ({per}); statuses {sorted(set(r['statuses']))}", flush=True)
        fh = fh_ensemble_overhead(args, splits, tmp) if args.window else None
    if fh:
        print(f"fh-ensemble K={fh['window']} on {device.type}: {fh['estimate_s'] * 1000:.1f} ms per estimate "
              f"({fh['probes']} probes) = {fh['estimate_epochs']:.4f} of a {fh['epoch_s']:.2f} s training epoch "
              f"(target <= 0.05)")
    best = max(runs, key=lambda r: r["images_per_s_wall"])
    print(f"best aggregate: W={best['workers']} {best['images_per_s_wall']:.0f} images/s wall, "
          f"{max(r['images_per_s_training_pass'] for r in runs):.0f} training pass (target >= 28,000 on one H100)")
    summary = {
        "device": str(device), "device_name": device_name, "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None, "threads_per_worker": args.threads,
        "cpu_count": os.cpu_count(), "dataset_source": splits.source, "channels": args.channels,
        "cells_per_stage": args.cells, "train_size": args.train_size, "val_size": args.val_size,
        "test_size": args.test_size, "batch_size": 256, "epochs": args.epochs,
        "writer": "synchronous" if args.sync_writer else "background",
        "runs": runs, "fh_ensemble": fh, "command": " ".join(sys.argv),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
