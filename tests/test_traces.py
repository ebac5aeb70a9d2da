"""The trace store: whole-or-nothing trials, checksums, and views that refuse to look ahead."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fhbench.core.errors import LookAheadError, TraceError
from fhbench.estimators.check import synthetic_population
from fhbench.core.seal import TruthAccessError, sealed
from fhbench.record.format import StoreBusyError
from fhbench.record.store import TraceStore
from fhbench.record.trace import TrialTrace


@pytest.fixture
def population(tmp_path):
    return synthetic_population(tmp_path / "store", n_trials=2, budget=6)


def test_round_trip(population):
    trace = population[1]
    assert trace.status == "complete" and trace.epochs_completed == 6 and trace.budget == 6
    assert trace.feature_epochs == (1, 2, 3, 4, 5, 6)
    assert trace.features(3, "train").dtype == torch.float32
    assert trace.features(3, "train").shape == (300, 16) and trace.features(3, "val").shape == (200, 16)
    assert trace.labels("train").shape == (300,) and trace.labels("val").dtype == torch.int64
    w, b = trace.classifier(6)
    assert w.shape == (4, 16) and b.shape == (4,)
    assert len(trace.curve("val_acc")) == 6


def test_view_refuses_every_read_past_its_epoch(population):
    view = population[0].view(3)
    assert view.epoch == 3 and view.budget == 6 and view.kept_epochs == (1, 2, 3)
    assert len(view.curve("val_acc")) == 3
    np.testing.assert_array_equal(view.curve("val_acc"), population[0].curve("val_acc")[:3])
    view.features(3, "val")
    view.classifier(3)
    with pytest.raises(LookAheadError):
        view.features(4, "train")
    with pytest.raises(LookAheadError):
        view.features(6, "val")
    with pytest.raises(LookAheadError):
        view.classifier(4)
    view.curve("val_acc")[:] = 0  # a copy: the estimator cannot change the trace
    assert population[0].curve("val_acc")[0] != 0
    with pytest.raises(ValueError):
        population[0].view(7)


def test_unfinished_trial_is_not_counted_and_is_redone(tmp_path):
    store = TraceStore(tmp_path)
    writer = store.writer("r0-000", {"config": "c"})
    writer.queue_size = 0  # write in this thread: the old attempt's files are on disk before the new one starts
    writer.write_features(1, np.zeros((2, 2), np.float16), np.zeros((2, 2), np.float16))
    assert (writer.dir / "features").exists()
    assert not store.has("r0-000") and list(store.trial_ids()) == []
    again = store.writer("r0-000", {"config": "c"})  # a new attempt starts clean
    assert not (again.dir / "features").exists()
    writer.close()  # a crashed process takes its writer thread with it; this one lives on in pytest
    again.close()


def test_a_flipped_byte_is_found_when_the_file_is_read(population):
    path = population[0].path / "features" / "0004.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    trace = TrialTrace(population[0].path)  # opening checks sizes only: hashing 384 GB up front would not scale
    trace.features(3, "train")
    with pytest.raises(TraceError, match=r"r0-000.*features/0004.npz.*checksum"):
        trace.features(4, "train")
    with pytest.raises(TraceError, match=r"features/0004.npz"):
        trace.view(6).features(4, "val")
    with pytest.raises(TraceError, match=r"features/0004.npz"):
        trace.verify()


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_truncated_or_missing_file_is_found_on_opening(population, damage):
    path = population[0].path / "features" / "0004.npz"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.unlink()
    with pytest.raises(TraceError, match=r"r0-000.*features/0004.npz"):
        TrialTrace(population[0].path)


def test_bad_manifest_is_reported(population):
    manifest = population[0].path / "manifest.json"
    manifest.write_text(manifest.read_text()[:-20])
    with pytest.raises(TraceError, match="unreadable manifest.json"):
        TrialTrace(population[0].path)
    manifest.write_text(json.dumps({"schema": 99}))
    with pytest.raises(TraceError, match="schema"):
        TrialTrace(population[0].path)


@pytest.mark.parametrize("field, value", [("status", "diverged"), ("config", "synthetic-5"), ("budget", 7),
                                          ("feature_epochs", [1, 2, 3])])
def test_a_hand_edited_manifest_is_refused(population, field, value):
    path = population[0].path / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    with pytest.raises(TraceError, match="own checksum"):
        TrialTrace(population[0].path)


def test_a_manifest_that_disagrees_with_its_files_is_refused(population):
    from fhbench.record.format import manifest_digest

    path = population[0].path / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["feature_epochs"] = [1, 2, 3]  # files for 4..6 are still listed: re-signed, but inconsistent
    manifest["manifest_sha256"] = manifest_digest(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(TraceError, match="do not match its epochs"):
        TrialTrace(population[0].path)


def test_the_view_holds_no_test_data_and_no_way_to_it(population):
    trace = population[0]
    view = trace.view(6)
    with pytest.raises(TruthAccessError):
        view.curve("test_acc")
    with pytest.raises(TruthAccessError):
        view.curve("test_time")
    with pytest.raises(TruthAccessError):
        view.features(6, "test")
    with pytest.raises(TruthAccessError):
        view.labels("test")
    test_acc = trace.test_curve()
    assert not np.allclose(test_acc, trace.curve("val_acc"))  # the synthetic truth differs from what views show

    seen, stack = set(), [view]
    while stack:  # everything reachable from the view's attributes
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        assert not isinstance(obj, (TrialTrace, TraceStore)), f"the view reaches a {type(obj).__name__}"
        if isinstance(obj, np.ndarray):
            assert not (obj.shape == test_acc.shape and np.array_equal(obj, test_acc, equal_nan=True))
        children = list(vars(obj).values()) if hasattr(obj, "__dict__") else []
        if isinstance(obj, dict):
            children += list(obj.values())
        if isinstance(obj, (list, tuple)):
            children += list(obj)
        stack += children


def test_sealed_code_cannot_open_truth_files(population):
    test_file = population[0].path / "test.npz"
    view = population[0].view(6)  # views copy the whole-run files before estimators run
    with sealed():
        with pytest.raises(TruthAccessError):
            np.load(test_file)
        for name in ("manifest.json", "curves.npz", "classifier.npz", "labels.npz", "timings.npz"):
            with pytest.raises(TruthAccessError):
                open(population[0].path / name).close()
        view.features(6, "train")  # feature files stay readable
    np.load(test_file).close()  # outside the seal the harness reads the truth as usual


def test_a_store_is_held_by_one_process_at_a_time(tmp_path):
    first = TraceStore(tmp_path / "store")
    first.lock()
    with pytest.raises(StoreBusyError, match=f"pid {os.getpid()}"):
        TraceStore(tmp_path / "store").lock()


def test_quarantine_keeps_the_corrupt_trial(population, tmp_path):
    store = TraceStore(tmp_path / "store")
    moved = store.quarantine("r0-000")
    assert moved.is_dir() and (moved / "manifest.json").exists() and not store.has("r0-000")


def test_the_seal_covers_threads_and_links(population, tmp_path):
    import threading

    test_file = population[0].path / "test.npz"
    link = tmp_path / "innocent.npz"
    link.symlink_to(test_file)
    outcome = {}

    def read_in_a_thread():
        try:
            np.load(test_file).close()
            outcome["read"] = True
        except TruthAccessError:
            outcome["refused"] = True

    with sealed():
        worker = threading.Thread(target=read_in_a_thread)
        worker.start()
        worker.join()
        with pytest.raises(TruthAccessError):
            np.load(link)
    assert outcome == {"refused": True}
    np.load(link).close()  # unsealed again afterwards


# Per-epoch validation predictions (record.predictions): an optional file, hashed and listed like any other.

def rewrite_with_predictions(trace, root, predictions=None) -> TrialTrace:
    """A copy of a synthetic trace (features at every epoch) under `root`, with `predictions`: by default
    the arg-max of each epoch's saved classifier on its validation features, as the recorder keeps them."""
    from fhbench.record.format import CURVES, TEST_CURVES, TIMINGS

    epochs = range(1, trace.epochs_completed + 1)
    if predictions is None:
        predictions = np.stack([(trace.features(e, "val") @ trace.classifier(e)[0].T + trace.classifier(e)[1])
                                .argmax(1).numpy().astype(np.uint8) for e in epochs])
    meta = {k: v for k, v in trace.manifest.items()
            if k not in ("schema", "trial_id", "status", "epochs_completed", "feature_epochs", "shapes", "files",
                         "sizes", "manifest_sha256")}
    writer = TraceStore(root).writer(trace.trial_id, meta)
    writer.queue_size = 0
    for e in trace.feature_epochs:
        writer.write_features(e, trace.features(e, "train").numpy().astype(np.float16),
                              trace.features(e, "val").numpy().astype(np.float16))
    classifier = np.load(trace.path / "classifier.npz")
    labels = np.load(trace.path / "labels.npz")
    curves = {**trace.curves, "test_acc": trace.test_curve()}
    writer.finish(status=trace.status, curves={k: curves[k] for k in CURVES + TIMINGS + TEST_CURVES},
                  labels={k: labels[k] for k in labels.files}, classifier_w=classifier["W"],
                  classifier_b=classifier["b"], predictions=predictions)
    return TrialTrace(Path(root) / trace.trial_id)


