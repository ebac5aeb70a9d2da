"""Predicted recording wall time and disk of a full-scale suite on 1, 8 and 32 GPUs.

A prediction, not a measurement: it multiplies what the suite file asks for (trials, epochs, images,
kept feature epochs) by a throughput figure you give. Wall time counts recording only (training,
validation and test passes); scoring is separate (`overhead.py` measures it per estimate).

The model, per GPU holding W trials at once with an aggregate training rate of R images/s:
- a trial's seconds = (training images / (R / W)) + (evaluated images / (3 R / W)): a validation or
  test pass is forward-only, taken as a third of a training step per image (an assumption);
- trials run in waves of W x GPUs: wall time = ceil(trials / (W x GPUs)) x one trial's seconds.
Disk is `fhbench.record.size.trial_bytes`, what `fhbench record` checks against the free disk before it
starts: every kept epoch's training (`record.train_subset` images) and validation features at
`record.precision` (exact), per-epoch classifiers and curves, labels, and each file's own headers.

A declared search suite (darts, resnet_scaling, randaugment) plans no trials: its searches train what
they draw. Its disk is an upper bound: every search's configurations with the epochs HyperBand's plan
trains them to (random search: its configurations to the maximal budget), at the widest features a
target's configurations can have, as if no two searches trained the same configuration (a shared one
is stored once), and at most every configuration of a target at the maximal budget; its "trials" are
those draws. Wall time is left out for these suites (it depends on
the networks drawn).

    python benchmarks/predict_scale.py suites/nb201.toml suites/nb201-search.toml \
        --rate 1:12100 --rate 8:24500 --gpus 1,8,32

The default rates are the ones issue 8 reports for one H100 (C=16 N=5 cells, batch 256, fp32: 12,100
images/s for one process, 24,500 together for 8 processes); they are not fhbench's own measurements.
Replace them with `benchmarks/gpu_recording.py`'s figures once a GPU run exists.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fhbench.spaces import suite_space  # noqa: E402
from fhbench.record.size import trial_bytes  # noqa: E402
from fhbench.record.train import plan_trials  # noqa: E402
from fhbench.inputs.suite import load_suite  # noqa: E402

OFFICIAL_TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000}
FORWARD_SHARE = 1 / 3  # a forward-only pass per image, against a training step


def _widest(space) -> int:
    """The widest features any configuration of a declared space can have."""
    if hasattr(space, "width_factors"):  # resnet_scaling: the last stage at its largest width factor
        return space.channels(space.parse("d1-1-1-1_w1-1-1-" + f"{max(space.width_factors):g}"))[-1]
    return space.feature_dim


def declared_figures(suite) -> dict:
    """Draws and an upper bound on disk of a declared search suite (the module docstring)."""
    from fhbench.search.algorithms import HyperBand
    from fhbench.spaces import targets

    s, epochs = suite.search, suite.train.epochs
    plan = HyperBand.brackets(epochs, s.min_budget, s.eta)
    iterations = s.iterations or 1
    draws, disk = 0, 0
    for _, space in targets(suite):
        dim = _widest(space)
        target_disk = 0
        for algorithm in s.algorithms:
            if algorithm == "random":
                reached = [epochs] * s.random_configs
            else:  # n_i - n_{i+1} configs of a bracket stop at rung i's budget
                reached = [budget for rungs in plan for i, (n, budget) in enumerate(rungs)
                           for _ in range(n - (rungs[i + 1][0] if i + 1 < len(rungs) else 0))] * iterations
            searches = len(s.estimators) * s.seeds
            draws += searches * len(reached)
            target_disk += searches * sum(trial_bytes(suite, e, dim) for e in reached)
        # no more traces than the target has configurations (RandAugment's 93 per network)
        disk += min(target_disk, math.prod(space.cardinalities) * trial_bytes(suite, epochs, dim))
    return {"suite": suite.name, "trials": draws, "epochs": epochs, "disk_bytes": disk, "declared": True}


def suite_figures(path: str) -> dict:
    suite = load_suite(path)
    from fhbench.engine.declared import is_declared

    if is_declared(suite):
        return declared_figures(suite)
    space = suite_space(suite)
    planned = plan_trials(suite, space)
    trials = len(planned)
    dims = [space.feature_dim_of(space.parse(trial.config)) for trial in planned]  # per network in space cnn
    epochs, data = suite.train.epochs, suite.data
    test_images = data.test_size or OFFICIAL_TEST_IMAGES.get(data.dataset, 0)
    tests = len(set(suite.checkpoints) | {epochs}) if suite.train.record_test else 0
    per_trial = [trial_bytes(suite, trial.epochs(suite), dim) for trial, dim in zip(planned, dims)]
    trial_epochs = [trial.epochs(suite) for trial in planned]  # train.budgets: each network once per budget
    return {"suite": suite.name, "trials": trials, "epochs": max(trial_epochs),
            "train_images": sum(trial_epochs) * data.train_size,
            "eval_images": sum(trial_epochs) * data.val_size + trials * tests * test_images,
            "disk_bytes": sum(per_trial)}


def wall_seconds(figures: dict, rate: float, per_gpu: int, gpus: int) -> float:
    per_trial_rate = rate / per_gpu
    trial = (figures["train_images"] + figures["eval_images"] * FORWARD_SHARE) / figures["trials"] / per_trial_rate
    return math.ceil(figures["trials"] / (per_gpu * gpus)) * trial


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+")
    parser.add_argument("--rate", action="append", default=None, metavar="W:IMAGES_PER_S",
                        help="trials per GPU and their aggregate training images/s (default: 1:12100, 8:24500)")
    parser.add_argument("--gpus", default="1,8,32")
    args = parser.parse_args(argv)
    rates = [(int(w), float(r)) for w, r in (item.split(":") for item in (args.rate or ["1:12100", "8:24500"]))]
    gpus = [int(g) for g in args.gpus.split(",")]
    header = ["suite", "trials x epochs", "disk", "trials per GPU (images/s per GPU)"] + [f"{g} GPU(s)" for g in gpus]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for path in args.suites:
        f = suite_figures(path)
        if f.get("declared"):
            cells = [f["suite"], f"{f['trials']} draws x up to {f['epochs']}", f"<= {f['disk_bytes'] / 1e9:.1f} GB",
                     "(depends on the networks drawn)"] + ["" for _ in gpus]
            print("| " + " | ".join(cells) + " |")
            continue
        for per_gpu, rate in rates:
            cells = [f["suite"], f"{f['trials']} x {f['epochs']}", f"{f['disk_bytes'] / 1e9:.0f} GB",
                     f"{per_gpu} ({rate:,.0f})"] + [hours(wall_seconds(f, rate, per_gpu, g)) for g in gpus]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
