"""NAS-Bench-201 space: string/index round trips, parse errors, sampling and the network."""

import numpy as np
import pytest
import torch

from fhbench.core.errors import ConfigError
from fhbench.spaces.nb201 import NUM_CELLS, OPS, Nb201Cell, Nb201Space, all_cells

CANONICAL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_canonical_string_parses_in_edge_order():
    cell = Nb201Cell.from_string(CANONICAL)
    assert cell.ops == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "skip_connect",
    )
    assert str(cell) == cell.to_string() == CANONICAL


def test_all_cells_round_trip_and_are_distinct():
    cells = list(all_cells())
    assert len(cells) == NUM_CELLS == 15625
    assert len(set(cells)) == NUM_CELLS
    assert len({cell.to_string() for cell in cells}) == NUM_CELLS
    for index, cell in enumerate(cells):
        assert cell.index == index
        assert Nb201Cell.from_index(index) == cell
        assert Nb201Cell.from_string(cell.to_string()) == cell


def test_index_has_first_edge_most_significant():
    assert Nb201Cell.from_index(0).ops == ("none",) * 6
    assert Nb201Cell.from_index(1).ops == ("none",) * 5 + ("skip_connect",)
    assert Nb201Cell.from_index(5**5).ops == ("skip_connect",) + ("none",) * 5
    assert Nb201Cell.from_index(NUM_CELLS - 1).ops == ("avg_pool_3x3",) * 6


@pytest.mark.parametrize("index", [-1, NUM_CELLS, 1.0, True, "3"])
def test_from_index_rejects_bad_values(index):
    with pytest.raises(ConfigError):
        Nb201Cell.from_index(index)


def test_encoding_is_one_hot_per_edge():
    cell = Nb201Cell.from_string(CANONICAL)
    vector = cell.encoding()
    assert vector.shape == (30,) and vector.dtype == np.float64
    grid = vector.reshape(6, len(OPS))
    assert (grid.sum(axis=1) == 1).all()
    assert [OPS[i] for i in grid.argmax(axis=1)] == list(cell.ops)
    np.testing.assert_array_equal(Nb201Space().encode(cell), vector)


@pytest.mark.parametrize(
    "text, piece",
    [
        (CANONICAL.replace("avg_pool_3x3", "conv_5x5"), "conv_5x5"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "number of nodes"),
        (CANONICAL + "+|none~0|", "number of nodes"),
        (CANONICAL.replace("avg_pool_3x3~1", "avg_pool_3x3~2"), "avg_pool_3x3~2"),
        (CANONICAL.replace("skip_connect~2", "skip_connect~x"), "skip_connect~x"),
        (CANONICAL.replace("avg_pool_3x3~1", "avg_pool_3x3"), "avg_pool_3x3"),
        (CANONICAL.replace("avg_pool_3x3~1", "avg_pool_3x3~1~1"), "avg_pool_3x3~1~1"),
        (CANONICAL.replace("|avg_pool_3x3~1", "|none~1|avg_pool_3x3~1"), "none~1"),
        (CANONICAL.replace("+", ","), "number of nodes"),
        (CANONICAL[1:], "nor_conv_3x3~0|"),
        (" " + CANONICAL, " |nor_conv_3x3~0|"),
        (CANONICAL.replace("|+|", "+"), "nor_conv_3x3~0"),
        ("", "number of nodes"),
    ],
)
def test_bad_strings_raise_one_line_config_error(text, piece):
    with pytest.raises(ConfigError) as caught:
        Nb201Cell.from_string(text)
    message = str(caught.value)
    assert piece in message
    assert repr(text) in message
    assert "\n" not in message


@pytest.mark.parametrize("value", [None, 42, b"|none~0|"])
def test_non_str_input_raises_config_error(value):
    with pytest.raises(ConfigError, match=type(value).__name__):
        Nb201Cell.from_string(value)


@pytest.mark.parametrize("ops", [("none",) * 5, ("none",) * 5 + ("conv",), "none"])
def test_cell_validates_ops(ops):
    with pytest.raises(ConfigError):
        Nb201Cell(ops)


