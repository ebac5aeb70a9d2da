"""A suite from end to end: check it, record the planned trials that are not yet in the store, then
estimate, score and publish (or, for a search suite, replay its searches and publish). The command
line calls these functions; tests call them directly."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fhbench.inputs.data import downsample, load_splits
from fhbench.core.errors import DataError, FhbenchError, SuiteError, TraceError
from fhbench.estimators.harness import EstimateRecord, run_estimators
from fhbench.estimators import available_estimators, create_estimator
from fhbench.estimators.registry import describe_estimators, is_rank_only
from fhbench.publish.estimation_board import publish
from fhbench.score.per_network import applies as per_network_applies, per_network, trial_curves
from fhbench.publish.provenance import ESTIMATION_METRICS, environment, published_number, results_header
from fhbench.record.size import FULL_SCALE_IMAGE_EPOCHS, gigabytes, image_epochs, planned_bytes
from fhbench.record.forecast import forecast
from fhbench.record.train import Trial, check_prediction_classes, plan_trials, record_trial, recording_conditions
from fhbench.score.metrics import reference_cpu_s, score_board
from fhbench.publish.seen_plots import seen_files
from fhbench.score.seen import seen_report
from fhbench.inputs.suite import Suite
from fhbench.spaces import suite_space
from fhbench.record.store import TraceStore
from fhbench.record.trace import TrialTrace, recording_summary, traces_hash
from fhbench.inputs.truth import load_truth, parse_truth


def open_store(suite: Suite, traces_root: str | Path) -> TraceStore:
    """Traces live under their recording settings' hash: estimator changes reuse them, others don't."""
    return TraceStore(Path(traces_root) / suite.name / suite.record_hash)


def load_suite_splits(suite: Suite, data_dir: Path | None, download: bool = False, strict: bool = False):
    d = suite.data
    splits = load_splits(d.dataset, data_dir, d.train_size, d.val_size, d.test_size, d.split_seed, download,
                         strict=strict)
    return downsample(splits, d.resize) if d.resize else splits


def _estimator_names(suite: Suite) -> list[str]:
    names = list(suite.estimate.estimators)
    if suite.search is not None:
        names += [n for n in suite.search.estimators + suite.search.replay_estimators if n not in names]
    return names


def preflight(suite: Suite, *, nb201_file: str | None = None) -> None:
    """Everything that can be known before training, checked before training: the planned cells,
    every estimator's name and settings (against its signature and constructor), windows that the
    recorded features can serve, and the truths' files. At full scale a late error wastes a GPU-week."""
    from fhbench.engine.declared import is_declared

    if is_declared(suite):
        from fhbench.spaces import targets

        targets(suite)  # every target's space builds (a MAC limit no config meets fails here)
    elif suite.imported is None:
        plan_trials(suite, suite_space(suite))
    registry = available_estimators()
    for name in suite.estimator_settings:
        if name not in registry:
            raise SuiteError(f"{suite.path}: [estimators.{name}]: no installed estimator is called '{name}' "
                             f"(installed: {', '.join(registry) or 'none'})")
    for name in _estimator_names(suite):
        estimator = create_estimator(name, suite.estimator_settings.get(name), registry=registry, source=suite.path)
        if suite.imported is not None:
            if getattr(estimator, "recorded_cost_s", None) is not None:
                raise SuiteError(f"{suite.path}: estimator '{name}' reads zero-cost proxies, which imported curves "
                                 f"do not hold: leave it out of estimate.estimators")
            continue  # no features either: the estimators that read them fail on the board, saying so
        window = getattr(estimator, "window", None)
        if isinstance(window, int) and window > suite.record.window:
            raise SuiteError(f"{suite.path}: key 'estimators.{name}.window': expected at most record.window "
                             f"({suite.record.window}), got {window}: the suite keeps features of only "
                             f"{suite.record.window} epochs before each checkpoint")
        if getattr(estimator, "recorded_cost_s", None) is not None and not suite.record.proxies:
            raise SuiteError(f"{suite.path}: estimator '{name}' reads zero-cost proxies computed while "
                             f"recording: set record.proxies = true (the traces are then recorded with them)")
    specs = [suite.estimate.truth] + ([suite.search.truth] if suite.search is not None else [])
    for spec in map(parse_truth, specs):
        if not spec.own_run:
            load_truth(spec, nb201_file=nb201_file)  # a missing or bad truth file fails now (tables are cached)


