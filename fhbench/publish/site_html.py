"""The site's HTML parts: escaping, cells and sortable tables, the page around a body (style and the one
inline script), and where an estimator's page is. Every text taken from a file goes through `esc`."""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from fhbench.publish.numbers import finite, significant_text

__all__ = ["LEAD", "LONG_LIST", "as_dict", "esc", "estimator_file", "estimator_link", "fmt", "page", "scroll", "short",
           "sort_value", "table", "td", "value_html"]

LONG_LIST = 12  # lists longer than this are summarised (their length), not printed, in header tables
ESTIMATORS_DIR = "estimators"
LEAD = ' class="lead"'  # a table row of the leader or of one tied with it


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A cell's text: numbers to 3 significant digits (integers whole), null and NaN as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1e3 else significant_text(value)
    return str(value)


def sort_value(value: Any) -> str:
    """data-sort: the full number (so a sort never depends on rounding), empty for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if finite(value):
        return repr(value)
    return str(value)


def td(value: Any, text: str | None = None, cls: str = "", extra_html: str = "") -> str:
    """A cell that sorts by `value` and shows `text` (default: `value` formatted), both escaped, then
    `extra_html` (already escaped)."""
    shown = fmt(value) if text is None else text
    klass = cls or ("num" if finite(value) or value is None else "")
    return (f'<td data-sort="{esc(sort_value(value))}"' + (f' class="{klass}"' if klass else "")
            + f">{esc(shown)}{extra_html}</td>")


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def short(value: Any, n: int = 12) -> str:
    return str(value)[:n] if value else "–"


def value_html(value: Any, depth: int = 0) -> str:
    """Any JSON value as escaped HTML: objects as key/value tables, short lists inline, long ones counted."""
    if isinstance(value, Mapping):
        if not value:
            return "<i>(empty)</i>"
        rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{value_html(v, depth + 1)}</td></tr>'
                       for k, v in value.items())
        kv = f'<table class="kv">{rows}</table>'
        return scroll(kv, "details") if depth == 0 else kv
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


def estimator_file(name: str) -> str:
    """The file name of an estimator's page: the name where it is plain (letters, digits, ".", "_", "-"),
    else a plain form of it with a short hash of the name, so that two names never share a page."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "estimator"
    if plain != name or plain == "index":  # estimators/index.html lists them all
        plain += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return plain + ".html"


def estimator_link(name: str, depth: int) -> str:
    """An estimator's name linked to its page, from a page `depth` folders below the site's root."""
    href = "../" * depth + f"{ESTIMATORS_DIR}/{quote(estimator_file(name))}"
    return f'<a href="{esc(href)}">{esc(name)}</a>'


def table(headers: Iterable[tuple[str, str | None]], rows: Iterable[str], table_id: str, *, sortable: bool = True,
          caption: str = "", cards: bool = False) -> str:
    """A table: `headers` are (text, title) pairs (a title of None: a column that does not sort), `rows` its
    body's <tr> elements, already escaped; `caption` (escaped here) names it for screen readers. `cards`: on a
    narrow screen each row becomes a card, each cell under its column's name (its `data-label`)."""
    heads = "".join("<th"
                    + (' data-nosort=""' if tip is None else (f' title="{esc(tip)}"' if tip else ""))
                    + f' scope="col">{esc(text)}</th>' for text, tip in headers)
    klass = ("data sortable" if sortable else "data") + (" cards" if cards else "")
    cap = f'<caption class="sr">{esc(caption)}</caption>' if caption else ""
    return scroll(f'<table class="{klass}" id="{esc(table_id)}">{cap}<thead><tr>{heads}</tr></thead>'
                  f"<tbody>{''.join(rows)}</tbody></table>", caption or table_id)


def scroll(inner: str, label: str) -> str:
    """A box that scrolls sideways where `inner` (a table) is wider than the page, reachable by keyboard
    (a named region in the tab order, so that arrow keys scroll it)."""
    return f'<div class="scroll" tabindex="0" role="region" aria-label="{esc(label)}">{inner}</div>'


