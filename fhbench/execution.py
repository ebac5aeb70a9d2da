"""Recording trials in parallel on Ray: `--workers N` (a local Ray instance fhbench starts and stops
itself) or `--ray ADDRESS|auto` (an existing cluster).

Nothing here is a scheduler: every trial is one `ray.remote` task asking for `cpus_per_trial` CPUs and
`gpus_per_trial` (fractional) GPUs; Ray places them, retries a task whose worker process died
(`max_retries`), and the driver collects completions with `ray.wait`.

The store: the driver holds its lock (`TraceStore.lock`) for the whole run; tasks write their trial
straight into the store with `fhbench.record.record_trial` (written under ``.partial/``, renamed into
place when whole), so a worker killed mid-trial leaves no trial that reads as finished and its retry
starts the trial afresh. Every node must see the store at the same path: a multi-node run needs it on
a shared filesystem, which is checked before any training (a probe task per node reads a token the
driver wrote and writes and removes a file of its own).

A trial whose retries are all spent (its worker died each time) or whose task raised is reported on
one line and left unrecorded, so the same command run again redoes it; `record_parallel` then raises
after the other trials are done. Ray is imported only here, and only when asked for.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fhbench.errors import FhbenchError

DEFAULT_GPUS_PER_TRIAL = 0.25
"""Where CUDA exists: four NB201 cells share a GPU (one alone leaves most of it idle)."""

MAX_RETRIES = 2
"""Times Ray reruns a trial whose worker process died before the trial is given up (left unrecorded)."""

TEST_KILL_ENV = "FHBENCH_TEST_KILL_TRIAL"
"""Test hook: `TRIAL_ID@MARKER_PATH` makes the worker recording TRIAL_ID kill itself with SIGKILL after
its first epoch, once (the marker file records that it happened), so the tests can see a retry;
`TRIAL_ID@` kills it every time (its retries are spent)."""


@dataclass(frozen=True)
class Execution:
    """How to run the trials: `workers` for a local Ray instance, or `address` to join a cluster."""

    workers: int | None = None
    address: str | None = None
    cpus_per_trial: int = 1
    gpus_per_trial: float | None = None  # None: DEFAULT_GPUS_PER_TRIAL on CUDA, else 0
    max_retries: int = MAX_RETRIES

    def describe(self) -> str:
        where = f"a local Ray instance of {self.workers} worker(s)" if self.address is None \
            else f"the Ray cluster at {self.address}"
        return where


def check_execution(workers: int | None, address: str | None, cpus_per_trial: int | None,
                    gpus_per_trial: float | None, threads: int | None) -> Execution | None:
    """The command line's --workers/--ray/--cpus-per-trial/--gpus-per-trial, checked without Ray or torch.
    None where neither --workers nor --ray is given (one process, as always)."""
    if workers is not None and address is not None:
        raise FhbenchError("--workers and --ray: give one (--workers N starts a local Ray instance, "
                           "--ray ADDRESS joins an existing cluster)")
    if workers is None and address is None:
        given = [flag for flag, value in (("--cpus-per-trial", cpus_per_trial), ("--gpus-per-trial", gpus_per_trial))
                 if value is not None]
        if given:
            raise FhbenchError(f"{', '.join(given)}: only with --workers N or --ray ADDRESS")
        return None
    if workers is not None and workers < 1:
        raise FhbenchError(f"--workers: expected an integer >= 1, got {workers}")
    if address is not None and not address.strip():
        raise FhbenchError("--ray: expected an address (host:port, ray://host:port) or auto, got ''")
    cpus = 1 if cpus_per_trial is None else cpus_per_trial
    if cpus < 1:
        raise FhbenchError(f"--cpus-per-trial: expected an integer >= 1, got {cpus}")
    if gpus_per_trial is not None and not (math.isfinite(gpus_per_trial) and gpus_per_trial >= 0):
        raise FhbenchError(f"--gpus-per-trial: expected a number >= 0, got {gpus_per_trial}")
    if gpus_per_trial is not None and gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
        raise FhbenchError(f"--gpus-per-trial: above 1 it must be a whole number of GPUs, got {gpus_per_trial}")
    if threads is not None and threads != cpus:
        raise FhbenchError(f"--threads {threads} and --cpus-per-trial {cpus}: with --workers/--ray each trial runs "
                           f"--cpus-per-trial torch threads; give only --cpus-per-trial")
    return Execution(workers=workers, address=address.strip() if address else None, cpus_per_trial=cpus,
                     gpus_per_trial=gpus_per_trial)


# ------------------------------------------------------------------------------------- the Ray side


def _check_reachable(address: str) -> None:
    """An unreachable host:port fails at once with one line (Ray itself would retry for a long time)."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise FhbenchError(f"--ray {address}: expected host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as err:
        raise FhbenchError(f"--ray {address}: cannot reach a Ray cluster there ({err.strerror or err})") from None


