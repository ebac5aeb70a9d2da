"""A published nb201-zc board's zero-cost proxies beside the figures the field published for them.

    python benchmarks/zero_cost_comparison.py leaderboard/nb201-zc/1 [--out docs/nb201-zc.md]
        [--published docs/published_zero_cost.csv] [--traces traces]

Writes a markdown page (stdout without --out): per proxy, the board's Spearman rho and Kendall tau with
their 95% intervals, each published figure of docs/published_zero_cost.csv beside them with its source
and the settings in which it differs from the board, whether the figure falls inside the board's
interval, and the seconds each proxy cost per cell. Everything about the board is read from its files
(results.json, estimates.csv); with --traces, the trace store it was scored from adds the time of all
proxies together (their shared passes counted once), which the board does not keep.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from fhbench.core.errors import FhbenchError
from fhbench.publish.board_files import read_results
from fhbench.publish.estimation_board import interval_text
from fhbench.record.proxies import PROXIES

NOT_FOUND = "not found in the sources available here"
METRIC_NAMES = {"spearman_rho": "Spearman rho", "kendall_tau": "Kendall tau"}
SETTING_KEYS = ("truth", "images", "batch", "sample")
# How the recorder feeds the proxies (fhbench/record/train.py, suites/nb201-zc.toml): not in results.json.
OUR_BATCH = "the first {batch} images of the training split, the same batch for every cell, un-augmented"


@dataclass(frozen=True)
class Published:
    proxy: str
    metric: str
    value: float
    text: str  # the value as printed in the source: its decimals say how it was rounded
    source: str
    setting: dict[str, str]
    cells: str

    @property
    def half_step(self) -> float:
        """Half a unit of the last printed decimal: every value within it prints as `text`."""
        decimals = len(self.text.split(".")[1]) if "." in self.text else 0
        return 0.5 * 10.0 ** -decimals


def read_published(path: Path) -> list[Published]:
    """docs/published_zero_cost.csv, its '#' lines skipped; a row that cannot be read is refused with its line."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    figures = []
    for number, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=2):
        try:
            setting = dict(part.split("=", 1) for part in row["setting"].split("; ") if part)
            figure = Published(row["proxy"], row["metric"], float(row["value"]), row["value"].strip(),
                               row["source"], {k.strip(): v.strip() for k, v in setting.items()}, row["cells"])
        except (KeyError, ValueError, AttributeError) as err:
            raise FhbenchError(f"{path}: row {number} unreadable ({type(err).__name__}: {err})") from None
        if figure.metric not in METRIC_NAMES:
            raise FhbenchError(f"{path}: row {number}: metric must be one of {', '.join(METRIC_NAMES)}, "
                               f"got '{figure.metric}'")
        figures.append(figure)
    return figures


def proxy_rows(results: dict) -> dict[str, dict]:
    """The board's row of each zero-cost proxy (proxy-only boards score one checkpoint, epoch 0)."""
    rows = {}
    for row in results["rows"]:
        if row["estimator"] in PROXIES:
            if row["estimator"] in rows:
                raise FhbenchError(f"{row['estimator']} has several rows: not a proxy-only board of one checkpoint")
            rows[row["estimator"]] = row
    if not rows:
        raise FhbenchError("the board scores no zero-cost proxy")
    return rows


def our_interval(row: dict, metric: str, absolute: bool) -> tuple[float, float]:
    """The board's 95% interval of `metric`; of its absolute value where the source prints |rho|."""
    lo, hi = row[f"{metric}_lo"], row[f"{metric}_hi"]
    if not absolute:
        return lo, hi
    if lo <= 0 <= hi:
        return 0.0, max(-lo, hi)
    return min(abs(lo), abs(hi)), max(abs(lo), abs(hi))


def verdict(row: dict, figure: Published) -> str:
    """"agrees" when a value that prints as the published one lies inside the board's interval."""
    lo, hi = row.get(f"{figure.metric}_lo"), row.get(f"{figure.metric}_hi")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a (no interval)"
    lo, hi = our_interval(row, figure.metric, figure.setting.get("sign") == "abs")
    inside = figure.value + figure.half_step >= lo and figure.value - figure.half_step <= hi
    return "agrees" if inside else "differs"


def our_setting(results: dict) -> dict[str, str]:
    settings = results["suite_settings"]
    truth = results["truth"] if isinstance(results["truth"], dict) else {"spec": str(results["truth"])}
    batch = int(settings["train"]["batch_size"])
    space = settings["space"]
    return {
        "truth": f"`{truth.get('spec')}`" + (f": {truth['source']}" if truth.get("source") else ""),
        "images": f"{results.get('dataset_source') or settings['data']['dataset']}, "
                  + OUR_BATCH.format(batch=batch),
        "batch": str(batch),
        "sample": f"{int(results['trials_scored']):,} cells sampled uniformly without replacement from the 15,625 "
                  f"(sample seed {space.get('sample_seed')})",
    }


