"""Zero-cost proxies: scores of an untrained network from one minibatch, computed once at recording.

They rank architectures without training them; none of them is an accuracy, so the baselines that
read them (``baselines/zero_cost.py``) are rank-only (scored on Kendall tau and Spearman rho).

The proxies, as the papers define them; "weights" means the weight tensors of the convolution and
linear layers (``nn.Conv1d/2d/3d``, ``nn.Linear``): biases and normalisation parameters are left out,
as in Abdelfattah et al.'s code (zero-cost-nas, which NASLib copies), which sums its per-layer scores
over those layers only. L is the minibatch's mean cross-entropy, in train mode.

- ``grad-norm`` (Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS", ICLR): the sum over
  weight tensors W of ||dL/dW||_2.
- ``snip`` (Lee et al. 2019, "SNIP: Single-shot Network Pruning based on Connection Sensitivity", ICLR,
  summed over the network as Abdelfattah et al. do): the sum over weights of |w * dL/dw|.
- ``plain`` (Abdelfattah et al. 2021, their control for snip): the sum over weights of w * dL/dw,
  signed (no absolute value).
- ``grasp`` (Wang et al. 2020, "Picking Winning Tickets Before Training by Preserving Gradient Flow",
  ICLR; as a NAS proxy by Abdelfattah et al.): the sum over weights of -w * (H g), g = dL/dw and H the
  Hessian of L, so H g = d(g_const . g)/dw with g_const the gradient held fixed. Signed, negated as
  Abdelfattah et al.'s code negates it (they found accuracy correlates with the negated sum).
- ``fisher`` (Turner et al. 2020, "BlockSwap: Fisher-guided Block Substitution for Network Compression
  on a Budget", ICLR, after Theis et al. 2018; as a NAS proxy by Abdelfattah et al.): per output channel
  k of a weight layer, Delta_k = 1/2 * mean over images n of (sum over positions of a * dL/da)**2, a the
  layer's output (before any normalisation). Summed as Abdelfattah et al.'s code sums it: each channel's
  Delta_k once per weight of that channel (times in_channels * kernel size), which weights wide-input
  layers more than Turner et al.'s plain sum over channels; `fisher(..., per_weight=False)` gives that.
- ``jacob-cov`` (Mellor et al. 2021, "Neural Architecture Search without Training", arXiv v1, 2020,
  the Jacobian covariance score; as NASLib computes it): J the gradient of the summed logits with
  respect to each image (one row per image), C the correlation matrix of the rows, and the score
  -sum over C's eigenvalues s of (log(s + k) + 1/(s + k)), k = 1e-5.
- ``naswot`` (Mellor et al. 2021, ICML version): per image, the binary code of which ReLU units are
  active; K[i, j] = N_A - Hamming(c_i, c_j), summed over the ReLU layers (N_A: number of units); the
  score is log|det K|.
- ``synflow`` (Tanaka et al. 2020, "Pruning neural networks without any data by iteratively conserving
  synaptic flow", NeurIPS; as a NAS proxy by Abdelfattah et al.): every parameter replaced by its
  absolute value, an all-ones input of one image's shape, R = the sum of the logits, and the score the
  sum over weights of |w * dR/dw|. Data-free: the minibatch gives only the input shape.
- ``l2-norm`` (Abdelfattah et al. 2021): the sum over weight tensors W of ||W||_2 (Frobenius), at
  initialisation. Data-free.
- ``params`` and ``flops`` (the baselines every zero-cost paper compares against; Abdelfattah et al.
  2021, NASLib's zero-cost benchmark): the network's learnable parameters (batch-norm scales and shifts
  included, as NAS-Bench-201 counts them) and the multiply-accumulates of one image's forward pass
  (`fhbench.spaces.flops.count_macs_on`: convolutions and matrix products, the field's "FLOPs").

**Shared passes.** The proxies that need the same pass share it; each pass runs once, on one private
copy of the model, under one fixed random state:

- one train-mode *forward* serves every proxy that reads the minibatch: naswot reads its ReLU codes
  (forward hooks), fisher keeps each weight layer's output a, jacob-cov has the images require gradients;
- one *cross-entropy backward* (`torch.autograd.grad` of L) gives dL/dw for grad-norm, snip, plain and
  grasp, and dL/da for fisher;
- grasp's *Hessian-gradient* pass differentiates g_const . g through that same backward (kept with
  ``create_graph``) instead of a second forward and backward of its own;
- jacob-cov's *input backward* differentiates the summed logits of the same forward.

Why each result equals computing the proxy alone: each proxy alone would run the same train-mode
forward on the same copy (same parameters, same batch, the same random state for any dropout) and
differentiate the same scalar; the forward's values do not depend on which tensors are watched (a
forward hook reads outputs, it does not change them; requiring gradients of the images or keeping a
graph changes no forward value), and batch norm in train mode normalises with the minibatch's own
statistics, so the running statistics the forward updates are never read. grasp's own code runs the
forward twice and gets g the first time: the second forward repeats the first exactly. `tests/
test_proxies.py` checks every shared value against a direct computation of that proxy alone.

``seconds[name]`` is the wall time of the passes a proxy uses plus its own arithmetic: what it costs
alone. ``total_s`` is the wall time of all of them together, the passes counted once.

Choices, and why:

- **The model is never touched.** The passes work on a ``copy.deepcopy`` of the model, inside
  ``torch.random.fork_rng`` with a fixed seed, so the model the recorder trains next (parameters,
  buffers such as BatchNorm running statistics, train/eval modes, ``requires_grad``, gradients) and the
  global random state are exactly as before, and a proxy's value does not depend on the random state
  (only a model with dropout would draw from it). synflow works on a copy of its own.
- **Modes.** Everything but synflow and flops runs in train mode, as the first training step sees the
  network (BatchNorm normalises with the minibatch's statistics), as Abdelfattah et al.'s code does.
  synflow runs with every BatchNorm replaced by the identity and in eval mode, the BatchNorm-free copy
  Abdelfattah et al. build for it: its all-ones input has no batch statistics to speak of, and the score
  should depend on the weights alone. flops counts in eval mode (one image).
- **Precision.** synflow is computed in float64, as the papers do: R is a product of layer sums and
  overflows float32 in networks of a few dozen layers. The passes run in the model's own precision (the
  precision training uses); every sum over weights and the jacob-cov eigenvalues are in float64.
- **Deterministic** for the same model, minibatch, device and thread count, as training is (on a GPU,
  only where training's cuDNN settings make it so).
- **Failures are values, not crashes.** A proxy that is not finite (synflow past float64's range, a
  loss that overflowed) or undefined (a singular naswot kernel: two images with the same activation
  code; a jacob-cov row of constant gradients) raises ``ProxyError``; a failed pass fails every proxy
  that uses it, with the pass's reason. ``compute_proxies`` turns it into ``None`` plus the error text,
  and the estimator reading it fails that trial's row (scored last). Nothing is replaced by a fallback
  number. synflow is stored raw, not as its logarithm, so the stored value is the paper's; the
  estimators compare logarithms. A score of exactly 0 (an output that does not depend on the weights,
  such as a NAS-Bench-201 cell of only ``none`` edges) is a value: the worst.
- **Hooks see modules.** naswot hooks ``nn.ReLU`` modules (active = output > 0, the same as input > 0)
  and fisher hooks the weight layers; functions called directly (``F.relu``) are invisible to hooks.
  NAS-Bench-201 uses modules throughout. naswot's kernel is accumulated per layer as exact integer
  counts (float32 matmuls of 0/1 codes are exact below 2**24 units per layer), then summed in float64.
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

from fhbench.spaces.flops import count_macs_on, count_params

PROXIES = ("synflow", "snip", "grad-norm", "naswot", "jacob-cov", "fisher", "grasp", "plain", "l2-norm",
           "params", "flops")
"""Every proxy this module computes, by the name the trace and the estimators use."""

WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
"""The layers whose `weight` the gradient proxies sum over."""

JACOB_COV_K = 1e-5
"""Mellor et al.'s (v1) regulariser of the eigenvalues, as NASLib uses it."""

