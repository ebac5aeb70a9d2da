"""The registry, the conformance check over every installed estimator, and failures as rows."""

from __future__ import annotations

import ast
import math

import pytest

from conftest import REPO, run_cli
from fhbench.errors import SuiteError, UnknownEstimatorError
from fhbench.estimate import run_estimators
from fhbench.estimators import available_estimators, create_estimator
from fhbench.estimators.check import check_estimator, synthetic_population

FAST_SETTINGS = {"lcnet": {"num_steps": 300, "burn_in_steps": 100, "keep_every": 20}}


def test_the_four_estimators_arrive_through_entry_points():
    registry = available_estimators()
    assert {"original", "optimized", "lcnet", "fh-ensemble"} <= set(registry)
    assert registry["lcnet"].target.startswith("fhbench_baselines.")
    assert registry["fh-ensemble"].package == "fhbench"


def test_core_never_imports_the_baselines():
    for path in (REPO / "fhbench").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] in ("baselines", "fhbench_baselines") for name in names), path


@pytest.mark.parametrize("name", sorted(available_estimators()))
def test_every_installed_estimator_conforms(name):
    check_estimator(available_estimators()[name].load(), FAST_SETTINGS.get(name, {}))


def test_conformance_check_catches_a_broken_estimator():
    class Peeker:
        name, version = "peeker", "1"

        def fit(self, population):
            pass

        def estimate(self, trial):
            return float(trial.curve("val_acc")[-1]) + trial.features(trial.budget, "val").mean().item() * 0

    with pytest.raises(Exception, match="after the view's epoch"):
        check_estimator(Peeker)

    class Random:
        name, version = "random", "1"
        calls = 0

        def fit(self, population):
            pass

        def estimate(self, trial):
            Random.calls += 1
            return (Random.calls % 7) / 7

    with pytest.raises(AssertionError, match="not deterministic"):
        check_estimator(Random)


def test_unknown_estimator_and_bad_settings():
    with pytest.raises(UnknownEstimatorError, match="unknown estimator 'oracle'.*fh-ensemble"):
        create_estimator("oracle")
    with pytest.raises(SuiteError, match="estimators.fh-ensemble"):
        create_estimator("fh-ensemble", {"windw": 3})
    with pytest.raises(SuiteError, match="estimators.lcnet"):
        create_estimator("lcnet", {"num_steps": -5})


class Exploding:
    name, version = "exploding", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        if trial.trial_id.endswith("1"):
            raise RuntimeError("boom\nsecond line")
        if trial.trial_id.endswith("2"):
            return math.nan
        return 0.5


class FitFails:
    name, version = "fitfails", "1"

    def fit(self, population):
        raise MemoryError("too big")

    def estimate(self, trial):
        return 0.5


def test_an_estimator_that_raises_becomes_failed_rows(tmp_path):
    traces = synthetic_population(tmp_path, n_trials=4, budget=4)
    records = run_estimators({"exploding": Exploding(), "fitfails": FitFails(),
                              "original": create_estimator("original")}, traces, [2, 4])
    assert len(records) == 3 * 2 * 4
    by = {(r.estimator, r.checkpoint, r.trial_id): r for r in records}
    assert by[("exploding", 2, "r0-001")].error == "RuntimeError: boom"
    assert "not an accuracy" in by[("exploding", 2, "r0-002")].error
    assert by[("exploding", 2, "r0-000")].estimate == 0.5
    assert all(r.error == "fit: MemoryError: too big" for r in records if r.estimator == "fitfails")
    assert all(r.error is None and 0 <= r.estimate <= 1 for r in records if r.estimator == "original")
    assert all(r.overhead_s >= 0 for r in records)


def test_estimators_command_lists_package_and_version(tmp_path):
    result = run_cli("estimators", cwd=tmp_path, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for name in ("original", "optimized", "lcnet", "fh-ensemble", "fhbench"):
        assert name in result.stdout
