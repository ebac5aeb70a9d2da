"""A page per estimator across every board it appears on (``estimators/<name>.html``), and their index
(``estimators/index.html``): at each checkpoint of each estimation board its rank, Kendall tau and MAE with
their 95% intervals and whether it leads or is tied with the leader there; on each search board each of its
searches' rank by final regret. The latest version of each suite first, superseded versions folded below."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fhbench.publish.site_board_page import algorithm_name, estimate_html, overhead_html
from fhbench.publish.site_boards import Board
from fhbench.publish.site_html import (
    LEAD,
    as_dict,
    esc,
    estimator_file,
    estimator_link,
    page,
    table,
)
from fhbench.publish.verdicts import (
    Checkpoint,
    SearchSummary,
    estimation_checkpoints,
    search_summary,
)

__all__ = ["estimator_pages"]

DEPTH = 1  # estimators/<file>.html


@dataclass(frozen=True)
class _Seen:
    """Everything the site knows of one board, computed once for every estimator's page."""

    board: Board
    checkpoints: tuple[Checkpoint, ...]
    search: SearchSummary | None


def _board_link(board: Board) -> str:
    return f'<a href="../{esc(board.href)}">{esc(board.suite)} version {esc(board.name)}</a>'


def _status(board: Board) -> str:
    if board.superseded_by is None:
        return ""
    return f' <span class="mark old">superseded by version {esc(board.superseded_by.name)}</span>'


def _verdict_text(verdict: str, best: str = "leader") -> str:
    marks = {"best": f'<span class="mark best">{best}</span>', "tied": '<span class="mark tied">tied</span>'}
    return marks.get(verdict, "")


Where = dict[str, list[str]]
"""What it won where, in the order a summary says it: {"leads": [checkpoints], "tied with the leader": [...],
"lowest MAE": [...], "tied on MAE": [...]} (or the algorithms of a search board)."""


def _estimation_section(seen: _Seen, name: str) -> tuple[str, Where]:
    """(html, where it leads or is tied, by Kendall tau and by MAE)"""
    body: list[str] = []
    won: Where = {"leads": [], "tied with the leader": [], "lowest MAE": [], "tied on MAE": []}
    for c in seen.checkpoints:
        mine = next((s for s in c.standings if s.estimator == name), None)
        if mine is None:
            continue
        where = str(c.epoch) if c.budget is None else f"{c.epoch} of budget {c.budget}"
        for verdict, best, tied in ((mine.verdict, "leads", "tied with the leader"),
                                    (mine.mae_verdict, "lowest MAE", "tied on MAE")):
            if verdict in ("best", "tied"):
                won[best if verdict == "best" else tied].append(where)
        mae = "rank only" if mine.mae_pp is None else estimate_html(mine.mae_pp)
        if mine.mae_verdict in ("best", "tied"):
            mae += " " + _verdict_text(mine.mae_verdict, "lowest")
        body.append(f'<tr{LEAD if mine.leads_or_tied else ""}><td class="name">{esc(c.where)}</td>'
                    f'<td class="num">{mine.rank} of {len(c.standings)}</td>'
                    f'<td class="num">{estimate_html(mine.tau)}</td><td>{_verdict_text(mine.verdict)}</td>'
                    f'<td class="num">{mae}</td><td class="num">{overhead_html(mine.overhead_epochs)}</td></tr>')
    if not body:
        return "", {}
    reasons = sorted({c.no_interval for c in seen.checkpoints if c.no_interval})
    note = f'<p class="muted">Intervals n/a: {esc("; ".join(reasons))}.</p>' if reasons else ""
    headers = [("checkpoint", None), ("rank", None), ("Kendall tau (95% CI)", None), ("verdict", None),
               ("MAE, pp (95% CI)", None), ("overhead, epochs (95% CI)", None)]
    html = (f"<h3>{_board_link(seen.board)}{_status(seen.board)}</h3>{note}"
            + table(headers, body, f"{seen.board.suite}-{seen.board.name}", sortable=False,
                    caption=f"{name} on {seen.board.title}"))
    return html, won


def _search_section(seen: _Seen, name: str) -> tuple[str, Where]:
    summary = seen.search
    mine = [line for line in summary.lines if line.estimator == name] if summary is not None else []
    if not mine:
        return "", {}
    body: list[str] = []
    won: Where = {"lowest final regret": [], "tied with the lowest": []}
    for line in mine:
        verdict = "best" if line.best else "tied" if line.tied else ""
        if verdict:
            won["lowest final regret" if line.best else "tied with the lowest"].append(algorithm_name(line.algorithm))
        body.append(f'<tr{LEAD if verdict else ""}><td class="name">{esc(algorithm_name(line.algorithm))}</td>'
                    f'<td class="num">{line.rank} of {len(summary.lines)}</td>'
                    f'<td class="num">{estimate_html(line.final_pp)}</td><td>{_verdict_text(verdict, "lowest")}</td>'
                    f'<td class="num">{estimate_html(line.anytime_pp)}</td></tr>')
    headers = [("algorithm", None), ("rank among all searches", None), ("final regret, pp (95% CI)", None),
               ("verdict", None), ("any-time regret, pp (95% CI)", None)]
    html = (f"<h3>{_board_link(seen.board)}{_status(seen.board)}</h3>"
            + table(headers, body, f"{seen.board.suite}-{seen.board.name}", sortable=False,
                    caption=f"{name}'s searches on {seen.board.title}"))
    return html, won


