"""Learning curves that a public benchmark publishes, read for ``fhbench import``: the CSV format, and
the checks every imported curve passes (`ImportedCurves`). NAS-Bench-201's own file is read by
`fhbench.inputs.nb201_file`.

The CSV format (docs/import.md): a header, then one row per (arch, epoch)::

    arch,epoch,train_acc,train_loss,val_acc,val_loss,test_acc

``test_acc`` is optional. Accuracies are fractions in [0, 1], losses numbers >= 0, epochs 1..E with the
same E for every arch, rows in any order. A loss column (or test_acc) may be empty in every row, for a
benchmark that publishes none; otherwise every row has every value. ``arch`` is a NAS-Bench-201 cell
string (space "nb201") or any id (space "ids") without commas, quotes or line breaks.

The file is parsed with numpy on its bytes, not row by row: the newline and comma positions give every
field's span, each column's fields are gathered into one fixed-width byte array and converted at once.
Only when a conversion fails is the column walked to find the row that broke it. Every refusal is one
line naming the file, the line, and where it can, the arch and the epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fhbench.core.errors import ConfigError, DataError

ACCURACIES = ("train_acc", "val_acc")
LOSSES = ("train_loss", "val_loss")
CURVE_COLUMNS = ("train_acc", "train_loss", "val_acc", "val_loss")
"""The curves an imported trace holds: what a view shows of it (besides nothing else)."""
REQUIRED = ("arch", "epoch") + CURVE_COLUMNS
OPTIONAL = ("test_acc",)
MAY_BE_EMPTY = LOSSES + OPTIONAL
SPACES = ("nb201", "ids")
_GATHER_ROWS = 1 << 16  # rows gathered at a time: bounds the index array to a few tens of MB


@dataclass(frozen=True)
class ImportedCurves:
    """Curves of n configurations over the same E epochs, checked (see `check_values`).

    `curves` maps each of CURVE_COLUMNS the source gives to an (n, E) float64 array (row i: trial i,
    column e: after epoch e + 1); `absent` maps each one it does not give to why. `test_acc` is (n, E) or
    None. `indices` are the trial indices (trial ids r0-<index>), `seeds` the runs' seeds where the
    source names them."""

    source: str  # one line: the file and exactly what was taken from it
    dataset: str  # what the networks were trained on, as far as the source says (a board's dataset_source)
    path: str
    space: str  # "nb201": configs are canonical NAS-Bench-201 cell strings; "ids": anything else
    configs: tuple[str, ...]
    indices: tuple[int, ...]
    seeds: tuple[int | None, ...]
    curves: Mapping[str, np.ndarray]
    test_acc: np.ndarray | None
    absent: Mapping[str, str]

    @property
    def epochs(self) -> int:
        return int(next(iter(self.curves.values())).shape[1])

    def __len__(self) -> int:
        return len(self.configs)


def check_values(name: str, values: np.ndarray, where: Callable[[int], str]) -> None:
    """Every value finite; accuracies (names ending in _acc) in [0, 1], losses >= 0. `where(k)` names the
    k-th value (in `values.ravel()` order) for the one-line refusal."""
    flat = values.ravel()
    bad = ~np.isfinite(flat)
    if name.endswith("_acc"):
        bad |= (flat < 0) | (flat > 1)
        expected = "a fraction in [0, 1] (accuracies are fractions, not percent)"
    else:
        bad |= flat < 0
        expected = "a finite number >= 0"
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(f"{where(k)}: {name} is {float(flat[k])!r}, expected {expected}")


# -- the CSV ------------------------------------------------------------------------------------------

def read_curves_csv(path: str | Path, *, space: str = "nb201") -> ImportedCurves:
    """The curves of a CSV file in the format above; DataError (one line) for anything else."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    digest = hashlib.sha256(data).hexdigest()
    table = _Table(path, data)
    columns = table.columns
    rows = table.rows
    archs, first, code = table.archs()
    configs = _configs(table, archs, first, space)
    epoch = table.integers("epoch")
    values, absent = {}, {}
    for name in CURVE_COLUMNS + tuple(c for c in OPTIONAL if c in columns):
        column = table.floats(name, configs, code, epoch)
        if column is None:
            absent[name] = f"{path.name} gives no {name} (its column is empty)"
        else:
            values[name] = column
    order, epochs = _check_grid(table, configs, code, epoch)
    n = len(configs)
    arrays = {name: column[order].reshape(n, epochs) for name, column in values.items()}
    given = [name for name in CURVE_COLUMNS + OPTIONAL if name in arrays]
    source = (f"{path.name} (sha256 {digest}): {n:,} {'NAS-Bench-201 cells' if space == 'nb201' else 'configs'} "
              f"x {epochs} epochs, {rows:,} rows; columns {', '.join(given)}"
              + (f"; empty: {', '.join(absent)}" if absent else ""))
    return ImportedCurves(source=source, dataset=f"imported from {path.name}", path=str(path), space=space,
                          configs=configs, indices=tuple(range(n)), seeds=(None,) * n,
                          curves={k: v for k, v in arrays.items() if k in CURVE_COLUMNS},
                          test_acc=arrays.get("test_acc"),
                          absent={k: v for k, v in absent.items() if k in CURVE_COLUMNS})


