"""Publishing: ``leaderboard/<suite>/<suite-version>/`` with results.json, leaderboard.csv,
leaderboard.md and two PNG plots (absolute error and Kendall tau against epoch; thesis Figs 4.3, 4.4).

The results header, the JSON formatting and the atomic directory swap are `fhbench.publish`'s, shared
with search leaderboards. Numbers are written with fixed formatting so that scoring the same traces
again gives the same bytes, except for the date and the measured overhead timings.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fhbench.publish import ESTIMATION_METRICS, results_json, write_directory
from fhbench.score import Row

__all__ = ["CSV_COLUMNS", "ESTIMATION_METRICS", "publish", "render_csv", "render_markdown"]

CSV_COLUMNS = [
    "estimator", "epoch", "budget_fraction", "mae_mean", "mae_std", "kendall_tau_mean", "kendall_tau_std",
    "spearman_rho_mean", "spearman_rho_std", "overhead_s_mean", "overhead_s_std", "overhead_epochs_mean",
    "overhead_epochs_std", "n_estimates", "n_failed", "coverage",
]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def render_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row.as_dict()
        writer.writerow([_fmt(data[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _pm(mean: float, std: float, scale: float = 1.0, digits: int = 2) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _truth_text(truth: Any) -> str:
    if isinstance(truth, dict):
        return f"`{truth.get('spec', '?')}` ({truth.get('source', '')})" if truth.get("source") else \
            f"`{truth.get('spec', '?')}`"
    return f"`{truth}`"


def render_markdown(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"# {meta['suite']['name']} {meta['suite']['version']}",
        "",
        f"{meta['suite']['description']}".strip(),
        "",
        f"Dataset copy: `{meta['dataset_source']}`. Truth: {_truth_text(meta['truth'])}. "
        f"Trials scored: {meta['trials_scored']} over {meta['repeats']} repeat(s); "
        f"failed trials: {len(meta['failed_trials'])}. Traces hash `{meta['traces_hash'][:16]}`.",
        "",
        "MAE is in accuracy percentage points; each cell is mean ± std over repeats. Overhead is the "
        "estimator's wall time per trial, also in epochs of the same trial's training.",
        *(["", f"Failed estimates: {meta['failed_estimate_rule']}."] if meta.get("failed_estimate_rule") else []),
        "",
        "| epoch | estimator | MAE (pp) | Kendall tau | Spearman rho | overhead (s) | overhead (epochs) | failed |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.epoch} | {r.estimator} | {_pm(r.mae_mean, r.mae_std, 100)} | "
            f"{_pm(r.kendall_tau_mean, r.kendall_tau_std, digits=3)} | "
            f"{_pm(r.spearman_rho_mean, r.spearman_rho_std, digits=3)} | "
            f"{_pm(r.overhead_s_mean, r.overhead_s_std, digits=3)} | "
            f"{_pm(r.overhead_epochs_mean, r.overhead_epochs_std, digits=3)} | {r.n_failed} |")
    if meta["failures"]:
        lines += ["", f"{len(meta['failures'])} failed estimate(s); the first few:", ""]
        for failure in meta["failures"][:10]:
            lines.append(f"- {failure['estimator']} at epoch {failure['checkpoint']} on "
                         f"{failure['trial_id']}: {failure['error']}")
    lines += ["", "Plots: `mae.png`, `kendall_tau.png`. Every row and the environment: `results.json`.", ""]
    return "\n".join(lines)


def _plot(rows: Sequence[Row], metric: str, ylabel: str, scale: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for estimator in sorted({r.estimator for r in rows}):
        mine = [r for r in rows if r.estimator == estimator]
        epochs = [r.epoch for r in mine]
        mean = [getattr(r, f"{metric}_mean") * scale for r in mine]
        std = [getattr(r, f"{metric}_std") * scale for r in mine]
        ax.errorbar(epochs, mean, yerr=std, marker="o", capsize=3, label=estimator)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if rows:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def publish(root: str | Path, rows: Sequence[Row], header: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Writes the leaderboard of one suite version; returns its directory.

    `header` comes from `fhbench.publish.results_header("estimation", ...)`; `extra` holds what an
    estimation leaderboard adds (dataset_source, repeats, trials_scored, failed_trials, truths,
    failures, estimates, seeds).
    """
    final = Path(root) / header["suite"]["name"] / header["suite"]["version"]
    extra = dict(extra or {})
    meta = {**header, **extra}
    return write_directory(final, {
        "results.json": results_json(header, rows, extra),
        "leaderboard.csv": render_csv(rows),
        "leaderboard.md": render_markdown(rows, meta),
        "mae.png": lambda path: _plot(rows, "mae", "absolute error (pp)", 100, path),
        "kendall_tau.png": lambda path: _plot(rows, "kendall_tau", "Kendall tau", 1, path),
    })
