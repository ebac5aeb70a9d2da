"""A live search on W workers at once: `fhbench search --live --workers W` (a local Ray instance) or
`--ray ADDRESS` (an existing cluster, W from the suite's [search] table).

Each worker is a Ray actor holding one `LiveBackend`, the serial live backend, unchanged: it trains a
job on its own device, estimates it there with its own copy of the estimator, and keeps the run in
memory for the job's promotions. A promotion therefore goes to the worker that holds its parent's run
(and waits there if that worker is busy); a new configuration goes to the worker with the fewest jobs
queued. Ray places the actors (`--cpus-per-trial`, fractional `--gpus-per-trial`) and carries the
data through its object store; nothing here schedules, queues or retries on its own.

The driver (`fhbench.search.driver.run_search`) decides on its clock, as for any backend: a job
streams what it has been charged after each epoch it trains (a Ray streaming generator) and finally
its outcome, so the driver reports the job that finishes first on the clock as soon as no running job
could still come before it. Completions are asynchronous, decisions are those of the cost model: a
replay of the same measured costs with the same W makes the same decisions (tested).

What is not the serial live search: a population-level estimator (LCNet) is fit on the runs its own
worker has trained, not on every run of the search. A worker that dies takes its runs with it: the
search stops with one line naming the job (its results until then are not published).

Given the store (and unless `write_traces` is False) each worker's backend writes the runs it trains
into the store as traces (see `fhbench.search.backends.live`): the actors open the store by its absolute path;
the store's publish lock and a staging folder per write keep two workers writing one trial (a
configuration HyperBand drew again in another bracket) from mixing their files, and the longer run's
trace stays. The driver hands each job its trial, so a declared search's candidates, registered on the
driver as they are drawn, need not be known to the workers in advance; `space` is the space instance
the workers build networks of (a declared suite's target), default `suite_space(suite)`.
`fhbench search --live` passes write_traces=False: the pool's trials are `fhbench record`'s to write.

A killed driver (kill -9) leaves some of its local Ray instance's processes running. So the search holds
the suite's trace store (`TraceStore.lock`) and names its Ray session in the store's run record, as a
parallel recording does; the next run of either on that store stops the leftovers
(`fhbench.runtime.ray.stop_dead_run`) before it starts.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from fhbench.core.errors import FhbenchError
from fhbench.search.algorithms import Job
from fhbench.search.driver import JobOutcome


class _LiveWorker:
    """One worker (a Ray actor): a serial `LiveBackend` in its own process and on its own device."""

    def __init__(self, suite, splits, pool, device_type: str, threads: int, estimator_name: str, settings: dict,
                 sealed_paths: tuple, store_root: str | None = None, space=None):
        import torch

        from fhbench.estimators import create_estimator
        from fhbench.spaces import suite_space
        from fhbench.search.backends.live import LiveBackend

        torch.set_num_threads(threads)
        device = torch.device(device_type)  # Ray sets CUDA_VISIBLE_DEVICES to this actor's GPU
        estimator = create_estimator(estimator_name, settings, device=device)
        store = None
        if store_root is not None:
            from fhbench.record.store import TraceStore

            store = TraceStore(store_root)
        space = suite_space(suite) if space is None else space
        self.backend = LiveBackend(suite, space, splits, pool, device, estimator_name, estimator,
                                   sealed_paths=sealed_paths, store=store)

    def run(self, job: Job, start: int, trial=None):
        yield from self.backend.run_steps(job, start, trial)

    def furthest_run(self, config: int, trial_id: str | None = None) -> dict | None:
        return self.backend.furthest_run(config, trial_id)


class RayLiveBackend:
    """The driver's `AsyncBackend` over `workers` Ray actors (see the module docstring). Use it as a
    context manager: leaving stops the actors, and the Ray instance if this backend started it."""

    def __init__(self, suite, splits, pool, *, estimator: str, settings: dict, sealed_paths: tuple, execution,
                 workers: int, device_type: str, cuda_available: bool, store=None, write_traces: bool = True,
                 space=None):
        from fhbench.runtime.ray import check_resources, gpus_per_trial, start_ray_session

        # the workers write the runs they train as traces into the store (see the module docstring)
        store_root = str(Path(store.root).resolve()) if write_traces and store is not None else None
        gpus = gpus_per_trial(execution, device_type, cuda_available)  # before Ray starts: a bad share is one line
        self.estimator, self.pool = estimator, pool
        self._store, self._token = store, None
        self._started, session_dir = start_ray_session(execution, gpus_wanted=gpus > 0)
        import ray

        # the store's run record names this Ray instance, for a rerun after kill -9; where Ray was already
        # running, whoever started it recorded it (a declared suite's searches share one instance)
        if store is not None and self._started:
            self._token = store.begin_run({"driver_pid": os.getpid(), "host": socket.gethostname(),
                                           "session_dir": session_dir, "address": execution.address,
                                           "kind": "live search"})

        try:
            check_resources(execution, gpus)
            actor = ray.remote(_LiveWorker).options(num_cpus=execution.cpus_per_trial, num_gpus=gpus,
                                                    max_restarts=0)
            splits_ref = ray.put(splits)
            self._actors = [actor.remote(suite, splits_ref, pool, device_type, execution.cpus_per_trial, estimator,
                                         settings, tuple(sealed_paths), store_root, space)
                            for _ in range(workers)]
        except BaseException:
            self.close()
            raise
        self._streams: dict = {}  # a running job's stream -> its job and worker
        self._worker_of: dict[int, int] = {}  # job id -> the worker holding the run it left
        self._queued = [0] * workers
        self.epochs_trained = 0

    def submit(self, job: Job, start: int) -> None:
        if job.parent is not None:
            worker = self._worker_of[job.parent]
        else:
            worker = min(range(len(self._actors)), key=lambda i: (self._queued[i], i))
        stream = self._actors[worker].run.options(num_returns="streaming").remote(job, start,
                                                                                   self.pool.trials[job.config])
        self._streams[stream] = (job, start, worker)
        self._worker_of[job.job_id] = worker
        self._queued[worker] += 1

    def wait(self) -> list[tuple[int, JobOutcome | float]]:
        import ray

        from fhbench.runtime.ray import ray_error_line

        ready, _ = ray.wait(list(self._streams), num_returns=1)
        news = []
        for stream in ready:
            job, start, worker = self._streams[stream]
            try:
                item = ray.get(next(stream))
            except ray.exceptions.RayError as err:
                why = ray_error_line(err, doing="the job")
                raise FhbenchError(f"live search: worker {worker} failed running job {job.job_id} (config "
                                   f"{job.config}, budget {job.budget}): {why}; the search stops") from None
            if isinstance(item, JobOutcome):
                del self._streams[stream]
                self._queued[worker] -= 1
                self.epochs_trained += item.epochs - start
            news.append((job.job_id, item))
        return news

    def furthest_run(self, config: int) -> dict | None:
        import ray

        trial_id = self.pool.trials[config].trial_id
        runs = [run for run in ray.get([actor.furthest_run.remote(config, trial_id) for actor in self._actors])
                if run]
        return max(runs, key=lambda run: run["epochs"]) if runs else None

    def close(self) -> None:
        import ray

        for actor in getattr(self, "_actors", []):
            ray.kill(actor)
        self._actors = []
        if self._started:
            ray.shutdown()
            self._started = False
        if self._token is not None:
            self._store.end_run(self._token)
            self._token = None

    def __enter__(self) -> RayLiveBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

