"""Learning curves shaped like NAS-Bench-201's CIFAR-10 ones, written as real fhbench traces.

Nothing here is fitted to benchmark data: the shapes follow how such training runs behave in general.
NAS-Bench-201 trains every cell for 200 epochs with SGD (Nesterov, momentum 0.9, weight decay 5e-4) and
a cosine learning rate from 0.1 to 0; its CIFAR-10 validation curves

- rise fast in the first ~10-20 epochs, then creep upwards while the learning rate is still high, and
  climb again in the second half as the rate anneals (the annealing adds some 10-20 points that the
  first 50 epochs never show);
- jump by a point or two from epoch to epoch while the rate is high (and now and then drop by several
  points), and settle as the rate goes to 0;
- end between 10% (cells whose output is cut off from the input: every path holds a `none`) and ~92%,
  most cells at 80-92%, with a tail of weak cells (no convolution on any path: the network learns
  only through its stem and the residual reduction blocks) at 40-65%.

A cell's final accuracy follows its convolutions on live edges (edges on an input-output path), with
noise; how much the annealing adds, how fast it rises first and how noisy it is vary from cell to cell
independently of that, so the ranking at epoch 10, 20 or 50 is informative about the final one, but
far from equal to it (rank crossings).

`population(n, seed)` draws the cells and their curves; `write_traces(root, cells)` writes them with
fhbench's own trace writer (no features are kept: the curve estimators never read them), so the
harness (`fhbench.estimators.harness.run_estimators`) can run estimators on them as on a recorded suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fhbench.record.store import TraceStore
from fhbench.record.trace import TrialTrace
from fhbench.spaces.nb201 import EDGES, OPS, Nb201Cell

BUDGET = 200
LR = 0.1
CHECKPOINTS = (10, 20, 50)  # 5%, 10% and 25% of the budget
CONVS = {"nor_conv_3x3": 1.0, "nor_conv_1x1": 0.5}


@dataclass(frozen=True)
class Cell:
    """One drawn cell: its ops, its curves (full length) and, apart, its validation curve without the
    epoch-to-epoch noise (`clean`)."""

    cell: Nb201Cell
    curves: dict[str, np.ndarray]
    clean: np.ndarray

    @property
    def final(self) -> float:
        return float(self.curves["val_acc"][-1])


def cosine_lr(budget: int = BUDGET, lr: float = LR) -> np.ndarray:
    """The learning rate during epochs 1..budget: cosine from `lr` (epoch 1) towards 0 (epoch budget)."""
    t = np.arange(budget, dtype=np.float64)
    return 0.5 * lr * (1 + np.cos(np.pi * t / budget))


def live_edges(cell: Nb201Cell) -> list[int]:
    """Indices of the edges (not `none`) that lie on a path from the input node 0 to the output node 3."""
    edges = [(target, source) for (target, source), op in zip(EDGES, cell.ops) if op != "none"]
    reach_from_input, reach_output = {0}, {3}
    for target, source in sorted(edges, key=lambda e: e[0]):  # targets in increasing order: a DAG sweep
        if source in reach_from_input:
            reach_from_input.add(target)
    for target, source in sorted(edges, key=lambda e: -e[1]):
        if target in reach_output:
            reach_output.add(source)
    return [i for i, ((target, source), op) in enumerate(zip(EDGES, cell.ops))
            if op != "none" and source in reach_from_input and target in reach_output]


def final_accuracy(cell: Nb201Cell, rng: np.random.Generator) -> float:
    """Where the cell's validation accuracy ends after 200 epochs (before epoch noise)."""
    live = live_edges(cell)
    if not live:
        return 0.10  # the output never sees the input: chance
    convs = sum(CONVS.get(cell.ops[i], 0.0) for i in live)
    skip = any(cell.ops[i] == "skip_connect" for i in live)
    if convs == 0:
        return float(rng.uniform(0.40, 0.65))
    accuracy = 0.935 - 0.30 * np.exp(-0.85 * convs) + (0.01 if skip else -0.01) + rng.normal(0.0, 0.012)
    return float(np.clip(accuracy, 0.45, 0.95))


