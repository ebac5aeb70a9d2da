"""The trace store: one directory per trial, written whole or not at all.

Layout of a finished trial ``<store>/<trial_id>/``::

    manifest.json        schema, status, config, seeds, recording conditions, shapes, and the sha256 and
                         size of every other file; it carries a sha256 of its own content
    curves.npz           per-epoch metrics an estimator may see (train_loss, train_acc, val_loss, val_acc, lr)
    timings.npz          per-epoch wall times: epoch_time (training pass), val_time (validation pass and
                         feature capture), test_time (test pass at checkpoints); apart because they differ
                         between any two recordings
    test.npz             test_acc per epoch (NaN where not evaluated): the truth's side, which no view reads
    labels.npz           train (labels of the kept training images), train_index, val
    classifier.npz       W (epochs, classes, dim) and b (epochs, classes): the classifier after each epoch
    features/NNNN.npz    train and val features of epoch NNNN, for the kept epochs only
    predictions.npz      only where the suite sets record.predictions: val (epochs, n_val) uint8, the
                         arg-max class of every validation image after each epoch (fhbench.score.seen reads it)

An imported trial (``fhbench import``: curves a benchmark published, `fhbench.record.imported`) has
the same files and no features; its manifest says where it came from (``imported``, one line) and which
curves the source does not give (``absent_curves``: curve name -> why, e.g. a benchmark that publishes
no losses). Those curves are stored as NaN, and views refuse them with that reason.

Everything is plain numpy arrays read with ``allow_pickle=False``: a trace cannot run code. A trial is
written under ``.partial/`` and renamed into place after its manifest, so a killed run leaves no trial
that reads as finished.

A trial's status is "complete", "diverged" (a result: its losses stopped being finite), "stopped" (a
live search stopped training it before its budget: epochs 1..epochs_completed < budget are valid
and usable for views, the rest were never trained; `fhbench.search.backends.live`) or "lost" (no result: a
parallel run could not record it, its worker died on every try or its recording raised; the
manifest's `failure` says why). A lost trial holds no epochs; it is scored as a failed trial and
recorded again by the next `fhbench record`/`run`. A proxy-only trial (train.epochs = 0) is "complete"
with budget 0 and no epochs: the manifest's `proxies` is all it holds (its other files hold empty arrays).

Replacing a published trial (`TraceStore.publish`) never shows a reader half a trial, nor no trial
where there was one: under the store's publish lock (``.publish.lock``) the new folder and
the old are swapped in one atomic exchange (Linux renameat2), the old one then deleted; where that
call is missing, the old folder is renamed to ``.partial/<trial_id>.replaced`` first and the new one
renamed in after it. The recovery rule: a ``.partial/<trial_id>.replaced`` whose trial has no
folder is renamed back (a run killed between the two renames), one whose trial has a folder is
deleted; `TraceStore` applies it on opening the store and whenever a trial looks missing, under the
same lock, so a reader that comes between the two renames waits for the second.

A parallel run (`fhbench.runtime.ray`) writes its token into ``.ray-run.json`` while it owns the store;
its Ray tasks write under ``.partial/<trial_id>.<token>`` and publish only while that token is still
the store's, so a leftover worker of a killed run never publishes into a later run's store.

Checking is split so that it scales: opening a trial checks the manifest (its own hash, its fields,
that every listed file exists with its recorded size, that curves and features agree with the epochs);
every file is hashed when it is read, from the very bytes that are parsed. `TrialTrace.verify` hashes
everything at once (`fhbench verify`).
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from fhbench.core.errors import CorruptTraceError, FhbenchError, TraceError

TRACE_SCHEMA = 2
CURVES = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
TIMINGS = ("epoch_time", "val_time", "test_time")
TEST_CURVES = ("test_acc",)
SPLITS = ("train", "val")
STATUSES = ("complete", "stopped", "diverged", "lost")
RUN_FILE = ".ray-run.json"
PUBLISH_LOCK = ".publish.lock"
VIEW_CURVES = CURVES + ("epoch_time", "val_time")
"""What an estimator may read by name: nothing of the test split, not even how long evaluating it took."""
REQUIRED_FILES = ("curves.npz", "timings.npz", "test.npz", "labels.npz", "classifier.npz")
PREDICTIONS_FILE = "predictions.npz"
"""Optional: a trace without it is complete (traces recorded before it existed have none)."""
MAX_PREDICTION_CLASSES = 256
"""Predictions are stored one byte per image: class indices 0..255."""


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_npz(path: Path, digest: str, what: str, trial: str) -> dict[str, np.ndarray]:
    """Reads one file, checks the bytes against `digest`, and parses those same bytes."""
    try:
        data = path.read_bytes()
    except OSError:
        raise TraceError(f"trace {trial}: missing {what}") from None
    if hashlib.sha256(data).hexdigest() != digest:
        # CorruptTraceError names the trial (its folder), so that `run` quarantines and records it again
        # whoever reads the file: an estimator's view, or scoring itself (labels, curves, proxies)
        raise CorruptTraceError(f"trace {trial}: {what} does not match its checksum (corrupt)", Path(trial).name)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise TraceError(f"trace {trial}: {what} is not a valid npz ({err})") from None


class StoreBusyError(FhbenchError):
    """Another fhbench process holds the store."""


class RunSupersededError(FhbenchError):
    """A Ray task's run no longer owns the store (its driver died and another run took the store)."""
