"""The site's front page: the latest version of each suite as a summary (kind, size, the leader at a quarter
of the budget with its 95% interval and what is tied with it, or a search board's winners), older versions
reachable and marked superseded; the average ranks across boards with the critical-difference diagram;
every version with its changes; live searches."""

from __future__ import annotations

from collections.abc import Sequence

from fhbench.publish.critical_difference import RankSummary, summary_lines
from fhbench.publish.numbers import finite
from fhbench.publish.site_board_page import algorithm_name, estimate_html, size_text
from fhbench.publish.site_boards import Board, latest
from fhbench.publish.site_html import esc, estimator_link, page, table, td
from fhbench.publish.verdicts import (
    at_quarter,
    declared_targets,
    estimation_checkpoints,
    search_summary,
)

__all__ = ["CD_FILE", "index_page"]

CD_FILE = "critical-difference.png"


def _older(board: Board) -> str:
    versions = []
    older = board.previous
    while older is not None:
        versions.append(f'<a href="{esc(older.href)}">{esc(older.name)}</a> <span class="mark old">superseded by '
                        f"{esc(older.superseded_by.name if older.superseded_by else '?')}</span>")
        older = older.previous
    return "<br>".join(versions) or "–"


def _answer(board: Board) -> tuple[str, str]:
    """(the leader with its interval and where, those tied with it) of a board, as HTML cells' contents."""
    if board.kind == "estimation":
        quarter = at_quarter(estimation_checkpoints(board.header, board.rows))
        if quarter is None or not quarter.standings:
            return "–", "–"
        top = quarter.leader or quarter.standings[0]
        if not finite(top.tau.point):
            return f'<span class="muted">no Kendall tau at {esc(quarter.where)}: too few cells to rank</span>', "–"
        leader = (f"{estimator_link(top.estimator, 0)}: Kendall tau {estimate_html(top.tau)} "
                  f'<span class="muted">at {esc(quarter.where)}</span>')
        if quarter.no_interval:
            return leader, f'<span class="muted">n/a: {esc(quarter.no_interval)}</span>'
        tied = quarter.tied
        return leader, (", ".join(estimator_link(s.estimator, 0) for s in tied) if tied else "none") + \
            f' <span class="muted">({len(tied) + 1} of {len(quarter.standings)} tied or leading)</span>'
    if board.kind == "search":
        summary = search_summary(board.header, board.rows)
        if not summary.lines:
            return "–", "–"
        best = summary.lines[0]
        leader = (f"{esc(algorithm_name(best.algorithm))} with {estimator_link(best.estimator, 0)}: final regret "
                  f"{estimate_html(best.final_pp, ' pp')}")
        if summary.no_interval:
            return leader, f'<span class="muted">n/a: {esc(summary.no_interval)}</span>'
        tied = [line for line in summary.lines if line.tied]
        return leader, (", ".join(f"{esc(algorithm_name(line.algorithm))} with {estimator_link(line.estimator, 0)}"
                                  for line in tied)
                        or "none") + ' <span class="muted">(overlapping 95% intervals)</span>'
    if board.kind == "declared-search":
        targets = declared_targets(board.header, board.rows)
        best = [(target, choices[0]) for target, choices in targets.items() if choices]
        if not best:
            return "–", "–"
        leader = "<br>".join(
            f"{esc(target)}: {esc(algorithm_name(c.algorithm))} with {estimator_link(c.estimator, 0)} "
            f"({esc(c.source)}), {estimate_html(c.accuracy_pct, '%')}" for target, c in best)
        tied = "<br>".join(f"{esc(target)}: {sum(c.tied or c.best for c in choices) - 1} of {len(choices) - 1} others"
                           for target, choices in targets.items() if choices)
        return leader, tied + ' <span class="muted">(overlapping 95% intervals)</span>'
    return '<span class="muted">see the board</span>', "–"


