"""Average ranks across boards, the Friedman test and the critical-difference diagram: drawn over the
(suite, checkpoint) blocks of latest boards with intervals and at least 20 cells per repeat, only where
there are at least 5 blocks, saying that one board's checkpoints share their cells."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from fhbench.publish.critical_difference import rank_summary, summary_lines
from conftest import rescore_with_intervals
from fhbench.publish.site import build_site
from fhbench.score.stats import friedman_nemenyi

REPO = Path(__file__).resolve().parents[1]


def _with_intervals(target: Path) -> dict:
    """nb201-cpu/2 (30 cells per repeat) scored again with intervals, as results schema 3."""
    shutil.copytree(REPO / "leaderboard" / "nb201-cpu" / "2", target)
    return rescore_with_intervals(target)[0]


def test_five_checkpoints_of_a_board_with_intervals_are_ranked_and_drawn(tmp_path):
    results = _with_intervals(tmp_path / "boards" / "nb201-cpu" / "2")
    summary = rank_summary([("nb201-cpu", results, results["rows"])])
    assert summary.blocks == tuple(f"nb201-cpu@{e}" for e in (10, 15, 2, 20, 5))  # sorted as text
    tau = {(r["estimator"], r["epoch"]): r["kendall_tau_mean"] for r in results["rows"]}
    names = sorted({r["estimator"] for r in results["rows"]})
    expected = friedman_nemenyi(np.array([[tau[(n, e)] for n in names] for e in (10, 15, 2, 20, 5)]), names)
    assert summary.result == expected
    text = summary_lines(summary)[0]
    assert f"Friedman p = {expected.friedman_p:.3g}" in text and "share their cells" in text
    index = build_site(tmp_path / "boards", tmp_path / "site")
    assert (tmp_path / "site" / "critical-difference.png").read_bytes().startswith(b"\x89PNG")
    assert "critical-difference.png" in index.read_text()


def test_too_few_cells_or_blocks_draw_nothing_and_say_why(tmp_path):
    results = _with_intervals(tmp_path / "board")
    few = {**results, "statistics": {**results["statistics"], "checkpoints": [
        {**c, "cells_per_repeat": [12, 12]} for c in results["statistics"]["checkpoints"]]}}
    summary = rank_summary([("small", few, few["rows"])])
    assert summary.result is None and summary.left_out == ("small: 12 cells per repeat, fewer than 20",)
    four = [r for r in results["rows"] if r["epoch"] != 20]
    summary = rank_summary([("nb201-cpu", results, four)])
    assert summary.result is None and "4 block(s) qualify, fewer than 5" in summary_lines(summary)[0]
    old = {k: v for k, v in results.items() if k != "statistics"}
    assert rank_summary([("old", old, old["rows"])]).left_out == ("old: published without intervals",)


def test_an_older_version_says_what_superseded_it(tmp_path):
    for version in ("1", "2"):
        shutil.copytree(REPO / "leaderboard" / "nb201-cpu" / version, tmp_path / "boards" / "nb201-cpu" / version)
    build_site(tmp_path / "boards", tmp_path / "site")
    old = (tmp_path / "site" / "nb201-cpu" / "1" / "index.html").read_text()
    assert 'Superseded by <a href="../2/index.html">version 2</a>' in old
    assert "Superseded" not in (tmp_path / "site" / "nb201-cpu" / "2" / "index.html").read_text()
