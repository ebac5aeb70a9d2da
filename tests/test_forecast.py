"""The recording's predicted wall time (fhbench.record.forecast): said before any trial trains, from a
few timed steps; the arithmetic from steps to trials to workers; the caller's random state untouched."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import cli, write_suite
from fhbench.engine.pipeline import load_suite_splits
from fhbench.inputs.suite import load_suite
from fhbench.record import forecast as forecast_module
from fhbench.record.forecast import duration, forecast, step_seconds
from fhbench.record.train import plan_trials
from fhbench.spaces import suite_space


@pytest.fixture
def tiny(tmp_path):
    suite = load_suite(write_suite(tmp_path, num_samples=4, epochs=3))
    return suite, suite_space(suite), load_suite_splits(suite, None, False)


def test_the_prediction_comes_before_the_first_trial_finishes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, num_samples=2, epochs=2, estimators=("original",))
    code, out, err = cli(capsys, "record", str(suite), "--threads", "1", "--traces", "t")
    assert code == 0, err
    lines = out.splitlines()
    said = [i for i, line in enumerate(lines) if line.startswith("predicted wall time on this cpu: about ")]
    assert len(said) == 1, out
    assert "for 2 trial(s), one at a time (from " in lines[said[0]]
    assert not any("trial 1/" in line or "recorded 2 trial" in line for line in lines[:said[0]]), out


def test_timing_steps_leaves_the_random_state_as_it_was(tiny):
    suite, space, splits = tiny
    trial = plan_trials(suite, space)[0]
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    seconds, steps = step_seconds(trial, suite, space, splits, torch.device("cpu"), steps=2)
    assert seconds > 0 and steps == 2
    assert torch.equal(torch.random.get_rng_state(), before)


def test_steps_become_trials_and_workers_share_them(tiny, monkeypatch):
    """With each step taking 0.5 s: every trial is epochs x steps per epoch x 0.5 s of training plus its
    validation images at a third of a training image; two workers halve it."""
    suite, space, splits = tiny
    monkeypatch.setattr(forecast_module, "step_seconds", lambda *args, **kwargs: (0.5, 3))
    todo = plan_trials(suite, space)
    one, two = (forecast(todo, suite, space, splits, torch.device("cpu"), workers=w) for w in (1, 2))
    n_train, n_val, batch = len(splits.train.labels), len(splits.val.labels), suite.train.batch_size
    per_image = 0.5 / min(batch, n_train)
    tests = len(set(suite.checkpoints) | {suite.train.epochs}) if suite.train.record_test else 0
    per_trial = (suite.train.epochs * math.ceil(n_train / batch) * 0.5
                 + (suite.train.epochs * n_val + tests * len(splits.test.labels)) * per_image / 3)
    assert one.seconds == pytest.approx(len(todo) * per_trial)
    assert two.seconds == pytest.approx(one.seconds / 2)
    assert (one.trials, one.timed_trials, one.timed_steps) == (len(todo), 3, 9)


def test_nothing_to_time_gives_no_prediction(tiny, monkeypatch):
    suite, space, splits = tiny
    monkeypatch.setattr(forecast_module, "step_seconds", lambda *args, **kwargs: None)
    assert forecast(plan_trials(suite, space), suite, space, splits, torch.device("cpu")) is None
    assert forecast([], suite, space, splits, torch.device("cpu")) is None


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (600, "10 min"), (7200, "2.0 h"), (30 * 86400, "30.0 days")])
def test_durations_read_in_units_a_person_uses(seconds, text):
    assert duration(seconds) == text
