"""The harness: runs estimators on views of recorded trials, times them, and records every outcome.

Estimators only ever see views cut at the checkpoint, and they run inside `fhbench.core.seal.sealed`, so
they cannot open the files that hold the truth. An exception, or a non-finite or out-of-range
estimate, becomes a failed record and the suite goes on; with `fail_fast` the first failure is raised
instead (the estimator's own exception, traceback intact, with a note naming estimator, trial and
epoch), for plugin authors who want the traceback rather than a row.

Overhead. The harness, not the estimator, measures it, feature loading included: the time of `fit`
(shared equally by the trials it was fit on) plus that of `estimate`, on two clocks at once:

- wall time (`overhead_s`, `time.perf_counter`; CUDA work is synchronised before the clock stops):
  what a user waits. On a shared machine it depends on everything else running there: the same code
  measured 0.04 and 2.5 epochs in two CI runs.
- CPU time (`overhead_cpu_s`, `time.process_time`: user and system time of every thread of this
  process, torch's intra-op threads included): the work the estimator does, which other processes
  on the machine barely change (measured: fh-ensemble's wall time 4.5x under busy processes, its CPU
  time +15-30%). It leaves out waiting (disk, a GPU kernel the host does not spin on) and the
  estimator's own subprocesses. It is exact at one torch thread (`--threads 1`, the default, and what
  CI scores at). With more threads, idle intra-op workers spin for a while after each parallel
  region, and spinning is CPU time: some of it lands in the next measurement, and with more threads
  than free cores it grows with the load, so the CPU clock gates overhead only at one thread.

At every (repeat, checkpoint) step the harness also times a fixed reference workload on the CPU clock
(`reference_workload`, one thread, about 10 ms on this project's 2-core EPYC; the best of 3) and
stores it beside each record (`reference_cpu_s`). `fhbench.score.metrics` divides the estimator's CPU time
by the median reference of the run: the overhead in *reference units* (`overhead_ref`), a ratio of two CPU times measured in the same
scoring run, so neither load on the machine nor (to first order) the speed of its CPU moves it.
`fhbench compare` gates overhead on that column.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fhbench.core.errors import CorruptTraceError
from fhbench.core.seal import sealed, sealed_files_under
from fhbench.inputs.suite import DEFAULT_ESTIMATE_TIMEOUT_S
from fhbench.estimators.worker import EstimatorWorker, WorkerLost, describe, float_or_none
from fhbench.record.trace import TrialTrace


@dataclass(frozen=True)
class EstimateRecord:
    estimator: str
    repeat: int
    checkpoint: int
    trial_id: str
    estimate: float | None
    overhead_s: float
    error: str | None = None
    overhead_cpu_s: float = math.nan  # the same share of fit plus estimate, in CPU seconds of this process
    reference_cpu_s: float = math.nan  # the reference workload's CPU seconds, timed in this step
    budget: int | None = None  # the trial's budget (train.budgets: its own), where the harness knows it


class InvalidEstimateError(ValueError):
    """With `fail_fast`: an estimate that is not an accuracy in [0, 1] (there is no exception of the
    estimator's own to raise). Like a re-raised estimator exception it carries `fhbench_estimator`."""


def checked_estimate(value) -> tuple[float | None, str | None]:
    """(the estimate, None) for an accuracy in [0, 1]; (None, why) for anything else: one rule for the
    harness, its worker processes and `check-estimators`."""
    number = float_or_none(value)
    if number is None or not 0.0 <= number <= 1.0:
        return None, f"estimate {value!r} is not an accuracy in [0, 1]"
    return number, None


def _clock(device) -> tuple[float, float]:
    """(wall, CPU) seconds, after the device's queued work has finished."""
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter(), time.process_time()


REFERENCE_STEPS = 20


def reference_workload() -> float:
    """The fixed unit of the `overhead_ref` column: 20 full-batch gradient steps of a softmax-regression
    probe (2,048 seeded random 64-dimensional features, 10 classes) in float32 torch on one CPU thread:
    the kind of work a feature-history estimator does. Deterministic; returns a checksum so that the
    work cannot be skipped."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 64, generator=generator)
    target = torch.nn.functional.one_hot(torch.randint(0, 10, (2048,), generator=generator), 10).to(torch.float32)
    weights = torch.zeros(64, 10)
    for _ in range(REFERENCE_STEPS):
        probabilities = torch.softmax(x @ weights, dim=1)
        weights -= 0.5 * (x.T @ (probabilities - target)) / len(x)
    return float(weights.sum())


def reference_cpu_s(rounds: int = 3) -> float:
    """CPU seconds of `reference_workload` on one torch thread (whatever the process's setting, so the
    unit is the same at every `--threads`), the best of `rounds` after one untimed call."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference_workload()
        best = math.inf
        for _ in range(rounds):
            start = time.process_time()
            reference_workload()
            best = min(best, time.process_time() - start)
    finally:
        torch.set_num_threads(threads)
    return best


def _note(err: BaseException, name: str, stage: str, trial_id: str | None, checkpoint: int, repeat: int) -> None:
    where = f"on trial {trial_id} " if trial_id else ""
    err.add_note(f"fhbench: estimator '{name}' failed in {stage} {where}at epoch {checkpoint} (repeat {repeat}); "
                 f"raised because of fail_fast")
    try:
        err.fhbench_estimator = name  # the CLI's mark of an estimator's own failure
    except AttributeError:  # an exception type without a __dict__
        pass


def fit_and_estimate(name: str, estimator, population: Sequence, targets: Sequence, *, repeat: int,
                     checkpoint: int, device=None, sealed_paths: Sequence = (), fail_fast: bool = False,
                     reference_cpu_s: float = math.nan, budget: int | None = None,
                     sealed_files: frozenset = frozenset()) -> list[EstimateRecord]:
    """Fits `estimator` on the views of `population`, then estimates each view of `targets`.

    The fit time is shared equally over the population (the trials it serves). Every outcome is a
    record: failures carry the error's first line and no estimate. With `fail_fast` the first failure
    is raised instead: the estimator's exception itself (traceback intact), or `InvalidEstimateError`
    for a value that is not an accuracy. `sealed_paths` are files the estimator may not open beyond the
    trace's own truth files (a truth table, say). `reference_cpu_s` and `budget` are stored in every record.
    """
    wall0, cpu0 = _clock(device)
    fit_error = None
    try:
        with sealed(sealed_paths, files=sealed_files):
            estimator.fit(population)
    except Exception as err:  # an estimator's failure is a result, not a crash
        if fail_fast:
            _note(err, name, "fit", None, checkpoint, repeat)
            raise
        fit_error = "fit: " + describe(err)
    wall1, cpu1 = _clock(device)
    check_views(population)
    share = max(len(population), 1)
    fit_wall, fit_cpu = (wall1 - wall0) / share, (cpu1 - cpu0) / share
    records = []
    for view in targets:
        if fit_error:
            records.append(EstimateRecord(name, repeat, checkpoint, view.trial_id, None, fit_wall, fit_error,
                                          fit_cpu, reference_cpu_s, budget))
            continue
        wall0, cpu0 = _clock(device)
        error, value = None, None
        try:
            with sealed(sealed_paths, files=sealed_files):
                raw = estimator.estimate(view)
        except Exception as err:  # see above
            if fail_fast:
                _note(err, name, "estimate", view.trial_id, checkpoint, repeat)
                raise
            error = describe(err)
        check_views([view, *population])
        if error is None:
            value, error = checked_estimate(raw)
            if error is not None and fail_fast:
                invalid = InvalidEstimateError(f"estimator '{name}' on trial {view.trial_id} at epoch {checkpoint} "
                                               f"(repeat {repeat}): {error}")
                invalid.fhbench_estimator = name
                raise invalid
        wall1, cpu1 = _clock(device)
        wall, cpu = fit_wall + wall1 - wall0, fit_cpu + cpu1 - cpu0
        recorded = getattr(estimator, "recorded_cost_s", None)
        if recorded is not None:
            # an estimate computed while recording (zero-cost proxies), failed or not: its cost is the wall
            # time measured there, and the CPU time of that moment is unknown
            try:
                wall += float(recorded(view))
            except Exception:  # noqa: BLE001 - an unknown cost is shown as unknown, not as zero
                wall = math.nan
            cpu = math.nan
        records.append(EstimateRecord(name, repeat, checkpoint, view.trial_id, value, wall, error, cpu,
                                      reference_cpu_s, budget))
    return records


def run_estimators(estimators: dict, trials: Sequence[TrialTrace], checkpoints: Sequence[int],
                   on_step: Callable[[str, int, int], None] | None = None, *,
                   device=None, sealed_paths: Sequence = (), fail_fast: bool = False,
                   isolate: bool = False, timeout_s: float = DEFAULT_ESTIMATE_TIMEOUT_S,
                   threads: int | None = None) -> list[EstimateRecord]:
    """Estimates every trial at every checkpoint up to its budget with every estimator, one population
    at a time: the trials of one repeat and one budget (a suite without train.budgets has one budget).

    A population never mixes budgets: the trials of a budget share one learning-rate schedule, and
    train.budgets are separate experiments (appendix A.2), each fit and ranked on its own trials.
    `on_step(name, repeat, checkpoint)` is called before each step starts, so a progress display
    names the work in progress. Before each (population, checkpoint) the reference workload is timed
    (`reference_cpu_s`). Each step fits a fresh copy of the estimator on views of its own, through the
    estimator's `EstimatorRunner` (with `isolate`, what suites do, in a worker process of its own under
    `timeout_s` per call; with `fail_fast` the first failed estimate raises, in this process).
    """
    longest = max((t.budget for t in trials), default=0)
    late = [c for c in checkpoints if c > longest]
    if trials and late:
        raise ValueError(f"checkpoint {late[0]} is past every trial's budget (the longest is {longest})")
    check_timeout(timeout_s)
    # every sealed file of the traces' stores, by identity: another name for one (a hard link) stays sealed
    sealed_files = sealed_files_under(sorted({str(Path(t.path).parent) for t in trials if getattr(t, "path", None)}))
    runners = {}
    records: list[EstimateRecord] = []
    try:
        for name, prototype in estimators.items():
            runners[name] = EstimatorRunner(name, prototype, isolate=isolate, timeout_s=timeout_s, threads=threads,
                                            device=device, sealed_paths=sealed_paths, sealed_files=sealed_files,
                                            fail_fast=fail_fast)
        for repeat, budget in sorted({(t.repeat, t.budget) for t in trials}):
            population = [t for t in trials if t.repeat == repeat and t.budget == budget]
            for checkpoint in (c for c in checkpoints if c <= budget):
                reference = reference_cpu_s()
                for name, runner in runners.items():
                    if on_step:
                        on_step(name, repeat, checkpoint)
                    views = [t.view(checkpoint) for t in population]  # its own: what it does to them stays
                    records += runner.step(views, repeat=repeat, checkpoint=checkpoint, reference=reference,
                                           budget=budget)
    finally:
        for runner in runners.values():
            runner.close()
    return records


def check_timeout(timeout_s: float) -> None:
    if not (timeout_s > 0):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s}")


