"""Zero-cost proxies (fhbench.record.proxies) and the rank-only estimators that read them (baselines/zero_cost.py)."""

from __future__ import annotations

import copy
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fhbench.record.proxies import PROXIES, ProxyError, ProxyResult, compute_proxies, fisher_sum, proxy
from fhbench.spaces.nb201 import Nb201Cell, Nb201Space
from fhbench_baselines.zero_cost import GradNorm, Naswot, Snip, Synflow, proxy_to_unit



def grad_norm(model, images, labels):
    return proxy("grad-norm", model, images, labels)


def snip(model, images, labels):
    return proxy("snip", model, images, labels)


def synflow(model, images):
    return proxy("synflow", model, images)


def naswot(model, images):
    return proxy("naswot", model, images)


CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
ESTIMATORS = (Synflow, Snip, GradNorm, Naswot)


class TwoLayer(nn.Module):
    def __init__(self, batch_norm: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        h = self.relu(self.bn(self.fc1(x)))
        return h, self.fc2(h)


def two_layer(seed: int = 0, batch_norm: bool = False) -> TwoLayer:
    torch.manual_seed(seed)
    return TwoLayer(batch_norm)


def batch(n: int = 5, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=generator), torch.randint(0, 2, (n,), generator=generator)


def numpy_params(model: TwoLayer):
    return [p.detach().double().numpy() for p in (model.fc1.weight, model.fc1.bias, model.fc2.weight, model.fc2.bias)]


def tiny_nb201(cell: str = CELL, channels: int = 4, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return Nb201Space(channels=channels, cells_per_stage=1).build(Nb201Cell.from_string(cell), num_classes=10)


def image_batch(n: int = 16, size: int = 8, seed: int = 2):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator), torch.randint(0, 10, (n,), generator=generator)


# -- hand-computed values ----------------------------------------------------------------------------

def test_grad_norm_and_snip_match_gradients_derived_by_hand():
    model = two_layer()
    x, y = batch()
    w1, b1, w2, b2 = numpy_params(model)
    xs, n = x.double().numpy(), len(y)
    # Backpropagation written out: cross-entropy mean over the batch, ReLU between the layers.
    z1 = xs @ w1.T + b1
    h = np.maximum(z1, 0)
    z2 = h @ w2.T + b2
    p = np.exp(z2 - z2.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz2 = (p - np.eye(2)[y.numpy()]) / n
    dw2 = dz2.T @ h
    dw1 = ((dz2 @ w2) * (z1 > 0)).T @ xs
    expected_norm = np.linalg.norm(dw1) + np.linalg.norm(dw2)
    expected_snip = np.abs(w1 * dw1).sum() + np.abs(w2 * dw2).sum()
    assert grad_norm(model, x, y) == pytest.approx(expected_norm, rel=1e-5)
    assert snip(model, x, y) == pytest.approx(expected_snip, rel=1e-5)


def test_synflow_matches_the_formula_and_ignores_weight_signs():
    model = two_layer()
    x, _ = batch()
    w1, b1, w2, b2 = (np.abs(a) for a in numpy_params(model))
    # All-ones input, |parameters|: every unit is positive, so the ReLU passes everything.
    h = w1 @ np.ones(3) + b1
    # R = sum(w2 h + b2): dR/dw2[i, j] = h[j]; dR/dw1[j, k] = sum_i w2[i, j] * 1.
    expected = (w2 * h[None, :]).sum() + (w1 * w2.sum(0)[:, None]).sum()
    assert synflow(model, x) == pytest.approx(expected, rel=1e-12)
    with torch.no_grad():
        model.fc1.weight.neg_()
        model.fc2.bias.neg_()
    assert synflow(model, x) == pytest.approx(expected, rel=1e-12)


def test_synflow_is_not_affected_by_batch_norm():
    plain, normed = two_layer(seed=3), two_layer(seed=3, batch_norm=True)
    normed.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():  # statistics and affine terms far from the identity: they must change nothing
        normed.bn.running_mean.fill_(5.0)
        normed.bn.running_var.fill_(100.0)
        normed.bn.weight.fill_(3.0)
        normed.bn.bias.fill_(-2.0)
    x, _ = batch()
    assert synflow(normed, x) == synflow(plain, x)


def deep_chain(layers: int, width: int = 4, value: float = 2.5) -> nn.Module:
    modules = []
    for _ in range(layers):
        linear = nn.Linear(width, width, bias=False)
        nn.init.constant_(linear.weight, value)
        modules += [linear, nn.ReLU()]
    return nn.Sequential(*modules)


def test_synflow_is_exact_in_float64_beyond_float32s_range():
    # Every layer multiplies the all-ones signal by value * width = 10, so R = width * 10**L, and each
    # layer's share of the score equals R (synaptic flow is conserved): synflow = L * R.
    layers, width = 40, 4
    expected = layers * width * 10.0 ** layers
    assert expected > torch.finfo(torch.float32).max
    assert synflow(deep_chain(layers, width), torch.ones(2, width)) == pytest.approx(expected, rel=1e-12)


def test_overflowing_proxies_are_failed_results_with_reasons_not_crashes():
    images = torch.rand(8, 4, generator=torch.Generator().manual_seed(0)) + 0.1
    labels = torch.zeros(8, dtype=torch.long)
    float32_overflow = compute_proxies(deep_chain(40), images, labels)
    assert float32_overflow.values["synflow"] > 1e40  # float64 holds it
    for name in ("grad-norm", "snip"):  # float32 training arithmetic does not
        assert float32_overflow.values[name] is None
        assert "overflowed torch.float32" in float32_overflow.errors[name]
    float64_overflow = compute_proxies(deep_chain(400), images, labels, names=["synflow"])
    assert float64_overflow.values == {"synflow": None}
    assert float64_overflow.errors["synflow"].startswith("synflow overflowed float64")
    with pytest.raises(ProxyError, match="synflow overflowed float64"):
        synflow(deep_chain(400), images)
    for result in (float32_overflow, float64_overflow):
        json.dumps(result.to_dict(), allow_nan=False)  # no NaN or inf reaches a trace
        for name, value in result.values.items():
            assert (value is None) == (name in result.errors)
            assert value is None or math.isfinite(value)


class Codes(nn.Module):
    """Two ReLU layers that see the input directly: the activation codes are the input's signs."""

    def __init__(self):
        super().__init__()
        self.first, self.second = nn.ReLU(), nn.ReLU()
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        h = torch.cat([self.first(x[:, :4]), self.second(x[:, 4:])], 1)
        return h, self.fc(h)


def signs(*codes: str) -> torch.Tensor:
    return torch.tensor([[1.0 if c == "1" else -1.0 for c in code] for code in codes])


def test_naswot_is_the_log_determinant_of_the_hamming_kernel():
    # first layer (4 units): 1100, 1010, 0001 -> agreements 2, 1, 1 off the diagonal, 4 on it
    # second layer (2 units): 10, 10, 01 -> agreements 2, 0, 0, and 2 on the diagonal
    # K = [[6, 4, 1], [4, 6, 1], [1, 1, 6]]: det = 6*35 - 4*23 + 1*(4 - 6) = 116
    x = signs("110010", "101010", "000101")
    assert naswot(Codes(), x) == pytest.approx(math.log(116), rel=1e-12)


def test_naswot_of_identical_codes_is_a_failure_not_minus_infinity():
    x = signs("110010", "101010", "110010")
    result = compute_proxies(Codes(), x, None, names=["naswot"])
    assert result.values == {"naswot": None}
    assert "1 pair(s) of the 3 images have identical activation codes" in result.errors["naswot"]


def test_naswot_without_relu_modules_says_so():
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2))
    with pytest.raises(ProxyError, match="needs nn.ReLU modules"):
        naswot(model, torch.randn(4, 3))


