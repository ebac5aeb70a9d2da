"""fhbench.inputs.cifar10_jpeg: a cifar10-jpeg copy rebuilt from the CIFAR-10 python release.

No real release exists on these machines (and no internet), so the tests write a small one in the
release's own format: a gzipped tarball whose cifar-10-batches-py folder holds five training batches,
a test batch and batches.meta, each a dict pickled at protocol 2 with Python 2 byte-string keys
(b"data": uint8 (n, 3072), channel by channel then row by row; b"labels"; b"label_names"), which is
how the official files read under ``encoding="bytes"``.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from fhbench.core.errors import DataError
from fhbench.inputs import cifar10_jpeg
from fhbench.inputs.cifar10_jpeg import build, encode_jpeg, main, shuffle_order

PER_BATCH = 20
N_TRAIN, N_TEST = 5 * PER_BATCH, PER_BATCH
CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 strings (SHORT_BINSTRING/BINSTRING), as the release's pickler did:
    they load as str under encoding="latin1" (fhbench's reader) and as bytes under encoding="bytes"."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_python2_string(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_string


def _python2_pickle(entry) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(entry)
    return buffer.getvalue()


def _source_images(first: int, n: int) -> np.ndarray:
    """Smooth images (JPEG keeps them close), each told apart by its three channel levels; uint8
    (n, 3, 32, 32). Image k of the whole release (train then test) has index first + i."""
    index = np.arange(first, first + n)
    ramp = np.arange(32, dtype=np.int64)
    images = np.empty((n, 3, 32, 32), dtype=np.int64)
    images[:, 0] = (30 + (index * 37) % 180)[:, None, None] + ramp[None, None, :] // 4
    images[:, 1] = (30 + (index * 71) % 180)[:, None, None] + ramp[None, :, None] // 4
    images[:, 2] = (40 + (index * 13) % 160)[:, None, None]
    return images.astype(np.uint8)


def _source_labels(first: int, n: int) -> list[int]:
    return [(7 * i + 3) % 10 for i in range(first, first + n)]


def _release_files(overrides: dict | None = None) -> dict[str, bytes]:
    overrides = overrides or {}
    files = {}
    for k, name in enumerate(BATCHES):
        first = k * PER_BATCH
        entry = {b"batch_label": f"batch {k + 1}".encode(), b"labels": _source_labels(first, PER_BATCH),
                 b"data": _source_images(first, PER_BATCH).reshape(PER_BATCH, 3072),
                 b"filenames": [f"img_{i}.png".encode() for i in range(PER_BATCH)]}
        entry.update(overrides.get(name, {}))
        files[name] = _python2_pickle(entry)
    meta = overrides.get("batches.meta", {b"num_cases_per_batch": PER_BATCH, b"label_names": CLASSES,
                                          b"num_vis": 3072})
    files["batches.meta"] = _python2_pickle(meta)
    return files


def _write_tarball(path: Path, files: dict[str, bytes], folder: str = "cifar-10-batches-py") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in {**files, "readme.html": b"<html></html>"}.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return _write_tarball(tmp_path_factory.mktemp("release") / "cifar-10-python.tar.gz", _release_files())


@pytest.fixture(scope="module")
def built(release, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("data") / "cifar10-jpeg"
    return out, build(release, out)


def _decode(jpeg: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Every image as uint8 (N, 3, 32, 32) RGB."""
    from PIL import Image

    decoded = []
    for i in range(len(offsets) - 1):
        with Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())) as image:
            assert image.format == "JPEG" and image.mode == "RGB" and image.size == (32, 32)
            decoded.append(np.asarray(image.convert("RGB")).transpose(2, 0, 1))
    return np.stack(decoded)


def test_format_and_dtypes(built):
    out, digests = built
    assert sorted(p.name for p in out.iterdir()) == ["test.npz", "train.npz"]  # no temporary file left
    assert set(digests) == {"train.npz", "test.npz"}
    for name, n in (("train.npz", N_TRAIN), ("test.npz", N_TEST)):
        assert digests[name] == hashlib.sha256((out / name).read_bytes()).hexdigest()
        with np.load(out / name, allow_pickle=False) as npz:
            assert sorted(npz.files) == ["classes", "jpeg", "labels", "offsets"]
            jpeg, offsets, labels, classes = (npz[k] for k in ("jpeg", "offsets", "labels", "classes"))
        assert jpeg.dtype == np.uint8 and jpeg.ndim == 1
        assert offsets.dtype == np.int64 and offsets.shape == (n + 1,)
        assert offsets[0] == 0 and offsets[-1] == len(jpeg) and np.all(np.diff(offsets) > 0)
        assert labels.dtype == np.int64 and labels.shape == (n,)
        assert classes.dtype.kind == "U" and classes.tolist() == [c.decode() for c in CLASSES]


