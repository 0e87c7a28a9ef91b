"""Tests for hg.memory's simplicial memories: weights, energy, recall, random simplices, HIF."""

from __future__ import annotations

import itertools
import json
import math

import jax
import numpy as np
import pytest

import hamux_graph as hg


def np_weights(patterns, simplices):
    P = np.asarray(patterns, np.float64)
    N = P.shape[1]
    return np.array([sum(np.prod([p[i] for i in s]) for p in P) / N for s in simplices])


def np_energy(w, simplices, s):
    return -sum(wi * np.prod([s[i] for i in simplex]) for wi, simplex in zip(w, simplices))


def test_weights_and_energy_match_numpy_loops():
    rng = np.random.default_rng(0)
    P = np.sign(rng.normal(size=(5, 20)))
    simplices = hg.memory.random_simplices(20, counts={2: 40, 3: 30}, key=jax.random.key(0))
    w = hg.memory.simplicial(P, simplices)
    np.testing.assert_allclose(np.asarray(w), np_weights(P, simplices), rtol=1e-6)
    states = np.sign(rng.normal(size=(3, 20)))
    got = np.asarray(hg.memory.simplicial_energy(w, simplices, states))
    want = [np_energy(np.asarray(w, np.float64), simplices, s) for s in states]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_every_asynchronous_flip_lowers_or_keeps_the_energy():
    """A numpy replay of the library's asynchronous sweeps (same permutations) checks the
    energy after every single flip, then the final states are compared with the library's."""
    rng = np.random.default_rng(1)
    N = 24
    simplices = hg.memory.random_simplices(N, counts={2: 60, 3: 60}, key=jax.random.key(1))
    w = rng.normal(size=len(simplices)).astype(np.float32)  # generic weights: no exact ties
    probes = np.sign(rng.normal(size=(4, N))).astype(np.float32)
    key, sweeps = jax.random.key(2), 3
    out = hg.memory.recall_binary_simplicial(w, simplices, probes, key=key, max_sweeps=sweeps)
    wd = np.asarray(w, np.float64)
    flips = 0
    for b in range(len(probes)):
        s = probes[b].astype(np.float64)
        E = np_energy(wd, simplices, s)
        for t in range(sweeps):
            for i in np.asarray(jax.random.permutation(jax.random.fold_in(key, t), N)):
                h = sum(
                    wi * np.prod([s[j] for j in simplex if j != i])
                    for wi, simplex in zip(wd, simplices)
                    if i in simplex
                )
                new = 1.0 if h > 0 else -1.0 if h < 0 else s[i]
                if new != s[i]:
                    flips += 1
                    s[i] = new
                    E_new = np_energy(wd, simplices, s)
                    assert E_new <= E + 1e-9 and math.isclose(E - E_new, 2 * abs(h), rel_tol=1e-9)
                    E = E_new
        np.testing.assert_array_equal(np.asarray(out.states[b]), s)
    assert flips > 0


@pytest.mark.slow
def test_recall_stores_patterns_and_sync_order():
    rng = np.random.default_rng(2)
    N = 60
    P = np.sign(rng.normal(size=(4, N)))
    simplices = hg.memory.random_simplices(N, counts={2: 600, 3: 600}, key=jax.random.key(3))
    w = hg.memory.simplicial(P, simplices)
    probes = np.asarray(hg.memory.corrupt(P, 0.1, key=jax.random.key(4)))
    for order, key in (("async", jax.random.key(5)), ("sync", None)):
        out = hg.memory.recall_binary_simplicial(w, simplices, probes, key=key, order=order)
        assert np.array_equal(np.asarray(out.states), P) and bool(np.all(out.converged))
    with pytest.raises(hg.ValidationError, match="needs a key|pass key"):
        hg.memory.recall_binary_simplicial(w, simplices, probes, key=None)
    with pytest.raises(hg.ValidationError, match="one per simplex"):
        hg.memory.recall_binary_simplicial(w[:-1], simplices, probes, key=jax.random.key(0))
    with pytest.raises(hg.ValidationError, match="uses unit"):
        hg.memory.recall_binary_simplicial(w, simplices, probes[:, :10], key=jax.random.key(0))


