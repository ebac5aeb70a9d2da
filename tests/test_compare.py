"""`fhbench compare`: a CI regression gate over two leaderboards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import assert_one_line_error, cli
from fhbench.publish.compare import DEFAULT_TOLERANCES, compare, compare_files, load_rows, parse_tolerance
from fhbench.core.errors import FhbenchError
from fhbench.publish.provenance import ESTIMATION_METRICS


def leaderboard(tmp_path, name, rows, *, signed=True, **header):
    """A board folder as scoring writes it: results.json and its signature (SHA256SUMS)."""
    from fhbench.publish.provenance import SIGNATURE_FILE, signature

    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({**header, "rows": rows}))
    if signed:
        (folder / SIGNATURE_FILE).write_text(signature(folder))
    return folder


def test_a_board_edited_since_it_was_scored_is_refused_and_an_unsigned_one_noted(tmp_path):
    old = leaderboard(tmp_path, "old", OLD)
    edited = leaderboard(tmp_path, "edited", OLD)
    (edited / "results.json").write_text((edited / "results.json").read_text().replace("0.6", "0.9"))
    with pytest.raises(FhbenchError, match="results.json: edited after the board was scored"):
        compare_files(old, edited)
    unsigned = leaderboard(tmp_path, "unsigned", OLD, signed=False)
    notes = [line for line in compare_files(old, unsigned).lines() if line.startswith("note:")]
    assert notes == [f"note: {tmp_path.name}/unsigned is unsigned (published before boards were signed when scored)"]
    (old / "linked.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(FhbenchError, match="a link in a leaderboard directory"):
        compare_files(old, unsigned)


def row(estimator, epoch, mae, tau, overhead, n_failed=0):
    return {"estimator": estimator, "epoch": epoch, "mae_mean": mae, "kendall_tau_mean": tau,
            "overhead_ref_mean": overhead, "n_failed": n_failed}


OLD = [row("fh-ensemble", 5, 0.020, 0.60, 0.010), row("original", 5, 0.100, 0.40, 0.0)]


def test_identical_and_within_tolerance_pass(tmp_path):
    old = load_rows(leaderboard(tmp_path, "old", OLD))
    assert compare(old, old, DEFAULT_TOLERANCES) == []
    nudged = [row("fh-ensemble", 5, 0.024, 0.56, 0.015), row("original", 5, 0.09, 0.9, 0.005)]
    assert compare(old, load_rows(leaderboard(tmp_path, "new", nudged)), DEFAULT_TOLERANCES) == []


def test_each_kind_of_regression_is_named(tmp_path):
    old = load_rows(leaderboard(tmp_path, "old", OLD))
    worse = [row("fh-ensemble", 5, 0.030, 0.50, 0.200, n_failed=2)]
    found = compare(old, load_rows(leaderboard(tmp_path, "new", worse)), DEFAULT_TOLERANCES)
    described = sorted(r.describe() for r in found)
    assert described == [
        "estimator=fh-ensemble epoch=5: kendall_tau_mean 0.6 -> 0.5",
        "estimator=fh-ensemble epoch=5: mae_mean 0.02 -> 0.03",
        "estimator=fh-ensemble epoch=5: n_failed 0 -> 2 (new failures)",
        "estimator=fh-ensemble epoch=5: overhead_ref_mean 0.01 -> 0.2",
        "estimator=original epoch=5: row missing from the new leaderboard",
    ]


def test_directions_come_from_the_file(tmp_path):
    """A file that says higher is better for a metric is held to that; schema-1 files get the defaults."""
    rows = [{"estimator": "e", "epoch": 1, "mae_mean": 0.5, "hit_rate": 0.8}]
    better_mae = [{"estimator": "e", "epoch": 1, "mae_mean": 0.4, "hit_rate": 0.8}]
    flipped = {"metrics": {"mae_mean": "higher", "hit_rate": "higher"}}
    old = leaderboard(tmp_path, "old", rows, **flipped)
    new = leaderboard(tmp_path, "new", better_mae, **flipped)
    assert [r.metric for r in compare_files(old, new).regressions] == ["mae_mean"]
    legacy_old, legacy_new = leaderboard(tmp_path, "lo", rows), leaderboard(tmp_path, "ln", better_mae)
    assert compare_files(legacy_old, legacy_new).regressions == []
    # a metric only the file knows is compared once it has a tolerance
    lower_hits = [{"estimator": "e", "epoch": 1, "mae_mean": 0.5, "hit_rate": 0.7}]
    worse = leaderboard(tmp_path, "worse", lower_hits, **flipped)
    assert compare_files(old, worse).regressions == []
    assert [r.metric for r in compare_files(old, worse, ["hit_rate=0.05"]).regressions] == ["hit_rate"]


def test_new_failures_are_regressions(tmp_path):
    metrics = {"metrics": {**ESTIMATION_METRICS}}
    old = leaderboard(tmp_path, "old", [{"estimator": "e", "epoch": 1, "n_failed": 0, "coverage": 1.0}], **metrics)
    fewer = leaderboard(tmp_path, "fewer", [{"estimator": "e", "epoch": 1, "n_failed": 0, "coverage": 0.9}],
                        **metrics)
    assert [r.metric for r in compare_files(old, fewer).regressions] == ["coverage"]
    assert compare_files(old, fewer, ["coverage=0.2"]).regressions == []


def test_differing_conditions_are_named_when_something_got_worse(tmp_path):
    env = {"device": "cpu", "threads": 2, "torch": "2.4.0"}
    old = leaderboard(tmp_path, "old", OLD, environment=env, traces_hash="aaa")
    same = leaderboard(tmp_path, "same", OLD, environment={**env, "threads": 1}, traces_hash="bbb")
    assert compare_files(old, same).lines()[-1] == "2 row(s) compared, 0 regression(s) beyond tolerance"
    worse = leaderboard(tmp_path, "worse", [row("fh-ensemble", 5, 0.5, 0.6, 0.01), OLD[1]],
                        environment={**env, "threads": 1}, traces_hash="bbb")
    lines = compare_files(old, worse).lines()
    assert lines[-1] == ("conditions differ between the two leaderboards (a likely reason): "
                         "scoring threads 2 -> 1; traces_hash 'aaa' -> 'bbb'")
    legacy = leaderboard(tmp_path, "legacy", OLD, environment={"score_device": "cpu", "score_threads": 2,
                                                               "torch": "2.4.0"}, traces_hash="aaa")
    assert "scoring threads 2 -> 1" in compare_files(legacy, worse).lines()[-1]


@pytest.mark.parametrize("text", ["mae_mean=nan", "mae_mean=-0.1", "mae_mean=inf", "mae_mean=-5%", "mae_mean=nan%",
                                  "mae_mean", "=0.1", "mae_mean=lots"])
def test_bad_tolerances(text):
    with pytest.raises(FhbenchError, match="--tolerance"):
        parse_tolerance(text)


def test_tolerance_overrides():
    assert parse_tolerance("mae_mean=0.02").absolute == 0.02
    assert parse_tolerance("overhead_epochs_mean=50%").relative == 0.5


def test_wall_clock_overhead_is_shown_not_gated_unless_asked(tmp_path):
    """Wall-clock overhead (estimator wall time over a training epoch recorded at another moment) flakes
    on a shared machine: it is no longer gated by default; `--tolerance` still gates it on request."""
    rows = [{"estimator": "e", "epoch": 1, "overhead_epochs_mean": 0.04, "overhead_ref_mean": 0.5}]
    loaded = [{"estimator": "e", "epoch": 1, "overhead_epochs_mean": 2.5, "overhead_ref_mean": 0.55}]
    old, new = leaderboard(tmp_path, "old", rows), leaderboard(tmp_path, "new", loaded)
    assert compare_files(old, new).regressions == []
    assert [r.metric for r in compare_files(old, new, ["overhead_epochs_mean=100%"]).regressions] == \
        ["overhead_epochs_mean"]


def test_a_column_newer_than_the_files_metrics_is_still_gated(tmp_path):
    """A schema-2 file whose "metrics" predate overhead_ref_mean: its direction is the known one."""
    metrics = {"metrics": {"mae_mean": "lower"}}
    old = leaderboard(tmp_path, "old", [row("e", 1, 0.1, 0.5, 0.2)], **metrics)
    slower = leaderboard(tmp_path, "new", [row("e", 1, 0.1, 0.5, 1.0)], **metrics)
    assert [r.metric for r in compare_files(old, slower).regressions] == ["overhead_ref_mean"]


@pytest.mark.parametrize("content, fragment", [
    ("{", "not JSON"),
    ("[1, 2]", "a JSON object expected"),
    ('{"rows": 3}', "no 'rows' list"),
    ('{"no_rows": []}', "no 'rows' list"),
    ('{"rows": [1]}', "row 0 is not an object"),
    ('{"rows": [{"mae_mean": 1}]}', "none of the key fields"),
    ('{"rows": [{"estimator": "a", "epoch": 1}, {"estimator": "a", "epoch": 1}]}', "duplicate row key"),
    ('{"rows": [{"estimator": "a", "epoch": 1, "mae_mean": "low"}]}', "not a number"),
    ('{"metrics": {"mae_mean": "smaller"}, "rows": [{"estimator": "a", "epoch": 1}]}', "'metrics'"),
])
def test_malformed_leaderboards(tmp_path, content, fragment):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = leaderboard(tmp_path, "good", OLD)
    for old, new in ((bad, good), (good, bad)):
        with pytest.raises(FhbenchError, match=fragment):
            compare_files(old, new)


def test_an_empty_reference_is_an_error(tmp_path):
    with pytest.raises(FhbenchError, match="no rows"):
        compare_files(leaderboard(tmp_path, "empty", []), leaderboard(tmp_path, "new", OLD))


def test_directions_that_disagree_are_an_error(tmp_path):
    old = leaderboard(tmp_path, "old", OLD, metrics={"mae_mean": "lower"})
    new = leaderboard(tmp_path, "new", OLD, metrics={"mae_mean": "higher"})
    with pytest.raises(FhbenchError, match="do not agree"):
        compare_files(old, new)


def test_cli_exit_codes(capsys, tmp_path):
    old = leaderboard(tmp_path, "old", OLD)
    code, out, _ = cli(capsys, "compare", old, old)
    assert code == 0 and "0 regression(s)" in out
    new = leaderboard(tmp_path, "new", [row("fh-ensemble", 5, 0.5, 0.6, 0.01), OLD[1]])
    code, out, _ = cli(capsys, "compare", old, new)
    assert code == 1 and "worse: estimator=fh-ensemble epoch=5: mae_mean 0.02 -> 0.5" in out
    assert cli(capsys, "compare", old, new, "--tolerance", "mae_mean=1")[0] == 0
    assert_one_line_error(cli(capsys, "compare", old, tmp_path / "nowhere"), "nowhere", "no such leaderboard")
    assert_one_line_error(cli(capsys, "compare", old, new, "--tolerance", "mae_mean=-1"), "--tolerance")
    assert_one_line_error(cli(capsys, "compare", old, new, "--tolerance", "nonsense=1"), "not a metric")
    assert_one_line_error(cli(capsys, "compare", leaderboard(tmp_path, "empty", []), new), "no rows")
    dup = leaderboard(tmp_path, "dup", [OLD[0], OLD[0]])
    assert_one_line_error(cli(capsys, "compare", old, dup), "duplicate row key")


# ------------------------------------------------------------------------------- suites, kinds, folders


def test_different_suites_or_kinds_are_refused_in_one_line(capsys, tmp_path):
    digits = leaderboard(tmp_path, "digits", OLD, kind="estimation", suite={"name": "quickstart", "version": "1"})
    cifar = leaderboard(tmp_path, "cifar", OLD, kind="estimation", suite={"name": "nb201-cpu", "version": "1"})
    search = leaderboard(tmp_path, "search", [{"algorithm": "random", "estimator": "original", "regret_mean": 0.1}],
                         kind="search", suite={"name": "quickstart", "version": "1"})
    assert_one_line_error(cli(capsys, "compare", digits, cifar), "different suites", "'quickstart'", "'nb201-cpu'")
    assert_one_line_error(cli(capsys, "compare", digits, search), "different kinds", "estimation", "search")
    # schema-1 files carry no "kind": a search file is known by its runs and its algorithm rows
    legacy_search = leaderboard(tmp_path, "legacy", [{"algorithm": "random", "estimator": "original",
                                                      "regret_mean": 0.1}], runs=[], suite={"name": "quickstart"})
    assert_one_line_error(cli(capsys, "compare", digits, legacy_search), "different kinds")
    live = leaderboard(tmp_path, "live", [], kind="live", suite={"name": "quickstart"}, jobs=[], incumbent="c")
    assert_one_line_error(cli(capsys, "compare", live, live), "live search", "no rows")
    # another version of the same suite is compared (its conditions are named if something got worse)
    v2 = leaderboard(tmp_path, "v2", OLD, kind="estimation", suite={"name": "quickstart", "version": "2"})
    assert cli(capsys, "compare", digits, v2)[0] == 0


def test_a_folder_without_results_is_a_one_line_error(capsys, tmp_path):
    good = leaderboard(tmp_path, "good", OLD)
    (tmp_path / "empty").mkdir()
    for args in ((tmp_path / "empty", good), (good, tmp_path / "empty")):
        assert_one_line_error(cli(capsys, "compare", *args), "empty", "no results.json in this folder")


# ----------------------------------------------------------------------------------------------- table


def test_the_whole_table_is_shown_side_by_side_with_worse_rows_marked(capsys, tmp_path):
    old_rows = [row(e, epoch, 0.1, 0.5, 0.3) for epoch in (5, 10, 15, 20)
                for e in ("fh-ensemble", "last-three-mean", "optimized", "original")]
    new_rows = [dict(r) for r in old_rows if r["estimator"] != "original" or r["epoch"] != 20]
    new_rows[0]["mae_mean"] = 0.2  # fh-ensemble at epoch 5 got worse
    new_rows.append(row("lcnet", 5, 0.1, 0.5, 0.3))  # only in the new leaderboard
    old = leaderboard(tmp_path, "old", old_rows, metrics=ESTIMATION_METRICS)
    new = leaderboard(tmp_path, "new", new_rows, metrics=ESTIMATION_METRICS)
    code, out, _ = cli(capsys, "compare", old, new)
    assert code == 1
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    block = lines[lines.index("mae_mean (lower is better; worse beyond 0.005)"):]
    assert block[1].split() == ["estimator", "epoch", "old", "new", "delta"]
    cells = {tuple(line.split()[:2]): line.split()[2:] for line in block[2:19]}
    assert len(cells) == 17  # every row of both, not only the worse ones
    assert cells[("fh-ensemble", "5")] == ["0.1", "0.2", "+0.1", "worse"]
    assert cells[("optimized", "10")] == ["0.1", "0.1", "0"]
    assert cells[("original", "20")] == ["0.1", "-", "missing"]
    assert cells[("lcnet", "5")] == ["-", "0.1", "new"]
    for metric in ("kendall_tau_mean (higher", "overhead_ref_mean (lower", "n_failed (lower"):
        assert any(line.startswith(metric) for line in lines), metric
    assert lines[-1] == "16 row(s) compared, 2 regression(s) beyond tolerance"
    assert "worse: estimator=fh-ensemble epoch=5: mae_mean 0.1 -> 0.2" in lines


def test_overhead_scored_at_several_threads_comes_with_a_caveat(tmp_path):
    one = leaderboard(tmp_path, "one", OLD, environment={"threads": 1})
    two = leaderboard(tmp_path, "two", OLD, environment={"threads": 2})
    assert not any(line.startswith("note:") for line in compare_files(one, one).lines())
    [note] = [line for line in compare_files(one, two).lines() if line.startswith("note:")]
    assert "scored at 2 torch threads" in note and "--threads 1" in note


def test_a_gated_metric_missing_from_the_reference_is_said_not_compared(tmp_path):
    old = leaderboard(tmp_path, "old", [{"estimator": "e", "epoch": 1, "mae_mean": 0.1}])
    new = leaderboard(tmp_path, "new", [{"estimator": "e", "epoch": 1, "mae_mean": 0.1, "overhead_ref_mean": 9.0}])
    lines = compare_files(old, new).lines()
    assert "overhead_ref_mean: not in the reference leaderboard, not compared" in lines
    assert lines[-1] == "1 row(s) compared, 0 regression(s) beyond tolerance"


# ------------------------------------------------------------------------------- overhead under load


class FiveTimesSlower:
    """The same estimator doing all its work five times over: a real slowdown."""

    def __init__(self, inner):
        self.inner, self.name, self.version = inner, inner.name, inner.version

    def fit(self, population):
        for _ in range(5):
            self.inner.fit(population)

    def estimate(self, trial):
        for _ in range(4):
            self.inner.estimate(trial)
        return self.inner.estimate(trial)


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.mark.slow
@pytest.mark.timing  # loads the CPU on purpose and gates CPU-time overheads: run alone (-m timing)
def test_the_overhead_gate_holds_under_a_cpu_hog_and_fails_a_real_slowdown(tmp_path):
    """The same code scored while busy processes (four times as many as the usable CPUs) compete for the
    cores does not fail the gate; fh-ensemble made five times slower does. At one torch thread, as CI
    scores (more threads than free cores spin, and spinning is CPU time)."""
    import torch

    from fhbench.estimators.harness import run_estimators
    from fhbench.estimators import create_estimator
    from fhbench.estimators.check import synthetic_population
    from fhbench.score.metrics import score

    traces = synthetic_population(tmp_path / "traces", n_trials=10, budget=8, n_train=1000, n_val=500, dim=32,
                                  classes=10)
    truths = {t.trial_id: float(t.test_curve()[-1]) for t in traces}

    def scored(name, make):
        records = run_estimators({"fh-ensemble": make()}, traces, [4, 8])
        rows = score(records, truths, {t: 1.0 for t in truths}, 8)
        folder = leaderboard(tmp_path, name, [r.as_dict() for r in rows], kind="estimation",
                             suite={"name": "synthetic"}, metrics=ESTIMATION_METRICS)
        return folder, rows

    def fh():
        return create_estimator("fh-ensemble", {"window": 4})

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scored("warm-up", fh)
        baseline, _ = scored("baseline", fh)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4 * _usable_cpus())]
        try:
            time.sleep(0.3)
            loaded, loaded_rows = scored("loaded", fh)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        slower, _ = scored("slower", lambda: FiveTimesSlower(fh()))
    finally:
        torch.set_num_threads(threads)
    # the hog did bite: under it each estimate waited for the CPU well beyond the CPU time it used
    for r in loaded_rows:
        assert r.overhead_s_mean > 1.5 * r.overhead_cpu_s_mean, r
    assert compare_files(baseline, loaded).regressions == []
    found = compare_files(baseline, slower).regressions
    assert sorted((r.key, r.metric) for r in found) == [("estimator=fh-ensemble epoch=4", "overhead_ref_mean"),
                                                        ("estimator=fh-ensemble epoch=8", "overhead_ref_mean")]