def differences(figure: Published, ours: dict[str, str], cells_scored: int) -> str:
    """What the published figure's setting does not share with the board, as '; '-joined phrases."""
    parts = []
    if "truth" in figure.setting:
        parts.append(f"truth: {figure.setting['truth']}")
    if "images" in figure.setting:
        parts.append(f"images: {figure.setting['images']}")
    batch = figure.setting.get("batch", "")
    their_batch = batch.split()[0] if batch else ""
    if their_batch and their_batch != ours["batch"]:
        parts.append(f"batch: {batch} (ours {ours['batch']})")
    elif their_batch:
        parts.append(f"batch: {their_batch}, as ours")
    if "sample" in figure.setting:
        same = figure.cells.strip() == str(cells_scored)
        parts.append(f"cells: {figure.setting['sample']}" + ("" if same else f" (ours {cells_scored:,})"))
    if figure.setting.get("sign") == "abs":
        parts.append("sign: the source prints |rho|, compared with our |rho|")
    return "; ".join(parts)


@dataclass(frozen=True)
class Seconds:
    mean: float
    median: float
    largest: float
    cells: int


def seconds_per_cell(results: dict) -> dict[str, Seconds]:
    """Per proxy, the board's overhead_s of each cell: the wall time the recorder measured for that proxy
    alone (its passes in full, shared ones included) plus the estimator's reading of it."""
    per_proxy: dict[str, list[float]] = {}
    for estimate in results.get("estimates", []):
        name, value = estimate["estimator"], estimate.get("overhead_s")
        if name in PROXIES and value is not None and math.isfinite(value):
            per_proxy.setdefault(name, []).append(float(value))
    return {name: Seconds(statistics.fmean(v), statistics.median(v), max(v), len(v)) for name, v in per_proxy.items()}


def together_seconds(results: dict, traces: Path) -> list[float]:
    """Each scored cell's `total_s` (all proxies together, shared passes once) from the trace store the
    board was scored from; refused where the store's trials are not the board's."""
    from fhbench.record.trace import TrialTrace

    suite = results["suite"]
    store = traces / suite["name"] / suite["record_hash"]
    if not store.is_dir():
        store = traces
    configs = results.get("configs") or {}
    totals = []
    for trial_id in sorted(results["truths"]):
        folder = store / trial_id
        if not folder.is_dir():
            raise FhbenchError(f"{traces}: no trace {trial_id} of the board (expected under {store})")
        trace = TrialTrace(folder)
        if configs.get(trial_id) not in (None, trace.manifest.get("config")):
            raise FhbenchError(f"{folder}: not the board's cell {trial_id} (config {trace.manifest.get('config')})")
        proxies = trace.proxies
        if proxies is None or proxies.total_s is None:
            raise FhbenchError(f"{folder}: recorded without the proxies' total time")
        totals.append(float(proxies.total_s))
    return totals


def _environment_text(results: dict) -> list[str]:
    env = results.get("environment") or {}
    recording = env.get("recording") or {}

    def seen(key: str) -> str:
        values = recording.get(key)
        return ", ".join(str(v) for v in values) if values else "not recorded"

    return [
        f"Recorded on: device {seen('device')} ({seen('device_name')}), {seen('threads')} torch thread(s), "
        f"torch {seen('torch')} (`environment.recording` of results.json: the values the traces hold).",
        f"Scored on: {env.get('device_name', '?')}, {env.get('cpu_count', '?')} CPUs, {env.get('platform', '?')}, "
        f"{results.get('date', '?')}.",
    ]


