"""The search driver, its clock and cost model, the estimate cache, publishing and reproducing a search
leaderboard: on small synthetic pools written in the real trace format (no network is trained)."""

from __future__ import annotations

import json
from pathlib import Path
import math

import numpy as np
import pytest

from fhbench.core.errors import FhbenchError
from fhbench.search.algorithms import ConfigPool, HyperBand, Job, RandomSearch, SearchAlgorithm
from fhbench.search.cost import job_cost
from fhbench.search.driver import JobOutcome, run_search
from fhbench.search.backends.replay import EpochTimes, EstimateTable, ReplayBackend, replay
from fhbench.spaces import suite_space

# -- the cost model and the clock, by hand ------------------------------------------------------------


def test_job_cost_is_the_added_epochs_plus_the_estimate():
    epoch_time = np.array([1.0, 2.0, 4.0, 8.0])
    val_time = np.array([0.5, 0.25, 0.125, 0.0625])
    assert job_cost(epoch_time, val_time, 0, 1, 0.0) == 1.5
    # a promoted job from budget 1 to 4 pays epochs 2..4 only, then its estimate
    assert job_cost(epoch_time, val_time, 1, 4, 0.3) == pytest.approx(2 + 4 + 8 + 0.25 + 0.125 + 0.0625 + 0.3)
    assert job_cost(epoch_time, val_time, 2, 2, 0.0) == 0.0  # trains nothing (a diverged lineage)
    with pytest.raises(ValueError):
        job_cost(epoch_time, val_time, 3, 5, 0.0)  # epoch 5 was never recorded
    with pytest.raises(ValueError):
        job_cost(np.zeros(4), np.zeros(4), 0, 2, 0.0)  # trains at no cost: the clock would not move
    with pytest.raises(ValueError):
        job_cost(epoch_time, val_time, 0, 1, math.nan)


class Scripted(SearchAlgorithm):
    """Proposes the given configs at the maximal budget, in order."""

    name = "scripted"

    def __init__(self, pool, max_budget, configs):
        super().__init__(pool, max_budget)
        self._configs = list(configs)
        self._proposed = 0

    def propose(self):
        if self._proposed == len(self._configs):
            return None
        self._proposed += 1
        return self._issue(self._configs[self._proposed - 1], self.max_budget, 0, 0)

    @property
    def done(self):
        return self._proposed == len(self._configs) and not self._pending

    def _on_result(self, job, score):
        pass


POOL3 = ConfigPool(np.array([[0], [1], [2]]), (3,))
# costs at budget 2: config 0: 1 + 1 + 2 * 0.25 + 0.5 = 3.0; config 1: 2 + 2 + 0.5 + 0.5 = 5.0; config 2: 2.0
TIMES3 = EpochTimes(tuple(np.array([t, t]) for t in (1.0, 2.0, 0.5)), tuple(np.full(2, 0.25) for _ in range(3)))
TABLE3 = EstimateTable("x", (1, 2), np.array([[0.1, 0.5], [0.2, 0.9], [0.3, 0.7]]), np.full((3, 2), 0.5))


def test_replay_clock_with_two_workers_by_hand():
    run = replay(Scripted(POOL3, 2, [0, 1, 2]), TABLE3, TIMES3, 2, math.inf, seed=0)
    # t=0: configs 0 and 1 start (finish 3 and 5); t=3: 0 reports, 2 starts (finishes 5); at t=5 both 1 and
    # 2 finish, reported in job order.
    assert [(j["config"], j["start_s"], j["finish_s"]) for j in run.jobs] == [(0, 0.0, 3.0), (1, 0.0, 5.0),
                                                                              (2, 3.0, 5.0)]
    assert [j["cost_s"] for j in run.jobs] == [3.0, 5.0, 2.0]
    assert run.trajectory == [(3.0, 0), (5.0, 1), (5.0, 1)]
    assert run.incumbent == 1 and run.simulated_time_s == 5.0 and run.stopped == "done"
    one = replay(Scripted(POOL3, 2, [0, 1, 2]), TABLE3, TIMES3, 1, math.inf, seed=0)
    assert [j["finish_s"] for j in one.jobs] == [3.0, 8.0, 10.0]


