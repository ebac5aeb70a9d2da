"""One board's page of the site, in reading order: the answer in a sentence, the plots, the ranking (per
checkpoint of an estimation board, by final regret on a search board) with 95% intervals and those tied
with the leader marked, then folded: every row with every metric, the difference from the previous
version, failures and warnings, provenance, the published files.

Units as the reader thinks in them, the same in every table, caption and leaderboard.md: MAE and regret in
percentage points (pp), accuracies in percent, overhead in epochs of the trial's own training (and
seconds). Numbers to three significant digits; a point with its interval as "0.485 [0.389, 0.577]".
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fhbench.publish.compare import KEY_FIELDS
from fhbench.publish.derived import declared_intervals, overhead_intervals
from fhbench.publish.numbers import finite, interval_text, significant_text
from fhbench.publish.site_boards import Board
from fhbench.publish.site_figures import Figure, board_figures
from fhbench.publish.site_html import (
    LEAD,
    as_dict,
    esc,
    estimator_link,
    fmt,
    page,
    short,
    sort_value,
    table,
    td,
    value_html,
)
from fhbench.publish.verdicts import (
    OVERHEAD_FLOOR,
    Checkpoint,
    Estimate,
    SearchSummary,
    at_quarter,
    declared_targets,
    estimation_checkpoints,
    search_summary,
)

__all__ = ["ALGORITHMS", "LABELS", "algorithm_name", "board_page", "estimate_html", "overhead_html", "size_text"]

HIDDEN_HEADER = {"rows", "estimates"}  # results.json keys never printed in the header table

LABELS = {
    "estimator": "estimator", "algorithm": "algorithm", "target": "target", "source": "source", "epoch": "epoch",
    "budget": "budget (epochs)", "budget_fraction": "share of budget (%)", "kendall_tau": "Kendall tau",
    "kendall_tau_verdict": "tau verdict", "mae": "MAE (pp)", "mae_verdict": "MAE verdict",
    "spearman_rho": "Spearman rho", "top10_precision": "top-10% precision", "overhead_s": "overhead (s)",
    "overhead_epochs": "overhead (epochs)", "overhead_cpu_s": "overhead, CPU (s)",
    "overhead_ref": "overhead (reference units)", "n_estimates": "estimates", "n_failed": "failed",
    "coverage": "coverage", "repeats_scored": "repeats scored", "repeats": "repeats", "at_bound": "at a bound",
    "rank_only": "rank only", "true_acc": "accuracy of the choice (%)", "regret": "final regret (pp)",
    "anytime_regret": "any-time regret (pp)", "simulated_time_s": "simulated time (s)",
    "configs_evaluated": "configurations evaluated", "jobs": "jobs", "seeds": "seeds",
    "seeds_with_truth": "seeds with a truth", "clock_s": "clock (s)", "wall_s": "wall (s)",
    "device_days": "device-days", "params": "parameters", "macs": "multiply-accumulates", "failed_jobs": "failed jobs",
    "unrecorded_jobs": "jobs not recorded", "agrees_with_live": "replay = live",
}
"""Column names a reader knows, for the results' field names (the field name is the column's tooltip)."""

SCALES = {"mae": 100.0, "regret": 100.0, "anytime_regret": 100.0, "true_acc": 100.0, "budget_fraction": 100.0}
"""Fields shown in percentage points or percent: fractions in results.json."""



# ---------------------------------------------------------------------------------------------- numbers


def estimate_html(estimate: Estimate | None, unit: str = "", none_text: str = "n/a") -> str:
    """A point and its 95% interval (the interval smaller, after it), "[n/a]" where there is none."""
    if estimate is None or not finite(estimate.point):
        return esc(none_text)
    text = interval_text(estimate.point, estimate.lo, estimate.hi, significant=3)
    point, _, bounds = text.partition(" ")
    return f"{esc(point)} <span class=\"ci\">{esc(bounds) if bounds else '[n/a]'}{esc(unit)}</span>"


def overhead_html(estimate: Estimate, none_text: str = "n/a (another device)") -> str:
    """An overhead in epochs: "< 0.001" where its whole interval lies below that. `none_text` says why
    there is none: the trials were recorded on another device, or never trained (a proxy-only board)."""
    text = interval_text(estimate.point, estimate.lo, estimate.hi, significant=3, below=OVERHEAD_FLOOR)
    if text.startswith("<"):
        return esc(text) + f' <span class="ci">[{"95% CI below" if estimate.has_interval else "n/a"}]</span>'
    return estimate_html(estimate, none_text=none_text)


def _mark(verdict: str, best: str = "leader") -> str:
    if verdict == "best":
        return f'<span class="mark best">{esc(best)}</span>'
    if verdict == "tied":
        return '<span class="mark tied">tied</span>'
    return ""


# ---------------------------------------------------------------------------------------------- estimation answer


def _names(standings: Sequence[Any], depth: int) -> str:
    return ", ".join(estimator_link(s.estimator, depth) for s in standings) or "none"


def _headline(checkpoints: list[Checkpoint], depth: int) -> str:
    quarter = at_quarter(checkpoints)
    if quarter is None or not quarter.standings:
        return ""
    top = quarter.leader or quarter.standings[0]
    moment = quarter.moment
    where = esc(moment[0].upper() + moment[1:])
    if quarter.no_interval:
        return (f'<p class="headline">{where}, {estimator_link(top.estimator, depth)} has the highest Kendall tau, '
                f"{estimate_html(top.tau)}; no estimator can be called ahead of another here (intervals n/a: "
                f"{esc(quarter.no_interval)}).</p>")
    tied = quarter.tied
    text = (f"{where}, {estimator_link(top.estimator, depth)} ranks architectures best: Kendall tau "
            f"{estimate_html(top.tau)}. ")
    text += (f"Tied with it (not significantly behind): {_names(tied, depth)} ({len(tied) + 1} of "
             f"{len(quarter.standings)})." if tied else "No other estimator is tied with it.")
    mae_best = [s for s in quarter.standings if s.mae_verdict == "best" and s.mae_pp is not None]
    if mae_best:
        best = mae_best[0]
        mae_tied = [s for s in quarter.standings if s.mae_verdict == "tied"]
        text += (f" Lowest MAE there: {estimator_link(best.estimator, depth)}, {estimate_html(best.mae_pp, ' pp')}"
                 + (f"; tied with it: {_names(mae_tied, depth)}." if mae_tied else "."))
    return f'<p class="headline">{text}</p>'


def _checkpoint_table(checkpoint: Checkpoint, index: int, depth: int) -> str:
    body = []
    no_overhead = "n/a (nothing trained)" if checkpoint.epoch == 0 else "n/a (another device)"
    for s in checkpoint.standings:
        mae = "rank only" if s.mae_pp is None else estimate_html(s.mae_pp)
        mae += (" " + _mark(s.mae_verdict, "lowest")) if s.mae_verdict in ("best", "tied") else ""
        body.append(f"<tr{LEAD if s.leads_or_tied else ''}>"
                    f'<td class="rank">{s.rank}</td><td class="name">{estimator_link(s.estimator, depth)}</td>'
                    f'<td class="num">{estimate_html(s.tau)}</td><td>{_mark(s.verdict)}</td>'
                    f'<td class="num">{mae}</td><td class="num">{overhead_html(s.overhead_epochs, no_overhead)}</td></tr>')
    title = checkpoint.heading
    note = f'<p class="muted">Intervals n/a: {esc(checkpoint.no_interval)}.</p>' if checkpoint.no_interval else ""
    headers = [("#", None), ("estimator", None), ("Kendall tau (95% CI)", None), ("verdict", None),
               ("MAE, pp (95% CI)", None), ("overhead, epochs (95% CI)", None)]
    return (f'<section><h3 id="checkpoint-{index}">{esc(title)}</h3>{note}'
            + table(headers, body, f"ranking-{index}", sortable=False,
                    caption=f"Estimators ranked by Kendall tau at {checkpoint.where}") + "</section>")


def _method_note(board: Board) -> str:
    statistics = board.header.get("statistics")
    if not isinstance(statistics, dict):
        return ('<p class="warn">This version was published before intervals: its spreads are over repeats, not '
                "uncertainties, and it marks no one as tied. The ranking is by the mean alone.</p>")
    return ('<p class="muted">Ranked by Kendall tau between estimates and true final accuracies (higher ranks '
            f"architectures better). 95% intervals: {esc(statistics.get('method', '?'))}, "
            f"B = {esc(statistics.get('n_resamples', '?'))}, seed {esc(statistics.get('seed', '?'))}. "
            '<span class="mark best">leader</span> <span class="mark tied">tied</span>: not significantly behind the '
            "leader (paired difference, Holm-corrected). MAE in percentage points (pp) for estimators that estimate "
            "an accuracy; rank-only ones order architectures without one. Overhead: the estimator's time per "
            "trial in epochs of that trial's training (95% interval over cells, from the board's estimates). "
            "The checkpoints share their cells, so their verdicts are not independent. Across boards: the "
            'average ranks and the critical-difference diagram on <a href="../../index.html#across">the index</a>.'
            "</p>")


def _estimation_answer(board: Board) -> tuple[str, str]:
    """(headline, the ranking per checkpoint)."""
    checkpoints = estimation_checkpoints(board.header, board.rows)
    if not checkpoints:
        return "", ""
    tables = "".join(_checkpoint_table(c, i, board.depth) for i, c in enumerate(checkpoints))
    return (_headline(checkpoints, board.depth),
            '<h2 id="ranking">Ranking at each checkpoint</h2>' + _method_note(board)
            + f'<div class="checkpoints stack">{tables}</div>')


# ---------------------------------------------------------------------------------------------- search answer


def _search_headline(summary: SearchSummary, depth: int) -> str:
    if not summary.lines:
        return ""
    best = summary.lines[0]
    text = (f"Lowest final regret: <b>{esc(algorithm_name(best.algorithm))}</b> with "
            f"{estimator_link(best.estimator, depth)}, "
            f"{estimate_html(best.final_pp, ' pp')} over {best.seeds} seed{'s' if best.seeds != 1 else ''}. ")
    tied = [line for line in summary.lines if line.tied]
    if summary.no_interval:
        text += f"Intervals n/a: {esc(summary.no_interval)}."
    elif tied:
        text += ("Its interval overlaps (tied): " + ", ".join(
            f"{esc(algorithm_name(line.algorithm))} with {estimator_link(line.estimator, depth)}"
            for line in tied) + ".")
    else:
        text += "No other search's interval overlaps it."
    if summary.anytime_best:
        first = summary.anytime_best[0]
        text += (f" Lowest any-time regret: {esc(algorithm_name(first.algorithm))} with "
                 f"{estimator_link(first.estimator, depth)}, "
                 f"{estimate_html(first.anytime_pp, ' pp')}"
                 + (f", tied with {len(summary.anytime_best) - 1} more." if len(summary.anytime_best) > 1 else "."))
    return f'<p class="headline">{text}</p>'


def _search_answer(board: Board) -> tuple[str, str]:
    summary = search_summary(board.header, board.rows)
    if not summary.lines:
        return "", ""
    body = []
    for line in summary.lines:
        verdict = "best" if line.best else "tied" if line.tied else ""
        body.append(f'<tr{LEAD if verdict else ""}><td class="rank">{line.rank}</td>'
                    f'<td class="name">{esc(algorithm_name(line.algorithm))}</td>'
                    f'<td class="name">{estimator_link(line.estimator, board.depth)}</td>'
                    f'<td class="num">{estimate_html(line.final_pp)}</td><td>{_mark(verdict, "lowest")}</td>'
                    f'<td class="num">{estimate_html(line.anytime_pp)}</td><td class="num">{line.seeds}</td></tr>')
    header = board.header
    derived = (" The intervals are derived from the board's runs (it was published before them), by the rules "
               "newer boards use." if summary.derived else "")
    rule = header.get("anytime_regret_rule") or ("any-time regret: the mean of the incumbent's regret over the "
                                                 "search's time budget (before its first result: the pool's worst "
                                                 "configuration's)")
    against = as_dict(header.get("regret")).get("against", "reference")
    note = (f'<p class="muted">Regret in percentage points (pp) against the {esc(against)}: '
            "final regret is the chosen configuration's, "
            f"{esc(rule)}. 95% t-intervals over seeds; <span class=\"mark best\">lowest</span> "
            '<span class="mark tied">tied</span>: its final-regret interval overlaps the lowest one\'s (overlap, '
            f"not a paired test).{esc(derived)}</p>")
    headers = [("#", None), ("algorithm", None), ("estimator", None), ("final regret, pp (95% CI)", None),
               ("verdict", None), ("any-time regret, pp (95% CI)", None), ("seeds", None)]
    return (_search_headline(summary, board.depth),
            '<h2 id="ranking">Searches ranked by final regret</h2>' + note
            + table(headers, body, "ranking-0", sortable=False, caption="Searches ranked by final regret"))


# ---------------------------------------------------------------------------------------------- declared answer

ALGORITHMS = {"random": "random search", "hyperband": "HyperBand", "bohb": "BOHB"}
"""How a search algorithm is named to a reader."""


def algorithm_name(algorithm: str) -> str:
    return ALGORITHMS.get(algorithm, algorithm)


def _declared_answer(board: Board) -> tuple[str, str]:
    targets = declared_targets(board.header, board.rows)
    if not targets:
        return "", ""
    best, tables = [], []
    for index, (target, choices) in enumerate(targets.items()):
        if not choices:
            continue
        top = choices[0]
        best.append(f"<li><b>{esc(target)}</b>: {esc(algorithm_name(top.algorithm))} with "
                    f"{estimator_link(top.estimator, board.depth)} ({esc(top.source)}), "
                    f"{estimate_html(top.accuracy_pct, '%')}; tied (overlapping intervals): "
                    f"{sum(c.tied or c.best for c in choices) - 1} of {len(choices) - 1} others</li>")
        body = []
        for c in choices:
            verdict = "best" if c.best else "tied" if c.tied else ""
            body.append(f'<tr{LEAD if verdict else ""}><td class="rank">{c.rank}</td>'
                        f'<td class="name">{esc(algorithm_name(c.algorithm))}</td>'
                        f'<td class="name">{estimator_link(c.estimator, board.depth)}</td><td>{esc(c.source)}</td>'
                        f'<td class="num">{estimate_html(c.accuracy_pct)}</td><td>{_mark(verdict, "highest")}</td>'
                        f'<td class="num">{c.seeds}</td></tr>')
        headers = [("#", None), ("algorithm", None), ("estimator", None), ("source", None),
                   ("accuracy of the choice, % (95% CI)", None), ("verdict", None), ("seeds", None)]
        tables.append(f"<h3>{esc(target)}</h3>" + table(
            headers, body, f"ranking-{index}", sortable=False,
            caption=f"Searches for {target} ranked by the accuracy of their choice"))
    headline = ('<div class="headline"><p>The highest accuracy of the chosen configuration, per target (95% '
                "t-interval over seeds):</p><ul class=\"compact\">" + "".join(best) + "</ul></div>")
    note = ('<p class="muted">Each search\'s choice is trained at the suite\'s full budget and scored on its own '
            "test accuracy; live: the search ran for real; replayed: the same search replayed on the traces the live "
            "searches wrote. 95% t-intervals over the seeds with a truth (with two seeds the interval is wide); "
            '<span class="mark best">highest</span> <span class="mark tied">tied</span>: an interval that overlaps '
            "the highest one's (overlap, not a paired test).</p>")
    return headline, '<h2 id="ranking">Searches ranked per target</h2>' + note + "".join(tables)


# ---------------------------------------------------------------------------------------------- all rows


def columns(board: Board) -> list[str]:
    """The row fields in the published CSV's order (key fields first where there is no CSV), then any other."""
    fields: list[str] = []
    csv_file = board.directory / "leaderboard.csv"
    if csv_file.is_file():
        try:
            with open(csv_file, newline="") as handle:
                fields = next(csv.reader(handle), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            fields = []
    seen = {k for row in board.rows for k in row}
    order = [f for f in fields if f in seen]
    order += [k for k in KEY_FIELDS if k in seen and k not in order]
    order += sorted(seen - set(order))
    key_first = [k for k in KEY_FIELDS if k in order]
    return key_first + [f for f in order if f not in key_first]


def display_columns(board: Board) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(stem, field, how the cell adds its spread): a `X_mean` with `X_lo` and `X_hi` becomes one column X
    shown "mean [lo, hi]" (the 95% interval); one with only a `X_std` "mean ± std" (older boards, and the
    overheads, whose interval is derived where the board allows)."""
    fields = columns(board)
    out = []
    for name in fields:
        stem = name[:-5] if name.endswith("_mean") else None
        if name.endswith(("_lo", "_hi")) and name.rsplit("_", 1)[0] + "_mean" in fields:
            continue
        if name.endswith("_std") and name[:-4] + "_mean" in fields:
            continue
        if stem and stem + "_lo" in fields and stem + "_hi" in fields:
            out.append((stem, name, ("interval", stem + "_lo", stem + "_hi")))
        elif stem and stem + "_std" in fields:
            out.append((stem, name, ("std", stem + "_std")))
        else:
            out.append((name, name, None))
    return out


def _label(stem: str) -> str:
    if stem not in LABELS and stem.endswith("_mean") and stem[:-5] in LABELS:
        return LABELS[stem[:-5]] + ", mean"
    return LABELS.get(stem, stem.replace("_", " "))


def _cell(row: dict, stem: str, name: str, spread: tuple[str, ...] | None,
          derived: dict[str, tuple[float, float, float]]) -> str:
    """A number with its interval: the row's own, else one `fhbench.publish.derived` drew (`derived`, by
    stem), else the row's spread; in the unit of SCALES."""
    value = row.get(name)
    scale = SCALES.get(stem, 1.0)
    if not finite(value):
        return td(value)
    if stem in derived and finite(derived[stem][0]):
        point, lo, hi = derived[stem]
        return td(value, interval_text(point, lo, hi, scale, significant=3))
    if spread and spread[0] == "interval":
        return td(value, interval_text(value, row.get(spread[1]), row.get(spread[2]), scale, significant=3))
    if spread and spread[0] == "std" and finite(row.get(spread[1])):
        return td(value, f"{significant_text(value, scale=scale)} ± {significant_text(row[spread[1]], scale=scale)}")
    if scale != 1.0 or isinstance(value, float):
        return td(value, significant_text(value, scale=scale))
    return td(value)


