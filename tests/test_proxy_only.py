"""Proxy-only trials (train.epochs = 0): each network is built, its zero-cost proxies computed at
initialisation, and nothing else recorded. The suite schema refuses what needs training; the traces are
checksummed and sealed like any other; recording resumes, on Ray too; verify, score, publish and
reproduce work; estimators that need curves or features fail with the reason; suites/nb201-zc.toml
loads."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, cli, run_cli

from fhbench.core.errors import SuiteError, TraceError
from fhbench.inputs.suite import load_suite, parse_suite
from fhbench.record.proxies import PROXIES
from fhbench.record.trace import TrialTrace

SUITE = """
name = "zc"
version = "1"

[space]
channels = 4
cells_per_stage = 1
num_samples = 4
sample_seed = 0

[data]
dataset = "digits"
train_size = 200
val_size = 50
test_size = 50
augment = "none"

[train]
epochs = {epochs}
batch_size = 32
seed = 0

[record]
proxies = true

[estimate]
repeats = 1
truth = "{truth}"
estimators = {estimators}
"""
PROXY_ESTIMATORS = json.dumps(list(PROXIES))


def zc_suite(directory: Path, *, epochs: int = 0, truth: str = "csv:truth.csv", estimators: str = PROXY_ESTIMATORS,
             extra: str = "") -> Path:
    path = directory / "zc.toml"
    path.write_text(SUITE.format(epochs=epochs, truth=truth, estimators=estimators) + extra)
    return path


def write_truth(directory: Path, suite_path: Path) -> None:
    """A truth table for the suite's planned cells (accuracies made up: these tests score the plumbing)."""
    from fhbench.record.train import plan_trials
    from fhbench.spaces import suite_space

    suite = load_suite(suite_path)
    lines = ["cell,accuracy"] + [f"{t.config},{0.5 + 0.1 * t.index}" for t in plan_trials(suite, suite_space(suite))]
    (directory / "truth.csv").write_text("\n".join(lines) + "\n")


def store_of(traces: Path) -> Path:
    (store,) = [p for p in (traces / "zc").iterdir() if p.is_dir()]
    return store


# -- the suite schema --------------------------------------------------------------------------------------

def test_a_proxy_only_suite_is_estimated_once_at_initialisation_and_keeps_no_features(tmp_path):
    suite = load_suite(zc_suite(tmp_path))
    assert suite.checkpoints == (0,) and suite.kept_epochs() == frozenset()
    (tmp_path / "explicit").mkdir()
    explicit = load_suite(zc_suite(tmp_path / "explicit", extra="checkpoints = [0]\n"))
    assert explicit.checkpoints == (0,) and explicit.record_hash == suite.record_hash


@pytest.mark.parametrize("change, key, fragment", [
    ({"record": {"proxies": False}}, "train.epochs", "0 for proxy-only trials (with record.proxies = true)"),
    ({"train": {"epochs": -1}}, "train.epochs", "got -1"),
    ({"estimate": {"truth": "final_test_acc"}}, "estimate.truth", "never trained"),
    ({"estimate": {"truth": "final_val_acc"}}, "estimate.truth", "a table truth"),
    ({"estimate": {"checkpoints": [1]}}, "estimate.checkpoints", "[0] (at initialisation)"),
    ({"train": {"lr": 0.05}}, "train.lr", "nothing is trained"),
    ({"train": {"lr_schedule": "constant"}}, "train.lr_schedule", "nothing is trained"),
    ({"record": {"predictions": True}}, "record.predictions", "no epochs"),
    ({"search": {"algorithms": ["random"]}}, "search", "a search trains"),
])
def test_what_needs_training_is_refused_in_a_proxy_only_suite(change, key, fragment):
    raw = {"name": "zc", "version": "1", "space": {"channels": 4, "cells_per_stage": 1, "num_samples": 4},
           "train": {"epochs": 0}, "record": {"proxies": True}, "estimate": {"truth": "nb201-table"}}
    for section, values in change.items():
        raw[section] = {**raw.get(section, {}), **values}
    with pytest.raises(SuiteError, match=f"key '{key}': expected .*{re.escape(fragment)}"):
        parse_suite(raw, source="zc.toml")


