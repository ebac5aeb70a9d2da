"""`fhbench import` at NAS-Bench-201's size: a CSV of all 15,625 cells x 200 epochs (3,125,000 rows) in
the documented format, imported by the real command in a fresh process (interpreter and torch start-up,
parsing, checks, writing 15,625 traces, one sync, the swap and the suite file), timed on the wall clock
and in CPU time. Run twice: the second import finds the store already holding these curves, checks it
(every trial opened, its curves hashed) and leaves it.

    python benchmarks/import_curves.py --work /tmp/import-bench --out benchmarks/results/import_curves.json

The curves are synthetic, drawn here with numpy (a rise to a per-cell plateau, noise, losses that fall
with the accuracy): what is measured is reading, checking and writing, which depend on the file's size
and shape, not on its values. The CSV (about 420 MB) and the traces (about 94,000 files) stay in --work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fhbench.spaces.nb201 import NUM_CELLS, Nb201Cell

EPOCHS = 200
HEADER = "arch,epoch,train_acc,train_loss,val_acc,val_loss,test_acc\n"


def write_csv(path: Path, cells: int = NUM_CELLS, epochs: int = EPOCHS, seed: int = 0) -> int:
    """All cells' curves, one row per (cell, epoch), in cell order; returns the number of rows."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1)
    with open(path, "w") as handle:
        handle.write(HEADER)
        for index in range(cells):
            arch = str(Nb201Cell.from_index(index))
            final = rng.uniform(0.1, 0.94)
            val = np.clip(final * (1 - 0.6 * np.exp(-t / rng.uniform(2, 20))) + rng.normal(0, 0.01, epochs), 0, 1)
            train = np.clip(val + 0.02 + rng.normal(0, 0.003, epochs), 0, 1)
            test = np.clip(val + rng.normal(0, 0.004, epochs), 0, 1)
            train_loss, val_loss = 2.3 * (1 - train) + 0.01, 2.3 * (1 - val) + 0.05
            handle.write("".join(f"{arch},{e},{a:.5f},{b:.5f},{c:.5f},{d:.5f},{f:.5f}\n" for e, a, b, c, d, f
                                 in zip(t, train, train_loss, val, val_loss, test)))
    return cells * epochs


def timed_import(csv: Path, traces: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fhbench", "import", str(csv), "--name", "nb201-synthetic",
                           "--traces", str(traces)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"fhbench import failed ({done.returncode}): {done.stderr.strip()}")
    return {"wall_s": round(wall, 1), "user_s": round(after.ru_utime - before.ru_utime, 1),
            "system_s": round(after.ru_stime - before.ru_stime, 1), "max_rss_mib": round(after.ru_maxrss / 1024),
            "load_before": round(load, 2), "output": done.stdout.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="folder for the CSV and the traces")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    csv = args.work / "nb201-synthetic.csv"
    start = time.perf_counter()
    rows = write_csv(csv)
    print(f"wrote {csv}: {rows:,} rows, {csv.stat().st_size:,} bytes in {time.perf_counter() - start:.0f} s")
    runs = []
    for round_ in range(2):
        runs.append(timed_import(csv, args.work / "traces"))
        print(f"import {round_ + 1}: {runs[-1]}")
    result = {"rows": rows, "bytes": csv.stat().st_size, "cpus": os.cpu_count(), "runs": runs,
              "date": time.strftime("%Y-%m-%d")}
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
