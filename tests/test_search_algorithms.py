"""Search algorithms: HyperBand's bracket plan, the propose/report contract, promotion, BOHB's model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from search_driving import drive_with
from fhbench.search import BOHB, ConfigPool, HyperBand, Job, RandomSearch


def full_pool(cardinalities: tuple[int, ...]) -> ConfigPool:
    """Every combination of categories, in lexicographic order."""
    codes = np.array(list(itertools.product(*(range(k) for k in cardinalities))), dtype=int)
    return ConfigPool(codes=codes, cardinalities=cardinalities)


POOL = full_pool((4, 4, 3))  # 48 configs
QUALITY = np.random.default_rng(123).permutation(POOL.size) / POOL.size  # distinct, fixed
MAX_BUDGET, MIN_BUDGET, ETA = 8, 1, 2


def score(quality: np.ndarray, job: Job) -> float:
    """A fixed, budget-dependent estimate: the same config looks better the longer it trained."""
    return float(quality[job.config] * (1 - 0.5 / job.budget))


def drive(algo, quality: np.ndarray, workers: int = 3, max_jobs: int = 2000, events: list | None = None) -> list[Job]:
    """`drive_with` scoring each job by `score(quality, job)`."""
    return drive_with(algo, lambda job: score(quality, job), workers, max_jobs, events)


MAKERS = {
    "random": lambda seed: RandomSearch(POOL, MAX_BUDGET, num_configs=8, seed=seed),
    "hyperband": lambda seed: HyperBand(POOL, MAX_BUDGET, MIN_BUDGET, ETA, seed=seed, max_iterations=1),
    "bohb": lambda seed: BOHB(POOL, MAX_BUDGET, MIN_BUDGET, ETA, seed=seed, max_iterations=1),
}


def test_brackets_match_table_1_of_li_et_al():
    assert HyperBand.brackets(81, 1, 3) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]


def test_brackets_of_the_thesis_setting():
    plan = HyperBand.brackets(128, 1, 2)
    assert len(plan) == 8  # s_max = 7
    assert plan[0] == [(128, 1), (64, 2), (32, 4), (16, 8), (8, 16), (4, 32), (2, 64), (1, 128)]
    # n = ceil((s_max + 1) / (s + 1) * 2**s) for s = 7..0, worked by hand:
    # 8/8*128 = 128, 8/7*64 = 73.1 -> 74, 8/6*32 = 42.7 -> 43, 8/5*16 = 25.6 -> 26,
    # 8/4*8 = 16, 8/3*4 = 10.7 -> 11, 8/2*2 = 8, 8/1*1 = 8.
    assert [rungs[0][0] for rungs in plan] == [128, 74, 43, 26, 16, 11, 8, 8]
    assert [rungs[0][1] for rungs in plan] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert all(rungs[-1][1] == 128 for rungs in plan)


def test_brackets_reject_bad_settings():
    with pytest.raises(ValueError):
        HyperBand.brackets(4, 8, 2)
    with pytest.raises(ValueError):
        HyperBand.brackets(8, 1, 1)


@pytest.mark.parametrize("name", list(MAKERS))
def test_contract(name):
    make = MAKERS[name]
    algo = make(0)
    assert algo.name == name and algo.incumbent() is None and not algo.done
    events = []
    jobs = drive(algo, QUALITY, events=events)

    # Protocol: unique increasing ids, budgets in range, everything reported.
    assert [job.job_id for job in jobs] == list(range(len(jobs)))
    assert len(set(jobs)) == len(jobs)
    assert all(MIN_BUDGET <= job.budget <= MAX_BUDGET for job in jobs)
    assert sorted(job.job_id for job, _ in algo.history) == list(range(len(jobs)))

    if name == "random":
        assert len(jobs) == 8 and all(job.budget == MAX_BUDGET for job in jobs)
        assert len({job.config for job in jobs}) == 8
    else:
        plan = HyperBand.brackets(MAX_BUDGET, MIN_BUDGET, ETA)
        assert len(jobs) == sum(n for rungs in plan for n, _ in rungs)
        # Per bracket (each runs once with max_iterations=1): distinct rung-0 configs, and a
        # promoted config was reported at the previous rung before it ran again at a larger budget.
        when = {(kind, job.job_id): pos for pos, (kind, job) in enumerate(events)}
        for s in range(len(plan)):
            in_bracket = [job for job in jobs if job.bracket == s]
            rung0 = [job.config for job in in_bracket if job.rung == 0]
            assert len(rung0) == len(set(rung0)) == plan[len(plan) - 1 - s][0][0]
            for job in in_bracket:
                if job.rung == 0:
                    continue
                (previous,) = [p for p in in_bracket if p.config == job.config and p.rung == job.rung - 1]
                assert previous.budget < job.budget
                assert when[("report", previous.job_id)] < when[("propose", job.job_id)]

    # Incumbent: the best-quality config among those evaluated at the top budget.
    top = max(job.budget for job in jobs)
    at_top = {job.config for job in jobs if job.budget == top}
    assert algo.incumbent() == max(at_top, key=lambda c: QUALITY[c])

    # Determinism: same seed, same jobs and incumbent; another seed, other jobs.
    again = make(0)
    assert drive(again, QUALITY) == jobs and again.incumbent() == algo.incumbent()
    assert drive(make(1), QUALITY) != jobs


@pytest.mark.parametrize("name", list(MAKERS))
def test_report_rejects_unknown_repeated_and_non_finite(name):
    algo = MAKERS[name](0)
    job = algo.propose()
    with pytest.raises(ValueError, match="unknown"):
        algo.report(Job(job_id=999, config=0, budget=1, bracket=0, rung=0), 0.5)
    with pytest.raises(ValueError, match="unknown"):
        algo.report(Job(job.job_id, job.config, job.budget + 1, job.bracket, job.rung), 0.5)
    with pytest.raises(ValueError, match="finite"):
        algo.report(job, float("nan"))
    algo.report(job, 0.5)  # the failed reports left the job pending
    with pytest.raises(ValueError, match="already"):
        algo.report(job, 0.5)
    assert algo.history == [(job, 0.5)]


def test_hyperband_promotes_exactly_the_top_configs():
    algo = HyperBand(POOL, MAX_BUDGET, MIN_BUDGET, ETA, seed=3, max_iterations=1)
    first = [algo.propose() for _ in range(8)]  # bracket s=3: (8,1),(4,2),(2,4),(1,8)
    assert all(job.bracket == 3 and job.rung == 0 and job.budget == 1 for job in first)
    scores = [0.1, 0.9, 0.5, 0.5, 0.7, 0.2, 0.5, 0.3]  # a three-way tie for the 3rd/4th place
    for job, value in zip(first, scores):
        algo.report(job, value)
    promoted = [algo.propose() for _ in range(4)]
    assert all(job.bracket == 3 and job.rung == 1 and job.budget == 2 for job in promoted)
    by_rank = sorted(zip(scores, [job.config for job in first]), key=lambda p: (-p[0], p[1]))
    assert [job.config for job in promoted] == [config for _, config in by_rank[:4]]


def test_hyperband_starts_the_next_bracket_while_one_waits():
    algo = HyperBand(POOL, MAX_BUDGET, MIN_BUDGET, ETA, seed=0, max_iterations=1)
    jobs = []
    while (job := algo.propose()) is not None:
        jobs.append(job)
    # Every bracket's rung 0 is out, then every bracket waits and no new one may start.
    assert [job.bracket for job in jobs] == [3] * 8 + [2] * 6 + [1] * 4 + [0] * 4
    assert not algo.done
    forever = HyperBand(POOL, MAX_BUDGET, MIN_BUDGET, ETA, seed=0)
    assert all(forever.propose() is not None for _ in range(100)) and not forever.done


def test_pool_too_small_is_rejected_with_the_numbers():
    pool = full_pool((4, 4, 4))
    with pytest.raises(ValueError, match=r"n=128.*64"):
        HyperBand(pool, 128, 1, 2)
    with pytest.raises(ValueError, match=r"n=128.*64"):
        BOHB(pool, 128, 1, 2)
    with pytest.raises(ValueError, match="num_configs"):
        RandomSearch(pool, 128, num_configs=65, seed=0)


def test_config_pool_validates():
    with pytest.raises(ValueError):
        ConfigPool(codes=np.array([[0, 3]]), cardinalities=(2, 3))
    with pytest.raises(ValueError):
        ConfigPool(codes=np.array([[0, 1]]), cardinalities=(2,))
    with pytest.raises(ValueError):
        ConfigPool(codes=np.array([0, 1]), cardinalities=(2, 2))
    assert full_pool((2, 3)).size == 6


def test_bohb_model_concentrates_on_good_configs():
    pool = full_pool((4, 4, 4))
    quality = np.where(pool.codes[:, 0] == 2, 0.9, 0.3) + 0.01 * pool.codes[:, 1]
    algo = BOHB(pool, max_budget=4, min_budget=1, eta=2, seed=0, max_iterations=10)
    jobs = drive(algo, quality, workers=1)
    assert len(jobs) == 10 * 14  # per iteration: (4,1),(2,2),(1,4) + (3,2),(1,4) + (3,4)
    model = [job for job in jobs if algo.origin(job) == "model"]
    assert len(model) >= 20
    share = np.mean([pool.codes[job.config, 0] == 2 for job in model])
    assert share > 0.5


def test_bohb_builds_a_model_only_with_more_than_d_points_per_density():
    # HpBandSter 0.7.x: n_good = max(d + 1, floor(0.15 N)), n_bad = max(d + 1, floor(0.85 N)), disjoint,
    # and a model only when each side has more than d rows.
    d = 6
    assert BOHB.model_split(2 * d + 1, d, 0.15) is None  # 13 results: the bad side would have only 6 rows
    assert BOHB.model_split(2 * d + 2, d, 0.15) == (7, 7)
    assert BOHB.model_split(20, d, 0.15) == (7, 13)
    assert BOHB.model_split(60, d, 0.15) == (9, 51)
    assert BOHB.model_split(101, d, 0.15) == (15, 85)  # HpBandSter leaves the worst row out
    for n in range(1, 300):
        split = BOHB.model_split(n, d, 0.15)
        if split is not None:
            good, bad = split
            assert good > d and bad > d and good + bad <= n

    pool = full_pool((4, 4, 4))  # d = 3: a budget needs 8 results
    algo = BOHB(pool, max_budget=1, min_budget=1, eta=2, seed=0, random_fraction=0.0)
    for k in range(8):
        job = algo.propose()
        assert algo.origin(job) == "random"  # no model before 8 results at budget 1
        algo.report(job, float(k))
    good, bad = algo._fit_models()
    assert len(good.points) == 4 and len(bad.points) == 4
    ranked = [job.config for job, _ in sorted(algo.history, key=lambda r: -r[1])]
    assert [tuple(p) for p in good.points] == [tuple(pool.codes[c]) for c in ranked[:4]]
    assert [tuple(p) for p in bad.points] == [tuple(pool.codes[c]) for c in ranked[4:]]
    assert algo.origin(algo.propose()) == "model"


def test_promoted_jobs_name_the_job_they_continue():
    algo = HyperBand(POOL, MAX_BUDGET, MIN_BUDGET, ETA, seed=0, max_iterations=1)
    jobs = drive(algo, QUALITY)
    by_id = {job.job_id: job for job in jobs}
    for job in jobs:
        if job.rung == 0:
            assert job.parent is None and algo.previous_budget(job) == 0
        else:
            parent = by_id[job.parent]
            assert (parent.config, parent.bracket, parent.rung + 1) == (job.config, job.bracket, job.rung)
            assert algo.previous_budget(job) == parent.budget
    assert algo.finite and not HyperBand(POOL, MAX_BUDGET, MIN_BUDGET, ETA).finite
    assert RandomSearch(POOL, MAX_BUDGET, 4, seed=0).finite


def test_pool_size_warning_names_what_one_iteration_draws():
    from fhbench.search.algorithms import pool_size_warning

    # R=16, eta=2: brackets draw 16 + 10 + 7 + 5 + 5 = 43 configs (nb201-search-cpu's pool had 32)
    assert HyperBand.configs_per_iteration(16, 1, 2) == 43
    assert "43" in pool_size_warning(32, 16, 1, 2) and "32" in pool_size_warning(32, 16, 1, 2)
    assert pool_size_warning(43, 16, 1, 2) is None