def _provenance(board: Board, row: dict) -> str:
    header = board.header
    suite = as_dict(header.get("suite"))
    env = as_dict(header.get("environment"))
    git = as_dict(header.get("git"))
    estimator = row.get("estimator")
    spec = as_dict(as_dict(header.get("estimators")).get(estimator)) if isinstance(estimator, str) else {}
    items: dict[str, Any] = {
        "suite hash": suite.get("hash"), "record hash": suite.get("record_hash"),
        "traces hash": header.get("traces_hash"),
    }
    if spec:
        items[f"estimator {estimator}"] = {
            "version": spec.get("version"), "package": f"{spec.get('package')} {spec.get('package_version')}",
            "target": spec.get("target"), "settings": spec.get("settings", {})}
    elif estimator is not None:
        items[f"estimator {estimator}"] = "not described in the results header"
    search = as_dict(as_dict(header.get("suite_settings")).get("search"))
    if "algorithm" in row and search:
        items[f"search {row['algorithm']}"] = {k: v for k, v in search.items() if k not in ("algorithms", "estimators")}
    items["environment"] = {k: env.get(k) for k in ("device", "device_name", "threads", "torch", "cuda",
                                                      "deterministic_algorithms", "python") if k in env}
    items["fhbench"] = f"{header.get('fhbench_version', '?')}, git {short(git.get('commit'))}" + \
        (" (dirty)" if git.get("dirty") else "")
    label = f"v{spec.get('version')} · {env.get('device', '?')} ×{env.get('threads', '?')}" if spec else \
        f"{env.get('device', '?')} ×{env.get('threads', '?')}"
    return (f'<td class="prov"><details><summary>{esc(label)}</summary><div class="pop">{value_html(items)}</div>'
            "</details></td>")