def check_writable(folder: str | Path) -> None:
    """Fails now, not after hours of work, where results could not be written (read-only, full, a file
    in the way). Creates nothing: it probes the folder, or the nearest one above it that exists."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        with tempfile.TemporaryFile(dir=existing) as probe:
            probe.write(b"fhbench")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as err:
        raise FhbenchError(f"{folder}: cannot write results there ({err.strerror or err})") from None


def _check_planned(trace: TrialTrace, trial: Trial) -> None:
    recorded = (trace.config, trace.manifest.get("seed"), trace.repeat, trace.manifest.get("index"), trace.budget)
    planned = (trial.config, trial.seed, trial.repeat, trial.index, trial.budget)
    if recorded != planned:
        raise TraceError(f"trace {trace.path}: recorded (cell, seed, repeat, index, budget) {recorded}, but the "
                         f"suite plans {planned}")


def check_conditions(traces: list[TrialTrace], device: torch.device, threads: int | None = None) -> None:
    """For a strict rerun: every trace must have been recorded under this run's conditions (device kind,
    thread count on the CPU, torch version, determinism flags), else its numbers are not reproducible.
    `threads`: the count this run records with, where it is not this process's (each Ray task of
    --workers/--ray runs --cpus-per-trial threads). A lost trial recorded nothing and an imported one was
    recorded elsewhere: neither is checked."""
    now = recording_conditions(device)
    if threads is not None:
        now["threads"] = threads
    keys = ["device", "torch", "deterministic_algorithms"] + (["threads"] if device.type == "cpu" else [])
    for trace in traces:
        if trace.status == "lost" or "imported" in trace.manifest:  # neither was recorded here
            continue
        then = trace.conditions
        differ = [f"{k} {then.get(k)!r} (now {now[k]!r})" for k in keys if then.get(k) != now[k]]
        if differ:
            raise FhbenchError(f"--strict: trace {trace.path} was recorded with {', '.join(differ)}; rerun with "
                               f"those conditions (e.g. --threads {then.get('threads')}) or without --strict")


def record_suite(suite: Suite, store: TraceStore, *, data_dir: Path | None, device: torch.device,
                 download: bool = False, report: Callable[[str], None] = print,
                 progress=None, execution=None, strict: bool = False, force: bool = False) -> list[Trial]:
    """Records every planned trial that the store lacks; returns the trials it recorded.

    Before any training, the traces the trials to record need are set against the store's free disk
    (refused unless `force`), a full-scale suite started on a CPU is said to be one, and the wall time
    the recording will take here is predicted from a few timed training steps (`fhbench.record.forecast`).
    A store never mixes copies of a dataset: where its finished trials were read from another copy than
    this run would read (`Splits.source`), nothing is recorded and a DataError says which. With `strict`
    a suite that says "cifar10" must find the official release (see `load_splits`).

    Finished trials are skipped, unfinished ones (left under .partial/) redone, lost ones (a parallel
    run could not record them) redone, and corrupt ones moved to .corrupt/ and redone, so running a
    suite again resumes it. The store is locked meanwhile; a parallel run whose driver died holding it
    is cleaned up first (`fhbench.runtime.ray.stop_dead_run`). With `execution` (a
    `fhbench.runtime.ray.Execution`: --workers or --ray) the trials are Ray tasks, and the trials
    returned include those lost there; without it, one process as always (Ray is not imported).
    """
    from fhbench.runtime.ray import stop_dead_run

    if suite.imported is not None:
        raise SuiteError(f"{suite.path}: imported curves ([imported]): nothing to record or train; score them with "
                         f"`fhbench score`, or import them again with `fhbench import`")
    store.lock()
    stop_dead_run(store, report)  # before any training: no leftover worker trains beside this run
    space = suite_space(suite)
    todo = []
    sources: dict[str, str] = {}  # copy of the data -> a trial read from it
    for trial in plan_trials(suite, space):
        if not store.has(trial.trial_id):
            todo.append(trial)
            continue
        try:
            trace = store.open(trial.trial_id)
            _check_planned(trace, trial)
            if trace.status != "lost":
                sources.setdefault(str(trace.manifest.get("dataset_source")), trial.trial_id)
        except TraceError as err:
            moved = store.quarantine(trial.trial_id)
            report(f"{err}; moved to {moved}, recording it again")
            todo.append(trial)
            continue
        if trace.status == "lost":
            report(f"trial {trial.trial_id} ({trial.config}) was lost by an earlier run ({trace.failure}); "
                   f"recording it again")
            todo.append(trial)
    if not todo:
        return []
    _check_fits(suite, space, todo, store, device, force=force, report=report)
    for trial in todo:
        store.forget(trial.trial_id)  # a lost trial opened above is replaced by a Ray task, not through `store`
    splits = load_suite_splits(suite, data_dir, download, strict=strict)
    other = {source: trial for source, trial in sources.items() if source != splits.source}
    if other:
        source, trial = next(iter(other.items()))
        raise DataError(f"trace store {store.root}: trial {trial} was read from '{source}', and this run would read "
                        f"'{splits.source}': one board never mixes copies of its data; give the same data "
                        f"(--data-dir) or record into another trace store (--traces)")
    if suite.record.predictions:  # before any trial starts, here or on Ray
        check_prediction_classes(suite, splits.num_classes)
    predicted = forecast(todo, suite, space, splits, device,
                         workers=(execution.workers or 1) if execution is not None else 1)
    if predicted is not None:
        report(predicted.describe(device))
    if execution is not None:
        return _record_on_ray(suite, store, todo, splits, execution, device, report, progress)
    overall = progress.add_task("trials", total=len(todo)) if progress else None
    for trial in todo:
        task = progress.add_task(f"  {trial.trial_id} {trial.config}", total=trial.epochs(suite)) if progress else None
        advance = (lambda epoch, seconds: progress.update(task, completed=epoch, epoch_time=seconds)) \
            if progress else None
        status = record_trial(trial, suite, space, splits, store, device, on_epoch=advance)
        if progress:
            progress.remove_task(task)
            progress.advance(overall)
        if status != "complete":
            report(f"trial {trial.trial_id} ({trial.config}) {status}; recorded as a failed trial")
    return todo


def _check_fits(suite: Suite, space, todo: list[Trial], store: TraceStore, device: torch.device, *, force: bool,
                report: Callable[[str], None]) -> None:
    needed = planned_bytes(suite, space, todo)
    free = shutil.disk_usage(store.root).free
    if needed > free and not force:
        raise FhbenchError(f"{suite.path}: its {len(todo)} trial(s) to record need {gigabytes(needed)} of traces and "
                           f"{store.root} has {gigabytes(free)} free: free space, record elsewhere (--traces), keep "
                           f"fewer features (record.train_subset, record.window) or pass --force")
    work = image_epochs(suite, todo)
    if getattr(device, "type", "cpu") == "cpu" and work >= FULL_SCALE_IMAGE_EPOCHS:
        report(f"warning: {suite.path} is a full-scale suite ({work:,} training image-epochs, {gigabytes(needed)} "
               f"of traces) started on a CPU: it is meant for GPUs and would take weeks here; its reduced "
               f"counterpart (suites/*-cpu.toml) runs on a CPU")


def _record_on_ray(suite: Suite, store: TraceStore, todo: list[Trial], splits, execution, device: torch.device,
                   report: Callable[[str], None], progress) -> list[Trial]:
    from fhbench.record.parallel import record_parallel

    return record_parallel(suite, store, todo, splits, execution=execution, cuda_available=torch.cuda.is_available(),
                           device_type=device.type, report=report, progress=progress)


def imported_traces(suite: Suite, store: TraceStore) -> list[TrialTrace]:
    """The trials `fhbench import` wrote into the store of an imported suite, checked against the suite:
    as many as it says, each of its source and budget."""
    ids = list(store.trial_ids()) if store.root.is_dir() else []
    again = f"import the curves again (`fhbench import ... --name {suite.name} --traces {store.root.parent.parent}`)"
    if len(ids) != suite.imported.trials:
        raise TraceError(f"{store.root}: holds {len(ids)} imported trials, {suite.path} says {suite.imported.trials}: "
                         f"{again}")
    traces = [store.open(trial_id) for trial_id in ids]
    for trace in traces:
        if trace.manifest.get("imported") != suite.imported.source or trace.budget != suite.train.epochs:
            raise TraceError(f"trace {trace.path}: not imported from what {suite.path} says ({suite.imported.source}, "
                             f"{suite.train.epochs} epochs): {again}")
    return traces


def load_traces(suite: Suite, store: TraceStore) -> list[TrialTrace]:
    if suite.imported is not None:
        return imported_traces(suite, store)
    traces = []
    for trial in plan_trials(suite, suite_space(suite)):
        if not store.has(trial.trial_id):
            raise TraceError(f"trial {trial.trial_id} is not recorded in {store.root}: "
                             f"run `fhbench record {suite.path}` first")
        trace = store.open(trial.trial_id)
        _check_planned(trace, trial)
        traces.append(trace)
    return traces


def verify_suite(suite: Suite, store: TraceStore) -> list[str]:
    """The full check of a suite's traces: every planned trial present, its manifest sound and every
    file's checksum right. Returns one line per problem (empty: all good). A declared search suite plans
    no trials: every trace its live searches wrote is checked."""
    from fhbench.engine.declared import is_declared

    problems = []
    if suite.imported is not None:
        try:
            for trace in imported_traces(suite, store):
                try:
                    trace.verify()
                except TraceError as err:
                    problems.append(str(err))
        except TraceError as err:
            problems.append(str(err))
        return problems
    if is_declared(suite):
        for trial_id in store.trial_ids():
            try:
                TrialTrace(store.root / trial_id).verify()
            except TraceError as err:
                problems.append(str(err))
        return problems
    for trial in plan_trials(suite, suite_space(suite)):
        if not store.has(trial.trial_id):
            problems.append(f"trial {trial.trial_id}: not recorded in {store.root}")
            continue
        try:
            trace = TrialTrace(store.root / trial.trial_id)
            _check_planned(trace, trial)
            trace.verify()
        except TraceError as err:
            problems.append(str(err))
    return problems


def _overhead_epoch_times(traces: list[TrialTrace], device: torch.device) -> dict[str, float]:
    """Each trial's mean training epoch, where it was recorded on the scoring device's kind; NaN elsewhere
    (a CPU estimate divided by a GPU epoch is no overhead ratio) and for a proxy-only trial (no epochs)."""
    return {t.trial_id: float(np.mean(t.curve("epoch_time")))
            if t.conditions.get("device") == device.type and t.epochs_completed else math.nan for t in traces}


def as_published(record: EstimateRecord) -> EstimateRecord:
    """The record with its numbers as results.json publishes them."""
    return dataclasses.replace(
        record, estimate=None if record.estimate is None else published_number(record.estimate),
        overhead_s=published_number(record.overhead_s), overhead_cpu_s=published_number(record.overhead_cpu_s),
        reference_cpu_s=published_number(record.reference_cpu_s))


def score_suite(suite: Suite, store: TraceStore, leaderboard_root: str | Path, *,
                on_step: Callable[[str, int, int], None] | None = None, device: torch.device | None = None,
                nb201_file: str | None = None, strict: bool = False, fail_fast: bool = False,
                strict_threads: int | None = None):
    """Estimates, scores and publishes; returns (leaderboard directory, rows). With `fail_fast` the first
    failed estimate raises the estimator's own exception instead of becoming a failed row. With `strict`
    the traces must have been recorded under this run's conditions, at `strict_threads` CPU threads
    where given (see `check_conditions`)."""
    device = device or torch.device("cpu")
    check_writable(leaderboard_root)
    registry = available_estimators()
    estimators = {name: create_estimator(name, suite.estimator_settings.get(name), registry=registry, device=device,
                                         source=suite.path)
                  for name in suite.estimate.estimators}
    traces = load_traces(suite, store)
    if strict:
        check_conditions(traces, device, strict_threads)
    complete = [t for t in traces if t.status == "complete"]
    failed_trials = [{"trial_id": t.trial_id, "config": t.config, "status": t.status,
                      "epochs_completed": t.epochs_completed, **({"failure": t.failure} if t.failure else {})}
                     for t in traces if t.status != "complete"]
    if not complete:
        raise FhbenchError(f"{suite.path}: no trial completed ({len(failed_trials)} of {len(traces)} "
                           f"{', '.join(sorted({t['status'] for t in failed_trials}))}): nothing to score; "
                           f"see the traces in {store.root}")
    truth = load_truth(parse_truth(suite.estimate.truth), complete, nb201_file=nb201_file)
    truths = {t.trial_id: truth.accuracy(t) for t in complete}  # before any estimate: a missing cell fails fast
    records = run_estimators(estimators, complete, suite.checkpoints, on_step, device=device,
                             sealed_paths=truth.files, fail_fast=fail_fast, isolate=suite.estimate.isolate,
                             timeout_s=suite.estimate.timeout_s, threads=torch.get_num_threads())
    rank_only = frozenset(name for name, estimator in estimators.items() if is_rank_only(estimator))
    budgeted = bool(suite.train.budgets)  # rows, estimates and per-network views then carry their budget
    # Scored from the very numbers results.json publishes, so that `fhbench reproduce` recomputes every
    # row and statistic exactly from the published files (a p-value of two near-identical estimators
    # would otherwise move with the rounding).
    records = [as_published(r) for r in records]
    truths = {trial: published_number(value) for trial, value in truths.items()}
    epoch_times = {trial: published_number(value) for trial, value in _overhead_epoch_times(complete, device).items()}
    rows, statistics = score_board(records, truths, epoch_times, suite.train.epochs, rank_only, by_budget=budgeted)

    def budget_of(record) -> dict:
        return {"budget": record.budget} if budgeted else {}

    configs = {t.trial_id: t.config for t in complete}
    header = results_header(
        "estimation", suite, estimators=describe_estimators(estimators, registry, suite.estimator_settings),
        environment={**environment(str(device), torch.get_num_threads()),
                     "recording": recording_summary(traces), "reference_cpu_s": reference_cpu_s(records)},
        traces_hash=traces_hash(traces), truth=truth.describe(), metrics=ESTIMATION_METRICS)
    extra = {
        "seeds": ({} if suite.imported is not None else  # imported curves: only the seeds their source names
                  {"sample_seed": suite.space.sample_seed, "train_seed": suite.train.seed,
                   "split_seed": suite.data.split_seed})
                 | {"trials": {t.trial_id: t.manifest["seed"] for t in traces}},
        "dataset_source": ", ".join(sorted({t.manifest["dataset_source"] for t in traces})),
        "repeats": suite.estimate.repeats,
        "trials_scored": len(complete),
        "failed_trials": failed_trials,
        "failed_estimate_rule": "a failed estimate counts as 0.0: its whole truth is error, ranked last",
        "truths": truths,
        "statistics": statistics,
        # what `fhbench reproduce` needs to recompute overhead in epochs (a measured time, never recomputed)
        "epoch_times": epoch_times,
        "failures": [{"estimator": r.estimator, "repeat": r.repeat, **budget_of(r), "checkpoint": r.checkpoint,
                      "trial_id": r.trial_id, "error": r.error} for r in records if r.error],
        "estimates": [{"estimator": r.estimator, "repeat": r.repeat, **budget_of(r), "checkpoint": r.checkpoint,
                       "trial_id": r.trial_id, "config": configs[r.trial_id], "estimate": r.estimate,
                       "overhead_s": r.overhead_s, "overhead_cpu_s": r.overhead_cpu_s,
                       "reference_cpu_s": r.reference_cpu_s} for r in records],
    }
    if budgeted:
        extra["budgets"] = list(suite.budgets)
    if per_network_applies(suite) and set(estimators) - rank_only:  # a handful of networks: each one's own error
        if budgeted:  # each (network, budget) its own entry: one view per budget, against that budget's truths
            views = [per_network([r for r in records if r.budget == budget], truths, configs,
                                 suite.checkpoints_for(budget), budget, rank_only=rank_only,
                                 curves=trial_curves(t for t in complete if t.budget == budget))
                     for budget in suite.budgets]
            extra["per_network_by_budget"] = [view for view in views if view["trials"]]  # none: all diverged
        else:
            extra["per_network"] = per_network(records, truths, configs, suite.checkpoints, suite.train.epochs,
                                               rank_only=rank_only, curves=trial_curves(complete))
    files = {}
    if suite.record.predictions:  # the harness's analysis, after scoring: it reads each trial's final model
        extra["seen"], maps = seen_report(complete, suite, device=device)
        files = seen_files(extra["seen"], maps, f"{suite.name} {suite.version}")
    return publish(leaderboard_root, rows, header, extra, more_files=files), rows


def search_and_publish(suite: Suite, store: TraceStore, leaderboard_root: str | Path, *,
                       on_step: Callable[[str], None] | None = None, device: torch.device | None = None,
                       nb201_file: str | None = None, strict: bool = False, strict_threads: int | None = None):
    """Replays the suite's searches on its recorded pool and publishes them; returns (directory, rows)."""
    from fhbench.engine.search import publish_search_suite

    if suite.search is None:
        raise SuiteError(f"{suite.path}: key 'search': expected a [search] table for `fhbench search`")
    device = device or torch.device("cpu")
    check_writable(leaderboard_root)
    traces = load_traces(suite, store)
    if strict:
        check_conditions(traces, device, strict_threads)
    return publish_search_suite(suite, traces, suite_space(suite), store_root=store.root,
                                leaderboard_root=leaderboard_root, on_step=on_step, device=device,
                                nb201_file=nb201_file)


