"""The leaderboard table of a declared search suite (`fhbench.publish.declared_board`) and the records of finished
searches it is made from (`fhbench.engine.declared`), on hand-written records."""

from __future__ import annotations

import json
import math

import pytest

from conftest import REPO
from fhbench.engine.declared import PlannedSearch, read_record, write_record
from fhbench.publish.declared_board import method_name, render_markdown, summarise


def _record(seed, acc, *, source="live", estimator="fh-ensemble", incumbent="a", jobs=(("a", 1), ("a", 2)),
            target="t", unrecorded=0, wall=10.0):
    return {"record_schema": 1, "search_key": "h", "source": source, "target_index": 0, "target": target,
            "algorithm": "hyperband", "estimator": estimator, "seed": seed, "workers": 4, "incumbent": incumbent,
            "true_acc": acc, "true_acc_missing": None if acc is not None else "it was trained to 1 of 2 epochs",
            "wall_s": wall if source == "live" else None, "clock_s": 86400.0, "jobs": len(jobs), "failed_jobs": 0,
            "unrecorded_jobs": unrecorded, "job_list": [{"config": c, "budget": b} for c, b in jobs],
            "size": {"params": 1_000_000 * (seed + 1), "macs": 2_000_000_000}}


def test_rows_average_over_seeds_with_a_truth_and_count_the_others():
    records = [_record(0, 0.80), _record(1, 0.90), _record(2, None)]
    (row,) = summarise(records)
    assert (row.seeds, row.seeds_with_truth) == (3, 2)
    assert row.true_acc_mean == pytest.approx(0.85)
    assert row.true_acc_std == pytest.approx(0.05)
    assert row.device_days_mean == pytest.approx(4.0)  # one day on the clock x 4 workers
    assert (row.params_mean, row.params_std) == (2_000_000, pytest.approx(816_496.58, rel=1e-6))
    assert (row.macs_mean, row.macs_std) == (2_000_000_000, 0.0)
    assert row.wall_s_mean == pytest.approx(10.0)
    assert row.agrees_with_live is None


def test_a_replayed_row_says_on_how_many_seeds_it_made_the_live_search_s_decisions():
    live = [_record(0, 0.8), _record(1, 0.9)]
    replayed = [_record(0, 0.8, source="replayed"),  # same jobs and incumbent
                _record(1, 0.9, source="replayed", jobs=(("a", 1), ("b", 2)))]  # another promotion
    reordered = _record(0, 0.8, source="replayed", jobs=(("a", 2), ("a", 1)))  # same jobs, finishing otherwise
    assert summarise(live + [reordered])[1].agrees_with_live == "1/1"
    rows = summarise(live + replayed)
    assert [r.source for r in rows] == ["live", "replayed"]
    assert rows[1].agrees_with_live == "1/2"
    assert rows[1].wall_s_mean is None
    other = summarise([_record(0, 0.8, source="replayed", estimator="original", unrecorded=3)])[0]
    assert other.agrees_with_live is None and other.unrecorded_jobs == 3  # nothing live to compare with


def test_no_seed_with_a_truth_gives_nan_not_zero():
    (row,) = summarise([_record(0, None)])
    assert math.isnan(row.true_acc_mean) and row.seeds_with_truth == 0


def test_method_names_follow_the_thesis_tables():
    assert method_name("hyperband", "original") == "HyperBand"
    assert method_name("bohb", "fh-ensemble") == "BOHB + fh-ensemble"


