"""A suite from end to end: record the planned trials that are not yet in the store, then estimate,
score and publish (or, for a search suite, replay its searches and publish). The command line calls
these functions; tests call them directly."""

from __future__ import annotations

import datetime
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import fhbench
from fhbench.data import downsample, load_splits
from fhbench.errors import SuiteError, TraceError
from fhbench.estimate import run_estimators
from fhbench.estimators import available_estimators, create_estimator
from fhbench.estimators.registry import check_settings_names, describe_estimators
from fhbench.leaderboard import publish
from fhbench.record import Trial, plan_trials, record_trial
from fhbench.score import score, true_accuracy
from fhbench.spaces.nb201 import Nb201Space
from fhbench.suite import Suite
from fhbench.traces import TraceStore, TrialTrace, traces_hash


def make_space(suite: Suite):
    if suite.space.name == "nb201":
        return Nb201Space(suite.space.channels, suite.space.cells_per_stage)
    raise SuiteError(f"{suite.path}: key 'space.name': expected one of nb201, got '{suite.space.name}'")


def open_store(suite: Suite, traces_root: str | Path) -> TraceStore:
    """Traces live under their recording settings' hash: estimator changes reuse them, others don't."""
    return TraceStore(Path(traces_root) / suite.name / suite.record_hash)


def load_suite_splits(suite: Suite, data_dir: Path | None, download: bool = False):
    d = suite.data
    splits = load_splits(d.dataset, data_dir, d.train_size, d.val_size, d.test_size, d.split_seed, download)
    return downsample(splits, d.resize) if d.resize else splits


def _check_planned(trace: TrialTrace, trial: Trial) -> None:
    if trace.config != trial.config or trace.manifest.get("seed") != trial.seed:
        raise TraceError(f"trace {trace.path}: recorded for {trace.config} seed {trace.manifest.get('seed')}, "
                         f"but the suite plans {trial.config} seed {trial.seed}")


def record_suite(suite: Suite, store: TraceStore, *, data_dir: Path | None, device: torch.device,
                 download: bool = False, report: Callable[[str], None] = print,
                 progress=None) -> list[Trial]:
    """Records every planned trial that the store lacks; returns the trials it recorded.

    Finished trials are skipped, unfinished ones (left under .partial/) redone, and corrupt ones moved
    to .corrupt/ and redone, so running a suite again resumes it.
    """
    space = make_space(suite)
    todo = []
    for trial in plan_trials(suite, space):
        if not store.has(trial.trial_id):
            todo.append(trial)
            continue
        try:
            _check_planned(store.open(trial.trial_id), trial)
        except TraceError as err:
            moved = store.quarantine(trial.trial_id)
            report(f"{err}; moved to {moved}, recording it again")
            todo.append(trial)
    if not todo:
        return []
    splits = load_suite_splits(suite, data_dir, download)
    overall = progress.add_task("trials", total=len(todo)) if progress else None
    for trial in todo:
        task = progress.add_task(f"  {trial.trial_id} {trial.config}", total=suite.train.epochs) if progress else None
        advance = (lambda epoch: progress.update(task, completed=epoch)) if progress else None
        status = record_trial(trial, suite, space, splits, store, device, on_epoch=advance)
        if progress:
            progress.remove_task(task)
            progress.advance(overall)
        if status != "complete":
            report(f"trial {trial.trial_id} ({trial.config}) {status}; recorded as a failed trial")
    return todo


def load_traces(suite: Suite, store: TraceStore) -> list[TrialTrace]:
    space = make_space(suite)
    traces = []
    for trial in plan_trials(suite, space):
        if not store.has(trial.trial_id):
            raise TraceError(f"trial {trial.trial_id} is not recorded in {store.root}: "
                             f"run `fhbench record {suite.path}` first")
        trace = store.open(trial.trial_id)
        _check_planned(trace, trial)
        traces.append(trace)
    return traces


def _git_commit() -> str | None:
    try:
        here = Path(fhbench.__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _environment(traces) -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "record_devices": sorted({t.manifest["device"] for t in traces}),
            "record_torch": sorted({t.manifest["torch"] for t in traces}),
            "score_device": "cpu", "score_threads": torch.get_num_threads()}


