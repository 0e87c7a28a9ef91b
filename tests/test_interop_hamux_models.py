"""hg.interop.from_hamux: hamux v0.2 models convert with equal energies and gradients.

The independent reference is hamux 0.2.2 itself: every model below is written with hamux's
own API, and its ``energy(activations(xs), xs)``, ``activations`` and ``dEdact`` are the
numbers the converted model must reproduce.
"""

from __future__ import annotations

import functools
import sys

import equinox as eqx
import hamux as hmx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg


L = hmx.lagrangians
P = functools.partial
TOL = dict(rtol=1e-5, atol=1e-5)


def _shape(neuron):
    return (neuron.shape,) if isinstance(neuron.shape, int) else tuple(neuron.shape)


def random_states(old, key, batch=None, scale=1.5):
    lead = () if batch is None else (batch,)
    return {
        k: scale * jax.random.normal(jax.random.fold_in(key, i), lead + _shape(n))
        for i, (k, n) in enumerate(old.neurons.items())
    }


def check_equal(old, xs):
    """Convert ``old`` and compare activations, energy and ∂E/∂g with hamux's on states ``xs``."""
    ham, model = hg.interop.from_hamux(old)
    with jax.default_matmul_precision("highest"):
        with jax.numpy_rank_promotion("allow"):  # hamux itself broadcasts implicitly (its layer norms)
            xhats = old.activations(xs)
            e_ref = old.energy(xhats, xs)
            grads_ref = old.dEdact(xhats, xs)
        e, grads, gs = model.energy(xs), model.dEdg(xs), model.activations(xs)
    assert set(grads) == set(grads_ref) == set(xs)
    np.testing.assert_allclose(e, e_ref, **TOL)
    for k in xs:
        np.testing.assert_allclose(gs[k], xhats[k], **TOL, err_msg=f"activation of {k}")
        np.testing.assert_allclose(grads[k], grads_ref[k], **TOL, err_msg=f"dE/dg of {k}")
    return ham, model


def normal(key, shape, scale=0.5):
    return scale * jax.random.normal(key, shape)


def test_dense_graph_with_biases(getkey):
    neurons = {
        "v": hmx.NeuronLayer(P(L.lagr_sigmoid, beta=1.5), (6,)),
        "h": hmx.NeuronLayer(P(L.lagr_repu, n=3), (8,)),
        "c": hmx.NeuronLayer(P(L.lagr_softmax, beta=2.0, axis=-1), (4,)),
    }
    synapses = {
        "Wvh": hmx.LinearSynapseWithBias(W=normal(getkey(), (6, 8)), b=normal(getkey(), (8,))),
        "Whc": hmx.LinearSynapseWithBias(W=normal(getkey(), (8, 4)), b=normal(getkey(), (4,))),
        "bv": hmx.BiasSynapse(b=normal(getkey(), (6,))),
    }
    connections = [(("v", "h"), "Wvh"), (("h", "c"), "Whc"), (("v",), "bv")]
    old = hmx.HAM(neurons, synapses, connections)
    ham, model = check_equal(old, random_states(old, getkey()))

    assert set(ham.layers) == {"v", "h", "c"}
    assert {k: type(s).__name__ for k, s in ham.synapses.items()} == {
        "Wvh": "SimpleDenseSynapse",
        "Wvh_bias": "DenseSynapse",
        "Whc": "SimpleDenseSynapse",
        "Whc_bias": "DenseSynapse",
        "bv": "DenseSynapse",
    }
    assert ham.connections("Wvh_bias") == ("h",) and ham.connections("bv") == ("v",)
    np.testing.assert_array_equal(model.synapse("Wvh").W, synapses["Wvh"].W)

    # batches: hamux's vectorized HAM is the reference; it converts too (unwrapped)
    xs = random_states(old, getkey(), batch=3)
    vec = old.vectorize()
    with jax.default_matmul_precision("highest"):
        e_ref = vec.energy(vec.activations(xs), xs)
    np.testing.assert_allclose(model.energy(xs), e_ref, **TOL)
    assert eqx.tree_equal(hg.interop.from_hamux(vec)[1], model)

    # the converted model runs, and its energy goes down
    _, energies = model.run(random_states(old, getkey()), steps=3, dt=0.1)
    assert energies.shape == (4,)
    assert bool(jnp.all(jnp.diff(energies) < 0))