def _rows_table(board: Board) -> str:
    if not board.rows:
        return "<p>No rows.</p>"
    metrics = board.results.metrics
    cols = display_columns(board)
    if board.kind == "estimation":
        derived = overhead_intervals({**board.header, "rows": board.rows})
    elif board.kind == "declared-search":
        derived = {(k[1], k[2], k[3], k[0]): {"true_acc": v} for k, v in declared_intervals(board.header).items()}
    else:
        derived = {}
    headers = []
    for stem, name, spread in cols:
        direction = metrics.get(name)
        interval = spread is not None and (spread[0] == "interval" or (
            derived and (stem.startswith("overhead") or stem == "true_acc")))
        tip = (f"{name}: {direction} is better" if direction else name) + \
            (" (mean [95% interval])" if interval else " (mean ± std)" if spread else "")
        headers.append((_label(stem) + {"lower": " ↓", "higher": " ↑"}.get(direction or "", ""), tip))
    keys = [name for _stem, name, _spread in cols if name in KEY_FIELDS] or [cols[0][1]]
    at = [name for _stem, name, _spread in cols].index(keys[-1]) + 1
    headers.insert(at, ("provenance", None))
    body = []
    for row in board.rows:
        key = ((str(row.get("algorithm")), str(row.get("estimator")), str(row.get("source")), str(row.get("target")))
               if board.kind == "declared-search" else (str(row.get("estimator")), row.get("budget"), row.get("epoch")))
        mine = derived.get(key, {})
        mine = {k: v for k, v in mine.items() if finite(v[1])}
        cells = []
        for stem, name, spread in cols:
            if stem == "estimator":
                cells.append(_key_cell(row, name, board.depth))
            else:
                cells.append(_cell(row, stem, name, spread, mine))
            if name == keys[-1]:
                cells.append(_provenance(board, row))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return table(headers, body, "results", caption=f"Every row of {board.title}")


