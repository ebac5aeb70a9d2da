"""A search driven to its end by simulated workers, for the tests of the search algorithms on pools
(test_search_algorithms.py) and on declared spaces (test_config_space.py)."""

from __future__ import annotations

import heapq
from collections.abc import Callable


def drive_with(algo, score: Callable, workers: int = 3, max_jobs: int = 2000, events: list | None = None) -> list:
    """Run the search to `done` with `workers` simulated workers; a job takes `budget` time units and
    scores `score(job)`. Returns the proposed jobs; `events`, if given, receives ("propose" | "report",
    job) in order."""
    clock, running, proposed = 0.0, [], []
    events = [] if events is None else events
    while not algo.done:
        while len(running) < workers:
            job = algo.propose()
            if job is None:
                break
            proposed.append(job)
            events.append(("propose", job))
            heapq.heappush(running, (clock + job.budget, job.job_id, job))
        assert running, "the search stalled: nothing running, nothing proposed, not done"
        clock, _, job = heapq.heappop(running)
        algo.report(job, score(job))
        events.append(("report", job))
        assert len(proposed) < max_jobs
    assert algo.propose() is None
    return proposed
