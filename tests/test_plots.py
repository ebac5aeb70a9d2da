"""Plots worth printing: titled with suite, version and truth, bars explained, one colour and marker
per estimator everywhere, overlapping series spread and exact overlaps named, the thesis's overhead
shift, log or clipped axes where one value dwarfs the rest, a regret plot no spike can flatten, and
the same bytes for the same input."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fhbench.publish import plots
from fhbench.publish.png import pyplot
from fhbench.score.metrics import Row

REPO = Path(__file__).resolve().parent.parent


def _row(name, epoch, mae, tau, overhead_epochs=0.0, mae_std=0.01, tau_std=0.05):
    """A row with asymmetric 95% intervals: 0.10 below the point and 0.05 above (0.02 and 0.01 for MAE)."""
    return Row(name, epoch, epoch / 20, mae, mae_std, tau, tau_std, tau, 0.0, 0.01, 0.0, overhead_epochs, 0.0, 10, 0, 1.0,
               mae_lo=mae - 0.02, mae_hi=mae + 0.01, kendall_tau_lo=tau - 0.10, kendall_tau_hi=tau + 0.05)


def _meta(**extra):
    return {"suite": {"name": "demo", "version": "3"}, "truth": {"spec": "nb201-api"}, "repeats": 2, **extra}


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions draw, kept open for inspection instead of saved."""
    kept = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path: kept.append(fig))
    yield kept
    plt = pyplot()
    for fig in kept:
        plt.close(fig)


def _texts(fig) -> str:
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend:
            parts += [t.get_text() for t in legend.get_texts()]
    for legend in fig.legends:
        parts += [t.get_text() for t in legend.get_texts()]
    return "\n".join(parts)


def _legend_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _series(ax, label):
    """The (x, y) of the errorbar series labelled `label`."""
    for container in ax.containers:
        if container.get_label() == label:
            line = container.lines[0]
            return list(line.get_xdata()), list(line.get_ydata()), line
    raise AssertionError(f"no series {label!r}: {[c.get_label() for c in ax.containers]}")


ROWS = [_row(name, epoch, mae, tau, overhead)
        for name, overhead, maes, taus in [
            ("original", 0.0, (0.10, 0.04), (0.30, 0.45)),
            ("optimized", 0.01, (0.10, 0.04), (0.30, 0.45)),  # exactly under original
            ("lcnet", 2.0, (0.15, 0.05), (0.10, 0.30)),
            ("fh-ensemble", 0.5, (0.09, 0.03), (0.20, 0.50))]
        for epoch, mae, tau in zip((5, 10), maes, taus)]


def test_error_bars_are_the_intervals_or_say_what_they_are(figures, tmp_path):
    plots.plot_estimation(ROWS, "kendall_tau", _meta(), tmp_path / "tau.png")
    bars = next(c for c in figures[0].axes[0].containers if c.get_label() == "lcnet")
    segments = bars.lines[2][0].get_segments()
    assert [(round(s[0][1], 6), round(s[1][1], 6)) for s in segments] == [(0.0, 0.15), (0.2, 0.35)]
    old = [{k: v for k, v in r.as_dict().items() if not k.endswith(("_lo", "_hi", "_verdict"))} for r in ROWS]
    plots.plot_estimation(old, "kendall_tau", _meta(), tmp_path / "old.png")
    assert "bars: \u00b11 std over 2 repeats (a board published before intervals" in _texts(figures[1])
    few = [dataclasses.replace(r, kendall_tau_lo=math.nan, kendall_tau_hi=math.nan) for r in ROWS]
    plots.plot_estimation(few, "kendall_tau", _meta(), tmp_path / "few.png")
    assert "no bars: fewer than 10 cells per repeat" in _texts(figures[2])