@pytest.fixture
def predicted(population, tmp_path):
    return rewrite_with_predictions(population[0], tmp_path / "predicted")


def test_predictions_are_listed_hashed_and_cut_at_the_view(population, predicted):
    assert "predictions.npz" in predicted.manifest["files"] and predicted.has_predictions
    predicted.verify()
    history = predicted.predictions()
    assert history.dtype == np.uint8 and history.shape == (6, 200)
    view = predicted.view(3)
    assert view.has_predictions
    assert torch.equal(view.predictions(3), torch.from_numpy(history[2].astype(np.int64)))
    assert view.predictions(1).dtype == view.labels("val").dtype
    with pytest.raises(LookAheadError):
        view.predictions(4)
    assert predicted.digest != population[0].digest  # the predictions are part of the trace's content


def test_a_trace_without_predictions_stays_valid(population):
    trace = TrialTrace(population[0].path)  # written without predictions, as every earlier trace was
    trace.verify()
    assert not trace.has_predictions and not trace.view(6).has_predictions
    with pytest.raises(KeyError, match="no predictions"):
        trace.view(6).predictions(6)
    with pytest.raises(KeyError, match="no predictions"):
        trace.predictions()


def test_damaged_predictions_are_found(predicted):
    path = predicted.path / "predictions.npz"
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError, match="predictions.npz does not match its checksum"):
        TrialTrace(predicted.path).view(2).predictions(1)
    path.unlink()
    with pytest.raises(TraceError, match="missing predictions.npz"):
        TrialTrace(predicted.path)


@pytest.mark.parametrize("bad", [np.zeros((6, 200), np.int64), np.zeros((5, 200), np.uint8)])
def test_the_writer_refuses_predictions_of_the_wrong_kind(population, tmp_path, bad):
    with pytest.raises(ValueError, match=r"uint8 of shape \(epochs, n_val\) = \(6, 200\)"):
        rewrite_with_predictions(population[0], tmp_path / "bad", bad)
