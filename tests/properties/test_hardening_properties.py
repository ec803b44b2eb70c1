"""Property tests for the classes of hostile input in issue 14: whatever the labels, the YAML
nesting, the size of the numbers or a checkpoint's state, the answer is the right value or one
line naming what is wrong (DataError, ConfigError, CheckpointError), never another exception,
a warning, a wrapped number or a silent fix."""

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gategraph.data import MAX_CLASSES, DataError, Standardizer, load_file
from gategraph.experiments.config import MAX_DEPTH, ConfigError, parse_yaml
from gategraph.experiments.resume import check_state
from gategraph.saving import checkpoint
from gategraph.saving.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the files every example writes (and overwrites)."""
    return tmp_path_factory.mktemp("files")


# ---- labels ----------------------------------------------------------------------------------

LABEL_DTYPES = [np.int8, np.int64, np.uint16, np.uint64, np.float32, np.float64, np.bool_]
BIG = [MAX_CLASSES - 1, MAX_CLASSES, 2**31, 2**53, 2**63 - 1, 2**63, 2**64 - 1, 1.7e9, 1e20]


@st.composite
def labels(draw: st.DrawFn) -> np.ndarray:
    """A label column of any dtype: small ids, huge ids, negatives, fractions, NaN, inf."""
    dtype = np.dtype(draw(st.sampled_from(LABEL_DTYPES)))
    values = st.one_of(
        st.integers(0, 5),
        st.sampled_from(BIG),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
    )
    raw = draw(st.lists(values, min_size=1, max_size=6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-range casts are part of the draw
        try:
            return np.array(raw).astype(dtype)
        except (OverflowError, ValueError):
            return np.array([v for v in raw if isinstance(v, int) and 0 <= v < 6] or [0], dtype)


def exact_ids(y: np.ndarray) -> list[int] | None:
    """The labels as Python ints when every one is an exact integer id in range, else None."""
    out = []
    for value in y.tolist():
        if isinstance(value, float) and not (np.isfinite(value) and value == int(value)):
            return None
        if not 0 <= int(value) < MAX_CLASSES:
            return None
        out.append(int(value))
    return out


@given(y=labels())
def test_labels_are_exact_ids_in_range_or_one_line_naming_one(folder: Path, y: np.ndarray) -> None:
    path = folder / "d.npz"
    np.savez(path, X=np.zeros((len(y), 2)), y=y)
    want = exact_ids(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if want is None:
            with pytest.raises(DataError, match=r"^\S*d\.npz: y\[\d+\]: label") as caught:
                load_file(path)
            assert "\n" not in str(caught.value)
        else:
            got = load_file(path)[1]
            assert got.dtype == np.int64 and got.tolist() == want


@given(y=st.lists(st.sampled_from(BIG + [0, 1, 2, -1, 0.5, 1e300]), min_size=1, max_size=5))
def test_csv_labels_read_as_written_or_refused(folder: Path, y: list) -> None:
    path = folder / "d.csv"
    path.write_text("x,label\n" + "".join(f"0,{v!r}\n" for v in y))
    want = exact_ids(np.array(y, dtype=object))
    if want is None:
        with pytest.raises(DataError, match=r"^\S*d\.csv: line \d+, column 'label': label"):
            load_file(path)
    else:
        assert load_file(path)[1].tolist() == want


# ---- YAML nesting ----------------------------------------------------------------------------


@given(depth=st.integers(0, 400), flow=st.sampled_from(["[", "{a: "]))
@settings(max_examples=40)
def test_nested_yaml_parses_or_is_refused_in_one_line(depth: int, flow: str) -> None:
    close = "]" if flow == "[" else "}"
    text = "seed: " + flow * depth + "1" + close * depth
    if depth < MAX_DEPTH:
        value = parse_yaml(text, "c.yaml")[0]["seed"]
        for _ in range(depth):
            value = value[0] if flow == "[" else value["a"]
        assert value == 1
    else:
        with pytest.raises(
            ConfigError,
            match=rf"^c\.yaml(:\d+)?: the YAML is nested deeper than {MAX_DEPTH} levels$",
        ):
            parse_yaml(text, "c.yaml")


# ---- numbers near the end of float64 ---------------------------------------------------------


@given(
    scale=st.sampled_from([1.0, 1e100, 1e150, 1e154, 1e155, 1e200, 1e300, 1e307]),
    X=st.lists(st.floats(-1, 1), min_size=4, max_size=8).map(lambda v: np.array(v).reshape(-1, 1)),
)
def test_standardizing_is_right_or_says_the_data_overflow(scale: float, X: np.ndarray) -> None:
    X = np.hstack([X * scale, X])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak
        try:
            standardizer = Standardizer().fit(X)
        except ValueError as err:
            assert str(err).startswith("Standardizer.fit: feature 0 overflows float64")
            with np.errstate(over="ignore", invalid="ignore"):
                assert not np.isfinite(np.std(X[:, 0]))  # refused only when it does overflow
            return
        Z = standardizer.transform(X)
    assert np.all(np.isfinite(Z))
    varies = np.ptp(X, axis=0) > 0
    np.testing.assert_allclose(Z.std(axis=0)[varies], 1.0, rtol=1e-6)


# ---- checkpoint states -----------------------------------------------------------------------

GOOD_PROGRESS = {
    "epoch": 1, "step": 1, "global_step": 3, "perm": np.array([2, 0, 1]), "loss_sum": 0.5,
    "correct": 1, "seen": 2, "seconds": 0.1, "best": 0.4, "best_epoch": 1, "bad_epochs": 0,
    "stopped": False,
}  # fmt: skip
ODD_VALUES = [
    None, True, -1, 0, 2, 10**400, 1.5, float("nan"), "1", [], [1], {}, {"a": 1},
    np.array([0, 1, 2]), np.array([0, 1, 5]), np.array([0.0, 1.0, 2.0]), np.arange(4),
]  # fmt: skip


@given(key=st.sampled_from(sorted(GOOD_PROGRESS)), value=st.sampled_from(ODD_VALUES))
def test_a_state_is_accepted_only_as_a_trainer_saves_it(key: str, value: Any) -> None:
    progress = {**GOOD_PROGRESS, key: value}
    state = {"progress": progress, "history": [{"epoch": 1, "train_loss": 0.5}]}
    try:
        check_state(state, 3, source="c.npz")
    except CheckpointError as err:
        assert str(err).startswith("c.npz: ") and "\n" not in str(err)
        return
    perm = progress["perm"]  # accepted: then it is what a trainer could have saved
    assert perm is None or sorted(perm.tolist()) == [0, 1, 2]
    assert all(isinstance(v, bool) == (k == "stopped") for k, v in progress.items() if k != "perm")
    assert progress["best_epoch"] <= progress["epoch"] == 1


@given(depth=st.integers(0, 2000))
@settings(max_examples=25)
def test_nested_checkpoint_metadata_loads_or_is_refused(folder: Path, depth: int) -> None:
    tree: Any = 1
    for _ in range(depth):
        tree = [tree]
    path = folder / "c.npz"
    try:
        save_checkpoint(path, {"x": tree}, config={})
    except RecursionError:  # too deep even to write: build the file by hand instead
        return
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as err:  # the leaf sits at depth 2 + depth: meta, state, x
        assert str(err) == f"{path}: corrupted metadata (nested deeper than 64 levels)"
        assert 2 + depth > checkpoint.MAX_DEPTH
        return
    assert 2 + depth <= checkpoint.MAX_DEPTH and loaded.state["x"] == tree
