"""What the ensemble sees: correctness maps and the breakdown against the final model (thesis 3.2, 3.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fhbench.core.errors import TraceError
from fhbench.estimators.check import synthetic_population
from fhbench.estimators.fh_ensemble import FeatureHistoryEnsemble
from fhbench.publish.seen_plots import seen_files
from fhbench.score.seen import (OUTCOMES, breakdown, correctness, correctness_map, map_trials, recovered, seen_report,
                          seen_trial)
from fhbench.inputs.suite import parse_suite
from test_traces import rewrite_with_predictions

LABELS = np.array([0, 1, 2, 3, 0, 1])
CURRENT = np.array([0, 1, 0, 0, 0, 2])  # right on images 0, 1, 4
FINAL = np.array([0, 0, 2, 0, 1, 1])  # right on images 0, 2, 5


def test_breakdown_by_hand():
    # both right: 0; only current: 1, 4; only final: 2, 5; both wrong: 3
    assert breakdown(CURRENT, FINAL, LABELS) == {"both_right": 1 / 6, "only_current_right": 2 / 6,
                                                 "only_final_right": 2 / 6, "both_wrong": 1 / 6}
    assert breakdown(FINAL, FINAL, LABELS) == {"both_right": 0.5, "only_current_right": 0.0,
                                               "only_final_right": 0.0, "both_wrong": 0.5}


def test_recovered_by_hand():
    ensemble = np.array([0, 9, 2, 9, 9, 9])  # right on image 2 of the two the original misses (2, 5)
    assert recovered(CURRENT, ensemble, FINAL, LABELS) == 0.5
    assert recovered(CURRENT, LABELS, FINAL, LABELS) == 1.0
    assert math.isnan(recovered(FINAL, LABELS, FINAL, LABELS))  # the final model misses nothing of its own


def test_the_map_sorts_images_by_epochs_right_ties_in_index_order():
    labels = np.array([5, 6, 7, 8])
    predictions = np.array([[5, 6, 0, 0],   # epoch 1
                            [0, 6, 7, 0],   # epoch 2
                            [0, 6, 0, 0]])  # epoch 3: image 1 right 3 times, 0 and 2 once, 3 never
    assert correctness(predictions, labels).shape == (4, 3)
    sorted_map, order = correctness_map(predictions, labels)
    assert order.tolist() == [1, 0, 2, 3]
    np.testing.assert_array_equal(sorted_map, [[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0]])


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    root = tmp_path_factory.mktemp("seen")
    return [rewrite_with_predictions(t, root / "predicted")
            for t in synthetic_population(root / "plain", n_trials=3, budget=6)]


SUITE = {"name": "seen-test", "version": "1", "train": {"epochs": 6}, "record": {"window": 3, "predictions": True},
         "estimate": {"every": 2, "estimators": ["fh-ensemble"]}, "estimators": {"fh-ensemble": {"window": 3}}}


def test_predict_is_what_estimate_scores(population):
    for settings in ({"window": 3}, {"window": 2, "batch_size": 64}):
        estimator = FeatureHistoryEnsemble(**settings)
        for trace in population:
            for epoch in (1, 6):
                view = trace.view(epoch)
                predicted = estimator.predict(view)
                assert predicted.shape == (200,) and predicted.dtype == np.int64
                right = torch.from_numpy(predicted) == view.labels("val")
                assert estimator.estimate(view) == float(right.float().mean())  # bitwise: the same arg-max


@pytest.fixture(scope="module")
def report(population):
    return seen_report(population, parse_suite(SUITE), maps=2)


def test_the_report_compares_every_checkpoint_with_the_final_model(population, report, tmp_path):
    results, maps = report
    files = seen_files(results, maps, "seen-test 1")
    assert results["checkpoints"] == [2, 4, 6] and results["final_epoch"] == 6
    assert results["outcomes"] == list(OUTCOMES) and results["validation_images"] == 200
    assert results["ensemble"] == {"estimator": "fh-ensemble", "version": "1", "settings": {"window": 3}}
    ensemble = FeatureHistoryEnsemble(window=3)
    for trace in population:
        numbers = results["trials"][trace.trial_id]
        history, labels = trace.predictions(), trace.labels("val").numpy()
        for i, c in enumerate((2, 4, 6)):
            expected = breakdown(history[c - 1], history[-1], labels)
            assert {n: numbers["original"][n][i] for n in OUTCOMES} == expected
            predicted = ensemble.predict(trace.view(c))
            assert {n: numbers["ensemble"][n][i] for n in OUTCOMES} == breakdown(predicted, history[-1], labels)
            assert sum(numbers["ensemble"][n][i] for n in OUTCOMES) == pytest.approx(1.0)
        final_accuracy = trace.curve("val_acc")[-1]
        assert numbers["original"]["both_right"][-1] == pytest.approx(final_accuracy)
        assert numbers["original"]["only_final_right"][-1] == numbers["original"]["only_current_right"][-1] == 0
        assert math.isnan(numbers["recovered"][-1])
    for who in ("original", "ensemble"):
        mean = np.mean([results["trials"][t.trial_id][who]["only_final_right"] for t in population], axis=0)
        np.testing.assert_allclose(results["mean"][who]["only_final_right"], mean)

    best, worst = population[-1].trial_id, population[0].trial_id  # the synthetic quality rises with the index
    assert results["maps"] == {best: f"seen-{best}.png", worst: f"seen-{worst}.png"}
    assert sorted(files) == sorted(["breakdown.png", *results["maps"].values()])
    for name, draw in files.items():
        draw(tmp_path / name)
        draw(tmp_path / f"again-{name}")
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") and data == (tmp_path / f"again-{name}").read_bytes(), name


def test_map_trials_spread_over_final_accuracy(population):
    ranked = [t.trial_id for t in sorted(population, key=lambda t: -t.curve("val_acc")[-1])]
    assert map_trials(population, 3) == ranked
    assert map_trials(population, 1) == ranked[:1]
    assert map_trials(population, 0) == [] and len(map_trials(population, 9)) == 3


def test_traces_without_predictions_are_refused(tmp_path):
    plain = synthetic_population(tmp_path, n_trials=1, budget=6)
    with pytest.raises(TraceError, match="recorded without predictions.*record.predictions = true"):
        seen_report(plain, parse_suite(SUITE))
    with pytest.raises(TraceError, match="recorded without predictions"):
        seen_trial(plain[0], FeatureHistoryEnsemble(), (6,))


def test_the_numbers_survive_results_json_and_redraw(report, tmp_path):
    """results.json writes NaN as null and rounds floats: the breakdown plot and the leaderboard.md
    section are drawn from the published numbers alone."""
    import json

    from fhbench.publish.provenance import clean
    from fhbench.publish.seen_plots import plot_breakdown, seen_markdown

    results = json.loads(json.dumps(clean(report[0]), allow_nan=False))
    assert results["mean"]["recovered"][-1] is None
    plot_breakdown(results, "seen-test 1", tmp_path / "breakdown.png")
    assert (tmp_path / "breakdown.png").read_bytes().startswith(b"\x89PNG")
    lines = seen_markdown(results)
    rows = [line for line in lines if line.startswith("| 2 ") or line.startswith("| 6 ")]
    mean = report[0]["mean"]
    assert rows[0].split(" | ")[1] == f"{100 * mean['original']['both_right'][0]:.1f}"
    assert rows[1].endswith("| n/a |") and "`seen-r0-002.png`" in "\n".join(lines)


@pytest.mark.slow  # trains and scores two suites
def test_score_suite_publishes_what_the_ensemble_sees_only_when_asked(tmp_path):
    import json

    import torch

    from conftest import write_suite
    from fhbench.engine.pipeline import open_store, record_suite, score_suite
    from fhbench.inputs.suite import load_suite

    cpu = torch.device("cpu")
    outputs = {}
    for name, asked in (("seen", True), ("plain", False)):
        path = write_suite(tmp_path, name, num_samples=2, epochs=4, estimators=("original", "fh-ensemble"))
        if asked:
            path.write_text(path.read_text().replace("window = 2", "window = 2\npredictions = true", 1))
        suite = load_suite(path)
        store = open_store(suite, tmp_path / "traces")
        record_suite(suite, store, data_dir=None, device=cpu, report=lambda message: None)
        outputs[name] = score_suite(suite, store, tmp_path / "lb", device=cpu)[0]
    seen = outputs["seen"]
    results = json.loads((seen / "results.json").read_text())
    assert results["seen"]["checkpoints"] == [2, 4]
    assert (seen / "breakdown.png").is_file() and (seen / "seen-r0-000.png").is_file()
    assert "## What the ensemble sees" in (seen / "leaderboard.md").read_text()
    plain = outputs["plain"]
    assert "seen" not in json.loads((plain / "results.json").read_text())
    assert not list(plain.glob("seen-*.png")) and not (plain / "breakdown.png").exists()
    assert "## What the ensemble sees" not in (plain / "leaderboard.md").read_text()
