"""Search spaces. `make_space` turns a suite's [space] settings into the space object the recorder and
the searches use; it imports torch only through the space it builds."""

from __future__ import annotations

import operator

from fhbench.errors import ConfigError, SuiteError

SPACE_NAMES = ("nb201", "cnn")


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


def make_space(settings, source: str = "<suite>"):
    """The space a suite's `SpaceSettings` describe; a bad setting is a one-line SuiteError naming it."""
    if settings.name == "nb201":
        from fhbench.spaces.nb201 import Nb201Space

        return Nb201Space(settings.channels, settings.cells_per_stage)
    if settings.name == "cnn":
        from fhbench.spaces.cnn import CnnSpace, check_width

        try:
            check_width(settings.width, "space.width")
        except ConfigError as err:
            raise SuiteError(f"{source}: key 'space.width': {err}") from None
        try:
            return CnnSpace(settings.width, settings.cells)
        except ConfigError as err:
            raise SuiteError(f"{source}: key 'space.cells': {err}") from None
    raise SuiteError(f"{source}: key 'space.name': expected one of {', '.join(SPACE_NAMES)}, got '{settings.name}'")
