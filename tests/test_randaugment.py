"""RandAugment and Cutout (fhbench.inputs.augment): torchvision's operations, drawn per image, grouped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision.transforms.v2 as T2
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from fhbench.inputs.augment import augment
from fhbench.inputs.augment import (
    OPERATIONS,
    apply_drawn,
    check_settings,
    cutout,
    cutout_side,
    draw_operations,
    magnitude,
    rand_augment,
    randaugment_pipeline,
)

# fhbench's names for torchvision's RandAugment operations (its _AUGMENTATION_SPACE keys).
TORCHVISION_NAMES = {
    "identity": "Identity", "shear_x": "ShearX", "shear_y": "ShearY", "translate_x": "TranslateX",
    "translate_y": "TranslateY", "rotate": "Rotate", "brightness": "Brightness", "color": "Color",
    "contrast": "Contrast", "sharpness": "Sharpness", "posterize": "Posterize", "solarize": "Solarize",
    "autocontrast": "AutoContrast", "equalize": "Equalize",
}


def images(batch: int, size: int = 32, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """Smooth random images (blocks plus noise), so that every operation changes something."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 256, (batch, channels, size // 4, size // 4), generator=g).float()
    smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    noise = torch.randint(-20, 21, smooth.shape, generator=g)
    return (smooth + noise).clamp(0, 255).to(torch.uint8)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_operations_are_the_papers_fourteen_with_torchvisions_magnitudes():
    assert set(TORCHVISION_NAMES) == set(OPERATIONS) and len(OPERATIONS) == 14
    for height, width in ((32, 32), (16, 16), (8, 12)):
        for name in OPERATIONS:
            table, _ = T2.RandAugment._AUGMENTATION_SPACE[TORCHVISION_NAMES[name]]
            expected = table(31, height, width)
            for m in range(31):
                ours = magnitude(name, m, height, width)
                if expected is None:
                    assert ours is None, name
                else:
                    assert ours == expected[m].item(), (name, m, height, width)


def test_every_group_equals_torchvisions_randaugment_applied_image_by_image():
    """The grouping trick changes nothing: the batch result equals torchvision's own RandAugment code
    path (its operation dispatch, magnitudes and signs) run on each image alone."""
    x = images(96, size=16)
    m = 17
    operations, negate = draw_operations(3, len(x), seeded(3))
    assert set(operations.unique().tolist()) == set(range(len(OPERATIONS)))  # every op is exercised
    got = apply_drawn(x, operations, negate, m)

    reference = T2.RandAugment(magnitude=m)
    for i in range(len(x)):
        image = x[i:i + 1]
        for slot in range(operations.shape[0]):
            name = TORCHVISION_NAMES[OPERATIONS[operations[slot, i]]]
            table, signed = T2.RandAugment._AUGMENTATION_SPACE[name]
            values = table(31, 16, 16)
            value = 0.0 if values is None else float(values[m])
            if signed and negate[slot, i]:
                value = -value
            image = reference._apply_image_or_video_transform(
                image, name, value, interpolation=InterpolationMode.NEAREST, fill=reference._fill)
        assert torch.equal(got[i:i + 1], image), (i, [OPERATIONS[k] for k in operations[:, i]])


def test_a_few_groups_equal_the_functional_ops_called_image_by_image():
    x = images(40, size=32, seed=1)
    operations = torch.tensor([[OPERATIONS.index(name) for name in ("rotate", "equalize", "posterize",
                                                                    "contrast")] * 10])
    negate = torch.arange(40)[None] % 8 < 4  # both signs of rotate and contrast
    got = apply_drawn(x, operations, negate, 12)
    for i in range(40):
        name, sign = OPERATIONS[operations[0, i]], -1.0 if negate[0, i] else 1.0
        image = x[i]
        expected = {"rotate": lambda: TF.rotate(image, 12.0 * sign, interpolation=InterpolationMode.NEAREST),
                    "equalize": lambda: TF.equalize(image),
                    "posterize": lambda: TF.posterize(image, 6),
                    "contrast": lambda: TF.adjust_contrast(image, 1.0 + sign * 0.36)}[name]()
        assert torch.equal(got[i], expected), (i, name, sign)