def _latest_table(boards: Sequence[Board]) -> str:
    body = []
    for board in latest(list(boards)):
        leader, tied = _answer(board)
        body.append(f'<tr><td class="name"><a href="{esc(board.href)}">{esc(board.suite)}</a></td>'
                    f'<td data-label="version"><a href="{esc(board.href)}">{esc(board.name)}</a></td>'
                    f'<td data-label="kind">{esc(board.kind)}</td><td data-label="size">{esc(size_text(board))}</td>'
                    f'<td data-label="leader">{leader}</td><td data-label="tied">{tied}</td>'
                    f'<td data-label="older">{_older(board)}</td></tr>')
    headers = [("suite", None), ("version", None), ("kind", None), ("size", None),
               ("leader at ¼ of the budget, or best search (95% CI)", None), ("tied with it", None),
               ("older versions", None)]
    return table(headers, body, "latest", sortable=False, caption="The latest version of each suite", cards=True)


def _across_boards(summary: RankSummary) -> str:
    text = "".join(f"<p>{esc(line)}</p>" for line in summary_lines(summary))
    if summary.left_out:
        text += '<p class="muted">Boards without a block: ' + esc("; ".join(summary.left_out)) + "</p>"
    if summary.result is not None:
        text += (f'<figure><img class="plot" src="{CD_FILE}" alt="Critical-difference diagram: each estimator at '
                 'its average rank by Kendall tau across boards, thick lines joining those that cannot be told '
                 'apart"><figcaption>Average rank by Kendall tau over (suite, checkpoint) blocks of the latest '
                 "boards with intervals (1 = best); estimators joined by a thick line cannot be told apart "
                 "(Nemenyi critical difference, drawn as the bar).</figcaption></figure>")
    return '<h2 id="across">Across boards</h2>' + text


def _all_versions(boards: Sequence[Board]) -> str:
    rows = []
    for board in (b for b in boards if not b.live):
        if board.previous is None:
            change = td("")
        elif board.comparison is None:
            change = td("not comparable")
        else:
            n = len(board.comparison.regressions)
            change = (f'<td data-sort="{n}"><a href="{esc(board.href)}#changes">{n} regression(s) vs '
                      f"{esc(board.previous.name)}</a></td>")
        status = "latest" if board.superseded_by is None else f"superseded by {board.superseded_by.name}"
        rows.append(f'<tr><td data-sort="{esc(board.suite)}"><a href="{esc(board.href)}">{esc(board.suite)}</a></td>'
                    f'<td data-sort="{esc(board.name)}"><a href="{esc(board.href)}">{esc(board.name)}</a></td>'
                    + td(status) + td(board.kind) + td(board.header.get("date")) + td(len(board.rows))
                    + td(size_text(board)) + change + "</tr>")
    return ('<h2 id="versions">Every version</h2>'
            + table([("suite", ""), ("version", ""), ("status", ""), ("kind", ""), ("date", ""), ("rows", ""),
                     ("size", ""), ("changes", "regressions beyond fhbench compare's tolerances")],
                    rows, "boards", caption="Every published version"))


def _live(boards: Sequence[Board]) -> str:
    live = [b for b in boards if b.live]
    if not live:
        return ""
    body = []
    for board in live:
        header = board.header
        body.append("<tr>" + td(board.suite) + f'<td><a href="{esc(board.href)}">{esc(board.name)}</a></td>'
                    + td(header.get("algorithm")) + td(header.get("estimator")) + td(header.get("seed"))
                    + td(header.get("date")) + f"<td><code>{esc(header.get('incumbent') or '–')}</code></td></tr>")
    return ("<h2>Live searches</h2>"
            + table([("suite", ""), ("run", ""), ("algorithm", ""), ("estimator", ""), ("seed", ""), ("date", ""),
                     ("best architecture", "")], body, "live", caption="Live searches"))


def index_page(boards: Sequence[Board], summary: RankSummary | None = None) -> str:
    parts = ["<h1>fhbench leaderboards</h1>",
             ("<p>Which early performance estimator ranks architectures best, by how much, and how sure that is. "
              "Per suite, its latest version: the estimator with the highest Kendall tau at the checkpoint nearest a "
              "quarter of the training budget, with its 95% interval, and those not significantly behind it (tied); "
              "for a search suite, the search with the lowest final regret and those whose intervals overlap it. "
              'Every estimator across boards: <a href="estimators/index.html">estimators</a>.</p>'),
             _latest_table(boards)]
    if summary is not None:
        parts.append(_across_boards(summary))
    parts += [_all_versions(boards), _live(boards)]
    return page("fhbench leaderboards", "".join(parts), 0)
