"""The command line, run in-process: every class of bad input answers with one line and exit 2, before
any training; the suite is validated before torch is imported; commands call the pipeline."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import fhbench.engine.pipeline
from conftest import assert_one_line_error, cli, write_suite
from fhbench.core.errors import FhbenchError


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def suite(tmp_path) -> Path:
    return write_suite(tmp_path, "tiny", estimators=("original",))


@pytest.fixture
def no_preflight(monkeypatch):
    """Stops a command right after the CLI's own checks, where the pipeline would start."""
    calls = []

    def preflight(suite, *, nb201_file=None):
        calls.append((suite, nb201_file))
        raise FhbenchError("preflight reached")

    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", preflight)
    return calls


# ------------------------------------------------------------------------------------- the suite file


def test_malformed_and_missing_suite_files(capsys, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [\n")
    assert_one_line_error(cli(capsys, "run", broken), "broken.toml", "not valid TOML")
    assert_one_line_error(cli(capsys, "score", tmp_path / "nope.toml"), "nope.toml", "no such suite file")
    assert_one_line_error(cli(capsys, "verify", tmp_path), "not a regular file")  # a directory
    assert_one_line_error(cli(capsys, "record", tmp_path / ("x" * 300 + ".toml")), "File name too long")


@pytest.mark.parametrize("name, version", [(".", "1"), ("x", "."), (".", "."), ("..", "1"), ("x", ".."),
                                           ("x", "../../elsewhere"), ("-x", "1")])
def test_path_like_names_are_rejected_and_nothing_is_deleted(capsys, tmp_path, name, version):
    board = tmp_path / "leaderboard"
    for folder in ("x/1", "x/2", "other/1"):
        (board / folder).mkdir(parents=True)
        (board / folder / "results.json").write_text(folder)
    traces = tmp_path / "traces"
    (traces / "x").mkdir(parents=True)
    (traces / "x" / "keep").write_text("a trace")
    before_board, before_traces = _tree(board), _tree(traces)
    path = write_suite(tmp_path, "s", estimators=("original",))
    path.write_text(path.read_text().replace('name = "s"', f'name = "{name}"').replace('version = "1"',
                                                                                       f'version = "{version}"', 1))
    for command in ("run", "score", "search", "record"):
        result = cli(capsys, command, path, "--traces", traces, *(["--leaderboard", board] if command != "record"
                                                                   else []))
        assert_one_line_error(result, "s.toml", "key '")
    assert _tree(board) == before_board and _tree(traces) == before_traces
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard", "s.toml", "traces"]


def test_suite_errors_answer_before_torch_is_imported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nversion = "1"\n[train]\nepochs = "ten"\n')
    code = ("import sys\nfrom fhbench.cli import main\n"
            f"assert main(['run', {str(bad)!r}]) == 2\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "fhbench: error: " + f"{bad}: key 'train.epochs': expected an integer"


def test_suite_warnings_are_printed(capsys, tmp_path, no_preflight):
    path = tmp_path / "search.toml"
    path.write_text('name = "s"\nversion = "1"\n[space]\nnum_samples = 32\n[train]\nepochs = 16\n'
                    '[estimate]\ncheckpoints = [1, 2, 4, 8, 16]\nrepeats = 1\n[search]\nrandom_configs = 16\n')
    code, _, err = cli(capsys, "search", path, "--device", "cpu", "--traces", tmp_path / "t")
    assert code == 2 and "preflight reached" in err
    assert "fhbench: warning:" in err and "43 configurations" in err


# ------------------------------------------------------------------------------------- flags


@pytest.mark.parametrize("device", ["mps", "xyz", "cuda:x", "tpu:9", "cpu:0 ", ""])
def test_unsupported_devices(capsys, suite, device):
    for command in ("run", "record", "score", "search"):
        assert_one_line_error(cli(capsys, command, suite, "--device", device), "--device", "not supported")


def test_cuda_without_cuda(capsys, suite, no_preflight):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for command in ("run", "score", "search"):
        assert_one_line_error(cli(capsys, command, suite, "--device", "cuda"), "--device cuda", "not available")
    assert no_preflight == []


def test_cuda_index_beyond_the_devices(capsys, suite, no_preflight):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    assert_one_line_error(cli(capsys, "score", suite, "--device", f"cuda:{torch.cuda.device_count()}"),
                          "CUDA device(s)")


@pytest.mark.parametrize("threads", ["0", "-1", str(4 * (os.cpu_count() or 1) + 1), "1000000"])
def test_absurd_thread_counts(capsys, suite, threads):
    assert_one_line_error(cli(capsys, "run", suite, "--threads", threads), "--threads", f"got {threads}")


@pytest.mark.parametrize("flag, value", [("--seed", "-1"), ("--iterations", "0"), ("--iterations", "-3")])
def test_negative_seed_and_iterations(capsys, suite, flag, value):
    assert_one_line_error(cli(capsys, "search", suite, "--live", flag, value), flag, f"got {value}")


@pytest.mark.parametrize("args, fragment", [
    (["run"], "suite"),
    (["frobnicate"], "invalid choice"),
    (["run", "s.toml", "--threads", "two"], "invalid int value"),
    (["score", "s.toml", "--bogus"], "unrecognized arguments"),
    ([], "required"),
])
def test_malformed_command_lines(capsys, args, fragment):
    assert_one_line_error(cli(capsys, *args), fragment)


def test_help_exits_0(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0 and "verify" in out and "reproduce" in out


@pytest.mark.parametrize("flag", ["--traces", "--leaderboard"])
def test_output_roots_that_are_files(capsys, tmp_path, suite, flag):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for target in (a_file, a_file / "below"):
        assert_one_line_error(cli(capsys, "score", suite, flag, target), flag, str(a_file), "not a directory")


def test_output_roots_with_names_too_long(capsys, tmp_path, suite):
    long = tmp_path / ("n" * 300)
    assert_one_line_error(cli(capsys, "run", suite, "--traces", long), "--traces", "File name too long")
    assert_one_line_error(cli(capsys, "score", suite, "--leaderboard", long), "--leaderboard", "File name too long")


def test_data_dir_that_is_missing(capsys, tmp_path, suite):
    assert_one_line_error(cli(capsys, "record", suite, "--data-dir", tmp_path / "nowhere"), "--data-dir",
                          "no such directory")


@pytest.mark.parametrize("errno_, text", [(errno.ENOSPC, "No space left on device"),
                                          (errno.EROFS, "Read-only file system"),
                                          (errno.ENAMETOOLONG, "File name too long")])
def test_file_system_errors_during_a_command(capsys, monkeypatch, tmp_path, suite, errno_, text):
    """A full or read-only disk anywhere in a command: one line naming the path."""
    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", lambda suite, nb201_file=None: None)
    where = str(tmp_path / "traces" / "tiny" / "r0-000" / "features" / "0001.npz")

    def fails(*args, **kwargs):
        raise OSError(errno_, os.strerror(errno_), where)

    monkeypatch.setattr(fhbench.engine.pipeline, "record_suite", fails)
    assert_one_line_error(cli(capsys, "record", suite, "--device", "cpu", "--traces", tmp_path / "traces"),
                          where, text)
    monkeypatch.setattr(fhbench.engine.pipeline, "score_suite", fails)
    assert_one_line_error(cli(capsys, "score", suite, "--device", "cpu"), where, text)


def test_nb201_file_flag_and_variable(capsys, monkeypatch, tmp_path, suite, no_preflight):
    monkeypatch.delenv("FHBENCH_NB201_FILE", raising=False)
    assert_one_line_error(cli(capsys, "score", suite, "--nb201-file", tmp_path / "missing.pth"),
                          "--nb201-file", "missing.pth", "no such file")
    monkeypatch.setenv("FHBENCH_NB201_FILE", str(tmp_path / "gone.pth"))
    assert_one_line_error(cli(capsys, "run", suite), "$FHBENCH_NB201_FILE", "gone.pth")
    present = tmp_path / "benchmark.pth"
    present.write_bytes(b"")
    monkeypatch.setenv("FHBENCH_NB201_FILE", str(present))
    cli(capsys, "search", suite, "--device", "cpu")
    given = tmp_path / "given.pth"
    given.write_bytes(b"")
    cli(capsys, "score", suite, "--device", "cpu", "--nb201-file", given)
    assert [call[1] for call in no_preflight] == [str(present), str(given)]


# ------------------------------------------------------------------------------------- preflight


def test_preflight_runs_before_anything_is_recorded(capsys, tmp_path):
    traces = tmp_path / "traces"
    unknown = write_suite(tmp_path, "unknown", estimators=("original", "clairvoyant"))
    assert_one_line_error(cli(capsys, "run", unknown, "--device", "cpu", "--traces", traces),
                          "unknown estimator 'clairvoyant'")
    misspelt = write_suite(tmp_path, "misspelt")
    misspelt.write_text(misspelt.read_text() + "\n[estimators.fh-ensemle]\nwindow = 3\n")
    assert_one_line_error(cli(capsys, "record", misspelt, "--device", "cpu", "--traces", traces),
                          "[estimators.fh-ensemle]")
    typo = write_suite(tmp_path, "typo")
    typo.write_text(typo.read_text() + "\n[estimators.original]\nmetrik = 'val_acc'\n")
    assert_one_line_error(cli(capsys, "run", typo, "--device", "cpu", "--traces", traces),
                          "estimators.original", "metrik")
    bad_cell = write_suite(tmp_path, "badcell", num_samples=1)
    bad_cell.write_text(bad_cell.read_text().replace(
        "sample_seed = 0", 'cells = ["|nor_conv_3x3~0|+|conv_9x9~0|none~1|+|x|"]'))
    assert_one_line_error(cli(capsys, "run", bad_cell, "--device", "cpu", "--traces", traces), "conv_9x9")
    assert not traces.exists()


def test_missing_data_and_unrecorded_traces(capsys, monkeypatch, tmp_path):
    cifar = write_suite(tmp_path, "cifar", dataset="cifar10", estimators=("original",))
    monkeypatch.setenv("FHBENCH_DATA", "")
    assert_one_line_error(cli(capsys, "record", cifar, "--device", "cpu", "--traces", tmp_path / "t"),
                          "cifar10", "FHBENCH_DATA")
    unrecorded = write_suite(tmp_path, "unrecorded", estimators=("original",))
    assert_one_line_error(cli(capsys, "score", unrecorded, "--device", "cpu", "--traces", tmp_path / "empty"),
                          "not recorded", "fhbench record")


def test_strict_and_device_reach_the_pipeline(capsys, monkeypatch, tmp_path, suite):
    import torch

    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", lambda suite, nb201_file=None: None)
    seen = {}

    def score_suite(suite, store, leaderboard_root, **kwargs):
        seen.update(kwargs, leaderboard_root=leaderboard_root)
        raise FhbenchError("scored")

    monkeypatch.setattr(fhbench.engine.pipeline, "score_suite", score_suite)
    assert_one_line_error(cli(capsys, "score", suite, "--strict", "--device", "cpu", "--leaderboard",
                              tmp_path / "lb"), "scored")
    assert seen["strict"] is True and seen["device"] == torch.device("cpu")
    assert seen["leaderboard_root"] == str(tmp_path / "lb")


# ------------------------------------------------------------------------------------- verify, reproduce


def test_verify_lists_problems_and_exits_1(capsys, tmp_path, suite):
    code, out, err = cli(capsys, "verify", suite, "--traces", tmp_path / "empty")
    assert code == 1, err
    assert out.count("not recorded") == 3 and "3 problem(s)" in out


def test_verify_exits_0_when_sound(capsys, monkeypatch, suite):
    monkeypatch.setattr(fhbench.engine.pipeline, "verify_suite", lambda suite, store: [])
    code, out, _ = cli(capsys, "verify", suite)
    assert code == 0 and "0 problem(s)" in out


def test_reproduce(capsys, monkeypatch, tmp_path):
    published = tmp_path / "lb"
    assert_one_line_error(cli(capsys, "reproduce", published), "no results.json")
    published.mkdir()
    (published / "results.json").write_text("{}")
    answers = {"differences": ["hyperband fh-ensemble seed 0: incumbent a -> b"]}
    module = types.ModuleType("fhbench.publish.reproduce")
    module.reproduce_published = lambda path: answers["differences"]
    monkeypatch.setitem(sys.modules, "fhbench.publish.reproduce", module)
    code, out, _ = cli(capsys, "reproduce", published)
    assert code == 1 and "differs: hyperband fh-ensemble seed 0: incumbent a -> b" in out
    answers["differences"] = []
    code, out, _ = cli(capsys, "reproduce", published)
    assert code == 0 and "reproduced" in out


def test_live_search_checks_its_flags_then_calls_the_search(capsys, monkeypatch, tmp_path):
    import fhbench.engine.search

    assert_one_line_error(cli(capsys, "search", "s.toml", "--live", "--algorithm", "tpe"), "--algorithm tpe")
    path = tmp_path / "search.toml"
    path.write_text('name = "s"\nversion = "1"\n[space]\nnum_samples = 64\n[train]\nepochs = 16\n'
                    '[estimate]\ncheckpoints = [1, 2, 4, 8, 16]\nrepeats = 1\n[search]\nrandom_configs = 16\n')
    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", lambda suite, nb201_file=None: None)
    assert_one_line_error(cli(capsys, "search", path, "--live", "--estimator", "oracle", "--device", "cpu"),
                          "--estimator oracle", "installed")
    monkeypatch.setattr(fhbench.engine.pipeline, "load_suite_splits", lambda suite, data_dir, download: "splits")
    seen = {}

    def live(suite, **kwargs):
        seen.update(kwargs)
        run = types.SimpleNamespace(jobs=[1, 2, 3], simulated_time_s=12.5)
        return tmp_path / "lb" / "s" / "live" / "x", run, "|cell|"

    monkeypatch.setattr(fhbench.engine.search, "live_search_and_publish", live)
    code, out, err = cli(capsys, "search", path, "--live", "--device", "cpu", "--seed", "3", "--iterations", "2",
                         "--algorithm", "bohb", "--estimator", "original", "--leaderboard", tmp_path / "lb")
    assert code == 0, err
    assert (seen["algorithm"], seen["estimator"], seen["seed"], seen["iterations"]) == ("bohb", "original", 3, 2)
    assert seen["splits"] == "splits" and seen["environment"]["device"] == "cpu"
    assert "best architecture: |cell|" in out


def test_search_flags_without_live_are_refused(capsys, suite, no_preflight):
    """A replay runs the suite's [search] table: live-only flags would be silently ignored."""
    for flag, value in (("--algorithm", "bohb"), ("--estimator", "lcnet"), ("--seed", "3"), ("--iterations", "2")):
        assert_one_line_error(cli(capsys, "search", suite, flag, value), flag, "only with --live")
    line = assert_one_line_error(cli(capsys, "search", suite, "--seed", "0", "--estimator", "original"))
    assert "--estimator, --seed: only with --live" in line
    assert no_preflight == []  # refused before any work


def _search_suite(tmp_path) -> Path:
    path = tmp_path / "search.toml"
    path.write_text('name = "s"\nversion = "1"\n[space]\nnum_samples = 64\n[train]\nepochs = 16\n'
                    '[estimate]\ncheckpoints = [1, 2, 4, 8, 16]\nrepeats = 1\n[search]\nrandom_configs = 16\n')
    return path


def test_live_search_defaults_and_the_winners_accuracy(capsys, monkeypatch, tmp_path):
    import fhbench.engine.search

    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", lambda suite, nb201_file=None: None)
    monkeypatch.setattr(fhbench.engine.pipeline, "load_suite_splits", lambda suite, data_dir, download: "splits")
    seen = {}
    jobs = [{"job_id": 0, "config": 7, "budget": 4, "score": 0.70}, {"job_id": 1, "config": 9, "budget": 4, "score": 0.8},
            {"job_id": 2, "config": 7, "budget": 16, "score": 0.85}, {"job_id": 3, "config": 9, "budget": 16,
                                                                        "score": None}]
    winner = {"val_acc": 0.87, "epochs": 16, "truth": "nb201-table", "true_acc": 0.9012}

    def live(suite, **kwargs):
        seen.update(kwargs)
        run = types.SimpleNamespace(jobs=jobs, simulated_time_s=12.5, incumbent=7)
        return tmp_path / "runs" / "s" / "live" / "x", run, "|cell|", winner

    monkeypatch.setattr(fhbench.engine.search, "live_search_and_publish", live)
    code, out, err = cli(capsys, "search", _search_suite(tmp_path), "--live", "--device", "cpu")
    assert code == 0, err
    assert (seen["algorithm"], seen["estimator"], seen["seed"], seen["iterations"]) == ("hyperband", "fh-ensemble",
                                                                                       0, 1)
    assert seen["leaderboard_root"] == "runs"
    assert "best architecture: |cell|" in out
    assert "its estimate (fh-ensemble) at epoch 16: 85.00%" in out
    assert "its validation accuracy after 16 epochs: 87.00%" in out
    assert "its accuracy under the truth nb201-table: 90.12%" in out

    winner.update(true_acc=None, why="own-run truths have no value for a cell trained live")
    code, out, _ = cli(capsys, "search", _search_suite(tmp_path), "--live", "--device", "cpu")
    assert "its accuracy under the truth nb201-table: not known (own-run truths have no value" in out


def test_default_threads_and_output_root(capsys, monkeypatch, tmp_path, suite):
    import torch

    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", lambda suite, nb201_file=None: None)
    seen = []

    def score_suite(suite, store, leaderboard_root, **kwargs):
        seen.append((torch.get_num_threads(), leaderboard_root, kwargs))
        raise FhbenchError("scored")

    monkeypatch.setattr(fhbench.engine.pipeline, "score_suite", score_suite)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cli(capsys, "score", suite, "--device", "cpu")
        assert torch.get_num_threads() == 2  # restored after the command
        cli(capsys, "score", suite, "--device", "cpu", "--threads", "2", "--leaderboard", tmp_path / "lb",
            "--fail-fast")
    finally:
        torch.set_num_threads(before)
    assert seen[0][:2] == (1, "runs") and "fail_fast" not in seen[0][2]
    assert seen[1][:2] == (2, str(tmp_path / "lb")) and seen[1][2]["fail_fast"] is True
    code, out, _ = cli(capsys, "run", "--help")
    assert code == 0 and "default: 1" in " ".join(out.split()) and "./runs" in out


class _Broken:
    name, version = "broken", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return self._deep_inside(trial)

    def _deep_inside(self, trial):
        raise ZeroDivisionError("the plugin's own bug")


def test_fail_fast_shows_the_estimators_traceback_and_exits_1(capsys, monkeypatch, suite):
    from fhbench.estimators.harness import fit_and_estimate

    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", lambda suite, nb201_file=None: None)
    views = [types.SimpleNamespace(trial_id="r0-000")]

    def score_suite(suite, store, leaderboard_root, *, on_step=None, fail_fast=False, **kwargs):
        on_step("broken", 0, 2)
        fit_and_estimate("broken", _Broken(), views, views, repeat=0, checkpoint=2, fail_fast=fail_fast)
        raise AssertionError("fail_fast did not stop at the failure")

    monkeypatch.setattr(fhbench.engine.pipeline, "score_suite", score_suite)
    code, _, err = cli(capsys, "score", suite, "--device", "cpu", "--fail-fast")
    assert code == 1
    assert "Traceback" in err and "_deep_inside" in err and "ZeroDivisionError: the plugin's own bug" in err
    assert err.strip().splitlines()[-1].startswith("fhbench: error: --fail-fast: an estimator failed: "
                                                   "ZeroDivisionError")

    def pipeline_error(suite, store, leaderboard_root, **kwargs):  # not the estimator's: one line, exit 2
        raise FhbenchError("trial r0-001 is not recorded")

    monkeypatch.setattr(fhbench.engine.pipeline, "score_suite", pipeline_error)
    assert_one_line_error(cli(capsys, "score", suite, "--device", "cpu", "--fail-fast"), "not recorded")


def test_score_prints_progress_lines_a_narrow_table_and_each_estimators_failures(capsys, monkeypatch, tmp_path,
                                                                                   suite):
    import json

    from fhbench.score.metrics import Row

    monkeypatch.setattr(fhbench.engine.pipeline, "preflight", lambda suite, nb201_file=None: None)
    out_dir = tmp_path / "runs" / "tiny" / "1"

    def score_suite(suite, store, leaderboard_root, *, on_step=None, **kwargs):
        for checkpoint in (2, 4):
            on_step("original", 0, checkpoint)
        out_dir.mkdir(parents=True)
        failures = [{"estimator": "my-plugin-estimator", "repeat": 0, "checkpoint": 2, "trial_id": f"r0-00{i}",
                     "error": "ValueError: no curve"} for i in range(3)]
        failures.append({"estimator": "lcnet", "repeat": 0, "checkpoint": 4, "trial_id": "r0-002",
                         "error": "fit: RuntimeError: diverged"})
        (out_dir / "results.json").write_text(json.dumps({"failures": failures}))
        failed = {("my-plugin-estimator", 2): 3, ("lcnet", 4): 1}  # of 3 trials per row
        rows = [Row(name, epoch, epoch / 4, 0.1234, 0.0123, -0.123, 0.456, 0.5, 0.1, 12.3456, 1.0, 0.5, 0.1,
                    3 - failed.get((name, epoch), 0), failed.get((name, epoch), 0), 0.0, mae_lo=0.1011, mae_hi=0.1456,
                    kendall_tau_lo=-0.4, kendall_tau_hi=0.2, kendall_tau_verdict="tied" if name == "lcnet" else "best")
                for name in ("my-plugin-estimator", "lcnet") for epoch in (2, 4)]
        return out_dir, rows

    monkeypatch.setattr(fhbench.engine.pipeline, "score_suite", score_suite)
    code, out, err = cli(capsys, "score", suite, "--device", "cpu", "--leaderboard", tmp_path / "runs")
    assert code == 0, err
    lines = out.splitlines()
    assert "scored 1/2: original, repeat 0, epoch 2 in" in out and "scored 2/2: original, repeat 0, epoch 4 in" in out
    # a name this long makes the table wider than 80 columns: its rows are grouped under each name
    at = lines.index("my-plugin-estimator:")
    header, rows = lines[at + 1], lines[at + 3:at + 5]
    assert all(len(line) <= 80 for line in lines[at:at + 10]), lines[at:at + 10]
    assert header.split() == ["epoch", "tau", "[95%", "CI]", "MAE", "pp", "[95%", "CI]", "ovh", "ep", "failed"]
    assert all("-0.123 [-0.40, 0.20]  best" in row and "12.34 [10.1, 14.6]" in row for row in rows), rows
    assert "tied" in lines[lines.index("lcnet:") + 3]
    at = lines.index("  my-plugin-estimator: 3 of 6 estimate(s) failed; the first at repeat 0, epoch 2, r0-000:")
    assert lines[at + 1] == "    ValueError: no curve"
    at = lines.index("  lcnet: 1 of 6 estimate(s) failed; the first at repeat 0, epoch 4, r0-002:")
    assert lines[at + 1] == "    fit: RuntimeError: diverged"


def test_the_table_groups_rows_under_names_too_long_for_80_columns():
    from fhbench.publish.terminal import estimation_table
    from fhbench.score.metrics import Row

    name = "an-estimator-whose-name-is-long-enough-to-break-the-table"
    rows = [Row(n, 5, 0.25, 0.1, 0.01, 0.4, 0.02, 0.5, 0.03, 0.001, 0.0, 0.01, 0.0, 10, 0, 1.0) for n in ("original", name)]
    text = estimation_table(rows, 2, width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert f"{name}:" in lines and "original:" in lines  # every name whole, on its own line


class _Mean:
    name, version = "last-mean", "1"

    def fit(self, population):
        pass

    def estimate(self, trial):
        return float(trial.curve("val_acc")[-1])


class _OutOfRange(_Mean):
    name = "out-of-range"

    def estimate(self, trial):
        return 1.5


def _info(name, load):
    return types.SimpleNamespace(name=name, package="my-plugins", package_version="0.1", target=f"x:{name}",
                                 load=load)


def test_check_estimators(capsys, monkeypatch):
    import fhbench.estimators

    def broken():
        raise ImportError("No module named 'mine'")

    registry = {"good": _info("good", lambda: _Mean), "bad": _info("bad", lambda: _OutOfRange),
                "broken": _info("broken", broken)}
    monkeypatch.setattr(fhbench.estimators, "available_estimators", lambda: registry)
    code, out, _ = cli(capsys, "check-estimators")
    assert code == 1
    lines = out.splitlines()
    assert "pass good (my-plugins 0.1)" in lines
    bad = next(line for line in lines if line.startswith("FAIL bad"))
    assert "1.5" in bad and "[0, 1]" in bad
    assert "FAIL broken (my-plugins 0.1): fails to load: ImportError: No module named 'mine'" in lines
    assert lines[-1] == "1 of 3 estimator(s) pass the contract"
    code, out, _ = cli(capsys, "check-estimators", "good")
    assert code == 0 and out.splitlines() == ["pass good (my-plugins 0.1)", "1 of 1 estimator(s) pass the contract"]
    assert_one_line_error(cli(capsys, "check-estimators", "good", "nope"), "nope", "no installed estimator",
                          "installed: good, bad, broken")


class _Metric(_Mean):
    made_with = []

    def __init__(self, metric: str = "val_acc"):
        _Metric.made_with.append(metric)
        self.metric = metric


def test_check_estimators_with_a_suites_settings(capsys, monkeypatch, tmp_path):
    import fhbench.estimators

    monkeypatch.setattr(fhbench.estimators, "available_estimators", lambda: {"good": _info("good", lambda: _Metric)})
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nversion = "1"\n[estimators.good]\nmetric = "train_acc"\n')
    code, out, _ = cli(capsys, "check-estimators", "--suite", path)
    assert code == 0 and "pass good" in out and set(_Metric.made_with) == {"train_acc"}
    path.write_text('name = "s"\nversion = "1"\n[estimators.good]\nmetrik = "train_acc"\n')
    code, out, _ = cli(capsys, "check-estimators", "--suite", path)
    assert code == 1 and "FAIL good (my-plugins 0.1): TypeError" in out and "metrik" in out


def test_publish_copies_a_run_into_the_leaderboard(capsys, monkeypatch, tmp_path):
    run_dir = tmp_path / "runs" / "quickstart" / "1"
    assert_one_line_error(cli(capsys, "publish", run_dir), str(run_dir), "no results.json")
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text("{}")
    calls = []

    def publish_run(run, root, allow_dirty=False):
        calls.append((Path(run), Path(root)))
        return Path(root) / "quickstart" / "1"

    monkeypatch.setattr(fhbench.engine.pipeline, "publish_run", publish_run, raising=False)
    code, out, err = cli(capsys, "publish", run_dir)
    assert code == 0, err
    assert calls == [(run_dir, Path("leaderboard"))] and f"published {run_dir} to leaderboard/quickstart/1" in out
    cli(capsys, "publish", run_dir, "--leaderboard", tmp_path / "elsewhere")
    assert calls[-1] == (run_dir, tmp_path / "elsewhere")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert_one_line_error(cli(capsys, "publish", run_dir, "--leaderboard", a_file), "--leaderboard", "not a directory")


def test_publish_through_the_pipeline(capsys, tmp_path):
    """`fhbench publish` with the pipeline's own publish_run: the run's files land in the leaderboard."""
    from fhbench.publish.provenance import write_directory

    run_dir = write_directory(tmp_path / "runs" / "s" / "2", {
        "results.json": '{"kind": "estimation", "suite": {"name": "s", "version": "2"}}\n', "mae.png": b"png"})
    code, out, err = cli(capsys, "publish", run_dir, "--leaderboard", tmp_path / "leaderboard")
    assert code == 0, err
    final = tmp_path / "leaderboard" / "s" / "2"
    assert f"published {run_dir} to {final}" in out
    assert sorted(p.name for p in final.iterdir()) == ["SHA256SUMS", "mae.png", "results.json"]  # signed anew
    assert (final / "mae.png").read_bytes() == b"png"


def test_compare_on_a_folder_without_results(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli(capsys, "compare", tmp_path / "empty", tmp_path / "empty"), "results.json")


@pytest.mark.slow
def test_run_verify_strict_and_compare_in_process(capsys, tmp_path):
    """A tiny suite from end to end through the CLI: published with the shared header, its traces
    verified, a strict rescore under another thread count refused, and a rescore compared clean."""
    import json

    import torch

    suite = write_suite(tmp_path, "e2e", num_samples=3, epochs=4, estimators=("original", "optimized"))
    traces, board = tmp_path / "traces", tmp_path / "lb"
    threads = torch.get_num_threads()
    try:
        code, out, err = cli(capsys, "run", suite, "--device", "cpu", "--threads", "1", "--traces", traces,
                             "--leaderboard", board)
        assert code == 0, err
        results = json.loads((board / "e2e" / "1" / "results.json").read_text())
        assert results["kind"] == "estimation" and results["environment"]["threads"] == 1
        assert results["metrics"]["kendall_tau_mean"] == "higher"
        assert cli(capsys, "verify", suite, "--traces", traces)[0] == 0

        other = "2" if os.cpu_count() and os.cpu_count() >= 2 else None
        if other:
            assert_one_line_error(cli(capsys, "score", suite, "--strict", "--device", "cpu", "--threads", other,
                                      "--traces", traces, "--leaderboard", tmp_path / "strict"), "--strict", "threads")
            assert not (tmp_path / "strict").exists()
        code, _, err = cli(capsys, "score", suite, "--strict", "--device", "cpu", "--threads", "1",
                           "--traces", traces, "--leaderboard", tmp_path / "again")
        assert code == 0, err
        code, out, _ = cli(capsys, "compare", board / "e2e" / "1", tmp_path / "again" / "e2e" / "1",
                           "--tolerance", "overhead_epochs_mean=1000%")
        assert code == 0 and "0 regression(s)" in out
    finally:
        torch.set_num_threads(threads)


def test_score_refuses_a_search_suite_and_run_checks_its_leaderboard_before_training(tmp_path, capsys):
    search_suite = Path(__file__).resolve().parent.parent / "suites" / "nb201-search-cpu.toml"
    assert_one_line_error(cli(capsys, "score", search_suite, "--traces", tmp_path / "t"), "a search suite")
    assert_one_line_error(cli(capsys, "run", search_suite, "--fail-fast", "--traces", tmp_path / "t"),
                          "--fail-fast")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    suite = write_suite(tmp_path, num_samples=1, epochs=1)
    assert_one_line_error(cli(capsys, "run", suite, "--traces", tmp_path / "t", "--leaderboard", blocker / "lb"),
                          "blocker")
    assert not (tmp_path / "t").exists()  # nothing was recorded
