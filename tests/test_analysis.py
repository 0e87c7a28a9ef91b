"""hg.analysis: capacity curves, basins and the attractor census against direct checks."""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph import analysis, memory


def _pm1(k, n, seed):
    return np.where(np.random.default_rng(seed).random((k, n)) < 0.5, 1.0, -1.0).astype(np.float32)


def is_fixed_point(W, s):
    """No neuron would flip: h_i s_i > 0, or h_i within the documented tie band."""
    W = np.asarray(W, np.float32)
    tie = W.shape[1] * np.finfo(np.float32).eps * np.abs(W).astype(np.float64).sum(axis=1)
    h = W.astype(np.float64) @ s
    return bool(np.all((h * s > 0) | (np.abs(h) <= tie)))


# ---- capacity -----------------------------------------------------------------------------------


def test_hebbian_capacity_transition_at_N500(getkey):
    """Amit–Gutfreund–Sompolinsky: retrieval below α_c ≈ 0.138, none above (10 % of bits flipped)."""
    curve = analysis.capacity_curve("hebbian", 500, [0.10, 0.20], trials=2, corruption=0.1, key=getkey(), max_probes=50)
    print(
        f"Hebbian N=500: alpha {np.asarray(curve.loads).tolist()} overlap {np.asarray(curve.overlap_mean).tolist()} "
        f"± {np.asarray(curve.overlap_std).tolist()}, exact {np.asarray(curve.exact_mean).tolist()}"
    )
    assert curve.num_patterns.tolist() == [50, 100]
    assert float(curve.overlap_mean[0]) >= 0.95 and float(curve.overlap_mean[1]) <= 0.6
    assert float(curve.exact_mean[1]) == 0.0
    assert curve.N == 500 and curve.trials == 2 and curve.corruption == 0.1


def test_capacity_curve_memories_of_every_kind(getkey):
    N = 64
    loads = [0.5]
    key = getkey()
    # the projection rule keeps every stored pattern as a fixed point up to K < N
    pi = analysis.capacity_curve("pseudo_inverse", N, loads, trials=2, corruption=0.0, key=key)
    assert np.asarray(pi.exact_mean).tolist() == [1.0] and np.asarray(pi.overlap_std).tolist() == [0.0]
    # a callable rule gives the same numbers as its name (same keys)
    same = analysis.capacity_curve(memory.pseudo_inverse, N, loads, trials=2, corruption=0.0, key=key)
    np.testing.assert_array_equal(np.asarray(same.overlap_mean), np.asarray(pi.overlap_mean))
    # a dense binary energy stores far more than Hebb at α = 0.5
    dense = analysis.capacity_curve(memory.Polynomial(n=3), N, [0.5], trials=1, corruption=0.1, key=key)
    hebb = analysis.capacity_curve("hebbian", N, [0.5], trials=1, corruption=0.1, key=key)
    assert float(dense.exact_mean[0]) >= 0.9 and float(hebb.exact_mean[0]) <= 0.1


@pytest.mark.bad_arguments
def test_capacity_curve_errors(getkey):
    key = getkey()
    with pytest.raises(hg.ValidationError, match="capacity_curve: rule must be one of"):
        analysis.capacity_curve("oja", 64, [0.1], key=key)
    with pytest.raises(hg.ValidationError, match="loads must be a non-empty list of loads alpha = K/N > 0"):
        analysis.capacity_curve("hebbian", 64, [0.1, -0.2], key=key)
    with pytest.raises(hg.ValidationError, match=r"corruption must be a number in \[0.0, 1.0\], got 10"):
        analysis.capacity_curve("hebbian", 64, [0.1], corruption=10, key=key)
    with pytest.raises(hg.ValidationError, match=r"trials must be an int in \[1, 16777216\], got 2.5"):
        analysis.capacity_curve("hebbian", 64, [0.1], trials=2.5, key=key)
    with pytest.raises(hg.ValidationError, match="pass key=jax.random.key"):
        analysis.capacity_curve("hebbian", 64, [0.1], key=None)
    with pytest.raises(hg.ValidationError, match="returned a str; expected a weight matrix W"):
        analysis.capacity_curve(lambda P: "W", 64, [0.1], trials=1, key=key)
    with pytest.raises(hg.ValidationError, match="rule_or_builder must be a rule name"):
        analysis.capacity_curve(3, 64, [0.1], key=key)


