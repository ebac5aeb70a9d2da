"""The NAS-Bench-201 search space (Dong & Yang 2020): cells, their string form, and the network."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fhbench.core.errors import ConfigError
from fhbench.spaces.parameters import Parameter, as_count
from fhbench.spaces.codes import check_codes, codes_in_range, uniform_codes

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""(target node, source node) of each edge, in the order of the canonical string."""
NUM_CELLS = len(OPS) ** len(EDGES)
_NUM_NODES = 4


def _bad_string(text: str, why: str) -> ConfigError:
    return ConfigError(
        f"bad NAS-Bench-201 cell string {text!r}: {why} (format '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|')"
    )


@dataclass(frozen=True)
class Nb201Cell:
    """One NAS-Bench-201 cell: the op on each of its 6 edges, in canonical string order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.ops, (tuple, list)):
            raise ConfigError(f"cell ops must be a tuple of {len(EDGES)} op names, got {type(self.ops).__name__}")
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != len(EDGES):
            raise ConfigError(f"cell needs {len(EDGES)} ops, got {len(self.ops)}: {self.ops!r}")
        for (target, source), op in zip(EDGES, self.ops):
            if op not in OPS:
                raise ConfigError(
                    f"unknown op {op!r} at node {target} edge from {source}, expected one of {', '.join(OPS)}"
                )

    @classmethod
    def from_string(cls, text: str) -> Nb201Cell:
        """Parse the canonical string, e.g. '|nor_conv_3x3~0|+|...~0|...~1|+|...~0|...~1|...~2|'."""
        if not isinstance(text, str):
            raise ConfigError(f"NAS-Bench-201 cell string must be a str, got {type(text).__name__}")
        nodes = text.split("+")
        if len(nodes) != _NUM_NODES - 1:
            raise _bad_string(text, f"wrong number of nodes: {len(nodes)} '+'-separated parts, expected 3")
        ops = []
        for target, node in enumerate(nodes, start=1):
            if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
                raise _bad_string(text, f"node {target} part {node!r} must start and end with '|'")
            edges = node[1:-1].split("|")
            if len(edges) != target:
                raise _bad_string(text, f"node {target} part {node!r} has {len(edges)} edges, expected {target}")
            for source, edge in enumerate(edges):
                op, tilde, index = edge.partition("~")
                if not tilde or "~" in index:
                    raise _bad_string(text, f"edge {edge!r} at node {target} must look like 'op~source'")
                if index != str(source):
                    raise _bad_string(
                        text, f"edge {edge!r} at node {target} has wrong source index {index!r}, expected {source}"
                    )
                if op not in OPS:
                    raise _bad_string(
                        text,
                        f"unknown op {op!r} at node {target} edge from {source}, expected one of {', '.join(OPS)}",
                    )
                ops.append(op)
        return cls(tuple(ops))

    def to_string(self) -> str:
        nodes = []
        start = 0
        for target in range(1, _NUM_NODES):
            edges = self.ops[start : start + target]
            nodes.append("|" + "|".join(f"{op}~{source}" for source, op in enumerate(edges)) + "|")
            start += target
        return "+".join(nodes)

    def __str__(self) -> str:
        return self.to_string()

    @property
    def index(self) -> int:
        """Position in 0..15624; base 5 over the edges, first edge most significant (as all_cells orders them)."""
        value = 0
        for op in self.ops:
            value = value * len(OPS) + OPS.index(op)
        return value

    @classmethod
    def from_index(cls, index: int) -> Nb201Cell:
        index = as_count(index, "NAS-Bench-201 cell index", low=0)
        if index >= NUM_CELLS:
            raise ConfigError(f"NAS-Bench-201 cell index must be in 0..{NUM_CELLS - 1}, got {index}")
        digits = []
        for _ in EDGES:
            index, digit = divmod(index, len(OPS))
            digits.append(OPS[digit])
        return cls(tuple(reversed(digits)))

    def encoding(self) -> np.ndarray:
        """One-hot op per edge (6 x 5, flattened): a fixed-length input for learning-curve models."""
        vector = np.zeros(len(EDGES) * len(OPS), dtype=np.float64)
        for edge, op in enumerate(self.ops):
            vector[edge * len(OPS) + OPS.index(op)] = 1.0
        return vector

    @classmethod
    def all_cells(cls) -> Iterator[Nb201Cell]:
        """Every cell of the space, in index order."""
        for index in range(NUM_CELLS):
            yield cls.from_index(index)


def all_cells() -> Iterator[Nb201Cell]:
    """Every cell of the space, in index order."""
    return Nb201Cell.all_cells()


class ReLUConvBN(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        )


def _make_op(name: str, channels: int) -> nn.Module:
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ConfigError(f"op {name!r} has no module, expected one of {', '.join(OPS[1:])}")


class CellModule(nn.Module):
    """A searched cell; 'none' edges get no module at all, so they cost neither time nor parameters."""

    def __init__(self, cell: Nb201Cell, channels: int) -> None:
        super().__init__()
        self.cell = cell
        self.edges = nn.ModuleDict(
            {f"{target}<-{source}": _make_op(op, channels) for (target, source), op in zip(EDGES, cell.ops) if op != "none"}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, _NUM_NODES):
            incoming = [
                self.edges[f"{target}<-{source}"](nodes[source])
                for source in range(target)
                if f"{target}<-{source}" in self.edges
            ]
            nodes.append(sum(incoming[1:], incoming[0]) if incoming else torch.zeros_like(x))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """NAS-Bench-201's residual block that halves the resolution and changes the width between stages."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            ReLUConvBN(in_channels, out_channels, 3, stride=2),
            ReLUConvBN(out_channels, out_channels, 3),
        )
        # ceil_mode matches the strided conv's ceil(n/2) on odd sizes and changes nothing on even ones.
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(x)


