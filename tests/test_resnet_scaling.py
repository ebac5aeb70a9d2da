"""The ResNet scaling space (thesis 4.3.2, A.6) and the MAC counter it is measured with (fhbench.spaces.flops)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import ResNet18_Weights

from fhbench.core.errors import ConfigError
from fhbench.spaces.flops import count_macs, count_params
from fhbench.spaces.cnn import CnnSpace
from fhbench.spaces.resnet_scaling import RESNET18, RESNET34, ResNetScalingSpace, ScalingConfig

RESNET18_MACS = 555_468_800  # 32x32, 100 classes
RESNET18_PARAMS = 11_220_132


@pytest.fixture(scope="module")
def space() -> ResNetScalingSpace:
    return ResNetScalingSpace()


def _shape_macs(layers, classes: int, features: int) -> int:
    """Sum of k*k*C_in*C_out*H_out*W_out over (k, C_in, C_out, H_out) convs, plus the linear head."""
    return sum(k * k * c_in * c_out * size * size for k, c_in, c_out, size in layers) + features * classes


def _resnet18_layers(image: int = 32) -> list[tuple[int, int, int, int]]:
    """CIFAR ResNet-18's convs written out by hand: stem, then 2 basic blocks a stage, 1x1 projections."""
    h2, h3, h4, h5 = image, image // 2, image // 4, image // 8
    return ([(3, 3, 64, h2)] + [(3, 64, 64, h2)] * 4
            + [(3, 64, 128, h3), (1, 64, 128, h3)] + [(3, 128, 128, h3)] * 3
            + [(3, 128, 256, h4), (1, 128, 256, h4)] + [(3, 256, 256, h4)] * 3
            + [(3, 256, 512, h5), (1, 256, 512, h5)] + [(3, 512, 512, h5)] * 3)


def test_resnet18_is_the_thesis_0_56_g_macs_and_11_2_m_params(space):
    size = space.describe(RESNET18)
    assert size["macs"] == _shape_macs(_resnet18_layers(), 100, 512) == RESNET18_MACS
    assert round(size["macs"] / 1e9, 2) == 0.56
    # torchvision's ImageNet count with the CIFAR stem (3x3 instead of 7x7) and a 100-class head
    imagenet = ResNet18_Weights.IMAGENET1K_V1.meta["num_params"]
    expected = imagenet - 3 * 64 * 7 * 7 + 3 * 64 * 3 * 3 - (512 * 1000 + 1000) + (512 * 100 + 100)
    assert size["params"] == expected == RESNET18_PARAMS
    assert space.base_macs == RESNET18_MACS
    assert space.table_row(RESNET18) == {"architecture": "d1-1-1-1_w1-1-1-1", "params (M)": "11.22", "MACs (G)": "0.56"}


def test_resnet34_matches_its_table_4_4_row(space):
    assert RESNET34.blocks == (3, 4, 6, 3)
    assert space.table_row(RESNET34) == {"architecture": "d1.5-2-3-1.5_w1-1-1-1", "params (M)": "21.33",
                                         "MACs (G)": "1.16"}


def test_count_macs_halves_torch_flops_and_skips_norms_activations_and_pools():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(1),
                          nn.Flatten(), nn.Linear(4 * 5 * 5, 7))
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, 3, 5, 5))
    assert counter.get_total_flops() == 2 * (9 * 3 * 4 * 25 + 100 * 7)
    assert count_macs(model, (3, 5, 5)) == 9 * 3 * 4 * 25 + 100 * 7
    assert count_params(model) == (3 * 4 * 9 + 4) + 2 * 4 + (100 * 7 + 7)


def test_count_macs_leaves_the_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model.train()
    assert count_macs(model, (1, 3, 3)) == 9 * 2  # a 1x1 map in a 1-image batch: needs eval-mode batch norm
    assert model.training and model[1].num_batches_tracked.item() == 0


@pytest.mark.parametrize("shape", [(3, 32), (0, 32, 32), (3, 32.0, 32), "3x32x32", (True, 32, 32)])
def test_count_macs_rejects_bad_input_shapes(shape):
    with pytest.raises(ConfigError, match=r"input_shape must be \(channels, height, width\)"):
        count_macs(nn.Linear(2, 2), shape)


