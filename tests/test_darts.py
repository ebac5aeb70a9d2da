"""DARTS space: uniform sampling, the string form and its errors, and the network (shapes, reductions,
path dropout, auxiliary tower, DARTS's parameter count)."""

import copy
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from fhbench.core.errors import ConfigError
from fhbench.spaces.darts import (EVALUATION_SETTINGS, NODES, OPS, SEARCH_SETTINGS, DartsGenotype, DartsSpace,
                                  drop_path, reduction_indices)

# DARTS (second order)'s published cells, as the paper's figure lists them, two pairs per node.
DARTS_V2_NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                   ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)]
DARTS_V2_REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                   ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]
DARTS_V2 = DartsGenotype.from_pairs(DARTS_V2_NORMAL, DARTS_V2_REDUCE)
DARTS_V2_TEXT = ("normal=sep_conv_3x3~0,sep_conv_3x3~1|sep_conv_3x3~0,sep_conv_3x3~1|skip_connect~0,sep_conv_3x3~1|"
                 "skip_connect~0,dil_conv_3x3~2;reduce=max_pool_3x3~0,max_pool_3x3~1|max_pool_3x3~1,skip_connect~2|"
                 "max_pool_3x3~0,skip_connect~2|max_pool_3x3~1,skip_connect~2")


def _tiny(**settings):
    return DartsSpace(**{"channels": 4, "cells": 5, **settings})


# --- genotypes and sampling ---------------------------------------------------------------------------

def test_sampling_is_uniform_over_ops_and_input_pairs():
    space = DartsSpace()
    rng = np.random.default_rng(0)
    genotypes = [space.sample(rng) for _ in range(2000)]
    ops = Counter(op for g in genotypes for kind in ("normal", "reduce") for node in getattr(g, kind) for op, _ in node)
    assert set(ops) == set(OPS) - {"none"}
    # Seeded, so deterministic; an op favoured by 10% or an input pair by 50% fails these at p < 1e-3.
    assert chisquare([ops[op] for op in OPS[1:]]).pvalue > 1e-3
    for node in range(NODES):
        for kind in ("normal", "reduce"):
            pairs = Counter(tuple(s for _, s in getattr(g, kind)[node]) for g in genotypes)
            expected = {(a, b) for a in range(node + 2) for b in range(a + 1, node + 2)}
            assert set(pairs) == expected
            if len(expected) > 1:  # node 0 has one pair only
                assert chisquare([pairs[p] for p in sorted(expected)]).pvalue > 1e-3


def test_sampling_is_deterministic_under_a_seed_and_differs_across_seeds():
    space = DartsSpace()
    first = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert first[0] == first[1]
    assert space.sample(np.random.default_rng(8)) != first[0]


def test_none_is_left_out_unless_allowed():
    rng = np.random.default_rng(1)
    assert not any("none" in DartsSpace().sample(rng).ops() for _ in range(300))
    with_none = DartsSpace(allow_none=True)
    assert any("none" in with_none.sample(rng).ops() for _ in range(300))
    text = DARTS_V2_TEXT.replace("dil_conv_3x3~2", "none~2")
    with pytest.raises(ConfigError, match="uses op 'none'.*allow_none=True"):
        DartsSpace().parse(text)
    assert "none" in with_none.parse(text).ops()
    assert DartsSpace().num_configs == (180 * 7**8) ** 2 and with_none.num_configs == (180 * 8**8) ** 2


def test_string_round_trips_and_is_canonical():
    assert str(DARTS_V2) == DARTS_V2_TEXT
    assert DartsGenotype.from_string(DARTS_V2_TEXT) == DARTS_V2
    # A node's inputs in either order are the same genotype, written inputs first to last.
    swapped = DARTS_V2_TEXT.replace("skip_connect~0,dil_conv_3x3~2", "dil_conv_3x3~2,skip_connect~0")
    assert swapped != DARTS_V2_TEXT and DartsSpace().parse(swapped) == DARTS_V2
    space = DartsSpace(allow_none=True)
    for genotype in space.sample_distinct(np.random.default_rng(2), 50):
        assert space.parse(str(genotype)) == genotype


def test_sample_distinct_returns_distinct_genotypes_and_checks_n():
    space = DartsSpace()
    genotypes = space.sample_distinct(np.random.default_rng(3), 20)
    assert len(set(genotypes)) == 20
    assert genotypes == space.sample_distinct(np.random.default_rng(3), 20)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ConfigError, match="number of DARTS genotypes"):
            space.sample_distinct(np.random.default_rng(3), bad)


