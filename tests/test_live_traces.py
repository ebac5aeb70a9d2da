"""Traces of live searches and their replay (issue 10, part 5).

A live search with a trace store writes every run it trained as a trace of its trial ("stopped" below
train.epochs, "complete" at it), a longer trace is never replaced by a shorter one, a replacement is
never seen half done; a replay of those traces with the live search's algorithm, seed and estimator
makes its jobs again, and a replay that needs epochs never trained counts them as "not recorded:".
The searches train tiny NAS-Bench-201 networks on 300 digits (a few seconds each on one thread).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

import fhbench.record.format as format_module
import fhbench.record.store as store_module
from fhbench.core.errors import TraceError
from fhbench.estimators import create_estimator
from fhbench.engine.pipeline import load_suite_splits
from fhbench.search.algorithms import Job
from fhbench.search.driver import NOT_RECORDED, run_search
from fhbench.search.backends.live import LiveBackend, live_search
from fhbench.search.backends.replay import EstimateTable, LookupReplayBackend, estimate_table, recorded_traces
from fhbench.search.run import make_algorithm, search_budgets
from fhbench.search.space import DeclaredSpace
from fhbench.search.trials import DeclaredTrials, declared_trial
from fhbench.inputs.suite import load_suite
from fhbench.record.format import STATUSES
from fhbench.record.store import TraceStore
from fhbench.record.trace import TrialTrace
from fhbench.spaces import suite_space

SUITE = """
name = "livetraces"
version = "1"
description = "tiny live search writing traces"

[space]
channels = 4
cells_per_stage = 1
num_samples = 10
sample_seed = 3

[data]
dataset = "digits"
train_size = 300
val_size = 100
test_size = 100
augment = "none"

[train]
epochs = 4
batch_size = 64

[record]
window = 2

[estimate]
checkpoints = [1, 2, 4]
repeats = 1
estimators = ["original"]

[estimators.fh-ensemble]
window = 2

[search]
algorithms = ["random", "hyperband"]
estimators = ["original"]
workers = 1
seeds = 1
random_configs = 3
"""


class _Pool:
    """What the live backend reads of a declared search's candidates."""

    def __init__(self, declared, suite):
        self.configs = declared
        self.trials = DeclaredTrials(declared, suite)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("live-traces")
    (tmp / "livetraces.toml").write_text(SUITE)
    suite = load_suite(tmp / "livetraces.toml")
    return tmp, suite, suite_space(suite), load_suite_splits(suite, None)


def _live(setting, store, algorithm="hyperband", estimator="original", seed=1):
    _, suite, space, splits = setting
    declared = DeclaredSpace(space)
    search = make_algorithm(algorithm, declared, suite, seed=seed, max_iterations=1)
    backend = LiveBackend(suite, space, splits, _Pool(declared, suite), torch.device("cpu"), estimator,
                          create_estimator(estimator, suite.estimator_settings.get(estimator)), store=store)
    return live_search(search, backend, seed=seed), declared, backend


@pytest.fixture(scope="module")
def searched(setting):
    tmp, suite, _, _ = setting
    store = TraceStore(tmp / "store")
    run, declared, backend = _live(setting, store)
    return store, run, declared, backend


def test_a_declared_trial_is_a_function_of_its_config(setting):
    _, suite, space, _ = setting
    text = str(space.sample(np.random.default_rng(0)))
    one, two = declared_trial(suite, text), declared_trial(suite, text)
    assert one == two and one.trial_id.startswith("c-") and len(one.trial_id) == 14
    assert one.budget == suite.train.epochs and (one.repeat, one.index) == (0, 0)
    other = declared_trial(suite, str(space.sample(np.random.default_rng(1))))
    assert other.trial_id != one.trial_id and other.seed != one.seed
    declared = DeclaredSpace(space)
    index = declared.index_of(text)
    trials = DeclaredTrials(declared, suite)
    assert trials[index] is trials[index] and trials[index] == one and len(trials) == 1
    with pytest.raises(IndexError):
        trials[1]


