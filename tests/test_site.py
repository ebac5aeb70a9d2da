"""`fhbench site`: the static site of every leaderboard, built from the committed leaderboards and from
edited copies of them, checked as files: each board opens with its answer (the ranking per checkpoint with
95% intervals and ties, as results.json says), MAE in percentage points everywhere, a page per estimator
linked from every row that names one, the index as a summary, text escaped, versions compared. The same
pages in a real browser: tests/test_site_browser.py."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fhbench.core.errors import FhbenchError
from fhbench.publish.board_files import read_results
from fhbench.publish.estimation_board import render_markdown
from fhbench.publish.numbers import interval_text
from fhbench.publish.site import MARKER, build_site, main
from fhbench.publish.site_html import estimator_file
from fhbench.score.metrics import Row
from fhbench.score.stats import over_seeds

REPO = Path(__file__).resolve().parent.parent
LEADERBOARD = REPO / "leaderboard"


def _results(directory: Path) -> dict:
    return json.loads((directory / "results.json").read_text())


def _write_results(directory: Path, data: dict) -> None:
    (directory / "results.json").write_text(json.dumps(data, indent=1))


def _copy_board(dst_root: Path, suite: str, version: str = "1", as_version: str | None = None) -> Path:
    target = dst_root / suite / (as_version or version)
    shutil.copytree(LEADERBOARD / suite / version, target)
    return target


# ---------------------------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory) -> Path:
    """The site of the committed leaderboards, built once for the module's tests."""
    return build_site(LEADERBOARD, tmp_path_factory.mktemp("site") / "site").parent


