"""`fhbench import` of a CSV of learning curves (docs/import.md): the curves land in the traces exactly,
`fhbench score` scores them through the normal pipeline, and every malformed file is refused on one
line naming the row, with nothing written. NAS-Bench-201's own file: tests/test_import_nb201.py."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, cli
from fhbench.core.errors import DataError, SuiteError
from fhbench.inputs.curves import read_curves_csv
from fhbench.inputs.suite import load_suite, parse_suite
from fhbench.publish.board_files import read_results
from fhbench.record.store import TraceStore
from nb201_like_curves import population

HEADER = ("arch", "epoch", "train_acc", "train_loss", "val_acc", "val_loss", "test_acc")
CELL_A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CELL_B = "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
CELL_C = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"


def value(cell: int, epoch: int, column: int) -> float:
    """A distinct, checkable value per (cell, epoch, column): accuracies in [0, 1], losses above 0."""
    return round(0.1 + 0.2 * cell + 0.01 * epoch + 0.001 * column, 6)


def rows(cells=(CELL_A, CELL_B, CELL_C), epochs: int = 6, columns=HEADER) -> list[list[str]]:
    return [[cell if c == "arch" else str(e) if c == "epoch" else repr(value(i, e, HEADER.index(c)))
             for c in columns] for i, cell in enumerate(cells) for e in range(1, epochs + 1)]


def write_csv(path: Path, body: list[list[str]], columns=HEADER, newline: str = "\n") -> Path:
    path.write_text(newline.join([",".join(columns)] + [",".join(row) for row in body]) + newline)
    return path


def nothing_written(root: Path) -> bool:
    return not root.exists() or not any(root.rglob("*"))


# -- reading -------------------------------------------------------------------------------------------

def test_every_value_lands_at_its_cell_and_epoch_whatever_the_row_order(tmp_path):
    body = rows()
    shuffled = [body[i] for i in np.random.default_rng(0).permutation(len(body))]
    curves = read_curves_csv(write_csv(tmp_path / "c.csv", shuffled, newline="\r\n"))
    assert curves.configs == tuple(sorted((CELL_A, CELL_B, CELL_C)))  # trial i: the i-th arch in byte order
    assert curves.epochs == 6 and len(curves) == 3 and curves.space == "nb201" and not curves.absent
    for trial, config in enumerate(curves.configs):
        cell = (CELL_A, CELL_B, CELL_C).index(config)
        for name in ("train_acc", "train_loss", "val_acc", "val_loss"):
            expected = [value(cell, e, HEADER.index(name)) for e in range(1, 7)]
            assert curves.curves[name][trial].tolist() == expected
        assert curves.test_acc[trial].tolist() == [value(cell, e, 6) for e in range(1, 7)]
    import hashlib

    digest = hashlib.sha256((tmp_path / "c.csv").read_bytes()).hexdigest()
    assert digest in curves.source and "3 NAS-Bench-201 cells x 6 epochs, 18 rows" in curves.source


def test_a_byte_order_mark_and_trailing_empty_lines_are_read_as_nothing(tmp_path):
    plain = read_curves_csv(write_csv(tmp_path / "a.csv", rows()))
    path = tmp_path / "b.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "a.csv").read_bytes() + b"\n\n")
    marked = read_curves_csv(path)
    assert marked.configs == plain.configs
    assert all(np.array_equal(marked.curves[k], plain.curves[k]) for k in plain.curves)


def test_a_loss_or_test_column_may_be_empty_in_every_row(tmp_path):
    body = rows()
    for row in body:
        row[HEADER.index("val_loss")] = row[HEADER.index("test_acc")] = ""
    curves = read_curves_csv(write_csv(tmp_path / "c.csv", body))
    assert set(curves.curves) == {"train_acc", "train_loss", "val_acc"} and curves.test_acc is None
    assert set(curves.absent) == {"val_loss"} and "c.csv gives no val_loss" in curves.absent["val_loss"]
    without_test = read_curves_csv(write_csv(tmp_path / "d.csv", rows(columns=HEADER[:-1]), columns=HEADER[:-1]))
    assert without_test.test_acc is None and not without_test.absent


# -- refusals: one line naming the row, nothing written -----------------------------------------------

def _edit(row: int, column: str, text: str):
    def edit(body):
        body[row][HEADER.index(column)] = text
        return body
    return edit


BAD = {
    "missing epoch": (lambda body: body[:3] + body[4:], "line 2: arch", "no row for epoch 4"),
    "duplicate row": (lambda body: body + [body[7]], "line 20: arch",
                      "epoch 2: a duplicate row (the same arch and epoch as line 9)"),
    "NaN": (_edit(8, "val_acc", "nan"), "line 10: arch", "epoch 3: val_acc is nan"),
    "percent": (_edit(13, "train_acc", "85.2"), "line 15: arch",
                "epoch 2: train_acc is 85.2, expected a fraction in [0, 1]"),
    "negative accuracy": (_edit(0, "test_acc", "-0.1"), "line 2: arch", "test_acc is -0.1"),
    "infinite loss": (_edit(1, "train_loss", "inf"), "line 3: arch", "train_loss is inf, expected a finite number"),
    "not a number": (_edit(5, "val_loss", "abc"), "line 7: arch", "val_loss 'abc' is not a number"),
    "one empty loss": (_edit(4, "train_loss", ""), "line 6: arch",
                       "no train_loss (a train_loss column is given in every row or left empty in all)"),
    "empty accuracy": (_edit(4, "val_acc", ""), "line 6: arch", "no val_acc"),
    "fractional epoch": (_edit(2, "epoch", "3.5"), "line 4: epoch '3.5' is not a whole number", ""),
    "epoch zero": (_edit(2, "epoch", "0"), "line 4: epoch 0", "count from 1"),
    "unknown op": (_edit(6, "arch", CELL_B.replace("nor_conv_1x1", "conv_5x5")), "line 8: arch",
                   "unknown op 'conv_5x5'"),
    "malformed cell": (_edit(6, "arch", "|nor_conv_3x3~0|+|none~0|"), "line 8: arch", "wrong number of nodes"),
    "empty arch": (_edit(6, "arch", ""), "line 8: empty arch", ""),
    "too many fields": (lambda body: body[:9] + [body[9] + ["0.5"]] + body[10:], "line 11: 8 fields, expected 7", ""),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_row_is_refused_on_one_line_naming_it_and_nothing_is_written(tmp_path, capsys, case):
    edit, where, what = BAD[case]
    path = write_csv(tmp_path / "bad.csv", edit(rows()))
    line = assert_one_line_error(cli(capsys, "import", path, "--name", "bad", "--traces", tmp_path / "traces"),
                                 f"{path}: {where}", what)
    if where.endswith(": arch"):  # the row's arch and epoch are named
        assert "epoch" in line
    assert nothing_written(tmp_path / "traces")


@pytest.mark.parametrize("header, message", [
    ("arch,epoch,train_acc,train_loss,val_acc", "line 1: no column val_loss"),
    ("arch,epoch,train_acc,train_loss,val_acc,val_loss,test_acc,lr", "line 1: unknown column 'lr'"),
    ("arch,epoch,train_acc,train_loss,val_acc,val_loss,val_acc", "line 1: column val_acc twice"),
])
def test_a_missing_unknown_or_repeated_column_is_refused(tmp_path, capsys, header, message):
    columns = tuple(header.split(","))
    path = write_csv(tmp_path / "bad.csv", [["x"] * len(columns)], columns=columns)
    assert_one_line_error(cli(capsys, "import", path, "--name", "bad", "--traces", tmp_path / "t"), message)
    assert nothing_written(tmp_path / "t")


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    (",".join(HEADER) + "\n", "no rows after the header"),
    (",".join(HEADER) + "\n" + ",".join(rows()[0]) + "\n\n" + ",".join(rows()[1]) + "\n", "line 3: an empty line"),
    (",".join(HEADER) + '\n"' + ",".join(rows()[0]) + '"\n', "line 2: a quote"),
])
def test_empty_files_blank_lines_and_quotes_are_refused(tmp_path, capsys, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert_one_line_error(cli(capsys, "import", path, "--name", "bad", "--traces", tmp_path / "t"), message)


def test_ids_that_are_not_cells_need_space_ids_and_then_get_no_config_encoding(tmp_path, capsys):
    body = rows(cells=("resnet-a", "resnet-b"))
    path = write_csv(tmp_path / "ids.csv", body)
    assert_one_line_error(cli(capsys, "import", path, "--name", "ids", "--traces", tmp_path / "t"),
                          "line 2: arch 'resnet-a'", "need --space ids")
    code, out, _ = cli(capsys, "import", path, "--name", "ids", "--traces", tmp_path / "t", "--space", "ids",
                       "--checkpoints", "2,4")
    assert code == 0, out
    assert "no config encoding" in out and "lcnet and lcsvr then fail" in out
    suite = load_suite(tmp_path / "t" / "ids.toml")
    assert suite.imported.configs == "ids" and suite.estimate.truth == "final_test_acc"
    store = TraceStore(tmp_path / "t" / "ids" / suite.record_hash)
    traces = [store.open(t) for t in store.trial_ids()]
    assert [t.config for t in traces] == ["resnet-a", "resnet-b"] and all(t.config_vector.size == 0 for t in traces)
    from fhbench_baselines.lcnet import LCNetEstimator
    from fhbench_baselines.lcsvr import LcSVR

    views = [t.view(4) for t in traces]
    for estimator, name in ((LCNetEstimator(num_steps=300, burn_in_steps=100, keep_every=20), "lcnet"),
                            (LcSVR(), "lcsvr")):
        with pytest.raises(ValueError, match=f"{name}: trial r0-00000 has no config encoding"):
            estimator.fit(views)


# -- what is written ---------------------------------------------------------------------------------

def test_the_traces_hold_the_csv_curves_and_views_refuse_what_the_csv_does_not_give(tmp_path, capsys):
    body = rows(epochs=40)
    for row in body:
        row[HEADER.index("train_loss")] = row[HEADER.index("val_loss")] = ""
    path = write_csv(tmp_path / "c.csv", body)
    code, out, _ = cli(capsys, "import", path, "--name", "c", "--traces", tmp_path / "traces")
    assert code == 0
    assert "note: train_loss, val_loss: not given by c.csv" in out
    suite = load_suite(tmp_path / "traces" / "c.toml")
    assert suite.checkpoints == (2, 4, 10)  # 5%, 10% and 25% of 40 epochs
    assert suite.estimate.truth == "final_test_acc" and suite.train.epochs == 40 and suite.train.record_test
    assert "synflow" not in suite.estimate.estimators and {"original", "sotl", "fh-ensemble"} <= set(
        suite.estimate.estimators)
    store = TraceStore(tmp_path / "traces" / "c" / suite.record_hash)
    assert list(store.trial_ids()) == ["r0-00000", "r0-00001", "r0-00002"]
    for trial_id, config in zip(store.trial_ids(), sorted((CELL_A, CELL_B, CELL_C))):
        trace = store.open(trial_id)
        trace.verify()
        cell = (CELL_A, CELL_B, CELL_C).index(config)
        assert trace.config == config and trace.status == "complete" and trace.budget == 40
        assert trace.feature_epochs == () and trace.manifest["imported"] == suite.imported.source
        from fhbench.spaces.nb201 import Nb201Cell

        assert trace.config_vector.tolist() == Nb201Cell.from_string(config).encoding().tolist()
        assert trace.test_curve().tolist() == [value(cell, e, 6) for e in range(1, 41)]
        view = trace.view(10)
        assert view.curve("val_acc").tolist() == [value(cell, e, 4) for e in range(1, 11)]
        assert view.curve("train_acc").tolist() == [value(cell, e, 2) for e in range(1, 11)]
        assert view.kept_epochs == ()
        for name, why in (("train_loss", "c.csv gives no train_loss"), ("lr", "not in the imported curves"),
                          ("epoch_time", "not in the imported curves")):
            with pytest.raises(KeyError, match=why):
                view.curve(name)
    from fhbench_baselines.sotl import SumOfTrainingLosses

    with pytest.raises(KeyError, match="no curve 'train_loss': c.csv gives no train_loss"):
        SumOfTrainingLosses().estimate(store.open("r0-00000").view(10))


def test_import_writes_a_store_whole_keeps_a_sound_one_and_repairs_a_damaged_one(tmp_path, capsys, monkeypatch):
    root = tmp_path / "traces"
    first = write_csv(tmp_path / "c.csv", rows())
    assert cli(capsys, "import", first, "--name", "c", "--traces", root, "--checkpoints", "2")[0] == 0
    suite_text = (root / "c.toml").read_text()
    store = root / "c" / load_suite(root / "c.toml").record_hash
    (store / "r0-00001" / "curves.npz").write_bytes(b"damaged")
    damaged = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}

    from fhbench.record import imported

    def dies_midway(curves, folder, suite):
        (folder / "r0-00000").mkdir()
        (folder / "r0-00000" / "curves.npz").write_bytes(b"half")
        raise OSError(28, "No space left on device", str(folder / "r0-00000"))

    with monkeypatch.context() as patch:
        patch.setattr(imported, "_write_trials", dies_midway)
        assert_one_line_error(cli(capsys, "import", first, "--name", "c", "--traces", root), "No space left on device")
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == damaged  # nothing half-written
    assert (root / "c.toml").read_text() == suite_text
    assert sorted(p.name for p in (root / "c").iterdir()) == [store.name]  # no staging folder left

    code, out, _ = cli(capsys, "import", first, "--name", "c", "--traces", root, "--checkpoints", "2")
    assert code == 0 and "already held" not in out
    for trial in TraceStore(store).trial_ids():  # the damaged store was replaced whole
        TraceStore(store).open(trial).verify()
    stamp = (store / "r0-00001" / "manifest.json").stat().st_mtime_ns
    code, out, _ = cli(capsys, "import", first, "--name", "c", "--traces", root, "--checkpoints", "2")
    assert code == 0 and "already held these curves: left as it was" in out
    assert (store / "r0-00001" / "manifest.json").stat().st_mtime_ns == stamp

    fewer = write_csv(tmp_path / "c.csv", rows(cells=(CELL_B,)))  # the same file name, other content
    assert cli(capsys, "import", fewer, "--name", "c", "--traces", root, "--checkpoints", "2")[0] == 0
    suite = load_suite(root / "c.toml")
    assert suite.imported.trials == 1 and suite.record_hash != store.name  # other curves, another store
    assert list(TraceStore(root / "c" / suite.record_hash).trial_ids()) == ["r0-00000"]


def test_truth_and_checkpoint_choices(tmp_path, capsys):
    path = write_csv(tmp_path / "c.csv", rows(columns=HEADER[:-1]), columns=HEADER[:-1])
    for flags, fragments in ((("--truth", "test_acc"), ("--truth test_acc", "has no test_acc column")),
                             (("--checkpoints", "2,9"), ("--checkpoints: epoch 9 is after the curves' last, 6",)),
                             (("--checkpoints", "4,2"), ("--checkpoints 4,2: expected increasing distinct epochs",)),
                             (("--name", "../c"), ("--name",))):
        assert_one_line_error(cli(capsys, "import", path, "--name", "c", "--traces", tmp_path / "t", *flags),
                              *fragments)
    assert nothing_written(tmp_path / "t")
    assert cli(capsys, "import", path, "--name", "c", "--traces", tmp_path / "t", "--checkpoints", "3")[0] == 0
    suite = load_suite(tmp_path / "t" / "c.toml")
    assert suite.estimate.truth == "final_val_acc" and not suite.train.record_test and suite.checkpoints == (3,)
    with_test = write_csv(tmp_path / "d.csv", rows())
    assert cli(capsys, "import", with_test, "--name", "d", "--traces", tmp_path / "t", "--truth", "val_acc")[0] == 0
    assert load_suite(tmp_path / "t" / "d.toml").estimate.truth == "final_val_acc"


# -- the suite's [imported] table ----------------------------------------------------------------------

def imported_suite(**changes) -> dict:
    raw = {"name": "c", "version": "1",
           "imported": {"source": "c.csv: 3 cells", "configs": "nb201", "trials": 3},
           "train": {"epochs": 6, "record_test": True},
           "estimate": {"checkpoints": [2], "repeats": 1, "truth": "final_test_acc", "estimators": ["original"]}}
    for key, table in changes.items():
        raw[key] = table if table is None or key not in raw else {**raw[key], **table}
    return {k: v for k, v in raw.items() if v is not None}


@pytest.mark.parametrize("changes, message", [
    ({"space": {"num_samples": 3}}, "key 'space.num_samples': expected no [space] table"),
    ({"data": {"dataset": "cifar10"}}, "key 'data.dataset': expected no [data] table"),
    ({"record": {"window": 3}}, "key 'record.window': expected no [record] table"),
    ({"train": {"lr": 0.1}}, "key 'train.lr': expected only epochs and record_test"),
    ({"estimate": {"repeats": 2}}, "key 'estimate.repeats': expected 1 for imported curves"),
    ({"imported": {"configs": "darts"}}, "key 'imported.configs': expected one of nb201, ids"),
    ({"imported": {"trials": 0}}, "key 'imported.trials'"),
    ({"imported": {"source": " "}}, "key 'imported.source'"),
    ({"imported": {"configs": "ids"}, "estimate": {"truth": "nb201-table"}},
     "key 'estimate.truth': expected final_test_acc or final_val_acc"),
    ({"search": {"algorithms": ["random"]}}, "key 'search': expected no [search] table"),
])
def test_an_imported_suite_refuses_settings_that_plan_or_train(changes, message):
    with pytest.raises(SuiteError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_suite(imported_suite(**changes))


def test_an_imported_suite_publishes_only_what_applies_and_its_traces_depend_on_the_source_alone():
    suite = parse_suite(imported_suite())
    assert set(suite.to_dict()) == {"name", "version", "description", "imported", "train", "estimate",
                                    "estimator_settings"}
    assert suite.to_dict()["train"] == {"epochs": 6, "record_test": True}
    other_checkpoints = parse_suite(imported_suite(estimate={"checkpoints": [3], "truth": "final_val_acc"}))
    assert other_checkpoints.record_hash == suite.record_hash and other_checkpoints.hash != suite.hash
    other_source = parse_suite(imported_suite(imported={"source": "c.csv: other content"}))
    assert other_source.record_hash != suite.record_hash
    assert parse_suite({"name": "x", "version": "1"}).to_dict().get("imported") is None


# -- end to end ----------------------------------------------------------------------------------------

def write_population_csv(path: Path, cells, *, losses: bool = True) -> Path:
    lines = [",".join(HEADER)]
    for item in cells:
        c = item.curves
        for e in range(len(c["val_acc"])):
            train_loss, val_loss = ((repr(float(c["train_loss"][e])), repr(float(c["val_loss"][e]))) if losses
                                    else ("", ""))
            lines.append(",".join([item.cell.to_string(), str(e + 1), repr(float(c["train_acc"][e])), train_loss,
                                   repr(float(c["val_acc"][e])), val_loss, repr(float(c["test_acc"][e]))]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_imported_csv_is_scored_curve_estimators_run_and_feature_estimators_fail_saying_why(tmp_path, capsys):
    cells = population(12, seed=3)
    path = write_population_csv(tmp_path / "nb201-like.csv", cells)
    traces = tmp_path / "traces"
    code, out, _ = cli(capsys, "import", path, "--name", "like", "--traces", traces)
    assert code == 0 and "score them with: fhbench score" in out
    suite_file = traces / "like.toml"
    with open(suite_file, "a") as handle:  # LCNet's default 13,000 SGHMC steps take minutes
        handle.write("\n[estimators.lcnet]\nnum_steps = 300\nburn_in_steps = 100\nkeep_every = 20\n")
    code, out, err = cli(capsys, "score", suite_file, "--traces", traces, "--leaderboard", tmp_path / "runs")
    assert code == 0, err
    results = read_results(tmp_path / "runs" / "like" / "1")
    assert results["suite_settings"]["imported"]["trials"] == 12
    assert results["truth"]["spec"] == "final_test_acc" and "own run" in results["truth"]["source"]
    assert results["dataset_source"] == "imported from nb201-like.csv"
    by_config = {item.cell.to_string(): item for item in cells}
    configs = {e["trial_id"]: e["config"] for e in results["estimates"]}
    for trial_id, truth in results["truths"].items():  # the last epoch's test_acc, exactly
        assert truth == pytest.approx(float(by_config[configs[trial_id]].curves["test_acc"][-1]), abs=1e-9)
    rows = {(r["estimator"], r["epoch"]): r for r in results["rows"]}
    assert {epoch for _, epoch in rows} == {10, 20, 50}
    curve_estimators = ("original", "sotl", "sotl-e", "lcnet", "lcsvr", "lc-extrapolation")
    feature_estimators = ("fh-ensemble", "fh-ridge", "optimized", "snapshot-ensemble")
    assert {name for name, _ in rows} >= set(curve_estimators + feature_estimators)
    for (name, epoch), row in rows.items():
        if name in curve_estimators:
            assert row["n_failed"] == 0, (name, epoch)
            assert math.isfinite(row["kendall_tau_mean"])
        elif name in feature_estimators:
            assert row["n_failed"] == 12, (name, epoch)
    failures = {f["estimator"]: f["error"] for f in results["failures"]}
    assert not set(failures) & set(curve_estimators)
    for name in feature_estimators:
        assert "keeps no features at all (curves only: imported curves, say)" in failures[name]
    original = {(e["trial_id"], e["checkpoint"]): e["estimate"] for e in results["estimates"]
                if e["estimator"] == "original"}
    for (trial_id, epoch), estimate in original.items():  # the last val_acc the view showed: the CSV's
        assert estimate == pytest.approx(float(by_config[configs[trial_id]].curves["val_acc"][epoch - 1]), abs=1e-9)
    code, out, _ = cli(capsys, "verify", suite_file, "--traces", traces)
    assert code == 0 and "0 problem(s)" in out
    code, out, _ = cli(capsys, "reproduce", tmp_path / "runs" / "like" / "1")
    assert code == 0 and "reproduced" in out
    assert_one_line_error(cli(capsys, "record", suite_file, "--traces", traces), "imported curves",
                          "nothing to record")


@pytest.mark.slow
def test_without_losses_the_loss_estimators_fail_on_the_board_with_the_reason(tmp_path, capsys):
    path = write_population_csv(tmp_path / "nolosses.csv", population(6, seed=4), losses=False)
    traces = tmp_path / "traces"
    assert cli(capsys, "import", path, "--name", "nl", "--traces", traces, "--checkpoints", "10,20")[0] == 0
    suite_file = traces / "nl.toml"
    text = suite_file.read_text()
    estimators = tomllib.loads(text)["estimate"]["estimators"]
    suite_file.write_text(text.replace(json.dumps(estimators), '["original", "sotl", "sotl-e"]'))
    code, _, err = cli(capsys, "score", suite_file, "--traces", traces, "--leaderboard", tmp_path / "runs", "--strict")
    assert code == 0, err  # --strict: imported traces were recorded elsewhere, their conditions are not ours
    results = read_results(tmp_path / "runs" / "nl" / "1")
    failures = {f["estimator"]: f["error"] for f in results["failures"]}
    assert set(failures) == {"sotl", "sotl-e"}
    assert all("no curve 'train_loss': nolosses.csv gives no train_loss" in e for e in failures.values())
    assert all(r["n_failed"] == 0 for r in results["rows"] if r["estimator"] == "original")


def test_a_store_that_lost_a_trial_or_holds_another_import_is_refused(tmp_path, capsys):
    import shutil

    from fhbench.core.errors import TraceError
    from fhbench.engine.pipeline import load_traces, open_store, verify_suite

    path = write_csv(tmp_path / "c.csv", rows())
    assert cli(capsys, "import", path, "--name", "c", "--traces", tmp_path / "t", "--checkpoints", "2")[0] == 0
    suite = load_suite(tmp_path / "t" / "c.toml")
    store = open_store(suite, tmp_path / "t")
    assert len(load_traces(suite, store)) == 3 and verify_suite(suite, store) == []
    raw = tomllib.loads((tmp_path / "t" / "c.toml").read_text())
    raw["imported"] = {**raw["imported"], "source": "another file"}
    with pytest.raises(TraceError, match="not imported from what edited.toml says"):
        load_traces(parse_suite(raw, source="edited.toml"), TraceStore(store.root))
    shutil.rmtree(store.root / "r0-00001")
    with pytest.raises(TraceError, match="holds 2 imported trials, .* says 3: import the curves again"):
        load_traces(suite, TraceStore(store.root))
    assert "holds 2 imported trials" in verify_suite(suite, TraceStore(store.root))[0]
    with pytest.raises(DataError, match="cannot read"):
        read_curves_csv(tmp_path / "missing.csv")


def test_an_imported_suite_refuses_zero_cost_proxy_estimators_before_any_work(tmp_path, capsys):
    path = write_csv(tmp_path / "c.csv", rows())
    assert cli(capsys, "import", path, "--name", "c", "--traces", tmp_path / "t", "--checkpoints", "2")[0] == 0
    suite_file = tmp_path / "t" / "c.toml"
    text = suite_file.read_text()
    estimators = tomllib.loads(text)["estimate"]["estimators"]
    suite_file.write_text(text.replace(json.dumps(estimators), '["original", "synflow"]'))
    assert_one_line_error(cli(capsys, "score", suite_file, "--traces", tmp_path / "t", "--leaderboard",
                              tmp_path / "runs"), "estimator 'synflow' reads zero-cost proxies, which imported curves "
                                                  "do not hold")


@pytest.mark.parametrize("given, message", [
    ("missing.csv", "missing.csv: no such file"),
    (".", ".: not a regular file"),
    ("/dev/zero", "/dev/zero: not a regular file"),
])
def test_a_path_that_is_not_a_curves_file_is_refused_for_what_it_is(tmp_path, capsys, monkeypatch, given, message):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli(capsys, "import", given, "--name", "x", "--traces", tmp_path / "t"), message)
    assert not (tmp_path / "t").exists()
