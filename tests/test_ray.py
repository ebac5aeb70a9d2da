"""Recording on Ray (`--workers`, `--ray`): a real local Ray instance of 2 CPUs, tiny digits suites.

Parallel recording equals serial recording trial by trial at the same thread count; a worker killed
mid-trial is retried and the leaderboard is complete; a trial whose worker dies every time is a failed
("lost") trial in the leaderboard, the run says so on one line and exits 1, and a rerun records only
it; --strict holds the traces to --cpus-per-trial; a cluster started with `ray start` is joined by
address and by `auto`; bad input answers with one line and exit 2. (A driver killed with kill -9:
tests/test_end_to_end.py.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, cli, run_cli, write_suite
from fhbench.publish.board_files import read_results

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="ray is not installed (pip install -e '.[ray]')"),
              pytest.mark.usefixtures("ray_tmpdir")]  # conftest: Ray's session folder, the test's own

KILL_ENV = "FHBENCH_TEST_KILL_TRIAL"


def _store(traces: Path) -> Path:
    (store,) = [p for p in (traces / "tiny").iterdir() if p.is_dir()]
    return store


def _trials(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if p.is_dir() and not p.name.startswith("."))


def _assert_same_trials(a: Path, b: Path) -> None:
    from fhbench.record.format import CURVES
    from fhbench.record.trace import TrialTrace

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
@pytest.mark.serial  # starts Ray
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
@pytest.mark.serial  # starts Ray
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
@pytest.mark.serial  # starts Ray
def test_trial_whose_worker_always_dies_is_a_failed_trial_and_a_rerun_records_it(tmp_path):
    suite = write_suite(tmp_path, num_samples=3, epochs=2, estimators=("original",))
    command = ("run", str(suite), "--traces", "traces", "--leaderboard", "runs", "--workers", "2")
    result = run_cli(*command, cwd=tmp_path, env={KILL_ENV: "r0-001@"}, timeout=300)
    # the run finishes and publishes, then says on one line that a trial was lost, and exits 1
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["fhbench: error: 1 trial(s) lost (r0-001; r0-001: its worker process died on each of 3 tries): "
                     "the leaderboard lists them as failed trials; run the same command again to record them"], \
        result.stderr
    assert "trial r0-001" in result.stdout and "lost: its worker process died on each of 3 tries" in result.stdout
    store = _store(tmp_path / "traces")
    assert _trials(store) == ["r0-000", "r0-001", "r0-002"]
    from fhbench.record.trace import TrialTrace

    lost = TrialTrace(store / "r0-001")
    assert (lost.status, lost.epochs_completed) == ("lost", 0)
    assert lost.conditions == {"device": "cpu", "threads": 1}
    assert run_cli("verify", str(suite), "--traces", "traces", cwd=tmp_path).returncode == 0
    out = tmp_path / "runs" / "tiny" / "1"
    results = read_results(out)
    assert results["trials_scored"] == 2
    assert [(t["trial_id"], t["status"], t["failure"]) for t in results["failed_trials"]] == \
        [("r0-001", "lost", "its worker process died on each of 3 tries")]
    assert sorted({e["trial_id"] for e in results["estimates"]}) == ["r0-000", "r0-002"]
    assert "failed trials: 1" in (out / "leaderboard.md").read_text()

    again = run_cli(*command, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "r0-001" in again.stdout and "lost by an earlier run" in again.stdout
    assert "recorded 1 trial(s)" in again.stdout
    assert TrialTrace(store / "r0-001").status == "complete"
    results = json.loads((out / "results.json").read_text())
    assert results["trials_scored"] == 3 and results["failed_trials"] == []
    assert not (store / ".ray-run.json").exists() and not any((store / ".partial").glob("*"))


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_strict_compares_the_traces_with_the_cpus_per_trial_they_were_recorded_with(tmp_path):
    suite = write_suite(tmp_path, num_samples=2, epochs=2, estimators=("original",))
    result = run_cli("run", str(suite), "--workers", "1", "--cpus-per-trial", "2", "--strict", cwd=tmp_path,
                     timeout=300)
    assert result.returncode == 0, result.stderr
    from fhbench.record.trace import TrialTrace

    store = _store(tmp_path / "traces")
    assert {TrialTrace(store / t).conditions["threads"] for t in _trials(store)} == {2}
    # a rerun that records nothing, at another thread count: the same traces are now refused
    other = run_cli("run", str(suite), "--threads", "1", "--strict", cwd=tmp_path, timeout=300)
    assert_one_line_error((other.returncode, other.stdout, other.stderr), "--strict", "threads 2 (now 1)")
    assert run_cli("run", str(suite), "--threads", "2", "--strict", cwd=tmp_path, timeout=300).returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_record_on_a_cluster_started_with_ray_start_by_address_and_by_auto(tmp_path, ray_tmpdir):
    from fhbench.runtime.ray import session_processes, stop_session_processes

    # Ray's socket paths must fit in 107 bytes: a short folder of its own (conftest's ray_tmpdir), which also
    # keeps the cluster apart from any other Ray instance on this machine (`ray stop` would stop them all)
    ray_tmp = str(ray_tmpdir)
    port = _free_port()
    # the cluster's own token, not whatever ~/.ray holds: the driver must be given it to join
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.urandom(16).hex(), "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        head = subprocess.run([str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={port}",
                               "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", f"--temp-dir={ray_tmp}",
                               "--disable-usage-stats"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **env})
        assert head.returncode == 0, head.stderr
        suite = write_suite(tmp_path, num_samples=2, epochs=2, estimators=("original",))
        by_address = run_cli("record", str(suite), "--traces", "by-address", "--ray", f"127.0.0.1:{port}",
                             cwd=tmp_path, env=env, timeout=300)
        assert by_address.returncode == 0, by_address.stderr
        assert f"recorded 2 trial(s) on the Ray cluster at 127.0.0.1:{port}" in by_address.stdout
        by_auto = run_cli("record", str(suite), "--traces", "by-auto", "--ray", "auto", cwd=tmp_path,
                          env={**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}, timeout=300)
        assert by_auto.returncode == 0, by_auto.stderr
        assert "recorded 2 trial(s) on the Ray cluster at auto" in by_auto.stdout
        # the trials ran on that cluster's workers, not on an instance of the driver's own
        logs = Path(ray_tmp) / "session_latest" / "logs"
        assert any("_record_task" in p.read_text(errors="replace") for p in logs.glob("worker-*.out"))
        _assert_same_trials(_store(tmp_path / "by-address"), _store(tmp_path / "by-auto"))
        assert run_cli("verify", str(suite), "--traces", "by-auto", cwd=tmp_path).returncode == 0
    finally:
        stop_session_processes(ray_tmp)  # the head's processes, found by its folder, stopped by pid
        assert session_processes(ray_tmp) == []
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.parametrize("flags, fragment", [
    (["--workers", "0"], "--workers: expected an integer >= 1, got 0"),
    (["--workers", "-3"], "--workers: expected an integer >= 1"),
    (["--workers", "2", "--ray", "auto"], "--workers and --ray: give one"),
    (["--cpus-per-trial", "2"], "--cpus-per-trial: only with --workers N or --ray ADDRESS"),
    (["--workers", "2", "--cpus-per-trial", "0"], "--cpus-per-trial: expected an integer >= 1"),
    (["--workers", "2", "--gpus-per-trial", "-1"], "--gpus-per-trial: expected a number >= 0"),
    (["--workers", "2", "--threads", "2"], "--threads 2 and --cpus-per-trial 1"),
    (["--workers", "2", "--gpus-per-trial", "1.5"], "above 1 it must be a whole number of GPUs, got 1.5"),
    (["--workers", "2", "--gpus-per-trial", "nan"], "--gpus-per-trial: expected a number >= 0, got nan"),
    (["--workers", "2", "--device", "cuda", "--gpus-per-trial", "0"], "--device cuda and --gpus-per-trial 0"),
    (["--ray", "auto", "--device", "cuda:1", "--gpus-per-trial", "0"], "--device cuda:1 and --gpus-per-trial 0"),
    (["--ray", ""], "--ray: expected an address"),
    (["--ray", "localhost"], "--ray localhost: expected host:port, ray://host:port or auto"),
])
def test_bad_execution_flags_are_one_line_errors(tmp_path, capsys, flags, fragment):
    suite = write_suite(tmp_path)
    traces = tmp_path / "traces"
    assert_one_line_error(cli(capsys, "record", suite, "--traces", traces, *flags), fragment)
    assert not traces.exists()


def test_search_refuses_workers(tmp_path, capsys):
    suite = write_suite(tmp_path)
    assert_one_line_error(cli(capsys, "search", suite, "--workers", "2"), "--workers/--ray")


@pytest.mark.slow  # imports Ray and tries to reach a cluster
def test_unreachable_ray_address_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    suite = write_suite(tmp_path)
    traces = tmp_path / "traces"
    assert_one_line_error(cli(capsys, "record", suite, "--traces", traces, "--ray", "127.0.0.1:1"),
                          "--ray 127.0.0.1:1: cannot reach a Ray cluster there")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # where `auto` looks first
    assert_one_line_error(cli(capsys, "record", suite, "--traces", traces, "--ray", "auto"),
                          "--ray auto (RAY_ADDRESS=127.0.0.1:1): cannot reach a Ray cluster there")
    assert not any(p for p in traces.rglob("*") if p.is_file() and p.name != ".lock")


def test_cuda_found_by_auto_with_no_gpus_per_trial_is_refused_before_ray_starts(tmp_path):
    from fhbench.core.errors import FhbenchError
    from fhbench.record.parallel import record_parallel
    from fhbench.runtime.ray import Execution
    from fhbench.record.store import TraceStore

    import ray

    with pytest.raises(FhbenchError, match="--gpus-per-trial 0 with --device cuda"):
        record_parallel(None, TraceStore(tmp_path / "store"), [], None, cuda_available=True, device_type="cuda",
                        execution=Execution(workers=1, gpus_per_trial=0.0))
    assert not ray.is_initialized()


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_more_gpus_per_trial_than_any_node_has(tmp_path, capsys):
    suite = write_suite(tmp_path)
    traces = tmp_path / "traces"
    # on a machine without CUDA the trials train on the CPU, where a GPU share is refused before Ray starts
    assert_one_line_error(cli(capsys, "record", suite, "--traces", traces, "--workers", "1",
                              "--gpus-per-trial", "64"), "--gpus-per-trial 64 with --device cpu")
    assert not any(p for p in traces.rglob("*") if p.is_file() and p.name != ".lock")
    import ray

    assert not ray.is_initialized()  # the instance fhbench started is shut down again


@pytest.mark.slow  # starts a Ray instance in this process
@pytest.mark.serial
def test_a_share_no_node_can_give_is_refused_before_it_waits_forever():
    import ray

    from fhbench.core.errors import FhbenchError
    from fhbench.runtime.ray import Execution, check_resources

    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        with pytest.raises(FhbenchError, match=r"--gpus-per-trial 0.5: no Ray node has that many GPUs \(the most "
                                               r"on one node: 0\)"):
            check_resources(Execution(workers=1), 0.5)
        with pytest.raises(FhbenchError, match="--cpus-per-trial 4: no Ray node has that many CPUs"):
            check_resources(Execution(workers=1, cpus_per_trial=4), 0.0)
        check_resources(Execution(workers=1), 0.0)
    finally:
        ray.shutdown()


_DRIVER = """
import sys, time
from fhbench.runtime.ray import Execution, start_ray_session
started, session = start_ray_session(Execution(workers=1), gpus_wanted=False)
print(session, flush=True)
if sys.argv[1] == "shutdown":
    import ray
    ray.shutdown()
    print("shut", flush=True)