def test_builds_every_board_with_its_plots_and_relative_links(committed_site):
    text = (committed_site / "index.html").read_text()
    boards = sorted(p.parent for p in LEADERBOARD.glob("*/*/results.json"))
    assert len(boards) >= 3
    for board in boards:
        suite, version = board.parent.name, board.name
        assert f'href="{suite}/{version}/index.html"' in text
        page = committed_site / suite / version / "index.html"
        html = page.read_text()
        rank_only = all(row.get("rank_only") for row in _results(board)["rows"])
        for png in board.glob("*.png"):
            assert (page.parent / png.name).read_bytes() == png.read_bytes()  # the board's own, copied
            # shown as it is, or drawn again for the page from results.json (a board with intervals); an MAE
            # plot of a board whose estimators are all rank-only has nothing on it and is not shown
            shown = f'src="{png.name}"' in html
            redrawn = f'src="figures/{png.name}"' in html
            if rank_only and png.name.startswith("mae"):
                assert not shown and not redrawn, png
                continue
            assert shown != redrawn, png
            if redrawn:
                assert (page.parent / "figures" / png.name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (page.parent / "results.json").read_bytes() == (board / "results.json").read_bytes()
        assert 'href="../../index.html"' in html and 'href="../../estimators/index.html"' in html
        data = _results(board)
        assert f"{len(data['rows'])} rows" in html
        assert data["suite"]["hash"] in html
        assert data["environment"]["torch"] in html
        for name, spec in data["estimators"].items():
            assert f'id="estimator-{name}"' in html
            assert spec["target"] in html
    # nothing absolute, nothing fetched from the network
    for page in committed_site.rglob("*.html"):
        html = page.read_text()
        assert "http://" not in html and "https://" not in html
        assert 'src="/' not in html and 'href="/' not in html and "file:" not in html
    # every relative link leads to a file of the site
    for page in committed_site.rglob("*.html"):
        for target in re.findall(r'(?:href|src)="([^"#]+)', page.read_text()):
            assert (page.parent / target.replace("%20", " ")).resolve().is_file(), (page, target)


@pytest.mark.slow  # builds every committed board's site twice (plots drawn for the pages included: ~10 s)
def test_same_leaderboards_give_the_same_bytes(tmp_path):
    build_site(LEADERBOARD, tmp_path / "a")
    build_site(LEADERBOARD, tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    # the plots drawn for the pages and the estimators' pages are among them
    assert any(p.parts[-2:] == ("figures", "kendall_tau.png") for p in files_a)
    assert any(p.parts[0] == "estimators" for p in files_a)
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_text_from_files_is_escaped(tmp_path):
    board = _copy_board(tmp_path / "lb", "quickstart")
    data = _results(board)
    data["suite"]["description"] = "<script>alert('desc')</script> & more"
    data["environment"]["device"] = "<img src=x onerror=alert(1)>"
    data["rows"][0]["estimator"] = "<b>evil</b>"
    data["estimators"]["<b>evil</b>"] = {"version": "<i>1</i>", "settings": {"<k>": "<v>"}}
    data["warnings"] = ["<u>warned</u>"]
    _write_results(board, data)
    site = build_site(tmp_path / "lb", tmp_path / "site").parent
    evil = site / "estimators" / estimator_file("<b>evil</b>")
    assert evil.name.startswith("_b_evil__b_-") and evil.is_file()
    for page in (site / "quickstart" / "1" / "index.html", site / "index.html", evil,
                 site / "estimators" / "index.html"):
        html = page.read_text()
        body = html.split("<script>")[0] + html.split("</script>")[-1]  # all but the site's own inline script
        for raw in ("<script>alert", "<img src=x", "<b>evil</b>", "<i>1</i>", "<k>", "<v>", "<u>warned"):
            assert raw not in body, (page, raw)
        assert html.count("<script>") == 1
    html = (site / "quickstart" / "1" / "index.html").read_text()
    assert "&lt;script&gt;alert(&#x27;desc&#x27;)&lt;/script&gt; &amp; more" in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html
    assert f'href="../../estimators/{evil.name}">&lt;b&gt;evil&lt;/b&gt;</a>' in html


def line_key(row_html: str) -> tuple[str, str]:
    """(estimator, epoch) of a table row's HTML: its first two cells, as they sort."""
    cells = re.findall(r'<td data-sort="([^"]*)"', row_html)[:2]
    return cells[0], cells[1]


def test_two_versions_show_their_difference(tmp_path):
    root = tmp_path / "lb"
    _copy_board(root, "quickstart")
    v2 = _copy_board(root, "quickstart", as_version="2")
    data = _results(v2)
    row = next(r for r in data["rows"] if r["estimator"] == "original" and r["epoch"] == 5)
    row["mae_mean"] += 0.2  # worse, beyond compare's 0.005
    better = next(r for r in data["rows"] if r["estimator"] == "lcnet" and r["epoch"] == 10)
    better["kendall_tau_mean"] += 0.1
    data["environment"]["threads"] = 4
    _write_results(v2, data)
    build_site(root, tmp_path / "site")
    html2 = (tmp_path / "site" / "quickstart" / "2" / "index.html").read_text()
    html1 = (tmp_path / "site" / "quickstart" / "1" / "index.html").read_text()
    assert 'id="changes"' in html2 and 'id="changes"' not in html1
    assert '<a href="../1/index.html">version 1</a>' in html2
    changes = html2.split('id="changes-table"')[1].split("</table>")[0]
    lines = changes.split("<tbody>")[1].split("<tr>")[1:]  # the body's rows
    assert len(lines) == len(data["rows"])
    bad = [line for line in lines if 'class="num bad"' in line]
    assert len(bad) == 1 and line_key(bad[0]) == ("original", "5")
    # in percentage points, like every MAE on the site (compare gates the fraction: 0.005 is 0.5 pp)
    assert 'title="mae_mean: 11.5 -&gt; 31.5; worse beyond tolerance (0.005)">+20 ✗</td>' in bad[0]
    assert ">1 worse beyond tolerance<" in bad[0]
    good = [line for line in lines if 'class="num better"' in line]
    assert [line_key(line) for line in good] == [("lcnet", "10")] and "kendall_tau_mean: " in good[0]
    assert "original epoch=5: mae_mean 0.115" in html2  # the regression listed, as fhbench compare says it
    assert "<b>1</b> regression(s)" in html2
    assert "scoring threads 1 -&gt; 4" in html2
    index = (tmp_path / "site" / "index.html").read_text()
    assert "1 regression(s) vs 1" in index


def test_live_runs_get_a_page(tmp_path):
    root = tmp_path / "lb"
    _copy_board(root, "nb201-search-cpu")
    header = {k: v for k, v in _results(root / "nb201-search-cpu" / "1").items()
              if k in ("suite", "environment", "estimators", "git", "fhbench_version", "date", "truth")}
    live = root / "nb201-search-cpu" / "live" / "random-original-seed0"
    live.mkdir(parents=True)
    jobs = [{"job_id": i, "config": i, "budget": 1, "score": 0.5 + i / 100, "error": None} for i in range(3)]
    _write_results(live, {**header, "kind": "live", "results_schema": 2, "metrics": {}, "rows": [],
                          "algorithm": "random", "estimator": "original", "seed": 0, "incumbent": "|cell<x>|",
                          "jobs": jobs, "winner": {"cell": "|cell<x>|", "val_acc": 0.8}})
    build_site(root, tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'href="nb201-search-cpu/live/random-original-seed0/index.html"' in index
    page = (tmp_path / "site" / "nb201-search-cpu" / "live" / "random-original-seed0" / "index.html").read_text()
    assert "Jobs (3)" in page and "|cell&lt;x&gt;|" in page and 'href="../../../index.html"' in page
    assert page.count("<tr><td") >= 3


def test_odd_but_valid_results_still_render(tmp_path):
    """A results.json with only rows (an older or hand-written file) and fields of unexpected types."""
    board = tmp_path / "lb" / "handmade" / "1"
    board.mkdir(parents=True)
    _write_results(board, {"rows": [{"estimator": "a", "epoch": 2, "mae_mean": None, "note": "x<y"},
                                    {"estimator": "b", "epoch": 1, "mae_mean": 0.5, "note": 3}],
                           "estimators": ["not", "a", "table"], "environment": "cpu?", "suite": "handmade",
                           "warnings": "one warning", "failures": [1, "x"], "estimate_failures": {"a": "b"}})
    page = (build_site(tmp_path / "lb", tmp_path / "site").parent / "handmade" / "1" / "index.html").read_text()
    assert "2 rows" in page and "Warning: one warning" in page and "x&lt;y" in page
    assert '<td data-sort="" class="num">–</td>' in page  # the missing value: shown as a dash, sorts last
    _write_results(board, {"rows": []})
    page = (build_site(tmp_path / "lb", tmp_path / "site").parent / "handmade" / "1" / "index.html").read_text()
    assert "0 rows" in page and "No rows." in page


def test_errors_are_one_line_and_name_the_problem(tmp_path):
    with pytest.raises(FhbenchError, match="no such leaderboard root"):
        build_site(tmp_path / "missing", tmp_path / "site")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FhbenchError, match="no leaderboards found"):
        build_site(tmp_path / "empty", tmp_path / "site")
    root = tmp_path / "lb"
    board = _copy_board(root, "quickstart")
    (board / "results.json").write_text("{not json")
    with pytest.raises(FhbenchError) as err:
        build_site(root, tmp_path / "site")
    assert str(board / "results.json") in str(err.value) and "not JSON" in str(err.value)
    (board / "results.json").write_text(json.dumps({"rows": {"a": 1}}))
    with pytest.raises(FhbenchError, match="no 'rows' list") as err:
        build_site(root, tmp_path / "site")
    assert str(board / "results.json") in str(err.value)
    (board / "results.json").unlink()
    with pytest.raises(FhbenchError, match="no results.json") as err:
        build_site(root, tmp_path / "site")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "site").exists()
    # the command: exit code 2 and one line on stderr
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "site")]) == 2


