"""Reading one finished trial (`TrialTrace`), checked against its manifest as it is read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fhbench.core.errors import TraceError
from fhbench.record.format import (
    CURVES,
    PREDICTIONS_FILE,
    REQUIRED_FILES,
    SPLITS,
    STATUSES,
    TIMINGS,
    TRACE_SCHEMA,
    VIEW_CURVES,
    manifest_digest,
    read_npz,
)
from fhbench.record.proxies import ProxyResult
from fhbench.record.view import FeatureFiles, TraceView


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
        if manifest.get("manifest_sha256") != manifest_digest(manifest):
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
        absent = m.get("absent_curves", {})
        if not isinstance(absent, dict) or any(name not in VIEW_CURVES or not isinstance(why, str) or not why.strip()
                                               for name, why in absent.items()):
            raise self._fail(f"manifest.json 'absent_curves' must map curve names ({', '.join(VIEW_CURVES)}) to "
                             f"why each is absent")
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
        wanted = set(REQUIRED_FILES) | {f"features/{e:04d}.npz" for e in epochs} | ({PREDICTIONS_FILE} & listed)
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
        return read_npz(self.path / name, self.manifest["files"][name], name, str(self.path))

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
    def absent_curves(self) -> dict[str, str]:
        """Curves the trace's source does not give (an imported trace), each with why; stored as NaN."""
        return dict(self.manifest.get("absent_curves", {}))

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
        return FeatureFiles(self, self.epochs_completed).read(epoch, split)

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
        """The trial cut at `epoch`; a proxy-only trial (budget 0) has one view, at epoch 0: its proxies."""
        first = 0 if self.budget == 0 else 1
        if not first <= epoch <= self.epochs_completed:
            raise ValueError(f"trace {self.name}: no epoch {epoch} (it has {first}..{self.epochs_completed})")
        classifier = self._classifier_arrays()
        labels = self._labels_arrays()
        return TraceView(trial_id=self.trial_id, config=self.config, config_vector=self.config_vector,
                         budget=self.budget, epoch=epoch,
                         curves={name: self.curves[name] for name in VIEW_CURVES}, absent=self.absent_curves,
                         labels={split: labels[split] for split in SPLITS},
                         classifier=(classifier["W"], classifier["b"]),
                         features=FeatureFiles(self, epoch), proxies=self.proxies,
                         predictions=self.predictions()[:epoch] if self.has_predictions else None)



def recording_summary(traces) -> dict:
    """The recording conditions of the traces a leaderboard scored, each as the sorted set of its values
    (lost trials recorded nothing, so they have no conditions to report)."""
    keys = ("device", "device_name", "threads", "torch", "cuda", "deterministic_algorithms")
    recorded = [t for t in traces if t.status != "lost"]
    return {key: sorted({str(t.conditions.get(key)) for t in recorded}) for key in keys}


def traces_hash(traces) -> str:
    """One hash over the content of the trials a leaderboard was computed from (wall times excluded)."""
    return hashlib.sha256("".join(f"{t.trial_id}:{t.digest};" for t in traces).encode()).hexdigest()
