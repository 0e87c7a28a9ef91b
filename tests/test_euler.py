"""Dynamics: Lyapunov descent on random graphs, run == repeated step, clamping, BPTT."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings

import hamux_graph as hg

from helpers.strategies import random_hams


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
        [
            0.3 * jax.random.normal(jax.random.fold_in(k3, i), b.shape)
            for i, b in enumerate(b for b in model.biases if b is not None)
        ],
    )
    xs = {
        n: jax.random.normal(jax.random.fold_in(k2, i), (2,) + s)
        for i, (n, s) in enumerate(zip(model.layer_names, model.shapes))
    }
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
@pytest.mark.bad_arguments
def test_steps_must_be_an_int(getkey, steps):
    model = _model(getkey)
    with pytest.raises(hg.ArgumentError, match=r"steps must be an int in \[0, 2147483647\]"):
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


# ---- bad clamps and dynamics arguments: the library error, naming the culprit ----


def _small(getkey=None):
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    ham.add_layer("h", hg.SoftmaxLayer((4,)))
    ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "h"))
    return ham.compile(key=jax.random.key(0))


def _cost(g, y):
    return jnp.sum((g["h"] - y) ** 2)


DYNAMICS_CASES = [
    ("clamp-unknown", lambda m, x: m.run(x, steps=2, clamp=("nope",)), hg.StateError, "unknown layer 'nope'"),
    ("clamp-int", lambda m, x: m.run(x, steps=2, clamp=3), hg.StateError, "clamp must be a layer name"),
    ("clamp-none-mask", lambda m, x: m.run(x, steps=2, clamp={"v": None}), hg.StateError, r"clamp\['v'\] is None"),
    ("clamp-int-mask", lambda m, x: m.run(x, steps=2, clamp={"v": jnp.ones(3, int)}), hg.StateError, "must be boolean"),
    (
        "clamp-mask-shape",
        lambda m, x: m.run(x, steps=2, clamp={"v": jnp.ones(5, bool)}),
        hg.StateError,
        "does not broadcast",
    ),
    (
        "clamp-mask-batch",
        lambda m, x: m.run(x, steps=2, clamp={"v": jnp.ones((3, 3), bool)}),
        hg.StateError,
        "batch size 2",
    ),
    (
        "clamp-batch-unbatched",
        lambda m, x: m.run({k: v[0] for k, v in x.items()}, steps=2, clamp={"v": jnp.ones((2, 3), bool)}),
        hg.StateError,
        "unbatched",
    ),
    ("clamp-key-int", lambda m, x: m.step(x, clamp={0: True}), hg.StateError, "unknown layer 0"),
    ("dt-str", lambda m, x: m.run(x, steps=2, dt="0.1"), hg.ArgumentError, "dt must be a number"),
    ("dt-none", lambda m, x: m.step(x, dt=None), hg.ArgumentError, "dt must be a number"),
    ("dt-bool", lambda m, x: m.step(x, dt=True), hg.ArgumentError, "dt must be a number"),
    ("dt-array", lambda m, x: m.step(x, dt=jnp.ones(2)), hg.ArgumentError, "dt must be a scalar"),
    ("dt-negative", lambda m, x: m.step(x, dt=-1.0), hg.ArgumentError, "dt must be a finite number > 0"),
    ("steps-negative", lambda m, x: m.run(x, steps=-1), hg.ArgumentError, r"steps must be an int in \[0, 2147483647\]"),
    ("steps-float", lambda m, x: m.run(x, steps=2.0), hg.ArgumentError, "steps must be an int"),
    ("relax-tol-negative", lambda m, x: m.relax(x, tol=-1e-3), hg.ArgumentError, "tol must be a finite number >= 0"),
    ("relax-tol-nan", lambda m, x: m.relax(x, tol=float("nan")), hg.ArgumentError, "tol"),
    ("relax-tol-str", lambda m, x: m.relax(x, tol="small"), hg.ArgumentError, "tol must be a number"),
    ("relax-max-steps-float", lambda m, x: m.relax(x, max_steps=10.0), hg.ArgumentError, "max_steps must be an int"),
    (
        "relax-max-steps-negative",
        lambda m, x: m.relax(x, max_steps=-1),
        hg.ArgumentError,
        r"max_steps must be an int in \[0, 2147483647\]",
    ),
    ("relax-dt-inf", lambda m, x: m.relax(x, dt=float("inf")), hg.ArgumentError, "dt must be a finite number > 0"),
    (
        "relax-adjoint-str",
        lambda m, x: m.relax(x, adjoint="gmres"),
        hg.ArgumentError,
        "adjoint must be a hamux_graph adjoint",
    ),
    ("relax-clamp-unknown", lambda m, x: m.relax(x, clamp="nope"), hg.StateError, "unknown layer 'nope'"),
    ("solve-t1", lambda m, x: m.solve(x, t0=1.0, t1=0.5), hg.ArgumentError, "t1 must be greater than t0"),
    (
        "solve-max-steps-zero",
        lambda m, x: m.solve(x, max_steps=0),
        hg.ArgumentError,
        r"max_steps must be an int in \[1, 2147483647\]",
    ),
    ("solve-solver", lambda m, x: m.solve(x, solver="tsit5"), hg.ArgumentError, "solver must be a diffrax solver"),
    ("solve-saveat", lambda m, x: m.solve(x, saveat="end"), hg.ArgumentError, "saveat must be None"),
    ("solve-saveat-order", lambda m, x: m.solve(x, saveat=[1.0, 0.5]), hg.ArgumentError, "non-decreasing"),
    ("solve-tol-zero", lambda m, x: m.solve(x, tol=0.0), hg.ArgumentError, "tol must be a finite number > 0"),
    ("solve-rtol", lambda m, x: m.solve(x, rtol=-1.0), hg.ArgumentError, "rtol"),
    (
        "solve-adjoint",
        lambda m, x: m.solve(x, adjoint=hg.GMRESAdjoint()),
        hg.ArgumentError,
        "adjoint must be a diffrax adjoint",
    ),
    (
        "eqprop-beta",
        lambda m, x: hg.eqprop_grad(m, x, jnp.zeros((2, 4)), _cost, beta=-0.1),
        hg.ArgumentError,
        "beta must be",
    ),
    (
        "eqprop-cost",
        lambda m, x: hg.eqprop_grad(m, x, jnp.zeros((2, 4)), "mse"),
        hg.ArgumentError,
        "cost must be a function",
    ),
    ("eqprop-dt", lambda m, x: hg.eqprop_grad(m, x, jnp.zeros((2, 4)), _cost, dt=0.0), hg.ArgumentError, "dt must be"),
    (
        "eqprop-max-steps",
        lambda m, x: hg.eqprop_grad(m, x, jnp.zeros((2, 4)), _cost, max_steps="9"),
        hg.ArgumentError,
        "max_steps",
    ),
]


@pytest.mark.parametrize("case", DYNAMICS_CASES, ids=lambda c: c[0])
@pytest.mark.bad_arguments
def test_bad_dynamics_arguments_raise_named_errors(case):
    _, call, error, match = case
    model = _small()
    with pytest.raises(error, match=match):
        call(model, model.init_states(batch_size=2))
