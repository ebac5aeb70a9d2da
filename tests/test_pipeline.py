"""Checks before work, the full trace check, and strict reruns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import write_suite
from fhbench.core.errors import FhbenchError, SuiteError, UnknownEstimatorError
from fhbench.estimators import create_estimator
from fhbench.engine.pipeline import check_conditions, open_store, preflight, record_suite, verify_suite
from fhbench.inputs.suite import load_suite
from fhbench.spaces import suite_space
from fhbench.publish.board_files import read_results

CPU = torch.device("cpu")


def _suite(tmp_path, extra: str = "", **kwargs):
    path = write_suite(tmp_path, **kwargs)
    path.write_text(path.read_text() + extra)
    return load_suite(path)


def _edit(suite_path, old: str, new: str):
    suite_path.write_text(suite_path.read_text().replace(old, new))
    return load_suite(suite_path)


def test_preflight_passes_a_good_suite(tmp_path):
    preflight(_suite(tmp_path))


def test_a_window_wider_than_the_recorded_one_fails_before_training(tmp_path):
    path = write_suite(tmp_path)
    suite = _edit(path, "[estimators.fh-ensemble]\nwindow = 2", "[estimators.fh-ensemble]\nwindow = 3")
    with pytest.raises(SuiteError, match=r"estimators.fh-ensemble.window.*record.window \(2\), got 3"):
        preflight(suite)
    suite = _edit(path, "[estimators.fh-ensemble]\nwindow = 3\n", "")  # the default K=10 is wider too
    with pytest.raises(SuiteError, match="got 10"):
        preflight(suite)


def test_a_misspelt_or_bad_setting_fails_before_any_data_is_read(tmp_path):
    path = write_suite(tmp_path, dataset="cifar10")  # no data directory is given: preflight must not need it
    suite = _edit(path, "keep_every = 20", "keep_evry = 20")
    with pytest.raises(SuiteError) as caught:
        preflight(suite)
    assert str(caught.value) == (f"{suite.path}: key 'estimators.lcnet.keep_evry': estimator lcnet has no setting "
                                 "'keep_evry'; its settings: num_steps, burn_in_steps, keep_every, lr, batch_size, "
                                 "seed, metric")
    suite = _edit(path, "keep_evry = 20", "keep_every = -20")
    with pytest.raises(SuiteError, match=f"{suite.path}: key 'estimators.lcnet': keep_every must be a positive int"):
        preflight(suite)


def test_settings_for_an_estimator_nobody_registered_fail(tmp_path):
    suite = _suite(tmp_path, "\n[estimators.lcnett]\nnum_steps = 3\n")
    with pytest.raises(SuiteError, match=r"\[estimators.lcnett\].*installed"):
        preflight(suite)
    with pytest.raises(UnknownEstimatorError, match="unknown estimator 'oracle'"):
        preflight(_suite(tmp_path, estimators=("original", "oracle")))


def test_the_scoring_device_is_not_a_suite_setting(tmp_path):
    assert create_estimator("fh-ensemble", device=CPU).device == CPU
    suite = _suite(tmp_path, "\n[estimators.optimized]\ndevice = \"cuda\"\n")
    with pytest.raises(SuiteError, match="--device"):
        preflight(suite)


def test_a_missing_benchmark_file_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.delenv("FHBENCH_NB201_FILE", raising=False)
    path = write_suite(tmp_path)
    suite = _edit(path, "repeats = 1", "repeats = 1\ntruth = \"nb201-api\"")
    with pytest.raises(FhbenchError, match="--nb201-file"):
        preflight(suite)
    with pytest.raises(FhbenchError, match=str(tmp_path / "nowhere.pth")):
        preflight(suite, nb201_file=str(tmp_path / "nowhere.pth"))


@pytest.fixture(scope="module")
def recorded(_two_trials_recorded):
    """The module's two recorded trials (below), read in place: a test that changes them restores them."""
    suite, traces = _two_trials_recorded
    return suite, open_store(suite, traces)


