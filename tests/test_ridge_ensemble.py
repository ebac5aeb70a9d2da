"""fh-ridge (closed-form probes): its estimate against a NumPy least-squares computation by hand, and the
estimator contract."""

from __future__ import annotations

import numpy as np
import pytest

from fhbench.estimators.check import check_estimator, synthetic_population
from fhbench.estimators.ridge_ensemble import RidgeHistoryEnsemble


def _by_hand(view, epochs, alpha):
    """The module docstring, in NumPy: ridge on [features, 1] per epoch, scores summed, arg-max."""
    y = view.labels("train").numpy()
    classes = view.classifier(epochs[-1])[0].shape[0]
    targets = np.eye(classes)[y]
    total = 0.0
    for epoch in epochs:
        x = np.hstack([view.features(epoch, "train").numpy().astype(np.float64), np.ones((len(y), 1))])
        gram = x.T @ x
        lam = alpha * np.trace(gram) / gram.shape[0]
        coef = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), x.T @ targets)
        v = np.hstack([view.features(epoch, "val").numpy().astype(np.float64),
                       np.ones((len(view.labels("val")), 1))])
        total = total + v @ coef
    return float(np.mean(total.argmax(1) == view.labels("val").numpy()))


def test_the_estimate_is_the_ridge_ensembles_accuracy_by_hand(tmp_path):
    traces = synthetic_population(tmp_path, n_trials=3, budget=6)
    for alpha in (1e-3, 1.0):
        estimator = RidgeHistoryEnsemble(window=3, alpha=alpha)
        for trace in traces:
            view = trace.view(5)
            assert estimator.epochs_used(view) == [3, 4, 5]
            assert estimator.estimate(view) == pytest.approx(_by_hand(view, [3, 4, 5], alpha), abs=1e-12)
    # the better-separated trials score higher (the population's qualities rise with the index)
    estimates = [RidgeHistoryEnsemble(window=3).estimate(t.view(6)) for t in traces]
    assert estimates == sorted(estimates) and estimates[0] < estimates[-1]


def test_settings_are_checked():
    for bad in ({"window": 0}, {"window": 2.5}, {"alpha": 0}, {"alpha": -1.0}, {"alpha": "big"}):
        with pytest.raises(ValueError):
            RidgeHistoryEnsemble(**bad)


def test_it_keeps_the_estimator_contract():
    check_estimator(RidgeHistoryEnsemble, {})
