"""`fhbench site`: one static HTML site from every leaderboard under a leaderboard root.

Input: ``<root>/<suite>/<version>/results.json`` (estimation and search leaderboards, with their PNG plots
and other published files) and ``<root>/<suite>/live/<run>/results.json`` (live searches). Hidden entries
(a publisher's staging folders) and plain files at the root or suite level are ignored.

Output, written beside `out_dir` and swapped in whole by `fhbench.publish.provenance.write_directory` (so `out_dir`
holds the old site or the new one at every moment):

- ``index.html``: every suite and version (and live run), with kind, date, rows, estimators and hashes;
- ``<suite>/<version>/index.html``: the rows as a sortable table (click a header; numbers sort as numbers,
  missing values last), each row's provenance (suite hash, its estimator's version and effective settings,
  the scoring environment), the plots, the failures and warnings, the whole results header, and, where the
  suite has an earlier version, the difference from it (computed by `fhbench.publish.compare`, with its tolerances);
  the published files (results.json, CSV, markdown, plots, estimates) are copied beside it;
- ``<suite>/live/<run>/index.html``: a live search's result and its jobs.

Every link is relative and the only script is the small one below, inline: the site opens from disk with no
network and can be published as static pages. Every text taken from a file is escaped. The output depends
only on the leaderboards (no build date), so building the same leaderboards again gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import html
import math
import re
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fhbench.publish.critical_difference import RankSummary, plot_critical_difference, rank_summary, summary_lines
from fhbench.publish.compare import KEY_FIELDS, Comparison, Results, compare_files, load_results
from fhbench.core.errors import FhbenchError
from fhbench.publish.provenance import check_signature, write_directory

__all__ = ["Board", "build_site", "find_boards", "main", "add_arguments", "run"]

MARKER = ".fhbench-site"
"""A file at the top of every built site: only a folder that has it (or an empty one) is replaced."""

LIVE = "live"
PLOT_ORDER = ("mae.png", "kendall_tau.png", "mae_overhead.png", "regret.png")
LONG_LIST = 12  # lists longer than this are summarised (their length), not printed, in header tables
HIDDEN_HEADER = {"rows"}  # results.json keys never printed in the header table


# ---------------------------------------------------------------------------------------------- input


@dataclass
class Board:
    """One published leaderboard (a suite version) or one live search run."""

    suite: str
    name: str  # the version, or the live run's folder name
    live: bool
    directory: Path
    results: Results
    previous: Board | None = None  # the suite's version before this one
    superseded_by: Board | None = None  # the suite's version after this one
    comparison: Comparison | None = None
    comparison_error: str | None = None
    files: list[str] = field(default_factory=list)

    @property
    def header(self) -> dict[str, Any]:
        return self.results.header

    @property
    def rows(self) -> list[dict]:
        return list(self.results.rows.values())

    @property
    def href(self) -> str:
        """This board's page, relative to the site's root."""
        parts = [self.suite, LIVE, self.name] if self.live else [self.suite, self.name]
        return "/".join(quote(p) for p in parts) + "/index.html"

    @property
    def depth(self) -> int:
        return 3 if self.live else 2

    @property
    def title(self) -> str:
        return f"{self.suite} live {self.name}" if self.live else f"{self.suite} {self.name}"


def _version_key(name: str) -> list[tuple[int, Any]]:
    """Natural order: "2" before "10", "1.2" before "1.10"."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def _visible_dirs(folder: Path) -> list[Path]:
    try:
        entries = list(folder.iterdir())
    except OSError as err:
        raise FhbenchError(f"{folder}: cannot list ({err.strerror or err})") from None
    return sorted((e for e in entries if not e.name.startswith(".") and e.is_dir()), key=lambda p: p.name)


def _load(directory: Path) -> Results:
    if not (directory / "results.json").is_file():
        raise FhbenchError(f"{directory}: no results.json: expected a published leaderboard folder "
                           f"(<suite>/<version>/results.json or <suite>/live/<run>/results.json)")
    return load_results(directory)


