"""What the statistics cost: `score_board` on a scored board's own estimates with the default paired
bootstrap (B = `fhbench.score.stats.DEFAULT_RESAMPLES`, 4,000) against the same scoring with the bootstrap cut to two resamples, beside the wall
time `fhbench score` took for that board (given, as measured with `time`).

    /usr/bin/time fhbench score suites/nb201-cpu.toml --threads 1 --leaderboard runs/bench
    python benchmarks/statistics_cost.py runs/bench/nb201-cpu/3 --score-seconds <the wall time above>
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from fhbench.publish.board_files import read_results
from fhbench.score.metrics import BootstrapSettings, score_board
from fhbench.score.published import published_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("board", help="a scored estimation board (results schema 3)")
    parser.add_argument("--score-seconds", type=float, required=True, help="the wall time of its `fhbench score`")
    args = parser.parse_args()
    results = read_results(Path(args.board))  # results.json with its estimates.csv
    records = published_records(results)
    truths = {t: float(v) for t, v in results["truths"].items()}
    times = {t: math.nan if v is None else float(v) for t, v in results["epoch_times"].items()}
    rank_only = frozenset(r["estimator"] for r in results["rows"] if r.get("rank_only"))
    epochs = int(results["suite_settings"]["train"]["epochs"])
    seconds = {}
    full = f"B={BootstrapSettings().n_resamples:,}"
    for label, settings in ((full, BootstrapSettings()), ("B=2", BootstrapSettings(n_resamples=2))):
        start = time.perf_counter()
        score_board(records, truths, times, epochs, rank_only, bootstrap=settings)
        seconds[label] = time.perf_counter() - start
    added = seconds[full] - seconds["B=2"]
    print(f"{args.board}: {len(records)} estimates; scoring with {full} {seconds[full]:.2f} s, with B=2 "
          f"{seconds['B=2']:.2f} s: the statistics add {added:.2f} s, {100 * added / args.score_seconds:.1f}% of "
          f"the {args.score_seconds:.0f} s `fhbench score` took")


if __name__ == "__main__":
    main()
