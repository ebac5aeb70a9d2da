"""`fhbench run` from suite file to leaderboard: outputs, reproducibility, and resuming after kill -9 (of the
one process, and of the driver of a parallel run on Ray)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli, write_suite
from fhbench.publish.board_files import read_results

pytestmark = pytest.mark.slow

def comparable(leaderboard_dir):
    """The leaderboard's content with the two things that legitimately differ between runs removed:
    the date and the measured times (every `overhead*` column: wall-clock and CPU timings; the recorded
    epoch times that overhead in epochs divides by)."""
    results = read_results(leaderboard_dir)
    results.pop("date")
    results.pop("epoch_times")
    for row in results["rows"]:
        for column in [c for c in row if c.startswith("overhead")]:
            row.pop(column)
    results["environment"].pop("reference_cpu_s")
    for estimate in results["estimates"]:
        for key in ("overhead_s", "overhead_cpu_s", "reference_cpu_s"):
            estimate.pop(key)
    table = list(csv.DictReader(io.StringIO((leaderboard_dir / "leaderboard.csv").read_text())))
    for row in table:
        for column in [c for c in row if c.startswith("overhead")]:
            row.pop(column)
    plots = {name: (leaderboard_dir / name).read_bytes() for name in ("mae.png", "kendall_tau.png")}
    return results, table, plots


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    suite = write_suite(tmp, "e2e", num_samples=3, epochs=4, repeats=2)
    result = run_cli("run", str(suite), "--threads", "1", cwd=tmp)
    assert result.returncode == 0, result.stderr
    return tmp, suite, result


def test_run_writes_a_complete_leaderboard(finished_run):
    tmp, _, result = finished_run
    out = tmp / "runs" / "e2e" / "1"
    assert {p.name for p in out.iterdir()} == {"SHA256SUMS", "results.json", "estimates.csv", "leaderboard.csv",
                                              "leaderboard.md", "mae.png", "mae_overhead.png", "kendall_tau.png"}
    results = read_results(out)
    for key in ("results_schema", "fhbench_version", "git", "suite", "estimators", "seeds", "environment", "date",
                "traces_hash", "dataset_source", "truth", "truths", "estimates", "rows", "metrics"):
        assert key in results
    assert results["truth"]["spec"] == "final_test_acc" and results["truth"]["own_run"] is True
    assert results["environment"]["threads"] == 1 and results["environment"]["recording"]["threads"] == ["1"]
    assert results["metrics"]["mae_mean"] == "lower" and results["metrics"]["kendall_tau_mean"] == "higher"
    assert results["dataset_source"] == "sklearn-digits"
    assert results["trials_scored"] == 6 and results["failures"] == []
    assert set(results["estimators"]) == {"original", "optimized", "lcnet", "fh-ensemble"}
    assert results["estimators"]["lcnet"]["settings"]["num_steps"] == 300
    assert results["estimators"]["fh-ensemble"]["settings"]["epochs"] == 5  # effective: the default, filled in
    assert len(results["rows"]) == 4 * 2  # estimators x checkpoints
    row = next(r for r in results["rows"] if r["estimator"] == "original" and r["epoch"] == 4)
    # The original estimator at the last epoch is the final validation accuracy: check its MAE by hand.
    by_trial = {e["trial_id"]: e["estimate"] for e in results["estimates"]
                if e["estimator"] == "original" and e["checkpoint"] == 4}
    errors = [[abs(by_trial[t] - results["truths"][t]) for t in by_trial if t.startswith(f"r{r}")] for r in (0, 1)]
    per_repeat = [sum(e) / len(e) for e in errors]
    assert row["mae_mean"] == pytest.approx(sum(per_repeat) / 2, abs=1e-9)
    assert row["mae_std"] == pytest.approx(abs(per_repeat[0] - per_repeat[1]) / 2, abs=1e-9)
    assert "| 4 | fh-ensemble |" in (out / "leaderboard.md").read_text()
    assert (out / "mae.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "leaderboard written to" in result.stdout


def test_scoring_the_same_traces_again_gives_the_same_leaderboard(finished_run):
    tmp, suite, _ = finished_run
    out = tmp / "runs" / "e2e" / "1"
    before = comparable(out)
    result = run_cli("score", str(suite), "--threads", "1", cwd=tmp)
    assert result.returncode == 0, result.stderr
    assert comparable(out) == before
    assert "recorded" not in result.stdout  # score trains nothing


def test_kill_9_then_rerun_finishes_with_the_same_leaderboard(finished_run, tmp_path):
    reference_tmp, _, _ = finished_run
    suite = write_suite(tmp_path, "e2e", num_samples=3, epochs=4, repeats=2)
    command = [sys.executable, "-m", "fhbench.cli", "run", str(suite), "--threads", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = next((tmp_path / "traces" / "e2e").glob("*"), None)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        stores = list((tmp_path / "traces" / "e2e").glob("*")) if (tmp_path / "traces" / "e2e").exists() else []
        store = stores[0] if stores else None
        if store and (store / "r0-000").exists() and any((store / ".partial").glob("*")):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert any((store / ".partial").iterdir())  # killed mid-trial
    assert not (tmp_path / "runs" / "e2e" / "1" / "results.json").exists()

    result = run_cli("run", str(suite), "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "recorded 5 trial(s)" in result.stdout  # r0-000 was kept, the rest recorded
    assert comparable(tmp_path / "runs" / "e2e" / "1") == \
        comparable(reference_tmp / "runs" / "e2e" / "1")


def _descendants(pid: int) -> dict[int, int]:
    """The processes below `pid` (children, theirs, ...), each with its start time (to tell a reused pid)."""
    from pathlib import Path

    parents, started = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            parents[int(entry.name)], started[int(entry.name)] = int(fields[1]), int(fields[19])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child in [c for c, p in parents.items() if p == parent and c not in found]:
            found[child] = started[child]
            frontier.append(child)
    return found


def _still_running(pid: int, started: int) -> bool:
    from pathlib import Path

    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = text[text.rindex(")") + 2:].split()
    return fields[0] != "Z" and int(fields[19]) == started


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
@pytest.mark.serial  # starts Ray
def test_driver_of_a_parallel_run_killed_then_rerun_gives_the_serial_leaderboard(tmp_path, ray_tmpdir):
    # long enough trials that the driver dies with trials in flight on both workers
    suite = write_suite(tmp_path, "par", num_samples=4, epochs=24, estimators=("original",))
    serial = run_cli("run", str(suite), "--threads", "1", "--traces", "serial", "--leaderboard", "serial-runs",
                     cwd=tmp_path)
    assert serial.returncode == 0, serial.stderr
    command = [sys.executable, "-m", "fhbench.cli", "run", str(suite), "--workers", "2"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, store, ray_processes = tmp_path / "traces" / "par", None, {}
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        store = next(root.glob("*"), None) if root.exists() else None
        if store and (store / ".ray-run.json").exists() and next(store.glob("r0-*"), None) \
                and any((store / ".partial").glob("*")):
            ray_processes = _descendants(process.pid)  # its Ray servers, agents and workers
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before its driver could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    run = json.loads((store / ".ray-run.json").read_text())  # the dead run's record, left in the store
    assert run["driver_pid"] == process.pid and ray_processes
    finished = sorted(p.name for p in store.glob("r0-*"))
    assert 0 < len(finished) < 4

    result = run_cli(*command[3:], cwd=tmp_path)  # the same command again
    assert result.returncode == 0, result.stderr
    assert f"the parallel run of driver pid {process.pid}" in result.stdout and "leftover process(es)" in result.stdout
    # the finished ones were kept (a worker may still have published a whole trial before it died)
    recorded = int(re.search(r"recorded (\d+) trial\(s\)", result.stdout).group(1))
    assert 0 < recorded <= 4 - len(finished), result.stdout
    assert sorted(p.name for p in store.glob("r0-*")) == ["r0-000", "r0-001", "r0-002", "r0-003"]
    assert not (store / ".ray-run.json").exists() and not any((store / ".partial").glob("*"))
    assert run_cli("verify", str(suite), cwd=tmp_path).returncode == 0
    assert comparable(tmp_path / "runs" / "par" / "1") == comparable(tmp_path / "serial-runs" / "par" / "1")
    left = [pid for pid, started in ray_processes.items() if _still_running(pid, started)]
    assert left == [], f"processes of the killed run's Ray instance still run: {left}"


def test_a_corrupt_trace_is_named_and_not_scored(finished_run, tmp_path):
    tmp, suite, _ = finished_run
    import shutil

    shutil.copytree(tmp / "traces", tmp_path / "traces")
    store = next((tmp_path / "traces" / "e2e").glob("*"))
    victim = store / "r1-002" / "curves.npz"
    data = bytearray(victim.read_bytes())
    data[-30] ^= 0xFF
    victim.write_bytes(bytes(data))
    result = run_cli("score", str(suite), "--threads", "1", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "r1-002" in result.stderr and "curves.npz" in result.stderr and "corrupt" in result.stderr
    assert not (tmp_path / "runs").exists()

    # `run` moves it aside (kept, not deleted), records it again, and publishes.
    result = run_cli("run", str(suite), "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "r1-002" in result.stdout and "recording it again" in result.stdout
    assert (store / ".corrupt" / "r1-002" / "curves.npz").exists()
    assert comparable(tmp_path / "runs" / "e2e" / "1") == comparable(tmp / "runs" / "e2e" / "1")


def test_a_feature_file_corrupt_while_scoring_is_a_trace_error_never_a_failed_estimate(finished_run, tmp_path):
    """A feature file is checked when an estimator reads it, not when the trial is opened: a flipped byte
    there used to become a failed estimate of every feature-reading estimator (counted 0.0) and a different
    board with exit 0."""
    tmp, suite, _ = finished_run
    import shutil

    shutil.copytree(tmp / "traces", tmp_path / "traces")
    store = next((tmp_path / "traces" / "e2e").glob("*"))
    victim = sorted((store / "r0-001" / "features").glob("*.npz"))[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    result = run_cli("score", str(suite), "--threads", "1", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "r0-001" in line and f"features/{victim.name}" in line and "corrupt" in line
    assert not (tmp_path / "runs").exists()

    result = run_cli("run", str(suite), "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "recording it again" in result.stdout
    assert (store / ".corrupt" / "r0-001" / "features" / victim.name).exists()
    assert comparable(tmp_path / "runs" / "e2e" / "1") == comparable(tmp / "runs" / "e2e" / "1")


def test_a_second_run_on_the_same_store_stops_instead_of_writing_beside_the_first(tmp_path):
    from fhbench.engine.pipeline import open_store
    from fhbench.inputs.suite import load_suite

    suite = write_suite(tmp_path, "busy", num_samples=2, epochs=2)
    holder = open_store(load_suite(suite), tmp_path / "traces")
    holder.lock()  # this process plays the first run, holding the store mid-recording
    second = run_cli("run", str(suite), "--threads", "1", cwd=tmp_path)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"in use by fhbench pid {os.getpid()}" in second.stderr
    assert list(holder.trial_ids()) == [] and not (holder.root / ".partial").exists()  # it wrote nothing
    holder._lock_file.close()  # the first run ends
    again = run_cli("run", str(suite), "--threads", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert run_cli("verify", str(suite), cwd=tmp_path).returncode == 0


def test_a_scored_board_reproduces_from_its_files_and_an_edit_is_named(finished_run, tmp_path):
    tmp, _, _ = finished_run
    board = tmp / "runs" / "e2e" / "1"
    result = run_cli("reproduce", str(board), cwd=tmp)
    assert result.returncode == 0 and "reproduced" in result.stdout, result.stdout + result.stderr
    edited = tmp_path / "edited"
    edited.mkdir()
    results = read_results(board)
    del results["estimates_file"]  # the estimates inline, as boards before estimates.csv kept them
    first = results["estimates"][0]
    first["estimate"] = 0.0 if first["estimate"] != 0.0 else 0.5
    (edited / "results.json").write_text(json.dumps(results))
    result = run_cli("reproduce", str(edited), cwd=tmp)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"row {first['estimator']} at epoch {first['checkpoint']}: mae_mean published" in result.stdout


def test_power_says_how_many_cells_each_checkpoint_needs(finished_run):
    tmp, _, _ = finished_run
    result = run_cli("power", str(tmp / "runs" / "e2e" / "1"), "--delta", "0.1", cwd=tmp)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip().startswith("epoch ")]
    assert len(lines) == 2 and all(line.endswith("n/a: too few cells to estimate the noise (the board has 3 in each of "
                                                 "2 repeat(s))") for line in lines)
    bad = run_cli("power", str(tmp / "runs" / "e2e" / "1"), "--delta", "-1", cwd=tmp)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("--delta: expected a positive difference, got -1.0")