def test_markdown_has_one_table_per_target_and_the_winners():
    records = [_record(0, 0.8), _record(0, 0.7, target="u") | {"target_index": 1}]
    rows = [r.as_dict() for r in summarise(records)]
    meta = {"suite": {"name": "s", "version": "1", "description": "d"}, "device_days_unit": "CPU-days",
            "truth": {"spec": "final_test_acc"}, "suite_settings": {"train": {"epochs": 4}},
            "targets": [{"label": "t"}, {"label": "u"}], "rows": rows,
            "winners": [{"target": "t", "algorithm": "hyperband", "estimator": "fh-ensemble", "seed": 0,
                         "incumbent": "a", "true_acc": 0.8, "true_acc_missing": None,
                         "size": {"params": 1_500_000, "macs": 2_000_000_000}}]}
    text = render_markdown(meta)
    assert "## t" in text and "## u" in text
    # one seed: no interval over seeds, said so
    assert "| HyperBand + fh-ensemble | live | 80.0 [n/a] | 1/1 | 1.000 ± 0.000 | 2.0000 ± 0.0000 |" in text
    assert "| 70.0 [n/a] |" in text
    meta["searches"] = [{"target": "t", "algorithm": "hyperband", "estimator": "fh-ensemble", "source": "live",
                         "true_acc": acc} for acc in (0.78, 0.80, 0.82)]
    assert "| HyperBand + fh-ensemble | live | 80.0 [75.0, 85.0] | 1/1 |" in render_markdown(meta)
    assert "| `a` | 80.00 | 1.500 | 2.0000 |" in text


def test_a_search_record_is_used_only_for_the_settings_it_was_written_for(tmp_path):
    planned = PlannedSearch(0, "t", "hyperband", "fh-ensemble", 0)
    assert read_record(tmp_path, planned, "h") == (None, None)
    write_record(tmp_path, planned, _record(0, 0.8))
    record, problem = read_record(tmp_path, planned, "h")
    assert problem is None and record["true_acc"] == 0.8
    record, problem = read_record(tmp_path, planned, "other")
    assert record is None and "other suite settings" in problem
    other = PlannedSearch(0, "t", "hyperband", "fh-ensemble", 1)  # same file name would be another seed
    (tmp_path / "searches" / f"{other.name}.search.json").write_text(json.dumps(_record(0, 0.8)))
    record, problem = read_record(tmp_path, other, "h")
    assert record is None and "another search" in problem
    (tmp_path / "searches" / f"{planned.name}.search.json").write_text('{"record_schema": 1, "suite_')  # torn
    record, problem = read_record(tmp_path, planned, "h")
    assert record is None and "not a readable search record" in problem
    assert not list((tmp_path / "searches").glob(".*.tmp"))  # the staged file was renamed, not left


def test_a_search_s_key_ignores_replay_settings_and_follows_what_the_live_search_depends_on():
    import dataclasses

    from fhbench.engine.declared import search_key
    from fhbench.inputs.suite import load_suite

    suite = load_suite(REPO / "suites" / "darts-cpu.toml")
    planned = PlannedSearch(0, "darts", "hyperband", "fh-ensemble", 0)
    key = search_key(suite, planned)
    replayed = dataclasses.replace(suite, search=dataclasses.replace(suite.search, replay_estimators=("sotl",),
                                                                     replay_algorithms=("bohb",)))
    assert search_key(replayed, planned) == key  # a new replay does not rerun the live searches
    other_lr = dataclasses.replace(suite, train=dataclasses.replace(suite.train, lr=0.05))
    assert search_key(other_lr, planned) != key  # another recording: another search
    assert search_key(suite, PlannedSearch(0, "darts", "hyperband", "fh-ensemble", 1)) != key
    other_eta = dataclasses.replace(suite, search=dataclasses.replace(suite.search, eta=3))
    assert search_key(other_eta, planned) != key


def test_estimators_cannot_open_a_search_record_it_holds_the_winner_s_accuracy(tmp_path):
    from fhbench.core.seal import TruthAccessError, sealed

    planned = PlannedSearch(0, "t", "hyperband", "fh-ensemble", 0)
    path = write_record(tmp_path, planned, _record(0, 0.8))
    assert path.name.endswith(".search.json")
    with sealed(), pytest.raises(TruthAccessError):
        path.read_text()
    link = tmp_path / "innocent.txt"
    link.symlink_to(path)
    with sealed(), pytest.raises(TruthAccessError):
        link.read_text()
    assert json.loads(path.read_text())["true_acc"] == 0.8  # outside the seal it reads
