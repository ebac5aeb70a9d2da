"""One linear probe re-fit on the query epoch's training features (thesis section 3.1.2, "Optimized").

That is the feature-history ensemble with a window of one epoch, so it reuses fhbench's public class.
"""

from __future__ import annotations

from fhbench.estimators import FeatureHistoryEnsemble


class OptimizedClassifier(FeatureHistoryEnsemble):
    name = "optimized"
    version = "1"

    def __init__(self, epochs: int = 5, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 5e-4,
                 batch_size: int = 1024, lr_schedule: str = "linear", seed: int = 0, device: str = "cpu"):
        super().__init__(window=1, epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         batch_size=batch_size, lr_schedule=lr_schedule, seed=seed, device=device)