def _figure_html(figure: Figure) -> str:
    src = esc(quote(figure.src))
    return (f'<figure><a href="{src}"><img class="plot" src="{src}" alt="{esc(figure.alt)}"></a>'
            f"<figcaption>{esc(figure.caption)}</figcaption></figure>")


def _figures(board: Board) -> tuple[str, str]:
    """(the verdict plots, first; the other plots, folded)"""
    figures = board_figures(board)
    main = [f for f in figures if f.primary] or figures[:1]
    rest = [f for f in figures if f not in main]
    first = ('<h2 id="plots">Plots</h2><div class="plots">' + "".join(map(_figure_html, main)) + "</div>"
             if main else "")
    more = (f'<details id="more-plots"><summary>More plots ({len(rest)})</summary><div class="plots">'
            + "".join(map(_figure_html, rest)) + "</div></details>" if rest else "")
    return first, more


# ---------------------------------------------------------------------------------------------- the rest


def _failures(board: Board) -> str:
    """Failed estimates per estimator: count and distinct errors (estimation `failures`, search
    `estimate_failures`), failed trials, warnings."""
    header = board.header
    groups: dict[str, dict[str, int]] = {}
    failures = header.get("failures")
    if isinstance(failures, list):
        for item in failures:
            item = as_dict(item)
            errors = groups.setdefault(str(item.get("estimator")), {})
            errors[str(item.get("error"))] = errors.get(str(item.get("error")), 0) + 1
    for name, items in as_dict(header.get("estimate_failures")).items():
        for item in items if isinstance(items, list) else []:
            errors = groups.setdefault(str(name), {})
            text = str(item)
            match = re.match(r"^.* at budget \d+: (.*)$", text, re.DOTALL)
            text = match.group(1) if match else text
            errors[text] = errors.get(text, 0) + 1
    parts = []
    warnings = header.get("warnings")
    for text in warnings if isinstance(warnings, list) else [warnings] if warnings else []:
        parts.append(f'<p class="warn">Warning: {esc(text)}</p>')
    failed_trials = header.get("failed_trials")
    if isinstance(failed_trials, list) and failed_trials:
        parts.append(f"<p>Failed trials: {len(failed_trials)} (each is listed in results.json).</p>")
    if groups:
        items = []
        for name, errors in groups.items():
            listed = sorted(errors.items(), key=lambda e: -e[1])
            lines = "".join(f"<li>{count} × {esc(error)}</li>" for error, count in listed[:10])
            more = f"<li>and {len(listed) - 10} more distinct error(s)</li>" if len(listed) > 10 else ""
            items.append(f"<li><b>{esc(name)}</b>: {sum(errors.values())} failed<ul>{lines}{more}</ul></li>")
        parts.append(f"<ul>{''.join(items)}</ul>")
    rule = header.get("failed_estimate_rule")
    if rule:
        parts.append(f'<p class="muted">Failed estimates: {esc(rule)}.</p>')
    if not parts:
        return ""
    return '<h2 id="failures">Failures and warnings</h2>' + "".join(parts)


