"""Search boards with error bars: each run's any-time regret, and per (algorithm, estimator) the final and
any-time regret with 95% t-intervals over seeds."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from fhbench.search.driver import SearchRun
from fhbench.search.run import run_record, summarise

CELLS = ["a", "b", "c"]
TRUTH = [0.5, 0.7, 0.9]  # regret against 0.9: 0.4, 0.2, 0.0


def _run(seed, trajectory, budget=100.0, estimator="original"):
    run = SearchRun("hyperband", estimator, seed, 1, budget, incumbent=trajectory[-1][1] if trajectory else None)
    run.trajectory = list(trajectory)
    return run


def test_anytime_regret_is_the_mean_regret_over_the_budget_starting_from_the_worst_cell():
    # worst cell's regret 0.4 until t=10, then b (0.2) until t=60, then c (0.0) until the budget of 100
    record = run_record(_run(0, [(10.0, 1), (60.0, 2)]), CELLS, TRUTH, 0.9)
    assert record["anytime_regret"] == pytest.approx((0.4 * 10 + 0.2 * 50 + 0.0 * 40) / 100)
    assert record["regret"] == pytest.approx(0.0)
    late = run_record(_run(0, [(90.0, 2)]), CELLS, TRUTH, 0.9)  # the same winner, found late
    assert late["anytime_regret"] > record["anytime_regret"] and late["regret"] == record["regret"]


def test_rows_carry_t_intervals_over_seeds():
    records = [run_record(_run(seed, [(10.0 * (seed + 1), 1), (50.0, index)]), CELLS, TRUTH, 0.9)
               for seed, index in enumerate((2, 1, 2, 0))]
    (row,) = summarise(records)
    regrets = [r["regret"] for r in records]
    half = stats.t.ppf(0.975, 3) * stats.tstd(regrets) / math.sqrt(4)
    assert (row.regret_lo, row.regret_hi) == pytest.approx((row.regret_mean - half, row.regret_mean + half))
    anytime = [r["anytime_regret"] for r in records]
    assert row.anytime_regret_mean == pytest.approx(sum(anytime) / 4)
    assert row.anytime_regret_lo < row.anytime_regret_mean < row.anytime_regret_hi


def test_one_seed_has_no_interval():
    (row,) = summarise([run_record(_run(0, [(10.0, 2)]), CELLS, TRUTH, 0.9)])
    assert math.isnan(row.regret_lo) and math.isnan(row.anytime_regret_hi) and row.seeds == 1
