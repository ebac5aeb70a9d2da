"""One provenance and publishing layer for every leaderboard fhbench writes (estimation, search, live).

- `results_header`: the header every results.json starts with: results schema, kind, fhbench version,
  git commit and dirty flag, date, the suite and its hashes, the estimators' effective settings, the
  environment that scored it, the traces hash, the truth, and which direction is better per metric.
- `environment`: the conditions of a scoring run (software versions, device, threads, flags).
- `results_json`: stable formatting (NaN and infinities become null, floats rounded to 10 digits, keys
  sorted), so scoring the same traces again gives the same bytes except for dates and timings.
- `write_directory`: writes a leaderboard directory beside its final place and swaps it in whole.

The swap. On Linux the staging directory and the final one are exchanged in one step with
``renameat2(RENAME_EXCHANGE)``, and only then is the old leaderboard (now at the staging name) deleted:
at every moment, a kill -9 included, `final` holds either the old leaderboard or the new one. Where the
call is not supported (another OS, or a file system without it) two renames are used (final -> retired,
staging -> final); a kill between them leaves no leaderboard at `final` for that moment, and the next
publish puts the retired one back before it starts. Staging and retired directories are named
``.<name>.staging-<pid>`` and ``.<name>.retired-<pid>``; those of processes that no longer run (and this
process's own, since a process publishes one directory at a time) are removed by the next publish.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import fhbench
from fhbench.core.atomic import exchange, fsync_dir
from fhbench.core.errors import FhbenchError
from fhbench.core.processes import pid_alive

RESULTS_SCHEMA = 3  # 1: the headers before this module (git_commit, no metrics, truth a string); 2: no intervals

DIRECTIONS = ("lower", "higher")

# Which direction is better, for the metrics fhbench's own tables publish. Writers pass their own
# `metrics` to `results_header`; `fhbench compare` falls back to these for schema-1 files.
ESTIMATION_METRICS = {
    "mae_mean": "lower",
    "kendall_tau_mean": "higher",
    "spearman_rho_mean": "higher",
    "overhead_s_mean": "lower",
    "overhead_epochs_mean": "lower",
    "overhead_cpu_s_mean": "lower",
    "overhead_ref_mean": "lower",
    "n_failed": "lower",
    "coverage": "higher",
}
SEARCH_METRICS = {
    "true_acc_mean": "higher",
    "regret_mean": "lower",
    "n_failed": "lower",
    "coverage": "higher",
}


# ---------------------------------------------------------------------------------------------- header


OUTPUT_FOLDERS = ("leaderboard/", "runs/")  # what fhbench writes into a checkout (repository-root paths)


def git_state() -> dict[str, Any]:
    """{"commit", "dirty"} of the checkout fhbench runs from; both None when fhbench is not running
    from a git checkout (an installed package), or git is missing. `dirty` counts any change in the
    checkout, untracked files included, as `git status --porcelain` lists them, except under the
    output folders (`OUTPUT_FOLDERS`): a board being published, or another one, is not the code that
    made it."""
    here = Path(fhbench.__file__).resolve().parent
    unknown = {"commit": None, "dirty": None}

    def git(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None

    # An installed copy inside some other repository (a venv in a project) must not claim its commit:
    # the package's own files have to be tracked by the checkout.
    tracked = git("ls-files", "--error-unmatch", "__init__.py")
    if tracked is None or tracked.returncode != 0:
        return unknown
    head = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return unknown
    if status is None or status.returncode != 0:
        return {"commit": head.stdout.strip(), "dirty": None}
    changed = [line[3:].strip('"') for line in status.stdout.splitlines() if line.strip()]
    dirty = any(not path.startswith(OUTPUT_FOLDERS) for path in changed)
    return {"commit": head.stdout.strip(), "dirty": dirty}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str, threads: int) -> dict[str, Any]:
    """The conditions a scoring run measured under: software versions, the scoring device and its
    name, the CPU thread count, CUDA and cuDNN versions when CUDA is present, and whether torch's
    deterministic algorithms were enforced. Imports torch (callers only get here to score)."""
    import numpy as np
    import torch

    device = str(device)
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "device_name": _cpu_name(),
        "threads": int(threads),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "cuda": None,
        "cudnn": None,
    }
    if torch.version.cuda is not None:
        env["cuda"] = torch.version.cuda
        if torch.backends.cudnn.is_available():
            env["cudnn"] = torch.backends.cudnn.version()
    if device.startswith("cuda"):
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return env


def results_header(kind: str, suite, *, estimators: Any, environment: Mapping[str, Any], traces_hash: str | None,
                   truth: Mapping[str, Any], metrics: Mapping[str, str]) -> dict[str, Any]:
    """The header of a results.json. `kind` is "estimation", "search" or "live"; `estimators` are the
    estimators' effective settings as the caller describes them; `metrics` maps each published metric
    to "lower" or "higher" (which is better), for `fhbench compare`."""
    for metric, direction in metrics.items():
        if direction not in DIRECTIONS:
            raise ValueError(f"metric {metric!r}: direction must be 'lower' or 'higher', got {direction!r}")
    return {
        "results_schema": RESULTS_SCHEMA,
        "kind": kind,
        "fhbench_version": fhbench.__version__,
        "git": git_state(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "suite": {"name": suite.name, "version": suite.version, "description": suite.description,
                  "hash": suite.hash, "record_hash": suite.record_hash},
        # the description once, under "suite"
        "suite_settings": {key: value for key, value in suite.to_dict().items() if key != "description"},
        "estimators": estimators,
        "environment": dict(environment),
        "traces_hash": traces_hash,
        "truth": dict(truth),
        "metrics": dict(metrics),
    }


# ---------------------------------------------------------------------------------------------- json


def published_number(value: float) -> float:
    """A float as results.json publishes it (10 significant digits); non-finite values unchanged."""
    return float(f"{value:.10g}") if math.isfinite(value) else value


def clean(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become null; floats are rounded to 10 significant digits so
    the file is stable; numpy scalars and arrays become plain numbers and lists; tuples lists."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy scalars and arrays
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return None if not math.isfinite(value) else published_number(value)
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _row_dict(row: Any) -> dict:
    return row.as_dict() if hasattr(row, "as_dict") else dict(row)


def results_json(header: Mapping[str, Any], rows: Sequence[Any], extra: Mapping[str, Any] | None = None) -> str:
    """results.json: the header, then `extra` (what this kind of leaderboard adds), then "rows"."""
    extra = dict(extra or {})
    clash = sorted((set(header) & set(extra)) | ({"rows"} & (set(header) | set(extra))))
    if clash:
        raise ValueError(f"results.json: keys given twice (header, extra or rows): {', '.join(clash)}")
    data = {**header, **extra, "rows": [_row_dict(r) for r in rows]}
    return json.dumps(clean(data), indent=1, sort_keys=True, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------------- swap

def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers: this process publishes one directory at a time
    return pid_alive(pid)


def _leftovers(final: Path) -> tuple[list[Path], list[Path]]:
    """Staging and retired directories of `final` left by processes that no longer run (or by this
    one). The `.tmp-`/`.old-` names are those of fhbench's earlier two-rename publisher."""
    pattern = re.compile(r"^\." + re.escape(final.name) + r"\.(staging|retired|tmp|old)-(\d+)$")
    staging, retired = [], []
    try:
        entries = list(final.parent.iterdir())
    except FileNotFoundError:
        return [], []
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not _pid_alive(int(match.group(2))):
            (retired if match.group(1) in ("retired", "old") else staging).append(entry)
    return staging, retired


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _recover(final: Path) -> None:
    staging, retired = _leftovers(final)
    if not final.exists() and retired:
        # a two-rename publish was killed between its renames: the retired leaderboard is the last one
        newest = max(retired, key=lambda p: p.stat().st_mtime)
        os.rename(newest, final)
        retired.remove(newest)
    for path in staging + retired:
        _remove(path)


