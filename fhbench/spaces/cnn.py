"""Named CNNs in their CIFAR form (thesis section 4.1, appendix A.2): VGG-16 with batch norm, ResNet-18,
ResNet-50 and MobileNetV2, each at a width multiplier.

The networks are torchvision's, adapted for 32x32 inputs as the CIFAR literature does:

- **ResNet-18/50**: torchvision's `ResNet` with its `BasicBlock`/`Bottleneck` stages; the 7x7 stride-2
  stem conv becomes a 3x3 stride-1 conv and the stem max-pool is dropped (stage strides 1, 2, 2, 2 as
  in torchvision). A width w scales every stage's planes (64, 128, 256, 512) to round(w * planes): the
  stages are rebuilt through torchvision's own `ResNet._make_layer`, so the blocks stay torchvision's
  (torchvision has no width multiplier for `BasicBlock`: its `width_per_group` widens only a
  bottleneck's inner conv, not the stage).
- **VGG-16-BN**: torchvision's `vgg.make_layers` over its configuration "D" with every channel count
  scaled by w; the ImageNet head (7x7 pooling, two 4096-wide layers with dropout) becomes one linear
  layer on the 512 channels left after the fifth pooling, as in the CIFAR form. The max-pools round
  up (`ceil_mode`): nothing changes at 32x32, and 16x16 or 8x8 inputs keep a 1x1 map instead of failing.
- **MobileNetV2**: torchvision's `MobileNetV2` with its own `width_mult` (channels rounded to
  multiples of 8, and a last layer of at least 1280 channels) and the CIFAR strides: a stride-1 stem
  and a stride-1 second stage, so 32x32 inputs leave a 4x4 map. Its classifier dropout is dropped so
  that the recorded features are exactly what the classifier sees in training too.

Every network returns `(features, logits)`: `features` is the pooled penultimate vector and
`classifier` the final `nn.Linear`. Weights start as torchvision initialises them (convs He-normal
with fan-out, batch-norm 1 and 0, VGG's and MobileNetV2's classifier N(0, 0.01)).

A config is a model and a width, written `<model>@w<width>` (e.g. `resnet18@w0.25`); a bare model
name takes the space's width. The canonical string always carries the width, so a trace's config
names its network whatever suite it came from.

This module imports torch only when a network is built: the suite loader validates configs with it.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fhbench.core.errors import ConfigError

MODELS = ("vgg16", "resnet18", "resnet50", "mobilenetv2")
MIN_WIDTH = 1 / 64  # below it the 64-channel stages of ResNet and VGG would have no channel left
MAX_WIDTH = 8.0  # a sanity bound: parameters grow with the square of the width

_WIDTH_TEXT = re.compile(r"\d+(\.\d+)?|\.\d+")
_RESNET_STAGES = {"resnet18": ("BasicBlock", (2, 2, 2, 2), 1), "resnet50": ("Bottleneck", (3, 4, 6, 3), 4)}
_RESNET_PLANES = (64, 128, 256, 512)
# torchvision's MobileNetV2 stages (expansion t, channels c, blocks n, stride s) with the second stage's
# stride 1 instead of 2: the CIFAR form keeps 32x32 inputs at 4x4 before pooling.
_MOBILENETV2_CIFAR_STAGES = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2],
                             [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
_MOBILENETV2_LAST = 1280


def width_text(width: float) -> str:
    text = repr(float(width))  # the shortest text that reads back as the same float
    return text[:-2] if text.endswith(".0") else text


def check_width(width: object, what: str = "width") -> float:
    if isinstance(width, bool) or not isinstance(width, (int, float)):
        raise ConfigError(f"{what} must be a number, got {type(width).__name__} {width!r}")
    if not (math.isfinite(width) and MIN_WIDTH <= width <= MAX_WIDTH):
        raise ConfigError(f"{what} must be between 1/64 and {MAX_WIDTH:g}, got {width!r}")
    return float(width)


def scale_channels(channels: int, width: float) -> int:
    """round(channels * width), halves up, at least 1: the rule for ResNet and VGG widths."""
    return max(1, int(channels * width + 0.5))


def _round_to_8(value: float) -> int:
    """MobileNet's channel rounding (as torchvision's `width_mult` applies it): the nearest multiple
    of 8, at least 8, and never more than 10% below `value`."""
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class CnnConfig:
    """One named network at one width multiplier."""

    model: str
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"unknown CNN model {self.model!r}, expected one of {', '.join(MODELS)}")
        object.__setattr__(self, "width", check_width(self.width, f"{self.model} width"))

    @classmethod
    def from_string(cls, text: str, default_width: float = 1.0) -> CnnConfig:
        """Parse `<model>` (at `default_width`) or `<model>@w<width>`, e.g. 'resnet18@w0.25'."""
        if not isinstance(text, str):
            raise ConfigError(f"CNN config must be a str like 'resnet18@w0.25', got {type(text).__name__}")
        model, at, setting = text.partition("@")
        if model not in MODELS:
            raise ConfigError(f"bad CNN config {text!r}: unknown model {model!r}, expected one of {', '.join(MODELS)}")
        if not at:
            return cls(model, default_width)
        if not setting.startswith("w") or not _WIDTH_TEXT.fullmatch(setting[1:]):
            raise ConfigError(f"bad CNN config {text!r}: expected '{model}' or '{model}@w<width>' "
                              f"with a decimal width, e.g. '{model}@w0.5'")
        try:
            return cls(model, float(setting[1:]))
        except ConfigError as err:
            raise ConfigError(f"bad CNN config {text!r}: {err}") from None

    def to_string(self) -> str:
        return f"{self.model}@w{width_text(self.width)}"

    def __str__(self) -> str:
        return self.to_string()

    @property
    def feature_dim(self) -> int:
        """Length of the pooled feature vector the classifier sees."""
        if self.model == "mobilenetv2":
            return _round_to_8(_MOBILENETV2_LAST * max(1.0, self.width))
        if self.model == "vgg16":
            return scale_channels(512, self.width)
        _, _, expansion = _RESNET_STAGES[self.model]
        return scale_channels(_RESNET_PLANES[-1], self.width) * expansion

    def encoding(self) -> np.ndarray:
        """One-hot model followed by log2(width): the same length for every config of the space."""
        vector = np.zeros(len(MODELS) + 1, dtype=np.float64)
        vector[MODELS.index(self.model)] = 1.0
        vector[-1] = math.log2(self.width)
        return vector


def model_name(config: str) -> str:
    """The model of a config string (what per-model settings such as learning rates are keyed by)."""
    return CnnConfig.from_string(config).model


class CnnSpace:
    """A fixed set of named CNN configs (a suite lists them); `sample` draws among them."""

    name = "cnn"

    def __init__(self, width: float = 1.0, choices: Sequence[str] = ()) -> None:
        self.width = check_width(width, "space width")
        configs: list[CnnConfig] = []
        for text in tuple(choices) or MODELS:
            config = self.parse(text)
            if config in configs:
                raise ConfigError(f"CNN config {text!r} is listed twice (as {config})")
            configs.append(config)
        self.choices = tuple(configs)

    def __repr__(self) -> str:
        return f"CnnSpace(width={self.width}, choices={[str(c) for c in self.choices]})"

    @property
    def feature_dim(self) -> int:
        """The feature length shared by every choice; the models differ in general (feature_dim_of)."""
        dims = {config.feature_dim for config in self.choices}
        if len(dims) != 1:
            raise ConfigError("the CNN space's configs have different feature lengths "
                              f"({', '.join(f'{c}: {c.feature_dim}' for c in self.choices)}): use feature_dim_of")
        return dims.pop()

    def feature_dim_of(self, config: CnnConfig) -> int:
        return self._check(config).feature_dim

    def sample(self, rng: np.random.Generator) -> CnnConfig:
        return self.choices[int(rng.integers(len(self.choices)))]

    def sample_distinct(self, rng: np.random.Generator, n: int) -> list[CnnConfig]:
        try:
            count = -1 if isinstance(n, bool) else operator.index(n)
        except TypeError:
            count = -1
        if count < 1:
            raise ConfigError(f"number of CNN configs to sample must be a positive integer, got {n!r}")
        n = count
        if n > len(self.choices):
            raise ConfigError(f"cannot sample {n} distinct CNN configs, the space lists {len(self.choices)}")
        return [self.choices[int(i)] for i in rng.choice(len(self.choices), size=n, replace=False)]

    def parse(self, text: str) -> CnnConfig:
        return CnnConfig.from_string(text, self.width)

    def encode(self, config: CnnConfig) -> np.ndarray:
        return self._check(config).encoding()

    def build(self, config: CnnConfig, num_classes: int, in_channels: int = 3):
        """The network (an `nn.Module`); forward returns (features, logits)."""
        config = self._check(config)
        for what, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{what} must be a positive integer, got {value!r}")
        builders = {"vgg16": _vgg16, "resnet18": _resnet, "resnet50": _resnet, "mobilenetv2": _mobilenetv2}
        body, classifier = builders[config.model](config, num_classes, in_channels)
        return network_class()(body, classifier, config)

    @staticmethod
    def _check(config: object) -> CnnConfig:
        if not isinstance(config, CnnConfig):
            raise ConfigError(f"expected a CnnConfig, got {type(config).__name__}")
        return config


@functools.cache
def network_class():
    """Defined on first use so that importing this module (the suite loader does) imports no torch."""
    import torch
    from torch import nn

    class CnnNetwork(nn.Module):
        """`body` maps images to the pooled feature vector, `classifier` maps that to logits."""

        def __init__(self, body: nn.Module, classifier: nn.Linear, config: CnnConfig) -> None:
            super().__init__()
            self.config = config
            self.body = body
            self.classifier = classifier
            self.feature_dim = classifier.in_features

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.body(x)
            return features, self.classifier(features)

    return CnnNetwork


def he_init_convs(module) -> None:
    """torchvision's initialisation of the convs of all three families: He-normal with fan-out."""
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _resnet(config: CnnConfig, num_classes: int, in_channels: int):
    block_name, blocks, _ = _RESNET_STAGES[config.model]
    planes = [scale_channels(p, config.width) for p in _RESNET_PLANES]
    return cifar_resnet(block_name, blocks, planes, num_classes, in_channels)


