"""What a board concludes, in a reader's terms, for every writer (the site, leaderboard.md): per checkpoint
of an estimation board the estimators ranked by Kendall tau with their 95% intervals, the leader and those
tied with it, MAE in percentage points and overhead in epochs; per search board the (algorithm, estimator)
pairs ranked by final regret with the winners named; per target of a declared-search board the searches
ranked by the accuracy of what they chose.

Only reads: the verdicts are the board's own (`kendall_tau_verdict`, `mae_verdict`: the Holm-corrected
paired bootstrap of `fhbench.score.stats`), the intervals its rows' `_lo`/`_hi`, and where a board lacks
an interval `fhbench.publish.derived` draws it from the board's own files. Where a board has no interval,
`no_interval` says why, and no one is marked tied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fhbench.publish.derived import (
    Triple,
    declared_intervals,
    overhead_intervals,
    search_intervals,
)
from fhbench.publish.numbers import finite

__all__ = ["BEFORE_INTERVALS", "OVERHEAD_FLOOR", "Checkpoint", "Choice", "Estimate", "SearchLine", "SearchSummary",
           "Standing",
           "at_quarter", "declared_targets", "estimation_checkpoints", "search_summary"]

BEFORE_INTERVALS = ("published before intervals (results schema 2): its ± values are a spread over repeats, "
                    "not an uncertainty, and it draws no verdict")
_NO_PAIRING = "no intervals at this checkpoint"
OVERHEAD_FLOOR = 0.001
"""An overhead whose whole interval lies under this (in epochs, or seconds) is written "< 0.001": too small to
matter, and no longer a row of zeros."""


@dataclass(frozen=True)
class Estimate:
    """A point with its 95% interval, in the unit it is shown in (lo and hi NaN where there is none)."""

    point: float
    lo: float = math.nan
    hi: float = math.nan

    @classmethod
    def of(cls, triple: Triple | None, scale: float = 1.0) -> Estimate:
        if triple is None:
            return cls(math.nan)
        return cls(*(v * scale if finite(v) else math.nan for v in triple))

    @property
    def has_interval(self) -> bool:
        return finite(self.lo) and finite(self.hi)

    def overlaps(self, other: Estimate) -> bool:
        return self.has_interval and other.has_interval and self.lo <= other.hi and other.lo <= self.hi


@dataclass(frozen=True)
class Standing:
    """One estimator at one checkpoint."""

    estimator: str
    rank: int  # 1 = best Kendall tau; equal taus share a rank
    tau: Estimate
    verdict: str  # "best", "tied", "behind", or "" (no intervals)
    mae_pp: Estimate | None  # None: a rank-only estimator (no accuracy estimated)
    mae_verdict: str
    overhead_epochs: Estimate
    n_failed: int

    @property
    def leads_or_tied(self) -> bool:
        return self.verdict in ("best", "tied")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint (and budget, under train.budgets) of an estimation board."""

    epoch: int
    budget: int | None  # the row's budget where the suite has train.budgets
    of_epochs: int | None  # the budget in epochs the share is of
    share: float  # epoch / budget
    standings: tuple[Standing, ...]
    no_interval: str = ""  # why there are no intervals, or ""

    @property
    def leader(self) -> Standing | None:
        return next((s for s in self.standings if s.verdict == "best"), None)

    @property
    def tied(self) -> tuple[Standing, ...]:
        return tuple(s for s in self.standings if s.verdict == "tied")

    @property
    def epochs(self) -> str:
        """"epoch 5 of 20", the budget named under train.budgets ("epoch 5 of budget 20")."""
        if self.budget is not None:
            return f"epoch {self.epoch} of budget {self.budget}"
        return f"epoch {self.epoch}" + (f" of {self.of_epochs}" if self.of_epochs else "")

    @property
    def where(self) -> str:
        """"epoch 5 of 20 (25%)"."""
        return self.epochs + (f" ({100 * self.share:.0f}%)" if finite(self.share) else "")

    @property
    def moment(self) -> str:
        """When the estimates were made, for a sentence: "at 25% of the budget (epoch 5 of 20)", or for a
        proxy-only board (nothing trained) "at initialisation (epoch 0: nothing trained)"."""
        if self.epoch == 0:
            return "at initialisation (epoch 0: nothing trained)"
        share = f"{100 * self.share:.0f}%" if finite(self.share) else "a share"
        return f"at {share} of the budget ({self.epochs})"

    @property
    def heading(self) -> str:
        """A checkpoint's title: "Epoch 5 of 20 (25% of the budget)", "Epoch 0 (initialisation)"."""
        if self.epoch == 0:
            return "Epoch 0 (initialisation: nothing trained)"
        share = f" ({100 * self.share:.0f}% of the budget)" if finite(self.share) else ""
        return f"{self.epochs[0].upper()}{self.epochs[1:]}{share}"


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return float(value) if finite(value) else math.nan