def test_a_job_finishing_after_the_time_budget_does_not_count():
    cut = replay(Scripted(POOL3, 2, [0, 1, 2]), TABLE3, TIMES3, 2, 4.99, seed=0)
    assert [j["config"] for j in cut.jobs] == [0] and cut.incumbent == 0
    assert cut.stopped == "time" and cut.simulated_time_s == 3.0
    exact = replay(Scripted(POOL3, 2, [0, 1, 2]), TABLE3, TIMES3, 2, 5.0, seed=0)
    assert [j["config"] for j in exact.jobs] == [0, 1, 2] and exact.incumbent == 1  # finishing at the budget counts


def test_a_promoted_job_pays_only_the_epochs_it_adds():
    pool = ConfigPool(np.arange(8)[:, None] % 4, (4,))
    rng = np.random.default_rng(0)
    epoch_time = rng.uniform(0.5, 2.0, size=(8, 4))
    times = EpochTimes(tuple(epoch_time), tuple(0.1 * epoch_time))
    budgets = (1, 2, 4)
    overhead = rng.uniform(0.01, 0.1, size=(8, 3))
    table = EstimateTable("x", budgets, rng.uniform(0.2, 0.8, size=(8, 3)), overhead)
    run = replay(HyperBand(pool, 4, 1, 2, seed=0, max_iterations=1), table, times, 1, math.inf, seed=0)
    promoted = [j for j in run.jobs if j["parent"] is not None]
    assert promoted
    by_id = {j["job_id"]: j for j in run.jobs}
    for job in run.jobs:
        start = by_id[job["parent"]]["budget"] if job["parent"] is not None else 0
        c, b = job["config"], job["budget"]
        expected = 1.1 * epoch_time[c, start:b].sum() + overhead[c, budgets.index(b)]
        assert job["cost_s"] == pytest.approx(expected)
        assert job["finish_s"] - job["start_s"] == pytest.approx(expected)


def test_a_diverged_trial_fails_its_job_and_ranks_last():
    times = EpochTimes((np.ones(2), np.ones(1), np.ones(2)), (np.zeros(2), np.zeros(1), np.zeros(2)))
    table = EstimateTable("x", (1, 2), np.array([[0.1, 0.2], [0.9, np.nan], [0.3, 0.4]]), np.zeros((3, 2)))
    outcome = ReplayBackend(table, times).run(Job(0, 1, 2, 0, 0), 0)
    assert outcome.score is None and outcome.epochs == 1 and outcome.cost_s == 1.0 and "diverged" in outcome.error
    run = replay(Scripted(POOL3, 2, [1, 0, 2]), table, times, 1, math.inf, seed=0)
    assert run.failed_jobs == 1 and run.incumbent == 2


class ShuffledWorkers:
    """An asynchronous backend whose jobs really finish in an arbitrary order: it answers the replay's
    jobs, but `wait` picks a random running job and either reports one more epoch's charge or its
    outcome, so a job that ends early on the clock may finish last in reality."""

    def __init__(self, replay_backend, seed):
        self.estimator = replay_backend.estimator
        self._replay = replay_backend
        self._rng = np.random.default_rng(seed)
        self._running = {}  # job id -> [the outcome, the charges still to report]
        self.waits = 0

    def submit(self, job, start):
        outcome = self._replay.run(job, start)
        times = self._replay.times
        charges = [job_cost(times.epoch_time[job.config], times.val_time[job.config], start, stop, 0.0)
                   for stop in range(start + 1, outcome.epochs + 1)]
        self._running[job.job_id] = [outcome, charges]

    def wait(self):
        self.waits += 1
        job_id = list(self._running)[self._rng.integers(len(self._running))]
        outcome, charges = self._running[job_id]
        if charges and self._rng.random() < 0.8:
            return [(job_id, charges.pop(0))]
        del self._running[job_id]
        return [(job_id, outcome)]


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_asynchronous_workers_make_the_decisions_of_the_clock(workers):
    pool = ConfigPool(np.arange(12)[:, None] % 6, (6,))
    rng = np.random.default_rng(workers)
    # whole seconds: many jobs finish at the same time, so ties must go by job id as in the simulation
    epoch_time = rng.integers(1, 4, size=(12, 8)).astype(float)
    times = EpochTimes(tuple(epoch_time), tuple(np.zeros((12, 8))))
    table = EstimateTable("x", (2, 4, 8), rng.uniform(0.2, 0.8, size=(12, 3)), np.ones((12, 3)))
    for seed in range(4):
        simulated = run_search(HyperBand(pool, 8, 2, 2, seed=seed, max_iterations=2), ReplayBackend(table, times),
                               workers=workers, time_budget_s=math.inf, seed=seed)
        shuffled = ShuffledWorkers(ReplayBackend(table, times), seed)
        asynchronous = run_search(HyperBand(pool, 8, 2, 2, seed=seed, max_iterations=2), shuffled,
                                  workers=workers, time_budget_s=math.inf, seed=seed)
        assert asynchronous.jobs == simulated.jobs and asynchronous.trajectory == simulated.trajectory
        assert shuffled.waits > len(simulated.jobs)  # it did report progress before outcomes
    cut = run_search(HyperBand(pool, 8, 2, 2, seed=0, max_iterations=2), ShuffledWorkers(ReplayBackend(table, times), 0),
                     workers=workers, time_budget_s=20.0, seed=0)
    assert cut.jobs == run_search(HyperBand(pool, 8, 2, 2, seed=0, max_iterations=2), ReplayBackend(table, times),
                                  workers=workers, time_budget_s=20.0, seed=0).jobs
    assert cut.stopped == "time"


