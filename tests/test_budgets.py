"""train.budgets (issue 9 part 5, thesis Figure 4.2, appendix A.2): every network trained once per budget,
each run with its own linear schedule ending at zero, estimated up to its own budget and scored against
its own final accuracy; and suites without budgets exactly as before."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import torch

from conftest import REPO, write_suite
from fhbench.core.errors import SuiteError
from fhbench.estimators.harness import EstimateRecord, run_estimators
from fhbench.publish.estimation_board import CSV_COLUMNS, render_csv, render_markdown
from fhbench.engine.pipeline import load_traces, open_store, record_suite, score_suite
from fhbench.record.train import plan_trials
from fhbench.score.metrics import Row, score
from fhbench.inputs.suite import load_suite
from fhbench.spaces import suite_space
from fhbench.publish.board_files import read_results

CPU = torch.device("cpu")
BASE_LR = 0.1  # write_suite's default train.lr


def _budget_suite(tmp_path, budgets: str = "[2, 4]", *, every: int = 1, name: str = "budgets", extra: str = ""):
    """The tiny digits NB201 suite of conftest with `[train] budgets`, checkpoints every `every` epochs."""
    path = write_suite(tmp_path, name, epochs=4, estimators=("original", "optimized"))
    text = path.read_text().replace("seed = 0\n\n[record]", f"seed = 0\nbudgets = {budgets}\n\n[record]")
    path.write_text(text.replace("\nevery = 2", f"\nevery = {every}") + extra)
    return path


def _plain_suite(tmp_path, *, every: int = 1):
    path = write_suite(tmp_path, "plain", epochs=4, estimators=("original", "optimized"))
    path.write_text(path.read_text().replace("\nevery = 2", f"\nevery = {every}"))
    return path


# ---------------------------------------------------------------------------------------------- the setting

def test_budgets_plan_a_trial_per_network_and_budget_sharing_the_seed(tmp_path):
    suite = load_suite(_budget_suite(tmp_path))
    assert suite.budgets == (2, 4) and suite.checkpoints == (1, 2, 3, 4)
    assert suite.checkpoints_for(2) == (1, 2) and suite.checkpoints_for(4) == (1, 2, 3, 4)
    trials = plan_trials(suite, suite_space(suite))
    assert [t.trial_id for t in trials] == [f"r0-00{i}-b00{b}" for i in range(3) for b in (2, 4)]
    assert [t.budget for t in trials] == [2, 4] * 3
    for short, long in zip(trials[::2], trials[1::2]):  # the same network and seed: only the schedule differs
        assert (short.config, short.seed, short.index) == (long.config, long.seed, long.index)
    assert len({t.seed for t in trials}) == 3


def test_a_suite_without_budgets_plans_the_ids_and_hashes_it_always_did(tmp_path):
    plain = load_suite(_plain_suite(tmp_path))
    trials = plan_trials(plain, suite_space(plain))
    assert [t.trial_id for t in trials] == ["r0-000", "r0-001", "r0-002"] and {t.budget for t in trials} == {4}
    empty = _plain_suite(tmp_path)
    empty.write_text(empty.read_text().replace("seed = 0\n\n[record]", "seed = 0\nbudgets = []\n\n[record]"))
    with pytest.raises(SuiteError, match=r"key 'train.budgets'.*at least one budget"):
        load_suite(empty)  # written out empty: a mistake (the bad input), not the default
    assert "budgets" not in plain.to_dict()["train"] and plain.budgets == (4,)
    budgets = load_suite(_budget_suite(tmp_path))
    assert budgets.record_hash != plain.record_hash and list(budgets.to_dict()["train"]["budgets"]) == [2, 4]
    for stem, record_hash in (("quickstart", "002040729facd8ae"), ("nb201-cpu", "156c47945934c75a")):
        committed = load_suite(REPO / "suites" / f"{stem}.toml")  # pinned in test_suite.py too
        assert committed.record_hash == record_hash and "budgets" not in committed.to_dict()["train"]


@pytest.mark.parametrize("budgets, every, fragment", [
    ("[2, 6]", 1, "within 1..train.epochs (4), got 6"),
    ("[2, 2, 4]", 1, "distinct values, got 2 more than once"),
    ("[0, 4]", 1, "got 0"),
    ("[-2, 4]", 1, "got -2"),
    ("[3, 4]", 2, "each budget a checkpoint"),
    ("[4, 2]", 1, "increasing epochs"),
    ("[2]", 1, "the longest budget equal to train.epochs (4)"),
    ('["2"]', 1, "a list of ints"),
    ("4", 1, "a list"),
])
def test_bad_budgets_are_one_line_errors_naming_the_key(tmp_path, budgets, every, fragment):
    with pytest.raises(SuiteError) as caught:
        load_suite(_budget_suite(tmp_path, budgets, every=every))
    message = str(caught.value)
    assert "key 'train.budgets'" in message and fragment in message and "\n" not in message


@pytest.mark.parametrize("extra, fragment", [
    ("\n[search]\nalgorithms = [\"random\"]\nestimators = [\"original\"]\nrandom_configs = 2\nworkers = 1\n",
     "none in a search suite"),
    ("", "none with record.predictions"),
])
def test_budgets_are_refused_where_a_part_reads_one_budget(tmp_path, extra, fragment):
    path = _budget_suite(tmp_path, extra=extra)
    if not extra:
        path.write_text(path.read_text().replace("window = 2", "window = 2\npredictions = true"))
    with pytest.raises(SuiteError, match=fragment) as caught:
        load_suite(path)
    assert "key 'train.budgets'" in str(caught.value)


def test_a_constant_schedule_with_budgets_warns_that_they_differ_in_length_only(tmp_path):
    path = _budget_suite(tmp_path)
    path.write_text(path.read_text().replace("lr = 0.1", "lr = 0.1\nlr_schedule = \"constant\""))
    assert any("differ in length only" in w for w in load_suite(path).warnings)
    assert not load_suite(_budget_suite(tmp_path, name="linear")).warnings


# ---------------------------------------------------------------------------------------------- recorded

@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The budget suite and the same suite without budgets, recorded and scored once (about 10 s)."""
    tmp_path = tmp_path_factory.mktemp("budgets")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; and traces are bitwise repeatable at one count
    try:
        out = {}
        for key, path in (("budgets", _budget_suite(tmp_path)), ("plain", _plain_suite(tmp_path))):
            suite = load_suite(path)
            store = open_store(suite, tmp_path / "traces")
            record_suite(suite, store, data_dir=None, device=CPU, report=lambda message: None)
            board, rows = score_suite(suite, store, tmp_path / "runs")
            out[key] = (suite, store, board, rows, read_results(board))
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.slow  # trains: the module's recorded suites
def test_each_budget_is_its_own_trial_with_its_own_schedule_ending_at_zero(recorded):
    suite, store, *_ = recorded["budgets"]
    assert sorted(store.trial_ids()) == [f"r0-00{i}-b00{b}" for i in range(3) for b in (2, 4)]
    for trace in load_traces(suite, store):
        budget = int(trace.trial_id[-1])
        assert trace.budget == budget and trace.epochs_completed == budget and trace.status == "complete"
        lr = trace.curve("lr")  # the rate each epoch starts with
        assert lr == pytest.approx([BASE_LR * (1 - (epoch - 1) / budget) for epoch in range(1, budget + 1)])
        assert lr[-1] - (lr[-2] - lr[-1]) == pytest.approx(0.0, abs=1e-12)  # linear: zero at the budget's end
        test_acc = trace.test_curve()
        assert np.isfinite(test_acc[budget - 1])  # the truth's epoch is evaluated


