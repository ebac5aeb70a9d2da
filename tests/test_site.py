"""`fhbench site`: the static site of every leaderboard, built from the committed leaderboards and from
edited copies of them, checked as files and in a real headless Chromium (Debian's /usr/bin/chromium),
driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no websocket, no extra package):
pages render with their rows, a real mouse click on a header sorts the table (numbers as numbers), and a
screenshot check flags a blank plot. The browser tests skip when /usr/bin/chromium is absent."""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fhbench.core.errors import FhbenchError
from fhbench.publish.site import MARKER, build_site, main

REPO = Path(__file__).resolve().parent.parent
LEADERBOARD = REPO / "leaderboard"
CHROMIUM = Path("/usr/bin/chromium")


def _results(directory: Path) -> dict:
    return json.loads((directory / "results.json").read_text())


def _write_results(directory: Path, data: dict) -> None:
    (directory / "results.json").write_text(json.dumps(data, indent=1))


def _copy_board(dst_root: Path, suite: str, version: str = "1", as_version: str | None = None) -> Path:
    target = dst_root / suite / (as_version or version)
    shutil.copytree(LEADERBOARD / suite / version, target)
    return target


# ---------------------------------------------------------------------------------------------- files


def test_builds_every_board_with_its_plots_and_relative_links(tmp_path):
    index = build_site(LEADERBOARD, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    text = index.read_text()
    boards = sorted(p.parent for p in LEADERBOARD.glob("*/*/results.json"))
    assert len(boards) >= 3
    for board in boards:
        suite, version = board.parent.name, board.name
        assert f'href="{suite}/{version}/index.html"' in text
        page = tmp_path / "site" / suite / version / "index.html"
        html = page.read_text()
        for png in board.glob("*.png"):
            assert (page.parent / png.name).read_bytes() == png.read_bytes()
            assert f'src="{png.name}"' in html
        assert (page.parent / "results.json").read_bytes() == (board / "results.json").read_bytes()
        assert 'href="../../index.html"' in html
        data = _results(board)
        assert f"{len(data['rows'])} rows" in html
        assert data["suite"]["hash"] in html
        assert data["environment"]["torch"] in html
        for name, spec in data["estimators"].items():
            assert f'id="estimator-{name}"' in html
            assert spec["target"] in html
    # nothing absolute, nothing fetched from the network
    for page in (tmp_path / "site").rglob("*.html"):
        html = page.read_text()
        assert "http://" not in html and "https://" not in html
        assert 'src="/' not in html and 'href="/' not in html and "file:" not in html


@pytest.mark.slow  # builds every committed board's site twice
def test_same_leaderboards_give_the_same_bytes(tmp_path):
    build_site(LEADERBOARD, tmp_path / "a")
    build_site(LEADERBOARD, tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
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
    html = (build_site(tmp_path / "lb", tmp_path / "site").parent / "quickstart" / "1" / "index.html").read_text()
    body = html.split("<script>")[0] + html.split("</script>")[-1]  # all but the site's own inline script
    for raw in ("<script>alert", "<img src=x", "<b>evil</b>", "<i>1</i>", "<k>", "<v>", "<u>warned"):
        assert raw not in body, raw
    assert "&lt;script&gt;alert(&#x27;desc&#x27;)&lt;/script&gt; &amp; more" in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html
    assert html.count("<script>") == 1


def line_key(row_html: str) -> tuple[str, str]:
    """(estimator, epoch) of a table row's HTML: its first two cells."""
    cells = [c.split(">", 1)[1].split("<", 1)[0] for c in row_html.split("<td")[1:3]]
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
    lines = changes.split("<tr>")[2:]  # the body's rows
    assert len(lines) == len(data["rows"])
    bad = [line for line in lines if 'class="num bad"' in line]
    assert len(bad) == 1 and line_key(bad[0]) == ("original", "5")
    assert 'title="mae_mean: 0.1154 -&gt; 0.3154; worse beyond tolerance (0.005)">+0.2 ✗</td>' in bad[0]
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


# ---------------------------------------------------------------------------------------------- browser


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe: the browser reads JSON commands
    ending in NUL from fd 3 and writes replies and events to fd 4."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # out of the way of 3 and 4, which the child's dup2s below overwrite
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w)]
        for fd in (to_browser_r, from_browser_w):
            os.close(fd)

        def child() -> None:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._log = profile / "stderr.log"
        log = open(self._log, "wb")
        self.process = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            preexec_fn=child, close_fds=False)
        log.close()
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Page.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer in time; its stderr ends: {self._stderr_tail()}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed its DevTools pipe; its stderr ends: {self._stderr_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _stderr_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def call(self, method: str, session: bool = False, timeout: float = 15.0, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the element."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                      f" e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
                      f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", session=True, type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def screenshot(self, clip: dict | None = None):
        from PIL import Image

        params = {"format": "png", "captureBeyondViewport": True}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y --no-install-recommends chromium; .ci/run does)")
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory):
    return build_site(LEADERBOARD, tmp_path_factory.mktemp("site") / "site").parent


