"""Writing one trial's trace: `TrialWriter` (the layout is `fhbench.record.format`'s)."""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from fhbench.core.atomic import fsync_write
from fhbench.record.format import (
    CURVES,
    PREDICTIONS_FILE,
    TEST_CURVES,
    TIMINGS,
    TRACE_SCHEMA,
    RunSupersededError,
    manifest_digest,
    npz_bytes,
)


def trial_manifest(trial_id: str, *, status: str, epochs_completed: int, feature_epochs, shapes: dict[str, int],
                   meta: dict[str, Any], files: dict[str, str], sizes: dict[str, int]) -> dict[str, Any]:
    """A finished trial's manifest.json content (`fhbench.record.format`), its own checksum included:
    `meta` holds the trial's fields (config, seeds, budget, conditions, ...), `files` and `sizes` the
    sha256 and size of every other file."""
    manifest = {
        "schema": TRACE_SCHEMA,
        "trial_id": trial_id,
        "status": status,
        "epochs_completed": int(epochs_completed),
        "feature_epochs": sorted(feature_epochs),
        "shapes": shapes,
        **meta,
        "files": dict(sorted(files.items())),
        "sizes": dict(sorted(sizes.items())),
    }
    manifest["manifest_sha256"] = manifest_digest(manifest)
    return manifest


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=1, sort_keys=True).encode()


class TrialWriter:
    """Writes one trial into ``.partial/`` and publishes it with `finish`.

    Feature files are serialised, hashed and written by one background thread fed through a bounded
    queue of `queue_size` epochs, so training waits on the disk only when the disk falls that far
    behind. `queue_size=0` writes in the caller's thread (the synchronous path). Either way the bytes,
    hashes and manifest are the same. A write error in the thread is raised again in the caller: at the
    next `write_features`, else by `finish`, before anything is published. `close` stops the thread
    without publishing (a failed run leaves only ``.partial/``); `finish` closes too.
    `store` is the `fhbench.record.store.TraceStore` it publishes into (that module imports this one).
    """

    queue_size = 2

    def __init__(self, store, trial_id: str, meta: dict[str, Any], *, queue_size: int | None = None,
                 run_token: str | None = None, unique: bool = False):
        self.store = store
        self.trial_id = trial_id
        self.meta = dict(meta)
        self.run_token = run_token
        # a run's own folder: a leftover worker of a killed run never writes into the files of a rerun's;
        # `unique`: a folder of its own whatever else writes the same trial (live searches on Ray workers)
        suffix = run_token if run_token is not None else uuid.uuid4().hex[:16] if unique else None
        self.dir = store.root / ".partial" / (trial_id if suffix is None else f"{trial_id}.{suffix}")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.files: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self.feature_epochs: list[int] = []
        if queue_size is not None:
            self.queue_size = queue_size
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False
        self.published = False

    def _put(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        data = npz_bytes(arrays)
        fsync_write(self.dir / name, data)
        self.files[name] = hashlib.sha256(data).hexdigest()
        self.sizes[name] = len(data)

    def _run(self) -> None:
        """The writer thread: writes queued files until the stop sentinel; after an error it only drains."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    self._put(*item)
                except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                    self._error = err

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def write_features(self, epoch: int, train: np.ndarray, val: np.ndarray) -> None:
        """Queues (or, with queue_size 0, writes) one epoch's features. The arrays must not change
        afterwards: the thread reads them later."""
        if self._closed:
            raise RuntimeError(f"trial writer for {self.trial_id} is closed")
        self._raise_pending()
        item = (f"features/{epoch:04d}.npz", {"train": train, "val": val})
        if self.queue_size <= 0:
            self._put(*item)
        else:
            if self._thread is None:
                self._queue = queue.Queue(maxsize=self.queue_size)
                self._thread = threading.Thread(target=self._run, name=f"fhbench-writer-{self.trial_id}",
                                                daemon=True)
                self._thread.start()
            self._queue.put(item)
        self.feature_epochs.append(epoch)

    def _stop(self) -> None:
        """Waits until every queued file is written (or dropped after an error) and the thread has ended."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Stops the writer thread without publishing; the trial stays under ``.partial/``. Idempotent.
        A pending write error is dropped: the caller is already failing for another reason."""
        if self._thread is not None:
            self._error = self._error or RuntimeError("closed")  # drop what is still queued
            self._stop()
        self._error = None
        self._closed = True

    def finish(self, *, status: str, curves: dict[str, np.ndarray], labels: dict[str, np.ndarray],
               classifier_w: np.ndarray, classifier_b: np.ndarray, predictions: np.ndarray | None = None,
               keep_longer: bool = False, **extra: Any) -> Path:
        """`curves` holds CURVES, TIMINGS and TEST_CURVES; each group goes to its own file. `predictions`
        (epochs, n_val) uint8, if given, goes to PREDICTIONS_FILE. Waits for the queued feature files
        first and raises their write error, if any, before publishing anything. The trial replaces a
        published one of the same id atomically (`TraceStore.publish`); with `keep_longer` not one that
        holds as many epochs or more (then `self.published` is False and the staged files are gone)."""
        if self._closed:
            raise RuntimeError(f"trial writer for {self.trial_id} is closed")
        if predictions is not None and (predictions.dtype != np.uint8 or predictions.shape != (
                len(curves["val_acc"]), len(labels["val"]))):
            raise ValueError(f"trial {self.trial_id}: predictions must be uint8 of shape (epochs, n_val) = "
                             f"({len(curves['val_acc'])}, {len(labels['val'])}), got {predictions.dtype} "
                             f"{predictions.shape}")
        self._stop()
        self._closed = True
        self._raise_pending()
        self._put("curves.npz", {k: curves[k] for k in CURVES})
        self._put("timings.npz", {k: curves[k] for k in TIMINGS})
        self._put("test.npz", {k: curves[k] for k in TEST_CURVES})
        self._put("labels.npz", labels)
        self._put("classifier.npz", {"W": classifier_w, "b": classifier_b})
        if predictions is not None:
            self._put(PREDICTIONS_FILE, {"val": predictions})
        manifest = trial_manifest(
            self.trial_id, status=status, epochs_completed=len(curves["val_acc"]), feature_epochs=self.feature_epochs,
            shapes={"train": int(len(labels["train"])), "val": int(len(labels["val"])),
                    "classes": int(classifier_w.shape[1]), "dim": int(classifier_w.shape[2])},
            meta={**self.meta, **extra}, files=self.files, sizes=self.sizes)
        fsync_write(self.dir / "manifest.json", manifest_bytes(manifest))
        if self.run_token is not None and not self.store.run_is_current(self.run_token):
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RunSupersededError(f"trace store {self.store.root}: no longer held by the run that recorded "
                                     f"trial {self.trial_id} (its driver died); the trial is abandoned")
        self.published = self.store.publish(self.dir, self.trial_id, keep_longer=keep_longer)
        return self.store.root / self.trial_id