@pytest.mark.parametrize("image, classes, in_channels", [(32, 100, 3), (16, 10, 3), (32, 10, 1), (8, 100, 3)])
def test_shape_formula_equals_torchs_counter(space, image, classes, in_channels):
    rng = np.random.default_rng(image + classes + in_channels)
    configs = [space.smallest] + [space.sample(rng) for _ in range(2)]
    if image == 32 and classes == 100:  # the largest network once: every factor at its top
        configs.append(ScalingConfig((4,) * 4, (2,) * 4))
    for config in configs:
        counted = space.describe(config, image_size=image, num_classes=classes, in_channels=in_channels)["macs"]
        assert space.macs(config, image_size=image, num_classes=classes, in_channels=in_channels) == counted, config
    # at 16x16 the same hand-written layer list, halved in each dimension, still holds for ResNet-18
    assert space.macs(RESNET18, 16, 10) == _shape_macs(_resnet18_layers(16), 10, 512)


def test_scaling_factors_scale_macs_as_their_layers_predict(space):
    base = space.macs(RESNET18)
    # every conv at twice the channels has 4x the MACs; only the stem (3 inputs) and the head grow 2x
    wide = space.describe(ScalingConfig(widths=(2, 2, 2, 2)))["macs"]
    stem_and_head = 9 * 3 * 64 * 32 * 32 + 512 * 100
    assert wide == 4 * (base - stem_and_head) + 2 * stem_and_head
    assert 3.95 < wide / base < 4.0
    # d5 = 4 adds 6 blocks of two 3x3 512-channel convs on a 4x4 map
    deep = space.describe(ScalingConfig(depths=(1, 1, 1, 4)))["macs"]
    assert deep - base == 6 * 2 * 9 * 512 * 512 * 4 * 4
    # an identity block costs the same in every stage (channels double as the map halves), so twice the
    # blocks everywhere adds 8 of them, as many as ResNet-34's {3, 4, 6, 3} does
    block = 2 * 9 * 64 * 64 * 32 * 32
    assert space.macs(ScalingConfig(depths=(2, 2, 2, 2))) - base == 8 * block == space.macs(RESNET34) - base


def test_limit_is_a_multiple_of_resnet18(space):
    assert ResNetScalingSpace(limit=2).max_macs == 2 * RESNET18_MACS
    assert ResNetScalingSpace(limit=4, image_size=16, num_classes=10).max_macs == 4 * space.macs(RESNET18, 16, 10)
    with pytest.raises(ConfigError, match=r"has 1,159,448,576 MACs, over the limit of 1,110,937,600 \(2x ResNet-18\)"):
        ResNetScalingSpace(limit=2).check_within(RESNET34)
    assert ResNetScalingSpace(limit=4).check_within(RESNET34) is RESNET34


@pytest.mark.parametrize("limit", [2, 4])
def test_sampling_under_a_limit_stays_within_it(limit):
    rng = np.random.default_rng(limit)
    space = ResNetScalingSpace(limit=limit)
    configs = [space.sample(rng) for _ in range(300)]
    macs = [space.macs(c) for c in configs]
    assert max(macs) <= space.max_macs
    assert max(macs) > 0.9 * space.max_macs  # the limit binds: the sampler is not stuck on small networks
    assert len(set(configs)) > 250
    for config in configs[:2]:  # torch's own count agrees on what was accepted
        assert space.describe(config)["macs"] <= space.max_macs
    unlimited = [ResNetScalingSpace().sample(rng) for _ in range(300)]
    assert max(space.macs(c) for c in unlimited) > space.max_macs  # so the limit is what filtered them


def test_sample_within_takes_an_explicit_limit(space):
    rng = np.random.default_rng(0)
    assert all(space.macs(space.sample_within(rng, RESNET18_MACS)) <= RESNET18_MACS for _ in range(50))