# The passes each proxy uses (see the module docstring), in the order `_PASS_ORDER` runs them.
_PASSES = {
    "grad-norm": ("forward", "loss-backward"),
    "snip": ("forward", "loss-backward"),
    "plain": ("forward", "loss-backward"),
    "fisher": ("forward", "loss-backward"),
    "grasp": ("forward", "loss-backward", "hessian-gradient"),
    "naswot": ("forward",),
    "jacob-cov": ("forward", "input-backward"),
    "synflow": ("synflow",),
    "flops": ("flops",),
    "l2-norm": (),
    "params": (),
}
_PASS_ORDER = ("flops", "forward", "input-backward", "loss-backward", "hessian-gradient", "synflow")
_PASS_DEPENDS = {"flops": (), "forward": (), "input-backward": ("forward",), "loss-backward": ("forward",),
                 "hessian-gradient": ("loss-backward",), "synflow": ()}
"""The passes each pass reads: one that failed fails those after it, with its reason."""
NEEDS_LABELS = tuple(name for name, passes in _PASSES.items() if "loss-backward" in passes)

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_SEED = 0  # the random state every pass runs under (only dropout-like layers would draw from it)
_EXACT_UNITS = 2 ** 24  # float32 counts integers exactly up to here


class ProxyError(Exception):
    """A proxy that cannot be computed for this network: it overflowed, or is undefined."""


