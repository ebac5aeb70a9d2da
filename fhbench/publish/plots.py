"""Every plot fhbench draws: the estimation leaderboard's MAE and Kendall tau against epoch (thesis
Figures 4.3 and 4.4) and the search leaderboard's regret against simulated time.

What each plot says about itself, so that it can go into a paper as it is:
- a title naming the suite, its version and the truth it was scored against;
- what the points and the bars (or bands) are: means, and one standard deviation over repeats (seeds);
- one colour and marker per estimator, the same in every plot fhbench draws (`style`): the four
  estimators fhbench ships have fixed ones, any other gets one from a stable hash of its name;
- series are spread slightly along x so that none hides another, and a series identical to an
  earlier one is marked in the legend ("optimized (= original)");
- the thesis's reading aid of Figure 4.3 in its own file, mae_overhead.png: each estimator's points
  shifted right by its mean overhead, in epochs of the trial's own training (where that is known). It
  is the one plot that reads measured wall-clock timings; mae.png and kendall_tau.png read none, so
  scoring the same traces again draws them byte for byte;
- where one value dwarfs the rest, a log axis (or, where a value is zero, an axis clipped above the
  rest with the clipped points marked and labelled), said on the axis;
- the regret plot draws one panel per algorithm on a log axis, from the moment every seed has a
  result (before that a mean over the seeds that happen to have one is no mean), with the pool's floor;
- the per-network views (`fhbench.score.per_network`, for suites of a handful of networks): one trajectory
  per trial (thesis Fig. 3.1: every estimate, the recorded accuracy and the final accuracy with its
  1 pp band), the settle epoch per network, and the absolute error by epoch, one panel per network;
- a suite with train.budgets gets each estimation and per-network plot once per budget (mae-b050.png,
  settle-b050.png, ...), the budget in its title: the budgets' epochs and truths differ.

The files are byte-stable: the same input gives the same PNG bytes (no date, no software tag).
`python -m fhbench.publish.plots RESULTS_JSON OUT_DIR` redraws a published leaderboard's plots.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fhbench.publish.derived import declared_intervals
from fhbench.publish.png import pyplot, save_png
from fhbench.score.stats import over_seeds
from fhbench.publish.seen_plots import plot_breakdown

__all__ = ["KNOWN_STYLES", "estimation_plots", "per_network_plots", "plot_abs_error_by_network", "plot_estimation",
           "plot_regret", "plot_settle", "plot_trajectory", "render_results", "style"]

# The estimators fhbench ships: fixed colours (matplotlib's tab10) and markers, in every plot;
# any other estimator gets one of the remaining colours from a hash of its name.
KNOWN_STYLES: dict[str, tuple[str, str]] = {
    "original": ("#1f77b4", "o"),
    "optimized": ("#2ca02c", "s"),
    "lcnet": ("#ff7f0e", "^"),
    "fh-ensemble": ("#d62728", "D"),
    "fh-ridge": ("#9467bd", "P"),
    "snapshot-ensemble": ("#8c564b", "X"),
    "lc-extrapolation": ("#e377c2", "v"),
    "lcsvr": ("#7f7f7f", "<"),
    "sotl": ("#bcbd22", "h"),
    "sotl-e": ("#17becf", "*"),
    "synflow": ("#393b79", "p"),
    "snip": ("#637939", "d"),
    "grad-norm": ("#31a354", ">"),
    "naswot": ("#7b4173", "8"),
}
_OTHER_COLOURS = ("#8c6d31", "#843c39", "#3182bd", "#e6550d", "#636363", "#9c9ede")
_OTHER_MARKERS = ("v", "P", "X", "*", "h", "<", ">", "p")

DWARF_RATIO = 5.0
"""A value more than this many times the median of the others makes the axis log (or clipped)."""

_ALGORITHM_TITLES = {"random": "random search", "hyperband": "HyperBand", "bohb": "BOHB"}


def style(name: str) -> tuple[str, str]:
    """(colour, marker) of an estimator, the same in every plot and every run: fixed for the four
    estimators fhbench ships, else from a stable hash of the name (not Python's salted `hash`)."""
    if name in KNOWN_STYLES:
        return KNOWN_STYLES[name]
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return _OTHER_COLOURS[digest % len(_OTHER_COLOURS)], _OTHER_MARKERS[(digest // 97) % len(_OTHER_MARKERS)]


def _order(names) -> list[str]:
    """The four shipped estimators first, in a fixed order, then the others by name."""
    known = [n for n in KNOWN_STYLES if n in names]
    return known + sorted(n for n in set(names) if n not in KNOWN_STYLES)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _get(row: Any, key: str) -> float:
    value = row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)
    return float(value) if _finite(value) else math.nan


def _truth_spec(truth: Any) -> str:
    if isinstance(truth, Mapping):
        return str(truth.get("spec") or "none")
    return str(truth)


def _log_ticks(ax) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _dwarfed(values: Sequence[float]) -> bool:
    """Whether the largest value is more than DWARF_RATIO times the median of the others."""
    values = sorted(v for v in values if math.isfinite(v))
    if len(values) < 3:
        return False
    median = float(np.median(values[:-1]))
    return values[-1] > DWARF_RATIO * max(median, 1e-12)


# ---------------------------------------------------------------------------------------------- estimation

_METRICS = {
    "mae": ("MAE in percentage points", "MAE (percentage points)", 100.0),
    "kendall_tau": ("Kendall tau", "Kendall tau (higher ranks architectures better)", 1.0),
}

_LEADS = ("best", "tied")
_FADED_ALPHA = 0.28


def plot_estimation(rows: Sequence[Any], metric: str, meta: Mapping[str, Any], path: str | Path, *,
                    shift_by_overhead: bool = False) -> None:
    """mae.png or kendall_tau.png of an estimation leaderboard (`shift_by_overhead=False`), or
    mae_overhead.png (`metric="mae"`, `shift_by_overhead=True`: thesis Figure 4.3's reading aid, each
    point shifted right by its estimator's mean overhead in epochs).

    `rows` are `fhbench.score.metrics.Row`s or their dicts (as results.json holds them); `meta` is the results
    header with `repeats`. Without the shift the plot reads no measured timing, so scoring the same
    traces again draws the same bytes; the shifted plot moves with the measured overheads, like the
    overhead columns of the tables."""
    title, ylabel, scale = _METRICS[metric]
    plt = pyplot()
    suite = meta.get("suite", {})
    repeats = meta.get("repeats")
    names = _order({str(_row_name(r)) for r in rows})
    epochs = sorted({int(_get(r, "epoch")) for r in rows if math.isfinite(_get(r, "epoch"))})
    span = (epochs[-1] - epochs[0]) if len(epochs) > 1 else max(epochs[0] if epochs else 1, 1)
    step = 0.012 * span  # the spread between series, in epochs
    if len(names) > 1 and len(epochs) > 1:  # many series: all of one epoch's stay within half the closest gap
        step = min(step, 0.5 * min(b - a for a, b in zip(epochs, epochs[1:])) / (len(names) - 1))
    many = len(names) > 8  # then the legend goes beside the axes, where it hides no point
    series = {}
    for name in names:
        mine = sorted((r for r in rows if _row_name(r) == name), key=lambda r: _get(r, "epoch"))
        series[name] = [(int(_get(r, "epoch")), _get(r, f"{metric}_mean") * scale, _bar(r, metric, scale),
                         _get(r, "overhead_epochs_mean") if shift_by_overhead else 0.0) for r in mine]
    intervals = any(math.isfinite(_get(r, f"{metric}_lo")) for r in rows)
    spread = not intervals and any(bar != (0.0, 0.0) for points in series.values() for _, _, bar, _ in points)
    # the board's verdicts: who leads at each checkpoint and who is tied with it, drawn strong
    leads = {(_row_name(r), int(_get(r, "epoch"))) for r in rows if _verdict(r, metric) in _LEADS}
    strong = {name for name, _ in leads}

    values = [m for points in series.values() for _, m, _, _ in points if math.isfinite(m)]
    lows = [m - bar[0] for points in series.values() for _, m, bar, _ in points if math.isfinite(m)]
    mode = "linear"
    if metric == "mae" and _dwarfed(values):
        mode = "log" if min(values) > 0 else "clipped"
    clip_top = None
    if mode == "clipped":
        ordered = sorted(values)
        median = float(np.median(ordered))
        kept = [v for v in ordered if v <= DWARF_RATIO * max(median, 1e-12)]
        clip_top = 1.25 * max(kept) if kept and max(kept) > 0 else 1.0

    fig, ax = plt.subplots(figsize=(9.0 if many else 7.0, 5.0), dpi=100)
    unshifted = connected = False
    drawn: dict[str, list] = {}
    clipped_at: dict[float, int] = {}  # epoch -> labels of clipped values already placed there
    for index, name in enumerate(names):
        points = [p for p in series[name] if math.isfinite(p[1])]
        if not points:
            continue
        colour, marker = style(name)
        offset = (index - (len(names) - 1) / 2) * step
        xs, ys, lower, upper = [], [], [], []
        for epoch, mean, (below, above), overhead in points:
            if not math.isfinite(overhead):
                unshifted, overhead = True, 0.0
            xs.append(epoch + overhead + offset)
            shown = min(mean, clip_top) if clip_top is not None else mean
            ys.append(shown)
            lower.append(min(below, shown * (1 - 1e-3)) if mode == "log" else below)
            upper.append(above)
            if overhead > step:  # a visible shift: a dotted line back to the checkpoint it was taken at
                connected = True
                ax.plot([epoch + offset, epoch + overhead + offset], [shown, shown], linestyle=":", linewidth=1.0,
                        color=colour, alpha=0.8)
        same = next((other for other, pts in drawn.items()
                     if [round(m, 9) for _, m, _, _ in pts] == [round(m, 9) for _, m, _, _ in points]
                     and [e for e, *_ in pts] == [e for e, *_ in points]), None)
        label = f"{name} (= {same})" if same else name
        if intervals and strong:  # per checkpoint: the leader and those tied with it strong, the rest faded
            ax.plot(xs, ys, color=colour, linewidth=1.2, alpha=_FADED_ALPHA, zorder=1)
            for leading in (False, True):
                at = [i for i, (epoch, *_rest) in enumerate(points) if ((name, epoch) in leads) == leading]
                if at:
                    ax.errorbar([xs[i] for i in at], [ys[i] for i in at],
                                yerr=[[lower[i] for i in at], [upper[i] for i in at]], color=colour, marker=marker,
                                linestyle="none", markersize=7 if leading else 5, capsize=3 if leading else 2,
                                elinewidth=1.8 if leading else 1.0, fillstyle="full" if leading else "none",
                                alpha=1.0 if leading else _FADED_ALPHA, zorder=3 if leading else 2,
                                label=label if leading or not any((name, e) in leads for e, *_ in points)
                                else "_nolegend_")
        else:
            ax.errorbar(xs, ys, yerr=[lower, upper], color=colour, marker=marker, markersize=6, capsize=3,
                        linewidth=1.5, label=label, fillstyle="none" if same else "full")
        drawn[name] = points
        if clip_top is not None:
            for x, (epoch, mean, _, _) in zip(xs, points):
                if mean > clip_top:
                    # several series clipped at one epoch: each label a line lower, not on top of the last
                    stacked = clipped_at[epoch] = clipped_at.get(epoch, -1) + 1
                    ax.annotate(f"{mean:.1f}", (x, clip_top), textcoords="offset points",
                                xytext=(7, -4 - 11 * stacked),
                                ha="left", va="top", fontsize=8, color=colour,
                                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0})
                    ax.plot([x], [clip_top], marker="^", color=colour, markersize=9, clip_on=False)

    against = "epochs plus overhead" if shift_by_overhead else "epoch"
    budgets = {_row_budget(r) for r in rows} - {None}
    of_budget = f", budget {budgets.pop()} epochs" if len(budgets) == 1 else ""  # train.budgets: one file per budget
    heading = f"{suite.get('name', '?')} {suite.get('version', '?')}: {title} against {against}{of_budget}"
    fig.suptitle("\n".join(textwrap.wrap(heading, 80 if many else 62)), fontsize=12)  # within the figure's width
    ax.set_title(f"truth: {_truth_spec(meta.get('truth'))}", fontsize=9)
    if shift_by_overhead:
        ax.set_xlabel("epochs of training + the estimator's overhead in epochs (thesis Fig. 4.3)")
    else:
        ax.set_xlabel("epoch (checkpoint the estimate was made at)")
    if mode == "log":
        ax.set_yscale("log", nonpositive="clip")
        _log_ticks(ax)
        ax.set_ylabel(f"{ylabel}, log scale")
    elif mode == "clipped":
        ax.set_ylim(0, clip_top)
        ax.set_ylabel(f"{ylabel},\nclipped at {clip_top:.1f} (higher values marked)")
    else:
        ax.set_ylabel(ylabel)
    if metric == "kendall_tau" and lows and min(lows) < 0:
        ax.axhline(0.0, color="grey", linewidth=0.8)
    if epochs:
        ax.set_xticks(epochs)
    ax.grid(alpha=0.3)
    if drawn and many:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    elif drawn:
        ax.legend(fontsize=9)
    over = f"over {repeats} repeat{'s' if repeats != 1 else ''}" if repeats else "over repeats"
    if shift_by_overhead:
        second = (f"Each point is shifted right by its estimator's mean overhead in epochs"
                  f"{' where known' if unshifted else ''}{' (dotted: the shift)' if connected else ''}; "
                  f"measured wall time.")
    else:
        second = "mae_overhead.png shifts each point right by its estimator's overhead (thesis Fig. 4.3)."
    if intervals and strong:
        bars = ("bars: 95% interval, paired bootstrap over cells stratified by repeat.\n"
                "Strong, filled: the leader at that checkpoint and those tied with it (not significantly behind, "
                "Holm-corrected); faded, hollow: behind")
    elif intervals:
        bars = "bars: 95% interval, paired bootstrap over cells stratified by repeat"
    elif spread:
        bars = f"bars: \u00b11 std {over} (a board published before intervals: a spread, not an uncertainty)"
    else:
        bars = "no bars: fewer than 10 cells per repeat, too few for an interval"
    caption = f"Points: mean {over}; series spread {step:.2g} epochs apart.\n{bars}.\n{second}"
    fig.text(0.5, 0.012, caption, ha="center", va="bottom", fontsize=8, linespacing=1.4)
    fig.tight_layout(rect=(0, 0.03 + 0.035 * (caption.count("\n") + 1), 1, 1))
    save_png(fig, Path(path))


def _bar(row: Any, metric: str, scale: float) -> tuple[float, float]:
    """(below, above) the point: the 95% interval where the row has one, else one std over repeats on
    boards published before intervals, else none."""
    mean, lo, hi = (_get(row, f"{metric}_{part}") for part in ("mean", "lo", "hi"))
    if math.isfinite(lo) and math.isfinite(hi) and math.isfinite(mean):
        return max(mean - lo, 0.0) * scale, max(hi - mean, 0.0) * scale
    std = _get(row, f"{metric}_std")
    published_with_intervals = ("kendall_tau_verdict" in row) if isinstance(row, Mapping) else \
        hasattr(row, "kendall_tau_verdict")
    if not published_with_intervals and math.isfinite(std):
        return std * scale, std * scale
    return 0.0, 0.0


def _verdict(row: Any, metric: str) -> str:
    value = row.get(f"{metric}_verdict") if isinstance(row, Mapping) else getattr(row, f"{metric}_verdict", "")
    return value if isinstance(value, str) else ""


def _row_name(row: Any) -> str:
    return str(row.get("estimator") if isinstance(row, Mapping) else getattr(row, "estimator", "?"))


def _row_budget(row: Any) -> int | None:
    return row.get("budget") if isinstance(row, Mapping) else getattr(row, "budget", None)


ESTIMATION_PLOTS = (("mae", "mae", False), ("kendall_tau", "kendall_tau", False), ("mae_overhead", "mae", True))


def estimation_plots(rows: Sequence[Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """{file name: draw(path)}: mae.png, kendall_tau.png and mae_overhead.png; in a suite with
    train.budgets (rows that carry a budget) one of each per budget, named like mae-b050.png, since the
    budgets' epochs and truths differ."""
    from fhbench.inputs.suite import budget_suffix

    budgets = sorted({_row_budget(r) for r in rows} - {None})
    groups = [(budget_suffix(b), [r for r in rows if _row_budget(r) == b]) for b in budgets] or [("", rows)]
    # no MAE plot where no estimator estimates an accuracy (a board of rank-only ones: zero-cost proxies)
    any_mae = any(not _row_field(r, "rank_only") for r in rows)
    return {f"{stem}{suffix}.png": lambda path, mine=mine, metric=metric, shift=shift:
            plot_estimation(mine, metric, meta, path, shift_by_overhead=shift)
            for suffix, mine in groups for stem, metric, shift in ESTIMATION_PLOTS if metric != "mae" or any_mae}


def _row_field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


# ---------------------------------------------------------------------------------------------- regret


def _seed_curves(runs: Sequence[Mapping], regret_of, times: np.ndarray) -> np.ndarray:
    """Each run's regret (pp) at each time of `times`: that of its incumbent then, NaN before its first."""
    curves = np.full((len(runs), len(times)), np.nan)
    for row, run in enumerate(runs):
        for time, incumbent in run.get("trajectory") or []:
            curves[row, times >= float(time)] = regret_of(incumbent)
    return curves


def plot_regret(meta: Mapping[str, Any], path: str | Path) -> None:
    """regret.png of a search leaderboard, from its results.json content (see the module docstring)."""
    plt = pyplot()
    regret = meta["regret"]
    reference = float(regret["reference"])
    floor = 100.0 * float(regret.get("pool_floor") or 0.0)
    pool_truth = [0.0 if v is None or not _finite(v) else float(v) for v in meta["pool_truth"]]

    def regret_of(incumbent) -> float:  # a diverged incumbent counts as accuracy 0.0, as in the results
        return 100.0 * (reference - pool_truth[int(incumbent)]) if incumbent is not None else math.nan

    runs = list(meta["runs"])
    budget = float(meta.get("time_budget_s") or max((r.get("simulated_time_s", 0.0) for r in runs), default=1.0))
    order = {name: i for i, name in enumerate(_ALGORITHM_TITLES)}
    algorithms = sorted({r["algorithm"] for r in runs}, key=lambda a: (order.get(a, len(order)), a))
    estimators = _order({r["estimator"] for r in runs})
    n_seeds = max((len([r for r in runs if (r["algorithm"], r["estimator"]) == key])
                   for key in {(r["algorithm"], r["estimator"]) for r in runs}), default=0)

    panels = max(len(algorithms), 1)
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels + 1.0, 4.8), dpi=100, sharey=True, squeeze=False)
    axes = axes[0]
    lowest, highest = math.inf, 0.0
    handles = {}
    for ax, algorithm in zip(axes, algorithms):
        for name in estimators:
            mine = [r for r in runs if (r["algorithm"], r["estimator"]) == (algorithm, name)]
            if not mine:
                continue
            times = sorted({float(t) for r in mine for t, _ in (r.get("trajectory") or []) if float(t) <= budget})
            if not times:
                continue
            grid = np.array(times + [budget])
            curves = _seed_curves(mine, regret_of, grid)
            complete = ~np.isnan(curves).any(axis=0)  # from the time every seed has a result
            if not complete.any():
                continue
            grid, curves = grid[complete], curves[:, complete]
            mean = curves.mean(axis=0)
            colour, marker = style(name)
            line, = ax.step(grid, mean, where="post", color=colour, linewidth=1.6, marker=marker,
                            markevery=[0], markersize=6, label=name)
            # the final regret's 95% t-interval over seeds, at the end of the line (spread apart per estimator)
            final = over_seeds(list(curves[:, -1]))
            half = final.hi - final.mean if math.isfinite(final.hi) else 0.0
            end = budget * (1.0 + 0.012 * (estimators.index(name) - (len(estimators) - 1) / 2))
            ax.errorbar([end], [mean[-1]], yerr=[[min(half, mean[-1] - 1e-3) if mean[-1] > 0 else 0.0], [half]],
                        color=colour, marker=marker, markersize=6, capsize=3, linewidth=1.2)
            handles.setdefault(name, line)
            lowest, highest = min(lowest, float(mean.min())), max(highest, float(mean.max()), float(mean[-1] + half))
        ax.set_title(_ALGORITHM_TITLES.get(algorithm, algorithm), fontsize=10)
        ax.set_xlabel("simulated search time (s)")
        ax.set_xlim(0, budget * 1.05)
        ax.grid(alpha=0.3, which="both")
        if floor > 0:
            floor_line = ax.axhline(floor, color="black", linestyle=":", linewidth=1.2)
            handles.setdefault("floor", floor_line)

    log = lowest > 0 and math.isfinite(lowest) and floor >= 0 and (floor > 0 or lowest > 0)
    against = regret.get("against", "reference")
    if log:
        for ax in axes:
            ax.set_yscale("log")
            _log_ticks(ax)
        bottom = min(floor if floor > 0 else lowest, lowest) / 1.5
        axes[0].set_ylim(bottom, max(highest, bottom * 10) * 1.5)
        axes[0].set_ylabel(f"regret against the {against} (pp), log scale")
    else:
        for ax in axes:
            ax.set_yscale("symlog", linthresh=0.1)
        axes[0].set_ylim(0, max(highest, 1.0) * 1.5)
        axes[0].set_ylabel(f"regret against the {against} (pp), symlog (linear below 0.1)")
    suite = meta.get("suite", {})
    fig.suptitle(f"{suite.get('name', '?')} {suite.get('version', '?')}: regret of the incumbent "
                 f"(truth: {_truth_spec(meta.get('truth'))})", fontsize=12)
    labels = [n for n in estimators if n in handles]
    legend_handles = [handles[n] for n in labels]
    if "floor" in handles:
        labels.append(f"pool's floor ({floor:.2f} pp): the best any search of this pool can do")
        legend_handles.append(handles["floor"])
    fig.legend(legend_handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.075))
    caption = (f"Lines: mean regret over {n_seeds} seed{'s' if n_seeds != 1 else ''}, from the time every seed has a result; bars at the end: "
               f"the final regret's 95% t-interval over seeds (none with one seed).\nRegret against the {against}, {100 * reference:.2f}%"
               f"{'' if floor > 0 else ': no search of this pool can reach less than 0'}.")
    fig.text(0.5, 0.012, caption, ha="center", va="bottom", fontsize=7.5, linespacing=1.4)
    fig.tight_layout(rect=(0, 0.15, 1, 0.96))
    save_png(fig, Path(path))