def test_random_simplices():
    s = hg.memory.random_simplices(30, counts={3: 50, 2: 20}, key=jax.random.key(0))
    assert [len(x) for x in s] == [2] * 20 + [3] * 50
    assert len(set(s)) == 70 and all(list(x) == sorted(x) and 0 <= x[0] and x[-1] < 30 for x in s)
    assert s == hg.memory.random_simplices(30, counts={2: 20, 3: 50}, key=jax.random.key(0))
    assert s != hg.memory.random_simplices(30, counts={2: 20, 3: 50}, key=jax.random.key(1))
    every = hg.memory.random_simplices(6, counts={2: 15}, key=jax.random.key(0))
    assert sorted(every) == list(itertools.combinations(range(6), 2))
    big = hg.memory.random_simplices(200, counts={3: 1000}, key=jax.random.key(0))  # the rejection path
    assert len(set(big)) == 1000
    with pytest.raises(hg.ValidationError, match="only C\\(6, 2\\) = 15"):
        hg.memory.random_simplices(6, counts={2: 16}, key=jax.random.key(0))
    with pytest.raises(hg.ValidationError, match="larger than N"):
        hg.memory.random_simplices(3, counts={4: 1}, key=jax.random.key(0))
    with pytest.raises(hg.ValidationError, match="non-empty dict"):
        hg.memory.random_simplices(3, counts={}, key=jax.random.key(0))


def test_simplices_to_hif_is_an_asc_that_xgi_reads(tmp_path):
    simplices = [(0, 1), (1, 2, 3), (3, 4)]
    path = tmp_path / "c.json"
    hg.memory.simplices_to_hif(simplices, path, weights=[0.5, -1.0, 2.0], num_units=6)
    doc = json.loads(path.read_text())
    assert doc["network-type"] == "asc"
    assert [n["node"] for n in doc["nodes"]] == list(range(6))
    assert [e["attrs"]["weight"] for e in doc["edges"]] == [0.5, -1.0, 2.0]
    members: dict[int, set[int]] = {}
    for inc in doc["incidences"]:
        members.setdefault(inc["edge"], set()).add(inc["node"])
    assert [members[e] for e in range(3)] == [set(s) for s in simplices]
    xgi = pytest.importorskip("xgi")
    sc = xgi.read_hif(str(path))
    assert isinstance(sc, xgi.SimplicialComplex) and sc.num_nodes == 6
    facets = {frozenset(sc.edges.members(e)) for e in sc.edges.maximal()}
    assert facets == {frozenset(s) for s in simplices}
    with pytest.raises(hg.ValidationError, match="uses unit 4"):
        hg.memory.simplices_to_hif(simplices, path, num_units=4)


def test_heat_bath_recall_samples_the_boltzmann_law():
    """At ``temperature=T`` the asynchronous heat bath samples ``exp(−E/T)/Z`` of the setwise energy,
    enumerated state by state (pairs and triangles, so the local fields are products). Two wells
    with a barrier between them: 300 sweeps let the chains mix (30 leave TV ≈ 0.18)."""
    rng = np.random.default_rng(3)
    N, T = 4, 0.8
    simplices = [(0, 1), (1, 2), (0, 2, 3), (1, 2, 3), (0, 3)]
    w = rng.normal(size=len(simplices)) * 0.7
    S = np.array(list(itertools.product((-1.0, 1.0), repeat=N)))
    E = np.array([np_energy(w, simplices, s) for s in S])
    law = np.exp(-(E - E.min()) / T)
    law /= law.sum()
    probes = np.ones((16384, N))
    out = hg.memory.recall_binary_simplicial(w, simplices, probes, key=jax.random.key(4), temperature=T, max_sweeps=300)
    assert not bool(np.asarray(out.converged).any())
    states = np.asarray(out.states)
    index = ((states > 0).astype(int) * (2 ** np.arange(N - 1, -1, -1))).sum(axis=1)
    tv = 0.5 * np.abs(np.bincount(index, minlength=2**N) / len(states) - law).sum()
    print(f"total variation to exp(-E/T)/Z: {tv:.4f}")
    assert tv < 0.03
    cold = hg.memory.recall_binary_simplicial(w, simplices, probes[:4], key=jax.random.key(4), temperature=0.0)
    plain = hg.memory.recall_binary_simplicial(w, simplices, probes[:4], key=jax.random.key(4))
    np.testing.assert_array_equal(np.asarray(cold.states), np.asarray(plain.states))
