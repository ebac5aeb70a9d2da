"""Does the CPU-time overhead gate of `fhbench compare` hold under load, and still catch a slowdown?

Scores the same recorded traces of a suite (default: the quickstart) once on an idle machine as the
reference, then `--rounds` times beside `--hogs` CPU-bound processes, and compares each loaded scoring
with the reference using `fhbench compare`'s default tolerances: every compare should pass. Then it
scores once with every estimator made five times slower (each fit and estimate repeated five times)
and compares that: it should fail on `overhead_ref_mean` for every estimator whose overhead is above
the gate's absolute floor (0.1 reference units). All at one torch thread, as CI scores.

    python benchmarks/overhead_gate.py --traces runs/gate/traces   # records the quickstart there first

Prints one line per compare and a summary; exits 1 if a loaded compare failed or the slowdown passed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from fhbench.engine.pipeline import open_store, record_suite, score_suite
from fhbench.inputs.data import resolve_data_dir
from fhbench.inputs.suite import load_suite
from fhbench.publish.compare import compare_files

REPO = Path(__file__).resolve().parents[1]


class FiveTimesSlower:
    """An estimator doing all its work five times over: a real slowdown."""

    def __init__(self, inner):
        self.inner, self.name, self.version = inner, inner.name, inner.version
        self.rank_only = getattr(inner, "rank_only", False)

    def fit(self, population):
        for _ in range(5):
            self.inner.fit(population)

    def estimate(self, trial):
        for _ in range(4):
            self.inner.estimate(trial)
        return self.inner.estimate(trial)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(REPO / "suites" / "quickstart.toml"))
    parser.add_argument("--traces", required=True, help="trace store root (recorded first where missing)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    suite = load_suite(args.suite)
    store = open_store(suite, args.traces)
    record_suite(suite, store, data_dir=resolve_data_dir(None), device=torch.device("cpu"), report=lambda _: None)
    out = Path(tempfile.mkdtemp(prefix="overhead-gate-"))

    def scored(name: str) -> Path:
        return score_suite(suite, store, out / name, device=torch.device("cpu"))[0]

    reference = scored("reference")
    failures = 0
    for round_ in range(args.rounds):
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
        try:
            time.sleep(0.3)
            loaded = scored(f"loaded-{round_}")
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        regressions = compare_files(reference, loaded).regressions
        failures += bool(regressions)
        print(f"loaded {round_ + 1}/{args.rounds} beside {args.hogs} hogs: "
              f"{'PASS' if not regressions else 'FAIL: ' + '; '.join(r.describe() for r in regressions)}",
              flush=True)

    import fhbench.engine.pipeline as pipeline

    real = pipeline.create_estimator
    pipeline.create_estimator = lambda *a, **k: FiveTimesSlower(real(*a, **k))
    try:
        slower = scored("slower")
    finally:
        pipeline.create_estimator = real
    caught = sorted({r.key.split()[0] for r in compare_files(reference, slower).regressions
                     if r.metric == "overhead_ref_mean"})
    print(f"every estimator 5x slower: overhead_ref_mean regressions for {', '.join(caught) or 'none'}")
    print(f"summary: {args.rounds - failures}/{args.rounds} loaded compares passed; slowdown "
          f"{'caught' if caught else 'NOT caught'}")
    return 1 if failures or not caught else 0


if __name__ == "__main__":
    sys.exit(main())