def test_convolutional_graph(getkey):
    neurons = {
        "img": hmx.NeuronLayer(P(L.lagr_layernorm, gamma=1.5, delta=jnp.array([0.1, -0.2, 0.3])), (6, 6, 3)),
        "feat": hmx.NeuronLayer(L.lagr_relu, (3, 3, 4)),
        "top": hmx.NeuronLayer(P(L.lagr_tanh, beta=0.5), (2, 2, 5)),
    }
    synapses = {
        "conv1": hmx.ConvSynapse.from_conv_params(getkey(), 4, 3, (3, 3), (2, 2), "SAME", mu=0.0, sigma=0.3),
        "conv2": hmx.ConvSynapse.from_conv_params(getkey(), 5, 4, (2, 2), (1, 1), "VALID", mu=0.0, sigma=0.3),
    }
    old = hmx.HAM(neurons, synapses, [(("img", "feat"), "conv1"), (("feat", "top"), "conv2")])
    ham, model = check_equal(old, random_states(old, getkey()))
    assert model.synapse("conv1").kernel.shape == (3, 3, 3, 4)  # (kh, kw, C_in, C_out)
    # the layer norm's shift is added once per row (36 pixels) in hamux
    np.testing.assert_allclose(ham.layers["img"].lagrangian.delta, 36 * np.array([0.1, -0.2, 0.3]), rtol=1e-6)
    _, energies = model.run(random_states(old, getkey()), steps=3, dt=0.1)
    assert bool(jnp.all(jnp.diff(energies) < 0))


def test_one_synapse_shared_by_two_connections(getkey):
    neurons = {
        "a": hmx.NeuronLayer(L.lagr_identity, (5,)),
        "b": hmx.NeuronLayer(P(L.lagr_tanh, beta=2.0), (5,)),
        "h": hmx.NeuronLayer(P(L.lagr_softmax, beta=1.0), (7,)),
    }
    synapses = {
        "W": hmx.LinearSynapse(W=normal(getkey(), (5, 7))),
        "U": hmx.LinearSynapseWithBias(W=normal(getkey(), (5, 7)), b=normal(getkey(), (7,))),
    }
    connections = [(("a", "h"), "W"), (("b", "h"), "W"), (("a", "h"), "U"), (("b", "h"), "U")]
    old = hmx.HAM(neurons, synapses, connections)
    ham, model = check_equal(old, random_states(old, getkey()))
    # first use keeps the hamux key, later uses share its parameters
    assert {k: s is None for k, s in ham.synapses.items()} == {
        "W": False,
        "W_1": True,
        "U": False,
        "U_bias": False,
        "U_1": True,
        "U_1_bias": True,
    }
    assert ham.graph.nodes["W_1"]["shares"] == "W" and ham.graph.nodes["U_1_bias"]["shares"] == "U_bias"
    assert ham.connections("W_1") == ("b", "h")
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))
    assert n_params == 5 * 7 + 5 * 7 + 7 + 2  # W, U, U's bias, the betas of tanh and softmax
    _, energies = model.run(random_states(old, getkey()), steps=3, dt=0.1)
    assert bool(jnp.all(jnp.diff(energies) < 0))


LAGRANGIANS = [
    ("identity", L.lagr_identity, (5,)),
    ("repu_n3", P(L.lagr_repu, n=3), (5,)),
    ("repu_n1.5", P(L.lagr_repu, n=1.5), (5,)),
    ("relu", L.lagr_relu, (5,)),
    ("exp", L.lagr_exp, (5,)),
    ("exp_beta", P(L.lagr_exp, beta=0.5), (5,)),
    ("rexp", L.lagr_rexp, (5,)),
    ("rexp_beta", P(L.lagr_rexp, beta=2.0), (5,)),
    ("tanh", L.lagr_tanh, (5,)),
    ("tanh_beta", P(L.lagr_tanh, beta=3.0), (2, 3)),
    ("sigmoid", L.lagr_sigmoid, (5,)),
    ("sigmoid_beta", P(L.lagr_sigmoid, beta=0.7), (4, 2)),
    ("softmax", L.lagr_softmax, (5,)),
    ("softmax_beta_axis", P(L.lagr_softmax, beta=2.0, axis=-1), (5,)),
    ("softmax_axis_none", P(L.lagr_softmax, axis=None), (5,)),
    ("layernorm", L.lagr_layernorm, (5,)),
    ("layernorm_args", P(L.lagr_layernorm, gamma=2.0, delta=0.5, eps=1e-3), (5,)),
    ("layernorm_rows", P(L.lagr_layernorm, gamma=0.5, delta=jnp.array([0.1, 0.2, 0.3, 0.4])), (3, 4)),
    ("layernorm_axis0", P(L.lagr_layernorm, delta=jnp.array([[0.1], [0.2], [0.3]]), axis=0), (3, 4)),
    ("layernorm_full_delta", P(L.lagr_layernorm, delta=jnp.full((3, 4), 0.2)), (3, 4)),
    ("spherical", L.lagr_spherical_norm, (5,)),
    ("spherical_rows", P(L.lagr_spherical_norm, gamma=0.5, delta=jnp.arange(4.0), axis=-1), (2, 3, 4)),
    ("spherical_axis_none", P(L.lagr_spherical_norm, axis=None, delta=0.3), (5,)),
    ("ghostmax", L.lagr_ghostmax, (5,)),
    ("ghostmax_axis", P(L.lagr_ghostmax, axis=-1), (5,)),
]