def render(results: dict, figures: list[Published], board: str, totals: list[float] | None = None,
           recording: str | None = None) -> str:
    rows = proxy_rows(results)
    ours = our_setting(results)
    cells = int(results["trials_scored"])
    suite = results["suite"]
    seconds = seconds_per_cell(results)
    lines = [
        f"# {suite['name']} {suite['version']}: zero-cost proxies beside the published figures",
        "",
        f"Board `{board}` ({suite.get('description', '')}), scored from traces `{results.get('traces_hash', '?')[:16]}` "
        f"at commit `{(results.get('git') or {}).get('commit', '?')[:12]}`.",
        "",
        "Our setting:",
        "",
        f"- truth: {ours['truth']}",
        f"- images: {ours['images']}",
        f"- cells: {ours['sample']}; one repeat",
        "",
        *_environment_text(results),
        "",
    ]
    if totals:
        lines += [
            f"How long: all proxies together took {sum(totals):,.0f} s over the {len(totals):,} cells "
            f"({statistics.fmean(totals):.2f} s per cell on average, {min(totals):.2f} to {max(totals):.2f}), "
            "the sum of each trace's `total_s` (shared passes counted once). The recording's wall time is not "
            "kept by the board or the traces; it is longer than this by building each network and writing its trace.",
            "",
        ]
    if recording:  # what the recording command printed, given by whoever ran it (--recording)
        lines += [f"The recording itself, as its command reported it: {recording}.", ""]
    else:
        lines += [
            "How long: the board keeps each proxy's seconds per cell (below) but not the recording's wall time; "
            "`--traces` adds the time of all proxies together from the traces.",
            "",
        ]
    lines += [
        "## Rank correlations",
        "",
        "Ours: the board's value over its cells, with its 95% interval (percentile bootstrap over cells, "
        "paired across proxies; results.json `statistics`). A failed estimate counts as 0.0 and ranks its cell "
        "last, as on the board.",
        "",
        "Inside? \"agrees\" when a value that prints as the published figure (the figure plus or minus half its "
        "last printed digit) lies inside our interval; \"differs\" otherwise. The interval holds only our own "
        "uncertainty over which cells were sampled: it does not hold the published figure's sampling "
        "uncertainty, nor any effect of the settings that differ. So \"differs\" says the gap is larger than our "
        "cell sampling explains, and the differences of setting in the same row are where to look; \"agrees\" "
        "does not make the settings equal.",
        "",
        "| proxy | ours: Spearman rho [95%] | ours: Kendall tau [95%] | failed | published | inside? | source "
        "| differences of setting |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]
    sources: list[str] = []  # numbered in order of first use, listed once under the table
    for name in PROXIES:
        if name not in rows:
            continue
        row = rows[name]
        rho = interval_text(row["spearman_rho_mean"], row.get("spearman_rho_lo"), row.get("spearman_rho_hi"))
        tau = interval_text(row["kendall_tau_mean"], row.get("kendall_tau_lo"), row.get("kendall_tau_hi"))
        failed = f"{row['n_failed']} of {row['n_estimates'] + row['n_failed']}"
        mine = [f for f in figures if f.proxy == name]
        if not mine:
            lines.append(f"| {name} | {rho} | {tau} | {failed} | {NOT_FOUND} | | | |")
        for figure in mine:
            if figure.source not in sources:
                sources.append(figure.source)
            lines.append(f"| {name} | {rho} | {tau} | {failed} | {METRIC_NAMES[figure.metric]} {figure.text} "
                         f"| {verdict(row, figure)} | [{sources.index(figure.source) + 1}] "
                         f"| {differences(figure, ours, cells)} |")
    lines += ["", "Sources:", ""] + [f"{i}. {source}" for i, source in enumerate(sources, start=1)]
    unknown = sorted({f.proxy for f in figures} - set(rows))
    if unknown:
        lines += ["", f"Published figures for proxies this board does not score: {', '.join(unknown)}."]
    lines += [
        "",
        "## Seconds per proxy per cell",
        "",
        "Per cell, the board's `overhead_s` of the proxy's estimate (estimates.csv): the wall time the recorder "
        "measured for that proxy computed alone, its passes counted in full even where it shares them with "
        "others (fhbench/record/proxies.py, `seconds`), plus the microseconds its estimator takes to read the "
        "stored value. Failed attempts count. Computed together the proxies share their forward and backward "
        "passes, so these do not add up to a cell's time.",
        "",
        "| proxy | mean s per cell | median | largest | cells |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in PROXIES:
        if name in seconds:
            s = seconds[name]
            lines.append(f"| {name} | {s.mean:.3f} | {s.median:.3f} | {s.largest:.3f} | {s.cells:,} |")
    if totals:
        lines.append(f"| all together (traces' `total_s`) | {statistics.fmean(totals):.3f} | "
                     f"{statistics.median(totals):.3f} | {max(totals):.3f} | {len(totals):,} |")
    lines += ["", "Sources and how each figure was read: `docs/published_zero_cost.md`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("board", help="a published nb201-zc board directory (results.json, estimates.csv)")
    parser.add_argument("--published", default="docs/published_zero_cost.csv")
    parser.add_argument("--traces", help="the trace store the board was scored from (adds all proxies' time together)")
    parser.add_argument("--out", help="write the page here (default: stdout)")
    parser.add_argument("--recording", help="how the recording ran, from its log (the board does not keep its "
                                            "wall time), e.g. '3,196 s wall, fhbench record --workers 2'")
    args = parser.parse_args(argv)
    try:
        results = read_results(args.board)
        totals = together_seconds(results, Path(args.traces)) if args.traces else None
        page = render(results, read_published(Path(args.published)), args.board, totals, args.recording)
    except FhbenchError as err:
        print(f"zero_cost_comparison: error: {err}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