class EstimatorRunner:
    """Runs one estimator's steps, each on a fresh copy of `prototype` (`fresh_estimator`): fit on a
    population, then estimate the targets, every outcome a record. With `isolate` (and not `fail_fast`)
    the estimator lives in a persistent worker process of its own (`fhbench.estimators.worker`), each
    call under `timeout_s`, at `threads` torch threads; otherwise in this process, where `fail_fast`
    raises the first failure. Used by the estimation harness and by the search backends alike, so a
    search is as safe from a plugin that hangs or crashes as a board is. Close it (or use `with`)."""

    def __init__(self, name: str, prototype, *, isolate: bool = False,
                 timeout_s: float = DEFAULT_ESTIMATE_TIMEOUT_S, threads: int | None = None, device=None,
                 sealed_paths: Sequence = (), sealed_files: frozenset = frozenset(), fail_fast: bool = False):
        check_timeout(timeout_s)
        self.name, self.prototype, self.device, self.fail_fast = name, prototype, device, fail_fast
        self.sealed_paths, self.sealed_files = tuple(sealed_paths), sealed_files
        self._worker: EstimatorWorker | None = None
        self._unusable: str | None = None  # why every step fails (the estimator cannot reach its worker)
        if isolate and not fail_fast:
            try:
                self._worker = EstimatorWorker(name, prototype, timeout_s=timeout_s, sealed_paths=sealed_paths,
                                               sealed_files=sealed_files, threads=threads,
                                               device=None if device is None else str(device))
            except Exception as err:  # noqa: BLE001 - an estimator that cannot be sent to a worker fails alone
                self._unusable = f"fit: cannot be sent to its worker process: {describe(err)}"

    def step(self, population: Sequence, targets: Sequence | None = None, *, repeat: int, checkpoint: int,
             reference: float = math.nan, budget: int | None = None) -> list[EstimateRecord]:
        """Fits a fresh copy on `population` and estimates each of `targets` (default: the population)."""
        targets = population if targets is None else targets
        if self._unusable is not None:  # nothing ran: it cost nothing
            return _failed(self.name, targets, self._unusable, repeat, checkpoint, reference, budget, 0.0, 0.0)
        if self._worker is not None:
            return _step_in_worker(self._worker, self.name, population, targets, repeat, checkpoint, reference,
                                   budget)
        return _step_in_process(self.name, self.prototype, population, targets, repeat, checkpoint, reference,
                                budget, self.device, self.sealed_paths, self.fail_fast, self.sealed_files)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __enter__(self) -> EstimatorRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _failed(name: str, views: Sequence, error: str, repeat: int, checkpoint: int, reference: float,
            budget: int | None, wall: float = math.nan, cpu: float = math.nan) -> list[EstimateRecord]:
    return [EstimateRecord(name, repeat, checkpoint, view.trial_id, None, wall, error, cpu, reference, budget)
            for view in views]


