"""Publishing: ``leaderboard/<suite>/<suite-version>/`` with results.json, leaderboard.csv,
leaderboard.md and two PNG plots (absolute error and Kendall tau against epoch; thesis Figs 4.3, 4.4).

The directory is written beside its final place and swapped in whole, so a killed run leaves either
the previous leaderboard or the new one, never a mix. Numbers are written with fixed formatting so
that scoring the same traces again gives the same bytes, except for the date and the measured
overhead timings.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fhbench.score import Row

CSV_COLUMNS = [
    "estimator", "epoch", "budget_fraction", "mae_mean", "mae_std", "kendall_tau_mean", "kendall_tau_std",
    "spearman_rho_mean", "spearman_rho_std", "overhead_s_mean", "overhead_s_std", "overhead_epochs_mean",
    "overhead_epochs_std", "n_estimates", "n_failed",
]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _clean(value: Any) -> Any:
    """JSON has no NaN: write null instead, and round floats so the file is stable."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


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


def render_markdown(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"# {meta['suite']['name']} {meta['suite']['version']}",
        "",
        f"{meta['suite']['description']}".strip(),
        "",
        f"Dataset copy: `{meta['dataset_source']}`. Truth: `{meta['truth']}`. "
        f"Trials scored: {meta['trials_scored']} over {meta['repeats']} repeat(s); "
        f"failed trials: {len(meta['failed_trials'])}. Traces hash `{meta['traces_hash'][:16]}`.",
        "",
        "MAE is in accuracy percentage points; each cell is mean ± std over repeats. Overhead is the "
        "estimator's wall time per trial, also in epochs of the same trial's training.",
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


def write_directory(final: Path, files: dict[str, object]) -> Path:
    """Writes `files` (name -> str, or a callable that writes the path it is given) into a staging
    directory beside `final` and swaps it in whole."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name, content in files.items():
        if callable(content):
            content(staging / name)
        else:
            (staging / name).write_text(content)
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if old.exists():
        shutil.rmtree(old)
    return final


def results_json(meta: dict[str, Any], rows: Sequence) -> str:
    return json.dumps(_clean({**meta, "rows": [row.as_dict() for row in rows]}), indent=1, sort_keys=True) + "\n"


def publish(root: str | Path, rows: Sequence[Row], meta: dict[str, Any]) -> Path:
    """Writes the leaderboard of one suite version; returns its directory."""
    final = Path(root) / meta["suite"]["name"] / meta["suite"]["version"]
    return write_directory(final, {
        "results.json": results_json(meta, rows),
        "leaderboard.csv": render_csv(rows),
        "leaderboard.md": render_markdown(rows, meta),
        "mae.png": lambda path: _plot(rows, "mae", "absolute error (pp)", 100, path),
        "kendall_tau.png": lambda path: _plot(rows, "kendall_tau", "Kendall tau", 1, path),
    })
