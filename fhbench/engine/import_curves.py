"""`fhbench import`: a benchmark's published learning curves as curve-only traces, and a suite file that
`fhbench score` scores them with, through the normal pipeline.

From a CSV (`fhbench.inputs.curves`) or NAS-Bench-201's benchmark file (`fhbench.inputs.nb201_file`),
told apart by their first bytes (the benchmark file is a torch zip archive or a pickle). Everything is
read and checked before anything is written; the traces are then swapped in whole
(`fhbench.record.imported`) and the suite file written beside them (`<traces>/<name>.toml`).

The suite: checkpoints as given (default 5%, 10% and 25% of the curves' epochs: 10, 20 and 50 of 200);
the truth: for a CSV the last epoch's test_acc where the file has that column, else its val_acc
(`--truth test_acc|val_acc` chooses); for NAS-Bench-201's file the thesis's truth, ``nb201-api`` (the
``cifar10`` setting's test accuracy at 200 epochs, mean over the file's seeds), or ``--truth val_acc``,
each imported run's own final validation accuracy. Its estimators: every installed one except those that
read zero-cost proxies (imported curves hold none); the ones that read features run and fail, saying so.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fhbench.core.atomic import write_file
from fhbench.core.errors import FhbenchError
from fhbench.estimators import available_estimators
from fhbench.inputs.curves import SPACES, ImportedCurves, read_curves_csv
from fhbench.inputs.suite import Suite, check_path_name, parse_suite
from fhbench.inputs.truth import NB201_FILE_FLAG, NB201_FILES
from fhbench.record.imported import write_imported

DEFAULT_FRACTIONS = (0.05, 0.10, 0.25)
"""Default checkpoints as fractions of the curves' epochs (10, 20, 50 of 200: issue 18's 5% of the budget)."""
TRUTHS = ("test_acc", "val_acc")
_GET_NB201 = (f"expected a CSV of curves (docs/import.md) or NAS-Bench-201's benchmark file ({NB201_FILES[0]} or "
              f"{NB201_FILES[1]})")


@dataclass(frozen=True)
class Imported:
    """What an import wrote, and what to tell the user."""

    suite_path: Path
    store: Path
    trials: int
    epochs: int
    truth: str
    notes: tuple[str, ...]
    score_command: str


def parse_checkpoints(text: str | None) -> tuple[int, ...] | None:
    """--checkpoints "10,20,50": increasing distinct epochs >= 1 (checked against the curves later)."""
    if text is None:
        return None
    try:
        epochs = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise FhbenchError(f"--checkpoints {text}: expected comma-separated epochs, e.g. 10,20,50") from None
    if any(e < 1 for e in epochs) or list(epochs) != sorted(set(epochs)):
        raise FhbenchError(f"--checkpoints {text}: expected increasing distinct epochs >= 1")
    return epochs


def default_checkpoints(epochs: int) -> tuple[int, ...]:
    return tuple(sorted({max(1, round(fraction * epochs)) for fraction in DEFAULT_FRACTIONS}))


def is_benchmark_file(path: Path) -> bool:
    """NAS-Bench-201's file is a torch zip archive or (the 2020 files) a pickle of protocol 2 or later."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as err:
        raise FhbenchError(f"cannot read {path}: {err.strerror or err}") from None
    return head == b"PK\x03\x04" or head[:1] == b"\x80"


def import_curves(curves_file: str | Path, *, name: str, traces_root: str | Path,
                  checkpoints: tuple[int, ...] | None = None, truth: str | None = None,
                  space: str = "nb201") -> Imported:
    """Reads and checks the curves, then writes their traces and suite (module docstring)."""
    check_path_name(name, "--name", lambda key, expected: FhbenchError(f"{key}: expected {expected}"))
    if truth is not None and truth not in TRUTHS:
        raise FhbenchError(f"--truth {truth}: expected one of {', '.join(TRUTHS)}")
    if space not in SPACES:
        raise FhbenchError(f"--space {space}: expected one of {', '.join(SPACES)}")
    path = Path(curves_file)
    if not path.exists():
        raise FhbenchError(f"{path}: no such file; {_GET_NB201}")
    if not path.is_file():  # a folder, a device (/dev/zero), a fifo: nothing to read to its end
        raise FhbenchError(f"{path}: not a regular file; {_GET_NB201}")
    benchmark = is_benchmark_file(path)
    if benchmark:
        if space != "nb201":
            raise FhbenchError(f"--space {space}: NAS-Bench-201's benchmark file holds NAS-Bench-201 cells")
        from fhbench.inputs.nb201_file import read_nb201_curves

        curves = read_nb201_curves(path, hint=_GET_NB201)
    else:
        curves = read_curves_csv(path, space=space)
    checkpoints = checkpoints or default_checkpoints(curves.epochs)
    if checkpoints[-1] > curves.epochs:
        raise FhbenchError(f"--checkpoints: epoch {checkpoints[-1]} is after the curves' last, {curves.epochs}")
    spec = _truth(curves, truth, benchmark)
    traces_root = Path(traces_root)
    suite_path = traces_root / f"{name}.toml"
    estimators, broken = _estimators()
    text = suite_text(curves, name, checkpoints, spec, estimators)
    suite = parse_suite(tomllib.loads(text), source=str(suite_path))  # what is written is a valid suite
    store = traces_root / suite.name / suite.record_hash
    written = write_imported(curves, store, suite=name)
    write_file(suite_path, text)
    command = f"fhbench score {suite_path} --traces {traces_root}"
    if spec == "nb201-api":
        command += f" {NB201_FILE_FLAG} {path}"
    notes = _notes(curves, suite) + tuple(f"left out of the suite, it fails to load: {b}" for b in broken) + (
        () if written else (f"{store} already held these curves: left as it was",))
    return Imported(suite_path, store, len(curves), curves.epochs, spec, notes, command)