# ---------------------------------------------------------------------------------------------- per network
# The views of `fhbench.score.per_network` (results.json's "per_network"): every value drawn is an estimate, a
# recorded accuracy or a truth, never a timing, so the files are byte-stable like mae.png.

_ABS_ERROR_FLOOR_PP = 0.01  # a log axis has no 0: smaller errors are drawn at this floor (said on the axis)


def per_network_plots(meta: Mapping[str, Any]) -> dict[str, Any]:
    """{file name: draw(path)} for the per-network views of an estimation leaderboard: "per_network", or
    in a suite with train.budgets "per_network_by_budget" (one view per budget, its files named like
    settle-b050.png; trajectory files are named by trial ids, which carry the budget)."""
    from fhbench.inputs.suite import budget_suffix

    if meta.get("per_network"):
        views = [(meta["per_network"], "", "")]
    else:
        views = [(view, budget_suffix(view["budget"]), f", budget {view['budget']} epochs")
                 for view in meta.get("per_network_by_budget") or ()]
    files = {}
    for view, suffix, note in views:
        files[f"settle{suffix}.png"] = lambda path, view=view, note=note: plot_settle(view, meta, path, note=note)
        files[f"abs_error_by_network{suffix}.png"] = \
            lambda path, view=view, note=note: plot_abs_error_by_network(view, meta, path, note=note)
        for trial in view["trials"]:
            files[f"trajectory-{trial['trial_id']}.png"] = \
                lambda path, trial=trial, view=view: plot_trajectory(trial, view, meta, path)
    return files