def find_boards(root: str | Path) -> list[Board]:
    """Every leaderboard under `root`, checked (each results.json is loaded by `fhbench.publish.compare.load_results`:
    a JSON object with a list of rows with distinct keys), suites by name and versions in natural order,
    each version linked to the one before it."""
    root = Path(root)
    if not root.exists():
        raise FhbenchError(f"{root}: no such leaderboard root (expected a folder of <suite>/<version>/results.json)")
    if not root.is_dir():
        raise FhbenchError(f"{root}: not a folder (expected a leaderboard root of <suite>/<version>/results.json)")
    boards: list[Board] = []
    for suite_dir in _visible_dirs(root):
        versions = []
        for entry in _visible_dirs(suite_dir):
            if entry.name == LIVE and not (entry / "results.json").exists():
                for run_dir in _visible_dirs(entry):
                    boards.append(Board(suite_dir.name, run_dir.name, True, run_dir, _load(run_dir)))
                continue
            versions.append(Board(suite_dir.name, entry.name, False, entry, _load(entry)))
        versions.sort(key=lambda b: _version_key(b.name))
        for older, newer in zip(versions, versions[1:]):
            newer.previous = older
            older.superseded_by = newer
        boards += versions
    if not boards:
        raise FhbenchError(f"{root}: no leaderboards found (expected <suite>/<version>/results.json below it)")
    boards.sort(key=lambda b: (b.suite, b.live, _version_key(b.name)))
    for board in boards:
        board.files = sorted(p.name for p in board.directory.iterdir()
                             if p.is_file() and not p.name.startswith("."))
        if "index.html" in board.files:
            raise FhbenchError(f"{board.directory / 'index.html'}: a leaderboard file named like the site's own "
                               f"page; rename or remove it")
        if board.previous is not None:
            try:
                board.comparison = compare_files(board.previous.directory, board.directory)
            except FhbenchError as err:
                board.comparison_error = str(err)
    names = {b.suite for b in boards}
    if "index.html" in names:
        raise FhbenchError(f"{root / 'index.html'}: a suite folder named like the site's index page; rename it")
    return boards


# ---------------------------------------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt(value: Any) -> str:
    """A cell's text: numbers to 4 significant digits (integers whole), null and NaN as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


def _sort_value(value: Any) -> str:
    """data-sort: the full number (so a sort never depends on rounding), empty for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if _is_number(value):
        return repr(value)
    return str(value)


def td(value: Any, text: str | None = None, cls: str = "", extra_html: str = "") -> str:
    """A cell that sorts by `value` and shows `text` (default: `value` formatted), both escaped, then
    `extra_html` (already escaped)."""
    shown = fmt(value) if text is None else text
    klass = cls or ("num" if _is_number(value) or value is None else "")
    return (f'<td data-sort="{esc(_sort_value(value))}"' + (f' class="{klass}"' if klass else "")
            + f">{esc(shown)}{extra_html}</td>")


def value_html(value: Any, depth: int = 0) -> str:
    """Any JSON value as escaped HTML: objects as key/value tables, short lists inline, long ones counted."""
    if isinstance(value, Mapping):
        if not value:
            return "<i>(empty)</i>"
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{value_html(v, depth + 1)}</td></tr>" for k, v in value.items())
        return f'<table class="kv">{rows}</table>'
    if isinstance(value, list):
        if not value:
            return "<i>(none)</i>"
        if len(value) > LONG_LIST:
            return f"<i>{len(value)} items (in results.json)</i>"
        if all(not isinstance(v, (Mapping, list)) for v in value):
            return esc(", ".join(fmt(v) for v in value))
        return "<ol>" + "".join(f"<li>{value_html(v, depth + 1)}</li>" for v in value) + "</ol>"
    if isinstance(value, str) and value:
        return f"<code>{esc(value)}</code>" if "\n" not in value and len(value) <= 80 and " " not in value \
            else esc(value)
    return esc(fmt(value))


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _short(value: Any, n: int = 12) -> str:
    return str(value)[:n] if value else "–"


