"""Search spaces. `make_space` turns a suite's [space] settings into the space object the recorder and
the searches use; it imports torch only through the space it builds."""

from __future__ import annotations

import operator

from fhbench.errors import ConfigError, SuiteError

SPACE_NAMES = ("nb201", "cnn", "darts", "resnet_scaling")


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


def make_space(settings, source: str = "<suite>", image_size: int = 32, num_classes: int = 100):
    """The space a suite's `SpaceSettings` describe; a bad setting is a one-line SuiteError naming it.
    `image_size` and `num_classes` (fhbench.suite.image_shape of the suite's data) are where space
    resnet_scaling measures its MAC limit; the other spaces ignore them."""
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
    if settings.name == "darts":
        from fhbench.spaces.darts import DartsSpace

        try:
            cells = as_count(settings.num_cells, "space.num_cells (cells per network)", 3)
        except ConfigError as err:
            raise SuiteError(f"{source}: key 'space.num_cells': {err} (0 is unset, and space darts needs it)") from None
        if not 0 <= settings.drop_path < 1:
            raise SuiteError(f"{source}: key 'space.drop_path': expected a probability in [0, 1), "
                             f"got {settings.drop_path}")
        try:
            return DartsSpace(settings.channels, cells, settings.auxiliary, settings.drop_path, settings.allow_none)
        except ConfigError as err:  # what is left to fail is the width
            raise SuiteError(f"{source}: key 'space.channels': {err}") from None
    if settings.name == "resnet_scaling":
        from fhbench.spaces.resnet_scaling import ResNetScalingSpace

        try:
            return ResNetScalingSpace(settings.macs_limit or None, image_size, num_classes)
        except ConfigError as err:  # the sizes come from validated data settings: the limit is what fails
            raise SuiteError(f"{source}: key 'space.macs_limit': {err}") from None
    raise SuiteError(f"{source}: key 'space.name': expected one of {', '.join(SPACE_NAMES)}, got '{settings.name}'")