# -- the recorder's model is left alone ----------------------------------------------------------------

def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict(keep_vars=False).items()},
        "modes": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["state"].keys() == after["state"].keys()
    for key in before["state"]:
        a, b = before["state"][key], after["state"][key]
        assert a.dtype == b.dtype and torch.equal(a, b), f"{key} changed"
    assert before["modes"] == after["modes"]
    assert before["requires_grad"] == after["requires_grad"]
    for a, b in zip(before["grads"], after["grads"]):
        assert (a is None and b is None) or torch.equal(a, b)


def sgd_step(model: nn.Module, x, y) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()
    F.cross_entropy(model(x)[1], y).backward()
    optimizer.step()


def test_proxies_leave_the_model_and_the_random_state_exactly_as_they_were():
    model = tiny_nb201()
    untouched = copy.deepcopy(model)
    x, y = image_batch()
    before, rng = snapshot(model), torch.get_rng_state()
    result = compute_proxies(model, x, y)
    assert not result.errors
    assert_same(before, snapshot(model))
    assert torch.equal(rng, torch.get_rng_state())
    # Training afterwards takes the very step it takes without proxies.
    sgd_step(model, x, y)
    sgd_step(untouched, x, y)
    assert_same(snapshot(untouched), snapshot(model))


def test_gradients_modes_and_frozen_parameters_survive_and_do_not_leak_into_values():
    x, y = image_batch()
    clean = compute_proxies(tiny_nb201(), x, y).values
    model = tiny_nb201().eval()
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, 7.0)
    model.classifier.weight.requires_grad_(False)
    before = snapshot(model)
    assert compute_proxies(model, x, y).values == clean
    assert_same(before, snapshot(model))


