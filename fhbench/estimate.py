"""The harness: runs estimators on views of recorded trials, times them, and records every outcome.

Estimators only ever see views cut at the checkpoint, and they run inside `fhbench.seal.sealed`, so
they cannot open the files that hold the truth. The harness, not the estimator, measures overhead:
wall time of `fit` (shared equally by the trials it was fit on) plus that of `estimate`, feature
loading included, on the scoring device (CUDA work is synchronised before the clock stops). An
exception, or a non-finite or out-of-range estimate, becomes a failed record; the suite goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fhbench.seal import sealed
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


def _clock(device) -> float:
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter()


def fit_and_estimate(name: str, estimator, population: Sequence, targets: Sequence, *, repeat: int,
                     checkpoint: int, device=None, sealed_paths: Sequence = ()) -> list[EstimateRecord]:
    """Fits `estimator` on the views of `population`, then estimates each view of `targets`.

    The fit time is shared equally over the population (the trials it serves). Every outcome is a
    record: failures carry the error's first line and no estimate. `sealed_paths` are files the
    estimator may not open beyond the trace's own truth files (a truth table, say).
    """
    start = _clock(device)
    fit_error = None
    try:
        with sealed(sealed_paths):
            estimator.fit(population)
    except Exception as err:  # an estimator's failure is a result, not a crash
        fit_error = "fit: " + _describe(err)
    fit_share = (_clock(device) - start) / max(len(population), 1)
    records = []
    for view in targets:
        if fit_error:
            records.append(EstimateRecord(name, repeat, checkpoint, view.trial_id, None, fit_share, fit_error))
            continue
        start = _clock(device)
        error, value = None, None
        try:
            with sealed(sealed_paths):
                value = float(estimator.estimate(view))
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                error, value = f"estimate {value!r} is not an accuracy in [0, 1]", None
        except Exception as err:  # see above
            error = _describe(err)
        records.append(EstimateRecord(name, repeat, checkpoint, view.trial_id, value,
                                      fit_share + _clock(device) - start, error))
    return records


def run_estimators(estimators: dict, trials: Sequence[TrialTrace], checkpoints: Sequence[int],
                   on_step: Callable[[str, int, int], None] | None = None, *,
                   device=None, sealed_paths: Sequence = ()) -> list[EstimateRecord]:
    """Estimates every trial at every checkpoint with every estimator, one repeat at a time.

    `on_step(name, repeat, checkpoint)` is called before each step starts, so a progress display
    names the work in progress.
    """
    records: list[EstimateRecord] = []
    for repeat in sorted({t.repeat for t in trials}):
        population = [t for t in trials if t.repeat == repeat]
        for checkpoint in checkpoints:
            views = [t.view(checkpoint) for t in population]
            for name, estimator in estimators.items():
                if on_step:
                    on_step(name, repeat, checkpoint)
                records += fit_and_estimate(name, estimator, views, views, repeat=repeat, checkpoint=checkpoint,
                                            device=device, sealed_paths=sealed_paths)
    return records
