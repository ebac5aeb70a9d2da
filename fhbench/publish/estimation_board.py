"""Publishing: ``leaderboard/<suite>/<suite-version>/`` with results.json, leaderboard.csv,
leaderboard.md and three PNG plots drawn by `fhbench.publish.plots`: absolute error and Kendall tau against
epoch (thesis Figs 4.3, 4.4), and absolute error with each point shifted right by its estimator's
overhead (Fig. 4.3's reading aid; the only file besides the tables that reads measured timings).
Suites with per-network views (`fhbench.score.per_network.applies`: a handful of networks) add a
"per_network" key to results.json, a "Per network" section to leaderboard.md, settle.png,
abs_error_by_network.png and one trajectory-<trial>.png per trial; other suites' files are unchanged.
A suite with train.budgets gets a "budget" column in leaderboard.csv (after "estimator") and in
results.json's rows, a table per budget in leaderboard.md, and each plot once per budget (mae-b050.png,
settle-b050.png, ...; results.json's "per_network_by_budget" instead of "per_network").

The results header, the JSON formatting and the atomic directory swap are `fhbench.publish.provenance`'s, shared
with search leaderboards. Numbers are written with fixed formatting so that scoring the same traces
again gives the same bytes, except for the date, the measured overhead timings and mae_overhead.png,
which draws them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fhbench.score.per_network import settle_text
from fhbench.publish.plots import estimation_plots, per_network_plots
from fhbench.publish.board_files import ESTIMATES_FILE, render_estimates_csv
from fhbench.publish.derived import overhead_intervals
from fhbench.publish.numbers import finite, interval_text
from fhbench.publish.verdicts import OVERHEAD_FLOOR, at_quarter, estimation_checkpoints
from fhbench.publish.provenance import ESTIMATION_METRICS, results_json, write_directory
from fhbench.score.metrics import Row
from fhbench.publish.seen_plots import seen_markdown
from fhbench.inputs.suite import budget_suffix

__all__ = ["CSV_COLUMNS", "ESTIMATION_METRICS", "csv_columns", "error_lines", "group_failures", "publish", "render_csv",
           "render_markdown"]

DISTINCT_ERRORS_LISTED = 10
"""leaderboard.md lists at most this many distinct errors per estimator (results.json holds them all)."""

CSV_COLUMNS = [
    "estimator", "epoch", "budget_fraction", "kendall_tau_verdict", "kendall_tau_mean", "kendall_tau_lo",
    "kendall_tau_hi", "mae_verdict", "mae_mean", "mae_lo", "mae_hi", "spearman_rho_mean", "spearman_rho_lo",
    "spearman_rho_hi", "top10_precision_mean", "top10_precision_lo", "top10_precision_hi", "mae_std",
    "kendall_tau_std", "spearman_rho_std", "overhead_s_mean", "overhead_s_std", "overhead_epochs_mean",
    "overhead_epochs_std", "overhead_cpu_s_mean", "overhead_cpu_s_std", "overhead_ref_mean", "overhead_ref_std",
    "n_estimates", "n_failed", "coverage", "repeats_scored", "repeats", "at_bound",
]
"""The verdict columns: "best" (the leader at that checkpoint), "tied" (not significantly behind it,
Holm-corrected paired bootstrap), "behind", or empty (no intervals: too few cells, or no such metric).
The _lo/_hi columns are 95% bootstrap intervals over cells; the _std columns the spread over repeats."""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def csv_columns(rows: Sequence[Row]) -> list[str]:
    """CSV_COLUMNS, with "budget" after "estimator" where the rows carry one (a suite with train.budgets)."""
    if all(row.budget is None for row in rows):
        return list(CSV_COLUMNS)
    return ["estimator", "budget", *CSV_COLUMNS[1:]]


def render_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = csv_columns(rows)
    writer.writerow(columns)
    for row in rows:
        data = row.as_dict()
        writer.writerow([_fmt(data[c]) for c in columns])
    return out.getvalue()


def _pm(mean: float, std: float, scale: float = 1.0, digits: int = 2) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.0f}%"


_MARKS = {"best": "**best**", "tied": "tied", "behind": "", "": ""}


def _truth_text(truth: Any) -> str:
    if isinstance(truth, dict):
        return f"`{truth.get('spec', '?')}` ({truth.get('source', '')})" if truth.get("source") else \
            f"`{truth.get('spec', '?')}`"
    return f"`{truth}`"


def group_failures(failures: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Failed estimates per estimator (in the order they first failed): {"count", "first" (the first
    failure), "errors": [(error, count), ...] (distinct errors, most frequent first, ties by first
    occurrence)}. One estimator's failures never hide another's."""
    groups: dict[str, dict[str, Any]] = {}
    for failure in failures:
        name = str(failure.get("estimator"))
        group = groups.setdefault(name, {"count": 0, "first": failure, "errors": {}})
        group["count"] += 1
        error = str(failure.get("error"))
        group["errors"][error] = group["errors"].get(error, 0) + 1
    for group in groups.values():
        order = {error: i for i, error in enumerate(group["errors"])}
        group["errors"] = sorted(group["errors"].items(), key=lambda item: (-item[1], order[item[0]]))
    return groups


