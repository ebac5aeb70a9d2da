"""Searches end to end: `fhbench search SUITE` (replay every search of the suite on its recorded pool,
then publish the search leaderboard) and `fhbench search --live` (one search training for real, then
publish its result). The searching is `fhbench.search`'s; the boards are `fhbench.publish`'s."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from fhbench.core.errors import FhbenchError
from fhbench.estimators import available_estimators, create_estimator
from fhbench.estimators.registry import describe_estimators
from fhbench.inputs.truth import load_truth, parse_truth
from fhbench.publish.provenance import SEARCH_METRICS, environment, results_header
from fhbench.publish.search_board import publish_live, publish_search
from fhbench.record.trace import recording_summary, traces_hash
from fhbench.runtime.ray import stop_dead_run
from fhbench.search.backends.live import LiveBackend, describe_winner, live_search
from fhbench.search.backends.ray import RayLiveBackend
from fhbench.search.driver import SearchRun
from fhbench.search.pool import search_pool
from fhbench.search.run import (SearchRow, SearchSpec, estimates_document, make_algorithm, pool_warnings,
                                results_extra, search_budgets, search_suite)
from fhbench.spaces import suite_space


def publish_search_suite(suite, traces: Sequence, space, *, store_root: Path, leaderboard_root: str | Path,
                         on_step: Callable[[str], None] | None = None, device=None,
                         nb201_file: str | None = None) -> tuple[Path, list[SearchRow]]:
    """`fhbench search SUITE`: loads the suite's truth, replays every search and publishes the
    leaderboard with its estimate tables; returns (directory, rows)."""
    device = device or torch.device("cpu")
    complete = [t for t in traces if t.status == "complete"]
    if not complete:
        raise FhbenchError(f"{suite.path}: no pool trial completed: nothing to search")
    truth = load_truth(parse_truth(suite.search.truth), complete, nb201_file=nb201_file)
    outcome = search_suite(suite, traces, space, store_root=store_root, truth=truth, on_step=on_step, device=device)
    header = results_header(
        "search", suite, estimators=outcome.estimators,
        environment={**environment(str(device), torch.get_num_threads()),
                     "recording": recording_summary(traces)},
        traces_hash=traces_hash(traces), truth=outcome.truth, metrics=SEARCH_METRICS)
    sources = ", ".join(sorted({str(t.manifest.get("dataset_source")) for t in traces}))
    directory = publish_search(leaderboard_root, header, outcome.rows, results_extra(outcome, sources),
                               estimates_document(outcome, search_budgets(suite)))
    return directory, outcome.rows


def live_search_and_publish(suite, *, splits, device: torch.device, algorithm: str, estimator: str, seed: int,
                            iterations: int, leaderboard_root: str | Path, environment: dict,
                            on_note: Callable[[str], None] | None = None,
                            nb201_file: str | None = None, execution=None,
                            store=None) -> tuple[Path, SearchRun, str, dict]:
    """`fhbench search --live`: one search for real over the suite's pool, published through the
    publishing layer under `<leaderboard_root>/<suite>/live/<algorithm>-<estimator>-seed<seed>/`.
    Returns (that directory, the run, the incumbent's cell, what is known of the incumbent: see
    `describe_winner`).

    Without `execution` the search has one worker, in this process. With it (`fhbench.runtime.ray.Execution`)
    it runs on Ray (`fhbench.search.backends.ray`): `execution.workers` workers, or for a cluster
    (`execution.address`) the suite's [search] workers, holding `store` (the suite's trace store) so that
    a rerun after a killed driver stops its leftover Ray processes."""
    if suite.search is None:
        raise FhbenchError(f"{suite.path}: key 'search': expected a [search] table for `fhbench search --live`")
    space = suite_space(suite)
    pool = search_pool(suite, space)
    spec = SearchSpec.from_suite(suite)
    notes = pool_warnings(spec, pool.size)
    for text in notes:
        if on_note:
            on_note(text)
    search = make_algorithm(algorithm, pool.configs, spec, seed, max_iterations=iterations)
    registry = available_estimators()
    settings = suite.estimator_settings.get(estimator, {})
    instance = create_estimator(estimator, settings, registry=registry, device=device)
    truth_spec = parse_truth(suite.search.truth)  # its files are sealed from the estimator, as in replay
    truth_files = () if truth_spec.own_run else load_truth(truth_spec, nb201_file=nb201_file).files
    if execution is None:
        backend = LiveBackend(suite, space, splits, pool, device, estimator, instance, sealed_paths=truth_files)
        workers = 1
    else:
        workers = execution.workers if execution.workers is not None else spec.workers
        if store is not None:
            store.lock()
            stop_dead_run(store, on_note or print)
        backend = RayLiveBackend(suite, splits, pool, estimator=estimator, settings=settings,
                                 sealed_paths=truth_files, execution=execution, workers=workers,
                                 device_type=device.type, cuda_available=torch.cuda.is_available(), store=store,
                                 write_traces=False)  # the pool's trials: `fhbench record` writes their traces
    with backend as backend:
        run = live_search(search, backend, seed=seed, workers=workers, on_note=on_note)
        if run.incumbent is None:
            raise FhbenchError("the live search finished no job")
        run.notes[:0] = notes
        winner = describe_winner(suite, backend, run.incumbent, nb201_file=nb201_file)
    directory = publish_live(leaderboard_root, suite, run, pool.cells, epochs_trained=backend.epochs_trained,
                             environment=environment, winner=winner,
                             estimators=describe_estimators({estimator: instance}, registry, suite.estimator_settings))
    return directory, run, pool.cells[run.incumbent], winner


__all__ = ["live_search_and_publish", "publish_search_suite"]
