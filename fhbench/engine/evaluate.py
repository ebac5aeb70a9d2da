"""`fhbench evaluate SUITE GENOTYPE`: a DARTS genotype retrained at evaluation scale (Table 4.2, appendix A.4).

As DARTS evaluates a searched cell: the network is enlarged to the suite's [evaluate] scale (A.4: 36
channels, 22 cells; defaults of `fhbench.inputs.suite.EvaluateSettings`) and trained from scratch on the suite's
train split for [evaluate] epochs (600) at batch 96, SGD with lr 0.025 linear to zero, momentum 0.9,
weight decay 3e-4, path dropout raised linearly to 0.2 and the auxiliary tower's loss at weight 0.4, with
the suite's data.augment ("crop-flip-cutout" is DARTS's Cutout recipe). The reported figure is the test
error of the last epoch on the suite's test split, mean and std over [evaluate] seeds runs, beside the
parameter count without the auxiliary tower (as DARTS counts it) and the search cost in device-days
(`--search-seconds` x `--search-workers` / 86400: GPU-days when the command runs on CUDA, else CPU-days).

The training loop is the recorder's (`fhbench.record.train.train_trial`, without feature capture), on a copy of
the suite whose space and train settings are the evaluation ones. Importing this module imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from fhbench.core.atomic import write_file
from fhbench.core.errors import ConfigError, FhbenchError
from fhbench.inputs.suite import EvaluateSettings, Suite

SECONDS_PER_DAY = 86_400


def settings_of(suite: Suite) -> EvaluateSettings:
    """The suite's [evaluate] settings, or A.4's defaults where it has no [evaluate] table."""
    return suite.evaluate or EvaluateSettings()


def evaluation_suite(suite: Suite) -> Suite:
    """The suite with its space and training replaced by the evaluation ones: one run to [evaluate]
    epochs, the test split measured at its end only, nothing recorded."""
    if suite.space.name != "darts":
        raise FhbenchError(f"{suite.path}: `fhbench evaluate` retrains DARTS genotypes: the suite's space is "
                           f"{suite.space.name}, not darts")
    ev = settings_of(suite)
    space = replace(suite.space, channels=ev.channels, num_cells=ev.cells, auxiliary=ev.auxiliary,
                    drop_path=ev.drop_path, cells=(), num_samples=1)
    train = replace(suite.train, epochs=ev.epochs, batch_size=ev.batch_size, lr=ev.lr, momentum=ev.momentum,
                    weight_decay=ev.weight_decay, lr_schedule="linear", record_test=True, budgets=(),
                    lr_per_model=())
    record = replace(suite.record, proxies=False, predictions=False)
    estimate = replace(suite.estimate, checkpoints=(ev.epochs,), repeats=1)
    return replace(suite, space=space, train=train, record=record, estimate=estimate, search=None)


def parse_genotype(suite: Suite, text: str):
    """(evaluation space, genotype): a genotype that does not parse is a one-line ConfigError."""
    from fhbench.spaces import image_shape, make_space

    eval_suite = evaluation_suite(suite)
    space = make_space(eval_suite.space, suite.path, *image_shape(suite.data))
    try:
        genotype = space.parse(text.strip())
    except ConfigError as err:
        raise ConfigError(" ".join(f"GENOTYPE: {err}".split())) from None
    return space, genotype


def genotype_id(genotype) -> str:
    """The first 12 hex digits of the SHA-256 of the canonical genotype string."""
    return hashlib.sha256(str(genotype).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SearchCost:
    seconds: float
    workers: int
    unit: str  # "GPU-days" or "CPU-days"

    @property
    def days(self) -> float:
        return self.seconds * self.workers / SECONDS_PER_DAY

    def as_dict(self) -> dict:
        return {"seconds": self.seconds, "workers": self.workers, "days": self.days, "unit": self.unit}


def search_cost(seconds: float | None, workers: int | None, device_type: str) -> SearchCost | None:
    """Device-days of a search that ran `seconds` of wall time on `workers` devices; None without seconds."""
    if seconds is None:
        if workers is not None:
            raise FhbenchError("--search-workers: needs --search-seconds (the search's wall time)")
        return None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise FhbenchError(f"--search-seconds: expected a finite number of seconds >= 0, got {seconds}")
    workers = 1 if workers is None else workers
    if workers < 1:
        raise FhbenchError(f"--search-workers: expected an integer >= 1, got {workers}")
    return SearchCost(float(seconds), int(workers), "GPU-days" if device_type == "cuda" else "CPU-days")


def _seed(suite: Suite, genotype, run: int) -> int:
    import numpy as np

    key = int(genotype_id(genotype)[:8], 16)
    return int(np.random.SeedSequence([suite.train.seed, key, run]).generate_state(1)[0])


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def evaluate_genotype(suite: Suite, genotype_text: str, splits, device, *, search_seconds: float | None = None,
                      search_workers: int | None = None, report=lambda message: None) -> dict:
    """Trains the genotype [evaluate] seeds times; returns the result (what `write_result` saves)."""
    import numpy as np
    import torch

    from fhbench.record.train import Trial, recording_conditions, train_trial

    space, genotype = parse_genotype(suite, genotype_text)
    cost = search_cost(search_seconds, search_workers, device.type)
    ev_suite, ev = evaluation_suite(suite), settings_of(suite)
    in_channels = splits.train.images.shape[1]
    with torch.device("meta"):  # counted without allocating or initialising weights
        network = space.build(genotype, splits.num_classes, in_channels=in_channels)
    params = network.num_parameters(auxiliary=False)
    runs = []
    for run in range(ev.seeds):
        trial = Trial(f"evaluate-{genotype_id(genotype)}-s{run}", 0, run, str(genotype), _seed(suite, genotype, run),
                      ev.epochs)
        start = time.perf_counter()
        last = None
        for record in train_trial(trial, ev_suite, space, splits, device, capture=False):
            last = record
        wall = time.perf_counter() - start
        status = "diverged" if last is None or last["diverged"] else "complete"
        test_acc = last["test_acc"] if status == "complete" else math.nan
        runs.append({"seed": trial.seed, "status": status, "epochs": 0 if last is None else last["epoch"],
                     "test_acc": _finite(test_acc), "test_error": _finite(100.0 * (1.0 - test_acc)),
                     "val_acc": None if last is None else _finite(last["val_acc"]),
                     "train_loss": None if last is None else _finite(last["train_loss"]), "wall_s": wall})
        report(f"seed {run + 1}/{ev.seeds}: {status}, test error "
               f"{'-' if runs[-1]['test_error'] is None else format(runs[-1]['test_error'], '.2f')} %, {wall:.1f} s")
    errors = np.array([r["test_error"] for r in runs if r["test_error"] is not None], dtype=np.float64)
    return {
        "suite": suite.name,
        "version": suite.version,
        "suite_hash": suite.hash,
        "genotype": str(genotype),
        "genotype_id": genotype_id(genotype),
        "evaluate": asdict(ev),
        "data": {"dataset": suite.data.dataset, "augment": suite.data.augment, "train_images": len(splits.train.labels),
                 "test_images": len(splits.test.labels), "image_size": int(splits.train.images.shape[-1])},
        "runs": runs,
        "seeds": ev.seeds,
        "completed": int(len(errors)),
        "test_error_mean": _finite(float(errors.mean())) if len(errors) else None,  # percent
        "test_error_std": _finite(float(errors.std())) if len(errors) else None,  # population std over seeds
        "test_acc_mean": _finite(1.0 - float(errors.mean()) / 100.0) if len(errors) else None,
        "params": int(params),
        "params_m": params / 1e6,
        "wall_s": float(sum(r["wall_s"] for r in runs)),
        "device": device.type,
        "search_cost": None if cost is None else cost.as_dict(),
        "conditions": recording_conditions(device),
    }


def write_result(result: dict, leaderboard_root: str | Path, suite: Suite) -> Path:
    """Writes the result as JSON (whole, then renamed into place); returns its path."""
    path = Path(leaderboard_root) / suite.name / suite.version / f"evaluate-{result['genotype_id']}.json"
    return write_file(path, json.dumps(result, indent=2, sort_keys=True) + "\n")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def summary_line(result: dict, path: Path | None = None) -> str:
    mean, std = result["test_error_mean"], result["test_error_std"]
    error = "no completed run" if mean is None else f"test error {mean:.2f} +- {std:.2f} %"
    parts = [f"{result['genotype_id']}: {error} ({result['completed']}/{result['seeds']} seeds)",
             f"{result['params_m']:.3g} M params", f"{_duration(result['wall_s'])} training"]
    if result["search_cost"] is not None:
        cost = result["search_cost"]
        parts.append(f"search cost {cost['days']:.2f} {cost['unit']}")
    line = ", ".join(parts)
    return line if path is None else f"{line} -> {path}"