def _failure_markdown(failures: Sequence[dict]) -> list[str]:
    lines = ["", f"## Failed estimates ({len(failures)})", "",
             "Per estimator: how many of its estimates failed, and each distinct error with its count "
             "(every failure, with its trial, is in `results.json`).", ""]
    for name, group in group_failures(failures).items():
        first = group["first"]
        lines.append(f"- **{name}**: {group['count']} failed; first at epoch {first.get('checkpoint')} on "
                     f"{first.get('trial_id')}")
        lines += error_lines(group)
    return lines


def error_lines(group: dict) -> list[str]:
    """One estimator's distinct errors with their counts, as markdown sub-items (the first few)."""
    lines = [f"  - {count} x {error}" for error, count in group["errors"][:DISTINCT_ERRORS_LISTED]]
    more = len(group["errors"]) - DISTINCT_ERRORS_LISTED
    if more > 0:
        lines.append(f"  - and {more} more distinct error(s)")
    return lines


def ranked(rows: Sequence[Row]) -> list[Row]:
    """Rows by budget (train.budgets) and epoch, and within those by Kendall tau, best first (undefined tau
    last, then by name)."""
    def key(row: Row):
        tau = row.kendall_tau_mean
        return (row.budget or 0, row.epoch, 0 if math.isfinite(tau) else 1, -tau if math.isfinite(tau) else 0.0,
                row.estimator)

    return sorted(rows, key=key)


def _ci(point: float, lo: float, hi: float, scale: float = 1.0, below: float | None = None) -> str:
    return interval_text(point, lo, hi, scale, significant=3, below=below)


def _overhead(row: Row, field: str, derived: dict) -> str:
    """An overhead with its 95% interval over cells (`fhbench.publish.derived`), else mean ± std over repeats."""
    found = derived.get((row.estimator, row.budget, row.epoch), {}).get(field)
    if found is not None and math.isfinite(found[0]):
        text = _ci(*found, below=OVERHEAD_FLOOR)
        return text + ("" if math.isfinite(found[1]) or text.startswith("<") else " [n/a]")
    return _pm(getattr(row, f"{field}_mean"), getattr(row, f"{field}_std"), digits=3)


