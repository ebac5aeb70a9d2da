"""How long a recording will take on this device, known before it starts: a few timed training steps.

`record_suite` says it before any trial trains, so a suite that needs weeks here says so in seconds
rather than after its first epoch (which at full scale on a CPU takes hours). Rough by design: it
times `STEPS` optimizer steps (after one warm-up step) of up to `SAMPLED_TRIALS` of the trials to
record, through the recorder's own training loop (`train_trial`, features off), and counts each
epoch's validation pass (and the test pass at checkpoints, where recorded) at a third of a training
step per image (a forward pass against forward plus backward). Feature writing, process start-up and
contention between parallel workers are left out; the ETA of the progress display refines it as
trials finish.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fhbench.inputs.data import Splits
from fhbench.inputs.suite import Suite
from fhbench.record.train import Trial, train_trial

STEPS = 3
"""Timed training steps per sampled trial (after one warm-up step)."""

SAMPLED_TRIALS = 3
"""Trials timed, spread over the list to record (cells differ in cost)."""

CALIBRATION_BUDGET_S = 30.0
"""No further trial is sampled once the timing has taken this long (one full-size step can take seconds)."""

FORWARD_SHARE = 1 / 3
"""An evaluation image's cost as a share of a training image's (forward against forward and backward)."""


class _Enough(Exception):
    """Raised from `on_step` to stop a timed trial."""


@dataclass(frozen=True)
class Forecast:
    seconds: float  # predicted wall time of the whole recording
    trials: int
    workers: int
    timed_steps: int
    timed_trials: int

    def describe(self, device: torch.device) -> str:
        workers = f", {self.workers} at a time" if self.workers > 1 else ", one at a time"
        return (f"predicted wall time on this {device.type}: about {duration(self.seconds)} for {self.trials} "
                f"trial(s){workers} (from {self.timed_steps} timed training steps of {self.timed_trials} trial(s); "
                f"the ETA refines it as trials finish)")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def step_seconds(trial: Trial, suite: Suite, space, splits: Splits, device: torch.device,
                 steps: int = STEPS) -> tuple[float, int] | None:
    """(mean seconds of one training step after a warm-up step, steps timed); None where the trial has
    fewer than two steps in all. The caller's random state is left as it was."""
    marks: list[float] = []

    def on_step(step: int) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        marks.append(time.perf_counter())
        if len(marks) > steps:
            raise _Enough

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            for _ in train_trial(trial, suite, space, splits, device, capture=False, on_step=on_step):
                pass
        except _Enough:
            pass
    if len(marks) < 2:
        return None
    return (marks[-1] - marks[0]) / (len(marks) - 1), len(marks) - 1


def forecast(todo: Sequence[Trial], suite: Suite, space, splits: Splits, device: torch.device, *,
             workers: int = 1) -> Forecast | None:
    """The predicted wall time of recording `todo` with `workers` trials at a time; None where no
    trial has two training steps to time."""
    if not todo:
        return None
    picks = sorted({round(i * (len(todo) - 1) / max(1, SAMPLED_TRIALS - 1)) for i in range(SAMPLED_TRIALS)})
    started = time.perf_counter()
    timed = []
    for index in picks:
        measured = step_seconds(todo[index], suite, space, splits, device)
        if measured is not None:
            timed.append(measured)
        if time.perf_counter() - started > CALIBRATION_BUDGET_S:
            break
    if not timed:
        return None
    per_step = sum(seconds for seconds, _ in timed) / len(timed)
    n_train = len(splits.train.labels)
    batch = suite.train.batch_size
    per_image = per_step / min(batch, n_train)
    eval_images = len(splits.val.labels)
    total = 0.0
    for trial in todo:
        epochs = trial.epochs(suite)
        test_passes = len({c for c in suite.checkpoints if c <= epochs} | {epochs}) if suite.train.record_test else 0
        training = epochs * math.ceil(n_train / batch) * per_step
        evaluation = (epochs * eval_images + test_passes * len(splits.test.labels)) * per_image * FORWARD_SHARE
        total += training + evaluation
    workers = max(1, min(workers, len(todo)))
    return Forecast(total / workers, len(todo), workers, sum(n for _, n in timed), len(timed))