def _estimators_table(board: Board) -> str:
    estimators = as_dict(board.header.get("estimators"))
    if not estimators:
        return ""
    body = []
    for name, spec in estimators.items():
        spec = as_dict(spec)
        body.append(f'<tr id="estimator-{esc(name)}"><td class="name">{estimator_link(name, board.depth)}</td>'
                    + td(spec.get("version"))
                    + td(f"{spec.get('package', '')} {spec.get('package_version', '')}".strip())
                    + f"<td><code>{esc(spec.get('target', ''))}</code></td>"
                    + f"<td>{value_html(spec.get('settings', {}))}</td></tr>")
    return ("<h3>Estimators (effective settings)</h3>"
            + table([("estimator", ""), ("version", ""), ("package", ""), ("target", ""), ("settings", None)],
                    body, "estimators", caption="Estimators and their effective settings"))


def _key_cell(row: dict, field: str, depth: int) -> str:
    """A row's identity cell; an estimator's name links to its page."""
    value = row.get(field)
    if field == "estimator" and isinstance(value, str):
        return f'<td data-sort="{esc(value)}" class="name">{estimator_link(value, depth)}</td>'
    return td(value)


def _diff(board: Board) -> str:
    """The difference from the suite's previous version, by `fhbench compare`'s rules: one row per row key,
    one column per metric with the change (new - old, in the unit the tables use; old and new in the
    cell's tooltip), coloured and marked by whether it is better, worse within tolerance, or worse beyond
    it (a regression, also listed)."""
    if board.previous is None:
        return ""
    prev = board.previous
    link = f'<a href="../{esc(quote(prev.name))}/index.html">version {esc(prev.name)}</a>'
    title = f'<h2 id="changes">Changes from {link}</h2>'
    if board.comparison is None:
        return title + f'<p class="warn">Not compared: {esc(board.comparison_error)}</p>'
    comparison = board.comparison
    old, new = comparison.old.rows, comparison.new.rows
    regressions = {(r.key, r.metric): r for r in comparison.regressions}
    order = [f for _s, f, _p in display_columns(board) + display_columns(prev) if f in comparison.directions]
    metrics = [m for i, m in enumerate(order) if m not in order[:i]
               and any(m in r for r in (*old.values(), *new.values()))]
    fields = [k for k in KEY_FIELDS if any(k in r for r in (*old.values(), *new.values()))]
    body = []
    for key in list(old) + [k for k in new if k not in old]:
        a, b = old.get(key), new.get(key)
        cells = "".join(_key_cell(a or b, k, board.depth) for k in fields)
        if a is None or b is None:
            status, cls = ((f"missing from version {board.name}", "bad") if b is None else ("new row", "better"))
            body.append(f"<tr>{cells}{''.join(td(None) for _ in metrics)}{td(status, cls=cls)}</tr>")
            continue
        worse_count = 0
        for metric in metrics:
            scale = SCALES.get(metric.removesuffix("_mean"), 1.0)
            x, y = a.get(metric), b.get(metric)
            delta = y - x if finite(x) and finite(y) else None
            tip = f"{metric}: {fmt(x * scale if finite(x) else x)} -> {fmt(y * scale if finite(y) else y)}"
            if (key, metric) in regressions:
                worse_count += 1
                cls, mark = "num bad", " ✗"
                tip += f"; worse beyond tolerance ({comparison.tolerances[metric].describe()})"
            elif delta is None or delta == 0:
                cls, mark = "num", ""
            elif (delta < 0) == (comparison.directions[metric] == "lower"):
                cls, mark = "num better", " ✓"
                tip += "; better"
            else:
                cls, mark = "num worse", ""
                tip += "; worse, within tolerance" if metric in comparison.tolerances else "; worse (not gated)"
            text = "–" if delta is None and x is None and y is None else \
                ("missing" if delta is None else "0" if delta == 0 else f"{delta * scale:+.3g}")
            cells += (f'<td data-sort="{esc(sort_value(delta))}" class="{cls}" title="{esc(tip)}">'
                      f"{esc(text)}{mark}</td>")
        status = (f"{worse_count} worse beyond tolerance", "bad") if worse_count else ("", "")
        body.append(f"<tr>{cells}{td(status[0], cls=status[1])}</tr>")
    heads = [(_label(f), f) for f in fields] + \
        [(_label(m.removesuffix("_mean")), f"{m}: new - old ({comparison.directions[m]} is better)")
         for m in metrics] + [("status", "regressions beyond fhbench compare's tolerances")]
    gated = ", ".join(f"{m} {t.describe()}" for m, t in comparison.tolerances.items() if m in comparison.directions)
    parts = [title,
             (f"<p>{len(old)} row(s) compared, <b>{len(comparison.regressions)}</b> regression(s) beyond the "
              "tolerances "
              f"of <code>fhbench compare</code> (gated, on the fractions results.json holds: {esc(gated)}). Each cell "
              f"is version {esc(board.name)} minus version {esc(prev.name)}, MAE and regret in pp; hover for both "
              'values. <span class="better">better ✓</span>, <span class="worse">worse within tolerance (or not '
              'gated)</span>, <span class="bad">worse beyond tolerance ✗</span>.</p>')]
    if comparison.regressions:
        parts.append("<ul>" + "".join(f'<li class="bad">{esc(r.describe())}</li>' for r in comparison.regressions)
                     + "</ul>")
    if comparison.conditions:
        parts.append("<p>Conditions that differ: " + esc("; ".join(sorted(comparison.conditions))) + "</p>")
    parts += [f'<p class="muted">{esc(n)}</p>' for n in comparison.notes()]
    parts.append(table(heads, body, "changes-table", caption=f"Changes from version {prev.name}"))
    return "".join(parts)


