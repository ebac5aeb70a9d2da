"""`fhbench evaluate SUITE GENOTYPE`: a DARTS genotype retrained at the suite's [evaluate] scale (tiny here:
C=4, 3 cells, 2 epochs on 200 8x8 digits), its JSON result, and the one-line errors."""

from __future__ import annotations

import json

import pytest

from conftest import assert_one_line_error, cli

GENOTYPE = ("normal=sep_conv_3x3~0,sep_conv_3x3~1|skip_connect~0,sep_conv_3x3~1|skip_connect~0,sep_conv_3x3~1|"
            "skip_connect~0,skip_connect~2;reduce=max_pool_3x3~0,max_pool_3x3~1|skip_connect~2,max_pool_3x3~1|"
            "max_pool_3x3~0,skip_connect~2|skip_connect~2,max_pool_3x3~1")  # DARTS-V2

SUITE = """
name = "ev"
version = "1"
[space]
name = "darts"
channels = 4
num_cells = 3
auxiliary = true
drop_path = 0.2
[data]
dataset = "digits"
train_size = 200
val_size = 100
test_size = 100
augment = "crop-flip-cutout"
[train]
epochs = 2
batch_size = 64
[estimate]
every = 1
repeats = 1
estimators = ["original"]
"""
EVALUATE = "[evaluate]\nchannels = 4\ncells = 3\nepochs = 2\nbatch_size = 64\nseeds = 2\n"


def _suite(tmp_path, evaluate=EVALUATE, space_name="darts"):
    path = tmp_path / "ev.toml"
    text = SUITE + evaluate
    if space_name != "darts":
        text = text.replace('name = "darts"\nchannels = 4\nnum_cells = 3\nauxiliary = true\ndrop_path = 0.2\n',
                            'channels = 4\ncells_per_stage = 1\nnum_samples = 1\n')
    path.write_text(text)
    return path


def test_evaluate_trains_the_genotype_and_writes_its_result(tmp_path, capsys, monkeypatch):
    import fhbench.record.train as record
    from fhbench.engine.evaluate import genotype_id
    from fhbench.spaces.darts import DartsGenotype

    calls = []
    train_trial = record.train_trial

    def spy(trial, suite, space, splits, device, **kwargs):
        calls.append((trial.budget, suite.train.epochs, suite.train.batch_size, suite.train.lr, space.channels,
                      space.cells, space.auxiliary, space.drop_path, kwargs.get("capture")))
        return train_trial(trial, suite, space, splits, device, **kwargs)

    monkeypatch.setattr(record, "train_trial", spy)
    code, out, err = cli(capsys, "evaluate", _suite(tmp_path), GENOTYPE, "--leaderboard", tmp_path / "board",
                         "--device", "cpu", "--search-seconds", 43200, "--search-workers", 4)
    assert code == 0, err
    canonical = str(DartsGenotype.from_string(GENOTYPE))
    path = tmp_path / "board" / "ev" / "1" / f"evaluate-{genotype_id(canonical)}.json"
    result = json.loads(path.read_text())
    assert calls == [(2, 2, 64, 0.025, 4, 3, True, 0.2, False)] * 2  # two seeds at the [evaluate] settings
    assert result["genotype"] == canonical and result["seeds"] == result["completed"] == 2
    runs = result["runs"]
    assert len(runs) == 2 and runs[0]["seed"] != runs[1]["seed"]
    for run in runs:
        assert run["status"] == "complete" and run["epochs"] == 2
        assert run["test_error"] == pytest.approx(100 * (1 - run["test_acc"]))
    errors = [run["test_error"] for run in runs]
    assert result["test_error_mean"] == pytest.approx(sum(errors) / 2)
    assert result["test_error_std"] == pytest.approx(abs(errors[0] - errors[1]) / 2)
    assert result["search_cost"] == {"seconds": 43200.0, "workers": 4, "days": 2.0, "unit": "CPU-days"}
    assert result["device"] == "cpu" and result["data"]["train_images"] == 200 and result["data"]["test_images"] == 100
    assert result["evaluate"]["channels"] == 4 and result["wall_s"] > 0
    # DARTS counts parameters without the auxiliary tower
    from fhbench.spaces.darts import DartsSpace

    network = DartsSpace(4, 3, True, 0.2).build(DartsGenotype.from_string(GENOTYPE), 10, in_channels=1)
    assert result["params"] == network.num_parameters(auxiliary=False) < network.num_parameters(auxiliary=True)
    lines = out.strip().splitlines()
    assert lines[-1].startswith(f"{genotype_id(canonical)}: test error ") and "2.00 CPU-days" in lines[-1]
    assert str(path) in lines[-1]


