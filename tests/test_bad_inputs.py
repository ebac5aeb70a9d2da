"""Bad inputs that used to end in a traceback or pass silently: each is now one line, exit 2."""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import REPO, run_cli
from fhbench.core.errors import DataError, SuiteError
from fhbench.inputs.data import load_splits
from fhbench.inputs.suite import MAX_SUITE_BYTES, load_suite, parse_suite


def test_a_suite_path_that_is_no_regular_file_or_too_large_is_refused_before_reading(tmp_path):
    with pytest.raises(SuiteError, match="/dev/zero: not a regular file"):
        load_suite("/dev/zero")
    fifo = tmp_path / "suite.toml"
    os.mkfifo(fifo)
    with pytest.raises(SuiteError, match="not a regular file"):  # reading a fifo would wait for a writer
        load_suite(fifo)
    big = tmp_path / "big.toml"
    big.write_text('name = "x"\nversion = "1"\n' + "#" * MAX_SUITE_BYTES)
    with pytest.raises(SuiteError, match="larger than 1024 KiB"):
        load_suite(big)


def test_a_description_is_bounded_and_published_once(tmp_path):
    with pytest.raises(SuiteError, match="key 'description': expected at most 4096 characters"):
        parse_suite({"name": "x", "version": "1", "description": "d" * 5000})
    from fhbench.publish.provenance import results_header

    suite = load_suite(REPO / "suites" / "quickstart.toml")
    header = results_header("estimation", suite, estimators={}, environment={}, traces_hash=None, truth={},
                            metrics={})
    assert header["suite"]["description"] == suite.description and "description" not in header["suite_settings"]


def test_a_cell_listed_twice_is_refused():
    cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(SuiteError, match="key 'space.cells': expected distinct .* more than once"):
        parse_suite({"name": "x", "version": "1", "space": {"name": "nb201", "num_samples": 2,
                                                             "cells": [cell, cell.replace("|+|", "| + |", 1)]},
                     "data": {"dataset": "digits"}})


def test_a_plain_npy_array_under_an_npz_name_is_a_data_error(tmp_path):
    folder = tmp_path / "cifar10-jpeg"
    folder.mkdir()
    for name in ("train.npz", "test.npz"):
        with open(folder / name, "wb") as handle:
            np.save(handle, np.arange(10))
    with pytest.raises(DataError, match="train.npz is a single numpy array, not an npz of arrays"):
        load_splits("cifar10-jpeg", tmp_path, 10, 10, 10, 0)


def test_cli_lines_for_a_device_file_suite(tmp_path):
    result = run_cli("run", "/dev/zero", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip() == \
        "fhbench: error: /dev/zero: not a regular file: expected a suite TOML file"


def _store(tmp_path):
    from fhbench.estimators.check import synthetic_population

    traces = synthetic_population(tmp_path / "store", n_trials=3, budget=4)
    return traces, traces[0].path / "test.npz"


def test_the_seal_covers_other_names_for_a_sealed_file(tmp_path):
    """A hard link made before the seal, one made under it, a symbolic link, and a memory map of an open
    descriptor: each reaches test.npz under another name, and each is refused."""
    import mmap

    from fhbench.core.seal import TruthAccessError, sealed, sealed_files_under

    traces, truth = _store(tmp_path)
    before = tmp_path / "innocent.bin"
    os.link(truth, before)
    files = sealed_files_under([tmp_path / "store"])
    descriptor = os.open(before, os.O_RDONLY)  # opened before the seal, mapped under it
    with sealed(files=files):
        with pytest.raises(TruthAccessError):
            open(before, "rb")
        with pytest.raises(TruthAccessError):
            np.load(before)
        with pytest.raises(TruthAccessError):
            os.link(truth, tmp_path / "made-under-the-seal.bin")
        with pytest.raises(TruthAccessError):
            os.symlink(before, tmp_path / "a-symlink.bin")
        with pytest.raises(TruthAccessError):
            os.open(before, os.O_RDONLY)
        try:
            with pytest.raises(TruthAccessError):
                mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(descriptor)
        with open(traces[0].path / "features" / "0002.npz", "rb"):  # what estimators read stays open
            pass
    with open(before, "rb"):  # outside the seal, anything
        pass


def test_check_estimators_catches_a_hard_link_to_the_truth(tmp_path):
    from fhbench.estimators.check import check_estimator

    class HardLinker:
        """Finds the population's test.npz and reads it through a hard link of its own."""
        name, version = "hard-linker", "1"

        def fit(self, population):
            pass

        def estimate(self, trial):
            test_file = tmp_path / "population" / trial.trial_id / "test.npz"
            alias = tmp_path / f"{trial.trial_id}.alias"
            if not alias.exists():
                os.link(test_file, alias)
            return float(np.load(alias)["test_acc"][-1])

    with pytest.raises(AssertionError, match="reaches for the test split or a truth file"):
        check_estimator(HardLinker, workdir=tmp_path)


def test_a_recording_that_cannot_fit_is_refused_before_training(tmp_path, monkeypatch):
    import collections

    import torch

    import fhbench.engine.pipeline as pipeline
    from conftest import write_suite
    from fhbench.core.errors import FhbenchError
    from fhbench.engine.pipeline import open_store, record_suite

    suite = load_suite(write_suite(tmp_path, num_samples=2, epochs=2))
    store = open_store(suite, tmp_path / "traces")
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(pipeline.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(FhbenchError, match=r"need \d+ kB of traces and .* has 1 kB free: .* or pass --force"):
        record_suite(suite, store, data_dir=None, device=torch.device("cpu"), report=lambda _: None)
    assert list(store.trial_ids()) == []  # nothing trained


def test_a_full_scale_suite_on_a_cpu_says_so_at_once(tmp_path):
    import torch

    from fhbench.engine.pipeline import _check_fits, open_store
    from fhbench.record.train import plan_trials
    from fhbench.spaces import suite_space

    suite = load_suite(REPO / "suites" / "nb201.toml")
    space = suite_space(suite)
    said = []
    _check_fits(suite, space, plan_trials(suite, space), open_store(suite, tmp_path), torch.device("cpu"),
                force=True, report=said.append)
    assert len(said) == 1 and "full-scale suite (2,400,000,000 training image-epochs" in said[0]
    assert "384.5 GB of traces" in said[0] and "meant for GPUs" in said[0]


def test_a_string_estimate_is_refused_by_the_harness_and_by_check_estimators_alike():
    from fhbench.estimators.check import check_estimator
    from fhbench.estimators.harness import checked_estimate
    from misbehaving_estimators import Stringy

    assert checked_estimate("0.9") == (None, "estimate '0.9' is not an accuracy in [0, 1]")
    with pytest.raises(AssertionError, match="estimate '0.9' is not an accuracy in \\[0, 1\\]"):
        check_estimator(Stringy)
    assert checked_estimate(1) == (1.0, None)  # an int accuracy passes both
