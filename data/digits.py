"""The 8x8 handwritten digits (UCI optical recognition test set, 1797 samples), shipped offline."""

from pathlib import Path

import numpy as np

DIGITS_PATH = Path(__file__).with_name("digits.npz")


def digits() -> tuple[np.ndarray, np.ndarray]:
    """1797 8x8 images of the digits 0-9, flattened row by row. Each pixel counts the set pixels
    of a 4x4 block of a 32x32 bitmap, so values are integers 0..16 (not rescaled: standardize
    or divide by 16). X float64 (1797, 64), y int64 (1797,). Source and licence: data/DIGITS.md."""
    with np.load(DIGITS_PATH, allow_pickle=False) as archive:
        return archive["X"].astype(np.float64), archive["y"].astype(np.int64)
