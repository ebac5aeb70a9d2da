"""Datasets held in memory as uint8 tensors, so training can run on a GPU without a DataLoader.

Every split is chosen by a seeded permutation, so a (dataset, sizes, split_seed) triple names the
same images on every machine; only the images selected are decoded.

CIFAR-10 and CIFAR-100 are read from the copies torchvision keeps (``cifar-10-batches-py``,
``cifar-100-python``: the CIFAR authors' python pickles) by a reader of that format here, not through
torchvision's dataset classes: those accept only files whose md5 matches the official release, which
rules out the small synthetic copies the tests write. This reader checks the structure instead (keys,
shapes, label ranges). A download (``--download``) still goes through torchvision, which verifies the
md5s of what it fetched.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fhbench.core.errors import DataError

DATASETS = ("digits", "cifar10", "cifar100", "cifar10-jpeg")

_TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
# The pickle files of each copy, and the keys of their labels and class names (the CIFAR page's format).
_PICKLE_FILES = {
    "cifar10": {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",),
                "meta": "batches.meta", "labels": "labels", "names": "label_names"},
    "cifar100": {"train": ("train",), "test": ("test",), "meta": "meta", "labels": "fine_labels",
                 "names": "fine_label_names"},
}
_CIFAR_SIDE = 32
_JPEG_FOLDER = "cifar10-jpeg"
_JPEG_KEYS = ("jpeg", "offsets", "labels", "classes")


@dataclass(frozen=True)
class ImageSet:
    """Images and their labels; uint8 keeps 50,000 CIFAR images at 150 MB, a quarter of float32."""

    images: torch.Tensor  # uint8, (N, C, H, W)
    labels: torch.Tensor  # int64, (N,)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must be int64 ({self.images.shape[0]},), got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return self.labels.shape[0]


@dataclass(frozen=True)
class Splits:
    """The three splits of one dataset, with the train statistics that normalisation needs."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    num_classes: int
    source: str  # which copy was read: results must say "cifar10-jpeg" when the pixels came from it
    mean: tuple[float, ...]  # per channel, train split, pixel scale [0, 1]
    std: tuple[float, ...]


def resolve_data_dir(flag: str | os.PathLike | None) -> Path | None:
    """The --data-dir flag, else the FHBENCH_DATA variable, else None (only digits needs no files)."""
    value = flag if flag not in (None, "") else os.environ.get("FHBENCH_DATA") or None
    return None if value is None else Path(value).expanduser()


def load_splits(
    dataset: str,
    data_dir: Path | None,
    train_size: int,
    val_size: int,
    test_size: int | None,
    split_seed: int,
    download: bool = False,
    strict: bool = False,
) -> Splits:
    """Train and val from a seeded permutation of the training images, test from the test images.

    digits has no official test split, so its test set is the next part of the same permutation.
    "cifar10" reads torchvision's copy of the official release where the folder has it, else the
    cifar10-jpeg copy (`Splits.source` says which); with `strict` it reads the official copy or fails.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}: expected one of {', '.join(DATASETS)}")
    _check_sizes(dataset, train_size, val_size, test_size)
    if dataset == "digits":
        return _digits(train_size, val_size, test_size, split_seed)
    if data_dir is None:
        raise DataError(f"{dataset}: no data directory given: pass --data-dir or set FHBENCH_DATA")
    data_dir = Path(data_dir)
    if dataset == "cifar10-jpeg":
        return _cifar10_jpeg(data_dir / _JPEG_FOLDER, train_size, val_size, test_size, split_seed)
    has_torchvision_copy = (data_dir / _TORCHVISION_FOLDERS[dataset]).is_dir()
    if dataset == "cifar10" and not has_torchvision_copy and not download and (data_dir / _JPEG_FOLDER).is_dir():
        if strict:
            raise DataError(f"cifar10: --strict: {data_dir} holds only the cifar10-jpeg copy, not the official release "
                            f"({data_dir / _TORCHVISION_FOLDERS[dataset]}); name the copy in the suite "
                            f"(data.dataset = \"cifar10-jpeg\") or give the official one")
        return _cifar10_jpeg(data_dir / _JPEG_FOLDER, train_size, val_size, test_size, split_seed)
    if not has_torchvision_copy and not download:
        also = f" or {data_dir / _JPEG_FOLDER}" if dataset == "cifar10" else ""
        raise DataError(
            f"{dataset}: no torchvision copy at {data_dir / _TORCHVISION_FOLDERS[dataset]}{also}: "
            "point --data-dir at a folder holding it, or allow the download"
        )
    return _torchvision_cifar(dataset, data_dir, train_size, val_size, test_size, split_seed, download)


def normalize(images_uint8: torch.Tensor, mean, std) -> torch.Tensor:
    """Float32 on the images' device, so uint8 batches can be moved first and converted there."""
    if images_uint8.dtype != torch.uint8:
        raise ValueError(f"normalize expects uint8 images, got {images_uint8.dtype}")
    shape = (-1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images_uint8.device).view(shape)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images_uint8.device).view(shape)
    return (images_uint8.float().div_(255.0) - mean_t) / std_t