def run_declared(suite: Suite, store: TraceStore, leaderboard_root: str | Path, *, data_dir: Path | None,
                 device: torch.device, live: bool = True, execution=None, download: bool = False,
                 on_note: Callable[[str], None] | None = None):
    """`fhbench run` (live searches, then replays) or `fhbench search` (replays only) of a declared search
    suite (`fhbench.engine.declared`); returns (directory, rows)."""
    from fhbench.engine.declared import run_declared_suite

    check_writable(leaderboard_root)
    splits = load_suite_splits(suite, data_dir, download)
    return run_declared_suite(suite, store, splits=splits, device=device, leaderboard_root=leaderboard_root,
                              environment=environment(str(device), torch.get_num_threads()),
                              execution=execution, live=live, on_note=on_note)


def publish_run(run_dir: str | Path, leaderboard_root: str | Path, *, allow_dirty: bool = False) -> Path:
    """Copies a finished leaderboard directory (from `runs/`, say) into the published tree, as
    `<root>/<suite>/<version>/` (live searches: `<root>/<suite>/live/<name>/`), swapped in whole.

    Publishing is a deliberate step: a user's runs go to `runs/` so that trying a suite never
    rewrites the committed leaderboards. A published version never changes under its number: a board
    scored from another suite, other traces or other estimator versions is refused there (publish it
    as a new version). A board scored from a modified working tree is refused unless `allow_dirty`,
    which the published results.json then records (`published.allow_dirty`).
    """
    import json

    from fhbench.publish.provenance import SIGNATURE_FILE, check_signature, write_directory

    run_dir = Path(run_dir)
    results = run_dir / "results.json"
    try:
        header = json.loads(results.read_text())
        name, version, kind = header["suite"]["name"], header["suite"]["version"], header.get("kind")
    except FileNotFoundError:
        raise FhbenchError(f"{run_dir}: no results.json: expected a finished leaderboard directory") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FhbenchError(f"{results}: not a leaderboard results.json ({type(err).__name__}: {err})") from None
    from fhbench.inputs.suite import check_path_name

    run_dir = run_dir.resolve()  # `publish .` names the folder, not ""
    for key, value in (("suite.name", name), ("suite.version", version)):  # they become path parts
        check_path_name(value, key, lambda k, expected: FhbenchError(f"{results}: key '{k}': expected {expected}"))
    dirty = bool((header.get("git") or {}).get("dirty"))
    if dirty and not allow_dirty:
        raise FhbenchError(f"{results}: scored from a modified working tree (git dirty): commit and score again, "
                           f"or publish with --allow-dirty, which the board records")
    note = check_signature(run_dir)  # edited since scoring, or a link: refused; unsigned: a note
    files = {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.name != SIGNATURE_FILE}
    final = Path(leaderboard_root) / name / ("live" if kind == "live" else version)
    if kind == "live":
        final = final / run_dir.name
    if final.resolve() == run_dir.resolve():
        raise FhbenchError(f"{run_dir}: is already the published leaderboard {final}")
    _check_same_inputs(final, header)
    if dirty:
        files["results.json"] = (json.dumps({**header, "published": {"allow_dirty": True}}, indent=1, sort_keys=True)
                                 + "\n").encode()
    if note:
        print(f"fhbench: {note}", file=sys.stderr)
    return write_directory(final, files, sign=True)


def _check_same_inputs(final: Path, header: dict) -> None:
    """A version already published there must come from the same suite, traces and estimator versions."""
    import json

    try:
        old = json.loads((final / "results.json").read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as err:
        raise FhbenchError(f"{final / 'results.json'}: unreadable ({err}); move it away before publishing there") from None

    def versions(document: dict) -> dict:
        return {name: (spec or {}).get("version") for name, spec in (document.get("estimators") or {}).items()}

    changes = [f"{what} {a!r} -> {b!r}" for what, a, b in (
        ("suite hash", (old.get("suite") or {}).get("hash"), (header.get("suite") or {}).get("hash")),
        ("traces hash", old.get("traces_hash"), header.get("traces_hash")),
        ("estimator versions", versions(old), versions(header))) if a != b]
    if changes:
        raise FhbenchError(f"{final}: already published from other inputs ({'; '.join(changes)}): a published "
                           f"version never changes under its number; publish this board as a new suite version")


__all__ = ["publish_run", "check_conditions", "check_writable", "load_suite_splits", "load_traces", "open_store",
           "preflight", "record_suite", "score_suite", "search_and_publish", "verify_suite"]
