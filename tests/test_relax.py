"""relax: convergence detection, per-sample stopping, failure reporting, implicit gradients."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg

from helpers.convex_chain import init, make_model, np_dEdg, np_energy, sample, weights


TOL = 1e-5
MAX_STEPS = 2000
DT = 0.2


def test_relax_reaches_stationary_point_with_lowest_energy(getkey):
    model = make_model(getkey())
    xs = init(model, getkey())
    res = hg.relax(model, xs, tol=TOL, max_steps=MAX_STEPS, dt=DT, clamp=("v",))
    W = weights(model)
    assert res.energies.shape == (MAX_STEPS + 1, 3)
    assert np.all(np.asarray(res.converged))
    np.testing.assert_array_equal(np.asarray(res.states["v"]), np.asarray(xs["v"]))  # clamped: unmoved
    for b in range(3):
        x = sample(res.states, b)
        d = np_dEdg(W, x)
        rms_free = np.sqrt((np.sum(d["h"] ** 2) + np.sum(d["o"] ** 2)) / 10)
        assert rms_free <= TOL * 1.01
        assert float(res.residual[b]) == pytest.approx(rms_free, rel=1e-2, abs=1e-7)
        n = int(res.steps[b])
        assert 0 < n < MAX_STEPS
        trace = np.asarray(res.energies[:, b])
        assert trace[n] == pytest.approx(np_energy(W, x), rel=1e-4, abs=1e-5)
        assert trace[0] == pytest.approx(np_energy(W, sample(xs, b)), rel=1e-4, abs=1e-5)
        # lower than every state along the way, descending, and padded with the last value
        noise = 1e-5 * (1 + abs(trace[n]))  # float32 round-off of the energy sum
        assert np.all(trace[n] <= trace[: n + 1] + noise)
        assert np.all(np.diff(trace[: n + 1]) <= noise)
        np.testing.assert_array_equal(trace[n:], np.full(MAX_STEPS + 1 - n, trace[n]))
        # the same fixed point as a long plain Euler run (the core `run`)
    long, _ = model.run(xs, steps=int(np.max(np.asarray(res.steps))) * 2, dt=DT, clamp=("v",))
    for k in ("h", "o"):
        np.testing.assert_allclose(np.asarray(res.states[k]), np.asarray(long[k]), atol=1e-4)


def test_per_sample_stopping_matches_single_sample_runs(getkey):
    model = make_model(getkey())
    xs = init(model, getkey())
    first = hg.relax(model, xs, tol=TOL, max_steps=MAX_STEPS, dt=DT, clamp=("v",))
    # sample 0 starts at its fixed point, samples 1 and 2 start far away (scaled inputs)
    xs2 = {k: v.at[0].set(first.states[k][0]) for k, v in xs.items()}
    xs2["v"] = xs2["v"].at[2].multiply(3.0)
    res = hg.relax(model, xs2, tol=TOL, max_steps=MAX_STEPS, dt=DT, clamp=("v",))
    steps = np.asarray(res.steps)
    assert steps[0] == 0
    np.testing.assert_array_equal(np.asarray(res.states["h"][0]), np.asarray(xs2["h"][0]))
    assert steps[1] > 0 and steps[2] > 0
    # each sample relaxed alone stops at the same step with the same state (it froze on its own)
    for b in (1, 2):
        alone = hg.relax(model, {k: v[b] for k, v in xs2.items()}, tol=TOL, max_steps=MAX_STEPS, dt=DT, clamp="v")
        assert alone.energies.shape == (MAX_STEPS + 1,)
        assert int(alone.steps) == steps[b]
        np.testing.assert_allclose(np.asarray(alone.states["h"]), np.asarray(res.states["h"][b]), atol=1e-6)
    # after its stop, a sample's trace is flat even while the others keep going
    n0 = steps.min()
    trace0 = np.asarray(res.energies[:, 0])
    np.testing.assert_array_equal(trace0, np.full_like(trace0, trace0[n0]))


def test_mask_clamp_holds_entries_and_converges_on_free_ones(getkey):
    model = make_model(getkey())
    xs = init(model, getkey())
    mask = jnp.array([True, False, True, False, False, True])
    res = hg.relax(model, xs, tol=TOL, max_steps=MAX_STEPS, dt=DT, clamp={"v": True, "h": mask})
    h0, h1 = np.asarray(xs["h"]), np.asarray(res.states["h"])
    np.testing.assert_array_equal(h1[:, np.asarray(mask)], h0[:, np.asarray(mask)])
    W = weights(model)
    for b in range(3):
        d = np_dEdg(W, sample(res.states, b))
        free = np.concatenate([d["h"][~np.asarray(mask)], d["o"]])
        assert np.sqrt(np.mean(free**2)) <= TOL * 1.01


def test_unconverged_relax_is_reported(getkey):
    model = make_model(getkey())
    xs = init(model, getkey())
    slow = dict(tol=TOL, max_steps=MAX_STEPS, dt=1e-5, clamp=("v",))  # far too small a dt to arrive
    with pytest.raises(hg.ConvergenceError, match=r"did not reach a fixed point: 3 of 3 sample\(s\).*max_steps"):
        hg.relax(model, xs, **slow)
    res = hg.relax(model, xs, throw=False, **slow)
    assert not np.any(np.asarray(res.converged))
    np.testing.assert_array_equal(np.asarray(res.steps), [MAX_STEPS] * 3)
    assert np.all(np.asarray(res.residual) > TOL)
    with pytest.raises(hg.ConvergenceError, match="did not reach a fixed point"):
        res.check()
    # inside a user's jit the failure is still an error, never a silent answer
    jitted = eqx.filter_jit(lambda m, x: m.relax(x, **slow).states)
    with pytest.raises(RuntimeError, match="ConvergenceError"):
        jax.block_until_ready(jitted(model, xs))


@pytest.mark.bad_arguments
def test_bad_arguments_raise_library_errors(getkey):
    model = make_model(getkey())
    xs = init(model, getkey())
    with pytest.raises(hg.ArgumentError, match="tol must be a finite number >= 0"):
        hg.relax(model, xs, tol=-1.0)
    with pytest.raises(hg.ArgumentError, match=r"max_steps must be an int in \[0, 2147483647\]"):
        hg.relax(model, xs, max_steps=2.5)
    with pytest.raises(hg.ArgumentError, match="dt must be a finite number > 0"):
        hg.relax(model, xs, dt=0.0)
    with pytest.raises(hg.StateError, match="unknown layer 'nope'"):
        hg.relax(model, xs, clamp=("nope",))
    with pytest.raises(hg.StateError, match="has shape .* with a batch axis, but the states are unbatched"):
        hg.relax(model, sample(xs, 0), clamp={"h": jnp.zeros((3, 6), bool)})
    with pytest.raises(hg.ArgumentError, match="solver must be 'fixed_point' or 'gmres'"):
        hg.ImplicitAdjoint(solver="newton")


def _flat_grads(tree):
    return np.concatenate([np.ravel(np.asarray(a)) for a in jax.tree.leaves(tree)])


def _loss(states, target):
    return jnp.sum((jnp.tanh(states["o"]) - target) ** 2)


@eqx.filter_jit
def _implicit_grads(model, xs, target, adjoint):
    def loss(mv):
        m, v = mv
        res = m.relax({**xs, "v": v}, tol=1e-6, max_steps=MAX_STEPS, dt=DT, clamp=("v",), adjoint=adjoint)
        return _loss(res.states, target)

    return eqx.filter_grad(loss)((model, xs["v"]))


@eqx.filter_jit
def _bptt_grads(model, xs, target):
    def loss(mv):
        m, v = mv
        states, _ = m.run({**xs, "v": v}, steps=400, dt=DT, clamp=("v",))
        return _loss(states, target)

    return eqx.filter_grad(loss)((model, xs["v"]))


@pytest.mark.parametrize("solver", ["fixed_point", "gmres"])
def test_implicit_gradients_match_backprop_through_time(getkey, solver):
    model = make_model(jax.random.key(7))  # one model for both solvers: BPTT compiles once
    xs = init(model, jax.random.key(8))
    target = 0.3 * jax.random.normal(jax.random.key(9), (3, 4))
    gi = _implicit_grads(model, xs, target, hg.ImplicitAdjoint(solver=solver, tol=1e-7))
    gb = _bptt_grads(model, xs, target)
    for part in (0, 1):  # model parameters, then the clamped input
        a, b = _flat_grads(gi[part]), _flat_grads(gb[part])
        assert np.linalg.norm(b) > 1e-3
        cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        assert cos >= 0.99
        assert np.linalg.norm(a - b) / np.linalg.norm(b) <= 0.05
    if solver == "gmres":
        return
    # one weight gradient against a central finite difference of the relaxed loss
    W = model.synapse("ho").W
    E = jnp.zeros_like(W).at[1, 2].set(1.0)
    eps = 1e-2

    def relaxed_loss(s):
        m = eqx.tree_at(lambda m: m.synapse("ho").W, model, W + s * eps * E)
        return _loss(m.relax(xs, tol=1e-6, max_steps=MAX_STEPS, dt=DT, clamp=("v",)).states, target)

    fd = (relaxed_loss(1.0) - relaxed_loss(-1.0)) / (2 * eps)
    assert float(gi[0].synapse("ho").W[1, 2]) == pytest.approx(float(fd), rel=0.05, abs=1e-4)


def _sq_cost(g, y):
    return jnp.sum((g["o"] - y) ** 2)


def test_equilibrium_propagation_matches_implicit_gradient(getkey):
    model = make_model(jax.random.key(7))
    xs = init(model, jax.random.key(8))
    target = 0.3 * jax.random.normal(jax.random.key(9), (3, 4))
    loss, ge = hg.eqprop_grad(model, xs, target, _sq_cost, beta=0.02, tol=1e-6, dt=DT, clamp=("v",))
    relaxed = hg.relax(model, xs, tol=1e-6, max_steps=MAX_STEPS, dt=DT, clamp=("v",)).states
    assert float(loss) == pytest.approx(float(_loss(relaxed, target)) / 3, rel=1e-4)
    # the implicit gradient of the batch sum, divided by the batch size (EP reports the mean)
    gi = _implicit_grads(model, xs, target, hg.ImplicitAdjoint(solver="fixed_point", tol=1e-7))[0]
    a, b = _flat_grads(ge), _flat_grads(gi) / 3
    assert a.shape == b.shape and np.linalg.norm(b) > 1e-3
    assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) >= 0.99
    assert np.linalg.norm(a - b) / np.linalg.norm(b) <= 0.05
    with pytest.raises(hg.ConvergenceError, match=r"equilibrium propagation \(free phase\) did not reach"):
        hg.eqprop_grad(model, xs, target, _sq_cost, beta=0.02, tol=1e-6, dt=1e-5, clamp=("v",))
    with pytest.raises(hg.ArgumentError, match="beta must be a finite number > 0"):
        hg.eqprop_grad(model, xs, target, _sq_cost, beta=0.0)


def test_eqprop_throws_under_jit_as_outside(getkey):
    model = make_model(getkey())
    xs = init(model, getkey())
    target = jnp.zeros((3, 4))
    kw = dict(max_steps=1, tol=1e-12, dt=DT, clamp=("v",))
    with pytest.raises(hg.ConvergenceError, match="equilibrium propagation"):
        hg.eqprop_grad(model, xs, target, _sq_cost, **kw)
    jitted = eqx.filter_jit(lambda m, x: hg.eqprop_grad(m, x, target, _sq_cost, **kw)[0])
    with pytest.raises(RuntimeError, match="ConvergenceError: equilibrium propagation"):
        jax.block_until_ready(jitted(model, xs))
    # throw=False under jit: a number, as outside
    quiet = eqx.filter_jit(lambda m, x: hg.eqprop_grad(m, x, target, _sq_cost, throw=False, **kw)[0])
    assert np.isfinite(float(quiet(model, xs)))


@pytest.mark.bad_arguments
def test_adjoints_of_the_other_library_are_refused_by_name(getkey):
    diffrax = pytest.importorskip("diffrax")
    model = make_model(getkey())
    xs = init(model, getkey())
    with pytest.raises(
        hg.ArgumentError, match=r"relax: adjoint must be a hamux_graph adjoint.*diffrax\.ImplicitAdjoint"
    ):
        model.relax(xs, adjoint=diffrax.ImplicitAdjoint())
    with pytest.raises(
        hg.ArgumentError, match=r"solve: adjoint must be a diffrax adjoint.*hamux_graph\.ImplicitAdjoint"
    ):
        model.solve(xs, adjoint=hg.ImplicitAdjoint())


def test_adjoint_strategies_give_the_same_gradient(getkey):
    model = make_model(jax.random.key(3))
    xs = init(model, jax.random.key(4))
    target = 0.3 * jax.random.normal(jax.random.key(5), (3, 4))
    grads = [
        _flat_grads(_implicit_grads(model, xs, target, adj)[0])
        for adj in (
            hg.ImplicitAdjoint(),
            hg.FixedPointAdjoint(tol=1e-7),
            hg.GMRESAdjoint(tol=1e-7),
            hg.ImplicitAdjoint(solver="gmres", tol=1e-7),
        )
    ]
    for g in grads[1:]:
        np.testing.assert_allclose(g, grads[0], rtol=2e-3, atol=1e-6)
    for bad in (dict(tol=0.0), dict(tol=float("nan")), dict(max_steps=0), dict(max_steps=2.5)):
        with pytest.raises(hg.ArgumentError, match="FixedPointAdjoint"):
            hg.FixedPointAdjoint(**bad)


@eqx.filter_jit
def _grads_with_a_mask(model, xs, target, mask, implicit):
    def loss(mx):
        m, x = mx
        clamp = {"v": True, "h": mask}
        if implicit:
            states = m.relax(x, tol=1e-6, max_steps=MAX_STEPS, dt=DT, clamp=clamp).states
        else:
            states, _ = m.run(x, steps=400, dt=DT, clamp=clamp)
        return _loss(states, target)

    return eqx.filter_grad(loss)((model, xs))


def test_implicit_gradients_through_a_mask_clamp_match_backprop(getkey):
    # a held layer (precomputed once per call) and a layer held on some entries only: the
    # gradient reaches the parameters, the held input, and the held entries of the masked
    # layer (its free entries' starting values do not matter at the fixed point)
    model = make_model(jax.random.key(7))
    xs = init(model, jax.random.key(8))
    xs["h"] = 0.5 * jax.random.normal(jax.random.key(10), (3, 6))
    mask = jnp.array([True, True, False, False, False, False])
    target = 0.3 * jax.random.normal(jax.random.key(9), (3, 4))
    gi = _grads_with_a_mask(model, xs, target, mask, True)
    gb = _grads_with_a_mask(model, xs, target, mask, False)
    for part in (0, 1):
        a, b = _flat_grads(gi[part]), _flat_grads(gb[part])
        assert np.linalg.norm(b) > 1e-3
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) >= 0.99
        assert np.linalg.norm(a - b) / np.linalg.norm(b) <= 0.05
    held_h = np.asarray(gi[1]["h"])[:, :2]
    assert np.abs(held_h).max() > 1e-3
    np.testing.assert_allclose(np.asarray(gi[1]["h"])[:, 2:], 0.0, atol=1e-7)  # free starts: no gradient
    np.testing.assert_allclose(np.asarray(gi[1]["o"]), 0.0, atol=1e-7)
