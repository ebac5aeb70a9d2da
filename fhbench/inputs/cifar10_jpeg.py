"""Rebuilding a ``cifar10-jpeg`` copy from the official CIFAR-10 python release.

``python -m fhbench.inputs.cifar10_jpeg SOURCE --out DIR`` reads ``cifar-10-python.tar.gz`` (from
https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted ``cifar-10-batches-py`` folder and writes
``DIR/train.npz`` (50,000 images) and ``DIR/test.npz`` (10,000) in the format fhbench's loader reads
for the dataset ``cifar10-jpeg`` (`fhbench.inputs.data`):

- ``jpeg``: uint8, every image's JPEG file one after another;
- ``offsets``: int64, n + 1 of them: image i is ``jpeg[offsets[i]:offsets[i + 1]]``;
- ``labels``: int64, the class index of each image;
- ``classes``: str, the class names in index order (from ``batches.meta``).

Each split is shuffled on its own by ``numpy.random.default_rng(0).permutation(n)`` (a fresh generator
per split): entry k of a file is image ``order[k]`` of that split in the release's file order
(``data_batch_1`` to ``data_batch_5``, then ``test_batch``). Each image is encoded by Pillow at quality
75 with 4:2:0 chroma subsampling, baseline, not optimised (the quantisation tables and subsampling of the
public copy fhbench's boards were scored on).

This is a *rebuild*, not that public copy: the encoder and the shuffle here are fhbench's own, so the
bytes (and anything scored on them) are not claimed equal to the committed boards', which name the copy
they read. The bytes written also depend on the libjpeg that Pillow was built with; the digests printed
identify exactly what was written.

The pickled batches are read by `fhbench.inputs.data`'s reader (an unpickler that builds only arrays,
lists and strings, and checks keys, shapes and label ranges), so a foreign file cannot run code. A tarball
is read member by member: only the seven files of ``cifar-10-batches-py`` are taken out, into a private
temporary folder, by content, never by the paths the archive names. Files are written beside their
final name and renamed into place, so ``DIR`` holds the old file or the new one, never half of either.

Importing this module imports neither torch nor torchvision (reading the release goes through
`fhbench.inputs.data`, which imports torch when it is first called).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import posixpath
import secrets
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np

from fhbench.core.errors import DataError

QUALITY = 75
SEED = 0
RELEASE_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
RELEASE_FOLDER = "cifar-10-batches-py"
RELEASE_FILES = ("batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
OUTPUT_FILES = {"train": "train.npz", "test": "test.npz"}
NUM_CLASSES = 10

_DATASET = "cifar10"  # the name data.py's reader puts in front of its messages
_EXPECTED = f"expected cifar-10-python.tar.gz ({RELEASE_URL}) or its extracted {RELEASE_FOLDER} folder"
_MEMBER_LIMIT = 256 << 20  # bytes; each file of the release is about 30 MB


def shuffle_order(n: int) -> np.ndarray:
    """The order a split of n images is written in: entry k is image ``shuffle_order(n)[k]``."""
    return np.random.default_rng(SEED).permutation(n)


def encode_jpeg(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 3, H, W), channels first as the release stores them, as one uint8 array of
    concatenated JPEG files and the int64 offsets (N + 1) that delimit them."""
    from PIL import Image

    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images of shape (N, 3, H, W), got {images.dtype} {images.shape}")
    files = []
    for pixels in images.transpose(0, 2, 3, 1):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(
            buffer, format="JPEG", quality=QUALITY, subsampling="4:2:0", optimize=False, progressive=False
        )
        files.append(np.frombuffer(buffer.getvalue(), dtype=np.uint8))
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    np.cumsum([len(f) for f in files], out=offsets[1:])
    jpeg = np.concatenate(files) if files else np.zeros(0, dtype=np.uint8)
    return jpeg, offsets


def read_release(source: Path) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The class names and, per split, the images (uint8 (N, 3, 32, 32)) and int64 labels, in the
    release's file order, from the tarball or the extracted folder at ``source``."""
    source = Path(source)
    if source.is_dir():
        folder = source / RELEASE_FOLDER if (source / RELEASE_FOLDER).is_dir() else source
        missing = [name for name in RELEASE_FILES if not (folder / name).is_file()]
        if missing:
            raise DataError(f"{folder}: no file {missing[0]}: expected the CIFAR-10 python release's "
                            f"{RELEASE_FOLDER} folder ({', '.join(RELEASE_FILES)})")
        return _read_folder(folder)
    if not source.is_file():
        raise DataError(f"{source}: no such file or folder: {_EXPECTED}")
    with tempfile.TemporaryDirectory(prefix="fhbench-cifar10-") as scratch:
        folder = Path(scratch) / RELEASE_FOLDER
        _extract_release(source, folder)
        try:
            return _read_folder(folder)
        except DataError as err:  # name the tarball and its member, not the scratch folder
            message = str(err).replace(f"{folder}{os.sep}", f"{source}:{RELEASE_FOLDER}/")
            raise DataError(message) from err


