"""Bootstrap intervals, paired comparisons, power, Friedman/Nemenyi and search regret (fhbench.score.stats)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from fhbench.score.stats import (DEFAULT_RESAMPLES, HIGHER_IS_BETTER, METRICS, adjacent_power, anytime_regret,
                                 anytime_regret_over_seeds, bootstrap_board, cells_needed,
                                 cells_to_detect, difference_p_value, final_regrets, friedman_nemenyi, holm, nemenyi_q, over_seeds,
                                 pairwise_differences, resample_weights, table_from_records, tied_with_best,
                                 top_k, weighted_metrics)
from conftest import REPO

RESULTS = REPO / "leaderboard" / "nb201-cpu" / "2" / "results.json"
Z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)


def population(n_per_repeat=(40, 40), seed=0):
    """Distinct truths in [0.3, 0.9] and the repeat of each trial."""
    rng = np.random.default_rng(seed)
    repeats = np.repeat(np.arange(len(n_per_repeat)), n_per_repeat)
    return rng.permutation(np.linspace(0.3, 0.9, len(repeats))), repeats


def precision(estimates, truths, weights=None):
    """Top-10% precision of one estimator on one repeat (all trials drawn once unless weights say)."""
    weights = np.ones(len(truths)) if weights is None else np.asarray(weights, dtype=float)
    return float(weighted_metrics([estimates], truths, np.zeros(len(truths)), weights[None, :])
                 ["top10_precision"][0, 0])


# --- the bootstrap on constructed boards --------------------------------------------------------------

def test_identical_estimators_are_tied():
    truths, repeats = population()
    rng = np.random.default_rng(1)
    good = truths + rng.normal(0, 0.05, len(truths))
    board = bootstrap_board([good, good.copy(), rng.uniform(0.3, 0.9, len(truths))], truths, repeats,
                            ["a", "twin", "noise"], n_resamples=500)
    for metric in METRICS:
        twin = next(p for p in pairwise_differences(board, metric) if (p.first, p.second) == ("a", "twin"))
        assert (twin.difference.point, twin.difference.lo, twin.difference.hi) == (0.0, 0.0, 0.0)
        assert twin.difference.se == 0.0
        assert twin.p_value == 1.0 and twin.p_holm == 1.0
    ties = tied_with_best(board, "kendall_tau")
    assert ties.leader == "a" and ties.tied == ("a", "twin")


def test_perfect_ranking_beats_random():
    truths, repeats = population((60, 60))
    rng = np.random.default_rng(2)
    board = bootstrap_board([rng.uniform(0.3, 0.9, len(truths)), truths], truths, repeats, ["random", "perfect"])
    tau = board.interval("perfect", "kendall_tau")
    assert (tau.point, tau.lo, tau.hi, tau.se) == (1.0, 1.0, 1.0, 0.0)
    rho = board.interval("perfect", "spearman_rho")
    assert (rho.point, rho.lo, rho.hi) == (1.0, 1.0, 1.0)
    top = board.interval("perfect", "top10_precision")
    assert (top.point, top.lo, top.hi) == (1.0, 1.0, 1.0)  # copies of one trial never cost a perfect estimator
    for metric in ("kendall_tau", "spearman_rho", "top10_precision", "mae"):
        ties = tied_with_best(board, metric)
        assert ties.leader == "perfect" and ties.tied == ("perfect",), metric
    (pair,) = pairwise_differences(board, "kendall_tau")
    assert pair.difference.point < -0.8 and pair.difference.hi < 0
    assert pair.p_holm < 1e-6


def test_constant_metric_has_a_point_interval_and_constant_estimator_scores_zero():
    truths = np.arange(1, 41) / 64  # dyadic, so truth + 1/8 is exact and every |error| is exactly 1/8
    repeats = np.repeat([0, 1], 20)
    board = bootstrap_board([truths + 0.125, np.full(40, 0.5), [None] * 40], truths, repeats,
                            ["offset", "constant", "failed"], n_resamples=300)
    mae = board.interval("offset", "mae")
    assert (mae.point, mae.lo, mae.hi, mae.se) == (0.125, 0.125, 0.125, 0.0)
    for name in ("constant", "failed"):
        for metric in ("kendall_tau", "spearman_rho"):
            interval = board.interval(name, metric)
            assert (interval.point, interval.lo, interval.hi) == (0.0, 0.0, 0.0)
    assert board.interval("constant", "top10_precision").point == pytest.approx(0.1)  # k/n by random tie-breaking
    assert board.interval("failed", "mae").point == pytest.approx(float(np.mean(truths)))  # a failure counts as 0.0
    assert board.n_repeats_defined == (2, 0, 0)


def test_rank_only_estimator_has_no_mae_and_is_left_out_of_its_comparison():
    truths, repeats = population()
    board = bootstrap_board([truths + 0.01, truths * 3, truths + 0.2], truths, repeats, ["close", "score", "far"],
                            rank_only=["score"], n_resamples=200)
    assert math.isnan(board.interval("score", "mae").point) and math.isnan(board.interval("score", "mae").lo)
    assert {(p.first, p.second) for p in pairwise_differences(board, "mae")} == {("close", "far")}
    assert tied_with_best(board, "mae").tied == ("close",)
    assert len(pairwise_differences(board, "kendall_tau")) == 3


def test_vectorised_metrics_equal_scipy_on_the_same_resamples():
    rng = np.random.default_rng(3)
    repeats = np.repeat([0, 1], [12, 9])
    truths = rng.integers(0, 6, len(repeats)) / 10  # many ties
    estimates = np.vstack([rng.integers(0, 4, len(repeats)) / 4, truths + rng.integers(0, 2, len(repeats)) / 10,
                           rng.normal(0.5, 0.1, len(repeats)), np.full(len(repeats), 0.3)])
    weights = resample_weights(repeats, 25, seed=7)
    assert (weights > 1).any()  # duplicates
    vectorised = weighted_metrics(estimates, truths, repeats, weights)
    for b, w in enumerate(weights):
        for e, row in enumerate(estimates):
            expected = {"mae": [], "kendall_tau": [], "spearman_rho": []}
            for label in (0, 1):
                drawn = np.repeat(np.flatnonzero(repeats == label), w[repeats == label])
                x, y = row[drawn], truths[drawn]
                expected["mae"].append(np.mean(np.abs(x - y)))
                undefined = len(set(x)) < 2 or len(set(y)) < 2
                expected["kendall_tau"].append(0.0 if undefined else scipy_stats.kendalltau(x, y).statistic)
                expected["spearman_rho"].append(0.0 if undefined else scipy_stats.spearmanr(x, y).statistic)
            for metric, values in expected.items():
                assert vectorised[metric][e, b] == pytest.approx(np.mean(values), abs=1e-9), (metric, b, e)


def test_resamples_are_stratified_by_repeat():
    repeats = np.array([2, 0, 1, 0, 2, 2, 1, 0, 0, 2, 1, 2])
    weights = resample_weights(repeats, 400, seed=0)
    assert weights.shape == (400, 12) and weights.min() >= 0
    for label in (0, 1, 2):
        members = repeats == label
        assert (weights[:, members].sum(axis=1) == members.sum()).all()  # each repeat keeps its size
        assert (weights[:, members] != 1).any()  # and really is resampled
    assert (resample_weights(repeats, 400, seed=0) == weights).all()


def test_seeded():
    truths, repeats = population()
    rng = np.random.default_rng(4)
    table = [truths + rng.normal(0, 0.1, len(truths)), rng.uniform(0.3, 0.9, len(truths))]
    first = bootstrap_board(table, truths, repeats, ["a", "b"], seed=0)
    again = bootstrap_board(table, truths, repeats, ["a", "b"], seed=0)
    other = bootstrap_board(table, truths, repeats, ["a", "b"], seed=1)
    assert first.settings() == {"method": first.method, "n_resamples": DEFAULT_RESAMPLES, "seed": 0, "confidence": 0.95}
    for metric in METRICS:
        assert np.array_equal(first.samples[metric], again.samples[metric])
        for name in ("a", "b"):
            one, two = first.interval(name, metric), other.interval(name, metric)
            assert one.point == two.point
            assert abs(one.lo - two.lo) < 0.05 and abs(one.hi - two.hi) < 0.05 and abs(one.se - two.se) < 0.01
    assert not np.array_equal(first.samples["kendall_tau"], other.samples["kendall_tau"])


# --- precision at the top 10% -------------------------------------------------------------------------

def test_top_k_is_the_ceiling_of_a_tenth():
    assert [top_k(n) for n in (1, 9, 10, 11, 30, 150, 151)] == [1, 1, 1, 2, 3, 15, 16]


def test_top_precision_by_hand():
    truths = np.arange(10) / 10  # trial 9 is the true top 1 (k = 1)
    assert precision(truths, truths) == 1.0
    assert precision(truths[::-1], truths) == 0.0
    tied_top = truths.copy()
    tied_top[8] = tied_top[9]  # the estimator cannot tell the best from the second
    assert precision(tied_top, truths) == 0.5
    truths20 = np.arange(20) / 20  # k = 2: trials 19 and 18
    estimates = np.zeros(20)
    estimates[19], estimates[[18, 0, 1]] = 1.0, 0.5  # 19 strictly first, a three-way tie for the second slot
    assert precision(estimates, truths20) == pytest.approx((1 + 1 / 3) / 2)
    assert precision(np.full(30, 0.4), np.arange(30) / 30) == pytest.approx(0.1)  # constant: k/n


def test_top_precision_with_copies():
    truths = np.arange(10) / 10
    weights = np.ones(10)
    weights[9], weights[8] = 0, 2  # the resample lost the best trial and drew the second twice (10 cells, k = 1)
    assert precision(truths, truths, weights) == 1.0  # both sides take the same copy
    estimates = truths.copy()
    estimates[7] = 1.0
    assert precision(estimates, truths, weights) == 0.0
    estimates = truths.copy()
    estimates[7] = estimates[8]  # 3 tied cells (two copies of the true best and trial 7) for one slot
    assert precision(estimates, truths, weights) == pytest.approx(2 / 3)


def test_top_precision_is_the_expectation_under_random_tie_breaking():
    truths = np.array([0.9, 0.9, 0.8, 0.7, 0.5, 0.5, 0.3, 0.1])
    estimates = np.array([0.6, 0.6, 0.6, 0.2, 0.6, 0.1, 0.1, 0.0])
    weights = np.array([2, 1, 3, 2, 3, 4, 3, 2])  # 20 cells, k = 2
    # Truth: 3 cells (two copies of trial 0, trial 1) tie for 2 slots; estimator: 9 cells tie for 2 slots.
    # Trial 1 scores (2/9)(2/3); trial 0's copies E[min(X, Y)] with X ~ Hyp(9, 2, 2), Y ~ Hyp(3, 2, 2):
    # P(X >= 1) P(Y >= 1) + P(X >= 2) P(Y >= 2) = (15/36)(1) + (1/36)(1/3).
    by_hand = ((2 / 9) * (2 / 3) + 15 / 36 + 1 / 108) / 2
    assert precision(estimates, truths, weights) == pytest.approx(by_hand)  # 31/108

    rng = np.random.default_rng(5)
    cells = np.repeat(np.arange(len(weights)), weights)

    def top(values):
        keys = rng.random(len(cells))
        for trial in np.unique(cells):  # copies of a trial keep one order among themselves on both sides
            mine = cells == trial
            keys[mine] = np.sort(keys[mine])
        return set(np.lexsort((keys, -values[cells]))[:2])

    simulated = np.mean([len(top(estimates) & top(truths)) / 2 for _ in range(20000)])
    assert simulated == pytest.approx(by_hand, abs=0.01)


# --- comparisons, power, Friedman/Nemenyi -------------------------------------------------------------

def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_difference_p_value():
    assert difference_p_value(0.0, 0.0) == 1.0 and difference_p_value(0.0, 0.1) == 1.0
    assert difference_p_value(0.1, 0.0) == 0.0
    assert difference_p_value(-0.196, 0.1) == pytest.approx(0.05, abs=1e-4)  # |z| = 1.96
    assert difference_p_value(0.1, 0.1) == pytest.approx(2 * scipy_stats.norm.sf(1.0))


def test_nemenyi_q_matches_demsar():
    assert round(nemenyi_q(4), 3) == 2.569
    assert nemenyi_q(3) == pytest.approx(2.343, abs=1e-3)  # the table truncates 2.3437
    assert nemenyi_q(10) == pytest.approx(3.164, abs=1e-3)


def test_friedman_by_hand():
    result = friedman_nemenyi([[0.9, 0.5, 0.1], [0.8, 0.6, 0.2], [0.7, 0.4, 0.3]], ["a", "b", "c"])
    assert result.average_ranks == (1.0, 2.0, 3.0)
    assert result.friedman_statistic == pytest.approx(6.0)  # 12N/(k(k+1)) * sum R^2 - 3N(k+1) = 3 * 14 - 36
    assert result.friedman_p == pytest.approx(math.exp(-3))  # chi-square with 2 df
    assert result.cd == pytest.approx(nemenyi_q(3) * math.sqrt(3 * 4 / (6 * 3)))  # 1.914
    assert result.groups == (("a", "b"), ("b", "c"))
    tied = friedman_nemenyi([[1, 0, 0], [1, 0.5, 0], [1, 0, 0.5], [1, 0.2, 0.2]], ["a", "b", "c"])
    assert tied.average_ranks == pytest.approx((1.0, 2.5, 2.5))


def test_power():
    assert cells_needed(0.1 / Z, 400, 0.1) == 400
    assert cells_needed(0.05 / Z, 400, 0.1) == 100  # half the SE, a quarter of the cells
    assert cells_needed(0.1 / Z, 400, 0.2) == 100  # twice the difference, likewise
    assert cells_needed(0.03, 150, -0.05) == math.ceil(150 * (Z * 0.03 / 0.05) ** 2)
    assert cells_needed(0.03, 150, 0.0) == math.inf


def test_power_on_a_board():
    truths, repeats = population((50, 50))
    rng = np.random.default_rng(6)
    table = [truths + rng.normal(0, s, len(truths)) for s in (0.02, 0.1, 0.3)]
    board = bootstrap_board(table, truths, repeats, ["sharp", "blurred", "noisy"], n_resamples=400)
    pairs = adjacent_power(board, "kendall_tau")
    assert [(p.better, p.worse) for p in pairs] == [("sharp", "blurred"), ("blurred", "noisy")]
    for pair in pairs:
        assert pair.cells_per_repeat == 50
        assert pair.cells_needed == cells_needed(pair.difference.se, 50, pair.difference.point)
    median_se = np.median([p.difference.se for p in pairwise_differences(board, "kendall_tau")])
    assert cells_to_detect(board, "kendall_tau", 0.05) == cells_needed(median_se, 50, 0.05)


# --- search regret ------------------------------------------------------------------------------------

def test_over_seeds_is_a_t_interval():
    summary = over_seeds([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, 2} * s / sqrt(n), s = 1
    assert (summary.mean, summary.n_seeds) == (2.0, 3)
    assert (summary.lo, summary.hi) == pytest.approx((2 - half, 2 + half))
    single = over_seeds([0.3])
    assert single.mean == 0.3 and math.isnan(single.lo) and math.isnan(single.hi)
    table = final_regrets({("random", "sotl"): [0.1, 0.1], ("evolution", "sotl"): [0.2]})
    assert (table[("random", "sotl")].lo, table[("random", "sotl")].hi) == (0.1, 0.1)


def test_anytime_regret_by_hand():
    assert anytime_regret([(0, 0.5), (2, 0.3), (5, 0.1)], 10) == pytest.approx((0.5 * 2 + 0.3 * 3 + 0.1 * 5) / 10)
    assert anytime_regret([(1, 0.5), (4, 0.2)], 8, initial=1.0) == pytest.approx((1.0 + 0.5 * 3 + 0.2 * 4) / 8)
    assert anytime_regret([(1, 0.5), (4, 0.2)], 8) == pytest.approx((0.5 * 4 + 0.2 * 4) / 8)
    assert anytime_regret([(1, 0.5), (10, 0.0)], 5) == pytest.approx(0.5)  # points past the budget do not count
    with pytest.raises(ValueError):
        anytime_regret([(3, 0.5), (1, 0.2)], 8)
    summary = anytime_regret_over_seeds([[(0, 0.4)], [(0, 0.2)]], 10)
    assert summary.mean == pytest.approx(0.3) and summary.n_seeds == 2


# --- the recorded board -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def recorded():
    return json.loads(RESULTS.read_text())


def recorded_board(results, checkpoint, n_resamples, seed=0):
    table = table_from_records(results["estimates"], results["truths"], checkpoint)
    rank_only = [name for name in table.estimators if results["estimators"][name]["rank_only"]]
    return bootstrap_board(table.estimates, table.truths, table.repeats, table.estimators, rank_only=rank_only,
                           n_resamples=n_resamples, seed=seed)


def test_recorded_points_match_the_rows(recorded):
    """The rows of this file average each metric over the repeats where it was defined, where the bootstrap
    scores an undefined correlation 0 over all repeats: they agree only where every repeat was defined,
    so rows with an undefined repeat (lcnet at checkpoint 2, which failed a whole repeat) are skipped."""
    compared = skipped = 0
    for checkpoint in recorded["suite_settings"]["estimate"]["checkpoints"]:
        board = recorded_board(recorded, checkpoint, n_resamples=50)
        assert board.cells_per_repeat == (30, 30)
        for row in (r for r in recorded["rows"] if r["epoch"] == checkpoint):
            i = board.estimators.index(row["estimator"])
            if board.n_repeats_defined[i] < 2:
                skipped += 1
                continue
            compared += 1
            assert board.points["kendall_tau"][i] == pytest.approx(row["kendall_tau_mean"], abs=1e-6)
            assert board.points["spearman_rho"][i] == pytest.approx(row["spearman_rho_mean"], abs=1e-6)
            if row["rank_only"]:
                assert math.isnan(board.points["mae"][i])
            else:
                assert board.points["mae"][i] == pytest.approx(row["mae_mean"], abs=1e-6)
    assert skipped >= 1 and compared >= 60


def test_recorded_sotl_e_against_synflow(recorded):
    board = recorded_board(recorded, 2, n_resamples=2000)
    (pair,) = [p for p in pairwise_differences(board, "kendall_tau") if {p.first, p.second} == {"sotl-e", "synflow"}]
    sign = 1 if pair.first == "sotl-e" else -1
    point, lo, hi = (sign * v for v in (pair.difference.point, pair.difference.lo, pair.difference.hi))
    lo, hi = min(lo, hi), max(lo, hi)
    assert point == pytest.approx(0.024, abs=0.001)
    assert lo == pytest.approx(-0.19, abs=0.03) and hi == pytest.approx(0.24, abs=0.03)
    assert pair.p_holm == 1.0
    assert {"sotl-e", "synflow"} <= set(tied_with_best(board, "kendall_tau").tied)
    assert HIGHER_IS_BETTER["kendall_tau"]