def test_a_seed_gives_the_same_images_and_the_global_rng_is_not_used():
    x = images(64)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = randaugment_pipeline(x, 2, 14, seeded(7), padding=4)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(1)
    again = randaugment_pipeline(x, 2, 14, seeded(7), padding=4)
    other = randaugment_pipeline(x, 2, 14, seeded(8), padding=4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_operations_are_drawn_per_image_not_per_batch():
    differ = 0
    g = seeded(1)
    for _ in range(200):
        operations, negate = draw_operations(1, 2, g)
        differ += int(operations[0, 0] != operations[0, 1])
    assert differ > 150  # 13 in 14 for independent draws, 0 for one draw per batch

    same = images(1).expand(64, -1, -1, -1).contiguous()
    out = rand_augment(same, 1, 20, seeded(2))
    distinct = {bytes(image.flatten().tolist()) for image in out}
    assert len(distinct) >= 15  # 14 operations, most with two signs: many different images


def test_shape_dtype_device_and_input_are_kept():
    for size, channels in ((32, 3), (16, 3), (8, 1)):
        x = images(20, size=size, channels=channels)
        before = x.clone()
        out = rand_augment(x, 3, 30, seeded(0))
        assert out.shape == x.shape and out.dtype == torch.uint8 and out.device == x.device
        assert torch.equal(x, before)
        assert not torch.equal(out, x)
        piped = randaugment_pipeline(x, 1, 5, seeded(0), padding=max(1, size // 8))
        assert piped.shape == x.shape and piped.dtype == torch.uint8
        assert torch.equal(x, before)


def test_magnitude_zero_leaves_only_the_operations_without_a_magnitude():
    """At M = 0 an image is itself, auto-contrasted, equalized, or solarized at 255 (white inverted)."""
    x = images(128, seed=4)
    x[:, :, 0, 0] = 255  # a white pixel, so that solarize at 255 changes something visible
    out = rand_augment(x, 1, 0, seeded(5))
    kinds = []
    for i in range(len(x)):
        candidates = {"identity": x[i], "autocontrast": TF.autocontrast(x[i]), "equalize": TF.equalize(x[i]),
                      "solarize": TF.solarize(x[i], 255.0)}
        matches = [name for name, image in candidates.items() if torch.equal(out[i], image)]
        assert matches, i
        kinds.append(matches[0])
    assert kinds.count("identity") > len(x) // 2  # the 10 operations with a magnitude do nothing


@pytest.mark.parametrize("n", [0, 4, -1, 1.5, True, "2", None])
def test_bad_n_is_refused_naming_the_range(n):
    with pytest.raises(ValueError, match=r"N must be an integer in 1\.\.3, got") as error:
        rand_augment(images(2), n, 5, seeded(0))
    assert repr(n) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("m", [-1, 31, 9.0, False])
def test_bad_m_is_refused_naming_the_range(m):
    with pytest.raises(ValueError, match=r"M must be an integer in 0\.\.30, got") as error:
        rand_augment(images(2), 2, m, seeded(0))
    assert repr(m) in str(error.value)


def test_the_settings_check_imports_no_torch():
    """The suite loader checks N and M before any work, without importing torch."""
    code = ("import sys; from fhbench.inputs.augment import check_settings; check_settings(3, 30); "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]"
    with pytest.raises(ValueError, match=r"M must be an integer in 0\.\.30, got 31"):
        check_settings(1, 31)
    with pytest.raises(ValueError, match=r"N must be an integer in 1\.\.3, got 0"):
        check_settings(0, 5)


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="expected uint8 images of shape"):
        rand_augment(images(2).float() / 255, 1, 5, seeded(0))
    with pytest.raises(ValueError, match="expected uint8 images of shape"):
        rand_augment(images(2)[0], 1, 5, seeded(0))
    with pytest.raises(ValueError, match=r"1 or 3 channels .*, got 2$"):
        rand_augment(torch.zeros(2, 2, 8, 8, dtype=torch.uint8), 1, 5, seeded(0))
    with pytest.raises(ValueError, match="Cutout fill must be"):
        cutout(images(2), seeded(0), fill=(1, 2))
    with pytest.raises(ValueError, match="Cutout fill must be"):
        cutout(images(2), seeded(0), fill=300)


def cut_boxes(out: torch.Tensor, fill: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """Per image, the bounding box (top, left, height, width) of its pixels equal to `fill` in every
    channel, checking that the box holds nothing else: the cut region is an axis-aligned rectangle."""
    marked = (out == torch.tensor(fill, dtype=out.dtype).view(1, -1, 1, 1)).all(1)
    boxes = []
    for mask in marked:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert len(rows) and len(cols)
        top, left = int(rows[0]), int(cols[0])
        height, width = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
        assert int(mask.sum()) == height * width  # nothing outside the box, the box is full
        boxes.append((top, left, height, width))
    return boxes


@pytest.mark.parametrize("size", [32, 16])
def test_cutout_cuts_one_square_per_image_at_different_places(size):
    side = cutout_side(size, size)
    assert side == size // 2  # 16 at 32x32 (DeVries & Taylor), scaled with the image
    x = torch.full((200, 3, size, size), 200, dtype=torch.uint8)
    out = cutout(x, seeded(0), fill=(0, 0, 0))
    boxes = cut_boxes(out, (0, 0, 0))
    for top, left, height, width in boxes:
        assert height <= side and width <= side
        if 0 < top and top + height < size:  # clipped only where it meets the border
            assert height == side
        if 0 < left and left + width < size:
            assert width == side
    assert sum(h == w == side for _, _, h, w in boxes) > 20
    assert sum(h < side or w < side for _, _, h, w in boxes) > 20  # centres near the border are clipped
    assert len({(top, left) for top, left, _, _ in boxes}) > 50


def test_cutout_fills_per_channel_and_leaves_the_rest():
    x = images(16)
    out = cutout(x, seeded(1), fill=(10, 20, 30))
    changed = (out != x).any(1)
    assert torch.equal(out.permute(0, 2, 3, 1)[changed], torch.tensor([10, 20, 30], dtype=torch.uint8).expand(
        int(changed.sum()), 3))
    assert int(changed.sum()) > 16 * 100  # most of each 16x16 square differs from the image


def test_the_pipeline_is_randaugment_then_crop_flip_then_cutout():
    x = images(48)
    got = randaugment_pipeline(x, 2, 9, seeded(11), padding=4, cutout_fill=(1, 2, 3))
    g = seeded(11)
    expected = cutout(augment(rand_augment(x, 2, 9, g), "crop-flip", g, 4), g, fill=(1, 2, 3))
    assert torch.equal(got, expected)
    cut_boxes(got, (1, 2, 3))  # Cutout last: its square is neither rotated nor sheared afterwards