def test_verify_finds_a_flipped_byte_that_opening_does_not_read(recorded, tmp_path):
    suite, store = recorded
    assert verify_suite(suite, store) == []
    victim = store.root / "r0-001" / "features" / "0002.npz"
    original = victim.read_bytes()
    try:
        data = bytearray(original)
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
        problems = verify_suite(suite, store)
        assert len(problems) == 1 and "r0-001" in problems[0] and "features/0002.npz" in problems[0]
    finally:
        victim.write_bytes(original)


def test_a_strict_rerun_refuses_traces_recorded_under_other_conditions(recorded):
    suite, store = recorded
    traces = [store.open(t) for t in store.trial_ids()]
    check_conditions(traces, CPU)  # the same process, the same conditions
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        with pytest.raises(FhbenchError, match=rf"threads {threads} \(now {threads + 1}\).*--threads {threads}"):
            check_conditions(traces, CPU)
    finally:
        torch.set_num_threads(threads)


def test_an_unwritable_leaderboard_root_fails_before_scoring(recorded, tmp_path):
    from fhbench.engine.pipeline import check_writable, score_suite

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(FhbenchError, match="a-file.*cannot write results there"):
        check_writable(blocker / "leaderboard")
    suite, store = recorded
    calls = []
    with pytest.raises(FhbenchError, match="cannot write results there"):
        score_suite(suite, store, blocker / "leaderboard", on_step=lambda *step: calls.append(step))
    assert calls == []  # no estimator ran


@pytest.fixture
def clean_tree(monkeypatch):
    """Boards scored as from a committed checkout (this one may have uncommitted changes)."""
    import fhbench.publish.provenance

    monkeypatch.setattr(fhbench.publish.provenance, "git_state", lambda: {"commit": "0" * 40, "dirty": False})


@pytest.fixture(scope="module")
def _scored(recorded, tmp_path_factory):
    """The recorded trials scored once, as from a committed checkout (clean_tree): the run folder."""
    import fhbench.publish.provenance
    from fhbench.engine.pipeline import score_suite

    suite, store = recorded
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fhbench.publish.provenance, "git_state", lambda: {"commit": "0" * 40, "dirty": False})
        run_dir, _ = score_suite(suite, store, tmp_path_factory.mktemp("scored") / "runs")
    return run_dir


@pytest.fixture
def scored_run(_scored, tmp_path):
    """A copy of the scored run folder of the test's own, at tmp_path/runs/SUITE/VERSION as score_suite
    writes it: scored once for the module, not once per test."""
    import shutil

    return Path(shutil.copytree(_scored, tmp_path / "runs" / _scored.parent.name / _scored.name))


def test_publishing_a_run_copies_it_whole_into_the_leaderboard_tree(recorded, scored_run, tmp_path, clean_tree):
    from fhbench.engine.pipeline import publish_run

    suite, store = recorded
    run_dir = scored_run
    published = publish_run(run_dir, tmp_path / "leaderboard")
    assert published == tmp_path / "leaderboard" / suite.name / suite.version
    assert sorted(p.name for p in published.iterdir()) == sorted(p.name for p in run_dir.iterdir())
    for path in run_dir.iterdir():
        assert (published / path.name).read_bytes() == path.read_bytes()
    with pytest.raises(FhbenchError, match="no results.json"):
        publish_run(tmp_path, tmp_path / "leaderboard")
    with pytest.raises(FhbenchError, match="already the published"):
        publish_run(published, tmp_path / "leaderboard")
    results = read_results(published)
    assert {e["config"] for e in results["estimates"]} == {store.open(t).config for t in store.trial_ids()}


