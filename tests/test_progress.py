"""Progress while recording and scoring: counts, images/s and ETA that a narrow terminal does not cut,
the step in progress named while scoring, plain lines when the output is not a terminal, and final
tables that fit 80 columns."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import fhbench.engine.pipeline
from conftest import write_suite
from fhbench.runtime.progress import (MessageProgress, RecordingProgress, ScoringProgress, format_duration,
                              format_table)

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _console(width: int = 80, terminal: bool = False) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)


def _rendered(progress, width: int) -> list[str]:
    """What the live display shows at `width` columns, as rich renders it (cut where it must be)."""
    console = _console(width)
    console.print(progress.display._render())
    return console.file.getvalue().splitlines()


def _drive(progress, clock, trials: int, epochs: int, seconds_per_epoch: float, stop_at=None):
    """Calls the progress object exactly as fhbench.engine.pipeline.record_suite does."""
    overall = progress.add_task("trials", total=trials)
    for index in range(trials):
        task = progress.add_task(f"  r0-{index:03d} {CELL}", total=epochs)
        for epoch in range(1, epochs + 1):
            clock.now += seconds_per_epoch
            progress.update(task, completed=epoch)
            if stop_at == (index, epoch):
                return
        progress.remove_task(task)
        progress.advance(overall)


def test_recording_counts_rate_and_eta():
    clock = Clock()
    progress = RecordingProgress(_console(), images_per_epoch=4000, live=False, clock=clock)
    _drive(progress, clock, trials=32, epochs=20, seconds_per_epoch=2.0, stop_at=(1, 7))
    assert progress.trials_done == 1 and progress.trial_epoch == 7
    assert progress.rate == pytest.approx(2000.0)  # 4,000 images per 2 s epoch
    # 30 untouched trials of 20 epochs plus 13 epochs of this one, at 2 s an epoch
    assert progress.eta() == pytest.approx((30 * 20 + 13) * 2.0)
    first = progress.lines(80)[0]
    assert first.startswith("trials 1/32 done, 31 left \u00b7 ETA 20:26 \u00b7 2,000 img/s")


def test_recording_trials_of_no_epochs_takes_the_eta_from_the_trials_done():
    clock = Clock()
    progress = RecordingProgress(_console(), images_per_epoch=4000, live=False, clock=clock)
    overall = progress.add_task("trials", total=10)
    assert progress.eta() != progress.eta()  # NaN: nothing done yet
    for index in range(4):  # proxy-only trials: 1.5 s each, no epoch
        task = progress.add_task(f"  r0-{index:03d} {CELL}", total=0)
        clock.now += 1.5
        progress.remove_task(task)
        progress.advance(overall)
    assert progress.eta() == pytest.approx(6 * 1.5)
    assert "ETA 0:09" in progress.lines(80)[0]


@pytest.mark.parametrize("width", [40, 60, 80])
def test_recording_counters_are_not_cut_at_narrow_widths(width):
    clock = Clock()
    progress = RecordingProgress(_console(width), images_per_epoch=4000, live=False, clock=clock)
    _drive(progress, clock, trials=32, epochs=20, seconds_per_epoch=2.0, stop_at=(5, 3))
    shown = _rendered(progress, width)
    eta = format_duration(progress.eta())
    if width >= 60:
        assert shown[0].startswith(f"trials 5/32 done, 27 left \u00b7 ETA {eta} \u00b7 2,000 img/s")
    else:
        assert shown[0].startswith(f"5/32 \u00b7 ETA {eta} \u00b7 2,000 img/s")
    assert all(len(line) <= width for line in shown)
    assert shown[1].startswith("  epoch 3/20 of r0-005")  # the trial's counter before its long cell string


def test_recording_on_workers_counts_running_and_failed_trials():
    clock = Clock()
    console = _console()
    progress = RecordingProgress(console, images_per_epoch=4000, live=False, clock=clock)
    overall = progress.add_task("trials", total=8)  # the run starts
    progress.set_workers(running=2, failed=1)
    assert progress.lines(100)[0].startswith("trials 0/8 done, 2 running, 1 failed, 8 left")
    clock.now += 4.0  # workers report a trial only once it is done
    task = progress.add_task(f"  r0-000 {CELL}", total=4, seconds_ago=4.0)
    progress.update(task, completed=4, epoch_time=1.0)
    progress.remove_task(task)
    progress.advance(overall)
    assert console.file.getvalue().startswith("trial 1/8 done, 2 running, 1 failed, 7 left, ETA 0:28")
    assert "r0-000: 4 epochs in 0:04" in console.file.getvalue()  # the trial's own time, not 0:00
    assert progress.lines(40)[0].startswith("1/8 \u00b7 ETA")  # a narrow terminal drops them first


def test_recording_uses_the_epoch_time_the_pipeline_passes():
    clock = Clock()
    progress = RecordingProgress(_console(), images_per_epoch=1000, live=False, clock=clock)
    progress.add_task("trials", total=1)
    task = progress.add_task("  r0-000 |cell|", total=4)
    clock.now += 10.0  # wall time of the epoch, evaluation included
    progress.update(task, completed=1, epoch_time=0.5)  # the training part alone
    assert progress.rate == pytest.approx(2000.0)


def test_recording_off_a_terminal_logs_one_plain_line_per_finished_trial():
    clock = Clock()
    console = _console()
    progress = RecordingProgress(console, images_per_epoch=500, clock=clock)  # a StringIO is no terminal
    assert progress.display.live is False
    with progress:
        _drive(progress, clock, trials=3, epochs=4, seconds_per_epoch=1.0)
    lines = console.file.getvalue().splitlines()
    assert len(lines) == 3  # one per trial, none per epoch
    assert lines[0].startswith("trial 1/3 done, 2 left, ETA 0:08 \u00b7 500 img/s \u00b7 r0-000: 4 epochs in 0:04")
    assert lines[0].endswith(CELL)
    assert lines[2].startswith("trial 3/3 done, 0 left, ETA 0:00")
    assert "\x1b" not in console.file.getvalue()


def test_recording_through_the_pipeline(monkeypatch, tmp_path):
    """record_suite drives the object through its own protocol: trials and epochs are counted."""
    from fhbench.inputs.suite import load_suite
    from fhbench.record.store import TraceStore

    suite = load_suite(write_suite(tmp_path, "rec", num_samples=2, epochs=3))
    monkeypatch.setattr(fhbench.engine.pipeline, "load_suite_splits", lambda *args, **kwargs: "splits")
    epochs_seen = []

    def record_trial(trial, suite, space, splits, store, device, on_epoch=None):
        for epoch in range(1, suite.train.epochs + 1):
            epochs_seen.append(epoch)
            on_epoch(epoch, 0.5)
        return "complete"

    monkeypatch.setattr(fhbench.engine.pipeline, "record_trial", record_trial)
    monkeypatch.setattr(fhbench.engine.pipeline, "forecast", lambda *args, **kwargs: None)  # it would train
    console = _console()
    with RecordingProgress(console, images_per_epoch=suite.data.train_size) as progress:
        done = fhbench.engine.pipeline.record_suite(suite, TraceStore(tmp_path / "traces"), data_dir=None, device=None,
                                             progress=progress)
    assert len(done) == 2 and epochs_seen == [1, 2, 3, 1, 2, 3]
    assert progress.trials_done == 2 and progress.epochs_done == 6
    lines = console.file.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["trial 1/2 done", "trial 2/2 done"]


def test_scoring_names_the_step_in_progress_and_counts_it_when_it_ends():
    clock = Clock()
    console = _console()
    progress = ScoringProgress(console, total_steps=4, live=False, clock=clock)
    progress.on_step("original", 0, 5)
    assert progress.done == 0 and progress.lines(80)[1] == "  now: original, repeat 0, epoch 5"
    clock.now += 1.0
    progress.on_step("lcnet", 0, 5)  # called before the lcnet step: original is done, lcnet in progress
    assert progress.done == 1 and progress.lines(80)[1] == "  now: lcnet, repeat 0, epoch 5"
    clock.now += 9.0
    progress.on_step("original", 0, 10)
    clock.now += 1.0
    progress.on_step("lcnet", 0, 10)
    assert progress.lines(80)[0].startswith("scoring 3/4 steps \u00b7 ETA 0:04")  # 11 s for 3 steps, 1 left
    clock.now += 9.0
    progress.close()
    lines = console.file.getvalue().splitlines()
    assert lines == ["scored 1/4: original, repeat 0, epoch 5 in 1.0 s; ETA 0:03",
                     "scored 2/4: lcnet, repeat 0, epoch 5 in 9.0 s; ETA 0:10",
                     "scored 3/4: original, repeat 0, epoch 10 in 1.0 s; ETA 0:04",
                     "scored 4/4: lcnet, repeat 0, epoch 10 in 9.0 s; ETA 0:00"]


def test_scoring_display_on_a_terminal_keeps_its_counters():
    clock = Clock()
    progress = ScoringProgress(_console(40), total_steps=96, live=False, clock=clock)
    for step in range(50):
        clock.now += 0.5
        progress.on_step("a-long-plugin-estimator-name", step // 8, 10 * (step % 8))
    shown = _rendered(progress, 40)
    assert shown[0].startswith("scoring 49/96 steps \u00b7 ETA 0:24")


def test_live_display_starts_and_stops_on_a_terminal():
    console = _console(80, terminal=True)
    clock = Clock()
    with RecordingProgress(console, images_per_epoch=100, clock=clock) as progress:
        assert progress.display.live is True and progress.display._live is not None
        _drive(progress, clock, trials=2, epochs=2, seconds_per_epoch=1.0)
    assert progress.display._live is None
    assert "trial 1/2 done" not in console.file.getvalue()  # a live display, not log lines


def test_messages_off_a_terminal_are_plain_lines():
    console = _console()
    with MessageProgress(console, "searching") as progress:
        progress.note("estimates: lcnet at budget 4")
        progress.note("hyperband with lcnet")
    assert console.file.getvalue().splitlines() == ["searching: estimates: lcnet at budget 4",
                                                    "searching: hyperband with lcnet"]


def test_format_table_and_durations():
    table = format_table(["epoch", "estimator", "MAE pp"], [["5", "original", "10.32 ± 0.23"],
                                                             ["10", "a-very-long-estimator-name", "4.06 ± 0.21"]],
                         left=(1,))
    lines = table.splitlines()
    assert lines[0] == "epoch  estimator                         MAE pp"
    assert lines[3] == "   10  a-very-long-estimator-name   4.06 ± 0.21"
    assert [format_duration(s) for s in (7, 754, 3723, float("nan"), -1)] == ["0:07", "12:34", "1:02:03", "?", "?"]
