"""The attractor census' stability kinds: single flips for a weight matrix, the Hessian for a model."""

from __future__ import annotations

import jax
import numpy as np

import hamux_graph as hg
from hamux_graph import analysis


def _flip_kind(W, s):
    """A plain loop: E = −½ sᵀWs before and after flipping each unit."""
    energy = lambda v: -0.5 * v @ W @ v  # noqa: E731
    deltas = []
    for i in range(len(s)):
        t = s.copy()
        t[i] = -t[i]
        deltas.append(energy(t) - energy(s))
    low = min(deltas)
    return "minimum" if low > 1e-9 else "saddle" if low < -1e-9 else "flat"


def test_binary_census_reports_single_flip_stability(getkey):
    rng = np.random.default_rng(0)
    pats = np.where(rng.random((6, 64)) < 0.5, 1.0, -1.0)
    W = np.asarray(hg.memory.hebbian(pats), np.float64)
    starts = np.where(rng.random((40, 64)) < 0.5, 1.0, -1.0)
    census = analysis.attractor_census(W, starts, patterns=pats, key=getkey())
    assert len(census.stability) == len(census.kinds)
    states = np.asarray(census.states, np.float64)
    assert list(census.stability) == [_flip_kind(W, s) for s in states]
    # a state that is no attractor: a pattern with one flipped bit, which a flip back improves
    bad = pats[0].copy()
    bad[0] = -bad[0]
    assert analysis.census.single_flip_kinds(W, bad[None]) == ("saddle",)


def test_continuous_census_reports_hessian_stability():
    """Classical Hopfield (tanh, β = 4): stored patterns are minima, the origin (H = βI − β²W) a saddle."""
    beta = 4.0
    rng = np.random.default_rng(1)
    pats = np.where(rng.random((3, 32)) < 0.5, 1.0, -1.0)
    model = hg.zoo.classical_hopfield(pats, beta=beta).compile(key=jax.random.key(0))
    starts = np.concatenate([pats, np.zeros((1, 32))])
    census = analysis.attractor_census(model, starts, patterns=pats, key=None)
    W = np.asarray(hg.memory.hebbian(pats), np.float64)
    assert np.linalg.eigvalsh(beta * np.eye(32) - beta**2 * W)[0] < 0  # the origin: a saddle
    signs = np.asarray(census.states)
    for state, kind, stab in zip(signs, census.kinds, census.stability):
        if kind == "pattern":
            assert stab == "minimum"
        else:  # the all-(+1) sign state of the origin
            assert np.all(state == 1.0) and stab == "saddle"
    assert sorted(census.stability) == ["minimum", "minimum", "minimum", "saddle"]