def _check_sizes(dataset: str, train_size: int, val_size: int, test_size: int | None) -> None:
    for name, size in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
        if size is not None and size < 1:
            raise DataError(f"{dataset}: {name} must be at least 1, got {size}")


def _split_indices(dataset: str, where: str, available: int, train_size: int, val_size: int, seed: int):
    """The first train_size and next val_size entries of a seeded permutation of range(available)."""
    if train_size + val_size > available:
        raise DataError(
            f"{dataset}: train_size + val_size = {train_size + val_size} exceeds the "
            f"{available} training images in {where}"
        )
    order = torch.randperm(available, generator=torch.Generator().manual_seed(int(seed)))
    return order[:train_size], order[train_size : train_size + val_size], order[train_size + val_size :]


def _test_count(dataset: str, where: str, available: int, test_size: int | None) -> int:
    if test_size is None:
        return available
    if test_size > available:
        raise DataError(f"{dataset}: test_size {test_size} exceeds the {available} test images in {where}")
    return test_size


def _digits(train_size: int, val_size: int, test_size: int | None, seed: int) -> Splits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    where = "scikit-learn's load_digits"
    train_idx, val_idx, rest = _split_indices("digits", where, len(labels), train_size, val_size, seed)
    if not len(rest):
        raise DataError(
            f"digits: train_size + val_size = {train_size + val_size} leaves no test images "
            f"of the {len(labels)} in {where}"
        )
    test_idx = rest[: _test_count("digits", f"{where} after train and val", len(rest), test_size)]
    parts = [ImageSet(images[i].contiguous(), labels[i].contiguous()) for i in (train_idx, val_idx, test_idx)]
    return _splits(*parts, num_classes=10, source="sklearn-digits")


def _torchvision_cifar(dataset, data_dir, train_size, val_size, test_size, seed, download) -> Splits:
    if download:  # torchvision fetches the release and checks its md5s, or finds it already there
        import torchvision

        cls = torchvision.datasets.CIFAR10 if dataset == "cifar10" else torchvision.datasets.CIFAR100
        try:
            cls(root=str(data_dir), train=True, download=True)
        except (RuntimeError, OSError) as err:
            reason = _first_line(err)
            raise DataError(f"{dataset}: cannot download torchvision's copy into {data_dir}: {reason}") from err
    folder = data_dir / _TORCHVISION_FOLDERS[dataset]
    names = pickled_class_names(dataset, folder)
    train_images, train_labels = pickled_split(dataset, folder, "train", len(names))
    test_images, test_labels = pickled_split(dataset, folder, "test", len(names))
    where = str(folder)
    train_idx, val_idx, _ = _split_indices(dataset, where, len(train_labels), train_size, val_size, seed)
    test_idx = torch.arange(_test_count(dataset, where, len(test_labels), test_size))

    def as_set(images: np.ndarray, labels: np.ndarray, index: torch.Tensor) -> ImageSet:
        picked = index.numpy()
        return ImageSet(torch.from_numpy(images[picked]), torch.from_numpy(labels[picked]))

    return _splits(
        as_set(train_images, train_labels, train_idx),
        as_set(train_images, train_labels, val_idx),
        as_set(test_images, test_labels, test_idx),
        num_classes=len(names),
        source=f"torchvision-{dataset}",
    )