@pytest.mark.slow
def test_classical_capacity_numbers_slow(getkey):
    """Longer runs of the classical numbers: Hebb at N = 1000, dense n = 3 at K = N, 3N, 6N."""
    hebb = analysis.capacity_curve(
        "hebbian", 1000, [0.05, 0.1, 0.12, 0.16, 0.2], trials=2, key=getkey(), max_probes=100
    )
    m = np.asarray(hebb.overlap_mean)
    print(f"Hebbian N=1000 overlap {m.round(3).tolist()} exact {np.asarray(hebb.exact_mean).round(2).tolist()}")
    assert np.all(m[:3] >= 0.95) and m[4] <= 0.6 and np.all(np.diff(m) <= 1e-3)
    dense = analysis.capacity_curve(memory.Polynomial(n=3), 100, [1, 3, 6], trials=3, key=getkey())
    plain = analysis.capacity_curve("hebbian", 100, [1, 3, 6], trials=3, key=getkey())
    e = np.asarray(dense.exact_mean)
    print(
        f"dense n=3 N=100 exact at K = N, 3N, 6N: {e.round(3).tolist()}; Hebbian {np.asarray(plain.exact_mean).tolist()}"
    )
    assert e[0] >= 0.99 and e[1] >= 0.9 and e[2] <= 0.6 and np.all(np.asarray(plain.exact_mean) == 0)


# ---- basins ------------------------------------------------------------------------------------


def test_basin_radius_shrinks_with_load(getkey):
    N = 64
    levels = [0.0, 0.1, 0.2, 0.3, 0.4]
    low = analysis.basin_radius("hebbian", N, 0.05, corruptions=levels, trials=10, min_overlap=0.95, key=getkey())
    high = analysis.basin_radius("hebbian", N, 0.12, corruptions=levels, trials=10, min_overlap=0.95, key=getkey())
    print(
        f"basin radius N=64 (final overlap >= 0.95): alpha 0.05 -> {low.radius}, 0.12 -> {high.radius}; "
        f"retrieved {np.asarray(low.retrieved_mean).tolist()} / {np.asarray(high.retrieved_mean).tolist()}"
    )
    for b in (low, high):  # the radius follows its definition from the curve itself
        r = np.asarray(b.retrieved_mean)
        ok = [all(r[: j + 1] >= b.fraction) for j in range(len(levels))]
        expect = max((levels[j] for j in range(len(levels)) if ok[j]), default=math.nan)
        assert b.radius == expect or (math.isnan(b.radius) and math.isnan(expect))
    assert low.radius >= 0.2 and not high.radius >= low.radius  # (nan: no radius at all)
    assert low.num_patterns == 3 and high.num_patterns == 8
    # nobody retrieves everything at α = 0.5 (Hebb): no radius
    none = analysis.basin_radius("hebbian", 40, 0.5, corruptions=[0.0, 0.1], fraction=1.0, trials=1, key=getkey())
    assert math.isnan(none.radius)
    with pytest.raises(hg.ValidationError, match="corruptions must be a non-empty ascending list"):
        analysis.basin_radius("hebbian", 40, 0.1, corruptions=[0.2, 0.1], key=getkey())


# ---- attractor census ----------------------------------------------------------------------------


def _mixture_starts(P, n):
    trip = list(itertools.combinations(range(len(P)), 3))[:n]
    return np.stack([np.sign(P[a] + P[b] + P[c]) for a, b, c in trip]), trip


def test_census_finds_symmetric_3_mixtures_at_low_load(getkey):
    N, K = 500, 10  # α = 0.02, below the ≈ 0.03 where symmetric 3-mixtures lose stability
    P = _pm1(K, N, 0)
    W = memory.hebbian(P)
    mix, trip = _mixture_starts(P, 30)
    starts = np.concatenate([mix, _pm1(30, N, 1), P[:5]])
    c = analysis.attractor_census(W, starts, patterns=P, key=getkey())
    assert int(np.asarray(c.counts).sum()) == len(starts) and bool(c.converged.all())
    mixtures = c.select("mixture", 3)
    print(
        f"alpha=0.02: {len(c.kinds)} attractors, {len(mixtures)} 3-mixtures, kinds of starts: "
        f"pattern {c.total('pattern')}, mixture-3 {c.total('mixture', 3)}, other {c.total('other')}"
    )
    assert len(mixtures) >= 20
    for i in mixtures:
        s = np.asarray(c.states[i], np.float64)
        m = np.abs(s @ P.T / N)  # overlaps computed here, not taken from the census
        top = np.argsort(-m)[:3]
        assert sorted(top.tolist()) == sorted(c.members[i])
        assert np.all(np.abs(m[top] - 0.5) <= 0.1) and np.sort(m)[-4] <= 0.2
        assert is_fixed_point(W, s)
    # the mixtures found are those of the triples the starts mixed
    assert {tuple(sorted(c.members[i])) for i in mixtures} <= set(trip)
    for i in c.select("pattern"):
        s = np.asarray(c.states[i], np.float64)
        assert np.max(np.abs(s @ P.T / N)) >= 0.9 and is_fixed_point(W, s)
    assert c.total("pattern") >= 5


