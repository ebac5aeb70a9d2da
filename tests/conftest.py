"""Shared test helpers: tiny suites that train in seconds, and ways to run the CLI (in-process, or as a
real subprocess where a test needs a fresh interpreter); the session's rules (one torch thread, every test
in its own tmp_path, the checkout left as it was). How the tests split into fast, slow and timing sets:
tests/README.md."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# One thread per process, as the fhbench CLI runs by default: small networks on 2 shared cores run fastest
# so, and a second OpenMP (or OpenBLAS) thread on a busy machine only spins, costing several times the CPU
# time. Set before torch and numpy are imported (test modules are imported after this conftest), so that it
# holds for module- and session-scoped fixtures and for subprocesses too. An explicit OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent

TINY_SUITE = """
name = "{name}"
version = "1"
description = "tiny test suite"

[space]
channels = 4
cells_per_stage = 1
num_samples = {num_samples}
sample_seed = 0

[data]
dataset = "{dataset}"
train_size = {train_size}
val_size = 100
test_size = 100
split_seed = 0
augment = "{augment}"

[train]
epochs = {epochs}
batch_size = 64
lr = {lr}
seed = 0

[record]
window = 2

[estimate]
every = 2
repeats = {repeats}
estimators = {estimators}

[estimators.fh-ensemble]
window = 2

[estimators.lcnet]
num_steps = 300
burn_in_steps = 100
keep_every = 20
"""


def write_suite(directory: Path, name: str = "tiny", *, num_samples: int = 3, epochs: int = 4, repeats: int = 1,
                lr: float = 0.1, dataset: str = "digits", train_size: int = 300, augment: str = "none",
                estimators=("original", "optimized", "lcnet", "fh-ensemble")) -> Path:
    text = TINY_SUITE.format(name=name, num_samples=num_samples, epochs=epochs, repeats=repeats, lr=lr,
                             dataset=dataset, train_size=train_size, augment=augment,
                             estimators="[" + ", ".join(f'"{e}"' for e in estimators) + "]")
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def record_traces(suite, root: Path, data_dir=None):
    """Records a loaded suite's trials on the CPU into a trace store at `root`, quietly: the store."""
    import torch

    from fhbench.engine.pipeline import open_store, record_suite

    store = open_store(suite, root)
    record_suite(suite, store, data_dir=data_dir, device=torch.device("cpu"), report=lambda message: None)
    return store


def load_benchmark(name: str):
    """A script of benchmarks/ as a module (benchmarks/ is no package): registered in sys.modules first, as
    dataclasses need to find the module of the classes it defines."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fhbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Runs `fhbench ARGS` in this process: (exit status, stdout, stderr)."""
    from fhbench.cli import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(result: tuple[int, str, str], *fragments: str) -> str:
    """A user error: exit status 2, one line on stderr starting `fhbench: error:`, no traceback."""
    code, _, err = result
    assert code == 2, (code, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("fhbench: warning:")]
    assert len(lines) == 1 and lines[0].startswith("fhbench: error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def shared_data() -> Path:
    value = os.environ.get("FHBENCH_DATA")
    if not value or not (Path(value) / "cifar10-jpeg").is_dir():
        pytest.skip("FHBENCH_DATA not set to a folder with cifar10-jpeg/: real CIFAR-10 tests need ../shared/data")
    return Path(value)


@pytest.fixture(autouse=True)
def one_thread():
    """torch at one thread for every test (whatever an earlier test or an explicit OMP_NUM_THREADS left):
    small networks on 2 shared cores run fastest so (a second OpenMP thread only spins), and the CPU clock
    of overheads is exact there (fhbench.estimators.harness)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def _scratch_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(autouse=True)
def _in_tmp_path(request, monkeypatch, _scratch_root):
    """Every test runs in a folder of its own: its tmp_path where it asks for one, else a fresh folder under
    the session's temporary one (a tmp_path for each of a thousand tests costs a second of CPU: pytest
    numbers them by listing the folder each time). A command's default folders (./traces, ./runs,
    ./leaderboard) and Python's temporary files (tempfile, in this process) land there, never in the
    checkout or /tmp. Read the repository's files through REPO, not the current directory."""
    if "tmp_path" in request.fixturenames:
        folder = request.getfixturevalue("tmp_path")
    else:
        folder = Path(tempfile.mkdtemp(dir=_scratch_root))
    monkeypatch.chdir(folder)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


