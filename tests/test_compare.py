"""`fhbench compare`: a CI regression gate over two leaderboards."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from fhbench.compare import DEFAULT_TOLERANCES, compare, load_rows, parse_tolerance
from fhbench.errors import FhbenchError


def leaderboard(tmp_path, name, rows):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"rows": rows}))
    return folder


def row(estimator, epoch, mae, tau, overhead):
    return {"estimator": estimator, "epoch": epoch, "mae_mean": mae, "kendall_tau_mean": tau,
            "overhead_epochs_mean": overhead}


OLD = [row("fh-ensemble", 5, 0.020, 0.60, 0.010), row("original", 5, 0.100, 0.40, 0.0)]


def test_identical_and_within_tolerance_pass(tmp_path):
    old = load_rows(leaderboard(tmp_path, "old", OLD))
    assert compare(old, old, DEFAULT_TOLERANCES) == []
    nudged = [row("fh-ensemble", 5, 0.024, 0.56, 0.015), row("original", 5, 0.09, 0.9, 0.005)]
    assert compare(old, load_rows(leaderboard(tmp_path, "new", nudged)), DEFAULT_TOLERANCES) == []


def test_each_kind_of_regression_is_named(tmp_path):
    old = load_rows(leaderboard(tmp_path, "old", OLD))
    worse = [row("fh-ensemble", 5, 0.030, 0.50, 0.200)]
    found = compare(old, load_rows(leaderboard(tmp_path, "new", worse)), DEFAULT_TOLERANCES)
    described = sorted(r.describe() for r in found)
    assert described == [
        "estimator=fh-ensemble epoch=5: kendall_tau_mean 0.6 -> 0.5",
        "estimator=fh-ensemble epoch=5: mae_mean 0.02 -> 0.03",
        "estimator=fh-ensemble epoch=5: overhead_epochs_mean 0.01 -> 0.2",
        "estimator=original epoch=5: row missing from the new leaderboard",
    ]


def test_tolerance_overrides():
    assert parse_tolerance("mae_mean=0.02").absolute == 0.02
    assert parse_tolerance("overhead_epochs_mean=50%").relative == 0.5
    for bad in ("mae=0.1", "mae_mean", "mae_mean=lots"):
        with pytest.raises(FhbenchError, match="--tolerance"):
            parse_tolerance(bad)


def test_cli_exit_codes(tmp_path):
    old = leaderboard(tmp_path, "old", OLD)
    same = run_cli("compare", str(old), str(old), cwd=tmp_path)
    assert same.returncode == 0 and "0 regression(s)" in same.stdout
    new = leaderboard(tmp_path, "new", [row("fh-ensemble", 5, 0.5, 0.6, 0.01), OLD[1]])
    worse = run_cli("compare", str(old), str(new), cwd=tmp_path)
    assert worse.returncode == 1 and "worse: estimator=fh-ensemble epoch=5: mae_mean 0.02 -> 0.5" in worse.stdout
    relaxed = run_cli("compare", str(old), str(new), "--tolerance", "mae_mean=1", cwd=tmp_path)
    assert relaxed.returncode == 0
    missing = run_cli("compare", str(old), str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "nowhere" in missing.stderr and "Traceback" not in missing.stderr