@dataclass(frozen=True)
class ProxyResult:
    """The proxies of one network: `values[name]` is the score, or None where it failed and
    `errors[name]` says why; `seconds[name]` is the wall time of what it used (its passes, shared ones
    counted in full, and its own arithmetic: its cost alone), the failed attempts included; `total_s`
    the wall time of them all together (None in traces recorded before it was kept)."""

    values: dict[str, float | None]
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    total_s: float | None = None

    def to_dict(self) -> dict:
        """A JSON-ready form for a trace's manifest (all values finite floats or None)."""
        data = {"values": dict(self.values), "errors": dict(self.errors), "seconds": dict(self.seconds)}
        return data if self.total_s is None else {**data, "total_s": self.total_s}

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
        total = data.get("total_s")
        return cls(values, {str(k): str(v) for k, v in data.get("errors", {}).items()},
                   {str(k): float(v) for k, v in data.get("seconds", {}).items()},
                   None if total is None else float(total))


def compute_proxies(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None, *,
                    names: Sequence[str] = PROXIES) -> ProxyResult:
    """Computes the proxies `names` of `model` (untrained, forward returning (features, logits) or
    logits) on one minibatch, as the network sees it in training (normalised images and their labels;
    only the cross-entropy proxies need labels). Passes shared by several proxies run once (see the
    module docstring). The model is left exactly as it was.

    A proxy that overflows or is undefined is reported in `errors`, never raised; anything else (a
    batch that does not fit the model, unknown names) is a caller error and raises.
    """
    names = tuple(names)
    unknown = [name for name in names if name not in _PASSES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"proxy names must be distinct names from {', '.join(PROXIES)}, got {list(names)}")
    needs_labels = [name for name in names if name in NEEDS_LABELS]
    if needs_labels and labels is None:
        raise ValueError(f"proxies {', '.join(needs_labels)} need the minibatch's labels, got None")
    started = time.perf_counter()
    values, errors, seconds = {}, {}, {}
    with _private_copy(model) as net:
        passes = _Passes(model, net, images, labels, names)
        passes.run()
        for name in names:
            start = time.perf_counter()
            try:
                values[name] = _finite(_SCORES[name](passes), name)
            except ProxyError as err:
                values[name], errors[name] = None, str(err)
            own = time.perf_counter() - start
            seconds[name] = own + sum(passes.seconds[p] for p in _PASSES[name])
    return ProxyResult(values, errors, seconds, time.perf_counter() - started)


