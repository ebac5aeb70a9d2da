"""LCNet baseline: contract, reproducibility, isolation from the caller, and a ranking-quality check."""

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from baselines.lcnet import LCNetEstimator

BUDGET = 20
FAST = dict(num_steps=500, burn_in_steps=200, keep_every=25)  # enough sampling to rank the trials (~4 s a fit)
CHEAP = dict(num_steps=60, burn_in_steps=20, keep_every=20)  # the contract checks: any sampling will do


class StubView:
    """Minimal trace view: a trial's full curve, shown only up to `epoch`."""

    _ids = itertools.count()

    def __init__(self, config, full_curve, epoch, budget=BUDGET):
        self.trial_id = f"r0-{next(StubView._ids):03d}"  # in creation order: a population keeps its order
        self.config_vector = np.asarray(config, dtype=np.float64)
        self._curve = np.asarray(full_curve, dtype=np.float64)
        self.epoch, self.budget = epoch, budget

    def curve(self, name):
        assert name == "val_acc"
        return self._curve[: self.epoch].copy()

    @property
    def final(self):
        return float(self._curve[-1])


def population(n_trials=12, epoch=BUDGET // 2, seed=0):
    """Saturating curves a - b*exp(-c*t); the asymptote a follows the config's first feature.

    Column 1 is constant (the zero-std case); the rest is noise the model must ignore.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(1, BUDGET + 1) / BUDGET
    views = []
    for q in rng.permutation(np.linspace(0.0, 1.0, n_trials)):
        config = np.concatenate([[q, 0.5], rng.random(4)])
        a = 0.5 + 0.4 * q
        b, c = rng.uniform(0.3, 0.4), rng.uniform(3.0, 5.0)
        curve = a - b * np.exp(-c * t) + rng.normal(0.0, 0.005, BUDGET)
        views.append(StubView(config, curve, epoch))
    return views


def _fit(settings):
    """One fit, recording the caller's thread count and RNG states around it."""
    views = population()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.manual_seed(123)
    np.random.seed(123)
    before = (torch.get_rng_state(), np.random.get_state())
    est = LCNetEstimator(**settings)
    est.fit(views)
    after = (torch.get_rng_state(), np.random.get_state(), torch.get_num_threads())
    torch.set_num_threads(threads)
    return est, views, before, after


@pytest.fixture(scope="module")
def fitted():
    """One cheap fit, shared by the contract checks."""
    return _fit(CHEAP)


def test_estimates_are_fractions(fitted):
    est, views, *_ = fitted
    values = [est.estimate(v) for v in views]
    assert all(isinstance(v, float) and np.isfinite(v) and 0.0 <= v <= 1.0 for v in values)


@pytest.mark.slow  # a fit long enough to rank (FAST)
def test_ranks_final_accuracy():
    """Seeing half of each curve, LCNet must order the trials' final accuracies."""
    est, views, *_ = _fit(FAST)
    tau, _ = kendalltau([est.estimate(v) for v in views], [v.final for v in views])
    assert tau > 0.3


def test_caller_state_untouched(fitted):
    _, _, (torch_rng, np_rng), (torch_after, np_after, threads_after) = fitted
    assert threads_after == 2
    assert torch.equal(torch_rng, torch_after)
    assert np_rng[0] == np_after[0] and np.array_equal(np_rng[1], np_after[1]) and np_rng[2:] == np_after[2:]


def test_same_seed_same_estimates(fitted):
    est, views, *_ = fitted
    again = LCNetEstimator(**CHEAP)
    again.fit(views)
    assert [again.estimate(v) for v in views] == [est.estimate(v) for v in views]


def test_unseen_trial_needs_only_its_config(fitted):
    est, *_ = fitted
    unseen = StubView([0.9, 0.5, 0.1, 0.2, 0.3, 0.4], np.full(BUDGET, np.nan), epoch=0)
    value = est.estimate(unseen)
    assert np.isfinite(value) and 0.0 <= value <= 1.0


def test_constant_columns_give_no_nan():
    """Every config column constant except one: pybnn's raw normalisation would divide by 0."""
    views = population(n_trials=4, epoch=5)
    for i, v in enumerate(views):
        v.config_vector = np.array([1.0, 0.0, 0.0, float(i % 2)])
    est = LCNetEstimator(**CHEAP)  # a division by 0 would show at once: no need for a long fit
    est.fit(views)
    assert all(np.isfinite(est.estimate(v)) for v in views)


def test_estimate_before_fit_raises():
    with pytest.raises(RuntimeError):
        LCNetEstimator().estimate(population(n_trials=1)[0])


@pytest.mark.parametrize("kwargs", [
    dict(num_steps=0), dict(keep_every=-1), dict(batch_size=2.5), dict(burn_in_steps=-1),
    dict(num_steps=100, burn_in_steps=100), dict(lr=0.0), dict(metric="val_loss"), dict(metric="test_acc"),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        LCNetEstimator(**kwargs)
