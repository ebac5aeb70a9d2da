"""Suite files: TOML, validated on load into frozen dataclasses.

A suite names everything a run depends on, so the same suite file and the same seeds give the same
traces and the same leaderboard. Every default below is the thesis's setting (appendix A.1, A.3.1);
reduced suites override them explicitly. The schema is documented in README.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import stat
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fhbench.core.errors import ConfigError, SuiteError
from fhbench.inputs.brackets import hyperband_brackets
from fhbench.spaces import SPACE_NAMES, image_shape

SCHEMA_VERSION = 1

# The trace format the record hash covers. It duplicates `fhbench.record.format.TRACE_SCHEMA` so that loading
# a suite never imports torch (tests check that the two agree): bump both together.
RECORD_FORMAT = 2

NAME_MAX_LENGTH = 100  # suite names and versions become directory names (with staging prefixes)
NB201_CELLS = 5**6  # distinct NAS-Bench-201 cells: a repeat cannot sample more
MAX_EPOCHS = 100_000  # a sanity bound: the checkpoint list is materialised at load


@dataclass(frozen=True)
class SpaceSettings:
    name: str = "nb201"
    channels: int = 16
    cells_per_stage: int = 5
    num_samples: int = 100
    sample_seed: int = 0
    cells: tuple[str, ...] = ()  # fixed architectures instead of sampling, if given
    width: float = 1.0  # space cnn: the width multiplier of every network (a config's own '@w' wins)
    macs_limit: float = 0.0  # space resnet_scaling: the MAC limit as a multiple of ResNet-18's (0: none)
    macs_limits: tuple[float, ...] = ()  # space resnet_scaling: several limits, one search target each (Table 4.4)
    num_cells: int = 0  # space darts: cells per network (0: unset; darts requires it)
    auxiliary: bool = False  # space darts: train with the auxiliary tower's loss (weight 0.4)
    drop_path: float = 0.0  # space darts: the final path-dropout rate, raised linearly from 0 over training
    allow_none: bool = False  # space darts: sample the 'none' op too


@dataclass(frozen=True)
class DataSettings:
    dataset: str = "cifar10"
    train_size: int = 40000
    val_size: int = 10000
    test_size: int | None = None  # None: the whole official test split
    split_seed: int = 0
    augment: str = "crop-flip"
    resize: int | None = None  # area-downsample images to resize x resize (None: native size)
    randaugment_n: int = 0  # data.augment "randaugment": operations per image (0: unset; required there)
    randaugment_m: int = 0  # data.augment "randaugment": their magnitude, 0..30


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = "linear"  # per step, to zero at the end of the budget
    record_test: bool = True
    seed: int = 0
    lr_per_model: tuple[tuple[str, float], ...] = ()  # space cnn: (model, initial lr) pairs overriding lr
    # Appendix A.2's budgets: every planned network is trained once per budget (epochs, increasing, the last
    # train.epochs), each run with its own schedule ending at its own budget. Empty: one budget, train.epochs.
    budgets: tuple[int, ...] = ()

    def lr_for(self, config: str) -> float:
        """The initial learning rate of a trial with this config string: its model's entry in
        lr_per_model (A.2 starts VGG at 0.01, ResNet and MobileNetV2 at 0.1), else `lr`."""
        if not self.lr_per_model:
            return self.lr
        from fhbench.spaces.cnn import model_name  # imports no torch

        network = config.partition("/")[0]  # space randaugment: '<network>/n<N>-m<M>'
        return dict(self.lr_per_model).get(model_name(network), self.lr)


@dataclass(frozen=True)
class RecordSettings:
    window: int = 10  # features are kept for the `window` epochs up to each checkpoint
    train_subset: int | None = None  # keep training features of this many images only (None: all)
    precision: str = "float16"
    proxies: bool = False  # compute zero-cost proxies of the untrained network (fhbench.record.proxies) per trial
    predictions: bool = False  # keep every epoch's arg-max validation predictions (fhbench.score.seen), one byte each

    def kept_train_images(self, available: int) -> int:
        """How many training images (the first ones of the train split) keep their features."""
        return min(self.train_subset or available, available)


DEFAULT_ESTIMATE_TIMEOUT_S = 1050.0
"""[estimate] timeout_s's default: ten times the slowest shipped estimator at the thesis's settings (lcnet's
fit at 13,000 SGHMC steps; the measurement is in benchmarks/README.md)."""


@dataclass(frozen=True)
class EstimateSettings:
    every: int = 10  # a checkpoint every `every` epochs
    checkpoints: tuple[int, ...] = ()  # explicit checkpoints instead of `every`
    repeats: int = 3
    truth: str = "final_test_acc"
    estimators: tuple[str, ...] = ("original", "optimized", "lcnet", "fh-ensemble")
    # Each estimator runs in a worker process of its own (`isolate`), and each fit and each estimate has
    # `timeout_s` seconds: one that takes longer is stopped and becomes a failed row.
    timeout_s: float = DEFAULT_ESTIMATE_TIMEOUT_S
    isolate: bool = True

    def epochs(self, budget: int) -> tuple[int, ...]:
        if self.checkpoints:
            return self.checkpoints
        if budget == 0:  # proxy-only trials: estimated once, at initialisation
            return (0,)
        return tuple(range(self.every, budget + 1, self.every))


@dataclass(frozen=True)
class SearchSettings:
    """Appendix A.3.2: budgets 1..train.epochs (the learning rate schedule is fixed to the maximal
    budget), eta=2, 4 workers, 5 seeds, random search over 64 configs at the full budget."""

    algorithms: tuple[str, ...] = ("random", "hyperband", "bohb")
    estimators: tuple[str, ...] = ("original", "fh-ensemble", "lcnet")
    min_budget: int = 1
    eta: int = 2
    workers: int = 4
    seeds: int = 5
    random_configs: int = 64
    time_budget_s: float = 0.0  # 0: the simulated time random search needs for its configs
    truth: str = "final_test_acc"  # the truth vocabulary of fhbench.inputs.truth (was "recorded")
    # Estimators that are not searched with live but only replayed afterwards on the traces the live
    # searches recorded (declared spaces: darts, resnet_scaling, randaugment).
    replay_estimators: tuple[str, ...] = ()
    replay_algorithms: tuple[str, ...] = ()  # likewise: algorithms only replayed on what was recorded
    # Declared spaces: HyperBand iterations per search (0: one, or as many as search.time_budget_s allows).
    iterations: int = 0


@dataclass(frozen=True)
class EvaluateSettings:
    """`fhbench evaluate` (space darts): the winner retrained at DARTS's evaluation scale (appendix A.4:
    36 channels, 22 cells, 600 epochs, batch 96; lr 0.025 linear to 0, momentum 0.9, weight decay 3e-4,
    path dropout 0.2 raised linearly, the auxiliary tower at weight 0.4), `seeds` runs."""

    channels: int = 36
    cells: int = 22
    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    drop_path: float = 0.2
    auxiliary: bool = True
    seeds: int = 1


@dataclass(frozen=True)
class ImportedSettings:
    """[imported]: the suite scores curves that `fhbench import` wrote into its trace store (a benchmark's
    published learning curves), not trials it plans and trains. Its trials are the store's, `trials` of
    them; it has no [space], [data] or [record] table, and of [train] only `epochs` (the curves' length,
    the budget) and `record_test` (whether the source gives a test accuracy)."""

    source: str = ""  # one line: the file and exactly what was taken from it
    configs: str = "nb201"  # "nb201": NAS-Bench-201 cell strings (one-hot encoded); "ids": other ids, no encoding
    trials: int = 0  # how many trials the import wrote


IMPORTED_CONFIGS = ("nb201", "ids")
IMPORTED_TRAIN_KEYS = ("epochs", "record_test")

ALGORITHMS = ("random", "hyperband", "bohb")
SCHEDULES = ("linear", "constant")
PRECISIONS = ("float16", "float32")
AUGMENTS = ("none", "crop-flip", "crop-flip-cutout", "randaugment")
DATASETS = ("digits", "cifar10", "cifar100", "cifar10-jpeg")  # fhbench.inputs.data.DATASETS, without its imports
# Native image side and class count per dataset, so that spaces measuring sizes need no data at load.
DARTS_KEYS = ("num_cells", "auxiliary", "drop_path", "allow_none")
SPACES = SPACE_NAMES
DECLARED_SPACES = ("darts", "resnet_scaling", "randaugment")  # searched over declared parameters, not a pool

# Settings added after suites were published. They are left out of the hashed and published settings
# while they hold their defaults, so adding them changed no suite hash and no trace store's path.
_LATE_DEFAULTS = {"space": {"width": 1.0, "macs_limit": 0.0, "num_cells": 0, "auxiliary": False, "drop_path": 0.0,
                            "allow_none": False, "macs_limits": ()},
                  "search": {"replay_estimators": (), "replay_algorithms": (), "iterations": 0},
                  "data": {"randaugment_n": 0, "randaugment_m": 0},
                  "train": {"lr_per_model": (), "budgets": ()},
                  "record": {"proxies": False, "predictions": False},
                  "estimate": {"timeout_s": DEFAULT_ESTIMATE_TIMEOUT_S, "isolate": True}}


def budget_suffix(budget: int) -> str:
    """What the id of a trial (and the name of a per-budget file) ends with under train.budgets: "-b050"."""
    return f"-b{budget:03d}"


def _settings_dict(section: str, settings) -> dict[str, Any]:
    data = asdict(settings)
    for key, default in _LATE_DEFAULTS.get(section, {}).items():
        if getattr(settings, key) == default:
            data.pop(key)
    if "lr_per_model" in data:
        data["lr_per_model"] = dict(settings.lr_per_model)  # as the suite file writes it
    return data


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    description: str = ""
    space: SpaceSettings = field(default_factory=SpaceSettings)
    data: DataSettings = field(default_factory=DataSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    record: RecordSettings = field(default_factory=RecordSettings)
    estimate: EstimateSettings = field(default_factory=EstimateSettings)
    estimator_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: SearchSettings | None = None
    evaluate: EvaluateSettings | None = None  # space darts: `fhbench evaluate`'s settings ([evaluate])
    imported: ImportedSettings | None = None  # curves written by `fhbench import` ([imported])
    path: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)  # found at load; the CLI prints them

    def to_dict(self) -> dict[str, Any]:
        if self.imported is not None:  # no space, data or recording: the settings that do not apply are left out
            return {"name": self.name, "version": self.version, "description": self.description,
                    "imported": asdict(self.imported),
                    "train": {key: getattr(self.train, key) for key in IMPORTED_TRAIN_KEYS},
                    "estimate": _settings_dict("estimate", self.estimate),
                    "estimator_settings": self.estimator_settings}
        data = asdict(self)
        data.pop("path")
        data.pop("warnings")
        data["space"] = _settings_dict("space", self.space)
        data["data"] = _settings_dict("data", self.data)
        data["train"] = _settings_dict("train", self.train)
        data["record"] = _settings_dict("record", self.record)
        data["estimate"] = _settings_dict("estimate", self.estimate)
        if self.search is None:
            data.pop("search")  # keeps the hashes of estimation suites as they were
        else:
            data["search"] = _settings_dict("search", self.search)
        if self.evaluate is None:
            data.pop("evaluate")
        data.pop("imported")
        return data

    @property
    def hash(self) -> str:
        """A hash of the validated settings: formatting and comments in the file do not change it."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def record_hash(self) -> str:
        """A hash of exactly what the traces depend on: the space, data, training and recording
        settings, the resolved checkpoints (where features are kept), the repeats and the trace format.
        Estimator settings, truths, search settings, names and any field added elsewhere reuse traces.
        Imported curves depend on their source alone (and the checkpoints do not change them)."""
        if self.imported is not None:
            data = {"format": RECORD_FORMAT, "imported": asdict(self.imported), "epochs": self.train.epochs}
            return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
        data = {
            "format": RECORD_FORMAT,
            "space": _settings_dict("space", self.space),
            "data": _settings_dict("data", self.data),
            "train": _settings_dict("train", self.train),
            "record": _settings_dict("record", self.record),
            "checkpoints": list(self.checkpoints),
            "repeats": self.estimate.repeats,
        }
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def checkpoints(self) -> tuple[int, ...]:
        return self.estimate.epochs(self.train.epochs)

    @property
    def budgets(self) -> tuple[int, ...]:
        """The epochs each planned network is trained for, one trial per budget: train.budgets, or
        train.epochs alone."""
        return self.train.budgets or (self.train.epochs,)

    def checkpoints_for(self, budget: int) -> tuple[int, ...]:
        """The checkpoints a trial of this budget is estimated at: the suite's, up to its budget."""
        return tuple(c for c in self.checkpoints if c <= budget)

    def kept_epochs(self) -> frozenset[int]:
        """The epochs whose features some estimator can use: the window before each checkpoint."""
        kept: set[int] = set()
        for c in self.checkpoints:
            kept.update(range(max(1, c - self.record.window + 1), c + 1))
        return frozenset(kept)


