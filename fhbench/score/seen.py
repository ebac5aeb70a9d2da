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

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fhbench.core.errors import TraceError
from fhbench.publish.plots import _pyplot, _save  # one matplotlib setup and one byte-stable PNG writer

OUTCOMES = ("both_right", "only_current_right", "only_final_right", "both_wrong")
_LABELS = {"both_right": "both right (TP)", "only_current_right": "only current right (FP)",
           "only_final_right": "only final right (FN)", "both_wrong": "both wrong (TN)"}
_COLOURS = {"both_right": "#d9d9d9", "only_current_right": "#1f77b4", "only_final_right": "#d62728",
            "both_wrong": "#000000"}
_RIGHT, _WRONG = "#d9d9d9", "#000000"  # the thesis's light gray and black
MAP_ROWS = 200  # images drawn per map, as in Figure 3.2; the numbers use every image


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


def seen_report(traces: Sequence, suite, *, device="cpu", maps: int = 3,
                map_rows: int = MAP_ROWS) -> tuple[dict[str, Any], dict[str, Callable[[Path], None]]]:
    """The analysis of a suite's complete traces at its checkpoints: (the dict for results.json's "seen",
    {file name: a function that draws that PNG at a path}), for `fhbench.publish.provenance.write_directory`.

    The ensemble is fh-ensemble with the suite's [estimators.fh-ensemble] settings; `maps` trials get
    a `seen-<trial>.png` (see `map_trials`), and `breakdown.png` shows the means over all trials."""
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
    title = f"{suite.name} {suite.version}"
    files: dict[str, Callable[[Path], None]] = {"breakdown.png": lambda path: plot_breakdown(results, title, path)}
    for s in seen:
        if s.trial_id in drawn:
            files[f"seen-{s.trial_id}.png"] = lambda path, s=s: plot_map(s, title, path, rows=map_rows)
    return results, files