@pytest.mark.parametrize("name, first, n", [("train.npz", 0, N_TRAIN), ("test.npz", N_TRAIN, N_TEST)])
def test_shuffled_by_seed_0_with_labels_following_their_images(built, name, first, n):
    out, _ = built
    with np.load(out / name) as npz:
        decoded = _decode(npz["jpeg"], npz["offsets"]).astype(np.int64)
        labels = npz["labels"]
    source = _source_images(first, n).astype(np.int64)
    # Which source image each entry is: the nearest by mean absolute difference, which must be unambiguous.
    distance = np.abs(decoded[:, None] - source[None]).mean(axis=(2, 3, 4))
    nearest = distance.argmin(axis=1)
    order = np.random.default_rng(0).permutation(n)
    np.testing.assert_array_equal(nearest, order)
    np.testing.assert_array_equal(shuffle_order(n), order)
    assert not np.array_equal(order, np.arange(n))
    np.testing.assert_array_equal(labels, np.asarray(_source_labels(first, n))[order])
    # Close to the source pixels, and every other image far.
    own = distance[np.arange(n), order]
    assert own.max() < 3.0, own.max()
    others = distance.copy()
    others[np.arange(n), order] = np.inf
    assert others.min() > 4 * own.max()


def test_fhbenchs_loader_reads_the_copy(built):
    out, _ = built
    from fhbench.inputs.data import load_splits

    splits = load_splits("cifar10-jpeg", out.parent, 60, 30, None, split_seed=1)
    assert splits.source == "cifar10-jpeg" and splits.num_classes == 10
    assert (len(splits.train), len(splits.val), len(splits.test)) == (60, 30, N_TEST)
    assert tuple(splits.train.images.shape[1:]) == (3, 32, 32)
    with np.load(out / "test.npz") as npz:  # the loader's test split is the file's order
        np.testing.assert_array_equal(splits.test.labels.numpy(), npz["labels"])
        np.testing.assert_array_equal(splits.test.images.numpy(), _decode(npz["jpeg"], npz["offsets"]))
    also = load_splits("cifar10", out.parent, 60, 30, 10, split_seed=1)  # plain cifar10 falls back to it
    assert also.source == "cifar10-jpeg"


def test_the_extracted_folder_gives_the_same_files(built, tmp_path):
    _, digests = built
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, data in _release_files().items():
        (folder / name).write_bytes(data)
    assert build(folder, tmp_path / "a") == digests
    assert build(tmp_path, tmp_path / "b") == digests  # the folder above it works too


def test_a_rebuild_replaces_the_files_in_place(release, tmp_path):
    out = tmp_path / "cifar10-jpeg"
    out.mkdir()
    (out / "train.npz").write_bytes(b"old")
    first = build(release, out)
    assert build(release, out) == first  # deterministic
    assert sorted(p.name for p in out.iterdir()) == ["test.npz", "train.npz"]


def test_encode_jpeg_offsets_delimit_each_file():
    images = _source_images(0, 3)
    jpeg, offsets = encode_jpeg(images)
    assert offsets.dtype == np.int64 and offsets.shape == (4,)
    for i in range(3):
        chunk = jpeg[offsets[i]:offsets[i + 1]].tobytes()
        assert chunk.startswith(b"\xff\xd8") and chunk.endswith(b"\xff\xd9")
    with pytest.raises(ValueError, match="uint8 images"):
        encode_jpeg(images.astype(np.float32))


