"""Tests for fhbench.inputs.data: splits, errors, normalisation and augmentation.

Most run offline on scikit-learn's digits, on small fake cifar10-jpeg files or on small synthetic
copies of torchvision's CIFAR-10/100 folders; the real CIFAR-10 tests need FHBENCH_DATA pointing at
../shared/data.
"""

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fhbench.inputs.data import (
    DATASETS,
    ImageSet,
    Splits,
    load_splits,
    normalize,
    resolve_data_dir,
)
from fhbench.core.errors import DataError
from fhbench.inputs.augment import augment


def _digits(seed=0, train=1000, val=300, test=None):
    return load_splits("digits", None, train, val, test, split_seed=seed)


def _rows(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


def _write_fake_jpeg(folder: Path, n_train=12, n_test=6, **overrides) -> None:
    """A tiny cifar10-jpeg copy: solid-colour 32x32 JPEGs whose colour encodes the label."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        blobs, labels = [], []
        for i in range(n):
            buffer = io.BytesIO()
            Image.new("RGB", (32, 32), (25 * (i % 10), 0, 0)).save(buffer, format="JPEG")
            blobs.append(np.frombuffer(buffer.getvalue(), dtype=np.uint8))
            labels.append(i % 10)
        arrays = {
            "jpeg": np.concatenate(blobs),
            "offsets": np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64),
            "labels": np.array(labels, dtype=np.int64),
            "classes": np.array([f"class{k}" for k in range(10)]),
        }
        arrays.update(overrides.get(name, {}))
        np.savez(folder / f"{name}.npz", **arrays)


def test_digits_sizes_dtypes_and_stats():
    splits = _digits()
    assert isinstance(splits, Splits)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1000, 300, 497)
    assert splits.source == "sklearn-digits" and splits.num_classes == 10
    for part in (splits.train, splits.val, splits.test):
        assert part.images.dtype == torch.uint8 and part.images.shape[1:] == (1, 8, 8)
        assert part.labels.dtype == torch.int64
        assert int(part.labels.min()) >= 0 and int(part.labels.max()) <= 9
    assert int(splits.train.images.max()) == 255
    assert len(splits.mean) == len(splits.std) == 1
    expected = splits.train.images.double().div(255)
    assert splits.mean[0] == pytest.approx(float(expected.mean()))
    assert splits.std[0] == pytest.approx(float(expected.std(unbiased=False)))


def test_digits_splits_partition_all_images():
    splits = _digits()
    images = torch.cat([splits.train.images, splits.val.images, splits.test.images])
    from sklearn.datasets import load_digits

    original = torch.from_numpy(np.rint(load_digits().images * 255 / 16).astype(np.uint8))
    # Digits holds duplicate images: equal sorted contents show each image is used exactly once.
    assert len(images) == len(original)
    assert sorted(image.numpy().tobytes() for image in images.squeeze(1)) == sorted(
        image.numpy().tobytes() for image in original
    )


def test_digits_test_size_takes_a_prefix_of_the_rest():
    full, short = _digits(), _digits(test=50)
    assert len(short.test) == 50
    assert torch.equal(short.test.images, full.test.images[:50])


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = _digits(seed=3), _digits(seed=3), _digits(seed=4)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert a.mean == b.mean
    assert not torch.equal(a.train.images, c.train.images)


@pytest.mark.parametrize(
    "args, needle",
    [
        (("imagenet", None, 10, 10, None), "imagenet"),
        (("digits", None, 1500, 297, None), "1797"),
        (("digits", None, 1000, 300, 600), "600"),
        (("digits", None, 0, 10, None), "train_size"),
        (("digits", None, 10, 10, 0), "test_size"),
        (("cifar10", None, 10, 10, None), "FHBENCH_DATA"),
        (("cifar10-jpeg", None, 10, 10, None), "--data-dir"),
    ],
)
def test_bad_requests_raise_data_error(args, needle):
    with pytest.raises(DataError, match=needle):
        load_splits(*args, split_seed=0)


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(DataError) as info:
        load_splits("mnist", None, 10, 10, None, split_seed=0)
    assert all(name in str(info.value) for name in DATASETS)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "cifar10-jpeg"])
def test_missing_files_name_the_path(tmp_path, dataset):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load_splits(dataset, missing, 10, 10, None, split_seed=0)
    message = str(info.value)
    assert str(missing) in message and dataset in message and "\n" not in message


def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FHBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("FHBENCH_DATA")
    assert resolve_data_dir(None) is None


def test_normalize_matches_stats():
    splits = _digits()
    out = normalize(splits.train.images, splits.mean, splits.std)
    assert out.dtype == torch.float32 and out.shape == splits.train.images.shape
    assert float(out.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(out.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)


def _all_crop_flips(image: torch.Tensor, pad: int = 4) -> list[torch.Tensor]:
    """Every output crop-flip may give for one image, built the slow, obvious way."""
    _, h, w = image.shape
    padded = torch.zeros(image.shape[0], h + 2 * pad, w + 2 * pad, dtype=image.dtype)
    padded[:, pad : pad + h, pad : pad + w] = image
    crops = [padded[:, y : y + h, x : x + w] for y in range(2 * pad + 1) for x in range(2 * pad + 1)]
    return crops + [crop.flip(-1) for crop in crops]


def test_augment_none_and_unknown():
    images = torch.rand(4, 3, 8, 8)
    assert augment(images, "none", torch.Generator().manual_seed(0)) is images
    with pytest.raises(DataError, match="cutout"):
        augment(images, "cutout", torch.Generator().manual_seed(0))


def test_crop_flip_is_a_crop_flip_of_each_input():
    images = torch.rand(32, 3, 8, 8) + 1.0  # never zero, so padding is distinguishable
    out = augment(images, "crop-flip", torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == images.dtype
    for source, result in zip(images, out):
        assert any(torch.equal(result, candidate) for candidate in _all_crop_flips(source))
    changed = [not torch.equal(a, b) for a, b in zip(images, out)]
    assert sum(changed) > len(images) // 2
    assert bool((out == 0).any())  # shifted crops bring in zero padding


def test_crop_flip_flips_about_half():
    images = torch.arange(8.0).expand(2000, 1, 8, 8) + 1.0  # rows are 1..8, left to right
    out = augment(images, "crop-flip", torch.Generator().manual_seed(1))
    middle = out[:, 0, 4]  # a row the vertical shift never zeroes entirely
    nonzero = middle[middle.ne(0).sum(1) > 1]
    first, last = [], []
    for row in nonzero:
        values = row[row.ne(0)]
        first.append(values[0])
        last.append(values[-1])
    flipped = (torch.stack(first) > torch.stack(last)).float().mean()
    assert 0.45 < float(flipped) < 0.55


def test_crop_flip_is_deterministic_per_generator():
    images = torch.rand(16, 3, 8, 8)
    a = augment(images, "crop-flip", torch.Generator().manual_seed(7))
    b = augment(images, "crop-flip", torch.Generator().manual_seed(7))
    c = augment(images, "crop-flip", torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_crop_flip_same_on_gpu():
    images = torch.rand(16, 3, 32, 32)
    cpu = augment(images, "crop-flip", torch.Generator().manual_seed(2))
    gpu = augment(images.cuda(), "crop-flip", torch.Generator().manual_seed(2))
    assert gpu.is_cuda and torch.equal(gpu.cpu(), cpu)


def test_fake_jpeg_copy_and_cifar10_fallback(tmp_path):
    _write_fake_jpeg(tmp_path / "cifar10-jpeg")
    for dataset in ("cifar10-jpeg", "cifar10"):
        splits = load_splits(dataset, tmp_path, 5, 4, 3, split_seed=0)
        assert splits.source == "cifar10-jpeg" and splits.num_classes == 10
        assert splits.train.images.shape == (5, 3, 32, 32)
        assert torch.equal(splits.test.labels, torch.tensor([0, 1, 2]))
        reds = splits.train.images[:, 0, 16, 16].double()
        assert torch.allclose(reds, splits.train.labels.double() * 25, atol=3)
    with pytest.raises(DataError, match="12 training images"):
        load_splits("cifar10-jpeg", tmp_path, 10, 3, None, split_seed=0)


@pytest.mark.parametrize(
    "override, needle",
    [
        ({"offsets": np.array([0, 5, 3], dtype=np.int64)}, "offsets"),
        ({"labels": np.array([0, 1, 2], dtype=np.int64)}, "offsets"),
        ({"labels": np.array([0, 1, 99, 3, 4, 5, 6, 7, 8, 9, 0, 1], dtype=np.int64)}, "labels"),
    ],
)
def test_corrupt_npz_names_file_and_key(tmp_path, override, needle):
    _write_fake_jpeg(tmp_path / "cifar10-jpeg", train=override)
    with pytest.raises(DataError) as info:
        load_splits("cifar10-jpeg", tmp_path, 5, 4, None, split_seed=0)
    message = str(info.value)
    assert str(tmp_path / "cifar10-jpeg" / "train.npz") in message and needle in message


def test_npz_missing_key(tmp_path):
    folder = tmp_path / "cifar10-jpeg"
    _write_fake_jpeg(folder)
    np.savez(folder / "test.npz", jpeg=np.zeros(3, np.uint8), labels=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="'offsets'") as info:
        load_splits("cifar10-jpeg", tmp_path, 5, 4, None, split_seed=0)
    assert str(folder / "test.npz") in str(info.value)


def test_undecodable_jpeg_names_image(tmp_path):
    folder = tmp_path / "cifar10-jpeg"
    garbage = np.arange(20, dtype=np.uint8)
    _write_fake_jpeg(folder, n_test=2, test={"jpeg": garbage, "offsets": np.array([0, 10, 20])})
    with pytest.raises(DataError, match="image 0") as info:
        load_splits("cifar10-jpeg", tmp_path, 5, 4, 1, split_seed=0)
    assert str(folder / "test.npz") in str(info.value)


def _real_data_dir() -> Path:
    if not os.environ.get("FHBENCH_DATA"):
        pytest.skip("FHBENCH_DATA not set: real CIFAR-10 tests need ../shared/data")
    return resolve_data_dir(None)


def test_real_cifar10_jpeg():
    data_dir = _real_data_dir()
    a = load_splits("cifar10-jpeg", data_dir, 500, 200, 300, split_seed=0)
    assert a.source == "cifar10-jpeg" and a.num_classes == 10
    for part, n in ((a.train, 500), (a.val, 200), (a.test, 300)):
        assert part.images.shape == (n, 3, 32, 32) and part.images.dtype == torch.uint8
        assert int(part.labels.min()) >= 0 and int(part.labels.max()) <= 9
    assert len(a.mean) == len(a.std) == 3
    assert all(0.3 < m < 0.6 for m in a.mean) and all(0.15 < s < 0.35 for s in a.std)
    assert not (_rows(a.train.images) & _rows(a.val.images))
    b = load_splits("cifar10-jpeg", data_dir, 500, 200, 300, split_seed=0)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert torch.equal(a.test.images, b.test.images)
    c = load_splits("cifar10-jpeg", data_dir, 500, 200, 300, split_seed=1)
    assert not torch.equal(a.train.images, c.train.images)
    assert torch.equal(a.test.images, c.test.images)


def test_image_set_rejects_wrong_dtype():
    with pytest.raises(ValueError):
        ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64))


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated zip", b"not an npz at all", b""])
def test_truncated_or_foreign_npz_is_a_data_error(tmp_path, content):
    folder = tmp_path / "cifar10-jpeg"
    _write_fake_jpeg(folder)
    (folder / "train.npz").write_bytes(content)
    with pytest.raises(DataError, match="train.npz"):
        load_splits("cifar10-jpeg", tmp_path, 5, 4, None, split_seed=0)


def test_downsample_averages_each_block_and_keeps_labels():
    from fhbench.inputs.data import downsample

    splits = _digits(train=20, val=10, test=5)
    small = downsample(splits, 4)
    assert small.train.images.shape == (20, 1, 4, 4) and small.train.images.dtype == torch.uint8
    assert torch.equal(small.train.labels, splits.train.labels) and torch.equal(small.test.labels, splits.test.labels)
    blocks = splits.train.images.double().reshape(20, 1, 4, 2, 4, 2).mean(dim=(3, 5))
    assert torch.equal(small.train.images, blocks.round().to(torch.uint8))  # area mean of each 2x2 block
    assert "area-downsampled to 4x4" in small.source
    expected_mean = small.train.images.double().mean().item() / 255
    assert small.mean[0] == pytest.approx(expected_mean, abs=1e-12)  # recomputed on the smaller images
    with pytest.raises(DataError, match="divides the image size 8x8"):
        downsample(splits, 3)


# CIFAR-100 (and CIFAR-10) in torchvision's on-disk copy: the CIFAR release's python pickles. No real
# copy exists on these machines, so the tests write small synthetic ones in the same format.

_CIFAR_LAYOUT = {
    "cifar100": ("cifar-100-python", {"train": ["train"], "test": ["test"]}, "meta", "fine_labels",
                 "fine_label_names", 100),
    "cifar10": ("cifar-10-batches-py", {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                "batches.meta", "labels", "label_names", 10),
}


def _fake_cifar_image_data(n: int, offset: int) -> np.ndarray:
    """Rows of 3072 bytes, channel by channel then row by row: red holds the image's index (mod 256),
    green its index // 256, and blue its row number, so layout and order can be checked."""
    data = np.zeros((n, 3, 32, 32), dtype=np.uint8)
    index = np.arange(offset, offset + n)
    data[:, 0] = (index % 256)[:, None, None]
    data[:, 1] = (index // 256)[:, None, None]
    data[:, 2] = np.arange(32, dtype=np.uint8)[None, :, None]
    return data.reshape(n, 3072)


def _write_fake_cifar(data_dir: Path, dataset: str = "cifar100", n_train: int = 300, n_test: int = 60,
                      **overrides) -> Path:
    import pickle

    folder_name, files, meta_name, label_key, names_key, classes = _CIFAR_LAYOUT[dataset]
    folder = data_dir / folder_name
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        per_file = n // len(files[split])
        for k, name in enumerate(files[split]):
            offset = k * per_file
            entry = {"data": _fake_cifar_image_data(per_file, offset),
                     label_key: [(3 * i) % classes for i in range(offset, offset + per_file)],
                     "filenames": [f"img_{i}.png" for i in range(per_file)], "batch_label": name}
            if dataset == "cifar100":
                entry["coarse_labels"] = [label // 5 for label in entry[label_key]]
            entry.update(overrides.get(name, {}))
            (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {names_key: [f"class_{k}" for k in range(classes)]}
    if dataset == "cifar100":
        meta["coarse_label_names"] = [f"super_{k}" for k in range(20)]
    (folder / meta_name).write_bytes(pickle.dumps(overrides.get("meta", meta), protocol=2))
    return folder


def _indices(images: torch.Tensor) -> np.ndarray:
    """The index each fake image was written with."""
    return images[:, 0, 0, 0].long().numpy() + 256 * images[:, 1, 0, 0].long().numpy()


@pytest.mark.parametrize("dataset, classes", [("cifar100", 100), ("cifar10", 10)])
def test_synthetic_torchvision_copy_loads_with_a_seeded_split(tmp_path, dataset, classes):
    _write_fake_cifar(tmp_path, dataset)
    splits = load_splits(dataset, tmp_path, 200, 50, 40, split_seed=3)
    assert splits.num_classes == classes and splits.source == f"torchvision-{dataset}"
    for part, n in ((splits.train, 200), (splits.val, 50), (splits.test, 40)):
        assert part.images.shape == (n, 3, 32, 32) and part.images.dtype == torch.uint8
        assert torch.equal(part.images[:, 2, :, 5], torch.arange(32, dtype=torch.uint8).expand(n, 32))  # rows
        assert torch.equal(part.labels, torch.from_numpy((3 * _indices(part.images)) % classes))
    order = torch.randperm(300, generator=torch.Generator().manual_seed(3)).numpy()
    np.testing.assert_array_equal(_indices(splits.train.images), order[:200])
    np.testing.assert_array_equal(_indices(splits.val.images), order[200:250])
    np.testing.assert_array_equal(_indices(splits.test.images), np.arange(40))  # a prefix of the test files
    again, other = (load_splits(dataset, tmp_path, 200, 50, 40, split_seed=s) for s in (3, 4))
    assert torch.equal(again.train.images, splits.train.images) and torch.equal(again.val.labels, splits.val.labels)
    assert not torch.equal(other.train.images, splits.train.images)


def test_reader_agrees_with_torchvisions_loader(tmp_path, monkeypatch):
    """torchvision reads the same pixels and labels once its md5 check (which only the official
    release passes) is bypassed."""
    import torchvision

    _write_fake_cifar(tmp_path, "cifar100")
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: True)
    theirs = torchvision.datasets.CIFAR100(root=str(tmp_path), train=True)
    ours = load_splits("cifar100", tmp_path, 250, 50, None, split_seed=0)
    index = _indices(ours.train.images)
    assert torch.equal(ours.train.images, torch.from_numpy(theirs.data[index]).permute(0, 3, 1, 2))
    assert ours.train.labels.tolist() == [theirs.targets[i] for i in index]
    assert len(theirs.classes) == ours.num_classes == 100 and len(ours.test) == 60


def test_missing_cifar100_copy_names_the_folder(tmp_path):
    with pytest.raises(DataError) as info:
        load_splits("cifar100", tmp_path, 10, 10, None, split_seed=0)
    message = str(info.value)
    assert str(tmp_path / "cifar-100-python") in message and "\n" not in message


def test_missing_cifar_file_names_the_file(tmp_path):
    folder = _write_fake_cifar(tmp_path, "cifar100")
    (folder / "test").unlink()
    with pytest.raises(DataError, match="missing file .*cifar-100-python/test") as info:
        load_splits("cifar100", tmp_path, 10, 10, None, split_seed=0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("override, needle", [
    ({"train": {"fine_labels": [100] * 300}}, "class indices in 0..99"),
    ({"train": {"fine_labels": [0] * 7}}, "expected 300 labels"),
    ({"train": {"data": np.zeros((300, 1024), np.uint8)}}, "key 'data'"),
    ({"train": {"data": np.zeros((300, 3072), np.float32)}}, "key 'data'"),
    ({"meta": {"coarse_label_names": ["a"]}}, "fine_label_names"),
])
def test_malformed_cifar_pickles_name_file_and_key(tmp_path, override, needle):
    _write_fake_cifar(tmp_path, "cifar100", **override)
    with pytest.raises(DataError, match=needle) as info:
        load_splits("cifar100", tmp_path, 10, 10, None, split_seed=0)
    assert "cifar-100-python" in str(info.value) and "\n" not in str(info.value)


class _Payload:
    """Unpickling this would call os.system; the reader must refuse it."""

    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("content", [b"", b"not a pickle", "payload"])
def test_foreign_files_are_data_errors_and_run_no_code(tmp_path, content):
    import pickle

    folder = _write_fake_cifar(tmp_path, "cifar100")
    content = pickle.dumps({"data": _Payload()}) if content == "payload" else content
    (folder / "train").write_bytes(content)
    with pytest.raises(DataError, match="cannot read .*cifar-100-python/train as a CIFAR pickle") as info:
        load_splits("cifar100", tmp_path, 10, 10, None, split_seed=0)
    if content not in (b"", b"not a pickle"):
        assert "refusing to load posix.system" in str(info.value)


def test_cifar100_split_larger_than_the_copy(tmp_path):
    _write_fake_cifar(tmp_path, "cifar100")
    with pytest.raises(DataError, match="exceeds the 300 training images"):
        load_splits("cifar100", tmp_path, 290, 20, None, split_seed=0)