_SECTIONS = {
    "space": SpaceSettings,
    "data": DataSettings,
    "train": TrainSettings,
    "record": RecordSettings,
    "estimate": EstimateSettings,
}


MAX_SUITE_BYTES = 1 << 20  # a suite file is settings, not data: 1 MiB is far beyond any real one
MAX_DESCRIPTION_CHARS = 4096  # the description is copied into every board


def _read_suite_text(path: Path) -> str:
    """The file's text, refusing what is not a regular file of at most MAX_SUITE_BYTES (/dev/zero, a
    fifo, a folder) before reading any of it."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SuiteError(f"{path}: not a regular file: expected a suite TOML file")
    with open(path, "rb") as handle:
        data = handle.read(MAX_SUITE_BYTES + 1)
    if len(data) > MAX_SUITE_BYTES:
        raise SuiteError(f"{path}: larger than {MAX_SUITE_BYTES // 1024} KiB: expected a suite TOML file of settings")
    return data.decode("utf-8")


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    try:
        raw = tomllib.loads(_read_suite_text(path))
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SuiteError(f"{path}: cannot read suite file ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(f"{path}: not valid TOML ({err})") from None
    return parse_suite(raw, source=str(path))


def parse_suite(raw: dict[str, Any], source: str = "<suite>") -> Suite:
    def fail(key: str, expected: str) -> SuiteError:
        return SuiteError(f"{source}: key '{key}': expected {expected}")

    raw = dict(raw)
    _check_finite(raw, "", fail)
    schema = raw.pop("schema", SCHEMA_VERSION)
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise fail("schema", f"{SCHEMA_VERSION} (the suite schema this fhbench reads)")
    for key in ("name", "version"):
        check_path_name(raw.get(key), key, fail)
    name, version = raw.pop("name"), raw.pop("version")
    description = raw.pop("description", "")
    if not isinstance(description, str):
        raise fail("description", "a string")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise fail("description", f"at most {MAX_DESCRIPTION_CHARS} characters (it is copied into every board), "
                                  f"got {len(description)}")

    space_table = raw.get("space", {})
    data_table = raw.get("data", {})
    sections = {}
    given: dict[str, set[str]] = {}  # the keys each table wrote out
    for key, cls in _SECTIONS.items():
        table = raw.pop(key, {})
        if not isinstance(table, dict):
            raise fail(key, "a table")
        given[key] = set(table)
        if key == "train" and table.get("budgets", None) == []:  # written out empty: a mistake, not "unset"
            raise fail("train.budgets", "at least one budget (leave the key out for train.epochs alone)")
        sections[key] = _parse_section(cls, table, key, fail)
    if sections["space"].name == "cnn" and "num_samples" not in space_table:
        sections["space"] = replace(sections["space"], num_samples=_cnn_pool_size(sections["space"]))
    _check_randaugment_keys(sections["data"], data_table, fail, sections["space"].name)

    search = _optional_section(SearchSettings, raw, "search", fail)
    evaluate = _optional_section(EvaluateSettings, raw, "evaluate", fail)
    imported = _optional_section(ImportedSettings, raw, "imported", fail)

    estimator_settings = raw.pop("estimators", {})
    if not isinstance(estimator_settings, dict) or not all(
        isinstance(v, dict) for v in estimator_settings.values()
    ):
        raise fail("estimators", "tables of settings, one per estimator ([estimators.<name>])")
    if raw:
        known = ", ".join(["name", "version", "description", *_SECTIONS, "search", "evaluate", "imported",
                           "estimators"])
        raise fail(sorted(raw)[0], f"one of the known keys ({known})")

    suite = Suite(name=name, version=version, description=description, **sections,
                  estimator_settings=estimator_settings, search=search, evaluate=evaluate, imported=imported,
                  path=source)
    if imported is not None:
        _validate_imported(suite, given, fail)
    warnings = _validate(suite, fail)
    return replace(suite, warnings=tuple(warnings)) if warnings else suite


def check_path_name(value: Any, key: str, fail) -> None:
    """`name` and `version` become one directory level each under the trace and leaderboard roots."""
    if not isinstance(value, str) or not value.strip():
        raise fail(key, "a non-empty string")
    if len(value) > NAME_MAX_LENGTH:
        raise fail(key, f"at most {NAME_MAX_LENGTH} characters (it becomes a directory name), got {len(value)}")
    if not all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in value):
        raise fail(key, f"ASCII letters, digits, '-', '_' or '.' only (it becomes a directory name), got {value!r}")
    if value[0] in ".-":
        raise fail(key, f"a name that does not start with '.' or '-' (it becomes a directory name), got {value!r}")


def _check_finite(value: Any, key: str, fail) -> None:
    """TOML allows nan and inf: no setting of a suite takes them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise fail(key, f"a finite number, got {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{key}.{k}" if key else str(k), fail)
    elif isinstance(value, list):
        for v in value:
            _check_finite(v, key, fail)


