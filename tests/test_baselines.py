"""The literature baselines (sotl, sotl-e, lc-extrapolation, lcsvr, snapshot-ensemble): registration,
the contract, and each one against a case worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from fhbench.core.errors import SuiteError
from fhbench.estimators import available_estimators, create_estimator
from fhbench.estimators.check import check_estimator, synthetic_population
from fhbench.estimators.fh_ensemble import FeatureHistoryEnsemble
from fhbench.record.format import CURVES, TEST_CURVES, TIMINGS
from fhbench.record.store import TraceStore
from fhbench_baselines.lc_extrapolation import (FAMILIES, LearningCurveExtrapolation, NoExtrapolationError,
                                                aicc_weights)
from fhbench_baselines.lcsvr import LcSVR, curve_features, prefix_length
from fhbench_baselines.snapshot_ensemble import SnapshotEnsemble
from fhbench_baselines.sotl import SumOfTrainingLosses, SumOfTrainingLossesE

NEW = ("sotl", "sotl-e", "lc-extrapolation", "lcsvr", "snapshot-ensemble")


class CurveView:
    """A view with curves only: what the curve-based estimators read."""

    def __init__(self, curves: dict, epoch: int | None = None, budget: int = 20, config=(0.0,), trial_id="t"):
        self._curves = {k: np.asarray(v, dtype=np.float64) for k, v in curves.items()}
        self.epoch = len(next(iter(self._curves.values()))) if epoch is None else epoch
        self.budget, self.config_vector, self.trial_id = budget, np.asarray(config, dtype=np.float64), trial_id

    def curve(self, name):
        return self._curves[name][: self.epoch].copy()


# -- registration and contract ------------------------------------------------------------------------

def test_new_estimators_arrive_through_entry_points_and_declare_rank_only():
    registry = available_estimators()
    for name in NEW:
        assert registry[name].target.startswith("fhbench_baselines."), name
        estimator = create_estimator(name, {"window": 2} if name == "snapshot-ensemble" else None, registry=registry)
        assert estimator.name == name
        assert getattr(estimator, "rank_only", False) is (name in ("sotl", "sotl-e")), name


# The contract at small settings where the defaults cost seconds (lcsvr: a 36-point grid, cross-validated, in
# each of the check's 12 fits; lc-extrapolation: 11 curve families fitted per trial); at the defaults in the
# slow set.
CHEAP = {"lcsvr": {"c_grid": [1.0], "nu_grid": [0.5], "gamma_grid": [1.0]},
         "lc-extrapolation": {"families": ["pow3", "vap"]}}


@pytest.mark.parametrize("name, settings", [pytest.param(name, CHEAP.get(name, {}), id=name) for name in NEW] + [
    pytest.param(name, {}, id=f"{name}-defaults", marks=pytest.mark.slow) for name in CHEAP])
def test_new_estimators_conform(name, settings, tmp_path):
    check_estimator(available_estimators()[name].load(), settings, workdir=tmp_path)


def test_bad_settings_are_one_line_suite_errors():
    for name, settings in (("sotl-e", {"epochs": 0}), ("lc-extrapolation", {"families": ["pow3", "cubic"]}),
                           ("lc-extrapolation", {"families": "pow3"}), ("lc-extrapolation", {"fallback": "zero"}),
                           ("lcsvr", {"nu_grid": [1.5]}), ("lcsvr", {"folds": 1}), ("lcsvr", {"target": "final"}),
                           ("snapshot-ensemble", {"window": 0})):
        with pytest.raises(SuiteError, match=f"estimators.{name}"):
            create_estimator(name, settings)


# -- sotl, sotl-e ---------------------------------------------------------------------------------------

def test_sotl_scores_by_hand():
    view = CurveView({"train_loss": [2.0, 1.0, 0.5, 0.3]})
    assert SumOfTrainingLosses().estimate(view) == pytest.approx(math.exp(-3.8 / 4))
    assert SumOfTrainingLossesE().estimate(view) == pytest.approx(math.exp(-0.3))
    assert SumOfTrainingLossesE(epochs=2).estimate(view) == pytest.approx(math.exp(-0.4))
    assert SumOfTrainingLossesE(epochs=9).estimate(view) == pytest.approx(math.exp(-3.8 / 4))  # all there is


def test_sotl_and_sotl_e_rank_differently_as_their_sums_do():
    # A: sum 3.2, last 0.2; B: sum 1.4, last 0.4. SoTL prefers B, SoTL-E (E=1) prefers A.
    a, b = CurveView({"train_loss": [3.0, 0.2]}), CurveView({"train_loss": [1.0, 0.4]})
    assert SumOfTrainingLosses().estimate(b) > SumOfTrainingLosses().estimate(a)
    assert SumOfTrainingLossesE().estimate(a) > SumOfTrainingLossesE().estimate(b)


def test_sotl_refuses_losses_that_are_not_cross_entropies():
    with pytest.raises(ValueError, match="finite and >= 0"):
        SumOfTrainingLosses().estimate(CurveView({"train_loss": [1.0, -0.5]}))
    with pytest.raises(ValueError, match="finite and >= 0"):
        SumOfTrainingLossesE().estimate(CurveView({"train_loss": [1.0, math.nan]}))


# -- lc-extrapolation -----------------------------------------------------------------------------------

def test_lc_extrapolation_recovers_an_exact_pow3_curve():
    x = np.arange(1, 9)
    view = CurveView({"val_acc": 0.9 - 0.5 * x ** -0.7}, budget=20)
    truth = 0.9 - 0.5 * 20 ** -0.7  # 0.83859
    assert LearningCurveExtrapolation(families=["pow3"]).estimate(view) == pytest.approx(truth, abs=1e-6)
    # Among all 11 families the exact one has the smallest residual and nearly all the weight
    # (equal weights would be 0.01 off).
    assert LearningCurveExtrapolation().estimate(view) == pytest.approx(truth, abs=1e-4)


def test_aicc_weights_by_hand():
    # n = 6; AICc = 6 ln(RSS/6) + 2k + 2k(k+1)/(6-k-1): -30.3816 for (0.01, k=2), -16.2227 for (0.02, k=3).
    w = aicc_weights([0.01, 0.02], [2, 3], 6)
    ratio = math.exp(-(-16.2227 + 30.3816) / 2)
    assert w == pytest.approx([1 / (1 + ratio), ratio / (1 + ratio)], rel=1e-4)


def test_lc_extrapolation_fallbacks_are_documented_not_silent():
    short = CurveView({"val_acc": [0.2, 0.3, 0.35]})  # 3 epochs: k + 2 > 3 for every family
    assert LearningCurveExtrapolation().estimate(short) == 0.35
    with pytest.raises(NoExtrapolationError, match="k \\+ 2 epochs"):
        LearningCurveExtrapolation(fallback="error").estimate(short)
    assert LearningCurveExtrapolation(fallback="error").estimate(CurveView({"val_acc": [0.1] * 6})) == 0.1
    # ln(0.6 ln x + 1.2) passes 1 before epoch 20: the only family is dropped, so the fallback answers.
    rising = CurveView({"val_acc": np.log(0.6 * np.log(np.arange(1, 9)) + 1.2)})
    assert LearningCurveExtrapolation(families=["loglog_linear"]).estimate(rising) == rising.curve("val_acc")[-1]
    with pytest.raises(NoExtrapolationError):
        LearningCurveExtrapolation(families=["loglog_linear"], fallback="error").estimate(rising)
    with pytest.raises(ValueError, match="non-finite values at epochs \\[2\\]"):
        LearningCurveExtrapolation().estimate(CurveView({"val_acc": [0.1, math.nan, 0.3, 0.4]}))


def test_every_family_fits_its_own_curve():
    """Each family, sampled at its own parameters, is extrapolated back to its own value at the budget."""
    x = np.arange(1, 13, dtype=np.float64)
    truths = {"vap": [-0.3, -1.0, 0.05], "pow3": [0.8, 0.6, 0.6], "loglog_linear": [0.2, 1.3],
              "hill3": [0.85, 1.5, 3.0], "log_power": [0.8, 1.0, -1.2], "pow4": [0.8, 1.0, 0.5, 0.8],
              "mmf": [0.85, 0.1, 0.4, 1.5], "exp4": [0.8, 0.4, -0.2, 0.9], "janoschek": [0.85, 0.1, 0.2, 1.1],
              "weibull": [0.85, 0.1, 0.2, 1.1], "ilog2": [0.9, 0.4]}
    assert set(truths) == set(FAMILIES)
    for name, params in truths.items():
        family = FAMILIES[name]
        expected = float(family.f(np.array([30.0]), np.asarray(params))[0])
        view = CurveView({"val_acc": family.f(x, np.asarray(params))}, budget=30)
        assert 0 < expected < 1, name
        assert LearningCurveExtrapolation(families=[name], fallback="error").estimate(view) == \
            pytest.approx(expected, abs=2e-3), name


# -- lcsvr ----------------------------------------------------------------------------------------------

def test_lcsvr_features_and_prefix_by_hand():
    assert [prefix_length(e, 20) for e in (2, 5, 10, 15, 20)] == [1, 1, 5, 11, 20]
    # tau = 2 points of a 4-epoch curve: epochs 2 and 4; then their difference, no second one, the config.
    row = curve_features(np.array([0.1, 0.2, 0.4, 0.5]), 2, np.array([1.0, 0.0]))
    assert row == pytest.approx([0.2, 0.5, 0.3, 1.0, 0.0])
    row = curve_features(np.array([0.1, 0.2, 0.4]), 3, np.array([]))
    assert row == pytest.approx([0.1, 0.2, 0.4, 0.1, 0.2, 0.1])


def _saturating_population(epoch: int, n: int = 16, budget: int = 20):
    """Curves q (1 - exp(-t / 4)) whose final value grows with q; config: q and a constant column."""
    qs = np.linspace(0.4, 0.9, n)[np.random.default_rng(0).permutation(n)]
    t = np.arange(1, budget + 1)
    views = [CurveView({"val_acc": q * (1 - np.exp(-t / 4))}, epoch=epoch, budget=budget, config=(q, 1.0),
                       trial_id=f"t{i}") for i, q in enumerate(qs)]
    return views, qs * (1 - np.exp(-budget / 4))


def test_lcsvr_at_the_budget_learns_the_final_value_from_the_whole_curve():
    views, finals = _saturating_population(epoch=20)  # tau = 20: training and estimate rows coincide
    for target, tolerance in (("value", 0.01), ("gain", 1e-9)):  # gain: every target is 0, so y_20 itself
        estimator = LcSVR(target=target)
        estimator.fit(views)
        assert [estimator.estimate(v) for v in views] == pytest.approx(finals, abs=tolerance), target


def test_lcsvr_gain_adds_the_populations_rise_over_the_same_fraction():
    # At epoch 10 of 20, tau = 5: the fit learns y_10 - y_5 = q (e^-5/4 - e^-10/4) = 0.204 q from the
    # config and the first 5 epochs, then adds it to each trial's y_10.
    views, finals = _saturating_population(epoch=10)
    estimator = LcSVR(target="gain")
    estimator.fit(views)
    q = np.array([v.config_vector[0] for v in views])
    rise = np.array([estimator.estimate(v) - v.curve("val_acc")[-1] for v in views])
    assert rise == pytest.approx(q * (math.exp(-5 / 4) - math.exp(-10 / 4)), abs=0.05)
    assert kendalltau(rise + [v.curve("val_acc")[-1] for v in views], finals).statistic == 1.0


def test_lcsvr_refuses_what_it_was_not_fitted_for():
    views, _ = _saturating_population(epoch=10)
    estimator = LcSVR()
    with pytest.raises(RuntimeError, match="before fit"):
        estimator.estimate(views[0])
    estimator.fit(views)
    other, _ = _saturating_population(epoch=12)
    with pytest.raises(ValueError, match="fit at epoch 10 of 20, asked at epoch 12"):
        estimator.estimate(other[0])
    with pytest.raises(ValueError, match="at least 2 trials"):
        LcSVR().fit(views[:1])
    with pytest.raises(ValueError, match="one epoch and one budget"):
        LcSVR().fit(views[:2] + other[:1])


# -- snapshot-ensemble ----------------------------------------------------------------------------------

def _write_two_epoch_trial(root):
    """Two val images (labels 0, 1), 2-d features, 2 classes. Logits W_e f_e per epoch:
    epoch 1 (W = I):    image 0 -> (3, 0), image 1 -> (1, 0);
    epoch 2 (W = swap): image 0 -> (0, 1), image 1 -> (0, 3).
    Each epoch alone is right on one image (accuracy 0.5). The mean softmax gets both right
    (image 0: p0 = (0.9526 + 0.2689) / 2; image 1: p1 = (0.2689 + 0.9526) / 2), so 1.0. Crossing
    epochs (W_2 on f_1, W_1 on f_2) gives p0 = (0.0474 + 0.7311) / 2 and p1 likewise: 0.0."""
    store = TraceStore(root)
    writer = store.writer("t", {"config": "hand", "config_vector": [0.0], "repeat": 0, "index": 0, "seed": 0,
                                "budget": 2, "num_classes": 2, "feature_dim": 2, "space": "hand",
                                "dataset_source": "hand", "suite": "hand", "conditions": {"device": "cpu"}})
    val = {1: [[3.0, 0.0], [1.0, 0.0]], 2: [[1.0, 0.0], [3.0, 0.0]]}
    for epoch in (1, 2):
        writer.write_features(epoch, np.zeros((2, 2), np.float16), np.asarray(val[epoch], np.float16))
    curves = {name: np.full(2, 0.5) for name in CURVES + TIMINGS + TEST_CURVES}
    writer.finish(status="complete", curves=curves,
                  labels={"train": np.array([0, 1]), "train_index": np.arange(2), "val": np.array([0, 1])},
                  classifier_w=np.stack([np.eye(2), np.eye(2)[::-1]]).astype(np.float32),
                  classifier_b=np.zeros((2, 2), np.float32))
    return store.open("t")


def test_snapshot_ensemble_by_hand(tmp_path):
    trace = _write_two_epoch_trial(tmp_path)
    assert SnapshotEnsemble(window=2).estimate(trace.view(2)) == 1.0
    assert SnapshotEnsemble(window=1).estimate(trace.view(2)) == 0.5
    assert SnapshotEnsemble(window=2).estimate(trace.view(1)) == 0.5  # only epoch 1 is visible


def test_snapshot_ensemble_uses_fh_ensembles_window_and_is_the_network_at_window_one(tmp_path):
    traces = synthetic_population(tmp_path, n_trials=3)
    for window in (1, 3, 8):
        for epoch in (2, 5, 8):
            view = traces[1].view(epoch)
            assert SnapshotEnsemble(window=window).epochs_used(view) == \
                FeatureHistoryEnsemble(window=window).epochs_used(view)
    # The synthetic classifier scores the stored val features as the recorded val_acc did (float16 aside).
    for trace in traces:
        for epoch in (3, 8):
            view = trace.view(epoch)
            assert SnapshotEnsemble(window=1).estimate(view) == pytest.approx(view.curve("val_acc")[-1], abs=0.02)