def _settle_label(name: str, numbers: Mapping[str, Any]) -> str:
    settle, speed = numbers.get("settle_epoch"), numbers.get("speedup")
    if settle is None or not _finite(speed):
        return f"{name}: never within 1 pp for good"
    return f"{name}: within 1 pp from epoch {settle} ({speed:.2f}x)"


def plot_trajectory(trial: Mapping[str, Any], view: Mapping[str, Any], meta: Mapping[str, Any],
                    path: str | Path) -> None:
    """trajectory-<trial>.png (thesis Fig. 3.1): above, each estimator's estimate at every checkpoint of
    one trial, the accuracy it recorded at every epoch and its final accuracy (the truth) with the 1 pp
    band; below, estimate minus truth in pp, each estimator's settle epoch dotted."""
    plt = pyplot()
    checkpoints = np.array(view["checkpoints"], dtype=float)
    band = 100.0 * float(view.get("band", 0.01))
    truth = 100.0 * float(trial["truth"])
    budget = int(view["budget"])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7.0), dpi=100, sharex=True,
                                      gridspec_kw={"height_ratios": (3, 2)})
    for curve, linestyle in (("val_acc", "-"), ("test_acc", "--")):
        values = trial.get("curves", {}).get(curve)
        if values:
            ys = np.array([math.nan if v is None else 100.0 * v for v in values], dtype=float)
            top.plot(np.arange(1, len(ys) + 1), ys, color="0.55", linewidth=1.0, linestyle=linestyle,
                     label=f"{curve} recorded at every epoch")
    top.axhspan(truth - band, truth + band, color="0.85", zorder=0)
    top.axhline(truth, color="black", linewidth=1.2, linestyle="-.",
                label=f"final accuracy ({_truth_spec(meta.get('truth'))}): {truth:.2f}% (band \u00b1{band:g} pp)")
    every = max(1, len(checkpoints) // 20)  # about 20 markers per line, whatever the checkpoint count
    failed_any = False
    for name in _order(trial["estimators"]):
        numbers = trial["estimators"][name]
        colour, marker = style(name)
        failed = np.array([e is None for e in numbers["estimates"]])
        ys = np.array([0.0 if e is None else 100.0 * e for e in numbers["estimates"]])  # failed counts as 0.0
        top.plot(checkpoints, ys, color=colour, marker=marker, markevery=every, markersize=5, linewidth=1.4,
                 label=name)
        bottom.plot(checkpoints, ys - truth, color=colour, marker=marker, markevery=every, markersize=5,
                    linewidth=1.4, label=_settle_label(name, numbers))
        if failed.any():
            failed_any = True
            top.plot(checkpoints[failed], ys[failed], linestyle="none", marker="x", color=colour, markersize=8)
            bottom.plot(checkpoints[failed], ys[failed] - truth, linestyle="none", marker="x", color=colour,
                        markersize=8)
        if numbers.get("settle_epoch") is not None:
            bottom.axvline(numbers["settle_epoch"], color=colour, linestyle=":", linewidth=1.2)
    bottom.axhspan(-band, band, color="0.85", zorder=0)
    bottom.axhline(0.0, color="black", linewidth=0.8)
    bottom.set_yscale("symlog", linthresh=band)
    from matplotlib.ticker import FuncFormatter

    bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    bottom.set_ylabel(f"estimate \u2212 final (pp)\nsymlog, linear within \u00b1{band:g}")
    bottom.set_xlabel("epoch")
    bottom.set_xlim(0, budget + 0.5)
    top.set_ylabel("accuracy (%)")
    top.grid(alpha=0.3)
    bottom.grid(alpha=0.3)
    top.legend(fontsize=8, loc="lower right")
    bottom.legend(fontsize=8, loc="best")
    suite = meta.get("suite", {})
    fig.suptitle(f"{suite.get('name', '?')} {suite.get('version', '?')}: trial {trial['trial_id']} "
                 f"(repeat {trial.get('repeat')}), estimates at every checkpoint", fontsize=11)
    top.set_title("\n".join(textwrap.wrap(str(trial["config"]), 100)), fontsize=8)
    caption = ("Lines: each estimator's estimate of the final accuracy at every checkpoint"
               + ("; x: a failed estimate, drawn as 0.0, what it counts as" if failed_any else "")
               + f".\nDotted: the settle epoch, from which every estimate stays within {band:g} pp of the final "
                 f"accuracy.")
    fig.text(0.5, 0.012, caption, ha="center", va="bottom", fontsize=8, linespacing=1.4)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_png(fig, Path(path))


def _short(config: str, width: int = 22) -> str:
    return config if len(config) <= width else config[:width - 1] + "\u2026"


def plot_settle(view: Mapping[str, Any], meta: Mapping[str, Any], path: str | Path, *, note: str = "") -> None:
    """settle.png: per network (x) and estimator (colour), each trial's settle epoch with its speed-up;
    "never" above the budget. `note` goes at the end of the title (which budget, under train.budgets)."""
    plt = pyplot()
    budget = int(view["budget"])
    networks = view["networks"]
    names = _order(view["estimators"])
    never_y = budget * 1.08
    fig, ax = plt.subplots(figsize=(max(7.5, 1.3 * len(networks) + 3.0), 5.0), dpi=100)
    width = 0.8 / max(len(names), 1)
    for j, name in enumerate(names):
        colour, marker = style(name)
        xs, ys, texts, nevers = [], [], [], []
        for i, network in enumerate(networks):
            numbers = network["estimators"].get(name)
            if numbers is None:
                continue
            x = i + (j - (len(names) - 1) / 2) * width
            for settle, speed in zip(numbers["settle_epochs"], numbers["speedups"]):
                if settle is None:
                    nevers.append(x)
                else:
                    xs.append(x)
                    ys.append(settle)
                    texts.append(f"{speed:.2f}x")
        ax.plot(xs, ys, linestyle="none", marker=marker, color=colour, markersize=7, label=name)
        ax.plot(nevers, [never_y] * len(nevers), linestyle="none", marker=marker, color=colour, markersize=7,
                fillstyle="none")
        for x, y, text in zip(xs, ys, texts):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7,
                        color=colour)
    ax.axhline(budget, color="black", linewidth=1.0, linestyle="--")
    from matplotlib.ticker import MaxNLocator

    ticks = [t for t in MaxNLocator(nbins=6, integer=True).tick_values(0, budget) if 0 <= t <= budget]
    ticks = [t for t in ticks if budget - t > 0.06 * budget] + [budget, never_y]  # no tick crowds the budget's
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{t:g}" for t in ticks[:-2]] + [f"budget {budget}", "never"])
    ax.set_xticks(range(len(networks)))
    ax.set_xticklabels([f"{', '.join(n['trials'])}\n{_short(n['config'])}" for n in networks],
                       rotation=20 if len(networks) > 4 else 0, ha="right" if len(networks) > 4 else "center",
                       fontsize=8)
    ax.set_xlim(-0.6, len(networks) - 0.4)
    ax.set_ylim(0, budget * 1.16)
    ax.set_ylabel("settle epoch (lower is better)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="lower left")
    suite = meta.get("suite", {})
    fig.suptitle(f"{suite.get('name', '?')} {suite.get('version', '?')}: settle epoch per network{note}", fontsize=12)
    ax.set_title(f"truth: {_truth_spec(meta.get('truth'))}", fontsize=9)
    band = 100.0 * float(view.get("band", 0.01))
    caption = (f"One point per trial: the first checkpoint from which every estimate stays within {band:g} pp of\n"
               f"the trial's final accuracy, labelled with the speed-up budget / settle epoch.\nHollow, at 'never': "
               f"the last checkpoint is off by more than {band:g} pp.")
    fig.text(0.5, 0.012, caption, ha="center", va="bottom", fontsize=8, linespacing=1.4)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    save_png(fig, Path(path))


def plot_abs_error_by_network(view: Mapping[str, Any], meta: Mapping[str, Any], path: str | Path, *,
                              note: str = "") -> None:
    """abs_error_by_network.png: one panel per network, each estimator's absolute error (pp, mean over
    the network's trials) against epoch on a log axis, with the 1 pp line. `note`: as in plot_settle."""
    plt = pyplot()
    networks = view["networks"]
    checkpoints = np.array(view["checkpoints"], dtype=float)
    band = 100.0 * float(view.get("band", 0.01))
    names = _order(view["estimators"])
    columns = min(len(networks), 4)
    rows = math.ceil(len(networks) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns + 0.6, 2.9 * rows + 1.3), dpi=100,
                             sharex=True, sharey=True, squeeze=False)
    every = max(1, len(checkpoints) // 15)
    floored = False
    handles = {}
    for ax, network in zip(axes.flat, networks):
        for name in names:
            numbers = network["estimators"].get(name)
            if numbers is None:
                continue
            colour, marker = style(name)
            ys = 100.0 * np.array(numbers["abs_error_mean"], dtype=float)
            floored |= bool((ys < _ABS_ERROR_FLOOR_PP).any())
            line, = ax.plot(checkpoints, np.maximum(ys, _ABS_ERROR_FLOOR_PP), color=colour, marker=marker,
                            markevery=every, markersize=4, linewidth=1.3)
            handles.setdefault(name, line)
        ax.axhline(band, color="black", linestyle="--", linewidth=0.9)
        ax.set_title(f"{', '.join(network['trials'])}: {_short(network['config'], 30)}", fontsize=8)
        ax.set_yscale("log")
        _log_ticks(ax)
        ax.grid(alpha=0.3, which="both")
    for ax in axes.flat[len(networks):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("|estimate \u2212 final| (pp)")
    for column in range(columns):  # the lowest drawn panel of each column carries the epoch axis
        ax = axes[(len(networks) - 1 - column) // columns, column]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("epoch")
    several = any(len(n["trials"]) > 1 for n in networks)
    suite = meta.get("suite", {})
    fig.suptitle(f"{suite.get('name', '?')} {suite.get('version', '?')}: absolute error by epoch per network{note} "
                 f"(truth: {_truth_spec(meta.get('truth'))})", fontsize=11)
    labels = list(handles) + [f"{band:g} pp"]
    from matplotlib.lines import Line2D

    legend_handles = list(handles.values()) + [Line2D([], [], color="black", linestyle="--", linewidth=0.9)]
    fig.legend(legend_handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.06))
    floor = _ABS_ERROR_FLOOR_PP
    caption = ("Log axis" + (f"; errors below {floor:g} pp drawn at {floor:g}" if floored else "")
               + ("; lines: mean over the network's trials" if several else "")
               + "; a failed estimate counts as 0.0.")
    fig.text(0.5, 0.012, caption, ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    save_png(fig, Path(path))


# ---------------------------------------------------------------------------------------------- redraw


def render_results(results_json: str | Path, out_dir: str | Path) -> list[Path]:
    """Redraws the plots of a published results.json into `out_dir`; returns the files written."""
    meta = json.loads(Path(results_json).read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if meta.get("kind") == "search":
        plot_regret(meta, out / "regret.png")
        written.append(out / "regret.png")
    elif meta.get("kind") == "estimation" or "rows" in meta:
        for name, draw in {**estimation_plots(meta["rows"], meta), **per_network_plots(meta)}.items():
            draw(out / name)
            written.append(out / name)
        if meta.get("seen"):  # the correctness maps need the traces: only the breakdown redraws from here
            plot_breakdown(meta["seen"], f"{meta['suite']['name']} {meta['suite']['version']}", out / "breakdown.png")
            written.append(out / "breakdown.png")
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m fhbench.publish.plots RESULTS_JSON OUT_DIR")
    for written_path in render_results(sys.argv[1], sys.argv[2]):
        print(written_path)


def plot_declared(meta: Mapping[str, Any], path: str | Path) -> None:
    """search.png of a declared search leaderboard (Tables 4.2 to 4.4): per target, the chosen
    configurations' accuracy per algorithm and estimator, the mean over seeds with its 95% t-interval
    (`fhbench.publish.derived.declared_intervals`); filled markers for the live searches, hollow ones for
    their replays on the recorded traces."""
    plt = pyplot()
    rows = [r for r in meta["rows"] if r.get("true_acc_mean") is not None]
    intervals = declared_intervals(meta)
    targets = [t["label"] for t in meta["targets"] if any(r["target"] == t["label"] for r in rows)] or ["?"]
    order = {name: i for i, name in enumerate(_ALGORITHM_TITLES)}
    algorithms = sorted({r["algorithm"] for r in rows}, key=lambda a: (order.get(a, len(order)), a))
    estimators = _order({r["estimator"] for r in rows})
    fig, axes = plt.subplots(1, len(targets), figsize=(max(3.2 * len(targets) + 1.2, 8.0), 4.4), dpi=100,
                             squeeze=False)  # wide enough for the title and caption with one target
    handles = {}
    width = 0.8 / max(len(estimators), 1)
    for ax, target in zip(axes[0], targets):
        means = []
        for a, algorithm in enumerate(algorithms):
            for e, name in enumerate(estimators):
                colour, marker = style(name)
                x = a - 0.4 + width * (e + 0.5)
                for source, offset, face in (("live", -0.15, colour), ("replayed", 0.15, "none")):
                    row = next((r for r in rows if (r["target"], r["algorithm"], r["estimator"], r["source"])
                                == (target, algorithm, name, source)), None)
                    if row is None:
                        continue
                    mean, lo, hi = intervals.get((target, algorithm, name, source),
                                                 (row["true_acc_mean"], math.nan, math.nan))
                    bar = [[100 * (mean - lo)], [100 * (hi - mean)]] if math.isfinite(lo) else [[0.0], [0.0]]
                    point = ax.errorbar([x + offset * width], [100 * mean], yerr=bar, color=colour, marker=marker,
                                        markerfacecolor=face, markersize=7, capsize=3, linestyle="none")
                    handles.setdefault(name, point)
                    means.append(100 * mean)
        if means:  # the points decide the axis; an interval wider than it is cut at the edge (two seeds: wide)
            pad = max(2.0, 0.6 * (max(means) - min(means)))
            ax.set_ylim(max(0.0, min(means) - pad), min(100.0, max(means) + pad))
        ax.set_xticks(range(len(algorithms)))
        ax.set_xticklabels([_ALGORITHM_TITLES.get(a, a) for a in algorithms], fontsize=9)
        ax.set_xlim(-0.6, len(algorithms) - 0.4)
        ax.set_title(textwrap.shorten(target, 40), fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    truth = meta.get("truth", {})
    axes[0][0].set_ylabel("accuracy of the chosen configuration (%)")
    suite = meta.get("suite", {})
    fig.suptitle(f"{suite.get('name', '?')} {suite.get('version', '?')}: the searches' choices "
                 f"(truth: {_truth_spec(truth)})", fontsize=12)
    fig.legend([handles[n] for n in estimators if n in handles], [n for n in estimators if n in handles],
               loc="lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.07))
    fig.text(0.5, 0.01, "Filled: live searches; hollow: their replays on the traces the live searches wrote; "
             "bars: 95% t-interval over seeds (cut at the axis where wider).", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.14, 1, 0.93))
    save_png(fig, Path(path))