def test_main_prints_one_line_per_file(release, tmp_path, capsys):
    out = tmp_path / "cifar10-jpeg"
    assert main([str(release), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and captured.err == ""
    for line, (name, n) in zip(lines, (("train.npz", N_TRAIN), ("test.npz", N_TEST))):
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert line.split() == [name, str(n), "images", "sha256", digest]


def test_main_notes_an_output_folder_the_loader_would_not_find(release, tmp_path, capsys):
    assert main([str(release), "--out", str(tmp_path / "elsewhere")]) == 0
    assert "folder named cifar10-jpeg" in capsys.readouterr().err


def _error(source: Path, out: Path) -> str:
    with pytest.raises(DataError) as info:
        build(source, out)
    message = str(info.value)
    assert "\n" not in message and "fhbench-cifar10-" not in message  # one line, no scratch path
    assert not out.is_dir() or not [p for p in out.iterdir() if p.name.startswith(".")]
    return message


def test_a_missing_source_is_named(tmp_path):
    message = _error(tmp_path / "cifar-10-python.tar.gz", tmp_path / "out")
    assert str(tmp_path / "cifar-10-python.tar.gz") in message and "expected cifar-10-python.tar.gz" in message


def test_a_file_that_is_not_a_tarball_is_named(tmp_path):
    bogus = tmp_path / "cifar-10-python.tar.gz"
    bogus.write_bytes(b"not a tarball at all" * 100)
    message = _error(bogus, tmp_path / "out")
    assert message.startswith(f"{bogus}: cannot read as a tar archive") and "expected" in message


def test_a_tarball_of_another_dataset_is_named(tmp_path):
    other = _write_tarball(tmp_path / "cifar-100-python.tar.gz", {"train": b"x", "test": b"y", "meta": b"z"},
                           folder="cifar-100-python")
    message = _error(other, tmp_path / "out")
    assert message == (f"{other}: not the CIFAR-10 python release: it lacks cifar-10-batches-py/batches.meta "
                       f"(expected cifar-10-python.tar.gz from {cifar10_jpeg.RELEASE_URL})")


def test_a_tarball_missing_one_batch_is_named(tmp_path):
    files = _release_files()
    del files["data_batch_3"]
    message = _error(_write_tarball(tmp_path / "r.tar.gz", files), tmp_path / "out")
    assert "lacks cifar-10-batches-py/data_batch_3" in message


@pytest.mark.parametrize("overrides, needle", [
    ({"data_batch_2": {b"data": np.zeros((PER_BATCH, 1024), np.uint8)}}, "data_batch_2 key 'data' is invalid"),
    ({"test_batch": {b"labels": [10] * PER_BATCH}}, "test_batch key 'labels' is invalid"),
    ({"batches.meta": {b"label_names": [b"a", b"b"]}}, "batches.meta lists 2 class names: expected CIFAR-10's 10"),
])
def test_a_malformed_batch_names_the_tarball_and_member(tmp_path, overrides, needle):
    tarball = _write_tarball(tmp_path / "r.tar.gz", _release_files(overrides))
    message = _error(tarball, tmp_path / "out")
    assert f"{tarball}:cifar-10-batches-py/" in message and needle in message


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    files = _release_files()
    files["test_batch"] = pickle.dumps(subprocess.Popen, protocol=2)  # a global outside the CIFAR format
    message = _error(_write_tarball(tmp_path / "r.tar.gz", files), tmp_path / "out")
    assert "test_batch" in message and "refusing to load" in message and "Popen" in message


def test_a_folder_missing_a_file_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "batches.meta").write_bytes(_release_files()["batches.meta"])
    message = _error(folder, tmp_path / "out")
    assert message.startswith(f"{folder}: no file data_batch_1: expected the CIFAR-10 python release")


def test_main_reports_bad_input_on_one_line_with_status_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("fhbench: error: ") and captured.err.count("\n") == 1
    assert str(tmp_path / "missing.tar.gz") in captured.err


def test_runs_as_a_module_and_imports_without_torch(release, tmp_path):
    code = "import sys, fhbench.inputs.cifar10_jpeg; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    done = subprocess.run([sys.executable, "-m", "fhbench.inputs.cifar10_jpeg", str(tmp_path / "nope.tar.gz"),
                           "--out", str(tmp_path / "out")], check=False, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("fhbench: error: ") and done.stdout == ""


def test_written_files_have_ordinary_permissions(built):
    out, _ = built
    import os

    umask = os.umask(0)
    os.umask(umask)
    for name in ("train.npz", "test.npz"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_output_path_that_is_a_file_is_named(release, tmp_path):
    (tmp_path / "out").write_text("")
    message = _error(release, tmp_path / "out")
    assert message == f"{tmp_path / 'out'}: is a file: expected a folder to write the copy into"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(release, tmp_path, monkeypatch):
    out = tmp_path / "cifar10-jpeg"
    out.mkdir()
    (out / "train.npz").write_bytes(b"old")

    def disk_full(file, **arrays):
        file.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    message = _error(release, out)
    assert message == f"{out / 'train.npz'}: cannot write: [Errno 28] No space left on device"
    assert sorted(p.name for p in out.iterdir()) == ["train.npz"] and (out / "train.npz").read_bytes() == b"old"
