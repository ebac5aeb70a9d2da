"""Sum of training losses (Ru et al. 2021, "Speedy performance estimation for neural architecture
search", NeurIPS; called SoTL in the arXiv version, TSE in the published one).

The paper's score of a run is the sum of the training losses of every minibatch seen so far (SoTL),
or of the minibatches of the most recent E epochs only (SoTL-E); a lower sum predicts a better final
accuracy. Defaults: SoTL sums all epochs; SoTL-E uses E = 1, the setting of the paper's NAS
experiments as we read it (its comparison of E favours a small E). E is the `epochs` setting.

Adaptation to fhbench, and why:

- A view holds `train_loss` per epoch, the mean of that epoch's minibatch losses weighted by batch
  size. The paper's minibatch sum over an epoch is that mean times the number of minibatches, which is
  the same for every trial of a population (one dataset and batch size), so summing the per-epoch
  means ranks the trials exactly as the paper's sum does.
- **It is a ranking score, not an accuracy.** Nothing in the views maps a loss sum to a final
  accuracy without the truth, so these estimators declare ``rank_only = True``: their Kendall tau and
  Spearman rho are meaningful, their MAE is not. The harness requires a number in [0, 1], so the
  estimate is ``exp(-mean of the summed losses)``: strictly decreasing in the sum (the number of
  summed epochs is the same for every trial at a checkpoint), in (0, 1] for cross-entropy losses, and
  above the 0.0 that a failed estimate is scored as, so a failure still ranks last. For cross-entropy
  it reads as the geometric mean of the probability given to the true label during training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class SumOfTrainingLosses:
    """exp(-mean training loss over the last `epochs` epochs of the view; all epochs where None)."""

    name = "sotl"
    version = "1"
    rank_only = True  # a monotone score: rank correlations apply, MAE does not (see module docstring)

    def __init__(self, epochs: int | None = None):
        if epochs is not None and (not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool)
                                   or epochs < 1):
            raise ValueError(f"epochs must be a positive integer or None (all epochs), got {epochs!r}")
        self.epochs = None if epochs is None else int(epochs)

    def fit(self, population: Sequence) -> None:
        """Nothing to learn: the score reads only the trial's own training losses."""

    def estimate(self, trial) -> float:
        losses = trial.curve("train_loss")
        if self.epochs is not None:
            # Before epoch E only fewer epochs exist; every trial at one checkpoint has as many.
            losses = losses[-self.epochs:]
        if len(losses) == 0:
            raise ValueError(f"trial {_name(trial)}: no training loss recorded up to epoch {trial.epoch}")
        if not np.all(np.isfinite(losses)) or np.any(losses < 0):
            raise ValueError(f"trial {_name(trial)}: train_loss must be finite and >= 0 (a cross-entropy), "
                             f"got {losses.tolist()}")
        return float(np.exp(-np.mean(losses)))


class SumOfTrainingLossesE(SumOfTrainingLosses):
    """SoTL-E: the same score over the most recent E epochs only (paper default E = 1)."""

    name = "sotl-e"

    def __init__(self, epochs: int = 1):
        if epochs is None:
            raise ValueError("sotl-e needs a number of epochs E (use `sotl` to sum every epoch)")
        super().__init__(epochs)


def _name(trial) -> str:
    return str(getattr(trial, "trial_id", "?"))
