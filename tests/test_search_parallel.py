"""A live search on W = 2 Ray workers (a real local Ray instance of 2 CPUs, a tiny digits space).

Its decisions are those of the driver's clock: replaying the costs and estimates it measured, with the
same W, through the synchronous driver gives back every job, start and finish. Where the order of
completions does not matter (random search, HyperBand's synchronous rungs) it also finds what the
one-worker search in this process finds, estimate for estimate (both train at 1 thread). Marked slow,
but for the one-line errors of bad worker flags (Ray never starts).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections import defaultdict

import pytest
import torch

from conftest import assert_one_line_error, cli, ray_tmpdir_set, run_cli
from fhbench.runtime.ray import Execution
from fhbench.search.driver import JobOutcome, run_search
from fhbench.search.backends.live import LiveBackend, live_search
from fhbench.spaces import suite_space
from test_search import write

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed"),
              pytest.mark.usefixtures("ray_tmpdir")]  # conftest: Ray's session folder, the test's own


class _MeasuredOutcomes:
    """A synchronous backend answering each job with the outcome a live search measured for it: the
    job must be the very one the live search ran under that id (same config, budget and parent)."""

    def __init__(self, estimator: str, jobs: list[dict]):
        self.estimator = estimator
        self.jobs = {j["job_id"]: j for j in jobs}

    def run(self, job, start):
        live = self.jobs.get(job.job_id)
        assert live is not None and (live["config"], live["budget"], live["parent"]) == \
            (job.config, job.budget, job.parent), f"job {job.job_id} differs from the live search's"
        return JobOutcome(live["score"], live["cost_s"], live["overhead_s"], live["epochs"], live["error"])


def _decisions(run) -> list[tuple]:
    return [(j["job_id"], j["config"], j["budget"], j["parent"], j["score"], j["start_s"], j["finish_s"])
            for j in run.jobs]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import ray

    from fhbench.engine.pipeline import load_suite_splits
    from fhbench.search.pool import search_pool
    from fhbench.inputs.suite import load_suite

    tmp = tmp_path_factory.mktemp("parallel-search")
    suite = load_suite(write(tmp))
    with ray_tmpdir_set():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            yield tmp, suite, suite_space(suite), search_pool(suite, suite_space(suite)), load_suite_splits(suite, None)
        finally:
            ray.shutdown()


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
@pytest.mark.parametrize("algorithm", ["random", "hyperband", "bohb"])
def test_two_ray_workers_decide_as_their_replay_does(tiny, algorithm):
    from fhbench.estimators import create_estimator
    from fhbench.search.backends.ray import RayLiveBackend
    from fhbench.search.run import make_algorithm

    _, suite, space, pool, splits = tiny
    settings = suite.estimator_settings.get("fh-ensemble", {})
    torch.set_num_threads(1)
    with RayLiveBackend(suite, splits, pool, estimator="fh-ensemble", settings=settings, sealed_paths=(),
                        execution=Execution(workers=2), workers=2, device_type="cpu",
                        cuda_available=False) as backend:
        parallel = live_search(make_algorithm(algorithm, pool.configs, suite, seed=1, max_iterations=1), backend,
                               seed=1, workers=2)
        workers_used = set(backend._worker_of.values())
    assert workers_used == {0, 1}
    starts = sorted(j["start_s"] for j in parallel.jobs)
    finishes = sorted(j["finish_s"] for j in parallel.jobs)
    assert starts[1] < finishes[0]  # two jobs ran at once on the clock
    assert len(parallel.jobs) > 3 and parallel.failed_jobs == 0

    replayed = run_search(make_algorithm(algorithm, pool.configs, suite, seed=1, max_iterations=1),
                          _MeasuredOutcomes("fh-ensemble", parallel.jobs), workers=2, time_budget_s=math.inf, seed=1)
    assert _decisions(replayed) == _decisions(parallel)
    assert replayed.incumbent == parallel.incumbent

    if algorithm in ("random", "hyperband"):  # the order of completions does not change these
        serial = live_search(make_algorithm(algorithm, pool.configs, suite, seed=1, max_iterations=1),
                             LiveBackend(suite, space, splits, pool, torch.device("cpu"), "fh-ensemble",
                                         create_estimator("fh-ensemble", settings)), seed=1, workers=1)

        def found(run):
            return sorted((j["config"], j["budget"], j["score"]) for j in run.jobs)

        assert found(serial) == found(parallel)
        assert serial.incumbent == parallel.incumbent


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_promotions_continue_on_the_worker_that_holds_their_run(tiny):
    from fhbench.estimators import create_estimator  # noqa: F401  (the workers create their own)
    from fhbench.search.backends.ray import RayLiveBackend
    from fhbench.search.run import make_algorithm

    _, suite, _, pool, splits = tiny
    with RayLiveBackend(suite, splits, pool, estimator="original", settings={}, sealed_paths=(),
                        execution=Execution(workers=2), workers=2, device_type="cpu",
                        cuda_available=False) as backend:
        run = live_search(make_algorithm("hyperband", pool.configs, suite, seed=3, max_iterations=1), backend,
                          seed=3, workers=2)
        worker_of = dict(backend._worker_of)
        epochs_trained = backend.epochs_trained
    promoted = [j for j in run.jobs if j["parent"] is not None]
    assert promoted
    for job in promoted:
        assert worker_of[job["job_id"]] == worker_of[job["parent"]]
    budget_of = {j["job_id"]: j["budget"] for j in run.jobs}
    added = sum(j["budget"] - budget_of.get(j["parent"], 0) for j in run.jobs)
    assert epochs_trained == added < sum(j["budget"] for j in run.jobs)  # continued, not restarted


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_ray_workers_of_a_declared_search_write_its_traces(tiny):
    """The workers write every run they train into the store (opened by its absolute path), each job
    carrying its trial: the candidates registered on the driver after the workers started."""
    from fhbench.search.backends.ray import RayLiveBackend
    from fhbench.search.run import make_algorithm
    from fhbench.search.space import DeclaredSpace
    from fhbench.search.trials import DeclaredTrials, declared_trial
    from fhbench.record.store import TraceStore
    from fhbench.record.trace import TrialTrace

    tmp, suite, space, _, splits = tiny

    class Pool:
        def __init__(self, declared):
            self.configs, self.trials = declared, DeclaredTrials(declared, suite)

    declared = DeclaredSpace(space)
    store = TraceStore(tmp / "declared-store")
    with RayLiveBackend(suite, splits, Pool(declared), estimator="original", settings={}, sealed_paths=(),
                        execution=Execution(workers=2), workers=2, device_type="cpu", cuda_available=False,
                        store=store, space=space) as backend:
        run = live_search(make_algorithm("hyperband", declared, suite, seed=3, max_iterations=1), backend,
                          seed=3, workers=2)
        assert backend.furthest_run(run.incumbent)["epochs"] >= 1
    furthest = defaultdict(int)
    for job in run.jobs:
        trial_id = declared_trial(suite, declared.config(job["config"])).trial_id
        furthest[trial_id] = max(furthest[trial_id], job["epochs"])
    assert set(store.trial_ids()) == set(furthest) and len(furthest) > 3
    for trial_id, epochs in furthest.items():
        trace = TrialTrace(store.root / trial_id)
        trace.verify()
        assert trace.epochs_completed == epochs
        assert trace.status == ("complete" if epochs == suite.train.epochs else "stopped")


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_a_worker_that_dies_stops_the_search_with_one_line(tiny):
    import ray

    from fhbench.core.errors import FhbenchError
    from fhbench.search.algorithms import Job
    from fhbench.search.backends.ray import RayLiveBackend

    _, suite, _, pool, splits = tiny
    with RayLiveBackend(suite, splits, pool, estimator="original", settings={}, sealed_paths=(),
                        execution=Execution(workers=2), workers=2, device_type="cpu",
                        cuda_available=False) as backend:
        backend.submit(Job(job_id=0, config=0, budget=8, bracket=0, rung=0), 0)
        ray.kill(backend._actors[0])
        with pytest.raises(FhbenchError, match=r"worker 0 failed running job 0 \(config 0, budget 8\): its "
                                               r"worker process died; the search stops"):
            while True:
                backend.wait()


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_live_search_with_workers_from_the_command_line(tmp_path):
    suite = write(tmp_path)
    result = run_cli("search", str(suite), "--live", "--algorithm", "hyperband", "--estimator", "original",
                     "--workers", "2", "--leaderboard", "lb", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    out = json.loads((tmp_path / "lb" / "tinysearch" / "live" / "hyperband-original-seed0" / "results.json")
                     .read_text())
    assert out["workers"] == 2 and out["kind"] == "live" and out["jobs"]
    by_start = defaultdict(int)
    for job in out["jobs"]:
        by_start[job["start_s"]] += 1
    assert by_start[0.0] == 2  # both workers started at once
    assert out["winner"]["cell"] == out["incumbent"]


def test_replay_refuses_workers_and_live_checks_them(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = str(write(tmp_path))
    assert_one_line_error(cli(capsys, "search", suite, "--workers", "2"), "a replay trains nothing")
    assert_one_line_error(cli(capsys, "search", suite, "--live", "--workers", "0"), "--workers")
    assert_one_line_error(cli(capsys, "search", suite, "--live", "--workers", "2", "--device", "cpu",
                              "--gpus-per-trial", "0.5"), "--gpus-per-trial 0.5 with --device cpu")


@pytest.mark.slow
@pytest.mark.serial  # starts Ray
def test_a_killed_live_search_driver_leaves_nothing_running_after_a_rerun(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from test_end_to_end import _descendants, _still_running

    suite = write(tmp_path)
    command = [sys.executable, "-m", "fhbench.cli", "search", str(suite), "--live", "--workers", "2",
               "--algorithm", "random", "--estimator", "original", "--leaderboard", "lb"]
    process = subprocess.Popen(command + ["--iterations", "1"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    root, store, ray_processes = tmp_path / "traces" / "tinysearch", None, {}
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        store = next(root.glob("*"), None) if root.exists() else None
        if store and (store / ".ray-run.json").exists():
            time.sleep(1.0)  # the workers are up and training
            ray_processes = _descendants(process.pid)
            break
        time.sleep(0.02)
    assert process.poll() is None, "the search finished before its driver could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    record = json.loads((store / ".ray-run.json").read_text())
    assert record["driver_pid"] == process.pid and record["kind"] == "live search" and ray_processes
    assert not (tmp_path / "lb").exists()  # nothing half-published

    result = run_cli(*command[3:], cwd=tmp_path, timeout=600)  # the same command again
    assert result.returncode == 0, result.stderr
    assert f"driver pid {process.pid}" in result.stdout
    assert not (store / ".ray-run.json").exists()
    left = [pid for pid, started in ray_processes.items() if _still_running(pid, started)]
    assert left == [], f"processes of the killed search's Ray instance still run: {left}"