class Nb201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton around one cell; forward returns (features, logits)."""

    def __init__(self, cell: Nb201Cell, channels: int, cells_per_stage: int, num_classes: int, in_channels: int = 3):
        super().__init__()
        self.cell = cell
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        ]
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, 2 * width))
                width *= 2
            layers.extend(CellModule(cell, width) for _ in range(cells_per_stage))
        layers.extend([nn.BatchNorm2d(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()])
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return features, self.classifier(features)


class Nb201Space:
    """The 15,625 NAS-Bench-201 cells, and the network each one defines at a given width and depth."""

    name = "nb201"

    def __init__(self, channels: int = 16, cells_per_stage: int = 5) -> None:
        self.channels = as_count(channels, "channels")
        self.cells_per_stage = as_count(cells_per_stage, "cells_per_stage")

    def __repr__(self) -> str:
        return f"Nb201Space(channels={self.channels}, cells_per_stage={self.cells_per_stage})"

    @property
    def feature_dim(self) -> int:
        return 4 * self.channels

    def feature_dim_of(self, cell: Nb201Cell) -> int:
        return self.feature_dim  # every cell of the space ends at the same width

    def sample(self, rng: np.random.Generator) -> Nb201Cell:
        return Nb201Cell.from_index(int(rng.integers(NUM_CELLS)))

    def sample_distinct(self, rng: np.random.Generator, n: int) -> list[Nb201Cell]:
        n = as_count(n, "number of cells to sample")
        if n > NUM_CELLS:
            raise ConfigError(f"cannot sample {n} distinct NAS-Bench-201 cells, the space has {NUM_CELLS}")
        return [Nb201Cell.from_index(int(i)) for i in rng.choice(NUM_CELLS, size=n, replace=False)]

    def parameters(self) -> tuple[Parameter, ...]:
        """One categorical parameter per edge, in the canonical string's order (`edge_<to>_<from>`), over
        OPS: code i is OPS[i], as `fhbench.search.pool.encode_cells` encodes a recorded pool."""
        return tuple(Parameter(f"edge_{target}_{source}", "categorical", OPS) for target, source in EDGES)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return (len(OPS),) * len(EDGES)

    def codes(self, cell: Nb201Cell) -> tuple[int, ...]:
        if not isinstance(cell, Nb201Cell):
            raise ConfigError(f"expected an Nb201Cell, got {type(cell).__name__}")
        return tuple(OPS.index(op) for op in cell.ops)

    def from_codes(self, codes) -> Nb201Cell:
        return Nb201Cell(tuple(OPS[code] for code in check_codes(codes, self.parameters(), "NAS-Bench-201")))

    def sample_codes(self, rng: np.random.Generator) -> tuple[int, ...]:
        """Uniform over the 15,625 cells (every code combination is a cell)."""
        return uniform_codes(rng, self.cardinalities)

    def valid_codes(self, codes: np.ndarray) -> np.ndarray:
        return codes_in_range(codes, self.cardinalities, "NAS-Bench-201")

    def parse(self, text: str) -> Nb201Cell:
        return Nb201Cell.from_string(text)

    def encode(self, cell: Nb201Cell) -> np.ndarray:
        return cell.encoding()

    def build(self, cell: Nb201Cell, num_classes: int, in_channels: int = 3) -> nn.Module:
        if not isinstance(cell, Nb201Cell):
            raise ConfigError(f"expected an Nb201Cell, got {type(cell).__name__}")
        return Nb201Network(
            cell,
            self.channels,
            self.cells_per_stage,
            as_count(num_classes, "num_classes"),
            as_count(in_channels, "in_channels"),
        )