def _texts(browser: Browser, selector: str, column: int) -> list[str]:
    return browser.js(f"Array.from(document.querySelectorAll({json.dumps(selector + ' > tbody > tr')}))"
                      f".map(r => r.cells[{column}].textContent.trim())")


def _column(browser: Browser, table: str, label: str) -> int:
    heads = browser.js(f"Array.from(document.querySelectorAll('#{table} thead th')).map(h => h.textContent.trim())")
    return next(i for i, h in enumerate(heads) if h.split(" ")[0] == label)


@pytest.mark.slow  # drives a headless Chromium
def test_pages_render_with_their_rows(browser, committed_site):
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
        assert sorted(src for src, _ in images) == sorted(p.name for p in board.glob("*.png"))
        assert all(width > 100 for _, width in images), images  # every plot loaded from disk


@pytest.mark.slow  # drives a headless Chromium
def test_a_click_on_a_header_sorts_numbers_as_numbers(browser, tmp_path):
    root = tmp_path / "lb"
    board = _copy_board(root, "quickstart")
    data = _results(board)
    data["rows"][3]["overhead_ref_mean"] = None  # a missing value: last in both directions
    data["rows"][0]["overhead_ref_mean"] = 9.5  # beside 41.8 and 44.98: "9.5" sorts after them as text
    _write_results(board, data)
    build_site(root, tmp_path / "site")
    browser.open(tmp_path / "site" / "quickstart" / "1" / "index.html")
    column = _column(browser, "results", "overhead_ref")
    values = [r["overhead_ref_mean"] for r in data["rows"]]
    present = [v for v in values if v is not None]
    shown = {v: f"{v:.4g}" for v in present}
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

    browser.open(committed_site / "quickstart" / "1" / "index.html")
    assert blank_plots(browser) == []
    root = tmp_path / "lb"
    board = _copy_board(root, "quickstart")
    with Image.open(board / "kendall_tau.png") as real:
        size = real.size
    Image.new("RGB", size, "white").save(board / "kendall_tau.png")
    (board / "mae_overhead.png").write_bytes(b"not a png")  # broken: does not load
    build_site(root, tmp_path / "site")
    browser.open(tmp_path / "site" / "quickstart" / "1" / "index.html")
    assert blank_plots(browser) == ["kendall_tau.png", "mae_overhead.png"]


@pytest.mark.slow  # scores a board's 1,400 estimates with bootstrap intervals, then builds its site
def test_a_board_with_intervals_opens_with_who_leads_and_shows_intervals(tmp_path):
    """nb201-cpu/2's estimates scored with intervals (results schema 3): the page ranks each checkpoint's
    estimators by Kendall tau with their 95% intervals and marks the leader and those tied with it, as
    results.json's statistics say; the full table shows [lo, hi] instead of ± std."""
    import re

    from conftest import rescore_with_intervals

    _, rows, statistics = rescore_with_intervals(_copy_board(tmp_path / "boards", "nb201-cpu", "2"))
    build_site(tmp_path / "boards", tmp_path / "site")
    html = (tmp_path / "site" / "nb201-cpu" / "2" / "index.html").read_text()
    assert html.index('id="verdicts"') < html.index('id="rows"')
    section = html[html.index("<h3>epoch 5 (25% of the budget)"):]
    section = section[:section.index("</table>")]
    names = re.findall(r'<tr(?: class="lead")?><td data-sort="([^"]+)"', section)
    by_tau = sorted((r for r in rows if r.epoch == 5), key=lambda r: -r.kendall_tau_mean)
    assert names == [r.estimator for r in by_tau]
    ties = next(c for c in statistics["checkpoints"] if c["epoch"] == 5)["ties"]["kendall_tau"]
    assert section.count(">tied with the best<") == len(ties["tied"]) - 1 and section.count(">best<") == 1
    leader = next(r for r in rows if r.epoch == 5 and r.estimator == ties["leader"])
    assert f"[{leader.kendall_tau_lo:.4g}, {leader.kendall_tau_hi:.4g}]" in section
    table_html = html[html.index('id="rows"'):html.index('id="plots"')]
    assert 'title="kendall_tau_mean: higher is better (mean [95% interval])"' in table_html  # intervals, not std
    assert 'title="overhead_s_mean: lower is better (mean ± std)"' in table_html  # measured times: their spread