@contextlib.contextmanager
def ray_tmpdir_set():
    """RAY_TMPDIR (where Ray puts its session folders: sockets, logs) set to a short folder of the caller's
    own, removed afterwards: Ray started in this process or in a subprocess writes there, not in
    /tmp/ray/session_*. Not under tmp_path: Ray's socket paths must fit in 107 bytes, and pytest's
    tmp_path is too long for them."""
    folder = tempfile.mkdtemp(prefix="fhr", dir="/tmp")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RAY_TMPDIR", folder)
            yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ray_tmpdir():
    """For a test that starts Ray: see ray_tmpdir_set."""
    with ray_tmpdir_set() as folder:
        yield folder


# ------------------------------------------------------------------------------------- the checkout stays clean

# Never checked: the venv, caches, and what installing the checkout writes. The folders fhbench's commands
# write by default (traces/, runs/, site/) and data/ are checked only where they did not exist before the
# session (a contributor's own runs live there); a test writing into them is then caught in CI.
_ALWAYS_IGNORED = (".venv", ".pytest_cache", ".benchmarks", ".import_linter_cache", ".ruff_cache")
_OWN_FOLDERS = ("traces", "runs", "site", "data")


def _new_files_in_checkout() -> set[str] | None:
    """The untracked and ignored paths `git status` shows in the checkout (folders collapsed), less those
    never checked; None outside a git checkout (an sdist, an installed copy)."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--ignored", "-z"], cwd=REPO,
                                capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if status.returncode != 0:
        return None
    paths = set()
    for entry in status.stdout.split("\0"):
        if entry[:2] not in ("??", "!!"):
            continue  # a tracked file's edit (another process may be editing the tree): not a new file
        path = entry[3:]
        parts = path.rstrip("/").split("/")
        if parts[0] in _ALWAYS_IGNORED or "__pycache__" in parts or parts[0].endswith(".egg-info"):
            continue
        paths.add(path)
    return paths


_before_the_session: tuple[set[str] | None, set[str]] = (None, set())


@pytest.hookimpl(trylast=True)  # after pytest's own, which makes config._tmp_path_factory
def pytest_configure(config):
    """Before collection (which imports the test modules, and where plugins may write too): what the checkout
    holds; and Hypothesis's storage (it would make .hypothesis/ in the current directory, the checkout) in
    this session's temporary folder."""
    global _before_the_session
    _before_the_session = (_new_files_in_checkout(), {name for name in _OWN_FOLDERS if (REPO / name).exists()})
    factory = getattr(config, "_tmp_path_factory", None)  # what pytest's tmp_path_factory fixture returns
    if factory is not None:
        os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(factory.getbasetemp() / "hypothesis")


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """Fails the run if it left new files in the checkout: a test writes only under its tmp_path. Compared
    with the checkout before collection. (Under pytest-xdist each worker checks its own session.)"""
    yield
    before, existing = _before_the_session
    after = _new_files_in_checkout()
    if before is None or after is None:
        return
    new = sorted(p for p in after - before if p.rstrip("/").split("/")[0] not in existing)
    if new:
        pytest.fail("tests wrote into the checkout (write under tmp_path instead): " + ", ".join(new),
                    pytrace=False)


def rescore_with_intervals(board: Path) -> tuple[dict, list, dict]:
    """A board of results schema 2 (a copy: nb201-cpu/2, say) scored again from its own estimates with
    intervals and verdicts, written back as results schema 3; returns (its results, rows, statistics)."""
    import json
    import math

    from fhbench.publish.provenance import clean
    from fhbench.score.metrics import score_board
    from fhbench.score.published import published_records

    results = json.loads((board / "results.json").read_text())
    rank_only = frozenset(r["estimator"] for r in results["rows"] if r.get("rank_only"))
    rows, statistics = score_board(published_records(results), results["truths"],
                                   dict.fromkeys(results["truths"], math.nan),
                                   results["suite_settings"]["train"]["epochs"], rank_only)
    results = clean({**results, "rows": [r.as_dict() for r in rows], "statistics": statistics, "results_schema": 3})
    (board / "results.json").write_text(json.dumps(results))
    return results, rows, statistics
