"""What the commands print: the tables `score`, `run` and `search` end with, and the lines that say
what was lost, what failed and what a live search chose. Readable at 80 columns; every number with
the uncertainty the board gives it."""

from __future__ import annotations

import math

from fhbench.publish.estimation_board import group_failures
from fhbench.publish.numbers import interval_text
from fhbench.runtime.progress import format_table


def plus_minus(mean: float, std: float, scale: float = 1.0, digits: int = 2) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    std_text = f"{std * scale:.{digits}f}" if std is not None and math.isfinite(std) else "n/a"
    return f"{mean * scale:.{digits}f} ± {std_text}"


def number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if value is not None and math.isfinite(value) else "n/a"


def lost_line(lost: list, command: str) -> str:
    """The one line a run ends with when trials were lost."""
    first = lost[0]
    names = ", ".join(t.trial_id for t in lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
    scored = "the leaderboard lists them as failed trials; " if command == "run" else ""
    return (f"{len(lost)} trial(s) lost ({names}; {first.trial_id}: {first.failure}): "
            f"{scored}run the same command again to record them")


def estimation_table(rows, repeats: int | None = None, width: int = 80) -> str:
    """The table `score` and `run` print, readable at `width` columns: short headers, a legend below,
    numbers never wrapped, names never cut. Where an estimator's name makes the table wider than
    `width`, the rows are grouped under each estimator's name instead of naming it in a column."""
    budgets = any(getattr(r, "budget", None) is not None for r in rows)  # suites with train.budgets

    def cells(r) -> list[str]:
        return ([str(r.budget)] if budgets else []) + [
            str(r.epoch), r.estimator, interval_text(r.kendall_tau_mean, r.kendall_tau_lo, r.kendall_tau_hi, bound_digits=2),
            r.kendall_tau_verdict if r.kendall_tau_verdict != "behind" else "",
            interval_text(r.mae_mean, r.mae_lo, r.mae_hi, 100, 2, 1), number(r.overhead_epochs_mean, 2), str(r.n_failed)]

    headers = (["budget"] if budgets else []) + ["epoch", "estimator", "tau [95% CI]", "", "MAE pp [95% CI]",
                                                   "ovh ep", "failed"]
    name_column = headers.index("estimator")
    table = format_table(headers, [cells(r) for r in rows], left=(name_column,))
    if max(len(line) for line in table.splitlines()) > width:
        narrow = format_table([h for i, h in enumerate(headers) if i != name_column],
                              [[c for i, c in enumerate(cells(r)) if i != name_column] for r in rows]).splitlines()
        parts, seen = [], []
        for r in rows:
            if r.estimator not in seen:
                seen.append(r.estimator)
        for name in seen:
            parts += [f"{name}:"] + [narrow[0], narrow[1]] + [narrow[2 + i] for i, r in enumerate(rows)
                                                             if r.estimator == name]
        table = "\n".join(parts)
    over = f"over {repeats} repeat{'s' if repeats != 1 else ''}" if repeats else "over repeats"
    legend = (f"tau: Kendall tau, mean {over}, with its 95% interval (paired\n"
              "bootstrap over cells); best: the leader at that epoch; tied: not\n"
              "significantly behind it.\n"
              "MAE pp: mean absolute error in accuracy points. ovh ep: each estimator's\n"
              "overhead per trial in epochs of the trial's own training.")
    return f"{table}\n{legend}"


def failure_lines(failures: list[dict], totals: dict[str, int]) -> list[str]:
    lines = []
    for name, group in group_failures(failures).items():
        first = group["first"]
        where = ", ".join(str(x) for x in (f"repeat {first.get('repeat')}" if first.get("repeat") is not None else None,
                                          f"epoch {first.get('checkpoint')}", first.get("trial_id")) if x)
        total = f" of {totals[name]}" if totals.get(name) else ""
        lines.append(f"{name}: {group['count']}{total} estimate(s) failed; the first at {where}:")
        lines.append(f"  {first.get('error')}")
    return lines


def search_table(rows) -> str:
    """The table `search` prints: readable at 80 columns."""
    body = [[r.algorithm, r.estimator, plus_minus(r.true_acc_mean, r.true_acc_std, 100),
             interval_text(r.regret_mean, r.regret_lo, r.regret_hi, 100, 2, 2), f"{r.simulated_time_s_mean:.0f}",
             f"{r.configs_evaluated_mean:.1f}", str(r.n_failed)] for r in rows]
    table = format_table(["algorithm", "estimator", "true acc %", "regret pp [95% CI]", "sim s", "configs", "failed"],
                         body, left=(0, 1))
    return (f"{table}\n"
            "true acc %: the incumbent's, mean ± std over seeds; regret pp: mean over seeds\n"
            "with its 95% t-interval (overlapping intervals: tied); sim s: simulated\n"
            "search time; configs: configurations evaluated; failed: jobs whose estimate\n"
            "failed or whose trial diverged (ranked last).")


def winner_lines(winner, run, estimator: str) -> list[str]:
    """What a live search says of the architecture it chose: its last estimate, its own measured
    accuracy and its accuracy under the suite's truth, where the backend reports them."""
    lines = []
    incumbent = getattr(run, "incumbent", None)
    jobs = [j for j in getattr(run, "jobs", []) if isinstance(j, dict) and j.get("config") == incumbent]
    scored = [j for j in jobs if j.get("score") is not None]
    if scored:
        last = max(scored, key=lambda j: (j.get("budget", 0), j.get("job_id", 0)))
        lines.append(f"its estimate ({estimator}) at epoch {last['budget']}: {100 * last['score']:.2f}%")
    if isinstance(winner, dict):
        if winner.get("val_acc") is not None:
            at = f" after {winner['epochs']} epochs" if winner.get("epochs") is not None else ""
            lines.append(f"its validation accuracy{at}: {100 * winner['val_acc']:.2f}%")
        if winner.get("true_acc") is not None:
            lines.append(f"its accuracy under the truth {winner.get('truth')}: {100 * winner['true_acc']:.2f}%")
        elif winner.get("truth"):
            lines.append(f"its accuracy under the truth {winner['truth']}: not known "
                         f"({winner.get('why') or 'the truth has no value for it'})")
    return lines


__all__ = ["estimation_table", "failure_lines", "lost_line", "number", "plus_minus", "search_table",
           "winner_lines"]
