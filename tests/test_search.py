"""Search on recorded traces (replay) and live, regret, the search leaderboard, and their errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import run_cli
from fhbench.estimators import create_estimator
from fhbench.pipeline import load_suite_splits, load_traces, make_space, open_store, record_suite, search_and_publish
from fhbench.record import plan_trials
from fhbench.search.live import LiveBackend, live_search
from fhbench.search.replay import estimate_table, replay
from fhbench.search.run import build_pool, make_algorithm, search_budgets
from fhbench.suite import load_suite

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


def test_replay_and_live_make_the_same_decisions(recorded):
    _, suite, store = recorded
    traces = load_traces(suite, store)
    space = make_space(suite)
    pool = build_pool([t.config for t in traces], space)
    epoch_times = torch.tensor([list(t.curve("epoch_time")) for t in traces]).numpy()
    splits = load_suite_splits(suite, None)
    for estimator_name in ("original", "fh-ensemble"):
        table = estimate_table(estimator_name, create_estimator(estimator_name, suite.estimator_settings.get(
            estimator_name)), traces, search_budgets(suite))
        for algorithm in ("random", "hyperband", "bohb"):
            replayed = replay(make_algorithm(algorithm, pool, suite, seed=1, max_iterations=1), table,
                              epoch_times, 1, math.inf, estimator=estimator_name, seed=1)
            backend = LiveBackend(suite, space, splits, plan_trials(suite, space), torch.device("cpu"))
            live = live_search(make_algorithm(algorithm, pool, suite, seed=1, max_iterations=1), backend,
                               create_estimator(estimator_name, suite.estimator_settings.get(estimator_name)),
                               estimator_name=estimator_name, seed=1)
            decisions = [(j["config"], j["budget"], j["score"]) for j in replayed.jobs]
            assert decisions == [(j["config"], j["budget"], j["score"]) for j in live.jobs], algorithm
            assert replayed.incumbent == live.incumbent and len(decisions) > 3
            if algorithm == "hyperband":  # promoted configs continued instead of restarting
                assert backend.epochs_trained < sum(budget for _, budget, _ in decisions)


def test_search_leaderboard_is_reproducible_and_fair(recorded):
    tmp, suite, store = recorded
    out, rows = search_and_publish(suite, store, tmp / "lb")
    results = json.loads((out / "results.json").read_text())
    assert {(r.algorithm, r.estimator) for r in rows} == {
        (a, e) for a in ("random", "hyperband", "bohb") for e in ("original", "fh-ensemble")}
    budget = results["time_budget_s"]
    assert all(run["simulated_time_s"] <= budget for run in results["runs"])  # the same total time for all
    assert all(run["configs_evaluated"] == 4 for run in results["runs"] if run["algorithm"] == "random")
    optimum = results["truth"]["optimum"]
    assert optimum == max(results["pool_truth"])
    for row in rows:
        assert row.regret_mean == pytest.approx(optimum - row.true_acc_mean)
        assert row.regret_mean >= 0
    assert {p.name for p in out.iterdir()} == {"results.json", "leaderboard.csv", "leaderboard.md", "regret.png"}
    first = (out / "leaderboard.csv").read_text()
    search_and_publish(suite, store, tmp / "lb")  # the cached estimate tables give the same searches
    assert (out / "leaderboard.csv").read_text() == first
    same = run_cli("compare", str(out), str(out), cwd=tmp)
    assert same.returncode == 0, same.stdout


def _fails(tmp, suite_path, *fragments):
    result = run_cli("search", str(suite_path), "--traces", str(tmp / "traces"), cwd=tmp)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_clear_errors(recorded, tmp_path):
    tmp, suite, store = recorded
    _fails(tmp_path, write(tmp_path, "unknownalgo", algorithms='["random", "annealing"]'),
           "search.algorithms", "annealing")
    small = write(tmp_path, "small", num_samples=5)
    record = run_cli("record", str(small), "--traces", str(tmp_path / "traces"), cwd=tmp_path)
    assert record.returncode == 0, record.stderr
    _fails(tmp_path, small, "hyperband", "5", "num_samples")
    table = tmp_path / "truth.csv"
    cell = load_traces(suite, store)[0].config
    table.write_text(f"cell,accuracy\n{cell},0.9\n")
    lacking = write(tmp_path, "tinysearch", extra=f'truth = "table"\ntruth_table = "{table}"')
    _fails(tmp, lacking, "lacks the sampled cell")


def test_live_search_from_the_command_line(recorded):
    tmp, suite, _ = recorded
    result = run_cli("search", suite.path, "--live", "--algorithm", "random", "--estimator", "original",
                     "--seed", "2", "--threads", "1", "--leaderboard", str(tmp / "live-lb"), cwd=tmp)
    assert result.returncode == 0, result.stderr
    out = json.loads((tmp / "live-lb" / "tinysearch" / "live" / "random-original-seed2.json").read_text())
    assert len(out["jobs"]) == 4 and all(job["budget"] == 8 for job in out["jobs"])
    best = max(out["jobs"], key=lambda job: (job["score"], -job["config"]))
    assert out["incumbent"] == out["pool"][best["config"]] and out["incumbent"] in result.stdout


def test_nas_bench_201_truth_tables():
    from fhbench.errors import FhbenchError
    from fhbench.search.truth import nb201_api, nb201_table

    table = nb201_table()
    assert len(table.accuracies) == 15625 and "cifar10-valid" in table.source
    cell, optimum = table.optimum()
    # NAS-Bench-201's best cifar10-valid validation accuracy after 200 epochs is 91.61% (its paper).
    assert cell == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    assert optimum == pytest.approx(0.9161, abs=5e-4)
    assert table.accuracy("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|") < 0.11
    with pytest.raises(FhbenchError, match="nas-bench-201|no NAS-Bench-201 benchmark file"):
        nb201_api("/nonexistent/NAS-Bench-201-v1_1-096897.pth")


def test_an_estimation_suite_can_take_the_nas_bench_201_table_as_truth(recorded, tmp_path):
    from fhbench.pipeline import score_suite
    from fhbench.search.truth import nb201_table

    tmp, suite, store = recorded
    path = write(tmp_path)
    path.write_text(path.read_text().replace('estimators = ["original"]',
                                             'estimators = ["original"]\ntruth = "nb201-table"'))
    table_suite = load_suite(path)
    assert table_suite.record_hash == suite.record_hash  # the same traces
    out, rows = score_suite(table_suite, store, tmp_path / "lb")
    truths = json.loads((out / "results.json").read_text())["truths"]
    table = nb201_table()
    assert truths == {t.trial_id: pytest.approx(table.accuracy(t.config)) for t in load_traces(suite, store)}