@pytest.mark.slow  # trains: the module's recorded suites
def test_the_longest_budget_is_the_suite_without_budgets(recorded):
    """Same seed, same schedule, same checkpoints: b004 trains exactly as the plain suite's trial."""
    _, budget_store, *_ = recorded["budgets"]
    _, plain_store, *_ = recorded["plain"]
    for index in range(3):
        long, plain = budget_store.open(f"r0-00{index}-b004"), plain_store.open(f"r0-00{index}")
        assert long.manifest["seed"] == plain.manifest["seed"] and long.feature_epochs == plain.feature_epochs
        np.testing.assert_array_equal(long.curve("val_acc"), plain.curve("val_acc"))
        np.testing.assert_array_equal(long.test_curve(), plain.test_curve())
        np.testing.assert_array_equal(long.features(4, "val").numpy(), plain.features(4, "val").numpy())
        short = budget_store.open(f"r0-00{index}-b002")
        assert short.curve("lr")[1] != long.curve("lr")[1]  # the shorter budget decays faster from epoch 2


@pytest.mark.slow  # trains: the module's recorded suites
def test_each_trial_is_scored_against_its_own_final_accuracy(recorded):
    suite, store, board, rows, results = recorded["budgets"]
    for trace in load_traces(suite, store):
        assert results["truths"][trace.trial_id] == trace.test_curve()[trace.budget - 1]
    assert results["budgets"] == [2, 4]
    estimated = {(e["trial_id"], e["checkpoint"]) for e in results["estimates"]}
    for i in range(3):  # every trial at every checkpoint up to its own budget, and no further
        assert {c for t, c in estimated if t == f"r0-00{i}-b002"} == {1, 2}
        assert {c for t, c in estimated if t == f"r0-00{i}-b004"} == {1, 2, 3, 4}
    assert all(e["budget"] == int(e["trial_id"][-1]) for e in results["estimates"])

    keys = sorted((r.estimator, r.budget, r.epoch) for r in rows)
    assert keys == sorted([(n, 2, e) for n in ("original", "optimized") for e in (1, 2)]
                          + [(n, 4, e) for n in ("original", "optimized") for e in (1, 2, 3, 4)])
    for row in rows:
        assert row.budget_fraction == row.epoch / row.budget and row.n_estimates == 3
        mine = [e for e in results["estimates"] if e["estimator"] == row.estimator and e["budget"] == row.budget
                and e["checkpoint"] == row.epoch]
        mae = np.mean([abs(e["estimate"] - results["truths"][e["trial_id"]]) for e in mine])
        assert row.mae_mean == pytest.approx(mae, abs=1e-9)  # this budget's trials against their own truths
    assert [r["budget"] for r in results["rows"]] == [r.budget for r in rows]