@pytest.mark.parametrize("edit, message", [
    (("sep_conv_3x3~0,sep_conv_3x3~1|", "conv_7x7~0,sep_conv_3x3~1|"), "unknown op 'conv_7x7' at normal node 0"),
    (("max_pool_3x3~0,max_pool_3x3~1|", "max_pool_3x3~0,max_pool_3x3~2|"),
     r"reduce node 0: input 2 out of range, node 0 takes inputs 0..1"),
    (("skip_connect~0,dil_conv_3x3~2", "skip_connect~0,dil_conv_3x3~6"), "normal node 3: input 6 out of range"),
    (("skip_connect~0,dil_conv_3x3~2", "skip_connect~2,dil_conv_3x3~2"), "normal node 3 takes input 2 twice"),
    (("skip_connect~0,dil_conv_3x3~2", "skip_connect~0"), "normal node 3 'skip_connect~0' has 1 ','-separated inputs"),
    (("skip_connect~0,dil_conv_3x3~2", "skip_connect~0,dil_conv_3x3~2,sep_conv_3x3~1"), "has 3 ','-separated inputs"),
    (("dil_conv_3x3~2;", "dil_conv_3x3~2|skip_connect~1,sep_conv_3x3~4;"),
     "normal cell has 5 '|'-separated nodes, expected 4"),
    (("|max_pool_3x3~1,skip_connect~2", ""), "reduce cell has 3 '|'-separated nodes, expected 4"),
    ((";reduce=", ";reduction="), "cell 2 must start with 'reduce='"),
    ((";", "|"), "expected 2 ';'-separated cells, got 1"),
    (("sep_conv_3x3~0,", "sep_conv_3x3:0,"), "input 'sep_conv_3x3:0' must look like 'op~input'"),
    (("sep_conv_3x3~0,", "sep_conv_3x3~x,"), "must look like 'op~input'"),
    (("sep_conv_3x3~0,", "sep_conv_3x3~00,"), "must look like 'op~input'"),
])
def test_bad_strings_fail_on_one_line_naming_the_fault(edit, message):
    old, new = edit
    assert old in DARTS_V2_TEXT
    text = DARTS_V2_TEXT.replace(old, new, 1)
    with pytest.raises(ConfigError, match=message) as info:
        DartsSpace().parse(text)
    assert "\n" not in str(info.value) and str(info.value).startswith("bad DARTS genotype string")


def test_bad_pairs_and_settings_fail_on_one_line():
    with pytest.raises(ConfigError, match="normal cell needs 8"):
        DartsGenotype.from_pairs(DARTS_V2_NORMAL[:6], DARTS_V2_REDUCE)
    with pytest.raises(ConfigError, match="reduce node 1: input must be an integer"):
        DartsGenotype.from_pairs(DARTS_V2_NORMAL, DARTS_V2_REDUCE[:2] + [("skip_connect", True)] + DARTS_V2_REDUCE[3:])
    with pytest.raises(ConfigError, match="must be a str"):
        DartsSpace().parse(None)
    with pytest.raises(ConfigError, match="expected a DartsGenotype"):
        DartsSpace().encode(DARTS_V2_TEXT)
    for settings, message in [({"channels": 0}, "channels must be >= 1"), ({"cells": 2}, "cells must be >= 3"),
                              ({"drop_path": 1.0}, r"drop_path must be a probability in \[0, 1\)"),
                              ({"auxiliary": 1}, "auxiliary must be true or false")]:
        with pytest.raises(ConfigError, match=message):
            DartsSpace(**settings)


def test_encoding_is_fixed_length_and_identifies_the_genotype():
    space = DartsSpace()
    vector = space.encode(DARTS_V2)
    assert vector.shape == (2 * 14 * len(OPS),)
    assert vector.sum() == 2 * NODES * 2  # one op per chosen edge
    others = space.sample_distinct(np.random.default_rng(4), 30)
    assert len({space.encode(g).tobytes() for g in others + [DARTS_V2]}) == 31


def test_module_imports_no_torch():
    code = "import sys, fhbench.spaces.darts as d; d.DartsSpace().sample(__import__('numpy').random.default_rng(0)); " \
           "assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the network ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [32, 16])
def test_small_network_shapes(size):
    space = _tiny()
    net = space.build(DARTS_V2, num_classes=7)
    features, logits = net.eval()(torch.randn(2, 3, size, size))
    assert features.shape == (2, space.feature_dim) == (2, 64) and space.feature_dim_of(DARTS_V2) == 64
    assert logits.shape == (2, 7)
    assert isinstance(net.classifier, torch.nn.Linear) and net.classifier.in_features == net.feature_dim == 64
    assert net.aux_logits is None  # the tower only runs in training
    net.train()(torch.randn(2, 3, size, size))
    assert net.aux_logits.shape == (2, 7)


def test_reductions_sit_at_one_and_two_thirds():
    assert reduction_indices(SEARCH_SETTINGS["cells"]) == (4, 8)
    assert reduction_indices(20) == (6, 13) and reduction_indices(EVALUATION_SETTINGS["cells"]) == (7, 14)
    net = _tiny().build(DARTS_V2, 10, in_channels=1)
    sizes = []
    for cell in net.cells:
        cell.register_forward_hook(lambda module, args, out: sizes.append(tuple(out.shape[1:])))
    net.eval()(torch.randn(1, 1, 16, 16))
    # 4 nodes of C=4 channels, doubled at cells 1 and 3, where the resolution halves.
    assert sizes == [(16, 16, 16), (32, 8, 8), (32, 8, 8), (64, 4, 4), (64, 4, 4)]
    assert [cell.reduction for cell in net.cells] == [False, True, False, True, False]