@pytest.mark.parametrize("field, value", [("name", "../../escaped"), ("name", None), ("version", "..")])
def test_publishing_refuses_names_that_would_leave_the_leaderboard_tree(scored_run, tmp_path, field, value, clean_tree):
    import json

    from fhbench.engine.pipeline import publish_run

    run_dir = scored_run
    results = json.loads((run_dir / "results.json").read_text())
    results["suite"][field] = value
    (run_dir / "results.json").write_text(json.dumps(results))
    with pytest.raises(FhbenchError, match=f"suite.{field}"):
        publish_run(run_dir, tmp_path / "leaderboard")
    assert not (tmp_path / "leaderboard").exists() and not (tmp_path.parent / "escaped").exists()


def test_a_published_version_never_changes_under_its_number(scored_run, tmp_path, clean_tree):
    import json

    from fhbench.engine.pipeline import publish_run
    from fhbench.publish.provenance import SIGNATURE_FILE, signature

    run_dir = scored_run
    published = publish_run(run_dir, tmp_path / "leaderboard")
    assert publish_run(run_dir, tmp_path / "leaderboard") == published  # the same inputs again: allowed
    results = json.loads((run_dir / "results.json").read_text())
    for change in ({"traces_hash": "f" * 64}, {"suite": {**results["suite"], "hash": "0" * 16}},
                   {"estimators": {**results["estimators"], "original": {**results["estimators"]["original"],
                                                                         "version": "99"}}}):
        (run_dir / "results.json").write_text(json.dumps({**results, **change}))
        (run_dir / SIGNATURE_FILE).write_text(signature(run_dir))  # as scoring other inputs would sign it
        with pytest.raises(FhbenchError, match="already published from other inputs.*publish this board as a new "
                                               "suite version"):
            publish_run(run_dir, tmp_path / "leaderboard")
    assert json.loads((published / "results.json").read_text()) == results  # untouched


def test_publish_refuses_a_board_edited_since_scoring_and_never_follows_a_link(scored_run, tmp_path, clean_tree):
    from fhbench.engine.pipeline import publish_run

    run_dir = scored_run
    csv_text = (run_dir / "leaderboard.csv").read_text()
    (run_dir / "leaderboard.csv").write_text(csv_text.replace("original", "0riginal", 1))
    with pytest.raises(FhbenchError, match="leaderboard.csv: edited after the board was scored"):
        publish_run(run_dir, tmp_path / "leaderboard")
    (run_dir / "leaderboard.csv").write_text(csv_text)
    secret = tmp_path / "secret.txt"
    secret.write_text("not a leaderboard file")
    (run_dir / "notes.txt").symlink_to(secret)
    with pytest.raises(FhbenchError, match="notes.txt: a link in a leaderboard directory"):
        publish_run(run_dir, tmp_path / "leaderboard")
    assert not (tmp_path / "leaderboard").exists()


def test_a_board_from_a_modified_tree_needs_allow_dirty_and_records_it(recorded, tmp_path, monkeypatch):
    import json

    import fhbench.publish.provenance
    from fhbench.engine.pipeline import publish_run, score_suite

    monkeypatch.setattr(fhbench.publish.provenance, "git_state", lambda: {"commit": "0" * 40, "dirty": True})
    suite, store = recorded
    run_dir, _ = score_suite(suite, store, tmp_path / "runs")
    with pytest.raises(FhbenchError, match="scored from a modified working tree.*--allow-dirty"):
        publish_run(run_dir, tmp_path / "leaderboard")
    assert not (tmp_path / "leaderboard").exists()
    published = publish_run(run_dir, tmp_path / "leaderboard", allow_dirty=True)
    assert json.loads((published / "results.json").read_text())["published"] == {"allow_dirty": True}


def test_publishing_the_current_folder_names_it(recorded, scored_run, tmp_path, monkeypatch, clean_tree):
    from fhbench.engine.pipeline import publish_run

    suite, _ = recorded
    run_dir = scored_run
    monkeypatch.chdir(run_dir)
    assert publish_run(".", tmp_path / "leaderboard") == tmp_path / "leaderboard" / suite.name / suite.version


