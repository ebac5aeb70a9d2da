"""fh-ridge: the feature-history ensemble with closed-form probes (beyond the thesis).

A.1 fits one linear softmax probe per epoch of the window with 5 epochs of SGD. Here each probe is a
ridge regression of the one-hot training labels on that epoch's training features (with a bias
column), solved exactly: one (d+1) x (d+1) linear system per epoch instead of SGD, so its cost does
not grow with probe epochs and does not depend on a learning rate or a minibatch order. The estimate
is the validation accuracy of the mean of the K probes' outputs (their arg-max), the ensemble of
A.1 with least-squares scores in place of softmax probabilities.

`alpha` sets the ridge penalty relative to the features' scale: lambda = alpha * trace(X^T X) / (d+1),
so the same alpha fits float16 features of any width or magnitude. The saved classifiers are not
used: a least-squares fit has one solution, so an initialisation would change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fhbench.estimators.fh_ensemble import window_epochs


class RidgeHistoryEnsemble:
    name = "fh-ridge"
    version = "1"

    def __init__(self, window: int = 10, alpha: float = 1e-3, device: str = "cpu"):
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        if not (isinstance(alpha, (int, float)) and alpha > 0):
            raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
        self.window = window
        self.alpha = float(alpha)
        self.device = torch.device(device)

    def fit(self, population: Sequence) -> None:
        """Nothing to learn across trials."""

    def epochs_used(self, trial) -> list[int]:
        return window_epochs(trial, self.window)

    @torch.no_grad()
    def estimate(self, trial) -> float:
        epochs = self.epochs_used(trial)
        device = self.device
        labels = trial.labels("train").to(device)
        classes = trial.classifier(epochs[-1])[0].shape[0]
        targets = torch.nn.functional.one_hot(labels, classes).double()
        scores = None
        for epoch in epochs:
            x = _with_bias(trial.features(epoch, "train").to(device).double())
            gram = x.T @ x
            penalty = self.alpha * torch.diagonal(gram).mean()
            gram.diagonal().add_(penalty)
            coef = torch.linalg.solve(gram, x.T @ targets)  # (d+1, classes)
            out = _with_bias(trial.features(epoch, "val").to(device).double()) @ coef
            scores = out if scores is None else scores + out
        val = trial.labels("val").to(device)
        return float((scores.argmax(1) == val).double().mean())


def _with_bias(features: torch.Tensor) -> torch.Tensor:
    return torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype, device=features.device)], 1)