@pytest.mark.slow  # trains: the module's recorded suites
def test_the_leaderboard_has_a_budget_column_and_a_table_per_budget(recorded):
    *_, board, rows, results = recorded["budgets"]
    header = next(csv.reader(io.StringIO((board / "leaderboard.csv").read_text())))
    assert header == ["estimator", "budget", *CSV_COLUMNS[1:]]
    markdown = (board / "leaderboard.md").read_text()
    two, four = markdown.split("## Budget 2 epochs", 1)[1].split("## Budget 4 epochs", 1)
    assert "| 2 | original |" in two and "| 3 | original |" not in two
    assert "| 4 | original |" in four.split("## Per network", 1)[0]
    names = {p.name for p in board.iterdir()}
    for stem in ("mae", "kendall_tau", "mae_overhead", "settle", "abs_error_by_network"):
        assert {f"{stem}-b002.png", f"{stem}-b004.png"} <= names and f"{stem}.png" not in names
    assert {f"trajectory-r0-00{i}-b00{b}.png" for i in range(3) for b in (2, 4)} <= names


@pytest.mark.slow  # trains: the module's recorded suites
def test_per_network_views_are_per_budget_with_each_budgets_speed_up(recorded):
    *_, results = recorded["budgets"]
    assert "per_network" not in results
    views = results["per_network_by_budget"]
    assert [v["budget"] for v in views] == [2, 4] and [v["checkpoints"] for v in views] == [[1, 2], [1, 2, 3, 4]]
    settled = 0
    for view in views:
        assert {t["trial_id"][-5:] for t in view["trials"]} == {f"-b00{view['budget']}"}
        for trial in view["trials"]:
            assert trial["truth"] == results["truths"][trial["trial_id"]]
            for numbers in trial["estimators"].values():
                settle = numbers["settle_epoch"]
                expected = None if settle is None else view["budget"] / settle
                assert numbers["speedup"] == (None if expected is None else pytest.approx(expected))
                settled += settle is not None
    assert settled  # at least one speed-up was computed (the final checkpoint of a budget is its truth's epoch)


@pytest.mark.slow  # trains: the module's recorded suites
def test_estimator_populations_never_mix_budgets(recorded):
    suite, store, *_ = recorded["budgets"]
    populations = []  # outside the estimator: the harness fits a fresh copy at every step

    class Spy:
        name, version = "spy", "1"

        def fit(self, population):
            populations.append((population[0].epoch, sorted({(v.trial_id, v.budget) for v in population})))

        def estimate(self, view):
            assert view.epoch <= view.budget
            return 0.5

    records = run_estimators({"spy": Spy()}, load_traces(suite, store), suite.checkpoints)
    for epoch, population in populations:
        assert len({budget for _, budget in population}) == 1 and len(population) == 3
        assert all(trial_id.endswith(f"-b00{budget}") for trial_id, budget in population)
    assert [epoch for epoch, _ in populations] == [1, 2, 1, 2, 3, 4]
    assert {r.budget for r in records} == {2, 4}
    with pytest.raises(ValueError, match="checkpoint 5 is past every trial's budget"):
        run_estimators({"spy": Spy()}, load_traces(suite, store), [4, 5])


# ---------------------------------------------------------------------------------------------- unchanged

PLAIN_CSV_COLUMNS = [  # leaderboard.csv's header without budgets (results schema 3: intervals), written out
    "estimator", "epoch", "budget_fraction", "kendall_tau_verdict", "kendall_tau_mean", "kendall_tau_lo",
    "kendall_tau_hi", "mae_verdict", "mae_mean", "mae_lo", "mae_hi", "spearman_rho_mean", "spearman_rho_lo",
    "spearman_rho_hi", "top10_precision_mean", "top10_precision_lo", "top10_precision_hi", "mae_std",
    "kendall_tau_std", "spearman_rho_std", "overhead_s_mean", "overhead_s_std", "overhead_epochs_mean",
    "overhead_epochs_std", "overhead_cpu_s_mean", "overhead_cpu_s_std", "overhead_ref_mean", "overhead_ref_std",
    "n_estimates", "n_failed", "coverage", "repeats_scored", "repeats", "at_bound",
]


