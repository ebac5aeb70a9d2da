"""Space randaugment: RandAugment's N and M for a fixed named CNN; its declared parameters, sampling, the
suites that name it, and the recorder training each config with the config's own N and M."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fhbench.core.errors import ConfigError, SuiteError
from fhbench.spaces import make_space, targets
from fhbench.spaces.augment import AugmentConfig, AugmentSpace
from fhbench.inputs.suite import parse_suite

CPU = torch.device("cpu")
PIPELINE = __import__("fhbench.inputs.augment", fromlist=["_"]).randaugment_pipeline  # before any spy wraps it

def _raw(space=None, data=None, search=None, train=None):
    raw = {"name": "ra", "version": "1",
           "space": {"name": "randaugment", "cells": ["resnet18"], "width": 0.0625, "num_samples": 2, **(space or {})},
           "data": {"dataset": "digits", "train_size": 200, "val_size": 100, "test_size": 100,
                    "augment": "randaugment", **(data or {})},
           "train": {"epochs": 1, "batch_size": 100, **(train or {})},
           "record": {"window": 1},
           "estimate": {"every": 1, "repeats": 1, "estimators": ["original"]}}
    if search is not None:
        raw["search"] = search
    return raw


def test_config_strings_round_trip_and_are_canonical():
    space = AugmentSpace("resnet18", 0.125)
    config = space.parse("resnet18/n2-m9")  # a bare model takes the space's width
    assert config == AugmentConfig(space.network, 2, 9)
    assert str(config) == "resnet18@w0.125/n2-m9" and space.parse(str(config)) == config
    assert space.augmentation(config) == (2, 9)
    assert str(AugmentSpace("vgg16@w0.25").network) == "vgg16@w0.25"
    for codes in np.ndindex(3, 31):
        config = space.from_codes(codes)
        assert space.codes(config) == codes and space.parse(str(config)) == config


@pytest.mark.parametrize("text, fragment", [
    ("resnet18@w0.125/n2-m31", "M (magnitude) must be an integer in 0..30, got 31"),
    ("resnet18@w0.125/n0-m5", "N (operations per image) must be an integer in 1..3, got 0"),
    ("resnet18@w0.125/n4-m5", "N (operations per image) must be an integer in 1..3, got 4"),
    ("resnet18@w0.125/n2-m-1", "expected 'n<N>-m<M>'"),
    ("resnet18@w0.125/n2m9", "expected 'n<N>-m<M>'"),
    ("resnet18@w0.125/n02-m9", "expected 'n<N>-m<M>'"),
    ("resnet18@w0.125", "expected '<network>/n<N>-m<M>'"),
    ("resnet19/n2-m9", "unknown model 'resnet19'"),
    ("vgg16@w0.125/n2-m9", "not this space's network resnet18@w0.125"),
    ("resnet18@w0.25/n2-m9", "not this space's network resnet18@w0.125"),
])
def test_bad_configs_are_one_line_errors(text, fragment):
    with pytest.raises(ConfigError) as info:
        AugmentSpace("resnet18", 0.125).parse(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_declared_parameters_and_codes():
    space = AugmentSpace("mobilenetv2", 0.25)
    n, m = space.parameters()
    assert (n.name, n.kind, n.values) == ("N", "ordinal", (1, 2, 3))
    assert (m.name, m.kind, m.values) == ("M", "integer", tuple(range(31)))
    assert space.cardinalities == (3, 31) and space.num_configs == 93
    grid = np.array(list(np.ndindex(3, 31)))
    assert space.valid_codes(grid).all() and space.valid_codes(grid).shape == (93,)
    assert not space.valid_codes(np.array([[3, 0], [0, 31], [-1, 0]])).any()
    for bad in [(3, 0), (0, 31), (0,), (1, 2, 3), (0.5, 1), (True, 1), "ab"]:
        with pytest.raises(ConfigError):
            space.from_codes(bad)
    with pytest.raises(ConfigError, match="not this space's network"):
        space.codes(AugmentSpace("vgg16").parse("vgg16/n1-m0"))
    assert np.array_equal(space.encode(space.parse("mobilenetv2/n1-m0")), [0.0, 0.0])
    assert np.array_equal(space.encode(space.parse("mobilenetv2/n3-m30")), [1.0, 1.0])
    assert np.allclose(space.encode(space.parse("mobilenetv2/n2-m15")), [0.5, 0.5])


def test_sampling_is_uniform_over_the_93_configs():
    space = AugmentSpace("resnet18", 0.125)
    rng = np.random.default_rng(0)
    draws = 93 * 300
    counts = np.zeros((3, 31), dtype=int)
    for _ in range(draws):
        counts[space.sample_codes(rng)] += 1
    expected = draws / 93
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 150  # 92 degrees of freedom: p(chi2 > 150) < 1e-4
    assert isinstance(space.sample(rng), AugmentConfig)
    every = space.sample_distinct(np.random.default_rng(1), 93)
    assert len(set(every)) == 93
    with pytest.raises(ConfigError, match="cannot sample 94 distinct"):
        space.sample_distinct(rng, 94)


def test_build_is_the_named_network():
    space = AugmentSpace("resnet18", 0.0625)
    config = space.parse("resnet18/n1-m3")
    model = space.build(config, 10, in_channels=1)
    features, logits = model(torch.zeros(2, 1, 8, 8))
    assert features.shape == (2, space.feature_dim_of(config)) == (2, 32) and logits.shape == (2, 10)


def test_make_space_and_targets_follow_space_cells():
    suite = parse_suite(_raw(space={"cells": ["resnet18", "vgg16@w0.125"]}))
    assert str(make_space(suite.space, suite.path, 8, 10).network) == "resnet18@w0.0625"  # the first network
    labels = [(label, str(space.network)) for label, space in targets(suite)]
    assert labels == [("resnet18@w0.0625", "resnet18@w0.0625"), ("vgg16@w0.125", "vgg16@w0.125")]


@pytest.mark.parametrize("change, key", [
    ({"space": {"cells": []}}, "space.cells"),
    ({"space": {"cells": ["resnet19"]}}, "space.cells"),
    ({"space": {"cells": ["resnet18", "resnet18@w0.0625"]}}, "space.cells"),
    ({"space": {"cells": ["resnet18/n2-m9"]}}, "space.cells"),
    ({"space": {"width": 100.0}}, "space.width"),
    ({"space": {"channels": 8}}, "space.channels"),
    ({"space": {"num_samples": 94}}, "space.num_samples"),
    ({"space": {"num_cells": 3}}, "space.num_cells"),
    ({"data": {"augment": "crop-flip"}}, "data.augment"),
    ({"data": {"randaugment_n": 2}}, "data.randaugment_n"),
    ({"data": {"randaugment_m": 9}}, "data.randaugment_m"),
    ({"train": {"lr_per_model": {"resnet19": 0.1}}}, "train.lr_per_model"),
    ({"search": {"random_configs": 94, "min_budget": 1}}, "search.random_configs"),
    ({"search": {"workers": 94, "algorithms": ["hyperband"]}}, "search.workers"),
    ({"search": {"algorithms": ["hyperband"]}, "train": {"epochs": 128}}, "search.min_budget"),
])
def test_bad_randaugment_suites_are_one_line_errors(change, key):
    with pytest.raises(SuiteError, match=f"key '{key}'") as info:
        parse_suite(_raw(**change))
    assert "\n" not in str(info.value)


def test_a_randaugment_search_suite_loads_and_plans_no_trials():
    from fhbench.record.train import plan_trials

    suite = parse_suite(_raw(search={"algorithms": ["random", "hyperband"], "random_configs": 93, "workers": 2},
                             train={"epochs": 64}, space={"cells": ["resnet18", "vgg16"]}))
    assert plan_trials(suite, make_space(suite.space, suite.path, 8, 10)) == []
    assert len(targets(suite)) == 2 and suite.space.num_samples == 2
    estimation = parse_suite(_raw(space={"num_samples": 5}))
    trials = plan_trials(estimation, make_space(estimation.space, estimation.path, 8, 10))
    assert len({t.config for t in trials}) == 5 and all(t.config.startswith("resnet18@w0.0625/n") for t in trials)


def test_lr_per_model_reads_the_network_of_a_randaugment_config():
    suite = parse_suite(_raw(space={"cells": ["vgg16", "resnet18"]}, train={"lr_per_model": {"vgg16": 0.01}}))
    assert suite.train.lr_for("vgg16@w0.0625/n2-m9") == 0.01 and suite.train.lr_for("resnet18@w0.0625/n1-m0") == 0.1


# ------------------------------------------------------------------------------------------------ recorder

def _splits():
    from fhbench.inputs.data import load_splits

    return load_splits("digits", None, 200, 100, 100, 0)


def _train(suite, space, config, splits, monkeypatch, seen):
    import fhbench.inputs.augment as randaugment
    from fhbench.record.train import Trial, train_trial

    def spy(images, n, m, generator, **kwargs):
        out = PIPELINE(images, n, m, generator, **kwargs)
        seen.append((n, m, out.clone()))
        return out

    monkeypatch.setattr(randaugment, "randaugment_pipeline", spy)
    records = list(train_trial(Trial("t", 0, 0, config, 1234, 1), suite, space, splits, CPU, capture=False))
    return records[-1]


def test_the_recorder_trains_with_the_configs_n_and_m(monkeypatch):
    splits = _splits()
    suite = parse_suite(_raw())
    space = make_space(suite.space, suite.path, 8, 10)
    weak, strong = [], []
    a = _train(suite, space, "resnet18@w0.0625/n2-m0", splits, monkeypatch, weak)
    b = _train(suite, space, "resnet18@w0.0625/n2-m30", splits, monkeypatch, strong)
    assert {(n, m) for n, m, _ in weak} == {(2, 0)} and {(n, m) for n, m, _ in strong} == {(2, 30)}
    assert len(weak) == len(strong) == 2  # 200 images, batch 100
    assert not torch.equal(weak[0][2], strong[0][2])  # different training batches
    assert not np.array_equal(a["classifier_w"], b["classifier_w"])


def test_a_config_trains_as_data_randaugment_with_the_same_n_and_m(monkeypatch):
    """Space randaugment's 'resnet18@w0.0625/n2-m9' and space cnn's resnet18@w0.0625 with data.randaugment_n = 2,
    randaugment_m = 9: the same network, batches and weights for the same trial seed."""
    splits = _splits()
    suite = parse_suite(_raw())
    space = make_space(suite.space, suite.path, 8, 10)
    cnn_raw = _raw(data={"randaugment_n": 2, "randaugment_m": 9})
    cnn_raw["space"] = {"name": "cnn", "cells": ["resnet18"], "width": 0.0625, "num_samples": 1}
    cnn_suite = parse_suite(cnn_raw)
    cnn_space = make_space(cnn_suite.space, cnn_suite.path, 8, 10)
    ours, theirs = [], []
    a = _train(suite, space, "resnet18@w0.0625/n2-m9", splits, monkeypatch, ours)
    b = _train(cnn_suite, cnn_space, "resnet18@w0.0625", splits, monkeypatch, theirs)
    assert [(n, m) for n, m, _ in ours] == [(n, m) for n, m, _ in theirs] == [(2, 9), (2, 9)]
    assert all(torch.equal(x, y) for (_, _, x), (_, _, y) in zip(ours, theirs))
    assert np.array_equal(a["classifier_w"], b["classifier_w"]) and a["train_loss"] == b["train_loss"]


def test_make_space_refuses_a_randaugment_space_without_networks():
    suite = parse_suite(_raw())
    from dataclasses import replace

    with pytest.raises(SuiteError, match="key 'space.cells'"):
        make_space(replace(suite.space, cells=()), "x.toml")