def _step_in_process(name, prototype, population, targets, repeat, checkpoint, reference, budget, device,
                     sealed_paths, fail_fast, sealed_files) -> list[EstimateRecord]:
    try:
        estimator = fresh_estimator(prototype)
    except Exception as err:  # noqa: BLE001 - an estimator that cannot be copied fails alone
        if fail_fast:
            raise
        return _failed(name, targets, f"fit: cannot make a fresh copy of the estimator: {describe(err)}", repeat,
                       checkpoint, reference, budget, 0.0, 0.0)
    return fit_and_estimate(name, estimator, population, targets, repeat=repeat, checkpoint=checkpoint,
                            device=device, sealed_paths=sealed_paths, fail_fast=fail_fast, reference_cpu_s=reference,
                            budget=budget, sealed_files=sealed_files)


def _step_in_worker(worker: EstimatorWorker, name: str, population: Sequence, targets: Sequence, repeat: int,
                    checkpoint: int, reference: float, budget: int | None) -> list[EstimateRecord]:
    """One step in the estimator's worker: a fresh copy, fit on the population, then each target's
    estimate, the overheads as the worker measured them (the fit shared equally over the population).
    A call that timed out or whose worker died costs the wall time waited for it (its CPU time unknown):
    a search charges that much for it; an estimate never attempted costs nothing."""
    share = max(len(population), 1)
    started = time.perf_counter()
    try:
        worker.call(("fresh",))
        reply = _unless_corrupt(worker.call(("fit", population)))
    except WorkerLost as lost:
        return _failed(name, targets, f"fit: {lost}", repeat, checkpoint, reference, budget,
                       (time.perf_counter() - started) / share)
    fit_wall, fit_cpu = reply[-2] / share, reply[-1] / share
    if reply[0] == "error":
        return _failed(name, targets, f"fit: {reply[1]}", repeat, checkpoint, reference, budget, fit_wall, fit_cpu)
    records = []
    lost_here = None
    for view in targets:
        if lost_here is not None:
            records.append(EstimateRecord(name, repeat, checkpoint, view.trial_id, None, 0.0,
                                          f"not estimated: {lost_here}", 0.0, reference, budget))
            continue
        started = time.perf_counter()
        try:
            kind, payload, wall, cpu, cost = _unless_corrupt(worker.call(("estimate", view)))
        except WorkerLost as lost:
            lost_here = f"the worker was lost earlier in this step ({lost})"
            records.append(EstimateRecord(name, repeat, checkpoint, view.trial_id, None,
                                          fit_wall + time.perf_counter() - started, str(lost), math.nan,
                                          reference, budget))
            continue
        value, error = (None, payload) if kind == "error" else checked_estimate(payload)
        wall, cpu = fit_wall + wall, fit_cpu + cpu
        if cost is not None:  # zero-cost proxies: the wall time measured while recording; CPU then unknown
            wall, cpu = wall + cost, math.nan
        records.append(EstimateRecord(name, repeat, checkpoint, view.trial_id, value, wall, error, cpu, reference,
                                      budget))
    return records


def _unless_corrupt(reply: tuple) -> tuple:
    if reply[0] == "corrupt":
        raise CorruptTraceError(reply[1], reply[2])
    return reply


def check_views(views: Sequence) -> None:
    """Raises CorruptTraceError where a view read a trace file that failed its checks: the trace's fault,
    never the estimator's, even where the estimator caught the error itself."""
    corrupt = next((view for view in views if getattr(view, "corruption", None)), None)
    if corrupt is not None:
        raise CorruptTraceError(corrupt.corruption, corrupt.trial_id)


def fresh_estimator(prototype):
    """An unfitted copy of `prototype` (which the harness itself never fits), as scikit-learn's `clone`
    gives: every (repeat, checkpoint) is fit by an estimator that has seen nothing before it, so no
    state leaks from one population or checkpoint into the next, whatever the estimator keeps."""
    return copy.deepcopy(prototype)