def test_a_bad_proxy_only_suite_is_one_line_on_the_command_line(tmp_path, capsys):
    path = zc_suite(tmp_path, truth="final_test_acc")
    assert_one_line_error(cli(capsys, "run", str(path)), str(path), "key 'estimate.truth'", "never trained")


def test_the_shipped_nb201_zc_suite_is_proxy_only_at_full_size():
    suite = load_suite(REPO / "suites" / "nb201-zc.toml")
    assert suite.train.epochs == 0 and suite.checkpoints == (0,) and suite.record.proxies
    assert (suite.space.name, suite.space.channels, suite.space.cells_per_stage) == ("nb201", 16, 5)
    assert suite.space.num_samples == 2000 and suite.estimate.repeats == 1
    assert (suite.data.dataset, suite.data.resize, suite.train.batch_size) == ("cifar10-jpeg", None, 64)
    assert suite.estimate.truth == "nb201-table" and set(suite.estimate.estimators) == set(PROXIES)


# -- recording, resuming, verifying, scoring -----------------------------------------------------------------

@pytest.mark.slow  # records 8 small networks (4 of them trained) and scores two suites
def test_proxy_only_traces_are_recorded_resumed_verified_scored_and_published(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = zc_suite(tmp_path, estimators=json.dumps([*PROXIES, "original", "fh-ensemble", "sotl"]))
    write_truth(tmp_path, path)
    code, out, err = cli(capsys, "run", str(path), "--traces", "traces", "--leaderboard", "runs")
    assert code == 0, err
    store = store_of(tmp_path / "traces")
    trial_ids = sorted(p.name for p in store.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert trial_ids == [f"r0-{i:03d}" for i in range(4)]
    for trial_id in trial_ids:
        trace = TrialTrace(store / trial_id)
        trace.verify()
        assert (trace.status, trace.budget, trace.epochs_completed) == ("complete", 0, 0)
        assert trace.manifest["feature_epochs"] == [] and trace.curve("val_acc").shape == (0,)
        proxies = trace.proxies
        assert set(proxies.values) == set(proxies.seconds) == set(PROXIES)
        assert proxies.total_s > 0 and all(s >= 0 for s in proxies.seconds.values())
        view = trace.view(0)
        assert dict(view.proxies) == proxies.values
    # the estimates: every proxy at epoch 0, the estimators that need training failing with the reason
    results = json.loads((tmp_path / "runs" / "zc" / "1" / "results.json").read_text())
    rows = {r["estimator"]: r for r in results["rows"]}
    assert {r["epoch"] for r in results["rows"]} == {0}
    for name in PROXIES:
        assert rows[name]["n_failed"] == 0 and rows[name]["rank_only"], name
        assert math.isfinite(rows[name]["kendall_tau_mean"]) and rows[name]["budget_fraction"] == 0.0
    failures = {f["estimator"]: f["error"] for f in results["failures"]}
    assert rows["original"]["n_failed"] == rows["fh-ensemble"]["n_failed"] == rows["sotl"]["n_failed"] == 4
    for name in ("original", "sotl"):
        assert "proxy-only trial (train.epochs = 0) is never trained" in failures[name], failures[name]
    assert "no features at epoch 0: the trial was never trained" in failures["fh-ensemble"]
    assert results["failed_trials"] == []

    # resuming records nothing; a missing trial is recorded again, alone
    stamps = {t: (store / t / "manifest.json").stat().st_mtime_ns for t in trial_ids}
    shutil.rmtree(store / "r0-002")
    code, out, err = cli(capsys, "record", str(path), "--traces", "traces")
    assert code == 0, err
    assert "recorded 1 trial" in out + err
    assert {t: (store / t / "manifest.json").stat().st_mtime_ns for t in trial_ids if t != "r0-002"} == \
        {t: s for t, s in stamps.items() if t != "r0-002"}
    assert cli(capsys, "verify", str(path), "--traces", "traces")[0] == 0

    # a file read only while scoring (labels.npz) with one flipped byte: `score` stops on one line naming it,
    # `run` moves the trial aside, records it again and publishes
    labels = store / "r0-002" / "labels.npz"
    data = bytearray(labels.read_bytes())
    data[len(data) // 2] ^= 0xFF
    labels.write_bytes(bytes(data))
    code, out, err = cli(capsys, "score", str(path), "--traces", "traces", "--leaderboard", "rescored")
    assert code == 2 and "r0-002" in err and "labels.npz" in err and "corrupt" in err
    code, out, err = cli(capsys, "run", str(path), "--traces", "traces", "--leaderboard", "rerun")
    assert code == 0, err
    assert "recording it again" in out + err and (store / ".corrupt" / "r0-002" / "labels.npz").exists()
    assert cli(capsys, "verify", str(path), "--traces", "traces")[0] == 0

    # a trace of no epochs is sealed like any other: a changed file or proxy value is caught
    code, out, err = cli(capsys, "publish", "runs/zc/1", "--leaderboard", "published", "--allow-dirty")
    assert code == 0, err
    assert cli(capsys, "reproduce", "published/zc/1")[0] == 0
    curves = store / "r0-001" / "curves.npz"
    data = bytearray(curves.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, one byte changed
    curves.write_bytes(bytes(data))
    code, out, err = cli(capsys, "verify", str(path), "--traces", "traces")
    assert code == 1 and "r0-001" in out + err and "checksum" in out + err
    manifest = store / "r0-003" / "manifest.json"
    stored = json.loads(manifest.read_text())
    stored["proxies"]["values"]["snip"] = 123.0
    manifest.write_text(json.dumps(stored))
    with pytest.raises(TraceError, match="does not match its own checksum"):
        TrialTrace(store / "r0-003")

    # the proxies of a proxy-only trial are those a trained trial of the same seed records
    (tmp_path / "trained").mkdir()
    trained = zc_suite(tmp_path / "trained", epochs=2, truth="final_val_acc", estimators='["original"]',
                       extra="checkpoints = [2]\n")
    assert cli(capsys, "record", str(trained), "--traces", "trained-traces")[0] == 0
    trained_store = store_of(tmp_path / "trained-traces")
    for trial_id in ("r0-000", "r0-002"):  # the two traces left intact above
        assert TrialTrace(trained_store / trial_id).epochs_completed == 2
        assert TrialTrace(store / trial_id).proxies.values == TrialTrace(trained_store / trial_id).proxies.values


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install -e '.[ray]')")
@pytest.mark.usefixtures("ray_tmpdir")
def test_proxy_only_trials_record_on_ray_workers_as_in_one_process(tmp_path):
    path = zc_suite(tmp_path)
    write_truth(tmp_path, path)
    serial = run_cli("record", str(path), "--traces", "serial", cwd=tmp_path, timeout=300)
    assert serial.returncode == 0, serial.stderr
    parallel = run_cli("run", str(path), "--traces", "parallel", "--leaderboard", "runs", "--workers", "2",
                       cwd=tmp_path, timeout=300)
    assert parallel.returncode == 0, parallel.stderr
    a, b = store_of(tmp_path / "serial"), store_of(tmp_path / "parallel")
    for trial_id in [f"r0-{i:03d}" for i in range(4)]:
        x, y = TrialTrace(a / trial_id), TrialTrace(b / trial_id)
        y.verify()
        assert x.digest == y.digest and x.proxies.values == y.proxies.values, trial_id
        assert np.isfinite(list(filter(None, y.proxies.values.values()))).all()
    assert run_cli("verify", str(path), "--traces", "parallel", cwd=tmp_path).returncode == 0
    assert (tmp_path / "runs" / "zc" / "1" / "results.json").is_file()
