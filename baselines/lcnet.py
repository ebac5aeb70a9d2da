"""LCNet baseline (Klein et al. 2017): a Bayesian NN over ``[config, t]`` that extrapolates learning curves.

One LCNet is trained per population on every observed point (epochs 1..n of every trial), with
``t = epoch / budget``; a trial's final accuracy is the posterior mean at ``[config, 1.0]``.
The sampler is pybnn's adaptive SGHMC; this module only wraps it.

The model's mean is ``asymptote(config) + sum_k w_k(config) * phi_k(t)``: a sigmoid "asymptotic" output
in (0, 1) plus a softmax-weighted mix of 14 parametric basis curves. For the asymptote to be the value
the curve reaches at the end of the budget, each basis curve must be 0 at t = 1, as pybnn 0.0.5 makes
5 of them (vapour pressure, hill3, pow, log power, exponential subtract their value at 1); the others
are not 0 there (pow4 and ilog2 are exactly 1 at t = 1, linear and quadratic reach up to 2 and 3, mmf,
exp4, janoschek, weibull and log-log-linear anywhere in (0, 1)). Points at t <= 0.05 (epoch 10 of 200)
do not constrain those values, so the posterior mean at t = 1 was the asymptote plus a share of them.
On 200 NAS-Bench-201-like curves at epoch 10 of 200 (tests/nb201_like_curves.py, seed 0, 2,000 steps)
they added 0.48 on average (ilog2 alone 0.24) to an asymptote of 0.46, and 26% of the estimates were
above 1 and clipped to 1.0 (39% with the default 13,000 steps; on NAS-Bench-201's own curves 40%; how
many depends on the draw, under 1% on two other seeds). Here every basis is anchored,
``phi_k(t) - phi_k(1)`` (`_AnchoredLCNetwork`): the mean at t = 1 is the asymptote, inside (0, 1) by
construction, and the bases shape only how the curve gets there. (Version 1 used pybnn's bases as
they are.)
"""

from __future__ import annotations

import contextlib
import logging
from typing import Sequence

import numpy as np
import torch
from pybnn.bohamiann import Bohamiann
from pybnn.lcnet import LCNet, bf_layer, get_lc_net_architecture

KNOWN_METRICS = ("val_acc", "train_acc")  # never test data: views refuse it


def _lcnet_network(input_dimensionality: int) -> torch.nn.Module:
    """pybnn's LCNet architecture with its noise parameter initialised.

    pybnn 0.0.5 builds the log-variance bias from ``torch.DoubleTensor(1, 1)``, i.e. uninitialised
    memory: runs would be irreproducible and could start from inf/NaN. Start it at log(1e-3), the
    value pybnn uses for Bohamiann's own noise layer.
    """
    net = get_lc_net_architecture(input_dimensionality)
    with torch.no_grad():
        net.sigma_layer.bias.fill_(float(np.log(1e-3)))
    return net


class _AnchoredLCNetwork(torch.nn.Module):
    """pybnn's LCNet architecture with every basis function anchored at 0 at t = 1 (the budget)."""

    def __init__(self, input_dimensionality: int):
        super().__init__()
        self.net = _lcnet_network(input_dimensionality)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        net = self.net
        t = input[:, -1]
        x = torch.tanh(net.fc1(input[:, :-1]))
        x = torch.tanh(net.fc2(x))
        x = torch.tanh(net.fc3(x))
        theta = torch.sigmoid(net.theta_layer(x))
        basis = bf_layer(theta, t) - bf_layer(theta, torch.ones_like(t))
        weights = torch.softmax(net.weight_layer(x), -1)
        mean = torch.sum(basis * weights, dim=1, keepdim=True) + torch.sigmoid(net.asymptotic_layer(x))
        return net.sigma_layer(mean)


def _copy_weights(self) -> tuple:
    """Weight snapshot without pybnn's ``torch.tensor(tensor)`` copy, which warns on every sample."""
    return tuple(p.detach().cpu().numpy().copy() for p in self.model.parameters())


class _SafeLCNet(LCNet):
    """LCNet with the pybnn 0.0.5 / modern-torch problems fixed in place, not in pybnn."""

    # Keep pybnn's setter (used by predict), replace only the warning getter.
    network_weights = Bohamiann.network_weights.getter(_copy_weights)

    def __init__(self) -> None:
        super().__init__()
        self.get_network = _AnchoredLCNetwork

    def normalize_input(self, x, m=None, s=None):
        """As LCNet (t stays raw), but a config column constant across the population has std 0
        and would turn into NaN; divide it by 1 instead."""
        if s is None:
            s = np.std(x, axis=0)
            s = np.where(s < 1e-12, 1.0, s)
        return super().normalize_input(x, m, s)


