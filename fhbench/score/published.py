"""Scoring a published estimation board again from its results.json alone: the per-trial estimates,
the truths, the recorded epoch times and the bootstrap's settings are all there, so the rows and the
statistics can be recomputed without traces or estimators (`fhbench reproduce`), and the board's power
can be asked after the fact (`fhbench power`)."""

from __future__ import annotations

import math
from typing import Any

from fhbench.core.errors import FhbenchError
from fhbench.estimators.harness import EstimateRecord
from fhbench.score import stats
from fhbench.score.metrics import MIN_CELLS_FOR_INTERVALS, BootstrapSettings, Row, score_board


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def published_records(results: dict) -> list[EstimateRecord]:
    return [EstimateRecord(e["estimator"], int(e["repeat"]), int(e["checkpoint"]), str(e["trial_id"]),
                           None if e["estimate"] is None else float(e["estimate"]), _number(e["overhead_s"]),
                           None, _number(e.get("overhead_cpu_s")), _number(e.get("reference_cpu_s")),
                           e.get("budget"))
            for e in results["estimates"]]


def rescore(results: dict, source: str) -> tuple[list[Row], dict]:
    """The rows and statistics the board's own inputs give (a schema-3 estimation results.json)."""
    if results.get("kind") != "estimation" or "statistics" not in results or "epoch_times" not in results:
        raise FhbenchError(f"{source}: not an estimation board with intervals (results schema 3): boards published "
                           "before the intervals cannot be scored again from their files; publish a new version")
    try:
        statistics = results["statistics"]
        settings = BootstrapSettings(int(statistics["n_resamples"]), int(statistics["seed"]),
                                     float(statistics["confidence"]), float(statistics["alpha"]))
        rank_only = frozenset(row["estimator"] for row in results["rows"] if row.get("rank_only"))
        budgeted = bool(results.get("budgets"))
        epochs = int(results["suite_settings"]["train"]["epochs"])
        epoch_times = {trial: _number(value) for trial, value in results["epoch_times"].items()}
        return score_board(published_records(results), {t: float(v) for t, v in results["truths"].items()},
                           epoch_times, epochs, rank_only, by_budget=budgeted, bootstrap=settings)
    except (KeyError, TypeError, ValueError) as err:
        raise FhbenchError(f"{source}: results.json lacks what scoring needs ({type(err).__name__}: {err})") from None


def board_power(results: dict, delta: float, metric: str, source: str) -> list[dict]:
    """Per checkpoint (and budget): the cells per repeat that would resolve a difference `delta` between
    two typical estimators of this board (from the median SE of its paired differences), at 95% and
    80% power, beside the cells it has. None where the board is too small to say (fewer than
    `MIN_CELLS_FOR_INTERVALS` cells per repeat, or no resampled difference at all)."""
    if metric not in stats.METRICS:
        raise FhbenchError(f"--metric: expected one of {', '.join(stats.METRICS)}, got '{metric}'")
    if not (math.isfinite(delta) and delta > 0):
        raise FhbenchError(f"--delta: expected a positive difference, got {delta}")
    if results.get("kind") != "estimation" or "estimates" not in results or "truths" not in results:
        raise FhbenchError(f"{source}: not an estimation board with per-trial estimates")
    statistics = results.get("statistics") or {}
    rank_only = [row["estimator"] for row in results.get("rows", []) if row.get("rank_only")]
    keys = sorted({(e.get("budget") or 0, int(e["checkpoint"])) for e in results["estimates"]})
    answers = []
    for budget, checkpoint in keys:
        try:
            table = stats.table_from_records(results["estimates"], results["truths"], checkpoint,
                                             budget=budget or None)
        except (KeyError, ValueError) as err:
            raise FhbenchError(f"{source}: epoch {checkpoint}: {err}") from None
        board = stats.bootstrap_board(table.estimates, table.truths, table.repeats, table.estimators,
                                      rank_only=[n for n in table.estimators if n in rank_only],
                                      n_resamples=int(statistics.get("n_resamples", 1000)),
                                      seed=int(statistics.get("seed", 0)))
        cells = min(board.cells_per_repeat)
        needed = stats.cells_to_detect(board, metric, delta) if cells >= MIN_CELLS_FOR_INTERVALS else None
        answers.append({"epoch": checkpoint, **({"budget": budget} if budget else {}), "cells_per_repeat": cells,
                        "repeats": len(board.repeats), "cells_needed": needed or None})
    return answers


__all__ = ["board_power", "published_records", "rescore"]