SIGNATURE_FILE = "SHA256SUMS"
"""A board's signature: the sha256 of each of its other files, in `sha256sum`'s format (so that
`sha256sum -c SHA256SUMS` checks a board without fhbench), written when the board is scored."""


def signature(directory: Path) -> str:
    lines = [f"{hashlib.sha256((directory / name).read_bytes()).hexdigest()}  {name}"
             for name in sorted(p.name for p in directory.iterdir() if p.name != SIGNATURE_FILE)]
    return "\n".join(lines) + "\n"


def check_signature(directory: str | Path) -> str | None:
    """Raises FhbenchError where a board's files were edited, added, removed or replaced by links since it
    was scored; returns a one-line note for a board published before boards were signed, else None."""
    directory = Path(directory)
    links = [p.name for p in sorted(directory.iterdir()) if p.is_symlink()]
    if links:
        raise FhbenchError(f"{directory / links[0]}: a link in a leaderboard directory; fhbench never follows one")
    sums = directory / SIGNATURE_FILE
    if not sums.is_file():
        where = "/".join(directory.resolve().parts[-2:])
        return f"note: {where} is unsigned (published before boards were signed when scored)"
    expected = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        expected[name] = digest
    present = {p.name for p in directory.iterdir() if p.is_file() and p.name != SIGNATURE_FILE}
    for name in sorted(present | set(expected)):
        if name not in present:
            raise FhbenchError(f"{directory / name}: listed in {SIGNATURE_FILE} but missing: the board was edited "
                               f"after it was scored")
        if name not in expected:
            raise FhbenchError(f"{directory / name}: not in {SIGNATURE_FILE}: added after the board was scored")
        if hashlib.sha256((directory / name).read_bytes()).hexdigest() != expected[name]:
            raise FhbenchError(f"{directory / name}: edited after the board was scored (its sha256 differs from "
                               f"{SIGNATURE_FILE})")
    return None


