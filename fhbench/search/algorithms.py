"""Search algorithms that rank candidates by an estimator's estimate of final accuracy.

The thesis (Cao 2021, appendix A.3.2) runs random search, HyperBand (Li et al. 2018) and BOHB
(Falkner et al. 2018) with one change: a candidate is ranked and promoted by an estimator's
estimate of its final accuracy at the current budget, not by its raw latest accuracy. Which of the
two a score is does not matter here: the algorithms only hand out jobs and take back one number
per job (higher is better). They never train, wait or time anything, so a replay backend with a
simulated clock and live training can drive them alike, with any number of workers.

All three search *candidates* of one of two kinds, and work on either unchanged:

- a `ConfigPool`: a finite pool of recorded configurations, fixed up front (replay can only run
  configurations that were recorded);
- a `DeclaredSpace` (`fhbench.search.space`): a space's declared parameters, searched live; its
  candidates are registered as the search draws them, and BOHB proposes from its density model over
  the parameters directly.

`Job.config` is a candidate's index in either. Given the same seed and the same sequence of
`propose` and `report` calls, an algorithm proposes exactly the same jobs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Union

import numpy as np
from scipy.special import logsumexp

from fhbench.inputs.brackets import hyperband_brackets
from fhbench.search.space import DeclaredSpace

__all__ = ["BOHB", "Candidates", "ConfigPool", "HyperBand", "Job", "RandomSearch", "SearchAlgorithm",
           "pool_size_warning"]


@dataclass(frozen=True, eq=False)
class ConfigPool:
    """The candidates a search may pick: `codes[i]` is config i as categorical codes (one int per dimension).

    Codes are categories, not numbers: the order of the codes within a dimension means nothing,
    so BOHB's model compares them only for equality.
    """

    codes: np.ndarray
    cardinalities: tuple[int, ...]

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)
        if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
            raise ValueError(
                f"codes must be a non-empty 2-D array (n_configs, n_dims), got shape {codes.shape}"
            )
        if not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
        cards = tuple(int(k) for k in self.cardinalities)
        if len(cards) != codes.shape[1]:
            raise ValueError(f"{len(cards)} cardinalities for {codes.shape[1]} dimensions")
        if min(cards) < 1:
            raise ValueError(f"every cardinality must be >= 1, got {cards}")
        bad = (codes < 0) | (codes >= np.asarray(cards))
        if bad.any():
            row, dim = (int(v) for v in np.argwhere(bad)[0])
            raise ValueError(
                f"config {row} has code {int(codes[row, dim])} in dimension {dim}, outside [0, {cards[dim]})"
            )
        codes = codes.astype(np.int64, copy=True)
        codes.setflags(write=False)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "cardinalities", cards)

    @property
    def size(self) -> int:
        return int(self.codes.shape[0])

    @property
    def n_dims(self) -> int:
        return int(self.codes.shape[1])

    def left(self, exclude) -> np.ndarray:
        """Pool indices (ascending) not in `exclude` (indices)."""
        taken = np.zeros(self.size, dtype=bool)
        taken[list(exclude)] = True
        return np.flatnonzero(~taken)

    def draw(self, rng: np.random.Generator, exclude) -> int:
        """A pool config uniformly among those not in `exclude` (indices); the pool must have one left."""
        return int(rng.choice(self.left(exclude)))

    def draw_distinct(self, rng: np.random.Generator, n: int) -> list[int]:
        """`n` different pool configs, uniformly without replacement."""
        return [int(c) for c in rng.choice(self.size, size=n, replace=False)]


Candidates = Union[ConfigPool, DeclaredSpace]
"""What a search searches: both have `size`, `codes`, `cardinalities`, `n_dims`, `draw(rng, exclude)`
and `draw_distinct(rng, n)`, which is all the algorithms use but BOHB's model step and the size checks."""