def start_ray(execution: Execution, *, gpus_wanted: bool) -> bool:
    """Starts (or joins) Ray; returns whether this call started it (and so must shut it down)."""
    import ray

    if ray.is_initialized():  # an embedding program (or a test) already runs Ray: use it, leave it running
        return False
    if execution.address is not None:
        _check_reachable(execution.address)
        try:
            ray.init(address=execution.address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise FhbenchError(f"--ray {execution.address}: cannot join the Ray cluster ({first})") from None
        return True
    num_gpus = None
    if not gpus_wanted:
        num_gpus = 0  # a CPU run does not hand the GPUs to Ray
    # address="local": always a fresh instance of our own, never someone else's cluster on this machine
    ray.init(address="local", num_cpus=execution.workers * execution.cpus_per_trial, num_gpus=num_gpus,
             include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    return True


def _alive_nodes() -> list[dict]:
    import ray

    return [node for node in ray.nodes() if node.get("Alive")]


def check_resources(execution: Execution, gpus_per_trial: float) -> None:
    """A trial must fit on some node: else Ray would wait for it forever."""
    nodes = _alive_nodes()
    most_gpus = max((node["Resources"].get("GPU", 0.0) for node in nodes), default=0.0)
    most_cpus = max((node["Resources"].get("CPU", 0.0) for node in nodes), default=0.0)
    if gpus_per_trial > most_gpus:
        raise FhbenchError(f"--gpus-per-trial {gpus_per_trial:g}: no Ray node has that many GPUs "
                           f"(the most on one node: {most_gpus:g})")
    if execution.cpus_per_trial > most_cpus:
        raise FhbenchError(f"--cpus-per-trial {execution.cpus_per_trial}: no Ray node has that many CPUs "
                           f"(the most on one node: {most_cpus:g})")


def _probe(root: str, token_name: str, token: str) -> tuple[str, str | None]:
    """Runs on one node: reads the driver's token (the same store, not a local folder of the same name)
    and writes and removes a file of its own. Returns (node address, None or the problem)."""
    import ray

    node = ray.util.get_node_ip_address()
    try:
        if (Path(root) / token_name).read_text() != token:
            return node, "sees another folder at that path (the store must be on a shared filesystem)"
        probe = Path(root) / f".probe-{uuid.uuid4().hex}"
        with open(probe, "wb") as f:
            f.write(b"fhbench")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except FileNotFoundError:
        return node, "does not see the store (a multi-node run needs it on a shared filesystem)"
    except OSError as err:
        return node, f"cannot write there ({err.strerror or err})"
    return node, None


def check_store_on_nodes(root: Path) -> None:
    """One probe task pinned to each alive node; fails with one line naming the path and the node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token_name, token = f".probe-token-{uuid.uuid4().hex}", uuid.uuid4().hex
    token_path = Path(root) / token_name
    token_path.write_text(token)
    try:
        probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
        nodes = _alive_nodes()
        refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                .remote(str(root), token_name, token) for node in nodes]
        for node, ref in zip(nodes, refs):
            address, problem = ray.get(ref, timeout=120)
            if problem:
                raise FhbenchError(f"trace store {root}: node {address or node['NodeManagerAddress']} "
                                   f"{problem}")
    finally:
        token_path.unlink(missing_ok=True)


def _record_task(trial, suite, splits, store_root: str, threads: int, use_gpu: bool):
    """One trial, on a Ray worker: the single-process recording code, unchanged."""
    import torch

    from fhbench.pipeline import make_space
    from fhbench.record import record_trial
    from fhbench.traces import TraceStore

    torch.set_num_threads(threads)
    device = torch.device("cuda") if use_gpu else torch.device("cpu")  # Ray sets CUDA_VISIBLE_DEVICES
    on_epoch = _test_kill_hook(trial.trial_id)
    started = time.perf_counter()
    epoch_seconds = []

    def seen(epoch: int, seconds: float) -> None:
        epoch_seconds.append(seconds)
        if on_epoch:
            on_epoch(epoch)

    status = record_trial(trial, suite, make_space(suite), splits, TraceStore(store_root), device, on_epoch=seen)
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


def _one_line(err: BaseException) -> str:
    import ray.exceptions as rex

    if isinstance(err, rex.RayTaskError):
        cause = err.cause if getattr(err, "cause", None) is not None else err
        text = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {text[-1] if text else ''}"
    if isinstance(err, (rex.WorkerCrashedError, rex.NodeDiedError)):
        return "its worker process died each time"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def record_parallel(suite, store, todo: list, splits, *, execution: Execution, cuda_available: bool,
                    device_type: str, report: Callable[[str], None] = print, progress=None) -> list:
    """Records `todo` as Ray tasks; returns the trials recorded. The caller holds the store's lock."""
    if execution.gpus_per_trial is not None:
        gpus = execution.gpus_per_trial
    else:
        gpus = DEFAULT_GPUS_PER_TRIAL if cuda_available and device_type == "cuda" else 0.0
    started = start_ray(execution, gpus_wanted=gpus > 0)
    import ray

    try:
        check_resources(execution, gpus)
        if device_type == "cpu" and gpus > 0:
            raise FhbenchError(f"--gpus-per-trial {gpus:g} with --device cpu: the trials would hold GPUs they "
                               f"do not use")
        check_store_on_nodes(store.root)
        splits_ref = ray.put(splits)
        task = ray.remote(_record_task).options(num_cpus=execution.cpus_per_trial, num_gpus=gpus,
                                                max_retries=execution.max_retries, retry_exceptions=False)
        pending = {task.remote(trial, suite, splits_ref, str(store.root), execution.cpus_per_trial, gpus > 0): trial
                   for trial in todo}
        overall = progress.add_task("trials", total=len(todo)) if progress else None
        done, failed = [], []
        last = time.perf_counter()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                trial = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayError, OSError) as err:
                    failed.append(trial)
                    report(f"trial {trial.trial_id} ({trial.config}) failed (a dead worker is retried up to "
                           f"{execution.max_retries} times, an exception is not): {_one_line(err)}; left "
                           f"unrecorded, run the same command again to redo it")
                    if progress:
                        progress.advance(overall)
                    continue
                done.append(trial)
                now = time.perf_counter()
                if progress:
                    # trial-level progress: the wall time since the previous completion, spread over this
                    # trial's epochs, so that images/s is the workers' aggregate rate
                    handle = progress.add_task(f"  {trial.trial_id} {trial.config}", total=suite.train.epochs)
                    epochs = max(result["epochs"], 1)
                    progress.update(handle, completed=result["epochs"], epoch_time=(now - last) / epochs)
                    progress.remove_task(handle)
                    progress.advance(overall)
                last = now
                if result["status"] != "complete":
                    report(f"trial {trial.trial_id} ({trial.config}) {result['status']}; recorded as a failed trial")
    finally:
        if started:
            ray.shutdown()
    if failed:
        raise FhbenchError(f"{len(failed)} trial(s) not recorded ({', '.join(t.trial_id for t in failed)}): "
                           f"see above; the other {len(done)} are in {store.root}, run the same command again "
                           f"to redo the missing ones")
    return done


__all__ = ["DEFAULT_GPUS_PER_TRIAL", "Execution", "MAX_RETRIES", "check_execution", "record_parallel"]
