"""Recording a suite's trials as Ray tasks, one task per trial (`fhbench.runtime.ray` starts Ray and
says how; its docstring tells the whole story: retries, lost trials, a killed driver)."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from fhbench.record.format import RunSupersededError

from fhbench.record.store import TraceStore
from fhbench.record.train import record_lost_trial, record_trial
from fhbench.runtime.ray import (
    Execution,
    check_resources,
    check_store_on_nodes,
    gpus_per_trial,
    ray_error_line,
    start_ray_session,
)
from fhbench.spaces import suite_space

TEST_KILL_ENV = "FHBENCH_TEST_KILL_TRIAL"  # tests: "trial_id@marker" kills that trial's worker once


def _record_task(trial, suite, splits, store_root: str, threads: int, use_gpu: bool, run_token: str):
    """One trial, on a Ray worker: the single-process recording code, unchanged, publishing only while
    its run owns the store."""
    import torch

    store = TraceStore(store_root)
    if not store.run_is_current(run_token):  # a task of a killed driver, started late: train nothing
        raise RunSupersededError(f"trace store {store_root}: no longer held by the run of trial {trial.trial_id}")
    torch.set_num_threads(threads)
    device = torch.device("cuda") if use_gpu else torch.device("cpu")  # Ray sets CUDA_VISIBLE_DEVICES
    on_epoch = _test_kill_hook(trial.trial_id)
    started = time.perf_counter()
    epoch_seconds = []

    def seen(epoch: int, seconds: float) -> None:
        epoch_seconds.append(seconds)
        if on_epoch:
            on_epoch(epoch)

    status = record_trial(trial, suite, suite_space(suite), splits, store, device, on_epoch=seen, run_token=run_token)
    return {"trial_id": trial.trial_id, "status": status, "epochs": len(epoch_seconds),
            "train_seconds": float(sum(epoch_seconds)), "wall_seconds": time.perf_counter() - started}


def _test_kill_hook(trial_id: str) -> Callable[[int], None] | None:
    spec = os.environ.get(TEST_KILL_ENV)
    if not spec:
        return None
    target, _, marker = spec.partition("@")
    if target != trial_id:
        return None

    def kill(epoch: int) -> None:
        if epoch >= 1 and not (marker and os.path.exists(marker)):
            if marker:
                Path(marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    return kill


def record_parallel(suite, store, todo: list, splits, *, execution: Execution, cuda_available: bool,
                    device_type: str, report: Callable[[str], None] = print, progress=None) -> list:
    """Records `todo` as Ray tasks; returns the trials written, lost ones (see the module docstring)
    included. The caller holds the store's lock."""
    gpus = gpus_per_trial(execution, device_type, cuda_available)
    started, session_dir = start_ray_session(execution, gpus_wanted=gpus > 0)
    import ray

    token = None
    root = str(Path(store.root).resolve())  # a worker's working folder is not the driver's (a cluster's is its own)
    try:
        check_resources(execution, gpus)
        check_store_on_nodes(Path(root))
        token = store.begin_run({"driver_pid": os.getpid(), "host": socket.gethostname(), "session_dir": session_dir,
                                 "address": execution.address})
        splits_ref = ray.put(splits)
        task = ray.remote(_record_task).options(num_cpus=execution.cpus_per_trial, num_gpus=gpus,
                                                max_retries=execution.max_retries, retry_exceptions=False)
        pending = {task.remote(trial, suite, splits_ref, root, execution.cpus_per_trial, gpus > 0, token): trial
                   for trial in todo}
        overall = progress.add_task("trials", total=len(todo)) if progress else None
        done, lost = [], 0

        def counts() -> None:  # trials running at once and lost so far, for the one display of all workers
            if progress is not None and hasattr(progress, "set_workers"):
                workers = execution.workers if execution.workers is not None else len(pending)
                progress.set_workers(running=min(len(pending), workers), failed=lost)

        counts()
        lost_conditions = {"device": "cuda" if gpus > 0 else "cpu", "threads": execution.cpus_per_trial}
        last = time.perf_counter()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                trial = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayError, OSError) as err:
                    failure = ray_error_line(err, tries=execution.max_retries + 1)
                    record_lost_trial(trial, suite, suite_space(suite), splits, store, failure=failure,
                                      conditions=lost_conditions)
                    done.append(trial)
                    lost += 1
                    counts()
                    report(f"trial {trial.trial_id} ({trial.config}) lost: {failure}; recorded as a failed trial, "
                           f"which the same command run again records afresh")
                    if progress:
                        progress.advance(overall)
                    continue
                done.append(trial)
                now = time.perf_counter()
                counts()
                if progress:
                    # trial-level progress: the wall time since the previous completion, spread over this
                    # trial's epochs, so that images/s is the workers' aggregate rate
                    handle = progress.add_task(f"  {trial.trial_id} {trial.config}", total=trial.epochs(suite),
                                               seconds_ago=result["wall_seconds"])
                    epochs = max(result["epochs"], 1)
                    progress.update(handle, completed=result["epochs"], epoch_time=(now - last) / epochs)
                    progress.remove_task(handle)
                    progress.advance(overall)
                last = now
                if result["status"] != "complete":
                    report(f"trial {trial.trial_id} ({trial.config}) {result['status']}; recorded as a failed trial")
    finally:
        try:
            if started:
                ray.shutdown()
        finally:
            if token is not None:
                store.end_run(token)
    return done
