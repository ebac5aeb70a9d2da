"""The site as a reader sees it, in Debian's headless Chromium (tests/chromium.py), at a laptop's width (1400
pixels) and a phone's (400): a board's first table is its ranking, in rank order with 95% intervals; MAE is in
percentage points in the table, the plot's caption and leaderboard.md; no text overflows its column and no
page scrolls sideways; axe-core finds no serious or critical accessibility violation; a click on a header sorts
numbers as numbers; a blank or broken plot is caught. Skips where Chromium (or, for the accessibility check,
axe-core from the npm registry) is absent; .ci/run installs both."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from chromium import (
    AXE,
    AXE_MISSING,
    CHROMIUM,
    CHROMIUM_MISSING,
    Browser,
    axe_violations,
)

from fhbench.publish.board_files import read_results
from fhbench.publish.site import build_site

REPO = Path(__file__).resolve().parent.parent
LEADERBOARD = REPO / "leaderboard"
WIDTHS = (1400, 400)

# every kind of page: a board with intervals, one with too few cells for them, one published before them, a
# search board, a declared-search board, the index, an estimator and the estimators' index
PAGES = ("nb201-cpu/3/index.html", "cnn-families-cpu/2/index.html", "nb201-cpu/2/index.html",
         "nb201-search-cpu/1/index.html", "darts-cpu/1/index.html", "index.html", "estimators/fh-ensemble.html",
         "estimators/index.html")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(CHROMIUM_MISSING)
    b = Browser(tmp_path_factory.mktemp("chromium-profile"), width=1400)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory):
    return build_site(LEADERBOARD, tmp_path_factory.mktemp("site") / "site").parent


def _results(directory: Path) -> dict:
    return json.loads((directory / "results.json").read_text())


def _copy_board(dst_root: Path, suite: str, version: str = "1") -> Path:
    target = dst_root / suite / version
    shutil.copytree(LEADERBOARD / suite / version, target)
    return target


def _open_all_details(browser: Browser) -> None:
    browser.js("document.querySelectorAll('details').forEach(d => d.open = true)")


def _texts(browser: Browser, selector: str, column: int) -> list[str]:
    return browser.js(f"Array.from(document.querySelectorAll({json.dumps(selector + ' > tbody > tr')}))"
                      f".map(r => r.cells[{column}].textContent.trim())")


def overflowing(browser: Browser) -> list[str]:
    """What overflows: every table cell or heading whose text is wider than its box, and the page itself
    where it is wider than the window (a table may scroll inside its own box; the page may not)."""
    return browser.js("""(() => {
      const out = [];
      for (const e of document.querySelectorAll('td, th, h1, h2, h3, p, figcaption, li, summary')) {
        if (e.offsetParent === null) continue;  // not displayed
        if (e.scrollWidth > e.clientWidth + 1) out.push(e.tagName + ' ' + e.textContent.trim().slice(0, 60));
      }
      if (document.documentElement.scrollWidth > window.innerWidth)
        out.push('page ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
      return out;
    })()""")


@pytest.mark.slow  # drives a headless Chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_a_board_opens_with_its_ranking_in_rank_order_with_intervals(browser, committed_site, width):
    browser.resize(width)
    for board in ("nb201-cpu/3", "quickstart/2", "cnn-families-cpu/2", "nb201-search-cpu/1"):
        browser.open(committed_site / board / "index.html")
        data = read_results(LEADERBOARD / board)
        first = browser.js("document.querySelector('main table').id")
        assert first == "ranking-0", board
        # the answer is on the first screen: the headline sits above the fold
        assert browser.js("document.querySelector('.headline').getBoundingClientRect().top") < 700
        if data["kind"] == "search":
            column, lower_first = 3, True
        else:
            column, lower_first = 2, False
        cells = _texts(browser, "#ranking-0", column)
        pattern = r"^(-?\d+\.\d+)\s*\[(-?\d+\.\d+, -?\d+\.\d+|n/a)\]$"
        assert all(re.match(pattern, c) for c in cells), (board, cells)
        points = [float(re.match(pattern, c).group(1)) for c in cells]
        assert points == sorted(points, reverse=not lower_first), (board, points)
        if data["kind"] == "estimation":
            epoch = min(r["epoch"] for r in data["rows"])
            expected = sorted((r for r in data["rows"] if r["epoch"] == epoch),
                              key=lambda r: (-r["kendall_tau_mean"], r["estimator"]))
            assert _texts(browser, "#ranking-0", 1) == [r["estimator"] for r in expected]
            with_intervals = board != "cnn-families-cpu/2"
            assert all(c.endswith("[n/a]") != with_intervals for c in cells)


@pytest.mark.slow  # drives a headless Chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_mae_units_agree_between_table_plot_caption_and_leaderboard_md(browser, committed_site, width):
    browser.resize(width)
    browser.open(committed_site / "nb201-cpu" / "3" / "index.html")
    heads = browser.js("Array.from(document.querySelectorAll('#ranking-0 thead th')).map(h => h.textContent)")
    assert heads[4] == "MAE, pp (95% CI)"
    captions = browser.js("Array.from(document.querySelectorAll('figcaption')).map(f => f.textContent)")
    assert any(c.startswith("MAE in percentage points (pp)") for c in captions)
    shown = dict(zip(_texts(browser, "#ranking-0", 1), _texts(browser, "#ranking-0", 4)))
    markdown = (LEADERBOARD / "nb201-cpu" / "3" / "leaderboard.md").read_text()
    assert "MAE is in accuracy percentage points" in markdown
    checked = 0
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) > 4 and cells[0] == "2" and cells[4] != "n/a":  # epoch 2: the ranking's first table
            in_md = float(cells[4].split(" ")[0])
            on_page = float(shown[cells[1]].split(" ")[0])
            assert on_page == pytest.approx(in_md, abs=0.051), cells[1]  # 3 significant digits against 2 decimals
            checked += 1
    assert checked >= 8


@pytest.mark.slow  # drives a headless Chromium
@pytest.mark.parametrize("width", WIDTHS)
def test_no_text_overflows_its_column_and_no_page_scrolls_sideways(browser, committed_site, width):
    browser.resize(width)
    for page in PAGES:
        browser.open(committed_site / page)
        _open_all_details(browser)  # the folded tables too
        assert overflowing(browser) == [], (page, width)


@pytest.mark.slow  # drives a headless Chromium and axe-core
@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_serious_accessibility_violation(browser, committed_site, width):
    if not AXE.exists():
        pytest.skip(AXE_MISSING)
    browser.resize(width)
    for page in PAGES:
        browser.open(committed_site / page)
        _open_all_details(browser)
        assert axe_violations(browser) == [], page
    # the check catches what it should: an image without alt text, text too pale to read
    browser.open(committed_site / "nb201-cpu" / "3" / "index.html")
    browser.js("document.querySelector('img.plot').removeAttribute('alt');"
               "document.querySelector('h1').style.color = '#eeeeee'")
    found = " ".join(axe_violations(browser))
    assert "image-alt (critical)" in found and "color-contrast (serious)" in found


@pytest.mark.slow  # drives a headless Chromium
def test_pages_render_with_their_rows(browser, committed_site):
    browser.resize(1400)
    browser.open(committed_site / "index.html")
    boards = sorted(p.parent for p in LEADERBOARD.glob("*/*/results.json"))
    assert browser.js("document.querySelectorAll('#boards > tbody > tr').length") == len(boards)
    assert browser.js("document.querySelector('#boards').classList.contains('js-sortable')")
    # follow the index's link to a board by clicking it, as a reader would
    browser.events.clear()
    browser.click('#boards a[href="quickstart/1/index.html"]')
    browser.wait_event("Page.loadEventFired")
    assert browser.js("location.pathname").endswith("/quickstart/1/index.html")
    for board in boards:
        browser.open(committed_site / board.parent.name / board.name / "index.html")
        data = _results(board)
        assert browser.js("document.querySelectorAll('#results > tbody > tr').length") == len(data["rows"])
        assert browser.js("document.querySelectorAll('#results th.sort-key').length") > 3  # the script ran
        first_key = next(k for k in ("target", "algorithm", "estimator") if k in data["rows"][0])
        assert _texts(browser, "#results", 0) == [r[first_key] for r in data["rows"]]
        images = browser.js("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
        # every plot of the board, but an MAE plot of a board whose estimators are all rank-only (nothing on it)
        rank_only = bool(data["rows"]) and all(r.get("rank_only") for r in data["rows"])
        expected = sorted(p.name for p in board.glob("*.png") if not (rank_only and p.name.startswith("mae")))
        assert sorted(src.removeprefix("figures/") for src, _ in images) == expected
        assert all(width > 100 for _, width in images), images  # every plot loaded from disk


@pytest.mark.slow  # drives a headless Chromium
def test_a_click_on_a_header_sorts_numbers_as_numbers(browser, tmp_path):
    browser.resize(1400)
    root = tmp_path / "lb"
    board = _copy_board(root, "quickstart")
    data = _results(board)
    data["rows"][3]["overhead_ref_mean"] = None  # a missing value: last in both directions
    data["rows"][0]["overhead_ref_mean"] = 9.5  # beside 41.8 and 44.98: "9.5" sorts after them as text
    _write = board / "results.json"
    _write.write_text(json.dumps(data, indent=1))
    build_site(root, tmp_path / "site")
    browser.open(tmp_path / "site" / "quickstart" / "1" / "index.html")
    _open_all_details(browser)
    heads = browser.js("Array.from(document.querySelectorAll('#results thead th')).map(h => h.title)")
    column = next(i for i, title in enumerate(heads) if title.startswith("overhead_ref_mean"))
    values = [r["overhead_ref_mean"] for r in data["rows"]]
    present = [v for v in values if v is not None]
    shown = {v: f"{v:.3g}" for v in present}
    # the test means something only if text order and number order differ for this column
    assert sorted(present, key=lambda v: shown[v]) != sorted(present)

    def column_values() -> list[float | None]:
        sorts = browser.js(f"Array.from(document.querySelectorAll('#results > tbody > tr'))"
                           f".map(r => r.cells[{column}].getAttribute('data-sort'))")
        return [float(s) if s else None for s in sorts]

    assert column_values() == values  # unsorted: the file's order
    browser.click(f"#results thead th:nth-child({column + 1})")
    assert column_values() == sorted(present) + [None]
    assert browser.js(f"document.querySelector('#results thead th:nth-child({column + 1})')"
                      f".getAttribute('aria-sort')") == "ascending"
    browser.click(f"#results thead th:nth-child({column + 1})")
    assert column_values() == sorted(present, reverse=True) + [None]
    # a text column sorts as text; ties keep the previous order (stable)
    browser.click("#results thead th:nth-child(1)")
    names = _texts(browser, "#results", 0)
    assert names == sorted(names) and names != [r["estimator"] for r in data["rows"]]


def blank_plots(browser: Browser, threshold: int = 8) -> list[str]:
    """The plots whose rendered pixels on the page are (nearly) one colour, or that did not load: for each
    image, a screenshot clipped to its box, and the spread of its pixel values."""
    _open_all_details(browser)
    boxes = browser.js("Array.from(document.querySelectorAll('img.plot')).map(i => { const r ="
                       " i.getBoundingClientRect(); return [i.getAttribute('src'), i.naturalWidth,"
                       " r.x + scrollX, r.y + scrollY, r.width, r.height]; })")
    blank = []
    for src, natural, x, y, w, h in boxes:
        if natural == 0 or w < 10 or h < 10:
            blank.append(src)
            continue
        shot = browser.screenshot({"x": x + 2, "y": y + 2, "width": w - 4, "height": h - 4})
        spread = max(hi - lo for lo, hi in shot.getextrema())
        colours = shot.convert("L").point(lambda v: 255 if v < 250 else 0).getbbox()  # any non-white pixel
        if spread <= threshold or colours is None:
            blank.append(src)
    return blank


@pytest.mark.slow  # drives a headless Chromium
def test_screenshot_check_flags_a_blank_plot(browser, tmp_path, committed_site):
    from PIL import Image

    browser.resize(1400)
    for board in ("quickstart/1", "nb201-cpu/3"):  # the board's own plots, and plots drawn for the page
        browser.open(committed_site / board / "index.html")
        assert blank_plots(browser) == [], board
    root = tmp_path / "lb"
    board = _copy_board(root, "quickstart")
    with Image.open(board / "kendall_tau.png") as real:
        size = real.size
    Image.new("RGB", size, "white").save(board / "kendall_tau.png")
    (board / "mae_overhead.png").write_bytes(b"not a png")  # broken: does not load
    build_site(root, tmp_path / "site")
    browser.open(tmp_path / "site" / "quickstart" / "1" / "index.html")
    assert sorted(blank_plots(browser)) == ["kendall_tau.png", "mae_overhead.png"]
