"""Dynamics: Lyapunov descent on random graphs, run == repeated step, clamping, BPTT."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import hamux_graph as hg
from strategies import random_hams

@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_hams())
def test_energy_never_increases_along_run(case):
    ham, seed = case
    key = jax.random.key(seed)
    k1, k2, k3 = jax.random.split(key, 3)
    model = ham.compile(key=k1)
    # random biases so u = x - b matters
    model = eqx.tree_at(
        lambda m: [b for b in m.biases if b is not None],
        model,
        [0.3 * jax.random.normal(jax.random.fold_in(k3, i), b.shape) for i, b in enumerate(b for b in model.biases if b is not None)],
    )
    xs = {n: jax.random.normal(jax.random.fold_in(k2, i), (2,) + s) for i, (n, s) in enumerate(zip(model.layer_names, model.shapes))}
    _, energies = model.run(xs, steps=40, dt=0.01)
    e = np.asarray(energies, dtype=np.float64)
    # Some random graphs have energies unbounded below (e.g. a cubic DenseSynapse over identity
    # layers) and run off to -inf in finite time; the energy must still fall until it overflows.
    assert np.all(np.isfinite(e[0]))
    for b in range(e.shape[1]):
        finite = np.isfinite(e[:, b])
        n = len(finite) if finite.all() else int(np.argmin(finite))
        eb = e[:n, b]
        increase = np.diff(eb)
        tol = 2e-6 * (1.0 + np.abs(eb[:-1]))
        assert np.all(increase <= tol), f"energy rose by {increase.max()} (scale {np.abs(eb).max()})"


def _model(getkey):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((5,), beta=2.0, use_bias=True))
    ham.add_layer("h", hg.SoftmaxLayer((7,), beta=3.0, tau=0.5))
    ham.add_layer("o", hg.IdentityLayer((3,), tau=2.0))
    ham.add_synapse("vh", hg.DenseSynapse(stdinit=0.5), layers=("v", "h"))
    ham.add_synapse("ho", hg.DenseSynapse(stdinit=0.5), layers=("h", "o", "o"))
    return ham.compile(key=getkey())


def test_run_equals_repeated_step(getkey):
    model = _model(getkey)
    xs = model.init_states(batch_size=3, key=getkey())
    x = xs
    for _ in range(12):
        x = model.step(x, dt=0.05, clamp=("v",))
    y, energies = model.run(xs, steps=12, dt=0.05, clamp=("v",))
    for n in model.layer_names:
        np.testing.assert_allclose(np.asarray(y[n]), np.asarray(x[n]), rtol=1e-5, atol=1e-6)
    assert energies.shape == (13, 3)
    np.testing.assert_allclose(np.asarray(energies[-1]), np.asarray(model.energy(y)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(energies[0]), np.asarray(model.energy(xs)), rtol=1e-6)


def test_step_is_the_euler_rule(getkey):
    model = _model(getkey)
    xs = model.init_states(key=getkey())
    d = model.dEdg(xs)
    y = model.step(xs, dt=0.1)
    for n, tau in zip(model.layer_names, model.taus):
        np.testing.assert_allclose(np.asarray(y[n]), np.asarray(xs[n] - 0.1 / tau * d[n]), rtol=1e-6, atol=1e-7)


def test_clamped_layers_and_masks_do_not_move(getkey):
    model = _model(getkey)
    xs = {k: 3 * v for k, v in model.init_states(batch_size=2, key=getkey()).items()}
    y, _ = model.run(xs, steps=20, dt=0.1, clamp=("v", "o"))
    np.testing.assert_array_equal(np.asarray(y["v"]), np.asarray(xs["v"]))
    np.testing.assert_array_equal(np.asarray(y["o"]), np.asarray(xs["o"]))
    assert not np.allclose(np.asarray(y["h"]), np.asarray(xs["h"]))
    mask = jnp.array([True, False, True, False, False])
    y, _ = model.run(xs, steps=20, dt=0.1, clamp={"v": mask})
    np.testing.assert_array_equal(np.asarray(y["v"][:, mask]), np.asarray(xs["v"][:, mask]))
    assert not np.allclose(np.asarray(y["v"][:, ~mask]), np.asarray(xs["v"][:, ~mask]))
    with pytest.raises(hg.StateError, match="boolean"):
        model.run(xs, steps=2, clamp={"v": jnp.ones(5)})
    with pytest.raises(hg.StateError, match="does not broadcast"):
        model.run(xs, steps=2, clamp={"v": jnp.ones(4, bool)})


def test_run_converges_to_a_fixed_point(getkey):
    model = _model(getkey)
    xs = model.init_states(key=getkey())
    y, energies = model.run(xs, steps=600, dt=0.1, clamp=("v",))
    d = model.dEdg(y)
    assert float(jnp.abs(d["h"]).max()) < 1e-3 and float(jnp.abs(d["o"]).max()) < 1e-3
    assert float(energies[-1]) <= float(energies.min()) + 1e-6


def test_gradients_flow_through_run_to_every_parameter(getkey):
    model = _model(getkey)
    xs = model.init_states(batch_size=4, key=getkey())
    xs["v"] = jax.random.normal(getkey(), (4, 5))

    def loss(m):
        y, _ = m.run(xs, steps=10, dt=0.1, clamp=("v",))
        return jnp.sum(m.activations(y)["o"] ** 2) + jnp.sum(m.activations(y)["h"][:, 0])

    grads = eqx.filter_grad(loss)(model)
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert len(leaves) == 5  # 2 synapse weights, bias of v, beta of v and of h
    for leaf in leaves:
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert all(float(jnp.abs(l).sum()) > 0 for l in leaves)
    # check one weight entry by central finite differences of the same loss
    W = model.synapses[0].W
    eps = 1e-2
    bump = lambda s: eqx.tree_at(lambda m: m.synapses[0].W, model, W.at[0, 0].add(s))
    fd = (loss(bump(eps)) - loss(bump(-eps))) / (2 * eps)
    np.testing.assert_allclose(float(grads.synapses[0].W[0, 0]), float(fd), rtol=5e-2, atol=1e-4)


def test_bad_run_arguments(getkey):
    model = _model(getkey)
    xs = model.init_states(key=getkey())
    with pytest.raises(hg.ArgumentError, match="steps must be an int"):
        model.run(xs, steps=-1)
    with pytest.raises(hg.ArgumentError, match="dt must be a scalar"):
        model.run(xs, steps=2, dt=jnp.ones(3))


# ---- one set of dynamics checks for every method (regressions of the drifted copies) ----


@pytest.mark.parametrize("dt", [-0.1, 0.0, float("nan"), float("inf")])
def test_every_method_rejects_a_bad_concrete_dt(getkey, dt):
    model = _model(getkey)
    xs = model.init_states(key=getkey())
    with pytest.raises(hg.ArgumentError, match="dt must be a finite number > 0"):
        model.run(xs, steps=10, dt=dt)
    with pytest.raises(hg.ArgumentError, match="dt must be a finite number > 0"):
        model.step(xs, dt=dt)
    with pytest.raises(hg.ArgumentError, match="dt must be a finite number > 0"):
        model.run(model.pack(xs), steps=10, dt=jnp.asarray(dt))
    with pytest.raises(hg.ArgumentError, match="dt must be a finite number > 0"):
        model.relax(xs, dt=dt)


def test_traced_dt_is_not_checked_and_does_not_recompile(getkey):
    model = _model(getkey)
    xs = model.init_states(key=getkey())
    run = jax.jit(lambda dt: model.run(xs, steps=3, dt=dt)[1])
    a, b = run(0.1), run(0.2)
    assert a.shape == b.shape == (4,) and not np.allclose(a, b)


@pytest.mark.parametrize("steps", [2.0, "3", True, None])
def test_steps_must_be_an_int(getkey, steps):
    model = _model(getkey)
    with pytest.raises(hg.ArgumentError, match="steps must be an int >= 0"):
        model.run(model.init_states(), steps=steps)


def test_relax_and_solve_answer_packed_states_in_kind(getkey):
    ham = hg.HAM()
    for n in ("a", "b", "c"):
        ham.add_layer(n, hg.TanhLayer((4,)))
    ham.add_synapse("ab", hg.DenseSynapse(stdinit=0.3), layers=("a", "b"))
    ham.add_synapse("bc", hg.DenseSynapse(stdinit=0.3), layers=("b", "c"))
    model = ham.compile(key=getkey())
    xs = model.init_states(batch_size=2, key=getkey())
    ps = model.pack(xs)
    res = model.relax(ps, tol=1e-5)
    assert isinstance(res.states, hg.PackedStates)
    ref = model.relax(xs, tol=1e-5)
    for n in model.layer_names:
        np.testing.assert_allclose(res.states[n], ref.states[n], rtol=1e-6, atol=1e-7)
    sol = model.solve(ps, tol=1e-4)
    assert isinstance(sol.states, hg.PackedStates)
    np.testing.assert_allclose(model.unpack(sol.states)["b"], model.solve(xs, tol=1e-4).states["b"], atol=1e-6)