def _triple(row: Mapping[str, Any], metric: str) -> Triple:
    return _number(row, f"{metric}_mean"), _number(row, f"{metric}_lo"), _number(row, f"{metric}_hi")


def _reasons(header: Mapping[str, Any]) -> dict[tuple[int | None, int], str]:
    statistics = header.get("statistics")
    if not isinstance(statistics, Mapping):
        return {}
    return {(c.get("budget"), c.get("epoch")): _reason(str(c["intervals"])) for c in statistics.get("checkpoints", [])
            if isinstance(c, Mapping) and "intervals" in c}


def _reason(text: str) -> str:
    """A board's "n/a: why" as the why alone (the writers say "n/a")."""
    return text[len("n/a:"):].strip() if text.lower().startswith("n/a:") else text


def _budget_epochs(header: Mapping[str, Any], row: Mapping[str, Any]) -> int | None:
    if isinstance(row.get("budget"), int):
        return row["budget"]
    fraction, epoch = row.get("budget_fraction"), row.get("epoch")
    if finite(fraction) and fraction > 0 and isinstance(epoch, int):
        return round(epoch / fraction)
    return None


def estimation_checkpoints(header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[Checkpoint]:
    """Every checkpoint of an estimation board, in order of budget and epoch, its estimators ranked by
    Kendall tau (undefined last, then by name)."""
    rows = [r for r in rows if isinstance(r, Mapping) and isinstance(r.get("epoch"), int)]
    with_statistics = isinstance(header.get("statistics"), Mapping)
    reasons = _reasons(header)
    overheads = overhead_intervals({**header, "rows": rows}) if with_statistics else {}
    keys = sorted({(r.get("budget"), r["epoch"]) for r in rows}, key=lambda k: (k[0] or 0, k[1]))
    out = []
    for budget, epoch in keys:
        mine = [r for r in rows if (r.get("budget"), r["epoch"]) == (budget, epoch)]
        mine.sort(key=lambda r: (0, -_number(r, "kendall_tau_mean"), str(r.get("estimator")))
                  if finite(r.get("kendall_tau_mean")) else (1, 0.0, str(r.get("estimator"))))
        standings, rank, previous = [], 0, None
        for index, row in enumerate(mine):
            tau = Estimate.of(_triple(row, "kendall_tau"))
            if tau.point != previous:
                rank, previous = index + 1, tau.point
            name = str(row.get("estimator"))
            overhead = overheads.get((name, budget, epoch), {}).get("overhead_epochs") \
                or (_number(row, "overhead_epochs_mean"), math.nan, math.nan)
            standings.append(Standing(
                name, rank, tau, str(row.get("kendall_tau_verdict") or ""),
                None if row.get("rank_only") else Estimate.of(_triple(row, "mae"), 100.0),
                str(row.get("mae_verdict") or ""), Estimate.of(overhead), int(row.get("n_failed") or 0)))
        if not with_statistics:
            reason = BEFORE_INTERVALS
        else:
            reason = reasons.get((budget, epoch), "" if any(s.tau.has_interval for s in standings) else _NO_PAIRING)
        of = _budget_epochs(header, mine[0])
        share = _number(mine[0], "budget_fraction")
        out.append(Checkpoint(epoch, budget, of, share, tuple(standings), reason))
    return out


def at_quarter(checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    """The checkpoint nearest a quarter of the budget (of the longest budget under train.budgets; the
    earlier of two equally near)."""
    if not checkpoints:
        return None
    longest = max((c.budget or 0) for c in checkpoints)
    candidates = [c for c in checkpoints if (c.budget or 0) == longest and finite(c.share)]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (abs(c.share - 0.25), c.share))


# ---------------------------------------------------------------------------------------------- search


@dataclass(frozen=True)
class SearchLine:
    """One (algorithm, estimator) of a search board, regrets in percentage points."""

    algorithm: str
    estimator: str
    rank: int  # by mean final regret, 1 = lowest
    final_pp: Estimate
    anytime_pp: Estimate
    seeds: int
    best: bool  # the lowest final regret
    tied: bool  # its final-regret interval overlaps the best's


@dataclass(frozen=True)
class SearchSummary:
    lines: tuple[SearchLine, ...]  # ranked by final regret
    anytime_best: tuple[SearchLine, ...]  # the lowest any-time regret and those whose interval overlaps it
    derived: bool  # the intervals were derived from the runs (a board published before them)
    no_interval: str = ""

    @property
    def winners(self) -> tuple[SearchLine, ...]:
        return tuple(line for line in self.lines if line.best or line.tied)


def search_summary(header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> SearchSummary:
    """The (algorithm, estimator) pairs of a search board ranked by mean final regret; "tied" where a
    pair's 95% t-interval over seeds overlaps the best's (overlap, not a paired test: searches with
    different algorithms share no cells to pair)."""
    rows = [r for r in rows if isinstance(r, Mapping)]
    intervals = search_intervals({**header, "rows": rows})
    derived = bool(intervals) and not any(finite(r.get("regret_lo")) for r in rows)
    entries = []
    for row in rows:
        key = (str(row.get("algorithm")), str(row.get("estimator")))
        found = intervals.get(key, {})
        final = Estimate.of(found.get("regret") or (_number(row, "regret_mean"), math.nan, math.nan), 100.0)
        anytime = Estimate.of(found.get("anytime_regret"), 100.0)
        entries.append((key, final, anytime, int(row.get("seeds") or 0)))
    entries.sort(key=lambda e: (0, e[1].point, e[0]) if finite(e[1].point) else (1, 0.0, e[0]))
    best = entries[0][1] if entries else None
    lines, rank, previous = [], 0, None
    for index, (key, final, anytime, seeds) in enumerate(entries):
        if final.point != previous:
            rank, previous = index + 1, final.point
        is_best = index == 0 or (best is not None and final.point == best.point)
        lines.append(SearchLine(key[0], key[1], rank, final, anytime, seeds, is_best,
                                not is_best and best is not None and final.overlaps(best)))
    by_anytime = sorted((line for line in lines if finite(line.anytime_pp.point)),
                        key=lambda line: line.anytime_pp.point)
    anytime_best = tuple(line for line in by_anytime
                         if line is by_anytime[0] or line.anytime_pp.overlaps(by_anytime[0].anytime_pp))
    reason = "" if any(line.final_pp.has_interval for line in lines) else \
        "a single seed per search: no interval over seeds"
    return SearchSummary(tuple(lines), anytime_best, derived, reason)


# ---------------------------------------------------------------------------------------------- declared search


@dataclass(frozen=True)
class Choice:
    """One search of a declared-search board's target: the accuracy (%) of the configurations it chose."""

    algorithm: str
    estimator: str
    source: str  # "live" or "replayed"
    rank: int  # by mean accuracy, 1 = highest
    accuracy_pct: Estimate
    seeds: int
    best: bool
    tied: bool  # its interval overlaps the best's


def declared_targets(header: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Choice, ...]]:
    """Per target (in the board's order), its searches ranked by the mean true accuracy of their choices,
    with 95% t-intervals over seeds; "tied" where an interval overlaps the best's."""
    intervals = declared_intervals(header)
    out: dict[str, tuple[Choice, ...]] = {}
    for row in rows:
        if isinstance(row, Mapping):
            out.setdefault(str(row.get("target")), ())
    for target in out:
        entries = []
        for row in (r for r in rows if isinstance(r, Mapping) and str(r.get("target")) == target):
            key = (target, str(row.get("algorithm")), str(row.get("estimator")), str(row.get("source")))
            triple = intervals.get(key) or (_number(row, "true_acc_mean"), math.nan, math.nan)
            entries.append((key, Estimate.of(triple, 100.0), int(row.get("seeds_with_truth") or 0)))
        entries.sort(key=lambda e: (0, -e[1].point, e[0]) if finite(e[1].point) else (1, 0.0, e[0]))
        best = entries[0][1] if entries else None
        choices, rank, previous = [], 0, None
        for index, (key, accuracy, seeds) in enumerate(entries):
            if accuracy.point != previous:
                rank, previous = index + 1, accuracy.point
            is_best = best is not None and accuracy.point == best.point
            choices.append(Choice(key[1], key[2], key[3], rank, accuracy, seeds, is_best,
                                  not is_best and best is not None and accuracy.overlaps(best)))
        out[target] = tuple(choices)
    return out
