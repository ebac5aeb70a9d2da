"""One linear probe re-fit on the query epoch's training features (thesis section 3.1.2, "Optimized")."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fhbench.estimators.probes import ProbeSettings, ensemble_probabilities, train_probes


class OptimizedClassifier:
    name = "optimized"
    version = "1"

    def __init__(self, epochs: int = 5, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 5e-4,
                 batch_size: int = 1024, lr_schedule: str = "linear", seed: int = 0):
        self.probe = ProbeSettings(epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                   batch_size=batch_size, lr_schedule=lr_schedule, seed=seed)

    def fit(self, population: Sequence) -> None:
        pass

    def estimate(self, trial) -> float:
        if trial.epoch not in trial.kept_epochs:
            raise ValueError(f"no saved features at epoch {trial.epoch}")
        weight, bias = trial.classifier(trial.epoch)
        weight, bias = train_probes(trial.features(trial.epoch, "train")[None], trial.labels("train"),
                                    weight[None].float(), bias[None].float(), self.probe)
        probabilities = ensemble_probabilities(trial.features(trial.epoch, "val")[None], weight, bias)
        return float((probabilities.argmax(1) == trial.labels("val")).float().mean())
