"""Trials made on demand for a declared search: the trial of a configuration is a function of the
configuration alone (and the suite's training seed), so every search that trains a configuration
trains the same run, and its trace in the store (`fhbench.search.backends.live`) is that configuration's,
whichever search wrote it and whichever replay reads it.
"""

from __future__ import annotations

import hashlib

import numpy as np

from fhbench.record.train import Trial

TRIAL_PREFIX = "c-"
"""Trial ids of declared-search trials: "c-" and the first 12 hex digits of sha256(config text)."""


def declared_trial(suite, config_text: str) -> Trial:
    """The trial of `config_text` (the config's canonical string, `str(config)`): id "c-" + sha256[:12],
    repeat 0, index 0, seed from SeedSequence([suite.train.seed, int(sha256[:8], 16)]), budget
    suite.train.epochs (the schedule of every declared-search run ends there)."""
    digest = hashlib.sha256(config_text.encode()).hexdigest()
    seed = int(np.random.SeedSequence([suite.train.seed, int(digest[:8], 16)]).generate_state(1)[0])
    return Trial(TRIAL_PREFIX + digest[:12], 0, 0, config_text, seed, suite.train.epochs)


class DeclaredTrials:
    """`pool.trials` for a declared search: trial i is the trial of candidate i of a `DeclaredSpace`
    (`declared.config(i)`), made when first asked for and cached (the same object each time, as the
    live backend checks a promotion's run against it). `trials` is the object itself, so it can stand
    where a `SearchPool` does (`LiveBackend(..., pool=DeclaredTrials(...))`)."""

    def __init__(self, declared, suite):
        self.declared = declared
        self.suite = suite
        self._cache: dict[int, Trial] = {}

    def __getitem__(self, index: int) -> Trial:
        index = int(index)
        if index not in self._cache:
            if not 0 <= index < len(self):
                raise IndexError(f"candidate {index} is not registered (the search has {len(self)})")
            self._cache[index] = declared_trial(self.suite, self.declared.config(index))
        return self._cache[index]

    def __len__(self) -> int:
        return int(self.declared.size)

    @property
    def trials(self) -> DeclaredTrials:
        return self

    @property
    def size(self) -> int:
        return len(self)
