"""The DARTS search space (Liu, Simonyan & Yang 2019) as the thesis samples it (section 4.2.2, appendix A.4).

**Genotype.** A network stacks two kinds of cell: *normal* cells keep the resolution, *reduction* cells
halve it and double the width. A cell has two inputs, the outputs of the two cells before it (c_{k-2}
and c_{k-1}), and 4 intermediate nodes. Node i sums two operations, each applied to one of its
candidate inputs, numbered 0 (c_{k-2}), 1 (c_{k-1}) and 2.. (nodes 0..i-1); the two inputs of a node
differ, as in every genotype DARTS derives. The cell's output concatenates the 4 nodes. Operations:
none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5.

**Sampling.** A.4 samples "the operations and connections for each node ... from the uniform
distribution of valid choices": per node, an unordered pair of distinct inputs uniformly, then an
operation per input uniformly, independently for both cells. 'none' is left out by default: DARTS
keeps only non-zero operations when it derives a discrete cell (a zero edge is a missing edge, which
no DARTS genotype has), and A.4 explains the thesis's larger parameter-free share by skip connections
and pooling, never by zero edges. `DartsSpace(allow_none=True)` samples from all 8 operations.
Per cell that is 1*3*6*10 input pairs x 7^8 operations, about 1.04e9 cells; about 1.08e18 genotypes.

**Declared parameters** (`parameters`, `codes`, `from_codes`: what HyperBand, BOHB and random search
search over). 24 categorical parameters, per cell (normal, then reduce) and per node k = 0..3, in this
order: `<cell>_node<k>_inputs`, the node's unordered pair of distinct inputs, one of C(k+2, 2) = 1, 3,
6, 10 pairs listed as (i, j) with i < j in colexicographic order, (0, 1), (0, 2), (1, 2), (0, 3),
(1, 3), (2, 3), (0, 4), ... (pair (i, j) has code j(j-1)/2 + i, so node k's list extends node k-1's);
then `<cell>_node<k>_op_a`, the operation on the lower input i, and `<cell>_node<k>_op_b`, the one on
the higher input j, each over the space's operations (7, or 8 with `allow_none`; code = position in
`space.ops`). Every combination of codes is a genotype, in its canonical form, and each genotype has
one combination. Codes drawn uniformly per parameter (`sample_codes`) are A.4's uniform sampling:
every node's input pair uniform among the distinct pairs, an operation per input uniform and
independent, both cells independent (the same distribution as `sample`, with other random draws).

**String form** (canonical, the inputs of a node in increasing order; `parse` accepts either order):
``normal=sep_conv_3x3~0,sep_conv_3x3~1|...|...|...;reduce=max_pool_3x3~0,max_pool_3x3~1|...``
with `op~input` per input, ',' between a node's two inputs and '|' between its 4 nodes.

**Network** (DARTS's CIFAR evaluation network): a 3x3 stem conv to 3C channels and batch norm, then
`cells` cells with reduction cells at cells//3 and 2*cells//3. Every cell first maps its two inputs to
its width with ReLU-conv1x1-BN, or, for c_{k-2} when the previous cell reduced, with a factorized
reduction. In a reduction cell the operations on inputs 0 and 1 have stride 2 (skip_connect becomes a
factorized reduction). sep_conv stacks two depthwise-separable blocks (ReLU, depthwise kxk, pointwise
1x1, BN), dil_conv is one block with dilation 2. During training each operation output other than an
identity is dropped per sample with probability `drop_path_prob` (path dropout). An auxiliary
classifier reads the output of the 2*cells//3 cell in training. The last cell's output is average
pooled to the features (16C wide) and `classifier` maps them to logits. Weights keep PyTorch's default
initialisation, as DARTS does.

**Settings** (appendix A.4): search-time networks have C=32 and 12 cells (`SEARCH_SETTINGS`), the
evaluation network C=36 and 22 cells (`EVALUATION_SETTINGS`; DARTS itself evaluates 20 cells, the
thesis adds two to match DARTS's parameter count). Training settings belong to the suite: batch 96,
lr 0.025 linear to zero at the maximal budget 128, momentum 0.9, weight decay 3e-4, Cutout, path
dropout, auxiliary loss weight 0.4 (`AUXILIARY_WEIGHT`). The thesis gives no drop-path probability;
0.2 is DARTS's, raised linearly from 0 over training (`DartsNetwork.schedule_drop_path`).

Importing this module imports no torch (the suite loader validates configs with it); the network
classes are defined on the first `build`.
"""

