"""Property-based checks (hypothesis): whatever a suite file, a trace file or an estimator holds, the answer
is a result or a one-line fhbench error, never a traceback of fhbench's own. A few examples run in the fast
set; the slow set runs many more."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhbench.core.errors import FhbenchError, SuiteError
from fhbench.estimators.harness import checked_estimate
from fhbench.inputs.suite import parse_suite

FAST = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MANY = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

@pytest.fixture(scope="module", autouse=True)
def hypothesis_home(tmp_path_factory):
    """Hypothesis keeps caches (its unicode tables) in a folder of its own: this module's temporary one,
    not the checkout."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


BASE = {"name": "p", "version": "1", "space": {"name": "nb201", "num_samples": 2},
        "data": {"dataset": "digits", "train_size": 100, "val_size": 50},
        "train": {"epochs": 4}, "estimate": {"every": 2, "repeats": 1, "estimators": ["original"]}}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20), st.lists(st.integers(-5, 50), max_size=4))
sections = st.sampled_from(["space", "data", "train", "record", "estimate", "search"])
keys = st.sampled_from(["name", "num_samples", "channels", "dataset", "train_size", "epochs", "lr", "window",
                        "precision", "every", "checkpoints", "repeats", "truth", "estimators", "timeout_s",
                        "cells", "augment", "budgets", "bogus"])


@st.composite
def mutated_suites(draw):
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for _ in range(draw(st.integers(1, 3))):
        section, key = draw(sections), draw(keys)
        raw.setdefault(section, {})
        if isinstance(raw[section], dict):
            raw[section][key] = draw(scalars)
    return raw


def _parse_or_suite_error(raw):
    try:
        parse_suite(raw, "prop.toml")
    except SuiteError as err:
        assert "\n" not in str(err) and str(err).startswith("prop.toml")


@FAST
@given(mutated_suites())
def test_a_mutated_suite_parses_or_is_one_suite_error(raw):
    _parse_or_suite_error(raw)


@pytest.mark.slow
@MANY
@given(mutated_suites())
def test_many_mutated_suites(raw):
    _parse_or_suite_error(raw)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_as_a_suite_file_are_one_line(tmp_path_factory, data):
    from fhbench.inputs.suite import load_suite

    path = tmp_path_factory.mktemp("suites") / "random.toml"
    path.write_bytes(data)
    try:
        load_suite(path)
    except SuiteError as err:
        assert "\n" not in str(err).strip() and str(path) in str(err)


@FAST
@given(st.one_of(scalars, st.floats(), st.complex_numbers(), st.decimals(allow_nan=True)))
def test_any_estimate_is_an_accuracy_or_a_reason(value):
    number, reason = checked_estimate(value)
    if reason is None:
        assert isinstance(number, float) and 0.0 <= number <= 1.0 and not isinstance(value, (bool, str))
    else:
        assert number is None and "is not an accuracy in [0, 1]" in reason


TRACE_FILES = ["manifest.json", "curves.npz", "timings.npz", "test.npz", "labels.npz", "classifier.npz",
               "features/0002.npz"]


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    from fhbench.estimators.check import synthetic_population

    return synthetic_population(tmp_path_factory.mktemp("pop"), n_trials=2, budget=4)


def _same_json(a: bytes, b: bytes) -> bool:
    import json

    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def _corrupt_then_read(population, tmp_path_factory, name, position, byte):
    import shutil

    from fhbench.record.store import TraceStore

    root = tmp_path_factory.mktemp("store")
    shutil.copytree(population[0].path, root / "r0-000")
    path = root / "r0-000" / name
    data = bytearray(path.read_bytes())
    index = position % len(data)
    if data[index] == byte:
        byte ^= 0xFF
    original = bytes(data)
    data[index] = byte
    path.write_bytes(bytes(data))
    if name == "manifest.json" and _same_json(original, bytes(data)):
        return  # white space changed, the content did not: nothing to notice (the manifest hashes its content)
    try:
        trace = TraceStore(root).open("r0-000")
        trace.verify()
        view = trace.view(4)
        view.features(2, "train")
        view.curve("val_acc")
    except FhbenchError as err:
        assert "\n" not in str(err) and "r0-000" in str(err)
    else:
        raise AssertionError(f"a changed byte in {name} went unnoticed")


@FAST
@given(st.sampled_from(TRACE_FILES), st.integers(0, 10**6), st.integers(0, 255))
def test_a_changed_byte_in_any_trace_file_is_a_trace_error(population, tmp_path_factory, name, position, byte):
    _corrupt_then_read(population, tmp_path_factory, name, position, byte)


@pytest.mark.slow
@MANY
@given(st.sampled_from(TRACE_FILES), st.integers(0, 10**6), st.integers(0, 255))
def test_many_changed_bytes(population, tmp_path_factory, name, position, byte):
    _corrupt_then_read(population, tmp_path_factory, name, position, byte)