# ---------------------------------------------------------------------------------------------- page

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1400px;padding:1em 1.5em;
color:#1d1d1f;background:#fff}
a{color:#0b57d0}h1{font-size:1.6em;margin:.3em 0}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
nav{font-size:.9em;color:#555}code{font:.9em ui-monospace,monospace;background:#f3f3f3;padding:0 .2em;
word-break:break-all}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .6em;border-bottom:1px solid #e4e4e4;
text-align:left;vertical-align:top}
table.data{font-size:.9em}table.data thead th{background:#f5f5f7;vertical-align:bottom}
.sd{display:block;font-size:.8em;color:#777}
tr.lead td{font-weight:600}
td.verdict{white-space:nowrap}
table.data td:first-child{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.sort-key{cursor:pointer;user-select:none}th.sort-key:hover{background:#e8eefc}
th.sort-key::after{content:" \\2195";color:#aaa}th[aria-sort=ascending]::after{content:" \\25B2";color:#333}
th[aria-sort=descending]::after{content:" \\25BC";color:#333}
.better{color:#0a7d32}.worse{color:#a15c00}.bad{color:#b00020;font-weight:600}.muted{color:#777}
table.kv{font-size:.9em}table.kv th{font-weight:600;color:#444;white-space:nowrap}
table.kv table.kv{margin:0}details summary{cursor:pointer;color:#0b57d0}
.plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
.warn{background:#fff4e5;border-left:4px solid #f0a000;padding:.4em .8em}
.scroll{overflow-x:auto;padding-bottom:1em}td.prov{position:relative;white-space:nowrap}
td.prov .pop{position:absolute;left:0;top:1.8em;z-index:2;background:#fff;border:1px solid #bbb;padding:.4em;
box-shadow:0 2px 8px rgba(0,0,0,.2);width:max-content;max-width:min(640px,80vw);white-space:normal}
"""

# Sortable tables: a click (or Enter) on a header sorts the body by that column, ascending, then descending.
# A cell sorts by its data-sort attribute (else its text): numbers numerically, then text, then missing values
# (empty), which stay last in both directions; ties keep their previous order.
SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "") return [2, ""];
    var n = Number(raw);
    return isFinite(n) ? [0, n] : [1, raw.toLowerCase()];
  }
  function sortBy(table, column, descending) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var items = rows.map(function (row, i) { return {row: row, key: key(row.cells[column]), i: i}; });
    items.sort(function (a, b) {
      if (a.key[0] !== b.key[0]) return a.key[0] - b.key[0];
      var c = a.key[1] < b.key[1] ? -1 : a.key[1] > b.key[1] ? 1 : 0;
      if (descending && a.key[0] !== 2) c = -c;
      return c || a.i - b.i;
    });
    items.forEach(function (item) { body.appendChild(item.row); });
    var heads = table.tHead.rows[0].cells;
    for (var j = 0; j < heads.length; j++) heads[j].removeAttribute("aria-sort");
    heads[column].setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      if (th.hasAttribute("data-nosort")) return;
      th.classList.add("sort-key");
      th.tabIndex = 0;
      function go() { sortBy(table, column, th.getAttribute("aria-sort") === "ascending"); }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); }
      });
    });
    table.classList.add("js-sortable");
  });
})();
"""


def page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    nav = "" if depth == 0 else f'<nav><a href="{up}index.html">All leaderboards</a></nav>'
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{nav}\n{body}\n"
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")


def table(headers: Iterable[tuple[str, str]], rows: Iterable[str], table_id: str) -> str:
    """A sortable table: `headers` are (text, title) pairs (a title of None: a column that does not sort)."""
    heads = "".join("<th"
                    + (' data-nosort=""' if tip is None else (f' title="{esc(tip)}"' if tip else ""))
                    + f' scope="col">{esc(text).replace("_", "_<wbr>")}</th>' for text, tip in headers)
    return (f'<div class="scroll"><table class="data sortable" id="{esc(table_id)}"><thead><tr>{heads}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


# ---------------------------------------------------------------------------------------------- board pages


def columns(board: Board) -> list[str]:
    """The row fields in the published CSV's order (key fields first where there is no CSV), then any other."""
    fields: list[str] = []
    csv_file = board.directory / "leaderboard.csv"
    if csv_file.is_file():
        try:
            with open(csv_file, newline="") as handle:
                fields = next(csv.reader(handle), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            fields = []
    seen = {k for row in board.rows for k in row}
    order = [f for f in fields if f in seen]
    order += [k for k in KEY_FIELDS if k in seen and k not in order]
    order += sorted(seen - set(order))
    key_first = [k for k in KEY_FIELDS if k in order]
    return key_first + [f for f in order if f not in key_first]


def _display_columns(board: Board) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(label, field, how the cell adds its spread): a `X_mean` with `X_lo` and `X_hi` becomes one column X
    shown "mean [lo, hi]" (the 95% interval, results schema 3); one with only a `X_std` (older boards,
    search boards) "mean ± std"."""
    fields = columns(board)
    out = []
    for name in fields:
        stem = name[:-5] if name.endswith("_mean") else None
        if name.endswith(("_lo", "_hi")) and name.rsplit("_", 1)[0] + "_mean" in fields:
            continue
        if name.endswith("_std") and name[:-4] + "_mean" in fields:
            continue
        if stem and stem + "_lo" in fields and stem + "_hi" in fields:
            out.append((stem, name, ("interval", stem + "_lo", stem + "_hi")))
        elif stem and stem + "_std" in fields:
            out.append((stem, name, ("std", stem + "_std")))
        else:
            out.append((name, name, None))
    return out


def _spread_html(row: dict, spread: tuple[str, ...] | None) -> str:
    if spread is None:
        return ""
    if spread[0] == "interval" and _is_number(row.get(spread[1])) and _is_number(row.get(spread[2])):
        return f'<span class="sd"> [{esc(fmt(row.get(spread[1])))}, {esc(fmt(row.get(spread[2])))}]</span>'
    if spread[0] == "std" and _is_number(row.get(spread[1])):
        return f'<span class="sd">± {esc(fmt(row.get(spread[1])))}</span>'
    return ""


def _verdicts(board: Board) -> str:
    """An estimation board with intervals: per checkpoint, the estimators ranked by Kendall tau with their
    95% intervals, the leader and those tied with it marked."""
    statistics = board.header.get("statistics")
    if not isinstance(statistics, dict) or not board.rows or "kendall_tau_verdict" not in board.rows[0]:
        return ""
    sections = []
    keys = sorted({(r.get("budget") or 0, r.get("epoch")) for r in board.rows if _is_number(r.get("epoch"))})
    for budget, epoch in keys:
        rows = [r for r in board.rows if (r.get("budget") or 0) == budget and r.get("epoch") == epoch]
        rows.sort(key=lambda r: -(r.get("kendall_tau_mean") if _is_number(r.get("kendall_tau_mean")) else -9.0))
        body = []
        for r in rows:
            verdict = r.get("kendall_tau_verdict") or ""
            mark = {"best": "best", "tied": "tied with the best"}.get(verdict, "")
            body.append("<tr" + (' class="lead"' if verdict in ("best", "tied") else "") + ">"
                        + td(r.get("estimator")) + td(r.get("kendall_tau_mean"), extra_html=_spread_html(
                            r, ("interval", "kendall_tau_lo", "kendall_tau_hi"))) + td(mark, cls="verdict") + "</tr>")
        where = f"epoch {epoch}" + (f", budget {budget}" if budget else "")
        share = next((r.get("budget_fraction") for r in rows if _is_number(r.get("budget_fraction"))), None)
        title = where + (f" ({100 * share:.0f}% of the budget)" if share is not None else "")
        sections.append(f"<h3>{esc(title)}</h3>" + table([("estimator", "estimator"), ("Kendall tau [95% CI]", "tau"),
                                                          ("verdict", "verdict")], body, f"verdict-{epoch}-{budget}"))
    method = (f"95% intervals: {statistics.get('method', '?')}, B = {statistics.get('n_resamples', '?')}, "
              f"seed {statistics.get('seed', '?')}; tied: not significantly behind the leader "
              f"({statistics.get('p_value', '')}). The checkpoints share their cells.")
    return ('<h2 id="verdicts">Who leads, and how sure</h2><p class="muted">' + esc(method) + "</p>"
            + "".join(sections))


def _provenance(board: Board, row: dict) -> str:
    header = board.header
    suite = _dict(header.get("suite"))
    env = _dict(header.get("environment"))
    git = _dict(header.get("git"))
    estimator = row.get("estimator")
    spec = _dict(_dict(header.get("estimators")).get(estimator)) if isinstance(estimator, str) else {}
    items: dict[str, Any] = {
        "suite hash": suite.get("hash"), "record hash": suite.get("record_hash"),
        "traces hash": header.get("traces_hash"),
    }
    if spec:
        items[f"estimator {estimator}"] = {
            "version": spec.get("version"), "package": f"{spec.get('package')} {spec.get('package_version')}",
            "target": spec.get("target"), "settings": spec.get("settings", {})}
    elif estimator is not None:
        items[f"estimator {estimator}"] = "not described in the results header"
    search = _dict(_dict(header.get("suite_settings")).get("search"))
    if "algorithm" in row and search:
        items[f"search {row['algorithm']}"] = {k: v for k, v in search.items() if k not in ("algorithms", "estimators")}
    items["environment"] = {k: env.get(k) for k in ("device", "device_name", "threads", "torch", "cuda",
                                                      "deterministic_algorithms", "python") if k in env}
    items["fhbench"] = f"{header.get('fhbench_version', '?')}, git {_short(git.get('commit'))}" + \
        (" (dirty)" if git.get("dirty") else "")
    label = f"v{spec.get('version')} · {env.get('device', '?')} ×{env.get('threads', '?')}" if spec else \
        f"{env.get('device', '?')} ×{env.get('threads', '?')}"
    return (f'<td class="prov"><details><summary>{esc(label)}</summary><div class="pop">{value_html(items)}</div>'
            "</details></td>")


def _rows_table(board: Board) -> str:
    if not board.rows:
        return "<p>No rows.</p>"
    metrics = board.results.metrics
    cols = _display_columns(board)
    headers = []
    for label, name, spread in cols:
        direction = metrics.get(name)
        tip = (f"{name}: {direction} is better" if direction else name) + \
            {"interval": " (mean [95% interval])", "std": " (mean ± std)"}.get(spread[0] if spread else "", "")
        headers.append((label + {"lower": " ↓", "higher": " ↑"}.get(direction or "", ""), tip))
    # the provenance column comes right after the row's identity (algorithm, estimator, epoch)
    keys = [name for _label, name, _std in cols if name in KEY_FIELDS] or [cols[0][1]]
    at = [name for _label, name, _std in cols].index(keys[-1]) + 1
    headers.insert(at, ("provenance", None))
    body = []
    for row in board.rows:
        cells = []
        for _label, name, spread in cols:
            value = row.get(name)
            cells.append(td(value, extra_html=_spread_html(row, spread) if _is_number(value) else ""))
            if name == keys[-1]:
                cells.append(_provenance(board, row))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return table(headers, body, "results")


def _plots(board: Board) -> str:
    pngs = [f for f in board.files if f.lower().endswith(".png")]
    pngs.sort(key=lambda f: (PLOT_ORDER.index(f) if f in PLOT_ORDER else len(PLOT_ORDER), f))
    if not pngs:
        return ""
    figures = []
    for name in pngs:
        size = _png_size(board.directory / name)
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        figures.append(f'<figure><a href="{esc(quote(name))}"><img class="plot" src="{esc(quote(name))}" '
                       f'alt="{esc(name)}"{dims}></a><figcaption>{esc(name)}</figcaption></figure>')
    return '<h2 id="plots">Plots</h2><div class="plots">' + "".join(figures) + "</div>"


def _png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk; None for anything else."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _failures(board: Board) -> str:
    """Failed estimates per estimator: count and distinct errors (estimation `failures`, search
    `estimate_failures`), failed trials, warnings."""
    header = board.header
    groups: dict[str, dict[str, int]] = {}
    failures = header.get("failures")
    if isinstance(failures, list):
        for item in failures:
            item = _dict(item)
            groups.setdefault(str(item.get("estimator")), {})
            errors = groups[str(item.get("estimator"))]
            errors[str(item.get("error"))] = errors.get(str(item.get("error")), 0) + 1
    for name, items in _dict(header.get("estimate_failures")).items():
        for item in items if isinstance(items, list) else []:
            errors = groups.setdefault(str(name), {})
            text = str(item)
            match = re.match(r"^.* at budget \d+: (.*)$", text, re.S)
            text = match.group(1) if match else text
            errors[text] = errors.get(text, 0) + 1
    parts = []
    warnings = header.get("warnings")
    for text in warnings if isinstance(warnings, list) else [warnings] if warnings else []:
        parts.append(f'<p class="warn">Warning: {esc(text)}</p>')
    failed_trials = header.get("failed_trials")
    if isinstance(failed_trials, list) and failed_trials:
        parts.append(f"<p>Failed trials: {len(failed_trials)} (each is listed in results.json).</p>")
    if groups:
        items = []
        for name, errors in groups.items():
            listed = sorted(errors.items(), key=lambda e: -e[1])
            lines = "".join(f"<li>{count} × {esc(error)}</li>" for error, count in listed[:10])
            more = f"<li>and {len(listed) - 10} more distinct error(s)</li>" if len(listed) > 10 else ""
            items.append(f"<li><b>{esc(name)}</b>: {sum(errors.values())} failed<ul>{lines}{more}</ul></li>")
        parts.append(f"<ul>{''.join(items)}</ul>")
    rule = header.get("failed_estimate_rule")
    if rule:
        parts.append(f'<p class="muted">Failed estimates: {esc(rule)}.</p>')
    if not parts:
        return ""
    return '<h2 id="failures">Failures and warnings</h2>' + "".join(parts)


def _estimators_table(board: Board) -> str:
    estimators = _dict(board.header.get("estimators"))
    if not estimators:
        return ""
    body = []
    for name, spec in estimators.items():
        spec = _dict(spec)
        body.append(f'<tr id="estimator-{esc(name)}">' + td(name) + td(spec.get("version"))
                    + td(f"{spec.get('package', '')} {spec.get('package_version', '')}".strip())
                    + f"<td><code>{esc(spec.get('target', ''))}</code></td>"
                    + f"<td>{value_html(spec.get('settings', {}))}</td></tr>")
    return ("<h3>Estimators (effective settings)</h3>"
            + table([("estimator", ""), ("version", ""), ("package", ""), ("target", ""), ("settings", None)],
                    body, "estimators"))


def _diff(board: Board) -> str:
    """The difference from the suite's previous version, by `fhbench compare`'s rules: one row per row key,
    one column per metric with the change (new - old; old and new in the cell's tooltip), coloured by
    whether it is better, worse within tolerance, or worse beyond it (a regression, also listed)."""
    if board.previous is None:
        return ""
    prev = board.previous
    link = f'<a href="../{esc(quote(prev.name))}/index.html">version {esc(prev.name)}</a>'
    title = f'<h2 id="changes">Changes from {link}</h2>'
    if board.comparison is None:
        return title + f'<p class="warn">Not compared: {esc(board.comparison_error)}</p>'
    comparison = board.comparison
    old, new = comparison.old.rows, comparison.new.rows
    regressions = {(r.key, r.metric): r for r in comparison.regressions}
    order = [f for f in _fields(board) + _fields(prev) if f in comparison.directions]
    metrics = [m for i, m in enumerate(order) if m not in order[:i]
               and any(m in r for r in (*old.values(), *new.values()))]
    fields = [k for k in KEY_FIELDS if any(k in r for r in (*old.values(), *new.values()))]
    body = []
    for key in list(old) + [k for k in new if k not in old]:
        a, b = old.get(key), new.get(key)
        cells = "".join(td((a or b).get(k)) for k in fields)
        if a is None or b is None:
            status, cls = ((f"missing from version {board.name}", "bad") if b is None else ("new row", "better"))
            body.append(f"<tr>{cells}{''.join(td(None) for _ in metrics)}{td(status, cls=cls)}</tr>")
            continue
        worse_count = 0
        for metric in metrics:
            x, y = a.get(metric), b.get(metric)
            delta = y - x if _is_number(x) and _is_number(y) else None
            tip = f"{metric}: {fmt(x)} -> {fmt(y)}"
            if (key, metric) in regressions:
                worse_count += 1
                cls, mark = "num bad", " ✗"
                tip += f"; worse beyond tolerance ({comparison.tolerances[metric].describe()})"
            elif delta is None or delta == 0:
                cls, mark = "num muted", ""
            elif (delta < 0) == (comparison.directions[metric] == "lower"):
                cls, mark = "num better", ""
                tip += "; better"
            else:
                cls, mark = "num worse", ""
                tip += "; worse, within tolerance" if metric in comparison.tolerances else "; worse (not gated)"
            text = "–" if delta is None and x is None and y is None else \
                ("missing" if delta is None else "0" if delta == 0 else f"{delta:+.3g}")
            cells += (f'<td data-sort="{esc(_sort_value(delta))}" class="{cls}" title="{esc(tip)}">'
                      f"{esc(text)}{mark}</td>")
        status = (f"{worse_count} worse beyond tolerance", "bad") if worse_count else ("", "")
        body.append(f"<tr>{cells}{td(status[0], cls=status[1])}</tr>")
    heads = [(f, "") for f in fields] + \
        [(m[:-5] if m.endswith("_mean") else m, f"{m}: new - old ({comparison.directions[m]} is better)")
         for m in metrics] + [("status", "regressions beyond fhbench compare's tolerances")]
    gated = ", ".join(f"{m} {t.describe()}" for m, t in comparison.tolerances.items() if m in comparison.directions)
    parts = [title,
             f"<p>{len(old)} row(s) compared, <b>{len(comparison.regressions)}</b> regression(s) beyond the tolerances "
             f"of <code>fhbench compare</code> (gated: {esc(gated)}). Each cell is version {esc(board.name)} minus "
             f"version {esc(prev.name)}; hover for both values. "
             '<span class="better">better</span>, <span class="worse">worse within tolerance (or not gated)'
             '</span>, <span class="bad">worse beyond tolerance ✗</span>.</p>']
    if comparison.regressions:
        parts.append("<ul>" + "".join(f'<li class="bad">{esc(r.describe())}</li>' for r in comparison.regressions)
                     + "</ul>")
    if comparison.conditions:
        parts.append("<p>Conditions that differ: " + esc("; ".join(sorted(comparison.conditions))) + "</p>")
    parts += [f'<p class="muted">{esc(n)}</p>' for n in comparison.notes()]
    parts.append(table(heads, body, "changes-table"))
    return "".join(parts)


def _fields(board: Board) -> list[str]:
    return [f for _label, f, _std in _display_columns(board)]


def _summary(board: Board) -> str:
    header = board.header
    suite = _dict(header.get("suite"))
    git = _dict(header.get("git"))
    truth = header.get("truth")
    truth_text = _dict(truth).get("source") or _dict(truth).get("spec") if isinstance(truth, dict) else truth
    facts = {
        "kind": board.results.kind,
        "date": header.get("date"),
        "suite hash": suite.get("hash"),
        "record hash": suite.get("record_hash"),
        "fhbench": header.get("fhbench_version"),
        "git commit": (f"{git.get('commit')}" + (" (dirty)" if git.get("dirty") else "")) if git.get("commit") else None,
        "truth": truth_text,
    }
    parts = []
    if suite.get("name") not in (None, board.suite):
        parts.append(f'<p class="warn">This folder is {esc(board.suite)} but its results.json names suite '
                     f'{esc(suite.get("name"))}.</p>')
    if suite.get("description"):
        parts.append(f"<p>{esc(suite.get('description'))}</p>")
    parts.append(value_html({k: v for k, v in facts.items() if v is not None}))
    return "".join(parts)


def _files(board: Board) -> str:
    links = ", ".join(f'<a href="{esc(quote(f))}">{esc(f)}</a>' for f in board.files)
    return f'<h2 id="files">Published files</h2><p>{links}</p>'


def _provenance_section(board: Board) -> str:
    header = board.header
    return ('<h2 id="provenance">Provenance</h2>'
            "<h3>Environment (scoring, and the recording conditions of the traces)</h3>"
            + value_html(_dict(header.get("environment")))
            + _estimators_table(board)
            + "<h3>The whole results header</h3><details><summary>show</summary>"
            + value_html({k: v for k, v in header.items() if k not in HIDDEN_HEADER}) + "</details>")


def board_page(board: Board) -> str:
    if board.live:
        return live_page(board)
    newer = board.superseded_by
    superseded = "" if newer is None else (
        f'<p class="warn">Superseded by <a href="../{esc(quote(newer.name))}/index.html">version {esc(newer.name)}</a>'
        f": this version is kept as history.</p>")
    body = (f"<h1>{esc(board.suite)} <span class=\"muted\">version {esc(board.name)}</span></h1>"
            + superseded + _summary(board)
            + _verdicts(board)
            + f"<h2 id=\"rows\">Results ({len(board.rows)} rows)</h2>"
            + "<p class=\"muted\">Click a column header to sort. ↓ lower is better, ↑ higher is better; "
              "[lo, hi]: the 95% interval (paired bootstrap over cells); ± std: the spread over repeats or seeds "
              "(boards without intervals). Provenance: open a row's cell.</p>"
            + _rows_table(board) + _plots(board) + _diff(board) + _failures(board)
            + _provenance_section(board) + _files(board))
    return page(f"{board.title} · fhbench", body, board.depth)


def live_page(board: Board) -> str:
    header = board.header
    facts = {k: header.get(k) for k in ("algorithm", "estimator", "seed", "workers", "incumbent",
                                         "simulated_time_s", "stopped", "epochs_trained") if k in header}
    winner = header.get("winner")
    jobs = header.get("jobs") if isinstance(header.get("jobs"), list) else []
    jobs = [j for j in jobs if isinstance(j, dict)]
    fields: list[str] = []
    for job in jobs:
        fields += [k for k in job if k not in fields]
    body_rows = ["<tr>" + "".join(td(job.get(k)) for k in fields) + "</tr>" for job in jobs]
    body = (f"<h1>{esc(board.suite)} <span class=\"muted\">live search {esc(board.name)}</span></h1>"
            + _summary(board) + "<h2 id=\"result\">Result</h2>" + value_html(facts)
            + ("<h3>Chosen architecture</h3>" + value_html(winner) if isinstance(winner, dict) else "")
            + f"<h2 id=\"jobs\">Jobs ({len(jobs)})</h2>"
            + (table([(f, "") for f in fields], body_rows, "results") if jobs else "<p>No jobs.</p>")
            + _plots(board) + _failures(board) + _provenance_section(board) + _files(board))
    return page(f"{board.title} · fhbench", body, board.depth)


def _latest(boards: list[Board]) -> list[Board]:
    """The newest published version of each suite (no later version names it as its previous)."""
    superseded = {id(b.previous) for b in boards if b.previous is not None}
    return [b for b in boards if not b.live and id(b) not in superseded]


def _across_boards(summary: RankSummary) -> str:
    text = "".join(f"<p>{esc(line)}</p>" for line in summary_lines(summary))
    if summary.left_out:
        text += '<p class="muted">Boards without a block: ' + esc("; ".join(summary.left_out)) + "</p>"
    if summary.result is not None:
        text += ('<figure><img class="plot" src="critical-difference.png" alt="critical-difference diagram">'
                 "<figcaption>critical-difference.png</figcaption></figure>")
    return '<h2 id="across">Across boards</h2>' + text


def index_page(boards: list[Board], summary: RankSummary | None = None) -> str:
    rows = []
    for board in (b for b in boards if not b.live):
        header = board.header
        suite = _dict(header.get("suite"))
        estimators = ", ".join(str(e) for e in _dict(header.get("estimators"))) or "–"
        if board.previous is None:
            change = td("")
        elif board.comparison is None:
            change = td("not comparable")
        else:
            n = len(board.comparison.regressions)
            change = (f'<td data-sort="{n}"><a href="{esc(board.href)}#changes">{n} regression(s) vs '
                      f"{esc(board.previous.name)}</a></td>")
        rows.append("<tr>" + f'<td data-sort="{esc(board.suite)}"><a href="{esc(board.href)}">{esc(board.suite)}</a></td>'
                    + f'<td data-sort="{esc(board.name)}"><a href="{esc(board.href)}">{esc(board.name)}</a></td>'
                    + td(board.results.kind) + td(header.get("date")) + td(len(board.rows)) + td(estimators)
                    + f"<td><code>{esc(suite.get('hash', '–'))}</code></td>" + change + "</tr>")
    parts = ["<h1>fhbench leaderboards</h1>",
             "<p>Every suite and version under the leaderboard root. Click a header to sort.</p>",
             table([("suite", ""), ("version", ""), ("kind", ""), ("date", ""), ("rows", ""), ("estimators", ""),
                    ("suite hash", ""), ("changes", "regressions beyond fhbench compare's tolerances")],
                   rows, "boards")]
    if summary is not None:
        parts.append(_across_boards(summary))
    live = [b for b in boards if b.live]
    if live:
        body = []
        for board in live:
            header = board.header
            body.append("<tr>" + td(board.suite) + f'<td><a href="{esc(board.href)}">{esc(board.name)}</a></td>'
                        + td(header.get("algorithm")) + td(header.get("estimator")) + td(header.get("seed"))
                        + td(header.get("date")) + f"<td><code>{esc(header.get('incumbent') or '–')}</code></td></tr>")
        parts += ["<h2>Live searches</h2>",
                  table([("suite", ""), ("run", ""), ("algorithm", ""), ("estimator", ""), ("seed", ""),
                         ("date", ""), ("best architecture", "")], body, "live")]
    return page("fhbench leaderboards", "".join(parts), 0)


# ---------------------------------------------------------------------------------------------- build


def _check_out_dir(root: Path, out: Path) -> None:
    r, o = root.resolve(), out.resolve()
    if o == r or r.is_relative_to(o) or o.is_relative_to(r):
        raise FhbenchError(f"{out}: the site's folder must be outside the leaderboard root {root} "
                           f"(it is replaced whole when the site is built)")
    if out.exists():
        if not out.is_dir():
            raise FhbenchError(f"{out}: exists and is not a folder; cannot write the site there")
        if not (out / MARKER).is_file() and any(out.iterdir()):
            raise FhbenchError(f"{out}: a folder that is not an fhbench site (no {MARKER}) and not empty; "
                               f"refusing to replace it (choose another --out or empty it)")


def _write_suite(boards: list[Board]):
    def write(path: Path) -> None:
        path.mkdir()
        for board in boards:
            target = path / LIVE / board.name if board.live else path / board.name
            target.mkdir(parents=True)
            for name in board.files:
                shutil.copyfile(board.directory / name, target / name)
            (target / "index.html").write_text(board_page(board), encoding="utf-8")
    return write


def build_site(leaderboard_root: str | Path, out_dir: str | Path) -> Path:
    """Builds the site of every leaderboard under `leaderboard_root` into `out_dir` (written beside it and
    swapped in whole); returns the path of its index.html. Raises FhbenchError for a missing root, a
    malformed results.json (naming it and what was expected), or an `out_dir` that is not a site."""
    root, out = Path(leaderboard_root), Path(out_dir)
    boards = find_boards(root)
    _check_out_dir(root, out)
    for board in boards:
        check_signature(board.directory)  # a board edited since it was scored is refused, on one line
    summary = rank_summary((b.suite, b.header, b.rows) for b in _latest(boards))
    files: dict[str, Any] = {
        "index.html": index_page(boards, summary),
        MARKER: "Built by `fhbench site`; this folder is replaced whole by the next build.\n",
    }
    if summary.result is not None:
        files["critical-difference.png"] = lambda path: plot_critical_difference(summary, path)
    for suite in sorted({b.suite for b in boards}):
        files[suite] = _write_suite([b for b in boards if b.suite == suite])
    write_directory(out, files)
    return out / "index.html"


# ---------------------------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("leaderboard", nargs="?", default="leaderboard",
                        help="leaderboard root of <suite>/<version>/ folders (default: ./leaderboard)")
    parser.add_argument("--out", default="site", help="the site's folder, replaced whole (default: ./site)")


def run(args: argparse.Namespace) -> int:
    """`fhbench site`: builds the site and prints its index and the build time. Raises FhbenchError."""
    start = time.perf_counter()
    index = build_site(args.leaderboard, args.out)
    print(f"{index} (built in {time.perf_counter() - start:.2f} s; open it in a browser, no server needed)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fhbench site",
                                     description="Build a static HTML site of every leaderboard.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except FhbenchError as err:
        print(f"fhbench: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"fhbench: error: {err.filename or ''}: {err.strerror or err}".replace(": : ", ": "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
