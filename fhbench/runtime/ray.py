"""Ray for fhbench's parallel work (recording trials, live searches): start-up and resources for
`--workers N` (a local Ray instance fhbench starts and stops
itself) or `--ray ADDRESS|auto` (an existing cluster), the store checks every node needs, and the
processes a killed driver leaves. The recording itself is `fhbench.record.parallel`.

Recording trials in parallel on Ray: `--workers N` (a local Ray instance fhbench starts and stops
itself) or `--ray ADDRESS|auto` (an existing cluster).

Nothing here is a scheduler: every trial is one `ray.remote` task asking for `cpus_per_trial` CPUs and
`gpus_per_trial` (fractional) GPUs; Ray places them, retries a task whose worker process died
(`max_retries`), and the driver collects completions with `ray.wait`.

The store: the driver holds its lock (`TraceStore.lock`) for the whole run; tasks write their trial
straight into the store with `fhbench.record.train.record_trial` (written under ``.partial/``, renamed into
place when whole), so a worker killed mid-trial leaves no trial that reads as finished and its retry
starts the trial afresh. Every node must see the store at the same path: a multi-node run needs it on
a shared filesystem, which is checked before any training (a probe task per node reads a token the
driver wrote and writes and removes a file of its own).

A trial whose retries are all spent (its worker died each time) or whose task raised is reported on
one line and recorded as a "lost" trial (`fhbench.record.train.record_lost_trial`): a failed trial with its
reason, which the leaderboard lists among the failed trials and which the same command run again
records afresh (a dead worker can be a passing cause, such as memory). The other trials go on.

A killed driver: while the run owns the store, ``.ray-run.json`` there holds its token, its pid and
its local Ray instance's session folder (`TraceStore.begin_run`); a task checks the token before it
starts and again before it publishes its trial, so a worker left over from a killed driver publishes
nothing once another run has taken the store. The run that next takes the store's lock and finds that
record (`stop_dead_run`) withdraws the token, stops every process of the dead run's local Ray instance
still alive on this machine (its servers and agents outlive a killed driver), and removes its
unfinished trials, all before any training. Those processes do not wait for the next run: a watchdog
process (`fhbench.runtime.ray_watchdog`) started with the instance stops them as soon as the driver dies. Ray is imported only here, and only when asked for.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fhbench.core.errors import FhbenchError

DEFAULT_GPUS_PER_TRIAL = 0.25
"""Where CUDA exists: four NB201 cells share a GPU (one alone leaves most of it idle)."""

MAX_RETRIES = 2
"""Times Ray reruns a trial whose worker process died before the trial is given up (recorded as lost)."""

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
                    gpus_per_trial: float | None, threads: int | None, device: str | None = None) -> Execution | None:
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
    if address is not None and address.strip() != "auto":
        _host_port(address.strip(), address.strip())
    cpus = 1 if cpus_per_trial is None else cpus_per_trial
    if cpus < 1:
        raise FhbenchError(f"--cpus-per-trial: expected an integer >= 1, got {cpus}")
    if gpus_per_trial is not None and not (math.isfinite(gpus_per_trial) and gpus_per_trial >= 0):
        raise FhbenchError(f"--gpus-per-trial: expected a number >= 0, got {gpus_per_trial}")
    if gpus_per_trial is not None and gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
        raise FhbenchError(f"--gpus-per-trial: above 1 it must be a whole number of GPUs, got {gpus_per_trial}")
    if gpus_per_trial == 0 and device is not None and device.startswith("cuda"):
        raise FhbenchError(f"--device {device} and --gpus-per-trial 0: the trials would train on the CPU; give "
                           f"--gpus-per-trial above 0 (e.g. {DEFAULT_GPUS_PER_TRIAL}) or --device cpu")
    if threads is not None and threads != cpus:
        raise FhbenchError(f"--threads {threads} and --cpus-per-trial {cpus}: with --workers/--ray each trial runs "
                           f"--cpus-per-trial torch threads; give only --cpus-per-trial")
    return Execution(workers=workers, address=address.strip() if address else None, cpus_per_trial=cpus,
                     gpus_per_trial=gpus_per_trial)


# ------------------------------------------------------------------------------------- the Ray side


def _host_port(address: str, given: str) -> tuple[str, int]:
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise FhbenchError(f"--ray {given}: expected host:port, ray://host:port or auto")
    return host.strip("[]"), int(port)


def _check_reachable(address: str) -> None:
    """An unreachable host:port fails at once with one line (Ray itself would retry for a long time)."""
    given = address
    if address == "auto":  # Ray then takes $RAY_ADDRESS, else the cluster this machine last started
        address = os.environ.get("RAY_ADDRESS", "").strip()
        if not address:
            return
        given = f"auto (RAY_ADDRESS={address})"
    host, port = _host_port(address, given)
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as err:
        raise FhbenchError(f"--ray {given}: cannot reach a Ray cluster there ({err.strerror or err})") from None


@contextlib.contextmanager
def _stderr_held():
    """Sends this process's stderr (file descriptor 2, which Ray's C++ side writes to) to a temporary file
    meanwhile, then drops what was written there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _join_error(err: BaseException) -> str:
    """Why joining a cluster failed, on one line: Ray's own first line, unless a cause says more."""
    chain, cause = [], err
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any("AuthenticationError" in str(e) or "InvalidAuthToken" in str(e) for e in chain):
        return ("it asks for a token this process does not give: set RAY_AUTH_MODE=token and give the cluster's "
                "token in RAY_AUTH_TOKEN or ~/.ray/auth_token")
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def start_ray(execution: Execution, *, gpus_wanted: bool) -> bool:
    """Starts (or joins) Ray; returns whether this call started it (and so must shut it down)."""
    return start_ray_session(execution, gpus_wanted=gpus_wanted)[0]


