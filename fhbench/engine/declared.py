"""Declared searches (thesis Tables 4.2 to 4.4): searches that train what they propose.

Spaces darts, resnet_scaling and randaugment cannot be recorded as a pool beforehand: a search draws
configurations from the space's declared parameters (`fhbench.search.space.DeclaredSpace`) and trains
them live. A suite of such a space has one or more targets (`fhbench.spaces.targets`: one per network
for RandAugment, one per MAC limit for ResNet scaling, one for DARTS), and `fhbench run` runs, for each
target, every [search] algorithm with every estimator over every seed:

1. **Live.** Each search trains its jobs through the live backend, which writes every run it trained
   as a trace in the suite's store (`fhbench.search.backends.live`). A finished search's record is written to
   `<store>/searches/<name>.search.json` whole or not at all (estimators cannot open it:
   `fhbench.core.seal`), so a run that was killed resumes with the searches it had not finished (their
   traces are kept and reused by the replays below).
2. **Replayed.** The same searches, and those of `search.replay_estimators` and
   `search.replay_algorithms` (never run live), are replayed on the traces the live searches wrote
   (`fhbench.search.backends.replay.LookupReplayBackend`): a job whose epochs no live search trained is "not
   recorded", fails, and is counted, so each replayed row says how much of it rests on recorded
   training. A replay of a live search with its own algorithm, seed and a per-trial estimator runs its
   jobs again, which the leaderboard checks row by row: HyperBand's always; BOHB's unless the replay's
   clock orders near-simultaneous finishes otherwise (`fhbench.publish.declared_board._agreement` says why).
3. **Published** as the thesis's tables: the chosen configuration's test accuracy, mean and standard
   deviation over seeds, per target, algorithm, estimator and source (live or replayed), with the
   search's time, and each winner's parameters and multiply-accumulates (`fhbench.publish.declared_board`).

How long a search runs: HyperBand and BOHB run `search.iterations` iterations (all their brackets once
each; 0 means one) and random search its `search.random_configs` configurations; with a positive
`search.time_budget_s` every search also stops at that many seconds on the driver's clock (with
`search.iterations = 0` HyperBand then repeats its iterations until the time is up: the thesis's
equal-time comparison).

The truth of a declared search is its own run: the chosen configuration's test accuracy (or validation
accuracy, with truth final_val_acc) at the maximal budget, which every search trains its incumbent to.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fhbench.core.atomic import write_file
from fhbench.core.errors import FhbenchError
from fhbench.inputs.suite import DECLARED_SPACES

SEARCHES_DIR = "searches"
RECORD_SUFFIX = ".search.json"  # sealed from estimators (fhbench.core.seal): a record holds its winner's accuracy
RECORD_SCHEMA = 1
DECLARED_METRICS = {"true_acc_mean": "higher", "failed_jobs": "lower"}  # what `fhbench compare` gates


def is_declared(suite) -> bool:
    """True for a search suite whose searches train what they propose (no recorded pool)."""
    return suite.search is not None and suite.space.name in DECLARED_SPACES


@dataclass(frozen=True)
class PlannedSearch:
    target_index: int
    target: str
    algorithm: str
    estimator: str
    seed: int

    @property
    def name(self) -> str:
        """The file name of its record: the target by index, as labels hold characters such as '/'."""
        return f"t{self.target_index}-{self.algorithm}-{self.estimator}-seed{self.seed}"


def planned_searches(suite, targets: Sequence[tuple[str, object]], estimators: Sequence[str]) -> list[PlannedSearch]:
    s = suite.search
    return [PlannedSearch(index, label, algorithm, estimator, seed)
            for index, (label, _) in enumerate(targets) for algorithm in s.algorithms
            for estimator in estimators for seed in range(s.seeds)]


def search_limits(suite, algorithm: str) -> tuple[int | None, float]:
    """(HyperBand iterations, time budget on the driver's clock) of one declared search (module docstring)."""
    budget = float(suite.search.time_budget_s) or math.inf
    if algorithm == "random":
        return None, budget
    if suite.search.iterations:
        return suite.search.iterations, budget
    return (None if math.isfinite(budget) else 1), budget


def winner_size(space, config_text: str, image_size: int, num_classes: int, in_channels: int = 3) -> dict:
    """Parameters and multiply-accumulates of a chosen configuration as the search trained it, counted by
    torch on a meta-device network (no weights computed). DARTS networks count without their auxiliary
    tower, which only training uses, as DARTS reports them."""
    import torch

    from fhbench.spaces.flops import count_macs, count_params

    config = space.parse(config_text)
    with torch.device("meta"):
        model = space.build(config, num_classes, in_channels)
    params = model.num_parameters(auxiliary=False) if hasattr(model, "num_parameters") else count_params(model)
    return {"params": int(params), "macs": int(count_macs(model, (in_channels, image_size, image_size)))}


# -- records of finished searches -------------------------------------------------------------------------------

def _record_path(store_root: Path, planned: PlannedSearch) -> Path:
    return Path(store_root) / SEARCHES_DIR / f"{planned.name}{RECORD_SUFFIX}"


def write_record(store_root: Path, planned: PlannedSearch, record: dict) -> Path:
    """Whole or not at all: a killed run leaves no record that reads as a finished search."""
    return write_file(_record_path(store_root, planned),
                      json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n")


def search_key(suite, planned: PlannedSearch) -> str:
    """What a live search's result depends on: the recording settings (the store's `record_hash`), its
    algorithm's settings, its estimator's settings and its seed. Replay-only settings (replay estimators
    and algorithms) and other searches' settings are left out, so adding a replay reruns no live search."""
    s = suite.search
    settings = {"record": suite.record_hash, "target": planned.target, "algorithm": planned.algorithm,
                "estimator": planned.estimator, "seed": planned.seed,
                "estimator_settings": suite.estimator_settings.get(planned.estimator, {}),
                "search": [s.min_budget, s.eta, s.workers, s.random_configs, s.iterations, s.time_budget_s, s.truth]}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def read_record(store_root: Path, planned: PlannedSearch, key: str) -> tuple[dict | None, str | None]:
    """(the record of a finished search, None) when a sound one exists for these settings (`search_key`),
    else (None, why not) where a file exists but cannot be used, or (None, None) where there is none."""
    path = _record_path(store_root, planned)
    if not path.exists():
        return None, None
    try:
        record = json.loads(path.read_text())
        if record.get("record_schema") != RECORD_SCHEMA or record.get("search_key") != key:
            return None, f"{path} was written for other suite settings"
        if (record["target"], record["algorithm"], record["estimator"], record["seed"]) != (
                planned.target, planned.algorithm, planned.estimator, planned.seed):
            return None, f"{path} holds another search"
        return record, None
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"{path} is not a readable search record ({type(err).__name__}: {err})"


# -- live -------------------------------------------------------------------------------------------------------

def _incumbent_truth(suite, run_info: dict | None) -> tuple[float | None, str | None]:
    """The chosen configuration's accuracy under the suite's own-run truth, or (None, why)."""
    from fhbench.inputs.truth import parse_truth

    if run_info is None:
        return None, "it was never trained"
    epochs = run_info["epochs"]
    if epochs < suite.train.epochs:
        return None, f"it was trained to {epochs} of {suite.train.epochs} epochs"
    spec = parse_truth(suite.search.truth)
    curve = run_info["test_acc"] if spec.kind == "final_test_acc" else run_info["val_acc"]
    return float(curve[suite.train.epochs - 1]), None


def run_live_search(suite, planned: PlannedSearch, space, *, splits, store, device, estimator, settings: dict,
                    workers: int, execution=None, on_note: Callable[[str], None] | None = None) -> dict:
    """One live search of one target; returns its record (see `write_record`)."""
    from fhbench.search.backends.live import LiveBackend, live_search
    from fhbench.search.run import SearchSpec, make_algorithm
    from fhbench.search.space import DeclaredSpace
    from fhbench.search.trials import DeclaredTrials

    spec = SearchSpec.from_suite(suite)
    iterations, time_budget = search_limits(suite, planned.algorithm)
    declared = DeclaredSpace(space, planned.target)
    algorithm = make_algorithm(planned.algorithm, declared, spec, planned.seed, max_iterations=iterations)
    pool = DeclaredTrials(declared, suite)
    started = time.perf_counter()
    if execution is None:  # one process; the driver's clock schedules `workers` from the measured costs
        backend = LiveBackend(suite, space, splits, pool, device, planned.estimator, estimator, store=store)
    else:
        from fhbench.search.backends.ray import RayLiveBackend

        backend = RayLiveBackend(suite, splits, pool, estimator=planned.estimator, settings=settings, sealed_paths=(),
                                 execution=execution, workers=workers, device_type=device.type,
                                 cuda_available=device.type == "cuda", store=store, space=space)
    with backend as backend:
        run = live_search(algorithm, backend, seed=planned.seed, workers=workers, time_budget_s=time_budget,
                          on_note=on_note)
        winner = backend.furthest_run(run.incumbent) if run.incumbent is not None else None
        epochs_trained = backend.epochs_trained
    wall_s = time.perf_counter() - started
    return _record(suite, planned, run, declared, winner, wall_s=wall_s, epochs_trained=epochs_trained,
                   source="live", unrecorded=0)


def _record(suite, planned: PlannedSearch, run, declared, winner: dict | None, *, wall_s: float | None,
            epochs_trained: int | None, source: str, unrecorded: int) -> dict:
    incumbent = declared.config(run.incumbent) if run.incumbent is not None else None
    true_acc, why = _incumbent_truth(suite, winner)
    return {
        "record_schema": RECORD_SCHEMA, "search_key": search_key(suite, planned), "source": source,
        "target_index": planned.target_index, "target": planned.target, "algorithm": planned.algorithm,
        "estimator": planned.estimator, "seed": planned.seed, "workers": run.workers,
        "incumbent": incumbent, "true_acc": true_acc, "true_acc_missing": why,
        "incumbent_val_acc": None if winner is None else float(winner["val_acc"][-1]),
        "wall_s": wall_s, "clock_s": run.simulated_time_s, "stopped": run.stopped,
        "epochs_trained": epochs_trained, "configs_evaluated": run.configs_evaluated, "jobs": len(run.jobs),
        "failed_jobs": run.failed_jobs, "unrecorded_jobs": unrecorded,
        "configs": [declared.config(i) for i in range(declared.size)],
        "job_list": [{**job, "config": declared.config(job["config"])} for job in run.jobs],
        "notes": list(run.notes),
    }


# -- replayed --------------------------------------------------------------------------------------------------

def _in_target(space, config_text: str) -> bool:
    """True when a recorded config belongs to the target's space (its network; within its MAC limit)."""
    from fhbench.core.errors import ConfigError

    try:
        space.from_codes(space.codes(space.parse(config_text)))
    except ConfigError:
        return False
    return True


def _trace_info(trace) -> dict:
    return {"epochs": trace.epochs_completed, "val_acc": trace.curve("val_acc").tolist(),
            "test_acc": trace.test_curve().tolist()}


def replay_declared(suite, store, targets: Sequence[tuple[str, object]], instances: dict, live_records: Sequence[dict],
                    *, device, on_note: Callable[[str], None] | None = None) -> list[dict]:
    """Every search of the suite, and those of `search.replay_estimators` and `search.replay_algorithms`,
    replayed on the traces the live
    searches wrote (module docstring). A replay runs with the workers its live counterpart had (same
    target, algorithm and seed), so that it can make the same decisions."""
    from fhbench.estimators.registry import available_estimators, effective_settings
    from fhbench.search.driver import run_search
    from fhbench.search.backends.replay import LookupReplayBackend, recorded_traces
    from fhbench.search.run import SearchSpec, cached_estimate_table, make_algorithm, search_budgets
    from fhbench.search.space import DeclaredSpace
    from fhbench.search.trials import TRIAL_PREFIX, DeclaredTrials

    spec = SearchSpec.from_suite(suite)
    names = list(spec.estimators) + list(suite.search.replay_estimators)
    algorithms = list(spec.algorithms) + list(suite.search.replay_algorithms)
    workers = {(r["target"], r["algorithm"], r["seed"]): r["workers"] for r in live_records}
    traces = recorded_traces(store, prefix=TRIAL_PREFIX)
    registry = available_estimators()
    records = []
    for index, (label, space) in enumerate(targets):
        mine = [trace for trace in traces if _in_target(space, trace.config)]
        if not mine:
            continue
        by_id = {trace.trial_id: trace for trace in mine}
        for name in names:
            table = cached_estimate_table(
                Path(store.root) / "estimates", name, instances[name],
                effective_settings(name, suite.estimator_settings.get(name, {}), registry), mine,
                search_budgets(spec), device=device, on_note=on_note)
            for algorithm in algorithms:
                for seed in range(spec.seeds):
                    planned = PlannedSearch(index, label, algorithm, name, seed)
                    declared = DeclaredSpace(space, label)
                    trials = DeclaredTrials(declared, suite)
                    iterations, time_budget = search_limits(suite, algorithm)
                    search = make_algorithm(algorithm, declared, spec, seed, max_iterations=iterations)
                    run = run_search(search, LookupReplayBackend.from_traces(table, mine, trials.__getitem__),
                                     workers=workers.get((label, algorithm, seed), spec.workers),
                                     time_budget_s=time_budget, seed=seed)
                    trace = by_id.get(trials[run.incumbent].trial_id) if run.incumbent is not None else None
                    records.append(_record(suite, planned, run, declared, _trace_info(trace) if trace else None,
                                           wall_s=None, epochs_trained=None, source="replayed",
                                           unrecorded=run.unrecorded_jobs))
            if on_note:
                on_note(f"replayed: {label} with {name}")
    return records


# -- the whole suite ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _shared_ray(execution, store, device):
    """One Ray instance for all of a suite's live searches (each would otherwise start and stop its own,
    seconds of every search's wall time), named in the store's run record for a rerun after kill -9."""
    if execution is None:
        yield
        return
    import ray

    from fhbench.runtime.ray import gpus_per_trial, start_ray_session

    gpus = gpus_per_trial(execution, device.type, device.type == "cuda")
    started, session_dir = start_ray_session(execution, gpus_wanted=gpus > 0)
    token = store.begin_run({"driver_pid": os.getpid(), "host": socket.gethostname(), "session_dir": session_dir,
                             "address": execution.address, "kind": "declared search"}) if started else None
    try:
        yield
    finally:
        if started:
            ray.shutdown()
            store.end_run(token)


def _live_records(suite, store, targets, instances: dict, *, splits, device, workers: int, execution, live: bool,
                  notes: list, note: Callable[[str], None]) -> list[dict]:
    """The record of every planned search: read where a finished one is stored, else run live now
    (`live` False: listed in `notes` as not run)."""
    records = []
    for planned in planned_searches(suite, targets, suite.search.estimators):
        record, problem = read_record(store.root, planned, search_key(suite, planned))
        if problem:
            note(f"{problem}: running it again")
        if record is None:
            if not live:
                notes.append(f"{planned.name} ({planned.target}) has not run live: `fhbench run` runs it")
                continue
            note(f"live: {planned.target}, {planned.algorithm} with {planned.estimator}, seed {planned.seed}")
            record = run_live_search(suite, planned, dict(targets)[planned.target], splits=splits, store=store,
                                     device=device, estimator=instances[planned.estimator],
                                     settings=suite.estimator_settings.get(planned.estimator, {}),
                                     workers=workers, execution=execution, on_note=note)
            write_record(store.root, planned, record)
        records.append(record)
    return records


def run_declared_suite(suite, store, *, splits, device, leaderboard_root: str | Path, environment: dict,
                       execution=None, live: bool = True,
                       on_note: Callable[[str], None] | None = None) -> tuple[Path, list]:
    """`fhbench run` (live, then replayed) or `fhbench search` (`live` False: replays only, on the traces
    and records earlier live runs left) of a declared search suite; returns (directory, rows)."""
    from fhbench.estimators import available_estimators, create_estimator
    from fhbench.estimators.registry import describe_estimators
    from fhbench.publish.provenance import results_header
    from fhbench.publish.declared_board import publish_table, summarise
    from fhbench.spaces import targets as space_targets

    def note(text: str) -> None:
        if on_note:
            on_note(text)

    targets = space_targets(suite)
    spec = suite.search
    store.lock()
    if execution is not None:
        from fhbench.runtime.ray import stop_dead_run

        stop_dead_run(store, note)
    from fhbench.search.trials import TRIAL_PREFIX

    for name in store.clear_staging(TRIAL_PREFIX):  # what a killed or failed write (a full disk) left
        note(f"removed an unfinished trace write: .partial/{name}")
    registry = available_estimators()
    names = list(spec.estimators) + list(spec.replay_estimators)
    instances = {name: create_estimator(name, suite.estimator_settings.get(name, {}), registry=registry,
                                        device=device) for name in names}
    workers = spec.workers if execution is None or execution.workers is None else execution.workers
    records, notes = [], []
    with _shared_ray(execution if live else None, store, device):
        records += _live_records(suite, store, targets, instances, splits=splits, device=device, workers=workers,
                                 execution=execution, live=live, notes=notes, note=note)
    if not records:
        raise FhbenchError(f"{suite.path}: no search of this suite has run live yet: `fhbench run {suite.path}`")
    records += replay_declared(suite, store, targets, instances, records, device=device, on_note=note)
    image_size, in_channels = int(splits.train.images.shape[-1]), int(splits.train.images.shape[1])
    for record in records:  # the chosen configuration's size, counted here (the records stay as written)
        record["size"] = (None if record["incumbent"] is None else
                          winner_size(dict(targets)[record["target"]], record["incumbent"], image_size,
                                      splits.num_classes, in_channels))
    winners = [{key: record[key] for key in ("target", "algorithm", "estimator", "seed", "incumbent", "true_acc",
                                             "true_acc_missing", "size")}
               for record in records if record["source"] == "live" and record["incumbent"] is not None]
    header = results_header("declared-search", suite, estimators=describe_estimators(
        instances, registry, suite.estimator_settings), environment=environment, traces_hash=None,
        truth={"spec": spec.truth, "source": "the chosen configuration's own run at the maximal budget"},
        metrics=DECLARED_METRICS)
    extra = {"targets": [{"label": label, "parameters": [p.as_dict() for p in space.parameters()]}
                         for label, space in targets],
             "winners": winners, "notes": notes,
             "device_days_unit": "GPU-days" if device.type == "cuda" else "CPU-days"}
    directory = publish_table(leaderboard_root, header, records, extra)
    return directory, summarise(records)
