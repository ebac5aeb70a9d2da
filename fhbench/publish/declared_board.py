"""The leaderboard of a declared search suite, laid out as the thesis's Tables 4.2 to 4.4.

One row per target, algorithm, estimator and source (live or replayed): the chosen configuration's
accuracy under the suite's own-run truth, mean and standard deviation over the seeds that have one,
its parameters and multiply-accumulates (mean and standard deviation, as Table 4.4 gives them),
beside the search's time on the driver's clock (the wall time its W workers take for the measured
costs), its real wall time where it ran live, and its cost in device-days (clock x workers). Each
replayed row says how many of its jobs asked for training no live search did ("not recorded"), and,
where the same search also ran live, on how many seeds the replay ran the same jobs and chose the same.
A table of winners gives each search's configuration with its parameters and multiply-accumulates
(Table 4.4's columns).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fhbench.publish.derived import declared_intervals
from fhbench.publish.numbers import interval_text

ALGORITHM_NAMES = {"random": "Random search", "hyperband": "HyperBand", "bohb": "BOHB"}
# Ranking by the current validation accuracy is the thesis's "without our method".
BASELINE_ESTIMATOR = "original"


def method_name(algorithm: str, estimator: str) -> str:
    name = ALGORITHM_NAMES.get(algorithm, algorithm)
    return name if estimator == BASELINE_ESTIMATOR else f"{name} + {estimator}"


@dataclass(frozen=True)
class TableRow:
    target: str
    algorithm: str
    estimator: str
    source: str  # "live" or "replayed"
    seeds: int
    seeds_with_truth: int
    true_acc_mean: float  # NaN when no seed has a true accuracy
    true_acc_std: float
    clock_s_mean: float
    wall_s_mean: float | None  # live only
    device_days_mean: float
    jobs_mean: float
    failed_jobs: int
    unrecorded_jobs: int  # replayed only: jobs whose training no live search did
    agrees_with_live: str | None  # replayed only: "k/n" seeds choosing the live search's configuration
    params_mean: float  # the chosen configurations' parameters and multiply-accumulates (Table 4.4)
    params_std: float
    macs_mean: float
    macs_std: float

    def as_dict(self) -> dict:
        return asdict(self)


def _agreement(record: dict, live: dict | None) -> bool | None:
    """Whether a replay made its live search's decisions: the same jobs (configuration and budget) and
    the same choice. Their order may differ: a trace that several searches trained keeps the times of
    the run that went furthest, so a replay's clock can order two near-simultaneous finishes otherwise."""
    if live is None:
        return None
    return (record["incumbent"] == live["incumbent"]
            and sorted((j["config"], j["budget"]) for j in record["job_list"])
            == sorted((j["config"], j["budget"]) for j in live["job_list"]))


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    return (float(values.mean()), float(values.std())) if len(values) else (math.nan, math.nan)


def summarise(records: Sequence[dict]) -> list[TableRow]:
    """One row per (target, algorithm, estimator, source), in target order, live rows first."""
    live = {(r["target"], r["algorithm"], r["estimator"], r["seed"]): r for r in records if r["source"] == "live"}
    keys = sorted({(r["target_index"], r["target"], r["algorithm"], r["estimator"], r["source"] != "live",
                    r["source"]) for r in records})
    rows = []
    for index, target, algorithm, estimator, _, source in keys:
        mine = [r for r in records if (r["target_index"], r["algorithm"], r["estimator"], r["source"])
                == (index, algorithm, estimator, source)]
        accs = np.array([r["true_acc"] for r in mine if r["true_acc"] is not None], dtype=np.float64)
        agree = None
        if source != "live":
            verdicts = [_agreement(r, live.get((target, algorithm, estimator, r["seed"]))) for r in mine]
            known = [v for v in verdicts if v is not None]
            agree = f"{sum(known)}/{len(known)}" if known else None
        walls = [r["wall_s"] for r in mine if r["wall_s"] is not None]
        params = np.array([r["size"]["params"] for r in mine if r.get("size")], dtype=np.float64)
        macs = np.array([r["size"]["macs"] for r in mine if r.get("size")], dtype=np.float64)
        rows.append(TableRow(
            target, algorithm, estimator, source, len(mine), len(accs), *_mean_std(accs),
            float(np.mean([r["clock_s"] for r in mine])), float(np.mean(walls)) if walls else None,
            float(np.mean([r["clock_s"] * r["workers"] / 86400.0 for r in mine])),
            float(np.mean([r["jobs"] for r in mine])), int(sum(r["failed_jobs"] for r in mine)),
            int(sum(r["unrecorded_jobs"] for r in mine)), agree, *_mean_std(params), *_mean_std(macs)))
    return rows


