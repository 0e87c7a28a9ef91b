"""Tests for hamux_graph.zoo: factories, registry, associative-memory retrieval."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph import zoo


CLASSIFIERS = [
    ("hn", {"input_shape": (64,), "num_classes": 10, "nhid": 16}),
    ("hn_repu", {"input_shape": (8, 8), "num_classes": 3, "nhid": 16}),
    ("hn_softmax", {"input_shape": (4, 4, 2), "num_classes": 5, "nhid": 16}),
    ("conv_ham_avg", {"input_shape": (8, 8, 1), "num_classes": 10, "channels": 4, "nhid": 8}),
    ("conv_ham_max", {"input_shape": (12, 10, 3), "num_classes": 4, "channels": 4, "nhid": 8}),
    ("energy_attn", {"input_shape": (8, 8, 1), "num_classes": 10, "dim": 8, "zspace_dim": 4, "nhid": 8}),
]


@pytest.mark.parametrize("name,kwargs", CLASSIFIERS, ids=[c[0] for c in CLASSIFIERS])
def test_classifiers_build_validate_compile(getkey, name, kwargs):
    ham = zoo.create(name, **kwargs)
    assert isinstance(ham, hg.HAM)
    ham.validate()
    layers = ham.layers
    assert layers["input"].shape == tuple(kwargs["input_shape"])
    assert layers["label"].shape == (kwargs["num_classes"],)
    assert isinstance(layers["label"].lagrangian, hg.LSoftmax)
    model = ham.compile(key=getkey())
    xs = model.init_states(batch_size=2)
    energy = model.energy(xs)
    assert energy.shape == (2,) and bool(jnp.all(jnp.isfinite(energy)))
    if name == "energy_attn":  # the richest graph also runs through the training forward pass
        x = jax.random.uniform(getkey(), (2,) + tuple(kwargs["input_shape"]))
        probs = hg.train.forward(model, x, steps=1, dt=0.5)
        assert probs.shape == (2, kwargs["num_classes"])
        np.testing.assert_allclose(np.asarray(probs).sum(-1), 1.0, rtol=1e-5)


def test_hidden_lagrangian_families():
    syn = lambda h, **kw: zoo.hn((8, 8), 10, hidden=h, **kw).synapses["hidden"].hidden_lagrangian
    assert type(syn("relu")) is hg.LRelu
    rep = syn("repu")
    assert type(rep) is hg.LRepu and rep.n == 5.0
    sm = syn("softmax", beta=0.3)
    assert type(sm) is hg.LSoftmax and float(sm.beta) == pytest.approx(0.3)
    assert zoo.create("hn_repu").synapses["hidden"].hidden_lagrangian.n == 5.0
    with pytest.raises(hg.ValidationError, match="hidden must be one of"):
        zoo.hn((8, 8), 10, hidden="gelu")


def test_conv_and_attention_shapes():
    ham = zoo.conv_ham((8, 8, 1), 10, channels=6, pool_type="max")
    assert ham.layers["features"].shape == (4, 4, 6)
    assert ham.synapses["conv"].pool_type == "max"
    assert ham.connections("hidden") == ("features", "label")
    att = zoo.energy_attn((8, 8, 1), 10, patch=2, dim=8, nhid=0)
    assert att.layers["tokens"].shape == (4, 4, 8)
    assert att.connections("self_attn") == ("tokens",)
    assert att.connections("cross_attn") == ("label", "tokens")
    assert "hidden" not in att.synapses


def test_wrong_input_shapes_and_unknown_names():
    with pytest.raises(hg.ValidationError, match=r"zoo.conv_ham: input_shape must have rank 3.*\(8, 8\).*channel axis"):
        zoo.create("conv_ham", input_shape=(8, 8))
    with pytest.raises(hg.ValidationError, match=r"zoo.energy_attn: input_shape must have rank 3"):
        zoo.energy_attn((64,), 10)
    with pytest.raises(hg.ValidationError, match=r"zoo.energy_attn: input_shape \(1, 1, 1\) does not fit"):
        zoo.energy_attn((1, 1, 1), 10, patch=2)
    with pytest.raises(hg.ValidationError, match=r"zoo.conv_ham: input_shape \(2, 2, 1\) does not fit"):
        zoo.conv_ham((2, 2, 1), 10, pool_window=3)
    with pytest.raises(hg.ValidationError, match="zoo.hn: input_shape must be a tuple of positive ints"):
        zoo.hn((8, -1), 10)
    with pytest.raises(hg.ValidationError, match="num_classes must be an int >= 2"):
        zoo.hn((8, 8), 1)
    with pytest.raises(hg.ValidationError, match=r"unknown model 'resnet'.*'hn'.*'modern_hopfield'"):
        zoo.create("resnet")
    with pytest.raises(hg.ValidationError, match=r"'hn' does not accept \['widht'\].*nhid"):
        zoo.create("hn", widht=3)
    with pytest.raises(hg.ValidationError, match="already registered"):
        zoo.register("hn", zoo.hn)
    for err in (hg.ValidationError("x"),):
        assert isinstance(err, ValueError) and isinstance(err, hg.HamuxGraphError)


def test_registry_lists_and_registers():
    names = zoo.names()
    for n in ("hn", "conv_ham", "energy_attn", "classical_hopfield", "dense_associative_memory", "modern_hopfield"):
        assert n in names
    assert names == sorted(names)
    zoo.register("test_tiny_hn", lambda nhid=3: zoo.hn((4,), 2, nhid=nhid))
    assert zoo.create("test_tiny_hn", nhid=5).synapses["hidden"].nhid == 5


def _patterns(k, n, seed):
    return np.sign(np.random.default_rng(seed).normal(size=(k, n))).astype(np.float32) + 0.0


def _flip(patterns, frac, seed):
    rng = np.random.default_rng(seed)
    k, n = patterns.shape
    out = patterns.copy()
    for i in range(k):
        idx = rng.choice(n, int(round(frac * n)), replace=False)
        out[i, idx] *= -1
    return out


def test_memory_weights_are_the_stored_patterns(getkey):
    P = _patterns(5, 16, 0)
    model = zoo.modern_hopfield(P, beta=0.7).compile(key=getkey())
    np.testing.assert_array_equal(np.asarray(model.synapse("store").W), P.T)
    assert float(model.lagrangians[1].beta) == pytest.approx(0.7)
    dam = zoo.dense_associative_memory(P, n=3, scale=0.5).compile(key=getkey())
    np.testing.assert_allclose(np.asarray(dam.synapse("store").W), 0.5 * P.T)
    assert dam.lagrangians[1].n == 3.0
    hop = zoo.classical_hopfield(P).compile(key=getkey())
    hebb = P.T @ P / 16.0
    np.fill_diagonal(hebb, 0.0)
    np.testing.assert_allclose(np.asarray(hop.synapse("hebb").W), 0.5 * hebb, atol=1e-6)
    # trainable versions without stored patterns
    assert zoo.modern_hopfield(input_shape=(4, 4), num_memories=7).compile(key=getkey()).synapse("store").W.shape == (
        16,
        7,
    )
    with pytest.raises(hg.ValidationError, match="give `patterns`"):
        zoo.modern_hopfield()
    with pytest.raises(hg.ValidationError, match=r"patterns must have shape \(K, \*pattern_shape\)"):
        zoo.dense_associative_memory(np.ones(8))


def test_modern_hopfield_retrieves_2N_patterns(getkey):
    """K = 2N = 128 random ±1 patterns, 20 % of bits flipped: >= 99 % retrieved exactly."""
    N, K = 64, 128
    P = _patterns(K, N, 1)
    probes = _flip(P, 0.2, 2)
    assert (probes != P).sum(1).min() == int(round(0.2 * N))
    model = zoo.create("modern_hopfield", patterns=P).compile(key=getkey())
    out, energies = zoo.recall(model, probes, steps=60, dt=0.1)
    exact = np.all(np.sign(np.asarray(out)) == P, axis=1).mean()
    assert exact >= 0.99
    # energy descent along the way (float32 tolerance)
    assert np.all(np.diff(np.asarray(energies), axis=0) <= 1e-3)
    # without the dynamics, no probe equals its pattern
    assert np.all(probes == P, axis=1).mean() == 0.0


def test_dense_and_classical_memories_retrieve(getkey):
    N = 64
    P = _patterns(40, N, 3)
    probes = _flip(P, 0.2, 4)
    dam = zoo.dense_associative_memory(P, n=4).compile(key=getkey())
    out, energies = zoo.recall(dam, probes, steps=60, dt=0.1)
    assert np.all(np.sign(np.asarray(out)) == P, axis=1).mean() >= 0.95
    few = P[:4]
    hop = zoo.classical_hopfield(few).compile(key=getkey())
    out, _ = zoo.recall(hop, _flip(few, 0.1, 5), steps=60, dt=0.1)
    assert np.all(np.sign(np.asarray(out)) == few, axis=1).mean() == 1.0
    with pytest.raises(hg.StateError, match="probes have shape"):
        zoo.recall(hop, np.ones((2, 5)))
    with pytest.raises(hg.StateError, match="no layer 'v'"):
        zoo.recall(hop, few, visible="v")


def _feature_peaks(model, images, steps):
    xs = model.init_states(batch_size=len(images))
    xs["input"] = jnp.asarray(images)
    out = {}
    for t in steps:
        x = np.asarray(model.run(xs, steps=t, dt=0.5, clamp=("input",))[0]["features"])
        out[t] = (float(np.abs(x).max()), float(np.mean(np.abs(np.tanh(x)) > 0.99)))
    return out


def test_conv_ham_default_init_keeps_the_28x28_feature_dynamics_stable(getkey):
    # The features decay at unit rate and excite themselves through the hidden memories
    # with gain σ_max(W)² (W: features × nhid). The default init keeps the gain ~0.25 at any
    # size; the old fixed std 0.02 gave ≈ 3.6 at 28×28×32 features: runaway from step one.
    rng = np.random.default_rng(0)
    images = (rng.uniform(size=(4, 28, 28, 1)) * (rng.uniform(size=(4, 28, 28, 1)) > 0.8)).astype(np.float32)
    F = 14 * 14 * 32
    ham = zoo.conv_ham((28, 28, 1), 10, channels=32, nhid=256)
    assert ham.synapses["hidden"].stdinit == pytest.approx(0.5 / (np.sqrt(F) + np.sqrt(256)))
    assert zoo.conv_ham((8, 8, 1), 10).synapses["hidden"].stdinit == pytest.approx(0.5 / (16 + np.sqrt(128)))
    key = getkey()
    for stdinit, stable in ((None, True), (0.02, False)):
        model = zoo.conv_ham((28, 28, 1), 10, channels=32, nhid=256, stdinit=stdinit).compile(key=key)
        W = np.asarray(model.synapse("hidden").Ws[0])
        gain = np.linalg.svd(W, compute_uv=False)[0] ** 2
        peaks = _feature_peaks(model, images, (5, 10, 40))
        if stable:
            assert gain < 0.3
            assert peaks[40][0] <= 1.02 * peaks[10][0]  # converged: no growth after step 10
            assert peaks[40][1] == 0.0  # no feature saturates
        else:  # the control: the old init is the unstable case this test guards against
            assert gain > 3.0
            assert peaks[40][0] > 3 * peaks[5][0] and peaks[40][1] > 0.1


def test_a_bare_int_input_shape_means_a_vector():
    # check_shape turns an int n into (n,); it used to iterate the int and refuse it
    ham = zoo.hn(8, 3, nhid=4)
    assert ham.layers["input"].shape == (8,)
    assert zoo.modern_hopfield(input_shape=6, num_memories=2).layers["visible"].shape == (6,)
    with pytest.raises(hg.ValidationError, match="zoo.hn: input_shape must be a tuple of positive ints"):
        zoo.hn(True, 3)
    with pytest.raises(hg.ValidationError, match="zoo.hn: input_shape must be a tuple of positive ints"):
        zoo.hn(0, 3)