def test_styles_are_fixed_for_known_estimators_and_stable_for_others():
    known = [plots.style(name) for name in ("original", "optimized", "lcnet", "fh-ensemble")]
    assert known == [plots.KNOWN_STYLES[n] for n in ("original", "optimized", "lcnet", "fh-ensemble")]
    assert len({c for c, _ in known}) == 4 and len({m for _, m in known}) == 4
    other = plots.style("last-three-mean")
    assert other[0] not in {c for c, _ in known}
    # not Python's salted hash: another interpreter with another hash seed draws the same style
    code = "from fhbench.publish.plots import style; print(style('last-three-mean'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, cwd=REPO)
    assert out.stdout.strip() == str(other), out.stderr


def test_estimation_plot_says_what_it_shows(figures, tmp_path):
    plots.plot_estimation(ROWS, "kendall_tau", _meta(), tmp_path / "tau.png")
    fig = figures[0]
    text = _texts(fig)
    assert "demo 3" in fig._suptitle.get_text() and "Kendall tau" in fig._suptitle.get_text()
    assert "truth: nb201-api" in text
    assert "bars: 95% interval, paired bootstrap over cells" in text and "mean over 2 repeats" in text
    assert "mae_overhead.png" in text and "Fig. 4.3" in text
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert _legend_labels(ax) == ["original", "optimized (= original)", "lcnet", "fh-ensemble"]


def test_estimation_series_keep_their_style_shift_by_overhead_and_spread(figures, tmp_path):
    plots.plot_estimation(ROWS, "kendall_tau", _meta(), tmp_path / "tau.png", shift_by_overhead=True)
    ax = figures[0].axes[0]
    xs = {}
    for name in ("original", "optimized (= original)", "lcnet", "fh-ensemble"):
        x, _, line = _series(ax, name)
        base = name.split(" ")[0]
        assert (line.get_color(), line.get_marker()) == plots.style(base)
        xs[base] = x
    step = 0.012 * 5  # epochs 5 to 10
    assert xs["original"][0] == pytest.approx(5 - 1.5 * step)
    assert xs["optimized"][0] == pytest.approx(5 + 0.01 - 0.5 * step)  # spread apart from original
    assert xs["lcnet"][1] == pytest.approx(10 + 2.0 + 0.5 * step)  # shifted right by its overhead
    assert xs["fh-ensemble"][0] == pytest.approx(5 + 0.5 + 1.5 * step)


def test_unshifted_plots_read_no_timing(figures, tmp_path):
    """mae.png and kendall_tau.png: points at their checkpoint (spread only), whatever the overheads,
    so a rescore draws them byte for byte; mae_overhead.png says that it is the one shifted."""
    plots.plot_estimation(ROWS, "mae", _meta(), tmp_path / "mae.png")
    ax = figures[0].axes[0]
    step = 0.012 * 5
    assert _series(ax, "lcnet")[0] == pytest.approx([5 + 0.5 * step, 10 + 0.5 * step])
    assert "mae_overhead.png" in _texts(figures[0]) and ax.get_xlabel().startswith("epoch (checkpoint")
    slower = [dataclasses.replace(r, overhead_epochs_mean=r.overhead_epochs_mean * 40 + 3) for r in ROWS]
    for rows, name in ((ROWS, "a.png"), (slower, "b.png")):
        plots.plot_estimation(rows, "mae", _meta(), tmp_path / name)
    assert _canvas_bytes(figures[1]) == _canvas_bytes(figures[2])
    plots.plot_estimation(ROWS, "mae", _meta(), tmp_path / "shifted.png", shift_by_overhead=True)
    assert "against epochs plus overhead" in figures[3]._suptitle.get_text()
    assert "Fig. 4.3" in figures[3].axes[0].get_xlabel()


