"""User datasets from files: .npz with arrays X and y, or .csv with a header row."""

import csv
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Class ids go up to 9999: ten times ImageNet's 1000. More is no classification a NumPy
# toolkit trains (the output layer alone would hold hidden × 10,000 weights, the confusion
# matrix 10^8 counts), and a label column with larger values is an id or a timestamp.
MAX_CLASSES = 10_000


class DataError(ValueError):
    """A data file that cannot be used. The one-line message starts with the file's path."""


def load_file(
    path: str | os.PathLike[str], label: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Features X float64 (N, D) and class ids y int64 (N,) from a file.

    `.npz`: arrays `X` (N, D) and `y` (N,), numeric (never unpickled). `.csv`: a header row of
    column names, then one sample per row; the column named `label` (default: the last column)
    holds the class ids, every other column is a feature. Features must be finite, labels
    non-negative integers (1 and 1.0 both read as 1).
    """
    p = Path(path)
    if label is not None and not isinstance(label, str):
        raise TypeError(f"{p}: label must be a column name (str), got {label!r}")
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if not p.is_file():
        raise DataError(f"{p}: not a file, expected a .npz or .csv file")
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise DataError(f"{p}: unknown extension {p.suffix!r}, expected .npz or .csv")
    if suffix == ".csv":
        return _read_csv(p, label)
    if label is not None:
        raise DataError(f"{p}: label={label!r} applies to .csv files; a .npz holds arrays X and y")
    return _read_npz(p)


def _read_npz(p: Path) -> tuple[np.ndarray, np.ndarray]:
    archive = _open_npz(p)
    with archive:
        if missing := [key for key in ("X", "y") if key not in archive.files]:
            raise DataError(f"{p}: missing array {missing}; found {sorted(archive.files)}")
        X, y = _npz_array(p, archive, "X"), _npz_array(p, archive, "y")
    for name, array in (("X", X), ("y", y)):
        if array.dtype.kind not in "biuf":
            raise DataError(f"{p}: {name} must be numeric, got dtype {array.dtype}")
    if X.ndim != 2:
        raise DataError(f"{p}: X must be 2-D (N, D), got shape {X.shape}")
    if y.ndim != 1:
        raise DataError(f"{p}: y must be 1-D (N,), got shape {y.shape}")
    if len(X) != len(y):
        raise DataError(f"{p}: X has {len(X)} rows but y has {len(y)} labels")
    return _checked(p, X, y, lambda i, j: f"X[{i}, {j}]", lambda i: f"y[{i}]")


def _open_npz(p: Path) -> np.lib.npyio.NpzFile:
    try:
        with open(p, "rb") as handle:
            head = handle.read(6)
    except OSError as err:
        raise DataError(f"{p}: cannot read ({_first_line(err)})") from None
    if head == b"\x93NUMPY":
        raise DataError(f"{p}: holds a single .npy array, expected a .npz with arrays X and y")
    if not head.startswith(b"PK"):
        raise DataError(f"{p}: not a .npz archive (np.savez writes a zip of .npy arrays)")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{p}: not a readable .npz archive ({_first_line(err)})") from None


def _npz_array(p: Path, archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as err:  # numpy refuses object arrays when allow_pickle=False
        if "Object arrays" in str(err):
            raise DataError(f"{p}: array {key!r} holds Python objects (dtype object)") from None
        raise DataError(f"{p}: array {key!r} is unreadable ({_first_line(err)})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{p}: array {key!r} is unreadable ({_first_line(err)})") from None


def _read_csv(p: Path, label: str | None) -> tuple[np.ndarray, np.ndarray]:
    records = _csv_records(p)
    if not records:
        raise DataError(f"{p}: empty file, expected a header row and data rows")
    (header_line, header), rows = records[0], records[1:]
    names = [name.strip() for name in header]
    target = _label_column(p, names, label)
    if not rows:
        raise DataError(f"{p}: no data rows after the header (line {header_line})")
    lines = [line for line, _ in rows]
    for line, row in rows:
        if len(row) != len(names):
            raise DataError(f"{p}: line {line} has {len(row)} columns, header has {len(names)}")
    table = np.array([_parse_row(p, line, row, names) for line, row in rows])
    features = [j for j in range(len(names)) if j != target]
    return _checked(
        p,
        table[:, features],
        table[:, target],
        lambda i, j: f"line {lines[i]}, column {names[features[j]]!r}",
        lambda i: f"line {lines[i]}, column {names[target]!r}",
    )


def _csv_records(p: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row; a BOM is skipped."""
    try:
        with open(p, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            return [
                (reader.line_num, row) for row in reader if "".join(row).strip() or len(row) > 1
            ]
    except UnicodeDecodeError as err:
        raise DataError(f"{p}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except (OSError, csv.Error) as err:
        raise DataError(f"{p}: cannot read ({_first_line(err)})") from None


def _label_column(p: Path, names: list[str], label: str | None) -> int:
    """Index of the label column, once the header is known to be usable."""
    if all(_is_number(name) for name in names):
        raise DataError(f"{p}: line 1 looks like data {names[:3]}, expected a header row of names")
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise DataError(f"{p}: the header repeats column names {duplicates}")
    if len(names) < 2:
        raise DataError(f"{p}: needs feature columns and a label column, header has only {names}")
    if label is None:
        return len(names) - 1
    if label not in names:
        raise DataError(f"{p}: no column named {label!r}; columns: {', '.join(names)}")
    return names.index(label)


def _parse_row(p: Path, line: int, row: list[str], names: list[str]) -> np.ndarray:
    try:
        return np.array(row, dtype=np.float64)
    except ValueError:
        j = next(j for j, cell in enumerate(row) if not _is_number(cell))
        raise DataError(
            f"{p}: line {line}, column {names[j]!r}: expected a number, got {row[j]!r}"
        ) from None


def _checked(
    p: Path,
    X: np.ndarray,
    y: np.ndarray,
    x_at: Callable[[int, int], str],
    y_at: Callable[[int], str],
) -> tuple[np.ndarray, np.ndarray]:
    """X as finite float64 (N >= 1, D >= 1), y as non-negative int64; errors name the cell."""
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{p}: no samples or no features, X has shape {X.shape}")
    X = X.astype(np.float64)
    if (bad := ~np.isfinite(X)).any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"{p}: {x_at(i, j)}: features must be finite, got {X[i, j].item()}")
    return X, class_ids(y, lambda i: f"{p}: {y_at(i)}")


def class_ids(y: np.ndarray, at: Callable[[int], str]) -> np.ndarray:
    """y as int64 class ids in [0, MAX_CLASSES), checked in its own dtype before the cast (a
    float 1e20 or a uint64 2**63 would wrap to a negative int64). `at(i)` names sample i."""
    bad = y < 0
    if y.dtype.kind == "f":
        bad |= ~np.isfinite(y) | (y != np.round(y))
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise DataError(f"{at(i)}: labels must be integers >= 0, got {y[i].item()}")
    if (too_big := y >= MAX_CLASSES).any():
        i = np.flatnonzero(too_big)[0]
        raise DataError(
            f"{at(i)}: label {int(y[i])} is not a class id: a run has at most {MAX_CLASSES} "
            f"classes (ids 0 to {MAX_CLASSES - 1}); labels like these look like an id or a "
            "timestamp: pick the label column of a .csv with `label:` (data.label)"
        )
    return y.astype(np.int64)


def _is_number(cell: str) -> bool:
    try:
        np.array(cell, dtype=np.float64)  # the conversion _parse_row uses
    except ValueError:
        return False
    return True


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__