def test_a_limit_below_every_config_fails_at_once(space):
    with pytest.raises(ConfigError, match=r"^no ResNet scaling config fits in 1,000 MACs: the smallest, "
                                          r"d1-1-1-1_w0.5-0.5-0.5-0.5, has 139,322,368$"):
        space.sample_within(np.random.default_rng(0), 1000)
    with pytest.raises(ConfigError, match="no ResNet scaling config fits in"):
        ResNetScalingSpace(limit=0.2)


def test_a_limit_that_no_draw_meets_fails_after_n_tries(space):
    smallest = space.macs(space.smallest)  # only 1 config in 5.8 million fits
    with pytest.raises(ConfigError) as raised:
        space.sample_within(np.random.default_rng(0), smallest, tries=40)
    message = str(raised.value)
    assert message.startswith(f"no ResNet scaling config within {smallest:,} MACs found in 40 tries (fewest seen: ")
    fewest = int(message.split("fewest seen: ")[1].split(")")[0].replace(",", ""))
    assert fewest > smallest and "\n" not in message


def test_sample_distinct(space):
    rng = np.random.default_rng(3)
    limited = ResNetScalingSpace(limit=2)
    configs = limited.sample_distinct(rng, 40)
    assert len(set(configs)) == 40 and all(limited.macs(c) <= limited.max_macs for c in configs)
    tiny = ResNetScalingSpace(depth_factors=(1,), width_factors=(0.5, 1), tries=50)
    assert len(set(tiny.sample_distinct(rng, 16))) == 16  # the whole 2^4 grid
    with pytest.raises(ConfigError, match=r"^found only 16 distinct ResNet scaling configs of 17 asked in 850 tries"):
        tiny.sample_distinct(rng, 17)
    with pytest.raises(ConfigError, match="must be a positive integer"):
        space.sample_distinct(rng, 0)


def test_strings_round_trip(space):
    assert str(RESNET18) == "d1-1-1-1_w1-1-1-1"
    assert space.parse("d1.5-2-3-1.5_w0.5-0.75-1.25-2") == ScalingConfig((1.5, 2, 3, 1.5), (0.5, 0.75, 1.25, 2))
    rng = np.random.default_rng(1)
    for config in (space.sample(rng) for _ in range(100)):
        assert space.parse(str(config)) == config


@pytest.mark.parametrize("text, message", [
    ("resnet18", "expected 'd<d2>-<d3>-<d4>-<d5>_w<w2>-<w3>-<w4>-<w5>'"),
    ("d1-1-1_w1-1-1-1", "expected 'd<d2>"),
    ("d1-1-1-1_w1-1-1-1-1", "expected 'd<d2>"),
    ("d1-1-1-1w1-1-1-1", "expected 'd<d2>"),
    ("d1-1-1-x_w1-1-1-1", "expected 'd<d2>"),
    ("d1-1-1-1_w1-1--1-1", "expected 'd<d2>"),
    ("d1-1.2-1-1_w1-1-1-1", "d3=1.2 gives 2.4 blocks, not a whole number"),
    ("d1-1-1-1_w1-1-0.3-1", "w4=0.3 gives 19.2 channels in C2, not a whole number"),
    ("d0-1-1-1_w1-1-1-1", "d2 must be a positive number"),
    ("d1-1-1-5_w1-1-1-1", r"d5=5 is not in the space \(1, 1.5, 2, 2.5, 3, 3.5, 4\)"),
    ("d1-1-1-1_w1-1-0.25-1", r"w4=0.25 is not in the space \(0.5, 0.75,"),
    ("d0.5-1-1-1_w1-1-1-1", "d2=0.5 is not in the space"),
])
def test_bad_strings_are_one_line_errors(space, text, message):
    with pytest.raises(ConfigError, match=message) as raised:
        space.parse(text)
    assert "\n" not in str(raised.value)


