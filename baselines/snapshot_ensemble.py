"""Snapshot ensemble of the saved classifiers: the feature-history ensemble without its probe training.

fh-ensemble (Cao 2021, Algorithm 1; appendix A.1) takes the classifier saved at each of the last K
epochs, re-fits it on that epoch's training features, and scores the mean softmax of the re-fitted
probes on each epoch's validation features. This estimator skips the re-fit: the classifier saved at
epoch e is applied, as saved, to the validation features of epoch e (both from the network at the
end of epoch e), the softmax outputs are averaged over the window, and the estimate is the accuracy
of that mean. It is the ablation of A.1's probe training, in the spirit of Huang et al. 2017's
snapshot ensembles, and it reads no training features.

For a fair comparison it uses fh-ensemble's window rule (the kept epochs among the last `window` up
to the view's epoch) and its ensemble-probability function; default window K = 10 as A.1 (set it as
fh-ensemble's in a suite). With a window of one it is the network's own validation accuracy at the
query epoch, up to the precision the features were stored at.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fhbench.estimators import FeatureHistoryEnsemble, ensemble_probabilities


class SnapshotEnsemble:
    name = "snapshot-ensemble"
    version = "1"

    def __init__(self, window: int = 10, device: str = "cpu"):
        if not isinstance(window, (int, np.integer)) or isinstance(window, bool) or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self.window = int(window)
        self.device = torch.device(device)  # the scoring device: the harness passes --device here

    def fit(self, population: Sequence) -> None:
        """Nothing to learn across trials."""

    # fh-ensemble's window rule itself (it reads only `window`), so both always use the same epochs.
    epochs_used = FeatureHistoryEnsemble.epochs_used

    @torch.no_grad()
    def estimate(self, trial) -> float:
        epochs = self.epochs_used(trial)
        val = torch.stack([trial.features(e, "val") for e in epochs]).to(self.device)
        saved = [trial.classifier(e) for e in epochs]
        weight = torch.stack([w for w, _ in saved]).float().to(self.device)
        bias = torch.stack([b for _, b in saved]).float().to(self.device)
        probabilities = ensemble_probabilities(val, weight, bias)
        return float((probabilities.argmax(1) == trial.labels("val").to(self.device)).float().mean())
