"""The named-CNN space (thesis 4.1, A.2): configs, the CIFAR-form networks built on torchvision's models,
their parameter counts, shapes and widths, and the space interface the recorder uses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import MobileNet_V2_Weights, ResNet18_Weights, ResNet50_Weights, VGG16_BN_Weights

from fhbench.core.errors import ConfigError, SuiteError
from fhbench.spaces import make_space
from fhbench.spaces.cnn import MODELS, CnnConfig, CnnSpace
from fhbench.inputs.suite import SpaceSettings


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _linear(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def _conv(inputs: int, outputs: int, kernel: int) -> int:
    return inputs * outputs * kernel * kernel  # the stems have no bias (batch norm follows)


def _cifar_count(model: str, classes: int) -> int:
    """torchvision's ImageNet parameter count, with the CIFAR stem and head in place of ImageNet's."""
    if model == "resnet18":
        imagenet = ResNet18_Weights.IMAGENET1K_V1.meta["num_params"]
        return imagenet - _conv(3, 64, 7) + _conv(3, 64, 3) - _linear(512, 1000) + _linear(512, classes)
    if model == "resnet50":
        imagenet = ResNet50_Weights.IMAGENET1K_V1.meta["num_params"]
        return imagenet - _conv(3, 64, 7) + _conv(3, 64, 3) - _linear(2048, 1000) + _linear(2048, classes)
    if model == "vgg16":
        imagenet = VGG16_BN_Weights.IMAGENET1K_V1.meta["num_params"]
        head = _linear(512 * 7 * 7, 4096) + _linear(4096, 4096) + _linear(4096, 1000)
        return imagenet - head + _linear(512, classes)
    imagenet = MobileNet_V2_Weights.IMAGENET1K_V1.meta["num_params"]
    return imagenet - _linear(1280, 1000) + _linear(1280, classes)  # the stride-1 stem has the same weights


def _build(text: str, classes: int = 10, in_channels: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    space = CnnSpace()
    return space.build(space.parse(text), classes, in_channels)


@pytest.mark.parametrize("model", MODELS)
def test_parameter_counts_are_the_cifar_forms(model):
    for classes in (10, 100):
        assert _params(_build(model, classes)) == _cifar_count(model, classes)


def test_known_cifar_counts():
    """The counts the CIFAR literature quotes (e.g. kuangliu/pytorch-cifar) for 10 classes."""
    assert _cifar_count("resnet18", 10) == 11_173_962
    assert _cifar_count("resnet50", 10) == 23_520_842
    assert _cifar_count("vgg16", 10) == 14_728_266


def _last_map(net: nn.Module, model: str, x: torch.Tensor) -> torch.Size:
    """Shape of the feature map that global pooling reduces."""
    seen = {}
    if model == "vgg16":
        target = net.body[0]
    elif model == "mobilenetv2":
        target = net.body.features
    else:
        target = net.body.layer4

    def keep_shape(module, inputs, output) -> None:
        seen["shape"] = output.shape

    handle = target.register_forward_hook(keep_shape)
    net(x)
    handle.remove()
    return seen["shape"]


@pytest.mark.parametrize("model, dim, side_at_32", [("vgg16", 512, 1), ("resnet18", 512, 4),
                                                    ("resnet50", 2048, 4), ("mobilenetv2", 1280, 4)])
def test_shapes_at_32_and_16_pixels(model, dim, side_at_32):
    net = _build(model, classes=7).eval()
    assert net.feature_dim == dim == CnnConfig(model).feature_dim
    assert isinstance(net.classifier, nn.Linear) and net.classifier.in_features == dim
    with torch.no_grad():
        for side, last in ((32, side_at_32), (16, max(1, side_at_32 // 2))):
            x = torch.randn(2, 3, side, side)
            features, logits = net(x)
            assert features.shape == (2, dim) and logits.shape == (2, 7)
            # CIFAR strides: the ImageNet stem (stride 2 and a max-pool) would leave 4x fewer pixels a side
            assert _last_map(net, model, x)[-2:] == (last, last)


@pytest.mark.parametrize("model", MODELS)
def test_small_grayscale_inputs(model):
    """Digits suites: one channel, 8x8."""
    net = _build(f"{model}@w0.25", classes=10, in_channels=1).eval()
    with torch.no_grad():
        features, logits = net(torch.randn(3, 1, 8, 8))
    assert features.shape == (3, net.feature_dim) and logits.shape == (3, 10)


@pytest.mark.parametrize("text", ["vgg16@w0.25", "resnet18@w0.25", "resnet50@w0.5", "mobilenetv2@w0.25",
                                  "mobilenetv2@w1.4", "resnet18@w1.5", "vgg16@w0.3"])
def test_feature_dim_matches_the_network(text):
    config = CnnConfig.from_string(text)
    net = _build(text).eval()
    with torch.no_grad():
        features, _ = net(torch.randn(2, 3, 16, 16))
    assert features.shape[1] == config.feature_dim == net.classifier.in_features == net.feature_dim


def test_feature_dims_at_known_widths():
    dims = {text: CnnConfig.from_string(text).feature_dim
            for text in ("resnet18@w0.25", "resnet50@w0.25", "vgg16@w0.25", "mobilenetv2@w0.25", "mobilenetv2@w1.4")}
    # MobileNetV2 keeps at least 1280 final channels below width 1 (torchvision and the paper do)
    assert dims == {"resnet18@w0.25": 128, "resnet50@w0.25": 512, "vgg16@w0.25": 128,
                    "mobilenetv2@w0.25": 1280, "mobilenetv2@w1.4": 1792}


@pytest.mark.parametrize("model", MODELS)
def test_width_shrinks_the_network(model):
    full, quarter = _build(model), _build(f"{model}@w0.25")
    assert _params(quarter) < _params(full) / 8  # parameters shrink with about the square of the width
    first_conv = next(m for m in quarter.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.out_channels == (8 if model == "mobilenetv2" else 16)  # 32 * 0.25 rounds up to 8


def test_resnet_width_keeps_torchvision_blocks():
    from torchvision.models.resnet import BasicBlock, Bottleneck

    small = _build("resnet18@w0.25")
    blocks = [m for m in small.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    assert [b.conv2.out_channels for b in blocks[::2]] == [16, 32, 64, 128]
    assert sum(isinstance(m, Bottleneck) for m in _build("resnet50@w0.25").modules()) == 16


def test_logits_are_the_classifier_of_the_features_in_training_too():
    """No dropout between them: the recorded features are what the classifier sees."""
    for model in MODELS:
        net = _build(f"{model}@w0.25").train()
        features, logits = net(torch.randn(4, 3, 16, 16))
        torch.testing.assert_close(logits, net.classifier(features))
        assert not any(isinstance(m, nn.Dropout) for m in net.modules())  # VGG's and MobileNetV2's heads had one


def test_build_is_deterministic_under_a_seed():
    for model in MODELS:
        a, b, c = (_build(f"{model}@w0.25", seed=s).state_dict() for s in (1, 1, 2))
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_stem_is_he_initialised_like_torchvision():
    """A fresh default-initialised conv would have a much smaller spread than He-normal with fan-out."""
    torch.manual_seed(0)
    net = _build("resnet50")
    weight = net.body.conv1.weight.detach()
    expected = (2.0 / (weight.shape[0] * 9)) ** 0.5
    assert float(weight.std()) == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize("text, canonical", [("resnet18", "resnet18@w1"), ("resnet18@w1", "resnet18@w1"),
                                             ("resnet18@w1.0", "resnet18@w1"), ("vgg16@w0.25", "vgg16@w0.25"),
                                             ("mobilenetv2@w.5", "mobilenetv2@w0.5"),
                                             ("resnet50@w2", "resnet50@w2")])
def test_canonical_strings_round_trip(text, canonical):
    config = CnnConfig.from_string(text)
    assert str(config) == canonical
    assert CnnConfig.from_string(str(config), default_width=0.5) == config  # explicit: no default applies


def test_a_bare_model_takes_the_space_width():
    space = CnnSpace(width=0.25)
    assert str(space.parse("resnet18")) == "resnet18@w0.25"
    assert str(space.parse("resnet18@w1")) == "resnet18@w1"


@pytest.mark.parametrize("text, needle", [
    ("resnet19", "unknown model 'resnet19'"),
    ("", "unknown model ''"),
    ("ResNet18", "unknown model"),
    ("resnet18@", "resnet18@w<width>"),
    ("resnet18@0.5", "resnet18@w<width>"),
    ("resnet18@wabc", "decimal width"),
    ("resnet18@w-1", "decimal width"),
    ("resnet18@w1e-3", "decimal width"),
    ("resnet18@wnan", "decimal width"),
    ("resnet18@w0.5@w1", "decimal width"),
    ("resnet18@w0", "between 1/64 and 8"),
    ("resnet18@w0.01", "between 1/64 and 8"),
    ("resnet18@w9", "between 1/64 and 8"),
])
def test_bad_configs_are_one_line_errors(text, needle):
    with pytest.raises(ConfigError) as info:
        CnnConfig.from_string(text)
    message = str(info.value)
    assert needle in message and repr(text) in message and "\n" not in message


def test_space_samples_only_its_choices():
    space = CnnSpace(width=0.5, choices=("resnet18", "vgg16@w0.25", "mobilenetv2"))
    allowed = {"resnet18@w0.5", "vgg16@w0.25", "mobilenetv2@w0.5"}
    rng = np.random.default_rng(0)
    assert {str(space.sample(rng)) for _ in range(50)} == allowed
    drawn = space.sample_distinct(np.random.default_rng(1), 3)
    assert sorted(map(str, drawn)) == sorted(allowed)
    again = space.sample_distinct(np.random.default_rng(1), 3)
    assert drawn == again
    with pytest.raises(ConfigError, match="cannot sample 4 distinct CNN configs, the space lists 3"):
        space.sample_distinct(rng, 4)
    with pytest.raises(ConfigError, match="positive integer"):
        space.sample_distinct(rng, 0)
    assert sorted(str(c) for c in CnnSpace().choices) == sorted(f"{m}@w1" for m in MODELS)


def test_space_rejects_duplicate_choices():
    with pytest.raises(ConfigError, match="'resnet18@w1' is listed twice"):
        CnnSpace(choices=("resnet18", "resnet18@w1"))


def test_feature_dim_per_config_and_for_the_space():
    mixed = CnnSpace()
    assert mixed.feature_dim_of(mixed.parse("resnet50")) == 2048
    with pytest.raises(ConfigError, match="feature_dim_of"):
        mixed.feature_dim
    assert CnnSpace(choices=("resnet18", "vgg16")).feature_dim == 512


def test_encoding_is_fixed_length_and_tells_configs_apart():
    space = CnnSpace()
    vectors = [space.encode(space.parse(t)) for t in ("resnet18", "resnet50", "resnet18@w0.5", "vgg16@w2")]
    assert all(v.shape == (len(MODELS) + 1,) for v in vectors)
    assert len({v.tobytes() for v in vectors}) == 4
    np.testing.assert_array_equal(vectors[2], [0, 1, 0, 0, -1])


def test_build_checks_its_arguments():
    space = CnnSpace()
    with pytest.raises(ConfigError, match="expected a CnnConfig"):
        space.build("resnet18", 10)
    with pytest.raises(ConfigError, match="num_classes"):
        space.build(space.parse("resnet18"), 0)


def test_make_space_from_suite_settings():
    cnn = make_space(SpaceSettings(name="cnn", width=0.5, cells=("resnet18", "vgg16@w1")))
    assert isinstance(cnn, CnnSpace) and [str(c) for c in cnn.choices] == ["resnet18@w0.5", "vgg16@w1"]
    assert make_space(SpaceSettings(channels=8)).channels == 8
    with pytest.raises(SuiteError, match="s.toml: key 'space.cells'"):
        make_space(SpaceSettings(name="cnn", cells=("resnet19",)), "s.toml")
    with pytest.raises(SuiteError, match="key 'space.name': expected one of nb201, cnn, darts, resnet_scaling, "
                                         "randaugment, got 'nasbench101'"):
        make_space(SpaceSettings(name="nasbench101"))


def test_configs_parse_without_torch():
    code = ("import sys\nfrom fhbench.spaces.cnn import CnnConfig, CnnSpace\n"
            "assert str(CnnSpace(0.5).parse('vgg16')) == 'vgg16@w0.5'\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
