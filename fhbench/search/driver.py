"""The search driver: any `SearchAlgorithm` against any backend, with W workers on an event-driven clock.

The driver is the only loop: the replay backend (recorded traces and estimate tables,
`fhbench.search.backends.replay`) and the live backend (real training, `fhbench.search.backends.live`) only answer
"run this job", each with a `JobOutcome` whose cost follows the one cost model
(`fhbench.search.cost`). A distributed backend would answer the same question.

The clock. Every free worker takes the algorithm's next proposal at the current simulated time; the
backend runs the job and says what it cost; the job finishes at start + cost. The earliest finishing
job is reported to the algorithm (ties: the lower job id), the clock moves to its finish, and freed
workers take new proposals. The search ends when the algorithm is done, when it has nothing to
propose while nothing runs (stalled), or at the time budget: a job finishing after `time_budget_s`
does not count, and neither does anything after it (one finishing exactly at the budget does).
The result of a search is the algorithm's incumbent after the last counted report.

A backend runs a job when the job starts, so it may compute the outcome early (a replay just looks
it up); the algorithm sees it only at the job's finish time, as with real workers.

An asynchronous backend (`AsyncBackend`: W real workers, `fhbench.search.backends.ray`) runs its jobs at
once and the driver decides on the same clock: a running job reports after each epoch what it has been
charged so far, a lower bound on its cost, and the driver reports the known job with the earliest
(finish, job id) as soon as no running job could still finish before it. So real workers make exactly
the decisions of the synchronous simulation of their measured costs, whatever order their jobs really
finish in.

Termination. A search always ends:
- a search that would propose jobs forever (HyperBand without `max_iterations`) needs a finite time
  budget: with an infinite one the driver refuses to start;
- every job costs a positive time except a promotion that trains nothing (continuing a lineage
  that already diverged), and those are finitely many per bracket, whose new configs cost time:
  so the clock passes any finite budget after finitely many jobs;
- at most min(W, pool size) jobs run at once (for a declared space, its grid size): workers beyond
  the number of configurations have nothing distinct to run, and the cap keeps a worker count far
  above the pool from making an unbounded number of proposals at one instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fhbench.search.algorithms import Job, SearchAlgorithm


NOT_RECORDED = "not recorded:"
"""How the error of a replayed job whose epochs were never recorded starts (`SearchRun.unrecorded_jobs`;
`fhbench.search.backends.replay.LookupReplayBackend`)."""


@dataclass(frozen=True)
class JobOutcome:
    """What a backend says about one job: the estimate (None: the job failed), what it cost, and why it
    failed. `epochs` is the last epoch the job's training reached (its budget unless it diverged)."""

    score: float | None
    cost_s: float
    overhead_s: float
    epochs: int
    error: str | None = None


class Backend(Protocol):
    """Runs search jobs for the driver, one at a time. `estimator` names the estimator whose estimates
    score them."""

    estimator: str

    def run(self, job: Job, start: int) -> JobOutcome:
        """Trains `job.config` from epoch `start` (its lineage's checkpoint; job.parent is the job that
        reached it) to `job.budget`, estimates it there, and returns the outcome with its cost."""


class AsyncBackend(Protocol):
    """Runs search jobs for the driver on workers of its own, several at a time (`fhbench.search.backends.ray`).

    `wait` blocks until there is news of a submitted job, and returns it as (job id, news) pairs: the
    job's `JobOutcome` once it finished, or before that a lower bound on its cost so far (the seconds it
    has been charged for the epochs it trained), which lets the driver report an earlier job without
    waiting for every running one to finish."""

    estimator: str

    def submit(self, job: Job, start: int) -> None:
        """Starts `job` as `Backend.run` would run it, without waiting for it."""

    def wait(self) -> list[tuple[int, JobOutcome | float]]:
        """News of submitted jobs (at least one item)."""


@dataclass
class _Running:
    """A job the driver started: its start on the clock, what it has been charged so far (a lower bound
    on its cost) and, once known, its outcome."""

    job: Job
    start_epoch: int
    started: float
    charged: float = 0.0
    outcome: JobOutcome | None = None


# A progress report is a sum over fewer epochs than the final cost; shaving it keeps it a lower bound
# whatever order the two sums were rounded in.
_BOUND_SLACK = 1.0 - 1e-9