@pytest.mark.parametrize("fn,shape", [(f, s) for _, f, s in LAGRANGIANS], ids=[i for i, _, _ in LAGRANGIANS])
def test_every_hamux_lagrangian(fn, shape, getkey):
    neurons = {"x": hmx.NeuronLayer(fn, shape)}
    synapses, connections = {}, []
    if len(shape) == 1:  # a bias makes dE/dg more than x
        synapses["b"] = hmx.BiasSynapse(b=normal(getkey(), shape))
        connections = [(("x",), "b")]
    check_equal(hmx.HAM(neurons, synapses, connections), {"x": 1.5 * jax.random.normal(getkey(), shape)})


def test_every_hamux_lagrangian_function_is_covered():
    tested = {(f.func if isinstance(f, functools.partial) else f).__name__ for _, f, _ in LAGRANGIANS}
    public = {n for n in L.__all__ if n.startswith("lagr_")}
    assert tested == public == set(hg.interop.hamux_models.SUPPORTED_LAGRANGIANS)


def test_a_hamux_graph_lagrangian_passes_through(getkey):
    old = hmx.HAM({"x": hmx.NeuronLayer(hg.LTanh(beta=2.0), (3, 2))}, {}, [])
    ham, _ = check_equal(old, {"x": jax.random.normal(getkey(), (3, 2))})
    assert ham.layers["x"].lagrangian == hg.LTanh(beta=2.0)


# ---- refusals ----------------------------------------------------------------------------


def one_layer(fn, shape=(4,)):
    return hmx.HAM({"v": hmx.NeuronLayer(fn, shape)}, {}, [])


@pytest.mark.parametrize(
    "fn,shape,match",
    [
        (lambda x: 0.5 * (x**2).sum(), (4,), r"neuron 'v'.*neither a function of hamux.lagrangians"),
        (jnp.sum, (4,), r"neither a function of hamux.lagrangians.*lagr_identity"),
        (P(L.lagr_tanh, gamma=2.0), (4,), r"lagr_tanh has no hyperparameter 'gamma'.*\['beta'\]"),
        (
            P(L.lagr_repu, 3),
            (4,),
            r"binds positional arguments \(3,\).*by keyword \(n\), e.g. functools.partial\(lagr_repu, n=...\)",
        ),
        (L.lagr_repu, (4,), r"lagr_repu needs n \(no default\)"),
        (P(L.lagr_repu, n=0.5), (4,), r"lagr_repu\(n=0.5\).*n must be a finite number >= 1"),
        (P(L.lagr_tanh, beta=-1.0), (4,), r"lagr_tanh\(beta=-1.0\).*beta must be > 0"),
        (P(L.lagr_exp, beta="2"), (4,), r"lagr_exp\(beta='2'\): beta must be a number, got '2' \(str\)"),
        (P(L.lagr_softmax, axis=-1), (3, 4), r"lagr_softmax\(axis=-1\).*not a scalar"),
        (P(L.lagr_softmax, axis=None), (3, 4), r"whole layer.*no equivalent for rank 2"),
        (P(L.lagr_softmax, axis=2), (4,), r"axis must be an int in \[-1, 0\], got 2\. hamux's axis=2 must name axes"),
        (L.lagr_ghostmax, (3, 4), r"lagr_ghostmax\(\).*whole layer"),
        (P(L.lagr_ghostmax, b=jnp.ones(4)), (4,), r"b=.* is not supported"),
        (P(L.lagr_ghostmax, return_sign=True), (4,), r"return_sign=True is not supported"),
        (P(L.lagr_layernorm, axis=None), (3, 4), r"lagr_layernorm\(axis=None\).*several axes"),
        (
            P(L.lagr_layernorm, delta=jnp.arange(12.0).reshape(3, 4)),
            (3, 4),
            r"delta of shape \(3, 4\) differs between the rows",
        ),
        (P(L.lagr_spherical_norm, delta=jnp.ones(5)), (3, 4), r"does not broadcast to the layer shape"),
        (P(L.lagr_layernorm, gamma=-1.0), (4,), r"lagr_layernorm\(gamma=-1.0\).*gamma must be > 0"),
        (P(L.lagr_layernorm, eps=0.0), (4,), r"lagr_layernorm\(eps=0.0\).*eps"),
    ],
)
def test_lagrangians_that_do_not_convert_are_refused(fn, shape, match):
    with pytest.raises(hg.ValidationError, match=match):
        hg.interop.from_hamux(one_layer(fn, shape))


