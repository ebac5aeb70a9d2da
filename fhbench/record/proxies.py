"""Zero-cost proxies: scores of an untrained network from one minibatch, computed once at recording.

They rank architectures without training them; none of them is an accuracy, so the baselines that
read them (``baselines/zero_cost.py``) are rank-only (scored on Kendall tau and Spearman rho).

The proxies, as the papers define them; "weights" means the weight tensors of the convolution and
linear layers (``nn.Conv1d/2d/3d``, ``nn.Linear``): biases and normalisation parameters are left out,
as in Abdelfattah et al.'s implementation, which sums its per-layer scores over those layers only.

- ``grad-norm`` (Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS", ICLR): the sum over
  weight tensors W of ||dL/dW||_2, L the mean cross-entropy of the minibatch.
- ``snip`` (Lee et al. 2019, "SNIP: Single-shot Network Pruning based on Connection Sensitivity", ICLR,
  summed over the network as Abdelfattah et al. do): the sum over weights of |w * dL/dw|.
- ``synflow`` (Tanaka et al. 2020, "Pruning neural networks without any data by iteratively conserving
  synaptic flow", NeurIPS; as a NAS proxy by Abdelfattah et al.): every parameter replaced by its
  absolute value, an all-ones input of one image's shape, R = the sum of the logits, and the score the
  sum over weights of |w * dR/dw|. Data-free: the minibatch gives only the input shape.
- ``naswot`` (Mellor et al. 2021, "Neural Architecture Search without Training", ICML): per image, the
  binary code of which ReLU units are active; K[i, j] = N_A - Hamming(c_i, c_j), summed over the ReLU
  layers (N_A: number of units); the score is log|det K|.

Choices, and why:

- **The model is never touched.** Each proxy works on its own ``copy.deepcopy`` of the model, inside
  ``torch.random.fork_rng`` with a fixed seed, so the model the recorder trains next (parameters,
  buffers such as BatchNorm running statistics, train/eval modes, ``requires_grad``, gradients) and the
  global random state are exactly as before, and a proxy's value does not depend on the random state
  (only a model with dropout would draw from it). Signs need no saving for synflow: the copy is dropped.
- **Modes.** grad-norm, snip and naswot run in train mode, as the first training step sees the network
  (BatchNorm normalises with the minibatch's statistics). synflow runs with every BatchNorm replaced by
  the identity and in eval mode, the BatchNorm-free copy Abdelfattah et al. build for it: its all-ones
  input has no batch statistics to speak of, and the score should depend on the weights alone.
- **Precision.** synflow is computed in float64, as the papers do: R is a product of layer sums and
  overflows float32 in networks of a few dozen layers. The others run in the model's own precision
  (the precision training uses) and are summed in float64.
- **Deterministic** for the same model, minibatch, device and thread count, as training is (on a GPU,
  only where training's cuDNN settings make it so).
- **Failures are values, not crashes.** A proxy that is not finite (synflow past float64's range, a
  loss that overflowed) or undefined (a singular naswot kernel: two images with the same activation
  code, e.g. a network whose cell discards its input) raises ``ProxyError``; ``compute_proxies`` turns it
  into ``None`` plus the error text, and the estimator reading it fails that trial's row (scored last).
  Nothing is replaced by a fallback number. synflow is stored raw, not as its logarithm, so the stored
  value is the paper's; the estimators compare logarithms. A score of exactly 0 (an output that does
  not depend on the weights, such as a NAS-Bench-201 cell of only ``none`` edges) is a value: the worst.
- **naswot hooks ``nn.ReLU`` modules** (forward hooks on their output, active = output > 0, the same as
  input > 0). ReLUs called as functions are invisible to hooks; NAS-Bench-201 uses modules throughout.
  The kernel is accumulated per layer as exact integer counts (float32 matmuls of 0/1 codes are exact
  below 2**24 units per layer), then summed in float64.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

PROXIES = ("synflow", "snip", "grad-norm", "naswot")
"""Every proxy this module computes, by the name the trace and the estimators use."""

WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
"""The layers whose `weight` the gradient proxies sum over."""

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_SEED = 0  # the random state every proxy runs under (only dropout-like layers would draw from it)
_EXACT_UNITS = 2 ** 24  # float32 counts integers exactly up to here


class ProxyError(Exception):
    """A proxy that cannot be computed for this network: it overflowed, or is undefined."""


@dataclass(frozen=True)
class ProxyResult:
    """The proxies of one network: `values[name]` is the score, or None where it failed and
    `errors[name]` says why; `seconds[name]` is its wall time, the failed attempts included."""

    values: dict[str, float | None]
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready form for a trace's manifest (all values finite floats or None)."""
        return {"values": dict(self.values), "errors": dict(self.errors), "seconds": dict(self.seconds)}

    @classmethod
    def from_dict(cls, data: dict) -> ProxyResult:
        if not isinstance(data.get("values"), dict):
            raise ValueError(f"stored proxies need a 'values' mapping, got {data!r}")
        values = {str(k): (None if v is None else float(v)) for k, v in data["values"].items()}
        for name, value in values.items():
            if value is not None and not math.isfinite(value):
                raise ValueError(f"proxy {name!r} is stored as {value!r}: a proxy is a finite number or None")
            if value is None and name not in data.get("errors", {}):
                raise ValueError(f"proxy {name!r} is None without an error saying why")
        return cls(values, {str(k): str(v) for k, v in data.get("errors", {}).items()},
                   {str(k): float(v) for k, v in data.get("seconds", {}).items()})


