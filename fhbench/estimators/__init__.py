"""The estimator interface and the registry that finds estimators through entry points.

An estimator predicts a trial's final accuracy from a view of the trial cut at a query epoch. The
harness (``fhbench.estimators.harness``) hands it views, times it and turns its exceptions into failed rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from fhbench.estimators.registry import EstimatorInfo, available_estimators, create_estimator

__all__ = ["Estimator", "TraceViewLike", "EstimatorInfo", "available_estimators", "create_estimator"]


@runtime_checkable
class TraceViewLike(Protocol):
    """What an estimator may read: one trial up to epoch `epoch` (see ``fhbench.record.traces.TraceView``)."""

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
