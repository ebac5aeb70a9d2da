"""Search end to end on a tiny recorded suite: live == replay, the published leaderboard reproduces from its
own files, and the live search from the command line. These train networks (marked slow; skip them with
`-m "not slow"`). The driver, clock, cost model, cache and reproduction are tested on synthetic pools in
test_search_replay.py."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import run_cli
from fhbench.core.errors import FhbenchError
from fhbench.estimators import create_estimator
from fhbench.engine.pipeline import load_suite_splits, load_traces, open_store, record_suite, search_and_publish
from fhbench.search.algorithms import ConfigPool
from fhbench.search.backends.live import LiveBackend, live_search
from fhbench.search.pool import search_pool
from fhbench.search.backends.replay import EpochTimes, estimate_table, replay
from fhbench.search.run import make_algorithm, search_budgets
from fhbench.inputs.suite import load_suite
from fhbench.spaces import suite_space

SEARCH_SUITE = """
name = "{name}"
version = "1"
description = "tiny search suite"

[space]
channels = 4
cells_per_stage = 1
num_samples = {num_samples}
sample_seed = 3

[data]
dataset = "digits"
train_size = 300
val_size = 100
test_size = 100
augment = "none"

[train]
epochs = 8
batch_size = 64

[record]
window = 2

[estimate]
checkpoints = [1, 2, 4, 8]
repeats = 1
estimators = ["original"]

[estimators.fh-ensemble]
window = 2

[estimators.lcnet]
num_steps = 300
burn_in_steps = 100
keep_every = 20

