"""The registry, the conformance check over every installed estimator, and failures as rows."""

from __future__ import annotations

import ast
import math
import traceback

import numpy as np
import pytest

from conftest import REPO, cli
from fhbench.core.errors import SuiteError, UnknownEstimatorError
from fhbench.estimators.harness import run_estimators
from fhbench.estimators import available_estimators, create_estimator
from fhbench.estimators.check import check_estimator, synthetic_population
from fhbench.score.metrics import score

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


@pytest.mark.parametrize("name", ["original", "optimized", pytest.param("lcnet", marks=pytest.mark.slow),
                                  "fh-ensemble"])  # lcnet: 12 fits of its sampler, ~15 s (its own: test_lcnet.py)
def test_every_project_estimator_conforms(name, tmp_path):
    check_estimator(available_estimators()[name].load(), FAST_SETTINGS.get(name, {}), workdir=tmp_path)


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


def test_check_names_a_state_leak_as_a_state_leak():
    class Counting:
        """Deterministic when fresh, but each fit shifts what the next one gives."""
        name, version = "counting", "1"

        def __init__(self):
            self.fits = 0

        def fit(self, population):
            self.fits += 1

        def estimate(self, trial):
            return min(1.0, 0.1 * self.fits + float(trial.curve("val_acc")[-1]) / 2)

    with pytest.raises(AssertionError, match="state leaks from one fit into the next"):
        check_estimator(Counting)


def test_check_catches_estimates_that_depend_on_the_population_order():
    class FirstIsBest:
        name, version = "first-is-best", "1"

        def fit(self, population):
            self.order = [view.trial_id for view in population]

        def estimate(self, trial):
            return 1.0 - self.order.index(trial.trial_id) / len(self.order)

    with pytest.raises(AssertionError, match="depend on the order of the population"):
        check_estimator(FirstIsBest)


def test_the_harness_fits_a_fresh_copy_at_every_step_on_views_of_its_own(tmp_path):
    class Remembering:
        name, version = "remembering", "1"

        def __init__(self):
            self.seen = []

        def fit(self, population):
            self.seen.append(len(population))

        def estimate(self, trial):
            return 0.5 if self.seen == [6] else 0.0  # one fit, on the six trials of one population

    class Reader:
        name, version = "reader", "1"

        def fit(self, population):
            pass

        def estimate(self, trial):
            return float(trial.epoch) / 10

    prototype = Remembering()
    traces = synthetic_population(tmp_path)
    records = run_estimators({"remembering": prototype, "reader": Reader()}, traces, [2, 4])
    assert prototype.seen == []  # the harness never fits the object it was given
    assert {r.estimate for r in records if r.estimator == "remembering"} == {0.5}  # each fit saw one population
    assert sorted({r.estimate for r in records if r.estimator == "reader"}) == [0.2, 0.4]


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


class ReadsTheTestCurve:
    name, version = "reads-test", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return float(trial.curve("test_acc")[-1])


def _trial_folder(view):
    """What a cheat digs out of a view's private state: its trial's folder on disk."""
    for value in vars(view).values():
        files = getattr(value, "_files", None)
        if files:
            return next(iter(files.values()))[0].parents[1]
    raise AssertionError("the view's private state changed: update this cheat")


class OpensTheTestFile:
    """Reaches into the view's private state for a path, then reads the trial's test split from disk."""

    name, version = "opens-test", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return float(np.load(_trial_folder(trial) / "test.npz")["test_acc"][trial.budget - 1])


class OpensTheFullCurves:
    """Reads the trial's whole validation curve from disk: its last value is the truth of final_val_acc."""

    name, version = "opens-curves", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return float(np.load(_trial_folder(trial) / "curves.npz")["val_acc"][trial.budget - 1])


class ReachesForTheTrace:
    name, version = "reaches-trace", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return float(trial._trace.test_curve()[-1])


@pytest.mark.parametrize("cheat", [ReadsTheTestCurve, OpensTheTestFile, OpensTheFullCurves, ReachesForTheTrace])
def test_a_cheating_estimator_fails_the_check_and_cannot_score(tmp_path, cheat):
    with pytest.raises(AssertionError, match="test split|AttributeError|sealed"):
        check_estimator(cheat)
    traces = synthetic_population(tmp_path, n_trials=6, budget=4)
    truths = {t.trial_id: float(t.test_curve()[-1]) for t in traces}
    records = run_estimators({"cheat": cheat(), "original": create_estimator("original")}, traces, [4])
    assert all(r.estimate is None for r in records if r.estimator == "cheat")
    rows = {row.estimator: row for row in score(records, truths, {t: 1.0 for t in truths}, 4)}
    assert rows["cheat"].coverage == 0 and rows["cheat"].n_failed == 6
    assert rows["cheat"].mae_mean == pytest.approx(np.mean(list(truths.values())))  # failures score as 0.0
    assert rows["cheat"].mae_mean > rows["original"].mae_mean


