"""benchmarks/reduced_vs_full.py: each estimator's rank on a reduced board beside its rank at full scale, and
Kendall's tau between the two rankings with a bootstrap interval over the cells of both boards. Boards here
are synthetic, scored by fhbench's own scoring (score_board), so their rows are what a published board holds."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from conftest import load_benchmark

from fhbench.core.errors import FhbenchError
from fhbench.estimators.harness import EstimateRecord
from fhbench.score.metrics import BootstrapSettings, score_board

compare = load_benchmark("reduced_vs_full")

NAMES = ("alpha", "beta", "gamma", "delta")


def _board(scores: dict[str, np.ndarray], truths: np.ndarray, epochs=(0,), name="synthetic", seed=0) -> dict:
    """A results dict as `fhbench publish` writes one (the fields these pages read): every estimator's
    scores at every epoch, against `truths`, scored by fhbench.score with its default resamples from `seed`."""
    trial_ids = [f"r0-{i:03d}" for i in range(len(truths))]
    records = [EstimateRecord(estimator, 0, epoch, trial, float(1 / (1 + math.exp(-value))), 0.001)
               for epoch in epochs for estimator, values in scores.items() for trial, value in zip(trial_ids, values)]
    truth_of = dict(zip(trial_ids, (float(t) for t in truths)))
    rows, statistics = score_board(records, truth_of, {t: math.nan for t in trial_ids}, max(epochs) or 1,
                                   frozenset(scores), bootstrap=BootstrapSettings(seed=seed))
    return {"rows": [dataclasses.asdict(row) for row in rows],
            "estimates": [dataclasses.asdict(record) for record in records], "truths": truth_of,
            "statistics": statistics, "trials_scored": len(truths),
            "suite": {"name": name, "version": "1", "description": f"{name} board."},
            "truth": {"spec": "csv:made-up", "source": "made up for the test"}}


def _separated(truths: np.ndarray, rng, order=NAMES) -> dict[str, np.ndarray]:
    """Four estimators whose Kendall taus are far apart (about 1, 0.6, 0 and -1), best first in `order`."""
    noise = rng.normal(size=len(truths))
    quality = [truths, truths + 0.5 * truths.std() * noise, noise, -truths]
    return {name: values for name, values in zip(order, quality)}


@pytest.fixture(scope="module")
def cells():
    rng = np.random.default_rng(7)
    return rng, rng.normal(size=80)


def test_the_agreement_of_two_rankings_is_kendalls_tau_between_them():
    assert compare.rank_agreement([0.9, 0.5, 0.1, -0.3], [0.8, 0.6, 0.2, 0.0]) == 1.0
    assert compare.rank_agreement([0.9, 0.5, 0.1, -0.3], [-0.8, -0.6, -0.2, 0.0]) == -1.0
    assert compare.rank_agreement([0.9, 0.5, 0.1, -0.3], [0.5, 0.9, 0.1, -0.3]) == pytest.approx(2 / 3)
    assert compare.rank_agreement([0.9, 0.5, 0.1, -0.3], [0.2, 0.2, 0.2, 0.2]) == 0.0  # undefined: no information
    assert list(compare.ranks([0.2, 0.9, 0.5, 0.5])) == [4, 1, 2.5, 2.5]


def test_identical_boards_agree_at_one_and_reversed_boards_at_minus_one(cells):
    rng, truths = cells
    reduced = _board(_separated(truths, rng), truths, epochs=(2, 5))
    same = compare.render(reduced, reduced, "reduced", "same", full_epoch=2)
    assert re.findall(r"^\| (\d+) \| 4 \| (.*?) \|", same, re.M) == [("2", "1.000 [1.000, 1.000]"),
                                                                    ("5", "1.000 [1.000, 1.000]")]
    full = _board(_separated(truths, rng, order=NAMES[::-1]), truths, name="reversed")
    reversed_page = compare.render(reduced, full, "reduced", "reversed")
    assert re.findall(r"^\| \d+ \| 4 \| (.*?) \|", reversed_page, re.M) == ["-1.000 [-1.000, -1.000]"] * 2


def test_the_interval_resamples_each_boards_cells_as_the_board_does(cells):
    rng, truths = cells
    board = _board({name: truths + s * rng.normal(size=len(truths)) for name, s in zip(NAMES, (0.5, 1, 2, 4))},
                   truths, seed=3)
    taus = compare.board_taus(board, NAMES, 0, board["statistics"]["n_resamples"], 3)
    rows = {r["estimator"]: r for r in board["rows"]}
    for index, name in enumerate(NAMES):
        # the board's own point and interval come back from its estimates with its own seed
        assert taus.point[index] == pytest.approx(rows[name]["kendall_tau_mean"], abs=1e-12)
        lo, hi = np.percentile(taus.resampled[index], [2.5, 97.5])
        assert (lo, hi) == pytest.approx((rows[name]["kendall_tau_lo"], rows[name]["kendall_tau_hi"]), abs=1e-9)
    # two boards of overlapping quality: the correlation of the rankings varies over the resamples, and
    # its interval holds the point
    other = compare.board_taus(_board({name: truths + s * rng.normal(size=len(truths))
                                       for name, s in zip(NAMES, (0.6, 0.9, 2.5, 3.5))}, truths), NAMES, 0,
                                 board["statistics"]["n_resamples"], 4)
    result = compare.agreement(taus, other)
    assert len(set(result.resampled.tolist())) > 2 and result.lo <= result.point <= result.hi
    assert result.lo < result.hi


def test_the_page_carries_both_boards_taus_and_ranks_and_says_what_it_cannot_show(cells):
    rng, truths = cells
    scores = _separated(truths, rng)
    reduced = _board({**scores, "curve-only": truths + rng.normal(size=len(truths))}, truths, epochs=(2,))
    full = _board(_separated(truths, rng, order=("beta", "alpha", "gamma", "delta")), truths, name="full")
    text = compare.render(reduced, full, "leaderboard/reduced/1", "leaderboard/full/1")
    reduced_rows = {r["estimator"]: r for r in reduced["rows"]}
    full_rows = {r["estimator"]: r for r in full["rows"]}
    for name in NAMES:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| 2 | {name} |"))
        for row in (reduced_rows[name], full_rows[name]):
            assert (f"{row['kendall_tau_mean']:.3f} [{row['kendall_tau_lo']:.3f}, {row['kendall_tau_hi']:.3f}]"
                    in line)
    assert re.search(r"^\| 2 \| alpha \| .* \| 1 \| 1 of 5 \| .* \| 2 \|$", text, re.M)
    assert re.search(r"^\| 2 \| beta \| .* \| 2 \| \d of 5 \| .* \| 1 \|$", text, re.M)
    assert "curve-only" not in text.split("## Curve estimators")[0].split("How the rankings agree")[0]
    # one swapped pair of six: tau 2/3
    assert re.search(r"^\| 2 \| 4 \| 0\.667 \[", text, re.M)
    assert "takes only 7 values" in text and "interval is wide" in text
    assert "no such curves are available here" in text and "left empty" in text


def test_a_row_that_its_estimates_do_not_give_is_refused(cells):
    rng, truths = cells
    board = _board(_separated(truths, rng), truths)
    board["rows"][0]["kendall_tau_mean"] += 0.01
    with pytest.raises(FhbenchError, match="its row says"):
        compare.board_taus(board, NAMES, 0, 10, 0)
    several = _board(_separated(truths, rng), truths, epochs=(1, 2))
    with pytest.raises(FhbenchError, match="--full-epoch"):
        compare.render(board, several, "reduced", "several")

