"""The candidates of a search over a space's declared parameters (a *declared search*).

A recorded pool (`ConfigPool`) fixes its candidates up front. A declared search cannot: the spaces
it searches (darts, resnet_scaling, randaugment) have far more configs than anyone could record. So
`DeclaredSpace` registers configs as a search draws them: candidate i is the i-th distinct config
drawn, and `Job.config` is that index, as it is a pool index for a pool search. It quacks like
`ConfigPool` for the algorithms (`size`, `codes`, `cardinalities`, `n_dims`, `draw`, `draw_distinct`)
and adds what only a declared space has: `register` (BOHB registers the configs its model proposes),
`valid_codes`, `grid_size`, `config` and `index_of`.

The space supplies the protocol of `fhbench.spaces` (`parameters`, `cardinalities`, `codes`,
`from_codes`, `sample_codes`, `valid_codes`, `parse`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence

import numpy as np

from fhbench.core.errors import FhbenchError

__all__ = ["DeclaredSpace"]

DRAW_TRIES = 1_000
"""Draws `draw` makes before it gives up on finding a config outside `exclude` (or enumerates)."""
ENUMERATE_LIMIT = 100_000
"""Grids up to this size are enumerated when random draws keep hitting excluded configs."""


class DeclaredSpace:
    """The candidates of a search over a space's declared parameters, registered as they are drawn:
    candidate i is the i-th distinct config the search drew. Quacks like ConfigPool for the algorithms.

    `label` names the space in errors (default: the space's name). `tries` bounds `draw`.
    """

    def __init__(self, space, label: str = "", tries: int = DRAW_TRIES) -> None:
        self.space = space
        self.label = label or getattr(space, "name", type(space).__name__)
        self.parameters = tuple(space.parameters())
        self.cardinalities = tuple(int(k) for k in space.cardinalities)
        if len(self.cardinalities) != len(self.parameters) or min(self.cardinalities, default=0) < 1:
            raise ValueError(f"{self.label}: cardinalities {self.cardinalities} do not match its "
                             f"{len(self.parameters)} parameters")
        self.n_dims = len(self.cardinalities)
        self.grid_size = math.prod(self.cardinalities)
        if isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
            raise ValueError(f"tries must be a positive integer, got {tries!r}")
        self.tries = tries
        self._rows: list[tuple[int, ...]] = []
        self._index: dict[tuple[int, ...], int] = {}
        self._codes: np.ndarray | None = None  # cache of `codes`, dropped on each registration

    def __repr__(self) -> str:
        return f"DeclaredSpace({self.label!r}, {self.size} registered of at most {self.grid_size:,})"

    @property
    def size(self) -> int:
        """Configs registered so far."""
        return len(self._rows)

    @property
    def codes(self) -> np.ndarray:
        """(size, n_dims) read-only int64: row i is candidate i's codes."""
        if self._codes is None:
            codes = np.array(self._rows, dtype=np.int64).reshape(len(self._rows), self.n_dims)
            codes.setflags(write=False)
            self._codes = codes
        return self._codes

    def find(self, codes: Sequence[int]) -> int | None:
        """The index of these codes if they are registered, else None (registers nothing)."""
        return self._index.get(tuple(int(c) for c in codes))

    def register(self, codes: Sequence[int]) -> int:
        """The index of these codes: the existing one if seen, else a new one. Codes off the grid, or of a
        config that breaks the space's constraint, are the space's one-line ConfigError."""
        key = tuple(int(c) for c in codes)
        index = self._index.get(key)
        if index is None:
            self.space.from_codes(key)  # validates: range and constraint
            index = len(self._rows)
            self._rows.append(key)
            self._index[key] = index
            self._codes = None
        return index

    def valid_codes(self, codes: np.ndarray) -> np.ndarray:
        """(m,) bool: which rows are configs of the space (on the grid, within its constraint)."""
        return np.asarray(self.space.valid_codes(codes), dtype=bool)

    def config(self, index: int) -> str:
        """Candidate `index` as its config string."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < self.size:
            raise FhbenchError(f"{self.label}: no candidate {index!r} ({self.size} registered)")
        return str(self.space.from_codes(self._rows[int(index)]))

    def index_of(self, config_text: str) -> int:
        """The index of a config given as text (parsed, then registered)."""
        return self.register(self.space.codes(self.space.parse(config_text)))

    def draw(self, rng: np.random.Generator, exclude: Collection[int]) -> int:
        """A config drawn uniformly from the space's valid configs not in `exclude` (indices), registered.

        Up to `tries` draws from `space.sample_codes`; then, on a grid of at most `ENUMERATE_LIMIT`
        configs, a uniform pick among the valid configs left, else a one-line FhbenchError.
        """
        excluded = exclude if isinstance(exclude, (set, frozenset, dict)) else set(exclude)
        for _ in range(self.tries):
            codes = self.space.sample_codes(rng)
            index = self.find(codes)
            if index is None or index not in excluded:
                return self.register(codes)
        if self.grid_size > ENUMERATE_LIMIT:
            raise FhbenchError(f"{self.label}: found no config outside the {len(excluded):,} excluded in "
                               f"{self.tries:,} draws (grid of {self.grid_size:,})")
        grid = np.array(list(itertools.product(*(range(k) for k in self.cardinalities))), dtype=np.int64)
        grid = grid[self.valid_codes(grid)]
        left = [row for row in grid if self.find(row) not in excluded]
        if not left:
            raise FhbenchError(f"{self.label}: every one of its {len(grid):,} valid configs is excluded")
        return self.register(left[int(rng.integers(len(left)))])

    def draw_distinct(self, rng: np.random.Generator, n: int) -> list[int]:
        """`n` different configs, each drawn as `draw` draws it, excluding those drawn before."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if n > self.grid_size:
            raise FhbenchError(f"{self.label}: cannot draw {n:,} distinct configs from a grid of {self.grid_size:,}")
        chosen: dict[int, None] = {}
        for _ in range(n):
            chosen[self.draw(rng, chosen)] = None
        return list(chosen)