def _cell(text: str) -> str:
    """A table cell's text: DARTS genotypes hold '|', which would split the row."""
    return text.replace("|", "\\|")


def _size(row: dict, what: str, unit: float, digits: int) -> str:
    mean, std = row[f"{what}_mean"], row[f"{what}_std"]
    return "n/a" if mean is None else f"{mean / unit:.{digits}f} ± {std / unit:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def render_markdown(meta: dict) -> str:
    suite = meta["suite"]
    unit = meta["device_days_unit"]
    lines = [f"# {suite['name']} {suite['version']}: search results", "", suite.get("description", ""), "",
             f"Truth: {meta['truth']['spec']} of the chosen configuration at the maximal budget "
             f"({meta['suite_settings']['train']['epochs']} epochs): the mean over seeds with its 95% t-interval "
             f"over seeds (`seeds` with a truth / run; n/a with one). Params and MACs: the chosen configurations' "
             f"sizes, mean ± std over seeds (a spread of the choices, not an uncertainty). Clock: the search's time for its workers on the driver's clock "
             f"(measured training, validation and estimator time); wall: the real time it ran; {unit}: "
             f"clock × workers / 86,400.", ""]
    intervals = declared_intervals(meta)
    for target in meta["targets"]:
        rows = [r for r in meta["rows"] if r["target"] == target["label"]]
        lines += [f"## {target['label']}", "",
                  f"| Method | Source | Accuracy, % [95% CI] | Seeds | Params (M) | MACs (G) | Clock (s) | Wall (s) | {unit} "
                  f"| Jobs | Failed | Not recorded | Replay = live |", "|---" * 13 + "|"]
        for r in rows:
            mean, lo, hi = intervals.get((r["target"], r["algorithm"], r["estimator"], r["source"]),
                                         (r["true_acc_mean"], None, None))
            acc = interval_text(mean, lo, hi, 100, significant=3) if r["seeds_with_truth"] else "n/a"
            acc += " [n/a]" if r["seeds_with_truth"] and "[" not in acc else ""
            wall = "" if r["wall_s_mean"] is None else f"{r['wall_s_mean']:.0f}"
            lines.append(f"| {method_name(r['algorithm'], r['estimator'])} | {r['source']} | {acc} | "
                         f"{r['seeds_with_truth']}/{r['seeds']} | {_size(r, 'params', 1e6, 3)} | "
                         f"{_size(r, 'macs', 1e9, 4)} | {r['clock_s_mean']:.0f} | {wall} | "
                         f"{r['device_days_mean']:.4f} | {r['jobs_mean']:.1f} | {r['failed_jobs']} | "
                         f"{r['unrecorded_jobs'] if r['source'] != 'live' else ''} | "
                         f"{r['agrees_with_live'] or ''} |")
        lines.append("")
    lines += ["## Chosen configurations (live searches)", "",
              "| Target | Method | Seed | Configuration | Accuracy (%) | Params (M) | MACs (G) |",
              "|---|---|---|---|---|---|---|"]
    for w in meta["winners"]:
        size = w.get("size") or {}
        params = f"{size['params'] / 1e6:.3f}" if "params" in size else "n/a"
        macs = f"{size['macs'] / 1e9:.4f}" if "macs" in size else "n/a"
        acc = _pct(w["true_acc"]) if w["true_acc"] is not None else f"n/a ({w['true_acc_missing']})"
        lines.append(f"| {w['target']} | {method_name(w['algorithm'], w['estimator'])} | {w['seed']} | "
                     f"`{_cell(w['incumbent'])}` | {acc} | {params} | {macs} |")
    evaluations = meta.get("evaluations") or []
    if evaluations:
        lines += ["", "## Evaluated (`fhbench evaluate`: Table 4.2)", "",
                  "| Genotype | Test error (%) | Seeds | Params (M) | Search cost | Configuration |",
                  "|---|---|---|---|---|---|"]
        for e in evaluations:
            error = ("n/a" if e["test_error_mean"] is None
                     else f"{e['test_error_mean']:.2f} ± {e['test_error_std']:.2f}")
            cost = e.get("search_cost")
            cost_text = f"{cost['days']:.4f} {cost['unit']}" if cost else "n/a"
            lines.append(f"| {e['genotype_id']} | {error} | {e['completed']}/{e['seeds']} | {e['params_m']:.3f} | "
                         f"{cost_text} | `{_cell(e['genotype'])}` |")
    for text in meta.get("notes", []):
        lines += ["", f"Note: {text}"]
    lines += ["", "Plot: `search.png`. Every search, its jobs and its configurations: `results.json`. Replayed rows "
              "ran on the traces the live searches wrote; a job no live search trained is \"not recorded\", fails, "
              "and ranks last.", ""]
    return "\n".join(lines)