@dataclass
class SearchRun:
    """One search: its finished jobs in finishing order, the incumbent after each, and the result."""

    algorithm: str
    estimator: str
    seed: int
    workers: int
    time_budget_s: float
    incumbent: int | None = None
    simulated_time_s: float = 0.0  # the finish time of the last counted job
    stopped: str = ""  # "done", "time" (the budget cut it off) or "stalled"
    jobs: list[dict] = field(default_factory=list)
    trajectory: list[tuple[float, int]] = field(default_factory=list)  # (time, incumbent) after each result
    notes: list[str] = field(default_factory=list)

    @property
    def configs_evaluated(self) -> int:
        return len({job["config"] for job in self.jobs})

    @property
    def failed_jobs(self) -> int:
        return sum(job["score"] is None for job in self.jobs)

    @property
    def unrecorded_jobs(self) -> int:
        """Counted jobs a replay could not answer from what was recorded (their error starts with
        NOT_RECORDED): 0 for a live search, and for a replay of a live search's own decisions."""
        return sum(bool(job["error"]) and job["error"].startswith(NOT_RECORDED) for job in self.jobs)


def run_search(algorithm: SearchAlgorithm, backend: Backend, *, workers: int, time_budget_s: float, seed: int,
               on_note: Callable[[str], None] | None = None) -> SearchRun:
    """Runs `algorithm` against `backend` with `workers` workers until it is done, stalls, or
    `time_budget_s` simulated seconds are spent (see the module docstring). A failed job is reported
    to the algorithm with score 0.0, ranking it last; its record keeps score None and the error."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    time_budget_s = float(time_budget_s)
    if math.isnan(time_budget_s) or time_budget_s <= 0.0:
        raise ValueError(f"time_budget_s must be a positive number of seconds, got {time_budget_s}")
    if math.isinf(time_budget_s) and not algorithm.finite:
        raise ValueError(f"search '{algorithm.name}' proposes jobs forever (no iteration limit) and the time "
                         f"budget is infinite: it would never end; give a finite time budget or an iteration limit")
    run = SearchRun(algorithm.name, backend.estimator, seed, workers, time_budget_s)

    def note(text: str) -> None:
        run.notes.append(text)
        if on_note:
            on_note(text)

    # how many distinct configs it may run: a pool's size, a declared space's grid (`capacity`)
    capacity = getattr(algorithm, "capacity", algorithm.pool.size)
    slots = min(workers, capacity)
    if slots < workers:
        kind = "grid" if getattr(algorithm, "declared", False) else "pool"
        note(f"{workers} workers for a {kind} of {capacity} configurations: at most {slots} jobs run "
             f"at once")
    running: dict[int, _Running] = {}
    asynchronous = hasattr(backend, "submit")
    clock = 0.0

    def checked(job: Job, start: int, outcome: JobOutcome) -> JobOutcome:
        if (not math.isfinite(outcome.cost_s) or outcome.cost_s < 0.0
                or (outcome.cost_s == 0.0 and (outcome.epochs > start or job.parent is None))):
            raise ValueError(f"backend charged job {job.job_id} {outcome.cost_s!r} s: only a promotion that "
                             f"trains nothing may cost 0, and no job less")
        return outcome

    def next_to_finish() -> tuple[float, int]:
        """The (finish, job id) of the running job that finishes first on the clock. A job whose outcome
        is not known yet finishes no earlier than its start plus what it has been charged so far, so the
        first known one is certain once no unknown one could come before it; until then, wait for news."""
        while True:
            known = [(r.started + r.outcome.cost_s, i) for i, r in running.items() if r.outcome is not None]
            if known:
                first = min(known)
                if all((r.started + r.charged, i) > first for i, r in running.items() if r.outcome is None):
                    return first
            for job_id, news in backend.wait():
                entry = running[job_id]
                if isinstance(news, JobOutcome):
                    entry.outcome = checked(entry.job, entry.start_epoch, news)
                else:
                    entry.charged = max(entry.charged, float(news) * _BOUND_SLACK)

    while True:
        while len(running) < slots and not algorithm.done:
            job = algorithm.propose()
            if job is None:
                break
            start = algorithm.previous_budget(job)
            running[job.job_id] = _Running(job, start, clock)
            if asynchronous:
                backend.submit(job, start)
            else:
                running[job.job_id].outcome = checked(job, start, backend.run(job, start))
        if not running:
            run.stopped = "done" if algorithm.done else "stalled"
            break
        finish, job_id = next_to_finish()
        entry = running.pop(job_id)
        job, outcome = entry.job, entry.outcome
        if finish > time_budget_s:
            run.stopped = "time"
            break
        clock = finish
        algorithm.report(job, 0.0 if outcome.score is None else outcome.score)
        run.jobs.append({"job_id": job.job_id, "config": job.config, "budget": job.budget, "bracket": job.bracket,
                         "rung": job.rung, "parent": job.parent, "start_s": entry.started, "finish_s": finish,
                         "cost_s": outcome.cost_s, "overhead_s": outcome.overhead_s, "epochs": outcome.epochs,
                         "score": outcome.score, "error": outcome.error})
        run.trajectory.append((clock, algorithm.incumbent()))
    run.incumbent = algorithm.incumbent()
    run.simulated_time_s = clock
    return run
