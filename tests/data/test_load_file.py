"""load_file: .npz and .csv happy paths, and one clear error per way a file can be wrong."""

import re
from pathlib import Path

import numpy as np
import pytest

from gategraph.data.files import DataError, load_file


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def savez(tmp_path: Path, name: str = "d.npz", **arrays: object) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def fails(path: Path, message: str, label: str | None = None) -> None:
    """load_file raises one line `<path>: <message>` (message a regex)."""
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}: {message}$") as info:
        load_file(path, label)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def test_npz_round_trip(tmp_path: Path) -> None:
    X = np.array([[1.5, 2], [3, 4], [5, 6]], np.float32)
    path = savez(tmp_path, X=X, y=np.array([2.0, 0.0, 1.0]))
    got_X, got_y = load_file(path)
    assert got_X.dtype == np.float64 and got_y.dtype == np.int64
    assert got_X.tolist() == [[1.5, 2], [3, 4], [5, 6]] and got_y.tolist() == [2, 0, 1]


def test_csv_last_column_is_the_label_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "a,b,class\n1,2.5,0\n-3,4e1,1\n\n")
    X, y = load_file(str(path))
    assert X.tolist() == [[1, 2.5], [-3, 40]] and y.tolist() == [0, 1]
    assert X.dtype == np.float64 and y.dtype == np.int64


def test_csv_label_named_anywhere_with_bom_quotes_and_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, "D.CSV", '\ufeff"kind", x , y\n2, 0.5 ,"7"\n1.0,1,8\n')
    X, y = load_file(path, label="kind")
    assert X.tolist() == [[0.5, 7], [1, 8]] and y.tolist() == [2, 1]


def test_missing_directory_and_unknown_extension(tmp_path: Path) -> None:
    fails(tmp_path / "nope.csv", "no such file")
    fails(tmp_path, "not a file, expected a .npz or .csv file")
    fails(write(tmp_path, "d.txt", "a,y\n1,0\n"), "unknown extension '.txt', expected .npz or .csv")


def test_unreadable_npz_and_csv(tmp_path: Path) -> None:
    fails(
        write(tmp_path, "d.npz", "not a zip"),
        r"not a \.npz archive \(np\.savez writes a zip of \.npy arrays\)",
    )
    cut = savez(tmp_path, "cut.npz", X=np.zeros((2, 2)), y=np.zeros(2, int))
    cut.write_bytes(cut.read_bytes()[:100])
    fails(cut, r"not a readable \.npz archive \(File is not a zip file\)")
    flipped = tmp_path / "flipped.npz"
    np.savez_compressed(flipped, X=np.random.default_rng(0).random((200, 20)), y=np.zeros(200))
    data = bytearray(flipped.read_bytes())
    data[200:3000] = bytes(b ^ 0x55 for b in data[200:3000])
    flipped.write_bytes(bytes(data))
    fails(flipped, r"array 'X' is unreadable \(Error -3 while decompressing data: .+\)")
    np.save(tmp_path / "single.npy", np.zeros(3))
    single = (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    fails(single, r"holds a single \.npy array, expected a \.npz with arrays X and y")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"a,y\n\xe9,0\n")
    fails(latin, r"not UTF-8 text \(byte 4: invalid continuation byte\)")


def test_csv_empty_header_only_and_ragged(tmp_path: Path) -> None:
    fails(write(tmp_path, "empty.csv", "\n\n"), "empty file, expected a header row and data rows")
    fails(write(tmp_path, "head.csv", "a,y\n"), r"no data rows after the header \(line 1\)")
    fails(write(tmp_path, "rag.csv", "a,b,y\n1,2,0\n3,1\n"), "line 3 has 2 columns, header has 3")


def test_csv_header_problems(tmp_path: Path) -> None:
    fails(
        write(tmp_path, "nohead.csv", "1,2,0\n3,4,1\n"),
        r"line 1 looks like data \['1', '2', '0'\], expected a header row of names",
    )
    fails(write(tmp_path, "dup.csv", "a,a,y\n1,2,0\n"), r"the header repeats column names \['a'\]")
    fails(
        write(tmp_path, "one.csv", "y\n1\n"),
        r"needs feature columns and a label column, header has only \['y'\]",
    )
    path = write(tmp_path, "d.csv", "a,b,y\n1,2,0\n")
    fails(path, "no column named 'target'; columns: a, b, y", label="target")