@pytest.mark.slow  # trains: the module's recorded suites
def test_a_suite_without_budgets_publishes_the_columns_and_files_it_always_did(recorded):
    *_, board, rows, results = recorded["plain"]
    assert next(csv.reader(io.StringIO((board / "leaderboard.csv").read_text()))) == PLAIN_CSV_COLUMNS
    assert all(r.budget is None for r in rows) and all("budget" not in r for r in results["rows"])
    assert "budgets" not in results and "per_network_by_budget" not in results and "per_network" in results
    assert all("budget" not in e for e in results["estimates"])
    markdown = (board / "leaderboard.md").read_text()
    assert "Budget" not in markdown and "\n## Per network\n" in markdown
    assert "| epoch | estimator | Kendall tau [95% CI] | tau verdict |" in markdown
    names = {p.name for p in board.iterdir()}
    assert {"mae.png", "kendall_tau.png", "mae_overhead.png", "settle.png", "abs_error_by_network.png"} <= names
    assert not any("-b0" in name for name in names)


@pytest.mark.parametrize("board", ["quickstart/1", "nb201-cpu/2"])
def test_scoring_committed_estimates_gives_the_published_rows(board):
    """A committed board (quickstart: what CI compares against), rescored from its own estimates and truths
    by this code: the same rows, without a budget (overhead_epochs needs the traces and is left out)."""
    results = json.loads((REPO / "leaderboard" / board / "results.json").read_text())
    fields = set(EstimateRecord.__dataclass_fields__) - {"budget"}
    records = [EstimateRecord(**{k: (math.nan if v is None and k != "estimate" else v)
                                 for k, v in e.items() if k in fields}) for e in results["estimates"]]
    times = {trial: math.nan for trial in results["truths"]}
    rank_only = frozenset(r["estimator"] for r in results["rows"] if r.get("rank_only"))
    rows = score(records, results["truths"], times, results["suite_settings"]["train"]["epochs"], rank_only)
    assert len(rows) == len(results["rows"])
    for row, published in zip(rows, results["rows"]):
        data = row.as_dict()
        assert "budget" not in data and set(published) <= set(data)
        keys = ["estimator", "epoch", "budget_fraction", "mae_mean", "mae_std", "kendall_tau_mean",
                "spearman_rho_mean", "n_estimates", "n_failed", "coverage"]
        if data["repeats_scored"] < data["repeats"]:
            # scored before undefined rank correlations counted 0: the mean was over the defined repeats
            # alone (nb201-cpu/2's lcnet at epoch 2, whose estimates in one repeat all failed)
            assert (board, row.estimator, row.epoch, data["repeats_scored"]) == ("nb201-cpu/2", "lcnet", 2, 1)
            for key in ("kendall_tau_mean", "spearman_rho_mean"):
                assert data[key] == pytest.approx(published[key] / 2, abs=1e-9), key
                keys.remove(key)
        for key in keys:
            expected = math.nan if published[key] is None else published[key]
            assert data[key] == pytest.approx(expected, abs=1e-9, nan_ok=True), (board, key)
    assert render_csv(rows).splitlines()[0].split(",") == PLAIN_CSV_COLUMNS
    assert "Budget" not in render_markdown(rows, {**results, "rows": None})


def test_rows_carry_a_budget_only_when_scored_by_budget():
    records = [EstimateRecord("m", 0, 2, f"t{i}", 0.5 + i / 10, 0.0, budget=budget)
               for i, budget in enumerate((2, 2, 4, 4))]
    truths = {"t0": 0.6, "t1": 0.5, "t2": 0.9, "t3": 0.7}
    times = dict.fromkeys(truths, math.nan)
    plain = score(records, truths, times, 4)
    assert [(r.budget, r.n_estimates, r.budget_fraction) for r in plain] == [(None, 4, 0.5)]
    split = score(records, truths, times, 4, by_budget=True)
    assert [(r.budget, r.n_estimates, r.budget_fraction) for r in split] == [(2, 2, 1.0), (4, 2, 0.5)]
    assert split[0].mae_mean == pytest.approx(0.1) and split[1].mae_mean == pytest.approx(0.15)
    assert "budget" not in plain[0].as_dict() and split[0].as_dict()["budget"] == 2
    assert Row.__dataclass_fields__["budget"].default is None
    with pytest.raises(ValueError, match="has no budget"):
        score([EstimateRecord("m", 0, 2, "t0", 0.5, 0.0)], truths, times, 4, by_budget=True)
