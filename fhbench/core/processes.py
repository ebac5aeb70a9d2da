"""Whether a process still runs: what decides if a staging folder left by another process is abandoned."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True where process `pid` exists, ours to signal or not (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError included: it exists, it is someone else's
        return True
    return True