def _standing_text(board: Board, won: Where) -> str:
    """"nb201-cpu 3: leads at epochs 5, 10; tied with the leader at epoch 2; lowest MAE at epoch 2", or with
    algorithms on a search board."""
    def where(items: list[str]) -> str:
        if board.kind != "estimation":
            return "with " + ", ".join(items)
        return ("at epochs " if len(items) > 1 else "at epoch ") + ", ".join(items)

    parts = [f"{what} {where(items)}" for what, items in won.items() if items]
    return f"{board.suite} {board.name}: " + ("; ".join(parts) if parts else "behind everywhere, or no verdict")


def _mentions(board: Board, name: str) -> bool:
    return name in as_dict(board.header.get("estimators")) or any(r.get("estimator") == name for r in board.rows)


def _page(name: str, seen: Sequence[_Seen]) -> str:
    latest_parts, older_parts, other = [], [], []
    standing: list[str] = []  # per latest board, where it leads and where it is tied
    spec: dict = {}
    for item in seen:
        board = item.board
        if not _mentions(board, name):
            continue
        spec = spec or as_dict(as_dict(board.header.get("estimators")).get(name))
        if board.kind == "estimation":
            html, won = _estimation_section(item, name)
        elif board.kind == "search":
            html, won = _search_section(item, name)
        else:
            html, won = "", {}
        if not html:
            other.append(board)
            continue
        if board.superseded_by is None:
            latest_parts.append(html)
            standing.append(_standing_text(board, won))
        else:
            older_parts.append(html)
    described = ""
    if spec:
        described = (f'<p class="lede">Version {esc(spec.get("version", "?"))}, package '
                     f'{esc(spec.get("package", "?"))} {esc(spec.get("package_version", ""))}, '
                     f'<code>{esc(spec.get("target", ""))}</code>.</p>')
    summary = ('<div class="headline"><p>On the latest boards:</p><ul class="compact">'
               + "".join(f"<li>{esc(text)}</li>" for text in standing) + "</ul></div>") if standing else ""
    parts = [f"<h1>{esc(name)}</h1>", described, summary,
             ('<p class="muted">Rank: by Kendall tau at each checkpoint (estimation boards; 1 = best), by mean final '
              "regret among all searches (search boards; 1 = lowest). 95% intervals as each board gives them; "
              '<span class="mark best">leader</span> / <span class="mark tied">tied</span>: the board\'s verdict '
              "(not significantly behind the leader; on search boards, an overlapping interval). MAE and regret in "
              "percentage points (pp).</p>"),
             '<h2 id="latest">Latest boards</h2>' + ("".join(latest_parts) or "<p>None.</p>")]
    if older_parts:
        parts.append(f'<h2 id="older">Superseded versions</h2><details><summary>{len(older_parts)} older '
                     f"board(s)</summary>{''.join(older_parts)}</details>")
    if other:
        parts.append('<h2 id="other">Also in</h2><ul class="compact">' + "".join(
            f"<li>{_board_link(b)} ({esc(b.kind)}){_status(b)}</li>" for b in other) + "</ul>")
    return page(f"{name} · fhbench estimators", "".join(parts), DEPTH)


def _index(names: Sequence[str], seen: Sequence[_Seen]) -> str:
    body = []
    for name in names:
        counts = {"best": 0, "tied": 0, "behind": 0}
        boards = set()
        for item in seen:
            if item.board.superseded_by is not None or not _mentions(item.board, name):
                continue
            boards.add(item.board.suite)
            for c in item.checkpoints:
                mine = next((s for s in c.standings if s.estimator == name), None)
                if mine is not None and mine.verdict:
                    counts[mine.verdict if mine.verdict in counts else "behind"] += 1
            for line in item.search.lines if item.search else ():
                if line.estimator == name and not item.search.no_interval:
                    counts["best" if line.best else "tied" if line.tied else "behind"] += 1
        body.append(f'<tr><td class="name">{estimator_link(name, DEPTH)}</td><td>{esc(", ".join(sorted(boards)))}</td>'
                    f'<td class="num">{counts["best"]}</td><td class="num">{counts["tied"]}</td>'
                    f'<td class="num">{counts["behind"]}</td></tr>')
    headers = [("estimator", ""), ("latest boards", ""), ("leads", "checkpoints and searches where it leads"),
               ("tied", "where it is tied with the leader"), ("behind", "where it is significantly behind")]
    return page("Estimators · fhbench", "<h1>Estimators</h1>"
                "<p>Every estimator on any board. Counts over the checkpoints of the latest estimation boards with "
                "intervals, and the searches of the latest search boards: where it leads, is tied with the leader, "
                "or is behind.</p>" + table(headers, body, "estimator-index", caption="Estimators"), DEPTH)


def estimator_pages(boards: Sequence[Board]) -> dict[str, str]:
    """{file name under estimators/: page} for every estimator named on any board, and index.html."""
    seen = []
    for board in boards:
        if board.live:
            continue
        checkpoints = tuple(estimation_checkpoints(board.header, board.rows)) if board.kind == "estimation" else ()
        search = search_summary(board.header, board.rows) if board.kind == "search" else None
        seen.append(_Seen(board, checkpoints, search))
    # latest versions first, those with verdicts before those without, then by suite
    seen.sort(key=lambda s: (s.board.superseded_by is not None,
                             not any(c.leader for c in s.checkpoints) and s.search is None, s.board.suite))
    names = sorted({str(n) for item in seen for n in as_dict(item.board.header.get("estimators"))}
                   | {str(r["estimator"]) for item in seen for r in item.board.rows if "estimator" in r})
    pages = {estimator_file(name): _page(name, seen) for name in names}
    pages["index.html"] = _index(names, seen)
    return pages
