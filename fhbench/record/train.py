"""Recording: train one sampled architecture and capture its feature history (Algorithm 1, lines 1-8).

Per epoch this keeps the training features as computed in the training forward pass (line 4), the
validation features in eval mode after the epoch (line 7), the classifier weights (line 8) and the
usual curves. Features are kept only for the epochs some checkpoint's window can use, and only for
`record.train_subset` training images if the suite asks, at `record.precision`. With
`record.predictions` every epoch also keeps the arg-max class of each validation image, from the
logits of the same validation pass (no pass of its own), one byte per image.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fhbench.core.errors import SuiteError
from fhbench.inputs.augment import augment
from fhbench.inputs.data import Splits, normalize
from fhbench.inputs.suite import DECLARED_SPACES, Suite, budget_suffix
from fhbench.record.proxies import ProxyResult, compute_proxies
from fhbench.record.format import CURVES, MAX_PREDICTION_CLASSES, TEST_CURVES, TIMINGS
from fhbench.record.store import TraceStore


@dataclass(frozen=True)
class Trial:
    trial_id: str
    repeat: int
    index: int
    config: str
    seed: int
    budget: int | None = None  # the epochs it trains for, its schedule ending there; None: train.epochs

    def epochs(self, suite: Suite) -> int:
        return self.budget or suite.train.epochs


def plan_trials(suite: Suite, space) -> list[Trial]:
    """The suite's trials: per repeat, `num_samples` distinct architectures and one training seed each.

    With train.budgets each architecture is trained once per budget, as trial `r<repeat>-<index>-b<budget>`.
    Its budgets share its seed (the same initial weights and batch order), so they differ in the
    learning-rate schedule alone, as in appendix A.2, which trains the same network for each budget.
    Without budgets the ids are `r<repeat>-<index>` as always.

    A search suite of a declared space (darts, resnet_scaling, randaugment) plans none: its searches draw
    and train configs as they go. Space randaugment's space.cells names networks, not configs: its
    estimation suites sample `num_samples` (N, M) configs of the first network."""
    trials = []
    if suite.search is not None and suite.space.name in DECLARED_SPACES:
        return trials
    for repeat in range(suite.estimate.repeats):
        if suite.space.cells and suite.space.name != "randaugment":
            cells = [space.parse(text) for text in suite.space.cells]
        else:
            rng = np.random.default_rng([suite.space.sample_seed, repeat])
            cells = space.sample_distinct(rng, suite.space.num_samples)
        for index, cell in enumerate(cells):
            seed = int(np.random.SeedSequence([suite.train.seed, repeat, index]).generate_state(1)[0])
            trial_id = f"r{repeat}-{index:03d}"
            if not suite.train.budgets:
                trials.append(Trial(trial_id, repeat, index, str(cell), seed, suite.train.epochs))
            for budget in suite.train.budgets:
                trials.append(Trial(trial_id + budget_suffix(budget), repeat, index, str(cell), seed, budget))
    return trials


def learning_rate(suite: Suite, step: int, total_steps: int, base: float | None = None) -> float:
    """The rate at `step` of a trial that starts at `base` (suite.train.lr_for(config); default train.lr)."""
    base = suite.train.lr if base is None else base
    if suite.train.lr_schedule == "linear":
        return base * (1.0 - step / total_steps)
    return base


def check_prediction_classes(suite: Suite, num_classes: int) -> None:
    """record.predictions keeps one byte per image: a dataset with more classes is refused before training."""
    if suite.record.predictions and num_classes > MAX_PREDICTION_CLASSES:
        raise SuiteError(f"{suite.path}: key 'record.predictions': expected false for a dataset of {num_classes} "
                         f"classes (predictions are kept in one byte: at most {MAX_PREDICTION_CLASSES} classes)")


@torch.no_grad()
def evaluate(model, images, labels, mean, std, batch_size: int = 1024):
    """Eval-mode pass over a split: (features, mean loss, accuracy, arg-max class per image on the device)."""
    model.eval()
    features, predictions = [], []
    loss_sum, correct = torch.zeros((), device=images.device), torch.zeros((), device=images.device)
    for start in range(0, len(images), batch_size):
        x = normalize(images[start:start + batch_size], mean, std)
        y = labels[start:start + batch_size]
        feats, logits = model(x)
        features.append(feats)
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        predictions.append(logits.argmax(1))
        correct += (predictions[-1] == y).sum()
    n = len(images)
    return torch.cat(features), float(loss_sum) / n, float(correct) / n, torch.cat(predictions)


class _HostCopy:
    """A tensor on its way to host memory; `wait` returns it as a numpy array once it has arrived."""

    def __init__(self, host: torch.Tensor, event=None):
        self.host, self.event = host, event

    def wait(self) -> np.ndarray:
        if self.event is not None:
            self.event.synchronize()
        return self.host.numpy()


def _copy_to_host(tensor: torch.Tensor, stream) -> _HostCopy:
    """Starts copying `tensor` to the host. On the CPU it is the tensor itself (nothing changes); on a
    GPU a non-blocking copy into pinned memory on `stream`, after the work queued so far on the current
    stream, so later kernels overlap it; an event marks its end. The values are those of `.cpu()`."""
    if tensor.device.type != "cuda":
        return _HostCopy(tensor.cpu())
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    stream.wait_stream(torch.cuda.current_stream(tensor.device))
    with torch.cuda.stream(stream):
        host.copy_(tensor, non_blocking=True)
        event = torch.cuda.Event()
        event.record(stream)
    tensor.record_stream(stream)  # the caching allocator keeps its memory until the copy is done
    return _HostCopy(host, event)


def initial_model(trial: Trial, space, splits: Splits, device: torch.device):
    """The trial's network as training starts: built under the trial's seed. DARTS networks raise path
    dropout over training; it is 0 until the first epoch, so that the proxies see a network without
    randomness (fhbench.spaces.darts)."""
    torch.manual_seed(trial.seed)
    model = space.build(space.parse(trial.config), splits.num_classes,
                        in_channels=splits.train.images.shape[1]).to(device)
    drop_path_schedule = getattr(model, "schedule_drop_path", None)
    if drop_path_schedule is not None:
        drop_path_schedule(0.0)
    return model


def initial_proxies(model, suite: Suite, splits: Splits, device: torch.device) -> ProxyResult:
    """The zero-cost proxies of the untrained `model` on the first train.batch_size images of the train
    split, un-augmented and unshuffled (the same batch for every trial), normalised as training does."""
    batch = suite.train.batch_size
    images = normalize(splits.train.images[:batch].to(device), splits.mean, splits.std)
    return compute_proxies(model, images, splits.train.labels[:batch].to(device))


def train_trial(trial: Trial, suite: Suite, space, splits: Splits, device: torch.device, *,
                capture: bool = True, on_epoch: Callable[[int, float], None] | None = None,
                on_step: Callable[[int], None] | None = None):
    """Trains one trial. Yields per-epoch records; with `capture` they hold the features to keep.

    A generator so that the caller writes each epoch's features as soon as they exist: memory stays
    at one epoch's features whatever the budget. `on_step(step)` is called after each optimizer step
    (`fhbench.record.forecast` times the first few and stops the trial by raising).
    """
    keep_predictions = capture and suite.record.predictions
    if keep_predictions:
        check_prediction_classes(suite, splits.num_classes)
    model = initial_model(trial, space, splits, device)
    generator = torch.Generator().manual_seed(trial.seed)
    config = space.parse(trial.config)
    drop_path_schedule = getattr(model, "schedule_drop_path", None)
    base_lr = suite.train.lr_for(trial.config)  # per model in space cnn (A.2), else train.lr
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr, momentum=suite.train.momentum,
                                weight_decay=suite.train.weight_decay)
    train_x, train_y = splits.train.images.to(device), splits.train.labels.to(device)
    val_x, val_y = splits.val.images.to(device), splits.val.labels.to(device)
    test_x, test_y = splits.test.images.to(device), splits.test.labels.to(device)
    mean, std = splits.mean, splits.std
    n, batch_size, budget = len(train_x), suite.train.batch_size, trial.epochs(suite)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = budget * steps_per_epoch  # the schedule ends at the trial's own budget
    kept = suite.kept_epochs()
    n_keep = suite.record.kept_train_images(n)
    checkpoints = set(suite.checkpoints) | {budget}
    feature_dtype = getattr(torch, suite.record.precision)
    padding = max(1, train_x.shape[-1] // 8)  # 4 for 32x32 images, scaled for downsampled ones
    augment_options = {}
    if suite.data.augment in ("randaugment", "crop-flip-cutout"):
        # Cutout fills with the train mean in uint8 pixels (mean is on the [0, 1] scale): zero once normalized.
        augment_options["cutout_fill"] = tuple(round(255 * v) for v in mean)
    if suite.data.augment == "randaugment":
        # Space randaugment: N and M are the trial's config's; otherwise the suite's data.randaugment_n/m.
        augment_options["n"], augment_options["m"] = (
            space.augmentation(config) if hasattr(space, "augmentation")
            else (suite.data.randaugment_n, suite.data.randaugment_m))

    # computed on a copy under their own seed, so training below is bitwise unchanged
    proxies = initial_proxies(model, suite, splits, device) if capture and suite.record.proxies else None

    copy_stream = torch.cuda.Stream(device) if device.type == "cuda" and capture else None
    step = 0
    for epoch in range(1, budget + 1):
        start = time.perf_counter()
        model.train()
        if drop_path_schedule is not None:
            drop_path_schedule((epoch - 1) / budget)  # DARTS: epoch/epochs, counted from 0, each epoch's start
        keep_features = capture and epoch in kept
        train_features = torch.empty(n_keep, space.feature_dim_of(config), device=device) if keep_features else None
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        order = torch.randperm(n, generator=generator).to(device)
        epoch_lr = learning_rate(suite, step, total_steps, base_lr)  # the rate the epoch starts with
        for start_index in range(0, n, batch_size):
            lr = learning_rate(suite, step, total_steps, base_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = order[start_index:start_index + batch_size]
            x = normalize(augment(train_x[index], suite.data.augment, generator, padding, **augment_options),
                          mean, std)
            y = train_y[index]
            features, logits = model(x)
            loss = F.cross_entropy(logits, y)
            # DARTS's auxiliary tower adds to the gradient only: train_loss stays the main loss.
            aux_logits = getattr(model, "aux_logits", None)
            total_loss = loss if aux_logits is None else loss + model.auxiliary_weight * F.cross_entropy(aux_logits, y)
            optimizer.zero_grad(set_to_none=True)
            total_loss.backward()
            optimizer.step()
            step += 1
            if on_step is not None:
                on_step(step)
            with torch.no_grad():
                if keep_features and n_keep == n:
                    train_features[index] = features
                elif keep_features:
                    wanted = index < n_keep
                    train_features[index[wanted]] = features[wanted]
                loss_sum += loss.detach() * len(y)
                correct += (logits.argmax(1) == y).sum()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epoch_time = time.perf_counter() - start

        start = time.perf_counter()
        if keep_features:  # on a GPU the copy to the host runs beside the validation pass
            train_copy = _copy_to_host(train_features.to(feature_dtype), copy_stream)
        val_features, val_loss, val_acc, val_predictions = evaluate(model, val_x, val_y, mean, std)
        kept_features = None
        if keep_features:
            kept_features = (train_copy.wait(), _copy_to_host(val_features.to(feature_dtype), copy_stream).wait())
        if keep_predictions:
            val_predictions = val_predictions.to(torch.uint8).cpu().numpy()
        val_time = time.perf_counter() - start
        start = time.perf_counter()
        test_acc = math.nan
        if suite.train.record_test and epoch in checkpoints:
            test_acc = evaluate(model, test_x, test_y, mean, std)[2]
        test_time = time.perf_counter() - start
        record = {
            "epoch": epoch,
            "train_loss": float(loss_sum) / n,
            "train_acc": float(correct) / n,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "test_acc": test_acc,
            "lr": epoch_lr,
            "epoch_time": epoch_time,
            "val_time": val_time,
            "test_time": test_time,
            "classifier_w": model.classifier.weight.detach().cpu().numpy().copy(),
            "classifier_b": model.classifier.bias.detach().cpu().numpy().copy(),
        }
        if kept_features is not None:
            record["train_features"], record["val_features"] = kept_features
        if keep_predictions:
            record["val_predictions"] = val_predictions
        if epoch == 1 and proxies is not None:
            record["proxies"] = proxies
        record["diverged"] = not (math.isfinite(record["train_loss"]) and math.isfinite(val_loss))
        if on_epoch:
            on_epoch(epoch, epoch_time)  # the training pass alone: what images/s should be measured on
        yield record
        if record["diverged"]:
            return  # the caller records a failed trial


def recording_conditions(device: torch.device) -> dict:
    """What a trace depends on beyond the suite and the seed. On the CPU the thread count changes the
    order of floating-point reductions, so traces are bitwise repeatable only at the same count."""
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


def trial_meta(trial: Trial, suite: Suite, space, splits: Splits, conditions: dict) -> dict:
    return {
        "config": trial.config,
        "config_vector": space.encode(space.parse(trial.config)).tolist(),
        "repeat": trial.repeat,
        "index": trial.index,
        "seed": trial.seed,
        "budget": trial.epochs(suite),
        "num_classes": splits.num_classes,
        "feature_dim": space.feature_dim_of(space.parse(trial.config)),
        "space": suite.space.name,
        "dataset_source": splits.source,
        "suite": suite.name,
        "conditions": conditions,
    }


def record_trial(trial: Trial, suite: Suite, space, splits: Splits, store: TraceStore,
                 device: torch.device, on_epoch: Callable[[int, float], None] | None = None, *,
                 background: bool = True, run_token: str | None = None) -> str:
    """Trains and writes one trial; returns its status ("complete" or "diverged").

    Feature files are written by the writer's background thread while training goes on (`background`
    False writes them in this thread: the same bytes). A write error (a full disk) is raised here as
    the OSError it was, and nothing is published: the trial stays under ``.partial/``. With
    `run_token` (a Ray task of a parallel run) the trial is published only while that run still owns
    the store (`TraceStore.begin_run`), else `RunSupersededError` is raised and nothing is published.
    """
    check_prediction_classes(suite, splits.num_classes)  # before the writer: nothing half-written
    if trial.epochs(suite) == 0:
        return _record_proxies_only(trial, suite, space, splits, store, device, run_token)
    n_keep = suite.record.kept_train_images(len(splits.train.labels))
    writer = store.writer(trial.trial_id, trial_meta(trial, suite, space, splits, recording_conditions(device)),
                          run_token=run_token)
    if not background:
        writer.queue_size = 0
    curves = {name: [] for name in CURVES + TIMINGS + TEST_CURVES}
    weights, biases, predictions = [], [], []
    status = "complete"
    proxies = None
    try:
        for record in train_trial(trial, suite, space, splits, device, on_epoch=on_epoch):
            for name in curves:
                curves[name].append(record[name])
            weights.append(record["classifier_w"])
            biases.append(record["classifier_b"])
            proxies = record.get("proxies", proxies)
            if "val_predictions" in record:
                predictions.append(record["val_predictions"])
            if "train_features" in record:
                writer.write_features(record["epoch"], record["train_features"], record["val_features"])
            if record["diverged"]:
                status = "diverged"
        writer.finish(
            status=status,
            curves={name: np.asarray(values, dtype=np.float64) for name, values in curves.items()},
            labels={"train": splits.train.labels[:n_keep].numpy(), "train_index": np.arange(n_keep),
                    "val": splits.val.labels.numpy()},
            classifier_w=np.stack(weights), classifier_b=np.stack(biases),
            predictions=np.stack(predictions) if predictions else None,
            **({"proxies": proxies.to_dict()} if proxies is not None else {}),
        )
    finally:
        writer.close()  # no thread outlives the trial, whatever ended it
    return status


def _record_proxies_only(trial: Trial, suite: Suite, space, splits: Splits, store: TraceStore,
                         device: torch.device, run_token: str | None) -> str:
    """A proxy-only trial (train.epochs = 0): its network built as for training, its zero-cost proxies
    (`initial_proxies`, the same values a trained trial of the same seed records), and no epochs."""
    meta = trial_meta(trial, suite, space, splits, recording_conditions(device))
    writer = store.writer(trial.trial_id, meta, run_token=run_token)
    try:
        proxies = initial_proxies(initial_model(trial, space, splits, device), suite, splits, device)
        writer.finish(status="complete", **_no_epochs(splits.num_classes, meta["feature_dim"]),
                      proxies=proxies.to_dict())
    finally:
        writer.close()
    return "complete"


def _no_epochs(num_classes: int, feature_dim: int) -> dict:
    """The arrays of a trace that holds no epochs (a proxy-only or a lost trial), for `TrialWriter.finish`."""
    empty = np.zeros(0, dtype=np.float64)
    no_labels = np.zeros(0, dtype=np.int64)
    return {"curves": {name: empty for name in CURVES + TIMINGS + TEST_CURVES},
            "labels": {"train": no_labels, "train_index": no_labels, "val": no_labels},
            "classifier_w": np.zeros((0, num_classes, feature_dim), dtype=np.float32),
            "classifier_b": np.zeros((0, num_classes), dtype=np.float32)}


def record_lost_trial(trial: Trial, suite: Suite, space, splits: Splits, store: TraceStore, *, failure: str,
                      conditions: dict) -> None:
    """Writes a trial that a parallel run could not record as a "lost" trace: no epochs, `failure`
    saying why, and `conditions` the ones it was to be recorded under. It is scored as a failed trial,
    and the next `fhbench record`/`run` records it again (a dead worker can be a passing cause: memory,
    a node going away)."""
    meta = trial_meta(trial, suite, space, splits, conditions)
    writer = store.writer(trial.trial_id, meta)
    try:
        writer.finish(status="lost", **_no_epochs(splits.num_classes, meta["feature_dim"]), failure=failure)
    finally:
        writer.close()