@pytest.mark.parametrize("kwargs", [{"channels": 0}, {"cells_per_stage": -1}, {"channels": 2.5}, {"channels": True}])
def test_space_validates_sizes(kwargs):
    with pytest.raises(ConfigError):
        Nb201Space(**kwargs)


def test_seeded_sampling_is_reproducible():
    space = Nb201Space()
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]

    def draws(seed):
        rng = np.random.default_rng(seed)
        return [space.sample(rng) for _ in range(20)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert space.sample_distinct(np.random.default_rng(3), 50) == space.sample_distinct(np.random.default_rng(3), 50)
    assert space.sample_distinct(np.random.default_rng(3), 50) != space.sample_distinct(np.random.default_rng(4), 50)


def test_sample_distinct_has_no_duplicates():
    space = Nb201Space()
    cells = space.sample_distinct(np.random.default_rng(0), 2000)
    assert len(cells) == len(set(cells)) == 2000
    assert len(set(space.sample_distinct(np.random.default_rng(0), NUM_CELLS))) == NUM_CELLS


@pytest.mark.parametrize("n", [0, -3, NUM_CELLS + 1])
def test_sample_distinct_rejects_bad_counts(n):
    with pytest.raises(ConfigError):
        Nb201Space().sample_distinct(np.random.default_rng(0), n)


def test_space_parse_and_name():
    space = Nb201Space(channels=8)
    assert space.name == "nb201"
    assert space.feature_dim == 32
    assert space.parse(CANONICAL) == Nb201Cell.from_string(CANONICAL)


@pytest.mark.parametrize("in_channels, size, num_classes", [(3, 32, 10), (1, 8, 10), (3, 5, 7)])
def test_network_output_shapes(in_channels, size, num_classes):
    space = Nb201Space(channels=8, cells_per_stage=1)
    model = space.build(Nb201Cell.from_string(CANONICAL), num_classes=num_classes, in_channels=in_channels)
    features, logits = model(torch.randn(2, in_channels, size, size))
    assert features.shape == (2, space.feature_dim) == (2, 32)
    assert logits.shape == (2, num_classes)
    assert model.classifier.weight.shape == (num_classes, 32)
    assert model.classifier.bias.shape == (num_classes,)


def test_all_none_cell_runs_and_is_finite():
    model = Nb201Space(channels=8, cells_per_stage=1).build(Nb201Cell(("none",) * 6), num_classes=10)
    features, logits = model(torch.randn(2, 3, 16, 16))
    assert torch.isfinite(features).all() and torch.isfinite(logits).all()


def test_node_with_only_none_inputs_is_zeros_but_later_edges_still_work():
    cell = Nb201Cell(("none", "none", "none", "skip_connect", "none", "none"))
    model = Nb201Space(channels=8, cells_per_stage=1).build(cell, num_classes=3)
    block = model.body[2]
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(block(x), x)
    assert torch.count_nonzero(Nb201Space(8, 1).build(Nb201Cell(("none",) * 6), 3).body[2](x)) == 0


def test_parameter_count_depends_on_cell():
    space = Nb201Space(channels=8, cells_per_stage=1)

    def count(op):
        return sum(p.numel() for p in space.build(Nb201Cell((op,) * 6), num_classes=10).parameters())

    assert count("nor_conv_3x3") > count("nor_conv_1x1") > count("skip_connect")
    assert count("skip_connect") == count("none") == count("avg_pool_3x3")


def test_backward_reaches_every_parameter():
    model = Nb201Space(channels=8, cells_per_stage=1).build(Nb201Cell.from_string(CANONICAL), num_classes=10)
    _, logits = model(torch.randn(2, 3, 8, 8))
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 2])).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name


def test_build_rejects_bad_arguments():
    space = Nb201Space(channels=8, cells_per_stage=1)
    with pytest.raises(ConfigError):
        space.build(CANONICAL, num_classes=10)
    with pytest.raises(ConfigError):
        space.build(Nb201Cell.from_string(CANONICAL), num_classes=0)
    with pytest.raises(ConfigError):
        space.build(Nb201Cell.from_string(CANONICAL), num_classes=10, in_channels=0)