def build(source: Path, out_dir: Path) -> dict[str, str]:
    """Writes ``train.npz`` and ``test.npz`` into ``out_dir`` from the release at ``source`` and returns
    each file's name and sha256 (hex)."""
    return {name: digest for name, _, digest in _build(Path(source), Path(out_dir))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fhbench.inputs.cifar10_jpeg",
        description="Rebuild a cifar10-jpeg copy (train.npz, test.npz) from the official CIFAR-10 python "
                    f"release ({RELEASE_URL}). A rebuild: its bytes are not those of the copy the "
                    "committed boards were scored on.",
    )
    parser.add_argument("source", metavar="SOURCE", help=f"cifar-10-python.tar.gz, or its extracted {RELEASE_FOLDER}")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write train.npz and test.npz into (fhbench reads it as "
                             "<data-dir>/cifar10-jpeg)")
    args = parser.parse_args(argv)
    try:
        written = _build(Path(args.source), Path(args.out))
    except DataError as err:
        print(f"fhbench: error: {err}", file=sys.stderr)
        return 2
    for name, count, digest in written:
        print(f"{name}  {count} images  sha256 {digest}")
    if Path(args.out).name != "cifar10-jpeg":
        print(f"note: fhbench reads this copy from a folder named cifar10-jpeg under --data-dir "
              f"(or FHBENCH_DATA); {args.out} is named otherwise", file=sys.stderr)
    return 0


def _build(source: Path, out_dir: Path) -> list[tuple[str, int, str]]:
    names, splits = read_release(source)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: is a file: expected a folder to write the copy into")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{out_dir}: cannot create the output folder: {_first_line(err)}") from err
    classes = np.asarray([str(name) for name in names], dtype=str)
    written = []
    for split, filename in OUTPUT_FILES.items():
        images, labels = splits[split]
        order = shuffle_order(len(labels))
        jpeg, offsets = encode_jpeg(images[order])
        arrays = {"jpeg": jpeg, "offsets": offsets, "labels": labels[order].astype(np.int64), "classes": classes}
        digest = _write_npz(out_dir / filename, arrays)
        written.append((filename, len(labels), digest))
    return written


def _read_folder(folder: Path) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    from fhbench.inputs.data import pickled_class_names, pickled_split

    names = pickled_class_names(_DATASET, folder)
    if len(names) != NUM_CLASSES:
        raise DataError(f"{folder / 'batches.meta'} lists {len(names)} class names: expected CIFAR-10's {NUM_CLASSES}")
    splits = {split: pickled_split(_DATASET, folder, split, len(names)) for split in OUTPUT_FILES}
    return names, splits


def _extract_release(tarball: Path, folder: Path) -> None:
    """Copies the release's seven files out of the tarball into ``folder`` (by content: no path or
    link the archive names is ever created), or says what is wrong with the tarball."""
    wanted = {f"{RELEASE_FOLDER}/{name}": name for name in RELEASE_FILES}
    found: set[str] = set()
    folder.mkdir()
    try:
        with tarfile.open(tarball, "r:*") as archive:
            for member in archive:
                name = wanted.get(posixpath.normpath(member.name).lstrip("/"))
                if name is None or name in found:
                    continue
                if not member.isfile():
                    raise DataError(f"{tarball}: {member.name} is not a regular file: "
                                    f"expected the CIFAR-10 python release ({RELEASE_URL})")
                if member.size > _MEMBER_LIMIT:
                    raise DataError(f"{tarball}: {member.name} holds {member.size} bytes: expected a "
                                    f"CIFAR-10 batch of about 30 MB ({RELEASE_URL})")
                source = archive.extractfile(member)
                if source is None:
                    raise DataError(f"{tarball}: cannot read {member.name} from the archive")
                with source, (folder / name).open("wb") as target:
                    while chunk := source.read(1 << 20):
                        target.write(chunk)
                found.add(name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataError(f"{tarball}: cannot read as a tar archive ({_first_line(err)}): {_EXPECTED}") from err
    missing = [name for name in RELEASE_FILES if name not in found]
    if missing:
        raise DataError(f"{tarball}: not the CIFAR-10 python release: it lacks {RELEASE_FOLDER}/{missing[0]} "
                        f"(expected cifar-10-python.tar.gz from {RELEASE_URL})")


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Writes an uncompressed npz beside ``path`` and renames it into place; returns its sha256."""
    temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:  # created as a normal file would be (mode 0o666 less the umask), unlike mkstemp's 0o600
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise DataError(f"{path}: cannot write: {_first_line(err)}") from err
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        digest = _sha256(temporary)
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise DataError(f"{path}: cannot write: {_first_line(err)}") from err
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not every file system lets a folder be opened for this
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return digest
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)
    return digest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


if __name__ == "__main__":
    raise SystemExit(main())
