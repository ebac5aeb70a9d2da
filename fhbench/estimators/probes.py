"""Linear probes on saved features, trained together as one batched problem.

The K probes of an ensemble are independent, so they are stacked along a leading dimension and
trained with batched matrix products. Each probe gets exactly the gradient it would get alone, and
SGD's momentum and weight decay act element-wise, so this equals K separate ``torch.optim.SGD`` runs
that share one minibatch order; it is just K times fewer calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ProbeSettings:
    """Appendix A.1: cross-entropy, SGD momentum 0.9, weight decay 5e-4, lr 0.05 decaying linearly,
    batch 1024, 5 epochs."""

    epochs: int = 5
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 1024
    lr_schedule: str = "linear"  # per step to zero; "constant" keeps lr
    seed: int = 0

    def __post_init__(self):
        for key in ("epochs", "batch_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive integer, got {getattr(self, key)!r}")
        for key in ("lr", "momentum", "weight_decay"):
            if not getattr(self, key) >= 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)!r}")
        if self.lr_schedule not in ("linear", "constant"):
            raise ValueError(f"lr_schedule must be 'linear' or 'constant', got {self.lr_schedule!r}")


@torch.no_grad()
def train_probes(features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                 settings: ProbeSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Trains K probes. features (K, N, d), labels (N,), weight (K, c, d), bias (K, c) -> (W, b).

    The gradient of the mean cross-entropy of a linear softmax classifier is written out
    ((softmax - onehot) / B, times the inputs) and the update is torch.optim.SGD's (momentum without
    dampening, weight decay added to the gradient): no autograd graph, which on small problems
    costs more than the arithmetic. Tests compare it with a plain nn.Linear + torch.optim.SGD loop.
    """
    k, n, _ = features.shape
    classes = weight.shape[1]
    weight, bias = weight.clone(), bias.clone()
    velocity_w = velocity_b = None
    steps_per_epoch = math.ceil(n / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(settings.seed)
    # Logits are kept classes-first, (K, c, B): softmax over a short last dimension is several
    # times slower in PyTorch on the CPU than over a leading one.
    onehot = torch.nn.functional.one_hot(labels, classes).to(features.dtype).T
    step = 0
    for _ in range(settings.epochs):
        # The order is drawn on the CPU whatever the device, so the probes see the same minibatches there.
        order = torch.randperm(n, generator=generator).to(features.device)
        shuffled, targets = features[:, order], onehot[:, order]  # one gather per epoch, then slices
        for start in range(0, n, settings.batch_size):
            lr = settings.lr * (1 - step / total) if settings.lr_schedule == "linear" else settings.lr
            x = shuffled[:, start:start + settings.batch_size]
            delta = torch.baddbmm(bias.unsqueeze(2), weight, x.transpose(1, 2)).softmax(1)
            delta.sub_(targets[:, start:start + settings.batch_size]).div_(x.shape[1])
            grad_w = torch.bmm(delta, x).add_(weight, alpha=settings.weight_decay)
            grad_b = delta.sum(2).add_(bias, alpha=settings.weight_decay)
            if velocity_w is None:
                velocity_w, velocity_b = grad_w, grad_b
            else:
                velocity_w.mul_(settings.momentum).add_(grad_w)
                velocity_b.mul_(settings.momentum).add_(grad_b)
            weight.sub_(velocity_w, alpha=lr)
            bias.sub_(velocity_b, alpha=lr)
            step += 1
    return weight, bias


@torch.no_grad()
def ensemble_probabilities(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The mean over the K probes of their softmax outputs. features (K, M, d) -> (M, c)."""
    logits = torch.baddbmm(bias.unsqueeze(2), weight, features.transpose(1, 2))  # (K, c, M): see train_probes
    return logits.softmax(1).mean(0).T
