"""Checkpoints: one .npz of plain numeric arrays, written atomically, loaded without running code.

A checkpoint stores a *state tree* (nested dicts and lists whose leaves are NumPy arrays or JSON
scalars) and the resolved config. Arrays go into the archive under their slash-joined path
(`params/affine0.W`, `optimizer/velocity`); everything else (numbers, flags, the Generator's
state integers, the metrics so far) goes into one JSON metadata string, itself stored as a
uint8 array named `__meta__`. The metadata also carries the format version, the library
version and a sha256 checksum of every array and of the rest of the metadata, so a torn or
edited file is refused. Loading uses `np.load(allow_pickle=False)` only and accepts numeric
arrays only (bool, int, uint, float): nothing in a checkpoint can execute code.
"""

import contextlib
import functools
import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np

FORMAT_VERSION = 1
META_KEY = "__meta__"
TEMP_SUFFIX = ".tmp"
_NUMERIC_KINDS = "biuf"  # bool, signed int, unsigned int, float
MAX_DEPTH = 64  # nesting of the metadata: a config and a state nest under 10 levels
_TOO_DEEP = f"corrupted metadata (nested deeper than {MAX_DEPTH} levels)"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, corrupted, unsafe, or for another model."""


@dataclass
class Checkpoint:
    """What `load_checkpoint` returns: the state tree, the resolved config, and the metadata."""

    path: Path
    state: dict[str, Any]
    config: dict[str, Any]
    format: int
    library: str


@functools.cache
def library_version() -> str:
    try:
        return f"gategraph {metadata.version('gategraph')}"
    except metadata.PackageNotFoundError:
        return "gategraph (not installed)"


# ---- writing --------------------------------------------------------------------------------


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], *, fsync: bool = True) -> None:
    """Write `path` through a temporary file in the same folder, then `os.replace` it.

    A crash at any moment leaves the old file or the new one, never a torn one. With `fsync`
    the data and the folder entry reach the disk before this returns (power loss too).
    A temporary file left by an earlier crash is overwritten here and removed on failure.
    """
    path = Path(path)
    temp = temp_path(path)
    try:
        with open(temp, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    if fsync:
        fsync_folder(path.parent)


def temp_path(path: Path) -> Path:
    """The temporary file `atomic_write` uses for `path`: hidden, in the same folder."""
    return path.with_name(f".{path.name}{TEMP_SUFFIX}")


def clean_temp_files(folder: Path) -> list[Path]:
    """Remove temporary files a crash left in `folder`; returns what was removed."""
    removed = []
    for temp in sorted(Path(folder).glob(f".*{TEMP_SUFFIX}")):
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
            removed.append(temp)
    return removed


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    path: Path,
    state: Mapping[str, Any],
    *,
    config: Mapping[str, Any],
    copies: Sequence[Path] = (),
) -> None:
    """Save the state tree `state` and the resolved `config` to `path` (.npz), atomically;
    each of `copies` becomes the same file (a hard link when the file system has them)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(dict(state), "", arrays)
    meta = {"format": FORMAT_VERSION, "library": library_version(), "config": config}
    meta["state"] = tree
    meta["checksum"] = _checksum(arrays, meta)
    text = json.dumps(meta, separators=(",", ":"))  # key order kept: history rows read back alike
    arrays[META_KEY] = np.frombuffer(text.encode(), np.uint8)
    atomic_write(Path(path), lambda f: np.savez(f, **arrays))
    for copy in copies:
        _link_atomic(Path(path), Path(copy))
    if copies:
        fsync_folder(Path(path).parent)


def _link_atomic(source: Path, target: Path) -> None:
    """Make `target` a hard link to `source`, atomically (no data to write or fsync again).
    Files are only ever replaced, never written in place, so the link never sees a change."""
    temp = temp_path(target)
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    try:
        os.link(source, temp)
    except OSError:  # no hard links on this file system: copy the bytes
        atomic_write(target, lambda f: f.write(source.read_bytes()))
        return
    os.replace(temp, target)


