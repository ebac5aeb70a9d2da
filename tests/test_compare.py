"""`fhbench compare`: a CI regression gate over two leaderboards."""

from __future__ import annotations

import json

import pytest

from conftest import assert_one_line_error, cli
from fhbench.compare import DEFAULT_TOLERANCES, compare, compare_files, load_rows, parse_tolerance
from fhbench.errors import FhbenchError
from fhbench.publish import ESTIMATION_METRICS


def leaderboard(tmp_path, name, rows, **header):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({**header, "rows": rows}))
    return folder


def row(estimator, epoch, mae, tau, overhead, n_failed=0):
    return {"estimator": estimator, "epoch": epoch, "mae_mean": mae, "kendall_tau_mean": tau,
            "overhead_epochs_mean": overhead, "n_failed": n_failed}


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
        "estimator=fh-ensemble epoch=5: overhead_epochs_mean 0.01 -> 0.2",
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
    assert compare_files(old, same).lines() == ["2 row(s) compared, 0 regression(s) beyond tolerance"]
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
