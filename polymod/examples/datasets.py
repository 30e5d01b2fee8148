"""Small data sets shipped with polymod (no download)."""

from __future__ import annotations

import os

import numpy as np

_DATA = os.path.join(os.path.dirname(__file__), "data")


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The 8x8 handwritten digits of scikit-learn (UCI ML, 1,797 images), split in two.

    Pixels are scaled to [0, 1] and flattened to 64 float32 features; labels are
    int64 in 0..9. The split is a fixed permutation drawn from ``seed``.

    Returns:
        ``(X_train, y_train, X_test, y_test)``

    Example:
        >>> from polymod.examples.datasets import load_digits
        >>> X_train, y_train, X_test, y_test = load_digits()
        >>> X_train.shape, X_test.shape
        ((1438, 64), (359, 64))
    """
    with np.load(os.path.join(_DATA, "digits.npz")) as data:
        images = data["images"].astype(np.float32) / 16.0
        labels = data["labels"].astype(np.int64)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]