def test_proxies_are_deterministic_and_independent_of_the_global_random_state():
    model = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 2))
    x, y = batch(n=6)
    torch.manual_seed(1)
    first = compute_proxies(model, x, y)
    torch.manual_seed(2)
    second = compute_proxies(model, x, y)
    assert first.values == second.values and not first.errors


# -- NAS-Bench-201 networks ------------------------------------------------------------------------

def test_proxies_of_a_real_nb201_network_are_finite_and_timed():
    result = compute_proxies(tiny_nb201(), *image_batch())
    assert set(result.values) == set(result.seconds) == set(PROXIES)
    assert not result.errors
    for name in PROXIES:
        assert math.isfinite(result.values[name]), name
        assert result.seconds[name] > 0
    assert result.values["synflow"] > 0 and result.values["grad-norm"] > 0 and result.values["snip"] > 0


def test_a_cell_that_discards_its_input_scores_zero_and_fails_naswot():
    none_cell = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    result = compute_proxies(tiny_nb201(none_cell), *image_batch())
    assert result.values["synflow"] == 0.0 and result.values["grad-norm"] == 0.0 and result.values["snip"] == 0.0
    assert result.values["naswot"] is None and "identical activation codes" in result.errors["naswot"]


def test_compute_proxies_rejects_bad_requests():
    model, (x, y) = two_layer(), batch()
    with pytest.raises(ValueError, match="distinct names from synflow"):
        compute_proxies(model, x, y, names=["synflow", "jacov"])
    with pytest.raises(ValueError, match="distinct names"):
        compute_proxies(model, x, y, names=["snip", "snip"])
    with pytest.raises(ValueError, match="grad-norm need the minibatch's labels"):
        compute_proxies(model, x, None, names=["grad-norm", "synflow"])
    assert set(compute_proxies(model, x, None, names=["synflow"]).values) == {"synflow"}


def test_proxy_result_round_trips_and_refuses_non_finite_or_unexplained_values():
    result = compute_proxies(Codes(), signs("110010", "110010"), None, names=["synflow", "naswot"])
    assert ProxyResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    with pytest.raises(ValueError, match="finite number or None"):
        ProxyResult.from_dict({"values": {"synflow": math.inf}})
    with pytest.raises(ValueError, match="None without an error"):
        ProxyResult.from_dict({"values": {"synflow": None}, "errors": {}})


# -- estimators ------------------------------------------------------------------------------------

def trial(**proxies):
    return SimpleNamespace(trial_id="r0-001", proxies=proxies, proxy_errors={})


@pytest.mark.parametrize("log_scale, values", [
    (True, [0.0, 1e-300, 1e-5, 0.5, 1.0, 2.0, 1e16, 1e17, 1e200, 1e200 * (1 + 1e-6), 1e308]),
    (False, [-1e6, -5.0, 0.0, 3.2, 1500.0, 1500.001, 1e5]),
])
def test_the_map_into_the_unit_interval_is_strictly_increasing_over_the_whole_range(log_scale, values):
    mapped = [proxy_to_unit(v, log_scale=log_scale) for v in values]
    assert all(0.0 < m < 1.0 for m in mapped)
    assert all(a < b for a, b in zip(mapped, mapped[1:])), mapped


