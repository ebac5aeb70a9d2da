"""benchmarks/zero_cost_comparison.py: the page that sets an nb201-zc board's proxies beside the published
figures. The numbers on the page are the board's (results.json rows, estimates.csv seconds) and the CSV's;
a published figure inside the board's interval "agrees", outside it "differs"; docs/published_zero_cost.csv
reads. The board is a small proxy-only board recorded and scored through the CLI."""

from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path

import pytest
from conftest import REPO, load_benchmark, run_cli

from fhbench.core.errors import FhbenchError
from fhbench.publish.board_files import read_results
from fhbench.record.proxies import PROXIES
from fhbench.record.trace import TrialTrace

page = load_benchmark("zero_cost_comparison")

BOARD_SUITE = """
name = "zc-page"
version = "1"
description = "a proxy-only board for the comparison page's tests"

[space]
channels = 4
cells_per_stage = 1
num_samples = 12
sample_seed = 0

[data]
dataset = "digits"
train_size = 200
val_size = 50
test_size = 50
augment = "none"

[train]
epochs = 0
batch_size = 32
seed = 0

[record]
proxies = true

[estimate]
repeats = 1
truth = "csv:truth.csv"
estimators = {estimators}
"""

HEADER = "proxy,metric,value,source,setting,cells"


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    """12 small NB201 networks on digits, proxies only, against a made-up truth (enough cells for intervals)."""
    from fhbench.inputs.suite import load_suite
    from fhbench.record.train import plan_trials
    from fhbench.spaces import suite_space

    folder = tmp_path_factory.mktemp("zc-page")
    suite_path = folder / "zc-page.toml"
    suite_path.write_text(BOARD_SUITE.format(estimators=json.dumps(list(PROXIES))))
    suite = load_suite(suite_path)
    trials = plan_trials(suite, suite_space(suite))
    # accuracies that rise with how many of the six edges are convolutions, so the proxies rank something
    rows = [f"{t.config},{0.2 + 0.1 * t.config.count('conv') + 0.001 * t.index}" for t in trials]
    (folder / "truth.csv").write_text("cell,accuracy\n" + "\n".join(rows) + "\n")
    done = run_cli("run", str(suite_path), "--traces", "traces", "--leaderboard", "runs", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def _figures(path: Path, rows: list[str]) -> Path:
    path.write_text("# a comment line, skipped\n" + HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def _line(text: str, proxy: str, published: str) -> str:
    """The page's table line of `proxy` beside the published figure `published` (e.g. 'Kendall tau 0.5')."""
    [line] = [ln for ln in text.splitlines() if ln.startswith(f"| {proxy} |") and f"| {published} |" in ln]
    return line


def _interval(row: dict, metric: str) -> str:
    return f"{row[f'{metric}_mean']:.3f} [{row[f'{metric}_lo']:.3f}, {row[f'{metric}_hi']:.3f}]"


@pytest.mark.slow  # records 12 networks and scores them through the CLI
def test_the_page_carries_the_boards_and_the_csvs_numbers(board, tmp_path):
    results = read_results(board / "runs" / "zc-page" / "1")
    rows = {r["estimator"]: r for r in results["rows"]}
    synflow, naswot = rows["synflow"], rows["naswot"]
    assert synflow["kendall_tau_lo"] is not None  # 12 cells: the board has intervals
    outside = naswot["kendall_tau_lo"] - 0.1 if naswot["kendall_tau_lo"] > -0.8 else naswot["kendall_tau_hi"] + 0.1
    figures = _figures(tmp_path / "published.csv", [
        f'synflow,spearman_rho,{synflow["spearman_rho_mean"]:.3f},Paper A Table 1,"truth=test set; images=CIFAR-10; '
        'batch=32; sample=all 15,625 cells",15625',
        f'naswot,kendall_tau,{outside:.2f},Paper B Figure 3,"truth=validation; images=CIFAR-10; batch=128; '
        'sample=about 1,000 cells",1000',
    ])
    text = page.render(results, page.read_published(figures), "runs/zc-page/1")

    line = _line(text, "synflow", f"Spearman rho {synflow['spearman_rho_mean']:.3f}")
    assert _interval(synflow, "spearman_rho") in line and _interval(synflow, "kendall_tau") in line
    assert "| agrees |" in line and "| [1] |" in line and "batch: 32, as ours" in line
    assert "cells: all 15,625 cells (ours 12)" in line
    line = _line(text, "naswot", f"Kendall tau {outside:.2f}")
    assert _interval(naswot, "kendall_tau") in line
    assert "| differs |" in line and "| [2] |" in line and "batch: 128 (ours 32)" in line
    assert "1. Paper A Table 1" in text and "2. Paper B Figure 3" in text
    for name in set(PROXIES) - {"synflow", "naswot"}:  # no figure: said so, with the board's numbers
        line = _line(text, name, page.NOT_FOUND)
        assert _interval(rows[name], "spearman_rho") in line and _interval(rows[name], "kendall_tau") in line
        assert f"| {rows[name]['n_failed']} of 12 |" in line

    # seconds per proxy per cell: the mean of estimates.csv's overhead_s, which is the row's overhead_s_mean
    with open(board / "runs" / "zc-page" / "1" / "estimates.csv") as handle:
        overheads = [row for row in csv.DictReader(handle)]
    for name in PROXIES:
        seconds = [float(row["overhead_s"]) for row in overheads if row["estimator"] == name]
        mean = statistics.fmean(seconds)
        assert mean == pytest.approx(rows[name]["overhead_s_mean"], rel=1e-8)
        assert re.search(rf"^\| {re.escape(name)} \| {mean:.3f} \| {statistics.median(seconds):.3f} \| "
                         rf"{max(seconds):.3f} \| 12 \|$", text, re.M), name
    # what the board records of the machines, and that it keeps no wall time of the recording
    recording = results["environment"]["recording"]
    assert f"device {recording['device'][0]} ({recording['device_name'][0]})" in text
    assert "not the recording's wall time" in text


@pytest.mark.slow  # shares the recorded board
def test_the_traces_add_all_proxies_together_and_must_be_the_boards(board, tmp_path):
    results = read_results(board / "runs" / "zc-page" / "1")
    totals = page.together_seconds(results, board / "traces")
    store = next((board / "traces" / "zc-page").iterdir())
    expected = [TrialTrace(store / trial).proxies.total_s for trial in sorted(results["truths"])]
    assert totals == expected and len(totals) == 12
    text = page.render(results, [], "runs/zc-page/1", totals)
    assert f"| all together (traces' `total_s`) | {statistics.fmean(expected):.3f} |" in text
    assert f"took {sum(expected):,.0f} s over the 12 cells" in text
    results["configs"]["r0-003"] = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(FhbenchError, match="not the board's cell r0-003"):
        page.together_seconds(results, board / "traces")
    with pytest.raises(FhbenchError, match="no trace"):
        page.together_seconds(results, tmp_path)


# -- the pieces, without a board ----------------------------------------------------------------------------

def _row(**values) -> dict:
    return {"spearman_rho_lo": 0.40, "spearman_rho_hi": 0.60, "kendall_tau_lo": 0.30, "kendall_tau_hi": 0.45, **values}


def _figure(value: str, metric: str = "spearman_rho", sign: str = "") -> page.Published:
    setting = {"sign": sign} if sign else {}
    return page.Published("snip", metric, float(value), value, "a paper", setting, "1000")


@pytest.mark.parametrize("value, metric, sign, expected", [
    ("0.50", "spearman_rho", "", "agrees"),
    ("0.40", "spearman_rho", "", "agrees"),   # on the bound
    ("0.39", "spearman_rho", "", "differs"),  # 0.385 to 0.395 prints as 0.39: all below 0.40
    ("0.4", "spearman_rho", "", "agrees"),    # 0.35 to 0.45 prints as 0.4: reaches the interval
    ("0.3", "spearman_rho", "", "differs"),   # 0.25 to 0.35
    ("0.62", "spearman_rho", "", "differs"),
    ("0.46", "kendall_tau", "", "differs"),   # against the tau interval, not rho's
    ("0.44", "kendall_tau", "", "agrees"),
])
def test_a_figure_agrees_when_a_value_printing_as_it_lies_in_the_interval(value, metric, sign, expected):
    assert page.verdict(_row(), _figure(value, metric, sign)) == expected


def test_a_figure_printed_as_an_absolute_value_is_compared_with_our_absolute_interval():
    negative = _row(spearman_rho_lo=-0.60, spearman_rho_hi=-0.40)
    assert page.verdict(negative, _figure("0.50", sign="abs")) == "agrees"
    assert page.verdict(negative, _figure("0.50")) == "differs"
    across = _row(spearman_rho_lo=-0.20, spearman_rho_hi=0.10)
    assert page.our_interval(across, "spearman_rho", absolute=True) == (0.0, 0.20)
    assert page.verdict(_row(spearman_rho_lo=None, spearman_rho_hi=None), _figure("0.5")) == "n/a (no interval)"


def test_the_published_figures_file_reads_and_names_fhbench_proxies():
    figures = page.read_published(REPO / "docs" / "published_zero_cost.csv")
    assert figures
    for figure in figures:
        assert figure.proxy in PROXIES and figure.metric in page.METRIC_NAMES
        assert -1 <= figure.value <= 1 and int(figure.cells) > 0 and figure.source
        assert set(page.SETTING_KEYS) <= set(figure.setting), figure
    assert {f.metric for f in figures} == {"spearman_rho", "kendall_tau"}


def test_an_unreadable_published_row_is_refused_with_its_line(tmp_path):
    bad = _figures(tmp_path / "bad.csv", ['snip,spearman_rho,high,a paper,"truth=x",10'])
    with pytest.raises(FhbenchError, match="row 2 unreadable"):
        page.read_published(bad)
    bad = _figures(tmp_path / "bad.csv", ['snip,pearson,0.5,a paper,"truth=x",10'])
    with pytest.raises(FhbenchError, match="row 2: metric must be one of"):
        page.read_published(bad)
