"""ResNet-18 scaled stage by stage under a multiply-accumulate limit (thesis section 4.3.2, appendix A.6).

A config is 8 factors: d2..d5 scale the 2 basic blocks of each of the stages C2..C5 of ResNet-18, and
w2..w5 scale their 64, 128, 256 and 512 channels; the network is the CIFAR-form ResNet of
`fhbench.spaces.cnn` (3x3 stride-1 stem, no max-pool, torchvision's `BasicBlock` stages). The thesis
searches them under a size limit of 2x and 4x ResNet-18's 0.56 G multiply-accumulates on 32x32 CIFAR-100.

**Unit.** Sizes and limits are multiply-accumulates (MACs) as `fhbench.spaces.flops.count_macs` counts them
(convolutions and the linear head; the thesis's "FLOPS" are these): ResNet-18 with a 100-class head
on 32x32 inputs has 555,468,800 MACs (0.56 G) and 11,220,132 parameters. `macs` gives the same count
from the layer shapes without running a forward pass (the tests check that it equals torch's counter
exactly), which keeps rejection sampling at microseconds a draw; `describe` counts with torch.

**Ranges** (the thesis does not give them):

- depth d in {1, 1.5, ..., 4}: 2 to 8 blocks a stage, every whole count. Half steps put ResNet-34
  ({3, 4, 6, 3} blocks, 1.16 G MACs, 21.33 M parameters in Table 4.4) in the space. The floor is
  ResNet-18's 2 blocks: a 1-block stage C3..C5 would be nothing but its stride-2 projection block.
- width w in {0.5, 0.75, ..., 2}: 32 to 128 channels in C2, always a whole number. Below 1 a stage
  can give up width to pay for depth or width elsewhere under the limit. At 32x32 with 100 classes,
  7.3% of the 5,764,801 configs fit in 2x ResNet-18 (420,473) and 40% in 4x; with width factors of
  1 and up only, 0.17% would fit in 2x (2,589 configs).
- Top ends: d=4 on every stage (4.26x ResNet-18's MACs) or w=2 on every stage (3.99x) alone reaches
  the thesis's largest limit, 4x.

**Declared parameters** (for searches): d2..d5 and w2..w5, ordinal over the factors above; a config's
codes are each factor's index in its grid (`parameters`, `codes`, `from_codes`). `sample_codes` draws
uniformly from the configs within the limit, and `valid_codes` checks the limit for many codes at once
with `resnet_macs` on arrays.

**Base width** (`base_width`, the suite's `space.width`): ResNet-18's channels before the width
factors, as a multiple of {64, 128, 256, 512}; 1 is the thesis's, the reduced suite uses 1/8. Limits are
then multiples of ResNet-18's MACs at that base width.

A limit is a multiple of ResNet-18's MACs at the space's image size and class count (2 means
2 x 555,468,800 at 32x32 with 100 classes: 1.111 G, where the thesis rounds to 1.12 G). Sampling under a
limit is rejection sampling from the uniform grid, so it is uniform over the configs that fit.

This module imports torch only when a network is built or counted: the suite loader validates with it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fhbench.core.errors import ConfigError
from fhbench.spaces.parameters import Parameter
from fhbench.spaces.codes import check_codes, codes_in_range, uniform_codes

# private helpers of the named-CNN space, shared so both spaces build the same CIFAR-form ResNet
from fhbench.spaces.cnn import cifar_resnet, network_class, width_text

BASE_BLOCKS = (2, 2, 2, 2)
BASE_CHANNELS = (64, 128, 256, 512)
STAGES = ("2", "3", "4", "5")  # the thesis's stage names C2..C5
DEPTH_FACTORS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
WIDTH_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
DEFAULT_TRIES = 10_000  # draws before giving up: even at a 0.17% acceptance rate, odds of e^-17 to fail by chance

_FORMAT = "'d<d2>-<d3>-<d4>-<d5>_w<w2>-<w3>-<w4>-<w5>', e.g. 'd1-1-1-1_w1-1-1-1' for ResNet-18"
_FACTOR_TEXT = re.compile(r"\d+(\.\d+)?|\.\d+")


def _factor(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def _depth(value: object, stage: str) -> float:
    depth = _factor(value, f"d{stage}")
    if not (depth * 2).is_integer():
        raise ConfigError(f"d{stage}={value!r} gives {depth * 2:g} blocks, not a whole number (use multiples of 0.5)")
    return depth


def _width(value: object, stage: str) -> float:
    width = _factor(value, f"w{stage}")
    if not (width * BASE_CHANNELS[0]).is_integer():  # then every stage's channels are whole (128 = 2 x 64, ...)
        raise ConfigError(f"w{stage}={value!r} gives {width * BASE_CHANNELS[0]:g} channels in C2, not a whole number "
                          "(use multiples of 1/64)")
    return width


def _four(values: object, what: str) -> tuple:
    if not isinstance(values, (tuple, list)) or len(values) != len(STAGES):
        raise ConfigError(f"{what} must be {len(STAGES)} factors (stages C2..C5), got {values!r}")
    return tuple(values)


@dataclass(frozen=True)
class ScalingConfig:
    """Depth factors (d2, d3, d4, d5) and width factors (w2, w3, w4, w5) of ResNet-18's four stages."""

    depths: tuple[float, ...] = (1.0,) * 4
    widths: tuple[float, ...] = (1.0,) * 4

    def __post_init__(self) -> None:
        depths = _four(self.depths, "depths")
        widths = _four(self.widths, "widths")
        object.__setattr__(self, "depths", tuple(_depth(d, s) for d, s in zip(depths, STAGES)))
        object.__setattr__(self, "widths", tuple(_width(w, s) for w, s in zip(widths, STAGES)))

    @classmethod
    def from_string(cls, text: str) -> ScalingConfig:
        if not isinstance(text, str):
            raise ConfigError(f"ResNet scaling config must be a str like {_FORMAT}, got {type(text).__name__}")
        match = re.fullmatch(r"d([^_]*)_w(.*)", text)
        parts = [match.group(1).split("-"), match.group(2).split("-")] if match else []
        if not parts or any(len(p) != len(STAGES) or not all(_FACTOR_TEXT.fullmatch(f) for f in p) for p in parts):
            raise ConfigError(f"bad ResNet scaling config {text!r}: expected {_FORMAT}")
        try:
            return cls(tuple(float(f) for f in parts[0]), tuple(float(f) for f in parts[1]))
        except ConfigError as err:
            raise ConfigError(f"bad ResNet scaling config {text!r}: {err}") from None

    def to_string(self) -> str:
        return "d" + "-".join(map(width_text, self.depths)) + "_w" + "-".join(map(width_text, self.widths))

    def __str__(self) -> str:
        return self.to_string()

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(int(d * b) for d, b in zip(self.depths, BASE_BLOCKS))

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(int(w * c) for w, c in zip(self.widths, BASE_CHANNELS))

    @property
    def feature_dim(self) -> int:
        return self.channels[-1]

    def encoding(self) -> np.ndarray:
        """log2 of the 8 factors: ResNet-18 is the origin, and doubling any factor is one step."""
        return np.log2(np.array(self.depths + self.widths, dtype=np.float64))


