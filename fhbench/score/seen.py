"""What the ensemble sees (thesis Figures 3.2 and 3.3): per-image correctness, against the final model.

For suites recorded with `record.predictions`, every trace holds the arg-max class of each validation
image after every epoch. From them:

- the correctness map of a trial: image by epoch, right or wrong, images sorted by the number of
  epochs they are right in (Figure 3.2), beside the feature-history ensemble's map at the checkpoints;
- the breakdown against the final model (the last epoch's predictions) at each checkpoint, for the
  original classifier (the recorded predictions there) and for the ensemble (`FeatureHistoryEnsemble.
  predict` on the view at the checkpoint): both right, only the current classifier right, only the
  final model right, both wrong (Figure 3.3's true positive, false positive, false negative and true
  negative);
- `recovered`: of the images the final model gets right and the original classifier still misses at
  a checkpoint, the fraction the ensemble gets right. This is the thesis's claim in one number: the
  ensemble already decides like the converged network where the current classifier does not.

This is the harness's analysis, not an estimator: it reads each trial's final predictions, its
future, so it runs after scoring and outside the seal; the ensemble itself still sees only views cut
at the checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fhbench.core.errors import TraceError

OUTCOMES = ("both_right", "only_current_right", "only_final_right", "both_wrong")


def correctness(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(epochs, n) predictions and (n,) labels -> (n, epochs) bool: image i right after epoch j + 1."""
    return (np.asarray(predictions) == np.asarray(labels)[None, :]).T


def accuracy_order(correct: np.ndarray) -> np.ndarray:
    """The rows of an (n, epochs) correctness array by how many epochs they are right in, most first;
    ties keep index order."""
    return np.argsort(-correct.sum(1), kind="stable")


def correctness_map(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The correctness map with images sorted by `accuracy_order`, and that order:
    (map, order) with map == correctness(predictions, labels)[order]."""
    correct = correctness(predictions, labels)
    order = accuracy_order(correct)
    return correct[order], order


def breakdown(current: np.ndarray, final: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The fraction of images in each of OUTCOMES, the current classifier's predictions against the
    final model's."""
    now, then = np.asarray(current) == labels, np.asarray(final) == labels
    counts = {"both_right": now & then, "only_current_right": now & ~then, "only_final_right": ~now & then,
              "both_wrong": ~now & ~then}
    return {name: float(counts[name].mean()) for name in OUTCOMES}


def recovered(original: np.ndarray, ensemble: np.ndarray, final: np.ndarray, labels: np.ndarray) -> float:
    """Of the images the final model gets right and the original classifier misses, the fraction the
    ensemble gets right; NaN where there are none."""
    missed = (np.asarray(final) == labels) & (np.asarray(original) != labels)
    return float(np.mean(np.asarray(ensemble)[missed] == labels[missed])) if missed.any() else float("nan")


@dataclass
class TrialSeen:
    """One trial's breakdowns per checkpoint (OUTCOMES -> list over checkpoints), and, for a trial whose
    map is drawn, the original (n, epochs) and ensemble (n, checkpoints) correctness, unsorted."""

    trial_id: str
    config: str
    checkpoints: tuple[int, ...]
    original: dict[str, list[float]]
    ensemble: dict[str, list[float]]
    recovered: list[float]
    original_correct: np.ndarray | None = None
    ensemble_correct: np.ndarray | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"original": self.original, "ensemble": self.ensemble, "recovered": self.recovered}


