"""A board's per-trial estimates in estimates.csv read back exactly as results.json would have held them."""

from __future__ import annotations

import json
import math

from fhbench.publish.board_files import ESTIMATES_FILE, read_results, render_estimates_csv
from fhbench.publish.provenance import clean


def test_estimates_round_trip_through_their_csv(tmp_path):
    estimates = [{"estimator": "lcnet", "repeat": 0, "budget": 4, "checkpoint": 2, "trial_id": "r0-000-b004",
                  "config": "|cell|", "estimate": 0.1 + 0.2, "overhead_s": 1 / 3, "overhead_cpu_s": math.nan,
                  "reference_cpu_s": 0.0123456789012},
                 {"estimator": "sotl", "repeat": 1, "budget": 4, "checkpoint": 4, "trial_id": "r1-003-b004",
                  "config": "|other|", "estimate": None, "overhead_s": 2e-7, "overhead_cpu_s": 1e-7,
                  "reference_cpu_s": 0.01}]
    (tmp_path / ESTIMATES_FILE).write_text(render_estimates_csv(estimates))
    (tmp_path / "results.json").write_text(json.dumps({
        "estimates_file": ESTIMATES_FILE, "configs": {e["trial_id"]: e["config"] for e in estimates}}))
    assert read_results(tmp_path)["estimates"] == clean(estimates)  # None for NaN, 10 significant digits