def test_failing_on_hard_trials_does_not_improve_a_score(tmp_path):
    traces = synthetic_population(tmp_path, n_trials=6, budget=4)
    truths = {t.trial_id: float(t.test_curve()[-1]) for t in traces}
    hardest = sorted(truths, key=lambda t: abs(truths[t] - 0.5))[-2:]  # where 0.5 is furthest off

    class Honest:
        name, version = "honest", "1"

        def fit(self, population):
            pass

        def estimate(self, trial):
            return 0.5

    class Dodges(Honest):
        name = "dodges"

        def estimate(self, trial):
            if trial.trial_id in hardest:
                raise RuntimeError("too hard")
            return 0.5

    records = run_estimators({"honest": Honest(), "dodges": Dodges()}, traces, [4])
    rows = {row.estimator: row for row in score(records, truths, {t: 1.0 for t in truths}, 4)}
    assert rows["dodges"].n_failed == 2 and rows["dodges"].coverage == pytest.approx(4 / 6)
    assert rows["dodges"].mae_mean >= rows["honest"].mae_mean


def test_estimators_command_lists_package_and_version(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli(capsys, "estimators")
    assert code == 0, err
    for name in ("original", "optimized", "lcnet", "fh-ensemble", "fhbench"):
        assert name in out


# ------------------------------------------------------------------------------------------- fail fast


def _frames(err: BaseException) -> list[str]:
    return [frame.name for frame in traceback.extract_tb(err.__traceback__)]


def test_fail_fast_raises_the_estimators_own_exception_with_its_traceback(tmp_path):
    traces = synthetic_population(tmp_path, n_trials=4, budget=4)
    estimators = {"original": create_estimator("original"), "exploding": Exploding()}
    with pytest.raises(RuntimeError, match="boom") as caught:
        run_estimators(estimators, traces, [2, 4], fail_fast=True)
    assert _frames(caught.value)[-1] == "estimate"  # raised where the estimator raised it
    assert 'raise RuntimeError("boom' in "".join(traceback.format_exception(caught.value))
    assert any("estimator 'exploding' failed in estimate on trial r0-001 at epoch 2" in note
               for note in caught.value.__notes__)
    assert caught.value.fhbench_estimator == "exploding"
    with pytest.raises(MemoryError, match="too big") as caught:
        run_estimators({"fitfails": FitFails()}, traces, [2], fail_fast=True)
    assert _frames(caught.value)[-1] == "fit"
    assert "failed in fit at epoch 2" in caught.value.__notes__[0]


def test_fail_fast_names_an_estimate_that_is_not_an_accuracy(tmp_path):
    from fhbench.estimators.harness import InvalidEstimateError

    class Nan:
        name, version = "nan", "1"

        def fit(self, population):
            pass

        def estimate(self, trial):
            return math.nan

    traces = synthetic_population(tmp_path, n_trials=2, budget=4)
    expected = "estimator 'nan' on trial r0-000 at epoch 4.*nan is not an accuracy"
    with pytest.raises(InvalidEstimateError, match=expected) as caught:
        run_estimators({"nan": Nan()}, traces, [4], fail_fast=True)
    assert caught.value.fhbench_estimator == "nan"
    records = run_estimators({"nan": Nan()}, traces, [4])  # without fail_fast: failed records, no exception
    assert [r.estimate for r in records] == [None, None]


# ------------------------------------------------------------------------------------ overhead clocks


class Spins:
    """Burns `seconds` of CPU per estimate, or sleeps them (time that is not CPU work)."""

    name, version = "spins", "1"

    def __init__(self, seconds, sleep=False):
        self.seconds, self.sleep = seconds, sleep

    def fit(self, population):
        pass

    def estimate(self, trial):
        import time

        if self.sleep:
            time.sleep(self.seconds)
        else:
            end = time.process_time() + self.seconds
            while time.process_time() < end:
                pass
        return 0.5


@pytest.mark.slow
@pytest.mark.timing  # bounds measured CPU and wall times: run alone (-m timing)
def test_overhead_is_timed_on_the_cpu_clock_beside_the_wall_clock_in_reference_units(tmp_path):
    traces = synthetic_population(tmp_path, n_trials=3, budget=4)
    truths = {t.trial_id: float(t.test_curve()[-1]) for t in traces}
    records = run_estimators({"spins": Spins(0.02), "sleeps": Spins(0.02, sleep=True)}, traces, [2, 4])
    spins = [r for r in records if r.estimator == "spins"]
    sleeps = [r for r in records if r.estimator == "sleeps"]
    # The CPU clock is the process's: other threads' work lands in it too (a library's leftover thread
    # from an earlier test), so the upper bounds leave some room; what is checked is spin against sleep.
    assert all(0.02 <= r.overhead_cpu_s < 0.06 and r.overhead_s >= 0.02 for r in spins)
    assert all(r.overhead_s >= 0.02 and r.overhead_cpu_s < 0.015 for r in sleeps)  # waiting is not CPU work
    # one reference timing per (repeat, checkpoint), shared by the estimators of that step
    assert len({(r.checkpoint, r.reference_cpu_s) for r in records}) == 2
    assert all(0 < r.reference_cpu_s < 1 for r in records)
    rows = {(row.estimator, row.epoch): row for row in score(records, truths, {t: 1.0 for t in truths}, 4)}
    reference = float(np.median([r.reference_cpu_s for r in records]))
    row = rows[("spins", 2)]
    assert row.overhead_cpu_s_mean == pytest.approx(np.mean([r.overhead_cpu_s for r in spins if r.checkpoint == 2]))
    assert row.overhead_ref_mean == pytest.approx(row.overhead_cpu_s_mean / reference)
    assert rows[("sleeps", 2)].overhead_ref_mean < 0.25 * row.overhead_ref_mean


def test_rows_without_reference_timings_have_no_reference_overhead(tmp_path):
    """Records made outside run_estimators (or before the reference existed) give NaN, not a number."""
    from fhbench.estimators.harness import EstimateRecord

    records = [EstimateRecord("e", 0, 4, f"t{i}", 0.5, 0.01, None, 0.01) for i in range(3)]
    [row] = score(records, {f"t{i}": 0.4 + 0.1 * i for i in range(3)}, {f"t{i}": 1.0 for i in range(3)}, 4)
    assert row.overhead_cpu_s_mean == pytest.approx(0.01)
    assert math.isnan(row.overhead_ref_mean)


def test_a_rank_only_estimator_is_scored_without_mae():
    from fhbench.estimators.harness import EstimateRecord

    truths = {f"t{i}": 0.5 + 0.1 * i for i in range(4)}
    records = [EstimateRecord(trial_id=f"t{i}", estimator=name, repeat=0, checkpoint=5, estimate=value,
                              overhead_s=0.01, error=None)
               for name in ("ranker", "plain") for i, value in enumerate((0.01, 0.02, 0.03, 0.04))]
    rows = {row.estimator: row for row in score(records, truths, {t: 1.0 for t in truths}, 10,
                                                rank_only=frozenset({"ranker"}))}
    assert math.isnan(rows["ranker"].mae_mean) and rows["ranker"].rank_only
    assert rows["ranker"].kendall_tau_mean == pytest.approx(1.0)
    assert rows["plain"].mae_mean == pytest.approx(np.mean([0.49, 0.58, 0.67, 0.76]))
    assert not rows["plain"].rank_only


def test_rank_only_must_be_a_bool():
    class Vague:
        name, version, rank_only = "vague", "1", "yes"

        def fit(self, population):
            pass

        def estimate(self, trial):
            return 0.5

    with pytest.raises(AssertionError, match="rank_only"):
        check_estimator(Vague)


@pytest.mark.parametrize("vandalism", ["attribute", "array"])
def test_views_are_read_only_and_check_names_an_estimator_that_changes_them(tmp_path, vandalism):
    class Vandal:
        name, version = "vandal", "1"

        def fit(self, population):
            if vandalism == "attribute":
                population[0].epoch = 1
            else:
                population[0].config_vector[:] = 0

        def estimate(self, trial):
            return 0.5

    with pytest.raises(AssertionError, match="views it is handed, which are read-only"):
        check_estimator(Vandal)
    view = synthetic_population(tmp_path)[0].view(3)
    with pytest.raises(AttributeError, match="read-only"):
        view.budget = 10
    assert view.budget == 8


def test_the_view_protocol_lists_what_shipped_estimators_read(tmp_path):
    """Every attribute a shipped estimator reads off a view (`view.x`, `trial.x`, `v.x`) is in the
    TraceViewLike Protocol, and the harness's views satisfy it."""
    import re

    from fhbench.estimators import TraceViewLike

    declared = set(TraceViewLike.__annotations__) | {name for name in vars(TraceViewLike) if not name.startswith("_")}
    sources = [*(REPO / "baselines").glob("*.py"), *(REPO / "fhbench" / "estimators").glob("*.py")]
    used = {match.group(2) for path in sources
            for match in re.finditer(r"\b(view|trial|v)\.([a-z_]+)\b", path.read_text())}
    assert used and used <= declared, sorted(used - declared)
    view = synthetic_population(tmp_path)[0].view(3)
    assert isinstance(view, TraceViewLike) and all(hasattr(view, name) for name in declared)
