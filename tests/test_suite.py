"""Suite files: the shipped suites load with the thesis's settings, and bad files fail with one line
naming the key, at load time, before torch is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, write_suite
from fhbench.core.errors import SuiteError
from fhbench.inputs.suite import RECORD_FORMAT, load_suite, parse_suite

SHIPPED = sorted((REPO / "suites").glob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_suite_loads(path):
    suite = load_suite(path)
    assert suite.name == path.stem
    assert suite.warnings == ()  # shipped search pools are larger than one HyperBand iteration draws


def test_full_scale_suite_is_the_thesis_setting():
    """A.3.1: 100 cells, C=16, N=5, 200 epochs, 40k/10k, batch 256, SGD 0.9, wd 5e-4, lr 0.1 linear,
    estimates every 10 epochs, 3 repeats; A.1: K=10 and the probe settings."""
    suite = load_suite(REPO / "suites" / "nb201.toml")
    assert (suite.space.num_samples, suite.space.channels, suite.space.cells_per_stage) == (100, 16, 5)
    assert (suite.data.dataset, suite.data.train_size, suite.data.val_size, suite.data.test_size) == \
        ("cifar10", 40000, 10000, None)
    t = suite.train
    assert (t.epochs, t.batch_size, t.lr, t.momentum, t.weight_decay, t.lr_schedule) == \
        (200, 256, 0.1, 0.9, 5e-4, "linear")
    assert suite.checkpoints == tuple(range(10, 201, 10)) and suite.estimate.repeats == 3
    assert suite.record.window == 10 and suite.data.resize is None
    assert suite.estimator_settings.get("fh-ensemble", {}) == {}  # A.1 defaults
    assert suite.estimator_settings.get("lcnet", {}) == {}  # pybnn's defaults


def test_loading_a_suite_imports_no_torch():
    code = ("import sys\nfrom fhbench.inputs.suite import load_suite\n"
            f"for p in {[str(p) for p in SHIPPED]!r}: load_suite(p)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_hash_ignores_formatting_but_not_settings(tmp_path):
    a = load_suite(write_suite(tmp_path, "a"))
    text = (tmp_path / "a.toml").read_text()
    (tmp_path / "b.toml").write_text("# a comment\n" + text)
    assert load_suite(tmp_path / "b.toml").hash == a.hash
    (tmp_path / "c.toml").write_text(text.replace("epochs = 4", "epochs = 6"))
    assert load_suite(tmp_path / "c.toml").hash != a.hash


BASE = {"name": "x", "version": "1", "train": {"epochs": 20}, "estimate": {"every": 5}}


def _with(base: dict, **sections) -> dict:
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, values in sections.items():
        if isinstance(values, dict):
            raw[section] = {**raw.get(section, {}), **values}
        else:
            raw[section] = values
    return raw


@pytest.mark.parametrize("change", [
    {"description": "another"},
    {"version": "2"},
    {"estimate": {"estimators": ["original"]}},
    {"estimate": {"truth": "final_val_acc"}},
    {"estimate": {"checkpoints": [5, 10, 15, 20]}},  # the same checkpoints as every = 5
    {"estimators": {"lcnet": {"num_steps": 10}}},
])
def test_record_hash_ignores_what_traces_do_not_depend_on(change):
    assert parse_suite(_with(BASE, **change)).record_hash == parse_suite(BASE).record_hash


@pytest.mark.parametrize("change", [
    {"train": {"epochs": 30}},
    {"train": {"seed": 1}},
    {"space": {"num_samples": 7}},
    {"data": {"resize": 16}},
    {"record": {"window": 3}},
    {"estimate": {"every": 10}},
    {"estimate": {"repeats": 2}},
])
def test_record_hash_covers_what_traces_depend_on(change):
    assert parse_suite(_with(BASE, **change)).record_hash != parse_suite(BASE).record_hash


def test_record_hash_ignores_search_settings():
    search = _with(SEARCH, search={"seeds": 2, "workers": 2, "truth": "nb201-table"})
    assert parse_suite(search).record_hash == parse_suite(SEARCH).record_hash


def test_record_format_is_the_trace_schema():
    from fhbench.record.format import TRACE_SCHEMA

    assert RECORD_FORMAT == TRACE_SCHEMA  # bump both together: old traces are then not reused


def test_kept_epochs_are_the_windows_before_checkpoints():
    suite = parse_suite({"name": "x", "version": "1", "train": {"epochs": 30},
                         "estimate": {"every": 10}, "record": {"window": 3}})
    assert suite.kept_epochs() == {8, 9, 10, 18, 19, 20, 28, 29, 30}


@pytest.mark.parametrize("key", ["name", "version"])
@pytest.mark.parametrize("value", [".", "..", ".hidden", "-rf", "a/b", "a\\b", "../up", "x" * 101, "", " ",
                                   "caf\u00e9", 3])
def test_names_that_are_not_safe_directory_names_are_rejected(key, value):
    with pytest.raises(SuiteError, match=f"key '{key}'"):
        parse_suite({**{"name": "x", "version": "1"}, key: value}, source="s.toml")


def test_names_up_to_the_limit_pass():
    suite = parse_suite({"name": "a" * 100, "version": "1.0-rc_2"})
    assert (len(suite.name), suite.version) == (100, "1.0-rc_2")


@pytest.mark.parametrize("raw, key", [
    ({"version": "1"}, "name"),
    ({"name": "x"}, "version"),
    ({"name": "x", "version": "1", "colour": 1}, "colour"),
    ({"name": "x", "version": "1", "train": {"epochs": "ten"}}, "train.epochs"),
    ({"name": "x", "version": "1", "train": {"epochs": 0}}, "train.epochs"),
    ({"name": "x", "version": "1", "train": {"epochs": 10**9}}, "train.epochs"),
    ({"name": "x", "version": "1", "train": {"lr": -1}}, "train.lr"),
    ({"name": "x", "version": "1", "train": {"optimiser": "adam"}}, "train.optimiser"),
    ({"name": "x", "version": "1", "train": {"lr_schedule": "cosine"}}, "train.lr_schedule"),
    ({"name": "x", "version": "1", "data": {"augment": "mixup"}}, "data.augment"),
    ({"name": "x", "version": "1", "data": {"dataset": "imagenet"}}, "data.dataset"),
    ({"name": "x", "version": "1", "space": {"name": "nasbench101"}}, "space.name"),
    ({"name": "x", "version": "1", "space": {"num_samples": 15626}}, "space.num_samples"),
    ({"name": "x", "version": "1", "train": {"epochs": 5}, "estimate": {"every": 10}}, "estimate.every"),
    ({"name": "x", "version": "1", "estimate": {"checkpoints": [20, 10]}}, "estimate.checkpoints"),
    ({"name": "x", "version": "1", "estimate": {"checkpoints": [10, 900]}}, "estimate.checkpoints"),
    ({"name": "x", "version": "1", "estimate": {"checkpoints": [-10, 10]}}, "estimate.checkpoints"),
    ({"name": "x", "version": "1", "estimate": {"estimators": []}}, "estimate.estimators"),
    ({"name": "x", "version": "1", "estimate": {"estimators": ["original", "original"]}}, "estimate.estimators"),
    ({"name": "x", "version": "1", "estimators": {"lcnet": 3}}, "estimators"),
    ({"name": "x", "version": "1", "space": {"num_samples": 2, "cells": ["a"]}}, "space.cells"),
    ({"name": "x", "version": "1", "train": {"record_test": False}}, "estimate.truth"),
    ({"name": "x", "version": "1", "schema": 99}, "schema"),
    ({"name": "x", "version": "1", "schema": 1.0}, "schema"),
])
def test_bad_suites_name_the_key(raw, key):
    with pytest.raises(SuiteError, match=f"key '{key}'"):
        parse_suite(raw, source="s.toml")


@pytest.mark.parametrize("section, key", [("space", "sample_seed"), ("data", "split_seed"), ("train", "seed")])
def test_negative_seeds_are_errors(section, key):
    with pytest.raises(SuiteError, match=f"key '{section}.{key}'.*>= 0"):
        parse_suite({"name": "x", "version": "1", section: {key: -1}})


@pytest.mark.parametrize("section, key", [("data", "test_size"), ("data", "resize"), ("record", "train_subset"),
                                          ("data", "train_size"), ("data", "val_size"), ("space", "num_samples"),
                                          ("train", "batch_size"), ("record", "window")])
def test_negative_sizes_are_errors(section, key):
    with pytest.raises(SuiteError, match=f"key '{section}.{key}'"):
        parse_suite({"name": "x", "version": "1", section: {key: -5}})


@pytest.mark.parametrize("none", [0.0, False, "0", "none"])
@pytest.mark.parametrize("section, key", [("data", "test_size"), ("data", "resize"), ("record", "train_subset")])
def test_only_the_integer_0_means_none(section, key, none):
    with pytest.raises(SuiteError, match=f"key '{section}.{key}'"):
        parse_suite({"name": "x", "version": "1", section: {key: none}})
    suite = parse_suite({"name": "x", "version": "1", section: {key: 0}})
    assert getattr(getattr(suite, section), key) is None
    suite = parse_suite({"name": "x", "version": "1", section: {key: 12}})
    assert getattr(getattr(suite, section), key) == 12


@pytest.mark.parametrize("text, key", [
    ("[train]\nlr = nan", "train.lr"),
    ("[train]\nmomentum = inf", "train.momentum"),
    ("[train]\nweight_decay = -inf", "train.weight_decay"),
    ("[estimators.fh-ensemble]\nlr = nan", "estimators.fh-ensemble.lr"),
])
def test_nan_and_inf_are_rejected_wherever_a_number_goes(tmp_path, text, key):
    path = tmp_path / "s.toml"
    path.write_text(f'name = "x"\nversion = "1"\n{text}\n')
    with pytest.raises(SuiteError, match=f"key '{key}': expected a finite number"):
        load_suite(path)


@pytest.mark.parametrize("section", ["estimate", "search"])
def test_truths_use_the_truth_vocabulary(section):
    raw = SEARCH if section == "search" else BASE
    for good in ("final_test_acc", "final_val_acc", "nb201-api", "nb201-table", "csv:truth.csv"):
        assert getattr(parse_suite(_with(raw, **{section: {"truth": good}})), section).truth == good
    for bad in ("recorded", "table", "nb201-api:/some/file.pth", "csv:", "test_acc", ""):
        with pytest.raises(SuiteError, match=f"key '{section}.truth'"):
            parse_suite(_with(raw, **{section: {"truth": bad}}))


def test_search_truth_table_is_gone():
    with pytest.raises(SuiteError, match="key 'search.truth_table'"):
        parse_suite(_with(SEARCH, search={"truth_table": "x.csv"}))


# a search suite: one HyperBand iteration at budgets 1..16 (eta 2) draws 16+10+7+5+5 = 43 configurations
SEARCH = {"name": "s", "version": "1", "space": {"num_samples": 64}, "train": {"epochs": 16},
          "estimate": {"checkpoints": [1, 2, 4, 8, 16], "repeats": 1},
          "search": {"random_configs": 16, "workers": 4}}


def test_a_sound_search_suite_loads_without_warnings():
    suite = parse_suite(SEARCH)
    assert suite.search is not None and suite.warnings == ()


@pytest.mark.parametrize("change, key, fragment", [
    ({"estimate": {"checkpoints": [1, 2, 8, 16]}}, "estimate.checkpoints", "missing [4]"),
    ({"estimate": {"checkpoints": [1, 2, 4, 8]}}, "estimate.checkpoints", "every search budget"),
    ({"search": {"workers": 65}}, "search.workers", "pool size"),
    ({"search": {"random_configs": 65}}, "search.random_configs", "pool size"),
    ({"space": {"num_samples": 15}, "search": {"random_configs": 8}}, "space.num_samples", "largest bracket"),
    ({"search": {"time_budget_s": -1.0}}, "search.time_budget_s", ">= 0"),
    ({"search": {"eta": 1}}, "search.eta", ">= 2"),
    ({"search": {"min_budget": 32}}, "search.min_budget", "train.epochs"),
    ({"search": {"algorithms": ["random", "random"]}}, "search.algorithms", "more than once"),
    ({"search": {"algorithms": ["tpe"]}}, "search.algorithms", "tpe"),
    ({"search": {"estimators": []}}, "search.estimators", "at least one"),
    ({"search": {"seeds": 0}}, "search.seeds", "positive"),
    ({"estimate": {"repeats": 2}}, "estimate.repeats", "1 in a search suite"),
])
def test_search_cross_field_rules_at_load(change, key, fragment):
    with pytest.raises(SuiteError, match=f"key '{key}'") as info:
        parse_suite(_with(SEARCH, **change))
    assert fragment in str(info.value)


def test_infinite_search_time_is_rejected(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nversion = "1"\n[space]\nnum_samples = 64\n[train]\nepochs = 16\n'
                    '[estimate]\ncheckpoints = [1, 2, 4, 8, 16]\nrepeats = 1\n[search]\nrandom_configs = 16\n'
                    'time_budget_s = inf\n')
    with pytest.raises(SuiteError, match="key 'search.time_budget_s': expected a finite number"):
        load_suite(path)


def test_a_pool_smaller_than_one_hyperband_iteration_warns():
    suite = parse_suite(_with(SEARCH, space={"num_samples": 32}))
    assert len(suite.warnings) == 1 and "43 configurations" in suite.warnings[0]
    random_only = parse_suite(_with(SEARCH, space={"num_samples": 32}, search={"algorithms": ["random"]}))
    assert random_only.warnings == ()


def test_warnings_do_not_change_the_hashes():
    small = parse_suite(_with(SEARCH, space={"num_samples": 32}))
    import dataclasses

    assert small.hash == dataclasses.replace(small, warnings=()).hash


def test_malformed_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nversion = \n')
    with pytest.raises(SuiteError, match="broken.toml: not valid TOML"):
        load_suite(path)
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "missing.toml")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SuiteError, match="binary.toml: cannot read"):
        load_suite(tmp_path / "binary.toml")


# Space cnn (thesis 4.1, A.2) and the settings it added to every suite.

@pytest.mark.parametrize("stem, record_hash", [("quickstart", "002040729facd8ae"), ("nb201-cpu", "156c47945934c75a"),
                                               ("nb201-search-cpu", "781d5ea41a7a3310")])
def test_committed_suites_keep_their_record_hashes(stem, record_hash):
    """space.width, train.lr_per_model and record.proxies are hashed only when set: their traces stay
    where they are. (nb201-cpu's version 2 changed its checkpoints and set record.proxies, version 3 its cells: new stores.)"""
    assert load_suite(REPO / "suites" / f"{stem}.toml").record_hash == record_hash


def test_late_settings_are_hashed_and_published_only_when_set():
    base = parse_suite(BASE)
    settings = base.to_dict()
    assert "width" not in settings["space"] and "lr_per_model" not in settings["train"]
    explicit = parse_suite(_with(CNN, space={"width": 1}))  # written out at its default: the same suite
    assert explicit.record_hash == parse_suite(CNN).record_hash and explicit.hash == parse_suite(CNN).hash
    for change in ({"space": {"width": 0.5}}, {"train": {"lr_per_model": {"vgg16": 0.01}}}):
        changed = parse_suite(_with(CNN, **change))
        assert changed.record_hash != parse_suite(CNN).record_hash
        assert changed.hash != parse_suite(CNN).hash
    published = parse_suite(_with(CNN, train={"lr_per_model": {"vgg16": 0.01, "resnet18": 0.1}})).to_dict()
    assert published["train"]["lr_per_model"] == {"resnet18": 0.1, "vgg16": 0.01}


def test_lr_per_model_order_in_the_file_does_not_change_the_hash():
    a = parse_suite(_with(CNN, train={"lr_per_model": {"vgg16": 0.01, "resnet18": 0.2}}))
    b = parse_suite(_with(CNN, train={"lr_per_model": {"resnet18": 0.2, "vgg16": 0.01}}))
    assert a.record_hash == b.record_hash and a.train.lr_per_model == (("resnet18", 0.2), ("vgg16", 0.01))


CNN = {"name": "c", "version": "1", "space": {"name": "cnn", "cells": ["vgg16", "resnet18", "resnet50@w0.5"]},
       "train": {"epochs": 20}, "estimate": {"every": 5}}

A2_SUITE = """
name = "cnn-cifar100"
version = "1"
[space]
name = "cnn"
cells = ["vgg16", "resnet18", "resnet50", "mobilenetv2"]
[data]
dataset = "cifar100"
[train]
lr = 0.1
lr_per_model = {vgg16 = 0.01}
[estimate]
estimators = ["original", "fh-ensemble"]
"""


def test_the_thesis_cnn_setting_loads(tmp_path):
    """A.2: the four CNNs on CIFAR-100 for 200 epochs with batch 256, lr 0.1 (VGG 0.01), linear decay."""
    path = tmp_path / "cnn.toml"
    path.write_text(A2_SUITE)
    suite = load_suite(path)
    assert suite.space.num_samples == 4 and suite.space.width == 1.0
    assert (suite.train.epochs, suite.train.batch_size, suite.train.lr_schedule) == (200, 256, "linear")
    rates = {model: suite.train.lr_for(f"{model}@w1") for model in ("vgg16", "resnet18", "resnet50", "mobilenetv2")}
    assert rates == {"vgg16": 0.01, "resnet18": 0.1, "resnet50": 0.1, "mobilenetv2": 0.1}
    assert suite.train.lr_for("vgg16@w0.25") == 0.01


def test_lr_for_is_train_lr_without_per_model_rates():
    suite = parse_suite(_with(BASE, train={"lr": 0.05}))
    assert suite.train.lr_for("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|") == 0.05


def test_cnn_num_samples_defaults_to_the_listed_configs():
    assert parse_suite(CNN).space.num_samples == 3
    every_model = parse_suite(_with(CNN, space={"cells": []}))
    assert every_model.space.num_samples == 4 and every_model.space.cells == ()
    assert parse_suite(_with(CNN, space={"cells": [], "num_samples": 2})).space.num_samples == 2


def test_a_cnn_suite_loads_without_torch(tmp_path):
    path = tmp_path / "cnn.toml"
    path.write_text(A2_SUITE)
    code = ("import sys\nfrom fhbench.inputs.suite import load_suite\n"
            f"suite = load_suite({str(path)!r})\nassert suite.train.lr_for('vgg16@w1') == 0.01\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("change, key, fragment", [
    ({"space": {"cells": ["resnet19"]}}, "space.cells", "unknown model 'resnet19'"),
    ({"space": {"cells": ["resnet18@w0"]}}, "space.cells", "between 1/64 and 8"),
    ({"space": {"cells": ["resnet18@x2"]}}, "space.cells", "'resnet18@w<width>'"),
    ({"space": {"cells": ["resnet18", "resnet18@w1"]}}, "space.cells", "resnet18@w1 twice"),
    ({"space": {"cells": ["resnet18"], "num_samples": 2}}, "space.cells", "exactly space.num_samples"),
    ({"space": {"cells": [], "num_samples": 5}}, "space.num_samples", "at most 4"),
    ({"space": {"width": 0}}, "space.width", "between 1/64 and 8"),
    ({"space": {"width": 10}}, "space.width", "between 1/64 and 8"),
    ({"space": {"width": "half"}}, "space.width", "a number"),
    ({"space": {"channels": 8}}, "space.channels", "unset for space cnn"),
    ({"space": {"cells_per_stage": 2}}, "space.cells_per_stage", "unset for space cnn"),
    ({"train": {"lr_per_model": {"vgg19": 0.01}}}, "train.lr_per_model", "got 'vgg19'"),
    ({"train": {"lr_per_model": {"vgg16": -0.01}}}, "train.lr_per_model.vgg16", ">= 0"),
    ({"train": {"lr_per_model": {"vgg16": "0.01"}}}, "train.lr_per_model", "numbers"),
    ({"train": {"lr_per_model": 0.01}}, "train.lr_per_model", "a table"),
    ({"estimate": {"truth": "nb201-table"}}, "estimate.truth", "final_test_acc or final_val_acc"),
    ({"search": {"random_configs": 2}}, "search", "NAS-Bench-201 cells only"),
])
def test_bad_cnn_suites_name_the_key(change, key, fragment):
    with pytest.raises(SuiteError, match=f"s.toml: key '{key}'") as info:
        parse_suite(_with(CNN, **change), source="s.toml")
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_lr_per_model_nan_is_rejected(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\nversion = "1"\n[space]\nname = "cnn"\n[train]\nlr_per_model = {vgg16 = nan}\n')
    with pytest.raises(SuiteError, match="key 'train.lr_per_model.vgg16': expected a finite number"):
        load_suite(path)


@pytest.mark.parametrize("change, key", [({"space": {"width": 0.5}}, "space.width"),
                                         ({"train": {"lr_per_model": {"vgg16": 0.01}}}, "train.lr_per_model")])
def test_cnn_settings_are_errors_in_nb201_suites(change, key):
    with pytest.raises(SuiteError, match=f"key '{key}'.*space cnn"):
        parse_suite(_with(BASE, **change))


def test_cnn_trials_are_planned_from_the_listed_configs():
    from fhbench.record.train import plan_trials
    from fhbench.spaces import make_space

    suite = parse_suite(_with(CNN, space={"width": 0.25}, estimate={"repeats": 2}))
    configs = [trial.config for trial in plan_trials(suite, make_space(suite.space))]
    assert configs == ["vgg16@w0.25", "resnet18@w0.25", "resnet50@w0.5"] * 2
    sampled = parse_suite(_with(CNN, space={"cells": [], "num_samples": 3}))
    drawn = [trial.config for trial in plan_trials(sampled, make_space(sampled.space))]
    assert len(set(drawn[:3])) == 3 and set(drawn) <= {"vgg16@w1", "resnet18@w1", "resnet50@w1", "mobilenetv2@w1"}


# Issue 10: space.macs_limits, search.replay_estimators, [evaluate], [search] for declared spaces.

DARTS = {"name": "d", "version": "1", "space": {"name": "darts", "channels": 4, "num_cells": 3},
         "data": {"dataset": "digits", "train_size": 200, "val_size": 100, "test_size": 100},
         "train": {"epochs": 4}, "estimate": {"every": 1, "repeats": 1, "estimators": ["original"]}}
SCALING = {"name": "r", "version": "1", "space": {"name": "resnet_scaling"},
           "data": {"dataset": "digits", "train_size": 200, "val_size": 100, "test_size": 100},
           "train": {"epochs": 4}, "estimate": {"every": 1, "repeats": 1, "estimators": ["original"]}}


@pytest.mark.parametrize("stem, suite_hash", [("nb201-search-cpu", "6a6517d759bbf155"),
                                              ("quickstart", "9950721a32fe940d")])
def test_committed_suites_keep_their_hashes(stem, suite_hash):
    """The hashes their committed leaderboards were published under: the new keys are late defaults."""
    suite = load_suite(REPO / "suites" / f"{stem}.toml")
    assert suite.hash == suite_hash
    assert "replay_estimators" not in suite.to_dict().get("search", {}) and "evaluate" not in suite.to_dict()
    assert "macs_limits" not in suite.to_dict()["space"]


def test_new_keys_are_hashed_only_when_set():
    base = parse_suite(SEARCH)
    replay = parse_suite(_with(SEARCH, search={"replay_estimators": []}))
    assert replay.hash == base.hash
    darts = parse_suite(DARTS)
    evaluated = parse_suite(_with(DARTS, evaluate={}))
    assert evaluated.hash != darts.hash and evaluated.record_hash == darts.record_hash
    scaling = parse_suite(_with(SCALING, space={"macs_limits": [2, 4.0]}))
    assert scaling.space.macs_limits == (2.0, 4.0) and tuple(scaling.to_dict()["space"]["macs_limits"]) == (2.0, 4.0)
    assert scaling.record_hash != parse_suite(SCALING).record_hash


def test_evaluate_defaults_are_the_thesis_evaluation_setting():
    """A.4: 36 channels, 22 cells, 600 epochs, batch 96, lr 0.025, momentum 0.9, wd 3e-4, path dropout
    0.2 (DARTS's), auxiliary towers; one run."""
    ev = parse_suite(_with(DARTS, evaluate={})).evaluate
    assert (ev.channels, ev.cells, ev.epochs, ev.batch_size) == (36, 22, 600, 96)
    assert (ev.lr, ev.momentum, ev.weight_decay, ev.drop_path, ev.auxiliary, ev.seeds) == \
        (0.025, 0.9, 3e-4, 0.2, True, 1)
    assert parse_suite(DARTS).evaluate is None
    custom = parse_suite(_with(DARTS, evaluate={"channels": 4, "cells": 3, "epochs": 2, "seeds": 3})).evaluate
    assert (custom.channels, custom.cells, custom.epochs, custom.seeds) == (4, 3, 2, 3)


def test_declared_spaces_take_search_tables_without_pool_checks():
    from fhbench.record.train import plan_trials
    from fhbench.spaces import make_space

    search = {"workers": 4, "random_configs": 500, "replay_estimators": ["optimized"]}
    for raw in (DARTS, SCALING):
        suite = parse_suite(_with(raw, space={"num_samples": 2}, search=search))  # more than 2 configs: no pool
        assert suite.search.replay_estimators == ("optimized",) and suite.warnings == ()
        assert plan_trials(suite, make_space(suite.space, suite.path, 8, 10)) == []


@pytest.mark.parametrize("raw, change, key, fragment", [
    (SCALING, {"space": {"macs_limits": [0.0]}}, "space.macs_limits", "> 0"),
    (SCALING, {"space": {"macs_limits": [-2.0]}}, "space.macs_limits", "> 0"),
    (SCALING, {"space": {"macs_limits": [2.0, 2]}}, "space.macs_limits", "more than once"),
    (SCALING, {"space": {"macs_limits": ["2x"]}}, "space.macs_limits", "a list of numbers"),
    (SCALING, {"space": {"macs_limits": [True]}}, "space.macs_limits", "a list of numbers"),
    (SCALING, {"space": {"macs_limits": 2.0}}, "space.macs_limits", "a list"),
    (SCALING, {"space": {"macs_limits": [2.0, 0.1]}}, "space.macs_limits", "no ResNet scaling config fits"),
    (SCALING, {"space": {"macs_limits": [2.0], "macs_limit": 2.0}}, "space.macs_limits", "together with"),
    (SCALING, {"space": {"macs_limits": [1.0, 2.0], "cells": ["d2-1-1-1_w1-1-1-1"], "num_samples": 1}},
     "space.cells", "over the limit"),
    (SCALING, {"space": {"macs_limt": [2.0]}}, "space.macs_limt", "one of"),
    (DARTS, {"space": {"macs_limits": [2.0]}}, "space.macs_limits", "space darts"),
    (BASE, {"space": {"macs_limits": [2.0]}}, "space.macs_limits", "space nb201"),
    (DARTS, {"search": {"replay_estimators": ["optimized", "optimized"]}}, "search.replay_estimators",
     "more than once"),
    (DARTS, {"search": {"replay_estimators": ["original"], "estimators": ["original"]}},
     "search.replay_estimators", "'original'"),
    (DARTS, {"search": {"replay_estimators": "optimized"}}, "search.replay_estimators", "a list"),
    (DARTS, {"search": {"replay_estimator": ["lcnet"]}}, "search.replay_estimator", "one of"),
    (SEARCH, {"search": {"replay_estimators": ["optimized"]}}, "search.replay_estimators", "space nb201"),
    (DARTS, {"search": {"algorithms": ["hyperband"], "replay_algorithms": ["bohb", "bohb"]}},
     "search.replay_algorithms", "more than once"),
    (DARTS, {"search": {"algorithms": ["hyperband"], "replay_algorithms": ["hyperband"]}},
     "search.replay_algorithms", "'hyperband'"),
    (DARTS, {"search": {"replay_algorithms": ["grid"]}}, "search.replay_algorithms", "names from"),
    (SEARCH, {"search": {"algorithms": ["random"], "replay_algorithms": ["bohb"]}}, "search.replay_algorithms",
     "space nb201"),
    (DARTS, {"search": {"iterations": -1}}, "search.iterations", ">= 1"),
    (SCALING, {"space": {"cells": ["d1-1-1-1_w1-1-1-1"], "num_samples": 1}, "search": {}}, "space.cells",
     "draw their configurations"),
    (DARTS, {"search": {"iterations": 1.5}}, "search.iterations", "an integer"),
    (SEARCH, {"search": {"iterations": 2}}, "search.iterations", "space nb201"),
    (DARTS, {"search": {"truth": "nb201-table"}}, "search.truth", "final_test_acc or final_val_acc"),
    (DARTS, {"search": {"workers": 0}}, "search.workers", "positive"),
    (DARTS, {"estimate": {"every": 2}, "search": {}}, "estimate.checkpoints", "every search budget"),
    (DARTS, {"evaluate": 3}, "evaluate", "a table"),
    (DARTS, {"evaluate": {"channel": 4}}, "evaluate.channel", "one of"),
    (DARTS, {"evaluate": {"channels": 0}}, "evaluate.channels", ">= 1"),
    (DARTS, {"evaluate": {"channels": 4.5}}, "evaluate.channels", "an integer"),
    (DARTS, {"evaluate": {"cells": 2}}, "evaluate.cells", ">= 3"),
    (DARTS, {"evaluate": {"epochs": 0}}, "evaluate.epochs", ">= 1"),
    (DARTS, {"evaluate": {"epochs": 10**9}}, "evaluate.epochs", "at most"),
    (DARTS, {"evaluate": {"batch_size": 0}}, "evaluate.batch_size", ">= 1"),
    (DARTS, {"evaluate": {"seeds": 0}}, "evaluate.seeds", ">= 1"),
    (DARTS, {"evaluate": {"lr": -0.1}}, "evaluate.lr", ">= 0"),
    (DARTS, {"evaluate": {"momentum": "high"}}, "evaluate.momentum", "a number"),
    (DARTS, {"evaluate": {"weight_decay": -1e-4}}, "evaluate.weight_decay", ">= 0"),
    (DARTS, {"evaluate": {"drop_path": 1.0}}, "evaluate.drop_path", "[0, 1)"),
    (DARTS, {"evaluate": {"auxiliary": 1}}, "evaluate.auxiliary", "true or false"),
    (SCALING, {"evaluate": {}}, "evaluate", "space resnet_scaling"),
    (BASE, {"evaluate": {}}, "evaluate", "space nb201"),
])
def test_bad_new_keys_are_one_line_errors(raw, change, key, fragment):
    with pytest.raises(SuiteError, match=f"key '{key}'") as info:
        parse_suite(_with(raw, **change))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_evaluate_nan_is_rejected(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('name = "d"\nversion = "1"\n[space]\nname = "darts"\nnum_cells = 3\n[evaluate]\nlr = nan\n')
    with pytest.raises(SuiteError, match="key 'evaluate.lr': expected a finite number"):
        load_suite(path)