RESNET18 = ScalingConfig()
RESNET34 = ScalingConfig((1.5, 2.0, 3.0, 1.5))


def _conv_out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1  # a 3x3 conv with padding 1, or a 1x1 with none, at this stride


def resnet_macs(blocks: Sequence[int], channels: Sequence[int], image_size: int, num_classes: int,
                in_channels: int = 3) -> int:
    """MACs of the CIFAR-form basic-block ResNet with these stages, summed over its layers' shapes: what
    torch's FLOP counter counts for it, halved (convolutions and the linear head, no biases).

    `blocks` and `channels` may also hold one int64 array per stage (the networks side by side): then
    the result is their array of MACs."""
    size = image_size
    total = 9 * in_channels * channels[0] * size * size  # the stem keeps the input size
    inputs = channels[0]
    for index, (count, width) in enumerate(zip(blocks, channels)):
        stride = 1 if index == 0 else 2
        size = _conv_out(size, stride)
        pixels = size * size
        total += 9 * inputs * width * pixels + 9 * width * width * pixels  # the first block's two convs
        projection = (stride != 1) | (inputs != width)  # elementwise, so arrays of networks count at once
        total += projection * inputs * width * pixels  # its 1x1 projection shortcut, where it has one
        total += (count - 1) * 2 * 9 * width * width * pixels
        inputs = width
    return total + inputs * num_classes


