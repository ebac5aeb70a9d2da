"""The harness: runs estimators on views of recorded trials, times them, and records every outcome.

Estimators only ever see views cut at the checkpoint. The harness, not the estimator, measures
overhead: wall time of `fit` (shared equally by the trials it was fit on) plus that of `estimate`,
feature loading included. An exception or a non-finite or out-of-range estimate becomes a failed
record; the suite goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fhbench.traces import TrialTrace


@dataclass(frozen=True)
class EstimateRecord:
    estimator: str
    repeat: int
    checkpoint: int
    trial_id: str
    estimate: float | None
    overhead_s: float
    error: str | None = None


def _describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def run_estimators(estimators: dict, trials: Sequence[TrialTrace], checkpoints: Sequence[int],
                   on_step: Callable[[str, int, int], None] | None = None) -> list[EstimateRecord]:
    """Estimates every trial at every checkpoint with every estimator, one repeat at a time."""
    records: list[EstimateRecord] = []
    repeats = sorted({t.repeat for t in trials})
    for repeat in repeats:
        population = [t for t in trials if t.repeat == repeat]
        for checkpoint in checkpoints:
            views = [t.view(checkpoint) for t in population]
            for name, estimator in estimators.items():
                start = time.perf_counter()
                fit_error = None
                try:
                    estimator.fit(views)
                except Exception as err:  # an estimator's failure is a result, not a crash
                    fit_error = "fit: " + _describe(err)
                fit_share = (time.perf_counter() - start) / len(views)
                for view in views:
                    records.append(_estimate_one(name, estimator, view, repeat, checkpoint, fit_share, fit_error))
                if on_step:
                    on_step(name, repeat, checkpoint)
    return records


def _estimate_one(name, estimator, view, repeat, checkpoint, fit_share, fit_error) -> EstimateRecord:
    if fit_error:
        return EstimateRecord(name, repeat, checkpoint, view.trial_id, None, fit_share, fit_error)
    start = time.perf_counter()
    error, value = None, None
    try:
        value = float(estimator.estimate(view))
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            error, value = f"estimate {value!r} is not an accuracy in [0, 1]", None
    except Exception as err:  # see run_estimators
        error = _describe(err)
    return EstimateRecord(name, repeat, checkpoint, view.trial_id, value,
                          fit_share + time.perf_counter() - start, error)
