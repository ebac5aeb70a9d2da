"""The curve estimators (lcnet, lcsvr, lc-extrapolation) on NAS-Bench-201-like curves.

200 cells drawn by tests/nb201_like_curves.py (200 epochs, cosine schedule from 0.1, validation curves
that rise fast, then creep, then climb as the rate anneals, with a point or two of noise per epoch),
written as real traces and run through the harness at epochs 10, 20 and 50 (5%, 10% and 25% of the
budget), as a board runs them. On NAS-Bench-201's own curves lcnet returned exactly 1.0 for 40% of
the cells at epoch 10, lcsvr for a third, and lc-extrapolation ranked below the last validation
accuracy. What was measured here (seed 0, Kendall tau against the final validation accuracy; the last
value, `original`, has 0.680, 0.712 and 0.751 at epochs 10, 20, 50):

- lcnet version 1 (pybnn's bases, 2,000 steps): 26.5% of the estimates at 1.0 at epoch 10 (39% with
  the default 13,000 steps), tau 0.66, 0.64, 0.74 (default steps: 0.43, 0.59, 0.71). Version 2 (every
  basis 0 at t = 1): none at a bound, tau 0.66, 0.68, 0.76 (default steps: 0.58, 0.76, 0.77).
- lcsvr version 1 (a 1-epoch prefix at epoch 10): 34% at 1.0 at epoch 10, 1% at epoch 20; version 2
  (a prefix of at least half the observed epochs): none, tau 0.70, 0.72, 0.77.
- lc-extrapolation (unchanged): no estimate at a bound, tau 0.35, 0.52, 0.75: below the last value at
  epochs 10 and 20, because of noise carried over a 20-fold horizon (see its test below).

How often the two flaws show depends on the draw: on seeds 1 and 2 version 1 of lcnet put under 1% of
its estimates at a bound, lcsvr 0.5% and 8%. Version 2 of lcnet cannot reach a bound (its value at the
budget is a sigmoid), and lcsvr's inputs now stay near what it was fitted on; on those seeds too no
estimate of either is at a bound, and lcsvr's tau is within 0.03 of the last value's.

The expensive checks are marked slow (lcsvr's too: two fits, over 1 s of CPU); the fast set keeps the
structural ones.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

import nb201_like_curves as nb
from fhbench.estimators.harness import run_estimators
from fhbench_baselines import lcnet as lcnet_module
from fhbench_baselines.lc_extrapolation import LearningCurveExtrapolation
from fhbench_baselines.lcnet import LCNetEstimator
from fhbench_baselines.lcsvr import LcSVR, prefix_length, training_prefix

MAX_AT_BOUND = 0.05  # the "done when": no more than 5% of the estimates at a bound
LCNET_STEPS = {"num_steps": 2000, "burn_in_steps": 500}  # nb201-cpu's setting: a tenth of the default's time

# Kendall tau floors (seed 0), per checkpoint: measured value minus a margin of about 0.05.
# lcsvr measured 0.701, 0.722, 0.765 (original 0.680, 0.712, 0.751); lcnet (2,000 steps) 0.661, 0.679, 0.756.
TAU_FLOORS = {"lcsvr": {10: 0.65, 20: 0.67, 50: 0.71}, "lcnet": {10: 0.61, 20: 0.63, 50: 0.70}}
ESTIMATORS = {"lcnet": lambda: LCNetEstimator(**LCNET_STEPS), "lcsvr": LcSVR,
              "lcsvr-gain": lambda: LcSVR(target="gain"), "lc-extrapolation": LearningCurveExtrapolation}


@pytest.fixture(scope="module")
def cells():
    return nb.population(200, seed=0)


@pytest.fixture(scope="module")
def traces(cells, tmp_path_factory):
    return nb.write_traces(tmp_path_factory.mktemp("nb201-like"), cells)


@pytest.fixture(scope="module")
def estimates(traces, cells):
    """estimates(name, checkpoint) -> (estimates, final accuracies, last values), via the harness, cached."""
    finals = {t.trial_id: c.final for t, c in zip(traces, cells)}
    last = {t.trial_id: t.curves["val_acc"] for t in traces}
    cache = {}

    def get(name, checkpoint, factory=None):
        if (name, checkpoint) not in cache:
            records = run_estimators({name: (factory or ESTIMATORS[name])()}, traces, [checkpoint])
            assert [r.error for r in records if r.error] == [], name
            cache[name, checkpoint] = (np.array([r.estimate for r in records]),
                                       np.array([finals[r.trial_id] for r in records]),
                                       np.array([last[r.trial_id][checkpoint - 1] for r in records]))
        return cache[name, checkpoint]

    return get


def tau(a, b) -> float:
    return float(kendalltau(a, b).statistic)


# -- fast -----------------------------------------------------------------------------------------------

def test_the_curves_look_like_nas_bench_201s(cells):
    """Sanity of the generator: finals from chance to ~0.95 with a weak tail, most cells at 0.8-0.92,
    a fast early rise, a late climb, and a point or two of epoch-to-epoch noise at the high rate."""
    finals = np.array([c.final for c in cells])
    val = np.array([c.curves["val_acc"] for c in cells])
    assert finals.min() < 0.12 and 0.9 < finals.max() <= 0.96
    assert 0.05 < np.mean(finals < 0.7) < 0.3 and 0.8 < np.median(finals) < 0.92
    good = finals > 0.8
    assert np.all(val[good, 9] - val[good, 0] > 0.15)  # the first 10 epochs: most of the way up
    assert np.median(val[good, 199] - val[good, 49]) > 0.1  # the annealing adds 10+ points after epoch 50
    jumps = np.median(np.abs(np.diff(val[good, 10:50], axis=1)))
    assert 0.005 < jumps < 0.02
    assert np.all(cells[0].curves["lr"][[0, 199]] == pytest.approx([0.1, 0.0], abs=1e-4))


def test_lcnet_value_at_the_budget_is_its_asymptote():
    """Version 2 anchors every basis curve at 0 at t = 1: whatever the weights, the mean at the budget is
    the sigmoid asymptote, inside (0, 1). pybnn's own network, with the same weights, adds its
    unanchored bases (pow4 and ilog2 are 1 there) and can pass 1."""
    torch.manual_seed(0)
    anchored = lcnet_module._AnchoredLCNetwork(31).double()
    for p in anchored.parameters():  # weights as large as a posterior sample's may be
        torch.nn.init.normal_(p, std=2.0)
    x = torch.cat([torch.randn(64, 30, dtype=torch.float64), torch.ones(64, 1, dtype=torch.float64)], 1)
    with torch.no_grad():
        mean = anchored(x)[:, 0]
        net = anchored.net
        h = torch.tanh(net.fc3(torch.tanh(net.fc2(torch.tanh(net.fc1(x[:, :-1]))))))
        asymptote = torch.sigmoid(net.asymptotic_layer(h))[:, 0]
        unanchored = net(x)[:, 0]  # pybnn's forward, version 1's model
        early = anchored(torch.cat([x[:, :-1], torch.full((64, 1), 0.05, dtype=torch.float64)], 1))[:, 0]
    assert torch.allclose(mean, asymptote, atol=1e-9)
    assert bool(torch.all((mean > 0) & (mean < 1)))
    assert float(unanchored.max()) > 1.0
    assert not torch.allclose(early, asymptote, atol=1e-3)  # the bases still shape the curve before t = 1


def test_lcsvr_prefix_covers_half_the_observed_epochs_early_in_a_long_run():
    # The paper's analogue tau = r * e is 1 epoch at epoch 10 of 200; version 2 trains on at least half.
    assert [prefix_length(e, 200) for e in nb.CHECKPOINTS] == [1, 2, 13]
    assert [training_prefix(e, 200) for e in nb.CHECKPOINTS] == [5, 10, 25]
    assert [training_prefix(e, 20) for e in (2, 5, 10, 15, 20)] == [1, 3, 5, 11, 20]  # r * e from half-way on
    assert training_prefix(10, 200, min_prefix=0) == 1  # version 1
    with pytest.raises(ValueError, match="min_prefix"):
        LcSVR(min_prefix=1.5)


@pytest.mark.slow  # two lcsvr fits of 200 trials: over 1 s of CPU
def test_lcsvr_stays_off_the_bounds_at_5_percent_of_the_budget(estimates):
    """At epoch 10 of 200, version 1's fit learned y(10) from y(1) and was then handed y(10), far above
    every y(1) it saw: on this draw 34% of its estimates came out above 1 (clipped to 1.0). With a
    5-epoch prefix none does, and it ranks at least as well as the last value."""
    values, finals, last = estimates("lcsvr", 10)
    assert nb.at_bound(values) <= MAX_AT_BOUND and nb.at_bound(values, tol=1e-3) <= MAX_AT_BOUND
    assert tau(values, finals) >= TAU_FLOORS["lcsvr"][10]
    assert tau(values, finals) >= tau(last, finals) - 0.03
    old, _, _ = estimates("lcsvr-v1", 10, lambda: LcSVR(min_prefix=0))
    assert nb.at_bound(old) > 0.25


# -- slow -----------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ESTIMATORS)
def test_no_curve_estimator_leaves_more_than_5_percent_at_a_bound(estimates, name):
    for checkpoint in nb.CHECKPOINTS:
        values, finals, _ = estimates(name, checkpoint)
        share = nb.at_bound(values, tol=1e-3)  # exactly at 0 or 1, or within 0.1 point of it
        assert share <= MAX_AT_BOUND, f"{name} at epoch {checkpoint}: {share:.1%} of the estimates at a bound"
        if name in TAU_FLOORS:
            assert tau(values, finals) >= TAU_FLOORS[name][checkpoint], (name, checkpoint)


@pytest.mark.slow
def test_lcnet_version_1_clipped_because_its_bases_were_not_anchored(estimates, monkeypatch):
    """The same fit with pybnn's unanchored network (version 1) puts a quarter of the estimates at epoch
    10 above 1: the bases that are not 0 at t = 1 add to the asymptote there, and nothing at t <= 0.05
    holds them down."""
    monkeypatch.setattr(lcnet_module, "_AnchoredLCNetwork", lcnet_module._lcnet_network)
    values, _, _ = estimates("lcnet-v1", 10, lambda: LCNetEstimator(**LCNET_STEPS))
    assert nb.at_bound(values) > 0.2


@pytest.mark.slow
def test_lc_extrapolation_loses_rank_to_noise_carried_over_a_20_fold_horizon(estimates, cells):
    """Not a defect: the limit of extrapolating each curve alone from 5% of its budget.

    At epochs 10 and 20 lc-extrapolation ranks far below the last value (tau 0.35 and 0.52 against 0.68
    and 0.71). On the very same curves without their epoch-to-epoch noise it ranks as well as the last
    value does (within 0.03): the families follow the curves, and a cosine schedule's late rise does not
    reorder what they extrapolate. With the noise, the fitted curvature, carried 20 times the observed
    horizon, is nearly unrelated to the real rise (tau < 0.2) and varies more from cell to cell than the
    levels do, so it reorders the cells. At epoch 50 (a 4-fold horizon) the loss is gone."""
    estimator = LearningCurveExtrapolation()
    finals = np.array([c.final for c in cells])
    for checkpoint in (10, 20):
        values, finals_seen, last = estimates("lc-extrapolation", checkpoint)
        assert np.array_equal(finals_seen, finals)  # the harness kept the cells' order
        assert tau(values, finals) < tau(last, finals) - 0.1
        assert tau(values - last, finals - last) < 0.2
        good = finals > 0.8
        assert np.std((values - last)[good]) > np.std(last[good])
        clean = [_CleanView(c.clean, checkpoint) for c in cells]
        clean_values = np.array([estimator.estimate(v) for v in clean])
        clean_last = np.array([c.clean[checkpoint - 1] for c in cells])
        assert tau(clean_values, finals) >= tau(clean_last, finals) - 0.03
    values, finals, last = estimates("lc-extrapolation", 50)
    assert tau(values, finals) >= tau(last, finals) - 0.02


class _CleanView:
    """A view of a curve without noise: all lc-extrapolation reads."""

    def __init__(self, curve, epoch):
        self._curve, self.epoch, self.budget = np.asarray(curve), epoch, len(curve)

    def curve(self, name):
        assert name == "val_acc"
        return self._curve[: self.epoch].copy()


def test_at_bound_counts_exact_and_near_bounds():
    assert nb.at_bound([0.0, 1.0, 0.5, 0.9995, None, math.nan]) == pytest.approx(2 / 6)
    assert nb.at_bound([0.0, 1.0, 0.5, 0.9995], tol=1e-3) == pytest.approx(3 / 4)
