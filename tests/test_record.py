"""Recording: deterministic on the CPU, diverging runs become failed trials, features kept as asked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import record_traces, write_suite
from fhbench.inputs.data import load_splits
from fhbench.engine.pipeline import open_store, score_suite
from fhbench.record.train import plan_trials
from fhbench.core.errors import FhbenchError
from fhbench.inputs.suite import load_suite
from fhbench.record.format import CURVES
from fhbench.spaces import suite_space

CPU = torch.device("cpu")


def _trace_arrays(trace):
    """Everything a trace holds except wall-clock timings, which differ between any two runs."""
    arrays = {f"curve:{name}": trace.curve(name) for name in CURVES}
    arrays["test_acc"] = trace.test_curve()
    for epoch in trace.feature_epochs:
        for split in ("train", "val"):
            arrays[f"features:{epoch}:{split}"] = trace.features(epoch, split).numpy()
    for epoch in range(1, trace.epochs_completed + 1):
        w, b = trace.classifier(epoch)
        arrays[f"classifier:{epoch}"] = np.concatenate([w.numpy().ravel(), b.numpy()])
    return arrays


def test_two_recordings_with_the_same_seed_are_identical(tmp_path):
    suite = load_suite(write_suite(tmp_path, num_samples=2, epochs=3))
    first, second = record_traces(suite, tmp_path / "a"), record_traces(suite, tmp_path / "b")
    for trial_id in first.trial_ids():
        a, b = _trace_arrays(first.open(trial_id)), _trace_arrays(second.open(trial_id))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{trial_id} {key}")
    other = load_suite(write_suite(tmp_path, "other", num_samples=2, epochs=3).parent / "other.toml")
    assert plan_trials(other, suite_space(other))[0].seed == plan_trials(suite, suite_space(suite))[0].seed


def test_trace_contents_follow_the_suite(tmp_path):
    path = write_suite(tmp_path, num_samples=1, epochs=6)
    path.write_text(path.read_text().replace("window = 2", "window = 2\ntrain_subset = 50")
                    .replace("\nevery = 2", "\ncheckpoints = [3, 6]"))
    suite = load_suite(path)
    trace = record_traces(suite, tmp_path / "t").open("r0-000")
    assert trace.feature_epochs == (2, 3, 5, 6)  # the window of 2 before each checkpoint
    assert trace.features(3, "train").shape == (50, 16) and trace.labels("train").shape == (50,)
    assert trace.features(3, "val").shape == (100, 16)
    splits = load_splits("digits", None, 300, 100, 100, 0)
    assert torch.equal(trace.labels("train"), splits.train.labels[:50])
    assert torch.equal(trace.labels("val"), splits.val.labels)
    test_acc = trace.test_curve()
    assert np.isnan(test_acc[0]) and np.isfinite(test_acc[[2, 5]]).all()  # evaluated at checkpoints
    lr = trace.curve("lr")
    assert lr[0] == pytest.approx(0.1) and lr[-1] < lr[0] / 5  # linear decay towards zero
    manifest = json.loads((trace.path / "manifest.json").read_text())
    assert manifest["dataset_source"] == "sklearn-digits" and manifest["config"] == trace.config
    assert not trace.has_predictions  # record.predictions is off by default
    conditions = manifest["conditions"]
    assert conditions["device"] == "cpu" and conditions["threads"] == torch.get_num_threads()
    assert conditions["torch"] == torch.__version__ and conditions["deterministic_algorithms"] is False


def test_a_diverging_run_is_a_recorded_failed_trial(tmp_path):
    suite = load_suite(write_suite(tmp_path, num_samples=2, epochs=4, lr=1e9, estimators=("original",)))
    store = record_traces(suite, tmp_path / "t")
    statuses = {store.open(t).status for t in store.trial_ids()}
    assert statuses == {"diverged"}
    with pytest.raises(FhbenchError, match="no trial completed.*2 of 2 diverged"):
        score_suite(suite, store, tmp_path / "lb")
    assert not (tmp_path / "lb").exists()  # no empty leaderboard that reads as a result


def test_a_diverged_trial_among_finished_ones_is_listed_as_failed(tmp_path):
    suite = load_suite(write_suite(tmp_path, num_samples=3, epochs=2, estimators=("original",)))
    store = record_traces(suite, tmp_path / "t")
    trial = plan_trials(suite, suite_space(suite))[1]
    record_trial_diverged(suite, store, trial)
    out, rows = score_suite(suite, store, tmp_path / "lb")
    results = json.loads((out / "results.json").read_text())
    assert [f["trial_id"] for f in results["failed_trials"]] == [trial.trial_id]
    assert results["trials_scored"] == 2 and all(row["n_estimates"] == 2 for row in results["rows"])


def record_trial_diverged(suite, store, trial):
    """Re-records one planned trial with a learning rate that makes it diverge, under its own id."""
    import dataclasses

    from fhbench.inputs.data import load_splits as splits_of
    from fhbench.record.train import record_trial

    hot = dataclasses.replace(suite, train=dataclasses.replace(suite.train, lr=1e9))
    d = suite.data
    splits = splits_of(d.dataset, None, d.train_size, d.val_size, d.test_size, d.split_seed)
    assert record_trial(trial, hot, suite_space(suite), splits, store, CPU) == "diverged"


def test_records_real_cifar10(tmp_path, shared_data):
    path = write_suite(tmp_path, "cifar", num_samples=1, epochs=2, dataset="cifar10", train_size=256,
                       augment="crop-flip", estimators=("original", "fh-ensemble"))
    suite = load_suite(path)
    store = record_traces(suite, tmp_path / "t", data_dir=shared_data)
    trace = store.open("r0-000")
    assert trace.manifest["dataset_source"] == "cifar10-jpeg"
    assert trace.features(2, "train").shape == (256, 16)
    assert 0 < trace.curve("val_acc")[-1] < 1


# record.predictions: each epoch's arg-max validation predictions, one byte per image.

def _predictions_suite(tmp_path):
    path = write_suite(tmp_path, "seen", num_samples=1, epochs=4, estimators=("original",))
    path.write_text(path.read_text().replace("window = 2\n", 'window = 2\npredictions = true\nprecision = "float32"\n'))
    return load_suite(path)


def test_recorded_predictions_are_the_arg_max_of_the_saved_classifier(tmp_path):
    """The recorded predictions come from the validation pass itself. The saved classifier applied to
    the saved validation features gives them back exactly where features are kept in float32 (the same
    float32 inputs, one batch: digits has 100 validation images, `evaluate` batches 1024); rounding the
    features to float16 can flip near-ties, so there they agree only nearly."""
    suite = _predictions_suite(tmp_path)
    trace = record_traces(suite, tmp_path / "t").open("r0-000")
    trace.verify()
    history = trace.predictions()
    labels = trace.labels("val").numpy()
    assert history.dtype == np.uint8 and history.shape == (4, 100)
    assert "predictions.npz" in trace.manifest["files"]
    np.testing.assert_array_equal((history == labels).mean(1), trace.curve("val_acc"))  # the same pass
    assert trace.feature_epochs == (1, 2, 3, 4)
    for epoch in trace.feature_epochs:
        w, b = trace.classifier(epoch)
        features = trace.features(epoch, "val")
        again = torch.nn.functional.linear(features, w, b).argmax(1).numpy()
        np.testing.assert_array_equal(again, history[epoch - 1], err_msg=f"epoch {epoch}")
        rounded = torch.nn.functional.linear(features.half().float(), w, b).argmax(1).numpy()
        assert (rounded == history[epoch - 1]).mean() >= 0.97
    assert len(set(map(tuple, history))) > 1  # the predictions change as training goes on


def test_a_dataset_with_more_classes_than_a_byte_holds_is_refused(tmp_path):
    import dataclasses

    from fhbench.core.errors import SuiteError
    from fhbench.record.train import check_prediction_classes, record_trial

    suite = _predictions_suite(tmp_path)
    splits = dataclasses.replace(load_splits("digits", None, 300, 100, 100, 0), num_classes=257)
    store = open_store(suite, tmp_path / "t")
    trial = plan_trials(suite, suite_space(suite))[0]
    with pytest.raises(SuiteError, match="record.predictions.*257 classes.*at most 256"):
        record_trial(trial, suite, suite_space(suite), splits, store, CPU)
    assert not (store.root / ".partial").exists() and list(store.trial_ids()) == []
    plain = dataclasses.replace(suite, record=dataclasses.replace(suite.record, predictions=False))
    check_prediction_classes(plain, 257)  # without predictions any class count is recorded
    check_prediction_classes(suite, 256)  # class indices 0..255 fit in a byte


@pytest.mark.parametrize("stem", ["quickstart", "nb201-cpu", "nb201-search-cpu", "nb201"])
def test_record_predictions_is_hashed_and_published_only_when_set(stem):
    """A suite that leaves record.predictions out, or writes it as false, keeps its hashes and its trace
    store (tests/test_suite.py pins the committed suites' record hashes)."""
    import tomllib

    from conftest import REPO
    from fhbench.inputs.suite import parse_suite

    raw = tomllib.loads((REPO / "suites" / f"{stem}.toml").read_text())
    base = parse_suite(raw)
    assert "predictions" not in base.to_dict()["record"]
    off = parse_suite({**raw, "record": {**raw.get("record", {}), "predictions": False}})
    on = parse_suite({**raw, "record": {**raw.get("record", {}), "predictions": True}})
    assert (off.record_hash, off.hash) == (base.record_hash, base.hash)
    assert on.record_hash != base.record_hash and on.hash != base.hash and on.to_dict()["record"]["predictions"]
