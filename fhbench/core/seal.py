"""The seal around estimator code: while an estimator runs, the files that hold the truth cannot be opened.

Views already carry nothing of the test split (see `fhbench.record.view.TraceView`). But an estimator is
untrusted code in the scoring process, and it could find a trial's ``test.npz`` next to the feature
files, or a published ``results.json``, and simply read it. Inside `sealed()`, a Python audit hook
refuses to open such files: the estimator gets a `TruthAccessError`, which the harness records as a
failed estimate.

The seal is process-wide while it is on, so threads the estimator starts are sealed too, and a
link is judged by the file it leads to. Another name for a sealed file (a hard link made before, or one
the estimator makes) is judged by the file itself: `sealed(roots=...)` notes the device and inode of
every sealed file under those folders (a trace store), and opening, mapping or linking anything with
one of those identities is refused, whatever its name. This is a guard against reading the answer
through Python's file APIs, not a sandbox: code that spawns another process or calls the C library
directly is outside what an audit hook sees.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable, Iterator

SEALED_NAMES = frozenset({"test.npz", "manifest.json", "results.json", "estimates.json", "curves.npz",
                          "timings.npz", "labels.npz", "classifier.npz", "predictions.npz"})
"""Files that hold or lead to test accuracies or truths: a trial's test split and manifest, published
results, and the trial's whole-run files (its last validation accuracy is the final_val_acc truth). A
view copies what it may see of those before any estimator runs; only feature files are read later."""
SEALED_SUFFIXES = (".search.json",)
"""Files named so hold truths too: a declared search's record (`fhbench.engine.declared`) gives the
accuracy of the configuration it chose, which a later live search's estimator must not read."""

# Process-wide, not per context: a thread the estimator starts (a new context) must be sealed too.
_forbidden: frozenset[str] | None = None
_forbidden_files: frozenset[tuple[int, int]] = frozenset()  # (st_dev, st_ino) of every sealed file
_lock = threading.Lock()
_installed = False


class TruthAccessError(LookupError):
    """An estimator asked for test-split data or a truth file. Not a user error: a failed estimate."""


def _identity(target) -> tuple[int, int] | None:
    try:
        info = os.fstat(target) if isinstance(target, int) else os.stat(target)
    except (OSError, TypeError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _refuse(path) -> None:
    raise TruthAccessError(f"estimators may not open {path}: it holds test-split data or truths")


def _audit(event: str, args: tuple) -> None:
    if event not in ("open", "os.link", "os.symlink", "mmap.__new__"):
        return
    forbidden = _forbidden
    if forbidden is None:
        return
    target = args[0]
    if event == "mmap.__new__":  # (fileno, length, access, offset): a mapping of an open file
        if isinstance(target, int) and target >= 0 and _identity(target) in _forbidden_files:
            _refuse(f"file descriptor {target}")
        return
    if isinstance(target, int):
        return
    try:
        path = os.fsdecode(target)
    except TypeError:
        return
    real = os.path.realpath(path)  # a symbolic link under another name leads to the same file
    names = (os.path.basename(path), os.path.basename(real))
    if any(name in SEALED_NAMES or name.endswith(SEALED_SUFFIXES) for name in names) or real in forbidden:
        _refuse(path)
    if _forbidden_files and _identity(path) in _forbidden_files:  # a hard link: another name, the same file
        _refuse(path)


def sealed_files_under(roots: Iterable[str | os.PathLike]) -> frozenset[tuple[int, int]]:
    """The identities of the sealed files in folders such as a trace store (its trial folders, not their
    feature files, which estimators read)."""
    found = set()
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [name for name in subfolders if name != "features"]
            for name in files:
                if name in SEALED_NAMES or name.endswith(SEALED_SUFFIXES):
                    identity = _identity(os.path.join(folder, name))
                    if identity is not None:
                        found.add(identity)
    return frozenset(found)


@contextlib.contextmanager
def sealed(extra_paths: Iterable[str | os.PathLike] = (), *,
           files: frozenset[tuple[int, int]] = frozenset()) -> Iterator[None]:
    """Runs the block with truth files closed to it; `extra_paths` adds files such as a truth table, and
    `files` the identities (`sealed_files_under`) of sealed files whatever name reaches them."""
    global _installed, _forbidden, _forbidden_files
    with _lock:
        if not _installed:
            sys.addaudithook(_audit)  # hooks cannot be removed: it stays, inert outside `sealed`
            _installed = True
    previous, previous_files = _forbidden, _forbidden_files
    extra = [os.path.realpath(p) for p in extra_paths]
    _forbidden = frozenset(extra) | (previous or frozenset())
    _forbidden_files = files | previous_files | {i for i in map(_identity, extra) if i is not None}
    try:
        yield
    finally:
        _forbidden, _forbidden_files = previous, previous_files
