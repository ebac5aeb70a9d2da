"""What the command line shows while it works, and the tables it prints when it is done.

- `RecordingProgress`: trials done and left, training images per second and an ETA while a suite
  records. It speaks the protocol `fhbench.engine.pipeline.record_suite` drives (`add_task`, `update`,
  `advance`, `remove_task`: the first task added counts trials, every later one is a trial counting
  its epochs).
- `ScoringProgress`: an `on_step(name, repeat, checkpoint)` callback for scoring; the harness calls it
  *before* each step, so the label names the step in progress.
- `MessageProgress`: the search replay's messages.

On a terminal each shows one live display whose counters come first, so a narrow terminal cuts the
bar or the cell string, never a count or the ETA. When the output is not a terminal (a pipe, a log
file, CI) they print plain lines instead: one per finished trial, one per finished scoring step, one
per message.

`format_table` lays out the final tables in plain text: numbers are never wrapped or cut, names
never truncated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

__all__ = ["MessageProgress", "RecordingProgress", "ScoringProgress", "format_duration", "format_table"]


def format_duration(seconds: float) -> str:
    """'0:07', '12:34', '1:02:03'; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _bar(fraction: float, width: int) -> str:
    if width < 4:
        return ""
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "\u2501" * filled + "\u2500" * (width - filled)


def _line(text: str, fraction: float, width: int, bar_width: int = 30) -> str:
    """`text` followed by a bar sized to what is left of the line: the text (the counters) comes first
    and is never cut for the bar's sake."""
    room = width - len(text) - 2
    bar = _bar(fraction, min(bar_width, room))
    return f"{text}  {bar}" if bar else text


def _fitting(width: int, *candidates: str) -> str:
    """The first (fullest) of `candidates` that fits in `width` columns, else the last (shortest)."""
    return next((text for text in candidates if len(text) <= width), candidates[-1])


class _Display:
    """A live display on a terminal (rich's Live, redrawn from `lines()`), or nothing."""

    def __init__(self, console, lines: Callable[[int], list[str]], live: bool | None):
        self.console = console
        self.live = console.is_terminal if live is None else live
        self._lines = lines
        self._live = None

    def _render(self):
        from rich.text import Text

        width = self.console.width
        text = Text("\n".join(self._lines(width)), no_wrap=True, overflow="ellipsis")
        return text

    def start(self) -> None:
        if self.live:
            from rich.live import Live

            self._live = Live(console=self.console, get_renderable=self._render, refresh_per_second=4,
                              transient=True)
            self._live.start()

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def log(self, text: str) -> None:
        """A plain line (only when there is no live display)."""
        if not self.live:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)


class _Shown:
    """A context that shows `self.display` while it is entered."""

    def __enter__(self):
        self.display.start()
        return self

    def __exit__(self, *exc):
        self.display.stop()
        return False


