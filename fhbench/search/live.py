"""The live backend: the same search algorithms, training configurations for real through the recorder.

A job trains its configuration up to the job's budget; a promoted configuration continues from the
epoch its earlier job stopped at (the training run is kept alive, model and optimizer state
included), with the learning-rate schedule fixed to the maximal budget as in replay. Each pool
config c trains with the seed its recorded trace would have, so a live search and a replay of the
same pool with the same seed see the same numbers and make the same decisions. Jobs run one at a
time (one worker): parallel live training is left to a cluster launcher.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from fhbench.record import Trial, train_trial
from fhbench.search.algorithms import SearchAlgorithm
from fhbench.search.replay import SearchRun
from fhbench.traces import CURVES, TIMINGS, TraceView


@dataclass
class LiveTrace:
    """A trial being trained, in memory, readable through `TraceView` like a recorded one."""

    trial: Trial
    config_vector: np.ndarray
    budget: int
    labels_train: np.ndarray
    labels_val: np.ndarray
    epochs: Iterator[dict]
    curves: dict[str, list[float]] = field(default_factory=dict)
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    classifiers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    trial_id = property(lambda self: self.trial.trial_id)
    config = property(lambda self: self.trial.config)
    epochs_completed = property(lambda self: len(self.classifiers))
    feature_epochs = property(lambda self: tuple(sorted(self.kept)))

    def advance(self, budget: int) -> None:
        while self.epochs_completed < budget:
            record = next(self.epochs, None)
            if record is None:
                raise RuntimeError(f"live trial {self.trial_id} diverged at epoch {self.epochs_completed}")
            for name in CURVES + TIMINGS:
                self.curves.setdefault(name, []).append(record[name])
            self.classifiers.append((record["classifier_w"], record["classifier_b"]))
            if "train_features" in record:
                self.kept[record["epoch"]] = (record["train_features"], record["val_features"])

    def curve(self, name: str) -> np.ndarray:
        return np.asarray(self.curves[name], dtype=np.float64)

    def features(self, epoch: int, split: str) -> torch.Tensor:
        if epoch not in self.kept:
            raise KeyError(f"live trial {self.trial_id} keeps no features for epoch {epoch}")
        return torch.from_numpy(self.kept[epoch][0 if split == "train" else 1].astype(np.float32))

    def labels(self, split: str) -> torch.Tensor:
        return torch.from_numpy((self.labels_train if split == "train" else self.labels_val).astype(np.int64))

    def classifier(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = self.classifiers[epoch - 1]
        return torch.from_numpy(w.copy()), torch.from_numpy(b.copy())

    def view(self, epoch: int) -> TraceView:
        return TraceView(self, epoch)


class LiveBackend:
    """Trains pool configs on demand; `trials[c]` is pool config c (its cell and seed)."""

    def __init__(self, suite, space, splits, trials: list[Trial], device: torch.device):
        self.suite, self.space, self.splits, self.trials, self.device = suite, space, splits, trials, device
        n_keep = suite.record.kept_train_images(len(splits.train.labels))
        self.labels_train = splits.train.labels[:n_keep].numpy()
        self.labels_val = splits.val.labels.numpy()
        self.runs: list[LiveTrace] = []
        self.epochs_trained = 0

    def train(self, config: int, start: int, budget: int) -> LiveTrace:
        """Continues the live run of `config` that stopped at epoch `start`, or starts one if start is 0."""
        run = next((r for r in self.runs if r.trial is self.trials[config] and r.epochs_completed == start
                    and start > 0), None)
        if run is None:
            trial = self.trials[config]
            run = LiveTrace(trial, self.space.encode(self.space.parse(trial.config)), self.suite.train.epochs,
                            self.labels_train, self.labels_val,
                            train_trial(trial, self.suite, self.space, self.splits, self.device))
            self.runs.append(run)
        before = run.epochs_completed
        run.advance(budget)
        self.epochs_trained += run.epochs_completed - before
        return run


def live_search(algorithm: SearchAlgorithm, backend: LiveBackend, estimator, *, estimator_name: str,
                seed: int, time_budget_s: float = float("inf")) -> SearchRun:
    """Runs `algorithm` until it is done or `time_budget_s` of real time is spent.

    A population-level estimator is fit on every live run that has reached the job's budget, cut
    there: the curves a real search has observed so far.
    """
    run = SearchRun(algorithm.name, estimator_name, seed)
    start = time.perf_counter()
    while not algorithm.done and time.perf_counter() - start < time_budget_s:
        job = algorithm.propose()
        if job is None:
            break
        error = None
        try:
            trace = backend.train(job.config, algorithm.previous_budget(job), job.budget)
            population = [r.view(job.budget) for r in backend.runs if r.epochs_completed >= job.budget]
            estimator.fit(population)
            score = float(estimator.estimate(trace.view(job.budget)))
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"estimate {score!r} is not an accuracy in [0, 1]")
        except Exception as err:  # a diverged run or a failing estimator ranks the job last, as in replay
            score, error = 0.0, f"{type(err).__name__}: {err}"
        algorithm.report(job, score)
        clock = time.perf_counter() - start
        run.jobs.append({"job_id": job.job_id, "config": job.config, "budget": job.budget, "bracket": job.bracket,
                         "rung": job.rung, "finish_s": clock, "score": score, "error": error})
        run.trajectory.append((clock, algorithm.incumbent()))
    run.incumbent = algorithm.incumbent()
    run.simulated_time_s = time.perf_counter() - start
    return run
