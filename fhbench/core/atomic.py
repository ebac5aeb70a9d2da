"""Writing so that a reader sees the old content or the new, never half of either: every file fhbench
publishes goes through here (trace files, trace stores' run records, leaderboards, search records,
estimate caches, evaluation results).

- `write_file` writes a whole file beside its final name (a hidden name with this process's id),
  fsyncs it and renames it into place: a kill or a full disk leaves at most a stray hidden file,
  never a file that reads as finished.
- `fsync_write` writes and fsyncs a file in a folder that is itself renamed into place later (a
  trial's staging folder).
- `exchange` swaps two existing paths in one step (Linux renameat2 RENAME_EXCHANGE). It returns False
  only where this OS, C library or file system cannot (then a caller falls back to two renames and
  its own recovery rule); any other failure is an OSError naming the path, so a permission or disk
  error is never mistaken for a missing feature.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path
from typing import Any

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP)
_renameat2: Any = None  # None: not looked up yet; False: unavailable in this process


def _lookup_renameat2():
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if os.name == "posix":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
                function = libc.renameat2
                function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                function.restype = ctypes.c_int
                _renameat2 = function
            except (OSError, AttributeError):
                pass
    return _renameat2


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Atomically exchanges two existing paths; False where this OS or file system cannot."""
    function = _lookup_renameat2()
    if function is False:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(b))


def fsync_dir(path: str | os.PathLike) -> None:
    """Makes a folder's renames durable; best effort (some file systems refuse to open a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_write(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` (its folder made if missing) and fsyncs it; a failed write names the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        if err.filename is None:  # a failed write() names no file: say which, for the one-line error
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise


def write_file(path: str | os.PathLike, data: bytes | str) -> Path:
    """Writes the whole file beside `path`, then renames it into place; returns `path`."""
    path = Path(path)
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fsync_write(staged, data.encode() if isinstance(data, str) else data)
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


__all__ = ["exchange", "fsync_dir", "fsync_write", "write_file"]
