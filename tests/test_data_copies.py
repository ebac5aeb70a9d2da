"""A suite never switches silently between copies of its data: a trace store whose trials came from one
copy refuses a run that would read another, and `--strict` refuses the JPEG copy for a suite that says
"cifar10"."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import write_suite
from fhbench.core.errors import DataError
from fhbench.engine.pipeline import open_store, record_suite
from fhbench.inputs.data import load_splits
from fhbench.inputs.suite import load_suite
from fhbench.record.format import manifest_digest


def test_strict_refuses_the_jpeg_copy_for_a_suite_that_says_cifar10(tmp_path):
    (tmp_path / "cifar10-jpeg").mkdir()  # only the JPEG copy: without --strict it is read (and fails later here)
    with pytest.raises(DataError, match=r"cifar10: --strict: .* holds only the cifar10-jpeg copy"):
        load_splits("cifar10", tmp_path, 10, 10, 10, 0, strict=True)
    with pytest.raises(DataError, match="cifar10-jpeg: missing file"):  # the fallback, taken without --strict
        load_splits("cifar10", tmp_path, 10, 10, 10, 0)


@pytest.mark.slow  # records two trials
def test_a_store_never_mixes_copies_of_its_data(tmp_path):
    suite = load_suite(write_suite(tmp_path, num_samples=2, epochs=2))
    store = open_store(suite, tmp_path / "traces")
    assert len(record_suite(suite, store, data_dir=None, device=torch.device("cpu"), report=lambda _: None)) == 2
    # as if the first trial had been read from another copy: the run that would record the second refuses
    folder = store.root / "r0-000"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["dataset_source"] = "cifar10-jpeg"
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    store.forget("r0-000")
    moved = store.quarantine("r0-001")
    with pytest.raises(DataError, match=r"trial r0-000 was read from 'cifar10-jpeg', and this run would read "
                                        r"'sklearn-digits': one board never mixes copies"):
        record_suite(suite, store, data_dir=None, device=torch.device("cpu"), report=lambda _: None)
    assert moved.exists() and not (store.root / "r0-001").exists()  # nothing recorded
