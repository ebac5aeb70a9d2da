"""fh-ensemble against a slow, obviously correct reference written here from appendix A.1."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from fhbench.core.errors import LookAheadError
from fhbench.estimators.check import synthetic_population
from fhbench.estimators.fh_ensemble import FeatureHistoryEnsemble


def reference_estimate(view, window=10, epochs=5, lr=0.05, momentum=0.9, weight_decay=5e-4, batch_size=1024,
                       seed=0):
    """One nn.Linear per epoch of the window, initialised from that epoch's saved classifier, trained
    alone with torch.optim.SGD and a per-step linear decay to zero; then the mean of the softmax
    outputs on the validation features. Minibatch order: the same seeded permutations as the
    implementation (a probe's order is an implementation choice, not part of the method)."""
    labels_train, labels_val = view.labels("train"), view.labels("val")
    probabilities = []
    for epoch in range(max(1, view.epoch - window + 1), view.epoch + 1):
        train = view.features(epoch, "train")
        weight, bias = view.classifier(epoch)
        probe = nn.Linear(train.shape[1], weight.shape[0])
        with torch.no_grad():
            probe.weight.copy_(weight)
            probe.bias.copy_(bias)
        optimizer = torch.optim.SGD(probe.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        steps = epochs * math.ceil(len(train) / batch_size)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(len(train), generator=generator)
            for start in range(0, len(train), batch_size):
                index = order[start:start + batch_size]
                loss = nn.functional.cross_entropy(probe(train[index]), labels_train[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
        with torch.no_grad():
            probabilities.append(probe(view.features(epoch, "val")).softmax(1))
    mean = torch.stack(probabilities).mean(0)
    return float((mean.argmax(1) == labels_val).float().mean())


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    return synthetic_population(tmp_path_factory.mktemp("fh"), n_trials=4, budget=12, n_train=700, n_val=300)


@pytest.mark.parametrize("epoch", [1, 5, 12])
@pytest.mark.parametrize("settings", [{}, {"window": 3, "batch_size": 128, "epochs": 2}])
def test_matches_reference(population, epoch, settings):
    estimator = FeatureHistoryEnsemble(**settings)
    for trace in population:
        view = trace.view(epoch)
        assert estimator.estimate(view) == pytest.approx(reference_estimate(view, **settings), abs=1e-9)


def test_defaults_are_appendix_a1():
    estimator = FeatureHistoryEnsemble()
    p = estimator.probe
    assert (estimator.window, p.epochs, p.lr, p.momentum, p.weight_decay, p.batch_size, p.lr_schedule) == \
        (10, 5, 0.05, 0.9, 5e-4, 1024, "linear")


def test_ensemble_beats_the_raw_classifier_on_noisy_histories(population):
    """The synthetic features get more separable every epoch; the re-fit ensemble should not be worse
    than the saved (unfitted) classifier's accuracy at an early epoch."""
    estimator = FeatureHistoryEnsemble(window=4)
    view = population[-1].view(6)
    assert estimator.estimate(view) >= view.curve("val_acc")[-1] - 0.02


class SpyView:
    """Wraps a view and remembers which epochs an estimator read."""

    def __init__(self, view):
        self.view, self.read = view, set()
        for name in ("epoch", "budget", "config", "config_vector", "kept_epochs", "trial_id"):
            setattr(self, name, getattr(view, name))

    def features(self, epoch, split):
        self.read.add(epoch)
        return self.view.features(epoch, split)

    def classifier(self, epoch):
        self.read.add(epoch)
        return self.view.classifier(epoch)

    def labels(self, split):
        return self.view.labels(split)

    def curve(self, name):
        return self.view.curve(name)


def test_uses_exactly_the_last_k_epochs_and_nothing_later(population):
    spy = SpyView(population[0].view(9))
    FeatureHistoryEnsemble(window=4).estimate(spy)
    assert spy.read == {6, 7, 8, 9}


def test_look_ahead_is_impossible(population):
    with pytest.raises(LookAheadError):
        population[0].view(3).features(4, "train")


def test_bad_settings_are_rejected():
    for bad in ({"window": 0}, {"epochs": 0}, {"lr": -1.0}, {"lr_schedule": "cosine"}, {"batch_size": 1.5}):
        with pytest.raises(ValueError):
            FeatureHistoryEnsemble(**bad)