def cifar_resnet(block_name: str, blocks: Sequence[int], planes: Sequence[int], num_classes: int,
                 in_channels: int = 3):
    """torchvision's ResNet in the CIFAR form with these stages: (body, classifier), where the body ends at
    the pooled features. Builds as `fhbench.spaces.cnn` builds ResNet-18/50, in the same order of random
    draws, so a seed gives the same weights for the same network from either space."""
    from torch import nn
    from torchvision.models import resnet

    block = getattr(resnet, block_name)
    net = resnet.ResNet(block, list(blocks), num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, planes[0], 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    rebuilt = [net.conv1]
    if tuple(planes) != tuple(_RESNET_PLANES):  # torchvision built the stages at its own widths
        net.bn1 = net._norm_layer(planes[0])
        net.inplanes = planes[0]  # _make_layer reads the input width here and advances it stage by stage
        for index, (stage_planes, count) in enumerate(zip(planes, blocks)):
            layer = net._make_layer(block, stage_planes, count, stride=1 if index == 0 else 2)
            setattr(net, f"layer{index + 1}", layer)
            rebuilt.append(layer)
        net.fc = nn.Linear(planes[-1] * block.expansion, num_classes)
    for module in rebuilt:
        he_init_convs(module)
    classifier, net.fc = net.fc, nn.Identity()
    return net, classifier


def _vgg16(config: CnnConfig, num_classes: int, in_channels: int):
    from torch import nn
    from torchvision.models import vgg

    layout = [v if v == "M" else scale_channels(v, config.width) for v in vgg.cfgs["D"]]
    features = vgg.make_layers(layout, batch_norm=True)
    if in_channels != 3:  # make_layers assumes RGB
        first = features[0]
        features[0] = nn.Conv2d(in_channels, first.out_channels, 3, padding=1)
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            layer.ceil_mode = True
    he_init_convs(features)  # BatchNorm layers start at 1 and 0 already
    body = nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    classifier = nn.Linear(layout[-2], num_classes)
    nn.init.normal_(classifier.weight, 0.0, 0.01)
    nn.init.zeros_(classifier.bias)
    return body, classifier


def _mobilenetv2(config: CnnConfig, num_classes: int, in_channels: int):
    from torch import nn
    from torchvision.models import MobileNetV2

    net = MobileNetV2(num_classes=num_classes, width_mult=config.width,
                      inverted_residual_setting=[list(stage) for stage in _MOBILENETV2_CIFAR_STAGES])
    stem = net.features[0][0]
    net.features[0][0] = nn.Conv2d(in_channels, stem.out_channels, 3, stride=1, padding=1, bias=False)
    he_init_convs(net.features[0][0])
    classifier = net.classifier[-1]  # torchvision's Linear (already N(0, 0.01)), without the dropout
    net.classifier = nn.Identity()
    return net, classifier