def score_suite(suite: Suite, store: TraceStore, leaderboard_root: str | Path, *,
                on_step: Callable[[str, int, int], None] | None = None):
    """Estimates, scores and publishes; returns (leaderboard directory, rows)."""
    registry = available_estimators()
    check_settings_names(suite.estimator_settings, registry)
    estimators = {name: create_estimator(name, suite.estimator_settings.get(name), registry=registry)
                  for name in suite.estimate.estimators}
    traces = load_traces(suite, store)
    complete = [t for t in traces if t.status == "complete"]
    failed_trials = [{"trial_id": t.trial_id, "config": t.config, "status": t.status,
                      "epochs_completed": t.epochs_completed} for t in traces if t.status != "complete"]
    records = run_estimators(estimators, complete, suite.checkpoints, on_step)
    if suite.estimate.truth == "nb201-table":
        from fhbench.search.truth import nb201_table

        table = nb201_table()
        truths = {t.trial_id: table.accuracy(t.config) for t in complete}
    else:
        truths = {t.trial_id: true_accuracy(t, suite.estimate.truth) for t in complete}
    epoch_times = {t.trial_id: float(np.mean(t.curve("epoch_time"))) for t in complete}
    rows = score(records, truths, epoch_times, suite.train.epochs)
    sources = sorted({t.manifest["dataset_source"] for t in traces})
    meta = {
        "fhbench_version": fhbench.__version__,
        "git_commit": _git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "suite": {"name": suite.name, "version": suite.version, "description": suite.description,
                  "hash": suite.hash, "record_hash": suite.record_hash},
        "suite_settings": suite.to_dict(),
        "estimators": describe_estimators(estimators, registry, suite.estimator_settings),
        "seeds": {"sample_seed": suite.space.sample_seed, "train_seed": suite.train.seed,
                  "split_seed": suite.data.split_seed,
                  "trials": {t.trial_id: t.manifest["seed"] for t in traces}},
        "environment": _environment(traces),
        "dataset_source": ", ".join(sources),
        "truth": suite.estimate.truth,
        "repeats": suite.estimate.repeats,
        "traces_hash": traces_hash(traces),
        "trials_scored": len(complete),
        "failed_trials": failed_trials,
        "truths": truths,
        "failures": [{"estimator": r.estimator, "repeat": r.repeat, "checkpoint": r.checkpoint,
                      "trial_id": r.trial_id, "error": r.error} for r in records if r.error],
        "estimates": [{"estimator": r.estimator, "repeat": r.repeat, "checkpoint": r.checkpoint,
                       "trial_id": r.trial_id, "estimate": r.estimate, "overhead_s": r.overhead_s}
                      for r in records],
    }
    return publish(leaderboard_root, rows, meta), rows


def search_and_publish(suite: Suite, store: TraceStore, leaderboard_root: str | Path, *,
                       on_step: Callable[[str], None] | None = None):
    """Replays the suite's searches on its recorded pool and publishes them; returns (directory, rows)."""
    from fhbench.search.leaderboard import publish_search
    from fhbench.search.run import search_budgets, search_meta, search_suite

    if suite.search is None:
        raise SuiteError(f"{suite.path}: key 'search': expected a [search] table for `fhbench search`")
    missing = sorted(set(search_budgets(suite)) - set(suite.checkpoints))
    if missing:
        raise SuiteError(f"{suite.path}: key 'estimate.checkpoints': expected every search budget "
                         f"{list(search_budgets(suite))} (missing {missing}): estimates need features there")
    traces = [t for t in load_traces(suite, store) if t.status == "complete"]
    outcome = search_suite(suite, traces, make_space(suite), store_root=store.root, on_step=on_step)
    meta = search_meta(suite, outcome, traces)
    meta["git_commit"] = _git_commit()
    meta["environment"] = _environment(traces)
    return publish_search(leaderboard_root, outcome.rows, meta), outcome.rows
