"""What a row says beyond the metrics: how many repeats had a defined rank correlation (an undefined one
scores 0), and the share of estimates stuck at a bound."""

from __future__ import annotations

import math

import pytest

from fhbench.estimators.harness import EstimateRecord
from fhbench.score.metrics import score


def _records(name, values, repeat=0):
    return [EstimateRecord(name, repeat, 5, f"r{repeat}-{i:03d}", v, 0.0) for i, v in enumerate(values)]


TRUTHS = {f"r{r}-{i:03d}": 0.1 * (i + 1) + 0.01 * r for r in (0, 1) for i in range(6)}


def test_estimates_at_a_bound_are_counted():
    rows = score(_records("clipped", [1.0, 1.0, 0.3, 0.4, 0.0, 0.6]), TRUTHS, dict.fromkeys(TRUTHS, math.nan), 10)
    assert rows[0].at_bound == pytest.approx(3 / 6)
    rows = score(_records("failing", [None, 0.2, 0.3, 0.4, 0.5, 0.6]), TRUTHS, dict.fromkeys(TRUTHS, math.nan), 10)
    assert rows[0].at_bound == 0.0 and rows[0].n_failed == 1  # a failure is counted as failed, not as a bound


def test_a_repeat_with_an_undefined_rank_correlation_scores_zero_and_is_counted():
    records = _records("half", [0.5] * 6, 0) + _records("half", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 1)
    (row,) = score(records, TRUTHS, dict.fromkeys(TRUTHS, math.nan), 10)
    assert (row.repeats_scored, row.repeats) == (1, 2)
    assert row.kendall_tau_mean == pytest.approx((0.0 + 1.0) / 2)  # not 1.0 from the defined repeat alone