def _facts(board: Board) -> str:
    header = board.header
    suite = as_dict(header.get("suite"))
    git = as_dict(header.get("git"))
    truth = header.get("truth")
    truth_text = as_dict(truth).get("source") or as_dict(truth).get("spec") if isinstance(truth, dict) else truth
    facts = {
        "kind": board.kind,
        "date": header.get("date"),
        "suite hash": suite.get("hash"),
        "record hash": suite.get("record_hash"),
        "fhbench": header.get("fhbench_version"),
        "git commit": ((f"{git.get('commit')}" + (" (dirty)" if git.get("dirty") else ""))
                       if git.get("commit") else None),
        "truth": truth_text,
    }
    return value_html({k: v for k, v in facts.items() if v is not None})


def size_text(board: Board) -> str:
    """How much a board rests on: cells per repeat and repeats, or a search's pool and seeds."""
    header = board.header
    if board.kind == "estimation":
        statistics = as_dict(header.get("statistics"))
        sizes = [n for c in statistics.get("checkpoints", []) for n in as_dict(c).get("cells_per_repeat", [])]
        repeats = header.get("repeats")
        if sizes:
            cells = min(sizes)
        elif finite(header.get("trials_scored")) and finite(repeats) and repeats:
            cells = header["trials_scored"] // repeats
        else:
            return "–"
        return f"{cells} cells × {repeats} repeat{'s' if repeats != 1 else ''}"
    if board.kind == "search":
        seeds = max((int(r.get("seeds") or 0) for r in board.rows), default=0)
        pool = header.get("pool")
        return (f"pool of {len(pool)} cells, " if isinstance(pool, list) else "") + f"{seeds} seeds per search"
    if board.kind == "declared-search":
        seeds = max((int(r.get("seeds") or 0) for r in board.rows), default=0)
        targets = header.get("targets")
        return (f"{len(targets)} target(s), " if isinstance(targets, list) else "") + f"{seeds} seeds per search"
    return "–"


