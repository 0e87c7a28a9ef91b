"""Grouped evaluation (identical layers/synapses stacked and vmapped) gives exact energies.

Every test compares the compiled model with a reference energy written out here, node by
node, from the formulas (tanh, relu, softmax and identity Lagrangians; bilinear and hidden-layer
synapses), and with the library's own ungrouped path.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph._energy import core, kernel, stacking

from helpers.reference import node_by_node_energy


# ---- reference energies written out ------------------------------------------------------------

LAGS = {
    "tanh": (lambda x: jnp.tanh(x), lambda x: jnp.sum(jnp.logaddexp(x, -x) - math.log(2.0))),
    "relu": (lambda x: jnp.maximum(x, 0.0), lambda x: 0.5 * jnp.sum(jnp.maximum(x, 0.0) ** 2)),
    "ident": (lambda x: x, lambda x: 0.5 * jnp.sum(x * x)),
    "softmax": (lambda x: jax.nn.softmax(x), lambda x: jax.nn.logsumexp(x)),
}
LAYERS = {"tanh": hg.TanhLayer, "relu": hg.ReluLayer, "ident": hg.IdentityLayer, "softmax": hg.SoftmaxLayer}


def build(layers, synapses, *, key, biases=False, taus=None):
    """layers: [(name, kind, size)]; synapses: [(name, layers, kind or ('share', owner))]."""
    ham = hg.HAM()
    for i, (n, kind, size) in enumerate(layers):
        tau = 1.0 if taus is None else taus[i]
        ham.add_layer(n, LAYERS[kind]((size,), tau=tau, use_bias=biases))
    for n, conn, kind in synapses:
        if isinstance(kind, tuple):
            ham.add_synapse(n, shares=kind[1], layers=conn)
        elif kind == "dense":
            ham.add_synapse(n, hg.DenseSynapse(stdinit=0.3), layers=conn)
        else:
            ham.add_synapse(n, hg.DenseMatrixSynapseWithHiddenLayer(nhid=5, stdinit=0.3), layers=conn)
    model = ham.compile(key=key)
    if biases:
        leaves = [b for b in model.biases if b is not None]
        new = [0.2 * jax.random.normal(jax.random.fold_in(key, i), b.shape) for i, b in enumerate(leaves)]
        model = eqx.tree_at(lambda m: [b for b in m.biases if b is not None], model, new)
    return model


def reference(model, layers, synapses):
    """Plain energy E(xs) and Legendre gradient, one sample, written from the formulas."""
    kinds = {n: k for n, k, _ in layers}

    def parts(xs):
        us = {n: xs[n] - (0 if model.bias(n) is None else model.bias(n)) for n in xs}
        gs, el = {}, 0.0
        for n in xs:
            act, lag = LAGS[kinds[n]]
            if kinds[n] == "tanh":  # with its learnable beta: g = tanh(βx), L = Σ log cosh(βx) / β
                beta = model.lagrangians[model.layer_index(n)].beta
                gs[n] = act(beta * us[n])
                el = el + jnp.sum(gs[n] * us[n]) - lag(beta * us[n]) / beta
            else:
                gs[n] = act(us[n])
                el = el + jnp.sum(gs[n] * us[n]) - lag(us[n])
        return us, gs, el

    def syn_energy(gs):
        total = 0.0
        for n, conn, _ in synapses:
            syn = model.synapse(n)
            if isinstance(syn, hg.DenseSynapse):
                total = total - gs[conn[0]] @ syn.W @ gs[conn[1]]
            else:
                h = sum(gs[c] @ W for c, W in zip(conn, syn.Ws))
                total = total - 0.5 * jnp.sum(jnp.maximum(h, 0.0) ** 2)
        return total

    def energy(xs):
        _, gs, el = parts(xs)
        return el + syn_energy(gs)

    def dEdg(xs):
        us, gs, _ = parts(xs)
        d = jax.grad(syn_energy)(gs)
        return {n: us[n] + d[n] for n in xs}

    return energy, dEdg


def states(model, key, batch=None):
    lead = () if batch is None else (batch,)
    return {
        n: jax.random.normal(jax.random.fold_in(key, i), lead + s)
        for i, (n, s) in enumerate(zip(model.layer_names, model.shapes))
    }


def close(a, b, tol=2e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def per_sample(fn, xs):
    n = next(iter(xs.values())).shape[0]
    outs = [fn({k: v[i] for k, v in xs.items()}) for i in range(n)]
    return jax.tree.map(lambda *a: jnp.stack(a), *outs)


# ---- graphs: a long chain (one group), a mixed graph, weight sharing --------------------------


def chain(L, size=6):
    layers = [(f"x{i}", "tanh", size) for i in range(L + 1)]
    synapses = [(f"s{i}", (f"x{i}", f"x{i + 1}"), "dense") for i in range(L)]
    return layers, synapses


MIXED = (
    [("a0", "tanh", 5), ("a1", "tanh", 5), ("a2", "tanh", 5), ("b", "relu", 7), ("c", "softmax", 4), ("a3", "tanh", 5)],
    [
        ("s01", ("a0", "a1"), "dense"),
        ("s12", ("a1", "a2"), "dense"),
        ("s23", ("a2", "a3"), "dense"),
        ("sab", ("a0", "b"), "dense"),
        ("sbc", ("b", "c"), "dense"),
        ("hid", ("a1", "b", "c"), "hidden"),
        ("s30", ("a3", "a0"), ("share", "s01")),
        ("s31", ("a3", "a1"), ("share", "s12")),
    ],
)


@pytest.mark.parametrize("biases", [False, True])
def test_chain_groups_into_one_stacked_computation_and_matches_reference(getkey, biases):
    layers, synapses = chain(12)  # 13 layers > STACK_THRESHOLD: the dynamic stacking path
    model = build(layers, synapses, key=getkey(), biases=biases)
    st = kernel.build(model)
    assert [len(g.members) for g in st.layer_groups] == [13]
    assert [len(g.edges) for g in st.edge_groups] == [12]
    energy, dEdg = reference(model, layers, synapses)
    xs = states(model, getkey())
    close(model.energy(xs), energy(xs))
    close(model.dEdg(xs), dEdg(xs))
    e, d = model.energy_and_dEdg(xs)
    close((e, d), (energy(xs), dEdg(xs)))
    xb = states(model, getkey(), batch=3)
    close(model.energy(xb), per_sample(energy, xb))
    close(model.dEdg(xb), per_sample(dEdg, xb))
    tree = model.energy_tree(xb)
    assert set(tree["layers"]) == set(model.layer_names)
    total = sum(tree["layers"].values()) + sum(tree["synapses"].values())
    close(total, per_sample(energy, xb))


def test_partly_identical_graph_with_weight_sharing(getkey):
    layers, synapses = MIXED
    model = build(layers, synapses, key=getkey(), biases=True)
    st = kernel.build(model)
    sizes = sorted(len(g.members) for g in st.layer_groups)
    assert sizes == [1, 1, 4]  # the four tanh layers form one group
    dense_groups = [g for g in st.edge_groups if len(g.edges) > 1]
    assert len(dense_groups) == 1 and len(dense_groups[0].edges) == 5  # a-a bilinears, shared ones included
    assert len(dense_groups[0].owners) == 3  # s01, s12, s23 own; s30, s31 reuse them
    energy, dEdg = reference(model, layers, synapses)
    for batch in (None, 4):
        xs = states(model, getkey(), batch)
        want_e = energy(xs) if batch is None else per_sample(energy, xs)
        want_d = dEdg(xs) if batch is None else per_sample(dEdg, xs)
        close(model.energy_and_dEdg(xs), (want_e, want_d))


def test_grouped_equals_ungrouped_path(getkey):
    layers, synapses = MIXED
    model = build(layers, synapses, key=getkey(), biases=True)
    flat, _ = core.flat_states(model, states(model, getkey()))
    e1, d1 = core.sample_energy_and_dEdg(model, flat)
    e0, d0 = core.sample_energy_and_dEdg(model, flat, group=False)
    close((e1, d1), (e0, d0), tol=1e-5)
    close(core.sample_energy(model, flat), core.sample_energy(model, flat, group=False), tol=1e-5)
    close(core.sample_dEdg(model, flat), d0, tol=1e-5)
    # node by node, as written out in tests/helpers/reference.py
    close(e1, node_by_node_energy(model, flat), tol=1e-5)


def test_parameter_gradients_through_grouped_energy(getkey):
    layers, synapses = chain(10, size=4)
    model = build(layers, synapses, key=getkey())
    xs = states(model, getkey(), batch=2)

    def loss(m):
        return jnp.sum(m.energy(xs))

    def loss_ref(m):
        energy, _ = reference(m, layers, synapses)
        return jnp.sum(per_sample(energy, xs))

    g = jax.grad(loss)(model)
    g_ref = jax.grad(loss_ref)(model)
    for i in range(10):
        close(g.synapse(f"s{i}").W, g_ref.synapse(f"s{i}").W, tol=1e-4)
    close(g.lagrangians[3].beta, g_ref.lagrangians[3].beta, tol=1e-4)


def test_new_weights_are_not_served_from_a_stale_cache(getkey):
    layers, synapses = chain(9, size=3)
    model = build(layers, synapses, key=getkey())
    xs = states(model, getkey())
    e_old = model.energy(xs)
    W = model.synapse("s4").W
    model2 = eqx.tree_at(lambda m: m.synapse("s4").W, model, 3.0 * W)
    energy2, _ = reference(model2, layers, synapses)
    close(model2.energy(xs), energy2(xs))
    assert not np.allclose(np.asarray(model2.energy(xs)), np.asarray(e_old))
    close(model.energy(xs), e_old)


# ---- clamped runs: held parts, constant drives, masks, per-layer tau ---------------------------


def reference_run(model, layers, synapses, xs, steps, dt, held=(), masks=None):
    energy, dEdg = reference(model, layers, synapses)
    taus = dict(zip(model.layer_names, model.taus))
    masks = masks or {}
    es = []
    for _ in range(steps):
        es.append(energy(xs))
        d = dEdg(xs)
        new = {}
        for n, x in xs.items():
            if n in held:
                new[n] = x
                continue
            x_new = x - dt / taus[n] * d[n]
            new[n] = jnp.where(masks[n], x, x_new) if n in masks else x_new
        xs = new
    es.append(energy(xs))
    return xs, jnp.stack(es)


@pytest.mark.parametrize("batch", [None, 2])
def test_clamped_run_matches_plain_euler(getkey, batch):
    layers, synapses = MIXED
    taus = [1.0, 2.0, 0.5, 1.0, 1.5, 1.0]  # different taus inside the tanh group
    model = build(layers, synapses, key=getkey(), biases=True, taus=taus)
    mask = jnp.array([True, False, True, False, False, True, False])
    held = ("a0", "c")
    st = kernel.build(
        model, [kernel.HELD if n in held else kernel.MASK if n == "b" else kernel.FREE for n in model.layer_names]
    )
    assert any(g.role == kernel.DRIVE for g in st.edge_groups)  # e.g. s01: held a0, free a1
    xs = states(model, getkey(), batch)
    clamp = {"a0": True, "c": True, "b": mask}
    out, es = model.run(xs, steps=6, dt=0.05, clamp=clamp)
    if batch is None:
        ref_out, ref_es = reference_run(model, layers, synapses, xs, 6, 0.05, held, {"b": mask})
    else:
        runs = [
            reference_run(model, layers, synapses, {k: v[i] for k, v in xs.items()}, 6, 0.05, held, {"b": mask})
            for i in range(batch)
        ]
        ref_out = jax.tree.map(lambda *a: jnp.stack(a), *[r[0] for r in runs])
        ref_es = jnp.stack([r[1] for r in runs], axis=1)
    close(out, ref_out, tol=1e-4)
    close(es, ref_es, tol=1e-4)
    for n in held:
        assert out[n] is xs[n] or np.array_equal(np.asarray(out[n]), np.asarray(xs[n]))
    if batch is None:
        ref_step, _ = reference_run(model, layers, synapses, xs, 1, 0.05, held, {"b": mask})
        close(model.step(xs, dt=0.05, clamp=clamp), ref_step, tol=1e-4)


def test_long_clamped_chain_run(getkey):
    layers, synapses = chain(11, size=4)
    model = build(layers, synapses, key=getkey())
    xs = states(model, getkey())
    out, es = model.run(xs, steps=5, dt=0.1, clamp=("x0", "x11"))
    ref_out, ref_es = reference_run(model, layers, synapses, xs, 5, 0.1, ("x0", "x11"))
    close(out, ref_out, tol=1e-4)
    close(es, ref_es, tol=1e-4)
    assert np.all(np.diff(np.asarray(es)) <= 1e-6)


def test_same_structure_different_parameter_shapes_do_not_share_compiled_code(getkey):
    # LayerNorm's delta may be a scalar or a vector: same tree structure, different shapes,
    # so a different grouping; each model must get its own compiled function.
    def layernorm_chain(delta):
        ham = hg.HAM()
        for i in range(10):
            ham.add_layer(f"x{i}", hg.Layer(hg.LLayerNorm(delta=delta), shape=(5,)))
        for i in range(9):
            ham.add_synapse(f"s{i}", hg.DenseSynapse(stdinit=0.3), layers=(f"x{i}", f"x{i + 1}"))
        return ham.compile(key=jax.random.key(3))

    def reference_energy(model, xs, delta):
        def g_and_L(x):
            xc = x - jnp.mean(x)
            var = jnp.mean(xc * xc)
            g = xc / jnp.sqrt(var + 1e-5) + delta
            return g, x.size * jnp.sqrt(var + 1e-5) + jnp.sum(delta * x)

        gs, e = {}, 0.0
        for n, x in xs.items():
            g, lag = g_and_L(x)
            gs[n] = g
            e = e + jnp.sum(g * x) - lag
        for i in range(9):
            e = e - gs[f"x{i}"] @ model.synapse(f"s{i}").W @ gs[f"x{i + 1}"]
        return e

    xs = None
    for delta in (0.5, jnp.linspace(-1.0, 1.0, 5)):
        model = layernorm_chain(delta)
        xs = xs or states(model, getkey())
        close(model.energy(xs), reference_energy(model, xs, jnp.asarray(delta)), tol=1e-4)


def test_clamped_conv_run_matches_repeated_euler_steps(getkey):
    """``run`` precomputes the drive of a held conv input; it must equal plain Euler steps."""
    ham = hg.HAM()
    ham.add_layer("img", hg.TanhLayer((6, 6, 2)))
    ham.add_layer("feat", hg.TanhLayer((3, 3, 4), use_bias=True))
    ham.add_layer("lab", hg.SoftmaxLayer((3,)))
    ham.add_synapse("conv", hg.ConvSynapse(3, strides=2, kernel_init="normal", stdinit=0.5), layers=("img", "feat"))
    ham.add_synapse("dense", hg.DenseSynapse(stdinit=0.5), layers=("feat", "lab"))
    model = ham.compile(key=getkey())
    xs = {k: 2.0 * v for k, v in model.init_states(batch_size=2, key=getkey()).items()}
    xs["img"] = jax.random.normal(getkey(), (2, 6, 6, 2))
    got, _ = model.run(xs, steps=15, dt=0.1, clamp=("img",))
    want = dict(xs)
    for _ in range(15):
        d = model.dEdg(want)
        want = {
            n: want[n] if n == "img" else want[n] - 0.1 / tau * d[n] for n, tau in zip(model.layer_names, model.taus)
        }
    for n in model.layer_names:
        np.testing.assert_allclose(np.asarray(got[n]), np.asarray(want[n]), rtol=1e-4, atol=1e-5)


# ---- splitting and stacking groups outside jit, in compiled chunks ---------------------------


@pytest.mark.parametrize("n", [3, 9, 32, 33, 70])
@pytest.mark.parametrize("axis", [0, 1])
def test_split_returns_every_member_in_order(n, axis):
    a = np.arange(2 * n * 3, dtype=np.float32).reshape((n, 2, 3) if axis == 0 else (2, n, 3))
    rows = stacking.split(jnp.asarray(a), axis)
    assert len(rows) == n
    for i, r in enumerate(rows):
        np.testing.assert_array_equal(np.asarray(r), np.take(a, i, axis=axis))


@pytest.mark.parametrize("n", [5, 20, 70])
def test_compiled_stacking_off_host_equals_numpy(monkeypatch, n):
    # the path used on accelerators (no host numpy), exercised here on the CPU
    monkeypatch.setattr(stacking, "_on_host", lambda arrays: False)
    layers, synapses = chain(n - 1, size=3)
    model = build(layers, synapses, key=jax.random.key(0))
    st = kernel.build(model)
    flat = [jnp.full((2, 3), float(i)) for i in range(n)]
    (out,) = stacking.stack_groups(st, flat, axis=1)
    np.testing.assert_array_equal(np.asarray(out), np.stack([np.asarray(f) for f in flat], axis=1))


def test_chain_longer_than_a_chunk_matches_reference(getkey):
    layers, synapses = chain(40, size=3)  # 41 members: split and stacked in several chunks
    model = build(layers, synapses, key=getkey())
    energy, dEdg = reference(model, layers, synapses)
    xb = states(model, getkey(), batch=2)
    e, d = model.energy_and_dEdg(xb)
    close((e, d), (per_sample(energy, xb), per_sample(dEdg, xb)), tol=1e-4)
    tree = model.energy_tree(xb)
    close(sum(tree["layers"].values()) + sum(tree["synapses"].values()), e, tol=1e-4)


def test_slot_gathered_from_many_groups_stacks_in_the_trace(getkey):
    # twelve identical edges whose first slot alternates between tanh and relu layers: the
    # slot is stacked from two groups inside the compiled function (with runtime offsets)
    layers = [(f"p{i}", "tanh" if i % 2 else "relu", 4) for i in range(12)] + [("q", "tanh", 4)]
    synapses = [(f"s{i}", (f"p{i}", "q"), "dense") for i in range(12)]
    model = build(layers, synapses, key=getkey())
    st = kernel.build(model)
    assert kernel.needs_index(st)
    energy, dEdg = reference(model, layers, synapses)
    xs = states(model, getkey())
    close(model.energy_and_dEdg(xs), (energy(xs), dEdg(xs)), tol=1e-4)
