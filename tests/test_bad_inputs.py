"""Bad inputs that used to end in a traceback or pass silently: each is now one line, exit 2."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
