"""`fhbench compare --statistical`: a regression gate for two estimation boards whose traces were
recorded on different runs (another machine, another torch), where exact tolerances would flag noise.

The two boards must score the same cells (same suite: the same trial ids). Per estimator and checkpoint,
one paired bootstrap resamples the cells both boards scored, stratified by repeat, the same draw for the
old board and the new, and gives the difference new - old of each metric with its 95% percentile
interval. A regression is a difference whose interval lies wholly on the worse side of 0; anything else
is a change the noise of this many cells cannot tell from none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fhbench.core.errors import FhbenchError
from fhbench.score import stats

GATED = ("kendall_tau", "mae")


@dataclass(frozen=True)
class PairedChange:
    estimator: str
    epoch: int
    metric: str
    difference: float  # new - old
    lo: float
    hi: float
    worse: bool

    def line(self) -> str:
        mark = "  worse" if self.worse else ""
        return (f"{self.estimator} epoch {self.epoch} {self.metric}: new - old {self.difference:+.4f} "
                f"[{self.lo:+.4f}, {self.hi:+.4f}]{mark}")


def _tables(header: dict, checkpoint: int, trials: list[str], source: str):
    try:
        return stats.table_from_records([e for e in header["estimates"] if e["trial_id"] in trials],
                                        header["truths"], checkpoint)
    except (KeyError, TypeError, ValueError) as err:
        raise FhbenchError(f"{source}: cannot pair its estimates at epoch {checkpoint} ({err})") from None


def paired_changes(old: dict, new: dict, *, old_source: str, new_source: str, rank_only: set[str] = frozenset(),
                   n_resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0) -> list[PairedChange]:
    """Every (estimator, checkpoint, gated metric) both estimation boards have, with its paired interval.
    `old` and `new` are the boards' results.json; `rank_only` estimators have no MAE."""
    for header, source in ((old, old_source), (new, new_source)):
        if header.get("kind") != "estimation" or not isinstance(header.get("estimates"), list):
            raise FhbenchError(f"{source}: --statistical compares estimation boards with per-trial estimates")
    common = sorted(set(old.get("truths") or {}) & set(new.get("truths") or {}))
    if len(common) < 10:
        raise FhbenchError(f"{old_source} and {new_source} share {len(common)} scored cells: a paired comparison "
                           f"needs the same suite's cells (at least 10)")
    checkpoints = sorted({int(e["checkpoint"]) for e in old["estimates"]} & {int(e["checkpoint"]) for e in new["estimates"]})
    changes = []
    for checkpoint in checkpoints:
        a = _tables(old, checkpoint, common, old_source)
        b = _tables(new, checkpoint, common, new_source)
        names = [n for n in a.estimators if n in b.estimators]
        if a.trial_ids != b.trial_ids or not np.array_equal(a.repeats, b.repeats):
            raise FhbenchError(f"{old_source} and {new_source}: the shared cells sit in different repeats at epoch "
                               f"{checkpoint}: not the same suite")
        weights = np.vstack([np.ones((1, len(a.trial_ids))), stats.resample_weights(a.repeats, n_resamples, seed)])
        only = [n in rank_only for n in names]
        metrics = [stats.weighted_metrics(t.estimates[[t.estimators.index(n) for n in names]], t.truths, t.repeats,
                                          weights, only) for t in (a, b)]
        for metric in GATED:
            higher = stats.HIGHER_IS_BETTER[metric]
            for index, name in enumerate(names):
                delta = metrics[1][metric][index] - metrics[0][metric][index]
                if not math.isfinite(delta[0]):
                    continue  # rank-only: no MAE
                lo, hi = np.percentile(delta[1:], [2.5, 97.5])
                worse = hi < 0 if higher else lo > 0
                changes.append(PairedChange(name, checkpoint, metric, float(delta[0]), float(lo), float(hi), worse))
    return changes


__all__ = ["GATED", "PairedChange", "paired_changes"]
