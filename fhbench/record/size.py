"""What a suite's recording will take before it starts: the disk its traces need (exact for the trace
format: every kept epoch's training and validation features at `record.precision`, plus per-epoch
classifiers and curves) and the training it asks for, so that a run that cannot fit, or a full-scale
suite started on a CPU, is said before any training."""

from __future__ import annotations

from collections.abc import Sequence

BYTES_PER_VALUE = {"float16": 2, "float32": 4}
FILE_OVERHEAD = 2048  # bytes a trace file takes beyond its arrays (zip and npy headers; the manifest's text)
FULL_SCALE_IMAGE_EPOCHS = 200_000_000
"""Training image-epochs from which a suite is full scale (the thesis's NB201 suite asks 2.4 billion;
nb201-cpu 12 million, an hour on 2 CPU cores): meant for GPUs."""


def trial_bytes(suite, epochs: int, feature_dim: int) -> int:
    """One trace trained to `epochs` with features of width `feature_dim`."""
    data = suite.data
    classes = 10 if data.dataset in ("cifar10", "cifar10-jpeg", "digits") else 100
    kept = len([e for e in suite.kept_epochs() if e <= epochs])
    train = suite.record.kept_train_images(data.train_size)
    features = kept * (train + data.val_size) * feature_dim
    labels = 8 * (2 * train + data.val_size) if epochs else 0  # int64 train labels, indices, val labels; proxy-only: none
    files = FILE_OVERHEAD * (kept + 7)  # the npz files' own headers, and the manifest
    return (features * BYTES_PER_VALUE[suite.record.precision] + epochs * ((feature_dim + 1) * classes * 4 + 16 * 8)
            + labels + files)


def planned_bytes(suite, space, trials: Sequence) -> int:
    """The traces of `trials` (planned trials of an estimation or pool suite)."""
    return sum(trial_bytes(suite, trial.epochs(suite), space.feature_dim_of(space.parse(trial.config)))
               for trial in trials)


def image_epochs(suite, trials: Sequence) -> int:
    return sum(trial.epochs(suite) for trial in trials) * suite.data.train_size


def gigabytes(size: int) -> str:
    if size >= 1e8:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


__all__ = ["FULL_SCALE_IMAGE_EPOCHS", "gigabytes", "image_epochs", "planned_bytes", "trial_bytes"]
