"""One matplotlib set-up (no display) and one PNG writer whose bytes depend only on the figure, for
every plot fhbench publishes."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> None:
    """No software tag, no date: the same numbers give the same bytes."""
    fig.savefig(path, format="png", metadata={"Software": None})
    pyplot().close(fig)


__all__ = ["pyplot", "save_png"]
