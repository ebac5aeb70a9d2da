"""Shared test helpers: tiny suites that train in seconds, and ways to run the CLI (in-process, or as a
real subprocess where a test needs a fresh interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def one_thread():
    """torch at one thread for the test: small networks on 2 shared cores run fastest so (a second
    OpenMP thread only spins), and the CPU clock of overheads is exact there (fhbench.estimators.harness)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