@pytest.mark.slow  # on the module's live search, which trains
def test_a_live_search_writes_one_trace_per_trial_it_trained(setting, searched):
    _, suite, _, _ = setting
    store, run, declared, backend = searched
    furthest = {}
    for job in run.jobs:
        trial = declared_trial(suite, declared.config(job["config"]))
        furthest[trial.trial_id] = max(furthest.get(trial.trial_id, 0), job["epochs"])
    assert set(store.trial_ids()) == set(furthest) and len(furthest) > 3
    statuses = set()
    for trial_id, epochs in furthest.items():
        trace = TrialTrace(store.root / trial_id)
        trace.verify()
        assert trace.epochs_completed == epochs and trace.budget == suite.train.epochs
        assert trace.status == ("complete" if epochs == suite.train.epochs else "stopped")
        statuses.add(trace.status)
        assert trace.manifest["suite"] == suite.name and trace.manifest["conditions"]["device"] == "cpu"
        assert trace.feature_epochs == tuple(e for e in suite.kept_epochs() if e <= epochs)
        assert np.isfinite(trace.test_curve()[epochs - 1])  # the truth's side, at the checkpoint reached
        view = trace.view(epochs)
        assert view.kept_epochs and view.features(view.kept_epochs[-1], "val").shape[0] == 100
    assert statuses == {"stopped", "complete"}  # HyperBand stops most runs early
    assert "stopped" in STATUSES
    assert not [p for p in (store.root / ".partial").iterdir() if not p.name.startswith(".")]


@pytest.mark.slow  # trains: on the module's live search, or on one of its own
@pytest.mark.parametrize("algorithm, estimator", [("hyperband", "original"), ("bohb", "fh-ensemble"),
                                                   ("random", "fh-ensemble")])
def test_the_replay_of_a_live_search_makes_its_jobs_again(setting, searched, tmp_path, algorithm, estimator):
    _, suite, space, _ = setting
    if (algorithm, estimator) == ("hyperband", "original"):
        store, live, live_declared, _ = searched
    else:
        store = TraceStore(tmp_path / "store")
        live, live_declared, _ = _live(setting, store, algorithm, estimator, seed=2)
    traces = recorded_traces(store, prefix="c-")
    settings = suite.estimator_settings.get(estimator)
    table = estimate_table(estimator, create_estimator(estimator, settings), traces, search_budgets(suite))
    declared = DeclaredSpace(space)
    backend = LookupReplayBackend.from_traces(table, traces, DeclaredTrials(declared, suite).__getitem__)
    replayed = run_search(make_algorithm(algorithm, declared, suite, seed=2 if estimator != "original" else 1,
                                         max_iterations=1), backend,
                          workers=1, time_budget_s=math.inf, seed=1)
    assert len(replayed.jobs) >= 3

    def decisions(run, candidates):
        return [(candidates.config(j["config"]), j["budget"], j["parent"], j["score"], j["epochs"]) for j in run.jobs]

    assert decisions(replayed, declared) == decisions(live, live_declared)
    assert declared.config(replayed.incumbent) == live_declared.config(live.incumbent)
    assert replayed.unrecorded_jobs == 0 and live.unrecorded_jobs == 0
    for mine, theirs in zip(replayed.jobs, live.jobs):  # the recorded times: the same costs but the overhead
        assert mine["cost_s"] - mine["overhead_s"] == pytest.approx(theirs["cost_s"] - theirs["overhead_s"])