def test_csv_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    fails(
        write(tmp_path, "d.csv", "a,b,y\n1,2,0\n3,abc,1\n"),
        "line 3, column 'b': expected a number, got 'abc'",
    )
    fails(
        write(tmp_path, "e.csv", "a,b,y\n1,,0\n"), "line 2, column 'b': expected a number, got ''"
    )
    fails(
        write(tmp_path, "s.csv", "a,y\n1,cat\n"), "line 2, column 'y': expected a number, got 'cat'"
    )


def test_non_finite_features_name_the_first_bad_cell(tmp_path: Path) -> None:
    fails(
        write(tmp_path, "d.csv", "a,b,y\n1,2,0\n\n4,nan,1\n5,inf,1\n"),
        "line 4, column 'b': features must be finite, got nan",
    )
    X = np.array([[0.0, 1.0], [2.0, 3.0], [np.inf, np.nan]])
    fails(savez(tmp_path, X=X, y=np.zeros(3, int)), r"X\[2, 0\]: features must be finite, got inf")


def test_labels_must_be_non_negative_integers(tmp_path: Path) -> None:
    fails(
        write(tmp_path, "d.csv", "a,y\n1,0\n2,1.5\n"),
        "line 3, column 'y': labels must be integers >= 0, got 1.5",
    )
    fails(
        write(tmp_path, "n.csv", "a,y\n1,-2\n"),
        "line 2, column 'y': labels must be integers >= 0, got -2.0",
    )
    fails(
        savez(tmp_path, X=np.zeros((3, 2)), y=np.array([0, 1, -1])),
        r"y\[2\]: labels must be integers >= 0, got -1",
    )
    fails(
        savez(tmp_path, "f.npz", X=np.zeros((2, 2)), y=np.array([0.0, np.nan])),
        r"y\[1\]: labels must be integers >= 0, got nan",
    )


def test_npz_shape_and_dtype_problems(tmp_path: Path) -> None:
    fails(
        savez(tmp_path, "a.npz", X=np.zeros(4), y=np.zeros(4, int)),
        r"X must be 2-D \(N, D\), got shape \(4,\)",
    )
    fails(
        savez(tmp_path, "b.npz", X=np.zeros((4, 2)), y=np.zeros((4, 1), int)),
        r"y must be 1-D \(N,\), got shape \(4, 1\)",
    )
    fails(
        savez(tmp_path, "c.npz", X=np.zeros((4, 2)), y=np.zeros(3, int)),
        "X has 4 rows but y has 3 labels",
    )
    fails(
        savez(tmp_path, "d.npz", X=np.zeros((0, 2)), y=np.zeros(0, int)),
        r"no samples or no features, X has shape \(0, 2\)",
    )
    fails(
        savez(tmp_path, "e.npz", X=np.array([["a"]]), y=np.zeros(1, int)),
        "X must be numeric, got dtype <U1",
    )


def test_npz_missing_keys_and_object_arrays(tmp_path: Path) -> None:
    fails(
        savez(tmp_path, X=np.zeros((2, 2)), labels=np.zeros(2)),
        r"missing array \['y'\]; found \['X', 'labels'\]",
    )
    objects = np.array([[1, "a"], [2, None]], dtype=object)
    fails(
        savez(tmp_path, "o.npz", X=objects, y=np.zeros(2, int)),
        r"array 'X' holds Python objects \(dtype object\)",
    )


def test_label_argument_is_for_csv_only(tmp_path: Path) -> None:
    path = savez(tmp_path, X=np.zeros((2, 2)), y=np.zeros(2, int))
    fails(path, "label='y' applies to .csv files; a .npz holds arrays X and y", label="y")
    with pytest.raises(TypeError, match="label must be a column name"):
        load_file(path, 3)  # type: ignore[arg-type]