from __future__ import annotations

import functools
import math
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fhbench.core.errors import ConfigError
from fhbench.spaces.parameters import Parameter, as_count
from fhbench.spaces.codes import check_codes, codes_in_range, uniform_codes

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
NODES = 4
INPUTS_PER_NODE = 2
CELL_KINDS = ("normal", "reduce")
AUXILIARY_WEIGHT = 0.4  # DARTS: the auxiliary tower's loss counts 0.4 of the main loss
SEARCH_SETTINGS = {"channels": 32, "cells": 12}  # A.4, search time
EVALUATION_SETTINGS = {"channels": 36, "cells": 22}  # A.4, evaluation (DARTS: 20 cells)
DARTS_DROP_PATH = 0.2

# Every (node, input) edge a cell can have, in encoding order: 2 + 3 + 4 + 5 = 14.
_EDGES = tuple((node, source) for node in range(NODES) for source in range(node + 2))
_EDGE_INDEX = {edge: index for index, edge in enumerate(_EDGES)}
_INPUT_TEXT = re.compile(r"0|[1-9][0-9]*")
# Node k's unordered input pairs (i, j), i < j, in colexicographic order: code j(j-1)/2 + i.
INPUT_PAIRS = tuple(tuple((i, j) for j in range(1, node + 2) for i in range(j)) for node in range(NODES))

Pair = tuple[str, int]
"""(operation, input) of one of a node's two inputs."""


def _inputs_of(node: int) -> str:
    return f"node {node} takes inputs 0..{node + 1} (0: c_{{k-2}}, 1: c_{{k-1}}, 2 and up: earlier nodes)"


def _check_cell(kind: str, nodes: object) -> tuple[tuple[Pair, Pair], ...]:
    """The cell as a tuple of 4 nodes, each a pair of (op, input) sorted by input (its canonical form)."""
    if not isinstance(nodes, (tuple, list)) or len(nodes) != NODES:
        count = len(nodes) if isinstance(nodes, (tuple, list)) else type(nodes).__name__
        raise ConfigError(f"{kind} cell needs {NODES} nodes, got {count}")
    checked = []
    for node, pairs in enumerate(nodes):
        if not isinstance(pairs, (tuple, list)) or len(pairs) != INPUTS_PER_NODE:
            count = len(pairs) if isinstance(pairs, (tuple, list)) else type(pairs).__name__
            raise ConfigError(f"{kind} node {node} needs {INPUTS_PER_NODE} (op, input) pairs, got {count}")
        clean = []
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ConfigError(f"{kind} node {node}: expected an (op, input) pair, got {pair!r}")
            op, source = pair
            if op not in OPS:
                raise ConfigError(f"unknown op {op!r} at {kind} node {node}, expected one of {', '.join(OPS)}")
            if isinstance(source, bool) or not isinstance(source, (int, np.integer)):
                raise ConfigError(f"{kind} node {node}: input must be an integer, got {source!r}")
            if not 0 <= source < node + 2:
                raise ConfigError(f"{kind} node {node}: input {int(source)} out of range, {_inputs_of(node)}")
            clean.append((op, int(source)))
        if clean[0][1] == clean[1][1]:
            raise ConfigError(f"{kind} node {node} takes input {clean[0][1]} twice, a node's two inputs must differ")
        checked.append(tuple(sorted(clean, key=lambda pair: pair[1])))
    return tuple(checked)


def _bad_string(text: str, why: str) -> ConfigError:
    return ConfigError(f"bad DARTS genotype string {text!r}: {why} "
                       "(format 'normal=op~input,op~input|... 4 nodes;reduce=...')")


