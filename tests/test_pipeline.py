"""Checks before work, the full trace check, and strict reruns."""

from __future__ import annotations

import pytest
import torch

from conftest import write_suite
from fhbench.errors import FhbenchError, SuiteError, UnknownEstimatorError
from fhbench.estimators import create_estimator
from fhbench.pipeline import check_conditions, open_store, preflight, record_suite, verify_suite
from fhbench.suite import load_suite

CPU = torch.device("cpu")


def _suite(tmp_path, extra: str = "", **kwargs):
    path = write_suite(tmp_path, **kwargs)
    path.write_text(path.read_text() + extra)
    return load_suite(path)


def _edit(suite_path, old: str, new: str):
    suite_path.write_text(suite_path.read_text().replace(old, new))
    return load_suite(suite_path)


def test_preflight_passes_a_good_suite(tmp_path):
    preflight(_suite(tmp_path))


def test_a_window_wider_than_the_recorded_one_fails_before_training(tmp_path):
    path = write_suite(tmp_path)
    suite = _edit(path, "[estimators.fh-ensemble]\nwindow = 2", "[estimators.fh-ensemble]\nwindow = 3")
    with pytest.raises(SuiteError, match=r"estimators.fh-ensemble.window.*record.window \(2\), got 3"):
        preflight(suite)
    suite = _edit(path, "[estimators.fh-ensemble]\nwindow = 3\n", "")  # the default K=10 is wider too
    with pytest.raises(SuiteError, match="got 10"):
        preflight(suite)


def test_a_misspelt_or_bad_setting_fails_before_any_data_is_read(tmp_path):
    path = write_suite(tmp_path, dataset="cifar10")  # no data directory is given: preflight must not need it
    suite = _edit(path, "keep_every = 20", "keep_evry = 20")
    with pytest.raises(SuiteError, match=r"estimators.lcnet.*keep_evry.*it takes: num_steps"):
        preflight(suite)
    suite = _edit(path, "keep_evry = 20", "keep_every = -20")
    with pytest.raises(SuiteError, match="estimators.lcnet: keep_every must be a positive int"):
        preflight(suite)


def test_settings_for_an_estimator_nobody_registered_fail(tmp_path):
    suite = _suite(tmp_path, "\n[estimators.lcnett]\nnum_steps = 3\n")
    with pytest.raises(SuiteError, match=r"\[estimators.lcnett\].*installed"):
        preflight(suite)
    with pytest.raises(UnknownEstimatorError, match="unknown estimator 'oracle'"):
        preflight(_suite(tmp_path, estimators=("original", "oracle")))


def test_the_scoring_device_is_not_a_suite_setting(tmp_path):
    assert create_estimator("fh-ensemble", device=CPU).device == CPU
    suite = _suite(tmp_path, "\n[estimators.optimized]\ndevice = \"cuda\"\n")
    with pytest.raises(SuiteError, match="--device"):
        preflight(suite)


def test_a_missing_benchmark_file_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.delenv("FHBENCH_NB201_FILE", raising=False)
    path = write_suite(tmp_path)
    suite = _edit(path, "repeats = 1", "repeats = 1\ntruth = \"nb201-api\"")
    with pytest.raises(FhbenchError, match="--nb201-file"):
        preflight(suite)
    with pytest.raises(FhbenchError, match=str(tmp_path / "nowhere.pth")):
        preflight(suite, nb201_file=str(tmp_path / "nowhere.pth"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recorded")
    suite = load_suite(write_suite(tmp, num_samples=2, epochs=2, estimators=("original",)))
    store = open_store(suite, tmp / "traces")
    record_suite(suite, store, data_dir=None, device=CPU, report=lambda message: None)
    return suite, store


def test_verify_finds_a_flipped_byte_that_opening_does_not_read(recorded, tmp_path):
    suite, store = recorded
    assert verify_suite(suite, store) == []
    victim = store.root / "r0-001" / "features" / "0002.npz"
    original = victim.read_bytes()
    try:
        data = bytearray(original)
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
        problems = verify_suite(suite, store)
        assert len(problems) == 1 and "r0-001" in problems[0] and "features/0002.npz" in problems[0]
    finally:
        victim.write_bytes(original)


def test_a_strict_rerun_refuses_traces_recorded_under_other_conditions(recorded):
    suite, store = recorded
    traces = [store.open(t) for t in store.trial_ids()]
    check_conditions(traces, CPU)  # the same process, the same conditions
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        with pytest.raises(FhbenchError, match=rf"threads {threads} \(now {threads + 1}\).*--threads {threads}"):
            check_conditions(traces, CPU)
    finally:
        torch.set_num_threads(threads)


def test_an_unwritable_leaderboard_root_fails_before_scoring(recorded, tmp_path):
    from fhbench.pipeline import check_writable, score_suite

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(FhbenchError, match="a-file.*cannot write results there"):
        check_writable(blocker / "leaderboard")
    suite, store = recorded
    calls = []
    with pytest.raises(FhbenchError, match="cannot write results there"):
        score_suite(suite, store, blocker / "leaderboard", on_step=lambda *step: calls.append(step))
    assert calls == []  # no estimator ran


def test_publishing_a_run_copies_it_whole_into_the_leaderboard_tree(recorded, tmp_path):
    from fhbench.pipeline import publish_run, score_suite

    suite, store = recorded
    run_dir, _ = score_suite(suite, store, tmp_path / "runs")
    published = publish_run(run_dir, tmp_path / "leaderboard")
    assert published == tmp_path / "leaderboard" / suite.name / suite.version
    assert sorted(p.name for p in published.iterdir()) == sorted(p.name for p in run_dir.iterdir())
    for path in run_dir.iterdir():
        assert (published / path.name).read_bytes() == path.read_bytes()
    with pytest.raises(FhbenchError, match="no results.json"):
        publish_run(tmp_path, tmp_path / "leaderboard")
    with pytest.raises(FhbenchError, match="already the published"):
        publish_run(published, tmp_path / "leaderboard")
    results = __import__("json").loads((published / "results.json").read_text())
    assert {e["config"] for e in results["estimates"]} == {store.open(t).config for t in store.trial_ids()}


@pytest.mark.parametrize("field, value", [("name", "../../escaped"), ("name", None), ("version", "..")])
def test_publishing_refuses_names_that_would_leave_the_leaderboard_tree(recorded, tmp_path, field, value):
    import json

    from fhbench.pipeline import publish_run, score_suite

    suite, store = recorded
    run_dir, _ = score_suite(suite, store, tmp_path / "runs")
    results = json.loads((run_dir / "results.json").read_text())
    results["suite"][field] = value
    (run_dir / "results.json").write_text(json.dumps(results))
    with pytest.raises(FhbenchError, match=f"suite.{field}"):
        publish_run(run_dir, tmp_path / "leaderboard")
    assert not (tmp_path / "leaderboard").exists() and not (tmp_path.parent / "escaped").exists()


def test_publishing_the_current_folder_names_it(recorded, tmp_path, monkeypatch):
    from fhbench.pipeline import publish_run, score_suite

    suite, store = recorded
    run_dir, _ = score_suite(suite, store, tmp_path / "runs")
    monkeypatch.chdir(run_dir)
    assert publish_run(".", tmp_path / "leaderboard") == tmp_path / "leaderboard" / suite.name / suite.version