def test_drop_path_is_identity_in_eval_and_random_per_sample_in_training():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    dropping = _tiny(drop_path=0.5).build(DARTS_V2, 10)
    plain = _tiny(drop_path=0.0).build(DARTS_V2, 10)
    plain.load_state_dict(dropping.state_dict())
    with torch.no_grad():
        assert torch.equal(dropping.eval()(x)[1], plain.eval()(x)[1])
        # Training-mode batch norm is deterministic: without drop-path two passes agree, with it they do not.
        assert torch.equal(plain.train()(x)[1], plain(x)[1])
        assert not torch.allclose(dropping.train()(x)[1], dropping(x)[1])
    masked = drop_path(torch.ones(1000, 2, 3, 3), 0.25)
    per_sample = masked.flatten(1)
    assert torch.all(per_sample == per_sample[:, :1])  # one draw per sample
    assert set(per_sample[:, 0].tolist()) == {0.0, torch.tensor(4 / 3).item()}  # kept samples scaled by 1/0.75
    assert 0.2 < (per_sample[:, 0] == 0).float().mean() < 0.3


def test_drop_path_schedule_is_linear_in_training_progress():
    net = _tiny(drop_path=0.2).build(DARTS_V2, 10)
    assert net.drop_path_prob == 0.2
    net.schedule_drop_path(0.0)
    assert net.drop_path_prob == 0.0
    net.schedule_drop_path(0.5)
    assert net.drop_path_prob == pytest.approx(0.1)
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        net.schedule_drop_path(1.5)


def test_auxiliary_tower_trains_and_can_be_left_out():
    net = _tiny(drop_path=0.0).build(DARTS_V2, 10)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([1, 2])
    _, logits = net.train()(x)
    loss = torch.nn.functional.cross_entropy(logits, y) + net.auxiliary_weight * torch.nn.functional.cross_entropy(
        net.aux_logits, y)
    loss.backward()
    assert net.auxiliary_weight == 0.4
    assert net.auxiliary_head.classifier.weight.grad.abs().sum() > 0
    copy.deepcopy(net)  # the transient aux logits do not block copying a trained network
    bare = _tiny(auxiliary=False).build(DARTS_V2, 10)
    bare.train()(x)
    assert bare.aux_logits is None and bare.auxiliary_weight == 0.0
    assert bare.num_parameters(auxiliary=True) == bare.num_parameters() == net.num_parameters() < net.num_parameters(
        auxiliary=True)


def _expected_parameters(genotype, channels, cells, num_classes, in_channels=3, auxiliary=False):
    """The parameter count written out from the op definitions, independently of the module code."""
    def block(width, kernel):  # depthwise kxk, pointwise 1x1, batch norm
        return width * kernel * kernel + width * width + 2 * width

    stem = 3 * channels
    total = in_channels * stem * 9 + 2 * stem
    prev_prev, prev, width = stem, stem, channels
    first, second = cells // 3, 2 * cells // 3
    for index in range(cells):
        reduction = index in (first, second)
        width *= 2 if reduction else 1
        total += prev_prev * width + 2 * width + prev * width + 2 * width  # preprocessing (either kind)
        for node in genotype.reduce if reduction else genotype.normal:
            for op, source in node:
                stride2 = reduction and source < 2
                if op.startswith("sep_conv"):
                    total += 2 * block(width, int(op[-1]))
                elif op.startswith("dil_conv"):
                    total += block(width, int(op[-1]))
                elif op == "skip_connect" and stride2:  # a factorized reduction
                    total += width * width + 2 * width
        prev_prev, prev = prev, 4 * width
        if index == second:
            tower = prev * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * num_classes + num_classes
    return total + prev * num_classes + num_classes + (tower if auxiliary else 0)


def test_parameter_count_follows_the_op_definitions():
    space = _tiny(allow_none=True)
    for genotype in [DARTS_V2] + space.sample_distinct(np.random.default_rng(5), 10):
        net = space.build(genotype, 10, in_channels=1)
        assert net.num_parameters() == _expected_parameters(genotype, 4, 5, 10, in_channels=1)
        assert net.num_parameters(auxiliary=True) == _expected_parameters(genotype, 4, 5, 10, 1, auxiliary=True)


def test_darts_v2_at_evaluation_size_has_the_papers_parameter_count():
    # The DARTS paper reports 3.3M parameters (one decimal: 3.25M to 3.35M) for these cells at C=36 and
    # 20 cells, without the auxiliary tower (about 0.48M more, dropped at test time).
    net = DartsSpace(channels=36, cells=20).build(DARTS_V2, 10)
    assert 3.25e6 <= net.num_parameters() < 3.35e6
    assert net.num_parameters() == _expected_parameters(DARTS_V2, 36, 20, 10)
    # The thesis's 22-cell evaluation network holds more cells of the same kinds.
    assert DartsSpace(**EVALUATION_SETTINGS).build(DARTS_V2, 10).num_parameters() > net.num_parameters()


def test_build_is_deterministic_under_a_seed():
    space = _tiny()
    states = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        states.append(space.build(DARTS_V2, 10).state_dict())
    assert states[0].keys() == states[2].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])