# -- termination ---------------------------------------------------------------------------------------


def test_the_driver_refuses_a_search_that_would_never_end():
    pool = ConfigPool(np.arange(8)[:, None] % 4, (4,))
    table = EstimateTable("x", (1, 2, 4), np.full((8, 3), 0.5), np.zeros((8, 3)))
    times = EpochTimes(tuple(np.ones(4) for _ in range(8)), tuple(np.zeros(4) for _ in range(8)))
    with pytest.raises(ValueError, match="never end"):
        replay(HyperBand(pool, 4, 1, 2, seed=0), table, times, 2, math.inf, seed=0)
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="time_budget_s"):
            replay(HyperBand(pool, 4, 1, 2, seed=0), table, times, 2, bad, seed=0)
    run = replay(HyperBand(pool, 4, 1, 2, seed=0), table, times, 2, 60.0, seed=0)
    assert run.stopped == "time" and run.simulated_time_s <= 60.0 and len(run.jobs) > 14
    finite = replay(HyperBand(pool, 4, 1, 2, seed=0, max_iterations=2), table, times, 2, math.inf, seed=0)
    assert finite.stopped == "done" and len(finite.jobs) == 2 * 14


def test_workers_far_above_the_pool_are_capped_at_the_pool_size():
    pool = ConfigPool(np.arange(8)[:, None] % 4, (4,))
    table = EstimateTable("x", (1, 2, 4), np.full((8, 3), 0.5), np.zeros((8, 3)))
    times = EpochTimes(tuple(np.ones(4) for _ in range(8)), tuple(np.zeros(4) for _ in range(8)))
    notes = []
    run = replay(HyperBand(pool, 4, 1, 2, seed=0), table, times, 10**9, 12.0, seed=0, on_note=notes.append)
    assert notes and "at most 8 jobs run at once" in notes[0] and run.notes == notes
    events = sorted([(j["start_s"], 1) for j in run.jobs] + [(j["finish_s"], -1) for j in run.jobs],
                    key=lambda e: (e[0], e[1]))
    running = np.cumsum([delta for _, delta in events])
    assert running.max() == 8 and run.stopped == "time"


def test_a_job_that_trains_for_free_is_refused():
    class Free:
        estimator = "free"

        def run(self, job, start):
            return JobOutcome(0.5, 0.0, 0.0, job.budget)

    with pytest.raises(ValueError, match="cost 0"):
        run_search(RandomSearch(POOL3, 2, 2, seed=0), Free(), workers=1, time_budget_s=10.0, seed=0)


# -- synthetic pools in the trace format, for the cache and publishing --------------------------------

SUITE = """
name = "synthsearch"
version = "1"
description = "synthetic search suite"

[space]
channels = 4
cells_per_stage = 1
num_samples = {num_samples}
sample_seed = 5

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
window = 1

[estimate]
checkpoints = [1, 2, 4]
repeats = 1
estimators = ["original"]

[search]
algorithms = ["random", "hyperband", "bohb"]
estimators = ["original"]
workers = 2
seeds = 2
random_configs = 4
truth = "{truth}"
"""


def make_suite(tmp_path, num_samples=12, truth="final_test_acc"):
    from fhbench.inputs.suite import load_suite

    path = tmp_path / f"synth-{num_samples}.toml"
    path.write_text(SUITE.format(num_samples=num_samples, truth=truth))
    return load_suite(path)


