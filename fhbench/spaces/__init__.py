"""Search spaces. `make_space` turns a suite's [space] settings into the space object the recorder and
the searches use; it imports torch only through the space it builds."""

from __future__ import annotations

from fhbench.core.errors import ConfigError, SuiteError
from fhbench.spaces.parameters import Parameter, as_count

SPACE_NAMES = ("nb201", "cnn", "darts", "resnet_scaling", "randaugment")
DATASET_SHAPES = {"digits": (8, 10), "cifar10": (32, 10), "cifar100": (32, 100), "cifar10-jpeg": (32, 10)}


def image_shape(data) -> tuple[int, int]:
    """(image side, class count) of a suite's data settings as training sees it: what space
    resnet_scaling measures its MAC limit at."""
    side, classes = DATASET_SHAPES[data.dataset]
    return data.resize or side, classes


def suite_space(suite):
    """The space a loaded suite records and searches (its first target where it has several)."""
    return make_space(suite.space, suite.path, *image_shape(suite.data))


def make_space(settings, source: str = "<suite>", image_size: int = 32, num_classes: int = 100):
    """The space a suite's `SpaceSettings` describe; a bad setting is a one-line SuiteError naming it.
    `image_size` and `num_classes` (`image_shape` of the suite's data) are where space
    resnet_scaling measures its MAC limit; the other spaces ignore them. Spaces with several search
    targets (`targets`) build their first here: space randaugment the first network of space.cells,
    space resnet_scaling the first of space.macs_limits."""
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
        limits = _macs_limits(settings)
        return _resnet_scaling(limits[0][0], limits[0][1], source, image_size, num_classes, settings.width)
    if settings.name == "randaugment":
        networks = _augment_networks(settings, source)
        return _augment_space(networks[0], settings.width, source)
    raise SuiteError(f"{source}: key 'space.name': expected one of {', '.join(SPACE_NAMES)}, got '{settings.name}'")


def targets(suite) -> list[tuple[str, object]]:
    """The spaces a search suite searches, one per target, with their labels: space randaugment one per
    network of space.cells (Table 4.3, labelled by the network), space resnet_scaling one per MAC limit
    of space.macs_limits, else its one space.macs_limit (Table 4.4: "2x ResNet-18 MACs"), space darts
    and nb201 one (Table 4.2)."""
    settings, source = suite.space, suite.path
    if settings.name == "randaugment":
        return [(label, _augment_space(label, settings.width, source))
                for label in _augment_networks(settings, source)]
    if settings.name == "resnet_scaling":
        image_size, num_classes = image_shape(suite.data)
        return [(_limit_label(limit), _resnet_scaling(limit, key, source, image_size, num_classes, settings.width))
                for limit, key in _macs_limits(settings)]
    return [(settings.name, make_space(settings, source, *image_shape(suite.data)))]


def _limit_label(limit: float | None) -> str:
    return "ResNet-18 scaling, no MAC limit" if limit is None else f"{limit:g}x ResNet-18 MACs"


def _macs_limits(settings) -> list[tuple[float | None, str]]:
    """(limit or None, the key that set it) per target of space resnet_scaling."""
    limits = getattr(settings, "macs_limits", ())
    if limits:
        return [(float(limit), "space.macs_limits") for limit in limits]
    return [(settings.macs_limit or None, "space.macs_limit")]


def _resnet_scaling(limit: float | None, key: str, source: str, image_size: int, num_classes: int,
                    base_width: float = 1.0):
    from fhbench.spaces.resnet_scaling import ResNetScalingSpace

    try:
        ResNetScalingSpace(None, image_size, num_classes, base_width=base_width)
    except ConfigError as err:
        raise SuiteError(f"{source}: key 'space.width': {err}") from None
    try:
        return ResNetScalingSpace(limit, image_size, num_classes, base_width=base_width)
    except ConfigError as err:  # the sizes come from validated data settings: the limit is what fails
        raise SuiteError(f"{source}: key '{key}': {err}") from None


def _augment_networks(settings, source: str) -> list[str]:
    """Space randaugment's networks, canonical ('resnet18@w0.125'), from space.cells at space.width."""
    from fhbench.spaces.cnn import CnnConfig, check_width

    try:
        check_width(settings.width, "space.width")
    except ConfigError as err:
        raise SuiteError(f"{source}: key 'space.width': {err}") from None
    if not settings.cells:
        raise SuiteError(f"{source}: key 'space.cells': expected at least one network for space randaugment "
                         "(named CNNs like 'resnet18' or 'resnet18@w0.125', one search target each)")
    networks: list[str] = []
    for text in settings.cells:
        try:
            network = str(CnnConfig.from_string(text, settings.width))
        except ConfigError as err:
            raise SuiteError(f"{source}: key 'space.cells': expected networks '<model>' or '<model>@w<width>' "
                             f"for space randaugment ({err})") from None
        if network in networks:
            raise SuiteError(f"{source}: key 'space.cells': expected distinct networks, got {network} twice")
        networks.append(network)
    return networks


def _augment_space(network: str, width: float, source: str):
    from fhbench.spaces.augment import AugmentSpace

    try:
        return AugmentSpace(network, width)
    except ConfigError as err:
        raise SuiteError(f"{source}: key 'space.cells': {err}") from None


__all__ = ["DATASET_SHAPES", "Parameter", "SPACE_NAMES", "as_count", "image_shape", "make_space", "suite_space", "targets"]
