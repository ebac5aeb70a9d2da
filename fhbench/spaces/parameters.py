"""What a declared search space is made of: its parameters, and the integer check every space's
configs use. Kept apart from `fhbench.spaces` (which builds the spaces) so the spaces import it
without importing the package that imports them."""

from __future__ import annotations

import operator
from dataclasses import dataclass

from fhbench.core.errors import ConfigError


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a search space: code i of a config means `values[i]`.

    `kind` says how the values relate: "categorical" (no order), "ordinal" (ordered, few values) or
    "integer" (a range of whole numbers). Searches treat every code as a category (BOHB's kernel
    compares codes for equality), so the kind is documentation for people and for results.json."""

    name: str
    kind: str
    values: tuple

    def __post_init__(self) -> None:
        if self.kind not in ("categorical", "integer", "ordinal"):
            raise ValueError(f"parameter {self.name}: kind must be categorical, integer or ordinal, got {self.kind!r}")
        if not self.values:
            raise ValueError(f"parameter {self.name}: no values")

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "values": list(self.values)}


def as_count(value: object, what: str, low: int = 1) -> int:
    """Accept only real integers (not bools or floats) so that a typo in a config fails loudly."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ConfigError(f"{what} must be an integer, got {type(value).__name__} {value!r}") from None
    if number < low:
        raise ConfigError(f"{what} must be >= {low}, got {number}")
    return number
