"""Checks shared by the spaces' declared-parameter codes (`parameters`, `from_codes`, `valid_codes`).

A config's codes are one integer per declared parameter, code i meaning the parameter's `values[i]`.
"""

from __future__ import annotations

import numpy as np

from fhbench.core.errors import ConfigError
from fhbench.spaces.parameters import Parameter, as_count


def check_codes(codes: object, parameters: tuple[Parameter, ...], what: str) -> tuple[int, ...]:
    """`codes` as a tuple of ints, one per parameter and each in range, else a one-line ConfigError
    naming `what` (the space) and the parameter at fault."""
    if isinstance(codes, np.ndarray):
        codes = codes.tolist()
    if not isinstance(codes, (tuple, list)) or len(codes) != len(parameters):
        count = len(codes) if isinstance(codes, (tuple, list)) else type(codes).__name__
        raise ConfigError(f"{what} codes must be {len(parameters)} integers "
                          f"({', '.join(p.name for p in parameters)}), got {count}")
    checked = []
    for value, parameter in zip(codes, parameters):
        code = as_count(value, f"{what} code of {parameter.name}", 0)
        if code >= len(parameter.values):
            raise ConfigError(f"{what} code of {parameter.name} must be in 0..{len(parameter.values) - 1}, got {code}")
        checked.append(code)
    return tuple(checked)


def codes_in_range(codes: object, cardinalities: tuple[int, ...], what: str) -> np.ndarray:
    """(m,) bool: which rows of an (m, d) integer array have every code inside the grid."""
    array = np.asarray(codes)
    if array.ndim != 2 or array.shape[1] != len(cardinalities) or not (
            array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ConfigError(f"{what} codes must be an (m, {len(cardinalities)}) integer array, got shape {array.shape} "
                          f"of {array.dtype}")
    return np.all((array >= 0) & (array < np.asarray(cardinalities)), axis=1)


def uniform_codes(rng: np.random.Generator, cardinalities: tuple[int, ...]) -> tuple[int, ...]:
    """One code per parameter, each uniform over its values: uniform over the whole grid."""
    return tuple(int(c) for c in rng.integers(0, np.asarray(cardinalities)))