def test_bad_configs_and_settings():
    with pytest.raises(ConfigError, match="must be a str"):
        ScalingConfig.from_string(3)
    with pytest.raises(ConfigError, match=r"depths must be 4 factors"):
        ScalingConfig((1, 1, 1))
    with pytest.raises(ConfigError, match="w2 must be a number"):
        ScalingConfig(widths=("1", 1, 1, 1))
    with pytest.raises(ConfigError, match="expected a ScalingConfig, got str"):
        ResNetScalingSpace().build("d1-1-1-1_w1-1-1-1", 10)
    with pytest.raises(ConfigError, match="width factors: w=0.3 gives 19.2 channels"):
        ResNetScalingSpace(width_factors=(0.3, 1))
    with pytest.raises(ConfigError, match="depth factors must be increasing without repeats"):
        ResNetScalingSpace(depth_factors=(2, 1))
    with pytest.raises(ConfigError, match="limit .* must be a positive number"):
        ResNetScalingSpace(limit=-2)
    with pytest.raises(ConfigError, match="image_size must be a positive integer"):
        ResNetScalingSpace(image_size=0)


def test_codes_and_encoding(space):
    assert space.cardinalities == (7,) * 8
    assert space.codes(RESNET18) == (0, 0, 0, 0, 2, 2, 2, 2)
    assert space.codes(RESNET34) == (1, 2, 4, 1, 2, 2, 2, 2)
    np.testing.assert_array_equal(space.encode(RESNET18), np.zeros(8))
    np.testing.assert_allclose(space.encode(ScalingConfig((2, 1, 1, 4), (0.5, 1, 1, 2))), [1, 0, 0, 2, -1, 0, 0, 1])


@pytest.mark.parametrize("image", [32, 16])
def test_build_returns_features_and_logits(space, image):
    torch.manual_seed(0)
    config = ScalingConfig((1.5, 1, 1, 1), (0.5, 0.5, 0.75, 0.5))
    model = space.build(config, num_classes=10, in_channels=1)
    assert [len(getattr(model.body, f"layer{i}")) for i in range(1, 5)] == [3, 2, 2, 2]
    assert model.body.layer3[0].conv1.out_channels == 192
    assert isinstance(model.classifier, nn.Linear) and model.feature_dim == space.feature_dim_of(config) == 256
    features, logits = model(torch.randn(2, 1, image, image))
    assert features.shape == (2, 256) and logits.shape == (2, 10)
    assert count_macs(model, (1, image, image)) == space.macs(config, image, 10, 1)  # on the CPU, not meta


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_builds_the_same_resnet18_as_the_cnn_space(space, width):
    """Same layers, same random draws: a seed gives the same weights from either space."""
    torch.manual_seed(7)
    ours = space.build(ScalingConfig(widths=(width,) * 4), 100).state_dict()
    torch.manual_seed(7)
    cnn = CnnSpace().build(CnnSpace().parse(f"resnet18@w{width}"), 100).state_dict()
    assert list(ours) == list(cnn)
    assert all(torch.equal(ours[key], cnn[key]) for key in ours)


def test_importing_the_space_and_counter_does_not_import_torch():
    code = ("import sys, fhbench.spaces.flops, fhbench.spaces.resnet_scaling as s; "
            "s.ResNetScalingSpace(limit=2).sample_distinct(__import__('numpy').random.default_rng(0), 5); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_base_width_scales_every_stage_and_keeps_the_limits_relative_to_resnet18_at_that_width():
    """The reduced suite's base width (space.width = 1/8): channels 8..64 before the factors, MACs counted
    by torch equal the fast formula, and 2x means twice ResNet-18 at the same base width."""
    narrow = ResNetScalingSpace(2.0, 16, 10, base_width=0.125)
    assert narrow.channels(RESNET18) == (8, 16, 32, 64)
    assert narrow.feature_dim_of(RESNET18) == 64
    assert narrow.max_macs == int(2 * narrow.macs(RESNET18))
    rng = np.random.default_rng(3)
    for _ in range(4):
        config = narrow.sample(rng)
        assert narrow.macs(config) <= narrow.max_macs
        assert narrow.describe(config)["macs"] == narrow.macs(config)
        assert narrow.macs_of_codes(np.array([narrow.codes(config)]))[0] == narrow.macs(config)
    with pytest.raises(ConfigError, match="not a whole number"):
        ResNetScalingSpace(base_width=0.01)
