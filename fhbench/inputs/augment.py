"""RandAugment (Cubuk et al. 2020) and Cutout (DeVries & Taylor 2017) on batches held on the device.

The thesis's RandAugment task (section 4.3.1, appendix A.5) searches the two RandAugment
hyperparameters on CIFAR-10, with "random flips, pad-and-crop and Cutout, following RandAugment" as the
default augmentation. `randaugment_pipeline` is that recipe, in the order of the AutoAugment/RandAugment
CIFAR code the paper follows: RandAugment first, then pad-and-crop and flip (`augment`'s
crop-flip), then Cutout last, so that the cut square is never moved or rotated by the other steps.

RandAugment here is torchvision's: the same 14 operations, the same magnitude of each for M on
torchvision's 31-bin scale (`torchvision.transforms.v2.RandAugment`, `num_magnitude_bins=31`: M = 30
is the strongest), the same random sign for the signed ones, nearest interpolation and black fill for
the geometric ones; the pixels come from torchvision's functional ops. What differs is how the batch
is processed: every image draws its own N operations and signs, then, operation by operation, the
images that drew the same (operation, sign) are transformed together by one call. M fixes every
magnitude, so the images of such a group share all parameters, and torchvision's ops compute per
image (histograms, means and extrema are per image), so a group's call equals the per-image calls.

Ranges (validated, a ValueError otherwise): N in 1..3 and M in 0..30. M's scale is the one of the
paper's magnitude study (0 to 30) and of torchvision's bins; the paper's reported settings use N = 2
(ImageNet) and N = 3 (CIFAR-10). N = 0 is not RandAugment and is refused: the crop-flip (and Cutout)
recipe without it is the baseline, a different augmentation kind. At M = 0 the geometric and enhancement ops are
the identity, posterize keeps all 8 bits, solarize's threshold is 255 (only white pixels are
inverted), and auto-contrast and equalize, which have no magnitude, still apply: torchvision's table.

All random draws come from the caller's CPU `torch.Generator`, in a fixed order, so a seed gives the
same operations, signs, crops and squares on any device (torchvision's ops draw nothing themselves; the
global RNG is untouched). Pixels can still differ between CPU and GPU where a float kernel rounds
differently before the cast back to uint8.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

# torch and torchvision are imported inside the functions: the suite loader validates N and M
# (check_settings) before any work, and imports no torch.

from fhbench.core.errors import DataError
from fhbench.spaces.augment import M_RANGE, N_RANGE  # the ranges space randaugment declares

if TYPE_CHECKING:
    import torch

AUGMENTATIONS = ("none", "crop-flip", "crop-flip-cutout", "randaugment")
CROP_PADDING = 4
_BINS = len(M_RANGE)  # torchvision's num_magnitude_bins

# The operations of the RandAugment paper, in torchvision's order. Reordering changes which operation
# a drawn index names, hence every seeded result.
OPERATIONS = (
    "identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness", "color",
    "contrast", "sharpness", "posterize", "solarize", "autocontrast", "equalize",
)
SIGNED = frozenset({"shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness", "color",
                    "contrast", "sharpness"})


def magnitude(operation: str, m: int, height: int, width: int) -> float | int | None:
    """The unsigned parameter of `operation` at magnitude M, as torchvision's RandAugment computes it
    (float32 bins, as there, so factors match it to the last bit); None for the parameter-free ones."""
    import torch

    _check_m(m)
    m = int(m)
    if operation in ("shear_x", "shear_y"):
        return float(torch.linspace(0.0, 0.3, _BINS)[m])
    if operation == "translate_x":
        return float(torch.linspace(0.0, 150.0 / 331.0 * width, _BINS)[m])
    if operation == "translate_y":
        return float(torch.linspace(0.0, 150.0 / 331.0 * height, _BINS)[m])
    if operation == "rotate":
        return float(torch.linspace(0.0, 30.0, _BINS)[m])
    if operation in ("brightness", "color", "contrast", "sharpness"):
        return float(torch.linspace(0.0, 0.9, _BINS)[m])
    if operation == "posterize":  # bits kept: 8 at M = 0 down to 4 at M = 30
        return int((8 - torch.arange(_BINS) / ((_BINS - 1) / 4)).round().int()[m])
    if operation == "solarize":  # a fraction of the pixel range: 1.0 at M = 0 down to 0.0 at M = 30
        return float(torch.linspace(1.0, 0.0, _BINS)[m])
    if operation in ("identity", "autocontrast", "equalize"):
        return None
    raise ValueError(f"unknown RandAugment operation {operation!r}: expected one of {', '.join(OPERATIONS)}")


def apply_operation(images: torch.Tensor, operation: str, value: float | int | None) -> torch.Tensor:
    """One operation, with its signed parameter `value`, on a uint8 (B, C, H, W) batch: torchvision's
    functional op, called as torchvision's RandAugment calls it."""
    import torchvision.transforms.v2.functional as TF
    from torchvision.transforms import InterpolationMode

    nearest = InterpolationMode.NEAREST
    if operation == "identity":
        return images
    if operation in ("shear_x", "shear_y"):
        # torchvision takes a shear angle; RandAugment's magnitude is the shear factor, tan(angle)
        angle = math.degrees(math.atan(value))
        shear = [angle, 0.0] if operation == "shear_x" else [0.0, angle]
        return TF.affine(images, angle=0.0, translate=[0, 0], scale=1.0, shear=shear,
                         interpolation=nearest, fill=None, center=[0, 0])
    if operation in ("translate_x", "translate_y"):
        shift = [int(value), 0] if operation == "translate_x" else [0, int(value)]  # whole pixels
        return TF.affine(images, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0],
                         interpolation=nearest, fill=None)
    if operation == "rotate":
        return TF.rotate(images, angle=value, interpolation=nearest, fill=None)
    if operation == "brightness":
        return TF.adjust_brightness(images, brightness_factor=1.0 + value)
    if operation == "color":
        return TF.adjust_saturation(images, saturation_factor=1.0 + value)
    if operation == "contrast":
        return TF.adjust_contrast(images, contrast_factor=1.0 + value)
    if operation == "sharpness":
        return TF.adjust_sharpness(images, sharpness_factor=1.0 + value)
    if operation == "posterize":
        return TF.posterize(images, bits=int(value))
    if operation == "solarize":
        return TF.solarize(images, threshold=255.0 * value)
    if operation == "autocontrast":
        return TF.autocontrast(images)
    if operation == "equalize":
        return TF.equalize(images)
    raise ValueError(f"unknown RandAugment operation {operation!r}: expected one of {', '.join(OPERATIONS)}")


