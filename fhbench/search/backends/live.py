"""The live backend: the same search algorithms and driver, training configurations for real.

A job trains its configuration up to the job's budget through the recorder's `train_trial`; a
promoted configuration continues the very run its parent job stopped (model, optimizer and data
order kept in memory), with the learning-rate schedule fixed to the maximal budget as in replay.
Pool config i is the suite's planned trial i (`fhbench.search.pool.search_pool`, which replay uses
too), trained with the seed its recorded trace has, and every estimate goes through the estimation
harness's runner (`fhbench.estimators.harness.EstimatorRunner`) as in replay and scoring: a fresh copy of
the estimator per estimate, in a worker process of its own under the suite's `[estimate] timeout_s`
where `[estimate] isolate` (the default), so a plugin that hangs or crashes fails its jobs, not the
search. Close the backend (or use `with`) to stop that process. Jobs are charged by the same cost model
(`fhbench.search.cost`), from the times measured while training, on the driver's clock.

So a live search and a replay of the same pool with the same seed see the same numbers and make the
same decisions, for every estimator whose estimate of a trial does not depend on the population it
was fit on (original, fh-ensemble): tested. A population-level estimator (LCNet) is fit here on the
live runs that reached the job's budget, the curves a real search has observed; the replay fits it
on the whole pool, a documented simplification.

This backend trains a job when the driver starts it, one job at a time; with more than one worker the
driver's clock still schedules them as parallel workers would, from the measured costs. For W real
workers at once, each a Ray actor holding one of these backends, see `fhbench.search.backends.ray`.

Traces of live runs. Given a `store` (a `TraceStore`), the backend writes each run it trains as a
trace of its trial after every job that ran it (a failed one too), as the recorder would have
written it stopped there: the recorder's manifest (`fhbench.record.train.trial_meta`, with this process's
`recording_conditions`), every curve (test accuracy included), the classifiers, labels, the kept
epochs' features, proxies and predictions where the suite records them. Its status is "complete" at
train.epochs, "diverged" where the losses stopped being finite, else "stopped" (the search stopped
training it: its epochs are valid, those after were never trained). A run written again after a
promotion replaces its shorter trace atomically; a run holding no more epochs than the stored trace
of its trial never replaces it (`TraceStore.publish` with keep_longer). Writing is not charged to
the job: the cost model charges training, validation and estimation only. A replay of these traces
is `fhbench.search.backends.replay.LookupReplayBackend`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from fhbench.estimators.harness import EstimatorRunner
from fhbench.record.train import Trial, trial_meta, recording_conditions, train_trial
from fhbench.search.algorithms import Job, SearchAlgorithm
from fhbench.search.cost import job_cost
from fhbench.search.driver import JobOutcome, SearchRun, run_search
from fhbench.search.pool import SearchPool
from fhbench.record.format import CURVES, TEST_CURVES, TIMINGS
from fhbench.record.store import TraceStore
from fhbench.record.view import MemoryFeatures, TraceView


class _Diverged(RuntimeError):
    pass


@dataclass
class LiveTrace:
    """A trial being trained, in memory, readable through a `TraceView` like a recorded one."""

    trial: Trial
    config_vector: np.ndarray
    budget: int
    labels_train: np.ndarray
    labels_val: np.ndarray
    epochs: Iterator[dict]
    curves: dict[str, list[float]] = field(default_factory=dict)
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    classifiers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)  # the truth's side: never part of a view
    proxies: object = None  # the zero-cost proxies the recorder computed before epoch 1, if asked to
    predictions: list[np.ndarray] = field(default_factory=list)  # per epoch, where record.predictions is on
    diverged: bool = False  # the last epoch's losses were not finite: the run ends there

    trial_id = property(lambda self: self.trial.trial_id)
    config = property(lambda self: self.trial.config)
    epochs_completed = property(lambda self: len(self.classifiers))

    def advance(self, budget: int) -> Iterator[int]:
        """Trains on to `budget` epochs, yielding after each; raises _Diverged when the run ends before it."""
        while self.epochs_completed < budget:
            record = next(self.epochs, None)
            if record is None:
                raise _Diverged(f"the trial diverged at epoch {self.epochs_completed}, before budget {budget}")
            for name in CURVES + TIMINGS + TEST_CURVES:
                self.curves.setdefault(name, []).append(record[name])
            self.classifiers.append((record["classifier_w"], record["classifier_b"]))
            self.test_acc.append(record["test_acc"])
            self.proxies = record.get("proxies", self.proxies)
            self.diverged = bool(record.get("diverged", False))
            if "val_predictions" in record:
                self.predictions.append(record["val_predictions"])
            if "train_features" in record:
                self.kept[record["epoch"]] = (record["train_features"], record["val_features"])
            yield self.epochs_completed

    @property
    def status(self) -> str:
        """The status its trace gets (`fhbench.record.format`): diverged, complete (at its budget) or stopped."""
        if self.diverged:
            return "diverged"
        return "complete" if self.epochs_completed >= self.budget else "stopped"

    def curve(self, name: str) -> np.ndarray:
        return np.asarray(self.curves.get(name, []), dtype=np.float64)

    def view(self, epoch: int) -> TraceView:
        return TraceView(trial_id=self.trial_id, config=self.config, config_vector=self.config_vector,
                         budget=self.budget, epoch=epoch,
                         curves={name: self.curve(name) for name in self.curves if name not in TEST_CURVES},
                         labels={"train": self.labels_train, "val": self.labels_val},
                         classifier=(np.stack([w for w, _ in self.classifiers]),
                                     np.stack([b for _, b in self.classifiers])),
                         features=MemoryFeatures(self.trial_id, self.kept, epoch), proxies=self.proxies,
                         predictions=np.stack(self.predictions) if self.predictions else None)

    def write(self, store: TraceStore, meta: dict) -> bool:
        """Writes the run as it stands as a trace of its trial (see the module docstring); returns whether
        it was published (False: the store holds as many epochs of the trial or more)."""
        stored = store.stored_epochs(self.trial_id)
        if stored is not None and stored >= self.epochs_completed:
            return False
        writer = store.writer(self.trial_id, meta, unique=True)
        writer.queue_size = 0
        try:
            for epoch in sorted(self.kept):
                writer.write_features(epoch, *self.kept[epoch])
            writer.finish(
                status=self.status,
                curves={name: self.curve(name) for name in CURVES + TIMINGS + TEST_CURVES},
                labels={"train": self.labels_train, "train_index": np.arange(len(self.labels_train)),
                        "val": self.labels_val},
                classifier_w=np.stack([w for w, _ in self.classifiers]),
                classifier_b=np.stack([b for _, b in self.classifiers]),
                predictions=np.stack(self.predictions) if self.predictions else None,
                keep_longer=True,
                **({"proxies": self.proxies.to_dict()} if self.proxies is not None else {}),
            )
        finally:
            writer.close()
        return writer.published


class LiveBackend:
    """Trains pool configs on demand and estimates them with one estimator (see the module docstring).
    `pool.trials[config]` is a config's trial (a `SearchPool`, or `DeclaredTrials` for a declared
    search); with `store` every run is written as a trace after each job that trained it."""

    def __init__(self, suite, space, splits, pool: SearchPool, device: torch.device, estimator_name: str,
                 estimator, sealed_paths: tuple = (), store: TraceStore | None = None):
        self.suite, self.space, self.splits, self.pool, self.device = suite, space, splits, pool, device
        self.store = store
        self.traces_written = 0  # traces published (each write of a run that grew counts)
        self.estimator = estimator_name
        self._runner = EstimatorRunner(estimator_name, estimator, isolate=suite.estimate.isolate,
                                       timeout_s=suite.estimate.timeout_s, threads=torch.get_num_threads(),
                                       device=device, sealed_paths=sealed_paths)
        n_keep = suite.record.kept_train_images(len(splits.train.labels))
        self.labels_train = splits.train.labels[:n_keep].numpy()
        self.labels_val = splits.val.labels.numpy()
        self.runs: list[LiveTrace] = []  # every run started, in starting order
        self._by_job: dict[int, LiveTrace] = {}  # the run each finished job left, for its promotions
        self.sealed_paths = tuple(sealed_paths)
        self.epochs_trained = 0

    def close(self) -> None:
        """Stops the estimator's worker process."""
        self._runner.close()

    def __enter__(self) -> LiveBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _new_run(self, trial: Trial) -> LiveTrace:
        run = LiveTrace(trial, self.space.encode(self.space.parse(trial.config)), self.suite.train.epochs,
                        self.labels_train, self.labels_val,
                        train_trial(trial, self.suite, self.space, self.splits, self.device))
        self.runs.append(run)
        return run

    def run(self, job: Job, start: int) -> JobOutcome:
        """The driver's `Backend.run`: the job's outcome (the last item of `run_steps`)."""
        for item in self.run_steps(job, start):
            pass
        return item

    def run_steps(self, job: Job, start: int, trial: Trial | None = None) -> Iterator[float | JobOutcome]:
        """Runs one job: yields, after each epoch it trains, what the job has been charged so far (a lower
        bound on its cost, for a parallel driver's clock), and last its `JobOutcome`. `trial`: the job's
        trial where the caller knows it (a Ray worker's copy of a declared search's candidates does not
        grow with the driver's); default `pool.trials[job.config]`."""
        trial = self.pool.trials[job.config] if trial is None else trial
        run = self._by_job.pop(job.parent) if job.parent is not None else self._new_run(trial)
        first = run.epochs_completed
        if first > start or run.trial.trial_id != trial.trial_id:
            raise RuntimeError(f"job {job.job_id}: its parent's run of config {job.config} stopped at epoch "
                               f"{first}, not at {start}")
        error = None
        try:
            for reached in run.advance(job.budget):
                yield job_cost(run.curve("epoch_time"), run.curve("val_time"), first, reached, 0.0)
        except _Diverged as err:
            error = str(err)
        stop = run.epochs_completed
        self.epochs_trained += stop - first
        self._by_job[job.job_id] = run
        if self.store is not None and stop > first:
            meta = trial_meta(run.trial, self.suite, self.space, self.splits, recording_conditions(self.device))
            self.traces_written += run.write(self.store, meta)
        epoch_time, val_time = run.curve("epoch_time"), run.curve("val_time")
        if error:
            yield JobOutcome(None, job_cost(epoch_time, val_time, first, stop, 0.0), 0.0, stop, error)
            return
        population, seen = [run.view(job.budget)], {run.trial_id}
        for other in self.runs:  # one view per trial: two runs of one trial at one epoch are the same
            if other.epochs_completed >= job.budget and other.trial_id not in seen:
                seen.add(other.trial_id)
                population.append(other.view(job.budget))
        record = self._runner.step(population, population[:1], repeat=0, checkpoint=job.budget)[0]
        yield JobOutcome(record.estimate, job_cost(epoch_time, val_time, first, stop, record.overhead_s),
                         record.overhead_s, stop, record.error)

    def furthest_run(self, config: int, trial_id: str | None = None) -> dict | None:
        """What the longest run of pool config `config` (or of trial `trial_id`) measured: its epochs,
        validation accuracies and test accuracies (the truth's side, for `describe_winner` only). None if
        it never ran here."""
        trial_id = self.pool.trials[config].trial_id if trial_id is None else trial_id
        runs = [r for r in self.runs if r.trial_id == trial_id]
        if not runs:
            return None
        furthest = max(runs, key=lambda r: r.epochs_completed)
        return {"epochs": furthest.epochs_completed, "val_acc": furthest.curve("val_acc").tolist(),
                "test_acc": list(furthest.test_acc)}