def _positive_int(value: object, what: str) -> int:
    try:
        number = -1 if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = -1
    if number < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return number


def _grid(values: object, check, what: str) -> tuple[float, ...]:
    if not isinstance(values, (tuple, list)) or not values:
        raise ConfigError(f"{what} must be a non-empty list of factors, got {values!r}")
    try:
        factors = tuple(check(v, "") for v in values)
    except ConfigError as err:
        raise ConfigError(f"{what}: {err}") from None
    if list(factors) != sorted(set(factors)):
        raise ConfigError(f"{what} must be increasing without repeats, got {list(values)!r}")
    return factors


class ResNetScalingSpace:
    """The grid of 8 scaling factors, with an optional limit on MACs as a multiple of ResNet-18's.

    `limit`, `image_size` and `num_classes` say where sizes are measured (the thesis: 2 or 4, 32, 100);
    `build` takes the class count of the data it trains on.
    """

    name = "resnet_scaling"

    def __init__(self, limit: float | None = None, image_size: int = 32, num_classes: int = 100,
                 depth_factors: Sequence[float] = DEPTH_FACTORS, width_factors: Sequence[float] = WIDTH_FACTORS,
                 tries: int = DEFAULT_TRIES, base_width: float = 1.0) -> None:
        self.base_width = _factor(base_width, "base width (a multiple of ResNet-18's channels)")
        self.image_size = _positive_int(image_size, "image_size")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.tries = _positive_int(tries, "tries")
        self.depth_factors = _grid(depth_factors, _depth, "depth factors")
        self.width_factors = _grid(width_factors, _width, "width factors")
        for w in self.width_factors:  # every stage's channels stay whole at this base width
            if not (w * self.base_width * BASE_CHANNELS[0]).is_integer():
                raise ConfigError(f"base width {self.base_width:g} with width factor {w:g} gives "
                                  f"{w * self.base_width * BASE_CHANNELS[0]:g} channels in C2, not a whole number")
        self.base_macs = self.macs(RESNET18)
        self.limit = None if limit is None else _factor(limit, "limit (a multiple of ResNet-18's MACs)")
        self.max_macs = None if limit is None else int(self.limit * self.base_macs)
        if self.max_macs is not None:
            self._check_reachable(self.max_macs)

    def __repr__(self) -> str:
        return (f"ResNetScalingSpace(limit={self.limit}, base_width={self.base_width:g}, "
                f"image_size={self.image_size}, num_classes={self.num_classes}, "
                f"depth_factors={list(self.depth_factors)}, width_factors={list(self.width_factors)})")

    def parameters(self) -> tuple[Parameter, ...]:
        """The declared parameters, d2..d5 then w2..w5 (ordinal: the factors of the grid, increasing)."""
        return (tuple(Parameter(f"d{stage}", "ordinal", self.depth_factors) for stage in STAGES)
                + tuple(Parameter(f"w{stage}", "ordinal", self.width_factors) for stage in STAGES))

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Choices per dimension, d2..d5 then w2..w5: the categorical view of `codes`."""
        return (len(self.depth_factors),) * 4 + (len(self.width_factors),) * 4

    @property
    def smallest(self) -> ScalingConfig:
        """The config with the fewest MACs: every term of `resnet_macs` grows with every factor."""
        return ScalingConfig((self.depth_factors[0],) * 4, (self.width_factors[0],) * 4)

    @property
    def feature_dim(self) -> int:
        lengths = [int(w * self.base_width * BASE_CHANNELS[-1]) for w in self.width_factors]
        if len(lengths) != 1:
            raise ConfigError("the ResNet scaling space's configs have different feature lengths "
                              f"({', '.join(map(str, lengths))}): use feature_dim_of")
        return lengths[0]

    def feature_dim_of(self, config: ScalingConfig) -> int:
        return self.channels(config)[-1]

    def channels(self, config: ScalingConfig) -> tuple[int, ...]:
        """The channels of each stage: the config's width factors times ResNet-18's channels at this
        space's base width (`space.width`: 1 is the thesis's, 1/8 the reduced suite's)."""
        return tuple(int(round(c * self.base_width)) for c in self.check(config).channels)

    def check(self, config: object) -> ScalingConfig:
        """`config` itself if it is a ScalingConfig on this space's grid (its limit aside)."""
        if not isinstance(config, ScalingConfig):
            raise ConfigError(f"expected a ScalingConfig, got {type(config).__name__}")
        for kind, values, grid in (("d", config.depths, self.depth_factors), ("w", config.widths, self.width_factors)):
            for stage, value in zip(STAGES, values):
                if value not in grid:
                    raise ConfigError(f"ResNet scaling config {config}: {kind}{stage}={width_text(value)} is not in "
                                      f"the space ({', '.join(map(width_text, grid))})")
        return config

    def parse(self, text: str) -> ScalingConfig:
        """A config on the grid; one over the limit parses (a trace names it) but `check_within` refuses it."""
        return self.check(ScalingConfig.from_string(text))

    def check_within(self, config: ScalingConfig) -> ScalingConfig:
        macs = self.macs(self.check(config))
        if self.max_macs is not None and macs > self.max_macs:
            raise ConfigError(f"ResNet scaling config {config} has {macs:,} MACs, over the limit of {self.max_macs:,} "
                              f"({self.limit:g}x ResNet-18)")
        return config

    def macs(self, config: ScalingConfig, image_size: int | None = None, num_classes: int | None = None,
             in_channels: int = 3) -> int:
        """MACs of one forward pass of one image, from the layer shapes (equal to `describe`'s count)."""
        return resnet_macs(config.blocks, self.channels(config), self.image_size if image_size is None else image_size,
                           self.num_classes if num_classes is None else num_classes, in_channels)

    def describe(self, config: ScalingConfig, image_size: int | None = None, num_classes: int | None = None,
                 in_channels: int = 3) -> dict[str, int]:
        """{'params', 'macs'} as Table 4.4 reports them, counted by torch on a meta-device network."""
        import torch

        from fhbench.spaces.flops import count_macs, count_params

        image_size = _positive_int(self.image_size if image_size is None else image_size, "image_size")
        num_classes = self.num_classes if num_classes is None else num_classes
        with torch.device("meta"):  # no weights allocated or computed: even a 17x network counts in 0.5 s
            model = self.build(config, num_classes, in_channels)
        return {"params": count_params(model), "macs": count_macs(model, (in_channels, image_size, image_size))}

    def table_row(self, config: ScalingConfig) -> dict[str, str]:
        """Table 4.4's columns for one network: parameters in millions, MACs in G (2 decimals)."""
        size = self.describe(config)
        return {"architecture": str(config), "params (M)": f"{size['params'] / 1e6:.2f}",
                "MACs (G)": f"{size['macs'] / 1e9:.2f}"}

    def codes(self, config: ScalingConfig) -> tuple[int, ...]:
        """Each factor's index in its grid, d2..d5 then w2..w5 (for searches over categorical codes)."""
        config = self.check(config)
        return (tuple(self.depth_factors.index(d) for d in config.depths)
                + tuple(self.width_factors.index(w) for w in config.widths))

    def _config_of(self, codes: Sequence[int]) -> ScalingConfig:
        return ScalingConfig(tuple(self.depth_factors[i] for i in codes[:4]),
                             tuple(self.width_factors[i] for i in codes[4:]))

    def from_codes(self, codes: Sequence[int]) -> ScalingConfig:
        """The config of these codes; a code off the grid, or a config over the limit, is a ConfigError."""
        return self.check_within(self._config_of(check_codes(codes, self.parameters(), "ResNet scaling")))

    def sample_codes(self, rng: np.random.Generator) -> tuple[int, ...]:
        """Codes drawn uniformly from the configs within the limit (rejection sampling from the uniform grid,
        at most `tries` draws; then the ConfigError of `sample_within`), or from the whole grid without one."""
        if self.max_macs is None:
            return uniform_codes(rng, self.cardinalities)
        return self._codes_within(rng, self.max_macs, self.tries)

    def valid_codes(self, codes: np.ndarray) -> np.ndarray:
        """(m,) bool for an (m, 8) array of codes: on the grid and within the limit (by `resnet_macs`)."""
        inside = codes_in_range(codes, self.cardinalities, "ResNet scaling")
        if self.max_macs is None or not inside.any():
            return inside
        array = np.where(inside[:, None], np.asarray(codes, dtype=np.int64), 0)  # rows off the grid: anything
        return inside & (self.macs_of_codes(array) <= self.max_macs)

    def macs_of_codes(self, codes: np.ndarray) -> np.ndarray:
        """MACs of each row of an (m, 8) array of on-grid codes, all at once (`resnet_macs` on arrays)."""
        codes = np.asarray(codes, dtype=np.int64)
        depths = np.asarray(self.depth_factors)[codes[:, :4]] * np.asarray(BASE_BLOCKS)
        widths = np.asarray(self.width_factors)[codes[:, 4:]] * np.asarray(BASE_CHANNELS) * self.base_width
        # whole numbers (checked at construction); rounded as `channels` rounds them
        return np.asarray(resnet_macs(depths.astype(np.int64).T, np.rint(widths).astype(np.int64).T, self.image_size,
                                      self.num_classes), dtype=np.int64)

    def encode(self, config: ScalingConfig) -> np.ndarray:
        return self.check(config).encoding()

    def _draw(self, rng: np.random.Generator) -> ScalingConfig:
        return self._config_of(uniform_codes(rng, self.cardinalities))

    def _check_reachable(self, max_macs: int) -> None:
        smallest = self.macs(self.smallest)
        if smallest > max_macs:
            raise ConfigError(f"no ResNet scaling config fits in {max_macs:,} MACs: the smallest, {self.smallest}, "
                              f"has {smallest:,}")

    def sample_within(self, rng: np.random.Generator, max_macs: int, tries: int | None = None) -> ScalingConfig:
        """A config drawn uniformly from those with at most `max_macs` MACs (rejection sampling)."""
        max_macs = _positive_int(max_macs, "max_macs")
        tries = self.tries if tries is None else _positive_int(tries, "tries")
        return self._config_of(self._codes_within(rng, max_macs, tries))

    def _codes_within(self, rng: np.random.Generator, max_macs: int, tries: int) -> tuple[int, ...]:
        self._check_reachable(max_macs)
        fewest = None
        for _ in range(tries):
            codes = uniform_codes(rng, self.cardinalities)
            macs = self.macs(self._config_of(codes))
            if macs <= max_macs:
                return codes
            fewest = macs if fewest is None else min(fewest, macs)
        raise ConfigError(f"no ResNet scaling config within {max_macs:,} MACs found in {tries:,} tries "
                          f"(fewest seen: {fewest:,}): raise the limit or the tries")

    def sample(self, rng: np.random.Generator) -> ScalingConfig:
        """Uniform over the grid, or over the configs within the limit where the space has one."""
        return self._draw(rng) if self.max_macs is None else self.sample_within(rng, self.max_macs)

    def sample_distinct(self, rng: np.random.Generator, n: int) -> list[ScalingConfig]:
        """`n` different configs, each uniform over those within the limit (if any) and not drawn before."""
        n = _positive_int(n, "number of ResNet scaling configs to sample")
        seen: dict[ScalingConfig, None] = {}
        draws = n * self.tries  # bounds the work where few configs fit: each draw costs microseconds
        for _ in range(draws):
            config = self._draw(rng)
            if self.max_macs is None or self.macs(config) <= self.max_macs:
                seen.setdefault(config)
                if len(seen) == n:
                    return list(seen)
        raise ConfigError(f"found only {len(seen)} distinct ResNet scaling configs of {n} asked in {draws:,} tries"
                          + ("" if self.max_macs is None else f" within {self.max_macs:,} MACs")
                          + ": raise the limit or sample fewer")

    def build(self, config: ScalingConfig, num_classes: int, in_channels: int = 3):
        """The network (an `nn.Module`); forward returns (features, logits)."""
        config = self.check(config)
        num_classes = _positive_int(num_classes, "num_classes")
        in_channels = _positive_int(in_channels, "in_channels")
        body, classifier = cifar_resnet("BasicBlock", config.blocks, self.channels(config), num_classes, in_channels)
        return network_class()(body, classifier, config)