def _encode(tree: Any, where: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-able copy of `tree` with each array moved to `arrays` and replaced by a reference."""
    if isinstance(tree, np.ndarray):
        if tree.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"checkpoint array {where!r} must be numeric, got dtype {tree.dtype}")
        arrays[where] = tree
        return {"__array__": where}
    if isinstance(tree, Mapping):
        for key in tree:
            if not isinstance(key, str) or "/" in key:
                raise TypeError(f"checkpoint key {key!r} at {where!r} must be a str without '/'")
        return {k: _encode(v, f"{where}/{k}".lstrip("/"), arrays) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_encode(v, f"{where}/{i}", arrays) for i, v in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, bool | int | float | str):
        return tree
    raise TypeError(
        f"checkpoint value at {where!r} must be an array or a JSON scalar, got {tree!r}"
    )


def _dumps(meta: Mapping[str, Any]) -> str:
    """The canonical text the checksum covers (sorted keys)."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def _checksum(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> str:
    """sha256 over each array's name, dtype, shape and bytes, and the metadata without it."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.data)
    digest.update(_dumps({k: v for k, v in meta.items() if k != "checksum"}).encode())
    return digest.hexdigest()


# ---- reading --------------------------------------------------------------------------------


def load_checkpoint(path: Path) -> Checkpoint:
    """Read and verify a checkpoint. Raises CheckpointError naming the file and the problem."""
    path = Path(path)
    arrays = _read_arrays(path)
    meta = _read_meta(path, arrays)
    if meta["checksum"] != _checksum(arrays, meta):
        raise CheckpointError(f"{path}: checksum mismatch: the file was modified or corrupted")
    try:
        state = _decode(meta["state"], arrays)
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: malformed state: {e}") from None
    return Checkpoint(path, state, meta["config"], meta["format"], meta["library"])


def not_a_file(path: Path) -> str | None:
    """Why `path` is no file to read (a FIFO would block the reader), or None when it is a
    regular file or a symbolic link to one: "no such file", "a FIFO (named pipe) ...", ..."""
    path = Path(path)
    if path.is_file():
        return None
    if path.is_symlink():
        where = "is missing" if not path.exists() else f"is {not_a_file(path.resolve())}"
        return f"a symbolic link to {os.readlink(path)}, which {where}"
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "a folder, not a file"
    if path.is_fifo():
        return "a FIFO (named pipe), not a regular file"
    return "not a regular file (a socket or a device)"


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if (why := not_a_file(path)) is not None:
        raise CheckpointError(
            f"{path}: {why}" if why != "no such file" else f"{path}: no such checkpoint file"
        )
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not a checkpoint (a single .npy array, not an .npz)")
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except CheckpointError:
        raise
    except PermissionError:
        raise CheckpointError(f"{path}: cannot read the file (permission denied)") from None
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CheckpointError(
                f"{path}: refused: it holds pickled (object) data, and loading never runs code"
            ) from None
        raise CheckpointError(f"{path}: truncated or corrupted ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: truncated or corrupted ({e or type(e).__name__})") from None
    for name, array in arrays.items():
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise CheckpointError(
                f"{path}: refused: array {name!r} has dtype {array.dtype}; "
                "a checkpoint holds numeric arrays only"
            )
    return arrays


def _read_meta(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.pop(META_KEY, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: not a gategraph checkpoint (no {META_KEY} metadata)")
    try:
        meta = json.loads(raw.tobytes().decode())
    except RecursionError:
        raise CheckpointError(f"{path}: {_TOO_DEEP}") from None
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"{path}: corrupted metadata (not valid JSON)") from None
    if not isinstance(meta, dict) or not {"format", "checksum", "state", "config"} <= meta.keys():
        raise CheckpointError(f"{path}: corrupted metadata (missing fields)")
    if _deeper_than(meta, MAX_DEPTH):
        raise CheckpointError(f"{path}: {_TOO_DEEP}")
    if not (isinstance(meta["state"], dict) and isinstance(meta["config"], dict)):
        raise CheckpointError(f"{path}: corrupted metadata (state and config must be mappings)")
    if meta["format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {meta['format']!r} written by {meta.get('library')}; "
            f"this gategraph reads format {FORMAT_VERSION}"
        )
    meta.setdefault("library", "unknown")
    return meta


def _deeper_than(tree: Any, limit: int) -> bool:
    """Whether nested dicts and lists in `tree` go deeper than `limit` (without recursion:
    the code that walks the metadata later recurses)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return False


def _decode(tree: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(tree, dict):
        if tree.keys() == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _decode(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_decode(v, arrays) for v in tree]
    return tree


# ---- matching a model -----------------------------------------------------------------------


def check_arrays(
    saved: Mapping[str, Any], expected: Mapping[str, np.ndarray], *, source: str
) -> None:
    """Raise CheckpointError listing every name, shape or dtype of `saved` that differs from
    `expected` (a model's params and buffers by dotted name)."""
    problems = [f"missing {name} {a.shape}" for name, a in expected.items() if name not in saved]
    problems += [
        f"unexpected {name} {np.shape(a)}" for name, a in saved.items() if name not in expected
    ]
    for name, want in expected.items():
        got = saved.get(name)
        if got is None:
            continue
        if not isinstance(got, np.ndarray) or got.shape != want.shape:
            problems.append(f"{name} is {np.shape(got)} in the checkpoint, {want.shape} here")
        elif got.dtype != want.dtype:
            problems.append(f"{name} is {got.dtype} in the checkpoint, {want.dtype} here")
    if problems:
        raise CheckpointError(
            f"{source}: the checkpoint does not match this model: {'; '.join(problems)}"
        )


def load_arrays(
    saved: Mapping[str, Any], targets: Mapping[str, np.ndarray], *, source: str
) -> None:
    """Copy saved arrays into `targets` in place (params are views of one buffer), after
    `check_arrays`."""
    check_arrays(saved, targets, source=source)
    for name, target in targets.items():
        target[...] = saved[name]
