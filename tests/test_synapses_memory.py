"""Distance-kernel memory synapses against their formulas, written out here in float64 numpy.

Also: validation errors, GraphML and saved-model round trips, summary and drawing labels,
grouping of identical memories, ``store`` and the learnable ``beta``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import hamux_graph as hg


matplotlib.use("Agg")

call = eqx.filter_jit(lambda syn, g: syn(g))
store = eqx.filter_jit(lambda syn, p, key=None: syn.store(p, key=key))
grad = eqx.filter_jit(lambda syn, g: jax.grad(lambda s, v: s(v), argnums=(0, 1))(syn, g))


def np_d2(g, P):
    return ((g.reshape(1, -1) - P.reshape(P.shape[0], -1)) ** 2).sum(1)


def np_lse(a):
    m = a.max()
    return m + np.log(np.exp(a - m).sum())


def np_gauss(g, P, beta):
    return np_lse(-0.5 * beta * np_d2(g, P)) / beta


def np_epan(g, P, beta, eps):
    u = 0.5 * beta * np_d2(g, P)
    S = np.maximum(1 - u, 0).sum()
    if S > 0:  # inside some support: log(S + eps)
        return np.log(S + eps) / beta
    return (np.log(eps) - (u.min() - 1)) / beta  # outside: eps times a Gaussian of the nearest distance


def np_features(x, omega, beta):
    proj = np.sqrt(beta) * omega @ x.reshape(-1)
    return np.sqrt(2.0 / (2 * omega.shape[0])) * np.concatenate([np.cos(proj), np.sin(proj)])


def np_rf(g, omega, T, beta, eps):
    s = np_features(g, omega, beta) @ T
    return np.log((s + np.sqrt(s * s + eps * eps)) / 2) / beta


def f64(a):
    return np.asarray(a, np.float64)


def test_gaussian_value_and_gradient(getkey):
    beta = 0.7
    P = f64(jax.random.normal(getkey(), (6, 3, 4)))
    syn = hg.GaussianMemorySynapse(6, beta=beta, patterns=jnp.asarray(P, jnp.float32))
    P = f64(syn.patterns)
    for scale in (0.3, 1.0, 4.0):
        g = f64(scale * jax.random.normal(getkey(), (3, 4)))
        gj = jnp.asarray(g, jnp.float32)
        g = f64(gj)
        np.testing.assert_allclose(float(call(syn, gj)), np_gauss(g, P, beta), rtol=1e-5, atol=1e-5)
        # ∂F/∂g = Σ_μ p_μ (ξ_μ − g), p = softmax(−β d²/2); ∂F/∂β by central differences
        a = -0.5 * beta * np_d2(g, P)
        p = np.exp(a - a.max())
        p /= p.sum()
        dsyn, dg = grad(syn, gj)
        want = np.tensordot(p, P, axes=1) - g
        np.testing.assert_allclose(f64(dg), want, rtol=1e-4, atol=1e-4)
        h = 1e-5
        fd = (np_gauss(g, P, beta + h) - np_gauss(g, P, beta - h)) / (2 * h)
        np.testing.assert_allclose(float(dsyn.beta), fd, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(f64(dsyn.patterns), -(p[:, None, None] * (P - g)), rtol=1e-4, atol=1e-5)


def test_epanechnikov_value_inside_outside_and_continuity(getkey):
    beta, eps = 2.0, 1e-3
    P = np.array([[0.0, 0.0], [1.2, 0.0], [0.0, 3.0]])
    syn = hg.EpanechnikovMemorySynapse(3, beta=beta, eps=eps, patterns=jnp.asarray(P, jnp.float32))
    pts = [
        np.array([0.1, 0.2]),
        np.array([0.6, 0.0]),
        np.array([0.9, 2.5]),
        np.array([5.0, 5.0]),
        np.array([40.0, -30.0]),
    ]
    for g in pts:
        np.testing.assert_allclose(
            float(call(syn, jnp.asarray(g, jnp.float32))), np_epan(g, P, beta, eps), rtol=1e-5, atol=1e-5
        )
    # finite however far (the pure log-sum-ReLU would be −∞ there) and continuous across a
    # support boundary: the gap between F at depth δ inside and δ outside shrinks like δ
    assert np.isfinite(float(call(syn, jnp.array([1e3, 1e3]))))
    r = np.sqrt(2 / beta)
    gaps = []
    for delta in (1e-3, 1e-4, 1e-5):
        inner = float(call(syn, jnp.array([0.0, -(r - delta)])))
        outer = float(call(syn, jnp.array([0.0, -(r + delta)])))
        gaps.append(inner - outer)
        assert 0 < inner - outer < 1.5 * r * delta * (1 / eps + 1), (delta, inner, outer)
    assert gaps[2] < gaps[1] / 5 < gaps[0] / 25
    # inside the supports ∂F/∂g = Σ_{μ: u_μ<1} (ξ_μ − g) / (S + eps): no term from the continuation
    for g in (np.array([0.6, 0.1]), np.array([0.05, -0.1])):
        u = 0.5 * beta * np_d2(g, P)
        S = np.maximum(1 - u, 0).sum()
        _, dg = grad(syn, jnp.asarray(g, jnp.float32))
        np.testing.assert_allclose(f64(dg), ((u < 1)[:, None] * (P - g)).sum(0) / (S + eps), rtol=1e-4, atol=1e-5)
    # outside: ∂F/∂g = ξ_nearest − g
    g = np.array([0.0, -2.0])
    _, dg = grad(syn, jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(f64(dg), P[0] - g, rtol=1e-5)


def test_random_feature_value_store_and_determinism(getkey):
    beta, M = 0.5, 512
    P = f64(jax.random.normal(getkey(), (4, 2, 3)))
    key = getkey()
    empty = hg.RandomFeatureMemorySynapse(M, beta=beta)
    first = store(empty, jnp.asarray(P[:2], jnp.float32), key)
    syn = store(first, jnp.asarray(P[2:], jnp.float32))  # stored in two batches: T adds up
    omega, T = f64(syn.omega), f64(syn.T)
    assert omega.shape == (M // 2, 6) and T.shape == (M,)
    P32 = f64(jnp.asarray(P, jnp.float32))
    np.testing.assert_allclose(T, sum(np_features(p, omega, beta) for p in P32), rtol=1e-4, atol=1e-4)
    # the draw is a function of the key only
    again = store(empty, jnp.asarray(P[2:], jnp.float32), key)
    np.testing.assert_array_equal(np.asarray(again.omega), np.asarray(syn.omega))
    np.testing.assert_allclose(np.asarray(again.T) + np.asarray(first.T), np.asarray(syn.T), rtol=1e-5, atol=1e-5)
    for g in (P32[0] + 0.1, np.zeros((2, 3)), 10 + np.zeros((2, 3))):
        gj = jnp.asarray(g, jnp.float32)
        np.testing.assert_allclose(float(call(syn, gj)), np_rf(f64(gj), omega, T, beta, syn.eps), rtol=1e-4, atol=1e-4)
    # far away the estimate is noise around 0: the guard keeps F finite
    assert np.isfinite(float(call(syn, jnp.full((2, 3), 50.0))))
    with pytest.raises(hg.ValidationError, match="no frequencies yet; pass key"):
        hg.RandomFeatureMemorySynapse(8).store(jnp.ones((2, 3)))
    with pytest.raises(hg.ValidationError, match=r"patterns of shape \(4,\) \(4 entries\) do not fit"):
        syn.store(jnp.ones((1, 4)))


def test_validation_errors_name_the_node():
    with pytest.raises(hg.ValidationError, match="num_memories must be an int >= 1, got 0"):
        hg.GaussianMemorySynapse(0)
    with pytest.raises(hg.ValidationError, match="beta must be a scalar"):
        hg.GaussianMemorySynapse(3, beta=jnp.ones(2))
    with pytest.raises(
        hg.ValidationError,
        match=r"explicit patterns must have shape \(num_memories, \*layer_shape\) = \(3, \.\.\.\), got \(2, 4\)",
    ):
        hg.EpanechnikovMemorySynapse(3, patterns=jnp.ones((2, 4)))
    with pytest.raises(hg.ValidationError, match="eps must be > 0"):
        hg.EpanechnikovMemorySynapse(3, eps=0.0)
    with pytest.raises(hg.ValidationError, match=r"num_features must be even.*got 9\. Use num_features=10"):
        hg.RandomFeatureMemorySynapse(8 + 1)
    with pytest.raises(hg.ValidationError, match=r"kernel must be one of \['gaussian'\], got 'laplace'"):
        hg.RandomFeatureMemorySynapse(8, kernel="laplace")
    with pytest.raises(hg.ValidationError, match=r"explicit T must have shape \(num_features,\) = \(8,\)"):
        hg.RandomFeatureMemorySynapse(8, T=jnp.ones(4))
    ham = hg.HAM()
    ham.add_layer("v", hg.IdentityLayer((4,)))
    ham.add_layer("w", hg.IdentityLayer((4,)))
    ham.add_synapse("mem", hg.GaussianMemorySynapse(3, patterns=jnp.ones((3, 5))), layers=("v",))
    with pytest.raises(
        hg.ValidationError, match=r"synapse 'mem' over layers \['v'\].*`patterns` has shape \(3, 5\).*need \(3, 4\)"
    ):
        ham.validate()
    ham = hg.HAM()
    ham.add_layer("v", hg.IdentityLayer((4,)))
    ham.add_layer("w", hg.IdentityLayer((4,)))
    ham.add_synapse("mem", hg.GaussianMemorySynapse(3), layers=("v", "w"))
    with pytest.raises(hg.ValidationError, match=r"synapse 'mem'.*GaussianMemorySynapse connects exactly 1 layer"):
        ham.validate()
    ham = hg.HAM()
    ham.add_layer("v", hg.IdentityLayer((2, 3)))
    ham.add_synapse("mem", hg.RandomFeatureMemorySynapse(8, omega=jnp.ones((4, 5))), layers=("v",))
    with pytest.raises(hg.ValidationError, match=r"synapse 'mem'.*`omega` has shape \(4, 5\).*need \(4, 6\)"):
        ham.validate()


def _all_memories_ham():
    ham = hg.HAM()
    ham.add_layer("v", hg.IdentityLayer((2, 3)))
    ham.add_layer("h", hg.SparsemaxLayer((5,), beta=2.0, tau=0.1))
    ham.add_layer("e", hg.EntmaxLayer((2, 4), alpha=1.25, beta=0.5, axis=0))
    ham.add_layer("q", hg.GhostmaxLayer((4,), beta=1.5))
    ham.add_synapse("gauss", hg.GaussianMemorySynapse(4, beta=0.8), layers=("v",))
    ham.add_synapse("epan", hg.EpanechnikovMemorySynapse(4, beta=0.3, eps=1e-2), layers=("v",))
    ham.add_synapse("rf", hg.RandomFeatureMemorySynapse(64, beta=0.6, eps=1e-2), layers=("v",))
    return ham


@pytest.fixture(scope="module")
def compiled():
    ham = _all_memories_ham()
    return ham, ham.compile(key=jax.random.key(3))


def test_graphml_and_saved_model_round_trips(tmp_path, getkey, compiled):
    ham, model = compiled
    path = tmp_path / "m.graphml"
    hg.write_graphml(ham, path)
    back = hg.read_graphml(path)
    for name in ("gauss", "epan", "rf"):
        assert back.synapses[name].config() == ham.synapses[name].config()
    for name in ("h", "e", "q"):
        assert back.layers[name].lagrangian.config() == ham.layers[name].lagrangian.config()
    xs = model.init_states(batch_size=3, key=getkey())
    # the same architecture and key compile to the same model (patterns, frequencies drawn alike)
    np.testing.assert_allclose(
        np.asarray(back.compile(key=jax.random.key(3)).energy(xs)), np.asarray(model.energy(xs)), rtol=1e-6
    )
    # a trained-looking model: stored patterns in the random-feature memory, changed betas
    rf = store(model.synapse("rf"), jax.random.normal(getkey(), (3, 2, 3)))
    model = eqx.tree_at(lambda m: m.synapses[model.owner_names.index("rf")], model, rf)
    model = eqx.tree_at(lambda m: m.synapses[model.owner_names.index("gauss")].beta, model, jnp.float32(1.7))
    hg.save(model, tmp_path / "m.hamux")
    loaded = hg.load(tmp_path / "m.hamux")
    names = hg.parameter_names(loaded)
    assert {"synapses/rf/omega", "synapses/rf/T", "synapses/gauss/patterns", "synapses/gauss/beta"} <= set(names)
    np.testing.assert_array_equal(np.asarray(loaded.synapse("rf").T), np.asarray(rf.T))
    np.testing.assert_array_equal(np.asarray(loaded.synapse("rf").omega), np.asarray(rf.omega))
    assert float(loaded.synapse("gauss").beta) == pytest.approx(1.7)
    np.testing.assert_allclose(np.asarray(loaded.energy(xs)), np.asarray(model.energy(xs)), rtol=1e-6)


def test_summary_and_drawing_labels(compiled):
    ham, model = compiled
    text = ham.summary()
    for s in (
        "GaussianMemorySynapse",
        "EpanechnikovMemorySynapse",
        "RandomFeatureMemorySynapse",
        "LSparsemax(beta=2)",
        "LEntmax(beta=0.5, alpha=1.25, axis=0)",
        "LGhostmax(beta=1.5)",
    ):
        assert s in text, s
    # parameter counts: patterns + beta; omega + T + beta
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert rows["gauss"].split()[-1] == f"{4 * 6 + 1}" and rows["epan"].split()[-1] == f"{4 * 6 + 1}"
    assert rows["rf"].split()[-1] == f"{64 // 2 * 6 + 64 + 1}"
    ax = ham.draw()
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("gauss\nGaussian") for t in texts)
    assert "h\n5\nLSparsemax(beta=2)" in texts
    assert "q\n4\nLGhostmax(beta=1.5)" in texts
    assert "RandomFeatureMemorySynapse" in model.summary()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_identical_memories_group_and_match_the_written_out_energy(getkey):
    # two memories of the same kind on two layers of the same shape: one vmapped group; the
    # energy must equal the sum of the formulas
    beta = 0.9
    ham = hg.HAM()
    for name in ("a", "b"):
        ham.add_layer(name, hg.IdentityLayer((5,)))
        ham.add_synapse(f"mem_{name}", hg.GaussianMemorySynapse(7, beta=beta), layers=(name,))
        ham.add_synapse(f"epan_{name}", hg.EpanechnikovMemorySynapse(7, beta=0.2), layers=(name,))
    model = ham.compile(key=getkey())
    from hamux_graph._energy import kernel  # as tests/test_kernel.py: the grouping itself

    st = kernel.build(model)
    assert sorted(len(g.edges) for g in st.edge_groups) == [2, 2]  # each kind of memory: one vmapped group
    xs = model.init_states(batch_size=4, key=getkey())
    tree = model.energy_tree(xs)
    E = sum(f64(e) for part in tree.values() for e in part.values())
    for i in range(4):
        want = 0.0
        for name in ("a", "b"):
            x = f64(xs[name][i])
            mem = -np_gauss(x, f64(model.synapse(f"mem_{name}").patterns), beta)
            np.testing.assert_allclose(f64(tree["synapses"][f"mem_{name}"][i]), mem, rtol=1e-5, atol=1e-5)
            want += 0.5 * x @ x + mem - np_epan(x, f64(model.synapse(f"epan_{name}").patterns), 0.2, 1e-3)
        np.testing.assert_allclose(E[i], want, rtol=1e-5, atol=1e-5)
    # the patterns of the two memories differ (drawn from the node keys)
    assert not np.allclose(np.asarray(model.synapse("mem_a").patterns), np.asarray(model.synapse("mem_b").patterns))


def test_a_synapse_without_its_parameters_says_how_to_create_them():
    g = jnp.ones(4)
    with pytest.raises(hg.ValidationError, match=r"GaussianMemorySynapse: parameter 'patterns' has not been created"):
        hg.GaussianMemorySynapse(3)(g)
    with pytest.raises(hg.ValidationError, match=r"RandomFeatureMemorySynapse: parameter 'omega' .*\.init\("):
        hg.RandomFeatureMemorySynapse(8).features(g)
    with pytest.raises(hg.ValidationError, match=r"DenseSynapse: parameter 'W' has not been created"):
        hg.DenseSynapse()(g, g)
    with pytest.raises(hg.ValidationError, match=r"SelfAttentionSynapse: parameter 'Wq' has not been created"):
        hg.SelfAttentionSynapse(num_heads=1, zspace_dim=2)(jnp.ones((3, 4)))
    syn = hg.GaussianMemorySynapse(3).init([(4,)], key=jax.random.key(0))
    assert jnp.isfinite(syn(g))