def compute_proxies(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None, *,
                    names: Sequence[str] = PROXIES) -> ProxyResult:
    """Computes the proxies `names` of `model` (untrained, forward returning (features, logits) or
    logits) on one minibatch, as the network sees it in training (normalised images and their labels;
    synflow and naswot need no labels). The model is left exactly as it was (see the module docstring).

    A proxy that overflows or is undefined is reported in `errors`, never raised; anything else (a
    batch that does not fit the model, unknown names) is a caller error and raises.
    """
    names = tuple(names)
    unknown = [name for name in names if name not in _FUNCTIONS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"proxy names must be distinct names from {', '.join(PROXIES)}, got {list(names)}")
    needs_labels = [name for name in names if name in ("snip", "grad-norm")]
    if needs_labels and labels is None:
        raise ValueError(f"proxies {', '.join(needs_labels)} need the minibatch's labels, got None")
    values, errors, seconds = {}, {}, {}
    for name in names:
        start = time.perf_counter()
        try:
            values[name] = _FUNCTIONS[name](model, images, labels)
        except ProxyError as err:
            values[name], errors[name] = None, str(err)
        seconds[name] = time.perf_counter() - start
    return ProxyResult(values, errors, seconds)


def grad_norm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Sum over weight tensors of the L2 norm of the cross-entropy gradient (Abdelfattah et al. 2021)."""
    with _private_copy(model) as net:
        grads = _loss_gradients(net, images, labels, "grad-norm")
        return _finite(sum(float(torch.linalg.vector_norm(g.double())) for _, g in grads), "grad-norm")


def snip(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Sum over weights of |w * dL/dw|, L the cross-entropy (Lee et al. 2019; Abdelfattah et al. 2021)."""
    with _private_copy(model) as net:
        grads = _loss_gradients(net, images, labels, "snip")
        return _finite(sum(float((w.double() * g.double()).abs().sum()) for w, g in grads), "snip")


def synflow(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """Sum over weights of |w * dR/dw| with |parameters|, no BatchNorm, an all-ones input and R the
    sum of the logits, in float64 (Tanaka et al. 2020; Abdelfattah et al. 2021). `labels` are unused."""
    with _private_copy(model) as net:
        for module in list(net.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, _BATCH_NORMS):
                    setattr(module, child_name, nn.Identity())
        net.double().eval()
        weights = _weights(net, "synflow")
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.abs_()
        ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
        total = _logits(net(ones)).sum()
        if not torch.isfinite(total):
            raise ProxyError(f"synflow overflowed float64: the all-ones output sums to {total.item()} "
                             f"({len(weights)} weight layers); the network is too deep for this proxy")
        grads = torch.autograd.grad(total, weights, allow_unused=True)
        score = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)
        if not math.isfinite(score):
            raise ProxyError(f"synflow overflowed float64: the score is {score} though the output sum is "
                             f"{total.item():.3g}")
        return score


