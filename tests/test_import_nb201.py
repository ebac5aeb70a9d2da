"""`fhbench import` of NAS-Bench-201's official benchmark file, on a small file built from the very
structures the nas-bench-201 API reads (`ArchResults`, `ResultsCount`, the dict its constructor takes):
the imported curves are read back through that API and through fhbench's traces, and must agree. The
official 4.7 GB file itself is not available offline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error, cli
from fhbench.inputs.nb201_file import read_nb201_curves
from fhbench.inputs.suite import load_suite
from fhbench.inputs.truth import load_truth, parse_truth
from fhbench.publish.board_files import read_results
from fhbench.record.store import TraceStore

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
)
SEEDS = {0: (777, 888), 1: (888, 777), 2: (888,)}  # architecture 2 was trained once, with seed 888
EPOCHS = 200


def percent(arch: int, seed: int, setting: str, what: str, epoch: int) -> float:
    """A distinct value per run, set and epoch (a percentage for accuracies), so that reading any other
    run, set, setting or epoch gives another number."""
    base = {"train": 30.0, "x-valid": 25.0, "ori-test": 24.0}[what] + {"cifar10-valid": 0.0, "cifar10": 5.0}[setting]
    return round(base + 0.3 * epoch + 2.0 * arch + (seed - 777) / 100, 4)


def loss(arch: int, seed: int, what: str, epoch: int) -> float:
    offset = {"train": 0.0, "x-valid": 0.05}.get(what, 0.1)
    return round(2.5 - 0.01 * epoch + 0.1 * arch + (seed - 777) / 1000 + offset, 5)


def _run(arch: int, seed: int, setting: str, sets: tuple[str, ...], epochs: int):
    """One training run as NAS-Bench-201 stores it: a ResultsCount with per-epoch train and eval dicts."""
    from nas_201_api import ResultsCount

    config = {"channel": 16, "num_cells": 5, "arch_str": ARCHS[arch], "class_num": 10}
    train_acc = {e: percent(arch, seed, setting, "train", e + 1) for e in range(epochs)}
    train_loss = {e: loss(arch, seed, "train", e + 1) for e in range(epochs)}
    run = ResultsCount(setting, None, train_acc, train_loss, 0.37, 53.0, config, seed, epochs, [0.012])
    run.update_train_info(train_acc, None, train_loss, {e: 12.0 for e in range(epochs)})
    accs = {f"{name}@{e}": percent(arch, seed, setting, name, e + 1) for name in sets for e in range(epochs)}
    losses = {f"{name}@{e}": loss(arch, seed, name, e + 1) for name in sets for e in range(epochs)}
    run.update_eval(accs, losses, {key: 1.5 for key in accs})
    return run


def benchmark_dict(edit=None) -> dict:
    """The dict NASBench201API's constructor takes: {'meta_archs', 'arch2infos': {index: {'less': hp 12,
    'full': hp 200 ArchResults state dicts}}, 'evaluated_indexes'}. hp 200 holds cifar10-valid (x-valid and
    ori-test) and cifar10 (ori-test: the thesis's truth); hp 12 holds 12-epoch runs that must not be read.
    `edit(index, full)` may change an architecture's hp-200 results before they are stored."""
    from nas_201_api import ArchResults

    arch2infos = {}
    for index, arch in enumerate(ARCHS):
        full, less = ArchResults(index, arch), ArchResults(index, arch)
        for seed in SEEDS[index]:
            full.update("cifar10-valid", seed, _run(index, seed, "cifar10-valid", ("x-valid", "ori-test"), EPOCHS))
            full.update("cifar10", seed, _run(index, seed, "cifar10", ("ori-test",), EPOCHS))
            less.update("cifar10-valid", seed, _run(index, seed, "cifar10-valid", ("x-valid", "ori-test"), 12))
        if edit is not None:
            edit(index, full)
        arch2infos[index] = {"less": less.state_dict(), "full": full.state_dict()}
    return {"meta_archs": list(ARCHS), "arch2infos": arch2infos, "evaluated_indexes": set(arch2infos)}


def write_benchmark(path, data: dict, *, zip_format: bool = True):
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    return path


@pytest.fixture(scope="module")
def nb201_file(tmp_path_factory):
    return write_benchmark(tmp_path_factory.mktemp("nb201") / "NAS-Bench-201-tiny.pth", benchmark_dict())


def imported_traces(root, name: str):
    suite = load_suite(root / f"{name}.toml")
    store = TraceStore(root / name / suite.record_hash)
    return suite, [store.open(trial_id) for trial_id in store.trial_ids()]


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip-format", "legacy-format"])
def test_imported_curves_agree_with_the_api_epoch_by_epoch(tmp_path, capsys, zip_format):
    from nas_201_api import NASBench201API

    path = write_benchmark(tmp_path / "NAS-Bench-201-tiny.pth", benchmark_dict(), zip_format=zip_format)
    code, out, _ = cli(capsys, "import", path, "--name", "nb201", "--traces", tmp_path / "traces")
    assert code == 0, out
    assert f"--nb201-file {path}" in out  # the score command names the file the truth comes from
    suite, traces = imported_traces(tmp_path / "traces", "nb201")
    assert suite.checkpoints == (10, 20, 50) and suite.train.epochs == EPOCHS and suite.estimate.truth == "nb201-api"
    assert not suite.train.record_test and "cifar10-valid, hp='200'" in suite.imported.source
    api = NASBench201API(torch.load(path, weights_only=False), verbose=False)  # the API's own reading
    ours = read_nb201_curves(path, hint="")
    assert [t.trial_id for t in traces] == ["r0-00000", "r0-00001", "r0-00002"]
    for index, trace in enumerate(traces):
        trace.verify()
        seed = min(SEEDS[index])  # one run per cell: the lowest seed the file holds for it
        assert trace.config == ARCHS[index] and trace.manifest["seed"] == seed and trace.budget == EPOCHS
        assert trace.config_vector.size == 30 and trace.feature_epochs == ()
        view = trace.view(EPOCHS)
        for e in range(EPOCHS):
            info = api.get_more_info(index, "cifar10-valid", iepoch=e, hp="200", is_random=seed)
            assert view.curve("train_acc")[e] == pytest.approx(info["train-accuracy"] / 100, abs=1e-12)
            assert view.curve("train_loss")[e] == pytest.approx(info["train-loss"], abs=1e-12)
            assert view.curve("val_acc")[e] == pytest.approx(info["valid-accuracy"] / 100, abs=1e-12)
            assert view.curve("val_loss")[e] == pytest.approx(info["valid-loss"], abs=1e-12)
        for name in ("train_acc", "train_loss", "val_acc", "val_loss"):
            assert np.array_equal(ours.curves[name][index], trace.curve(name))
        assert np.isnan(trace.test_curve()).all()  # the truth is the cifar10 setting's, not these runs'
        with pytest.raises(KeyError, match="not in the imported curves"):
            view.curve("lr")
    # the values themselves, as built: epoch 1 of architecture 1's seed-777 run, in fractions
    assert traces[1].curve("val_acc")[0] == pytest.approx(percent(1, 777, "cifar10-valid", "x-valid", 1) / 100)
    assert traces[2].curve("train_acc")[-1] == pytest.approx(percent(2, 888, "cifar10-valid", "train", EPOCHS) / 100)


def test_the_truth_is_the_thesis_s_or_each_run_s_final_validation_accuracy(tmp_path, capsys, nb201_file):
    from nas_201_api import NASBench201API

    root = tmp_path / "traces"
    assert cli(capsys, "import", nb201_file, "--name", "a", "--traces", root)[0] == 0
    suite, traces = imported_traces(root, "a")
    truth = load_truth(parse_truth(suite.estimate.truth), traces, nb201_file=str(nb201_file))
    api = NASBench201API(torch.load(nb201_file, weights_only=False), verbose=False)
    for index, trace in enumerate(traces):
        mean = api.get_more_info(index, "cifar10", hp="200", is_random=False)["test-accuracy"] / 100
        expected = sum(percent(index, s, "cifar10", "ori-test", EPOCHS) for s in SEEDS[index]) / len(SEEDS[index]) / 100
        assert truth.accuracy(trace) == pytest.approx(mean, abs=1e-12) == pytest.approx(expected, abs=1e-12)
    assert cli(capsys, "import", nb201_file, "--name", "v", "--traces", root, "--truth", "val_acc")[0] == 0
    suite, traces = imported_traces(root, "v")
    assert suite.estimate.truth == "final_val_acc"
    truth = load_truth(parse_truth(suite.estimate.truth), traces)
    for index, trace in enumerate(traces):
        assert truth.accuracy(trace) == pytest.approx(
            percent(index, min(SEEDS[index]), "cifar10-valid", "x-valid", EPOCHS) / 100, abs=1e-12)


def _set(index: int, what: str, epoch: int, value: float, *, key: str = "x-valid"):
    def edit(i, full):
        if i != index:
            return
        run = full.query("cifar10-valid", min(SEEDS[i]))
        if what == "drop":
            del run.eval_acc1es[f"{key}@{epoch - 1}"]
        elif what == "train_loss":
            run.train_losses[epoch - 1] = value
        else:
            run.eval_acc1es[f"{key}@{epoch - 1}"] = value
    return edit


@pytest.mark.parametrize("edit, fragments", [
    (_set(1, "val_acc", 7, 101.5), ("architecture 1 (|nor_conv_1x1~0|", "epoch 7", "val_acc is 1.015")),
    (_set(2, "train_loss", 150, math.nan), ("architecture 2 (", "epoch 150", "train_loss is nan")),
    (_set(0, "drop", 58, 0.0), ("architecture 0 (", "no complete cifar10-valid run", "x-valid@57")),
])
def test_a_benchmark_file_with_a_bad_value_is_refused_naming_architecture_and_epoch(tmp_path, capsys, edit, fragments):
    path = write_benchmark(tmp_path / "bad.pth", benchmark_dict(edit))
    assert_one_line_error(cli(capsys, "import", path, "--name", "bad", "--traces", tmp_path / "t"), *fragments)
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").rglob("*"))


def test_a_malformed_architecture_string_or_a_foreign_file_is_refused(tmp_path, capsys):
    data = benchmark_dict()
    data["meta_archs"][2] = "|nor_conv_3x3~0|+|bad_op~0|none~1|+|none~0|none~1|none~2|"
    path = write_benchmark(tmp_path / "bad.pth", data)
    assert_one_line_error(cli(capsys, "import", path, "--name", "bad", "--traces", tmp_path / "t"),
                          "architecture 2 (|nor_conv_3x3~0|+|bad_op~0|", "unknown op 'bad_op'")
    foreign = write_benchmark(tmp_path / "foreign.pth", {"weights": [1, 2, 3]})
    assert_one_line_error(cli(capsys, "import", foreign, "--name", "bad", "--traces", tmp_path / "t"),
                          "is not a NAS-Bench-201 benchmark file")
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").rglob("*"))


@pytest.mark.slow
def test_imported_benchmark_file_is_scored_against_the_thesis_s_truth(tmp_path, capsys, nb201_file):
    root = tmp_path / "traces"
    assert cli(capsys, "import", nb201_file, "--name", "nb", "--traces", root)[0] == 0
    suite_file = root / "nb.toml"
    text = suite_file.read_text()
    start = text.index("estimators = [")
    suite_file.write_text(text[:start] + 'estimators = ["original", "sotl", "fh-ensemble"]\n')
    assert_one_line_error(cli(capsys, "score", suite_file, "--traces", root, "--leaderboard", tmp_path / "runs"),
                          "truth 'nb201-api' needs NAS-Bench-201's benchmark file")
    code, _, err = cli(capsys, "score", suite_file, "--traces", root, "--leaderboard", tmp_path / "runs",
                       "--nb201-file", nb201_file)
    assert code == 0, err
    results = read_results(tmp_path / "runs" / "nb" / "1")
    assert results["truth"]["spec"] == "nb201-api" and "mean over 1 to 2 seeds" in results["truth"]["source"]
    for trial_id, value in results["truths"].items():
        index = int(trial_id.split("-")[1])
        seeds = SEEDS[index]
        assert value == pytest.approx(sum(percent(index, s, "cifar10", "ori-test", EPOCHS) for s in seeds)
                                      / len(seeds) / 100, abs=1e-9)
    for estimate in results["estimates"]:
        index = int(estimate["trial_id"].split("-")[1])
        if estimate["estimator"] == "original":
            assert estimate["estimate"] == pytest.approx(
                percent(index, min(SEEDS[index]), "cifar10-valid", "x-valid", estimate["checkpoint"]) / 100, abs=1e-9)
    failed = {f["estimator"] for f in results["failures"]}
    assert failed == {"fh-ensemble"}
