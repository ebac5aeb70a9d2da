"""Linear probes on saved features, trained together as one batched problem.

The K probes of an ensemble are independent, so they are stacked along a leading dimension and
trained with one batched matrix product per step. Summing their mean losses gives each probe exactly
the gradient it would get alone, and SGD's momentum and weight decay act element-wise, so this equals
K separate ``torch.optim.SGD`` runs that share one minibatch order; it is just K times fewer calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


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


def train_probes(features: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                 settings: ProbeSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Trains K probes. features (K, N, d), labels (N,), weight (K, c, d), bias (K, c) -> (W, b)."""
    k, n, _ = features.shape
    weight = weight.detach().clone().requires_grad_(True)
    bias = bias.detach().clone().requires_grad_(True)
    optimizer = torch.optim.SGD([weight, bias], lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(n / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(settings.seed)
    step = 0
    for _ in range(settings.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, settings.batch_size):
            if settings.lr_schedule == "linear":
                optimizer.param_groups[0]["lr"] = settings.lr * (1 - step / total)
            index = order[start:start + settings.batch_size]
            logits = torch.baddbmm(bias.unsqueeze(1), features[:, index], weight.transpose(1, 2))
            targets = labels[index].repeat(k)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets) * k
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return weight.detach(), bias.detach()


@torch.no_grad()
def ensemble_probabilities(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The mean over the K probes of their softmax outputs. features (K, M, d) -> (M, c)."""
    logits = torch.baddbmm(bias.unsqueeze(1), features, weight.transpose(1, 2))
    return logits.softmax(-1).mean(0)
