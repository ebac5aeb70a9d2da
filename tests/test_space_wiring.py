"""Spaces resnet_scaling and darts and RandAugment, wired into suites and the recorder: tiny digits
suites that record and score in seconds, and the suite errors for their settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import record_traces, write_suite
from fhbench.core.errors import SuiteError
from fhbench.engine.pipeline import score_suite
from fhbench.inputs.suite import load_suite
from fhbench.spaces import suite_space

NB201_SPACE = "channels = 4\ncells_per_stage = 1\n"
SMALLEST_RESNET = "d1-1-1-1_w0.5-0.5-0.5-0.5"  # the space's smallest config: a quarter of ResNet-18's MACs
DARTS_SPACE = 'name = "darts"\nchannels = 4\nnum_cells = 3\nauxiliary = true\ndrop_path = 0.2\n'


def _suite_file(tmp_path, name, space=NB201_SPACE, *, augment="none", data="", batch_size=64, epochs=2):
    path = write_suite(tmp_path, name, num_samples=1, epochs=epochs, augment=augment, estimators=("original",))
    augment_line = f'augment = "{augment}"\n'
    text = path.read_text().replace(NB201_SPACE, space).replace(augment_line, augment_line + data)
    path.write_text(text.replace("batch_size = 64", f"batch_size = {batch_size}"))
    return path


def _record_and_score(tmp_path, path):
    suite = load_suite(path)
    store = record_traces(suite, tmp_path / "traces")
    trace = store.open("r0-000")
    assert trace.epochs_completed == 2 and np.isfinite(trace.curve("train_loss")).all()
    assert trace.features(2, "val").shape[0] == 100
    _, rows = score_suite(suite, store, tmp_path / "board")
    assert [(row.estimator, row.epoch, row.n_estimates, row.n_failed) for row in rows] == [("original", 2, 1, 0)]
    return suite, trace


@pytest.mark.slow  # records (trains) a suite
def test_resnet_scaling_suite_records_and_scores(tmp_path):
    space = f'name = "resnet_scaling"\nmacs_limit = 1.0\ncells = ["{SMALLEST_RESNET}"]\n'
    suite, trace = _record_and_score(tmp_path, _suite_file(tmp_path, "rs", space))
    assert trace.config == SMALLEST_RESNET and trace.features(2, "val").shape == (100, 256)
    built = suite_space(suite)
    assert (built.image_size, built.num_classes, built.limit) == (8, 10, 1.0)  # measured at digits' size


def test_resnet_scaling_measures_at_the_resized_size(tmp_path):
    space = f'name = "resnet_scaling"\ncells = ["{SMALLEST_RESNET}"]\n'
    suite = load_suite(_suite_file(tmp_path, "rs", space, data="resize = 4\n"))
    assert suite_space(suite).image_size == 4 and suite_space(suite).limit is None


@pytest.mark.slow  # records (trains) a suite
def test_darts_suite_records_and_scores(tmp_path):
    _record_and_score(tmp_path, _suite_file(tmp_path, "darts", DARTS_SPACE))


@pytest.mark.slow  # records (trains) a suite
def test_darts_auxiliary_loss_changes_the_gradient_not_the_recorded_loss(tmp_path, monkeypatch):
    """One step an epoch: epoch 1's loss is the untrained network's, the same with or without the tower's
    loss if train_loss is the main loss alone; epoch 2's differs if the tower's loss reached the gradient.
    The other run keeps the tower (the same initial weights) and weights its loss by 0."""
    from fhbench.spaces.darts import DartsSpace

    suite = load_suite(_suite_file(tmp_path, "darts", DARTS_SPACE, batch_size=300))
    with_aux = record_traces(suite, tmp_path / "a").open("r0-000")
    build = DartsSpace.build

    def build_without_aux_loss(self, *args, **kwargs):
        model = build(self, *args, **kwargs)
        model.auxiliary_weight = 0.0
        return model

    monkeypatch.setattr(DartsSpace, "build", build_without_aux_loss)
    without = record_traces(suite, tmp_path / "b").open("r0-000")
    a, b = with_aux.curve("train_loss"), without.curve("train_loss")
    assert a[0] == b[0]
    assert a[1] != b[1]
    assert with_aux.has_predictions is False and with_aux.features(2, "val").shape == (100, 64)
    assert np.isfinite(with_aux.curve("val_acc")).all()


@pytest.mark.slow  # records (trains) a suite
def test_darts_drop_path_is_off_for_proxies_and_raised_each_epoch(tmp_path, monkeypatch):
    from fhbench.spaces.darts import _torch_parts

    network = _torch_parts().DartsNetwork
    calls = []
    schedule = network.schedule_drop_path

    def spy(self, fraction):
        calls.append(fraction)
        schedule(self, fraction)

    monkeypatch.setattr(network, "schedule_drop_path", spy)
    # the wall-time forecast times a few steps on networks of its own: only the recorded trial's calls count
    monkeypatch.setattr("fhbench.engine.pipeline.forecast", lambda *args, **kwargs: None)
    record_traces(load_suite(_suite_file(tmp_path, "darts", DARTS_SPACE, epochs=4)), tmp_path / "t")
    assert calls == [0.0, 0.0, 0.25, 0.5, 0.75]  # after build, then (epoch - 1) / budget


@pytest.mark.slow  # records (trains) a suite
def test_randaugment_suite_records_with_the_train_mean_as_cutout_fill(tmp_path, monkeypatch):
    import fhbench.inputs.augment as randaugment
    from fhbench.inputs.data import load_splits

    pipeline = randaugment.randaugment_pipeline
    seen = []

    def spy(images, n, m, generator, *, padding, cutout_fill):
        seen.append((images.dtype, n, m, padding, cutout_fill))
        return pipeline(images, n, m, generator, padding=padding, cutout_fill=cutout_fill)

    monkeypatch.setattr(randaugment, "randaugment_pipeline", spy)
    settings = "randaugment_n = 2\nrandaugment_m = 9\n"
    suite = load_suite(_suite_file(tmp_path, "ra", augment="randaugment", data=settings))
    trace = record_traces(suite, tmp_path / "t").open("r0-000")
    assert trace.epochs_completed == 2 and np.isfinite(trace.curve("train_loss")).all()
    mean = load_splits("digits", None, 300, 100, 100, 0).mean
    assert seen and set(seen) == {(torch.uint8, 2, 9, 1, (round(255 * mean[0]),))}  # 8x8 digits: padding 1


def test_new_settings_are_hashed_and_published_only_when_set(tmp_path):
    plain = load_suite(_suite_file(tmp_path, "plain"))
    assert not {"randaugment_n", "randaugment_m"} & set(plain.to_dict()["data"])
    assert not {"macs_limit", "num_cells", "auxiliary", "drop_path", "allow_none"} & set(plain.to_dict()["space"])
    darts = load_suite(_suite_file(tmp_path, "d", DARTS_SPACE))
    unset = load_suite(_suite_file(tmp_path, "d", DARTS_SPACE.replace("0.2", "0.0")))
    default = load_suite(_suite_file(tmp_path, "d", DARTS_SPACE.replace("drop_path = 0.2\n", "")))
    assert unset.record_hash == default.record_hash != darts.record_hash
    ra = {n: load_suite(_suite_file(tmp_path, "ra", augment="randaugment",
                                    data=f"randaugment_n = {n}\nrandaugment_m = 0\n")) for n in (1, 2)}
    assert ra[1].record_hash != ra[2].record_hash and ra[1].to_dict()["data"]["randaugment_n"] == 1


@pytest.mark.parametrize("space, augment, data, key", [
    (NB201_SPACE, "randaugment", "randaugment_n = 0\nrandaugment_m = 5\n", "data.randaugment_n"),
    (NB201_SPACE, "randaugment", "randaugment_n = 4\nrandaugment_m = 5\n", "data.randaugment_n"),
    (NB201_SPACE, "randaugment", "randaugment_n = 2\nrandaugment_m = 31\n", "data.randaugment_m"),
    (NB201_SPACE, "randaugment", "randaugment_n = 2\nrandaugment_m = -1\n", "data.randaugment_m"),
    (NB201_SPACE, "randaugment", "randaugment_m = 5\n", "data.randaugment_n"),
    (NB201_SPACE, "randaugment", "randaugment_n = 2\n", "data.randaugment_m"),
    (NB201_SPACE, "crop-flip", "randaugment_n = 2\n", "data.randaugment_n"),
    (NB201_SPACE, "none", "randaugment_m = 0\n", "data.randaugment_m"),
    (NB201_SPACE + "num_cells = 8\n", "none", "", "space.num_cells"),
    (NB201_SPACE + "auxiliary = true\n", "none", "", "space.auxiliary"),
    (NB201_SPACE + "drop_path = 0.2\n", "none", "", "space.drop_path"),
    (NB201_SPACE + "allow_none = true\n", "none", "", "space.allow_none"),
    (NB201_SPACE + "macs_limit = 2.0\n", "none", "", "space.macs_limit"),
    ('name = "cnn"\nallow_none = true\n', "none", "", "space.allow_none"),
    ('name = "nasbench101"\n', "none", "", "space.name"),
    ('name = "darts"\n', "none", "", "space.num_cells"),
    ('name = "darts"\nnum_cells = 2\n', "none", "", "space.num_cells"),
    (DARTS_SPACE.replace("0.2", "1.0"), "none", "", "space.drop_path"),
    (DARTS_SPACE + "cells_per_stage = 2\n", "none", "", "space.cells_per_stage"),
    (DARTS_SPACE + 'cells = ["normal=none~0"]\n', "none", "", "space.cells"),
    (DARTS_SPACE + "macs_limit = 2.0\n", "none", "", "space.macs_limit"),
    ('name = "resnet_scaling"\nmacs_limit = 0.1\n', "none", "", "space.macs_limit"),
    ('name = "resnet_scaling"\nmacs_limit = -1.0\n', "none", "", "space.macs_limit"),
    ('name = "resnet_scaling"\nmacs_limit = 1.0\ncells = ["d4-4-4-4_w1-1-1-1"]\n', "none", "", "space.cells"),
    ('name = "resnet_scaling"\ncells = ["d1-1-1-1_w3-1-1-1"]\n', "none", "", "space.cells"),
    ('name = "resnet_scaling"\nchannels = 8\n', "none", "", "space.channels"),
    ('name = "resnet_scaling"\nnum_cells = 3\n', "none", "", "space.num_cells"),
])
def test_bad_settings_are_one_line_errors_naming_the_key(tmp_path, space, augment, data, key):
    with pytest.raises(SuiteError, match=f"key '{key}'") as info:
        load_suite(_suite_file(tmp_path, "bad", space, augment=augment, data=data))
    assert "\n" not in str(info.value)


def test_loading_the_new_suites_imports_no_torch(tmp_path):
    import subprocess
    import sys

    paths = [_suite_file(tmp_path, "darts", DARTS_SPACE + 'cells = ["normal=sep_conv_3x3~0,sep_conv_3x3~1|'
                         'skip_connect~0,sep_conv_3x3~1|skip_connect~0,sep_conv_3x3~1|skip_connect~0,skip_connect~2;'
                         'reduce=max_pool_3x3~0,max_pool_3x3~1|skip_connect~2,max_pool_3x3~1|max_pool_3x3~0,'
                         'skip_connect~2|skip_connect~2,max_pool_3x3~1"]\n'),
             _suite_file(tmp_path, "rs", f'name = "resnet_scaling"\nmacs_limit = 2.0\ncells = ["{SMALLEST_RESNET}"]\n'),
             _suite_file(tmp_path, "ra", augment="randaugment", data="randaugment_n = 2\nrandaugment_m = 9\n")]
    code = ("import sys\nfrom fhbench.inputs.suite import load_suite\n"
            + "".join(f"load_suite({str(p)!r})\n" for p in paths)
            + "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# Issue 10: targets, space.macs_limits, space randaugment recorded, DARTS's Cutout recipe.

RANDAUGMENT_SPACE = 'name = "randaugment"\ncells = ["resnet18", "vgg16"]\nwidth = 0.0625\n'


def test_targets_one_per_macs_limit_network_or_space(tmp_path):
    from fhbench.spaces import targets

    limits = load_suite(_suite_file(tmp_path, "rs", 'name = "resnet_scaling"\nmacs_limits = [1.0, 2.0]\n'))
    built = targets(limits)
    assert [label for label, _ in built] == ["1x ResNet-18 MACs", "2x ResNet-18 MACs"]
    assert [space.limit for _, space in built] == [1.0, 2.0] and suite_space(limits).limit == 1.0
    assert all(space.image_size == 8 and space.num_classes == 10 for _, space in built)  # digits
    one = targets(load_suite(_suite_file(tmp_path, "rs", 'name = "resnet_scaling"\nmacs_limit = 2.0\n')))
    assert [(label, space.limit) for label, space in one] == [("2x ResNet-18 MACs", 2.0)]
    darts = targets(load_suite(_suite_file(tmp_path, "d", DARTS_SPACE)))
    assert [(label, space.name, space.channels) for label, space in darts] == [("darts", "darts", 4)]
    assert [label for label, _ in targets(load_suite(_suite_file(tmp_path, "n")))] == ["nb201"]
    augment = targets(load_suite(_suite_file(tmp_path, "ra", RANDAUGMENT_SPACE, augment="randaugment")))
    assert [(label, str(space.network)) for label, space in augment] == [
        ("resnet18@w0.0625", "resnet18@w0.0625"), ("vgg16@w0.0625", "vgg16@w0.0625")]


@pytest.mark.slow  # records (trains) a suite
def test_randaugment_suite_records_each_config_with_its_own_n_and_m(tmp_path, monkeypatch):
    import re

    import fhbench.inputs.augment as randaugment

    pipeline = randaugment.randaugment_pipeline
    seen = set()

    def spy(images, n, m, generator, **kwargs):
        seen.add((n, m))
        return pipeline(images, n, m, generator, **kwargs)

    monkeypatch.setattr(randaugment, "randaugment_pipeline", spy)
    path = _suite_file(tmp_path, "ra", RANDAUGMENT_SPACE, augment="randaugment")
    path.write_text(path.read_text().replace("num_samples = 1\n", "num_samples = 2\n"))
    suite = load_suite(path)
    store = record_traces(suite, tmp_path / "traces")
    configs = [store.open(f"r0-00{i}").config for i in range(2)]
    assert all(re.fullmatch(r"resnet18@w0\.0625/n[123]-m\d+", c) for c in configs) and len(set(configs)) == 2
    assert seen == {tuple(int(v) for v in re.findall(r"\d+", c.split("/")[1])) for c in configs}
    trace = store.open("r0-000")
    assert trace.epochs_completed == 2 and trace.features(2, "val").shape == (100, 32)
    _, rows = score_suite(suite, store, tmp_path / "board")
    assert [(row.n_estimates, row.n_failed) for row in rows] == [(2, 0)]


@pytest.mark.slow  # records (trains) a suite
def test_crop_flip_cutout_fills_the_square_with_the_train_mean(tmp_path, monkeypatch):
    import fhbench.inputs.augment as randaugment
    from fhbench.inputs.data import load_splits

    cutout = randaugment.cutout
    fills = []

    def spy(images, generator, *, fill):
        fills.append((images.dtype, fill))
        return cutout(images, generator, fill=fill)

    monkeypatch.setattr(randaugment, "cutout", spy)
    suite = load_suite(_suite_file(tmp_path, "d", DARTS_SPACE, augment="crop-flip-cutout"))
    trace = record_traces(suite, tmp_path / "t").open("r0-000")
    assert trace.epochs_completed == 2 and np.isfinite(trace.curve("train_loss")).all()
    mean = load_splits("digits", None, 300, 100, 100, 0).mean
    assert fills and set(fills) == {(torch.uint8, (round(255 * mean[0]),))}
    plain = record_traces(load_suite(_suite_file(tmp_path, "p", DARTS_SPACE, augment="crop-flip")), tmp_path / "p")
    assert not np.array_equal(plain.open("r0-000").curve("train_loss"), trace.curve("train_loss"))


def test_loading_declared_search_suites_imports_no_torch(tmp_path):
    import subprocess
    import sys

    search = "\n[search]\nworkers = 2\nrandom_configs = 8\nestimators = [\"original\"]\n"
    every = "every = 2\n"  # the search's budgets 1 and 2 need checkpoints
    paths = []
    for name, space, augment in (("d", DARTS_SPACE, "crop-flip-cutout"),
                                 ("rs", 'name = "resnet_scaling"\nmacs_limits = [1.0, 2.0]\n', "none"),
                                 ("ra", RANDAUGMENT_SPACE, "randaugment")):
        path = _suite_file(tmp_path, name, space, augment=augment)
        text = path.read_text().replace(every, "every = 1\n")
        extra = "\n[evaluate]\nchannels = 4\ncells = 3\nepochs = 1\n" if name == "d" else ""
        path.write_text(text + search + extra)
        paths.append(path)
    code = ("import sys\nfrom fhbench.inputs.suite import load_suite\nfrom fhbench.spaces import targets\n"
            + "".join(f"s = load_suite({str(p)!r}); assert s.search is not None; targets(s)\n" for p in paths)
            + "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
