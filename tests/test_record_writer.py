"""The background feature writer: same bytes as the synchronous path, write errors surface, no stray thread."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import fhbench.record.format
import fhbench.record.writer
from conftest import write_suite
from fhbench.inputs.data import load_splits
from fhbench.spaces import suite_space
from fhbench.record.train import _copy_to_host, plan_trials, record_trial
from fhbench.inputs.suite import load_suite
from fhbench.record.store import TraceStore
from fhbench.record.writer import TrialWriter

CPU = torch.device("cpu")


@pytest.fixture
def tiny(tmp_path):
    suite = load_suite(write_suite(tmp_path, num_samples=2, epochs=4))
    d = suite.data
    splits = load_splits(d.dataset, None, d.train_size, d.val_size, d.test_size, d.split_seed)
    space = suite_space(suite)
    return suite, space, splits, plan_trials(suite, space)


def _file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fhbench-writer-")]


def test_background_writer_writes_the_same_bytes_as_the_synchronous_path(tmp_path, tiny, monkeypatch):
    suite, space, splits, trials = tiny
    before = set(_writer_threads())  # another test's leftovers are not this one's
    stores = {}
    for background in (False, True):
        store = TraceStore(tmp_path / f"bg-{background}")
        for trial in trials:
            assert record_trial(trial, suite, space, splits, store, CPU, background=background) == "complete"
        stores[background] = store
    for trial in trials:
        sync, bg = stores[False].open(trial.trial_id), stores[True].open(trial.trial_id)
        assert sync.feature_epochs == bg.feature_epochs == (1, 2, 3, 4)
        sync_files, bg_files = _file_hashes(sync.path), _file_hashes(bg.path)
        assert sync_files.keys() == bg_files.keys()
        # wall times differ between any two runs: timings.npz, and so the manifest that hashes it
        for name in sorted(set(sync_files) - {"timings.npz", "manifest.json"}):
            assert sync_files[name] == bg_files[name], name
        assert sync.digest == bg.digest  # every hash in the manifest but the timings'
        assert {k: v for k, v in sync.manifest.items() if k not in ("files", "manifest_sha256")} == \
            {k: v for k, v in bg.manifest.items() if k not in ("files", "manifest_sha256")}
        bg.verify()
    assert not set(_writer_threads()) - before


def test_queued_writes_give_the_same_files_and_manifest_as_direct_writes(tmp_path):
    """Deterministic inputs, so every byte can be compared, the manifest included."""
    rng = np.random.default_rng(0)
    epochs = {e: (rng.standard_normal((40, 8)).astype(np.float16), rng.standard_normal((10, 8)).astype(np.float16))
              for e in (1, 2, 3, 5, 6)}
    finish = dict(status="complete", curves={k: np.arange(6, dtype=np.float64) for k in
                                             fhbench.record.format.CURVES + fhbench.record.format.TIMINGS + fhbench.record.format.TEST_CURVES},
                  labels={"train": np.arange(40) % 3, "train_index": np.arange(40), "val": np.arange(10) % 3},
                  classifier_w=np.ones((6, 3, 8)), classifier_b=np.zeros((6, 3)))
    hashes = []
    for size in (0, 1, 2):
        store = TraceStore(tmp_path / f"q{size}")
        writer = TrialWriter(store, "t", {"budget": 6, "repeat": 0, "config": "c"}, queue_size=size)
        for epoch, (train, val) in epochs.items():
            writer.write_features(epoch, train, val)
        writer.finish(**finish)
        hashes.append(_file_hashes(store.root / "t"))
        store.open("t").verify()
    assert hashes[0] == hashes[1] == hashes[2]
    assert not _writer_threads()


def test_a_write_error_in_the_thread_surfaces_and_publishes_nothing(tmp_path, tiny, monkeypatch):
    suite, space, splits, trials = tiny
    store = TraceStore(tmp_path / "t")
    real = fhbench.record.writer.fsync_write
    seen_threads = []

    def full_disk(path, data):
        if "features" in str(path):
            seen_threads.append(threading.current_thread().name)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(fhbench.record.writer, "fsync_write", full_disk)
    with pytest.raises(OSError) as raised:
        record_trial(trials[0], suite, space, splits, store, CPU)
    assert raised.value.errno == errno.ENOSPC and "features/0001.npz" in raised.value.filename
    assert seen_threads and all(name.startswith("fhbench-writer-") for name in seen_threads)
    assert not store.has(trials[0].trial_id) and list(store.trial_ids()) == []
    assert (store.root / ".partial" / trials[0].trial_id).is_dir()
    assert not _writer_threads()
    # the next run redoes the trial from scratch and publishes it
    monkeypatch.setattr(fhbench.record.writer, "fsync_write", real)
    assert record_trial(trials[0], suite, space, splits, store, CPU) == "complete"
    store.open(trials[0].trial_id).verify()


def test_an_error_raised_by_finish_leaves_no_trial(tmp_path):
    """The error reaches `finish` when it comes after the last write_features."""
    store = TraceStore(tmp_path / "t")
    writer = TrialWriter(store, "t", {})
    gate = threading.Event()
    real = writer._put

    def slow_fail(name, arrays):
        if not name.startswith("features/"):
            return real(name, arrays)
        gate.wait()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)

    writer._put = slow_fail
    writer.write_features(1, np.zeros((2, 2), np.float16), np.zeros((1, 2), np.float16))
    gate.set()  # the write fails only after write_features has returned
    with pytest.raises(OSError, match="No space left"):
        writer.finish(status="complete", curves={}, labels={}, classifier_w=np.zeros((1, 1, 1)),
                      classifier_b=np.zeros((1, 1)))  # raises before it reads any of these
    writer.close()
    assert not (store.root / "t").exists() and not _writer_threads()


def test_a_run_that_dies_leaves_only_partial_and_no_thread(tmp_path, tiny):
    suite, space, splits, trials = tiny
    store = TraceStore(tmp_path / "t")

    def dies(epoch, seconds):
        if epoch == 3:
            assert _writer_threads()  # the writer is running mid-trial
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        record_trial(trials[0], suite, space, splits, store, CPU, on_epoch=dies)
    assert list(store.trial_ids()) == [] and (store.root / ".partial" / trials[0].trial_id).is_dir()
    assert not _writer_threads()


def test_the_thread_does_not_outlive_the_writer(tmp_path):
    store = TraceStore(tmp_path / "t")
    writer = TrialWriter(store, "t", {})
    assert writer._thread is None  # started by the first write, not before
    writer.write_features(1, np.zeros((2, 2), np.float16), np.zeros((1, 2), np.float16))
    thread = writer._thread
    assert thread.is_alive() and thread.daemon
    writer.close()
    assert not thread.is_alive() and writer._thread is None
    writer.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        writer.write_features(2, np.zeros((2, 2), np.float16), np.zeros((1, 2), np.float16))


def test_host_copy_on_the_cpu_is_the_plain_copy():
    tensor = torch.randn(5, 3).to(torch.float16)
    np.testing.assert_array_equal(_copy_to_host(tensor, None).wait(), tensor.cpu().numpy())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pinned_non_blocking_copy_gives_the_values_of_cpu():
    device = torch.device("cuda")
    stream = torch.cuda.Stream(device)
    tensor = torch.randn(4096, 64, device=device).to(torch.float16)
    copy = _copy_to_host(tensor, stream)
    assert copy.host.is_pinned()
    torch.cuda._sleep(1000)  # later work on the current stream does not hold the copy back
    np.testing.assert_array_equal(copy.wait(), tensor.cpu().numpy())
