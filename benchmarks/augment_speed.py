"""Does RandAugment starve the training step? Images/s of the augmentation alone against a ResNet-18
training step, on the same device, batch and image size.

For every batch size and image size it times, on uint8 batches held on the device as fhbench keeps them:

- `crop-flip`: fhbench.inputs.data's pad-and-crop and flip alone (the augmentation of the other suites);
- `randaugment`: `rand_augment(N, M)` alone;
- `A.5 recipe`: `randaugment_pipeline`: RandAugment, pad-and-crop and flip, Cutout (what a RandAugment
  trial runs per minibatch), plus `normalize`;
- `train step`: one SGD step (forward, backward, update; momentum 0.9, weight decay 5e-4) of the
  CIFAR-form ResNet-18 of `fhbench.spaces.cnn.CnnSpace(width=--width)` on a normalised float batch.

Each figure is the mean of `--aug-steps` (augmentations) or `--steps` (training) timed calls after 2
untimed ones, with the device synchronised
around them. `ratio` is the recipe's images/s over the training step's: above 1 the augmentation keeps
up with training even run one after the other on the same device; `share` is the recipe's part of
(recipe + step) time per minibatch, the slowdown it adds to training.

    python benchmarks/augment_speed.py --device cuda                        # the GPU figures
    python benchmarks/augment_speed.py --device cpu --threads 1 --width 0.25 --steps 3 --aug-steps 30
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, device, steps: int) -> float:
    """Mean seconds per call of `fn` over `steps` calls, after 2 untimed ones."""
    import torch

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - start) / steps


def measure(args, device, batch: int, size: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from fhbench.inputs.augment import augment
    from fhbench.inputs.data import normalize
    from fhbench.inputs.augment import rand_augment, randaugment_pipeline
    from fhbench.spaces.cnn import CnnSpace

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1)).to(device)
    labels = torch.randint(0, 10, (batch,), device=device)
    padding = max(1, size // 8)  # as fhbench.record.train.train_trial scales it
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    fill = tuple(round(255 * value) for value in mean)

    seconds = {
        "crop-flip": timed(lambda: augment(images, "crop-flip", generator, padding), device, args.aug_steps),
        "randaugment": timed(lambda: rand_augment(images, args.n, args.m, generator), device, args.aug_steps),
        "A.5 recipe": timed(lambda: normalize(randaugment_pipeline(images, args.n, args.m, generator,
                                                                   padding=padding, cutout_fill=fill), mean, std),
                            device, args.aug_steps),
    }

    space = CnnSpace(width=args.width)
    model = space.build(space.parse("resnet18"), 10, in_channels=3).to(device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = normalize(images, mean, std)

    def step():
        _, logits = model(x)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds["train step"] = timed(step, device, args.steps)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batches", default="128,256", help="comma-separated batch sizes")
    parser.add_argument("--sizes", default="32,16", help="comma-separated image sides")
    parser.add_argument("--n", type=int, default=2, help="RandAugment N")
    parser.add_argument("--m", type=int, default=9, help="RandAugment M (0..30)")
    parser.add_argument("--width", type=float, default=1.0, help="ResNet-18 width multiplier")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per figure")
    parser.add_argument("--aug-steps", type=int, default=100, help="timed augmentation calls per figure")
    args = parser.parse_args(argv)

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} thread(s)"
    print(f"device: {name}; torch {torch.__version__}; RandAugment N={args.n} M={args.m}; "
          f"ResNet-18 width {args.width:g}; mean of {args.aug_steps} augmentations, {args.steps} steps")
    columns = ("crop-flip", "randaugment", "A.5 recipe", "train step")
    print("| batch | size | " + " | ".join(f"{c} (img/s)" for c in columns) + " | ratio | share |")
    print("|" + " --- |" * (len(columns) + 4))
    for batch in (int(b) for b in args.batches.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            seconds = measure(args, device, batch, size)
            rates = [batch / seconds[c] for c in columns]
            ratio = seconds["train step"] / seconds["A.5 recipe"]
            share = seconds["A.5 recipe"] / (seconds["A.5 recipe"] + seconds["train step"])
            print(f"| {batch} | {size} | " + " | ".join(f"{r:,.0f}" for r in rates)
                  + f" | {ratio:.1f} | {share:.1%} |", flush=True)
    return 0


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    raise SystemExit(main())