def test_estimators_rank_trials_as_their_proxies_do():
    cells = [CELL, "|skip_connect~0|+|avg_pool_3x3~0|none~1|+|none~0|none~1|nor_conv_1x1~2|",
             "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"]
    x, y = image_batch()
    views = [SimpleNamespace(trial_id=c, proxies=compute_proxies(tiny_nb201(c), x, y).values, proxy_errors={})
             for c in cells]
    for factory in ESTIMATORS:
        estimator = factory()
        assert estimator.rank_only is True and estimator.version == "1"
        estimator.fit(views)
        estimates = [estimator.estimate(v) for v in views]
        raw = [v.proxies[estimator.name] for v in views]
        assert len(set(raw)) == len(raw), f"{estimator.name}: the cells must differ for this test to mean anything"
        assert np.argsort(estimates).tolist() == np.argsort(raw).tolist(), estimator.name


@pytest.mark.parametrize("view", [SimpleNamespace(trial_id="t"), SimpleNamespace(trial_id="t", proxies=None),
                                  SimpleNamespace(trial_id="t", proxies={}),
                                  SimpleNamespace(trial_id="t", proxies={"other": 1.0})])
@pytest.mark.parametrize("factory", ESTIMATORS)
def test_estimators_refuse_traces_without_proxies(factory, view):
    with pytest.raises(ValueError, match="trace recorded without the zero-cost proxy .*record the traces again"):
        factory().estimate(view)


def test_estimators_report_why_a_proxy_failed_and_refuse_bad_values():
    failed = SimpleNamespace(trial_id="t", proxies={"synflow": None},
                             proxy_errors={"synflow": "synflow overflowed float64: the all-ones output sums to inf"})
    with pytest.raises(ValueError, match="'synflow' failed at recording: synflow overflowed float64"):
        Synflow().estimate(failed)
    for value in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="zero-cost proxy 'snip'"):
            Snip().estimate(trial(snip=value))
    assert Naswot().estimate(trial(naswot=-3.0)) < 0.5 < Naswot().estimate(trial(naswot=3.0))
    assert 0.0 < Synflow().estimate(trial(synflow=0.0)) < Synflow().estimate(trial(synflow=1e-300))


# -- the field's proxies, against values computed by hand ----------------------------------------------

def by_hand(model: TwoLayer, x, y):
    """Forward and backward of TwoLayer (no batch norm) in float64 numpy: (z1, h, z2, dz1, dz2, dw1, dw2)."""
    w1, b1, w2, b2 = numpy_params(model)
    xs, n = x.double().numpy(), len(y)
    z1 = xs @ w1.T + b1
    h = np.maximum(z1, 0)
    z2 = h @ w2.T + b2
    p = np.exp(z2 - z2.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz2 = (p - np.eye(2)[y.numpy()]) / n
    dz1 = (dz2 @ w2) * (z1 > 0)
    return z1, h, z2, dz1, dz2, dz1.T @ xs, dz2.T @ h


def weight_gradients(model: TwoLayer, x, y, w1, w2):
    """dL/dW1, dL/dW2 of TwoLayer at weights (w1, w2) and its own biases, in float64 numpy."""
    probe = copy.deepcopy(model).double()  # before the copy: float32 would round the perturbation away
    with torch.no_grad():
        probe.fc1.weight.copy_(torch.from_numpy(w1))
        probe.fc2.weight.copy_(torch.from_numpy(w2))
    return by_hand(probe, x.double(), y)[5:]


def test_plain_l2_norm_params_and_flops_match_their_definitions():
    model = two_layer()
    x, y = batch()
    w1, _, w2, _ = numpy_params(model)
    *_, dw1, dw2 = by_hand(model, x, y)
    assert proxy("plain", model, x, y) == pytest.approx((w1 * dw1).sum() + (w2 * dw2).sum(), rel=1e-5)
    assert proxy("l2-norm", model, x) == pytest.approx(np.linalg.norm(w1) + np.linalg.norm(w2), rel=1e-6)
    assert proxy("params", model, x) == (3 * 4 + 4) + (4 * 2 + 2)
    assert proxy("params", two_layer(batch_norm=True), x) == 26 + 2 * 4  # batch norm's scales and shifts count
    assert proxy("flops", model, x) == 3 * 4 + 4 * 2  # one sample's multiply-accumulates
    conv = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 5 * 5, 4))
    assert proxy("flops", conv, torch.randn(6, 3, 5, 5)) == 2 * 5 * 5 * (3 * 3 * 3) + 50 * 4