def write_pool(root, suite, diverged=()):
    """One trace per planned trial: val_acc rises towards a per-trial quality, test_acc near it."""
    from fhbench.search.pool import search_pool
    from fhbench.record.store import TraceStore

    store = TraceStore(root)
    rng = np.random.default_rng(1)
    budget = suite.train.epochs
    traces = []
    for i, trial in enumerate(search_pool(suite, suite_space(suite)).trials):
        quality = rng.uniform(0.3, 0.9)
        epochs = 2 if i in diverged else budget
        writer = store.writer(trial.trial_id, {
            "config": trial.config, "config_vector": [quality], "repeat": 0, "index": trial.index,
            "seed": trial.seed, "budget": budget, "num_classes": 2, "feature_dim": 2, "space": "nb201",
            "dataset_source": "synthetic", "suite": suite.name, "conditions": {"device": "cpu", "threads": 1}})
        e = np.arange(1, epochs + 1)
        val = quality * (1 - 0.5 / e) + rng.normal(0, 0.02, epochs)
        curves = {"train_loss": 1 - val, "train_acc": val, "val_loss": 1 - val, "val_acc": np.clip(val, 0, 1),
                  "lr": np.full(epochs, 0.1), "epoch_time": rng.uniform(0.5, 1.5, epochs),
                  "val_time": rng.uniform(0.05, 0.1, epochs), "test_time": np.full(epochs, 0.3),
                  "test_acc": np.clip(quality + rng.normal(0, 0.01, epochs), 0, 1)}
        writer.finish(status="diverged" if i in diverged else "complete", curves=curves,
                      labels={"train": np.zeros(4, dtype=np.int64), "train_index": np.arange(4),
                              "val": np.zeros(4, dtype=np.int64)},
                      classifier_w=np.zeros((epochs, 2, 2), dtype=np.float32),
                      classifier_b=np.zeros((epochs, 2), dtype=np.float32))
        traces.append(store.open(trial.trial_id))
    return traces


class Counting:
    """The `original` estimator, counting its estimates in the class: the harness estimates with fresh
    copies of the instance it is given, never with the instance itself."""

    name = "counting"
    estimates = 0

    def __init__(self, version="1"):
        self.version = version

    def fit(self, population):
        pass

    def estimate(self, view):
        type(self).estimates += 1
        return float(view.curve("val_acc")[-1])


def counted_table(*args, **kwargs):
    """(the table, estimates made) of one cached_estimate_table call, in this process."""
    from fhbench.search.run import cached_estimate_table

    before = Counting.estimates
    table = cached_estimate_table(*args, **kwargs)
    return table, Counting.estimates - before


def test_the_estimate_cache_is_used_only_when_it_checks_out(tmp_path):
    from fhbench.search.run import cache_path, estimate_cache_key

    suite = make_suite(tmp_path)
    traces = write_pool(tmp_path / "traces", suite)
    cache, budgets = tmp_path / "estimates", (1, 2, 4)
    notes = []
    table, calls = counted_table(cache, "counting", Counting(), {}, traces, budgets, on_note=notes.append)
    assert calls == 12 * 3
    again = Counting()
    same, calls = counted_table(cache, "counting", again, {}, traces, budgets, on_note=notes.append)
    assert calls == 0 and np.array_equal(same.values, table.values)
    assert not [n for n in notes if "not used" in n]

    path = cache_path(cache, estimate_cache_key("counting", again, {}, traces, budgets))
    data = json.loads(path.read_text())
    data["table"]["values"][3][1] = 0.999  # an edited estimate, the stored sha256 left as it was
    path.write_text(json.dumps(data))
    recomputed, calls = counted_table(cache, "counting", Counting(), {}, traces, budgets, on_note=notes.append)
    assert calls == 36 and recomputed.values[3, 1] == table.values[3, 1] != 0.999
    assert any("sha256" in n for n in notes)

    from fhbench.search.run import _digest

    data = json.loads(path.read_text())
    del data["table"]["values"][5]  # a missing row, the sha256 updated to match
    del data["table"]["overhead_s"][5]
    data["sha256"] = _digest(data["key"], data["table"])
    path.write_text(json.dumps(data))
    recomputed, calls = counted_table(cache, "counting", Counting(), {}, traces, budgets, on_note=notes.append)
    assert calls == 36 and recomputed.values.shape == (12, 3)
    assert any("wrong shape" in n for n in notes)