STYLE = """
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:.8em 1.2em 3em;
color:#1d1d1f;background:#fff}
a{color:#0b57d0}h1{font-size:1.7em;margin:.2em 0 .3em;line-height:1.2}
h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.1em}
h3{font-size:1.05em;margin:1.2em 0 .3em}
nav{font-size:.9em;color:#4d4d4d}nav a{margin-right:1em}
code{font:.88em ui-monospace,monospace;background:#f3f3f3;padding:0 .2em;overflow-wrap:anywhere}
p,li,figcaption,summary,h1,h2,h3{overflow-wrap:anywhere}p{max-width:62em}.lede{color:#333;margin-top:0}
.muted,.sd{color:#595959}.sd{font-size:.85em}
.headline{font-size:1.12em;background:#f4f7fd;border-left:4px solid #0b57d0;padding:.5em .9em;max-width:62em}
.warn{background:#fff4e5;border-left:4px solid #b36b00;padding:.4em .8em}
table{border-collapse:collapse;margin:.4em 0}th,td{padding:.3em .6em;border-bottom:1px solid #e4e4e4;
text-align:left;vertical-align:top}
table.data{font-size:.92em}table.data thead th{background:#f2f2f4;vertical-align:bottom}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{white-space:nowrap}td.rank{text-align:right;color:#4d4d4d}
.ci{color:#595959;font-size:.88em}
tr.lead td{font-weight:600;background:#f1f8f3}tr.lead .ci{font-weight:400}
.mark{display:inline-block;font-size:.8em;font-weight:600;padding:0 .45em;border-radius:.7em;white-space:nowrap}
.mark.best{background:#0a6b2f;color:#fff}.mark.tied{background:#d9efe0;color:#0a4a22}
.mark.old{background:#eee;color:#4d4d4d}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
th.sort-key{cursor:pointer;user-select:none}th.sort-key:hover{background:#e8eefc}
th.sort-key::after{content:" \\2195";color:#767676}th[aria-sort=ascending]::after{content:" \\25B2";color:#333}
th[aria-sort=descending]::after{content:" \\25BC";color:#333}
.better{color:#0a6b2f}.worse{color:#8a4b00}.bad{color:#b00020;font-weight:600}
table.kv{font-size:.9em}table.kv th{font-weight:600;color:#444;white-space:nowrap}
table.kv td{overflow-wrap:anywhere}table.kv table.kv{margin:0}
details{margin:.6em 0}details>summary{cursor:pointer;color:#0b57d0;font-weight:600}
.stack .ci{display:block}
.plots{display:flex;flex-direction:column;gap:1.2em}figure{margin:0;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #ddd}figcaption{font-size:.9em;color:#4d4d4d;max-width:62em}
.scroll{overflow-x:auto;max-width:100%}.scroll:focus-visible{outline:2px solid #0b57d0}td.prov{white-space:nowrap}
td.prov .pop{background:#fff;border:1px solid #bbb;padding:.4em;max-width:min(640px,80vw);white-space:normal}
ul.compact{padding-left:1.2em}ul.compact li{margin:.15em 0}
@media (max-width:600px){body{font-size:15px;padding:.5em .6em 2em}th,td{padding:.25em .35em}
td .ci{display:block}h1{font-size:1.4em}table.data{font-size:.8em}td.name{white-space:normal}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block}table.cards{font-size:.95em}
table.cards thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.cards tr{border-bottom:2px solid #ccc;padding:.4em 0}table.cards td{border:0;padding:.1em .2em}
table.cards td.name{font-weight:600;font-size:1.08em}
table.cards td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:#4d4d4d}
table.cards td .ci{display:inline}}
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
    """A whole page: `body` (already escaped) under a navigation bar back to the index and the estimators."""
    up = "../" * depth
    links = ([f'<a href="{up}index.html">All leaderboards</a>'] if depth else []) + \
        [f'<a href="{up}{ESTIMATORS_DIR}/index.html">Estimators</a>']
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<nav aria-label="site">{"".join(links)}</nav>\n<main>\n{body}\n</main>\n'
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
