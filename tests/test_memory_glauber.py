"""Glauber heat-bath recall (hg.memory.recall_binary(..., temperature=T)) and hg.analysis.overlap_trace.

Checked against closed forms: the Boltzmann law ``exp(−E/T)/Z`` of a small memory enumerated
state by state, and the Curie–Weiss mean-field equation ``m = tanh(m/T)`` (``T_c = 1``) for a
Hebbian memory of one pattern.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from scipy.optimize import brentq

import hamux_graph as hg


def boltzmann(energies: np.ndarray, T: float) -> np.ndarray:
    p = np.exp(-(energies - energies.min()) / T)
    return p / p.sum()


def empirical(states: np.ndarray) -> np.ndarray:
    """Frequencies of the 2^N states, indexed like ``itertools.product((-1, 1), repeat=N)``."""
    N = states.shape[1]
    index = ((states > 0).astype(int) * (2 ** np.arange(N - 1, -1, -1))).sum(axis=1)
    return np.bincount(index, minlength=2**N) / len(states)


@pytest.mark.parametrize("order", ["async", "sync"])
def test_classical_heat_bath_samples_the_boltzmann_law(order):
    rng = np.random.default_rng(0)
    N, T = 4, 0.7
    A = rng.normal(size=(N, N)) * 0.6
    W = np.triu(A, 1) + np.triu(A, 1).T + np.diag(rng.uniform(0.5, 1.5, N))  # symmetric
    # the diagonal adds −½ΣW_ii, the same for every state: the law is that of the off-diagonal part
    S = np.array(list(itertools.product((-1.0, 1.0), repeat=N)))
    E = -0.5 * np.einsum("si,ij,sj->s", S, W, S)
    probes = np.ones((16384, N))
    out = hg.memory.recall_binary(W, probes, key=jax.random.key(1), order=order, temperature=T, max_sweeps=30)
    assert not bool(out.converged.any())
    if order == "sync":
        # parallel heat-bath updates sample another law (Peretto's); only check it moves and stays ±1
        assert set(np.unique(np.asarray(out.states))) == {-1.0, 1.0}
        return
    tv = 0.5 * np.abs(empirical(np.asarray(out.states)) - boltzmann(E, T)).sum()
    print(f"total variation to exp(-E/T)/Z: {tv:.4f}")
    assert tv < 0.03


def test_dense_heat_bath_samples_the_boltzmann_law():
    rng = np.random.default_rng(1)
    K, N, T, beta = 3, 4, 1.0, 0.8
    P = np.sign(rng.normal(size=(K, N)))
    S = np.array(list(itertools.product((-1.0, 1.0), repeat=N)))
    m = S @ P.T  # (states, K) overlaps ξ_μ·σ
    E = -np.log(np.exp(beta * m).sum(axis=1)) / beta  # the "lse" energy written out
    probes = -np.ones((16384, N))
    out = hg.memory.recall_binary_dense(
        P, probes, energy="lse", beta=beta, key=jax.random.key(2), temperature=T, max_sweeps=30
    )
    tv = 0.5 * np.abs(empirical(np.asarray(out.states)) - boltzmann(E, T)).sum()
    print(f"dense: total variation to exp(-E/T)/Z: {tv:.4f}")
    assert tv < 0.03


def test_curie_weiss_overlaps_follow_the_mean_field_equation():
    xi = np.sign(np.random.default_rng(3).normal(size=(1, 1000)))
    probes = np.repeat(xi, 8, axis=0)  # start in the pattern: the retrieval state, if there is one
    for T in (0.5, 0.8, 1.5):
        m = hg.analysis.overlap_trace(xi, probes, xi, temperature=T, sweeps=30, key=jax.random.key(4))
        assert m.shape == (31, 8, 1)
        mean = float(np.asarray(m)[10:].mean())  # after equilibration
        if T < 1:
            root = brentq(lambda x: x - np.tanh(x / T), 1e-6, 1.0)
            print(f"T={T}: mean overlap {mean:.4f}, root of m = tanh(m/T) {root:.4f}")
            assert abs(mean - root) <= 0.03
        else:
            print(f"T={T}: mean overlap {mean:.4f} (paramagnet)")
            assert abs(mean) <= 0.1


@pytest.mark.slow
def test_overlap_trace_follows_recall_binary():
    rng = np.random.default_rng(5)
    xi = np.sign(rng.normal(size=(3, 64)))
    W = hg.memory.hebbian(xi)  # a weight matrix, not ±1 patterns
    probes = hg.memory.corrupt(xi, 0.2, key=jax.random.key(6))
    m = hg.analysis.overlap_trace(W, probes, xi, temperature=0.3, sweeps=7, key=jax.random.key(7))
    out = hg.memory.recall_binary(W, probes, key=jax.random.key(7), temperature=0.3, max_sweeps=7)
    np.testing.assert_allclose(np.asarray(m[-1]), np.asarray(out.states) @ xi.T / 64, atol=1e-6)
    np.testing.assert_allclose(np.asarray(m[0]), np.asarray(probes) @ xi.T / 64, atol=1e-6)


def test_zero_temperature_is_the_sign_rule_bit_for_bit():
    xi = np.sign(np.random.default_rng(8).normal(size=(3, 64)))
    probes = hg.memory.corrupt(xi, 0.2, key=jax.random.key(9))
    W = hg.memory.hebbian(xi)
    a = hg.memory.recall_binary(W, probes, key=jax.random.key(1))
    b = hg.memory.recall_binary(W, probes, key=jax.random.key(1), temperature=0.0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_temperature_arguments_are_checked():
    xi = np.sign(np.random.default_rng(0).normal(size=(2, 16)))
    W = hg.memory.hebbian(xi)
    with pytest.raises(hg.ValidationError, match="temperature"):
        hg.memory.recall_binary(W, xi, key=jax.random.key(0), temperature=-1.0)
    with pytest.raises(hg.ValidationError, match="Glauber heat-bath updates, which draw random numbers"):
        hg.memory.recall_binary(W, xi, key=None, order="sync", temperature=0.5)
    with pytest.raises(hg.ValidationError, match="temperature"):
        hg.analysis.overlap_trace(xi, xi, xi, temperature=0.0, sweeps=3, key=jax.random.key(0))
    with pytest.raises(hg.ValidationError, match="square"):
        hg.analysis.overlap_trace(np.ones((3, 16)) * 0.5, xi, xi, temperature=1.0, sweeps=3, key=jax.random.key(0))
