"""Estimators in worker processes: each estimator runs in a persistent process of its own, under a time
limit, so that one that hangs (in Python or in native code), crashes the interpreter or runs out of
memory fails alone, as a failed row saying so, and the run goes on.

One process per estimator, for the whole scoring run, not one per estimate: the parent sends it a fresh
copy of the estimator (the pickled prototype) at every (repeat, checkpoint), then `fit` with the
population's views and one `estimate` per view, and waits for each reply at most `timeout_s` seconds
(fit and each estimate separately). A call that does not answer in time, or a process that dies, is
killed; its step's remaining estimates become failed rows naming the cause, and the next step starts a
new process. The overheads are measured inside the worker (its own wall and CPU clocks around each
call), so what the parent does meanwhile is not counted, and the seal (`fhbench.core.seal`) is on in the
worker while estimator code runs.

Processes come from a "forkserver" (started once per scoring process, with torch and fhbench's
estimator code imported once), so a new worker costs a fork, not an interpreter start.
`benchmarks/README.md` gives what a worker costs against running in-process.

With `fail_fast` (`--fail-fast`) the harness runs estimators in the scoring process instead: the point
there is the estimator's own traceback, which does not cross a process boundary.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection

from fhbench.core.seal import sealed

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "fhbench.estimators.worker"])
        _CONTEXT = context
    return _CONTEXT


def describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _clocks(device: str | None) -> tuple[float, float]:
    if device is not None and device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter(), time.process_time()


def _serve(conn: Connection, prototype: bytes, sealed_paths: tuple[str, ...], sealed_files: frozenset,
           threads: int | None, device: str | None) -> None:
    """The worker's loop: ("fresh",) | ("fit", views) | ("estimate", view) | ("stop",), one reply each."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    estimator, population = None, []
    while True:
        try:
            message = conn.recv()
        except (EOFError, ConnectionResetError):  # the parent is gone (a kill -9 resets the pipe): end quietly
            return
        kind = message[0]
        if kind == "stop":
            return
        if kind == "fresh":
            estimator = pickle.loads(prototype)
            conn.send(("ok",))
            continue
        wall0, cpu0 = _clocks(device)
        value, error = None, None
        try:
            with sealed(sealed_paths, files=sealed_files):
                if kind == "fit":
                    estimator.fit(message[1])
                else:
                    value = estimator.estimate(message[1])
        except Exception as err:  # the estimator's failure is a result
            error = describe(err)
        wall1, cpu1 = _clocks(device)
        if kind == "fit":
            population = list(message[1])
        corrupt = next((view for view in (*population, message[1]) if getattr(view, "corruption", None)), None) \
            if kind == "estimate" else next((v for v in population if getattr(v, "corruption", None)), None)
        if corrupt is not None:  # the trace's fault, whatever the estimator made of it
            conn.send(("corrupt", corrupt.corruption, corrupt.trial_id))
            continue
        if kind == "fit":
            conn.send(("error", error, wall1 - wall0, cpu1 - cpu0) if error else ("ok", wall1 - wall0, cpu1 - cpu0))
            continue
        cost = None
        recorded = getattr(estimator, "recorded_cost_s", None)
        if recorded is not None:  # zero-cost proxies: the cost was paid while recording, failed or not
            try:
                cost = float(recorded(message[1]))
            except Exception:  # noqa: BLE001 - an unknown cost is shown as unknown, not as zero
                cost = math.nan
        reply = ("error", error, wall1 - wall0, cpu1 - cpu0, cost) if error else \
            ("value", value, wall1 - wall0, cpu1 - cpu0, cost)
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as err:  # a value that cannot cross
            conn.send(("error", f"estimate {type(value).__name__} cannot be returned: {describe(err)}",
                       wall1 - wall0, cpu1 - cpu0, cost))


class WorkerLost(Exception):
    """The worker did not answer in time, or died: the message says which."""


class EstimatorWorker:
    """One estimator's worker process; `call` raises WorkerLost after killing a worker that hangs or died."""

    def __init__(self, name: str, prototype, *, timeout_s: float, sealed_paths: Sequence = (),
                 sealed_files: frozenset = frozenset(), threads: int | None = None, device: str | None = None):
        self.name, self.timeout_s = name, float(timeout_s)
        self._prototype = pickle.dumps(prototype)  # raises for an estimator that cannot be sent to a worker
        self._args = (tuple(str(p) for p in sealed_paths), frozenset(sealed_files), threads, device)
        self._process = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        context = _context()
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, self._prototype, *self._args),
                                  name=f"fhbench-estimator-{self.name}", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def call(self, message: tuple) -> tuple:
        if self._process is None:
            self._start()
        try:
            self._conn.send(message)
            if not self._conn.poll(self.timeout_s):
                self.kill()
                raise WorkerLost(f"timed out after {self.timeout_s:g} s ([estimate] timeout_s); its worker "
                                 f"process was killed")
            return self._conn.recv()
        except (EOFError, OSError):
            self._process.join(5)
            code = self._process.exitcode
            self.kill()
            raise WorkerLost("its worker process died" + (f" (exit code {code})" if code is not None else "")) \
                from None

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            try:
                self._conn.send(("stop",))
                self._process.join(5)
            except (OSError, BrokenPipeError):
                pass
        self.kill()


def float_or_none(value) -> float | None:
    """The one rule for what an estimate may be, in the harness and in `check-estimators`: a real number
    (not a bool, not a string that looks like one) that is finite; None otherwise."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


__all__ = ["EstimatorWorker", "WorkerLost", "describe", "float_or_none"]