@dataclass(frozen=True)
class Job:
    """One unit of work: train `config` up to `budget` epochs in total.

    A promoted config continues from where its previous job stopped, so its budget is a running
    total, not an increment; `parent` is the id of that previous job (None for a new config), whose
    checkpoint a backend continues. `bracket` and `rung` say where the job sits in HyperBand's plan
    (both 0 for random search), which lets a backend or a plot group jobs without asking the algorithm.
    """

    job_id: int
    config: int
    budget: int
    bracket: int
    rung: int
    parent: int | None = None


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class SearchAlgorithm(ABC):
    """The protocol every search shares: propose jobs, take back one score per job.

    This base keeps the bookkeeping that makes the protocol safe (job ids, pending jobs, the
    history) so subclasses only decide which job comes next and what a result changes.

    `pool` is what it searches (a ConfigPool or a DeclaredSpace); `declared` is True for a
    DeclaredSpace, and `capacity` is how many distinct configs it holds at most: a pool's size, a
    declared space's grid size (which its constraint may cut down).
    """

    name: ClassVar[str]

    def __init__(self, pool: Candidates, max_budget: int) -> None:
        # The one place that tells the two kinds of candidates apart.
        if isinstance(pool, ConfigPool):
            self.declared, self.capacity, self._size_of = False, pool.size, "pool"
        elif isinstance(pool, DeclaredSpace):
            self.declared, self.capacity, self._size_of = True, pool.grid_size, "grid"
        else:
            raise ValueError(f"pool must be a ConfigPool or a DeclaredSpace, got {type(pool).__name__}")
        self.pool = pool
        self.max_budget = _check_int("max_budget", max_budget, 1)
        self._next_id = 0
        self._pending: dict[int, Job] = {}
        self._history: list[tuple[Job, float]] = []

    @abstractmethod
    def propose(self) -> Job | None:
        """The next job to start, or None when nothing can start until pending jobs report (or done)."""

    @property
    @abstractmethod
    def done(self) -> bool:
        """True when no job will ever be proposed again and every proposed job has reported."""

    @abstractmethod
    def _on_result(self, job: Job, score: float) -> None:
        """React to a validated result (already appended to the history)."""

    @property
    def finite(self) -> bool:
        """True when the search proposes finitely many jobs, so that it ends (`done`) on its own.

        A driver refuses to run a search that is not finite without a finite time budget.
        """
        return True

    def report(self, job: Job, score: float) -> None:
        """Record the score (estimated final accuracy, higher is better) of a proposed job.

        Raises ValueError for a job this search did not propose, one already reported, or a
        non-finite score; the search is left unchanged then, so the caller may retry.
        """
        if self._pending.get(job.job_id) != job:
            if any(done_job == job for done_job, _ in self._history):
                raise ValueError(f"job {job.job_id} was already reported")
            raise ValueError(f"unknown job {job!r}: this search did not propose it")
        score = float(score)
        if not math.isfinite(score):
            raise ValueError(f"score of job {job.job_id} must be finite, got {score}")
        del self._pending[job.job_id]
        self._history.append((job, score))
        self._on_result(job, score)

    def incumbent(self) -> int | None:
        """The config the search returns now: best score among results at the highest budget reached.

        Scores at lower budgets are estimates from shorter training, so only results at the largest
        budget any job has reached compete. Ties go to the lower config index. None before any result.
        """
        if not self._history:
            return None
        top = max(job.budget for job, _ in self._history)
        best = max((score, -job.config) for job, score in self._history if job.budget == top)
        return -best[1]

    @property
    def history(self) -> list[tuple[Job, float]]:
        """Reported results in report order (a copy)."""
        return list(self._history)

    def previous_budget(self, job: Job) -> int:
        """The budget `job`'s config already reached in its lineage: a backend continues from there."""
        return 0

    def _issue(self, config: int, budget: int, bracket: int, rung: int, parent: int | None = None) -> Job:
        job = Job(job_id=self._next_id, config=int(config), budget=int(budget), bracket=bracket, rung=rung,
                  parent=parent)
        self._next_id += 1
        self._pending[job.job_id] = job
        return job


