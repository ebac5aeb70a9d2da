"""`fhbench compare --statistical`: boards recorded on different runs are compared by a paired bootstrap
over the cells both scored; a regression is a difference whose 95% interval lies wholly on the worse side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from conftest import REPO, cli

BOARD = REPO / "leaderboard" / "nb201-cpu" / "2"


def _copy(tmp_path: Path, name: str, change=None) -> Path:
    target = tmp_path / name
    shutil.copytree(BOARD, target)
    if change is not None:
        results = json.loads((target / "results.json").read_text())
        change(results)
        (target / "results.json").write_text(json.dumps(results))
    return target


def _recorded_again(seed: int):
    """As if the suite were recorded again: every estimate and truth moves a little, none systematically
    (both boards of a comparison are such re-recordings of one board)."""
    rng = np.random.default_rng(seed)

    def change(results):
        rank_only = {row["estimator"] for row in results["rows"] if row.get("rank_only")}
        for entry in results["estimates"]:
            if entry["estimate"] is None:
                continue
            if entry["estimator"] in rank_only:  # scores of any scale: move them in proportion
                entry["estimate"] = entry["estimate"] * (1 + rng.normal(0, 0.01))
            else:
                entry["estimate"] = float(np.clip(entry["estimate"] + rng.normal(0, 0.005), 0, 1))
        results["truths"] = {k: float(np.clip(v + rng.normal(0, 0.005), 0, 1)) for k, v in results["truths"].items()}
    return change


def test_noise_is_not_a_regression_and_a_broken_estimator_is(tmp_path, capsys):
    old = _copy(tmp_path, "old", _recorded_again(1))
    code, out, err = cli(capsys, "compare", old, _copy(tmp_path, "noisy", _recorded_again(2)), "--statistical")
    assert code == 0, out + err
    assert "0 regression(s)" in out and "sotl-e epoch 20 mae" not in out  # rank-only: no MAE

    rng = np.random.default_rng(3)

    def broken(results):  # recorded again, and sotl-e now ranks at random
        _recorded_again(2)(results)
        for entry in results["estimates"]:
            if entry["estimator"] == "sotl-e":
                entry["estimate"] = float(rng.uniform())

    code, out, err = cli(capsys, "compare", old, _copy(tmp_path, "broken", broken), "--statistical")
    assert code == 1, out + err
    flagged = [line for line in out.splitlines() if line.endswith("worse")]
    assert flagged and all(line.startswith("sotl-e ") and "kendall_tau" in line for line in flagged), flagged


def test_boards_of_other_cells_cannot_be_paired(tmp_path, capsys):
    def other_cells(results):
        results["truths"] = {f"x{key}": value for key, value in results["truths"].items()}

    code, _, err = cli(capsys, "compare", _copy(tmp_path, "a"), _copy(tmp_path, "b", other_cells), "--statistical")
    assert code == 2 and "share 0 scored cells" in err and "Traceback" not in err
