"""fh-ensemble's overhead in training epochs on the CNNs' wide features (ResNet-18: 512-d, ResNet-50: 2,048-d).

fh-ensemble's cost grows with the feature dimension (K probes of d x classes weights, trained for 5
epochs over the training features), a network's training epoch with its FLOPs. Both are measured here in
one run, on the same device and thread count, for each network:

- one training epoch: the mean time of `--steps` SGD steps (batch `--batch`, after 2 untimed ones) of
  the CIFAR-form network at `--size` x `--size`, times the steps an epoch of `--images` images takes
  (data loading excluded: fhbench keeps the data on the device);
- one fh-ensemble estimate at K = `--window` (A.1's settings), probes on the same device, on a view of
  `--images` training and `--images` / 4 validation features of the network's dimension, float16 as
  recorded (random values: the probes' cost does not depend on them), feature loading from memory.

The ratio is the estimate's cost in epochs of the same network's training (target: at most 0.05).

    python benchmarks/cnn_overhead.py --models resnet18,resnet50 --images 40000 --size 32 --classes 100 \
        --threads 1 --out benchmarks/results/cnn_overhead_cpu.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def epoch_seconds(model, device, batch: int, size: int, classes: int, images: int, steps: int) -> float:
    import torch
    import torch.nn.functional as F

    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()

    def step():
        _, logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps * math.ceil(images / batch)


def estimate_seconds(dim: int, classes: int, images: int, window: int, device) -> float:
    import numpy as np

    from fhbench.estimators.fh_ensemble import FeatureHistoryEnsemble
    from fhbench.record.view import MemoryFeatures, TraceView

    rng = np.random.default_rng(0)
    n_val = max(images // 4, 1)
    kept = {e: (rng.standard_normal((images, dim)).astype(np.float16),
                rng.standard_normal((n_val, dim)).astype(np.float16)) for e in range(1, window + 1)}
    curves = {name: np.full(window, 0.5) for name in ("train_loss", "train_acc", "val_loss", "val_acc", "lr",
                                                       "epoch_time", "val_time")}
    view = TraceView(trial_id="bench", config="bench", config_vector=np.zeros(1), budget=200, epoch=window,
                     curves=curves, labels={"train": rng.integers(classes, size=images),
                                            "val": rng.integers(classes, size=n_val)},
                     classifier=(rng.standard_normal((window, classes, dim)).astype(np.float32) * 0.01,
                                 np.zeros((window, classes), np.float32)),
                     features=MemoryFeatures("bench", kept, window))
    estimator = FeatureHistoryEnsemble(window=window, device=str(device))
    estimator.estimate(view)  # untimed: first-call allocations
    start = time.perf_counter()
    estimator.estimate(view)
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--images", type=int, default=40000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import torch

    from fhbench.spaces.cnn import CnnSpace

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    space = CnnSpace(width=args.width)
    rows = []
    for name in args.models.split(","):
        config = space.parse(name)
        dim = space.feature_dim_of(config)
        torch.manual_seed(0)
        model = space.build(config, args.classes, in_channels=3).to(device)
        epoch = epoch_seconds(model, device, args.batch, args.size, args.classes, args.images, args.steps)
        estimate = estimate_seconds(dim, args.classes, args.images, args.window, device)
        rows.append({"model": str(name), "feature_dim": dim, "epoch_s": epoch, "estimate_s": estimate,
                     "estimate_epochs": estimate / epoch})
        print(f"{name:12s} d={dim:5d}  training epoch {epoch:8.1f} s  fh-ensemble K={args.window} "
              f"{estimate:6.2f} s  = {estimate / epoch:.4f} epochs")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "torch": torch.__version__, "rows": rows},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
