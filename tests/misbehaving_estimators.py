"""Estimators that misbehave, for the harness's containment tests: importable by name, so that the
harness's worker processes can receive them."""

from __future__ import annotations

import os
import time


class LastAccuracy:
    name, version = "last-accuracy", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return float(trial.curve("val_acc")[-1])


class Sleeper:
    """Never returns from fit."""
    name, version = "sleeper", "1"

    def fit(self, population):
        while True:
            time.sleep(60)

    def estimate(self, trial):
        return 0.5


class Crasher:
    """Takes its process down in the middle of estimating, as a crash in native code would."""
    name, version = "crasher", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        if trial.trial_id.endswith("2"):
            os._exit(139)
        return 0.5


class Stringy:
    """Returns an estimate that only looks like a number."""
    name, version = "stringy", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return "0.9"


class Vandal:
    """Mutates what it is handed: the views' epochs and their arrays."""
    name, version = "vandal", "1"

    def fit(self, population):
        for view in population:
            view.epoch = 1
            view.budget = 10**6

    def estimate(self, trial):
        trial.config_vector[:] = 0
        return 0.5