@dataclass(frozen=True)
class DartsGenotype:
    """A normal and a reduction cell: per cell 4 nodes, each a pair of (op, input) pairs."""

    normal: tuple[tuple[Pair, Pair], ...]
    reduce: tuple[tuple[Pair, Pair], ...]

    def __post_init__(self) -> None:
        for kind in CELL_KINDS:
            object.__setattr__(self, kind, _check_cell(kind, getattr(self, kind)))

    @classmethod
    def from_pairs(cls, normal: Sequence[Pair], reduce: Sequence[Pair]) -> DartsGenotype:
        """From flat lists of 8 (op, input) pairs, two per node in node order: the form in which
        DARTS-style papers list their genotypes."""
        cells = []
        for kind, pairs in zip(CELL_KINDS, (normal, reduce)):
            if not isinstance(pairs, (tuple, list)) or len(pairs) != NODES * INPUTS_PER_NODE:
                count = len(pairs) if isinstance(pairs, (tuple, list)) else type(pairs).__name__
                raise ConfigError(f"{kind} cell needs {NODES * INPUTS_PER_NODE} (op, input) pairs, got {count}")
            cells.append([pairs[i:i + INPUTS_PER_NODE] for i in range(0, len(pairs), INPUTS_PER_NODE)])
        return cls(*cells)

    @classmethod
    def from_string(cls, text: str) -> DartsGenotype:
        """Parse 'normal=op~input,op~input|...;reduce=...' (4 '|'-separated nodes per cell)."""
        if not isinstance(text, str):
            raise ConfigError(f"DARTS genotype string must be a str, got {type(text).__name__}")
        parts = text.split(";")
        if len(parts) != len(CELL_KINDS):
            raise _bad_string(text, f"expected 2 ';'-separated cells, got {len(parts)} part(s)")
        cells = []
        for kind, part in zip(CELL_KINDS, parts):
            name, equals, body = part.partition("=")
            if name != kind or not equals:
                raise _bad_string(text, f"cell {len(cells) + 1} must start with '{kind}=', got {part[:24]!r}")
            node_texts = body.split("|")
            if len(node_texts) != NODES:
                raise _bad_string(text, f"{kind} cell has {len(node_texts)} '|'-separated nodes, expected {NODES}")
            nodes = []
            for node, node_text in enumerate(node_texts):
                pair_texts = node_text.split(",")
                if len(pair_texts) != INPUTS_PER_NODE:
                    raise _bad_string(text, f"{kind} node {node} {node_text!r} has {len(pair_texts)} "
                                            f"','-separated inputs, expected {INPUTS_PER_NODE}")
                pairs = []
                for pair_text in pair_texts:
                    op, tilde, source = pair_text.partition("~")
                    if not tilde or not _INPUT_TEXT.fullmatch(source):
                        raise _bad_string(text, f"{kind} node {node} input {pair_text!r} must look like "
                                                "'op~input', e.g. 'sep_conv_3x3~1'")
                    pairs.append((op, int(source)))
                nodes.append(pairs)
            cells.append(nodes)
        try:
            return cls(*cells)
        except ConfigError as err:
            raise _bad_string(text, str(err)) from None

    def to_string(self) -> str:
        return ";".join(
            f"{kind}=" + "|".join(",".join(f"{op}~{source}" for op, source in pairs) for pairs in getattr(self, kind))
            for kind in CELL_KINDS
        )

    def __str__(self) -> str:
        return self.to_string()

    def ops(self) -> set[str]:
        return {op for kind in CELL_KINDS for pairs in getattr(self, kind) for op, _ in pairs}

    def encoding(self) -> np.ndarray:
        """One-hot op on each of the 14 possible edges of each cell (2 x 14 x 8, flattened; an absent
        edge is all zero): fixed length, and the same whatever order a node's inputs were given in."""
        vector = np.zeros((len(CELL_KINDS), len(_EDGES), len(OPS)), dtype=np.float64)
        for cell, kind in enumerate(CELL_KINDS):
            for node, pairs in enumerate(getattr(self, kind)):
                for op, source in pairs:
                    vector[cell, _EDGE_INDEX[(node, source)], OPS.index(op)] = 1.0
        return vector.ravel()


def reduction_indices(cells: int) -> tuple[int, int]:
    """The positions of the two reduction cells, at 1/3 and 2/3 of the depth as in DARTS."""
    return cells // 3, 2 * cells // 3


def drop_path(x, prob: float):
    """Zeroes whole samples of `x` with probability `prob` and scales the rest by 1/(1 - prob), so
    that the expected output is unchanged (one Bernoulli draw per sample, from torch's global RNG)."""
    keep = 1.0 - prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * (mask / keep)