# -- lost trials, run ownership, a killed parallel run's leftovers (no Ray needed) --------------------


@pytest.fixture(scope="module")
def _two_trials_recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two")
    suite = load_suite(write_suite(tmp, num_samples=2, epochs=2, estimators=("original",)))
    record_suite(suite, open_store(suite, tmp / "traces"), data_dir=None, device=CPU, report=lambda message: None)
    return suite, tmp / "traces"


@pytest.fixture
def two_trials(_two_trials_recorded, tmp_path):
    """A store of two recorded trials of its own, and what recording another needs."""
    import shutil

    from fhbench.engine.pipeline import load_suite_splits
    from fhbench.record.train import plan_trials

    suite, traces = _two_trials_recorded
    shutil.copytree(traces, tmp_path / "traces")
    store = open_store(suite, tmp_path / "traces")
    space = suite_space(suite)
    return suite, store, space, load_suite_splits(suite, None), plan_trials(suite, space)


def _rewrite_manifest(path, **changes):
    import json

    from fhbench.record.format import manifest_digest

    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    manifest = {k: v for k, v in manifest.items() if v is not None}
    manifest["manifest_sha256"] = manifest_digest(manifest)  # sound apart from the change under test
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.slow  # scores, then records (trains) the lost trial again
def test_a_lost_trial_is_a_failed_row_and_the_next_record_records_it(two_trials, tmp_path):
    from fhbench.engine.pipeline import score_suite
    from fhbench.record.train import record_lost_trial
    from fhbench.record.trace import TrialTrace

    suite, store, space, splits, trials = two_trials
    before = store.open("r0-001").digest
    record_lost_trial(trials[1], suite, space, splits, store, failure="its worker process died on each of 3 tries",
                      conditions={"device": "cpu", "threads": 7})
    lost = TrialTrace(store.root / "r0-001")
    lost.verify()
    assert (lost.status, lost.epochs_completed) == ("lost", 0)
    assert lost.failure == "its worker process died on each of 3 tries"
    assert verify_suite(suite, store) == []  # a sound trace: `fhbench verify` has nothing to say about it
    check_conditions([store.open(t) for t in store.trial_ids()], CPU)  # its conditions are not a recording's

    out, _ = score_suite(suite, store, tmp_path / "runs")
    results = __import__("json").loads((out / "results.json").read_text())
    assert results["trials_scored"] == 1
    assert results["failed_trials"] == [{"trial_id": "r0-001", "config": trials[1].config, "status": "lost",
                                         "epochs_completed": 0,
                                         "failure": "its worker process died on each of 3 tries"}]
    assert results["environment"]["recording"]["threads"] == [str(torch.get_num_threads())]  # not the lost one's 7
    board = (out / "leaderboard.md").read_text()
    assert "failed trials: 1" in board and "## Failed trials (1)" in board
    assert f"- r0-001 `{trials[1].config}`: lost after 0 epoch(s): its worker process died on each of 3 tries" in board

    messages = []
    assert [t.trial_id for t in record_suite(suite, store, data_dir=None, device=CPU, report=messages.append)] \
        == ["r0-001"]
    assert "r0-001" in messages[0] and "lost by an earlier run (its worker process died" in messages[0]
    again = TrialTrace(store.root / "r0-001")
    assert again.status == "complete" and again.digest == before  # the same trial as first recorded


@pytest.mark.parametrize("status, failure, fragment", [
    ("lost", None, "says why"),             # lost, but no reason
    ("lost", "  ", "says why"),             # a blank reason
    ("complete", "died", "says why"),        # a reason on a trial that is not lost
    ("diverged", "died", "says why"),
])
def test_a_lost_status_and_its_reason_go_together(two_trials, status, failure, fragment):
    from fhbench.core.errors import TraceError
    from fhbench.record.trace import TrialTrace

    _, store, _, _, _ = two_trials
    _rewrite_manifest(store.root / "r0-000", status=status, failure=failure)
    with pytest.raises(TraceError, match=fragment):
        TrialTrace(store.root / "r0-000")


