"""Lagrangians against their closed forms (DESIGN.md §1), convexity and stability."""

from __future__ import annotations

import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg

from helpers import bad_inputs


def _np_softmax(z, axis):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


# (lagrangian, L in numpy, activation in numpy), written from the DESIGN.md table
CASES = [
    ("identity", hg.LIdentity(), lambda x: 0.5 * np.sum(x**2), lambda x: x),
    ("repu3", hg.LRepu(n=3), lambda x: np.sum(np.maximum(x, 0) ** 3) / 3, lambda x: np.maximum(x, 0) ** 2),
    ("relu", hg.LRelu(), lambda x: np.sum(np.maximum(x, 0) ** 2) / 2, lambda x: np.maximum(x, 0)),
    ("exp", hg.LExp(beta=0.7), lambda x: np.sum(np.exp(0.7 * x)) / 0.7, lambda x: np.exp(0.7 * x)),
    (
        "rexp",
        hg.LRexp(beta=1.5),
        lambda x: np.sum(np.exp(1.5 * np.maximum(x, 0)) / 1.5 - np.maximum(x, 0)),
        lambda x: (np.exp(1.5 * x) - 1) * (x > 0),
    ),
    ("tanh", hg.LTanh(beta=2.0), lambda x: np.sum(np.log(np.cosh(2.0 * x))) / 2.0, lambda x: np.tanh(2.0 * x)),
    (
        "sigmoid",
        hg.LSigmoid(beta=1.3, scale=2.0),
        lambda x: np.sum(2.0 * np.log1p(np.exp(1.3 * x)) / 1.3),
        lambda x: 2.0 / (1 + np.exp(-1.3 * x)),
    ),
    (
        "softmax_last",
        hg.LSoftmax(beta=1.7),
        lambda x: np.sum(_np_logsumexp(1.7 * x, -1)) / 1.7,
        lambda x: _np_softmax(1.7 * x, -1),
    ),
    (
        "softmax_axis0",
        hg.LSoftmax(beta=0.5, axis=0),
        lambda x: np.sum(_np_logsumexp(0.5 * x, 0)) / 0.5,
        lambda x: _np_softmax(0.5 * x, 0),
    ),
    (
        "layernorm",
        hg.LLayerNorm(gamma=1.5, delta=0.3),
        lambda x: np.sum(x.shape[-1] * 1.5 * np.sqrt(x.var(-1) + 1e-5)) + np.sum(0.3 * x),
        lambda x: 1.5 * (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) + 0.3,
    ),
    (
        "layernorm_axis0",
        hg.LLayerNorm(gamma=0.8, delta=-0.2, axis=0),
        lambda x: np.sum(x.shape[0] * 0.8 * np.sqrt(x.var(0) + 1e-5)) + np.sum(-0.2 * x),
        lambda x: 0.8 * (x - x.mean(0, keepdims=True)) / np.sqrt(x.var(0, keepdims=True) + 1e-5) - 0.2,
    ),
    (
        "spherical",
        hg.LSphericalNorm(gamma=2.0, delta=0.1),
        lambda x: np.sum(2.0 * np.sqrt((x**2).sum(-1) + 1e-5)) + np.sum(0.1 * x),
        lambda x: 2.0 * x / np.sqrt((x**2).sum(-1, keepdims=True) + 1e-5) + 0.1,
    ),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,lag,L_np,g_np", CASES, ids=IDS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)], ids=["rank1", "rank2", "rank3"])
def test_value_and_activation_match_closed_form(name, lag, L_np, g_np, shape, getkey):
    if name.endswith("axis0") and len(shape) == 1:
        shape = (6,)
    x = np.asarray(jax.random.normal(getkey(), shape), dtype=np.float64)
    L = float(lag(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(L, L_np(x), rtol=2e-5, atol=2e-5)
    g = np.asarray(lag.activation(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(g, g_np(x), rtol=2e-4, atol=2e-5)
    # the activation is the gradient of the Lagrangian
    g_auto = np.asarray(jax.grad(lag)(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(g, g_auto, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,lag,L_np,g_np", CASES, ids=IDS)
def test_convex_hessian_psd(name, lag, L_np, g_np, getkey):
    shape = (3, 4)
    flat = lambda v: lag(v.reshape(shape))
    for _ in range(3):
        x = 1.5 * jax.random.normal(getkey(), (12,))
        H = np.asarray(jax.hessian(flat)(x), dtype=np.float64)
        np.testing.assert_allclose(H, H.T, atol=1e-4)
        eig = np.linalg.eigvalsh(0.5 * (H + H.T))
        assert eig.min() >= -1e-4 * max(1.0, abs(eig).max()), (name, eig.min())


@pytest.mark.parametrize(
    "lag",
    [hg.LSoftmax(beta=1.0), hg.LTanh(beta=1.0), hg.LSigmoid(beta=1.0), hg.LRexp(beta=1.0)],
    ids=["softmax", "tanh", "sigmoid", "rexp"],
)
def test_stable_at_large_arguments(lag):
    x = jnp.array([1e3, -1e3, 0.0, 5e2])
    if isinstance(lag, hg.LRexp):
        x = jnp.array([-1e3, 0.0, 10.0, -5e2])
    val = lag(x)
    g = lag.activation(x)
    grad = jax.grad(lag)(x)
    assert np.isfinite(float(val))
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.isfinite(np.asarray(grad)))
    if isinstance(lag, hg.LTanh):
        # log cosh(z) = |z| - log 2 for large |z|
        np.testing.assert_allclose(float(val), 1e3 + 1e3 + 0.0 + 5e2 - 3 * np.log(2.0), rtol=1e-6)
    if isinstance(lag, hg.LSoftmax):
        np.testing.assert_allclose(float(val), 1e3, rtol=1e-6)


def test_beta_clipped_at_min_beta():
    # training may push beta anywhere; the Lagrangian uses max(beta, min_beta), and files record that
    lag = eqx.tree_at(lambda l: l.beta, hg.LTanh(beta=1.0, min_beta=0.25), jnp.asarray(-1.0))
    assert lag.config()["beta"] == 0.25
    with pytest.raises(hg.ValidationError, match="beta must be > 0"):
        hg.LTanh(beta=-1.0, min_beta=0.25)
    x = jnp.array([0.3, -2.0])
    np.testing.assert_allclose(np.asarray(lag.activation(x)), np.tanh(0.25 * np.array([0.3, -2.0])), rtol=1e-6)


def test_learnable_scalars_are_array_leaves():
    for lag, names in [
        (hg.LSoftmax(beta=2.0), ["beta"]),
        (hg.LSigmoid(beta=2.0, scale=3.0), ["beta", "scale"]),
        (hg.LLayerNorm(gamma=2.0, delta=1.0), ["gamma", "delta"]),
    ]:
        for n in names:
            assert isinstance(getattr(lag, n), jax.Array)
        leaves = jax.tree_util.tree_leaves(lag)
        assert len(leaves) == len(names)


def test_layernorm_vector_delta_rank2(getkey):
    delta = np.array([0.1, -0.2, 0.3])
    lag = hg.LLayerNorm(gamma=1.0, delta=delta)
    x = np.asarray(jax.random.normal(getkey(), (4, 3)), dtype=np.float64)
    want = np.sum(3 * np.sqrt(x.var(-1) + 1e-5)) + np.sum(delta * x)
    np.testing.assert_allclose(float(lag(jnp.asarray(x, jnp.float32))), want, rtol=1e-5)
    with pytest.raises(hg.ValidationError, match="delta has shape"):
        hg.LayerNormLayer((4, 5), delta=delta)


def test_bad_hyperparameters():
    with pytest.raises(hg.ValidationError, match="n must be"):
        hg.LRepu(n=0.5)
    with pytest.raises(hg.ValidationError, match="axis"):
        hg.SoftmaxLayer((3,), axis=1)
    with pytest.raises(hg.ValidationError, match="axis"):
        hg.LayerNormLayer((3, 4), axis=-3)
    with pytest.raises(hg.ValidationError, match="eps must be > 0"):
        hg.LSphericalNorm(eps=0.0)
    with pytest.raises(ValueError, match="beta must be a scalar"):
        hg.LExp(beta=jnp.ones(3))


def test_config_rebuilds_equivalent_lagrangian():
    for lag in [c[1] for c in CASES]:
        again = type(lag)(**lag.config())
        x = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
        np.testing.assert_allclose(np.asarray(again(x)), np.asarray(lag(x)), rtol=1e-6)


@pytest.mark.parametrize("name,lag,L_np,g_np", CASES, ids=IDS)
def test_activation_and_value_equals_separate_calls(name, lag, L_np, g_np, getkey):
    # the fused form (one exponential for softmax) against the closed forms, and its
    # gradients (in x and in the learnable scalars) against autodiff of the plain value
    x = np.asarray(2.0 * jax.random.normal(getkey(), (3, 6)), dtype=np.float64)
    g, L = lag.activation_and_value(jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(float(L), L_np(x), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(np.asarray(g), g_np(x), rtol=2e-4, atol=2e-5)
    xj = jnp.asarray(x, jnp.float32)
    via_pair = jax.grad(lambda m, v: m.activation_and_value(v)[1], argnums=(0, 1))(lag, xj)
    direct = jax.grad(lambda m, v: m(v), argnums=(0, 1))(lag, xj)
    for a, b in zip(jax.tree.leaves(via_pair), jax.tree.leaves(direct)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_softmax_activation_and_value_stable_and_exact_at_large_arguments():
    lag = hg.LSoftmax(beta=2.0)
    x = jnp.array([[1e3, -1e3, 0.0, 5e2], [-jnp.inf, 0.0, 1.0, 2.0]])
    g, L = lag.activation_and_value(x)
    assert np.all(np.isfinite(np.asarray(g))) and np.isfinite(float(L))
    row2 = np.log(np.exp(0.0) + np.exp(2.0) + np.exp(4.0)) / 2.0
    np.testing.assert_allclose(float(L), 1e3 + row2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g[0]), [1.0, 0.0, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(np.asarray(g[1]), _np_softmax(np.array([-np.inf, 0.0, 2.0, 4.0]), -1), rtol=1e-6)


# ---- bad inputs, generated from the signatures (tests/helpers/bad_inputs.py) ----


@pytest.mark.parametrize(
    "case", bad_inputs.constructor_cases("lagrangian") + bad_inputs.nonconvex_cases(), ids=lambda c: c.id
)
@pytest.mark.bad_arguments
def test_bad_lagrangian_arguments_raise_named_errors(case):
    bad_inputs.check(case)


def test_shape_annotations_are_jaxtyping_strings():
    # "..." must stay a string: the bare Ellipsis (what unquoting gave) breaks jaxtyping when evaluated
    from hamux_graph.lagrangians import entmax

    for fn in (hg.Lagrangian.activation, entmax.sparsemax, entmax.entmax, entmax.ghostmax, entmax.tsallis_entropy):
        hints = typing.get_type_hints(fn)
        assert hints["return"].dim_str == "..."
    assert typing.get_type_hints(hg.Lagrangian.__call__)["x"].dim_str == "..."
    assert typing.get_type_hints(hg.Synapse.energy)["return"].dim_str == ""
