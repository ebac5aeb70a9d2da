"""How a published number is written: one formatter for a point with its 95% interval, used by the
board writers, the site and the terminal tables.

Two ways to choose the digits: fixed decimals (`digits`, the terminal's way), or `significant` digits:
the point and both bounds share the decimals that give the largest of the three (in magnitude) that many
significant digits ("0.370 [0.270, 0.474]", "17.2 [16.5, 17.9]", "0.00577 [0.00540, 0.00610]"), so a
reader compares the three at a glance, and a tau near 0 is not written to five decimals
("-0.005 [-0.130, 0.121]").
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["decimals_for", "finite", "interval_text", "significant_text"]


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def decimals_for(*values: float, significant: int = 3) -> int:
    """The decimals that give the largest of `values` (in magnitude) `significant` significant digits."""
    largest = max((abs(v) for v in values if finite(v)), default=0.0)
    if largest == 0.0:
        return significant - 1
    return max(0, significant - 1 - math.floor(math.log10(largest)))


def significant_text(value: Any, significant: int = 3, scale: float = 1.0) -> str:
    """A number to `significant` significant digits (never in exponent notation); "n/a" for none."""
    if not finite(value):
        return "n/a"
    scaled = value * scale
    return f"{scaled:.{decimals_for(scaled, significant=significant)}f}"


def interval_text(point: Any, lo: Any, hi: Any, scale: float = 1.0, digits: int = 3,
                  bound_digits: int | None = None, *, significant: int | None = None,
                  below: float | None = None) -> str:
    """A point with its 95% interval, e.g. "0.577 [0.380, 0.747]"; the point alone where there is no
    interval; "n/a" for no point. With `significant`, the digits are chosen as the module says and
    `digits`/`bound_digits` are unused; else the point has `digits` decimals and the bounds
    `bound_digits` (default `digits`). With `below`, a point whose interval (or, without one, the point)
    lies wholly under `below` is written "< below" (an overhead too small to matter)."""
    if not finite(point):
        return "n/a"
    has_interval = finite(lo) and finite(hi)
    if below is not None and 0 <= point * scale < below and (not has_interval or hi * scale < below):
        return f"< {below:g}"
    if significant is not None:
        values = (point * scale, lo * scale, hi * scale) if has_interval else (point * scale,)
        digits = bound_digits = decimals_for(*values, significant=significant)
    if not has_interval:
        return f"{point * scale:.{digits}f}"
    bounds = digits if bound_digits is None else bound_digits
    return f"{point * scale:.{digits}f} [{lo * scale:.{bounds}f}, {hi * scale:.{bounds}f}]"
