"""PackedStates: the grouped form of the states gives the same energies, gradients and runs.

References are written out here from the formulas (a chain of tanh layers with bilinear
synapses); the per-layer dict API, tested elsewhere against the formulas, is a second check.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings

import hamux_graph as hg

from helpers.strategies import random_hams


def chain(L, width=5, **kw):
    ham = hg.HAM()
    for i in range(L + 1):
        ham.add_layer(f"x{i}", hg.TanhLayer((width,), **kw))
    for i in range(L):
        ham.add_synapse(f"s{i}", hg.DenseSynapse(stdinit=0.3), layers=(f"x{i}", f"x{i + 1}"))
    return ham


def reference_energy(model, xs):
    """E = Σ [⟨g, x⟩ − Σ log cosh(βx)/β] − Σ_i g_i W_i g_{i+1}, one sample."""
    L = len(model.synapse_names)
    gs, e = [], 0.0
    for i in range(L + 1):
        x = xs[f"x{i}"]
        beta = model.lagrangians[model.layer_index(f"x{i}")].beta
        g = jnp.tanh(beta * x)
        gs.append(g)
        e = e + jnp.sum(g * x) - jnp.sum(jnp.logaddexp(beta * x, -beta * x) - math.log(2.0)) / beta
    for i in range(L):
        e = e - gs[i] @ model.synapse(f"s{i}").W @ gs[i + 1]
    return e


def reference_dEdg(model, xs):
    names = list(xs)
    gs = {n: jnp.tanh(xs[n]) for n in names}  # β = 1
    L = len(model.synapse_names)
    syn = lambda g: -sum(g[f"x{i}"] @ model.synapse(f"s{i}").W @ g[f"x{i + 1}"] for i in range(L))
    d = jax.grad(syn)(gs)
    return {n: xs[n] + d[n] for n in names}


def states(model, key, batch=None):
    lead = () if batch is None else (batch,)
    keys = jax.random.split(key, len(model.layer_names))
    return {n: jax.random.normal(k, lead + s) for n, s, k in zip(model.layer_names, model.shapes, keys)}


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("L", [3, 40])  # one small group; a group larger than a split chunk
def test_packed_energy_and_gradient_match_formulas(L, getkey):
    model = chain(L).compile(key=getkey())
    xs = states(model, getkey())
    ps = model.pack(xs)
    assert [g.shape for g in ps.groups] == [(L + 1, 5)]
    e, d = model.energy_and_dEdg(ps)
    assert isinstance(d, hg.PackedStates)
    close(e, reference_energy(model, xs))
    close(model.energy(ps), reference_energy(model, xs))
    ref = reference_dEdg(model, xs)
    for n in model.layer_names:
        close(d[n], ref[n])
    dd = model.dEdg(ps)
    for n in model.layer_names:
        close(dd[n], ref[n])
        close(model.activations(ps)[n], jnp.tanh(xs[n]))


@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize(
    "clamp",
    [None, ("x0",), ("x0", "x9"), {"x4": np.arange(5) < 2}],
    ids=["free", "input", "both-ends", "mask"],
)
def test_packed_runs_equal_plain_euler_steps(batch, clamp, getkey):
    model = chain(9, tau=0.5).compile(key=getkey())
    xs = states(model, getkey(), batch)
    out, es = model.run(model.pack(xs), steps=4, dt=0.05, clamp=clamp)
    assert isinstance(out, hg.PackedStates)
    # plain Euler steps written out: x ← x − (dt/τ)·∂E/∂g, clamped entries kept
    held = {}
    if isinstance(clamp, dict):
        held = {n: jnp.asarray(m) for n, m in clamp.items()}
    elif clamp:
        held = {n: jnp.ones(5, bool) for n in clamp}
    x = dict(xs)
    per = (lambda f, a: f(a)) if batch is None else (lambda f, a: jax.vmap(f)(a))
    energies = []
    for _ in range(4):
        energies.append(per(lambda s: reference_energy(model, s), x))
        d = per(lambda s: reference_dEdg(model, s), x)
        x = {n: jnp.where(held[n], x[n], x[n] - 0.1 * d[n]) if n in held else x[n] - 0.1 * d[n] for n in x}
    energies.append(per(lambda s: reference_energy(model, s), x))
    close(es, jnp.stack(energies), tol=1e-4)
    got = model.unpack(out)
    for n in model.layer_names:
        close(got[n], x[n], tol=1e-4)
    step = model.unpack(model.step(model.pack(xs), dt=0.05, clamp=clamp))
    plain = model.step(xs, dt=0.05, clamp=clamp)
    for n in model.layer_names:
        close(step[n], plain[n])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_hams())
def test_pack_unpack_round_trip_is_exact(case):
    ham, seed = case
    model = ham.compile(key=jax.random.key(seed))
    for batch in (None, 2):
        xs = model.init_states(batch_size=batch, key=jax.random.key(seed + 1))
        ps = model.pack(xs)
        back = model.unpack(ps)
        assert list(back) == list(model.layer_names)
        for n in model.layer_names:
            np.testing.assert_array_equal(np.asarray(back[n]), np.asarray(xs[n]))
            np.testing.assert_array_equal(np.asarray(ps[n]), np.asarray(xs[n]))
        e, d = model.energy_and_dEdg(ps)
        e2, d2 = model.energy_and_dEdg(xs)
        close(e, e2)
        for n in model.layer_names:
            close(d[n], d2[n])


def test_packed_states_are_a_pytree_under_jit_and_grad(getkey):
    model = chain(12).compile(key=getkey())
    xs = states(model, getkey(), batch=2)
    ps = model.pack(xs)
    e = jax.jit(lambda p: model.energy(p))(ps)
    close(e, jax.vmap(lambda s: reference_energy(model, s))(xs))
    # ∂E/∂x through the packed form equals autodiff of the written-out energy
    g_packed = model.unpack(jax.grad(lambda p: jnp.sum(model.energy(p)))(ps))
    g_ref = jax.grad(lambda s: jnp.sum(jax.vmap(lambda t: reference_energy(model, t))(s)))(xs)
    for n in model.layer_names:
        close(g_packed[n], g_ref[n], tol=1e-4)


@pytest.mark.bad_arguments
def test_packed_errors_name_the_problem(getkey):
    a = chain(4).compile(key=getkey())
    b = chain(5).compile(key=getkey())
    ps = a.pack(states(a, getkey()))
    with pytest.raises(hg.StateError, match="packed for a model with different layers"):
        b.energy(ps)
    with pytest.raises(hg.StateError, match="unknown layer 'nope'"):
        ps["nope"]
    with pytest.raises(hg.StateError, match="unpack takes PackedStates"):
        a.unpack(states(a, getkey()))
    bad = hg.PackedStates((jnp.zeros((5, 4)),), ps.layout, False)
    with pytest.raises(hg.StateError, match=r"group 0 .* has shape \(5, 4\), expected \(5, 5\)"):
        a.energy(bad)
    mixed = hg.PackedStates((jnp.zeros((2, 5, 5)),), ps.layout, False)
    with pytest.raises(hg.StateError, match="expected"):
        a.dEdg(mixed)


def test_relax_accepts_packed_states_and_answers_in_kind(getkey):
    model = chain(3).compile(key=getkey())
    xs = states(model, getkey(), batch=2)
    a = model.relax(model.pack(xs), tol=1e-3, max_steps=3000, dt=0.2)
    b = model.relax(xs, tol=1e-3, max_steps=3000, dt=0.2)
    assert isinstance(a.states, hg.PackedStates)
    for n in model.layer_names:
        close(a.states[n], b.states[n])