def proxy(name: str, model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """One proxy alone (`compute_proxies` with one name); raises ProxyError where it fails."""
    result = compute_proxies(model, images, labels, names=[name])
    if result.values[name] is None:
        raise ProxyError(result.errors[name])
    return result.values[name]


class _Passes:
    """The passes the requested proxies need, run once each on the private copy `net`, each timed
    (`seconds`) and its failure kept (`failures`) for the proxies that use it."""

    def __init__(self, model: nn.Module, net: nn.Module, images: torch.Tensor, labels: torch.Tensor | None,
                 names: Sequence[str]):
        self.model, self.net, self.images, self.labels, self.names = model, net, images, labels, names
        self.needed = {p for name in names for p in _PASSES[name]}
        self.seconds: dict[str, float] = {}
        self.failures: dict[str, str] = {}
        self.weights = [m.weight for m in net.modules() if isinstance(m, WEIGHT_LAYERS)]
        self.inputs: torch.Tensor | None = None
        self.logits: torch.Tensor | None = None
        self.relu_codes: list[torch.Tensor] = []
        self.layer_outputs: list[tuple[nn.Module, torch.Tensor]] = []
        self.loss_grads: list[torch.Tensor] = []  # dL/dw per weight tensor (with a graph where grasp needs one)
        self.output_grads: list[torch.Tensor] = []  # dL/da per entry of layer_outputs
        self.hessian_grads: list[torch.Tensor] = []
        self.input_grads: torch.Tensor | None = None
        self.macs: int | None = None
        self.synflow: float | None = None

    def run(self) -> None:
        runs = {"flops": self._flops, "forward": self._forward, "input-backward": self._input_backward,
                "loss-backward": self._loss_backward, "hessian-gradient": self._hessian_gradient,
                "synflow": self._synflow}
        for name in _PASS_ORDER:
            if name not in self.needed:
                continue
            start = time.perf_counter()
            try:
                failed_before = next((p for p in _PASS_DEPENDS[name] if p in self.failures), None)
                if failed_before is not None:
                    raise ProxyError(self.failures[failed_before])
                runs[name]()
            except ProxyError as err:
                self.failures[name] = str(err)
            self.seconds[name] = time.perf_counter() - start

    def result(self, passes: Sequence[str]) -> None:
        """Raises the failure of the first of `passes` that failed, for a proxy that uses them."""
        for name in passes:
            if name in self.failures:
                raise ProxyError(self.failures[name])

    # -- the passes ------------------------------------------------------------------------------------
    def _flops(self) -> None:
        self.macs = count_macs_on(self.net, self.images[:1])

    def _forward(self) -> None:
        """One train-mode forward, watching what the requested proxies read."""
        hooks = []
        if "naswot" in self.names:
            relus = [m for m in self.net.modules() if isinstance(m, nn.ReLU)]
            hooks += [relu.register_forward_hook(self._keep_codes) for relu in relus]
        if "fisher" in self.names:
            layers = [m for m in self.net.modules() if isinstance(m, WEIGHT_LAYERS)]
            hooks += [layer.register_forward_hook(self._keep_output) for layer in layers]
        gradients = bool(self.needed & {"loss-backward", "input-backward"})
        self.inputs = self.images.detach().clone().requires_grad_("input-backward" in self.needed)
        try:
            with torch.set_grad_enabled(gradients):
                self.logits = _logits(self.net.train()(self.inputs))
        finally:
            for hook in hooks:
                hook.remove()

    def _keep_codes(self, module, inputs, output) -> None:
        self.relu_codes.append(output.detach().reshape(len(output), -1) > 0)

    def _keep_output(self, module, inputs, output) -> None:
        self.layer_outputs.append((module, output))

    def _input_backward(self) -> None:
        """d(sum of the logits)/d(images), as NASLib's jacob-cov backpropagates a ones vector."""
        retain = "loss-backward" in self.needed  # the cross-entropy backward still runs through this graph
        (grads,) = torch.autograd.grad(self.logits.sum(), self.inputs, retain_graph=retain, allow_unused=True)
        self.input_grads = torch.zeros_like(self.inputs) if grads is None else grads

    def _loss_backward(self) -> None:
        loss = F.cross_entropy(self.logits, self.labels)
        if not torch.isfinite(loss):
            raise ProxyError(f"the initial cross-entropy is {loss.item()}: the network's logits overflowed "
                             f"{self.images.dtype}")
        if not self.weights:
            raise ProxyError("the proxy sums over convolution and linear weights and the model has none")
        outputs = [output for _, output in self.layer_outputs]
        grasp = "hessian-gradient" in self.needed
        grads = torch.autograd.grad(loss, self.weights + outputs, allow_unused=True, create_graph=grasp)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(self.weights + outputs, grads)]
        self.loss_grads, self.output_grads = grads[:len(self.weights)], grads[len(self.weights):]

    def _hessian_gradient(self) -> None:
        """H g for grasp: the gradient of g_const . g, g_const the loss gradient held fixed."""
        z = sum((g.detach() * g).sum() for g in self.loss_grads)
        if not (isinstance(z, torch.Tensor) and z.requires_grad):  # no gradient depends on the weights
            self.hessian_grads = [torch.zeros_like(w) for w in self.weights]
            return
        grads = torch.autograd.grad(z, self.weights, allow_unused=True)
        self.hessian_grads = [torch.zeros_like(w) if g is None else g for w, g in zip(self.weights, grads)]

    def _synflow(self) -> None:
        self.synflow = synflow_score(self.model, self.images)