def _lede(board: Board) -> str:
    header = board.header
    suite = as_dict(header.get("suite"))
    truth = header.get("truth")
    spec = as_dict(truth).get("spec") if isinstance(truth, dict) else truth
    parts = []
    if suite.get("name") not in (None, board.suite):
        parts.append(f'<p class="warn">This folder is {esc(board.suite)} but its results.json names suite '
                     f'{esc(suite.get("name"))}.</p>')
    facts = [f"{esc(board.kind)} board", esc(size_text(board))] \
        + ([f"truth <code>{esc(spec)}</code>"] if spec else []) \
        + ([esc(header.get("date"))] if header.get("date") else [])
    parts.append(f'<p class="lede">{esc(suite.get("description") or "")} <span class="muted">'
                 + " · ".join(facts) + "</span></p>")
    return "".join(parts)


def _provenance_section(board: Board) -> str:
    header = board.header
    return ('<h2 id="provenance">Provenance</h2>' + _facts(board)
            + "<details><summary>Environment (scoring, and the recording conditions of the traces)</summary>"
            + value_html(as_dict(header.get("environment"))) + "</details>"
            + _estimators_table(board)
            + "<details><summary>The whole results header</summary>"
            + value_html({k: v for k, v in header.items() if k not in HIDDEN_HEADER}) + "</details>")