def live_search(algorithm: SearchAlgorithm, backend, *, seed: int, workers: int = 1,
                time_budget_s: float = math.inf, on_note: Callable[[str], None] | None = None) -> SearchRun:
    """One live search: `run_search` with a `LiveBackend`, or a `RayLiveBackend` for W workers at once
    (the time budget is on the driver's clock, which charges the measured costs)."""
    return run_search(algorithm, backend, workers=workers, time_budget_s=time_budget_s, seed=seed, on_note=on_note)


def describe_winner(suite, backend, config: int, *, nb201_file: str | None = None) -> dict:
    """The chosen architecture's own validation accuracy at the furthest epoch it was trained to, and its
    accuracy under the suite's search truth where that is known: a table's value for its cell, or its
    own test accuracy when it was trained to the full budget (own-run truths)."""
    from fhbench.core.errors import FhbenchError
    from fhbench.inputs.truth import load_truth, parse_truth

    trial = backend.pool.trials[config]
    furthest = backend.furthest_run(config)
    epochs = furthest["epochs"]
    winner = {"cell": trial.config, "val_acc": float(furthest["val_acc"][-1]), "epochs": epochs,
              "truth": suite.search.truth, "true_acc": None, "why": None}
    spec = parse_truth(suite.search.truth)
    if spec.own_run:
        if epochs < suite.train.epochs:
            winner["why"] = f"it was trained to {epochs} of {suite.train.epochs} epochs"
        else:
            curve = furthest["test_acc"] if spec.kind == "final_test_acc" else furthest["val_acc"]
            winner["true_acc"] = float(curve[suite.train.epochs - 1])
        return winner
    try:
        winner["true_acc"] = float(load_truth(spec, nb201_file=nb201_file).table[trial.config])
    except (FhbenchError, KeyError) as err:
        winner["why"] = str(err).splitlines()[0] if str(err) else "the truth has no value for it"
    return winner