class RandomSearch(SearchAlgorithm):
    """Random search: `num_configs` configs, drawn uniformly without replacement, each at `max_budget`.

    The thesis runs 64 configs for 128 epochs each. Without replacement, since rerunning a config
    only spends budget.
    """

    name = "random"

    def __init__(self, pool: Candidates, max_budget: int, num_configs: int, seed: int) -> None:
        super().__init__(pool, max_budget)
        num_configs = _check_int("num_configs", num_configs, 1)
        if num_configs > self.capacity:
            raise ValueError(f"num_configs={num_configs} exceeds the {self._size_of} size {self.capacity}")
        rng = np.random.default_rng(seed)
        self._configs = pool.draw_distinct(rng, num_configs)
        self._proposed = 0

    def propose(self) -> Job | None:
        if self._proposed == len(self._configs):
            return None
        config = self._configs[self._proposed]
        self._proposed += 1
        return self._issue(config, self.max_budget, bracket=0, rung=0)

    @property
    def done(self) -> bool:
        return self._proposed == len(self._configs) and not self._pending

    def _on_result(self, job: Job, score: float) -> None:
        pass


class _Bracket:
    """One run of successive halving: which configs each rung runs, and promotion between rungs.

    It knows nothing about how rung-0 configs are chosen (uniformly or by a model); the search hands
    them in one at a time, so a model can use results that arrived in the meantime.
    """

    def __init__(self, index: int, rungs: list[tuple[int, int]]) -> None:
        self.index = index
        self.rungs = rungs
        self.rung = 0
        self.configs: list[int] = []  # rung-0 configs, in proposal order
        self._queue: list[int] = []  # configs to run at the current rung, best first (rung > 0)
        self._proposed = 0  # jobs proposed at the current rung
        self._scores: dict[int, float] = {}  # config -> score at the current rung
        self.last_job: dict[int, int] = {}  # config -> id of its latest job in this bracket

    @property
    def finished(self) -> bool:
        return self.rung == len(self.rungs)

    @property
    def budget(self) -> int:
        return self.rungs[self.rung][1]

    def can_propose(self) -> bool:
        return not self.finished and self._proposed < self.rungs[self.rung][0]

    def needs_new_config(self) -> bool:
        return self.rung == 0

    def take(self, new_config: int | None = None) -> int:
        """The config of the next job at the current rung (a new one at rung 0, else the next promoted one)."""
        if self.rung == 0:
            assert new_config is not None
            self.configs.append(new_config)
            config = new_config
        else:
            config = self._queue[self._proposed]
        self._proposed += 1
        return config

    def record(self, config: int, score: float) -> None:
        """Store a result; once the rung is complete, promote its top n_{i+1} (ties: lower config)."""
        self._scores[config] = score
        if len(self._scores) < self.rungs[self.rung][0]:
            return
        ranked = sorted(self._scores, key=lambda c: (-self._scores[c], c))
        self.rung += 1
        self._scores = {}
        self._proposed = 0
        self._queue = ranked[: self.rungs[self.rung][0]] if not self.finished else []


