"""Zoo memories since 2022 (hamux_graph.zoo.sparse_memories): factories and the physics they show.

Each physics test prints its numbers (run with ``-s``); the assertions compare against
closed forms written out here or against the exact memory, never against the code's own
output.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph import zoo


def pm1(k, n, seed):
    return np.sign(np.random.default_rng(seed).standard_normal((k, n))).astype(np.float32)


def flip(patterns, nflip, seed):
    rng = np.random.default_rng(seed)
    out = patterns.copy()
    for row in out:
        row[rng.choice(row.size, nflip, replace=False)] *= -1
    return out


def distinct(points, tol=1e-3):
    out = []
    for p in points:
        if not any(np.linalg.norm(p - q) < tol for q in out):
            out.append(p)
    return np.array(out)


def is_minimum(energy, x, radius, n_dirs, seed):
    """E(x + r·u) > E(x) for every random unit direction u tried."""
    u = np.random.default_rng(seed).standard_normal((n_dirs, x.size)).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    e = np.asarray(energy(jnp.asarray(np.concatenate([x[None], x[None] + radius * u]))))  # one batch
    return bool(np.all(e[1:] > e[0])), float((e[1:] - e[0]).min())


# ---- factories --------------------------------------------------------------------------------


def test_factories_build_by_name_and_store_the_patterns(getkey):
    P = pm1(5, 12, 0)
    for name in ("sparse_hopfield", "gaussian_memory", "epanechnikov_memory", "random_feature_memory"):
        assert name in zoo.names()
    sh = zoo.create("sparse_hopfield", patterns=P, beta=0.5)
    np.testing.assert_array_equal(np.asarray(sh.synapses["store"].W), P.T)
    lag = sh.layers["memories"].lagrangian
    assert isinstance(lag, hg.LSparsemax) and float(lag.beta) == 0.5 and sh.layers["memories"].tau == 0.1
    ent = zoo.sparse_hopfield(P, alpha=1.5).layers["memories"].lagrangian
    assert isinstance(ent, hg.LEntmax) and ent.alpha == 1.5 and float(ent.beta) == pytest.approx(4 / np.sqrt(12))
    gm = zoo.gaussian_memory(P, beta=0.3)
    np.testing.assert_array_equal(np.asarray(gm.synapses["memory"].patterns), P)
    assert gm.connections("self") == ("visible", "visible")
    np.testing.assert_array_equal(np.asarray(gm.synapses["self"].W), 0.5 * np.eye(12))
    em = zoo.epanechnikov_memory(P, eps=1e-2)
    assert float(em.synapses["memory"].beta) == pytest.approx(2 / 12) and em.synapses["memory"].eps == 1e-2
    rf = zoo.random_feature_memory(P, num_features=64, key=getkey())
    assert rf.synapses["memory"].T.shape == (64,) and "self" in rf.synapses
    # trainable versions without stored patterns
    m = zoo.gaussian_memory(input_shape=(3, 4), num_memories=6, self_coupling=False).compile(key=getkey())
    assert m.synapse("memory").patterns.shape == (6, 3, 4) and m.synapse_names == ("memory",)
    rf_empty = zoo.random_feature_memory(input_shape=(5,), num_features=32)
    assert rf_empty.plan().param_shapes["memory"] == {"omega": (16, 5), "T": (32,)}
    assert zoo.sparse_hopfield(input_shape=(8,), num_memories=3).plan().param_shapes["store"] == {"W": (8, 3)}


@pytest.mark.bad_arguments
def test_factory_errors():
    with pytest.raises(hg.ValidationError, match="zoo.gaussian_memory: give `patterns`"):
        zoo.gaussian_memory()
    with pytest.raises(
        hg.ValidationError, match=r"zoo.sparse_hopfield: patterns must have shape \(K, \*pattern_shape\)"
    ):
        zoo.sparse_hopfield(np.ones(8))
    with pytest.raises(hg.ValidationError, match="zoo.sparse_hopfield: alpha must be a finite number >= 1, got 0.5"):
        zoo.sparse_hopfield(np.ones((2, 8)), alpha=0.5)
    with pytest.raises(hg.ValidationError, match="zoo.epanechnikov_memory: beta must be > 0, got -1.0"):
        zoo.epanechnikov_memory(np.ones((2, 8)), beta=-1)
    with pytest.raises(hg.ValidationError, match="zoo.gaussian_memory: num_memories=3 but 2 patterns"):
        zoo.gaussian_memory(np.ones((2, 8)), num_memories=3)
    with pytest.raises(
        hg.ValidationError, match="zoo.random_feature_memory: storing patterns draws the random features; pass key"
    ):
        zoo.random_feature_memory(np.ones((2, 8)))
    with pytest.raises(hg.ValidationError, match="num_features must be even"):
        zoo.random_feature_memory(np.ones((2, 8)), num_features=7, key=jax.random.key(0))


def test_self_coupling_makes_the_energy_exactly_minus_F(getkey):
    # one pattern ξ: with the coupling E = −F = ½‖x − ξ‖² (minimum at ξ); without it
    # E = ½‖x‖² + ½‖x − ξ‖² (minimum at ξ/2)
    xi = np.array([[1.0, -2.0, 0.5]], np.float32)
    x = jax.random.normal(getkey(), (4, 3))
    xn = np.asarray(x, np.float64)
    with_c = zoo.gaussian_memory(xi, beta=0.7).compile(key=getkey())
    without = zoo.gaussian_memory(xi, beta=0.7, self_coupling=False).compile(key=getkey())
    np.testing.assert_allclose(np.asarray(with_c.energy({"visible": x})), 0.5 * ((xn - xi) ** 2).sum(1), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(without.energy({"visible": x})), 0.5 * (xn**2).sum(1) + 0.5 * ((xn - xi) ** 2).sum(1), rtol=1e-5
    )
    r1 = hg.relax(with_c, {"visible": x}, tol=1e-6, dt=0.5)
    np.testing.assert_allclose(np.asarray(r1.states["visible"]), np.broadcast_to(xi, (4, 3)), atol=1e-5)


# ---- physics ------------------------------------------------------------------------------------


def test_sparse_hopfield_retrieval_is_exact_where_softmax_mixes(getkey):
    """N = 64, K = 256 random ±1 patterns, probes with 10 % of the bits flipped, β = 0.2."""
    N, K, B, beta = 64, 256, 100, 0.2
    P = pm1(K, N, 1)
    idx = np.random.default_rng(2).choice(K, B, replace=False)
    target = P[idx]
    probes = flip(target, int(round(0.1 * N)), 3)
    out = {}
    for name, factory in (("softmax", zoo.modern_hopfield), ("sparsemax", zoo.sparse_hopfield)):
        model = factory(P, beta=beta).compile(key=getkey())
        xs = model.init_states(batch_size=B)
        xs["visible"] = jnp.asarray(probes)
        res = hg.relax(model, xs, tol=1e-6, max_steps=2000, dt=0.1)
        v = np.asarray(res.states["visible"], np.float64)
        out[name] = (np.abs(v - target).max(1), np.linalg.norm(v - target, axis=1), np.asarray(res.steps).max())
    err_sp, res_sp, steps_sp = out["sparsemax"]
    err_sm, res_sm, steps_sm = out["softmax"]
    exact = (err_sp <= 1e-4).mean()
    print(
        f"\nsparse Hopfield N={N} K={K}, 10% flipped, beta={beta}: sparsemax max|x-xi| <= 1e-4 for {exact:.1%} of "
        f"{B} probes (residual ||x-xi|| mean {res_sp.mean():.2e}, max {res_sp.max():.2e}, {steps_sp} steps); "
        f"softmax residual ||x-xi|| mean {res_sm.mean():.4f}, min {res_sm.min():.4f}, max {res_sm.max():.4f} "
        f"({steps_sm} steps)"
    )
    assert exact >= 0.99
    assert res_sm.min() > 1e-3  # a measurable mixture for every probe ...
    assert res_sm.max() < 0.5  # ... near the right pattern


def test_gaussian_memory_fixed_points_and_merging(getkey):
    rng = np.random.default_rng(4)
    P = rng.standard_normal((10, 16)).astype(np.float32)
    x0 = jnp.asarray(P + 0.3 * rng.standard_normal(P.shape).astype(np.float32))
    dev = {}
    for beta in (1.0, 8.0):
        model = zoo.gaussian_memory(P, beta=beta).compile(key=getkey())
        res = hg.relax(model, {"visible": x0}, tol=1e-7, max_steps=2000, dt=0.5)
        dev[beta] = float(np.abs(np.asarray(res.states["visible"]) - P).max())
    # two patterns ±a (‖a‖ = 1): along a the fixed points solve s = tanh(β s); they are
    # two minima for β > 1 and merge into one at 0 for β < 1
    a = np.zeros((2, 4), np.float32)
    a[0, 0], a[1, 0] = 1.0, -1.0
    starts = np.concatenate([np.linspace(-2, 2, 21)[:, None], 0.5 * rng.standard_normal((21, 3))], 1).astype(np.float32)
    found = {}
    for beta in (0.5, 4.0):
        model = zoo.gaussian_memory(a, beta=beta).compile(key=getkey())
        res = hg.relax(model, {"visible": jnp.asarray(starts)}, tol=1e-7, max_steps=5000, dt=0.5)
        pts = distinct(np.asarray(res.states["visible"]))
        energy = lambda v, model=model: model.energy({"visible": v})  # noqa: E731
        found[beta] = np.array([p for p in pts if is_minimum(energy, p, 1e-2, 32, 0)[0]])
    s = 1.0
    for _ in range(200):  # s = tanh(4 s), by fixed-point iteration
        s = np.tanh(4.0 * s)
    print(
        f"\nGaussian memory, 10 patterns N=16: max|x* - xi| at beta=1: {dev[1.0]:.2e}, beta=8: {dev[8.0]:.2e}; "
        f"two patterns at distance 2: minima at beta=0.5: {found[0.5].round(5).tolist()}, "
        f"at beta=4: {found[4.0].round(5).tolist()} (closed form ±{s:.5f})"
    )
    assert dev[8.0] < 1e-5 < 1e-3 < dev[1.0]
    assert len(found[0.5]) == 1 and np.abs(found[0.5][0]).max() < 1e-4
    assert len(found[4.0]) == 2
    np.testing.assert_allclose(np.sort(found[4.0][:, 0]), [-s, s], atol=1e-4)
    np.testing.assert_allclose(found[4.0][:, 1:], 0.0, atol=1e-4)


TRIANGLE = np.array([[0.0, 0.0], [1.5, 0.0], [0.75, 1.5 * np.sqrt(3) / 2]], np.float32)


def test_epanechnikov_emergent_minima(getkey):
    """Three patterns 1.5 apart, support radius 1.2: pairwise and triple overlaps."""
    beta = 2 / 1.2**2
    model = zoo.epanechnikov_memory(TRIANGLE, beta=beta, eps=1e-3).compile(key=getkey())
    grid = np.array([[a, b] for a in np.linspace(-1.5, 3.0, 15) for b in np.linspace(-1.5, 2.8, 15)], np.float32)
    res = hg.relax(model, {"visible": jnp.asarray(grid)}, tol=1e-6, max_steps=4000, dt=0.05, throw=False)
    conv = np.asarray(res.converged)
    pts = distinct(np.asarray(res.states["visible"])[conv])
    energy = lambda v: model.energy({"visible": v})  # noqa: E731
    emergent = [p for p in pts if np.linalg.norm(TRIANGLE - p, axis=1).min() > 1e-2]
    checks = [is_minimum(energy, p, 1e-2, 64, i) for i, p in enumerate(emergent)]
    want = np.array([TRIANGLE[[0, 1]].mean(0), TRIANGLE[[1, 2]].mean(0), TRIANGLE[[0, 2]].mean(0), TRIANGLE.mean(0)])
    print(
        f"\nEpanechnikov, 3 patterns: {conv.mean():.0%} of {len(grid)} grid starts converged to {len(pts)} minima; "
        f"emergent (no stored pattern): {np.round(emergent, 4).tolist()}; smallest energy rise over 64 random "
        f"directions at radius 1e-2: {[f'{c[1]:.2e}' for c in checks]}"
    )
    assert conv.mean() > 0.9
    assert len(emergent) >= 1 and all(c[0] for c in checks)
    # they are the centroids of the overlapping patterns (pairs and the triple)
    for p in emergent:
        assert np.linalg.norm(want - p, axis=1).min() < 1e-4
    assert len(emergent) == 4


def test_epanechnikov_energy_descends_across_the_support_boundary(getkey):
    beta, eps = 2 / 1.2**2, 1e-2
    model = zoo.epanechnikov_memory(TRIANGLE, beta=beta, eps=eps).compile(key=getkey())
    starts = np.array([[-1.2, -0.9], [2.9, 0.1], [0.75, 2.8], [0.75, -1.4]], np.float32)

    def support(x):
        d2 = ((x[:, None, :] - TRIANGLE[None]) ** 2).sum(-1)
        return np.maximum(1 - beta / 2 * d2, 0).sum(-1)

    # Euler steps below the stiffness of the band just inside a boundary (dt ~ eps²)
    xs, E = model.run({"visible": jnp.asarray(starts)}, steps=20000, dt=eps**2)
    E = np.asarray(E, np.float64)
    rise = np.diff(E, axis=0).max()
    s0, s1 = support(starts), support(np.asarray(xs["visible"]))
    print(
        f"\nEpanechnikov descent from outside every support (S = {s0.tolist()}): after 20000 Euler steps of "
        f"dt = {eps**2:g}, S = {np.round(s1, 3).tolist()}; largest energy change per step {rise:.2e} "
        f"(energy {E[0].round(3).tolist()} -> {E[-1].round(3).tolist()})"
    )
    assert np.all(s0 == 0) and np.all(s1 > 0)
    assert rise <= 1e-6  # never increases (up to float32 rounding of energies ~3)


# ---- random features --------------------------------------------------------------------------

store = eqx.filter_jit(lambda syn, p, key: syn.store(p, key=key))
value_grad = eqx.filter_jit(jax.vmap(lambda s, g: jax.value_and_grad(lambda v: s(v))(g), in_axes=(None, 0)))


def _rf_setup():
    N, K, B, beta = 16, 8, 40, 0.3
    P = pm1(K, N, 5)
    idx = np.random.default_rng(6).integers(0, K, B)
    probes = flip(P[idx], 2, 7)
    return P, idx, jnp.asarray(probes), beta


def test_random_feature_memory_converges_to_the_gaussian_memory():
    P, idx, probes, beta = _rf_setup()
    exact = hg.GaussianMemorySynapse(len(P), beta=beta, patterns=P)
    E0, G0 = value_grad(exact, probes)
    errs = {}
    for M in (2_000, 200_000):
        rf = store(hg.RandomFeatureMemorySynapse(M, beta=beta), jnp.asarray(P), jax.random.key(11))
        E, G = value_grad(rf, probes)
        errs[M] = (
            float(jnp.linalg.norm(E - E0) / jnp.linalg.norm(E0)),
            float(jnp.linalg.norm(G - G0) / jnp.linalg.norm(G0)),
        )
    print(
        f"\nrandom features vs exact Gaussian memory (K=8, N=16, beta={beta}, 40 probes): relative error of F "
        f"{errs[2_000][0]:.4f} -> {errs[200_000][0]:.4f}, of dF/dg {errs[2_000][1]:.4f} -> {errs[200_000][1]:.4f} "
        "(2e3 -> 2e5 features)"
    )
    assert errs[200_000][0] <= errs[2_000][0] / 4
    assert errs[200_000][1] <= errs[2_000][1] / 4


@pytest.mark.slow
def test_random_feature_retrieval_matches_the_exact_memory(getkey):
    P, idx, probes, beta = _rf_setup()
    exact = zoo.gaussian_memory(P, beta=beta).compile(key=getkey())
    fe, _ = exact.run({"visible": probes}, steps=30, dt=0.5)
    se = np.sign(np.asarray(fe["visible"]))
    rf = zoo.random_feature_memory(P, num_features=200_000, beta=beta, key=jax.random.key(11)).compile(key=getkey())
    fr, er = rf.run({"visible": probes}, steps=30, dt=0.5)
    sr = np.sign(np.asarray(fr["visible"]))
    match = (se == sr).all(1).mean()
    print(
        f"\nrandom-feature memory (2e5 features) retrieval matches the exact memory for {match:.1%} of 40 probes "
        f"(exact memory retrieves the right pattern for {(se == P[idx]).all(1).mean():.1%}; largest energy change per "
        f"step {np.diff(np.asarray(er), axis=0).max():.1e})"
    )
    assert match >= 0.95
