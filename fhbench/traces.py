"""The trace store: one directory per trial, written whole or not at all.

Layout of a finished trial ``<store>/<trial_id>/``::

    manifest.json        schema, status, config, seeds, shapes, and the sha256 of every other file
    curves.npz           per-epoch metrics (train_loss, train_acc, val_loss, val_acc, test_acc, lr);
                         test_acc is NaN where it was not evaluated
    timings.npz          per-epoch wall times (epoch_time: the training pass, eval_time: evaluation),
                         apart because they differ between any two recordings
    labels.npz           train (labels of the kept training images), train_index, val
    classifier.npz       W (epochs, classes, dim) and b (epochs, classes): the classifier after each epoch
    features/NNNN.npz    train and val features of epoch NNNN, for the kept epochs only

Everything is plain numpy arrays read with ``allow_pickle=False``: a trace cannot run code. A trial is
written under ``.partial/`` and renamed into place after its manifest, so a killed run leaves no trial
that reads as finished. Opening a trial checks every file against its manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fhbench.errors import LookAheadError, TraceError

TRACE_SCHEMA = 1
CURVES = ("train_loss", "train_acc", "val_loss", "val_acc", "test_acc", "lr")
TIMINGS = ("epoch_time", "eval_time")
SPLITS = ("train", "val")


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _write_file(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


class TrialWriter:
    """Writes one trial into ``.partial/`` and publishes it with `finish`."""

    def __init__(self, store: TraceStore, trial_id: str, meta: dict[str, Any]):
        self.store = store
        self.trial_id = trial_id
        self.meta = dict(meta)
        self.dir = store.root / ".partial" / trial_id
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.files: dict[str, str] = {}
        self.feature_epochs: list[int] = []

    def _put(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        self.files[name] = _write_file(self.dir / name, _npz_bytes(arrays))

    def write_features(self, epoch: int, train: np.ndarray, val: np.ndarray) -> None:
        self._put(f"features/{epoch:04d}.npz", {"train": train, "val": val})
        self.feature_epochs.append(epoch)

    def finish(self, *, status: str, curves: dict[str, np.ndarray], labels: dict[str, np.ndarray],
               classifier_w: np.ndarray, classifier_b: np.ndarray, **extra: Any) -> Path:
        """`curves` holds CURVES and TIMINGS; they are written to separate files."""
        self._put("curves.npz", {k: v for k, v in curves.items() if k not in TIMINGS})
        self._put("timings.npz", {k: v for k, v in curves.items() if k in TIMINGS})
        self._put("labels.npz", labels)
        self._put("classifier.npz", {"W": classifier_w, "b": classifier_b})
        manifest = {
            "schema": TRACE_SCHEMA,
            "trial_id": self.trial_id,
            "status": status,
            "epochs_completed": int(len(curves["val_acc"])),
            "feature_epochs": sorted(self.feature_epochs),
            **self.meta,
            **extra,
            "files": dict(sorted(self.files.items())),
        }
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        with open(self.dir / "manifest.json", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        final = self.store.root / self.trial_id
        if final.exists():
            shutil.rmtree(final)
        os.replace(self.dir, final)
        return final


class TrialTrace:
    """A finished trial read back from the store, checked against its manifest."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name
        manifest_path = self.path / "manifest.json"
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise TraceError(f"trace {self.path}: no manifest.json (an unfinished trial?)") from None
        except (OSError, ValueError) as err:
            raise TraceError(f"trace {self.path}: unreadable manifest.json ({err})") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("schema") != TRACE_SCHEMA:
            raise TraceError(f"trace {self.path}: manifest schema is not {TRACE_SCHEMA}")
        files = self.manifest.get("files", {})
        for name, digest in files.items():
            self._verify(name, digest)
        for required in ("curves.npz", "timings.npz", "labels.npz", "classifier.npz"):
            if required not in files:
                raise TraceError(f"trace {self.path}: manifest lists no {required}")
        self.curves = {**self._load("curves.npz"), **self._load("timings.npz")}
        self._labels = self._load("labels.npz")
        self._classifier = self._load("classifier.npz")
        self.feature_epochs = tuple(self.manifest["feature_epochs"])

    def _verify(self, name: str, digest: str) -> None:
        sha = hashlib.sha256()
        try:
            with open(self.path / name, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    sha.update(block)
        except OSError:
            raise TraceError(f"trace {self.path}: missing {name}") from None
        if sha.hexdigest() != digest:
            raise TraceError(f"trace {self.path}: {name} does not match its checksum (corrupt)")

    def _load(self, name: str) -> dict[str, np.ndarray]:
        """Reads a verified file. Features are read on demand and not cached: they can be large."""
        try:
            with np.load(self.path / name, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (OSError, ValueError, KeyError) as err:
            raise TraceError(f"trace {self.path}: {name} is not a valid npz ({err})") from None

    # -- metadata ---------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.manifest["status"]

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
    def digest(self) -> str:
        """One hash over the trial's content, wall times excluded: the same seed recorded again on the
        same kind of machine gives the same digest. The leaderboard's traces hash is made of these."""
        files = {k: v for k, v in self.manifest["files"].items() if k != "timings.npz"}
        return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()

    # -- data ---------------------------------------------------------------------------------------
    def curve(self, name: str) -> np.ndarray:
        if name not in self.curves:
            raise KeyError(f"trace {self.name} has no curve '{name}' (has {', '.join(self.curves)})")
        return self.curves[name]

    def features(self, epoch: int, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if epoch not in self.feature_epochs:
            raise KeyError(f"trace {self.name} keeps no features for epoch {epoch} "
                           f"(kept: {', '.join(map(str, self.feature_epochs)) or 'none'})")
        name = f"features/{epoch:04d}.npz"
        try:
            with np.load(self.path / name, allow_pickle=False) as npz:
                return torch.from_numpy(npz[split].astype(np.float32))
        except (OSError, ValueError, KeyError) as err:
            raise TraceError(f"trace {self.path}: {name} is not a valid npz ({err})") from None

    def labels(self, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return torch.from_numpy(self._labels[split].astype(np.int64))

    def classifier(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        arrays = self._classifier
        if not 1 <= epoch <= len(arrays["W"]):
            raise KeyError(f"trace {self.name} has no classifier for epoch {epoch}")
        return torch.from_numpy(arrays["W"][epoch - 1].copy()), torch.from_numpy(arrays["b"][epoch - 1].copy())

    def view(self, epoch: int) -> TraceView:
        return TraceView(self, epoch)


class TraceView:
    """One trial as an estimator may see it at epoch `epoch`: nothing later can be read."""

    def __init__(self, trace: TrialTrace, epoch: int):
        if not 1 <= epoch <= trace.epochs_completed:
            raise ValueError(f"trace {trace.name}: no epoch {epoch} (it has 1..{trace.epochs_completed})")
        self._trace = trace
        self.epoch = epoch
        self.budget = trace.budget
        self.config = trace.config
        self.config_vector = trace.config_vector
        self.trial_id = trace.trial_id
        self.kept_epochs = tuple(e for e in trace.feature_epochs if e <= epoch)

    def _check(self, epoch: int) -> None:
        if epoch > self.epoch:
            raise LookAheadError(f"trace {self.trial_id}: epoch {epoch} is after the view's epoch {self.epoch}")
        if epoch < 1:
            raise KeyError(f"trace {self.trial_id}: epochs start at 1, got {epoch}")

    def curve(self, name: str) -> np.ndarray:
        return self._trace.curve(name)[: self.epoch].copy()

    def features(self, epoch: int, split: str) -> torch.Tensor:
        self._check(epoch)
        return self._trace.features(epoch, split)

    def labels(self, split: str) -> torch.Tensor:
        return self._trace.labels(split)

    def classifier(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(epoch)
        return self._trace.classifier(epoch)


def traces_hash(traces) -> str:
    """One hash over the content of the trials a leaderboard was computed from (wall times excluded)."""
    return hashlib.sha256("".join(f"{t.trial_id}:{t.digest};" for t in traces).encode()).hexdigest()


class TraceStore:
    """The trials of one suite's recording settings, under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, TrialTrace] = {}

    def writer(self, trial_id: str, meta: dict[str, Any]) -> TrialWriter:
        self._open.pop(trial_id, None)
        return TrialWriter(self, trial_id, meta)

    def has(self, trial_id: str) -> bool:
        return (self.root / trial_id / "manifest.json").is_file()

    def open(self, trial_id: str) -> TrialTrace:
        if trial_id not in self._open:
            self._open[trial_id] = TrialTrace(self.root / trial_id)
        return self._open[trial_id]

    def trial_ids(self) -> Iterator[str]:
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and not path.name.startswith("."):
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
