"""The estimator interface and the registry that finds estimators through entry points.

An estimator predicts a trial's final accuracy from a view of the trial cut at a query epoch. The
harness (``fhbench.estimators.harness``) hands it views, times it and turns its exceptions into failed rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from fhbench.estimators.fh_ensemble import FeatureHistoryEnsemble
from fhbench.estimators.probes import ensemble_probabilities
from fhbench.estimators.registry import EstimatorInfo, available_estimators, create_estimator

# The public API: what a third-party estimator (and fhbench's own baselines, which register the same
# way) may import. Everything else under fhbench is the harness's and may change without notice.
__all__ = ["Estimator", "EstimatorInfo", "FeatureHistoryEnsemble", "TraceViewLike", "available_estimators",
           "create_estimator", "ensemble_probabilities"]


@runtime_checkable
class TraceViewLike(Protocol):
    """What an estimator may read: one trial up to epoch `epoch` (see ``fhbench.record.view.TraceView``).
    Every attribute and method a shipped estimator uses is listed here; anything else on a view is the
    harness's and may change."""

    trial_id: str  # unique within a suite; sort a population by it for an order that does not depend on listing
    epoch: int  # the last epoch this view shows
    budget: int  # the epochs the trial was planned for
    config: str  # the architecture (or configuration) in its space's string form
    config_vector: np.ndarray  # its numeric encoding (float64), empty where the space has none
    kept_epochs: tuple[int, ...]  # epochs <= `epoch` whose features were kept (the suite's windows)
    proxies: dict[str, float] | None  # zero-cost proxies at initialisation, where the suite recorded them
    proxy_errors: dict[str, str]  # why a proxy has no value
    proxy_seconds: dict[str, float]  # what each proxy cost while recording
    has_predictions: bool  # whether `predictions` has data (the suite's record.predictions)

    def curve(self, name: str) -> np.ndarray: ...  # train_loss, train_acc, val_loss, val_acc, lr, epoch_time, val_time
    def features(self, epoch: int, split: str) -> torch.Tensor: ...  # split "train" or "val", epoch in kept_epochs
    def labels(self, split: str) -> torch.Tensor: ...
    def classifier(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]: ...  # (W, b) after that epoch
    def predictions(self, epoch: int) -> torch.Tensor: ...  # arg-max class of every validation image


@runtime_checkable
class Estimator(Protocol):
    name: str
    version: str

    def fit(self, population: Sequence[TraceViewLike]) -> None:
        """Learn across the trials of one repeat, all cut at the same epoch. May do nothing."""

    def estimate(self, trial: TraceViewLike) -> float:
        """The predicted final accuracy of `trial`, a fraction in [0, 1]."""