def _canvas_bytes(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def test_mae_log_axis_where_one_value_dwarfs_the_rest(figures, tmp_path):
    rows = [r for r in ROWS if r.estimator != "lcnet"] + [_row("lcnet", 5, 0.90, 0.1), _row("lcnet", 10, 0.05, 0.3)]
    plots.plot_estimation(rows, "mae", _meta(), tmp_path / "mae.png")
    ax = figures[0].axes[0]
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    plots.plot_estimation(ROWS, "mae", _meta(), tmp_path / "mae.png")  # nothing dwarfs: linear
    assert figures[1].axes[0].get_yscale() == "linear"


def test_mae_clipped_axis_where_a_value_is_zero(figures, tmp_path):
    rows = [r for r in ROWS if r.estimator != "original"] + [_row("original", 5, 0.0, 1.0), _row("original", 10, 0.0, 1.0)]
    rows = [r if r.estimator != "lcnet" or r.epoch != 5 else _row("lcnet", 5, 0.90, 0.1, 2.0) for r in rows]
    plots.plot_estimation(rows, "mae", _meta(), tmp_path / "mae.png")
    ax = figures[0].axes[0]
    assert ax.get_yscale() == "linear"
    top = ax.get_ylim()[1]
    assert top < 90 and "clipped at" in ax.get_ylabel() and "higher values marked" in ax.get_ylabel()
    x, y, _ = _series(ax, "lcnet")
    assert y[0] == pytest.approx(top)  # drawn at the edge...
    assert "90.0" in [t.get_text() for t in ax.texts]  # ...and labelled with its value


def test_unknown_overheads_are_said(figures, tmp_path):
    rows = [_row("original", e, 0.1, 0.3, math.nan) for e in (5, 10)]
    plots.plot_estimation(rows, "mae", _meta(), tmp_path / "mae.png", shift_by_overhead=True)
    assert "where known" in _texts(figures[0])


def _search_meta(spike: float = 0.88):
    """Two algorithms, two estimators, three seeds; one seed's first incumbent is a very bad cell."""
    pool_truth = [0.90, 0.85, 0.80, 0.91 - spike, 0.89]
    runs = []
    for algorithm in ("hyperband", "random"):
        for estimator in ("original", "fh-ensemble"):
            for seed in range(3):
                first = 3 if seed == 0 else 2
                trajectory = [[1.0 + seed, first], [4.0, 1], [7.0 + seed, 0 if estimator == "original" else 4]]
                runs.append({"algorithm": algorithm, "estimator": estimator, "seed": seed, "trajectory": trajectory,
                             "simulated_time_s": 9.0})
    return {"kind": "search", "suite": {"name": "demo-search", "version": "1"},
            "truth": {"spec": "nb201-table"}, "time_budget_s": 10.0, "pool_truth": pool_truth, "runs": runs,
            "regret": {"against": "global optimum", "reference": 0.91, "pool_floor": 0.01, "pool_best": 0.90}}


def test_regret_plot_log_axis_floor_panels_and_styles(figures, tmp_path):
    plots.plot_regret(_search_meta(), tmp_path / "regret.png")
    fig = figures[0]
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["random search", "HyperBand"]
    assert all(ax.get_yscale() == "log" for ax in axes) and "log scale" in axes[0].get_ylabel()
    text = _texts(fig)
    assert "demo-search 1" in fig._suptitle.get_text() and "nb201-table" in fig._suptitle.get_text()
    assert "mean regret over 3 seeds" in text and "95% t-interval over seeds" in text
    assert "pool's floor (1.00 pp)" in text
    floors = [line for line in axes[0].get_lines() if line.get_linestyle() == ":"]
    assert floors and floors[0].get_ydata()[0] == pytest.approx(1.0)
    # the spike (88 pp) is on the axis, and the floor (1 pp) too: a log axis keeps both readable
    low, high = axes[0].get_ylim()
    assert low < 1.0 and high > 0.88 * 100 / 3
    steps = {line.get_label(): line for line in axes[0].get_lines() if line.get_label() in ("original", "fh-ensemble")}
    for name, line in steps.items():
        assert (line.get_color(), line.get_marker()) == plots.style(name)
        # drawn from the time every seed has a result (seed 2's first, at 3 s), not before
        assert line.get_xdata()[0] == pytest.approx(3.0)
        assert line.get_xdata()[-1] == pytest.approx(10.0)


def test_regret_plot_without_a_floor_uses_symlog(figures, tmp_path):
    meta = _search_meta()
    meta["regret"].update(against="pool best", reference=0.90, pool_floor=0.0)
    plots.plot_regret(meta, tmp_path / "regret.png")
    ax = figures[0].axes[0]
    assert ax.get_yscale() == "symlog" and "symlog" in ax.get_ylabel()
    assert "pool's floor" not in _texts(figures[0])


def test_plots_are_byte_stable(tmp_path):
    for index in (1, 2):
        plots.plot_estimation(ROWS, "mae", _meta(), tmp_path / f"mae{index}.png")
        plots.plot_regret(_search_meta(), tmp_path / f"regret{index}.png")
    assert (tmp_path / "mae1.png").read_bytes() == (tmp_path / "mae2.png").read_bytes()
    assert (tmp_path / "regret1.png").read_bytes() == (tmp_path / "regret2.png").read_bytes()
    assert (tmp_path / "mae1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_from_published_results_json(tmp_path):
    """The plots redraw from what a leaderboard publishes (rows as dicts, the header)."""
    results = {**_meta(), "kind": "estimation", "rows": [r.as_dict() for r in ROWS]}
    (tmp_path / "est.json").write_text(json.dumps(results))
    (tmp_path / "search.json").write_text(json.dumps(_search_meta()))
    assert [p.name for p in plots.render_results(tmp_path / "est.json", tmp_path / "e")] == [
        "mae.png", "kendall_tau.png", "mae_overhead.png"]
    assert [p.name for p in plots.render_results(tmp_path / "search.json", tmp_path / "s")] == ["regret.png"]
    direct = tmp_path / "direct.png"
    plots.plot_estimation(ROWS, "mae", _meta(), direct)
    assert (tmp_path / "e" / "mae.png").read_bytes() == direct.read_bytes()  # Row objects or their dicts: same plot


# ---------------------------------------------------------------------------------------------- per network

def _per_network_view():
    """Two repeats of one network and one other network over 10 epochs; fh-ensemble fails once."""
    from fhbench.estimators.harness import EstimateRecord
    from fhbench.score.per_network import per_network

    series = {
        ("original", "r0-000"): [0.40, 0.60, 0.75, 0.795, 0.805, 0.78, 0.785, 0.792, 0.808, 0.80],  # settles at 8
        ("fh-ensemble", "r0-000"): [0.70, None, 0.80, 0.80, 0.80, 0.80, 0.80, 0.80, 0.80, 0.80],  # settles at 3
        ("original", "r1-000"): [0.30, 0.50, 0.60, 0.65, 0.70, 0.72, 0.74, 0.75, 0.76, 0.77],  # never (truth 0.79)
        ("fh-ensemble", "r1-000"): [0.60, 0.70, 0.75, 0.78, 0.79, 0.79, 0.79, 0.79, 0.79, 0.79],  # settles at 4
        ("original", "r0-001"): [0.20, 0.30, 0.40, 0.45, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50],  # settles at 5
        ("fh-ensemble", "r0-001"): [0.45, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50],  # settles at 2
    }
    records = [EstimateRecord(name, int(trial[1]), epoch, trial, estimate, 0.01)
               for (name, trial), values in series.items() for epoch, estimate in zip(range(1, 11), values)]
    truths = {"r0-000": 0.80, "r1-000": 0.79, "r0-001": 0.50}
    configs = {"r0-000": "resnet18@w0.25", "r1-000": "resnet18@w0.25", "r0-001": "vgg16@w0.25"}
    curves = {t: {"val_acc": [min(truths[t], 0.1 * e) for e in range(1, 11)]} for t in truths}
    return per_network(records, truths, configs, list(range(1, 11)), 10, curves=curves)


def _line(ax, label):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def test_trajectory_plot_shows_every_estimate_the_final_accuracy_and_the_settle_epochs(figures, tmp_path):
    view = _per_network_view()
    trial = view["trials"][0]
    plots.plot_trajectory(trial, view, _meta(truth={"spec": "final_test_acc"}), tmp_path / "t.png")
    fig = figures[0]
    top, bottom = fig.axes
    assert "trial r0-000 (repeat 0)" in fig._suptitle.get_text() and top.get_title() == "resnet18@w0.25"
    original = _line(top, "original")
    assert list(original.get_xdata()) == list(range(1, 11))
    assert list(original.get_ydata()) == pytest.approx([100 * v for v in [0.40, 0.60, 0.75, 0.795, 0.805, 0.78,
                                                                          0.785, 0.792, 0.808, 0.80]])
    ensemble = _line(top, "fh-ensemble")
    assert ensemble.get_ydata()[1] == 0.0  # the failed estimate, drawn as what it counts as
    crosses = [line for line in top.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [2]
    final = [line for line in top.get_lines() if line.get_label().startswith("final accuracy (final_test_acc): 80.00%")]
    assert final and list(final[0].get_ydata()) == [80.0, 80.0]
    assert _line(top, "val_acc recorded at every epoch").get_ydata()[-1] == pytest.approx(80.0)
    labels = _legend_labels(bottom)
    assert labels == ["original: within 1 pp from epoch 8 (1.25x)", "fh-ensemble: within 1 pp from epoch 3 (3.33x)"]
    settles = sorted(line.get_xdata()[0] for line in bottom.get_lines() if line.get_linestyle() == ":")
    assert settles == [3, 8]
    assert list(_line(bottom, labels[0]).get_ydata()) == pytest.approx(
        [100 * v - 80 for v in [0.40, 0.60, 0.75, 0.795, 0.805, 0.78, 0.785, 0.792, 0.808, 0.80]])
    assert bottom.get_yscale() == "symlog" and "failed estimate" in _texts(fig)


def test_trajectory_legend_says_never(figures, tmp_path):
    view = _per_network_view()
    plots.plot_trajectory(view["trials"][1], view, _meta(), tmp_path / "t.png")
    assert "original: never within 1 pp for good" in _legend_labels(figures[0].axes[1])
    assert "failed estimate" not in _texts(figures[0])  # none failed on this trial


def test_settle_plot_has_one_point_per_trial_and_never_above_the_budget(figures, tmp_path):
    view = _per_network_view()
    plots.plot_settle(view, _meta(), tmp_path / "settle.png")
    ax = figures[0].axes[0]
    # estimator order is the fixed style order: original first; networks in order, resnet18 (2 trials) first
    original = [line for line in ax.get_lines() if line.get_color() == plots.style("original")[0]]
    settled, never = original
    assert list(settled.get_ydata()) == [8, 5] and list(never.get_ydata()) == [10 * 1.08]
    assert never.get_fillstyle() == "none"
    assert list(settled.get_xdata()) == pytest.approx([-0.2, 0.8])  # left of each network's tick
    ensemble = [line for line in ax.get_lines() if line.get_color() == plots.style("fh-ensemble")[0]]
    assert list(ensemble[0].get_ydata()) == [3, 4, 2] and len(ensemble[1].get_ydata()) == 0
    assert sorted(t.get_text() for t in ax.texts) == sorted(["1.25x", "2.00x", "3.33x", "2.50x", "5.00x"])
    assert [t.get_text() for t in ax.get_yticklabels()][-2:] == ["budget 10", "never"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["r0-000, r1-000\nresnet18@w0.25", "r0-001\nvgg16@w0.25"]


def test_abs_error_plot_has_a_panel_per_network_with_the_mean_over_its_trials(figures, tmp_path):
    view = _per_network_view()
    plots.plot_abs_error_by_network(view, _meta(), tmp_path / "abs.png")
    fig = figures[0]
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["r0-000, r1-000: resnet18@w0.25", "r0-001: vgg16@w0.25"]
    first = panels[0].get_lines()[0]  # original, mean over r0-000 and r1-000, in pp, floored at 0.01
    r0 = np.abs(np.array([0.40, 0.60, 0.75, 0.795, 0.805, 0.78, 0.785, 0.792, 0.808, 0.80]) - 0.80)
    r1 = np.abs(np.array([0.30, 0.50, 0.60, 0.65, 0.70, 0.72, 0.74, 0.75, 0.76, 0.77]) - 0.79)
    expected = np.maximum(100 * (r0 + r1) / 2, 0.01)
    assert first.get_ydata() == pytest.approx(expected)
    assert all(ax.get_yscale() == "log" for ax in panels)
    assert "errors below 0.01 pp drawn at 0.01" in _texts(fig)


@pytest.mark.slow  # draws eight plots twice (plots' byte stability: test_plots_are_byte_stable)
def test_per_network_plots_are_byte_stable_and_redraw_from_results_json(tmp_path):
    from fhbench.publish.provenance import results_json

    meta = {**_meta(), "kind": "estimation", "rows": [r.as_dict() for r in ROWS], "per_network": _per_network_view()}
    (tmp_path / "results.json").write_text(results_json({k: v for k, v in meta.items() if k != "rows"}, ROWS))
    names = [p.name for p in plots.render_results(tmp_path / "results.json", tmp_path / "a")]
    assert names[3:] == ["settle.png", "abs_error_by_network.png", "trajectory-r0-000.png", "trajectory-r1-000.png",
                         "trajectory-r0-001.png"]
    plots.render_results(tmp_path / "results.json", tmp_path / "b")
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_leader_and_those_tied_with_it_are_drawn_strong_the_rest_faded(figures, tmp_path):
    """At each checkpoint the board's verdict decides: the leader's and the tied estimators' points filled
    and opaque with their 95% bars, the others hollow and faded; the caption says which is which."""
    verdicts = {("fh-ensemble", 5): "tied", ("original", 5): "best", ("optimized", 5): "tied", ("lcnet", 5): "behind",
                ("fh-ensemble", 10): "best", ("original", 10): "tied", ("optimized", 10): "tied", ("lcnet", 10): "behind"}
    rows = [dataclasses.replace(r, kendall_tau_verdict=verdicts[(r.estimator, r.epoch)]) for r in ROWS]
    plots.plot_estimation(rows, "kendall_tau", _meta(), tmp_path / "tau.png")
    ax = figures[0].axes[0]
    points = {}
    for container in ax.containers:
        line = container.lines[0]
        for x in line.get_xdata():
            epoch = round(x)
            points[(line.get_color(), epoch)] = (line.get_alpha() or 1.0, line.get_fillstyle())
    for (name, epoch), verdict in verdicts.items():
        alpha, fill = points[(plots.style(name)[0], epoch)]
        strong = verdict in ("best", "tied")
        assert (alpha == 1.0 and fill == "full") if strong else (alpha < 0.5 and fill == "none"), (name, epoch)
    assert "lcnet" in _legend_labels(ax)  # never leads: still named, faded
    assert "Strong, filled: the leader at that checkpoint and those tied with it" in _texts(figures[0])


def test_no_mae_plot_for_a_board_of_rank_only_estimators():
    from fhbench.publish.plots import estimation_plots

    rows = [{"estimator": "synflow", "epoch": 0, "rank_only": True}, {"estimator": "naswot", "epoch": 0, "rank_only": True}]
    assert sorted(estimation_plots(rows, {})) == ["kendall_tau.png"]
    rows.append({"estimator": "original", "epoch": 0, "rank_only": False})
    assert sorted(estimation_plots(rows, {})) == ["kendall_tau.png", "mae.png", "mae_overhead.png"]