class MySynapse(eqx.Module):
    W: jax.Array

    def __call__(self, x1, x2):
        return -x1 @ self.W @ x2


class ScaledLinear(hmx.LinearSynapse):
    def __call__(self, x1, x2):
        return 2.0 * super().__call__(x1, x2)


def two_layers(synapse, layers=("a", "b"), key="S", shapes=((3,), (2,))):
    neurons = {"a": hmx.NeuronLayer(L.lagr_identity, shapes[0]), "b": hmx.NeuronLayer(L.lagr_tanh, shapes[1])}
    return hmx.HAM(neurons, {"S": synapse}, [(layers, key)])


@pytest.mark.parametrize(
    "old,match",
    [
        (
            two_layers(MySynapse(W=jnp.ones((3, 2)))),
            r"synapse 'S'.*class .*MySynapse is not supported.*LinearSynapse, LinearSynapseWithBias, BiasSynapse, ConvSynapse",
        ),
        (two_layers(ScaledLinear(W=jnp.ones((3, 2)))), r"ScaledLinear is not supported"),
        (
            two_layers(hmx.LinearSynapse(W=jnp.ones((2, 3)))),
            r"layers have shapes \[\(3,\), \(2,\)\].*needs \[\(2,\), \(3,\)\]",
        ),
        (two_layers(hmx.LinearSynapse(W=jnp.ones((3, 2))), layers=("a",)), r"needs \[\(3,\), \(2,\)\]"),
        (
            two_layers(hmx.BiasSynapse(b=jnp.ones(3)), shapes=((3, 1), (2,)), layers=("a",)),
            r"BiasSynapse with b of shape \(3,\) needs \[\(3,\)\]",
        ),
        (
            two_layers(
                hmx.ConvSynapse(W=jnp.ones((4, 1, 3, 3)), window_strides=(1, 1), padding="SAME"),
                shapes=((6, 6, 2), (6, 6, 4)),
            ),
            r"OIHW kernel of shape \(4, 1, 3, 3\)",
        ),
        (
            two_layers(
                hmx.ConvSynapse(W=jnp.ones((4, 2, 3, 3)), window_strides=(1, 1), padding="SAME"),
                shapes=((6, 6, 2), (5, 5, 4)),
            ),
            r"synapse 'S'.*output layer has shape \(5, 5, 4\)",
        ),
        (two_layers(hmx.LinearSynapse(W=jnp.ones((3, 2))), key="T"), r"no hypersynapse named 'T'"),
        (two_layers(hmx.LinearSynapse(W=jnp.ones((3, 2))), layers=("a", "z")), r"unknown neuron\(s\) \['z'\]"),
    ],
    ids=[
        "unknown_class",
        "subclass",
        "W_shape",
        "arity",
        "bias_rank",
        "conv_channels",
        "conv_output",
        "unknown_key",
        "unknown_neuron",
    ],
)
def test_synapses_and_connections_that_do_not_convert_are_refused(old, match):
    with pytest.raises(hg.ValidationError, match=match):
        hg.interop.from_hamux(old)


def test_names_that_collide_are_refused():
    neurons = {"W": hmx.NeuronLayer(L.lagr_identity, (3,)), "b": hmx.NeuronLayer(L.lagr_identity, (2,))}
    old = hmx.HAM(neurons, {"W": hmx.LinearSynapse(W=jnp.ones((3, 2)))}, [(("W", "b"), "W")])
    with pytest.raises(hg.ValidationError, match=r"node name 'W' .*already taken.*Rename"):
        hg.interop.from_hamux(old)


@pytest.mark.parametrize("thing", ["model.npz", {"neurons": {}}, hg.HAM()])
def test_non_hamux_input_is_refused(thing):
    with pytest.raises(hg.ValidationError, match=r"expected a hamux.HAM \(or hamux.VectorizedHAM\), got"):
        hg.interop.from_hamux(thing)


def test_without_hamux_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hamux", None)  # `import hamux` now fails
    with pytest.raises(ImportError, match=r"pip install hamux_graph\[interop\]"):
        hg.interop.from_hamux(object())