def test_fisher_is_the_channel_saliency_summed_once_per_weight_of_its_channel():
    model = two_layer()
    x, y = batch()
    z1, _, z2, dz1, dz2, *_ = by_hand(model, x, y)
    # Delta_k = 1/2 mean_n (a * dL/da)**2 for each output unit k of each linear layer (no positions to sum)
    delta1, delta2 = 0.5 * ((z1 * dz1) ** 2).mean(0), 0.5 * ((z2 * dz2) ** 2).mean(0)
    # Abdelfattah et al.'s code counts each unit's value once per weight feeding it: 3 inputs, then 4
    assert proxy("fisher", model, x, y) == pytest.approx(3 * delta1.sum() + 4 * delta2.sum(), rel=1e-5)


def test_fisher_sums_positions_before_squaring_and_can_sum_plain_channels():
    layer = nn.Conv2d(1, 2, 2)  # 4 weights per output channel
    a = torch.tensor([[[[1.0, 2.0]], [[0.5, 0.0]]], [[[-1.0, 1.0]], [[2.0, 2.0]]]])  # (2 images, 2 channels, 1x2)
    g = torch.tensor([[[[3.0, 1.0]], [[4.0, 4.0]]], [[[1.0, 1.0]], [[0.5, -1.0]]]])
    # per image and channel: sum over positions of a * g -> image 0: 5, 2; image 1: 0, -1
    delta = [0.5 * (5 ** 2 + 0 ** 2) / 2, 0.5 * (2 ** 2 + 1 ** 2) / 2]
    assert fisher_sum([(layer, a)], [g], per_weight=False) == pytest.approx(sum(delta), rel=1e-12)
    assert fisher_sum([(layer, a)], [g]) == pytest.approx(4 * sum(delta), rel=1e-12)


def test_grasp_is_minus_the_weights_times_the_hessian_gradient_product():
    model = two_layer()
    x, y = batch()
    w1, _, w2, _ = numpy_params(model)
    g1, g2 = weight_gradients(model, x, y, w1, w2)
    # H g by central differences of the gradient along g (the weights' block, biases held), in float64
    eps = 1e-6
    up = weight_gradients(model, x, y, w1 + eps * g1, w2 + eps * g2)
    down = weight_gradients(model, x, y, w1 - eps * g1, w2 - eps * g2)
    hg1, hg2 = ((a - b) / (2 * eps) for a, b in zip(up, down))
    expected = -((w1 * hg1).sum() + (w2 * hg2).sum())
    assert abs(expected) > 1e-4  # a value the test can tell from zero
    assert proxy("grasp", model, x, y) == pytest.approx(expected, rel=1e-4)


def jacob_cov_by_hand(jacobians: np.ndarray, k: float = 1e-5) -> float:
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(jacobians))
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def test_jacob_cov_of_a_linear_network_has_its_closed_form():
    # Without a nonlinearity every image has the same input gradient W1^T W2^T 1: the correlation matrix is
    # all ones, with eigenvalues n and 0 (n - 1 times).
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    n, k = 5, 1e-5
    expected = -(math.log(n + k) + 1 / (n + k)) - (n - 1) * (math.log(k) + 1 / k)
    assert proxy("jacob-cov", model, torch.randn(n, 3)) == pytest.approx(expected, rel=1e-6)


