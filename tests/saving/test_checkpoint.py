"""Checkpoints: exact round trip, atomic writes, and every file that loading must refuse."""

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gategraph.saving.checkpoint import (
    META_KEY,
    CheckpointError,
    atomic_write,
    check_arrays,
    clean_temp_files,
    load_arrays,
    load_checkpoint,
    save_checkpoint,
    temp_path,
)

CONFIG = {"seed": 0, "optim": {"type": "sgd", "lr": 0.1}}


def _state() -> dict:
    rng = np.random.default_rng(7)
    rng.standard_normal(3)  # move the state off its seed
    return {
        "params": {
            "affine0.W": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
            "affine0.b": np.array([1e-30, -0.0, 3.5], np.float32),
        },
        "optimizer": {"lr": 0.1, "steps": 12, "velocity": np.linspace(-1, 1, 9)},
        "schedule": None,
        "rng": rng.bit_generator.state,
        "progress": {"epoch": 3, "perm": np.array([2, 0, 1]), "best": float("inf"), "ok": True},
        "history": [{"epoch": 1, "val_loss": None, "train_loss": 0.1 + 0.2}],
        "mask": np.array([True, False]),
        "counts": np.array([2**40, 3], np.uint64),
    }


def _assert_same(a: object, b: object) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert isinstance(b, list) and len(a) == len(b)
        for x, z in zip(a, b, strict=True):
            _assert_same(x, z)
    else:
        assert type(a) is type(b) and a == b


def _save(tmp_path: Path, state: dict | None = None) -> Path:
    path = tmp_path / "last.npz"
    save_checkpoint(path, state or _state(), config=CONFIG)
    return path


def _rewrite(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_round_trip_is_exact(tmp_path: Path) -> None:
    state = _state()
    loaded = load_checkpoint(_save(tmp_path, state))
    _assert_same(state, loaded.state)
    assert loaded.config == CONFIG and loaded.format == 1
    assert loaded.library.startswith("gategraph")
    assert loaded.state["history"][0]["train_loss"] == 0.30000000000000004  # float repr exact


def test_generator_state_restores_the_same_stream(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rng.integers(0, 10, 5)
    save_checkpoint(tmp_path / "c.npz", {"rng": rng.bit_generator.state}, config={})
    expected = rng.standard_normal(4)
    other = np.random.default_rng(99)
    other.bit_generator.state = load_checkpoint(tmp_path / "c.npz").state["rng"]
    assert np.array_equal(other.standard_normal(4), expected)


def test_file_holds_numeric_arrays_and_a_json_meta_string(tmp_path: Path) -> None:
    arrays = _arrays(_save(tmp_path))
    assert all(a.dtype.kind in "biuf" for a in arrays.values())
    assert set(arrays) == {
        META_KEY,
        "params/affine0.W",
        "params/affine0.b",
        "optimizer/velocity",
        "progress/perm",
        "mask",
        "counts",
    }
    meta = json.loads(arrays[META_KEY].tobytes())
    assert meta["format"] == 1 and len(meta["checksum"]) == 64
    assert meta["state"]["optimizer"]["steps"] == 12
    assert meta["state"]["params"]["affine0.W"] == {"__array__": "params/affine0.W"}


def test_saving_an_object_array_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="'bad' must be numeric, got dtype object"):
        save_checkpoint(tmp_path / "c.npz", {"bad": np.array([None])}, config={})
    assert not (tmp_path / "c.npz").exists()


def test_a_pickled_object_array_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    evil = np.array([_Exploit(str(marker))], dtype=object)
    np.savez(path, **{META_KEY: np.zeros(1, np.uint8), "params/x": evil})
    with pytest.raises(CheckpointError, match="refused: it holds pickled .object. data"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_plain_pickle_file_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(path)
    assert not marker.exists()


class _Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("keep", [0, 10, 200, -50])
def test_a_truncated_file_is_refused(tmp_path: Path, keep: int) -> None:
    path = _save(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(CheckpointError, match=r"last\.npz: (truncated or corrupted|not a)"):
        load_checkpoint(path)


def test_a_flipped_byte_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path)
    data = bytearray(path.read_bytes())
    offset = data.index(np.float32(3.5).tobytes())  # inside params/affine0.b
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupted|checksum mismatch"):
        load_checkpoint(path)


def test_an_edited_array_fails_the_checksum(tmp_path: Path) -> None:
    path = _save(tmp_path)
    arrays = _arrays(path)
    arrays["params/affine0.W"] = arrays["params/affine0.W"] + 1
    _rewrite(path, arrays)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)


def test_edited_metadata_fails_the_checksum(tmp_path: Path) -> None:
    path = _save(tmp_path)
    arrays = _arrays(path)
    meta = json.loads(arrays[META_KEY].tobytes())
    meta["config"]["optim"]["lr"] = 10.0
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    _rewrite(path, arrays)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"params/x": np.ones(2)}, "not a gategraph checkpoint"),
        ({META_KEY: np.frombuffer(b"{not json", np.uint8)}, "corrupted metadata .not valid JSON"),
        ({META_KEY: np.frombuffer(b"[1, 2]", np.uint8)}, "corrupted metadata .missing fields"),
        ({META_KEY: np.zeros(3, np.uint8), "s": np.array(["text"])}, "array 's' has dtype <U4"),
    ],
)
def test_archives_that_are_not_checkpoints_are_refused(
    tmp_path: Path, arrays: dict, message: str
) -> None:
    path = tmp_path / "c.npz"
    _rewrite(path, arrays)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_newer_format_is_refused_naming_both_versions(tmp_path: Path) -> None:
    meta = {"format": 2, "library": "gategraph 9.0", "checksum": "", "state": {}, "config": {}}
    _rewrite(tmp_path / "c.npz", {META_KEY: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    with pytest.raises(CheckpointError, match="format 2 written by gategraph 9.0; .* format 1"):
        load_checkpoint(tmp_path / "c.npz")


def test_missing_file_and_bare_npy_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.npz: no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.npz")
    np.save(tmp_path / "a.npy", np.ones(3))
    with pytest.raises(CheckpointError, match="a single .npy array"):
        load_checkpoint(tmp_path / "a.npy")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path)
    path.chmod(0)
    with pytest.raises(CheckpointError, match="permission denied"):
        load_checkpoint(path)


# ---- atomic writes --------------------------------------------------------------------------


def test_a_crash_at_replace_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch) -> None:
    path = _save(tmp_path)
    before = path.read_bytes()
    newer = _state()
    newer["progress"]["epoch"] = 4

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, newer, config=CONFIG)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path).state["progress"]["epoch"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]