def naswot(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """log|det K|, K[i, j] = sum over ReLU layers of (units - Hamming distance between images i and j's
    activation codes) (Mellor et al. 2021). `labels` are unused."""
    n = len(images)
    with _private_copy(model) as net:
        relus = [module for module in net.modules() if isinstance(module, nn.ReLU)]
        if not relus:
            raise ProxyError("naswot needs nn.ReLU modules and the model has none (a ReLU called as a "
                             "function cannot be hooked)")
        kernel = torch.zeros((n, n), dtype=torch.float64, device=images.device)
        distinct = torch.zeros((n, n), dtype=torch.bool, device=images.device)

        def add_layer(module, inputs, output):
            active_units = output.detach().reshape(n, -1) > 0
            units = active_units.shape[1]
            # float32 counts are exact below 2**24 units and much faster than float64
            codes = active_units.to(torch.float32 if units < _EXACT_UNITS else torch.float64)
            active = codes.sum(1).double()
            both = (codes @ codes.T).double()
            hamming = active[:, None] + active[None, :] - 2 * both
            kernel.add_(units - hamming)
            distinct.logical_or_(hamming > 0)

        handles = [relu.register_forward_hook(add_layer) for relu in relus]
        try:
            with torch.no_grad():
                net.train()(images)
        finally:
            for handle in handles:
                handle.remove()
        # Two images with the same codes in every layer make two equal rows: det K = 0 exactly.
        same = (~distinct).sum().item() - n
        if same > 0:
            raise ProxyError(f"naswot is undefined: {same // 2} pair(s) of the {n} images have identical "
                             f"activation codes in every ReLU layer, so the kernel is singular (identical "
                             f"images in the batch, or a network whose output ignores its input)")
        sign, logdet = torch.linalg.slogdet(kernel)
        if sign == 0 or not torch.isfinite(logdet):
            raise ProxyError(f"naswot is undefined: the {n}x{n} kernel is singular (log|det| = {float(logdet)})")
        return float(logdet)


_FUNCTIONS: dict[str, Callable[..., float]] = {"synflow": synflow, "snip": snip, "grad-norm": grad_norm,
                                               "naswot": naswot}


@contextlib.contextmanager
def _private_copy(model: nn.Module) -> Iterator[nn.Module]:
    """A deep copy of the model, without gradients, used under a fixed random state that is restored
    afterwards."""
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(_SEED)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(_SEED)
        net = copy.deepcopy(model)
        for parameter in net.parameters():
            parameter.grad = None  # a copy of the model's gradients: unused (autograd.grad does not add to it)
            parameter.requires_grad_(True)
        yield net


def _weights(net: nn.Module, proxy: str) -> list[torch.Tensor]:
    weights = [m.weight for m in net.modules() if isinstance(m, WEIGHT_LAYERS)]
    if not weights:
        raise ProxyError(f"{proxy} sums over convolution and linear weights and the model has none")
    return weights


def _logits(output) -> torch.Tensor:
    """fhbench's spaces return (features, logits); a plain classifier returns the logits."""
    return output[1] if isinstance(output, (tuple, list)) else output


def _loss_gradients(net: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    proxy: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, dL/dweight) of every weight layer, L the minibatch's mean cross-entropy in train mode."""
    weights = _weights(net, proxy)
    loss = F.cross_entropy(_logits(net.train()(images)), labels)
    if not torch.isfinite(loss):
        raise ProxyError(f"{proxy}: the initial cross-entropy is {loss.item()}: the network's logits "
                         f"overflowed {images.dtype}")
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    return [(w.detach(), g if g is not None else torch.zeros_like(w)) for w, g in zip(weights, grads)]


def _finite(value: float, proxy: str) -> float:
    if not math.isfinite(value):
        raise ProxyError(f"{proxy} is {value}: the gradients overflowed")
    return value
