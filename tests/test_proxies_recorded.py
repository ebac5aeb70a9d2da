"""Zero-cost proxies through the recorder, the trace, the view, scoring and preflight: computed once per
trial when `record.proxies = true`, training bitwise unchanged, scored on rank correlations only, and
charged their recorded cost."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import assert_one_line_error, cli, record_traces, write_suite
from fhbench.engine.pipeline import score_suite
from fhbench.record.proxies import PROXIES
from fhbench.inputs.suite import load_suite
from test_record import _trace_arrays

CPU = torch.device("cpu")


def _with_proxies(path, estimators='["original", "synflow", "snip", "grad-norm", "naswot"]'):
    text = path.read_text().replace("window = 2", "window = 2\nproxies = true", 1)
    text = text.replace(text[text.index("estimators = ["):text.index("]", text.index("estimators = [")) + 1],
                        f"estimators = {estimators}")
    path.write_text(text)
    return path


def test_proxies_are_recorded_and_leave_training_bitwise_unchanged(tmp_path):
    plain = load_suite(write_suite(tmp_path, "plain", num_samples=1, epochs=2))
    with_proxies = load_suite(_with_proxies(write_suite(tmp_path, "prox", num_samples=1, epochs=2)))
    assert plain.record_hash != with_proxies.record_hash  # the traces differ: they carry the proxies
    a, b = record_traces(plain, tmp_path / "a"), record_traces(with_proxies, tmp_path / "b")
    for trial_id in a.trial_ids():
        x, y = a.open(trial_id), b.open(trial_id)
        assert x.proxies is None and "proxies" not in x.manifest
        stored = y.proxies
        assert set(stored.values) == set(PROXIES) and not stored.errors
        assert all(math.isfinite(v) for v in stored.values.values())
        assert all(s > 0 for s in stored.seconds.values())
        ax, ay = _trace_arrays(x), _trace_arrays(y)
        for key in ax:
            np.testing.assert_array_equal(ax[key], ay[key], err_msg=f"{trial_id} {key}")
        view = y.view(2)
        assert view.proxies == stored.values and view.proxy_seconds == stored.seconds
        y.verify()


def test_a_stored_proxy_that_is_not_a_number_is_a_corrupt_trace(tmp_path):
    from fhbench.core.errors import TraceError
    from fhbench.record.format import manifest_digest
    from fhbench.record.trace import TrialTrace

    suite = load_suite(_with_proxies(write_suite(tmp_path, num_samples=1, epochs=2)))
    trace = record_traces(suite, tmp_path / "t").open("r0-000")
    manifest = json.loads((trace.path / "manifest.json").read_text())
    manifest["proxies"]["values"]["synflow"] = "huge"
    del manifest["manifest_sha256"]
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (trace.path / "manifest.json").write_text(json.dumps(manifest))
    try:
        TrialTrace(trace.path)
    except TraceError as err:
        assert "proxies" in str(err)
    else:
        raise AssertionError("a corrupt proxy value was accepted")


@pytest.mark.slow  # trains four networks and scores them
def test_proxies_are_scored_on_rank_correlations_and_charged_their_recorded_cost(tmp_path):
    every = json.dumps(["original", *PROXIES])
    suite = load_suite(_with_proxies(write_suite(tmp_path, num_samples=4, epochs=2), estimators=every))
    store = record_traces(suite, tmp_path / "t")
    out = score_suite(suite, store, tmp_path / "lb", device=CPU)[0]
    results = json.loads((out / "results.json").read_text())
    rows = {(r["estimator"], r["epoch"]): r for r in results["rows"]}
    seconds = {t: store.open(t).proxies.seconds for t in store.trial_ids()}
    for name in PROXIES:
        row = rows[(name, 2)]
        assert row["rank_only"] and row["mae_mean"] is None and row["n_failed"] == 0
        assert math.isfinite(row["kendall_tau_mean"])
        recorded = np.mean([seconds[t][name] for t in seconds])
        assert recorded <= row["overhead_s_mean"] < recorded + 0.05  # the recording's cost, plus a lookup
        assert row["overhead_ref_mean"] is None  # CPU time of the recording is not known
        assert results["estimators"][name]["rank_only"] is True
    assert not rows[("original", 2)]["rank_only"] and rows[("original", 2)]["mae_mean"] is not None
    board = (out / "leaderboard.md").read_text()
    assert f"MAE n/a: {', '.join(sorted(PROXIES))} rank(s)" in board


def test_a_proxy_estimator_without_recorded_proxies_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_suite(tmp_path, num_samples=1, epochs=2, estimators=("original", "synflow"))
    assert_one_line_error(cli(capsys, "run", str(path)), "estimator 'synflow'", "record.proxies = true")
    assert not (tmp_path / "traces").exists()


def test_a_failed_proxy_is_charged_its_recorded_cost_too(tmp_path):
    from fhbench.estimators.harness import fit_and_estimate
    from fhbench.estimators.check import synthetic_population

    class Failing:
        name, version, rank_only = "failing", "1", True

        def fit(self, population):
            pass

        def estimate(self, trial):
            raise ValueError("the proxy failed at recording")

        def recorded_cost_s(self, trial):
            return 2.5

    views = [t.view(4) for t in synthetic_population(tmp_path, n_trials=2)]
    for record in fit_and_estimate("failing", Failing(), views, views, repeat=0, checkpoint=4):
        assert record.estimate is None and "the proxy failed" in record.error
        assert 2.5 <= record.overhead_s < 2.6 and math.isnan(record.overhead_cpu_s)