def test_a_crash_while_writing_leaves_no_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def write_half(f) -> None:
        f.write(b"new, half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, write_half)
    assert path.read_bytes() == b"old" and not temp_path(path).exists()


def test_a_leftover_temp_file_is_ignored_then_cleaned(tmp_path: Path) -> None:
    path = _save(tmp_path)
    temp = temp_path(path)
    temp.write_bytes(b"torn half of a checkpoint")  # what a SIGKILL mid-write leaves
    assert load_checkpoint(path).state["progress"]["epoch"] == 3
    save_checkpoint(path, _state(), config=CONFIG)
    assert not temp.exists()
    temp.write_bytes(b"again")
    assert clean_temp_files(tmp_path) == [temp] and not temp.exists()


def test_data_and_folder_are_fsynced(tmp_path: Path, monkeypatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    _save(tmp_path)
    assert len(synced) == 2  # the temporary file, then the folder after os.replace
    assert zipfile.is_zipfile(tmp_path / "last.npz")


# ---- matching a model -----------------------------------------------------------------------


def _expected() -> dict[str, np.ndarray]:
    return {
        "affine0.W": np.zeros((2, 3), np.float32),
        "affine0.b": np.zeros(3, np.float32),
        "affine1.W": np.zeros((3, 4), np.float32),
    }


def test_check_arrays_lists_every_difference() -> None:
    saved = {
        "affine0.W": np.zeros((2, 3), np.float32),
        "affine0.b": np.zeros(3, np.float64),
        "affine9.W": np.zeros((5, 5), np.float32),
    }
    with pytest.raises(CheckpointError) as err:
        check_arrays(saved, _expected(), source="runs/x/checkpoints/last.npz")
    assert str(err.value) == (
        "runs/x/checkpoints/last.npz: the checkpoint does not match this model: "
        "missing affine1.W (3, 4); unexpected affine9.W (5, 5); "
        "affine0.b is float64 in the checkpoint, float32 here"
    )


def test_check_arrays_shows_shape_differences() -> None:
    saved = {name: a.copy() for name, a in _expected().items()}
    saved["affine1.W"] = np.zeros((3, 10), np.float32)
    with pytest.raises(
        CheckpointError, match=r"affine1.W is \(3, 10\) in the checkpoint, \(3, 4\)"
    ):
        check_arrays(saved, _expected(), source="c.npz")


def test_load_arrays_copies_in_place() -> None:
    targets = _expected()
    views = dict(targets)
    saved = {name: np.full(a.shape, 2.5, np.float32) for name, a in targets.items()}
    load_arrays(saved, targets, source="c.npz")
    for name, array in targets.items():
        assert array is views[name] and np.all(array == 2.5)