def _rows_table(rows: Sequence[Row], derived: dict) -> list[str]:
    lines = ["| epoch | estimator | Kendall tau [95% CI] | tau verdict | MAE, pp [95% CI] | MAE verdict "
             "| Spearman rho [95% CI] | top-10% precision [95% CI] | overhead, s [95% CI] | overhead, epochs [95% CI] "
             "| overhead, ref [95% CI] | failed | at a bound | repeats scored |",
             "|---:|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in ranked(rows):
        mae = "rank only" if r.rank_only else _ci(r.mae_mean, r.mae_lo, r.mae_hi, 100)
        lines.append(
            f"| {r.epoch} | {r.estimator} | {_ci(r.kendall_tau_mean, r.kendall_tau_lo, r.kendall_tau_hi)} | "
            f"{_MARKS[r.kendall_tau_verdict]} | {mae} | {_MARKS[r.mae_verdict]} | "
            f"{_ci(r.spearman_rho_mean, r.spearman_rho_lo, r.spearman_rho_hi)} | "
            f"{_ci(r.top10_precision_mean, r.top10_precision_lo, r.top10_precision_hi)} | "
            f"{_overhead(r, 'overhead_s', derived)} | {_overhead(r, 'overhead_epochs', derived)} | "
            f"{_overhead(r, 'overhead_ref', derived)} | {r.n_failed} | "
            f"{_share(r.at_bound)} | {r.repeats_scored}/{r.repeats} |")
    return lines


def _answer_markdown(rows: Sequence[Row], meta: dict[str, Any]) -> list[str]:
    """The answer first: at a quarter of the budget who leads and who is tied, then per checkpoint the
    estimators ranked by Kendall tau with 95% intervals, MAE in pp and overhead in epochs."""
    checkpoints = estimation_checkpoints(meta, [r.as_dict() for r in rows])
    if not checkpoints:
        return []
    lines = ["", "## Who ranks architectures best", ""]
    quarter = at_quarter(checkpoints)
    top = (quarter.leader or quarter.standings[0]) if quarter is not None and quarter.standings else None
    if top is not None and math.isfinite(top.tau.point):
        where = quarter.moment[0].upper() + quarter.moment[1:]
        tau = _ci(top.tau.point, top.tau.lo, top.tau.hi)
        if quarter.no_interval:
            lines.append(f"{where}, {top.estimator} has the highest Kendall tau, {tau}; intervals n/a "
                         f"({quarter.no_interval}), so no estimator is called ahead of another.")
        else:
            tied = [s.estimator for s in quarter.tied]
            text = (f"{where}, **{top.estimator}** ranks architectures best: Kendall tau {tau}. "
                    + (f"Tied with it (not significantly behind): {', '.join(tied)} ({len(tied) + 1} of "
                       f"{len(quarter.standings)})." if tied else "No other estimator is tied with it."))
            mae = next((s for s in quarter.standings if s.mae_verdict == "best" and s.mae_pp is not None), None)
            if mae is not None:
                text += f" Lowest MAE there: {mae.estimator}, {_ci(mae.mae_pp.point, mae.mae_pp.lo, mae.mae_pp.hi)} pp."
            lines.append(text)
        lines.append("")
    lines.append("Per checkpoint, ranked by Kendall tau (higher ranks architectures better), with 95% intervals; "
                 "**leader**, and *tied*: not significantly behind it (Holm-corrected). MAE in percentage points "
                 "(pp); rank only: the estimator orders architectures without estimating an accuracy. Overhead: "
                 "time per trial in epochs of that trial's training, its interval over cells drawn from the estimates "
                 f"(< {OVERHEAD_FLOOR:g}: the whole interval is below it).")
    for c in checkpoints:
        lines += ["", f"### {c.heading}", ""]
        if c.no_interval:
            lines += [f"Intervals n/a: {c.no_interval}.", ""]
        lines += ["| # | estimator | Kendall tau [95% CI] | verdict | MAE, pp [95% CI] | overhead, epochs [95% CI] |",
                  "|---:|---|---:|---|---:|---:|"]
        for st in c.standings:
            bounds = "" if st.tau.has_interval else " [n/a]"
            mae = "rank only" if st.mae_pp is None else \
                _ci(st.mae_pp.point, st.mae_pp.lo, st.mae_pp.hi) + ("" if st.mae_pp.has_interval else " [n/a]")
            mae += {"best": " (lowest)", "tied": " (tied)"}.get(st.mae_verdict, "")
            o = st.overhead_epochs
            overhead = _ci(o.point, o.lo, o.hi, below=OVERHEAD_FLOOR)
            overhead += "" if o.has_interval or overhead[0] in "<n" else " [n/a]"
            verdict = {"best": "**leader**", "tied": "*tied*"}.get(st.verdict, "")
            lines.append(f"| {st.rank} | {st.estimator} | {_ci(st.tau.point, st.tau.lo, st.tau.hi)}{bounds} | "
                         f"{verdict} | {mae} | {overhead} |")
    return lines


def _statistics_text(meta: dict[str, Any]) -> list[str]:
    """How sure the board is: the method, and per checkpoint who leads and who is tied, or why no intervals."""
    statistics = meta.get("statistics")
    if not statistics:
        return ["", "Published before intervals (results schema 2): each cell is mean ± std over repeats, which is "
                "a spread, not an uncertainty; no verdict is drawn."]
    lines = ["", "## How sure", "",
             f"Intervals: 95% {statistics['method']} (B = {statistics['n_resamples']:,}, seed {statistics['seed']}). "
             f"Verdicts per checkpoint: the leader is **best**; *tied* means not significantly behind it "
             f"(paired difference, {statistics['p_value']}, alpha {statistics['alpha']}). A repeat whose rank "
             f"correlation is undefined is {statistics['undefined_rank_correlation']}. Precision at the top 10%: the "
             f"share of the true top 10% of cells among the estimator's top 10%. At a bound: the share of an "
             f"estimator's estimates exactly at 0 or 1, which tie their cells. The checkpoints of one board share "
             f"their cells, so their verdicts are not independent.", ""]
    for checkpoint in statistics["checkpoints"]:
        where = f"Epoch {checkpoint['epoch']}" + (f", budget {checkpoint['budget']}" if "budget" in checkpoint else "")
        ties = checkpoint.get("ties", {}).get("kendall_tau")
        if ties is None:
            lines.append(f"- {where}: {checkpoint.get('intervals', 'n/a')}")
            continue
        others = [name for name in ties["tied"] if name != ties["leader"]]
        power = [p for p in checkpoint.get("power", {}).get("kendall_tau", []) if finite(p["cells_needed"])]
        needed = (f"; the adjacent pairs would need {min(p['cells_needed'] for p in power):,.0f} to "
                  f"{max(p['cells_needed'] for p in power):,.0f} cells per repeat to be resolved (80% power)"
                  if power else "")
        lines.append(f"- {where}: Kendall tau led by {ties['leader']}; tied with it: "
                     f"{', '.join(others) if others else 'none'}{needed}.")
    return lines


def _budget_tables(rows: Sequence[Row], budgets: Sequence[int], derived: dict) -> list[str]:
    """A suite with train.budgets: one table per budget, the longest's share of it in the heading."""
    lines = []
    for budget in budgets:
        mine = [r for r in rows if r.budget == budget]
        lines += ["", f"## Budget {budget} epochs ({100 * budget / budgets[-1]:g}% of {budgets[-1]})", ""]
        lines += _rows_table(mine, derived) if mine else ["No trial of this budget completed."]
    return lines


def _budgets_text(budgets: Sequence[int]) -> str:
    return (f"Budgets (train.budgets): every network is trained once per budget, {', '.join(map(str, budgets))} "
            f"epochs, each run with its own learning-rate schedule ending at its budget (thesis appendix A.2). A "
            f"budget's rows score its runs' estimates against their own final accuracy, at the end of that budget, "
            f"and rank the networks within it.")


def render_markdown(rows: Sequence[Row], meta: dict[str, Any]) -> str:
    budgets = list(meta.get("budgets") or ())
    lines = [
        f"# {meta['suite']['name']} {meta['suite']['version']}",
        "",
        f"{meta['suite']['description']}".strip(),
        "",
        f"Dataset copy: `{meta['dataset_source']}`. Truth: {_truth_text(meta['truth'])}. "
        f"Trials scored: {meta['trials_scored']} over {meta['repeats']} repeat(s); "
        f"failed trials: {len(meta['failed_trials'])}. Traces hash `{meta['traces_hash'][:16]}`.",
        "",
        "MAE is in accuracy percentage points (pp). Brackets hold 95% intervals over cells (see \"How sure\"), "
        "the overheads' drawn from the estimates in the same way. Overhead is the "
        "estimator's wall time per trial, also in epochs of the same trial's training, and its CPU time in "
        "units of a reference workload timed in the same run (ref, what `fhbench compare` gates).",
        *(["", f"Failed estimates: {meta['failed_estimate_rule']}."] if meta.get("failed_estimate_rule") else []),
        "",
        *([_budgets_text(budgets), ""] if budgets else []),
        f"At each {'budget and ' if budgets else ''}epoch the estimators are ranked by Kendall tau, best first."
        + (f" MAE n/a: {', '.join(sorted({r.estimator for r in rows if r.rank_only}))} rank(s) trials without "
           f"estimating an accuracy, so only the rank correlations apply." if any(r.rank_only for r in rows) else ""),
    ]
    derived = overhead_intervals({**meta, "rows": [r.as_dict() for r in rows]})
    lines += _answer_markdown(rows, meta)
    lines += ["", "## Every metric", "", "Every row, ranked by Kendall tau at each "
              f"{'budget and ' if budgets else ''}checkpoint. The overheads' intervals are over cells, drawn from "
              "the estimates as the other intervals are; where a board has none, mean ± std over repeats."]
    lines += _budget_tables(rows, budgets, derived) if budgets else ["", *_rows_table(rows, derived)]
    lines += _statistics_text(meta)
    if meta.get("failed_trials"):
        lines += ["", f"## Failed trials ({len(meta['failed_trials'])})", "",
                  "Not scored: a trial that diverged, or that was lost while recording (its worker died on every "
                  "try; the same command run again records it).", ""]
        lines += [f"- {t.get('trial_id')} `{t.get('config')}`: {t.get('status')} after {t.get('epochs_completed')} "
                  f"epoch(s)" + (f": {t['failure']}" if t.get("failure") else "") for t in meta["failed_trials"]]
    if meta.get("failures"):
        lines += _failure_markdown(meta["failures"])
    if meta.get("per_network"):
        lines += _per_network_markdown(meta["per_network"])
    for view in meta.get("per_network_by_budget") or ():
        lines += _per_network_markdown(view, budget_suffix(view["budget"]))
    if meta.get("seen"):
        lines += seen_markdown(meta["seen"])
    if budgets:
        lines += ["", "Plots, one of each per budget (`-b<budget>` in the name, e.g. "
                  f"`mae{budget_suffix(budgets[0])}.png`): `mae`, `kendall_tau`, and `mae_overhead` (MAE with each "
                  "point shifted right by its estimator's overhead in epochs, thesis Fig. 4.3; it moves with the "
                  "measured timings). Every row and the environment: `results.json`.", ""]
    else:
        lines += ["", "Plots: `mae.png`, `kendall_tau.png`, and `mae_overhead.png` (MAE with each point shifted right "
                  "by its estimator's overhead in epochs, thesis Fig. 4.3; it moves with the measured timings). Every "
                  "row and the environment: `results.json`.", ""]
    return "\n".join(lines)


def _per_network_markdown(view: dict[str, Any], suffix: str = "") -> list[str]:
    """The per-network section (`fhbench.score.per_network`): abs error at a few epochs, settle epoch, speed-up.
    `suffix` (train.budgets: "-b050") marks the view of one budget, in the heading and the plots' names."""
    checkpoints = list(view["checkpoints"])
    shown = [(epoch, checkpoints.index(epoch)) for epoch in view["table_epochs"] if epoch in checkpoints]
    several = any(len(n["trials"]) > 1 for n in view["networks"])
    heading = f"## Per network, budget {view['budget']} epochs" if suffix else "## Per network"
    lines = ["", heading, "",
             f"Each network's estimates against its own final accuracy (thesis Figs 3.1, 4.1): the absolute error "
             f"in pp at a few epochs{' (mean ± std over its trials)' if several else ''}, and the "
             f"{view['definition']} (budget {view['budget']} epochs)."
             + (" Settle epochs and speed-ups are per trial, in repeat order." if several else ""),
             ""]
    if view.get("rank_only_left_out"):
        lines += [f"Left out: {', '.join(view['rank_only_left_out'])} (rank-only: no accuracy to compare).", ""]
    lines += ["| network (trials) | estimator | " + " | ".join(f"error @{e}" for e, _ in shown)
              + " | settle epoch | speed-up |",
              "|---|---|" + "---:|" * (len(shown) + 2)]
    for network in view["networks"]:
        for name in view["estimators"]:
            numbers = network["estimators"].get(name)
            if numbers is None:
                continue
            errors = [_pm(numbers["abs_error_mean"][i], numbers["abs_error_std"][i], 100) if several
                      else f"{100 * numbers['abs_error_mean'][i]:.2f}" for _, i in shown]
            settles = [settle_text(e, s) for e, s in zip(numbers["settle_epochs"], numbers["speedups"])]
            lines.append(f"| `{network['config']}` ({', '.join(network['trials'])}) | {name} | "
                         + " | ".join(errors) + " | "
                         + ", ".join(e for e, _ in settles) + " | " + ", ".join(s for _, s in settles) + " |")
    lines += ["", f"Plots: `settle{suffix}.png` (settle epoch per network and estimator), "
              f"`abs_error_by_network{suffix}.png` (abs error against epoch, one panel per network) and one "
              "`trajectory-<trial>.png` per trial (every estimate, the recorded accuracy curves and the final "
              "accuracy). The numbers, per trial and checkpoint: "
              f"`{'per_network_by_budget' if suffix else 'per_network'}` in `results.json`."]
    return lines


def publish(root: str | Path, rows: Sequence[Row], header: dict[str, Any], extra: dict[str, Any] | None = None,
            more_files: dict[str, Any] | None = None) -> Path:
    """Writes the leaderboard of one suite version; returns its directory.

    `header` comes from `fhbench.publish.provenance.results_header("estimation", ...)`; `extra` holds what an
    estimation leaderboard adds (dataset_source, repeats, trials_scored, failed_trials, truths,
    failures, estimates, seeds, and "seen" where the suite records predictions). `more_files` are
    more files for the directory, as `write_directory` takes them (fhbench.score.seen's plots).
    """
    final = Path(root) / header["suite"]["name"] / header["suite"]["version"]
    extra = dict(extra or {})
    meta = {**header, **extra}
    estimates = extra.pop("estimates", None)
    extra_files = {}
    if estimates is not None:  # every estimate, in its own CSV: results.json stays small on large boards
        extra["configs"] = {e["trial_id"]: e["config"] for e in estimates if "config" in e}
        extra["estimates_file"] = ESTIMATES_FILE
        extra_files[ESTIMATES_FILE] = render_estimates_csv(estimates)
    files = {
        **extra_files,
        "results.json": results_json(header, rows, extra),
        "leaderboard.csv": render_csv(rows),
        "leaderboard.md": render_markdown(rows, meta),
        **estimation_plots(rows, meta),
        **per_network_plots(meta),
    }
    clash = sorted(set(files) & set(more_files or {}))
    if clash:
        raise ValueError(f"publish: files given twice: {', '.join(clash)}")
    return write_directory(final, {**files, **(more_files or {})}, sign=True)
