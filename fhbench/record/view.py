"""The sealed view an estimator gets: one trial cut at a query epoch, refusing reads past it."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import torch

from fhbench.core.errors import LookAheadError, TraceError
from fhbench.core.seal import TruthAccessError
from fhbench.record.format import SPLITS, VIEW_CURVES, read_npz
from fhbench.record.proxies import ProxyResult

UNTRAINED = ("a proxy-only trial (train.epochs = 0) is never trained: it holds the zero-cost proxies of its "
             "network at initialisation and nothing else")
"""Why a view at epoch 0 has no curves, features, classifiers or predictions."""


class FeatureFiles:
    """Reads feature files of one trial up to an epoch: paths and checksums only, no other trace state."""

    def __init__(self, trace, last_epoch: int):  # a TrialTrace (fhbench.record.trace, which imports this module)
        self._trial = str(trace.path)
        self.corruption: str | None = None  # the first failed read: kept even if the estimator swallows the error
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
        try:
            arrays = read_npz(path, digest, f"features/{epoch:04d}.npz", self._trial)
            if split not in arrays:
                raise TraceError(f"trace {self._trial}: features/{epoch:04d}.npz has no '{split}' array")
        except TraceError as err:
            self.corruption = self.corruption or str(err)
            raise
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


class ReadOnlyViewError(AttributeError):
    """An estimator tried to change a view: views are read-only (their arrays too)."""


class TraceView:
    """One trial as an estimator may see it at epoch `epoch`: training and validation data up to that
    epoch, and nothing else. Read-only: its attributes cannot be set and its arrays cannot be written
    (`ReadOnlyViewError`), and what its methods return are copies, so an estimator cannot change what
    another one, or its own next call, sees.

    The view holds copies cut at `epoch` (predictions included) and a reader of the feature files up to `epoch`;
    it keeps no reference to the trace, the test split or the truth, so nothing behind it leads there.
    Reads past `epoch` raise LookAheadError; asking for test data raises TruthAccessError.

    A curve the trace's source does not give (`absent`: an imported benchmark without losses, say) is
    refused with the reason.

    Where the suite records predictions, `predictions(epoch)` shows them: validation-split data like
    the val_acc curve they add up to, so an estimator may use them (never those after `epoch`).
    """

    def __init__(self, *, trial_id: str, config: str, config_vector: np.ndarray, budget: int, epoch: int,
                 curves: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                 classifier: tuple[np.ndarray, np.ndarray], features, proxies: ProxyResult | None = None,
                 predictions: np.ndarray | None = None, absent: dict[str, str] | None = None):
        self.trial_id = trial_id
        self.config = config
        self.config_vector = np.array(config_vector, dtype=np.float64)
        self.budget = int(budget)
        self.epoch = int(epoch)
        self._absent = dict(absent or {})  # curves the trace's source does not give, and why (imported traces)
        self._curves = {name: np.array(values[:epoch], dtype=np.float64) for name, values in curves.items()
                        if name in VIEW_CURVES and name not in self._absent}
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
        self.config_vector.setflags(write=False)
        self.proxies = None if self.proxies is None else MappingProxyType(self.proxies)
        self.proxy_errors = MappingProxyType(self.proxy_errors)
        self.proxy_seconds = MappingProxyType(self.proxy_seconds)
        self._frozen = True

    def __setattr__(self, name: str, value) -> None:
        if getattr(self, "_frozen", False):
            raise ReadOnlyViewError(f"trace view {self.trial_id}: views are read-only (tried to set '{name}')")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise ReadOnlyViewError(f"trace view {self.trial_id}: views are read-only (tried to delete '{name}')")

    def __reduce__(self):  # pickled whole for a worker process, read-only again on the other side
        state = {key: dict(value) if isinstance(value, MappingProxyType) else value
                 for key, value in self.__dict__.items()}
        return (_rebuild_view, (state,))

    def _check(self, epoch: int) -> None:
        if self.epoch == 0:
            raise KeyError(f"trace {self.trial_id}: nothing at epoch {epoch}: {UNTRAINED}")
        if epoch > self.epoch:
            raise LookAheadError(f"trace {self.trial_id}: epoch {epoch} is after the view's epoch {self.epoch}")
        if epoch < 1:
            raise KeyError(f"trace {self.trial_id}: epochs start at 1, got {epoch}")

    def curve(self, name: str) -> np.ndarray:
        if name.startswith("test"):
            raise TruthAccessError(f"trace {self.trial_id}: '{name}' is test-split data, which estimators "
                                   f"may not see (the truth is measured there)")
        if self.epoch == 0 and name in self._curves:
            raise KeyError(f"trace {self.trial_id}: no curve '{name}' at epoch 0: {UNTRAINED}")
        if name in self._absent:
            raise KeyError(f"trace {self.trial_id}: no curve '{name}': {self._absent[name]}")
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
    def corruption(self) -> str | None:
        """Why a feature file of this trial failed its checks when read through this view, if one did."""
        return getattr(self._features, "corruption", None)

    @property
    def has_predictions(self) -> bool:
        return self._predictions is not None

    def predictions(self, epoch: int) -> torch.Tensor:
        """The arg-max class of every validation image after `epoch` (int64, like `labels("val")`)."""
        self._check(epoch)
        if self._predictions is None:
            raise KeyError(f"trace {self.trial_id}: no predictions recorded (the suite's record.predictions is off)")
        return torch.from_numpy(self._predictions[epoch - 1].astype(np.int64))


def _rebuild_view(state: dict) -> TraceView:
    view = TraceView.__new__(TraceView)
    view.__dict__.update(state)
    view.__dict__["config_vector"] = np.array(state["config_vector"])  # a fresh array: pickling drops its flags
    view.config_vector.setflags(write=False)
    for key in ("proxies", "proxy_errors", "proxy_seconds"):
        if view.__dict__.get(key) is not None:
            view.__dict__[key] = MappingProxyType(view.__dict__[key])
    return view
