"""The speed figures of benchmarks/ as pytest-benchmark benchmarks, each a ratio of two CPU times
measured in the same round (ratio_bench.py explains how pytest-benchmark is made to gate the ratio).

1. recording: training a trial while recording its feature history against training it, same seed,
   without recording (the rounds alternate which goes first);
2. fh-ensemble: one estimate (feature loading included) against one training epoch of the same trial;
3. search replay: HyperBand replays on a synthetic pool of 64 cells against a fixed pure-Python
   workload.

No assertion here is about time: the ratios are gated by `--benchmark-compare-fail` against the
baseline in benchmarks/baseline/. What is asserted is that each ratio is a ratio of real work.
"""

from __future__ import annotations

import statistics
import time
import types
from pathlib import Path

import torch

from ratio_bench import cpu_seconds, python_reference

CPU = torch.device("cpu")
REPO = Path(__file__).resolve().parent.parent


def best_of(n, function):
    """The smallest CPU time of `n` calls (and the wall time of that call)."""
    return min(cpu_seconds(function) for _ in range(n))


def test_recording_ratio(ratio_benchmark, tiny, tmp_path):
    from fhbench.record.train import record_trial, train_trial
    from fhbench.record.store import TraceStore

    stores = iter(range(10_000))

    def without():
        for _ in train_trial(tiny.trial, tiny.suite, tiny.space, tiny.splits, CPU, capture=False):
            pass

    def with_recording():
        store = TraceStore(tmp_path / f"store-{next(stores)}")
        assert record_trial(tiny.trial, tiny.suite, tiny.space, tiny.splits, store, CPU) == "complete"

    order = iter(range(10_000))

    def measure():
        if next(order) % 2:  # alternate which side goes first, so drifting load touches both alike
            (cpu_without, wall_without), (cpu_with, wall_with) = cpu_seconds(without), cpu_seconds(with_recording)
        else:
            (cpu_with, wall_with), (cpu_without, wall_without) = cpu_seconds(with_recording), cpu_seconds(without)
        return cpu_with / cpu_without, {"cpu_s_with": cpu_with, "cpu_s_without": cpu_without,
                                        "wall_s_with": wall_with, "wall_s_without": wall_without}

    ratios = ratio_benchmark(measure, rounds=5)
    assert len(ratios) == 5
    assert list((tmp_path / "store-0").rglob("features/*.npz")), "recording wrote no features"


def test_fh_ensemble_overhead_per_training_epoch(ratio_benchmark, tiny, tmp_path):
    from fhbench.estimators import create_estimator
    from fhbench.record.train import record_trial, train_trial
    from fhbench.record.store import TraceStore

    store = TraceStore(tmp_path / "store")
    record_trial(tiny.trial, tiny.suite, tiny.space, tiny.splits, store, CPU)
    view = store.open(tiny.trial.trial_id).view(tiny.suite.train.epochs)
    estimator = create_estimator("fh-ensemble", tiny.suite.estimator_settings["fh-ensemble"], device=CPU)
    estimator.estimate(view)  # first-call allocations

    def measure():
        epochs, last = [], time.process_time()
        for _ in train_trial(tiny.trial, tiny.suite, tiny.space, tiny.splits, CPU, capture=False):
            now = time.process_time()
            epochs.append(now - last)  # one epoch: its training and validation passes
            last = now
        epoch = statistics.median(epochs)
        estimate, wall = best_of(3, lambda: estimator.estimate(view))
        return estimate / epoch, {"cpu_s_estimate": estimate, "wall_s_estimate": wall, "cpu_s_epoch": epoch,
                                  "probes": len(estimator.epochs_used(view))}

    ratios = ratio_benchmark(measure, rounds=5)
    assert len(ratios) == 5
    assert len(estimator.epochs_used(view)) == 4  # the ratio is of the full K=4 ensemble


def test_search_replay_per_reference(ratio_benchmark):
    from search_replay import synthetic

    from fhbench.search.backends.replay import replay
    from fhbench.search.run import default_time_budget, make_algorithm

    spec, pool, table, times = synthetic(types.SimpleNamespace(suite=str(REPO / "suites/nb201-search-cpu.toml"),
                                                               synthetic=64))
    budget = default_time_budget(spec, pool, {table.estimator: table}, times)
    jobs = []

    def replays():
        for seed in range(5):
            jobs.append(len(replay(make_algorithm("hyperband", pool, spec, seed), table, times, spec.workers,
                                   budget, seed=seed).jobs))

    def measure():
        replay_cpu, replay_wall = best_of(3, replays)
        reference, _ = best_of(3, python_reference)
        return replay_cpu / reference, {"cpu_s_5_replays": replay_cpu, "wall_s_5_replays": replay_wall,
                                        "cpu_s_reference": reference}

    ratios = ratio_benchmark(measure, rounds=5)
    assert len(ratios) == 5
    assert min(jobs) > 20, "HyperBand ran too few jobs to time the driver"