class _CifarUnpickler(pickle.Unpickler):
    """The CIFAR pickles hold dicts, lists, strings and numpy arrays: nothing else may be loaded, so a
    foreign file in the data folder cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of the CIFAR format")
        return super().find_class(module, name)


def _read_pickle(dataset: str, path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{dataset}: missing file {path}: expected torchvision's copy of the CIFAR release")
    try:
        with path.open("rb") as file:
            entry = _CifarUnpickler(file, encoding="latin1").load()  # the release was pickled by Python 2
    except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError) as err:
        raise DataError(f"{dataset}: cannot read {path} as a CIFAR pickle: {_first_line(err)}") from err
    if not isinstance(entry, dict):
        raise DataError(f"{dataset}: {path} holds a {type(entry).__name__}: expected a dict of arrays")
    return entry


def pickled_class_names(dataset: str, folder: Path) -> list:
    """The class names in a CIFAR release folder's meta file (CIFAR-10's label_names, CIFAR-100's
    fine_label_names); public for `fhbench.inputs.cifar10_jpeg`, which rebuilds the JPEG copy."""
    files = _PICKLE_FILES[dataset]
    path = folder / files["meta"]
    names = _read_pickle(dataset, path).get(files["names"])
    if not isinstance(names, list) or not names:
        raise DataError(f"{dataset}: {path} key {files['names']!r} is invalid: "
                        "expected a non-empty list of class names")
    return names


def pickled_split(dataset: str, folder: Path, split: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One split's images as uint8 (N, 3, 32, 32) (the pickles store each image channel by channel,
    row by row) and its labels as int64, in file order."""
    files = _PICKLE_FILES[dataset]
    pixels = 3 * _CIFAR_SIDE * _CIFAR_SIDE
    images, labels = [], []
    for name in files[split]:
        path = folder / name
        entry = _read_pickle(dataset, path)
        data, targets = entry.get("data"), entry.get(files["labels"])
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
            raise DataError(f"{dataset}: {path} key 'data' is invalid: expected a uint8 array of shape (N, {pixels})")
        if not isinstance(targets, (list, np.ndarray)) or len(targets) != len(data):
            raise DataError(f"{dataset}: {path} key {files['labels']!r} is invalid: "
                            f"expected {len(data)} labels, one per image")
        targets = np.asarray(targets)
        if len(targets) and (targets.dtype.kind not in "iu" or targets.min() < 0 or targets.max() >= num_classes):
            raise DataError(f"{dataset}: {path} key {files['labels']!r} is invalid: "
                            f"expected class indices in 0..{num_classes - 1}")
        images.append(data.reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE))
        labels.append(targets.astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _cifar10_jpeg(folder: Path, train_size, val_size, test_size, seed) -> Splits:
    train_path, test_path = folder / "train.npz", folder / "test.npz"
    train_file = _JpegFile.open(train_path)
    available = len(train_file.labels)
    train_idx, val_idx, _ = _split_indices("cifar10-jpeg", str(train_path), available, train_size, val_size, seed)
    test_file = _JpegFile.open(test_path)
    test_idx = torch.arange(_test_count("cifar10-jpeg", str(test_path), len(test_file.labels), test_size))
    return _splits(
        train_file.select(train_idx),
        train_file.select(val_idx),
        test_file.select(test_idx),
        num_classes=len(train_file.classes),
        source="cifar10-jpeg",
    )


@dataclass(frozen=True)
class _JpegFile:
    """One cifar10-jpeg npz, checked once so that decoding can trust its offsets and labels."""

    path: Path
    jpeg: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    classes: np.ndarray

    @classmethod
    def open(cls, path: Path) -> _JpegFile:
        if not path.is_file():
            raise DataError(f"cifar10-jpeg: missing file {path}: expected the npz described in the data README")
        try:
            loaded = np.load(path, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy array under an .npz name
                raise DataError(f"cifar10-jpeg: {path} is a single numpy array, not an npz of arrays: expected "
                                f"keys {', '.join(_JPEG_KEYS)}")
            with loaded as npz:
                missing = [key for key in _JPEG_KEYS if key not in npz.files]
                if missing:
                    expected = ", ".join(_JPEG_KEYS)
                    raise DataError(f"cifar10-jpeg: {path} lacks key {missing[0]!r}: expected keys {expected}")
                arrays = {key: npz[key] for key in _JPEG_KEYS}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # truncated or foreign files
            raise DataError(f"cifar10-jpeg: cannot read {path} as an npz: {_first_line(err)}") from err
        file = cls(path, **arrays)
        file._check()
        return file

    def _check(self) -> None:
        def bad(key: str, expected: str) -> DataError:
            return DataError(f"cifar10-jpeg: {self.path} key {key!r} is invalid: expected {expected}")

        if self.jpeg.dtype != np.uint8 or self.jpeg.ndim != 1:
            raise bad("jpeg", "a 1-D uint8 array")
        if self.classes.ndim != 1 or len(self.classes) < 1:
            raise bad("classes", "a non-empty 1-D array of class names")
        if self.labels.ndim != 1 or self.labels.dtype.kind not in "iu":
            raise bad("labels", "a 1-D integer array")
        n = len(self.labels)
        if self.offsets.dtype.kind not in "iu" or self.offsets.shape != (n + 1,):
            raise bad("offsets", f"integers, len(labels) + 1 = {n + 1} of them, not shape {self.offsets.shape}")
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.jpeg) or np.any(np.diff(self.offsets) <= 0):
            raise bad("offsets", f"increasing from 0 to len(jpeg) = {len(self.jpeg)}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise bad("labels", f"class indices in 0..{len(self.classes) - 1}")

    def select(self, index: torch.Tensor) -> ImageSet:
        from PIL import Image

        decoded = []
        for i in index.tolist():
            start, end = int(self.offsets[i]), int(self.offsets[i + 1])
            try:
                with Image.open(io.BytesIO(self.jpeg[start:end].tobytes())) as image:
                    pixels = np.asarray(image.convert("RGB"))
            except (OSError, ValueError, SyntaxError) as err:
                reason = _first_line(err)
                raise DataError(f"cifar10-jpeg: {self.path} image {i} does not decode as a JPEG: {reason}") from err
            if decoded and pixels.shape != decoded[0].shape:
                raise DataError(
                    f"cifar10-jpeg: {self.path} image {i} is {pixels.shape[1]}x{pixels.shape[0]}: "
                    f"expected {decoded[0].shape[1]}x{decoded[0].shape[0]} like the others"
                )
            decoded.append(pixels)
        images = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).contiguous()
        labels = torch.from_numpy(self.labels[index.numpy()].astype(np.int64))
        return ImageSet(images, labels)


def downsample(splits: Splits, size: int) -> Splits:
    """Area-averages every image to size x size (as NAS-Bench-201's ImageNet16 does for ImageNet):
    a documented reduction that makes CIFAR suites affordable on a CPU."""
    height, width = splits.train.images.shape[2:]
    if size < 4 or height % size or width % size:
        raise DataError(f"data.resize: expected a size >= 4 that divides the image size {height}x{width}, got {size}")

    def shrink(images: ImageSet) -> ImageSet:
        small = F.interpolate(images.images.float(), size=(size, size), mode="area").round().to(torch.uint8)
        return ImageSet(small, images.labels)

    return _splits(shrink(splits.train), shrink(splits.val), shrink(splits.test), splits.num_classes,
                   f"{splits.source} (area-downsampled to {size}x{size})")


def _splits(train: ImageSet, val: ImageSet, test: ImageSet, num_classes: int, source: str) -> Splits:
    mean, std = _channel_stats(train.images)
    return Splits(train, val, test, num_classes=num_classes, source=source, mean=mean, std=std)


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std from 256-bin histograms: no float copy of the whole train set."""
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).double()
        total = counts.sum()
        mean = (counts * values).sum() / total
        var = (counts * (values - mean) ** 2).sum() / total
        means.append(float(mean))
        stds.append(float(var.sqrt()))
    return tuple(means), tuple(stds)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