def _percent(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


def seen_markdown(results: dict[str, Any]) -> list[str]:
    """The leaderboard.md section: per checkpoint, the means of results.json's "seen"."""
    mean = results["mean"]
    lines = ["", "## What the ensemble sees", "",
             f"Validation images against the final model (epoch {results['final_epoch']}), in % (mean over "
             f"{len(results['trials'])} trial(s)), thesis Fig. 3.3: right at the checkpoint and at the end (both "
             f"right), missed at the checkpoint but right at the end (only final right), for the original classifier "
             f"and for {results['ensemble']['estimator']}; recovered: of the images the final model gets right and "
             f"the original classifier misses, the share the ensemble gets right. Plots: `breakdown.png`, "
             f"{', '.join(f'`{name}`' for name in results['maps'].values()) or 'no maps'} (Fig. 3.2).", "",
             "| epoch | original: both right | original: only final right | ensemble: both right "
             "| ensemble: only final right | recovered |",
             "|---:|---:|---:|---:|---:|---:|"]
    for i, epoch in enumerate(results["checkpoints"]):
        cells = [mean["original"]["both_right"][i], mean["original"]["only_final_right"][i],
                 mean["ensemble"]["both_right"][i], mean["ensemble"]["only_final_right"][i], mean["recovered"][i]]
        lines.append(f"| {epoch} | " + " | ".join(_percent(v) for v in cells) + " |")
    return lines


# ---------------------------------------------------------------------------------------------- plots

def _edges(epochs: Sequence[int]) -> np.ndarray:
    """Column edges on the epoch axis: epoch e spans (previous epoch, e], the first starts at 0."""
    return np.concatenate([[0], np.asarray(epochs, dtype=float)])


def plot_map(seen: TrialSeen, title: str, path: str | Path, *, rows: int = MAP_ROWS) -> None:
    """Figure 3.2 for one trial: the original classifier's correctness at every epoch and the ensemble's
    at the checkpoints, the same images in the same rows (sorted by the original's accuracy)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.ticker import MaxNLocator

    if seen.original_correct is None or seen.ensemble_correct is None:
        raise ValueError(f"trial {seen.trial_id}: its correctness was not kept (seen_trial(keep_maps=True))")
    order = accuracy_order(seen.original_correct)
    n, epochs = seen.original_correct.shape
    shown = order[np.unique(np.round(np.linspace(0, n - 1, min(rows, n))).astype(int))]  # evenly spaced ranks
    plt = _pyplot()
    cmap = ListedColormap([_WRONG, _RIGHT])
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.6), sharey=True)
    y = np.arange(len(shown) + 1)
    panels = ((axes[0], seen.original_correct[shown], _edges(range(1, epochs + 1)), "original classifier, every epoch"),
              (axes[1], seen.ensemble_correct[shown], _edges(seen.checkpoints), "fh-ensemble, at the checkpoints"))
    for ax, values, x, name in panels:
        ax.pcolormesh(x, y, values.astype(float), cmap=cmap, vmin=0, vmax=1)
        ax.set_xlim(0, epochs)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(len(shown), 0)
        ax.set_xlabel("epoch")
        ax.set_title(f"{name}: {values.mean():.1%} of cells right", fontsize=10)
    axes[0].set_ylabel(f"validation image ({len(shown)} of {n}, sorted by epochs right)")
    fig.suptitle(f"{title}: trial {seen.trial_id}, which validation images are classified right", fontsize=11)
    rows_text = f"the {n} images" if len(shown) == n else \
        f"{len(shown)} of the {n} images, evenly spaced in the ranking"
    caption = (f"Light gray: right, black: wrong. Rows: {rows_text}, ranked by the number of epochs the "
               f"original classifier gets an image right (most first); the same images in the same rows in both "
               f"panels. Last column of the left panel: the final model (epoch {epochs}). Right panel: the ensemble at "
               f"each checkpoint, drawn across the epochs since the one before. Config: {seen.config}")
    fig.text(0.5, 0.012, textwrap.fill(caption, 150), ha="center", va="bottom", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    _save(fig, Path(path))


def plot_breakdown(results: dict[str, Any], title: str, path: str | Path) -> None:
    """Figure 3.3: per checkpoint, the mean share of validation images in each outcome against the final
    model, for the original classifier and for the ensemble (drawn from the results dict alone)."""
    plt = _pyplot()
    checkpoints = results["checkpoints"]
    positions = np.arange(len(checkpoints))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharey=True)
    for ax, who, name in ((axes[0], "original", "original classifier"), (axes[1], "ensemble", "fh-ensemble")):
        bottom = np.zeros(len(checkpoints))
        for outcome in OUTCOMES:
            share = np.nan_to_num(np.asarray(results["mean"][who][outcome], dtype=float))
            ax.bar(positions, share, bottom=bottom, width=0.8, color=_COLOURS[outcome], label=_LABELS[outcome],
                   edgecolor="white", linewidth=0.3)
            bottom += share
        ax.set_xticks(positions, [str(c) for c in checkpoints])
        ax.set_xlabel("checkpoint epoch")
        ax.set_ylim(0, 1)
        ax.set_title(f"{name} against the final model", fontsize=10)
    axes[0].set_ylabel("share of validation images (mean over trials)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="center right", fontsize=8, frameon=False)
    trials = len(results["trials"])
    fig.suptitle(f"{title}: decisions against the final model (epoch {results['final_epoch']}), "
                 f"{trials} trial{'s' if trials != 1 else ''}", fontsize=11)
    recovered_share = np.asarray(results["mean"]["recovered"], dtype=float)  # results.json writes NaN as null
    shares = ", ".join(f"{c}: {'n/a' if np.isnan(v) else f'{v:.0%}'}" for c, v in zip(checkpoints, recovered_share))
    caption = ("Of the images the final model gets right and the original classifier still misses, the "
               f"ensemble gets right (per checkpoint, mean over trials; n/a: it misses none): {shares}.")
    fig.text(0.45, 0.012, textwrap.fill(caption, 140), ha="center", va="bottom", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.08, 0.8, 0.94))
    _save(fig, Path(path))


__all__ = ["MAP_ROWS", "OUTCOMES", "TrialSeen", "accuracy_order", "breakdown", "correctness", "correctness_map",
           "map_trials", "plot_breakdown", "plot_map", "recovered", "seen_markdown", "seen_report", "seen_trial"]
