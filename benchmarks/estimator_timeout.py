"""What `[estimate] timeout_s`'s default rests on: the wall time of the slowest shipped estimator's call at
the thesis's settings, on this machine. lcnet is the slowest: one fit is 13,000 SGHMC steps with 3,000
burn-in (pybnn's defaults, the thesis's A.1) on every observed point of 100 trials (NB201, 200 epochs),
at the 90% checkpoint (epoch 180: the most points). The curves are synthetic (only their number
matters for the cost); one torch thread, as the harness's workers run.

    python benchmarks/estimator_timeout.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from fhbench.estimators import create_estimator


class CurveView:
    def __init__(self, index: int, rng, epoch: int = 180, budget: int = 200):
        self.trial_id, self.epoch, self.budget = f"r0-{index:03d}", epoch, budget
        self.config = f"cell-{index}"
        self.config_vector = rng.integers(0, 5, 6).astype(np.float64)
        final = rng.uniform(0.1, 0.94)
        t = np.arange(1, budget + 1) / budget
        self._val = final * (1 - np.exp(-8 * t)) + rng.normal(0, 0.01, budget)

    def curve(self, name):
        return self._val[: self.epoch].copy()


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    views = [CurveView(i, rng) for i in range(100)]
    estimator = create_estimator("lcnet", {"num_steps": 13000, "burn_in_steps": 3000})
    start = time.perf_counter()
    estimator.fit(views)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    for view in views:
        estimator.estimate(view)
    per_estimate = (time.perf_counter() - start) / len(views)
    print(f"lcnet at the thesis's settings, 100 trials at epoch 180 of 200: fit {fit:.1f} s, "
          f"estimate {per_estimate * 1000:.1f} ms each; ten times the fit: {10 * fit:.0f} s")


if __name__ == "__main__":
    main()
