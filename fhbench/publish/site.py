"""`fhbench site`: one static HTML site from every leaderboard under a leaderboard root.

Output, written beside `out_dir` and swapped in whole by `fhbench.publish.provenance.write_directory` (so `out_dir`
holds the old site or the new one at every moment):

- ``index.html`` (`site_index`): per suite its latest version as a summary (kind, size, the leader at a
  quarter of the budget with its 95% interval and what is tied with it), older versions marked superseded,
  the critical-difference diagram across boards, every version and its regressions, live searches;
- ``<suite>/<version>/index.html`` (`site_board_page`): the answer in a sentence, the plots
  (``figures/``, drawn for the page by `site_figures`), the ranking with intervals and ties, then folded
  every row, the difference from the previous version, failures, provenance; the published files
  (results.json, CSV, markdown, plots, estimates) are copied beside it;
- ``<suite>/live/<run>/index.html``: a live search's result and its jobs;
- ``estimators/<name>.html`` (`site_estimators`): one estimator across every board, and their index.

Every link is relative and the only script is a small inline one (`site_html`): the site opens from disk
with no network and can be published as static pages. Every text taken from a file is escaped. The output
depends only on the leaderboards (no build date; plots are byte-stable), so building the same leaderboards
again gives the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from fhbench.core.errors import FhbenchError
from fhbench.publish.critical_difference import plot_critical_difference, rank_summary
from fhbench.publish.provenance import check_signature, write_directory
from fhbench.publish.site_board_page import board_page
from fhbench.publish.site_boards import LIVE, Board, find_boards, latest
from fhbench.publish.site_estimators import estimator_pages
from fhbench.publish.site_figures import board_figures
from fhbench.publish.site_index import CD_FILE, index_page

__all__ = ["MARKER", "add_arguments", "build_site", "main", "run"]

MARKER = ".fhbench-site"
"""A file at the top of every built site: only a folder that has it (or an empty one) is replaced."""


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
            for figure in board_figures(board):
                if figure.draw is not None:
                    (target / figure.src).parent.mkdir(exist_ok=True)
                    figure.draw(target / figure.src)
            (target / "index.html").write_text(board_page(board), encoding="utf-8")
    return write


def _write_pages(pages: dict[str, str]):
    def write(path: Path) -> None:
        path.mkdir()
        for name, text in pages.items():
            (path / name).write_text(text, encoding="utf-8")
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
    summary = rank_summary((b.suite, b.header, b.rows) for b in latest(boards))
    files: dict[str, Any] = {
        "index.html": index_page(boards, summary),
        MARKER: "Built by `fhbench site`; this folder is replaced whole by the next build.\n",
        "estimators": _write_pages(estimator_pages(boards)),
    }
    if summary.result is not None:
        files[CD_FILE] = lambda path: plot_critical_difference(summary, path)
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
