"""NAS-Bench-201's official benchmark file, read through the ``nas-bench-201`` package's API.

Two readers use it: the ``nb201-api`` truth (`fhbench.inputs.truth`: the ``cifar10`` setting's test
accuracy) and ``fhbench import`` (`read_nb201_curves`: the ``cifar10-valid`` setting's per-epoch curves).
The file is a pickle of plain containers; `open_api` loads it with an unpickler that builds nothing else,
so the file cannot run code, and hands the dict to ``NASBench201API``.

What the file holds per architecture and ``hp='200'`` (200 epochs, cosine learning rate from 0.1 to 0):
an ``ArchResults`` with one ``ResultsCount`` per (dataset, seed). A ``ResultsCount`` keeps the run's
per-epoch training accuracy and loss (``train_acc1es``, ``train_losses``, keyed by the epoch index
0..199) and its per-epoch evaluations (``eval_acc1es`` and ``eval_losses``, keyed ``'<set>@<epoch
index>'``). In ``cifar10-valid`` the network is trained on half of CIFAR-10's training images and
evaluated on the other half (``x-valid``) and on the test images (``ori-test``). Accuracies are in
percent, losses are the mean cross-entropy.

This module imports neither torch nor the package at import time.
"""

from __future__ import annotations

import hashlib
import pickle
import types
from pathlib import Path
from typing import Any

import numpy as np

from fhbench.core.errors import FhbenchError
from fhbench.inputs.curves import ImportedCurves, check_values

CURVES_SETTING = "cifar10-valid"
"""The setting whose curves are imported: the one with a validation curve."""

_PICKLE_GLOBALS = frozenset({
    ("collections", "OrderedDict"), ("builtins", "set"), ("__builtin__", "set"), ("builtins", "frozenset"),
    ("__builtin__", "frozenset"), ("_codecs", "encode"),  # how protocol 2 spells sets and bytes
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),  # trained weights, if any
    ("numpy", "dtype"), ("numpy", "ndarray"),
})
_NUMPY_CORE = frozenset({"numpy.core.multiarray", "numpy._core.multiarray"})  # numpy 1 and 2 names


class _BenchmarkUnpickler(pickle.Unpickler):
    """Builds only containers, numbers, strings, numpy scalars and tensors: the file cannot run code.

    torch's weights-only unpickler is as strict but runs in Python: 5.5 s against 0.5 s for a 49 MB file
    in this format, so about ten minutes against one for the official 4.7 GB file (extrapolated)."""

    def find_class(self, module: str, name: str) -> Any:
        if module in _NUMPY_CORE and name in ("scalar", "_reconstruct"):
            return getattr(np._core.multiarray if hasattr(np, "_core") else np.core.multiarray, name)
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which no benchmark file holds")


_BENCHMARK_PICKLE = types.ModuleType("fhbench_benchmark_pickle")  # what torch.load takes as pickle_module
_BENCHMARK_PICKLE.Unpickler = _BenchmarkUnpickler
_BENCHMARK_PICKLE.load = lambda file, **kwargs: _BenchmarkUnpickler(file, **kwargs).load()


class _Shared(dict):
    """The loaded file, handed to NASBench201API without the deep copy it makes of a dict (twice the
    memory of a file that already takes many GB)."""

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


def open_api(path: str, size: int, *, hint: str, purpose: str):
    """The file at `path` (`size` bytes on disk, for the out-of-memory message) as a ``NASBench201API``.
    Every failure is one FhbenchError line ending in `hint` (where to get the file); `purpose` names
    what needs the package when it is missing."""
    try:
        import torch
        from nas_201_api import NASBench201API
    except ImportError:
        raise FhbenchError(f"{purpose} needs the nas-bench-201 package (pip install 'nas-bench-201>=2.1')") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_BENCHMARK_PICKLE)
        if not isinstance(data, dict):
            raise TypeError(f"it holds a {type(data).__name__}, not a dict")
        return NASBench201API(_Shared(data), verbose=False)
    except OSError as err:
        raise FhbenchError(f"cannot read the NAS-Bench-201 benchmark file {path}: {err.strerror or err}") from None
    except MemoryError:
        raise FhbenchError(f"out of memory loading the NAS-Bench-201 benchmark file {path} "
                           f"({size / 2**30:.1f} GiB on disk)") from None
    except Exception as err:  # noqa: BLE001 - torch, pickle and the API's asserts raise many kinds: "not this file"
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise FhbenchError(f"{path} is not a NAS-Bench-201 benchmark file ({type(err).__name__}: {reason}); "
                           f"{hint}") from None


