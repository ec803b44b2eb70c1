"""Datasets: seeded toy generators, the digits, user files; splits, standardizing, minibatches."""

from gategraph.data.batches import batch_slices, epoch_order, minibatches, n_batches
from gategraph.data.digits import digits
from gategraph.data.files import MAX_CLASSES, DataError, class_ids, load_file
from gategraph.data.registry import DATASETS, REQUIRED, dataset_options, load_dataset
from gategraph.data.splits import Splits, Standardizer, split
from gategraph.data.toy import blobs, circles, moons, spiral, xor

__all__ = [
    "MAX_CLASSES",
    "DATASETS",
    "REQUIRED",
    "DataError",
    "Splits",
    "Standardizer",
    "batch_slices",
    "blobs",
    "circles",
    "class_ids",
    "dataset_options",
    "digits",
    "epoch_order",
    "load_dataset",
    "load_file",
    "minibatches",
    "moons",
    "n_batches",
    "split",
    "spiral",
    "xor",
]