def _configs(table: _Table, archs: list[bytes], first: np.ndarray, space: str) -> tuple[str, ...]:
    """The archs as strings (sorted as bytes: trial i is the i-th), NAS-Bench-201 cells checked."""
    configs = []
    for arch, row in zip(archs, first):
        try:
            text = arch.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{table.line(row)}: arch is not UTF-8 text (epoch {table.text('epoch', row)})") from None
        if space == "nb201":
            from fhbench.spaces.nb201 import Nb201Cell  # imports torch

            try:
                cell = Nb201Cell.from_string(text)
            except ConfigError as err:
                raise DataError(f"{table.line(row)}: arch {text!r}, epoch {table.text('epoch', row)}: {err} (ids "
                                f"that are not NAS-Bench-201 cells need --space ids)") from None
            if str(cell) != text:
                raise DataError(f"{table.line(row)}: arch {text!r}, epoch {table.text('epoch', row)}: not in "
                                f"NAS-Bench-201's canonical form {str(cell)!r}")
        configs.append(text)
    return tuple(configs)


def _check_grid(table: _Table, configs: tuple[str, ...], code: np.ndarray, epoch: np.ndarray) -> tuple[np.ndarray, int]:
    """Every arch has one row for each epoch 1..E (E the largest epoch in the file). Returns the row order
    that sorts by (arch, epoch), and E."""
    order = np.lexsort((epoch, code))
    c, e = code[order], epoch[order]
    repeated = np.flatnonzero((c[1:] == c[:-1]) & (e[1:] == e[:-1]))
    if len(repeated):
        first, again = sorted((int(order[repeated[0]]), int(order[repeated[0] + 1])))
        raise DataError(f"{table.line(again)}: arch {configs[c[repeated[0]]]!r}, epoch {int(e[repeated[0]])}: a "
                        f"duplicate row (the same arch and epoch as line {first + 2})")
    epochs = int(e.max())
    counts = np.bincount(c, minlength=len(configs))
    short = np.flatnonzero(counts != epochs)
    if len(short):
        arch = int(short[0])
        missing = int(np.setdiff1d(np.arange(1, epochs + 1), e[c == arch])[0])
        row = int(order[np.searchsorted(c, arch)])
        longest = int(order[np.argmax(e)])
        raise DataError(f"{table.line(row)}: arch {configs[arch]!r} has no row for epoch {missing}: every arch needs "
                        f"epochs 1..{epochs} (the largest epoch in the file, line {longest + 2})")
    return order, epochs


