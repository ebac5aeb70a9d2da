"""The trace store: trials written whole or not at all, replaced atomically, owned by one run at a time
(the rules are `fhbench.record.format`'s docstring)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fhbench.core.atomic import exchange, fsync_write
from fhbench.core.errors import FhbenchError
from fhbench.record.format import (
    PUBLISH_LOCK,
    RUN_FILE,
    RunSupersededError,
    StoreBusyError,
)
from fhbench.record.trace import TrialTrace
from fhbench.record.writer import TrialWriter


class TraceStore:
    """The trials of one suite's recording settings, under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise FhbenchError(f"trace store {self.root}: exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, TrialTrace] = {}
        self._lock_file = None
        self.recover()

    def lock(self) -> None:
        """Takes the store for this process (released at exit): two runs recording into one store would
        write the same trials at once. A second process gets a one-line error, not a wait."""
        if self._lock_file is not None:
            return
        handle = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreBusyError(f"trace store {self.root} is in use by {holder}: wait for it to finish "
                                 f"(or give another --traces)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"fhbench pid {os.getpid()}")
        handle.flush()
        self._lock_file = handle

    def writer(self, trial_id: str, meta: dict[str, Any], *, run_token: str | None = None,
               unique: bool = False) -> TrialWriter:
        self._open.pop(trial_id, None)
        return TrialWriter(self, trial_id, meta, run_token=run_token, unique=unique)

    # -- publishing and replacing a trial (see the module docstring) --------------------------------
    @contextmanager
    def _publish_lock(self):
        """Serialises publishing and recovery across processes (a blocking flock: held for renames only)."""
        # beside the store's .lock, not in .partial: what is left in .partial is unfinished work
        with open(self.root / PUBLISH_LOCK, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def stored_epochs(self, trial_id: str) -> int | None:
        """The epochs the published trial `trial_id` holds, from its manifest; None if there is none (or
        it cannot be read: a trial that replaces it loses nothing)."""
        return self.stored_epochs_at(self.root / trial_id)

    def publish(self, staged: Path, trial_id: str, *, keep_longer: bool = False) -> bool:
        """Moves the finished trial folder `staged` (manifest written last) into place as `trial_id`,
        replacing a published one atomically. With `keep_longer`, a published trial holding at least as
        many epochs stays and `staged` is deleted. Returns whether `staged` was published."""
        final = self.root / trial_id
        with self._publish_lock():
            self._recover_locked(trial_id)
            if keep_longer:
                old, new = self.stored_epochs(trial_id), self.stored_epochs_at(staged)
                if old is not None and new is not None and old >= new:
                    shutil.rmtree(staged, ignore_errors=True)
                    return False
            if not final.exists():
                os.replace(staged, final)
            elif exchange(staged, final):  # staged now holds the old trial
                shutil.rmtree(staged, ignore_errors=True)
            else:
                aside = self.root / ".partial" / f"{trial_id}.replaced"
                if aside.exists():
                    shutil.rmtree(aside)
                os.replace(final, aside)
                os.replace(staged, final)
                shutil.rmtree(aside, ignore_errors=True)
        self._open.pop(trial_id, None)
        return True

    @staticmethod
    def stored_epochs_at(folder: Path) -> int | None:
        """`stored_epochs` of a trial folder anywhere (a staged one)."""
        try:
            epochs = json.loads((Path(folder) / "manifest.json").read_text()).get("epochs_completed")
        except (OSError, ValueError, AttributeError):
            return None
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    def _recover_locked(self, trial_id: str) -> None:
        """The recovery rule for one trial (the caller holds the publish lock)."""
        aside = self.root / ".partial" / f"{trial_id}.replaced"
        if not aside.exists():
            return
        if (self.root / trial_id).exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(aside, self.root / trial_id)

    def recover(self, trial_id: str | None = None) -> None:
        """Applies the recovery rule to `trial_id`, or to every trial a killed replacement left aside."""
        partial = self.root / ".partial"
        if trial_id is None and not any(partial.glob("*.replaced")):
            return
        if trial_id is not None and not (partial / f"{trial_id}.replaced").exists() and not (
                self.root / PUBLISH_LOCK).exists():
            return
        try:
            with self._publish_lock():
                for name in [trial_id] if trial_id is not None else [p.name[:-len(".replaced")]
                                                                       for p in partial.glob("*.replaced")]:
                    self._recover_locked(name)
        except OSError:
            if trial_id is None or (partial / f"{trial_id}.replaced").exists():
                raise
            # a store this process may not write (nothing to recover there): only a missing trial

    def clear_staging(self, prefix: str) -> list[str]:
        """Removes the staging folders under ``.partial/`` of trials whose ids start with `prefix` that no
        writer finished (a killed or failed write: a full disk), after recovering any replacement a kill
        interrupted. Only for a caller that holds the store (`lock`) before its writers start. Returns
        the names removed."""
        self.recover()
        removed = []
        for path in sorted((self.root / ".partial").glob(f"{prefix}*")):
            if path.is_dir() and not path.name.endswith(".replaced"):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return removed

    # -- the parallel run that owns the store (see the module docstring) ---------------------------
    def read_run(self) -> dict[str, Any] | None:
        """The record of the parallel run that holds (or held, if its driver died) the store; None if
        there is none. A record that cannot be read counts as a run with no token."""
        try:
            record = json.loads((self.root / RUN_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def begin_run(self, info: dict[str, Any]) -> str:
        """Records a parallel run as the store's owner (the caller holds the lock); returns its token."""
        token = uuid.uuid4().hex[:16]
        staged = self.root / f"{RUN_FILE}.{token}"
        fsync_write(staged, json.dumps({**info, "token": token}, indent=1, sort_keys=True).encode())
        os.replace(staged, self.root / RUN_FILE)  # whole or not at all: a task never reads half a token
        return token

    def run_is_current(self, token: str) -> bool:
        return (self.read_run() or {}).get("token") == token

    def end_run(self, token: str | None) -> None:
        """Forgets a run, so that its tasks publish nothing more (token None: whatever run the record
        names), and removes the unfinished trials it left."""
        if token is None or self.run_is_current(token):
            (self.root / RUN_FILE).unlink(missing_ok=True)
        if token and token.isalnum():  # a name part, never a path (the record could have been edited)
            (self.root / f"{RUN_FILE}.{token}").unlink(missing_ok=True)
            for partial in (self.root / ".partial").glob(f"*.{token}"):
                shutil.rmtree(partial, ignore_errors=True)

    def forget(self, trial_id: str) -> None:
        """Drops a trial opened before from this object's cache: another process is writing it anew."""
        self._open.pop(trial_id, None)

    def has(self, trial_id: str) -> bool:
        if (self.root / trial_id / "manifest.json").is_file():
            return True
        self.recover(trial_id)  # a replacement in flight finishes first; one killed midway is undone
        return (self.root / trial_id / "manifest.json").is_file()

    def open(self, trial_id: str) -> TrialTrace:
        if trial_id not in self._open:
            if not (self.root / trial_id / "manifest.json").is_file():
                self.recover(trial_id)
            self._open[trial_id] = TrialTrace(self.root / trial_id)
        return self._open[trial_id]

    def trial_ids(self) -> Iterator[str]:
        """The finished trials in the store (folders with a manifest; not caches such as `estimates/`)."""
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and not path.name.startswith(".") and (path / "manifest.json").is_file():
                yield path.name

    def quarantine(self, trial_id: str) -> Path:
        """Moves a corrupt trial aside (never deleted) so that it is recorded again."""
        self._open.pop(trial_id, None)
        target = self.root / ".corrupt" / trial_id
        n = 0
        while target.exists():
            n += 1
            target = self.root / ".corrupt" / f"{trial_id}.{n}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root / trial_id, target)
        return target


__all__ = ["RunSupersededError", "StoreBusyError", "TraceStore"]
