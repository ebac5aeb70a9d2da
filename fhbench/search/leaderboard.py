"""The search leaderboard: a Table 4.1-style table (algorithm by estimator) and regret against
simulated time, written like the estimation leaderboards (`fhbench.leaderboard`)."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fhbench.leaderboard import results_json, write_directory

COLUMNS = ["algorithm", "estimator", "true_acc_mean", "true_acc_std", "regret_mean", "regret_std",
           "simulated_time_s_mean", "configs_evaluated_mean", "jobs_mean", "seeds"]


def render_csv(rows: Sequence) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        data = row.as_dict()
        writer.writerow([f"{data[c]:.6g}" if isinstance(data[c], float) else data[c] for c in COLUMNS])
    return out.getvalue()


def render_markdown(rows: Sequence, meta: dict) -> str:
    lines = [
        f"# {meta['suite']['name']} {meta['suite']['version']}",
        "",
        meta["suite"]["description"],
        "",
        f"Truth: {meta['truth']['source']}; optimum {100 * meta['truth']['optimum']:.2f}% "
        f"(`{meta['truth']['optimum_cell']}`). Pool: {len(meta['pool'])} recorded cells "
        f"(`{meta['dataset_source']}`). Each search gets {meta['time_budget_s']:.0f} simulated seconds.",
        "",
        "Accuracy and regret in percent, mean ± std over seeds; time in simulated seconds.",
        "",
        "| algorithm | estimator | true accuracy | regret | simulated time | configs evaluated | jobs |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.algorithm} | {r.estimator} | {100 * r.true_acc_mean:.2f} ± {100 * r.true_acc_std:.2f} | "
                     f"{100 * r.regret_mean:.2f} ± {100 * r.regret_std:.2f} | {r.simulated_time_s_mean:.0f} | "
                     f"{r.configs_evaluated_mean:.1f} | {r.jobs_mean:.1f} |")
    failures = {k: v for k, v in meta["estimate_failures"].items() if v}
    for name, items in failures.items():
        lines += ["", f"{name}: {len(items)} failed estimate(s) ranked last, e.g. {items[0]}"]
    lines += ["", "Plot: `regret.png`. Every run, its incumbent and trajectory: `results.json`.", ""]
    return "\n".join(lines)


def plot_regret(meta: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    optimum = meta["truth"]["optimum"]
    pool_truth = meta["pool_truth"]
    grid = np.linspace(0, meta["time_budget_s"], 200)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    groups = sorted({(r["algorithm"], r["estimator"]) for r in meta["runs"]})
    for algorithm, estimator in groups:
        curves = []
        for run in (r for r in meta["runs"] if (r["algorithm"], r["estimator"]) == (algorithm, estimator)):
            regret = np.full(len(grid), np.nan)
            for time, incumbent in run["trajectory"]:
                regret[grid >= time] = 100 * (optimum - pool_truth[incumbent])
            curves.append(regret)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # before a search's first result: no regret yet
            mean = np.nanmean(np.array(curves), axis=0)
        ax.plot(grid, mean, label=f"{algorithm} + {estimator}")
    ax.set_xlabel("simulated search time (s)")
    ax.set_ylabel("regret (percentage points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def publish_search(root: str | Path, rows: Sequence, meta: dict) -> Path:
    final = Path(root) / meta["suite"]["name"] / meta["suite"]["version"]
    return write_directory(final, {
        "results.json": results_json(meta, rows),
        "leaderboard.csv": render_csv(rows),
        "leaderboard.md": render_markdown(rows, meta),
        "regret.png": lambda path: plot_regret(meta, path),
    })