class DartsSpace:
    """DARTS genotypes, sampled uniformly, and the network each one defines at a width and depth."""

    name = "darts"

    def __init__(self, channels: int = SEARCH_SETTINGS["channels"], cells: int = SEARCH_SETTINGS["cells"],
                 auxiliary: bool = True, drop_path: float = DARTS_DROP_PATH, allow_none: bool = False) -> None:
        self.channels = as_count(channels, "channels", 1)
        # 3 cells is the least that holds both reductions after a normal cell.
        self.cells = as_count(cells, "cells", 3)
        for what, flag in (("auxiliary", auxiliary), ("allow_none", allow_none)):
            if not isinstance(flag, bool):
                raise ConfigError(f"{what} must be true or false, got {flag!r}")
        self.auxiliary, self.allow_none = auxiliary, allow_none
        if isinstance(drop_path, bool) or not isinstance(drop_path, (int, float)) or not 0 <= drop_path < 1:
            raise ConfigError(f"drop_path must be a probability in [0, 1), got {drop_path!r}")
        self.drop_path = float(drop_path)
        self.ops = OPS if allow_none else OPS[1:]

    def __repr__(self) -> str:
        return (f"DartsSpace(channels={self.channels}, cells={self.cells}, auxiliary={self.auxiliary}, "
                f"drop_path={self.drop_path}, allow_none={self.allow_none})")

    @property
    def num_configs(self) -> int:
        """Distinct genotypes: per cell, the input pairs of every node times an op per input."""
        per_cell = math.prod(math.comb(node + 2, INPUTS_PER_NODE) for node in range(NODES))
        per_cell *= len(self.ops) ** (NODES * INPUTS_PER_NODE)
        return per_cell ** len(CELL_KINDS)

    @property
    def feature_dim(self) -> int:
        return NODES * 4 * self.channels  # the last cell concatenates 4 nodes at 4C (after two doublings)

    def feature_dim_of(self, genotype: DartsGenotype) -> int:
        self._check(genotype)
        return self.feature_dim

    def _sample_cell(self, rng: np.random.Generator) -> list[list[Pair]]:
        nodes = []
        for node in range(NODES):
            sources = rng.choice(node + 2, size=INPUTS_PER_NODE, replace=False)
            ops = rng.integers(len(self.ops), size=INPUTS_PER_NODE)
            nodes.append([(self.ops[int(op)], int(source)) for op, source in zip(ops, sources)])
        return nodes

    def sample(self, rng: np.random.Generator) -> DartsGenotype:
        return DartsGenotype(self._sample_cell(rng), self._sample_cell(rng))

    def sample_distinct(self, rng: np.random.Generator, n: int) -> list[DartsGenotype]:
        n = as_count(n, "number of DARTS genotypes to sample", 1)
        if n > self.num_configs:
            raise ConfigError(f"cannot sample {n} distinct DARTS genotypes, the space has {self.num_configs}")
        found: dict[DartsGenotype, None] = {}  # keeps the order of first draws
        while len(found) < n:  # repeats are rare in 1e18 genotypes, but possible in principle
            found.setdefault(self.sample(rng))
        return list(found)

    def parameters(self) -> tuple[Parameter, ...]:
        """24 categorical parameters: per cell and node, its input pair, then the ops on its lower and
        higher input (see the module docstring)."""
        return tuple(
            parameter
            for kind in CELL_KINDS
            for node in range(NODES)
            for parameter in (Parameter(f"{kind}_node{node}_inputs", "categorical", INPUT_PAIRS[node]),
                              Parameter(f"{kind}_node{node}_op_a", "categorical", self.ops),
                              Parameter(f"{kind}_node{node}_op_b", "categorical", self.ops))
        )

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(len(parameter.values) for parameter in self.parameters())

    def codes(self, genotype: DartsGenotype) -> tuple[int, ...]:
        """The genotype's 24 codes (a node's inputs in either order give the same codes)."""
        genotype = self._check(genotype)
        codes = []
        for kind in CELL_KINDS:
            for node, ((op_a, low), (op_b, high)) in enumerate(getattr(genotype, kind)):  # canonical: low < high
                codes += [INPUT_PAIRS[node].index((low, high)), self.ops.index(op_a), self.ops.index(op_b)]
        return tuple(codes)

    def from_codes(self, codes: Sequence[int]) -> DartsGenotype:
        """The genotype of 24 codes; a code out of range is a ConfigError (every combination in range is
        a genotype)."""
        codes = check_codes(codes, self.parameters(), "DARTS")
        cells = []
        for cell in range(len(CELL_KINDS)):
            nodes = []
            for node in range(NODES):
                pair, op_a, op_b = codes[(cell * NODES + node) * 3:(cell * NODES + node) * 3 + 3]
                low, high = INPUT_PAIRS[node][pair]
                nodes.append(((self.ops[op_a], low), (self.ops[op_b], high)))
            cells.append(nodes)
        return DartsGenotype(*cells)

    def sample_codes(self, rng: np.random.Generator) -> tuple[int, ...]:
        """Uniform codes: A.4's uniform sampling of each node's connections and operations."""
        return uniform_codes(rng, self.cardinalities)

    def valid_codes(self, codes: np.ndarray) -> np.ndarray:
        """(m,) bool: every row of codes in range is a genotype, so this only checks the ranges."""
        return codes_in_range(codes, self.cardinalities, "DARTS")

    def parse(self, text: str) -> DartsGenotype:
        return self._check(DartsGenotype.from_string(text))

    def encode(self, genotype: DartsGenotype) -> np.ndarray:
        return self._check(genotype).encoding()

    def build(self, genotype: DartsGenotype, num_classes: int, in_channels: int = 3):
        """The network (an `nn.Module`); forward returns (features, logits), and in training also
        leaves the auxiliary tower's logits in `aux_logits`."""
        genotype = self._check(genotype)
        return _torch_parts().DartsNetwork(
            genotype, self.channels, self.cells, as_count(num_classes, "num_classes", 1),
            as_count(in_channels, "in_channels", 1), self.auxiliary, self.drop_path)

    def _check(self, genotype: object) -> DartsGenotype:
        if not isinstance(genotype, DartsGenotype):
            raise ConfigError(f"expected a DartsGenotype, got {type(genotype).__name__}")
        if not self.allow_none and "none" in genotype.ops():
            raise ConfigError(f"DARTS genotype {genotype} uses op 'none', which this space leaves out "
                              "(DartsSpace(allow_none=True) admits it)")
        return genotype


