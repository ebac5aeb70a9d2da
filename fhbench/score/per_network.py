"""Per-network views of an estimation suite: each estimator's estimate of each trained network against
that network's own final accuracy, checkpoint by checkpoint (thesis Figures 3.1 and 4.1).

Across a handful of named networks (VGG-16, ResNet-18, ResNet-50, MobileNetV2) a Kendall tau over
architectures says little; what the thesis reads off its figures is, per network, how far the estimate
is from the final accuracy at each epoch and how early it gets there and stays ("already reaches over
77% at epoch 75, which speeds up the training by about 2.7x", Figure 3.1). Definitions, for trial t
(one training run of one network), estimator m, checkpoints c_1 < ... < c_n and truth y(t) (the suite's
estimate.truth: final_test_acc or final_val_acc for space cnn):

- abs error: |e_m(t, c) - y(t)| at each checkpoint c, a failed estimate counting as 0.0
  (`fhbench.score.metrics.FAILED_ESTIMATE`, the rule of every fhbench table);
- settle epoch: the smallest checkpoint c such that |e_m(t, c') - y(t)| <= BAND (1 pp; an error of
  exactly 1 pp is inside, see _SLACK) for every checkpoint c' >= c; None ("never") where the last checkpoint is off by more. An estimate that enters
  the band and leaves it again settles only at its last entry;
- speed-up: budget / settle epoch (200 / 75 = 2.7x in the thesis's reading); None where it never settles.

The unit is the trial, as in Figure 3.1 (one ResNet-18 run). A network trained in several repeats (the
same config, other seeds) is one table group: its abs error is the mean (and std) over its trials, and
its settle epochs and speed-ups are listed per trial, never averaged ("never" has no mean).

The views apply (`applies`) where a suite has at most MAX_NETWORKS networks per repeat and either is
space cnn or asks for an estimate at every epoch (`[estimate] every = 1`). The quickstart and the NB201
suites (16 to 100 sampled cells per repeat, checkpoints every few epochs) are scored across
architectures as before, and their leaderboards do not change.

Rank-only estimators (a score, not an accuracy) have no abs error and are left out.

In a suite with train.budgets each budget gets a view of its own (`fhbench.engine.pipeline` passes one budget's
records, its checkpoints and that budget): a (network, budget) is its own entry, its truth the final
accuracy of that run and its speed-up that budget / settle epoch (results.json's "per_network_by_budget").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from fhbench.core.errors import TraceError
from fhbench.score.metrics import FAILED_ESTIMATE

__all__ = ["BAND", "MAX_NETWORKS", "TABLE_FRACTIONS", "applies", "per_network", "settle_epoch", "settle_text",
           "speedup", "table_epochs", "trial_curves"]

BAND = 0.01
"""One percentage point: an estimate within it of the final accuracy has settled."""

MAX_NETWORKS = 12
"""At most this many networks per repeat get per-network views (one trajectory plot per trial)."""

TABLE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
"""leaderboard.md shows the abs error at the first checkpoint at or after these fractions of the budget."""

# An error of exactly 1 pp is inside the band whatever the float rounding: 0.79 - 0.78 is 0.0100000000000000089
# in float64, and an estimator computing 78/100 in float32 returns 0.7799999714. 1e-6 is far below any
# accuracy's resolution (one image in a million).
_SLACK = 1e-6

DEFINITION = (f"settle epoch: the first checkpoint from which every later estimate is within {100 * BAND:g} pp "
              f"of the final accuracy (none: the last one is off by more); speed-up: budget / settle epoch; "
              f"a failed estimate counts as {FAILED_ESTIMATE}")


def applies(suite) -> bool:
    """Whether a suite gets per-network views (see the module docstring)."""
    every_epoch = tuple(suite.checkpoints) == tuple(range(1, suite.train.epochs + 1))
    return suite.space.num_samples <= MAX_NETWORKS and (suite.space.name == "cnn" or every_epoch)


def _value(estimate: float | None) -> float:
    return FAILED_ESTIMATE if estimate is None else float(estimate)


def settle_epoch(checkpoints: Sequence[int], estimates: Sequence[float | None], truth: float,
                 band: float = BAND) -> int | None:
    """The settle epoch of one estimator on one trial: `estimates[i]` was made at `checkpoints[i]`
    (increasing), None where it failed."""
    if len(checkpoints) != len(estimates):
        raise ValueError(f"{len(checkpoints)} checkpoints but {len(estimates)} estimates")
    settled = None
    for checkpoint, estimate in zip(reversed(checkpoints), reversed(estimates)):
        if abs(_value(estimate) - truth) > band + _SLACK:
            break
        settled = int(checkpoint)
    return settled


def speedup(budget: int, settle: int | None) -> float | None:
    return None if settle is None else budget / settle


def table_epochs(checkpoints: Sequence[int], budget: int) -> list[int]:
    """The checkpoints leaderboard.md shows: the first at or after each of TABLE_FRACTIONS of the budget."""
    chosen = []
    for fraction in TABLE_FRACTIONS:
        later = [c for c in checkpoints if c >= fraction * budget - _SLACK]
        if later and later[0] not in chosen:
            chosen.append(later[0])
    return chosen


def trial_curves(traces: Iterable[Any]) -> dict[str, dict[str, list[float]]]:
    """Per trial, the accuracy recorded at every epoch, for the trajectory plots: val_acc, and test_acc
    where it was evaluated at more than the last epoch. Drawn beside the estimates, never given to them."""
    curves = {}
    for trace in traces:
        mine = {"val_acc": [float(v) for v in trace.curve("val_acc")]}
        try:
            test = np.asarray(trace.test_curve(), dtype=float)
        except TraceError:  # no test accuracy recorded (truth final_val_acc): the plot has no test curve
            test = np.array([])
        if np.isfinite(test).sum() > 1:
            mine["test_acc"] = [float(v) for v in test]
        curves[trace.trial_id] = mine
    return curves


def per_network(records: Iterable[Any], truths: Mapping[str, float], configs: Mapping[str, str],
                checkpoints: Sequence[int], budget: int, *, rank_only: Iterable[str] = (),
                curves: Mapping[str, Mapping[str, list[float]]] | None = None) -> dict[str, Any]:
    """The "per_network" entry of results.json, from the scoring run's `EstimateRecord`s (estimator,
    repeat, checkpoint, trial_id, estimate). Lists are aligned with "checkpoints"; trials and networks
    keep the order of the records, estimators that of their first record."""
    checkpoints = [int(c) for c in checkpoints]
    position = {c: i for i, c in enumerate(checkpoints)}
    skipped = set(rank_only)
    names: list[str] = []
    repeats: dict[str, int] = {}
    estimates: dict[tuple[str, str], list[float | None]] = {}
    left_out: set[str] = set()
    missing = object()
    for record in records:
        if record.estimator in skipped:
            left_out.add(record.estimator)
            continue
        if record.estimator not in names:
            names.append(record.estimator)
        repeats.setdefault(record.trial_id, int(record.repeat))
        row = estimates.setdefault((record.estimator, record.trial_id), [missing] * len(checkpoints))
        row[position[int(record.checkpoint)]] = record.estimate
    for (name, trial_id), row in estimates.items():
        if any(v is missing for v in row):
            gaps = [c for c, v in zip(checkpoints, row) if v is missing]
            raise ValueError(f"per_network: {name} has no record for trial {trial_id} at checkpoint(s) {gaps}")

    trials = []
    for trial_id, repeat in repeats.items():
        truth = float(truths[trial_id])
        entry: dict[str, Any] = {"trial_id": trial_id, "repeat": repeat, "config": configs[trial_id],
                                 "truth": truth, "curves": dict((curves or {}).get(trial_id, {})), "estimators": {}}
        for name in names:
            row = estimates.get((name, trial_id))
            if row is None:
                continue
            settle = settle_epoch(checkpoints, row, truth)
            entry["estimators"][name] = {
                "estimates": list(row),
                "abs_error": [abs(_value(e) - truth) for e in row],
                "settle_epoch": settle,
                "speedup": speedup(budget, settle),
                "n_failed": sum(e is None for e in row),
            }
        trials.append(entry)

    networks: dict[str, dict[str, Any]] = {}
    for trial in trials:
        network = networks.setdefault(trial["config"], {"config": trial["config"], "trials": [], "estimators": {}})
        network["trials"].append(trial["trial_id"])
    for network in networks.values():
        mine = [t for t in trials if t["trial_id"] in network["trials"]]
        for name in names:
            per_trial = [t["estimators"][name] for t in mine if name in t["estimators"]]
            if not per_trial:
                continue
            errors = np.array([p["abs_error"] for p in per_trial])
            network["estimators"][name] = {
                "abs_error_mean": errors.mean(axis=0).tolist(),
                "abs_error_std": errors.std(axis=0).tolist(),  # ddof=0 over repeats, as in fhbench.score.metrics
                "settle_epochs": [p["settle_epoch"] for p in per_trial],
                "speedups": [p["speedup"] for p in per_trial],
            }
    return {"band": BAND, "budget": int(budget), "checkpoints": checkpoints,
            "table_epochs": table_epochs(checkpoints, budget), "estimators": names,
            "rank_only_left_out": sorted(left_out),
            "definition": DEFINITION, "networks": list(networks.values()), "trials": trials}


def settle_text(settle: int | None, speed: float | None) -> tuple[str, str]:
    """("75", "2.67x") or ("never", "-") for tables and legends."""
    if settle is None or speed is None or not math.isfinite(speed):
        return "never", "-"
    return str(settle), f"{speed:.2f}x"