class HyperBand(SearchAlgorithm):
    """HyperBand (Li et al. 2018) over a config pool or a declared space, ranking by the reported scores.

    Brackets run in the order s_max, ..., 0 and then repeat (one HyperBand iteration each round)
    until `max_iterations` iterations have started (None: forever, so `done` is never true). When
    every started bracket is waiting for results, the next bracket starts, as hpbandster does, so
    parallel workers stay busy; `propose` returns None only when no bracket can propose and no new
    bracket may start.
    """

    name = "hyperband"

    def __init__(
        self,
        pool: Candidates,
        max_budget: int,
        min_budget: int = 1,
        eta: int = 2,
        seed: int = 0,
        max_iterations: int | None = None,
    ) -> None:
        super().__init__(pool, max_budget)
        self.min_budget = _check_int("min_budget", min_budget, 1)
        self.eta = _check_int("eta", eta, 2)
        self.max_iterations = (
            None if max_iterations is None else _check_int("max_iterations", max_iterations, 1)
        )
        self.plan = self.brackets(self.max_budget, self.min_budget, self.eta)
        needed = self.plan[0][0][0]
        if needed > self.capacity:
            raise ValueError(
                f"the largest HyperBand bracket needs n={needed} distinct configs but the {self._size_of} has only "
                f"{self.capacity} (max_budget={self.max_budget}, min_budget={self.min_budget}, eta={self.eta})"
            )
        self._rng = np.random.default_rng(seed)
        self._active: list[_Bracket] = []
        self._started = 0
        self._bracket_of: dict[int, _Bracket] = {}
        self._origins: dict[int, str] = {}

    @staticmethod
    def brackets(max_budget: int, min_budget: int, eta: int) -> list[list[tuple[int, int]]]:
        """The bracket plan (`fhbench.inputs.brackets.hyperband_brackets`, where the suite schema checks
        a search suite's budgets against it before any work)."""
        return hyperband_brackets(max_budget, min_budget, eta)

    def propose(self) -> Job | None:
        for bracket in self._active:
            if bracket.can_propose():
                return self._propose_from(bracket)
        if not self._may_start_bracket():
            return None
        position = self._started % len(self.plan)
        bracket = _Bracket(index=len(self.plan) - 1 - position, rungs=self.plan[position])
        self._started += 1
        self._active.append(bracket)
        return self._propose_from(bracket)

    @property
    def done(self) -> bool:
        return not self._may_start_bracket() and not self._active

    @property
    def finite(self) -> bool:
        """HyperBand repeats its brackets forever unless `max_iterations` bounds them."""
        return self.max_iterations is not None

    @staticmethod
    def configs_per_iteration(max_budget: int, min_budget: int, eta: int) -> int:
        """How many rung-0 configs one HyperBand iteration draws: the sum of n over all brackets."""
        return sum(rungs[0][0] for rungs in HyperBand.brackets(max_budget, min_budget, eta))

    def previous_budget(self, job: Job) -> int:
        """A promoted job continues its config from the previous rung's budget in the same bracket."""
        if job.rung == 0:
            return 0
        return self.plan[len(self.plan) - 1 - job.bracket][job.rung - 1][1]

    def origin(self, job: Job) -> str:
        """Where a proposed job's config came from: "random", "model" (BOHB) or "promotion".

        For diagnostics and tests, such as checking that BOHB's model proposals favour good configs.
        """
        if job.job_id not in self._origins:
            raise ValueError(f"unknown job {job!r}")
        return self._origins[job.job_id]

    def _may_start_bracket(self) -> bool:
        return self.max_iterations is None or self._started < self.max_iterations * len(self.plan)

    def _propose_from(self, bracket: _Bracket) -> Job:
        if bracket.needs_new_config():
            config, origin = self._sample_config(bracket)
        else:
            config, origin = None, "promotion"
        config = bracket.take(config)
        job = self._issue(config, bracket.budget, bracket.index, bracket.rung, parent=bracket.last_job.get(config))
        bracket.last_job[config] = job.job_id
        self._bracket_of[job.job_id] = bracket
        self._origins[job.job_id] = origin
        return job

    def _sample_config(self, bracket: _Bracket) -> tuple[int, str]:
        """A new rung-0 config: uniform over the configs not yet in the bracket (no replacement)."""
        return self.pool.draw(self._rng, bracket.configs), "random"

    def _on_result(self, job: Job, score: float) -> None:
        bracket = self._bracket_of.pop(job.job_id)
        bracket.record(job.config, score)
        if bracket.finished:
            self._active.remove(bracket)


