"""Check a published board's intervals with a bootstrap written apart from fhbench's own.

fhbench/score/stats.py computes every interval with resampling weights (a resample is a vector of cell
counts, the metrics weighted by them) so that 1,000 resamples of 20 estimators stay cheap. This script
does the same statistics the plain way, sharing no code with it: draw cells with replacement within
each repeat (numpy's Generator, another seed), expand the resample into arrays with the copies,
and call scipy.stats.kendalltau / spearmanr on them; a failed estimate counts 0.0 and a repeat whose
rank correlation is undefined counts 0, as the board says. Precision at the top 10% (k = ceil(n / 10)
copies) is the expected overlap with ties broken at random, by the definition results.json states (a
cell's copies share min(X, Y) places, X and Y hypergeometric: see expected_top_overlap). It reads only the board's files (estimates.csv, results.json's truths and rows).

    python benchmarks/independent_bootstrap.py leaderboard/nb201-cpu/3 --resamples 2000 --seed 20261207

Prints the largest endpoint difference per metric (every estimator's interval and every pairwise
difference's interval) and exits 1 if any exceeds --tolerance (default 0.03).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

FAILED = 0.0


def read_board(board: Path):
    results = json.loads((board / "results.json").read_text())
    truths = results["truths"]
    table: dict[tuple[str, int], dict[tuple[int, str], float]] = defaultdict(dict)
    with open(board / results.get("estimates_file", "estimates.csv"), newline="") as handle:
        for row in csv.DictReader(handle):
            value = float(row["estimate"]) if row["estimate"] not in ("", "None") else FAILED
            table[(row["estimator"], int(row["checkpoint"]))][(int(row["repeat"]), row["trial_id"])] = value
    return results, truths, table


def expected_top_overlap(estimates: np.ndarray, truths: np.ndarray, cells: np.ndarray) -> float:
    """Expected |estimator's top k & true top k| / k over random tie-breaking, k = ceil(n / 10) copies.

    A cell drawn c times is c copies of one architecture: its copies are ordered among themselves the same
    way by estimate and by truth, so if the estimator's top k takes X of them and the truth's Y, they share
    min(X, Y). X (and Y) is hypergeometric: the top k's slots left at the cell's tie group, drawn from the
    group's copies, of which c are this cell's; the two rankings break ties independently."""
    n = len(cells)
    k = math.ceil(n / 10)
    _, first, copies = np.unique(cells, return_index=True, return_counts=True)
    group_e, slots_e = tie_groups(estimates[first], copies, k)
    group_t, slots_t = tie_groups(truths[first], copies, k)
    overlap = 0.0
    for c, ge, se, gt, st in zip(copies, group_e, slots_e, group_t, slots_t):
        if se == 0 or st == 0:
            continue
        if se == ge or st == gt:  # one ranking takes every copy: the overlap is the other's expected count
            overlap += c * (se / ge) * (st / gt)
            continue
        m = np.arange(1, c + 1)
        overlap += float(np.sum(stats.hypergeom.sf(m - 1, ge, c, se) * stats.hypergeom.sf(m - 1, gt, c, st)))
    return overlap / k


def tie_groups(values: np.ndarray, copies: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the copies in its tie group and how many of the k top places that group gets."""
    order = np.argsort(-values, kind="stable")
    sorted_values, sorted_copies = values[order], copies[order]
    _, start, inverse = np.unique(-sorted_values, return_index=True, return_inverse=True)
    group_copies = np.add.reduceat(sorted_copies, start)
    above = np.concatenate([[0], np.cumsum(group_copies)[:-1]])
    slots = np.clip(k - above, 0, group_copies)
    group, share = np.empty(len(values)), np.empty(len(values))
    group[order], share[order] = group_copies[inverse], slots[inverse]
    return group.astype(int), share.astype(int)


def metrics_of(estimates: np.ndarray, truths: np.ndarray, cells: np.ndarray) -> dict[str, float]:
    def defined(result) -> float:
        value = float(result.statistic)
        return 0.0 if math.isnan(value) else value

    constant = len(set(estimates.tolist())) < 2 or len(set(truths.tolist())) < 2
    return {
        "mae": float(np.mean(np.abs(estimates - truths))),
        "kendall_tau": 0.0 if constant else defined(stats.kendalltau(estimates, truths)),
        "spearman_rho": 0.0 if constant else defined(stats.spearmanr(estimates, truths)),
        "top10_precision": expected_top_overlap(estimates, truths, cells),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("board", type=Path)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--tolerance", type=float, default=0.03)
    args = parser.parse_args()
    results, truth_of, table = read_board(args.board)
    statistics = results["statistics"]
    rows = {(row["estimator"], row["epoch"]): row for row in results["rows"]}
    worst: dict[str, float] = defaultdict(float)
    where: dict[str, str] = {}

    def note(key: str, gap: float, what: str) -> None:
        if gap >= worst[key]:
            worst[key], where[key] = gap, what
    for checkpoint in statistics["checkpoints"]:
        epoch = checkpoint["epoch"]
        names = sorted({name for name, at in table if at == epoch})
        trials = sorted(table[(names[0], epoch)])
        repeats = sorted({repeat for repeat, _ in trials})
        by_repeat = {r: [t for t in trials if t[0] == r] for r in repeats}
        rng = np.random.default_rng(args.seed + epoch)
        draws = [{r: rng.integers(0, len(by_repeat[r]), len(by_repeat[r])) for r in repeats}
                 for _ in range(args.resamples)]
        samples: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in names}
        for name in names:
            for draw in draws:
                per_repeat = []
                for r in repeats:
                    chosen = [by_repeat[r][i] for i in draw[r]]
                    estimates = np.array([table[(name, epoch)][t] for t in chosen])
                    truths = np.array([truth_of[t[1]] for t in chosen])
                    per_repeat.append(metrics_of(estimates, truths, np.array([t[1] for t in chosen])))
                for metric in per_repeat[0]:
                    samples[name][metric].append(float(np.mean([m[metric] for m in per_repeat])))
        for name in names:
            row = rows[(name, epoch)]
            for metric, values in samples[name].items():
                if row.get(f"{metric}_lo") is None:
                    continue
                lo, hi = np.percentile(values, [2.5, 97.5])
                note(metric, max(abs(lo - row[f"{metric}_lo"]), abs(hi - row[f"{metric}_hi"])),
                     f"{name} at epoch {epoch}: [{lo:.4f}, {hi:.4f}] here, "
                     f"[{row[f'{metric}_lo']:.4f}, {row[f'{metric}_hi']:.4f}] on the board")
        for metric, pairs in checkpoint["pairs"].items():
            for pair in pairs:
                difference = (np.array(samples[pair["first"]][metric]) - np.array(samples[pair["second"]][metric]))
                lo, hi = np.percentile(difference, [2.5, 97.5])
                note(f"{metric} differences", max(abs(lo - pair["lo"]), abs(hi - pair["hi"])),
                     f"{pair['first']} - {pair['second']} at epoch {epoch}: [{lo:.4f}, {hi:.4f}] here, "
                     f"[{pair['lo']:.4f}, {pair['hi']:.4f}] on the board")
        print(f"epoch {epoch}: {len(names)} estimators, {len(trials)} cells", flush=True)
    failed = {key: value for key, value in worst.items() if value > args.tolerance}
    print(f"largest endpoint difference against {args.board} (B = {args.resamples}, seed {args.seed}; the board's "
          f"B = {statistics['n_resamples']}, seed {statistics['seed']}):")
    for key, value in sorted(worst.items()):
        print(f"  {key}: {value:.4f}{'  > tolerance' if key in failed else ''} ({where[key]})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