def val_curve(final: float, lr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(noisy validation accuracy, its noise-free mean) over len(lr) epochs, ending near `final`."""
    n = len(lr)
    t = np.arange(1, n + 1, dtype=np.float64)
    if final <= 0.11:  # a dead cell: chance, flickering as the classifier's bias flips between classes
        return np.clip(0.1 + rng.normal(0.0, 0.003, n) * (rng.random(n) < 0.3), 0.0, 1.0), np.full(n, 0.1)
    learnable = final - 0.1
    heat = (lr / lr[0]) ** rng.uniform(0.8, 1.6)  # how much of the annealing gain is still missing
    anneal_gain = learnable * rng.uniform(0.10, 0.24)  # what the annealing adds, varies across cells
    slow = learnable * rng.uniform(0.05, 0.15)  # slow progress at constant rate (a power law in epochs)
    power = rng.uniform(0.4, 0.8)
    slow_part = slow * (t ** -power - n ** -power) / (1 - n ** -power)
    start = 0.1 + learnable * rng.uniform(0.35, 0.45)  # the first epoch's accuracy
    rise = rng.uniform(1.5, 6.0)  # epochs of the fast early rise
    plateau = final - anneal_gain * heat - slow_part
    mean = plateau - (plateau[0] - start) * np.exp(-(t - 1) / rise)
    # Epoch-to-epoch noise: large while the rate is high, a binomial floor of a 25k-image split at the end.
    scale = rng.uniform(0.005, 0.02) * np.sqrt(lr / lr[0]) + 0.002
    noise = np.zeros(n)
    shocks = rng.normal(0.0, 1.0, n)
    for i in range(n):  # AR(1): a bad epoch tends to be followed by a not-quite-recovered one
        noise[i] = (0.3 * noise[i - 1] if i else 0.0) + shocks[i]
    noise *= scale / np.sqrt(1 / (1 - 0.3 ** 2))
    dips = (rng.random(n) < 0.04) * rng.exponential(0.04, n) * (lr / lr[0])  # occasional bad epochs
    return np.clip(mean + noise - dips, 0.0, 1.0), mean


def curves_for(final: float, rng: np.random.Generator,
               budget: int = BUDGET) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every curve a trace holds, consistent with one validation curve; and that curve without noise."""
    lr = cosine_lr(budget)
    val, mean = val_curve(final, lr, rng)
    # Training accuracy (augmented data, averaged over the epoch): close to validation accuracy while the
    # rate is high, above it (towards ~100% for good cells) as it anneals.
    overfit = (1 - lr / lr[0]) * max(final - 0.1, 0.0) * rng.uniform(0.05, 0.12)
    train_acc = np.clip(mean + 0.01 * (final > 0.11) + overfit + rng.normal(0.0, 0.002, budget), 0.0, 1.0)
    train_loss = 2.3026 * ((1 - train_acc) / 0.9) ** 1.3 + 0.003
    val_loss = 2.3026 * ((1 - val) / 0.9) ** 1.1 + 0.02 * (1 - lr / lr[0]) + np.abs(rng.normal(0.0, 0.01, budget))
    test_acc = np.clip(mean + rng.normal(0.0, 0.003, budget), 0.0, 1.0)
    return {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val, "lr": lr,
            "epoch_time": np.full(budget, 20.0), "val_time": np.full(budget, 2.0), "test_time": np.full(budget, 2.0),
            "test_acc": test_acc}, mean


def population(n: int = 200, seed: int = 0) -> list[Cell]:
    """`n` distinct cells drawn uniformly from the space, with their curves."""
    rng = np.random.default_rng(seed)
    cells, seen = [], set()
    while len(cells) < n:
        cell = Nb201Cell(tuple(OPS[i] for i in rng.integers(len(OPS), size=len(EDGES))))
        if cell.ops in seen:
            continue
        seen.add(cell.ops)
        cells.append(Cell(cell, *curves_for(final_accuracy(cell, rng), rng)))
    return cells


def write_traces(root: str | Path, cells: list[Cell], repeat: int = 0) -> list[TrialTrace]:
    """Writes `cells` as finished traces (no kept features) with fhbench's writer; returns them opened."""
    store = TraceStore(root)
    traces = []
    for index, item in enumerate(cells):
        trial_id = f"r{repeat}-{index:03d}"
        budget = len(item.curves["val_acc"])
        writer = store.writer(trial_id, {
            "config": item.cell.to_string(), "config_vector": item.cell.encoding().tolist(), "repeat": repeat,
            "index": index, "seed": index, "budget": budget, "num_classes": 10, "feature_dim": 2,
            "space": "nb201", "dataset_source": "nb201-like", "suite": "nb201-like",
            "conditions": {"device": "cpu"}})
        writer.finish(status="complete", curves=item.curves,
                      labels={"train": np.zeros(4, np.int64), "train_index": np.arange(4),
                              "val": np.zeros(4, np.int64)},
                      classifier_w=np.zeros((budget, 10, 2), np.float32),
                      classifier_b=np.zeros((budget, 10), np.float32))
        traces.append(store.open(trial_id))
    return traces


def at_bound(values, bounds=(0.0, 1.0), tol: float = 1e-9) -> float:
    """The share of `values` within `tol` of a bound (None or NaN counts as not at one)."""
    values = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    hits = np.zeros(len(values), dtype=bool)
    for bound in bounds:
        hits |= np.abs(values - bound) <= tol
    return float(hits.mean()) if len(values) else 0.0