@pytest.mark.slow  # on the module's live search, which trains
def test_a_replay_needing_unrecorded_epochs_counts_them(setting, searched):
    _, suite, space, _ = setting
    store, live, live_declared, _ = searched
    traces = recorded_traces(store, prefix="c-")
    table = estimate_table("original", create_estimator("original"), traces, search_budgets(suite))
    # another estimator: one ranking the runs the other way round promotes what the live search stopped
    reversed_table = EstimateTable("reversed", table.budgets, 1.0 - table.values, table.overhead_s)
    declared = DeclaredSpace(space)
    backend = LookupReplayBackend.from_traces(reversed_table, traces, DeclaredTrials(declared, suite).__getitem__)
    replayed = run_search(make_algorithm("hyperband", declared, suite, seed=1, max_iterations=1), backend,
                          workers=1, time_budget_s=math.inf, seed=1)
    unrecorded = [j for j in replayed.jobs if j["error"] and j["error"].startswith(NOT_RECORDED)]
    assert replayed.unrecorded_jobs == len(unrecorded) > 0
    by_id = {t.trial_id: t for t in traces}
    for job in unrecorded:
        trace = by_id[declared_trial(suite, declared.config(job["config"])).trial_id]
        assert job["score"] is None and trace.epochs_completed < job["budget"] and job["cost_s"] > 0
        assert "stopped at epoch" in job["error"]
    recorded = [j for j in replayed.jobs if not j["error"]]
    assert recorded and all(j["score"] is not None for j in recorded)
    # another seed draws configurations the live search never trained
    declared7 = DeclaredSpace(space)
    backend7 = LookupReplayBackend.from_traces(table, traces, DeclaredTrials(declared7, suite).__getitem__)
    run7 = run_search(make_algorithm("hyperband", declared7, suite, seed=7, max_iterations=1), backend7,
                      workers=1, time_budget_s=math.inf, seed=7)
    never = [j for j in run7.jobs if j["error"] and "never trained" in j["error"]]
    assert never and run7.unrecorded_jobs >= len(never)
    mean = backend7.mean_epoch_s
    for job in never:
        assert job["error"].startswith(NOT_RECORDED) and job["epochs"] == job["budget"]
        start = 0 if job["parent"] is None else next(j["budget"] for j in run7.jobs if j["job_id"] == job["parent"])
        assert job["cost_s"] == pytest.approx(mean * (job["budget"] - start))


def test_a_shorter_run_never_replaces_a_longer_trace(setting, tmp_path):
    _, suite, space, splits = setting
    store = TraceStore(tmp_path / "store")
    declared = DeclaredSpace(space)
    config = declared.draw(np.random.default_rng(5), ())
    estimator = create_estimator("original")

    def backend():
        return LiveBackend(suite, space, splits, _Pool(declared, suite), torch.device("cpu"), "original", estimator,
                           store=store)

    first = backend()
    first.run(Job(0, config, 2, 0, 0), 0)
    trial_id = first.pool.trials[config].trial_id
    assert store.open(trial_id).status == "stopped" and store.open(trial_id).epochs_completed == 2
    first.run(Job(1, config, 4, 0, 1, parent=0), 2)  # the promotion continues the run: its trace grows
    longer = store.open(trial_id)
    assert longer.status == "complete" and longer.epochs_completed == 4 and first.traces_written == 2
    manifest = (store.root / trial_id / "manifest.json").read_bytes()
    again = backend()  # a later search trains the same config less far
    again.run(Job(0, config, 1, 0, 0), 0)
    assert again.traces_written == 0 and (store.root / trial_id / "manifest.json").read_bytes() == manifest
    store.open(trial_id).verify()