def _truth(curves: ImportedCurves, truth: str | None, benchmark: bool) -> str:
    """The suite's estimate.truth for --truth (see the module docstring)."""
    if benchmark:
        return "final_val_acc" if truth == "val_acc" else "nb201-api"
    if truth == "test_acc" and curves.test_acc is None:
        raise FhbenchError(f"--truth test_acc: {curves.path} has no test_acc column (or leaves it empty); "
                           f"use --truth val_acc")
    if truth == "val_acc" or curves.test_acc is None:
        return "final_val_acc"
    return "final_test_acc"


def _estimators() -> tuple[list[str], list[str]]:
    """Every installed estimator but those that read zero-cost proxies (`recorded_cost_s`, as preflight
    tells them), which imported curves do not hold; and, apart, the plugins that fail to load (left out,
    since scoring would refuse the whole suite for them), each with why."""
    names, broken = [], []
    for name, info in available_estimators().items():
        try:
            factory = info.load()
        except Exception as err:  # noqa: BLE001 - any error of a plugin's import: said, and left out
            broken.append(f"{name} ({type(err).__name__}: {err})")
            continue
        if getattr(factory, "recorded_cost_s", None) is None:
            names.append(name)
    return names, broken


def suite_text(curves: ImportedCurves, name: str, checkpoints: tuple[int, ...], truth: str,
               estimators: list[str]) -> str:
    """The suite file, as TOML (its strings written as JSON strings, which TOML reads the same)."""
    what = "NAS-Bench-201 cells" if curves.space == "nb201" else "configurations"
    description = (f"{len(curves):,} {what}' learning curves of {curves.epochs} epochs imported by `fhbench import` "
                   f"from {Path(curves.path).name}, estimated at epochs {', '.join(map(str, checkpoints))}; "
                   f"curves only (no features, no proxies).")
    lines = [
        f"# Written by `fhbench import {Path(curves.path).name} --name {name}`. The traces depend only on [imported]",
        "# and train.epochs: edit the checkpoints, the truth and the estimators freely.",
        f"name = {json.dumps(name)}",
        'version = "1"',
        f"description = {json.dumps(description)}",
        "",
        "[imported]",
        f"source = {json.dumps(curves.source)}",
        f"configs = {json.dumps(curves.space)}",
        f"trials = {len(curves)}",
        "",
        "[train]",
        f"epochs = {curves.epochs}",
        f"record_test = {'true' if curves.test_acc is not None else 'false'}",
        "",
        "[estimate]",
        f"checkpoints = {json.dumps(list(checkpoints))}",
        "repeats = 1",
        f"truth = {json.dumps(truth)}",
        f"estimators = {json.dumps(estimators)}",
        "",
    ]
    return "\n".join(lines)


def _notes(curves: ImportedCurves, suite: Suite) -> tuple[str, ...]:
    notes = []
    if curves.absent:
        notes.append(f"{', '.join(curves.absent)}: not given by {Path(curves.path).name}; every estimator that "
                     f"reads {'it' if len(curves.absent) == 1 else 'one of them'} fails on the board, saying so")
    if curves.space != "nb201":
        notes.append("the configs are ids, not NAS-Bench-201 cells: they have no config encoding, and estimators "
                     "that learn from one get an empty vector (lcnet and lcsvr then fail, saying so)")
    notes.append(f"no features: {suite.path} lists every installed estimator but the zero-cost proxies (imported "
                 f"curves hold none); those that read features fail on the board, saying so")
    return tuple(notes)


__all__ = ["DEFAULT_FRACTIONS", "Imported", "default_checkpoints", "import_curves", "is_benchmark_file",
           "parse_checkpoints", "suite_text"]
