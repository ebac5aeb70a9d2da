"""The recorded validation accuracy at the query epoch: what a search uses when it has no estimator."""

from __future__ import annotations

from collections.abc import Sequence


class OriginalAccuracy:
    name = "original"
    version = "1"

    def __init__(self, metric: str = "val_acc"):
        if metric not in ("val_acc", "train_acc"):
            raise ValueError(f"metric must be 'val_acc' or 'train_acc', got {metric!r}")
        self.metric = metric

    def fit(self, population: Sequence) -> None:
        pass

    def estimate(self, trial) -> float:
        return float(trial.curve(self.metric)[-1])
