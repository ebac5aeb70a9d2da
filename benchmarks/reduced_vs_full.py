"""Does the reduced CPU board predict the full scale? Each estimator's rank on both, and how the ranks agree.

    python benchmarks/reduced_vs_full.py [--reduced leaderboard/nb201-cpu/3] [--full leaderboard/nb201-zc/1]
        [--out docs/reduced-vs-full.md] [--resamples 4000] [--seed 0]

For the estimators that both boards score, at each checkpoint of the reduced board: each one's Kendall tau
on either board with its 95% interval, its rank among them on either board, and Kendall's tau between the
two rankings with a 95% interval. The interval comes from a bootstrap over the cells of both boards: in
each resample the cells of the reduced board and those of the full board are drawn independently (each
board's cells with replacement, within each of its repeats, as the boards' own intervals are drawn), every
shared estimator's Kendall tau is recomputed on each board's resample, the estimators are ranked on each,
and the two rankings are correlated; the interval is the 2.5 and 97.5 percentiles of those correlations.

Only boards' files are read (results.json and estimates.csv); nothing is recorded or estimated again.
Curve estimators at full scale need real NAS-Bench-201 curves (imported, not synthetic): without a board of
them the page says so and leaves that part empty.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from fhbench.core.errors import FhbenchError
from fhbench.publish.board_files import read_results
from fhbench.publish.estimation_board import interval_text
from fhbench.score import stats
from fhbench.score.published import published_records

CONFIDENCE = 0.95
# A published row's tau and the one recomputed here from the same estimates agree to rounding.
_SAME = 1e-8


def rank_agreement(first, second) -> float:
    """Kendall's tau-b between two orderings of the same estimators (given as their scores); 0 where it
    is undefined (one side ties every estimator), the boards' own convention for no information."""
    tau = scipy_stats.kendalltau(np.asarray(first, dtype=float), np.asarray(second, dtype=float)).statistic
    return 0.0 if tau is None or not math.isfinite(tau) else float(tau)


def ranks(scores) -> np.ndarray:
    """1 for the highest score; tied scores share their average rank."""
    return scipy_stats.rankdata(-np.asarray(scores, dtype=float), method="average")


@dataclass(frozen=True)
class BoardTaus:
    """Kendall tau of each of `estimators` on one board's checkpoint: on its cells (`point`) and on each
    of `n_resamples` resamples of its cells (`resampled`, shape (estimator, resample))."""
    estimators: tuple[str, ...]
    point: np.ndarray
    resampled: np.ndarray


def board_taus(results: dict, estimators: tuple[str, ...], checkpoint: int, n_resamples: int, seed: int) -> BoardTaus:
    """Each estimator's Kendall tau at `checkpoint`, recomputed from the board's estimates and truths as
    the board scored them (a failure counts as 0.0), and on `n_resamples` resamples of its cells (drawn
    within each repeat, the same cells for every estimator). Refused where the recomputed tau is not the
    published one."""
    truths = {str(t): float(v) for t, v in results["truths"].items()}
    table = stats.table_from_records(published_records(results), truths, checkpoint, estimators=estimators)
    ones = np.ones((1, len(table.trial_ids)))
    point = stats.weighted_metrics(table.estimates, table.truths, table.repeats, ones)["kendall_tau"][:, 0]
    published = {(r["estimator"], r["epoch"]): r["kendall_tau_mean"] for r in results["rows"]}
    for name, value in zip(estimators, point):
        if abs(published[(name, checkpoint)] - value) > _SAME:
            raise FhbenchError(f"{name} at epoch {checkpoint}: its estimates give Kendall tau {value:.6f}, its row "
                               f"says {published[(name, checkpoint)]:.6f}")
    weights = stats.resample_weights(table.repeats, n_resamples, seed)
    resampled = stats.weighted_metrics(table.estimates, table.truths, table.repeats, weights)["kendall_tau"]
    return BoardTaus(estimators, point, resampled)


@dataclass(frozen=True)
class Agreement:
    point: float
    lo: float
    hi: float
    resampled: np.ndarray


