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
    """What an estimator may read: one trial up to epoch `epoch` (see ``fhbench.record.view.TraceView``)."""

    epoch: int
    budget: int
    config: str
    config_vector: np.ndarray
    kept_epochs: tuple[int, ...]

    def curve(self, name: str) -> np.ndarray: ...
    def features(self, epoch: int, split: str) -> torch.Tensor: ...
    def labels(self, split: str) -> torch.Tensor: ...
    def classifier(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Estimator(Protocol):
    name: str
    version: str

    def fit(self, population: Sequence[TraceViewLike]) -> None:
        """Learn across the trials of one repeat, all cut at the same epoch. May do nothing."""

    def estimate(self, trial: TraceViewLike) -> float:
        """The predicted final accuracy of `trial`, a fraction in [0, 1]."""