def test_the_same_seed_gives_the_same_result(tmp_path, capsys):
    """One seed, defaults otherwise small: the run is repeatable (the seed comes from the genotype)."""
    evaluate = "[evaluate]\nchannels = 4\ncells = 3\nepochs = 1\nbatch_size = 100\n"
    results = []
    for run in range(2):
        code, _, err = cli(capsys, "evaluate", _suite(tmp_path, evaluate), GENOTYPE, "--leaderboard",
                           tmp_path / f"b{run}", "--device", "cpu")
        assert code == 0, err
        (path,) = (tmp_path / f"b{run}" / "ev" / "1").glob("evaluate-*.json")
        results.append(json.loads(path.read_text()))
    assert results[0]["runs"][0]["test_acc"] == results[1]["runs"][0]["test_acc"]
    assert results[0]["runs"][0]["train_loss"] == results[1]["runs"][0]["train_loss"]
    assert results[0]["search_cost"] is None and results[0]["seeds"] == 1


@pytest.mark.parametrize("genotype, fragment", [
    ("normal=bogus", "GENOTYPE: bad DARTS genotype string"),
    ("", "GENOTYPE"),
    (GENOTYPE.replace("sep_conv_3x3~0", "conv_7x7~0", 1), "GENOTYPE"),
    (GENOTYPE.replace("max_pool_3x3~0", "none~0", 1), "GENOTYPE"),  # the space leaves 'none' out
])
def test_a_genotype_that_does_not_parse_is_one_line(tmp_path, capsys, genotype, fragment):
    result = cli(capsys, "evaluate", _suite(tmp_path), genotype, "--leaderboard", tmp_path / "board")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "board").exists()


@pytest.mark.parametrize("flags, fragment", [
    (("--search-workers", "4"), "--search-workers: needs --search-seconds"),
    (("--search-seconds", "-1"), "--search-seconds"),
    (("--search-seconds", "nan"), "--search-seconds"),
    (("--search-seconds", "10", "--search-workers", "0"), "--search-workers"),
    (("--device", "tpu"), "--device tpu"),
])
def test_bad_flags_are_one_line(tmp_path, capsys, flags, fragment):
    assert_one_line_error(cli(capsys, "evaluate", _suite(tmp_path), GENOTYPE, *flags), fragment)


def test_only_darts_suites_evaluate(tmp_path, capsys):
    assert_one_line_error(cli(capsys, "evaluate", _suite(tmp_path, evaluate="", space_name="nb201"), GENOTYPE),
                          "retrains DARTS genotypes")
    assert_one_line_error(cli(capsys, "evaluate", tmp_path / "missing.toml", GENOTYPE), "no such suite file")


def test_a_darts_suite_without_evaluate_uses_the_thesis_scale(tmp_path):
    from fhbench.engine.evaluate import evaluation_suite, parse_genotype, search_cost
    from fhbench.inputs.suite import load_suite

    suite = load_suite(_suite(tmp_path, evaluate=""))
    ev = evaluation_suite(suite)
    assert (ev.space.channels, ev.space.num_cells, ev.space.auxiliary, ev.space.drop_path) == (36, 22, True, 0.2)
    assert (ev.train.epochs, ev.train.batch_size, ev.train.lr, ev.train.momentum, ev.train.weight_decay) == \
        (600, 96, 0.025, 0.9, 3e-4)
    assert ev.train.lr_schedule == "linear" and ev.checkpoints == (600,) and ev.search is None
    space, genotype = parse_genotype(suite, GENOTYPE)
    assert (space.channels, space.cells) == (36, 22) and str(genotype).startswith("normal=")
    assert search_cost(86400.0, 4, "cuda").as_dict() == {"seconds": 86400.0, "workers": 4, "days": 4.0,
                                                         "unit": "GPU-days"}
    assert search_cost(None, None, "cpu") is None