def agreement(reduced: BoardTaus, full: BoardTaus) -> Agreement:
    """Kendall's tau between the estimators' rankings on the two boards, with its percentile interval over
    the paired resamples (resample b of one board beside resample b of the other, drawn independently)."""
    if reduced.estimators != full.estimators:
        raise ValueError("the two boards' taus are not of the same estimators in the same order")
    samples = np.array([rank_agreement(reduced.resampled[:, b], full.resampled[:, b])
                        for b in range(reduced.resampled.shape[1])])
    tail = 100 * (1 - CONFIDENCE) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return Agreement(rank_agreement(reduced.point, full.point), float(lo), float(hi), samples)


def checkpoints(results: dict) -> list[int]:
    return sorted({int(r["epoch"]) for r in results["rows"]})


def estimators_at(results: dict, epoch: int) -> dict[str, dict]:
    return {r["estimator"]: r for r in results["rows"] if int(r["epoch"]) == epoch and r.get("budget") is None}


def _board_line(label: str, path: str, results: dict) -> str:
    suite, truth = results["suite"], results.get("truth") or {}
    truth_text = f"`{truth.get('spec')}` ({truth.get('source')})" if isinstance(truth, dict) else f"`{truth}`"
    return (f"- {label}: `{path}`, {suite['name']} version {suite['version']}: {suite.get('description', '')} "
            f"Truth: {truth_text}. {int(results['trials_scored']):,} cells.")


def _published_tau(row: dict) -> str:
    return interval_text(row["kendall_tau_mean"], row.get("kendall_tau_lo"), row.get("kendall_tau_hi"))


def stream_seeds(seed: int) -> tuple[int, int]:
    """Two independent random streams, one per board, spawned from `seed` (numpy's SeedSequence)."""
    first, second = np.random.SeedSequence(seed).spawn(2)
    return int(first.generate_state(1)[0]), int(second.generate_state(1)[0])