@functools.cache
def _torch_parts():
    """The network classes, defined on first use so that importing this module imports no torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def relu_conv_bn(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def separable_block(channels: int, kernel: int, stride: int, dilation: int) -> nn.Module:
        # This padding keeps the size at stride 1 and gives ceil(n/2) at stride 2, like every other op.
        padding = dilation * (kernel - 1) // 2
        return nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel, stride, padding, dilation=dilation, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    class FactorizedReduce(nn.Module):
        """Halves the resolution with two stride-2 1x1 convs, the second offset by one pixel so that
        between them they read every pixel; their outputs are concatenated."""

        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.even = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
            self.odd = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
            self.bn = nn.BatchNorm2d(c_out)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(x)
            # Padding before the shift keeps both halves at ceil(n/2) on odd sizes too.
            shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
            return self.bn(torch.cat([self.even(x), self.odd(shifted)], dim=1))

    class Zero(nn.Module):
        def __init__(self, stride: int) -> None:
            super().__init__()
            self.stride = stride

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(x[:, :, ::self.stride, ::self.stride])

    def make_op(name: str, channels: int, stride: int) -> nn.Module:
        if name == "none":
            return Zero(stride)
        if name == "max_pool_3x3":
            return nn.MaxPool2d(3, stride, padding=1)
        if name == "avg_pool_3x3":
            return nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
        if name == "skip_connect":
            return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
        kernel = int(name[-1])
        if name.startswith("sep_conv"):
            return nn.Sequential(separable_block(channels, kernel, stride, 1), separable_block(channels, kernel, 1, 1))
        return separable_block(channels, kernel, stride, 2)  # dil_conv

    class Cell(nn.Module):
        def __init__(self, nodes, prev_prev: int, prev: int, channels: int, reduction: bool,
                     reduction_prev: bool) -> None:
            super().__init__()
            self.reduction = reduction
            # After a reduction c_{k-2} is twice the resolution of c_{k-1}: it is reduced to match.
            self.preprocess0 = (FactorizedReduce(prev_prev, channels) if reduction_prev
                                else relu_conv_bn(prev_prev, channels))
            self.preprocess1 = relu_conv_bn(prev, channels)
            pairs = [pair for node in nodes for pair in node]
            self.sources = tuple(source for _, source in pairs)
            self.ops = nn.ModuleList(make_op(op, channels, 2 if reduction and source < 2 else 1)
                                     for op, source in pairs)
            # Dropping an identity or a zero would change nothing worth regularising (DARTS skips identities).
            self.droppable = tuple(not isinstance(op, (nn.Identity, Zero)) for op in self.ops)

        def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
            states = [self.preprocess0(s0), self.preprocess1(s1)]
            for node in range(NODES):
                total = None
                for index in range(node * INPUTS_PER_NODE, (node + 1) * INPUTS_PER_NODE):
                    out = self.ops[index](states[self.sources[index]])
                    if self.training and drop_prob > 0 and self.droppable[index]:
                        out = drop_path(out, drop_prob)
                    total = out if total is None else total + out
                states.append(total)
            return torch.cat(states[2:], dim=1)

    class AuxiliaryHead(nn.Module):
        """DARTS's auxiliary classifier: ReLU, 5x5 average pool with stride 3 (8x8 -> 2x2 at CIFAR size),
        1x1 conv to 128, BN, ReLU, 2x2 conv to 768, BN, ReLU, linear."""

        def __init__(self, channels: int, num_classes: int) -> None:
            super().__init__()
            self.convs = nn.Sequential(
                nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
                nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(),
            )
            self.classifier = nn.Linear(768, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(x)
            if min(x.shape[-2:]) >= 5:
                x = F.avg_pool2d(x, 5, stride=3)
            # A no-op on the 2x2 maps of 32x32 inputs; brings other input sizes to what the 2x2 conv needs.
            x = F.adaptive_avg_pool2d(x, 2)
            return self.classifier(self.convs(x).flatten(1))

    class DartsNetwork(nn.Module):
        """The DARTS CIFAR network of one genotype; forward returns (features, logits)."""

        def __init__(self, genotype: DartsGenotype, channels: int, cells: int, num_classes: int,
                     in_channels: int, auxiliary: bool, drop_path_prob: float) -> None:
            super().__init__()
            self.genotype = genotype
            self.max_drop_path = drop_path_prob
            self.drop_path_prob = drop_path_prob  # the rate in use; schedule_drop_path moves it
            self.auxiliary_weight = AUXILIARY_WEIGHT if auxiliary else 0.0
            self.aux_logits = None
            self.reduction_indices = reduction_indices(cells)
            self.auxiliary_index = self.reduction_indices[1]
            stem = 3 * channels
            self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem))
            self.cells = nn.ModuleList()
            prev_prev, prev, width, reduction_prev = stem, stem, channels, False
            for index in range(cells):
                reduction = index in self.reduction_indices
                if reduction:
                    width *= 2
                nodes = genotype.reduce if reduction else genotype.normal
                self.cells.append(Cell(nodes, prev_prev, prev, width, reduction, reduction_prev))
                prev_prev, prev, reduction_prev = prev, NODES * width, reduction
                if index == self.auxiliary_index:
                    auxiliary_channels = prev
            self.auxiliary_head = AuxiliaryHead(auxiliary_channels, num_classes) if auxiliary else None
            self.feature_dim = prev
            self.classifier = nn.Linear(prev, num_classes)

        def schedule_drop_path(self, fraction: float) -> None:
            """Sets the drop-path rate to `fraction` (training progress in [0, 1]) of its maximum: DARTS
            raises it linearly, calling this with epoch/epochs at the start of each epoch from 0."""
            if not 0 <= fraction <= 1:
                raise ConfigError(f"drop-path schedule fraction must be in [0, 1], got {fraction!r}")
            self.drop_path_prob = self.max_drop_path * fraction

        def num_parameters(self, auxiliary: bool = False) -> int:
            """Parameter count; without the auxiliary tower (dropped at test time) unless asked, as DARTS reports it."""
            skip = set() if auxiliary or self.auxiliary_head is None else set(map(id, self.auxiliary_head.parameters()))
            return sum(p.numel() for p in self.parameters() if id(p) not in skip)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            self.aux_logits = None
            s0 = s1 = self.stem(x)
            for index, cell in enumerate(self.cells):
                s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
                if index == self.auxiliary_index and self.auxiliary_head is not None and self.training:
                    self.aux_logits = self.auxiliary_head(s1)
            features = F.adaptive_avg_pool2d(s1, 1).flatten(1)
            return features, self.classifier(features)

        def __getstate__(self):
            # The last training step's aux logits belong to its graph: not copied or pickled (deepcopy
            # refuses non-leaf tensors), so a trained network copies as cleanly as a fresh one.
            state = dict(super().__getstate__())
            state["aux_logits"] = None
            return state

    return types.SimpleNamespace(DartsNetwork=DartsNetwork, Cell=Cell, Zero=Zero,
                                 FactorizedReduce=FactorizedReduce, AuxiliaryHead=AuxiliaryHead)
