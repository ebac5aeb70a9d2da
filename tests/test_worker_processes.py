"""Estimators run in worker processes of their own, under a time limit: one that hangs, crashes its
process, mutates what it is handed or returns a string fails alone, as failed rows saying so, and the
others' results are those of a run without it."""

from __future__ import annotations

import time

import pytest

from fhbench.estimators.check import synthetic_population
from fhbench.estimators.harness import run_estimators
from misbehaving_estimators import Crasher, LastAccuracy, Sleeper, Stringy, Vandal

pytestmark = pytest.mark.slow  # starts worker processes


def _estimates(records, name):
    return [(r.trial_id, r.checkpoint, r.estimate, r.error) for r in records if r.estimator == name]


def test_misbehaving_estimators_fail_alone_and_the_run_ends(tmp_path):
    traces = synthetic_population(tmp_path, n_trials=4, budget=4)
    alone = run_estimators({"last-accuracy": LastAccuracy()}, traces, [2, 4], isolate=True, timeout_s=5)
    started = time.perf_counter()
    records = run_estimators({"vandal": Vandal(), "sleeper": Sleeper(), "crasher": Crasher(),
                              "stringy": Stringy(), "last-accuracy": LastAccuracy()}, traces, [2, 4],
                             isolate=True, timeout_s=2)
    assert time.perf_counter() - started < 60  # two timeouts of 2 s, not for ever
    assert _estimates(records, "last-accuracy") == _estimates(alone, "last-accuracy")
    sleeper = [r for r in records if r.estimator == "sleeper"]
    assert len(sleeper) == 8 and all(r.estimate is None and "fit: timed out after 2 s" in r.error
                                     for r in sleeper)
    crasher = {r.trial_id: r for r in records if r.estimator == "crasher" and r.checkpoint == 2}
    assert crasher["r0-000"].estimate == 0.5 and crasher["r0-001"].estimate == 0.5
    assert "its worker process died (exit code 139)" in crasher["r0-002"].error
    assert "the worker was lost earlier in this step" in crasher["r0-003"].error
    assert all(r.error == "estimate '0.9' is not an accuracy in [0, 1]" for r in records if r.estimator == "stringy")
    assert all(r.estimate is None and "fit: ReadOnlyViewError" in r.error for r in records if r.estimator == "vandal")


def test_in_process_and_in_a_worker_give_the_same_estimates(tmp_path):
    from fhbench.estimators import create_estimator

    traces = synthetic_population(tmp_path)
    estimators = {name: create_estimator(name) for name in ("original", "fh-ensemble", "sotl")}
    here = run_estimators(estimators, traces, [2, 8])
    there = run_estimators(estimators, traces, [2, 8], isolate=True, timeout_s=60)
    assert [(r.estimator, r.trial_id, r.estimate) for r in here] == [(r.estimator, r.trial_id, r.estimate)
                                                                      for r in there]
    assert all(r.overhead_cpu_s > 0 for r in there if r.estimator == "fh-ensemble")  # measured in the worker


def test_a_run_with_misbehaving_plugins_ends_and_the_others_rows_are_unchanged(tmp_path, capsys, monkeypatch):
    """`fhbench run` end to end with plugins that sleep for ever, mutate their views and return a string:
    the command ends on its own, and `original`'s estimates equal those of a run without the plugins."""
    import json
    import types

    import fhbench.engine.pipeline
    import fhbench.estimators
    import fhbench.estimators.registry
    from conftest import cli, write_suite
    from fhbench.publish.board_files import read_results

    real = fhbench.estimators.available_estimators()
    plugins = {name: types.SimpleNamespace(name=name, package="misbehaving", package_version="1",
                                           target=f"misbehaving_estimators:{cls.__name__}", load=lambda cls=cls: cls)
               for name, cls in (("sleeper", Sleeper), ("vandal", Vandal), ("stringy", Stringy))}
    registry = {**real, **plugins}
    for module in (fhbench.estimators, fhbench.estimators.registry, fhbench.engine.pipeline):
        monkeypatch.setattr(module, "available_estimators", lambda: registry)
    monkeypatch.chdir(tmp_path)

    def original_rows(name, estimators):
        suite = write_suite(tmp_path, name, num_samples=3, epochs=3, estimators=estimators)
        suite.write_text(suite.read_text().replace("[estimate]", "[estimate]\ntimeout_s = 2"))
        started = time.perf_counter()
        code, out, err = cli(capsys, "run", str(suite), "--threads", "1", "--traces", "traces")
        assert code == 0, err
        board = read_results(next((tmp_path / "runs" / name).iterdir()))
        return ([(e["trial_id"], e["checkpoint"], e["estimate"]) for e in board["estimates"]
                 if e["estimator"] == "original"], board, time.perf_counter() - started)

    alone, _, _ = original_rows("alone", ("original",))
    beside, board, seconds = original_rows("beside", ("sleeper", "vandal", "original", "stringy"))
    assert beside == alone and len(alone) == 3
    assert seconds < 120  # three fits of 2 s time out; nothing waits for ever
    failures = {e["estimator"]: e for e in board["estimates"] if e["estimator"] != "original"}
    assert set(failures) == {"sleeper", "vandal", "stringy"}
    assert all(e["estimate"] is None for e in board["estimates"] if e["estimator"] != "original")
    assert "timed out after 2 s" in json.dumps(board["failures"])


def test_a_worker_whose_parent_is_killed_ends_without_a_traceback(tmp_path):
    """kill -9 of the scoring process mid-run: its estimator workers see the pipe reset and end quietly
    (they printed a ConnectionResetError traceback into the terminal before)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import os, signal, sys; sys.path.insert(0, sys.argv[1]); "
            "from fhbench.estimators.worker import EstimatorWorker; from misbehaving_estimators import LastAccuracy; "
            "import time; worker = EstimatorWorker('last', LastAccuracy(), timeout_s=30); worker.call(('fresh',)); "
            # a reply left unread when the parent dies: the worker's side of the pipe is reset, not closed
            "worker._conn.send(('fresh',)); time.sleep(1); "
            "print('started', flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == -9 and "started" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