class RecordingProgress(_Shown):
    """Recording progress (see the module docstring). `images_per_epoch` is the number of training
    images one epoch passes over (the suite's train split); `clock` is for tests."""

    def __init__(self, console, *, images_per_epoch: int, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.images_per_epoch = int(images_per_epoch)
        self.clock = clock
        self.display = _Display(console, self.lines, live)
        self._overall = None
        self._advanced = 0
        self._next_id = 0
        self.trials_total = 0
        self.trials_done = 0
        self.epochs_done = 0  # over the whole run, finished trials and the current one
        self.trial_label = ""
        self.trial_epoch = 0
        self.trial_epochs = 0
        self.trial_started = math.nan
        self.started = math.nan
        self._last_epoch_at = math.nan
        self._train_seconds = 0.0  # the epochs' own training time where the pipeline passes it, else wall time
        self._train_images = 0
        self.last_rate = math.nan
        self.running: int | None = None  # trials running at once on workers (None: one process)
        self.failed = 0

    # --- the protocol record_suite drives

    def add_task(self, description: str, total: int | None = None, *, seconds_ago: float = 0.0, **_) -> int:
        """The first task counts trials (the run starts); each later one is a trial, which started
        `seconds_ago` (workers report a trial only when it is done)."""
        self._next_id += 1
        now = self.clock()
        if self._overall is None:
            self._overall = self._next_id
            self.trials_total = int(total or 0)
            self.started = now
            return self._overall
        self.trial_label = " ".join(description.split())
        self.trial_epoch = 0
        self.trial_epochs = int(total or 0)
        self.trial_started = now - seconds_ago
        self._last_epoch_at = now
        self.display.refresh()
        return self._next_id

    def update(self, task: int, *, completed: int | None = None, epoch_time: float | None = None, **_) -> None:
        if task == self._overall or completed is None:
            return
        now = self.clock()
        new = int(completed) - self.trial_epoch
        if new > 0:
            seconds = float(epoch_time) * new if epoch_time is not None and math.isfinite(epoch_time) \
                else now - self._last_epoch_at
            self._train_seconds += seconds
            self._train_images += new * self.images_per_epoch
            if seconds > 0:
                self.last_rate = new * self.images_per_epoch / seconds
            self.epochs_done += new
            self.trial_epoch = int(completed)
        self._last_epoch_at = now
        self.display.refresh()

    def advance(self, task: int, advance: int = 1) -> None:
        if task == self._overall:  # trials are counted as their tasks are removed; this only catches up
            self._advanced += int(advance)
            self.trials_done = max(self.trials_done, self._advanced)
            self.display.refresh()

    def remove_task(self, task: int) -> None:
        if task == self._overall:
            return
        now = self.clock()
        self.trials_done += 1
        label, epochs, started = self.trial_label, self.trial_epoch, self.trial_started
        self.trial_label, self.trial_epoch = "", 0
        trial_id, _, config = label.partition(" ")
        workers = "" if self.running is None else f"{self.running} running, {self.failed} failed, "
        self.display.log(
            f"trial {self.trials_done}/{self.trials_total} done, {workers}{self.trials_total - self.trials_done} left, "
            f"ETA {format_duration(self.eta(now))} \u00b7 {self._rate_text()} \u00b7 {trial_id}: {epochs} epochs "
            f"in {format_duration(now - started)}" + (f" \u00b7 {config}" if config else ""))
        self.display.refresh()

    def set_workers(self, *, running: int, failed: int) -> None:
        """With workers (`fhbench.runtime.ray`): how many trials run at once and how many failed so far."""
        self.running, self.failed = int(running), int(failed)
        self.display.refresh()

    # --- what it shows

    @property
    def rate(self) -> float:
        """Training images per second over this run (NaN before the first epoch)."""
        return self._train_images / self._train_seconds if self._train_seconds > 0 else math.nan

    def _rate_text(self) -> str:
        return f"{self.rate:,.0f} img/s" if math.isfinite(self.rate) else "? img/s"

    def eta(self, now: float | None = None) -> float:
        """Seconds left: the epochs left times the wall seconds per epoch so far (NaN before the first);
        for trials that train no epochs (proxy-only), the trials left times the wall seconds per trial."""
        now = self.clock() if now is None else now
        if math.isnan(self.started):
            return math.nan
        if self.epochs_done == 0:
            if self.trials_done == 0:
                return math.nan
            return (now - self.started) / self.trials_done * max(self.trials_total - self.trials_done, 0)
        per_epoch = (now - self.started) / self.epochs_done
        in_progress = 1 if self.trial_label else 0
        untouched = max(self.trials_total - self.trials_done - in_progress, 0)
        current_left = max(self.trial_epochs - self.trial_epoch, 0) if in_progress else 0
        return per_epoch * (untouched * self.trial_epochs + current_left)

    def lines(self, width: int) -> list[str]:
        left = self.trials_total - self.trials_done
        done, eta, rate = f"{self.trials_done}/{self.trials_total}", format_duration(self.eta()), self._rate_text()
        workers = "" if self.running is None else f", {self.running} running, {self.failed} failed"
        counters = _fitting(width, f"trials {done} done{workers}, {left} left \u00b7 ETA {eta} \u00b7 {rate}",
                            f"trials {done} done, {left} left \u00b7 ETA {eta} \u00b7 {rate}",
                            f"trials {done}, {left} left \u00b7 ETA {eta} \u00b7 {rate}",
                            f"{done} \u00b7 ETA {eta} \u00b7 {rate}", f"{done} \u00b7 ETA {eta}")
        fraction = self.trials_done / self.trials_total if self.trials_total else 0.0
        out = [_line(counters, fraction, width)]
        if self.trial_label:
            out.append(f"  epoch {self.trial_epoch}/{self.trial_epochs} of {self.trial_label}")
        return out


class ScoringProgress:
    """Scoring progress; pass `on_step` to `fhbench.engine.pipeline.score_suite` and call `close()` (or use it
    as a context manager) when scoring returns, so that the last step is counted."""

    def __init__(self, console, total_steps: int, *, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total = int(total_steps)
        self.clock = clock
        self.display = _Display(console, self.lines, live)
        self.done = 0
        self.current: tuple[str, int, int] | None = None
        self.step_started = math.nan
        self.started = math.nan

    def __enter__(self):
        self.display.start()
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        self.display.stop()
        return False

    @staticmethod
    def describe(step: tuple[str, int, int]) -> str:
        name, repeat, checkpoint = step
        return f"{name}, repeat {repeat}, epoch {checkpoint}"

    def _finish_current(self, now: float) -> None:
        if self.current is None:
            return
        self.done += 1
        self.display.log(f"scored {self.done}/{self.total}: {self.describe(self.current)} in "
                         f"{now - self.step_started:.1f} s; ETA {format_duration(self.eta(now))}")
        self.current = None

    def on_step(self, name: str, repeat: int, checkpoint: int) -> None:
        """Called before each step starts: the previous step is done, this one is in progress."""
        now = self.clock()
        if math.isnan(self.started):
            self.started = now
        self._finish_current(now)
        self.current = (str(name), int(repeat), int(checkpoint))
        self.step_started = now
        self.display.refresh()

    def close(self) -> None:
        self._finish_current(self.clock())
        self.display.refresh()

    def eta(self, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        if self.done == 0:
            return math.nan
        return (now - self.started) / self.done * max(self.total - self.done, 0)

    def lines(self, width: int) -> list[str]:
        done, eta = f"{self.done}/{self.total}", format_duration(self.eta())
        counters = _fitting(width, f"scoring {done} steps \u00b7 ETA {eta}", f"{done} \u00b7 ETA {eta}")
        out = [_line(counters, self.done / self.total if self.total else 0.0, width)]
        if self.current is not None:
            out.append(f"  now: {self.describe(self.current)}")
        return out


class MessageProgress(_Shown):
    """A status line naming the search replay's latest message, or plain lines off a terminal."""

    def __init__(self, console, title: str, *, live: bool | None = None):
        self.title = title
        self.message = ""
        self.display = _Display(console, self.lines, live)

    def note(self, text: str) -> None:
        self.message = str(text)
        self.display.log(f"{self.title}: {text}")
        self.display.refresh()

    def lines(self, width: int) -> list[str]:
        return [f"{self.title}: {self.message}" if self.message else f"{self.title}..."]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: Sequence[int] = ()) -> str:
    """A plain-text table: columns as wide as their widest cell, two spaces apart, numbers
    right-aligned (columns whose index is in `left` left-aligned); nothing is cut or wrapped."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in rows])
