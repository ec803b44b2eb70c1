"""The shipped digits: counts, values, contents checksum, location-independent loading."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from gategraph.data.digits import DIGITS_PATH, digits

CONTENT_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"  # DIGITS.md


def test_digits_shape_dtype_classes_and_range() -> None:
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert X.min() == 0 and X.max() == 16 and np.array_equal(X, np.round(X))


def test_digits_first_rows_match_the_source_csv() -> None:
    X, y = digits()
    assert X[0, :16].tolist() == [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]
    assert y[:10].tolist() == list(range(10))


def test_stored_arrays_match_the_documented_checksum() -> None:
    with np.load(DIGITS_PATH, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["X", "y"]
        X, y = archive["X"], archive["y"]
    assert X.dtype == np.uint8 and y.dtype == np.uint8
    assert hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest() == CONTENT_SHA256
    assert DIGITS_PATH.stat().st_size < 100_000


def test_digits_load_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    X, _ = digits()
    assert X.shape == (1797, 64)


def test_digits_md_names_source_and_licence() -> None:
    text = DIGITS_PATH.with_name("DIGITS.md").read_text()
    assert "CC BY 4.0" in text and "Alpaydin" in text and CONTENT_SHA256 in text