def render(reduced: dict, full: dict, reduced_path: str, full_path: str, *, full_epoch: int | None = None,
           n_resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0) -> str:
    full_epochs = checkpoints(full)
    if full_epoch is None:
        if len(full_epochs) != 1:
            raise FhbenchError(f"{full_path} scores epochs {full_epochs}: name the one to compare with --full-epoch")
        full_epoch = full_epochs[0]
    full_rows = estimators_at(full, full_epoch)
    lines = [
        "# Does the reduced CPU board predict the full scale?",
        "",
        _board_line("Reduced", reduced_path, reduced),
        _board_line("Full scale", full_path, full),
        "",
    ]
    shared_everywhere = None
    results_by_epoch = []
    full_taus: dict[tuple[str, ...], BoardTaus] = {}  # the full board's one checkpoint, once per estimator set
    for epoch in checkpoints(reduced):
        reduced_rows = estimators_at(reduced, epoch)
        shared = tuple(sorted(set(reduced_rows) & set(full_rows)))
        if len(shared) < 2:
            continue
        shared_everywhere = shared if shared_everywhere is None else tuple(sorted(set(shared_everywhere) & set(shared)))
        # The same two streams at every checkpoint, as a board draws the same cells for all its checkpoints.
        reduced_seed, full_seed = stream_seeds(seed)
        r = board_taus(reduced, shared, epoch, n_resamples, reduced_seed)
        if shared not in full_taus:
            full_taus[shared] = board_taus(full, shared, full_epoch, n_resamples, full_seed)
        f = full_taus[shared]
        board_rank = dict(zip(sorted(reduced_rows), ranks([reduced_rows[n]["kendall_tau_mean"]
                                                           for n in sorted(reduced_rows)])))
        results_by_epoch.append((epoch, shared, r, f, board_rank, reduced_rows, agreement(r, f)))
    if not results_by_epoch:
        lines += ["No estimator is scored on both boards: nothing to compare.", ""]
        return "\n".join(lines)
    names = ", ".join(shared_everywhere or ())
    k = len(results_by_epoch[0][1])
    lines += [
        f"## Zero-cost proxies and other estimators on both boards ({names})",
        "",
        f"Each estimator's Kendall tau against each board's own truth, with the board's own 95% interval, and its "
        f"rank among "
        f"the {k} estimators both boards score (1 = highest tau; ties share the average rank). The reduced board's "
        f"own rank among all its estimators at that epoch is beside it. The full-scale board is read at epoch "
        f"{full_epoch}.",
        "",
        "| reduced epoch | estimator | reduced: Kendall tau [95%] | rank (reduced) | rank among all on the "
        "reduced board | full scale: Kendall tau [95%] | rank (full scale) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for epoch, shared, r, f, board_rank, reduced_rows, _ in results_by_epoch:
        r_ranks, f_ranks = ranks(r.point), ranks(f.point)
        for i, name in enumerate(shared):
            lines.append(f"| {epoch} | {name} | {_published_tau(reduced_rows[name])} | {r_ranks[i]:g} "
                         f"| {board_rank[name]:g} of {len(reduced_rows)} | {_published_tau(full_rows[name])} "
                         f"| {f_ranks[i]:g} |")
    lines += [
        "",
        "How the rankings agree: Kendall's tau between the two rankings (1: the same order on both boards, -1: the "
        "reverse), with a 95% interval from a bootstrap over the cells of both boards. In each of "
        f"{n_resamples:,} resamples (two independent streams spawned from seed {seed}, one per board) each board's "
        "cells are drawn with replacement, within each of its repeats and independently of the other board's, "
        "every shared estimator's Kendall tau is computed again on each board's draw, the estimators are ranked on "
        "each, and the two rankings are correlated; the interval is the 2.5 and 97.5 percentiles. A draw in which "
        "one board ties every estimator counts as 0.",
        "",
        "| reduced epoch | estimators | Kendall tau between the rankings [95%] | resamples at 1 | resamples at or "
        "below 0 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for epoch, shared, _, _, _, _, a in results_by_epoch:
        lines.append(f"| {epoch} | {len(shared)} | {interval_text(a.point, a.lo, a.hi)} "
                     f"| {np.mean(a.resampled >= 1 - 1e-12):.0%} | {np.mean(a.resampled <= 0):.0%} |")
    n_pairs = k * (k - 1) // 2
    lines += [
        "",
        f"Read this plainly: with {k} estimators, Kendall's tau between two rankings without ties takes only "
        f"{n_pairs + 1} values (from -1 to 1 in steps of {2 / n_pairs:.3g}: one swapped pair of {n_pairs} moves it "
        "by that much), so its "
        "interval is wide and this comparison cannot show that the reduced board predicts the full scale in "
        "general; at best it shows whether these few estimators keep their order. The two boards also measure "
        "against different truths (see above), so an estimator's tau is not expected to be equal on both, only "
        "its rank.",
        "",
        "Zero-cost proxies read the network at initialisation: their estimates are the same at every checkpoint of "
        "the reduced board, so their rows repeat from epoch to epoch; only their rank among all the reduced board's "
        "estimators moves, as the curve estimators improve with epochs.",
        "",
        "## Curve estimators",
        "",
        "Not compared: a full-scale board of the curve estimators (original, sotl, sotl-e, lcnet, lcsvr, "
        "lc-extrapolation, the rest that need only curves) needs real NAS-Bench-201 learning curves, imported "
        "from the official benchmark file or a CSV of them with `fhbench import`, and no such curves "
        "are available here. Synthetic curves are not a substitute, so this part is left empty.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", default="leaderboard/nb201-cpu/3")
    parser.add_argument("--full", default="leaderboard/nb201-zc/1")
    parser.add_argument("--full-epoch", type=int, help="the full board's checkpoint (default: its only one)")
    parser.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the page here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        page = render(read_results(args.reduced), read_results(args.full), args.reduced, args.full,
                      full_epoch=args.full_epoch, n_resamples=args.resamples, seed=args.seed)
    except (FhbenchError, KeyError, ValueError) as err:
        print(f"reduced_vs_full: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
