"""Recording on Ray (`--workers`, `--ray`): a real local Ray instance of 2 CPUs, tiny digits suites.

Parallel recording equals serial recording trial by trial at the same thread count; a worker killed
mid-trial is retried and the leaderboard is complete; a trial whose worker dies every time is left
unrecorded with one line and a rerun redoes only it; bad input answers with one line and exit 2.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, cli, run_cli, write_suite

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install -e '.[ray]')")

KILL_ENV = "FHBENCH_TEST_KILL_TRIAL"


def _store(traces: Path) -> Path:
    (store,) = [p for p in (traces / "tiny").iterdir() if p.is_dir()]
    return store


def _trials(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if p.is_dir() and not p.name.startswith("."))


def _assert_same_trials(a: Path, b: Path) -> None:
    from fhbench.traces import CURVES, TrialTrace

    assert _trials(a) == _trials(b) and _trials(a)
    for trial_id in _trials(a):
        x, y = TrialTrace(a / trial_id), TrialTrace(b / trial_id)
        assert (x.config, x.status, x.epochs_completed) == (y.config, y.status, y.epochs_completed)
        assert x.conditions["threads"] == y.conditions["threads"] == 1
        for name in CURVES:
            np.testing.assert_array_equal(x.curve(name), y.curve(name), err_msg=f"{trial_id} {name}")
        np.testing.assert_array_equal(x.test_curve(), y.test_curve(), err_msg=f"{trial_id} test curve")
        x.verify()
        y.verify()
        assert x.manifest["feature_epochs"] == y.manifest["feature_epochs"]
        for epoch in x.manifest["feature_epochs"]:
            for split in ("train", "val"):
                assert np.array_equal(x.features(epoch, split).numpy(), y.features(epoch, split).numpy()), \
                    (trial_id, epoch, split)
        for epoch in range(1, x.epochs_completed + 1):
            (wx, bx), (wy, by) = x.classifier(epoch), y.classifier(epoch)
            assert np.array_equal(wx.numpy(), wy.numpy()) and np.array_equal(bx.numpy(), by.numpy())


@pytest.mark.slow
def test_parallel_record_equals_serial_trial_by_trial(tmp_path):
    suite = write_suite(tmp_path, num_samples=4, epochs=4, estimators=("original",))
    # serial: one process, and Ray never imported on that path
    code = ("import sys; from fhbench.cli import main; rc = main(['record', 'tiny.toml', '--traces', 'serial', "
            "'--threads', '1']); assert 'ray' not in sys.modules, 'ray imported'; sys.exit(rc)")
    serial = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    parallel = run_cli("record", str(suite), "--traces", "parallel", "--workers", "2", cwd=tmp_path, timeout=300)
    assert parallel.returncode == 0, parallel.stderr
    assert "recorded 4 trial(s) on a local Ray instance of 2 worker(s)" in parallel.stdout
    _assert_same_trials(_store(tmp_path / "serial"), _store(tmp_path / "parallel"))
    assert not any((_store(tmp_path / "parallel") / ".partial").glob("*"))


@pytest.mark.slow
def test_killed_worker_is_retried_and_the_leaderboard_is_complete(tmp_path):
    suite = write_suite(tmp_path, num_samples=4, epochs=4, estimators=("original",))
    marker = tmp_path / "killed"
    result = run_cli("run", str(suite), "--traces", "traces", "--leaderboard", "runs", "--workers", "2",
                     cwd=tmp_path, env={KILL_ENV: f"r0-001@{marker}"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert marker.exists(), "the worker recording r0-001 was not killed"
    store = _store(tmp_path / "traces")
    assert _trials(store) == ["r0-000", "r0-001", "r0-002", "r0-003"]
    assert not any((store / ".partial").glob("*"))
    results = json.loads((tmp_path / "runs" / "tiny" / "1" / "results.json").read_text())
    assert results["trials_scored"] == 4 and results["failed_trials"] == []


@pytest.mark.slow
def test_trial_whose_worker_always_dies_is_left_unrecorded_and_a_rerun_redoes_it(tmp_path):
    suite = write_suite(tmp_path, num_samples=3, epochs=2, estimators=("original",))
    result = run_cli("record", str(suite), "--traces", "traces", "--workers", "2", cwd=tmp_path,
                     env={KILL_ENV: "r0-001@"}, timeout=300)
    assert result.returncode == 2, result.stderr
    assert_one_line_error((result.returncode, result.stdout, result.stderr), "1 trial(s) not recorded (r0-001)",
                          "run the same command again")
    assert "trial r0-001" in result.stdout and "left unrecorded" in result.stdout
    store = _store(tmp_path / "traces")
    assert _trials(store) == ["r0-000", "r0-002"]  # nothing that reads as finished for r0-001
    again = run_cli("record", str(suite), "--traces", "traces", "--workers", "2", cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "recorded 1 trial(s)" in again.stdout
    assert _trials(store) == ["r0-000", "r0-001", "r0-002"]


@pytest.mark.parametrize("flags, fragment", [
    (["--workers", "0"], "--workers: expected an integer >= 1, got 0"),
    (["--workers", "-3"], "--workers: expected an integer >= 1"),
    (["--workers", "2", "--ray", "auto"], "--workers and --ray: give one"),
    (["--cpus-per-trial", "2"], "--cpus-per-trial: only with --workers N or --ray ADDRESS"),
    (["--workers", "2", "--cpus-per-trial", "0"], "--cpus-per-trial: expected an integer >= 1"),
    (["--workers", "2", "--gpus-per-trial", "-1"], "--gpus-per-trial: expected a number >= 0"),
    (["--workers", "2", "--threads", "2"], "--threads 2 and --cpus-per-trial 1"),
])
def test_bad_execution_flags_are_one_line_errors(tmp_path, capsys, flags, fragment):
    suite = write_suite(tmp_path)
    traces = tmp_path / "traces"
    assert_one_line_error(cli(capsys, "record", suite, "--traces", traces, *flags), fragment)
    assert not traces.exists()


def test_search_refuses_workers(tmp_path, capsys):
    suite = write_suite(tmp_path)
    assert_one_line_error(cli(capsys, "search", suite, "--workers", "2"), "--workers/--ray")


def test_unreachable_ray_address_is_a_one_line_error(tmp_path, capsys):
    suite = write_suite(tmp_path)
    traces = tmp_path / "traces"
    assert_one_line_error(cli(capsys, "record", suite, "--traces", traces, "--ray", "127.0.0.1:1"),
                          "--ray 127.0.0.1:1: cannot reach a Ray cluster there")
    assert not any(p for p in traces.rglob("*") if p.is_file() and p.name != ".lock")


@pytest.mark.slow
def test_more_gpus_per_trial_than_any_node_has(tmp_path, capsys):
    suite = write_suite(tmp_path)
    traces = tmp_path / "traces"
    assert_one_line_error(cli(capsys, "record", suite, "--traces", traces, "--workers", "1",
                              "--gpus-per-trial", "64"), "--gpus-per-trial 64: no Ray node has that many GPUs")
    assert not any(p for p in traces.rglob("*") if p.is_file() and p.name != ".lock")
    import ray

    assert not ray.is_initialized()  # the instance fhbench started is shut down again
