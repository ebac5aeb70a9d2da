"""The search leaderboard: a Table 4.1-style table (algorithm by estimator), regret against simulated
time, and the estimate tables the searches replayed, published through `fhbench.publish.provenance` like every
other leaderboard (one results header, one atomic directory swap).

Files of `<root>/<suite>/<version>/`: results.json (header, every run, the regret's reference and the
pool's floor, warnings), leaderboard.csv, leaderboard.md, regret.png, and estimates.json (per
estimator its estimates, overheads and failures, plus the pool's cells, per-config epoch costs, pool
truths and the truth's description): `fhbench reproduce DIR` replays every search from these files.
Live searches publish under `<root>/<suite>/live/<algorithm>-<estimator>-seed<seed>/`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

from fhbench.publish.numbers import interval_text
from fhbench.publish.provenance import results_json, write_directory
from fhbench.publish.verdicts import search_summary

COLUMNS = ["algorithm", "estimator", "true_acc_mean", "true_acc_std", "regret_mean", "regret_lo", "regret_hi",
           "regret_std", "anytime_regret_mean", "anytime_regret_lo", "anytime_regret_hi", "simulated_time_s_mean",
           "configs_evaluated_mean", "jobs_mean", "n_failed", "coverage", "seeds"]


def render_csv(rows: Sequence) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        data = row.as_dict()
        writer.writerow([f"{data[c]:.6g}" if isinstance(data[c], float) else data[c] for c in COLUMNS])
    return out.getvalue()


def _pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


_FAILURE = re.compile(r"^(?P<cell>.*) at budget (?P<budget>\d+): (?P<error>.*)$", re.S)


def _failure_markdown(estimate_failures: dict) -> list[str]:
    """Failed estimates per estimator: the count, where the first was, and each distinct error with
    its count (every one is in results.json)."""
    from fhbench.publish.estimation_board import error_lines, group_failures

    failures = []
    for name, items in estimate_failures.items():
        for item in items:
            match = _FAILURE.match(str(item))
            failures.append({"estimator": name, "error": match["error"] if match else str(item),
                             "where": f"`{match['cell']}` at budget {match['budget']}" if match else None})
    if not failures:
        return []
    lines = ["", f"## Failed estimates ({len(failures)}, each ranked last)", ""]
    for name, group in group_failures(failures).items():
        where = group["first"]["where"]
        lines.append(f"- **{name}**: {group['count']} failed" + (f"; first on {where}" if where else ""))
        lines += error_lines(group)
    return lines


def _winners_markdown(summary) -> list[str]:
    """Who wins, in a sentence: the lowest final regret, the searches whose intervals overlap it, the
    lowest any-time regret."""
    if not summary.lines:
        return []
    best = summary.lines[0]
    text = (f"Lowest final regret: **{best.algorithm}** with **{best.estimator}**, "
            f"{interval_text(best.final_pp.point, best.final_pp.lo, best.final_pp.hi, significant=3)} pp over "
            f"{best.seeds} seed(s).")
    tied = [f"{line.algorithm} with {line.estimator}" for line in summary.lines if line.tied]
    if summary.no_interval:
        text += f" Intervals n/a: {summary.no_interval}."
    else:
        text += f" Tied with it (overlapping intervals): {', '.join(tied)}." if tied else " No other interval overlaps it."
    if summary.anytime_best:
        first = summary.anytime_best[0]
        text += (f" Lowest any-time regret: {first.algorithm} with {first.estimator}, "
                 f"{interval_text(first.anytime_pp.point, first.anytime_pp.lo, first.anytime_pp.hi, significant=3)}"
                 " pp.")
    return ["", text]


def render_markdown(rows: Sequence, meta: dict) -> str:
    regret = meta["regret"]
    truth = meta["truth"]
    summary = search_summary(meta, [r.as_dict() for r in rows])
    order = {(line.algorithm, line.estimator): line for line in summary.lines}
    lines = [
        f"# {meta['suite']['name']} {meta['suite']['version']}",
        "",
        meta["suite"]["description"],
        *_winners_markdown(summary),
        "",
        f"Truth: {truth['source']}. Regret is measured against the {regret['against']}, "
        f"{_pct(regret['reference'])}% (`{regret['reference_cell']}`); the pool's best is "
        f"{_pct(regret['pool_best'])}% (`{regret['pool_best_cell']}`), so no search of this pool can have "
        f"less than {_pct(regret['pool_floor'])} pp of regret (the pool's floor).",
        "",
        f"Pool: {len(meta['pool'])} recorded cells (`{meta['dataset_source']}`). Each search gets "
        f"{meta['time_budget_s']:.0f} simulated seconds. Cost model: {meta['cost_model']}.",
        "",
        "Searches ranked by final regret. Final and any-time regret in percentage points (pp), the accuracy of the "
        "chosen configuration in percent: each the mean over seeds with its 95% t-interval over seeds (n/a with one "
        "seed; the accuracy's is the final regret's, mirrored: accuracy = reference - regret). Any-time regret is "
        f"the mean regret over the time budget ({meta.get('anytime_regret_rule', 'see results.json')}). **lowest**, "
        "and *tied*: an interval that overlaps the lowest one's (overlap, not a paired test). Time in simulated "
        "seconds; failed: jobs whose estimate failed or whose trial diverged (ranked last), over all seeds.",
        "",
        "| # | algorithm | estimator | final regret, pp [95% CI] | verdict | any-time regret, pp [95% CI] "
        "| accuracy, % [95% CI] | simulated time | configs evaluated | jobs | failed |",
        "|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    reference = 100 * float(regret["reference"])
    for r in sorted(rows, key=lambda r: order[(r.algorithm, r.estimator)].rank if (r.algorithm, r.estimator) in order
                    else len(order) + 1):
        line = order.get((r.algorithm, r.estimator))
        if line is None:
            continue
        final, anytime = line.final_pp, line.anytime_pp
        accuracy = interval_text(reference - final.point, reference - final.hi, reference - final.lo,
                                 significant=3) if math.isfinite(final.point) else "n/a"
        verdict = "**lowest**" if line.best else "*tied*" if line.tied else ""
        lines.append(f"| {line.rank} | {r.algorithm} | {r.estimator} | "
                     f"{interval_text(final.point, final.lo, final.hi, significant=3)} | {verdict} | "
                     f"{interval_text(anytime.point, anytime.lo, anytime.hi, significant=3)} | {accuracy} | "
                     f"{r.simulated_time_s_mean:.0f} | {r.configs_evaluated_mean:.1f} | {r.jobs_mean:.1f} | "
                     f"{r.n_failed} |")
    for text in meta.get("warnings", []):
        lines += ["", f"Warning: {text}"]
    lines += _failure_markdown(meta.get("estimate_failures") or {})
    lines += ["", "Plot: `regret.png`. Every run, its incumbent and trajectory: `results.json`. The estimate "
              "tables and epoch costs the searches replayed: `estimates.json` (`fhbench reproduce` replays "
              "every search from these files).", ""]
    return "\n".join(lines)


def plot_regret(meta: dict, path: Path) -> None:
    """regret.png: drawn by `fhbench.publish.plots.plot_regret` (one panel per algorithm, log axis, the pool's floor)."""
    from fhbench.publish.plots import plot_regret as draw

    draw(meta, path)


def estimates_json(document: dict) -> str:
    """estimates.json keeps every digit of its floats (unlike results.json), so that a replay from it
    is exact; NaN is written as null."""
    return json.dumps(document, indent=None, sort_keys=True, allow_nan=False) + "\n"


def publish_search(root: str | Path, header: dict, rows: Sequence, extra: dict, estimates: dict) -> Path:
    """Writes the search leaderboard of one suite version; returns its directory. `header` comes from
    `fhbench.publish.provenance.results_header("search", ...)`, `extra` from `fhbench.search.run.results_extra`,
    `estimates` from `fhbench.search.run.estimates_document`."""
    final = Path(root) / header["suite"]["name"] / header["suite"]["version"]
    text = results_json(header, rows, extra)
    meta = json.loads(text)  # what the files render: the published numbers
    return write_directory(final, {
        "results.json": text,
        "estimates.json": estimates_json(estimates),
        "leaderboard.csv": render_csv(rows),
        "leaderboard.md": render_markdown(rows, meta),
        "regret.png": lambda path: plot_regret(meta, path),
    }, sign=True)


def publish_live(root: str | Path, suite, run, cells: Sequence[str], *, epochs_trained: int, environment: dict,
                 estimators: dict, winner: dict | None = None) -> Path:
    """Writes one live search under `<root>/<suite>/live/<algorithm>-<estimator>-seed<seed>/`: results.json
    (the common header, kind "live", the chosen architecture's accuracies as `winner`, then every job)
    and a short leaderboard.md."""
    from fhbench.publish.provenance import results_header

    header = results_header("live", suite, estimators=estimators, environment=environment, traces_hash=None,
                            truth={"spec": suite.search.truth,
                                   "source": "the chosen architecture's accuracy under the suite's search truth, "
                                             "where it is known (`winner`)"},
                            metrics={})
    incumbent = cells[run.incumbent] if run.incumbent is not None else None
    extra = {"algorithm": run.algorithm, "estimator": run.estimator, "seed": run.seed, "workers": run.workers,
             "incumbent": incumbent, "simulated_time_s": run.simulated_time_s, "stopped": run.stopped,
             "epochs_trained": epochs_trained, "pool": list(cells), "jobs": run.jobs,
             "trajectory": [[t, i] for t, i in run.trajectory], "warnings": list(run.notes), "winner": winner}
    final = Path(root) / suite.name / "live" / f"{run.algorithm}-{run.estimator}-seed{run.seed}"
    lines = [f"# {suite.name}: live {run.algorithm} with {run.estimator}, seed {run.seed}", "",
             f"Best architecture: `{incumbent}`.", "",
             f"{len(run.jobs)} jobs, {epochs_trained} epochs trained, {run.simulated_time_s:.1f} s on the "
             f"driver's clock (measured training, validation and estimator time). Every job: `results.json`.", ""]
    lines += [f"Warning: {text}" for text in run.notes]
    return write_directory(final, {"results.json": results_json(header, [], extra),
                                   "leaderboard.md": "\n".join(lines) + "\n"}, sign=True)
