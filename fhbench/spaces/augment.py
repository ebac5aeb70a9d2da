"""Space randaugment (thesis section 4.3.1, appendix A.5): RandAugment's N and M for one fixed named CNN.

A config is a network of `fhbench.spaces.cnn` (a model at a width) and RandAugment's two
hyperparameters, written `<network>/n<N>-m<M>`, e.g. ``resnet18@w0.125/n2-m9``. N (operations per
image) ranges over 1..3 and M (their magnitude) over 0..30, the ranges this module declares
(N_RANGE, M_RANGE, which `fhbench.inputs.augment` applies: the RandAugment paper's magnitude scale and torchvision's 31 bins). The space is
per network: a suite lists its networks in `space.cells` and every network is one search target
(Table 4.3), each an `AugmentSpace`. The network trains with RandAugment(N, M), then pad-and-crop and
flip, then Cutout (`fhbench.inputs.augment.randaugment_pipeline`); the recorder takes N and M from
`augmentation(config)`.

Declared parameters: N (ordinal, 1..3) and M (integer, 0..30), both free: all 93 configs are valid.
Importing this module imports no torch (the suite loader validates configs with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fhbench.core.errors import ConfigError
from fhbench.spaces.parameters import Parameter, as_count
from fhbench.spaces.cnn import CnnConfig, CnnSpace
from fhbench.spaces.codes import check_codes, codes_in_range, uniform_codes

N_RANGE = range(1, 4)  # RandAugment's operations per image
M_RANGE = range(0, 31)  # their magnitude: the paper's scale, torchvision's 31 bins
N_VALUES = tuple(N_RANGE)
M_VALUES = tuple(M_RANGE)
_FORMAT = "'<network>/n<N>-m<M>', e.g. 'resnet18@w0.125/n2-m9'"
_SETTING = re.compile(r"n(0|[1-9][0-9]*)-m(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class AugmentConfig:
    """One network trained with RandAugment(N, M)."""

    network: CnnConfig
    n: int
    m: int

    def __post_init__(self) -> None:
        if not isinstance(self.network, CnnConfig):
            raise ConfigError(f"expected a CnnConfig network, got {type(self.network).__name__}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n not in N_RANGE:
            raise ConfigError(f"RandAugment config: N (operations per image) must be an integer in "
                              f"{N_VALUES[0]}..{N_VALUES[-1]}, got {self.n!r}")
        if isinstance(self.m, bool) or not isinstance(self.m, int) or self.m not in M_RANGE:
            raise ConfigError(f"RandAugment config: M (magnitude) must be an integer in "
                              f"{M_VALUES[0]}..{M_VALUES[-1]}, got {self.m!r}")

    def to_string(self) -> str:
        return f"{self.network}/n{self.n}-m{self.m}"

    def __str__(self) -> str:
        return self.to_string()


class AugmentSpace:
    """RandAugment's (N, M) for one named CNN (`network`, a bare model name taking `width`)."""

    name = "randaugment"

    def __init__(self, network: str, width: float = 1.0) -> None:
        self._cnn = CnnSpace(width, (network,))  # validates the model and the width
        self.network = self._cnn.choices[0]
        self.width = self._cnn.width

    def __repr__(self) -> str:
        return f"AugmentSpace(network={str(self.network)!r})"

    # ---------------------------------------------------------------------------------- declared parameters
    def parameters(self) -> tuple[Parameter, ...]:
        return (Parameter("N", "ordinal", N_VALUES), Parameter("M", "integer", M_VALUES))

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return (len(N_VALUES), len(M_VALUES))

    @property
    def num_configs(self) -> int:
        return len(N_VALUES) * len(M_VALUES)

    def codes(self, config: AugmentConfig) -> tuple[int, ...]:
        config = self._check(config)
        return (N_VALUES.index(config.n), M_VALUES.index(config.m))

    def from_codes(self, codes) -> AugmentConfig:
        n_code, m_code = check_codes(codes, self.parameters(), "RandAugment")
        return AugmentConfig(self.network, N_VALUES[n_code], M_VALUES[m_code])

    def sample_codes(self, rng: np.random.Generator) -> tuple[int, ...]:
        """Uniform over the 93 configs (every config is valid)."""
        return uniform_codes(rng, self.cardinalities)

    def valid_codes(self, codes) -> np.ndarray:
        """True for every row of codes inside the grid: the space has no constraint."""
        return codes_in_range(codes, self.cardinalities, "RandAugment")

    # --------------------------------------------------------------------------------------- the space API
    def parse(self, text: str) -> AugmentConfig:
        if not isinstance(text, str):
            raise ConfigError(f"RandAugment config must be a str like {_FORMAT}, got {type(text).__name__}")
        network_text, slash, setting = text.rpartition("/")
        if not slash:
            raise ConfigError(f"bad RandAugment config {text!r}: expected {_FORMAT}")
        try:
            network = CnnConfig.from_string(network_text, self.width)
        except ConfigError as err:
            raise ConfigError(f"bad RandAugment config {text!r}: network: {err}") from None
        if network != self.network:
            raise ConfigError(f"RandAugment config {text!r} trains {network}, not this space's network {self.network}")
        match = _SETTING.fullmatch(setting)
        if match is None:
            raise ConfigError(f"bad RandAugment config {text!r}: expected 'n<N>-m<M>' after the network with whole "
                              f"numbers N in {N_VALUES[0]}..{N_VALUES[-1]} and M in {M_VALUES[0]}..{M_VALUES[-1]}, "
                              f"e.g. '{self.network}/n2-m9'")
        try:
            return AugmentConfig(network, int(match.group(1)), int(match.group(2)))
        except ConfigError as err:
            raise ConfigError(f"bad RandAugment config {text!r}: {str(err).removeprefix('RandAugment config: ')}") \
                from None

    def encode(self, config: AugmentConfig) -> np.ndarray:
        """N and M scaled to [0, 1] (the network is the same for every config of the space)."""
        config = self._check(config)
        n_span, m_span = N_VALUES[-1] - N_VALUES[0], M_VALUES[-1] - M_VALUES[0]
        return np.array([(config.n - N_VALUES[0]) / n_span, (config.m - M_VALUES[0]) / m_span], dtype=np.float64)

    def augmentation(self, config: AugmentConfig) -> tuple[int, int]:
        """RandAugment's (N, M) of the config: what the recorder trains with."""
        config = self._check(config)
        return config.n, config.m

    def build(self, config: AugmentConfig, num_classes: int, in_channels: int = 3):
        """The network (an `nn.Module`); forward returns (features, logits)."""
        return self._cnn.build(self._check(config).network, num_classes, in_channels)

    @property
    def feature_dim(self) -> int:
        return self.network.feature_dim

    def feature_dim_of(self, config: AugmentConfig) -> int:
        return self._check(config).network.feature_dim

    def sample(self, rng: np.random.Generator) -> AugmentConfig:
        return self.from_codes(self.sample_codes(rng))

    def sample_distinct(self, rng: np.random.Generator, n: int) -> list[AugmentConfig]:
        count = as_count(n, "number of RandAugment configs to sample", 1)
        if count > self.num_configs:
            raise ConfigError(f"cannot sample {count} distinct RandAugment configs, the space has {self.num_configs}")
        flat = rng.choice(self.num_configs, size=count, replace=False)
        return [self.from_codes(divmod(int(i), len(M_VALUES))) for i in flat]

    def _check(self, config: object) -> AugmentConfig:
        if not isinstance(config, AugmentConfig):
            raise ConfigError(f"expected an AugmentConfig, got {type(config).__name__}")
        if config.network != self.network:
            raise ConfigError(f"RandAugment config {config} trains {config.network}, not this space's "
                              f"network {self.network}")
        return config