# -- each proxy's score from its passes ---------------------------------------------------------------

def _weight_sum(passes: _Passes, name: str, term: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                grads: str = "loss_grads") -> float:
    passes.result(_PASSES[name])
    return math.fsum(float(term(w.detach().double(), g.detach().double()))
                     for w, g in zip(passes.weights, getattr(passes, grads)))


def _grad_norm(passes: _Passes) -> float:
    return _weight_sum(passes, "grad-norm", lambda w, g: torch.linalg.vector_norm(g))


def _snip(passes: _Passes) -> float:
    return _weight_sum(passes, "snip", lambda w, g: (w * g).abs().sum())


def _plain(passes: _Passes) -> float:
    return _weight_sum(passes, "plain", lambda w, g: (w * g).sum())


def _grasp(passes: _Passes) -> float:
    return _weight_sum(passes, "grasp", lambda w, hg: -(w * hg).sum(), grads="hessian_grads")


def _fisher(passes: _Passes) -> float:
    passes.result(_PASSES["fisher"])
    return fisher_sum(passes.layer_outputs, passes.output_grads)


def fisher_sum(layer_outputs: Sequence[tuple[nn.Module, torch.Tensor]], output_grads: Sequence[torch.Tensor], *,
               per_weight: bool = True) -> float:
    """Sum over the weight layers' calls of their channels' Delta_k = 1/2 mean_n (sum over positions of
    a * dL/da)**2 (Turner et al. 2020), each counted once per weight of its channel as Abdelfattah et al.'s
    code does (`per_weight`), or once (False: Turner et al.'s sum over channels)."""
    total = []
    for (layer, output), grad in zip(layer_outputs, output_grads):
        product = output.detach().double() * grad.detach().double()
        per_image = product.sum(tuple(range(2, product.dim()))) if product.dim() > 2 else product
        delta = 0.5 * per_image.pow(2).mean(0)
        weights_per_channel = layer.weight[0].numel() if per_weight else 1
        total.append(float(delta.sum()) * weights_per_channel)
    return math.fsum(total)


def _jacob_cov(passes: _Passes) -> float:
    passes.result(_PASSES["jacob-cov"])
    return jacob_cov_score(passes.input_grads)


def jacob_cov_score(input_grads: torch.Tensor, k: float = JACOB_COV_K) -> float:
    """-sum over the eigenvalues s of the images' gradient correlation matrix of log(s + k) + 1/(s + k)."""
    rows = input_grads.detach().reshape(len(input_grads), -1).double()
    if not torch.isfinite(rows).all():
        raise ProxyError("jacob-cov is undefined: the input gradients are not finite (the network's output "
                         "overflowed)")
    spread = rows.std(dim=1)
    constant = int((spread == 0).sum())
    if constant:
        raise ProxyError(f"jacob-cov is undefined: {constant} of the {len(rows)} images have a constant input "
                         f"gradient (zero variance: no correlation; a network whose output ignores its input?)")
    eigenvalues = torch.linalg.eigvalsh(torch.corrcoef(rows).reshape(len(rows), len(rows)))
    return -float((torch.log(eigenvalues + k) + 1.0 / (eigenvalues + k)).sum())


