"""Choose fh-ridge's ridge penalty `alpha` on one suite's traces, to use it on another: a setting chosen on
the board it is scored on would flatter it. The default choice is made on the quickstart (digits), and
used on nb201-cpu (CIFAR-10): no cell, image or network in common.

    fhbench record suites/quickstart.toml --traces runs/choose/traces
    python benchmarks/choose_fh_ridge_alpha.py suites/quickstart.toml --traces runs/choose/traces

Prints the mean Kendall tau over the suite's checkpoints and repeats for each alpha; the best is the choice.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from fhbench.engine.pipeline import load_traces, open_store
from fhbench.estimators import create_estimator
from fhbench.estimators.harness import run_estimators
from fhbench.inputs.suite import load_suite
from fhbench.score.metrics import score

ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--traces", required=True)
    parser.add_argument("--window", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    suite = load_suite(args.suite)
    traces = [t for t in load_traces(suite, open_store(suite, args.traces)) if t.status == "complete"]
    truths = {t.trial_id: float(t.test_curve()[-1]) for t in traces}
    for alpha in ALPHAS:
        estimator = create_estimator("fh-ridge", {"window": args.window, "alpha": alpha})
        records = run_estimators({"fh-ridge": estimator}, traces, suite.checkpoints)
        rows = score(records, truths, dict.fromkeys(truths, math.nan), suite.train.epochs)
        taus = [r.kendall_tau_mean for r in rows]
        print(f"alpha {alpha:g}: mean Kendall tau {np.mean(taus):.4f} over epochs "
              f"{', '.join(f'{r.epoch}: {r.kendall_tau_mean:.3f}' for r in rows)}")


if __name__ == "__main__":
    main()