def test_refuses_to_replace_a_folder_that_is_not_a_site(tmp_path, capsys):
    root = tmp_path / "lb"
    _copy_board(root, "quickstart")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(FhbenchError, match="not an fhbench site"):
        build_site(root, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    for inside in (root, root / "site", tmp_path):
        with pytest.raises(FhbenchError, match="outside the leaderboard root"):
            build_site(root, inside)
    assert main([str(root), "--out", str(tmp_path / "site")]) == 0
    assert "index.html" in capsys.readouterr().out
    assert (tmp_path / "site" / MARKER).is_file()


def test_a_failed_build_leaves_the_old_site_whole(tmp_path, monkeypatch):
    root = tmp_path / "lb"
    _copy_board(root, "quickstart")
    site = tmp_path / "site"
    build_site(root, site)
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    data = _results(root / "quickstart" / "1")
    data["suite"]["description"] = "a new description"
    _write_results(root / "quickstart" / "1", data)

    def broken_copy(src, dst, *a, **k):
        if str(src).endswith("mae_overhead.png"):
            raise OSError(28, "No space left on device", str(dst))
        return real_copy(src, dst, *a, **k)

    real_copy = shutil.copyfile
    monkeypatch.setattr("fhbench.publish.site.shutil.copyfile", broken_copy)
    with pytest.raises(OSError):
        build_site(root, site)
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left
    monkeypatch.undo()
    build_site(root, site)
    assert "a new description" in (site / "quickstart" / "1" / "index.html").read_text()




# ---------------------------------------------------------------------------------------------- the answer


class Tables(HTMLParser):
    """The tables of a page by id: each body row as its cells, each cell as (text, [link targets]); a table
    inside a cell (provenance) is part of that cell."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, list[str]]]]] = {}
        self.order: list[str] = []
        self._depth = 0  # tables open
        self._table: str | None = None
        self._cell: list | None = None
        self._in_body = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("br", "li", "p", "div") and self._cell is not None:
            self._cell[0] += " "  # a line break in a cell reads as a space
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self._table = attrs.get("id") or f"table-{len(self.order)}"
                self.tables[self._table] = []
                self.order.append(self._table)
        elif self._depth != 1:
            if tag == "a" and self._cell is not None:
                self._cell[1].append(attrs.get("href", ""))
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[self._table].append([])
        elif tag == "td" and self._in_body and self.tables[self._table]:
            self._cell = ["", []]
        elif tag == "a" and self._cell is not None:
            self._cell[1].append(attrs.get("href", ""))

    def handle_endtag(self, tag):
        if tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._table, self._in_body = None, False
        elif self._depth != 1:
            return
        elif tag == "td" and self._cell is not None:
            self.tables[self._table][-1].append((" ".join(self._cell[0].split()), self._cell[1]))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def _page(site: Path, suite: str, version: str) -> str:
    return (site / suite / version / "index.html").read_text()


def _ci(point, lo, hi, scale=1.0) -> str:
    return interval_text(point, lo, hi, scale, significant=3)


INTERVAL = re.compile(r"^(-?\d+(?:\.\d+)?) \[(-?\d+(?:\.\d+)?), (-?\d+(?:\.\d+)?)\]$")


@pytest.mark.parametrize("board", ["nb201-cpu/3", "quickstart/2"])
def test_an_estimation_board_opens_with_its_ranking_per_checkpoint(committed_site, board):
    """The first table is the first checkpoint's ranking: estimators by Kendall tau, each with its 95%
    interval, the leader and those tied with it marked as results.json's statistics say; one such table
    per checkpoint; the full table comes after, folded."""
    suite, version = board.split("/")
    data = read_results(LEADERBOARD / board)
    html = _page(committed_site, suite, version)
    tables = Tables(html)
    epochs = sorted({r["epoch"] for r in data["rows"]})
    rankings = [t for t in tables.order if t.startswith("ranking-")]
    assert tables.order[0] == "ranking-0" and len(rankings) == len(epochs)
    assert html.index('id="ranking-0"') < html.index('id="all-rows"') < html.index('id="results"')
    assert "<details" in html[html.index('id="ranking-0"'):html.index('id="all-rows"') + 30]
    for table_id, epoch in zip(rankings, epochs):
        rows = sorted((r for r in data["rows"] if r["epoch"] == epoch),
                      key=lambda r: (-r["kendall_tau_mean"], r["estimator"]))
        ties = next(c for c in data["statistics"]["checkpoints"] if c["epoch"] == epoch)["ties"]["kendall_tau"]
        shown = tables.tables[table_id]
        assert [cells[1][0] for cells in shown] == [r["estimator"] for r in rows]
        for cells, row in zip(shown, rows):
            tau = cells[2][0]
            assert INTERVAL.match(tau), tau
            assert tau == _ci(row["kendall_tau_mean"], row["kendall_tau_lo"], row["kendall_tau_hi"])
            assert cells[3][0] == {"best": "leader", "tied": "tied"}.get(row["kendall_tau_verdict"], "")
            assert (cells[3][0] == "leader") == (row["estimator"] == ties["leader"])
            assert (cells[3][0] in ("leader", "tied")) == (row["estimator"] in ties["tied"])
            points = [float(INTERVAL.match(c[2][0]).group(1)) for c in shown]
            assert points == sorted(points, reverse=True)
            mae = cells[4][0]
            if row["rank_only"]:
                assert mae == "rank only"
            else:  # percentage points, with its interval
                assert mae.startswith(_ci(row["mae_mean"], row["mae_lo"], row["mae_hi"], 100))
            overhead = cells[5][0]
            assert overhead.startswith("< 0.001 [95% CI below]") or INTERVAL.match(overhead), overhead
    # the answer in a sentence, at the checkpoint nearest a quarter of the budget
    quarter = min(epochs, key=lambda e: (abs(e / data["suite_settings"]["train"]["epochs"] - 0.25), e))
    leader = next(c for c in data["statistics"]["checkpoints"] if c["epoch"] == quarter)["ties"]["kendall_tau"]
    headline = html.split('class="headline">', 1)[1].split("</p>", 1)[0]
    assert f">{leader['leader']}</a> ranks architectures best" in headline and f"(epoch {quarter} of" in headline


def test_a_board_with_too_few_cells_says_intervals_are_na_and_why(committed_site):
    data = read_results(LEADERBOARD / "cnn-families-cpu" / "2")
    reason = data["statistics"]["checkpoints"][0]["intervals"].removeprefix("n/a: ")
    html = _page(committed_site, "cnn-families-cpu", "2")
    tables = Tables(html)
    assert tables.order[0] == "ranking-0"
    for table_id in (t for t in tables.order if t.startswith("ranking-")):
        for cells in tables.tables[table_id]:
            assert cells[2][0].endswith(" [n/a]") and cells[3][0] == ""  # no interval, no verdict
    assert f"Intervals n/a: {reason}." in html
    assert "no estimator can be called ahead of another here" in html


def _markdown_of(board: Path) -> str:
    data = read_results(board)
    names = {f.name for f in dataclasses.fields(Row)}
    rows = [Row(**{k: (math.nan if v is None else v) for k, v in r.items() if k in names}) for r in data["rows"]]
    return render_markdown(rows, data)


def test_mae_is_in_percentage_points_in_every_table_caption_and_leaderboard_md(committed_site):
    """One board's MAE: the ranking, the full table, the diff's tooltips, the plot's caption and the markdown
    (the committed one and one written by this code) all in pp, with the same numbers."""
    data = read_results(LEADERBOARD / "nb201-cpu" / "3")
    html = _page(committed_site, "nb201-cpu", "3")
    tables = Tables(html)
    row = next(r for r in data["rows"] if r["estimator"] == "fh-ensemble" and r["epoch"] == 10)
    pp = _ci(row["mae_mean"], row["mae_lo"], row["mae_hi"], 100)
    assert pp == "2.69 [2.49, 2.90]"
    ranking = next(cells for cells in tables.tables["ranking-2"] if cells[1][0] == "fh-ensemble")
    assert ranking[4][0].startswith(pp)
    full = next(cells for cells in tables.tables["results"] if cells[0][0] == "fh-ensemble" and cells[1][0] == "10")
    assert pp in [c[0] for c in full]
    assert re.search(r'<th title="mae_mean: lower is better \(mean \[95% interval\]\)" scope="col">MAE \(pp\) ↓</th>',
                     html)
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", html)
    assert any(c.startswith("MAE in percentage points (pp)") for c in captions)
    committed = (LEADERBOARD / "nb201-cpu" / "3" / "leaderboard.md").read_text()
    assert "MAE is in accuracy percentage points" in committed and "| 10 | fh-ensemble |" in committed
    line = next(x for x in committed.splitlines() if x.startswith("| 10 | fh-ensemble |"))
    assert f"{100 * row['mae_mean']:.2f} [{100 * row['mae_lo']:.2f}, {100 * row['mae_hi']:.2f}]" in line
    rendered = _markdown_of(LEADERBOARD / "nb201-cpu" / "3")
    assert "| 2 | fh-ensemble | 0.585 [0.498, 0.662] | *tied* | 2.69 [2.49, 2.90] (lowest) |" in rendered
    assert "MAE, pp [95% CI]" in rendered and "percentage points (pp)" in rendered


def test_leaderboard_md_opens_with_the_answer_and_gives_every_number_an_interval():
    markdown = _markdown_of(LEADERBOARD / "nb201-cpu" / "3")
    answer = markdown.split("## Who ranks architectures best", 1)[1].split("## Every metric", 1)[0]
    assert answer.lstrip().startswith("At 25% of the budget (epoch 5 of 20), **sotl-e** ranks architectures best: "
                                      "Kendall tau 0.485 [0.389, 0.577].")
    assert "Lowest MAE there: lcnet, 3.31 [2.64, 4.16] pp." in answer
    table = answer.split("### Epoch 5 of 20 (25% of the budget)", 1)[1].split("###", 1)[0]
    body = [line.split(" | ") for line in table.strip().splitlines()[2:]]
    assert [cells[1] for cells in body][:2] == ["sotl-e", "sotl"] and body[0][3] == "**leader**"
    for cells in body:  # tau, MAE and overhead: each with its interval (or "< 0.001": the whole of it)
        assert INTERVAL.match(cells[2]) and (cells[4] == "rank only" or INTERVAL.match(cells[4].split(" (")[0]))
        assert cells[5].rstrip(" |") == "< 0.001" or INTERVAL.match(cells[5].rstrip(" |")), cells[5]
    every = markdown.split("## Every metric", 1)[1].split("## How sure", 1)[0].split("| epoch |", 1)[1]
    assert "±" not in every  # the overheads' spreads gave way to intervals


def test_overhead_intervals_are_around_the_rows_own_means():
    from fhbench.publish.derived import overhead_intervals

    for board in ("nb201-cpu/3", "quickstart/2", "cnn-families-cpu/2"):
        data = read_results(LEADERBOARD / board)
        found = overhead_intervals(data)
        assert len(found) == len(data["rows"])
        for row in data["rows"]:
            mine = found[(row["estimator"], None, row["epoch"])]
            for quantity in ("overhead_s", "overhead_epochs", "overhead_ref"):
                point, lo, hi = mine[quantity]
                if row[f"{quantity}_mean"] is None:
                    assert math.isnan(point)
                    continue
                assert point == pytest.approx(row[f"{quantity}_mean"], rel=1e-6)
                if board.startswith("cnn"):  # 4 cells per repeat: no interval, as for the other metrics
                    assert math.isnan(lo) and math.isnan(hi)
                else:
                    assert lo <= point <= hi and lo < hi


def test_every_estimator_has_a_page_linked_from_every_row_that_names_it(committed_site):
    names = set()
    for board in LEADERBOARD.glob("*/*/results.json"):
        data = json.loads(board.read_text())
        names |= {r["estimator"] for r in data["rows"] if "estimator" in r} | set(data.get("estimators") or {})
    pages = {p.name for p in (committed_site / "estimators").glob("*.html")}
    assert pages == {estimator_file(n) for n in names} | {"index.html"}
    for page in committed_site.glob("*/*/index.html"):
        for table_id, rows in Tables(page.read_text()).tables.items():
            for cells in rows:
                for text, links in cells:
                    if text in names:
                        assert f"../../estimators/{estimator_file(text)}" in links, (page, table_id, text)
    # sotl-e's page: where it leads on nb201-cpu 3, from that board's verdicts
    html = (committed_site / "estimators" / "sotl-e.html").read_text()
    tables = Tables(html)
    leads = [cells[0][0] for cells in tables.tables["nb201-cpu-3"] if cells[3][0] == "leader"]
    data = read_results(LEADERBOARD / "nb201-cpu" / "3")
    expected = [c["epoch"] for c in data["statistics"]["checkpoints"] if c["ties"]["kendall_tau"]["leader"] == "sotl-e"]
    assert [int(w.split()[1]) for w in leads] == expected
    assert "nb201-cpu 3: leads at epochs " + ", ".join(map(str, expected)) + "; tied with the leader at epoch 2" in html
    assert 'href="../nb201-cpu/2/index.html"' in html  # superseded versions are there too, folded


def test_the_index_summarises_each_suites_latest_version(committed_site):
    html = (committed_site / "index.html").read_text()
    latest = Tables(html).tables["latest"]
    suites = sorted({p.parent.parent.name for p in LEADERBOARD.glob("*/*/results.json")})
    assert [cells[0][0] for cells in latest] == suites
    nb201 = next(cells for cells in latest if cells[0][0] == "nb201-cpu")
    assert nb201[1][0] == "3" and nb201[2][0] == "estimation" and nb201[3][0] == "150 cells × 1 repeat"
    assert nb201[4][0] == "sotl-e: Kendall tau 0.485 [0.389, 0.577] at epoch 5 of 20 (25%)"
    data = read_results(LEADERBOARD / "nb201-cpu" / "3")
    tied = next(c for c in data["statistics"]["checkpoints"] if c["epoch"] == 5)["ties"]["kendall_tau"]["tied"]
    assert nb201[5][0].split(" (")[0].split(", ") == [n for n in tied if n != "sotl-e"]
    assert nb201[6][0] == "2 superseded by 3 1 superseded by 2"
    assert nb201[6][1] == ["nb201-cpu/2/index.html", "nb201-cpu/1/index.html"]
    search = next(cells for cells in latest if cells[0][0] == "nb201-search-cpu")
    newest = max((p.parent for p in LEADERBOARD.glob("nb201-search-cpu/*/results.json")), key=lambda p: int(p.name))
    best = min(read_results(newest)["rows"], key=lambda row: row["regret_mean"])
    names = {"hyperband": "HyperBand", "bohb": "BOHB", "random": "random search"}
    assert search[4][0].startswith(f"{names[best['algorithm']]} with {best['estimator']}: final regret "
                                   f"{100 * best['regret_mean']:.3g} [")
    statuses = {(cells[0][0], cells[1][0]): cells[2][0] for cells in Tables(html).tables["boards"]}
    assert statuses[("nb201-cpu", "1")] == "superseded by 2" and statuses[("nb201-cpu", "3")] == "latest"


def test_a_search_board_names_its_winners_with_intervals_after_its_regret_plot(committed_site):
    data = read_results(LEADERBOARD / "nb201-search-cpu" / "1")
    html = _page(committed_site, "nb201-search-cpu", "1")
    assert html.index('src="figures/regret.png"') < html.index('id="ranking-0"') < html.index('id="results"')
    shown = Tables(html).tables["ranking-0"]
    regrets = {}
    for run in data["runs"]:
        regrets.setdefault((run["algorithm"], run["estimator"]), []).append(run["regret"])
    expected = sorted(regrets, key=lambda k: (sum(regrets[k]) / len(regrets[k]), k))
    names = {"HyperBand": "hyperband", "BOHB": "bohb", "random search": "random"}  # as a reader knows them
    assert [(names[cells[1][0]], cells[2][0]) for cells in shown] == expected
    best = over_seeds(regrets[expected[0]])
    for cells, key in zip(shown, expected):
        seeds = over_seeds(regrets[key])
        assert cells[3][0] == _ci(seeds.mean, seeds.lo, seeds.hi, 100)
        overlaps = seeds.lo <= best.hi and best.lo <= seeds.hi
        assert cells[4][0] == ("lowest" if key == expected[0] else "tied" if overlaps else "")
        assert INTERVAL.match(cells[5][0])  # any-time regret, with its interval
    assert "Lowest final regret: <b>HyperBand</b> with" in html


def test_a_declared_search_board_ranks_each_targets_searches_by_the_accuracy_of_their_choice(committed_site):
    data = read_results(LEADERBOARD / "randaugment-cpu" / "1")
    html = _page(committed_site, "randaugment-cpu", "1")
    tables = Tables(html)
    assert tables.order[0] == "ranking-0" and 'src="figures/search.png"' in html
    for index, target in enumerate(t["label"] for t in data["targets"]):
        accs: dict = {}
        for record in data["searches"]:
            if record["target"] == target and record["true_acc"] is not None:
                accs.setdefault((record["algorithm"], record["estimator"], record["source"]), []).append(
                    record["true_acc"])
        shown = tables.tables[f"ranking-{index}"]
        assert len(shown) == len(accs)
        points = []
        for cells in shown:
            algorithm = {"HyperBand": "hyperband", "BOHB": "bohb", "random search": "random"}[cells[1][0]]
            seeds = over_seeds(accs[(algorithm, cells[2][0], cells[3][0])])
            assert cells[4][0] == _ci(seeds.mean, seeds.lo, seeds.hi, 100)  # percent, t-interval over seeds
            points.append(seeds.mean)
        assert points == sorted(points, reverse=True)
    full = Tables(html).tables["results"]
    assert all(re.search(r"\d \[-?\d", " ".join(c[0] for c in cells)) for cells in full)  # accuracy with interval


def test_a_proxy_only_board_reads_as_untrained_not_as_zero_percent_of_a_budget(committed_site):
    """A board whose estimates were made at epoch 0 (zero-cost proxies, nothing trained) says so; its
    overheads in epochs are n/a because there are no epochs, not because of another device."""
    untrained = [p.parent for p in LEADERBOARD.glob("*/*/results.json")
                 if _results(p.parent).get("kind") == "estimation"
                 and {row.get("epoch") for row in _results(p.parent)["rows"]} == {0}]
    assert untrained, "no proxy-only board is committed (nb201-zc)"
    for board in untrained:
        html = (committed_site / board.parent.name / board.name / "index.html").read_text()
        assert "At initialisation (epoch 0: nothing trained)" in html
        assert "0% of the budget" not in html and "n/a (another device)" not in html
        assert "n/a (nothing trained)" in html