def test_a_lost_trial_holds_no_epochs(two_trials):
    from fhbench.core.errors import TraceError
    from fhbench.record.trace import TrialTrace

    _, store, _, _, _ = two_trials
    _rewrite_manifest(store.root / "r0-000", status="lost", failure="died")  # it has 2 epochs
    with pytest.raises(TraceError, match="a lost trial records no epochs, this one 2"):
        TrialTrace(store.root / "r0-000")


def test_a_task_of_a_run_that_no_longer_owns_the_store_publishes_nothing(two_trials):
    from fhbench.record.train import record_trial
    from fhbench.record.format import RUN_FILE, RunSupersededError

    suite, store, space, splits, trials = two_trials
    old = store.begin_run({"driver_pid": 1})
    new = store.begin_run({"driver_pid": 2})  # another run took the store (the first one's driver died)
    original = (store.root / "r0-001" / "manifest.json").read_bytes()
    with pytest.raises(RunSupersededError, match="r0-001"):
        record_trial(trials[1], suite, space, splits, store, CPU, run_token=old)
    assert (store.root / "r0-001" / "manifest.json").read_bytes() == original  # untouched
    assert list((store.root / ".partial").iterdir()) == []  # and its own unfinished copy is gone
    assert record_trial(trials[1], suite, space, splits, store, CPU, run_token=new) == "complete"
    assert (store.root / "r0-001" / "manifest.json").read_bytes() != original  # the owner publishes
    store.end_run(new)
    assert not (store.root / RUN_FILE).exists()


def test_the_next_run_stops_a_killed_parallel_runs_leftover_processes(two_trials, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    from fhbench.runtime.ray import session_processes, stop_dead_run
    from fhbench.record.format import RUN_FILE

    suite, store, _, _, _ = two_trials
    session = tmp_path / "ray" / "session_2026-01-01_00-00-00_000001_42"
    (session / "logs").mkdir(parents=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    spawned = {
        # a Ray server: the session folder on its command line
        "server": [*sleeper, f"--session_dir={session}"],
        # a Ray worker or agent: `ray::...` as its command line, a log file open in the session folder
        "agent": ["bash", "-c", 'exec 3>>"$0/logs/agent.out"; exec -a ray::DashboardAgent sleep 300', str(session)],
        # not of that session: another `ray::` process, and a session whose name merely starts the same
        "other worker": ["bash", "-c", "exec -a ray::IDLE sleep 300"],
        "other session": [*sleeper, f"--session_dir={session}0"],
    }
    processes = {name: subprocess.Popen(argv) for name, argv in spawned.items()}
    try:
        deadline = time.monotonic() + 10
        while len(session_processes(str(session))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # until both have exec'd
        assert sorted(session_processes(str(session))) == sorted([processes["server"].pid, processes["agent"].pid])
        token = store.begin_run({"driver_pid": 12345, "host": socket.gethostname(), "session_dir": str(session)})
        (store.root / ".partial" / f"r0-000.{token}").mkdir(parents=True)  # a trial it left unfinished
        messages = []
        stop_dead_run(store, messages.append)
        for name in ("server", "agent"):
            assert processes[name].wait(timeout=10) == -9, name
        for name in ("other worker", "other session"):
            assert processes[name].poll() is None, f"{name} was stopped"
        assert len(messages) == 1 and "driver pid 12345" in messages[0] and "stopped 2 leftover" in messages[0]
        assert not (store.root / RUN_FILE).exists() and list((store.root / ".partial").iterdir()) == []
        messages.clear()
        stop_dead_run(store, messages.append)  # nothing left to clean up: says nothing
        assert messages == []
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.kill(process.pid, 9)
                process.wait()