def write_directory(final: str | Path, files: Mapping[str, str | bytes | Callable[[Path], None]], *,
                    sign: bool = False) -> Path:
    """Writes `files` (name -> text, bytes, or a callable that writes the path it is given) into a
    staging directory beside `final` and swaps it in whole; returns `final`. With `sign` the directory
    also gets its signature (`SIGNATURE_FILE`) of the files as written.

    `final` holds the old or the new directory at every moment (see the module docstring); leftovers
    of an earlier publish that was killed are cleaned up first.
    """
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise FhbenchError(f"{final}: exists and is not a directory; cannot publish a leaderboard there")
    final.parent.mkdir(parents=True, exist_ok=True)
    _recover(final)
    staging = final.parent / f".{final.name}.staging-{os.getpid()}"
    staging.mkdir()
    try:
        for name, content in files.items():
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"write_directory: {name!r} is not a plain file name")
            target = staging / name
            if callable(content):
                content(target)
                continue
            data = content.encode() if isinstance(content, str) else bytes(content)
            with open(target, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if sign:
            (staging / SIGNATURE_FILE).write_text(signature(staging))
        fsync_dir(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    if not final.exists():
        os.rename(staging, final)
    elif exchange(staging, final):
        fsync_dir(final.parent)
        _remove_old(staging)  # now the previous leaderboard
    else:
        retired = final.parent / f".{final.name}.retired-{os.getpid()}"
        os.rename(final, retired)
        os.rename(staging, final)
        fsync_dir(final.parent)
        _remove_old(retired)
    fsync_dir(final.parent)
    return final


def _remove_old(path: Path) -> None:
    """Deletes the replaced leaderboard (a separate function so tests can simulate a kill here)."""
    shutil.rmtree(path)
