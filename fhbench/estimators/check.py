"""A conformance check any estimator can run, in the spirit of scikit-learn's ``check_estimator``.

    from fhbench.estimators.check import check_estimator
    check_estimator(MyEstimator)            # raises AssertionError naming the broken rule

It records a small synthetic population in the real trace format (no training), then checks the
contract: a string name and version, fit on a population, a finite accuracy in [0, 1] per trial,
the same estimates from two fresh instances with the same settings (else: not deterministic), from an
instance fitted before (else: a state leak), and from a population in reverse order (else: order
dependence), no change to the (read-only) views it is handed, no read past the view's epoch, and
no reach for the test split or a truth file (the views refuse the first two, and the estimator runs
sealed as in the harness, so either surfaces here as a broken rule). The population's test accuracies
rank the trials in the opposite order to their validation accuracies, so reading them would pay.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from fhbench.core.errors import LookAheadError
from fhbench.core.seal import TruthAccessError, sealed, sealed_files_under
from fhbench.estimators.harness import checked_estimate
from fhbench.record.format import CURVES, TEST_CURVES, TIMINGS
from fhbench.record.store import TraceStore
from fhbench.record.trace import TrialTrace
from fhbench.record.view import ReadOnlyViewError


def synthetic_population(root: str | Path, n_trials: int = 6, budget: int = 8, n_train: int = 300,
                         n_val: int = 200, dim: int = 16, classes: int = 4, seed: int = 0) -> list[TrialTrace]:
    """Writes `n_trials` finished traces whose features separate the classes better each epoch, at a
    trial-specific rate, so that trials differ in final accuracy; returns them opened."""
    rng = np.random.default_rng(seed)
    store = TraceStore(root)
    centers = rng.normal(size=(classes, dim))
    y_train = rng.integers(classes, size=n_train)
    y_val = rng.integers(classes, size=n_val)
    traces = []
    for index in range(n_trials):
        quality = 0.3 + 0.7 * index / max(n_trials - 1, 1)
        writer = store.writer(f"r0-{index:03d}", {
            "config": f"synthetic-{index}", "config_vector": [quality, 1.0], "repeat": 0, "index": index,
            "seed": index, "budget": budget, "num_classes": classes, "feature_dim": dim, "space": "synthetic",
            "dataset_source": "synthetic", "suite": "check", "conditions": {"device": "cpu"}})
        curves = {name: [] for name in CURVES + TIMINGS + TEST_CURVES}
        weights, biases = [], []
        for epoch in range(1, budget + 1):
            signal = quality * epoch / budget
            train = signal * centers[y_train] + rng.normal(size=(n_train, dim))
            val = signal * centers[y_val] + rng.normal(size=(n_val, dim))
            writer.write_features(epoch, train.astype(np.float16), val.astype(np.float16))
            weights.append((signal * centers).astype(np.float32))
            biases.append(np.zeros(classes, dtype=np.float32))
            accuracy = float(np.mean(np.argmax(val @ centers.T, 1) == y_val))
            for name, value in (("train_loss", 1 - signal), ("train_acc", accuracy), ("val_loss", 1 - signal),
                                ("val_acc", accuracy), ("test_acc", 0.95 - 0.6 * signal),
                                ("lr", 0.1), ("epoch_time", 1.0), ("val_time", 0.1), ("test_time", 0.1)):
                curves[name].append(value)
        writer.finish(status="complete",
                      curves={k: np.asarray(v, dtype=np.float64) for k, v in curves.items()},
                      labels={"train": y_train, "train_index": np.arange(n_train), "val": y_val},
                      classifier_w=np.stack(weights), classifier_b=np.stack(biases),
                      proxies=_synthetic_proxies(quality))
        traces.append(store.open(f"r0-{index:03d}"))
    return traces


def _synthetic_proxies(quality: float) -> dict:
    """Zero-cost proxy values for a synthetic trial (as `fhbench.record.proxies.ProxyResult.to_dict` stores
    them), rising with its quality like its validation accuracy."""
    values = {"synflow": 10.0 ** (20 * quality), "snip": 50.0 * quality, "grad-norm": 5.0 * quality,
              "naswot": 100.0 + 10.0 * quality, "jacob-cov": -500.0 + 100.0 * quality, "fisher": 0.1 * quality,
              "grasp": 20.0 * quality - 5.0, "plain": quality - 0.5, "l2-norm": 100.0 + 50.0 * quality,
              "params": 1e5 * (1 + quality), "flops": 1e7 * (1 + quality)}
    return {"values": values, "errors": {}, "seconds": {name: 0.01 for name in values}}


def check_estimator(factory, settings: dict | None = None, workdir: str | Path | None = None) -> None:
    """Raises AssertionError if estimators made by `factory(**settings)` break the contract."""
    settings = settings or {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp) / "population"
        traces = synthetic_population(root)
        files = sealed_files_under([root])  # by identity: a hard link to a trial's test.npz stays sealed
        first = factory(**settings)
        label = f"estimator {getattr(first, 'name', factory)!r}"
        for attribute in ("name", "version"):
            assert isinstance(getattr(first, attribute, None), str) and getattr(first, attribute), \
                f"{label}: `{attribute}` must be a non-empty string"
        assert isinstance(getattr(first, "rank_only", False), bool), \
            f"{label}: `rank_only` must be True or False (True: scored on rank correlations only, no MAE)"
        reused = first  # fitted again at every epoch: what it kept from an earlier fit must not matter
        for epoch in (2, traces[0].budget // 2, traces[0].budget):
            where = f"{label} at epoch {epoch}"
            fresh = [_run_sealed(factory(**settings), [t.view(epoch) for t in traces], where, files) for _ in range(2)]
            for value in fresh[0]:  # the harness's own rule, so that what passes here is scored there
                _, reason = checked_estimate(value)
                assert reason is None, f"{label}: at epoch {epoch} the {reason}"
            assert fresh[0] == fresh[1], \
                f"{label}: two fresh instances with the same settings disagree at epoch {epoch}: not deterministic"
            again = _run_sealed(reused, [t.view(epoch) for t in traces], where, files)
            assert again == fresh[0], \
                (f"{label}: an instance fitted before gives other estimates at epoch {epoch} than a fresh one: "
                 f"state leaks from one fit into the next (fit must start from nothing)")
            backwards = _run_sealed(factory(**settings), [t.view(epoch) for t in reversed(traces)], where, files)
            assert backwards[::-1] == fresh[0], \
                (f"{label}: at epoch {epoch} the estimates depend on the order of the population it was fit on "
                 f"(reversed: {_first_difference(backwards[::-1], fresh[0], traces)})")


def _first_difference(reordered: list, plain: list, traces: list) -> str:
    index = next(i for i, (a, b) in enumerate(zip(reordered, plain)) if a != b)
    return f"trial {traces[index].trial_id} {reordered[index]!r} instead of {plain[index]!r}"


def _run_sealed(estimator, views, label: str, files: frozenset = frozenset()) -> list:
    try:
        with sealed(files=files):
            estimator.fit(views)
            return [estimator.estimate(v) for v in views]
    except TruthAccessError as err:
        raise AssertionError(f"{label}: reaches for the test split or a truth file ({err})") from None
    except LookAheadError as err:
        raise AssertionError(f"{label}: reads past the view's epoch ({err})") from None
    except ReadOnlyViewError as err:
        raise AssertionError(f"{label}: changes the views it is handed, which are read-only ({err})") from None
    except ValueError as err:
        if "read-only" in str(err):
            raise AssertionError(f"{label}: writes into an array of the views it is handed, which are read-only "
                                 f"({err})") from None
        raise
    except Exception as err:
        raise AssertionError(f"{label}: raised {type(err).__name__}: {err}") from None