[search]
algorithms = {algorithms}
estimators = ["original", "fh-ensemble"]
workers = 2
seeds = 3
random_configs = 4
{extra}
"""


def write(directory, name="tinysearch", num_samples=10, algorithms='["random", "hyperband", "bohb"]', extra=""):
    path = directory / f"{name}.toml"
    path.write_text(SEARCH_SUITE.format(name=name, num_samples=num_samples, algorithms=algorithms, extra=extra))
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    suite = load_suite(write(tmp))
    store = open_store(suite, tmp / "traces")
    record_suite(suite, store, data_dir=None, device=torch.device("cpu"), report=lambda message: None)
    return tmp, suite, store


@pytest.mark.slow
def test_replay_and_live_make_the_same_decisions(recorded):
    _, suite, store = recorded
    space = suite_space(suite)
    pool = search_pool(suite, space)
    traces = pool.match(load_traces(suite, store))
    times = EpochTimes.from_traces(traces)
    splits = load_suite_splits(suite, None)
    for estimator_name in ("original", "fh-ensemble"):
        settings = suite.estimator_settings.get(estimator_name)
        table = estimate_table(estimator_name, create_estimator(estimator_name, settings), traces, search_budgets(suite))
        for algorithm in ("random", "hyperband", "bohb"):
            replayed = replay(make_algorithm(algorithm, pool.configs, suite, seed=1, max_iterations=1), table,
                              times, 1, math.inf, seed=1)
            backend = LiveBackend(suite, space, splits, pool, torch.device("cpu"), estimator_name,
                                  create_estimator(estimator_name, settings))
            live = live_search(make_algorithm(algorithm, pool.configs, suite, seed=1, max_iterations=1), backend,
                               seed=1)
            decisions = [(j["config"], j["budget"], j["parent"], j["score"]) for j in replayed.jobs]
            assert decisions == [(j["config"], j["budget"], j["parent"], j["score"]) for j in live.jobs], algorithm
            assert replayed.incumbent == live.incumbent and len(decisions) > 3
            if algorithm != "random":  # promoted configs continued instead of restarting
                budget_of = {j["job_id"]: j["budget"] for j in replayed.jobs}
                added = sum(j["budget"] - budget_of.get(j["parent"], 0) for j in replayed.jobs)
                assert backend.epochs_trained == added < sum(j["budget"] for j in replayed.jobs)


@pytest.mark.slow
def test_the_search_leaderboard_reproduces_from_its_published_files(recorded):
    from fhbench.publish.reproduce import reproduce_published

    tmp, suite, store = recorded
    out, rows = search_and_publish(suite, store, tmp / "lb")
    assert {(r.algorithm, r.estimator) for r in rows} == {
        (a, e) for a in ("random", "hyperband", "bohb") for e in ("original", "fh-ensemble")}
    assert {p.name for p in out.iterdir()} == {"SHA256SUMS", "results.json", "estimates.json", "leaderboard.csv",
                                               "leaderboard.md", "regret.png"}
    assert reproduce_published(out) == []
    first = (out / "leaderboard.csv").read_text()
    steps = []
    search_and_publish(suite, store, tmp / "lb", on_step=steps.append)  # the cached estimate tables
    assert (out / "leaderboard.csv").read_text() == first
    assert not [s for s in steps if " at budget " in s]  # nothing was estimated again
    same = run_cli("compare", str(out), str(out), cwd=tmp)
    assert same.returncode == 0, same.stdout


@pytest.mark.slow
def test_an_estimator_that_never_returns_fails_its_jobs_and_the_searches_end(recorded):
    """Replay and live searches run the estimator in a worker process under the suite's timeout_s, as
    scoring does: a fit that sleeps for ever is a failed estimate saying so, and the search goes on."""
    import dataclasses
    import time

    from misbehaving_estimators import Sleeper

    _, suite, store = recorded
    suite = dataclasses.replace(suite, estimate=dataclasses.replace(suite.estimate, timeout_s=2, isolate=True))
    space = suite_space(suite)
    pool = search_pool(suite, space)
    traces = pool.match(load_traces(suite, store))
    started = time.perf_counter()
    table = estimate_table("sleeper", Sleeper(), traces, search_budgets(suite), isolate=True, timeout_s=2)
    assert time.perf_counter() - started < 120
    assert table.failures and all("fit: timed out after 2 s" in error for _, _, error in table.failures)
    assert len(table.failures) == sum(t.epochs_completed >= b for t in traces for b in search_budgets(suite))

    with LiveBackend(suite, space, load_suite_splits(suite, None), pool, torch.device("cpu"), "sleeper",
                     Sleeper()) as backend:
        live = live_search(make_algorithm("random", pool.configs, suite, seed=1, max_iterations=1), backend, seed=1)
    assert live.jobs and all(job["score"] is None for job in live.jobs)


def test_a_pool_too_small_for_hyperband_is_one_line(tmp_path):
    pool = ConfigPool(torch.zeros((5, 6), dtype=torch.int64).numpy(), (5,) * 6)
    suite = load_suite(write(tmp_path, num_samples=10))
    with pytest.raises(FhbenchError, match=r"n=8 distinct configs but the pool has only 5.*num_samples"):
        make_algorithm("hyperband", pool, suite, seed=0)


@pytest.mark.slow
def test_live_search_from_the_command_line(recorded):
    tmp, suite, _ = recorded
    result = run_cli("search", suite.path, "--live", "--algorithm", "random", "--estimator", "original",
                     "--seed", "2", "--threads", "1", "--leaderboard", str(tmp / "live-lb"), cwd=tmp)
    assert result.returncode == 0, result.stderr
    out = json.loads((tmp / "live-lb" / "tinysearch" / "live" / "random-original-seed2" / "results.json").read_text())
    assert out["kind"] == "live" and out["suite"]["name"] == "tinysearch"
    assert len(out["jobs"]) == 4 and all(job["budget"] == 8 for job in out["jobs"])
    best = max(out["jobs"], key=lambda job: (job["score"], -job["config"]))
    assert out["incumbent"] == out["pool"][best["config"]] and out["incumbent"] in result.stdout
    # the winner's accuracy under the suite's truth (its own test accuracy at the full budget), which the
    # recorded trace of the same cell and seed holds too
    _, _, store = recorded
    trace = next(store.open(t) for t in store.trial_ids() if store.open(t).config == out["incumbent"])
    assert f"its accuracy under the truth final_test_acc: {100 * trace.test_curve()[-1]:.2f}%" in result.stdout
    assert f"its validation accuracy after 8 epochs: {100 * trace.curve('val_acc')[-1]:.2f}%" in result.stdout
    assert out["winner"]["true_acc"] == pytest.approx(float(trace.test_curve()[-1]))  # published too