def _naswot(passes: _Passes) -> float:
    passes.result(_PASSES["naswot"])
    if not passes.relu_codes:
        raise ProxyError("naswot needs nn.ReLU modules and the model has none (a ReLU called as a function "
                         "cannot be hooked)")
    return naswot_score(passes.relu_codes)


def naswot_score(relu_codes: Sequence[torch.Tensor]) -> float:
    """log|det K| of the Hamming kernel of the images' activation codes (one bool (n, units) per layer)."""
    n = len(relu_codes[0])
    kernel = torch.zeros((n, n), dtype=torch.float64, device=relu_codes[0].device)
    distinct = torch.zeros((n, n), dtype=torch.bool, device=relu_codes[0].device)
    for active_units in relu_codes:
        units = active_units.shape[1]
        # float32 counts are exact below 2**24 units and much faster than float64
        codes = active_units.to(torch.float32 if units < _EXACT_UNITS else torch.float64)
        active = codes.sum(1).double()
        both = (codes @ codes.T).double()
        hamming = active[:, None] + active[None, :] - 2 * both
        kernel.add_(units - hamming)
        distinct.logical_or_(hamming > 0)
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


def _synflow_of(passes: _Passes) -> float:
    passes.result(_PASSES["synflow"])
    return passes.synflow


def synflow_score(model: nn.Module, images: torch.Tensor) -> float:
    """Sum over weights of |w * dR/dw| with |parameters|, no BatchNorm, an all-ones input of one image's
    shape and R the sum of the logits, in float64, on a copy of its own."""
    with _private_copy(model) as net:
        for module in list(net.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, _BATCH_NORMS):
                    setattr(module, child_name, nn.Identity())
        net.double().eval()
        weights = [m.weight for m in net.modules() if isinstance(m, WEIGHT_LAYERS)]
        if not weights:
            raise ProxyError("synflow sums over convolution and linear weights and the model has none")
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.abs_()
        ones = torch.ones((1, *images.shape[1:]), dtype=torch.float64, device=images.device)
        total = _logits(net(ones)).sum()
        if not torch.isfinite(total):
            raise ProxyError(f"synflow overflowed float64: the all-ones output sums to {total.item()} "
                             f"({len(weights)} weight layers); the network is too deep for this proxy")
        grads = torch.autograd.grad(total, weights, allow_unused=True)
        score = math.fsum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)
        if not math.isfinite(score):
            raise ProxyError(f"synflow overflowed float64: the score is {score} though the output sum is "
                             f"{total.item():.3g}")
        return score


def _l2_norm(passes: _Passes) -> float:
    if not passes.weights:
        raise ProxyError("l2-norm sums over convolution and linear weights and the model has none")
    return math.fsum(float(torch.linalg.vector_norm(w.detach().double())) for w in passes.weights)


def _params(passes: _Passes) -> float:
    return float(count_params(passes.net))


def _flops(passes: _Passes) -> float:
    passes.result(_PASSES["flops"])
    return float(passes.macs)


_SCORES: dict[str, Callable[[_Passes], float]] = {
    "synflow": _synflow_of, "snip": _snip, "grad-norm": _grad_norm, "naswot": _naswot, "jacob-cov": _jacob_cov,
    "fisher": _fisher, "grasp": _grasp, "plain": _plain, "l2-norm": _l2_norm, "params": _params, "flops": _flops}


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


def _logits(output) -> torch.Tensor:
    """fhbench's spaces return (features, logits); a plain classifier returns the logits."""
    return output[1] if isinstance(output, (tuple, list)) else output


def _finite(value: float, proxy_name: str) -> float:
    if not math.isfinite(value):
        raise ProxyError(f"{proxy_name} is {value}: the gradients overflowed")
    return value