@dataclass(frozen=True, eq=False)
class _Parzen:
    """A Parzen estimator over categorical codes: a product of per-dimension Aitchison-Aitken kernels.

    With bandwidth b in dimension j of cardinality k, the kernel centred on category c puts
    1 - b (k - 1) / k on c and b / k on each other category: a mix of a point mass on c (weight
    1 - b) and the uniform distribution (weight b). This is the Aitchison-Aitken kernel with
    lambda = b (k - 1) / k, written so that sampling (keep c, else a uniform other category) and the
    density agree exactly, and b = 1 means "uniform".
    """

    points: np.ndarray  # (n, d) codes
    bandwidths: np.ndarray  # (d,) in [min_bandwidth, 1)
    cardinalities: np.ndarray  # (d,)

    @classmethod
    def fit(cls, points: np.ndarray, cardinalities: np.ndarray, min_bandwidth: float) -> _Parzen:
        """Fit with a normal-reference rule of thumb: b_j = 1.06 * s_j * n^(-1 / (4 + d)).

        Codes are categories, so s_j is not the std of the codes (which would depend on their
        arbitrary order) but the categorical analogue sqrt(1 - sum_c p_c^2), the root of the total
        variance of the one-hot encoding. Clipped to [min_bandwidth, 1 - min_bandwidth] so that no
        category gets zero density and the kernel never becomes fully uniform.
        """
        n, d = points.shape
        spread = np.empty(d)
        for j in range(d):
            p = np.bincount(points[:, j], minlength=int(cardinalities[j])) / n
            spread[j] = math.sqrt(max(0.0, 1.0 - float(np.sum(p**2))))
        rule = 1.06 * spread * n ** (-1.0 / (4 + d))
        bandwidths = np.clip(rule, min_bandwidth, 1.0 - min_bandwidth)
        return cls(points=points, bandwidths=bandwidths, cardinalities=np.asarray(cardinalities))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density at each row of x (m, d) -> (m,)."""
        k = self.cardinalities
        log_same = np.log1p(-self.bandwidths * (k - 1) / k)
        log_other = np.log(self.bandwidths / k)
        equal = x[:, None, :] == self.points[None, :, :]  # (m, n, d)
        per_point = np.where(equal, log_same, log_other).sum(axis=2)  # (m, n)
        return logsumexp(per_point, axis=1) - math.log(len(self.points))

    def sample(self, rng: np.random.Generator, count: int, bandwidth_factor: float) -> np.ndarray:
        """`count` draws with bandwidths widened by `bandwidth_factor` (capped at 1, uniform), to explore."""
        k = self.cardinalities
        bandwidths = np.minimum(self.bandwidths * bandwidth_factor, 1.0)
        centres = self.points[rng.integers(len(self.points), size=count)]
        keep = rng.random(centres.shape) < 1.0 - bandwidths * (k - 1) / k
        offsets = 1 + (rng.random(centres.shape) * (k - 1)).astype(np.int64)  # uniform in 1..k-1
        return np.where(keep, centres, (centres + offsets) % k)


class BOHB(HyperBand):
    """BOHB (Falkner et al. 2018): HyperBand whose new configs come from a TPE-style model.

    Brackets, promotion and parallelism are HyperBand's. Each rung-0 config is chosen when it is
    proposed, so the model sees every result so far:

    - with probability `random_fraction`, a uniform config (keeps exploring);
    - else take the largest budget that has a model (below) and draw `num_candidates` samples from
      its l(x) with bandwidths times `bandwidth_factor`, scored by l(x) / g(x) (unscaled bandwidths);
    - on a declared space, the best-scoring sample that is a valid config (`valid_codes`, e.g. within
      a MAC limit) and not yet in the bracket, registered as a new candidate if it is new; when no
      sample qualifies, a uniform config (origin "random"). No projection;
    - on a pool, only pool configs can be run, so the best sample is projected onto the pool: among
      pool configs not in the bracket at minimum Hamming distance from it, the one maximising l/g
      (ties: lower index);
    - without any budget that has a model, a uniform config, as BOHB does before it has one.

    When a budget has a model: HpBandSter 0.7.x's rule (its
    ``hpbandster/optimizers/config_generators/bohb.py``), not the paper's. With d dimensions,
    min_points_in_model = d + 1; the N results on a budget are ranked by score and the best
    n_good = max(d + 1, floor(top_fraction * N)) form the good set, the next
    n_bad = max(d + 1, floor((1 - top_fraction) * N)) the bad set. The two sets are disjoint (rows
    past n_good + n_bad are left out), and the budget has a model only when each set has more than
    d rows, so no density is ever fit on fewer than d + 1 points and a budget needs at least
    2 (d + 1) results (14 for NB201's six edges). `model_split` computes this. The paper's rule
    (N_min = d + 1 points per density, a model once N_min + 2 results exist) would let the bad
    density be fit on as few as 2 points; HpBandSter's is the one its users ran, and the stricter.

    The densities are products of categorical Aitchison-Aitken kernels (`_Parzen`), kept on purpose
    instead of HpBandSter's statsmodels ``KDEMultivariate`` with var_type 'u'. That kernel puts
    1 - lambda on its own category and lambda / (k - 1) on each other one, a distribution only for
    lambda <= 1 (and one that favours its own category only for lambda < (k - 1) / k). HpBandSter
    sets lambda with the normal-reference rule 1.06 * std * n^(-1/(4+d)) on the integer codes, whose
    std depends on the arbitrary order of the categories. On NB201's five operations that lambda is
    often out of range: over the densities BOHB fit in the nb201-search-cpu replays, 63% of the
    dimensions had lambda > 4/5 (the kernel prefers every other category to its own) and 43% had
    lambda > 1 (negative weight on its own category: l(x) and g(x) are no longer densities, and
    HpBandSter's sampler never keeps the centre). `_Parzen` measures the spread from category frequencies (order
    free) and keeps the bandwidth in [min_bandwidth, 1 - min_bandwidth], so each kernel is a
    distribution and sampling matches the density.

    Configs already in the current bracket are never returned (a pool always has enough others, as
    it holds at least the largest bracket's n configs; a declared space draws with bounded tries).
    """

    name = "bohb"

    def __init__(
        self,
        pool: Candidates,
        max_budget: int,
        min_budget: int = 1,
        eta: int = 2,
        seed: int = 0,
        max_iterations: int | None = None,
        top_fraction: float = 0.15,
        random_fraction: float = 1 / 3,
        num_candidates: int = 64,
        bandwidth_factor: float = 3.0,
        min_bandwidth: float = 1e-3,
    ) -> None:
        super().__init__(pool, max_budget, min_budget, eta, seed, max_iterations)
        if not 0.0 < top_fraction < 1.0:
            raise ValueError(f"top_fraction must be in (0, 1), got {top_fraction}")
        if not 0.0 <= random_fraction <= 1.0:
            raise ValueError(f"random_fraction must be in [0, 1], got {random_fraction}")
        if not bandwidth_factor > 0.0:
            raise ValueError(f"bandwidth_factor must be > 0, got {bandwidth_factor}")
        if not 0.0 < min_bandwidth < 0.5:
            raise ValueError(f"min_bandwidth must be in (0, 0.5), got {min_bandwidth}")
        self.top_fraction = float(top_fraction)
        self.random_fraction = float(random_fraction)
        self.num_candidates = _check_int("num_candidates", num_candidates, 1)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)

    def _sample_config(self, bracket: _Bracket) -> tuple[int, str]:
        explore = self._rng.random() < self.random_fraction
        models = None if explore else self._fit_models()
        if models is None:
            return self.pool.draw(self._rng, bracket.configs), "random"
        good, bad = models
        candidates = good.sample(self._rng, self.num_candidates, self.bandwidth_factor)
        ratio = good.log_pdf(candidates) - bad.log_pdf(candidates)
        if self.declared:
            return self._best_declared(bracket, candidates, ratio)
        best = candidates[int(np.argmax(ratio))]
        eligible = self.pool.left(bracket.configs)
        distance = (self.pool.codes[eligible] != best).sum(axis=1)
        nearest = eligible[distance == distance.min()]
        codes = self.pool.codes[nearest]
        return int(nearest[int(np.argmax(good.log_pdf(codes) - bad.log_pdf(codes)))]), "model"

    def _best_declared(self, bracket: _Bracket, candidates: np.ndarray, ratio: np.ndarray) -> tuple[int, str]:
        """The best l/g candidate that is a valid config not in the bracket, registered; else a uniform one."""
        valid = self.pool.valid_codes(candidates)
        in_bracket = set(bracket.configs)
        for row in np.argsort(-ratio, kind="stable"):  # ties: the earlier sample
            if valid[row] and self.pool.find(candidates[row]) not in in_bracket:
                return self.pool.register(candidates[row]), "model"
        return self.pool.draw(self._rng, bracket.configs), "random"

    @staticmethod
    def model_split(n_results: int, n_dims: int, top_fraction: float) -> tuple[int, int] | None:
        """(good rows, bad rows) of a model fit on `n_results` results, or None when there is no model
        (HpBandSter 0.7.x's rule, see the class docstring)."""
        min_points = n_dims + 1
        if n_results < min_points:
            return None
        # The small epsilon keeps float products such as 0.15 * 20 from rounding down past an integer;
        # HpBandSter computes (15 * N) // 100 in integers.
        n_good = max(min_points, math.floor(top_fraction * n_results + 1e-9))
        n_bad = max(min_points, math.floor((1.0 - top_fraction) * n_results + 1e-9))
        good = min(n_good, n_results)
        bad = max(0, min(n_good + n_bad, n_results) - n_good)
        if good <= n_dims or bad <= n_dims:
            return None
        return good, bad

    def _fit_models(self) -> tuple[_Parzen, _Parzen] | None:
        """l(x) and g(x) on the largest budget that has a model (`model_split`), or None."""
        by_budget: dict[int, list[tuple[int, float]]] = {}
        for job, score in self._history:
            by_budget.setdefault(job.budget, []).append((job.config, score))
        cards = np.asarray(self.pool.cardinalities)
        for budget in sorted(by_budget, reverse=True):
            results = by_budget[budget]
            split = self.model_split(len(results), self.pool.n_dims, self.top_fraction)
            if split is None:
                continue
            n_good, n_bad = split
            # Stable sort: equal scores keep report order, so the split is deterministic.
            ranked = sorted(results, key=lambda r: -r[1])
            codes = self.pool.codes[[config for config, _ in ranked]]
            good = _Parzen.fit(codes[:n_good], cards, self.min_bandwidth)
            bad = _Parzen.fit(codes[n_good:n_good + n_bad], cards, self.min_bandwidth)
            return good, bad
        return None


def pool_size_warning(pool_size: int, max_budget: int, min_budget: int, eta: int) -> str | None:
    """A warning when one HyperBand iteration draws more configs than the pool holds, else None.

    Then HyperBand and BOHB see most of the pool in every iteration, and their regret says more
    about the pool than about how they choose.
    """
    draws = HyperBand.configs_per_iteration(max_budget, min_budget, eta)
    if pool_size >= draws:
        return None
    return (f"the pool has {pool_size} configurations but one HyperBand iteration draws {draws} "
            f"(the sum of rung-0 n over its brackets for R={max_budget}, r_min={min_budget}, eta={eta}): "
            f"HyperBand and BOHB see most of the pool in every iteration, so their regret measures the pool "
            f"more than the search; record a pool of at least {draws} configurations")
