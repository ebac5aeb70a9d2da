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

Everything is plain numpy arrays read with ``allow_pickle=False``: a trace cannot run code. A trial is
written under ``.partial/`` and renamed into place after its manifest, so a killed run leaves no trial
that reads as finished.

A trial's status is "complete", "diverged" (a result: its losses stopped being finite), "stopped" (a
live search stopped training it before its budget: epochs 1..epochs_completed < budget are valid
and usable for views, the rest were never trained; `fhbench.search.backends.live`) or "lost" (no result: a
parallel run could not record it, its worker died on every try or its recording raised; the
manifest's `failure` says why). A lost trial holds no epochs; it is scored as a failed trial and
recorded again by the next `fhbench record`/`run`.

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

import fcntl
import hashlib
import io
import json
import os
import queue
import shutil
import threading
import uuid
import zipfile
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fhbench.core.errors import FhbenchError, LookAheadError, TraceError
from fhbench.record.proxies import ProxyResult
from fhbench.core.seal import TruthAccessError, sealed

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
_REQUIRED_FILES = ("curves.npz", "timings.npz", "test.npz", "labels.npz", "classifier.npz")
PREDICTIONS_FILE = "predictions.npz"
"""Optional: a trace without it is complete (traces recorded before it existed have none)."""
MAX_PREDICTION_CLASSES = 256
"""Predictions are stored one byte per image: class indices 0..255."""


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        if err.filename is None:  # a failed write() names no file: say which, for the one-line error
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise


class TrialWriter:
    """Writes one trial into ``.partial/`` and publishes it with `finish`.

    Feature files are serialised, hashed and written by one background thread fed through a bounded
    queue of `queue_size` epochs, so training waits on the disk only when the disk falls that far
    behind. `queue_size=0` writes in the caller's thread (the synchronous path). Either way the bytes,
    hashes and manifest are the same. A write error in the thread is raised again in the caller: at the
    next `write_features`, else by `finish`, before anything is published. `close` stops the thread
    without publishing (a failed run leaves only ``.partial/``); `finish` closes too.
    """

    queue_size = 2

    def __init__(self, store: TraceStore, trial_id: str, meta: dict[str, Any], *, queue_size: int | None = None,
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
        data = _npz_bytes(arrays)
        _fsync_write(self.dir / name, data)
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
        manifest = {
            "schema": TRACE_SCHEMA,
            "trial_id": self.trial_id,
            "status": status,
            "epochs_completed": int(len(curves["val_acc"])),
            "feature_epochs": sorted(self.feature_epochs),
            "shapes": {"train": int(len(labels["train"])), "val": int(len(labels["val"])),
                       "classes": int(classifier_w.shape[1]), "dim": int(classifier_w.shape[2])},
            **self.meta,
            **extra,
            "files": dict(sorted(self.files.items())),
            "sizes": dict(sorted(self.sizes.items())),
        }
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        _fsync_write(self.dir / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
        if self.run_token is not None and not self.store.run_is_current(self.run_token):
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RunSupersededError(f"trace store {self.store.root}: no longer held by the run that recorded "
                                     f"trial {self.trial_id} (its driver died); the trial is abandoned")
        self.published = self.store.publish(self.dir, self.trial_id, keep_longer=keep_longer)
        return self.store.root / self.trial_id


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where that is not
    available (another OS, an old C library, a file system without it): the caller falls back."""
    global _RENAMEAT2
    if _RENAMEAT2 is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            _RENAMEAT2 = libc.renameat2
            _RENAMEAT2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
            _RENAMEAT2.restype = ctypes.c_int
        except (OSError, AttributeError):
            _RENAMEAT2 = False
    if _RENAMEAT2 is False:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return _RENAMEAT2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


_RENAMEAT2 = None


def _read_npz(path: Path, digest: str, what: str, trial: str) -> dict[str, np.ndarray]:
    """Reads one file, checks the bytes against `digest`, and parses those same bytes."""
    try:
        data = path.read_bytes()
    except OSError:
        raise TraceError(f"trace {trial}: missing {what}") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise TraceError(f"trace {trial}: {what} does not match its checksum (corrupt)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise TraceError(f"trace {trial}: {what} is not a valid npz ({err})") from None


class TrialTrace:
    """A finished trial read back from the store; the manifest is checked on opening, each file on reading."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name
        self.manifest = self._read_manifest()
        self._check_manifest()
        self.feature_epochs = tuple(self.manifest["feature_epochs"])
        self.curves = {**self._load("curves.npz"), **self._load("timings.npz")}
        for name in CURVES + TIMINGS:
            if name not in self.curves or self.curves[name].shape != (self.epochs_completed,):
                raise TraceError(f"trace {self.path}: curve '{name}' missing or not of length "
                                 f"{self.epochs_completed} (epochs_completed in manifest.json)")
        self._labels: dict[str, np.ndarray] | None = None
        self._classifier: dict[str, np.ndarray] | None = None
        self._predictions: np.ndarray | None = None

    # -- checking ---------------------------------------------------------------------------------
    def _fail(self, why: str) -> TraceError:
        return TraceError(f"trace {self.path}: {why}")

    def _read_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads((self.path / "manifest.json").read_text())
        except FileNotFoundError:
            raise self._fail("no manifest.json (an unfinished trial?)") from None
        except (OSError, ValueError) as err:
            raise self._fail(f"unreadable manifest.json ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("schema") != TRACE_SCHEMA:
            found = manifest.get("schema") if isinstance(manifest, dict) else None
            raise self._fail(f"manifest schema is {found!r}, expected {TRACE_SCHEMA}: record it again with "
                             f"this fhbench (`fhbench record` moves it aside)")
        if manifest.get("manifest_sha256") != _manifest_digest(manifest):
            raise self._fail("manifest.json does not match its own checksum (edited or corrupt)")
        return manifest

    def _check_manifest(self) -> None:
        m = self.manifest
        expected = {"trial_id": str, "status": str, "epochs_completed": int, "budget": int, "repeat": int,
                    "config": str, "feature_epochs": list, "files": dict, "sizes": dict, "shapes": dict}
        for key, kind in expected.items():
            if not isinstance(m.get(key), kind) or isinstance(m.get(key), bool):
                raise self._fail(f"manifest.json key '{key}' missing or not a {kind.__name__}")
        if m["trial_id"] != self.name:
            raise self._fail(f"manifest.json names trial '{m['trial_id']}', but the folder is '{self.name}'")
        if m["status"] not in STATUSES:
            raise self._fail(f"status '{m['status']}' is not one of {', '.join(STATUSES)}")
        if (m["status"] == "lost") != (isinstance(m.get("failure"), str) and bool(m["failure"].strip())):
            raise self._fail("a lost trial, and only a lost one, says why in the manifest's 'failure'")
        if m["status"] == "lost" and m["epochs_completed"] != 0:
            raise self._fail(f"a lost trial records no epochs, this one {m['epochs_completed']}")
        if "proxies" in m:
            try:
                ProxyResult.from_dict(m["proxies"] if isinstance(m["proxies"], dict) else {})
            except (ValueError, TypeError, AttributeError) as err:
                raise self._fail(f"manifest.json 'proxies' is not a stored proxy result ({err})") from None
        if not 0 <= m["epochs_completed"] <= m["budget"] or (
                m["status"] == "complete" and m["epochs_completed"] != m["budget"]) or (
                m["status"] == "stopped" and not 1 <= m["epochs_completed"] < m["budget"]):
            raise self._fail(f"{m['epochs_completed']} epochs completed do not fit status '{m['status']}' "
                             f"and budget {m['budget']}")
        epochs = m["feature_epochs"]
        if epochs != sorted(set(epochs)) or any(not isinstance(e, int) or not 1 <= e <= m["epochs_completed"]
                                                for e in epochs):
            raise self._fail("feature_epochs are not distinct increasing epochs within those completed")
        listed = set(m["files"])
        wanted = set(_REQUIRED_FILES) | {f"features/{e:04d}.npz" for e in epochs} | ({PREDICTIONS_FILE} & listed)
        if listed != wanted or set(m["sizes"]) != wanted:
            raise self._fail(f"manifest lists files {sorted(listed ^ wanted)} that do not match its epochs")
        for name, size in m["sizes"].items():
            try:
                actual = (self.path / name).stat().st_size
            except OSError:
                raise self._fail(f"missing {name}") from None
            if actual != size:
                raise self._fail(f"{name} has {actual} bytes, the manifest says {size} (truncated or replaced)")

    def _load(self, name: str) -> dict[str, np.ndarray]:
        return _read_npz(self.path / name, self.manifest["files"][name], name, str(self.path))

    def verify(self) -> None:
        """Hashes every file of the trial (the full check); raises TraceError at the first mismatch."""
        for name in self.manifest["files"]:
            self._load(name)
        if self.has_predictions:
            self.predictions()  # and their shape

    # -- metadata ---------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.manifest["status"]

    @property
    def failure(self) -> str | None:
        """Why a lost trial was not recorded; None for any other."""
        return self.manifest.get("failure")

    @property
    def proxies(self) -> ProxyResult | None:
        """The zero-cost proxies computed at recording (`record.proxies`), or None if none were."""
        stored = self.manifest.get("proxies")
        return None if stored is None else ProxyResult.from_dict(stored)

    @property
    def trial_id(self) -> str:
        return self.manifest["trial_id"]

    @property
    def config(self) -> str:
        return self.manifest["config"]

    @property
    def config_vector(self) -> np.ndarray:
        return np.asarray(self.manifest["config_vector"], dtype=np.float64)

    @property
    def budget(self) -> int:
        return int(self.manifest["budget"])

    @property
    def repeat(self) -> int:
        return int(self.manifest["repeat"])

    @property
    def epochs_completed(self) -> int:
        return int(self.manifest["epochs_completed"])

    @property
    def conditions(self) -> dict[str, Any]:
        """What the recording depended on beyond the suite: device, threads, library versions, flags."""
        return dict(self.manifest.get("conditions", {}))

    @property
    def digest(self) -> str:
        """One hash over the trial's content, wall times excluded: the same seed recorded again under the
        same conditions gives the same digest. The leaderboard's traces hash is made of these."""
        files = {k: v for k, v in self.manifest["files"].items() if k != "timings.npz"}
        return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()

    # -- data ---------------------------------------------------------------------------------------
    def curve(self, name: str) -> np.ndarray:
        if name not in self.curves:
            raise KeyError(f"trace {self.name} has no curve '{name}' (has {', '.join(self.curves)})")
        return self.curves[name]

    def test_curve(self) -> np.ndarray:
        """The test accuracy per epoch (NaN where not evaluated): for truths, never for views."""
        values = self._load("test.npz").get("test_acc")
        if values is None or values.shape != (self.epochs_completed,):
            raise self._fail(f"test.npz holds no test_acc of length {self.epochs_completed}")
        return values

    def _labels_arrays(self) -> dict[str, np.ndarray]:
        if self._labels is None:
            self._labels = self._load("labels.npz")
        return self._labels

    def _classifier_arrays(self) -> dict[str, np.ndarray]:
        if self._classifier is None:
            self._classifier = self._load("classifier.npz")
        return self._classifier

    def features(self, epoch: int, split: str) -> torch.Tensor:
        return _FeatureFiles(self, self.epochs_completed).read(epoch, split)

    @property
    def has_predictions(self) -> bool:
        return PREDICTIONS_FILE in self.manifest["files"]

    def predictions(self) -> np.ndarray:
        """Every epoch's arg-max validation predictions, (epochs_completed, n_val) uint8 (record.predictions);
        read and checked once, then kept like the labels and classifiers."""
        if not self.has_predictions:
            raise KeyError(f"trace {self.path} holds no predictions (recorded without record.predictions)")
        if self._predictions is None:
            values = self._load(PREDICTIONS_FILE).get("val")
            shape = (self.epochs_completed, int(self.manifest["shapes"]["val"]))
            if values is None or values.dtype != np.uint8 or values.shape != shape:
                raise TraceError(f"trace {self.path}: {PREDICTIONS_FILE} holds no uint8 'val' array of shape "
                                 f"{shape} (epochs_completed, n_val)")
            self._predictions = values
        return self._predictions

    def labels(self, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return torch.from_numpy(self._labels_arrays()[split].astype(np.int64))

    def classifier(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        arrays = self._classifier_arrays()
        if not 1 <= epoch <= len(arrays["W"]):
            raise KeyError(f"trace {self.name} has no classifier for epoch {epoch}")
        return torch.from_numpy(arrays["W"][epoch - 1].copy()), torch.from_numpy(arrays["b"][epoch - 1].copy())

    def view(self, epoch: int) -> TraceView:
        if not 1 <= epoch <= self.epochs_completed:
            raise ValueError(f"trace {self.name}: no epoch {epoch} (it has 1..{self.epochs_completed})")
        classifier = self._classifier_arrays()
        labels = self._labels_arrays()
        return TraceView(trial_id=self.trial_id, config=self.config, config_vector=self.config_vector,
                         budget=self.budget, epoch=epoch,
                         curves={name: self.curves[name] for name in VIEW_CURVES},
                         labels={split: labels[split] for split in SPLITS},
                         classifier=(classifier["W"], classifier["b"]),
                         features=_FeatureFiles(self, epoch), proxies=self.proxies,
                         predictions=self.predictions()[:epoch] if self.has_predictions else None)


class _FeatureFiles:
    """Reads feature files of one trial up to an epoch: paths and checksums only, no other trace state."""

    def __init__(self, trace: TrialTrace, last_epoch: int):
        self._trial = str(trace.path)
        self._files = {e: (trace.path / f"features/{e:04d}.npz", trace.manifest["files"][f"features/{e:04d}.npz"])
                       for e in trace.feature_epochs if e <= last_epoch}

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(sorted(self._files))

    def read(self, epoch: int, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if epoch not in self._files:
            raise KeyError(f"trace {self._trial} keeps no features for epoch {epoch} "
                           f"(kept: {', '.join(map(str, self._files)) or 'none'})")
        path, digest = self._files[epoch]
        arrays = _read_npz(path, digest, f"features/{epoch:04d}.npz", self._trial)
        if split not in arrays:
            raise TraceError(f"trace {self._trial}: features/{epoch:04d}.npz has no '{split}' array")
        return torch.from_numpy(arrays[split].astype(np.float32))


class MemoryFeatures:
    """Features held in memory (a live run): {epoch: (train, val)}, readable like feature files."""

    def __init__(self, trial_id: str, kept: dict[int, tuple[np.ndarray, np.ndarray]], last_epoch: int):
        self._trial = trial_id
        self._kept = {e: arrays for e, arrays in kept.items() if e <= last_epoch}

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(sorted(self._kept))

    def read(self, epoch: int, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if epoch not in self._kept:
            raise KeyError(f"trial {self._trial} keeps no features for epoch {epoch}")
        return torch.from_numpy(self._kept[epoch][SPLITS.index(split)].astype(np.float32))


class TraceView:
    """One trial as an estimator may see it at epoch `epoch`: training and validation data up to that
    epoch, and nothing else.

    The view holds copies cut at `epoch` (predictions included) and a reader of the feature files up to `epoch`;
    it keeps no reference to the trace, the test split or the truth, so nothing behind it leads there.
    Reads past `epoch` raise LookAheadError; asking for test data raises TruthAccessError.

    Where the suite records predictions, `predictions(epoch)` shows them: validation-split data like
    the val_acc curve they add up to, so an estimator may use them (never those after `epoch`).
    """

    def __init__(self, *, trial_id: str, config: str, config_vector: np.ndarray, budget: int, epoch: int,
                 curves: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                 classifier: tuple[np.ndarray, np.ndarray], features, proxies: ProxyResult | None = None,
                 predictions: np.ndarray | None = None):
        self.trial_id = trial_id
        self.config = config
        self.config_vector = np.array(config_vector, dtype=np.float64)
        self.budget = int(budget)
        self.epoch = int(epoch)
        self._curves = {name: np.array(values[:epoch], dtype=np.float64) for name, values in curves.items()
                        if name in VIEW_CURVES}
        self._labels = {split: np.array(labels[split]) for split in SPLITS}
        self._weights = np.array(classifier[0][:epoch])
        self._biases = np.array(classifier[1][:epoch])
        self._features = features
        self.kept_epochs = tuple(e for e in features.epochs if e <= epoch)
        # zero-cost proxies of the untrained network on training images: visible at every epoch
        self.proxies = None if proxies is None else dict(proxies.values)
        self.proxy_errors = {} if proxies is None else dict(proxies.errors)
        self.proxy_seconds = {} if proxies is None else dict(proxies.seconds)
        # a copy cut at `epoch`: the file holds every epoch and is sealed while estimators run
        self._predictions = None if predictions is None else np.array(predictions[:epoch])

    def _check(self, epoch: int) -> None:
        if epoch > self.epoch:
            raise LookAheadError(f"trace {self.trial_id}: epoch {epoch} is after the view's epoch {self.epoch}")
        if epoch < 1:
            raise KeyError(f"trace {self.trial_id}: epochs start at 1, got {epoch}")

    def curve(self, name: str) -> np.ndarray:
        if name.startswith("test"):
            raise TruthAccessError(f"trace {self.trial_id}: '{name}' is test-split data, which estimators "
                                   f"may not see (the truth is measured there)")
        if name not in self._curves:
            raise KeyError(f"trace {self.trial_id}: no curve '{name}' (a view has {', '.join(self._curves)})")
        return self._curves[name].copy()

    def _check_split(self, split: str) -> None:
        if split == "test":
            raise TruthAccessError(f"trace {self.trial_id}: the test split is not visible to estimators "
                                   f"(views have {', '.join(SPLITS)})")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")

    def features(self, epoch: int, split: str) -> torch.Tensor:
        self._check(epoch)
        self._check_split(split)
        return self._features.read(epoch, split)

    def labels(self, split: str) -> torch.Tensor:
        self._check_split(split)
        return torch.from_numpy(self._labels[split].astype(np.int64))

    def classifier(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(epoch)
        return torch.from_numpy(self._weights[epoch - 1].copy()), torch.from_numpy(self._biases[epoch - 1].copy())

    @property
    def has_predictions(self) -> bool:
        return self._predictions is not None

    def predictions(self, epoch: int) -> torch.Tensor:
        """The arg-max class of every validation image after `epoch` (int64, like `labels("val")`)."""
        self._check(epoch)
        if self._predictions is None:
            raise KeyError(f"trace {self.trial_id}: no predictions recorded (the suite's record.predictions is off)")
        return torch.from_numpy(self._predictions[epoch - 1].astype(np.int64))


def recording_summary(traces) -> dict:
    """The recording conditions of the traces a leaderboard scored, each as the sorted set of its values
    (lost trials recorded nothing, so they have no conditions to report)."""
    keys = ("device", "device_name", "threads", "torch", "cuda", "deterministic_algorithms")
    recorded = [t for t in traces if t.status != "lost"]
    return {key: sorted({str(t.conditions.get(key)) for t in recorded}) for key in keys}


def traces_hash(traces) -> str:
    """One hash over the content of the trials a leaderboard was computed from (wall times excluded)."""
    return hashlib.sha256("".join(f"{t.trial_id}:{t.digest};" for t in traces).encode()).hexdigest()


class StoreBusyError(FhbenchError):
    """Another fhbench process holds the store."""


class RunSupersededError(FhbenchError):
    """A Ray task's run no longer owns the store (its driver died and another run took the store)."""


class TraceStore:
    """The trials of one suite's recording settings, under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise FhbenchError(f"trace store {self.root}: exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, TrialTrace] = {}
        self._lock_file = None
        self.recover()

    def lock(self) -> None:
        """Takes the store for this process (released at exit): two runs recording into one store would
        write the same trials at once. A second process gets a one-line error, not a wait."""
        if self._lock_file is not None:
            return
        handle = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreBusyError(f"trace store {self.root} is in use by {holder}: wait for it to finish "
                                 f"(or give another --traces)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"fhbench pid {os.getpid()}")
        handle.flush()
        self._lock_file = handle

    def writer(self, trial_id: str, meta: dict[str, Any], *, run_token: str | None = None,
               unique: bool = False) -> TrialWriter:
        self._open.pop(trial_id, None)
        return TrialWriter(self, trial_id, meta, run_token=run_token, unique=unique)

    # -- publishing and replacing a trial (see the module docstring) --------------------------------
    @contextmanager
    def _publish_lock(self):
        """Serialises publishing and recovery across processes (a blocking flock: held for renames only)."""
        # beside the store's .lock, not in .partial: what is left in .partial is unfinished work
        with open(self.root / PUBLISH_LOCK, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def stored_epochs(self, trial_id: str) -> int | None:
        """The epochs the published trial `trial_id` holds, from its manifest; None if there is none (or
        it cannot be read: a trial that replaces it loses nothing)."""
        return self.stored_epochs_at(self.root / trial_id)

    def publish(self, staged: Path, trial_id: str, *, keep_longer: bool = False) -> bool:
        """Moves the finished trial folder `staged` (manifest written last) into place as `trial_id`,
        replacing a published one atomically. With `keep_longer`, a published trial holding at least as
        many epochs stays and `staged` is deleted. Returns whether `staged` was published."""
        final = self.root / trial_id
        with self._publish_lock():
            self._recover_locked(trial_id)
            if keep_longer:
                old, new = self.stored_epochs(trial_id), self.stored_epochs_at(staged)
                if old is not None and new is not None and old >= new:
                    shutil.rmtree(staged, ignore_errors=True)
                    return False
            if not final.exists():
                os.replace(staged, final)
            elif _exchange(staged, final):  # staged now holds the old trial
                shutil.rmtree(staged, ignore_errors=True)
            else:
                aside = self.root / ".partial" / f"{trial_id}.replaced"
                if aside.exists():
                    shutil.rmtree(aside)
                os.replace(final, aside)
                os.replace(staged, final)
                shutil.rmtree(aside, ignore_errors=True)
        self._open.pop(trial_id, None)
        return True

    @staticmethod
    def stored_epochs_at(folder: Path) -> int | None:
        """`stored_epochs` of a trial folder anywhere (a staged one)."""
        try:
            epochs = json.loads((Path(folder) / "manifest.json").read_text()).get("epochs_completed")
        except (OSError, ValueError, AttributeError):
            return None
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    def _recover_locked(self, trial_id: str) -> None:
        """The recovery rule for one trial (the caller holds the publish lock)."""
        aside = self.root / ".partial" / f"{trial_id}.replaced"
        if not aside.exists():
            return
        if (self.root / trial_id).exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(aside, self.root / trial_id)

    def recover(self, trial_id: str | None = None) -> None:
        """Applies the recovery rule to `trial_id`, or to every trial a killed replacement left aside."""
        partial = self.root / ".partial"
        if trial_id is None and not any(partial.glob("*.replaced")):
            return
        if trial_id is not None and not (partial / f"{trial_id}.replaced").exists() and not (
                self.root / PUBLISH_LOCK).exists():
            return
        try:
            with self._publish_lock():
                for name in [trial_id] if trial_id is not None else [p.name[:-len(".replaced")]
                                                                       for p in partial.glob("*.replaced")]:
                    self._recover_locked(name)
        except OSError:
            if trial_id is None or (partial / f"{trial_id}.replaced").exists():
                raise
            # a store this process may not write (nothing to recover there): only a missing trial

    def clear_staging(self, prefix: str) -> list[str]:
        """Removes the staging folders under ``.partial/`` of trials whose ids start with `prefix` that no
        writer finished (a killed or failed write: a full disk), after recovering any replacement a kill
        interrupted. Only for a caller that holds the store (`lock`) before its writers start. Returns
        the names removed."""
        self.recover()
        removed = []
        for path in sorted((self.root / ".partial").glob(f"{prefix}*")):
            if path.is_dir() and not path.name.endswith(".replaced"):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return removed

    # -- the parallel run that owns the store (see the module docstring) ---------------------------
    def read_run(self) -> dict[str, Any] | None:
        """The record of the parallel run that holds (or held, if its driver died) the store; None if
        there is none. A record that cannot be read counts as a run with no token."""
        try:
            record = json.loads((self.root / RUN_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def begin_run(self, info: dict[str, Any]) -> str:
        """Records a parallel run as the store's owner (the caller holds the lock); returns its token."""
        token = uuid.uuid4().hex[:16]
        staged = self.root / f"{RUN_FILE}.{token}"
        _fsync_write(staged, json.dumps({**info, "token": token}, indent=1, sort_keys=True).encode())
        os.replace(staged, self.root / RUN_FILE)  # whole or not at all: a task never reads half a token
        return token

    def run_is_current(self, token: str) -> bool:
        return (self.read_run() or {}).get("token") == token

    def end_run(self, token: str | None) -> None:
        """Forgets a run, so that its tasks publish nothing more (token None: whatever run the record
        names), and removes the unfinished trials it left."""
        if token is None or self.run_is_current(token):
            (self.root / RUN_FILE).unlink(missing_ok=True)
        if token and token.isalnum():  # a name part, never a path (the record could have been edited)
            (self.root / f"{RUN_FILE}.{token}").unlink(missing_ok=True)
            for partial in (self.root / ".partial").glob(f"*.{token}"):
                shutil.rmtree(partial, ignore_errors=True)

    def forget(self, trial_id: str) -> None:
        """Drops a trial opened before from this object's cache: another process is writing it anew."""
        self._open.pop(trial_id, None)

    def has(self, trial_id: str) -> bool:
        if (self.root / trial_id / "manifest.json").is_file():
            return True
        self.recover(trial_id)  # a replacement in flight finishes first; one killed midway is undone
        return (self.root / trial_id / "manifest.json").is_file()

    def open(self, trial_id: str) -> TrialTrace:
        if trial_id not in self._open:
            if not (self.root / trial_id / "manifest.json").is_file():
                self.recover(trial_id)
            self._open[trial_id] = TrialTrace(self.root / trial_id)
        return self._open[trial_id]

    def trial_ids(self) -> Iterator[str]:
        """The finished trials in the store (folders with a manifest; not caches such as `estimates/`)."""
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and not path.name.startswith(".") and (path / "manifest.json").is_file():
                yield path.name

    def quarantine(self, trial_id: str) -> Path:
        """Moves a corrupt trial aside (never deleted) so that it is recorded again."""
        self._open.pop(trial_id, None)
        target = self.root / ".corrupt" / trial_id
        n = 0
        while target.exists():
            n += 1
            target = self.root / ".corrupt" / f"{trial_id}.{n}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root / trial_id, target)
        return target


__all__ = ["CURVES", "TIMINGS", "TEST_CURVES", "VIEW_CURVES", "SPLITS", "STATUSES", "TRACE_SCHEMA", "MemoryFeatures",
           "MAX_PREDICTION_CLASSES", "PREDICTIONS_FILE",
           "RunSupersededError", "StoreBusyError", "TraceStore", "TraceView", "TrialTrace", "TrialWriter",
           "traces_hash", "sealed"]