def _files(board: Board) -> str:
    links = ", ".join(f'<a href="{esc(quote(f))}">{esc(f)}</a>' for f in board.files)
    return f'<h2 id="files">Published files</h2><p>{links}</p>'


def _superseded(board: Board) -> str:
    newer = board.superseded_by
    if newer is None:
        return ""
    newest = newer
    while newest.superseded_by is not None:
        newest = newest.superseded_by
    also = "" if newest is newer else \
        f' (the latest is <a href="../{esc(quote(newest.name))}/index.html">version {esc(newest.name)}</a>)'
    return (f'<p class="warn">Superseded by <a href="../{esc(quote(newer.name))}/index.html">version '
            f"{esc(newer.name)}</a>{also}: this version is kept as history.</p>")


def board_page(board: Board) -> str:
    if board.live:
        return live_page(board)
    if board.kind == "estimation":
        headline, ranking = _estimation_answer(board)
    elif board.kind == "search":
        headline, ranking = _search_answer(board)
    elif board.kind == "declared-search":
        headline, ranking = _declared_answer(board)
    else:
        headline, ranking = "", ""
    rows = (f'<h2 id="rows">Every metric ({len(board.rows)} rows)</h2>'
            '<p class="muted">Click a column header to sort. ↓ lower is better, ↑ higher is better; [lo, hi]: the '
            "95% interval; ± std: a spread over repeats or seeds, where the board gives no interval. MAE and regret "
            "in percentage points, accuracies in percent. Provenance: open a row's cell.</p>" + _rows_table(board))
    if ranking:
        rows = (f'<details id="all-rows"><summary>Every metric, every row ({len(board.rows)} rows)</summary>'
                f"{rows}</details>")
    plots, more_plots = _figures(board)
    body = (f"<h1>{esc(board.suite)} <span class=\"muted\">version {esc(board.name)}</span></h1>"
            + _superseded(board) + _lede(board) + headline + plots + ranking + more_plots + rows
            + _diff(board) + _failures(board) + _provenance_section(board) + _files(board))
    return page(f"{board.title} · fhbench", body, board.depth)


def live_page(board: Board) -> str:
    header = board.header
    facts = {k: header.get(k) for k in ("algorithm", "estimator", "seed", "workers", "incumbent",
                                         "simulated_time_s", "stopped", "epochs_trained") if k in header}
    winner = header.get("winner")
    jobs = header.get("jobs") if isinstance(header.get("jobs"), list) else []
    jobs = [j for j in jobs if isinstance(j, dict)]
    fields: list[str] = []
    for job in jobs:
        fields += [k for k in job if k not in fields]
    body_rows = ["<tr>" + "".join(td(job.get(k)) for k in fields) + "</tr>" for job in jobs]
    body = (f"<h1>{esc(board.suite)} <span class=\"muted\">live search {esc(board.name)}</span></h1>"
            + _lede(board) + "<h2 id=\"result\">Result</h2>" + value_html(facts)
            + ("<h3>Chosen architecture</h3>" + value_html(winner) if isinstance(winner, dict) else "")
            + f"<h2 id=\"jobs\">Jobs ({len(jobs)})</h2>"
            + (table([(f, "") for f in fields], body_rows, "results", caption="Jobs") if jobs else "<p>No jobs.</p>")
            + "".join(_figures(board)) + _failures(board) + _provenance_section(board) + _files(board))
    return page(f"{board.title} · fhbench", body, board.depth)
