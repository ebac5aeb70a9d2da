"""Average ranks across boards with a Friedman test and a Nemenyi critical-difference diagram (Demsar
2006), the AutoML field's answer to "which estimators can be told apart over many tasks?".

Blocks are (suite, checkpoint) pairs of the latest version of each estimation suite whose board has
intervals (results schema 3) and at least `MIN_CELLS_PER_REPEAT` cells in every repeat; each block ranks
the estimators by Kendall tau. Only estimators present in every block are ranked (complete blocks), and
the diagram is drawn only over at least `MIN_BLOCKS` blocks. The checkpoints of one board share their
cells, so its blocks are not independent: the test is a summary, not a proof, and the text says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fhbench.publish.png import pyplot, save_png
from fhbench.score.stats import CriticalDifference, friedman_nemenyi

MIN_CELLS_PER_REPEAT = 20
MIN_BLOCKS = 5
SHARED_CELLS_NOTE = ("the checkpoints of one board share their cells, so its blocks are not independent: "
                     "read the test as a summary across boards, not as a proof")


@dataclass(frozen=True)
class RankSummary:
    blocks: tuple[str, ...]  # "suite@epoch" labels of the blocks used
    left_out: tuple[str, ...]  # "suite: why" for boards that gave no block
    result: CriticalDifference | None  # None: too few blocks or estimators (see `why`)
    why: str = ""


def _cells_per_repeat(header: dict) -> int:
    sizes = [size for checkpoint in (header.get("statistics") or {}).get("checkpoints", [])
             for size in checkpoint.get("cells_per_repeat", [])]
    return min(sizes) if sizes else 0


def rank_summary(boards: Iterable[tuple[str, dict, Sequence[dict]]]) -> RankSummary:
    """`boards`: (suite, results header, rows) of the latest version of each suite."""
    blocks: dict[str, dict[str, float]] = {}
    left_out = []
    for suite, header, rows in boards:
        if header.get("kind") != "estimation":
            continue
        if not header.get("statistics"):
            left_out.append(f"{suite}: published without intervals")
            continue
        cells = _cells_per_repeat(header)
        if cells < MIN_CELLS_PER_REPEAT:
            left_out.append(f"{suite}: {cells} cells per repeat, fewer than {MIN_CELLS_PER_REPEAT}")
            continue
        for row in rows:
            tau = row.get("kendall_tau_mean")
            if isinstance(tau, (int, float)) and math.isfinite(tau):
                label = f"{suite}@{row.get('epoch')}" + (f"-b{row['budget']}" if row.get("budget") else "")
                blocks.setdefault(label, {})[str(row.get("estimator"))] = float(tau)
    labels = tuple(sorted(blocks))
    if len(labels) < MIN_BLOCKS:
        return RankSummary(labels, tuple(left_out), None,
                           f"{len(labels)} block(s) qualify, fewer than {MIN_BLOCKS}: no diagram")
    common = sorted(set.intersection(*(set(scores) for scores in blocks.values())))
    if len(common) < 2:
        return RankSummary(labels, tuple(left_out), None, "fewer than two estimators appear in every block")
    scores = np.array([[blocks[label][name] for name in common] for label in labels])
    return RankSummary(labels, tuple(left_out), friedman_nemenyi(scores, common))


def summary_lines(summary: RankSummary) -> list[str]:
    """What the diagram shows, in words (for the site and leaderboard pages)."""
    if summary.result is None:
        return [f"Average ranks across boards: not drawn ({summary.why})."]
    r = summary.result
    order = sorted(zip(r.average_ranks, r.estimators))
    ranks = ", ".join(f"{name} {rank:.2f}" for rank, name in order)
    groups = "; ".join(" = ".join(group) for group in r.groups) or "none"
    return [f"Average rank by Kendall tau over {r.n_blocks} blocks ({', '.join(summary.blocks)}): {ranks}. "
            f"Friedman p = {r.friedman_p:.3g}; Nemenyi critical difference {r.cd:.2f} at alpha {r.alpha}: "
            f"estimators closer than that cannot be told apart (groups: {groups}). Note: {SHARED_CELLS_NOTE}."]


def plot_critical_difference(summary: RankSummary, path: str | Path) -> None:
    """The classic diagram: a rank axis, each estimator at its average rank, the critical difference as a
    bar, and a thick line joining each group that cannot be told apart."""
    r = summary.result
    if r is None:
        raise ValueError(summary.why)
    plt = pyplot()
    k = len(r.estimators)
    order = sorted(zip(r.average_ranks, r.estimators))
    below = 0.35 + 0.25 * len(r.groups)  # the group bars sit under the axis, the names under them
    fig, ax = plt.subplots(figsize=(8.0, 2.0 + 0.3 * k), dpi=100)
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-(k // 2 + 2 + below), 2.2)
    ax.axhline(0, color="black", linewidth=1)
    for tick in range(1, k + 1):
        ax.plot([tick, tick], [0, 0.15], color="black", linewidth=1)
        ax.text(tick, 0.3, str(tick), ha="center", va="bottom", fontsize=8)
    half = (k + 1) // 2
    for index, (rank, name) in enumerate(order):
        left = index < half
        depth = -below - (index + 1 if left else k - index)
        x_text = 0.55 if left else k + 0.45
        ax.plot([rank, rank, x_text], [0, depth, depth], color="#444444", linewidth=0.8)
        ax.text(x_text, depth, f"{name} ({rank:.2f})", ha="left" if left else "right", va="bottom", fontsize=8)
    ax.plot([1, 1 + r.cd], [1.5, 1.5], color="#d62728", linewidth=2)
    ax.text(1 + r.cd / 2, 1.6, f"critical difference {r.cd:.2f}", ha="center", va="bottom", fontsize=8,
            color="#d62728")
    for offset, group in enumerate(r.groups):
        ranks = [rank for rank, name in order if name in group]
        y = -0.35 - 0.25 * offset
        ax.plot([min(ranks) - 0.03, max(ranks) + 0.03], [y, y], color="black", linewidth=3, solid_capstyle="butt")
    ax.axis("off")
    ax.set_title(f"Average rank by Kendall tau over {r.n_blocks} (suite, checkpoint) blocks, 1 = best; "
                 f"Friedman p = {r.friedman_p:.3g}\nthick lines join estimators that cannot be told apart "
                 f"(Nemenyi, alpha {r.alpha})", fontsize=9)
    fig.text(0.5, 0.01, "The checkpoints of one board share their cells: its blocks are not independent.",
             ha="center", va="bottom", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_png(fig, Path(path))


__all__ = ["MIN_BLOCKS", "MIN_CELLS_PER_REPEAT", "RankSummary", "plot_critical_difference", "rank_summary",
           "summary_lines"]
