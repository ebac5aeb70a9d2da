"""Declared search suites end to end (`fhbench.engine.declared`): live searches that write their traces,
their replays, the Table 4.2-4.4 leaderboard, resuming after a kill, and the one-line errors. On tiny
networks over the offline digits data, so they run anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from fhbench.cli import main
from fhbench.inputs.suite import load_suite
from fhbench.spaces import suite_space

TINY = """
name = "tiny-scaling"
version = "1"
[space]
name = "resnet_scaling"
width = 0.125
macs_limits = [4.0]
[data]
dataset = "digits"
train_size = 240
val_size = 120
test_size = 150
augment = "none"
[train]
epochs = 4
batch_size = 60
lr = 0.05
[record]
window = 2
[estimate]
checkpoints = [1, 2, 4]
repeats = 1
truth = "final_test_acc"
estimators = ["original", "fh-ensemble"]
[estimators.fh-ensemble]
window = 2
[search]
algorithms = ["hyperband"]
estimators = ["original", "fh-ensemble"]
replay_estimators = ["sotl"]
replay_algorithms = ["bohb"]
workers = 2
seeds = 1
truth = "final_test_acc"
"""


def _suite(folder: Path, text: str = TINY) -> Path:
    path = folder / "tiny-scaling.toml"
    path.write_text(text)
    return path


def _run(suite: Path, folder: Path, command: str = "run", *extra: str) -> int:
    return main([command, str(suite), "--traces", str(folder / "traces"), "--leaderboard", str(folder / "lb"),
                 "--threads", "1", *extra])


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("declared")
    suite = _suite(folder)
    assert _run(suite, folder) == 0
    return folder, suite


def _results(folder: Path) -> dict:
    return json.loads((folder / "lb" / "tiny-scaling" / "1" / "results.json").read_text())


@pytest.mark.slow  # trains: the module's searched suite
def test_every_search_runs_live_then_replayed_and_the_replay_makes_the_live_decisions(searched):
    folder, _ = searched
    meta = _results(folder)
    assert meta["kind"] == "declared-search"
    rows = {(r["algorithm"], r["estimator"], r["source"]): r for r in meta["rows"]}
    assert {(e, s) for a, e, s in rows if a == "hyperband"} == {
        ("original", "live"), ("fh-ensemble", "live"), ("original", "replayed"), ("fh-ensemble", "replayed"),
        ("sotl", "replayed")}
    assert {(e, s) for a, e, s in rows if a == "bohb"} == {  # only replayed: on what HyperBand recorded
        ("original", "replayed"), ("fh-ensemble", "replayed"), ("sotl", "replayed")}
    bohb = rows[("bohb", "original", "replayed")]
    assert bohb["unrecorded_jobs"] > 0 and bohb["failed_jobs"] >= bohb["unrecorded_jobs"]
    for estimator in ("original", "fh-ensemble"):  # per-trial estimators: the live search's own jobs again
        assert rows[("hyperband", estimator, "replayed")]["agrees_with_live"] == "1/1"
        assert rows[("hyperband", estimator, "replayed")]["unrecorded_jobs"] == 0
    assert rows[("hyperband", "sotl", "replayed")]["agrees_with_live"] is None  # nothing live to agree with
    live = [s for s in meta["searches"] if s["source"] == "live"]
    assert all(s["wall_s"] > 0 and s["clock_s"] > 0 and s["jobs"] == 14 for s in live)  # R=4, eta=2: 14 jobs


@pytest.mark.slow  # trains: the module's searched suite
def test_the_winner_s_accuracy_is_its_own_trace_s_test_accuracy_and_its_size_is_within_the_limit(searched):
    from fhbench.engine.pipeline import open_store
    from fhbench.search.trials import declared_trial

    folder, suite_path = searched
    suite = load_suite(suite_path)
    space = suite_space(suite)
    store = open_store(suite, folder / "traces")
    for winner in _results(folder)["winners"]:
        trace = store.open(declared_trial(suite, winner["incumbent"]).trial_id)
        assert trace.status == "complete" and trace.epochs_completed == suite.train.epochs
        assert winner["true_acc"] == pytest.approx(float(trace.test_curve()[-1]))
        assert 0 < winner["size"]["macs"] <= space.max_macs
        assert winner["size"]["macs"] == space.macs(space.parse(winner["incumbent"]), in_channels=1)  # digits


@pytest.mark.slow  # trains: the module's searched suite
def test_each_trace_holds_the_furthest_epoch_any_live_job_trained_its_configuration_to(searched):
    from fhbench.engine.pipeline import open_store
    from fhbench.search.trials import declared_trial

    folder, suite_path = searched
    suite = load_suite(suite_path)
    store = open_store(suite, folder / "traces")
    furthest: dict[str, int] = {}
    for search in (s for s in _results(folder)["searches"] if s["source"] == "live"):
        for job in search["job_list"]:
            furthest[job["config"]] = max(furthest.get(job["config"], 0), job["epochs"])
    assert sorted(store.trial_ids()) == sorted(declared_trial(suite, c).trial_id for c in furthest)
    for config, epochs in furthest.items():
        trace = store.open(declared_trial(suite, config).trial_id)
        assert trace.epochs_completed == epochs
        assert trace.status == ("complete" if epochs == suite.train.epochs else "stopped")
    assert main(["verify", str(suite_path), "--traces", str(folder / "traces")]) == 0


@pytest.mark.slow  # trains: the module's searched suite
def test_the_markdown_is_the_thesis_table_with_live_and_replayed_rows(searched):
    folder, _ = searched
    text = (folder / "lb" / "tiny-scaling" / "1" / "leaderboard.md").read_text()
    assert "## 4x ResNet-18 MACs" in text
    assert "| HyperBand + fh-ensemble | live |" in text and "| HyperBand + fh-ensemble | replayed |" in text
    assert "| HyperBand + sotl | replayed |" in text
    assert "## Chosen configurations" in text
    assert (folder / "lb" / "tiny-scaling" / "1" / "search.png").stat().st_size > 10_000  # the plot, drawn


@pytest.mark.slow  # trains: the module's searched suite
def test_search_replays_what_was_recorded_without_training(searched, tmp_path):
    folder, suite_path = searched
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "traces").rglob("*.npz")}
    assert _run(suite_path, folder, "search") == 0
    after = {p.name: p.stat().st_mtime_ns for p in (folder / "traces").rglob("*.npz")}
    assert before == after  # nothing trained, no trace rewritten
    meta = _results(folder)
    assert len([s for s in meta["searches"] if s["source"] == "replayed"]) == 6


@pytest.mark.slow  # trains: the module's searched suite
def test_a_finished_search_is_not_run_again_and_a_missing_one_is(searched, capsys):
    folder, suite_path = searched
    records = sorted((folder / "traces").rglob("searches/*.json"))
    assert len(records) == 2
    kept, removed = records
    kept_text = kept.read_text()
    removed.unlink()
    capsys.readouterr()
    assert _run(suite_path, folder) == 0
    out = capsys.readouterr().out
    assert out.count("live: ") == 1  # only the missing search ran
    assert kept.read_text() == kept_text
    assert json.loads(removed.read_text())["true_acc"] is not None


@pytest.mark.slow  # trains: the module's searched suite
def test_a_rerun_removes_what_an_unfinished_trace_write_left(searched):
    from fhbench.engine.pipeline import open_store

    folder, suite_path = searched
    store = open_store(load_suite(suite_path), folder / "traces")
    staged = store.root / ".partial" / "c-0123456789ab.0123456789abcdef" / "features"
    staged.mkdir(parents=True)
    (staged / "0002.npz").write_bytes(b"half")  # a write a full disk stopped
    assert _run(suite_path, folder) == 0
    assert not staged.parent.exists()
    assert main(["verify", str(suite_path), "--traces", str(folder / "traces")]) == 0


def test_bad_uses_of_a_declared_suite_are_one_line_errors(tmp_path, capsys):
    suite = _suite(tmp_path)
    assert main(["record", str(suite), "--traces", str(tmp_path / "t")]) == 2
    assert "searched live" in capsys.readouterr().err
    assert main(["search", str(suite), "--live", "--traces", str(tmp_path / "t")]) == 2
    assert "fhbench run" in capsys.readouterr().err
    assert _run(suite, tmp_path, "search") == 2  # nothing ran live yet
    err = capsys.readouterr().err
    assert "no search of this suite has run live yet" in err and "Traceback" not in err
    unknown = _suite(tmp_path, TINY.replace('replay_estimators = ["sotl"]', 'replay_estimators = ["sotll"]'))
    assert _run(unknown, tmp_path) == 2  # before any training
    err = capsys.readouterr().err
    assert "sotll" in err and not list(tmp_path.rglob("c-*"))
    unreachable = _suite(tmp_path, TINY.replace("macs_limits = [4.0]", "macs_limits = [0.01]"))
    assert _run(unreachable, tmp_path) == 2
    err = capsys.readouterr().err
    assert "space.macs_limits" in err and len(err.strip().splitlines()) == 1


def test_two_runs_on_one_store_are_refused(tmp_path, capsys):
    from fhbench.engine.pipeline import open_store

    suite_path = _suite(tmp_path)
    store = open_store(load_suite(suite_path), tmp_path / "traces")
    store.lock()  # another run holds the store
    assert _run(suite_path, tmp_path) == 2
    assert "in use" in capsys.readouterr().err


@pytest.mark.slow  # trains, in a subprocess killed mid-search
def test_a_run_killed_mid_search_resumes_and_leaves_only_whole_traces(tmp_path):
    suite_path = _suite(tmp_path)
    command = [sys.executable, "-m", "fhbench.cli", "run", str(suite_path), "--traces", str(tmp_path / "traces"),
               "--leaderboard", str(tmp_path / "lb"), "--threads", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 300
    while not list((tmp_path / "traces").rglob("c-*/manifest.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not list((tmp_path / "traces").rglob("searches/*.json"))  # killed before a search finished
    assert main(["verify", str(suite_path), "--traces", str(tmp_path / "traces")]) == 0  # only whole traces
    assert _run(suite_path, tmp_path) == 0
    assert len(list((tmp_path / "traces").rglob("searches/*.json"))) == 2
    assert main(["verify", str(suite_path), "--traces", str(tmp_path / "traces")]) == 0


@pytest.mark.slow  # trains, on Ray workers
@pytest.mark.serial
def test_a_declared_suite_runs_its_searches_on_ray_workers_sharing_one_ray_instance(tmp_path, ray_tmpdir):
    pytest.importorskip("ray")
    from fhbench.record.format import RUN_FILE

    text = TINY.replace('estimators = ["original", "fh-ensemble"]\nreplay', 'estimators = ["fh-ensemble"]\nreplay')
    suite_path = _suite(tmp_path, text.replace('replay_estimators = ["sotl"]', 'replay_estimators = ["original"]'))
    # in a process of its own: Ray leaves threads in a driver process after it shuts down, which would
    # load the CPU clock of later tests in this one
    result = subprocess.run([sys.executable, "-m", "fhbench.cli", "run", str(suite_path), "--traces",
                             str(tmp_path / "traces"), "--leaderboard", str(tmp_path / "lb"), "--threads", "1",
                             "--workers", "2"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    meta = _results(tmp_path)
    live = [s for s in meta["searches"] if s["source"] == "live"]
    assert len(live) == 1 and live[0]["workers"] == 2
    rows = {(r["estimator"], r["source"]): r for r in meta["rows"]}
    assert rows[("fh-ensemble", "replayed")]["agrees_with_live"] == "1/1"
    assert not list((tmp_path / "traces").rglob(RUN_FILE))  # the shared instance's run record is gone
    assert main(["verify", str(suite_path), "--traces", str(tmp_path / "traces")]) == 0


def test_evaluate_winner_needs_a_published_board_and_exactly_one_genotype(tmp_path, capsys):
    darts = REPO / "suites" / "darts-cpu.toml"
    assert main(["evaluate", str(darts), "--winner", "--leaderboard", str(tmp_path / "lb")]) == 2
    assert "no published search leaderboard" in capsys.readouterr().err
    assert main(["evaluate", str(darts), "--leaderboard", str(tmp_path / "lb")]) == 2
    assert "a GENOTYPE or --winner" in capsys.readouterr().err
    board = tmp_path / "lb" / "darts-cpu" / "1"
    board.mkdir(parents=True)
    (board / "results.json").write_text('{"searches": [{"source": "live", "true_acc": null}]}')
    assert main(["evaluate", str(darts), "--winner", "--leaderboard", str(tmp_path / "lb")]) == 2
    assert "no live search chose a configuration with a known accuracy" in capsys.readouterr().err


TINY_DARTS = """
name = "tiny-darts"
version = "1"
[space]
name = "darts"
channels = 4
num_cells = 3
auxiliary = true
drop_path = 0.2
[data]
dataset = "digits"
train_size = 240
val_size = 120
test_size = 150
augment = "crop-flip-cutout"
[train]
epochs = 2
batch_size = 60
lr = 0.025
weight_decay = 3e-4
[record]
window = 1
[estimate]
checkpoints = [1, 2]
repeats = 1
truth = "final_test_acc"
estimators = ["fh-ensemble"]
[estimators.fh-ensemble]
window = 1
[search]
algorithms = ["hyperband"]
estimators = ["fh-ensemble"]
workers = 2
seeds = 2
truth = "final_test_acc"
[evaluate]
channels = 4
cells = 3
epochs = 1
batch_size = 60
seeds = 1
"""


@pytest.mark.slow  # trains and evaluates
def test_the_darts_winner_is_evaluated_and_shown_on_the_board_as_in_table_4_2(tmp_path, capsys):
    suite_path = tmp_path / "tiny-darts.toml"
    suite_path.write_text(TINY_DARTS)
    assert _run(suite_path, tmp_path) == 0
    board = tmp_path / "lb" / "tiny-darts" / "1"
    searches = [s for s in json.loads((board / "results.json").read_text())["searches"] if s["source"] == "live"]
    best = max(searches, key=lambda s: s["true_acc"])
    capsys.readouterr()
    assert main(["evaluate", str(suite_path), "--winner", "--leaderboard", str(tmp_path / "lb"),
                 "--threads", "1"]) == 0
    (evaluated,) = json.loads((board / "results.json").read_text())["evaluations"]
    assert evaluated["genotype"] == best["incumbent"]  # the best of the searches, as A.4 picks
    assert evaluated["search_cost"]["seconds"] == pytest.approx(best["clock_s"])
    assert evaluated["search_cost"]["workers"] == best["workers"] == 2
    assert "## Evaluated" in (board / "leaderboard.md").read_text()
    assert (board / "search.png").exists()  # republishing with the evaluation keeps the plot
    assert _run(suite_path, tmp_path) == 0  # publishing the board again keeps the evaluation
    assert len(json.loads((board / "results.json").read_text())["evaluations"]) == 1
    assert list(board.glob("evaluate-*.json"))
