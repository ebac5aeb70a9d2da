"""The trace store: whole-or-nothing trials, checksums, and views that refuse to look ahead."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fhbench.errors import LookAheadError, TraceError
from fhbench.estimators.check import synthetic_population
from fhbench.traces import TraceStore, TrialTrace


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
    writer.write_features(1, np.zeros((2, 2), np.float16), np.zeros((2, 2), np.float16))
    assert not store.has("r0-000") and list(store.trial_ids()) == []
    again = store.writer("r0-000", {"config": "c"})  # a new attempt starts clean
    assert not (again.dir / "features").exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_corrupt_trace_is_reported_by_name(population, damage):
    path = population[0].path / "features" / "0004.npz"
    if damage == "flip":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
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


def test_quarantine_keeps_the_corrupt_trial(population, tmp_path):
    store = TraceStore(tmp_path / "store")
    moved = store.quarantine("r0-000")
    assert moved.is_dir() and (moved / "manifest.json").exists() and not store.has("r0-000")
