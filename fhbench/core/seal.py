"""The seal around estimator code: while an estimator runs, the files that hold the truth cannot be opened.

Views already carry nothing of the test split (see `fhbench.record.view.TraceView`). But an estimator is
untrusted code in the scoring process, and it could find a trial's ``test.npz`` next to the feature
files, or a published ``results.json``, and simply read it. Inside `sealed()`, a Python audit hook
refuses to open such files: the estimator gets a `TruthAccessError`, which the harness records as a
failed estimate.

The seal is process-wide while it is on, so threads the estimator starts are sealed too, and a
link is judged by the file it leads to. This is a guard against reading the answer through Python's
file APIs, not a sandbox: code that spawns another process or calls the C library directly is
outside what an audit hook sees.
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
_lock = threading.Lock()
_installed = False


class TruthAccessError(LookupError):
    """An estimator asked for test-split data or a truth file. Not a user error: a failed estimate."""


def _audit(event: str, args: tuple) -> None:
    if event != "open":
        return
    forbidden = _forbidden
    if forbidden is None or isinstance(args[0], int):
        return
    try:
        path = os.fsdecode(args[0])
    except TypeError:
        return
    real = os.path.realpath(path)  # a link under another name leads to the same file
    names = (os.path.basename(path), os.path.basename(real))
    if any(name in SEALED_NAMES or name.endswith(SEALED_SUFFIXES) for name in names) or real in forbidden:
        raise TruthAccessError(f"estimators may not open {path}: it holds test-split data or truths")


@contextlib.contextmanager
def sealed(extra_paths: Iterable[str | os.PathLike] = ()) -> Iterator[None]:
    """Runs the block with truth files closed to it; `extra_paths` adds files such as a truth table."""
    global _installed, _forbidden
    with _lock:
        if not _installed:
            sys.addaudithook(_audit)  # hooks cannot be removed: it stays, inert outside `sealed`
            _installed = True
    previous = _forbidden
    _forbidden = frozenset(os.path.realpath(p) for p in extra_paths) | (previous or frozenset())
    try:
        yield
    finally:
        _forbidden = previous
