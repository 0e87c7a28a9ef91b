"""Tests for SimplicialMemorySynapse against plain numpy loops over the simplices."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg


def np_energy_and_fields(w, simplices, g):
    """E = −Σ_σ w_σ Π_{i∈σ} g_i and the local fields h_i = −∂E/∂g_i, by loops in float64."""
    g = np.asarray(g, np.float64).ravel()
    E, h = 0.0, np.zeros_like(g)
    for weight, simplex in zip(np.asarray(w, np.float64), simplices):
        prod = 1.0
        for i in simplex:
            prod *= g[i]
        E -= weight * prod
        for i in simplex:
            rest = 1.0
            for j in simplex:
                if j != i:
                    rest *= g[j]
            h[i] += weight * rest
    return E, h


def _problem(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    simplices = hg.memory.random_simplices(n, counts={2: 30, 3: 25, 4: 5}, key=jax.random.key(seed))
    w = rng.normal(size=len(simplices)).astype(np.float32)
    g = rng.uniform(-1, 1, size=shape).astype(np.float32)
    return simplices, w, g


def test_energy_and_local_fields_match_a_numpy_loop():
    simplices, w, g = _problem()
    syn = hg.SimplicialMemorySynapse(simplices, w=w)
    E, h = np_energy_and_fields(w, simplices, g)
    got_E, got_grad = jax.value_and_grad(syn.energy)(jnp.asarray(g))
    np.testing.assert_allclose(float(got_E), E, rtol=1e-5)
    np.testing.assert_allclose(-np.asarray(got_grad).ravel(), h, rtol=1e-5, atol=1e-5 * np.abs(h).max())


def test_in_a_ham_trainable_and_saved_compactly(tmp_path):
    simplices, w, g = _problem(1)
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4, 5)))
    ham.add_synapse("mem", hg.SimplicialMemorySynapse(simplices, w=w), layers=("v",))
    model = ham.compile(key=jax.random.key(0))
    xs = {"v": jnp.asarray(np.arctanh(0.9 * g))}
    act = np.tanh(np.asarray(xs["v"], np.float64))
    E_syn, _ = np_energy_and_fields(w, simplices, act)
    np.testing.assert_allclose(float(model.energy_tree(xs)["synapses"]["mem"]), E_syn, rtol=1e-5)
    # trainable: ∂E/∂w_σ = −Π_{i∈σ} g_i
    grad = jax.grad(lambda m: m.energy(xs))(model)
    got = np.asarray(grad.plan().synapse_of("mem").w)
    want = [-np.prod([act.ravel()[i] for i in s]) for s in simplices]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # saved: the simplices as a list of index lists, weights bit-exact
    hg.save(model, tmp_path / "m.hamux")
    loaded = hg.load(tmp_path / "m.hamux")
    assert loaded.plan().synapse_of("mem").simplices == tuple(tuple(sorted(s)) for s in simplices)
    assert float(loaded.energy(xs)) == float(model.energy(xs))
    hg.write_graphml(ham, tmp_path / "m.graphml")
    text = (tmp_path / "m.graphml").read_text()
    assert "[[" in text and len(text) < 6000
    assert hg.read_graphml(tmp_path / "m.graphml").plan().synapse_of("mem").simplices == simplices


def test_errors_and_card():
    with pytest.raises(hg.ValidationError, match="at least two distinct units"):
        hg.SimplicialMemorySynapse([(0, 0)])
    with pytest.raises(hg.ValidationError, match="listed twice"):
        hg.SimplicialMemorySynapse([(0, 1), (1, 0)])
    with pytest.raises(hg.ValidationError, match="non-negative int"):
        hg.SimplicialMemorySynapse([(0, 1.5)])
    with pytest.raises(hg.ValidationError, match="is empty"):
        hg.SimplicialMemorySynapse([])
    with pytest.raises(hg.ValidationError, match=r"must be \(2,\)"):
        hg.SimplicialMemorySynapse([(0, 1), (1, 2)], w=jnp.ones(3))
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    ham.add_synapse("mem", hg.SimplicialMemorySynapse([(0, 1), (1, 2, 3)]), layers=("v",))
    with pytest.raises(hg.ValidationError, match="uses unit 3"):
        ham.validate()
    from hamux_graph.html import page_data

    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((4,)))
    ham.add_synapse("mem", hg.SimplicialMemorySynapse([(0, 1), (1, 2, 3), (0, 2, 3)]), layers=("v",))
    card = dict(next(n["card"] for n in page_data(ham.plan())["nodes"] if n["id"] == "mem"))
    assert card["simplices"] == "3 (size 2: 1, size 3: 2) over 4 units"
