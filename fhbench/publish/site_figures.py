"""The plots a board's page shows, in reading order, each with its alt text and a caption that says what the
bars are and in which unit.

An estimation board with intervals (results schema 3), a search board and a declared-search board get their
verdict plots drawn again for the page from their results.json by `fhbench.publish.plots` (into ``figures/``
beside the page), so that every page shows the current way of drawing a verdict (95% intervals as bars; the
leader and those tied with it strong, the rest faded) whatever fhbench version published the board; the
board's own PNGs are still copied beside the page unchanged. Older estimation boards show their own plots,
captioned for what their bars are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fhbench.publish.plots import estimation_plots, plot_declared, plot_regret
from fhbench.publish.site_boards import Board

__all__ = ["FIGURES_DIR", "Figure", "board_figures"]

FIGURES_DIR = "figures"
_STEMS = ("kendall_tau", "mae", "mae_overhead")  # the estimation plots, in reading order


@dataclass(frozen=True)
class Figure:
    src: str  # relative to the board's page
    alt: str
    caption: str
    draw: Callable[[Path], None] | None = None  # None: one of the board's own files, shown as it is
    primary: bool = False  # a verdict plot, shown first; the others come folded after the tables


def _stem(name: str) -> tuple[str, str]:
    """("mae", "-b050") of "mae-b050.png"; (name, "") for a file that is none of the estimation plots."""
    base = name[:-4]
    for stem in sorted(_STEMS, key=len, reverse=True):
        if base == stem or base.startswith(stem + "-b"):
            return stem, base[len(stem):]
    return base, ""


def _budget_note(suffix: str) -> str:
    return f" (budget {int(suffix[2:])} epochs)" if suffix.startswith("-b") and suffix[2:].isdigit() else ""


def _estimation_caption(stem: str, suffix: str, bars: str) -> tuple[str, str]:
    what = {"kendall_tau": "Kendall tau of estimates against true final accuracies, by checkpoint epoch",
            "mae": "MAE in percentage points (pp) of the estimated final accuracy, by checkpoint epoch "
                   "(rank-only estimators estimate no accuracy: not drawn)",
            "mae_overhead": "MAE in percentage points (pp), each point shifted right by its estimator's overhead "
                            "in epochs (thesis Fig. 4.3; measured wall time)"}[stem]
    alt = {"kendall_tau": "Plot of Kendall tau against epoch for each estimator",
           "mae": "Plot of MAE in percentage points against epoch for each estimator",
           "mae_overhead": "Plot of MAE in percentage points against epochs plus overhead"}[stem]
    note = _budget_note(suffix)
    return f"{alt}{note}; the tables below give every value.", f"{what}{note}. {bars}"


def _bars(board: Board) -> str:
    statistics = board.header.get("statistics")
    if not isinstance(statistics, dict):
        return ("Bars: ±1 standard deviation over repeats, a spread, not an uncertainty (published before "
                "intervals).")
    reasons = {str(c.get("intervals")) for c in statistics.get("checkpoints", [])
               if isinstance(c, dict) and "intervals" in c}
    if reasons and len(reasons) == len(statistics.get("checkpoints", [])):
        return "No bars: intervals " + "; ".join(sorted(reasons)) + "."
    return ("Bars: 95% intervals (paired bootstrap over cells). Strong, filled: the leader at that checkpoint and "
            "those tied with it; faded, hollow: behind.")


def _search_figure(board: Board) -> Figure:
    meta = {**board.header, "rows": board.rows}
    seeds = max((int(r.get("seeds") or 0) for r in board.rows), default=0)
    return Figure(f"{FIGURES_DIR}/regret.png",
                  "Plot of each search's regret in percentage points against simulated search time, one panel per "
                  "algorithm; the tables below give every value.",
                  f"Regret in percentage points (pp) of each search's incumbent against simulated search time, mean "
                  f"over {seeds} seeds, one panel per algorithm. Bars at the end: the final regret's 95% t-interval "
                  f"over seeds. Dotted: the pool's floor, the least regret any search of this pool can reach.",
                  lambda path: plot_regret(meta, path), True)


def _declared_figure(board: Board) -> Figure:
    meta = {**board.header, "rows": board.rows}
    return Figure(f"{FIGURES_DIR}/search.png",
                  "Plot of the accuracy of each search's chosen configuration, per target, algorithm and estimator; "
                  "the tables below give every value.",
                  "Accuracy in percent of the configurations each search chose, per target: filled, the live "
                  "searches; hollow, their replays. Bars: the 95% t-interval over seeds (cut at the axis where "
                  "wider).", lambda path: plot_declared(meta, path), True)


def board_figures(board: Board) -> list[Figure]:
    """The figures of a board's page in reading order: its verdict plots (drawn for the page where
    `draw` is set), then its other PNGs as they are."""
    pngs = [f for f in board.files if f.lower().endswith(".png")]
    figures: list[Figure] = []
    shown: set[str] = set()
    if board.kind == "search" and "runs" in board.header and "regret" in board.header:
        figures.append(_search_figure(board))
        shown.add("regret.png")
    elif board.kind == "declared-search" and "search.png" in pngs and board.header.get("targets"):
        figures.append(_declared_figure(board))
        shown.add("search.png")
    elif board.kind == "estimation" and board.rows:
        bars = _bars(board)
        drawn = estimation_plots(board.rows, board.header) if isinstance(board.header.get("statistics"), dict) else {}
        names = sorted(set(drawn) | {f for f in pngs if _stem(f)[0] in _STEMS},
                       key=lambda f: (_stem(f)[1], _STEMS.index(_stem(f)[0]) if _stem(f)[0] in _STEMS else 9, f))
        any_mae = any(not row.get("rank_only") for row in board.rows)
        for name in names:
            stem, suffix = _stem(name)
            if stem not in _STEMS:
                continue
            if stem != "kendall_tau" and not any_mae:  # an MAE plot with nothing on it: not shown at all
                shown.add(name)
                continue
            alt, caption = _estimation_caption(stem, suffix, bars)
            primary = stem != "mae_overhead"
            if name in drawn:
                figures.append(Figure(f"{FIGURES_DIR}/{name}", alt, caption, drawn[name], primary))
            else:
                figures.append(Figure(name, alt, caption, None, primary))
            shown.add(name)
    for name in pngs:
        if name not in shown:
            figures.append(Figure(name, f"Plot {name} of {board.title}", name))
    return figures