def draw_operations(n: int, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, N operation indices into OPERATIONS and N signs (True: negate), each (N, batch), on
    the CPU. Signs are drawn for every slot, signed operation or not, so that the number of draws does
    not depend on the operations drawn."""
    import torch

    _check_n(n)
    operations = torch.randint(len(OPERATIONS), (n, batch), generator=generator)
    negate = torch.rand((n, batch), generator=generator) < 0.5
    return operations, negate


def rand_augment(images: torch.Tensor, n: int, m: int, generator: torch.Generator) -> torch.Tensor:
    """RandAugment with N operations at magnitude M, drawn independently for every image of a uint8
    (B, C, H, W) batch (C = 1 or 3); a new tensor on the images' device, the input unchanged."""
    _check_n(n)
    _check_m(m)
    _check_images(images)
    operations, negate = draw_operations(n, images.shape[0], generator)
    return apply_drawn(images, operations, negate, m)


def apply_drawn(images: torch.Tensor, operations: torch.Tensor, negate: torch.Tensor, m: int) -> torch.Tensor:
    """Applies drawn operations (as `draw_operations` returns them) in order, slot by slot.

    Each slot sorts the batch so that the images of one (operation, sign) group are contiguous, and
    transforms each group with one call on a slice: one gather per slot instead of one per group, and
    no host-device synchronisation here, since the groups are known on the CPU (torchvision's
    autocontrast has one of its own: a masked assignment). The batch stays in sorted
    order between slots; one last gather restores the caller's order.
    """
    import torch

    _check_m(m)
    _check_images(images)
    batch, height, width = images.shape[0], images.shape[2], images.shape[3]
    if operations.shape != negate.shape or operations.dim() != 2 or operations.shape[1] != batch:
        raise ValueError(f"drawn operations {tuple(operations.shape)} and signs {tuple(negate.shape)} "
                         f"must both be (N, {batch}) for a batch of {batch}")
    values = _magnitudes(int(m), height, width)
    signed = torch.tensor([name in SIGNED for name in OPERATIONS])
    # Unsigned operations ignore their sign: keying them as positive keeps each in one group.
    keys = 2 * operations + (negate & signed[operations]).long()

    out = images
    position = torch.arange(batch)  # out[j] holds the caller's image position[j]
    for slot_keys in keys:
        order = torch.argsort(slot_keys[position], stable=True)
        position = position[order]
        out = out[order.to(images.device)]
        counts = torch.bincount(slot_keys, minlength=2 * len(OPERATIONS)).tolist()
        pieces, start = [], 0
        for key, count in enumerate(counts):
            if count:
                name, value = OPERATIONS[key // 2], values[key // 2]
                piece = out[start:start + count]
                pieces.append(apply_operation(piece, name, -value if key % 2 else value))
                start += count
        out = torch.cat(pieces)
    return out[torch.argsort(position).to(images.device)]


@functools.lru_cache(maxsize=None)
def _magnitudes(m: int, height: int, width: int) -> tuple[float | int | None, ...]:
    # Cached: computing the 14 tables costs more than a small batch's operations on the CPU.
    return tuple(magnitude(name, m, height, width) for name in OPERATIONS)


def cutout_side(height: int, width: int) -> int:
    """DeVries & Taylor's 16-pixel square on 32x32 CIFAR, scaled with the smaller image side."""
    return max(1, round(16 * min(height, width) / 32))


def cutout(images: torch.Tensor, generator: torch.Generator, *, fill: int | Sequence[int] = 0) -> torch.Tensor:
    """Cutout: per image, one square of side `cutout_side` set to `fill`, centred at a uniformly drawn
    pixel, so that part of it may fall outside the image (as in DeVries & Taylor).

    Their square is zero after normalisation, i.e. the channel mean: on uint8 images that come before
    `normalize`, pass the train mean in pixels (`round(255 * mean)` per channel) to match it.
    """
    import torch

    _check_images(images, channels=None)
    batch, channels, height, width = images.shape
    fill_values = _check_fill(fill, channels)
    side = cutout_side(height, width)
    centre_y = torch.randint(0, height, (batch,), generator=generator)
    centre_x = torch.randint(0, width, (batch,), generator=generator)
    device = images.device
    top = (centre_y - side // 2).to(device)
    left = (centre_x - side // 2).to(device)
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    inside_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)  # (B, H)
    inside_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)  # (B, W)
    square = (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]  # (B, 1, H, W)
    fill_tensor = torch.tensor(fill_values, dtype=images.dtype, device=device).view(1, -1, 1, 1)
    return torch.where(square, fill_tensor, images)


def augment(images: torch.Tensor, kind: str, generator: torch.Generator,
            padding: int = CROP_PADDING, *, n: int = 0, m: int = 0, cutout_fill=0) -> torch.Tensor:
    """Augment a (N, C, H, W) batch on its own device.

    The random draws come from a CPU generator, so a seed gives the same augmentation on any device.
    `padding` is the crop's zero padding: 4 for 32x32 CIFAR (the usual setting). "randaugment" is
    this module's A.5 recipe (`randaugment_pipeline`) with N = `n`, M = `m` and Cutout filling with `cutout_fill`
    (uint8 pixels: the train mean, so that the square is zero after `normalize`); "crop-flip-cutout" is
    DARTS's recipe (A.4): crop-flip, then the same Cutout.
    """
    if kind == "none":
        return images
    if kind == "randaugment":
        return randaugment_pipeline(images, n, m, generator, padding=padding, cutout_fill=cutout_fill)
    if kind == "crop-flip-cutout":
        return cutout(augment(images, "crop-flip", generator, padding), generator, fill=cutout_fill)
    if kind != "crop-flip":
        raise DataError(f"unknown augmentation {kind!r}: expected one of {', '.join(AUGMENTATIONS)}")
    import torch
    import torch.nn.functional as F

    n, c, h, w = images.shape
    span = 2 * padding + 1
    top = torch.randint(0, span, (n,), generator=generator).to(images.device)
    left = torch.randint(0, span, (n,), generator=generator).to(images.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)

    padded = F.pad(images, (padding,) * 4)
    rows = top[:, None] + torch.arange(h, device=images.device)
    cols = left[:, None] + torch.arange(w, device=images.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    rows_index = rows.view(n, 1, h, 1).expand(n, c, h, padded.shape[3])
    cropped_rows = padded.gather(2, rows_index)
    return cropped_rows.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def randaugment_pipeline(images: torch.Tensor, n: int, m: int, generator: torch.Generator, *,
                         padding: int, cutout_fill: int | Sequence[int] = 0) -> torch.Tensor:
    """The A.5 training augmentation of a uint8 batch: RandAugment(N, M), then pad-and-crop and flip
    (`augment`'s crop-flip with `padding`), then Cutout."""
    _check_n(n)
    _check_m(m)
    _check_images(images)
    augmented = augment(rand_augment(images, n, m, generator), "crop-flip", generator, padding)
    return cutout(augmented, generator, fill=cutout_fill)


def check_settings(n: object, m: object) -> None:
    """ValueError unless N and M are in range; imports no torch, for the suite loader."""
    _check_n(n)
    _check_m(m)


def _check_n(n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) not in N_RANGE:
        raise ValueError(f"RandAugment N must be an integer in {N_RANGE.start}..{N_RANGE.stop - 1}, got {n!r}")


def _check_m(m: object) -> None:
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or int(m) not in M_RANGE:
        raise ValueError(f"RandAugment M must be an integer in {M_RANGE.start}..{M_RANGE.stop - 1}, got {m!r}")


def _check_images(images: object, channels: tuple[int, ...] | None = (1, 3)) -> None:
    import torch

    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        what = (f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor)
                else type(images).__name__)
        raise ValueError(f"expected uint8 images of shape (B, C, H, W), got {what}")
    if channels is not None and images.shape[1] not in channels:
        raise ValueError(f"RandAugment needs 1 or 3 channels (its colour operations are defined for "
                         f"grey and RGB), got {images.shape[1]}")


def _check_fill(fill: object, channels: int) -> tuple[int, ...]:
    values = (fill,) if isinstance(fill, numbers.Integral) else tuple(fill) if isinstance(fill, Sequence) else None
    ok = (values is not None and len(values) in (1, channels)
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= v <= 255 for v in values))
    if not ok:
        raise ValueError(f"Cutout fill must be a pixel value in 0..255 or one per channel ({channels}), got {fill!r}")
    return tuple(int(v) for v in values) * (channels if len(values) == 1 else 1)
