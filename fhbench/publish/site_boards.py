"""The site's input: every published board under a leaderboard root, loaded and checked, each version
linked to the one before and after it, and compared with the one before by `fhbench compare`'s rules.

``<root>/<suite>/<version>/results.json`` (estimation, search and declared-search boards) and
``<root>/<suite>/live/<run>/results.json`` (live searches). Hidden entries (a publisher's staging folders)
and plain files at the root or suite level are ignored.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fhbench.core.errors import FhbenchError
from fhbench.publish.compare import Comparison, Results, compare_files, load_results

__all__ = ["LIVE", "Board", "find_boards", "latest"]

LIVE = "live"


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
    def kind(self) -> str:
        return self.results.kind

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
        for older, newer in itertools.pairwise(versions):
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
    for reserved in ("index.html", "estimators"):
        if reserved in names:
            raise FhbenchError(f"{root / reserved}: a suite folder named like the site's own {reserved}; rename it")
    return boards


def latest(boards: list[Board]) -> list[Board]:
    """The newest published version of each suite (no later version supersedes it)."""
    return [b for b in boards if not b.live and b.superseded_by is None]
