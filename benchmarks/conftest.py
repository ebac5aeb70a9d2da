"""Fixtures of the ratio benchmarks (not part of the default test run: `testpaths` is tests/).

    python -m pytest -q benchmarks --benchmark-compare=benchmarks/baseline/ratios.json \
        --benchmark-compare-fail=median:50%

See benchmarks/README.md and ratio_bench.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ratio_bench import one_thread, ratio_benchmark  # noqa: F401  (fixtures)

TINY_SUITE = """
name = "bench-tiny"
version = "1"
description = "ratio benchmarks: a small NB201 cell on digits"

[space]
channels = 8
cells_per_stage = 1
num_samples = 1
cells = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"]

[data]
dataset = "digits"
train_size = 1000
val_size = 300
test_size = 300
split_seed = 0
augment = "none"

[train]
epochs = 4
batch_size = 128
seed = 0

[record]
window = 4

[estimate]
every = 4
repeats = 1
estimators = ["fh-ensemble"]

[estimators.fh-ensemble]
window = 4
"""


@dataclasses.dataclass
class Tiny:
    suite: object
    space: object
    splits: object
    trial: object
    root: Path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Tiny:
    """One NB201 cell (C=8, N=1) on 1,000 digits images, 4 epochs, all kept: loaded once."""
    from fhbench.engine.pipeline import load_suite_splits
    from fhbench.spaces import suite_space
    from fhbench.record.train import plan_trials
    from fhbench.inputs.suite import load_suite

    root = tmp_path_factory.mktemp("bench")
    path = root / "bench-tiny.toml"
    path.write_text(TINY_SUITE)
    suite = load_suite(path)
    space = suite_space(suite)
    return Tiny(suite, space, load_suite_splits(suite, None), plan_trials(suite, space)[0], root)


def pytest_benchmark_scale_unit(config, unit, benchmarks, best, worst, sort):
    """The 'times' here are ratios: print them as they are, never as milliseconds."""
    return "", 1.0
