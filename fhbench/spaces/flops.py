"""Model size: multiply-accumulates of one forward pass, counted by torch's own FLOP counter, and parameters.

**Unit: multiply-accumulates (MACs).** The literature's "FLOPs" for CNNs, the thesis's included, are
multiply-accumulates: it gives ResNet-18 on 32x32 CIFAR-100 images 0.56 G (Table 4.4, appendix A.6).
`torch.utils.flop_counter.FlopCounterMode` counts a multiply and an add as two FLOPs, so it reports
about 1.11 G for the same network; `count_macs` halves its total, which gives 555,468,800 = 0.56 G.

What torch's counter counts, and so what these MACs cover: convolutions (k*k*C_in/groups MACs per
output element; their bias is not counted) and matrix products (linear layers, matmul, attention).
Batch norm, activations, pooling and residual additions are not counted: a few operations per conv
output element, under 1% of ResNet-18's MACs, and the thesis's 0.56 G leaves them out too.

Torch is imported on first use only, like the spaces, so that the suite loader can import this module.
"""

from __future__ import annotations

import operator

from fhbench.core.errors import ConfigError


def _input_shape(input_shape: object) -> tuple[int, int, int]:
    text = "input_shape must be (channels, height, width) of positive integers"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ConfigError(f"{text}, got {input_shape!r}")
    try:
        dims = tuple(-1 if isinstance(v, bool) else operator.index(v) for v in input_shape)
    except TypeError:
        raise ConfigError(f"{text}, got {input_shape!r}") from None
    if min(dims) < 1:
        raise ConfigError(f"{text}, got {input_shape!r}")
    return dims


def count_macs(model, input_shape) -> int:
    """Multiply-accumulates of `model` on one image of `input_shape` (C, H, W), as torch's FLOP counter
    counts them, halved (see the module docstring).

    The forward runs on the device the model's parameters are on: build the model under
    `torch.device("meta")` to count a large network without allocating or computing anything. It runs
    in eval mode under no_grad, so a model's batch-norm statistics are left as they were (and a
    one-image batch with a 1x1 map, which training-mode batch norm refuses, is counted too).
    """
    import torch

    shape = _input_shape(input_shape)
    tensor = next(iter(model.parameters()), None)
    device = tensor.device if tensor is not None else torch.device("cpu")
    return count_macs_on(model, torch.zeros((1, *shape), device=device))


def count_macs_on(model, example) -> int:
    """`count_macs` on the batch `example` (of one input, for one input's MACs), of any shape the model
    takes: the count does not depend on the values."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    training = model.training
    model.eval()
    try:
        with counter, torch.no_grad():
            model(example)
    finally:
        model.train(training)
    # every op the counter knows is a product-sum, counted as 2 FLOPs per MAC, so the total is even
    return counter.get_total_flops() // 2


def count_params(model) -> int:
    """Parameters (weights, biases and batch-norm scales and shifts; not batch-norm running statistics,
    which are buffers). Works on meta-device models too."""
    return sum(p.numel() for p in model.parameters())