def render_csv(rows: Sequence[dict]) -> str:
    out = io.StringIO()
    fields = list(TableRow.__dataclass_fields__)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in fields})
    return out.getvalue()


def best_winner(results_path: Path) -> dict:
    """The live search whose chosen configuration has the highest accuracy in a published declared-search
    leaderboard (ties: the first), with its clock time and workers: what `fhbench evaluate --winner`
    retrains. One-line FhbenchError when the file is missing or holds no such search."""
    from fhbench.core.errors import FhbenchError

    try:
        meta = json.loads(Path(results_path).read_text())
        searches = [r for r in meta["searches"] if r["source"] == "live" and r["true_acc"] is not None]
    except FileNotFoundError:
        raise FhbenchError(f"{results_path}: no published search leaderboard: `fhbench run` the suite first") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FhbenchError(f"{results_path}: not a declared-search leaderboard ({type(err).__name__}: {err})") from None
    if not searches:
        raise FhbenchError(f"{results_path}: no live search chose a configuration with a known accuracy")
    return max(searches, key=lambda r: r["true_acc"])


EVALUATION_GLOB = "evaluate-*.json"


def _board_files(meta: dict, results_text: str) -> dict:
    """What a declared board holds besides the evaluations: results.json as given, and what it renders."""
    from fhbench.publish.plots import plot_declared

    return {"results.json": results_text, "leaderboard.md": render_markdown(meta),
            "leaderboard.csv": render_csv(meta["rows"]), "search.png": lambda path: plot_declared(meta, path)}


def _evaluation_files(board: Path) -> dict[str, str]:
    """The `fhbench evaluate` results beside a published board, which a republished board keeps."""
    return {path.name: path.read_text() for path in sorted(Path(board).glob(EVALUATION_GLOB))}


def _evaluation_rows(files: dict[str, str]) -> list[dict]:
    keys = ("genotype_id", "genotype", "test_error_mean", "test_error_std", "completed", "seeds", "params_m",
            "search_cost")
    return [{key: json.loads(text).get(key) for key in keys} for text in files.values()]


def publish_table(root: str | Path, header: dict, records: Sequence[dict], extra: dict) -> Path:
    """Writes the leaderboard of a declared search suite under `<root>/<suite>/<version>/`: results.json
    (the common header, every search's record as `searches`, the targets and winners), leaderboard.md
    and leaderboard.csv, keeping the `fhbench evaluate` results already there. `extra` holds "targets",
    "winners", "device_days_unit" and "notes"."""
    from fhbench.publish.provenance import results_json, write_directory

    final = Path(root) / header["suite"]["name"] / header["suite"]["version"]
    evaluations = _evaluation_files(final)
    rows = summarise(records)
    text = results_json(header, rows, {**extra, "searches": list(records),
                                       "evaluations": _evaluation_rows(evaluations)})
    meta = json.loads(text)  # what the files render: the published numbers
    return write_directory(final, {**_board_files(meta, text), **evaluations}, sign=True)


def add_evaluations(board: Path) -> bool:
    """Republishes a declared-search board with the `fhbench evaluate` results beside it (after one was
    written there); False, touching nothing, where `board` holds no such board."""
    from fhbench.publish.provenance import clean, write_directory

    try:
        meta = json.loads((Path(board) / "results.json").read_text())
    except (OSError, ValueError):
        return False
    if meta.get("kind") != "declared-search":
        return False
    evaluations = _evaluation_files(board)
    meta["evaluations"] = _evaluation_rows(evaluations)
    text = json.dumps(clean(meta), indent=1, sort_keys=True, allow_nan=False) + "\n"
    write_directory(board, {**_board_files(meta, text), **evaluations}, sign=True)
    return True