def start_ray_session(execution: Execution, *, gpus_wanted: bool) -> tuple[bool, str | None]:
    """start_ray, also returning the session folder of the local Ray instance it started (else None)."""
    import ray

    if ray.is_initialized():  # an embedding program (or a test) already runs Ray: use it, leave it running
        return False, None
    if execution.address is not None:
        _check_reachable(execution.address)
        try:
            with _stderr_held():  # a failing join logs a line a second from Ray's C++ side: one line is ours
                ray.init(address=execution.address, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
            raise FhbenchError(f"--ray {execution.address}: cannot join the Ray cluster ({_join_error(err)})") from None
        return True, None
    num_gpus = None
    if not gpus_wanted:
        num_gpus = 0  # a CPU run does not hand the GPUs to Ray
    # address="local": always a fresh instance of our own, never someone else's cluster on this machine
    context = ray.init(address="local", num_cpus=execution.workers * execution.cpus_per_trial, num_gpus=num_gpus,
                       include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    session_dir = (getattr(context, "address_info", None) or {}).get("session_dir")
    if session_dir:
        _start_watchdog(session_dir)
    return True, session_dir


def _start_watchdog(session_dir: str) -> None:
    """A process that stops this Ray instance if the driver dies without shutting it down (kill -9):
    `fhbench.runtime.ray_watchdog`. Started in a session of its own, so that a signal to the driver's
    process group (Ctrl-C in a terminal) does not reach it first."""
    stat = _proc_stat(os.getpid())
    if stat is None:  # no /proc: the next run's stop_dead_run is the only cleanup
        return
    subprocess.Popen([sys.executable, "-m", "fhbench.runtime.ray_watchdog", str(os.getpid()), str(stat[1]),
                      session_dir], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)


def driver_alive(pid: int, start_ticks: int) -> bool:
    """Whether process `pid` is alive and is the one that started at `start_ticks` (not a reused pid)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[1] == start_ticks and stat[0] != "Z"


def _alive_nodes() -> list[dict]:
    import ray

    return [node for node in ray.nodes() if node.get("Alive")]


def gpus_per_trial(execution: Execution, device_type: str, cuda_available: bool) -> float:
    """The GPUs each trial (or live-search worker) holds: --gpus-per-trial, else DEFAULT_GPUS_PER_TRIAL
    where training runs on CUDA and 0 on the CPU. Refuses a GPU share that the device would not use."""
    if execution.gpus_per_trial is not None:
        gpus = execution.gpus_per_trial
    else:
        gpus = DEFAULT_GPUS_PER_TRIAL if cuda_available and device_type == "cuda" else 0.0
    if device_type == "cuda" and gpus == 0:  # --device auto that found CUDA; an explicit cuda fails earlier
        raise FhbenchError("--gpus-per-trial 0 with --device cuda (auto found CUDA): the trials would train on the "
                           "CPU; give --gpus-per-trial above 0 or --device cpu")
    if device_type == "cpu" and gpus > 0:
        raise FhbenchError(f"--gpus-per-trial {gpus:g} with --device cpu: the trials would hold GPUs they "
                           f"do not use")
    return gpus


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


def ray_error_line(err: BaseException, *, doing: str = "its recording", tries: int = 1) -> str:
    """Why a Ray task or actor call failed, on one line (`doing` names what raised)."""
    import ray.exceptions as rex

    if isinstance(err, rex.RayTaskError):
        cause = err.cause if getattr(err, "cause", None) is not None else err
        text = str(cause).strip().splitlines()
        return f"{doing} raised {type(cause).__name__}: {text[-1] if text else ''}"
    if isinstance(err, rex.WorkerCrashedError):
        return f"its worker process died on each of {tries} tries" if tries > 1 else "its worker process died"
    if isinstance(err, rex.RayActorError):
        return "its worker process died"
    if isinstance(err, rex.NodeDiedError):
        return "the node running it died"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


# ------------------------------------------------------------------------------------- a killed driver


def stop_dead_run(store, report: Callable[[str], None] = print) -> None:
    """For a run that has just taken the store's lock: a run record left in the store means that the
    parallel run which wrote it ended without cleaning up (its driver was killed: the lock went with it).
    Withdraws its token first, so that none of its tasks publishes from now on; stops the processes of
    its local Ray instance still alive on this machine; removes its unfinished trials. Imports no Ray."""
    record = store.read_run()
    if record is None:
        return
    token = record.get("token") if isinstance(record.get("token"), str) else None
    store.end_run(None)
    session, host, pid = record.get("session_dir"), record.get("host"), record.get("driver_pid")
    what = f"trace store {store.root}: the parallel run of driver pid {pid} on {host} ended without cleaning up"
    if not isinstance(session, str) or not session:
        report(f"{what}; any task of it still running on its Ray cluster publishes nothing into the store")
    elif host != socket.gethostname():
        report(f"{what}; its Ray processes there, if any are left, are not stopped from here (they publish "
               f"nothing into the store)")
    else:
        stopped, left = stop_session_processes(session)
        note = f"; could not stop pid(s) {', '.join(map(str, left))} (they publish nothing into the store)" \
            if left else ""
        report(f"{what}; stopped {len(stopped)} leftover process(es) of its Ray instance{note}")
    store.end_run(token)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a process, None where it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return fields[0], int(fields[19])


def session_processes(session_dir: str) -> list[int]:
    """The live processes (zombies left out) of the Ray instance whose session folder is `session_dir`,
    on this machine: Ray's servers name the folder on their command line; its workers and agents, whose
    command line Ray rewrites to `ray::...`, hold their log files open inside it."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    folder = os.fsencode(os.path.abspath(session_dir).rstrip("/"))
    named = re.compile(re.escape(folder) + rb"(?=[/\x00\s]|$)")  # not a session whose name merely starts so
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            stat = _proc_stat(pid)
            if stat is None or stat[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if named.search(cmdline):
                found.append(pid)
            elif cmdline.startswith(b"ray::") and any(
                    os.fsencode(os.readlink(fd)).startswith(folder + b"/") for fd in (entry / "fd").iterdir()):
                found.append(pid)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def stop_session_processes(session_dir: str, wait_s: float = 10.0) -> tuple[list[int], list[int]]:
    """SIGKILLs `session_processes(session_dir)` and waits until they are gone; returns (stopped, left)."""
    targets = {pid: stat[1] for pid in session_processes(session_dir) if (stat := _proc_stat(pid)) is not None}
    for pid, started in list(targets.items()):
        stat = _proc_stat(pid)
        if stat is None or stat[1] != started:  # gone, or its pid reused since it was found
            targets.pop(pid)
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            targets.pop(pid)
        except PermissionError:
            pass
    deadline = time.monotonic() + wait_s
    alive = dict(targets)
    while alive and time.monotonic() < deadline:
        alive = {pid: t for pid, t in alive.items()
                 if (stat := _proc_stat(pid)) is not None and stat[1] == t and stat[0] != "Z"}
        if alive:
            time.sleep(0.05)
    return sorted(set(targets) - set(alive)), sorted(alive)


__all__ = ["DEFAULT_GPUS_PER_TRIAL", "Execution", "MAX_RETRIES", "check_execution", "check_resources", "check_store_on_nodes",
           "driver_alive", "gpus_per_trial", "ray_error_line", "start_ray", "start_ray_session",
           "session_processes", "stop_dead_run", "stop_session_processes"]