def test_the_cache_key_changes_with_what_the_estimates_depend_on(tmp_path):
    from fhbench.search.run import cache_path, estimate_cache_key

    suite = make_suite(tmp_path)
    traces = write_pool(tmp_path / "a", suite)
    other = write_pool(tmp_path / "b", suite, diverged=(3,))
    est = Counting()

    def path(**change):
        args = {"name": "counting", "estimator": est, "settings": {"window": 2, "sizes": (1, 2)}, "traces": traces,
                "budgets": (1, 2, 4), "device": None, **change}
        return cache_path(tmp_path, estimate_cache_key(**args))

    base = path()
    assert path() == base
    key = estimate_cache_key("counting", est, {"sizes": (1, 2)}, traces, (1, 2, 4))
    assert json.loads(json.dumps(key)) == key  # a key read back from its file still matches
    for change in ({"estimator": Counting(version="2")}, {"settings": {"window": 3}}, {"traces": other},
                   {"traces": traces[:-1]}, {"budgets": (1, 2)}, {"device": "cuda:0"}, {"name": "counting2"}):
        assert path(**change) != base, change


def test_publish_then_reproduce_and_detect_an_edit(tmp_path):
    from fhbench.publish.reproduce import reproduce_published
    from fhbench.engine.search import publish_search_suite

    suite = make_suite(tmp_path)
    traces = write_pool(tmp_path / "traces", suite, diverged=(2,))
    notes = []
    out, rows = publish_search_suite(suite, traces, suite_space(suite), store_root=tmp_path / "traces",
                                     leaderboard_root=tmp_path / "lb", on_step=notes.append)
    results = json.loads((out / "results.json").read_text())
    estimates = json.loads((out / "estimates.json").read_text())
    assert results["kind"] == "search" and results["regret"]["against"] == "pool best"
    assert results["regret"]["pool_floor"] == 0.0 and results["pool_truth"][2] is None  # diverged: no own truth
    assert set(estimates["estimators"]) == {"original"} and estimates["pool"]["cells"] == results["pool"]
    table = estimates["estimators"]["original"]
    assert len(table["values"]) == 12 and table["values"][2][2] is None  # the diverged trial never reached 4
    assert {"version", "settings", "overhead_s", "failures"} <= set(table)
    assert estimates["epoch_costs"]["val_time"][0] == list(traces[0].curve("val_time"))
    assert not results["warnings"]  # 12 >= the 10 configs one HyperBand iteration draws here

    assert reproduce_published(out) == []

    edited = json.loads((out / "estimates.json").read_text())
    for row in edited["estimators"]["original"]["overhead_s"]:
        row[0] += 1.0  # every estimate at budget 1 now costs a second more
    (out / "estimates.json").write_text(json.dumps(edited))
    differences = reproduce_published(out)
    assert differences and any("simulated_time_s" in d or "trajectory" in d for d in differences)

    (out / "estimates.json").write_text(json.dumps(estimates))
    assert reproduce_published(out) == []
    results["rows"][0]["regret_mean"] += 0.01
    (out / "results.json").write_text(json.dumps(results))
    assert any(d.startswith(f"row {rows[0].algorithm}/{rows[0].estimator}: regret_mean") for d in reproduce_published(out))


def test_regret_is_against_the_truths_global_optimum_with_the_pools_floor(tmp_path):
    from fhbench.search.pool import search_pool
    from fhbench.publish.reproduce import reproduce_published
    from fhbench.engine.search import publish_search_suite

    table = tmp_path / "truth.csv"
    base = make_suite(tmp_path)
    cells = search_pool(base, suite_space(base)).cells
    outside = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert outside not in cells
    values = {cell: 0.5 + 0.02 * i for i, cell in enumerate(cells)}
    table.write_text("cell,accuracy\n" + "".join(f"{c},{v}\n" for c, v in values.items()) + f"{outside},0.97\n")
    suite = make_suite(tmp_path, truth=f"csv:{table}")
    traces = write_pool(tmp_path / "traces", suite)
    out, rows = publish_search_suite(suite, traces, suite_space(suite), store_root=tmp_path / "traces",
                                     leaderboard_root=tmp_path / "lb")
    results = json.loads((out / "results.json").read_text())
    regret = results["regret"]
    assert regret["against"] == "global optimum" and regret["reference_cell"] == outside
    assert regret["pool_best"] == pytest.approx(max(values.values()))
    assert regret["pool_floor"] == pytest.approx(0.97 - max(values.values()))
    assert all(run["regret"] == pytest.approx(0.97 - values[run["incumbent"]]) for run in results["runs"])
    assert "pool's floor" in (out / "leaderboard.md").read_text()
    assert reproduce_published(out) == []