def _sha256(path: Path) -> str:
    """The file's digest, read in chunks (the official file is 4.7 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def package_version() -> str:
    from importlib.metadata import version

    return version("nas-bench-201")


def read_nb201_curves(path: str | Path, *, hint: str) -> ImportedCurves:
    """Every architecture's per-epoch curves of the 200-epoch ``cifar10-valid`` setting, one training run
    per architecture: the run of the lowest seed the file holds for it there (an average over seeds
    would be smoother than any run a search sees). train_acc and train_loss are that run's training
    accuracy and loss, val_acc and val_loss its ``x-valid`` accuracy and loss, after each epoch 1..200;
    accuracies are converted from percent to fractions. Trial i is the file's architecture index i.

    The values are read from the API's own objects (``arch2infos_dict[index]['200']``, then
    ``query(dataset, seed)``: its ``ResultsCount``), not through ``get_metrics`` per epoch, which sums
    the run's epoch times afresh on every call (200 x 200 additions per curve)."""
    from fhbench.spaces.nb201 import Nb201Cell  # imports torch

    path = Path(path)
    try:
        size = path.stat().st_size
        digest = _sha256(path)
    except OSError as err:
        raise FhbenchError(f"{path}: {(err.strerror or str(err)).lower()}") from None
    api = open_api(str(path), size, hint=hint, purpose="importing NAS-Bench-201's benchmark file")
    n = len(api.meta_archs)
    if n == 0:
        raise FhbenchError(f"{path}: the benchmark file lists no architectures")
    configs, seeds = [], []
    arrays = {name: None for name in ("train_acc", "train_loss", "val_acc", "val_loss")}
    epochs = None
    for index, arch in enumerate(api.meta_archs):
        where = f"{path}: architecture {index} ({arch})"
        try:
            cell = str(Nb201Cell.from_string(arch))
        except FhbenchError as err:
            raise FhbenchError(f"{where}: {err}") from None
        try:
            results = api.arch2infos_dict[index]["200"]
            seed = min(results.get_dataset_seeds(CURVES_SETTING))
            run = results.query(CURVES_SETTING, seed)
            total = int(run.get_total_epoch())
            if epochs is None:
                epochs = total
                arrays = {name: np.empty((n, epochs)) for name in arrays}
            if total != epochs:
                raise FhbenchError(f"{where}: {total} epochs in {CURVES_SETTING} at hp='200', architecture 0 has "
                                   f"{epochs}")
            keys = range(epochs)
            arrays["train_acc"][index] = [run.train_acc1es[e] for e in keys]
            arrays["train_loss"][index] = [run.train_losses[e] for e in keys]
            arrays["val_acc"][index] = [run.eval_acc1es[f"x-valid@{e}"] for e in keys]
            arrays["val_loss"][index] = [run.eval_losses[f"x-valid@{e}"] for e in keys]
        except FhbenchError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as err:
            raise FhbenchError(f"{where}: no complete {CURVES_SETTING} run at hp='200' ({type(err).__name__}: "
                               f"{err}): not a complete NAS-Bench-201 benchmark file") from None
        configs.append(cell)
        seeds.append(int(seed))
    for name in ("train_acc", "val_acc"):
        arrays[name] /= 100.0
    for name, values in arrays.items():
        check_values(name, values, lambda k: f"{path}: architecture {k // epochs} ({configs[k // epochs]}), epoch "
                                             f"{k % epochs + 1} (accuracies read as the file's percent / 100)")
    source = (f"NAS-Bench-201 benchmark file {path.name} (sha256 {digest}) via nas-bench-201 {package_version()}: "
              f"{CURVES_SETTING}, hp='200', each architecture's run of its lowest seed; train_acc/train_loss on "
              f"the training half, val_acc/val_loss on x-valid, after epochs 1..{epochs}; accuracies percent/100")
    dataset = f"NAS-Bench-201 {CURVES_SETTING} (CIFAR-10), imported from {path.name}"
    return ImportedCurves(source=source, dataset=dataset, path=str(path), space="nb201", configs=tuple(configs),
                          indices=tuple(range(n)), seeds=tuple(seeds), curves=arrays, test_acc=None, absent={})

__all__ = ["CURVES_SETTING", "open_api", "package_version", "read_nb201_curves"]