def _optional_section(cls, raw: dict[str, Any], section: str, fail):
    """A table that makes a suite a search suite ([search]) or gives it an evaluation ([evaluate]):
    None where absent."""
    if section not in raw:
        return None
    table = raw.pop(section)
    if not isinstance(table, dict):
        raise fail(section, "a table")
    return _parse_section(cls, table, section, fail)


def _parse_section(cls, table: dict[str, Any], section: str, fail):
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise fail(f"{section}.{key}", f"one of {', '.join(known)}")
        default = known[key].default
        values[key] = _coerce(value, default, f"{section}.{key}", fail, known[key].type)
    return cls(**values)


def _coerce(value, default, key, fail, type_name: str):
    if type_name.startswith("tuple[tuple[str, float]"):
        if not isinstance(value, dict):
            raise fail(key, "a table of names and numbers, e.g. {vgg16 = 0.01}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
            raise fail(key, "numbers as the values of its table")
        return tuple(sorted((name, float(v)) for name, v in value.items()))
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise fail(key, "a list")
        if "float" in type_name:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise fail(key, "a list of numbers")
            return tuple(float(v) for v in value)
        item_type = int if "int" in type_name else str
        if not all(isinstance(v, item_type) and not isinstance(v, bool) for v in value):
            raise fail(key, f"a list of {item_type.__name__}s")
        return tuple(value)
    if "None" in type_name:
        # TOML has no null: the integer 0 (and only it) means "none" for optional sizes
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(key, "an integer (0: none)")
        if value < 0:
            raise fail(key, f"an integer >= 0 (0: none), got {value}")
        return value or None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise fail(key, "true or false")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(key, "a number")
        return float(value)
    if isinstance(default, int) or type_name.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(key, "an integer")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise fail(key, "a string")
        return value
    raise fail(key, f"a value like {default!r}")


def _validate(suite: Suite, fail) -> list[str]:
    """Every rule that can be checked without data, torch or installed estimators; returns warnings."""
    positive = {
        "space.channels": suite.space.channels,
        "space.cells_per_stage": suite.space.cells_per_stage,
        "space.num_samples": suite.space.num_samples,
        "data.train_size": suite.data.train_size,
        "data.val_size": suite.data.val_size,
        "train.batch_size": suite.train.batch_size,
        "record.window": suite.record.window,
        "estimate.every": suite.estimate.every,
        "estimate.repeats": suite.estimate.repeats,
    }
    for key, value in positive.items():
        if value < 1:
            raise fail(key, f"a positive integer, got {value}")
    if suite.train.epochs < 0 or (suite.train.epochs == 0 and not suite.record.proxies):
        raise fail("train.epochs", f"a positive integer, or 0 for proxy-only trials (with record.proxies = true), "
                                   f"got {suite.train.epochs}")
    for key, value in {"space.sample_seed": suite.space.sample_seed, "data.split_seed": suite.data.split_seed,
                       "train.seed": suite.train.seed}.items():
        if value < 0:
            raise fail(key, f"a seed >= 0, got {value}")
    for key, value in {"train.lr": suite.train.lr, "train.momentum": suite.train.momentum,
                       "train.weight_decay": suite.train.weight_decay}.items():
        if not (math.isfinite(value) and value >= 0):
            raise fail(key, f"a finite number >= 0, got {value}")
    if suite.train.epochs > MAX_EPOCHS:
        raise fail("train.epochs", f"at most {MAX_EPOCHS}, got {suite.train.epochs}")
    choices = {
        "space.name": (suite.space.name, SPACES),
        "data.dataset": (suite.data.dataset, DATASETS),
        "train.lr_schedule": (suite.train.lr_schedule, SCHEDULES),
        "record.precision": (suite.record.precision, PRECISIONS),
        "data.augment": (suite.data.augment, AUGMENTS),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise fail(key, f"one of {', '.join(allowed)}, got '{value}'")
    _validate_space_keys(suite, fail)
    if suite.data.augment == "randaugment" and suite.space.name != "randaugment":
        _validate_randaugment(suite, fail)
    if suite.space.name == "nb201" and suite.space.num_samples > NB201_CELLS:
        raise fail("space.num_samples", f"at most {NB201_CELLS} (NAS-Bench-201's distinct cells), "
                                        f"got {suite.space.num_samples}")
    _validate_truth(suite, "estimate.truth", suite.estimate.truth, fail)
    if suite.space.name == "cnn":
        _validate_cnn(suite, fail)
    elif suite.space.name == "randaugment":
        _check_lr_per_model(suite, fail)
    else:
        if suite.space.width != 1.0 and suite.space.name != "resnet_scaling":
            raise fail("space.width", f"1 (unset) for space {suite.space.name}: it scales the networks of space cnn "
                                      "(and of spaces randaugment and resnet_scaling)")
        if suite.train.lr_per_model:
            raise fail("train.lr_per_model", f"no entries for space {suite.space.name}: it is keyed by "
                                             "the models of space cnn")
    budget = suite.train.epochs
    checkpoints = suite.checkpoints
    if not checkpoints:
        raise fail("estimate.every", f"at most train.epochs ({budget}) so that there is a checkpoint")
    if budget == 0:
        _validate_proxy_only(suite, fail)
    elif any(not 1 <= c <= budget for c in checkpoints) or list(checkpoints) != sorted(set(checkpoints)):
        raise fail("estimate.checkpoints", f"increasing distinct epochs within 1..{budget}")
    if not suite.estimate.estimators:
        raise fail("estimate.estimators", "at least one estimator name")
    if not (math.isfinite(suite.estimate.timeout_s) and suite.estimate.timeout_s > 0):
        raise fail("estimate.timeout_s", f"a finite number of seconds > 0, got {suite.estimate.timeout_s}")
    _no_duplicates(suite.estimate.estimators, "estimate.estimators", fail)
    if (suite.space.cells and suite.search is not None and suite.space.name in DECLARED_SPACES
            and suite.space.name != "randaugment"):
        raise fail("space.cells", f"no cells in a search suite of space {suite.space.name}: its searches draw "
                                  "their configurations from the space")
    if suite.space.cells and len(suite.space.cells) != suite.space.num_samples and suite.space.name != "randaugment":
        raise fail("space.cells", f"exactly space.num_samples ({suite.space.num_samples}) cells")
    if suite.space.name == "nb201":  # a cell listed twice would be trained twice and counted twice
        _no_duplicates(tuple("".join(cell.split()) for cell in suite.space.cells), "space.cells", fail)
    if suite.space.name in DECLARED_SPACES:
        _validate_built_space(suite, fail)
    _validate_evaluate(suite, fail)
    warnings = _validate_budgets(suite, fail)
    if suite.search is not None:
        return warnings + _validate_search(suite, fail)
    return warnings


PROXY_ONLY_UNSET = ("lr", "momentum", "weight_decay", "lr_schedule")
"""Training settings a proxy-only suite leaves out: nothing is trained."""


def _validate_proxy_only(suite: Suite, fail) -> None:
    """train.epochs = 0: each trial builds its network, computes the zero-cost proxies on the first
    train.batch_size images and records nothing else (`fhbench.record.train.record_trial`). What needs
    a trained network, or would mean nothing, is refused."""
    what = "for proxy-only trials (train.epochs = 0)"
    if suite.estimate.checkpoints not in ((), (0,)):
        raise fail("estimate.checkpoints", f"[0] (at initialisation) or the key left out {what}, "
                                           f"got {list(suite.estimate.checkpoints)}")
    from fhbench.inputs.truth import parse_truth  # imports no torch

    if parse_truth(suite.estimate.truth).own_run:
        raise fail("estimate.truth", f"a table truth (nb201-table, nb201-api or csv:<path>) {what}: they are never "
                                     f"trained, so they have no accuracy of their own; got '{suite.estimate.truth}'")
    for key in PROXY_ONLY_UNSET:
        if getattr(suite.train, key) != getattr(TrainSettings, key):
            raise fail(f"train.{key}", f"the key left out {what}: nothing is trained, got {getattr(suite.train, key)!r}")
    if suite.train.budgets:
        raise fail("train.budgets", f"none {what}")
    if suite.record.predictions:
        raise fail("record.predictions", f"false {what}: there are no epochs to predict after")
    if suite.search is not None:
        raise fail("search", f"no [search] table {what}: a search trains what it picks")
    if suite.space.name == "randaugment":
        raise fail("space.name", f"a space of architectures {what}: randaugment's configs differ only in their "
                                 f"augmentation, which the proxies (on un-augmented images) never see")


def _validate_budgets(suite: Suite, fail) -> list[str]:
    """train.budgets: increasing epochs up to train.epochs, each one a checkpoint, so that every budget
    has its final estimate (the one at its own end) and its truth's test accuracy is recorded there."""
    budgets, epochs = suite.train.budgets, suite.train.epochs
    if not budgets:
        return []
    for budget in budgets:
        if not 1 <= budget <= epochs:
            raise fail("train.budgets", f"epochs within 1..train.epochs ({epochs}), got {budget}")
    _no_duplicates(budgets, "train.budgets", fail)
    if list(budgets) != sorted(budgets):
        raise fail("train.budgets", f"increasing epochs, got {list(budgets)}")
    if budgets[-1] != epochs:
        raise fail("train.budgets", f"the longest budget equal to train.epochs ({epochs}), got {budgets[-1]}")
    missing = [b for b in budgets if b not in suite.checkpoints]
    if missing:
        raise fail("train.budgets", f"each budget a checkpoint (its final estimate is made at its end: let "
                                    f"estimate.every or estimate.checkpoints include it), got {missing[0]}")
    if suite.search is not None:
        raise fail("train.budgets", "none in a search suite: a search trains to its own budgets on the schedule of "
                                    "train.epochs (appendix A.3.2)")
    if suite.record.predictions:
        raise fail("train.budgets", "none with record.predictions (fhbench.score.seen reads every trial at all of the "
                                    "suite's checkpoints, past a shorter budget's end)")
    if suite.train.lr_schedule == "constant" and len(budgets) > 1:
        return [f"{suite.path}: with train.lr_schedule 'constant' the budgets differ in length only: a trial of a "
                f"shorter budget repeats the first epochs of a longer one (the same network and seed)"]
    return []


def _cnn_pool_size(space: SpaceSettings) -> int:
    """Space cnn's default num_samples: every listed config, or every model when none is listed."""
    from fhbench.spaces.cnn import MODELS  # imports no torch

    return len(space.cells) or len(MODELS)


def _validate_cnn(suite: Suite, fail) -> None:
    """Space cnn: known models and widths, distinct configs, and settings that have a meaning for it."""
    from fhbench.spaces.cnn import MODELS, CnnConfig, check_width  # imports no torch

    space = suite.space
    for key, default in (("channels", SpaceSettings.channels), ("cells_per_stage", SpaceSettings.cells_per_stage)):
        if getattr(space, key) != default:
            raise fail(f"space.{key}", f"unset for space cnn (it shapes NAS-Bench-201 networks; "
                                       f"space.width scales the CNNs), got {getattr(space, key)}")
    try:
        check_width(space.width, "the width")
    except ConfigError as err:
        raise fail("space.width", f"a multiplier between 1/64 and 8 ({err})") from None
    configs = []
    for text in space.cells:
        try:
            config = CnnConfig.from_string(text, space.width)
        except ConfigError as err:
            raise fail("space.cells", f"CNN configs '<model>' or '<model>@w<width>' ({err})") from None
        if config in configs:
            raise fail("space.cells", f"distinct configs, got {config} twice")
        configs.append(config)
    if not space.cells and space.num_samples > len(MODELS):
        raise fail("space.num_samples", f"at most {len(MODELS)} (the models space cnn samples from when "
                                        f"space.cells is empty), got {space.num_samples}")
    _check_lr_per_model(suite, fail)
    from fhbench.inputs.truth import parse_truth  # imports no torch

    if not parse_truth(suite.estimate.truth).own_run:
        raise fail("estimate.truth", "final_test_acc or final_val_acc for space cnn (the truth tables hold "
                                     f"NAS-Bench-201 cells), got '{suite.estimate.truth}'")
    if suite.search is not None:
        raise fail("search", "no [search] table for space cnn: the search pool encodes NAS-Bench-201 cells "
                             "only (fhbench.search.pool)")


def _check_lr_per_model(suite: Suite, fail) -> None:
    from fhbench.spaces.cnn import MODELS  # imports no torch

    for model, lr in suite.train.lr_per_model:
        if model not in MODELS:
            raise fail("train.lr_per_model", f"model names from {', '.join(MODELS)}, got '{model}'")
        if lr < 0:
            raise fail(f"train.lr_per_model.{model}", f"a finite number >= 0, got {lr}")


def _check_randaugment_keys(data: DataSettings, table: dict[str, Any], fail, space: str = "") -> None:
    """Keys written out, not values: M = 0 is a real magnitude, so an omitted M is told from a set one
    only by the table. Space randaugment takes N and M from each config: it needs data.augment
    "randaugment" and refuses the keys."""
    keys = [k for k in ("randaugment_n", "randaugment_m") if k in table]
    if space == "randaugment":
        if data.augment != "randaugment":
            raise fail("data.augment", f"'randaugment' for space randaugment (RandAugment with each config's N and "
                                       f"M, then flips, pad-and-crop and Cutout), got '{data.augment}'")
        if keys:
            raise fail(f"data.{keys[0]}", "the key left out for space randaugment: N and M come from each "
                                          "config ('<network>/n<N>-m<M>')")
        return
    if data.augment != "randaugment" and keys:
        raise fail(f"data.{keys[0]}", f"the key left out with data.augment '{data.augment}': it sets "
                                      "RandAugment (data.augment = \"randaugment\")")
    if data.augment == "randaugment":
        for key, what in (("randaugment_n", "N, operations per image, 1..3"), ("randaugment_m", "M, 0..30")):
            if key not in table:
                raise fail(f"data.{key}", f"RandAugment's {what}, required with data.augment 'randaugment'")


def _validate_randaugment(suite: Suite, fail) -> None:
    from fhbench.inputs.augment import M_RANGE, N_RANGE, check_settings  # imports no torch

    # check_settings checks both: each is checked beside a valid other so that the error names its key.
    for key, n, m in (("data.randaugment_n", suite.data.randaugment_n, M_RANGE.start),
                      ("data.randaugment_m", N_RANGE.start, suite.data.randaugment_m)):
        try:
            check_settings(n, m)
        except ValueError as err:
            raise fail(key, f"a valid setting ({err})") from None


def _validate_space_keys(suite: Suite, fail) -> None:
    """Settings of one space are refused elsewhere, where they would silently mean nothing."""
    space = suite.space
    if space.macs_limit < 0:
        raise fail("space.macs_limit", f"a multiple of ResNet-18's MACs > 0 (0: no limit), got {space.macs_limit}")
    if space.name != "resnet_scaling" and space.macs_limit != SpaceSettings.macs_limit:
        raise fail("space.macs_limit", f"0 (unset) for space {space.name}: it limits space resnet_scaling")
    if space.macs_limits:
        if space.name != "resnet_scaling":
            raise fail("space.macs_limits", f"no entries for space {space.name}: they limit space resnet_scaling")
        if space.macs_limit != SpaceSettings.macs_limit:
            raise fail("space.macs_limits", "no entries together with space.macs_limit (one limit: macs_limit; "
                                            "one search target per limit: macs_limits)")
        for limit in space.macs_limits:
            if limit <= 0:
                raise fail("space.macs_limits", f"multiples of ResNet-18's MACs > 0, got {limit:g}")
        _no_duplicates(space.macs_limits, "space.macs_limits", fail)
    if space.name != "darts":
        for key in DARTS_KEYS:
            if getattr(space, key) != getattr(SpaceSettings, key):
                raise fail(f"space.{key}", f"unset for space {space.name}: it shapes the networks of space darts, "
                                           f"got {getattr(space, key)}")
    unused = {"darts": ("cells_per_stage",), "resnet_scaling": ("channels", "cells_per_stage"),
              "randaugment": ("channels", "cells_per_stage")}.get(space.name, ())
    for key in unused:
        if getattr(space, key) != getattr(SpaceSettings, key):
            raise fail(f"space.{key}", f"unset for space {space.name} (it shapes NAS-Bench-201 networks), "
                                       f"got {getattr(space, key)}")


def _validate_built_space(suite: Suite, fail) -> None:
    """Spaces darts, resnet_scaling and randaugment: their settings (make_space and targets name the
    key), listed configs that parse, are distinct and fit the MAC limit, and the truths they can have.
    Space randaugment's space.cells lists networks (one search target each), not configs."""
    from fhbench.core.errors import ConfigError
    from fhbench.spaces import make_space, targets  # imports no torch for these spaces
    from fhbench.inputs.truth import parse_truth

    space = make_space(suite.space, suite.path, *image_shape(suite.data))
    built = targets(suite)  # every MAC limit, every network: each one must build
    if suite.space.name != "randaugment":
        configs = []
        for text in suite.space.cells:
            try:
                config = space.parse(text)
                if suite.space.name == "resnet_scaling":
                    for _, target in built:
                        target.check_within(config)
            except ConfigError as err:
                raise fail("space.cells", f"configs of space {suite.space.name} ({err})") from None
            if config in configs:
                raise fail("space.cells", f"distinct configs, got {config} twice")
            configs.append(config)
    elif suite.search is None and suite.space.num_samples > space.num_configs:
        raise fail("space.num_samples", f"at most {space.num_configs} (the RandAugment configs of a network: N in "
                                        f"1..3, M in 0..30), got {suite.space.num_samples}")
    if not parse_truth(suite.estimate.truth).own_run:
        raise fail("estimate.truth", f"final_test_acc or final_val_acc for space {suite.space.name} (the truth "
                                     f"tables hold NAS-Bench-201 cells), got '{suite.estimate.truth}'")
    if suite.search is not None and not parse_truth(suite.search.truth).own_run:
        raise fail("search.truth", f"final_test_acc or final_val_acc for space {suite.space.name} (a search of it "
                                   f"trains its own configs), got '{suite.search.truth}'")


def _validate_imported(suite: Suite, given: dict[str, set[str]], fail) -> None:
    """[imported]: a source, its kind of configs and the trials written; nothing that plans or trains."""
    imported = suite.imported
    if not imported.source.strip():
        raise fail("imported.source", "one line saying what was imported (`fhbench import` writes it)")
    if imported.configs not in IMPORTED_CONFIGS:
        raise fail("imported.configs", f"one of {', '.join(IMPORTED_CONFIGS)}, got '{imported.configs}'")
    if imported.trials < 1:
        raise fail("imported.trials", f"the number of trials imported, >= 1, got {imported.trials}")
    for section in ("space", "data", "record"):
        if given[section]:
            raise fail(f"{section}.{min(given[section])}", f"no [{section}] table in a suite of imported "
                                                                f"curves (nothing is sampled or trained)")
    other = sorted(given["train"] - set(IMPORTED_TRAIN_KEYS))
    if other:
        raise fail(f"train.{other[0]}", f"only {' and '.join(IMPORTED_TRAIN_KEYS)} in [train] of a suite of "
                                        f"imported curves (nothing is trained)")
    for section in ("search", "evaluate"):
        if getattr(suite, section) is not None:
            raise fail(section, f"no [{section}] table in a suite of imported curves")
    if suite.estimate.repeats != 1:
        raise fail("estimate.repeats", f"1 for imported curves (one population), got {suite.estimate.repeats}")
    from fhbench.inputs.truth import parse_truth  # imports no torch

    try:
        own_run = parse_truth(suite.estimate.truth).own_run
    except ValueError:
        return  # _validate says why
    if imported.configs == "ids" and not own_run:
        raise fail("estimate.truth", f"final_test_acc or final_val_acc for imported configs that are not "
                                     f"NAS-Bench-201 cells (the truth tables hold cells), got '{suite.estimate.truth}'")


def _validate_evaluate(suite: Suite, fail) -> None:
    """[evaluate]: space darts only (its winner retrained at evaluation scale)."""
    evaluate = suite.evaluate
    if evaluate is None:
        return
    if suite.space.name != "darts":
        raise fail("evaluate", f"no [evaluate] table for space {suite.space.name}: `fhbench evaluate` retrains "
                               "DARTS genotypes (space darts)")
    for key, low in (("channels", 1), ("cells", 3), ("epochs", 1), ("batch_size", 1), ("seeds", 1)):
        if getattr(evaluate, key) < low:
            raise fail(f"evaluate.{key}", f"an integer >= {low}, got {getattr(evaluate, key)}")
    if evaluate.epochs > MAX_EPOCHS:
        raise fail("evaluate.epochs", f"at most {MAX_EPOCHS}, got {evaluate.epochs}")
    for key in ("lr", "momentum", "weight_decay"):
        if getattr(evaluate, key) < 0:
            raise fail(f"evaluate.{key}", f"a finite number >= 0, got {getattr(evaluate, key)}")
    if not 0 <= evaluate.drop_path < 1:
        raise fail("evaluate.drop_path", f"a probability in [0, 1), got {evaluate.drop_path}")


def _no_duplicates(names: tuple, key: str, fail) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        what = "names" if isinstance(repeated[0], str) else "values"
        raise fail(key, f"distinct {what}, got {repeated[0]!r} more than once")


def _validate_truth(suite: Suite, key: str, text: str, fail) -> None:
    from fhbench.inputs.truth import parse_truth  # imports no torch

    try:
        spec = parse_truth(text)
    except ValueError as err:
        raise fail(key, str(err)) from None
    if spec.kind == "final_test_acc" and not suite.train.record_test:
        raise fail(key, "not final_test_acc when train.record_test is false (no test accuracy is recorded)")


def _validate_search(suite: Suite, fail) -> list[str]:
    search = suite.search
    for key in ("min_budget", "workers", "seeds", "random_configs"):
        if getattr(search, key) < 1:
            raise fail(f"search.{key}", f"a positive integer, got {getattr(search, key)}")
    if search.eta < 2:
        raise fail("search.eta", f"an integer >= 2, got {search.eta}")
    if search.min_budget > suite.train.epochs:
        raise fail("search.min_budget", f"at most train.epochs ({suite.train.epochs}), the maximal budget")
    if not (math.isfinite(search.time_budget_s) and search.time_budget_s >= 0):
        raise fail("search.time_budget_s", "a finite number of simulated seconds >= 0 (0: automatic)")
    for key in ("algorithms", "replay_algorithms"):
        for algorithm in getattr(search, key):
            if algorithm not in ALGORITHMS:
                raise fail(f"search.{key}", f"names from {', '.join(ALGORITHMS)}, got '{algorithm}'")
    if not search.algorithms:
        raise fail("search.algorithms", "at least one algorithm")
    if not search.estimators:
        raise fail("search.estimators", "at least one estimator")
    _no_duplicates(search.algorithms, "search.algorithms", fail)
    _no_duplicates(search.estimators, "search.estimators", fail)
    for kind in ("estimators", "algorithms"):
        replayed, searched = getattr(search, f"replay_{kind}"), getattr(search, kind)
        _no_duplicates(replayed, f"search.replay_{kind}", fail)
        both = [name for name in replayed if name in searched]
        if both:
            raise fail(f"search.replay_{kind}", f"{kind} not in search.{kind} (the {kind} searched with live), "
                                                f"got '{both[0]}'")
    _validate_truth(suite, "search.truth", search.truth, fail)
    if suite.estimate.repeats != 1:
        raise fail("estimate.repeats", "1 in a search suite: the pool is one recorded population")
    plan = hyperband_brackets(suite.train.epochs, search.min_budget, search.eta)
    if suite.space.name in DECLARED_SPACES:
        return _validate_declared_search(suite, plan, fail)
    for kind in ("estimators", "algorithms"):
        if getattr(search, f"replay_{kind}"):
            raise fail(f"search.replay_{kind}", f"no entries for space {suite.space.name}: its searches all "
                                                f"replay the recorded pool (search.{kind})")
    if search.iterations:
        raise fail("search.iterations", f"0 (unset) for space {suite.space.name}: its replays run for "
                                        "search.time_budget_s (a live search takes --iterations)")

    pool = suite.space.num_samples
    if search.workers > pool:
        raise fail("search.workers", f"at most the pool size (space.num_samples = {pool}), got {search.workers}")
    if "random" in search.algorithms and search.random_configs > pool:
        raise fail("search.random_configs", f"at most the pool size (space.num_samples = {pool}), "
                                            f"got {search.random_configs}")
    _check_search_budgets(suite, plan, fail)
    return _pool_warnings(suite, plan, pool, fail)


def _check_search_budgets(suite: Suite, plan, fail) -> None:
    budgets = sorted({budget for bracket in plan for _, budget in bracket} | {suite.train.epochs})
    missing = sorted(set(budgets) - set(suite.checkpoints))
    if missing:
        raise fail("estimate.checkpoints", f"every search budget {budgets} (missing {missing}): "
                                           "estimates need features there")


def _validate_declared_search(suite: Suite, plan, fail) -> list[str]:
    """Spaces darts, resnet_scaling and randaugment: the search draws configs from the space as it goes,
    so no pool size (space.num_samples) bounds it; space randaugment's 93 configs per network do."""
    search = suite.search
    if search.iterations < 0:
        raise fail("search.iterations", f"HyperBand iterations per search >= 1 (0: one, or as many as "
                                        f"search.time_budget_s allows), got {search.iterations}")
    if suite.space.name == "randaugment":
        from fhbench.inputs.augment import M_RANGE, N_RANGE

        grid = len(N_RANGE) * len(M_RANGE)
        if search.workers > grid:
            raise fail("search.workers", f"at most the {grid} RandAugment configs of a network, got {search.workers}")
        if "random" in search.algorithms and search.random_configs > grid:
            raise fail("search.random_configs", f"at most the {grid} RandAugment configs of a network, "
                                                f"got {search.random_configs}")
        largest = plan[0][0][0]
        if {"hyperband", "bohb"} & set(search.algorithms) and largest > grid:
            raise fail("search.min_budget", f"a HyperBand plan whose largest bracket draws at most the {grid} "
                                            f"RandAugment configs of a network; train.epochs={suite.train.epochs}, "
                                            f"search.min_budget={search.min_budget}, search.eta={search.eta} "
                                            f"draw {largest}")
    _check_search_budgets(suite, plan, fail)
    return []


def _pool_warnings(suite: Suite, plan, pool: int, fail) -> list[str]:
    search = suite.search
    warnings = []
    if {"hyperband", "bohb"} & set(search.algorithms):
        largest = plan[0][0][0]
        if largest > pool:
            raise fail("space.num_samples", f"at least {largest}, the configurations HyperBand's largest "
                                            f"bracket draws (train.epochs={suite.train.epochs}, "
                                            f"search.min_budget={search.min_budget}, search.eta={search.eta}); "
                                            f"got {pool}")
        drawn = sum(bracket[0][0] for bracket in plan)
        if pool < drawn:
            warnings.append(f"{suite.path}: the pool (space.num_samples = {pool}) is smaller than the "
                            f"{drawn} configurations one HyperBand iteration draws: the algorithms see the "
                            f"whole pool, so the search measures ranking within it more than search")
    return warnings