@contextlib.contextmanager
def _isolated(seed: int | None = None):
    """One torch thread (pybnn is far faster so) and, if seeded, private global RNG states.

    pybnn draws from the global torch RNG (DataLoader shuffling, SGHMC noise), so we seed it, and
    restore the caller's states and thread count afterwards.
    """
    threads = torch.get_num_threads()
    np_state = np.random.get_state()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)  # pybnn logs to the root logger, e.g. for populations smaller than a batch
    try:
        with torch.random.fork_rng(devices=[]):  # CPU only: the model never touches a GPU
            if seed is not None:
                torch.random.default_generator.manual_seed(seed)
                np.random.seed(seed)
            yield
    finally:
        logging.disable(logging.NOTSET)
        np.random.set_state(np_state)
        torch.set_num_threads(threads)


class LCNetEstimator:
    """Predicts a trial's final accuracy with an LCNet fitted on the population's partial curves."""

    name = "lcnet"
    version = "2"

    def __init__(self, num_steps: int = 13000, burn_in_steps: int = 3000, keep_every: int = 100,
                 lr: float = 1e-2, batch_size: int = 20, seed: int = 0, metric: str = "val_acc"):
        for arg, value in (("num_steps", num_steps), ("keep_every", keep_every), ("batch_size", batch_size)):
            if not _is_int(value) or value < 1:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        for arg, value in (("burn_in_steps", burn_in_steps), ("seed", seed)):
            if not _is_int(value) or value < 0:
                raise ValueError(f"{arg} must be a non-negative int, got {value!r}")
        # pybnn keeps a sample every keep_every steps after burn-in, counted within num_steps.
        if num_steps <= burn_in_steps + keep_every:
            raise ValueError("num_steps must exceed burn_in_steps + keep_every, "
                             "or no posterior sample is kept")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if metric not in KNOWN_METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(KNOWN_METRICS)}")
        self.num_steps, self.burn_in_steps, self.keep_every = num_steps, burn_in_steps, keep_every
        self.lr, self.batch_size, self.seed, self.metric = float(lr), batch_size, seed, metric
        self._model: _SafeLCNet | None = None
        self._cache: dict[bytes, float] = {}

    def fit(self, population: Sequence) -> None:
        """Train one LCNet on every observed (config, t, metric) point of the population."""
        _check_encoded(population)
        rows, targets = [], []
        # In trial order, not the order handed in: SGHMC's minibatches follow the rows, and a population's
        # estimates must not depend on how it was listed.
        for view in sorted(population, key=lambda v: str(v.trial_id)):
            n = int(view.epoch)
            y = np.asarray(view.curve(self.metric), dtype=np.float64)[:n]
            t = np.arange(1, len(y) + 1, dtype=np.float64) / float(view.budget)
            config = np.asarray(view.config_vector, dtype=np.float64)
            ok = np.isfinite(y)  # a diverged epoch says nothing about the curve's shape
            rows.append(np.column_stack([np.tile(config, (int(ok.sum()), 1)), t[ok]]))
            targets.append(y[ok])
        if not rows or sum(len(y) for y in targets) == 0:
            raise ValueError("cannot fit LCNet: the population has no observed points")
        x, y = np.concatenate(rows), np.concatenate(targets)

        model = _SafeLCNet()
        with _isolated(self.seed):
            model.train(x, y, num_steps=self.num_steps, num_burn_in_steps=self.burn_in_steps,
                        keep_every=self.keep_every, lr=self.lr, batch_size=self.batch_size,
                        verbose=False)
        self._model, self._cache = model, {}
        # One batched prediction for the whole population: estimate() then only looks it up.
        self._predict(np.unique(x[:, :-1], axis=0))

    def estimate(self, trial) -> float:
        """Posterior mean at t = 1 (the planned budget) for the trial's config: the mean of the sampled
        networks' asymptotes, in (0, 1) (the clip to [0, 1] only guards against rounding)."""
        if self._model is None:
            raise RuntimeError("LCNetEstimator.estimate called before fit")
        config = np.asarray(trial.config_vector, dtype=np.float64)
        key = config.tobytes()
        if key not in self._cache:
            self._predict(config[None, :])
        return self._cache[key]

    def _predict(self, configs: np.ndarray) -> None:
        """Predict the final metric of each config row and cache it by the row's bytes."""
        x = np.column_stack([configs, np.ones(len(configs))])
        with _isolated():
            mean, _ = self._model.predict(x)
        for config, m in zip(configs, mean):
            self._cache[np.ascontiguousarray(config).tobytes()] = float(np.clip(m, 0.0, 1.0))


def _check_encoded(population: Sequence) -> None:
    """LCNet predicts a trial's curve from its configuration alone: without an encoding (ids outside any
    known space, such as imported curves of other benchmarks) every trial would get the same estimate."""
    for view in population:
        if np.asarray(view.config_vector).size == 0:
            raise ValueError(f"lcnet: trial {view.trial_id} has no config encoding (its space has "
                             f"none): LCNet predicts a curve from the configuration and cannot run without one")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