class _Table:
    """The CSV's bytes split into fields by position: field k of data row i spans
    `buf[starts[i, k]:ends[i, k]]`."""

    def __init__(self, path: Path, data: bytes):
        self.path = path
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        for byte, why in ((b"\r", "a carriage return inside a line"),
                          (b'"', "a quote: quoted fields are not read (values hold no commas, quotes or line breaks)")):
            if byte in data:
                line = data.count(b"\n", 0, data.index(byte)) + 1
                raise DataError(f"{path}: line {line}: {why}")
        if not data.endswith(b"\n") or data.endswith(b"\n\n"):
            data = data.rstrip(b"\n") + b"\n"  # trailing empty lines are no rows
        if data == b"\n":
            raise DataError(f"{path}: empty file (expected a header {','.join(REQUIRED + OPTIONAL)})")
        self.buf = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(self.buf == ord("\n"))
        self.columns = self._header(data[:newlines[0]])
        starts, ends = newlines[:-1] + 1, newlines[1:]
        if len(starts) == 0:
            raise DataError(f"{path}: no rows after the header (one row per arch and epoch)")
        if np.any(starts == ends):
            raise DataError(f"{self.line(int(np.argmax(starts == ends)))}: an empty line")
        commas = np.flatnonzero(self.buf == ord(","))
        commas = commas[commas > newlines[0]]
        per_line = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
        wrong = per_line != len(self.columns) - 1
        if wrong.any():
            row = int(np.argmax(wrong))
            raise DataError(f"{self.line(row)}: {per_line[row] + 1} fields, expected {len(self.columns)} "
                            f"({','.join(self.columns)})")
        commas = commas[commas < ends[-1]].reshape(len(starts), len(self.columns) - 1)
        self.starts = np.column_stack([starts, commas + 1])
        self.ends = np.column_stack([commas, ends])
        self.rows = len(starts)

    def line(self, row: int) -> str:
        """`<file>: line N` of data row `row` (the header is line 1)."""
        return f"{self.path}: line {row + 2}"

    def _header(self, line: bytes) -> tuple[str, ...]:
        try:
            columns = tuple(name.strip() for name in line.decode("utf-8").split(","))
        except UnicodeDecodeError:
            raise DataError(f"{self.path}: line 1: the header is not UTF-8 text") from None
        expected = f"expected columns {','.join(REQUIRED)} and optionally {','.join(OPTIONAL)}"
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise DataError(f"{self.path}: line 1: no column {', '.join(missing)}; {expected}")
        unknown = [name for name in columns if name not in REQUIRED + OPTIONAL]
        if unknown:
            raise DataError(f"{self.path}: line 1: unknown column {unknown[0]!r}; {expected}")
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        if repeated:
            raise DataError(f"{self.path}: line 1: column {repeated[0]} twice")
        return columns

    def text(self, name: str, row: int) -> str:
        """One field as written."""
        k = self.columns.index(name)
        return self.buf[self.starts[row, k]:self.ends[row, k]].tobytes().decode("utf-8", "replace")

    def field_bytes(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Column `name` as one fixed-width byte-string array (shorter fields padded with NULs, which the
        bytes dtype drops) and each field's width."""
        k = self.columns.index(name)
        starts, widths = self.starts[:, k], self.ends[:, k] - self.starts[:, k]
        width = max(int(widths.max()), 1)
        out = np.zeros((self.rows, width), dtype=np.uint8)
        offsets = np.arange(width)
        for a in range(0, self.rows, _GATHER_ROWS):
            index = starts[a:a + _GATHER_ROWS, None] + offsets
            inside = offsets < widths[a:a + _GATHER_ROWS, None]
            chunk = self.buf[np.where(inside, index, 0)]
            chunk[~inside] = 0
            out[a:a + _GATHER_ROWS] = chunk
        return out.view(f"S{width}").ravel(), widths

    def archs(self) -> tuple[list[bytes], np.ndarray, np.ndarray]:
        """The distinct archs (sorted as bytes), the row where each first appears, and each row's index
        into them."""
        values, widths = self.field_bytes("arch")
        if (widths == 0).any():
            raise DataError(f"{self.line(int(np.argmax(widths == 0)))}: empty arch")
        distinct, first, code = np.unique(values, return_index=True, return_inverse=True)
        return [bytes(v) for v in distinct], first, code.ravel()

    def integers(self, name: str) -> np.ndarray:
        """An integer column (epochs): each value a whole number >= 1."""
        values, _ = self.field_bytes(name)
        try:
            numbers = values.astype(np.int64)
        except (ValueError, OverflowError):
            row = next(i for i, v in enumerate(values.tolist()) if not _is_int(v))
            raise DataError(f"{self.line(row)}: {name} {values[row].decode('utf-8', 'replace')!r} is not a whole "
                            f"number") from None
        if (numbers < 1).any():
            row = int(np.argmax(numbers < 1))
            raise DataError(f"{self.line(row)}: {name} {int(numbers[row])}: epochs count from 1")
        return numbers

    def floats(self, name: str, configs, code: np.ndarray, epoch: np.ndarray) -> np.ndarray | None:
        """A value column, checked (`check_values`); None where it is empty in every row (allowed for
        MAY_BE_EMPTY columns only)."""
        def where(row: int) -> str:
            return f"{self.line(row)}: arch {configs[code[row]]!r}, epoch {int(epoch[row])}"

        values, widths = self.field_bytes(name)
        empty = widths == 0
        if empty.all() and name in MAY_BE_EMPTY:
            return None
        if empty.any():
            row = int(np.argmax(empty))
            also = f" (a {name} column is given in every row or left empty in all)" if name in MAY_BE_EMPTY else ""
            raise DataError(f"{where(row)}: no {name}{also}")
        try:
            numbers = values.astype(np.float64)
        except ValueError:
            row = next(i for i, v in enumerate(values.tolist()) if not _is_float(v))
            raise DataError(f"{where(row)}: {name} {values[row].decode('utf-8', 'replace')!r} is not a "
                            f"number") from None
        check_values(name, numbers, where)
        return numbers


def _is_int(text: bytes) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_float(text: bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


__all__ = ["ACCURACIES", "CURVE_COLUMNS", "LOSSES", "OPTIONAL", "REQUIRED", "SPACES", "ImportedCurves",
           "check_values", "read_curves_csv"]