def test_a_pool_smaller_than_one_hyperband_iteration_warns(tmp_path):
    from fhbench.engine.search import publish_search_suite
    from fhbench.search.run import pool_warnings

    suite = make_suite(tmp_path, num_samples=8)  # one iteration draws 4 + 3 + 3 = 10 configs
    assert HyperBand.configs_per_iteration(4, 1, 2) == 10
    traces = write_pool(tmp_path / "traces", suite)
    notes = []
    out, _ = publish_search_suite(suite, traces, suite_space(suite), store_root=tmp_path / "traces",
                                  leaderboard_root=tmp_path / "lb", on_step=notes.append)
    results = json.loads((out / "results.json").read_text())
    assert len(results["warnings"]) == 1 and "8 configurations" in results["warnings"][0]
    assert any(n.startswith("warning:") and "draws 10" in n for n in notes)
    assert pool_warnings(make_suite(tmp_path, num_samples=10), 10) == []


def test_an_incumbent_without_a_true_accuracy_counts_zero():
    from fhbench.search.driver import SearchRun
    from fhbench.search.run import run_record

    run = SearchRun("random", "x", 0, 1, 10.0, incumbent=1, jobs=[{"config": 1, "score": 0.5}])
    record = run_record(run, ["a", "b"], [0.8, math.nan], 0.9)
    assert record["incumbent"] == "b" and record["true_acc"] == 0.0 and record["regret"] == 0.9
    assert run_record(SearchRun("random", "x", 0, 1, 10.0), ["a", "b"], [0.8, 0.7], 0.9)["incumbent"] is None


def test_the_pool_must_match_the_traces(tmp_path):
    from fhbench.search.pool import search_pool

    suite = make_suite(tmp_path)
    traces = write_pool(tmp_path / "traces", suite)
    pool = search_pool(suite, suite_space(suite))
    assert pool.match(list(reversed(traces))) == traces  # put in plan order
    with pytest.raises(FhbenchError, match="has no trace"):
        pool.match(traces[1:])
    (tmp_path / "b").mkdir()
    other = write_pool(tmp_path / "other", make_suite(tmp_path / "b", num_samples=13))
    with pytest.raises(FhbenchError, match="but the pool plans"):
        pool.match(other)


def test_reproduce_refuses_what_is_not_a_search_leaderboard(tmp_path):
    from fhbench.publish.reproduce import reproduce_published

    with pytest.raises(FhbenchError, match="results.json"):
        reproduce_published(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"kind": "estimation"}))
    (tmp_path / "estimates.json").write_text("{}")
    with pytest.raises(FhbenchError, match="not an estimation board with intervals"):
        reproduce_published(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"kind": "live"}))
    with pytest.raises(FhbenchError, match="not a search leaderboard"):
        reproduce_published(tmp_path)


def test_reproduce_refuses_free_epochs_instead_of_searching_forever(tmp_path):
    import shutil

    from fhbench.publish.reproduce import reproduce_published

    published = Path(__file__).resolve().parent.parent / "leaderboard" / "nb201-search-cpu" / "1"
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    estimates = json.loads((copy / "estimates.json").read_text())
    estimates["epoch_costs"]["epoch_time"] = [[0.0] * len(row) for row in estimates["epoch_costs"]["epoch_time"]]
    (copy / "estimates.json").write_text(json.dumps(estimates))
    with pytest.raises(FhbenchError, match="training times must be finite seconds > 0"):
        reproduce_published(copy)


def test_a_time_budget_in_which_no_job_finishes_is_one_line(tmp_path):
    """It used to end in a ValueError from the regret plot's legend, after every search ran."""
    import dataclasses

    from fhbench.core.errors import FhbenchError
    from fhbench.engine.search import publish_search_suite

    suite = make_suite(tmp_path)
    suite = dataclasses.replace(suite, search=dataclasses.replace(suite.search, time_budget_s=1e-9))
    traces = write_pool(tmp_path / "traces", suite)
    with pytest.raises(FhbenchError, match="key 'search.time_budget_s': no search finished a single job in 1e-09"):
        publish_search_suite(suite, traces, suite_space(suite), store_root=tmp_path / "traces",
                             leaderboard_root=tmp_path / "lb")
    assert not (tmp_path / "lb").exists()
