"""An estimation board's per-trial estimates, in a file of their own.

Every estimate of a board (estimator, repeat, budget, checkpoint, trial, the estimate and its measured
overheads) is what `fhbench reproduce` rescores from, and on a board of a few hundred cells it is most
of the board's bytes: it goes into `estimates.csv`, one row per estimate, numbers exactly as results.json
would carry them (10 significant digits, empty for none), and results.json names the file
(`estimates_file`) and keeps each trial's configuration once (`configs`). `read_results` puts the
estimates back into the results dict, so every reader sees one shape; boards published before the
split keep their estimates inside results.json and read the same.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fhbench.core.errors import FhbenchError

ESTIMATES_FILE = "estimates.csv"
_TEXT = ("estimator", "trial_id")
_INTEGERS = ("repeat", "budget", "checkpoint")
_NUMBERS = ("estimate", "overhead_s", "overhead_cpu_s", "reference_cpu_s")


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{float(value):.10g}"


def render_estimates_csv(estimates: Sequence[dict]) -> str:
    budgeted = any("budget" in e for e in estimates)
    columns = [c for c in ("estimator", "repeat", "budget", "checkpoint", "trial_id", *_NUMBERS)
               if c != "budget" or budgeted]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for entry in estimates:
        writer.writerow([_number(entry.get(c)) if c in _NUMBERS else entry.get(c) for c in columns])
    return out.getvalue()


def _parse(row: dict, configs: dict) -> dict:
    entry: dict[str, Any] = {key: row[key] for key in _TEXT}
    entry.update({key: int(row[key]) for key in _INTEGERS if key in row})
    entry.update({key: float(row[key]) if row[key] != "" else None for key in _NUMBERS})
    if entry["trial_id"] in configs:
        entry["config"] = configs[entry["trial_id"]]
    return entry


def read_json_object(path: Path, missing: str) -> dict:
    """A board's JSON file as a dict; one-line errors, `missing` saying what the folder should hold."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FhbenchError(f"{path}: not found ({missing})") from None
    except (OSError, ValueError) as err:
        raise FhbenchError(f"{path}: unreadable ({err})") from None
    if not isinstance(data, dict):
        raise FhbenchError(f"{path}: not a JSON object")
    return data


def read_results(directory: str | Path) -> dict:
    """A board's results.json, with its estimates back under "estimates" where they have a file."""
    path = Path(directory) / "results.json"
    results = read_json_object(path, "a published leaderboard directory holds results.json")
    name = results.get("estimates_file")
    if name is not None:
        source = Path(directory) / str(name)
        try:
            rows = list(csv.DictReader(io.StringIO(source.read_text())))
            results["estimates"] = [_parse(row, results.get("configs") or {}) for row in rows]
        except (OSError, KeyError, ValueError) as err:
            raise FhbenchError(f"{source}: not the board's estimates ({type(err).__name__}: {err})") from None
    return results


__all__ = ["ESTIMATES_FILE", "read_results", "render_estimates_csv"]
