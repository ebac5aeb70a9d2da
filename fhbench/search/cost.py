"""The cost model: what one search job costs on a worker, the same for every algorithm and estimator.

A job trains configuration c from the budget its lineage already reached (`start`: 0 for a new
config, the previous rung's budget for a promoted one, which continues from its checkpoint) up to the
job's budget b, then estimates its final accuracy. It costs

    cost(job) = sum over the epochs e = start + 1 .. b of (epoch_time[c, e] + val_time[c, e])
                + overhead_s(c, b)

- `epoch_time`: the recorded wall time of epoch e's training pass;
- `val_time`: the recorded wall time of epoch e's validation pass (with the feature capture it
  does). The test pass is not charged: a search worker does not evaluate on the test split;
- `overhead_s`: the estimator's overhead for this estimate, as the estimation harness
  (`fhbench.estimators.harness.fit_and_estimate`) measures it: the estimate's own wall time plus its equal
  share of the `fit` on the population.

A trial that diverged at epoch k < b is charged the epochs start + 1 .. k it ran and no estimate
(the job fails); a job continuing a lineage that had already diverged trains nothing and costs 0. Replay takes every number from the recorded traces and the estimate tables; a live search
measures the same quantities as it trains and charges them through this same function. Nothing else
is charged: no scheduling latency, no data loading between jobs, no time to fit a search model
(BOHB's densities), for any algorithm.
"""

from __future__ import annotations

import math

import numpy as np


def job_cost(epoch_time: np.ndarray, val_time: np.ndarray, start: int, stop: int, overhead_s: float) -> float:
    """Seconds a worker spends on a job that trains epochs start + 1 .. stop and then pays
    `overhead_s` for the estimate (the module docstring is the cost model).

    `epoch_time[e - 1]` and `val_time[e - 1]` are epoch e's training and validation wall times. Raises
    ValueError for a range outside the arrays, a negative or non-finite cost, or a job that trains
    epochs at no cost: the driver's clock must advance with every epoch trained.
    """
    epoch_time = np.asarray(epoch_time, dtype=np.float64)
    val_time = np.asarray(val_time, dtype=np.float64)
    if not 0 <= start <= stop <= min(len(epoch_time), len(val_time)):
        raise ValueError(f"epochs {start + 1}..{stop} are not all recorded "
                         f"({len(epoch_time)} epoch times, {len(val_time)} validation times)")
    cost = float(np.sum(epoch_time[start:stop]) + np.sum(val_time[start:stop])) + float(overhead_s)
    if not math.isfinite(cost) or cost < 0.0 or (cost == 0.0 and stop > start):
        raise ValueError(f"a job training epochs {start + 1}..{stop} costs {cost!r} s: a job that trains must "
                         f"cost a positive, finite time (check the recorded epoch_time and val_time)")
    return cost