def _write(store, trial_id, epochs, budget=4, status=None):
    """A small synthetic trace of `epochs` epochs (features kept for every epoch)."""
    writer = store.writer(trial_id, {"config": "x", "config_vector": [0.0], "repeat": 0, "index": 0, "seed": 1,
                                     "budget": budget}, unique=True)
    writer.queue_size = 0
    rng = np.random.default_rng(epochs)
    for epoch in range(1, epochs + 1):
        writer.write_features(epoch, rng.normal(size=(6, 3)).astype(np.float16),
                              rng.normal(size=(5, 3)).astype(np.float16))
    curves = {name: rng.uniform(0.1, 1.0, epochs) for name in
              format_module.CURVES + format_module.TIMINGS + format_module.TEST_CURVES}
    try:
        writer.finish(status=status or ("complete" if epochs == budget else "stopped"), curves=curves,
                      labels={"train": np.zeros(6, np.int64), "train_index": np.arange(6),
                              "val": np.zeros(5, np.int64)},
                      classifier_w=rng.normal(size=(epochs, 2, 3)), classifier_b=rng.normal(size=(epochs, 2)),
                      keep_longer=True)
    finally:
        writer.close()
    return writer.published


def _check_whole(root, trial_id, epochs):
    store = TraceStore(root)  # a fresh reader, as after a restart: the recovery rule runs on opening
    assert store.has(trial_id)
    trace = store.open(trial_id)
    trace.verify()
    assert trace.epochs_completed == epochs and len(trace.curve("val_acc")) == epochs
    assert trace.feature_epochs == tuple(range(1, epochs + 1))


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_kill_while_replacing_a_trace_leaves_a_whole_one(tmp_path, monkeypatch, exchange):
    root = tmp_path / "store"
    store = TraceStore(root)
    assert _write(store, "c-000000000001", 2)
    if not exchange:
        monkeypatch.setattr(store_module, "exchange", lambda a, b: False)
    # killed after the new trial is staged, before anything is renamed: the old trace stays
    real_replace = os.replace

    class Killed(BaseException):
        pass

    def kill_at(n):
        calls = []

        def replace(src, dst):
            calls.append((src, dst))
            if len(calls) == n:
                raise Killed
            return real_replace(src, dst)
        return replace

    monkeypatch.setattr(store_module.TraceStore, "publish",
                        lambda self, *a, **k: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        _write(store, "c-000000000001", 3)
    monkeypatch.undo()
    if not exchange:
        monkeypatch.setattr(store_module, "exchange", lambda a, b: False)
    _check_whole(root, "c-000000000001", 2)
    if not exchange:
        # killed between moving the old trace aside and moving the new one in: the old comes back
        monkeypatch.setattr(store_module.os, "replace", kill_at(2))
        with pytest.raises(Killed):
            _write(store, "c-000000000001", 3)
        monkeypatch.setattr(store_module.os, "replace", real_replace)
        assert not (root / "c-000000000001").exists()  # what a killed process leaves...
        _check_whole(root, "c-000000000001", 2)  # ...is undone by the next reader
        assert not list((root / ".partial").glob("*.replaced"))
    # killed after the new trace is in place, before the old one is deleted: the new one reads whole
    real_rmtree = store_module.shutil.rmtree
    monkeypatch.setattr(store_module.shutil, "rmtree", lambda *a, **k: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        _write(store, "c-000000000001", 3)
    monkeypatch.setattr(store_module.shutil, "rmtree", real_rmtree)
    _check_whole(root, "c-000000000001", 3)
    # and a longer trace is kept against a shorter or equal one
    assert not _write(TraceStore(root), "c-000000000001", 3) and not _write(TraceStore(root), "c-000000000001", 1)
    _check_whole(root, "c-000000000001", 3)
    assert _write(TraceStore(root), "c-000000000001", 4)
    _check_whole(root, "c-000000000001", 4)
    assert TraceStore(root).open("c-000000000001").status == "complete"


def test_a_stopped_trace_must_stop_before_its_budget(tmp_path):
    store = TraceStore(tmp_path)
    _write(store, "c-000000000002", 4, status="stopped")
    with pytest.raises(TraceError, match="do not fit status 'stopped'"):
        TrialTrace(tmp_path / "c-000000000002")
    manifest = json.loads((tmp_path / "c-000000000002" / "manifest.json").read_text())
    assert manifest["status"] == "stopped"
