"""zoo.hopfield_pooling: one Euler step of the energy is the modern-Hopfield pooling update, by hand."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def test_one_euler_step_on_an_identity_query_layer_is_the_pooling_update():
    # one query q (d_q = 6) over a set Y of 5 instances (d = 4); Q = q W_Q, K = Y W_K, V = K W_Qᵀ
    rng = np.random.default_rng(0)
    n, d, dq, z, beta = 5, 4, 6, 3, 0.7
    WQ, WK = rng.normal(size=(dq, 1, z)), rng.normal(size=(d, 1, z))
    ham = hg.HAM()
    ham.add_layer("query", hg.IdentityLayer((1, dq)))
    ham.add_layer("set", hg.IdentityLayer((n, d)))
    syn = hg.AttentionSynapse(num_heads=1, zspace_dim=z, hidden_lagrangian=hg.LSoftmax(beta=beta), Wq=WQ, Wk=WK)
    ham.add_synapse("pooling", syn, layers=("query", "set"))
    model = ham.compile(key=jax.random.key(0))
    q, Y = rng.normal(size=(1, dq)), rng.normal(size=(n, d))
    out = model.step({"query": q, "set": Y}, dt=1.0, clamp=("set",))

    Q, K = q @ WQ[:, 0, :], Y @ WK[:, 0, :]
    V = K @ WQ[:, 0, :].T
    want = _softmax(beta * Q @ K.T) @ V
    np.testing.assert_allclose(np.asarray(out["query"]), want, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["set"]), Y)  # held


def _zoo_model(n=7, d=4, q=2, z=3, classes=3, seed=1):
    ham = hg.zoo.create("hopfield_pooling", set_shape=(n, d), num_queries=q, zspace_dim=z, num_classes=classes)
    model = ham.compile(key=jax.random.key(seed))
    i = model.layer_names.index("query")
    xi = jnp.asarray(np.random.default_rng(seed).normal(size=(q, d)))
    biases = list(model.biases)
    biases[i] = -xi  # the learned query states are minus the query layer's bias
    return eqx.tree_at(lambda m: m.biases, model, tuple(biases)), np.asarray(xi)


def test_the_zoo_model_pools_its_learned_queries_then_reads_them_out():
    n, d, q, z, classes = 7, 4, 2, 3, 3
    model, xi = _zoo_model(n, d, q, z, classes)
    pooling = model.synapses[model.synapse_names.index("pooling")]
    readout = model.synapses[model.synapse_names.index("readout")]
    WQ, WK, W = (np.asarray(a) for a in (pooling.Wq, pooling.Wk, readout.W))
    beta = 1.0 / np.sqrt(z)  # the default
    Y = np.random.default_rng(2).normal(size=(n, d))

    # step 1 from x = 0: the query activation goes from ξ to the pooling update of ξ (one head),
    # plus the readout's drive from the label layer's uniform start
    xs = {name: np.zeros(shape) for name, shape in zip(model.layer_names, model.shapes)}
    xs["set"] = Y
    x1 = model.step(xs, dt=1.0, clamp=("set",))
    K = Y @ WK[:, 0, :]
    pooled = _softmax(beta * (xi @ WQ[:, 0, :]) @ K.T) @ (K @ WQ[:, 0, :].T)
    feedback = (W @ np.full(classes, 1.0 / classes)).reshape(q, d)
    g1 = pooled + feedback
    np.testing.assert_allclose(np.asarray(x1["query"]) + xi, g1, atol=1e-5)  # g = x − b = x + ξ

    # step 2: the label layer holds the readout of the pooled states: its logits are Wᵀ vec(g¹)
    logits = hg.train.forward(model, Y, input="set", output="label", steps=2, dt=1.0, read="logits")
    np.testing.assert_allclose(np.asarray(logits), W.T @ g1.ravel(), rtol=1e-4, atol=1e-5)


def test_the_learned_queries_are_trainable_and_saved(tmp_path):
    model, xi = _zoo_model()
    Y = jnp.asarray(np.random.default_rng(3).normal(size=(4, 7, 4)))

    def loss(m):
        return hg.train.cross_entropy(
            hg.train.forward(m, Y, input="set", steps=2, dt=1.0, read="logits"), jnp.array([0, 1, 2, 0])
        )

    grads = eqx.filter_jit(eqx.filter_grad(loss))(model)  # one compiled program, not op by op
    i = model.layer_names.index("query")
    assert float(jnp.max(jnp.abs(grads.biases[i]))) > 0  # the queries learn
    hg.save(model, tmp_path / "pool.hamux")
    np.testing.assert_allclose(np.asarray(hg.load(tmp_path / "pool.hamux").biases[i]), -xi)


def test_bad_arguments_name_the_fix():
    with pytest.raises(hg.ValidationError, match=r"set_shape must be \(instances, features\), rank 2"):
        hg.zoo.create("hopfield_pooling", set_shape=(5, 4, 2), num_queries=1, zspace_dim=3, num_classes=2)
    with pytest.raises(hg.ValidationError, match=r"num_classes must be an int >= 2"):
        hg.zoo.create("hopfield_pooling", set_shape=(5, 4), num_classes=1)
    with pytest.raises(hg.ValidationError, match="does not accept"):
        hg.zoo.create("hopfield_pooling", set_shape=(5, 4), queries=3)