def seen_trial(trace, ensemble, checkpoints: Sequence[int], *, keep_maps: bool = False) -> TrialSeen:
    """Breakdowns of one complete trace at `checkpoints`; `ensemble` has `predict(view)`."""
    if trace.status != "complete":
        raise ValueError(f"trace {trace.trial_id} is {trace.status}: it has no final model to compare with")
    if not trace.has_predictions:
        raise TraceError(f"trace {trace.path}: recorded without predictions (the suite's record.predictions "
                         f"was off): record it again with record.predictions = true")
    predictions = trace.predictions()
    labels = trace.labels("val").numpy()
    final = predictions[-1]
    original = {name: [] for name in OUTCOMES}
    ensemble_outcomes = {name: [] for name in OUTCOMES}
    recovered_share, ensemble_correct = [], []
    for c in checkpoints:
        predicted = np.asarray(ensemble.predict(trace.view(c)))
        for target, current in ((original, predictions[c - 1]), (ensemble_outcomes, predicted)):
            for name, value in breakdown(current, final, labels).items():
                target[name].append(value)
        recovered_share.append(recovered(predictions[c - 1], predicted, final, labels))
        if keep_maps:
            ensemble_correct.append(predicted == labels)
    return TrialSeen(trace.trial_id, trace.config, tuple(checkpoints), original, ensemble_outcomes, recovered_share,
                     correctness(predictions, labels) if keep_maps else None,
                     np.stack(ensemble_correct, axis=1) if keep_maps else None)


def map_trials(traces: Sequence, count: int) -> list[str]:
    """The trials whose maps are drawn: `count` spread evenly over the final validation accuracy, best
    first (ties by trial id), so the maps show a strong, a middling and a weak network."""
    ranked = sorted(traces, key=lambda t: (-float(t.curve("val_acc")[-1]), t.trial_id))
    if not ranked or count < 1:
        return []
    picks = np.unique(np.round(np.linspace(0, len(ranked) - 1, min(count, len(ranked)))).astype(int))
    return [ranked[i].trial_id for i in picks]


def _mean(values: Sequence[Sequence[float]]) -> list[float]:
    """Per checkpoint, the mean over trials of the defined values (NaN where none is)."""
    table = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(table)
    sums = np.where(defined, table, 0.0).sum(0)
    return [float(s / n) if n else float("nan") for s, n in zip(sums, defined.sum(0))]


def seen_report(traces: Sequence, suite, *, device="cpu", maps: int = 3) -> tuple[dict[str, Any], list[TrialSeen]]:
    """The analysis of a suite's complete traces at its checkpoints: (the dict for results.json's "seen",
    the `maps` trials whose correctness maps were kept, see `map_trials`), which
    `fhbench.publish.seen_plots.seen_files` draws.

    The ensemble is fh-ensemble with the suite's [estimators.fh-ensemble] settings."""
    from fhbench.estimators import create_estimator

    complete = [t for t in traces if t.status == "complete"]
    if not complete:
        raise ValueError("no complete trace: nothing to compare with a final model")
    settings = suite.estimator_settings.get("fh-ensemble")
    ensemble = create_estimator("fh-ensemble", settings, device=device)
    if not callable(getattr(ensemble, "predict", None)):
        raise TypeError(f"the installed fh-ensemble ({type(ensemble).__name__}) has no predict(view)")
    drawn = set(map_trials(complete, maps))
    checkpoints = tuple(suite.checkpoints)
    seen = [seen_trial(t, ensemble, checkpoints, keep_maps=t.trial_id in drawn) for t in complete]
    results = {
        "outcomes": list(OUTCOMES),
        "checkpoints": list(checkpoints),
        "final_epoch": suite.train.epochs,
        "validation_images": int(complete[0].manifest["shapes"]["val"]),
        "ensemble": {"estimator": ensemble.name, "version": ensemble.version, "settings": dict(settings or {})},
        "mean": {"original": {n: _mean([s.original[n] for s in seen]) for n in OUTCOMES},
                 "ensemble": {n: _mean([s.ensemble[n] for s in seen]) for n in OUTCOMES},
                 "recovered": _mean([s.recovered for s in seen])},
        "trials": {s.trial_id: s.as_dict() for s in seen},
        "maps": {s.trial_id: f"seen-{s.trial_id}.png" for s in seen if s.trial_id in drawn},
    }
    return results, [s for s in seen if s.trial_id in drawn]


__all__ = ["OUTCOMES", "TrialSeen", "accuracy_order", "breakdown", "correctness", "correctness_map",
           "map_trials", "recovered", "seen_report", "seen_trial"]
