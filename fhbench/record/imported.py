"""Imported curves (`fhbench.inputs.curves.ImportedCurves`) written as curve-only traces.

Each configuration becomes one complete trial ``r0-<index>`` of the format in `fhbench.record.format`:
its curves (train/val accuracy and loss per epoch), no features, no labels, no classifier, its budget
the curves' last epoch. What the source does not give is stored as NaN and listed in the manifest's
``absent_curves`` with why, so that a view refuses it with that reason: losses a benchmark did not
publish, and always the learning rate and the epoch times (no benchmark file fhbench reads gives them
per epoch as measured). The test accuracy per epoch, where the source gives it, goes to ``test.npz``
(the truth's side) as for a recorded trial.

The store is written whole or not at all: every trial is written into a hidden staging folder beside
the store, the disk is synced once, and the folder is swapped in for the store in one step
(`fhbench.core.atomic.exchange`; where that is missing, the old store is renamed aside first). A
re-import of the same curves keeps a sound store as it is, and replaces a damaged one; a killed import
leaves only its staging folder, which the next import into the same place removes. Files are not
fsynced one by one: 15,625 trials are 94,000 files, and at the 2.3 ms an fsync took here (3,000 of them
measured) that is about four minutes; one ``os.sync`` before the swap makes them as durable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from fhbench.core.atomic import exchange, fsync_dir
from fhbench.core.errors import TraceError
from fhbench.core.processes import pid_alive
from fhbench.inputs.curves import ImportedCurves
from fhbench.record.format import CURVES, TIMINGS, npz_bytes
from fhbench.record.trace import TrialTrace
from fhbench.record.writer import manifest_bytes, trial_manifest

STATUS = "complete"
NOT_GIVEN = ("lr", "epoch_time", "val_time")
"""View curves that no imported source gives per epoch."""


def trial_id(index: int) -> str:
    return f"r0-{index:05d}"


def write_imported(curves: ImportedCurves, store: str | Path, *, suite: str) -> bool:
    """Writes every configuration of `curves` as one trial into the store folder `store`, replacing what
    was there (see the module docstring). A store that already holds exactly these trials, each opening
    cleanly and imported from the same source, is left as it is: returns False then, True where it wrote.
    (Callers name the store by a hash of the source, so other curves never land in an existing store.)"""
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(store)
    if _holds(store, curves):
        return False
    staging = store.parent / f".{store.name}.import-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir()
        _write_trials(curves, staging, suite)
        os.sync()
        if not store.exists():
            os.replace(staging, store)
        elif exchange(staging, store):  # staging now holds the old store
            shutil.rmtree(staging)
        else:
            aside = store.parent / f".{store.name}.replaced-{os.getpid()}"
            os.replace(store, aside)
            os.replace(staging, store)
            shutil.rmtree(aside)
        fsync_dir(store.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return True


def _holds(store: Path, curves: ImportedCurves) -> bool:
    """Whether `store` holds exactly the trials of `curves`, each opening cleanly (manifest checksum, file
    sizes, curves hashed) and imported from `curves.source`. Deleting a store of 94,000 files took minutes
    here, so a repeated import keeps a sound one."""
    if not store.is_dir():
        return False
    expected = sorted(trial_id(index) for index in curves.indices)
    trials = (p.name for p in store.iterdir() if not p.name.startswith(".") and (p / "manifest.json").is_file())
    if sorted(trials) != expected:  # the trials as `TraceStore.trial_ids` lists them
        return False
    try:
        return all(TrialTrace(store / name).manifest.get("imported") == curves.source for name in expected)
    except TraceError:
        return False


def _remove_stale_staging(store: Path) -> None:
    """Staging and set-aside folders of imports into `store` whose process has ended (killed midway)."""
    for path in store.parent.glob(f".{store.name}.*-*"):
        kind, _, pid = path.name[len(store.name) + 2:].rpartition("-")
        if kind in ("import", "replaced") and pid.isdigit() and not pid_alive(int(pid)):
            if kind == "replaced" and not store.exists():
                os.replace(path, store)  # killed between its two renames: the old store comes back
            else:
                shutil.rmtree(path, ignore_errors=True)




def config_vectors(curves: ImportedCurves) -> list[list[float]]:
    """Each configuration's encoding: NAS-Bench-201's one-hot ops per edge, or none (an empty vector: the
    estimators that learn from configurations get nothing to learn from)."""
    if curves.space != "nb201":
        return [[] for _ in curves.configs]
    from fhbench.spaces.nb201 import Nb201Cell

    return [Nb201Cell.from_string(config).encoding().tolist() for config in curves.configs]


def _write_trials(curves: ImportedCurves, folder: Path, suite: str) -> None:
    epochs, n = curves.epochs, len(curves)
    encodings = config_vectors(curves)
    missing = np.full(epochs, np.nan)
    # The same bytes for every trial: serialised and hashed once.
    constant = {
        "timings.npz": npz_bytes({name: missing for name in TIMINGS}),
        "labels.npz": npz_bytes({"train": np.zeros(0, np.int64), "train_index": np.zeros(0, np.int64),
                                 "val": np.zeros(0, np.int64)}),
        "classifier.npz": npz_bytes({"W": np.zeros((0, 0, 0), np.float32), "b": np.zeros((0, 0), np.float32)}),
    }
    if curves.test_acc is None:
        constant["test.npz"] = npz_bytes({"test_acc": missing})
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in constant.items()}
    name_of_file = Path(curves.path).name
    absent = {**curves.absent, **{name: f"not in the imported curves ({name_of_file})" for name in NOT_GIVEN}}
    for i in range(n):
        files = dict(constant)
        files["curves.npz"] = npz_bytes({name: curves.curves[name][i] if name in curves.curves else missing
                                         for name in CURVES})
        if curves.test_acc is not None:
            files["test.npz"] = npz_bytes({"test_acc": curves.test_acc[i]})
        hashes = {name: digests.get(name) or hashlib.sha256(data).hexdigest() for name, data in files.items()}
        tid = trial_id(curves.indices[i])
        meta = {"config": curves.configs[i], "config_vector": encodings[i], "repeat": 0, "index": curves.indices[i],
                "seed": curves.seeds[i], "budget": epochs, "space": curves.space, "dataset_source": curves.dataset,
                "suite": suite, "conditions": {}, "imported": curves.source, "absent_curves": absent}
        manifest = trial_manifest(tid, status=STATUS, epochs_completed=epochs, feature_epochs=(),
                                  shapes={"train": 0, "val": 0, "classes": 0, "dim": 0}, meta=meta, files=hashes,
                                  sizes={name: len(data) for name, data in files.items()})
        trial = folder / tid
        trial.mkdir()
        for name, data in files.items():
            (trial / name).write_bytes(data)
        (trial / "manifest.json").write_bytes(manifest_bytes(manifest))


__all__ = ["NOT_GIVEN", "STATUS", "config_vectors", "trial_id", "write_imported"]
