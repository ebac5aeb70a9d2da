"""The plots and the leaderboard.md section of `fhbench.score.seen`'s analysis (thesis Figures 3.2, 3.3)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fhbench.publish.png import pyplot, save_png
from fhbench.score.seen import OUTCOMES, TrialSeen, accuracy_order

_LABELS = {"both_right": "both right (TP)", "only_current_right": "only current right (FP)",
           "only_final_right": "only final right (FN)", "both_wrong": "both wrong (TN)"}
_COLOURS = {"both_right": "#d9d9d9", "only_current_right": "#1f77b4", "only_final_right": "#d62728",
            "both_wrong": "#000000"}
_RIGHT, _WRONG = "#d9d9d9", "#000000"  # the thesis's light gray and black
MAP_ROWS = 200  # images drawn per map, as in Figure 3.2; the numbers use every image


def seen_files(results: dict[str, Any], maps: Sequence[TrialSeen], title: str, *,
               map_rows: int = MAP_ROWS) -> dict[str, Callable[[Path], None]]:
    """{file name: a function that draws that PNG at a path}, for `fhbench.publish.provenance.write_directory`:
    `breakdown.png` (the means over all trials) and a `seen-<trial>.png` per kept map."""
    files: dict[str, Callable[[Path], None]] = {"breakdown.png": lambda path: plot_breakdown(results, title, path)}
    for seen in maps:
        files[f"seen-{seen.trial_id}.png"] = lambda path, seen=seen: plot_map(seen, title, path, rows=map_rows)
    return files


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
    plt = pyplot()
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
    save_png(fig, Path(path))


def plot_breakdown(results: dict[str, Any], title: str, path: str | Path) -> None:
    """Figure 3.3: per checkpoint, the mean share of validation images in each outcome against the final
    model, for the original classifier and for the ensemble (drawn from the results dict alone)."""
    plt = pyplot()
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
    save_png(fig, Path(path))


__all__ = ["MAP_ROWS", "plot_breakdown", "plot_map", "seen_files", "seen_markdown"]