def test_census_no_stable_3_mixtures_at_high_load(getkey):
    N, K = 500, 100  # α = 0.2: only spin-glass-like states
    P = _pm1(K, N, 2)
    W = memory.hebbian(P)
    mix, _ = _mixture_starts(P[:10], 30)
    starts = np.concatenate([mix, _pm1(10, N, 3)])
    c = analysis.attractor_census(W, starts, patterns=P, key=getkey())
    tops = np.sort(np.abs(np.asarray(c.states, np.float64) @ P.T / N), axis=1)[:, ::-1]
    print(
        f"alpha=0.2: {len(c.kinds)} attractors, kinds {sorted(set(c.kinds))}, largest overlaps "
        f"{np.round(tops[:, 0].mean(), 3)} (1st), {np.round(tops[:, 2].mean(), 3)} (3rd) on average"
    )
    assert c.total("mixture", 3) == 0 and c.total("pattern") == 0
    assert c.total("other") == len(starts)
    assert np.all(tops[:, 0] < 0.6)  # no retrieval state either


def test_census_classification_and_grouping(getkey):
    from hamux_graph.analysis.census import classify  # the classifier on hand-made overlaps

    kw = dict(pattern_overlap=0.9, mixture_tol=0.2, min_gap=0.2)
    assert classify(np.array([0.02, -0.97, 0.1]), **kw) == ("pattern", 1, (1,))
    assert classify(np.array([0.5, -0.48, 0.05, 0.52]), **kw) == ("mixture", 3, (3, 0, 1))
    assert classify(np.array([0.3, 0.28, 0.25, 0.22, 0.2, 0.05, 0.12, 0.15, 0.08]), **kw)[0] == "other"
    assert classify(np.array([0.75, 0.25, 0.25, 0.25]), **kw)[0] == "other"
    P = _pm1(4, 64, 4)
    W = memory.hebbian(P)
    starts = np.concatenate([P, P, -P[:1]])  # every pattern twice, and one reversed
    c = analysis.attractor_census(W, starts, patterns=P, key=getkey())
    assert np.asarray(c.counts).tolist() == [2, 2, 2, 2, 1] and c.kinds == ("pattern",) * 5
    assert sorted(c.members) == [(0,), (0,), (1,), (2,), (3,)]
    with pytest.raises(hg.ValidationError, match="kind must be one of"):
        c.select("spurious")


@pytest.mark.bad_arguments
def test_census_argument_errors(getkey):
    P = _pm1(4, 64, 4)
    W = memory.hebbian(P)
    with pytest.raises(hg.ValidationError, match=r"starts must have shape \(S, 64\)"):
        analysis.attractor_census(W, np.ones((3, 5)), patterns=P, key=getkey())
    with pytest.raises(hg.ValidationError, match=r"attractor_census: starts must hold only \+1 and -1"):
        analysis.attractor_census(W, np.zeros((2, 64)), patterns=P, key=getkey())
    with pytest.raises(hg.ValidationError, match="uncompiled hg.HAM; pass ham.compile"):
        analysis.attractor_census(hg.zoo.classical_hopfield(P), P, patterns=P, key=getkey())


def test_continuous_memories(getkey):
    """The zoo's classical Hopfield HAM (tanh neurons, Euler relaxation) measured like the binary ones."""
    storkey_ham = lambda P: hg.zoo.classical_hopfield(P, rule="storkey")  # noqa: E731
    curve = analysis.capacity_curve(storkey_ham, 40, [0.15], trials=1, corruption=0.1, key=getkey(), max_probes=6)
    assert int(curve.num_patterns[0]) == 6 and float(curve.exact_mean[0]) == 1.0
    P = _pm1(3, 40, 5)
    model = storkey_ham(P).compile(key=getkey())
    starts = np.concatenate([P, np.asarray(memory.corrupt(P, 0.1, key=getkey()))])
    c = analysis.attractor_census(model, starts, patterns=P, key=None)
    assert c.kinds == ("pattern",) * 3 and np.asarray(c.counts).tolist() == [2, 2, 2]
    assert bool(c.converged.all())
    np.testing.assert_array_equal(np.sort(np.asarray(c.states), axis=0), np.sort(P, axis=0))
    with pytest.raises(
        hg.ValidationError, match="attractor_census: the model has no layer 'input' to put the probes in"
    ):
        analysis.attractor_census(model, starts, patterns=P, key=None, visible="input")


# ---- plots ---------------------------------------------------------------------------------------


def test_plots(getkey, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = getkey()
    curve = analysis.capacity_curve("hebbian", 64, [0.05, 0.5], trials=1, key=key)
    ax = analysis.plot_capacity(curve, label="Hebb")
    assert any(abs(l.get_xdata()[0] - analysis.ALPHA_C) < 1e-12 for l in ax.get_lines() if len(l.get_xdata()) == 2)
    basin = analysis.basin_radius("hebbian", 64, 0.05, corruptions=[0.0, 0.2], trials=1, key=key)
    analysis.plot_basin(basin)
    P = _pm1(2, 64, 6)
    census = analysis.attractor_census(memory.hebbian(P), P, patterns=P, key=key)
    ax = analysis.plot_census(census)
    assert sorted(t.get_text() for t in ax.get_xticklabels()) == ["ξ0", "ξ1"] and len(ax.patches) == 2
    plt.close("all")
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # as if matplotlib were missing
    with pytest.raises(ImportError, match=r"pip install hamux_graph\[draw\]"):
        analysis.plot_capacity(curve)
