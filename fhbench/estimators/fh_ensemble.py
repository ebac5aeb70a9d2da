"""The feature-history classifier ensemble (Cao 2021, Algorithm 1 lines 9-14, appendix A.1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fhbench.estimators.probes import ProbeSettings, ensemble_probabilities, train_probes


def window_epochs(trial, window: int) -> list[int]:
    """The epochs of the `window` most recent ones whose features the view holds (A.1's K)."""
    if trial.epoch < 1:
        raise ValueError(f"no features at epoch {trial.epoch}: the trial was never trained (a proxy-only trace "
                         f"holds the zero-cost proxies of its network at initialisation and nothing else)")
    first = trial.epoch - window + 1
    epochs = [e for e in trial.kept_epochs if e >= first]
    if not trial.kept_epochs:
        raise ValueError(f"trace {trial.trial_id} keeps no features at all (curves only: imported curves, say)")
    if not epochs:
        raise ValueError(f"no saved features in epochs {max(first, 1)}..{trial.epoch} "
                         f"(the suite's record.window must cover the estimator's window)")
    return epochs


class FeatureHistoryEnsemble:
    """One linear probe per epoch of the last `window` epochs, each initialised from the classifier
    saved at that epoch and re-fit on that epoch's training features; the estimate is the accuracy of
    the mean of their softmax outputs on the validation features."""

    name = "fh-ensemble"
    version = "1"

    def __init__(self, window: int = 10, epochs: int = 5, lr: float = 0.05, momentum: float = 0.9,
                 weight_decay: float = 5e-4, batch_size: int = 1024, lr_schedule: str = "linear",
                 seed: int = 0, device: str = "cpu"):
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self.window = window
        self.device = torch.device(device)  # the scoring device: the harness passes --device here
        self.probe = ProbeSettings(epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                   batch_size=batch_size, lr_schedule=lr_schedule, seed=seed)

    def fit(self, population: Sequence) -> None:
        """Nothing to learn across trials: each estimate uses its own trial's history only."""

    def epochs_used(self, trial) -> list[int]:
        return window_epochs(trial, self.window)

    def estimate(self, trial) -> float:
        predicted = self._predicted(trial)
        return float((predicted == trial.labels("val").to(predicted.device)).float().mean())

    def predict(self, trial) -> np.ndarray:
        """The ensemble's class for every validation image: the predictions `estimate` scores
        (fhbench.score.seen compares them with the final model's)."""
        return self._predicted(trial).cpu().numpy()

    def _predicted(self, trial) -> torch.Tensor:
        """The arg-max of the mean softmax of the re-fit probes, per validation image, on the device."""
        epochs = self.epochs_used(trial)
        device = self.device
        train = torch.stack([trial.features(e, "train") for e in epochs]).to(device)
        val = torch.stack([trial.features(e, "val") for e in epochs]).to(device)
        saved = [trial.classifier(e) for e in epochs]
        weight = torch.stack([w for w, _ in saved]).float().to(device)
        bias = torch.stack([b for _, b in saved]).float().to(device)
        weight, bias = train_probes(train, trial.labels("train").to(device), weight, bias, self.probe)
        return ensemble_probabilities(val, weight, bias).argmax(1)