def test_jacob_cov_matches_the_input_gradients_derived_by_hand():
    model = two_layer()
    x, _ = batch(n=6)
    w1, _, w2, _ = numpy_params(model)
    z1 = by_hand(model, x, torch.zeros(6, dtype=torch.long))[0]
    jacobians = ((z1 > 0) * w2.sum(0)) @ w1  # d(sum of logits)/dx per image, through the active units
    assert len({tuple(row) for row in jacobians.round(6)}) > 2  # the images differ: a real correlation matrix
    assert proxy("jacob-cov", model, x) == pytest.approx(jacob_cov_by_hand(jacobians), rel=1e-5)


def test_jacob_cov_of_a_network_that_ignores_its_input_is_a_failure():
    result = compute_proxies(tiny_nb201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), *image_batch())
    assert result.values["jacob-cov"] is None and "constant input gradient" in result.errors["jacob-cov"]


# -- shared passes give what each proxy gives alone ----------------------------------------------------

def alone(name: str, model: nn.Module, x, y) -> float:
    """Each proxy the way Abdelfattah et al.'s code computes it: a fresh copy, its own passes."""
    net = copy.deepcopy(model).train()
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if name == "jacob-cov":
        x = x.clone().requires_grad_(True)
        net(x)[1].sum().backward()
        return jacob_cov_by_hand(x.grad.reshape(len(x), -1).double().numpy())
    if name == "fisher":
        kept = []
        hooks = [m.register_forward_hook(lambda m, i, o: kept.append((m, o))) for m in net.modules()
                 if isinstance(m, (nn.Conv2d, nn.Linear))]
        loss = F.cross_entropy(net(x)[1], y)
        grads = torch.autograd.grad(loss, [o for _, o in kept], allow_unused=True)
        for hook in hooks:
            hook.remove()
        return sum(0.5 * ((o * g).sum((2, 3)) if o.dim() == 4 else o * g).double().pow(2).mean(0).sum().item()
                   * m.weight[0].numel() for (m, o), g in zip(kept, grads) if g is not None)
    if name == "grasp":  # two forwards, as the GraSP code does: g held fixed from the first
        first = torch.autograd.grad(F.cross_entropy(net(x)[1], y), weights, allow_unused=True)
        second = torch.autograd.grad(F.cross_entropy(net(x)[1], y), weights, create_graph=True, allow_unused=True)
        z = sum((a.detach() * b).sum() for a, b in zip(first, second) if a is not None)
        hg = torch.autograd.grad(z, weights, allow_unused=True)
        return -sum((w.double() * h.double()).sum().item() for w, h in zip(weights, hg) if h is not None)
    loss = F.cross_entropy(net(x)[1], y)
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    terms = {"grad-norm": lambda w, g: g.norm(), "snip": lambda w, g: (w * g).abs().sum(),
             "plain": lambda w, g: (w * g).sum()}[name]
    return sum(terms(w.double(), g.double()).item() for w, g in zip(weights, grads) if g is not None)


def test_shared_passes_give_each_proxy_its_value_computed_alone():
    model, (x, y) = tiny_nb201(), image_batch()
    shared = compute_proxies(model, x, y)
    assert not shared.errors
    for name in ("grad-norm", "snip", "plain", "fisher", "grasp", "jacob-cov"):
        assert shared.values[name] == pytest.approx(alone(name, model, x, y), rel=1e-5, abs=1e-9), name
    # and through this module one proxy at a time (only its own passes run): the same numbers exactly,
    # grasp's graph-keeping backward included (within float rounding of the create_graph kernels)
    for name in PROXIES:
        one = proxy(name, model, x, y)
        if name == "grasp":
            assert shared.values[name] == pytest.approx(one, rel=1e-6), name
        else:
            assert shared.values[name] == one, name


def test_shared_passes_are_timed_per_proxy_and_together():
    result = compute_proxies(tiny_nb201(), *image_batch())
    # each proxy is charged its passes in full: grasp's include the cross-entropy backward grad-norm uses
    assert result.seconds["grasp"] > result.seconds["grad-norm"] > 0
    assert result.seconds["params"] < result.seconds["grad-norm"]
    # together at least as long as the longest alone; that sharing makes it shorter than the sum is a speed
    # claim, measured in benchmarks/zero_cost_seconds.py (1.40 s against 3.3 s per full-size cell), not here:
    # on a network this small, copying the model costs more than the passes, and the machine is shared
    assert max(result.seconds.values()) <= result.total_s
