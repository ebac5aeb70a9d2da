"""The pool a search suite searches, built one way for replay and live alike.

The pool is the suite's planned trials of its one recorded population, in plan order: pool config i
is planned trial i (its cell and training seed). Replay reads trial i's trace; a live search trains
trial i. A trial whose recording diverged stays in the pool: a job on it fails past the epoch where
it diverged, in replay as live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fhbench.core.errors import FhbenchError
from fhbench.search.algorithms import ConfigPool


def encode_cells(cells: Sequence[str], space_name: str = "nb201") -> ConfigPool:
    """Cells as categorical codes: for NAS-Bench-201, each edge's operation's index in OPS."""
    if space_name != "nb201":
        raise FhbenchError(f"search: no categorical encoding for space '{space_name}' (known: nb201)")
    from fhbench.spaces.nb201 import OPS, Nb201Cell

    codes = np.array([[OPS.index(op) for op in Nb201Cell.from_string(cell).ops] for cell in cells], dtype=np.int64)
    return ConfigPool(codes, (len(OPS),) * codes.shape[1])


@dataclass(frozen=True, eq=False)
class SearchPool:
    trials: tuple  # fhbench.record.train.Trial, pool config i is trials[i]
    configs: ConfigPool

    @property
    def cells(self) -> list[str]:
        return [trial.config for trial in self.trials]

    @property
    def size(self) -> int:
        return len(self.trials)

    def match(self, traces: Sequence) -> list:
        """`traces` in pool order; a missing trace, or one recorded for another cell, is an error."""
        by_id = {trace.trial_id: trace for trace in traces}
        ordered = []
        for trial in self.trials:
            trace = by_id.get(trial.trial_id)
            if trace is None:
                raise FhbenchError(f"search: pool trial {trial.trial_id} ({trial.config}) has no trace")
            if trace.config != trial.config:
                raise FhbenchError(f"search: trace {trial.trial_id} is of {trace.config}, but the pool plans "
                                   f"{trial.config}")
            ordered.append(trace)
        return ordered


def search_pool(suite, space) -> SearchPool:
    """The pool of a search suite: its planned trials (one population, as `estimate.repeats` is 1)."""
    from fhbench.record.train import plan_trials

    trials = tuple(trial for trial in plan_trials(suite, space) if trial.repeat == 0)
    return SearchPool(trials, encode_cells([trial.config for trial in trials], suite.space.name))
