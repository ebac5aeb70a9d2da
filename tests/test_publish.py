"""The publishing layer: one results header, stable JSON, and a directory swap that survives a kill."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fhbench
from fhbench.core.atomic import exchange
from fhbench.publish.provenance import check_signature
from fhbench.publish import provenance as publish
from fhbench.core.errors import FhbenchError
from fhbench.publish.provenance import environment, results_header, results_json, write_directory
from fhbench.inputs.suite import parse_suite


def _read(final: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(final.iterdir())}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_first_publish_and_replacement(tmp_path):
    final = tmp_path / "lb" / "suite" / "1"
    write_directory(final, {"a.txt": "one", "b.bin": b"\x00\x01", "c.txt": lambda p: p.write_text("called")})
    assert _read(final) == {"a.txt": "one", "b.bin": "\x00\x01", "c.txt": "called"}
    write_directory(final, {"a.txt": "two"})
    assert _read(final) == {"a.txt": "two"}  # swapped in whole: b and c are gone
    assert _leftovers(final.parent) == []


def test_kill_after_the_exchange_leaves_the_new_leaderboard_and_the_next_publish_cleans_up(tmp_path, monkeypatch):
    final = tmp_path / "1"
    write_directory(final, {"a.txt": "old"})

    def killed(path):
        raise KeyboardInterrupt("killed before the old leaderboard was deleted")

    monkeypatch.setattr(publish, "_remove_old", killed)
    with pytest.raises(KeyboardInterrupt):
        write_directory(final, {"a.txt": "new"})
    assert _read(final) == {"a.txt": "new"}
    assert _leftovers(tmp_path) == [f".1.staging-{os.getpid()}"]  # the old leaderboard, recognisable
    monkeypatch.undo()
    write_directory(final, {"a.txt": "newer"})
    assert _read(final) == {"a.txt": "newer"}
    assert _leftovers(tmp_path) == []


def test_kill_while_writing_the_staging_keeps_the_old_leaderboard(tmp_path):
    final = tmp_path / "1"
    write_directory(final, {"a.txt": "old"})

    def fails(path):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_directory(final, {"a.txt": "new", "plot.png": fails})
    assert _read(final) == {"a.txt": "old"}
    assert _leftovers(tmp_path) == []


def test_two_rename_fallback_is_recovered_after_a_kill_between_renames(tmp_path, monkeypatch):
    final = tmp_path / "1"
    write_directory(final, {"a.txt": "old"})
    monkeypatch.setattr(publish, "exchange", lambda a, b: False)  # an OS without renameat2
    write_directory(final, {"a.txt": "new"})
    assert _read(final) == {"a.txt": "new"} and _leftovers(tmp_path) == []

    # a process killed between its two renames: final moved aside, staging not yet in place
    pid = _dead_pid()
    os.rename(final, tmp_path / f".1.retired-{pid}")
    (tmp_path / f".1.staging-{pid}").mkdir()
    (tmp_path / f".1.staging-{pid}" / "a.txt").write_text("half")
    monkeypatch.undo()
    publish._recover(final)
    assert _read(final) == {"a.txt": "new"}  # the retired leaderboard is put back
    assert _leftovers(tmp_path) == []


def test_stale_staging_of_dead_processes_is_removed_but_not_that_of_live_ones(tmp_path):
    final = tmp_path / "1"
    dead = tmp_path / f".1.staging-{_dead_pid()}"
    legacy = tmp_path / f".1.tmp-{_dead_pid()}"
    live = tmp_path / f".1.staging-{os.getppid()}"  # the parent process runs
    other = tmp_path / ".2.staging-1"  # another directory's
    for path in (dead, legacy, live, other):
        path.mkdir()
    write_directory(final, {"a.txt": "x"})
    assert _leftovers(tmp_path) == sorted([live.name, other.name])


def test_exchange_is_used_on_linux(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux's")
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    assert exchange(a, b) is True
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_a_file_in_the_way_is_a_user_error(tmp_path):
    final = tmp_path / "1"
    final.write_text("not a directory")
    with pytest.raises(FhbenchError, match="not a directory"):
        write_directory(final, {"a.txt": "x"})
    assert final.read_text() == "not a directory"


def test_results_json_is_stable_and_has_no_nan():
    header = {"kind": "estimation", "x": 1.0 / 3.0}
    rows = [{"mae_mean": math.nan, "tau": math.inf, "n": 3}]
    text = results_json(header, rows, {"extra": (1, 2)})
    data = json.loads(text)
    assert data["rows"] == [{"mae_mean": None, "tau": None, "n": 3}]
    assert data["x"] == 0.3333333333 and data["extra"] == [1, 2]
    assert text == results_json(header, rows, {"extra": (1, 2)})
    with pytest.raises(ValueError, match="kind"):
        results_json(header, rows, {"kind": "search"})


def test_results_header_fields():
    suite = parse_suite({"name": "s", "version": "1", "description": "d"})
    header = results_header("estimation", suite, estimators={"original": {"metric": "val_acc"}},
                            environment={"device": "cpu", "threads": 2}, traces_hash="abc",
                            truth={"spec": "final_test_acc", "own_run": True},
                            metrics={"mae_mean": "lower", "kendall_tau_mean": "higher"})
    assert header["results_schema"] == publish.RESULTS_SCHEMA and header["kind"] == "estimation"
    assert header["fhbench_version"] == fhbench.__version__
    assert header["suite"] == {"name": "s", "version": "1", "description": "d", "hash": suite.hash,
                               "record_hash": suite.record_hash}
    assert header["suite_settings"] == {k: v for k, v in suite.to_dict().items() if k != "description"}
    assert header["metrics"]["kendall_tau_mean"] == "higher"
    assert header["date"].endswith("+00:00")
    assert set(header["git"]) == {"commit", "dirty"}
    with pytest.raises(ValueError, match="direction"):
        results_header("estimation", suite, estimators={}, environment={}, traces_hash=None, truth={},
                       metrics={"mae_mean": "smaller"})


def test_git_state_in_and_outside_a_checkout(monkeypatch, tmp_path):
    state = publish.git_state()
    inside = subprocess.run(["git", "ls-files", "--error-unmatch", "__init__.py"],
                            cwd=Path(fhbench.__file__).parent, capture_output=True).returncode == 0
    if inside:
        assert len(state["commit"]) == 40 and isinstance(state["dirty"], bool)
    monkeypatch.setattr(fhbench, "__file__", str(tmp_path / "fhbench" / "__init__.py"))
    (tmp_path / "fhbench").mkdir()
    assert publish.git_state() == {"commit": None, "dirty": None}


def test_environment_names_the_scoring_conditions():
    env = environment("cpu", 2)
    assert env["device"] == "cpu" and env["threads"] == 2 and env["cpu_count"] == os.cpu_count()
    for key in ("python", "torch", "numpy", "platform", "device_name", "deterministic_algorithms", "cuda", "cudnn"):
        assert key in env
    json.dumps(env)


def test_estimation_leaderboard_is_published_with_the_header(tmp_path):
    from fhbench.publish.estimation_board import publish as publish_estimation
    from fhbench.score.metrics import Row

    suite = parse_suite({"name": "s", "version": "2", "description": "a suite"})
    header = results_header("estimation", suite, estimators={"original": {}}, environment={"device": "cpu"},
                            traces_hash="f" * 64, truth={"spec": "nb201-api", "source": "NAS-Bench-201 test"},
                            metrics=publish.ESTIMATION_METRICS)
    row = Row("original", 5, 0.25, 0.1, 0.01, 0.4, 0.02, 0.5, 0.03, 0.0, 0.0, 0.0, 0.0, 10, 1, 0.9)
    extra = {"dataset_source": "cifar10-jpeg", "trials_scored": 10, "repeats": 1, "failed_trials": [],
             "failures": [{"estimator": "original", "checkpoint": 5, "trial_id": "r0-001", "error": "boom"}],
             "failed_estimate_rule": "a failed estimate counts as 0.0"}
    out = publish_estimation(tmp_path, [row], header, extra)
    assert out == tmp_path / "s" / "2"
    assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "kendall_tau.png", "leaderboard.csv",
                                                     "leaderboard.md", "mae.png", "mae_overhead.png", "results.json"]
    assert check_signature(out) is None  # signed when written: every file's sha256
    assert subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=out).returncode == 0
    data = json.loads((out / "results.json").read_text())
    assert data["metrics"] == publish.ESTIMATION_METRICS and data["rows"][0]["coverage"] == 0.9
    assert data["failures"][0]["error"] == "boom" and data["results_schema"] == publish.RESULTS_SCHEMA
    markdown = (out / "leaderboard.md").read_text()
    assert "`nb201-api` (NAS-Bench-201 test)" in markdown and "counts as 0.0" in markdown
    assert "- **original**: 1 failed; first at epoch 5 on r0-001\n  - 1 x boom" in markdown
    assert (out / "leaderboard.csv").read_text().splitlines()[1].endswith(",10,1,0.9,0,0,nan")


def test_leaderboard_md_lists_failures_per_estimator(tmp_path):
    """One estimator's many failures do not hide another's: each is listed with its count and its
    distinct errors with their counts."""
    from fhbench.publish.estimation_board import DISTINCT_ERRORS_LISTED, group_failures, render_markdown
    from fhbench.score.metrics import Row

    failures = [{"estimator": "noisy", "checkpoint": 5, "trial_id": f"r0-{i:03d}", "error": "ValueError: bad"}
                for i in range(30)]
    failures += [{"estimator": "noisy", "checkpoint": 10, "trial_id": "r0-000", "error": "KeyError: 'x'"}]
    failures += [{"estimator": "quiet", "checkpoint": 10, "trial_id": "r1-004", "error": "RuntimeError: once"}]
    failures += [{"estimator": "many", "checkpoint": 5, "trial_id": f"r0-{i:03d}", "error": f"E{i}"}
                 for i in range(DISTINCT_ERRORS_LISTED + 3)]
    groups = group_failures(failures)
    assert list(groups) == ["noisy", "quiet", "many"]
    assert groups["noisy"]["count"] == 31 and groups["noisy"]["errors"] == [("ValueError: bad", 30), ("KeyError: 'x'", 1)]
    suite = parse_suite({"name": "s", "version": "1", "description": "d"})
    meta = {**results_header("estimation", suite, estimators={}, environment={}, traces_hash="0" * 64,
                             truth={"spec": "final_test_acc"}, metrics=publish.ESTIMATION_METRICS),
            "dataset_source": "digits", "trials_scored": 30, "repeats": 1, "failed_trials": [], "failures": failures}
    row = Row("noisy", 5, 0.25, 0.1, 0.01, 0.4, 0.02, 0.5, 0.03, 0.0, 0.0, 0.0, 0.0, 30, 30, 0.0)
    markdown = render_markdown([row], meta)
    assert "## Failed estimates (45)" in markdown
    assert "- **noisy**: 31 failed; first at epoch 5 on r0-000\n  - 30 x ValueError: bad\n  - 1 x KeyError: 'x'" in markdown
    assert "- **quiet**: 1 failed; first at epoch 10 on r1-004\n  - 1 x RuntimeError: once" in markdown
    assert "- **many**: 13 failed" in markdown and "  - and 3 more distinct error(s)" in markdown
    assert f"  - 1 x E{DISTINCT_ERRORS_LISTED - 1}" in markdown and f"  - 1 x E{DISTINCT_ERRORS_LISTED}\n" not in markdown


def test_search_md_lists_failures_per_estimator():
    from fhbench.publish.search_board import render_markdown

    meta = {"suite": {"name": "s", "version": "1", "description": "d"},
            "truth": {"source": "a table"}, "dataset_source": "digits", "pool": ["a", "b"], "time_budget_s": 10.0,
            "cost_model": "training", "warnings": [],
            "regret": {"against": "global optimum", "reference": 0.9, "reference_cell": "|x|", "pool_best": 0.8,
                       "pool_best_cell": "|a|", "pool_floor": 0.1},
            "estimate_failures": {"original": [],
                                  "lcnet": ["|a| at budget 2: ValueError: short", "|b| at budget 2: ValueError: short",
                                            "|a| at budget 4: RuntimeError: nan"]}}
    markdown = render_markdown([], meta)
    assert "## Failed estimates (3, each ranked last)" in markdown
    assert "- **lcnet**: 3 failed; first on `|a|` at budget 2\n  - 2 x ValueError: short\n  - 1 x RuntimeError: nan" \
        in markdown
    assert "**original**" not in markdown


def test_estimation_plots_are_byte_stable_when_published_again(tmp_path):
    from fhbench.publish.estimation_board import publish as publish_estimation
    from fhbench.score.metrics import Row

    suite = parse_suite({"name": "s", "version": "1", "description": "d"})
    header = results_header("estimation", suite, estimators={}, environment={}, traces_hash="0" * 64,
                            truth={"spec": "final_test_acc"}, metrics=publish.ESTIMATION_METRICS)
    rows = [Row(name, epoch, epoch / 10, 0.1 / epoch, 0.01, 0.1 * epoch, 0.02, 0.5, 0.03, 0.0, 0.0, 0.02, 0.0, 10, 0, 1.0)
            for name in ("original", "fh-ensemble") for epoch in (5, 10)]
    extra = {"dataset_source": "digits", "trials_scored": 10, "repeats": 2, "failed_trials": [], "failures": []}
    first = {p.name: p.read_bytes() for p in publish_estimation(tmp_path / "a", rows, header, extra).glob("*.png")}
    # a rescore measures other overheads: only mae_overhead.png, which draws them, may differ
    rescored = [dataclasses.replace(r, overhead_s_mean=r.overhead_s_mean * 7 + 1, overhead_epochs_mean=0.9)
                for r in rows]
    second = {p.name: p.read_bytes() for p in publish_estimation(tmp_path / "b", rescored, header, extra).glob("*.png")}
    assert sorted(first) == ["kendall_tau.png", "mae.png", "mae_overhead.png"]
    assert first["mae.png"] == second["mae.png"] and first["kendall_tau.png"] == second["kendall_tau.png"]
    assert first["mae_overhead.png"] != second["mae_overhead.png"]
    third = {p.name: p.read_bytes() for p in publish_estimation(tmp_path / "c", rows, header, extra).glob("*.png")}
    assert third == first  # the same input: the same bytes, every plot


@pytest.mark.parametrize("status, dirty", [
    ("", False),
    ("?? leaderboard/darts-cpu/\n M leaderboard/quickstart/1/results.json\n?? runs/x/1/\n", False),
    ("?? leaderboard/darts-cpu/\n M fhbench/cli.py\n", True),
    ("?? fhbench/new_module.py\n", True),
])
def test_a_checkout_is_dirty_for_changes_outside_the_output_folders(monkeypatch, status, dirty):
    import subprocess

    def fake_git(args, **kwargs):
        out = {"ls-files": "fhbench/__init__.py\n", "rev-parse": "a" * 40 + "\n", "status": status}[args[1]]
        return subprocess.CompletedProcess(args, 0, stdout=out, stderr="")

    monkeypatch.setattr(publish.subprocess, "run", fake_git)
    assert publish.git_state() == {"commit": "a" * 40, "dirty": dirty}


def test_search_md_ranks_by_final_regret_with_intervals_and_names_the_winners():
    """nb201-search-cpu/1 (published before intervals) rendered by this code: ranked by final regret, every
    regret and accuracy with its 95% t-interval over seeds (derived from the board's runs), overlaps tied."""
    import dataclasses

    from fhbench.publish.search_board import render_markdown
    from fhbench.score.stats import over_seeds
    from fhbench.search.run import SearchRow

    meta = json.loads((Path(__file__).resolve().parent.parent / "leaderboard" / "nb201-search-cpu" / "1" /
                       "results.json").read_text())
    names = {f.name for f in dataclasses.fields(SearchRow)}
    rows = [SearchRow(**{k: v for k, v in r.items() if k in names}) for r in meta["rows"]]
    markdown = render_markdown(rows, meta)
    regrets: dict = {}
    for run in meta["runs"]:
        regrets.setdefault((run["algorithm"], run["estimator"]), []).append(run["regret"])
    ranked = sorted(regrets, key=lambda k: sum(regrets[k]) / len(regrets[k]))
    table = [line.split(" | ") for line in markdown.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [(cells[1], cells[2]) for cells in table] == ranked
    best = over_seeds(regrets[ranked[0]])
    for cells, key in zip(table, ranked):
        final = over_seeds(regrets[key])
        assert cells[3] == f"{100 * final.mean:.2f} [{100 * final.lo:.2f}, {100 * final.hi:.2f}]"
        assert cells[4] == ("**lowest**" if key == ranked[0] else
                            "*tied*" if final.lo <= best.hi and best.lo <= final.hi else "")
        assert "[" in cells[5] and "[" in cells[6]  # any-time regret and accuracy, with their intervals
    assert markdown.index("Lowest final regret: **hyperband** with **original**, 1.46 [") < markdown.index("| # |")