time.sleep(600)
"""


def _watchdogs(session: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"fhbench.runtime.ray_watchdog" in cmdline and session.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
@pytest.mark.parametrize("ending", ["kill -9", "shutdown"])
def test_a_driver_killed_with_sigkill_leaves_no_ray_process_and_a_live_one_no_watchdog(ray_tmpdir, ending):
    """kill -9 of a driver: its watchdog stops the local Ray instance at once, not at the next run. A
    driver that shut Ray down and goes on: its watchdog has exited, nothing left behind to collect."""
    from fhbench.runtime.ray import session_processes, stop_session_processes

    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, "shutdown" if ending == "shutdown" else "keep"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    session = ""
    try:
        session = driver.stdout.readline().strip()
        assert session.startswith(str(ray_tmpdir)), session
        if ending == "kill -9":
            assert session_processes(session), "Ray's processes were expected to run before the kill"
            assert _watchdogs(session), "no watchdog was started with the instance"
            driver.kill()
            driver.wait(timeout=30)
            assert _wait_until(lambda: not session_processes(session), 30), session_processes(session)
        else:
            assert driver.stdout.readline().strip() == "shut"
            assert driver.poll() is None  # the driver goes on
        assert _wait_until(lambda: not _watchdogs(session), 15), "the watchdog outlived its instance"
    finally:
        driver.kill()
        driver.wait(timeout=30)
        if session:
            stop_session_processes(session)
