"""The watchdog of a local Ray instance: stops the instance's processes when its driver dies.

A driver killed with SIGKILL cannot shut Ray down, and Ray's servers and agents outlive it (they are not
its children in a way the kernel ends with it). `start_ray_session` therefore starts this module in a
process of its own session (so a kill of the driver's process group spares it):

    python -m fhbench.runtime.ray_watchdog DRIVER_PID DRIVER_START_TICKS SESSION_DIR

It waits for the driver to exit (a pidfd where Linux has one; otherwise by polling /proc, the start
time telling a reused pid apart), then stops whatever is left of the session (`stop_session_processes`).
It also exits on its own once the session has no process left (the driver shut Ray down and goes on),
so a long-lived program that starts Ray many times does not collect watchdogs. The next run's
`stop_dead_run` stays as the backstop where the watchdog itself was killed.
"""

from __future__ import annotations

import os
import select
import sys

from fhbench.runtime.ray import driver_alive, session_processes, stop_session_processes

POLL_S = 1.0
"""How often the session's processes are looked for while the driver lives."""


def _wait_for_exit(pidfd: int | None, pid: int, start_ticks: int, timeout: float) -> bool:
    """Whether the driver has exited, waiting at most `timeout` seconds."""
    if pidfd is not None:
        readable, _, _ = select.select([pidfd], [], [], timeout)
        return bool(readable)
    if not driver_alive(pid, start_ticks):
        return True
    select.select([], [], [], timeout)
    return not driver_alive(pid, start_ticks)


def watch(pid: int, start_ticks: int, session_dir: str) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here (an old kernel), or the driver is gone already
        pidfd = None
    if pidfd is not None and not driver_alive(pid, start_ticks):  # the pid was reused before we opened it
        os.close(pidfd)
        pidfd = None
    while not _wait_for_exit(pidfd, pid, start_ticks, POLL_S):
        if not session_processes(session_dir):  # Ray was shut down and the driver goes on without it
            return
    stop_session_processes(session_dir)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m fhbench.runtime.ray_watchdog DRIVER_PID DRIVER_START_TICKS SESSION_DIR",
              file=sys.stderr)
        return 2
    watch(int(argv[0]), int(argv[1]), argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
