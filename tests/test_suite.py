"""Suite files: the shipped suites load with the thesis's settings, and bad files fail with one line."""

from __future__ import annotations

import pytest

from conftest import REPO, run_cli, write_suite
from fhbench.errors import SuiteError
from fhbench.suite import load_suite, parse_suite


def test_shipped_suites_load():
    for name in ("quickstart", "nb201-cpu", "nb201"):
        suite = load_suite(REPO / "suites" / f"{name}.toml")
        assert suite.name == name and suite.version


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


def test_hash_ignores_formatting_but_not_settings(tmp_path):
    a = load_suite(write_suite(tmp_path, "a"))
    text = (tmp_path / "a.toml").read_text()
    (tmp_path / "b.toml").write_text("# a comment\n" + text)
    assert load_suite(tmp_path / "b.toml").hash == a.hash
    (tmp_path / "c.toml").write_text(text.replace("epochs = 4", "epochs = 6"))
    assert load_suite(tmp_path / "c.toml").hash != a.hash
    (tmp_path / "d.toml").write_text(text.replace("num_steps = 300", "num_steps = 400"))
    assert load_suite(tmp_path / "d.toml").record_hash == a.record_hash  # estimator change reuses traces


def test_kept_epochs_are_the_windows_before_checkpoints():
    suite = parse_suite({"name": "x", "version": "1", "train": {"epochs": 30},
                         "estimate": {"every": 10}, "record": {"window": 3}})
    assert suite.kept_epochs() == {8, 9, 10, 18, 19, 20, 28, 29, 30}


@pytest.mark.parametrize("raw, key", [
    ({"version": "1"}, "name"),
    ({"name": "x"}, "version"),
    ({"name": "x/y", "version": "1"}, "name"),
    ({"name": "x", "version": "1", "colour": 1}, "colour"),
    ({"name": "x", "version": "1", "train": {"epochs": "ten"}}, "train.epochs"),
    ({"name": "x", "version": "1", "train": {"epochs": 0}}, "train.epochs"),
    ({"name": "x", "version": "1", "train": {"lr": -1}}, "train.lr"),
    ({"name": "x", "version": "1", "train": {"optimiser": "adam"}}, "train.optimiser"),
    ({"name": "x", "version": "1", "train": {"lr_schedule": "cosine"}}, "train.lr_schedule"),
    ({"name": "x", "version": "1", "data": {"augment": "mixup"}}, "data.augment"),
    ({"name": "x", "version": "1", "train": {"epochs": 5}, "estimate": {"every": 10}}, "estimate.every"),
    ({"name": "x", "version": "1", "estimate": {"checkpoints": [20, 10]}}, "estimate.checkpoints"),
    ({"name": "x", "version": "1", "estimate": {"checkpoints": [10, 900]}}, "estimate.checkpoints"),
    ({"name": "x", "version": "1", "estimate": {"estimators": []}}, "estimate.estimators"),
    ({"name": "x", "version": "1", "estimators": {"lcnet": 3}}, "estimators"),
    ({"name": "x", "version": "1", "space": {"num_samples": 2, "cells": ["a"]}}, "space.cells"),
    ({"name": "x", "version": "1", "train": {"record_test": False}}, "estimate.truth"),
    ({"name": "x", "version": "1", "schema": 99}, "schema"),
])
def test_bad_suites_name_the_key(raw, key):
    with pytest.raises(SuiteError, match=f"key '{key}'"):
        parse_suite(raw, source="s.toml")


def test_malformed_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nversion = \n')
    with pytest.raises(SuiteError, match="broken.toml: not valid TOML"):
        load_suite(path)
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "missing.toml")


def _one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fhbench: error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_reports_user_errors_on_one_line_with_exit_code_2(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [\n")
    _one_line_error(run_cli("run", str(broken), cwd=tmp_path), "broken.toml", "not valid TOML")
    _one_line_error(run_cli("score", str(tmp_path / "nope.toml"), cwd=tmp_path), "nope.toml")

    suite = write_suite(tmp_path, "unknown", estimators=("original", "clairvoyant"))
    _one_line_error(run_cli("run", str(suite), "--traces", str(tmp_path / "t"), cwd=tmp_path),
                    "unknown estimator 'clairvoyant'", "fh-ensemble")

    bad_cell = write_suite(tmp_path, "badcell", num_samples=1)
    text = bad_cell.read_text().replace("sample_seed = 0", 'cells = ["|nor_conv_3x3~0|+|conv_9x9~0|none~1|+|x|"]')
    bad_cell.write_text(text)
    _one_line_error(run_cli("run", str(bad_cell), "--traces", str(tmp_path / "t"), cwd=tmp_path), "conv_9x9")

    bad_setting = write_suite(tmp_path, "badsetting")
    bad_setting.write_text(bad_setting.read_text() + "\n[estimators.fh-ensemble]\nwindow = 0\n")
    _one_line_error(run_cli("score", str(bad_setting), "--traces", str(tmp_path / "t"), cwd=tmp_path),
                    "estimators.fh-ensemble", "window")
    misspelt = write_suite(tmp_path, "misspelt")
    misspelt.write_text(misspelt.read_text() + "\n[estimators.fh-ensemle]\nwindow = 3\n")
    _one_line_error(run_cli("score", str(misspelt), "--traces", str(tmp_path / "t"), cwd=tmp_path),
                    "[estimators.fh-ensemle]", "fh-ensemble")
    typo = write_suite(tmp_path, "typo")
    typo.write_text(typo.read_text() + "\n[estimators.original]\nmetrik = 'val_acc'\n")
    _one_line_error(run_cli("score", str(typo), "--traces", str(tmp_path / "t"), cwd=tmp_path),
                    "estimators.original", "metrik")

    cifar = write_suite(tmp_path, "cifar", dataset="cifar10")
    _one_line_error(run_cli("record", str(cifar), "--traces", str(tmp_path / "t"), cwd=tmp_path,
                            env={"FHBENCH_DATA": ""}), "cifar10", "FHBENCH_DATA")
    _one_line_error(run_cli("record", str(suite), "--device", "tpu:9", cwd=tmp_path), "--device")
    _one_line_error(run_cli("score", str(write_suite(tmp_path, "unrecorded", estimators=("original",))),
                            "--traces", str(tmp_path / "empty"), cwd=tmp_path), "not recorded", "fhbench record")
