"""solve (diffrax): same fixed point as Euler, clamping, energy traces, failure reporting."""

from __future__ import annotations

import sys

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg

from helpers.convex_chain import init, make_model, np_dEdg, np_energy, sample, weights


TOL = 1e-5
TS = jnp.linspace(0.0, 200.0, 9)  # one save grid everywhere: one compilation per graph


def make_three_way(key):
    """A second random dense graph: a 3-way synapse plus a pair synapse, mixed time constants."""
    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((4,)))
    ham.add_layer("b", hg.IdentityLayer((3,)))
    ham.add_layer("c", hg.TanhLayer((5,), tau=0.5))
    ham.add_synapse("abc", hg.DenseSynapse(stdinit=0.2), layers=("a", "b", "c"))
    ham.add_synapse("ac", hg.DenseSynapse(stdinit=0.3), layers=("a", "c"))
    return ham.compile(key=key)


@pytest.mark.parametrize("seed", [0, 1])
def test_tsit5_reaches_the_euler_fixed_point(seed):
    key = jax.random.key(100 + seed)
    model = make_model(key)
    xs = init(model, jax.random.fold_in(key, 1))
    ts = TS
    res = hg.solve(model, xs, clamp=("v",), tol=TOL, saveat=ts)
    assert np.all(np.asarray(res.converged)) and res.message == ""
    np.testing.assert_array_equal(np.asarray(res.states["v"]), np.asarray(xs["v"]))  # clamped
    euler, _ = model.run(xs, steps=600, dt=0.2, clamp=("v",))
    W = weights(model)
    for b in range(3):
        x = sample(res.states, b)
        d = np_dEdg(W, x)
        assert np.sqrt((np.sum(d["h"] ** 2) + np.sum(d["o"] ** 2)) / 10) <= TOL * 1.01
        for k in ("h", "o"):
            np.testing.assert_allclose(x[k], np.asarray(euler[k][b]), atol=1e-3)
        # energy trace: starts at E(x0), never increases, padded with E(final) after the stop
        trace = np.asarray(res.energies[:, b])
        assert trace[0] == pytest.approx(np_energy(W, sample(xs, b)), rel=1e-4, abs=1e-5)
        assert np.all(np.diff(trace) <= 1e-5 * (1 + abs(trace[-1])))
        after = np.asarray(ts) > float(res.t_final)
        assert after.any()
        np.testing.assert_allclose(trace[after], np_energy(W, x), rtol=1e-4, atol=1e-5)


def test_three_way_graph_matches_euler_with_masked_clamp(getkey):
    model = make_three_way(getkey())
    xs = model.init_states(batch_size=2, key=getkey())
    xs["b"] = jax.random.normal(getkey(), (2, 3))
    mask = jnp.array([False, True, False, False, True])
    clamp = {"b": True, "c": mask}
    res = hg.solve(model, xs, clamp=clamp, tol=TOL, saveat=TS)
    euler, _ = model.run(xs, steps=800, dt=0.1, clamp=clamp)
    np.testing.assert_array_equal(np.asarray(res.states["b"]), np.asarray(xs["b"]))
    np.testing.assert_array_equal(
        np.asarray(res.states["c"])[:, np.asarray(mask)], np.asarray(xs["c"])[:, np.asarray(mask)]
    )
    for k in ("a", "c"):
        np.testing.assert_allclose(np.asarray(res.states[k]), np.asarray(euler[k]), atol=1e-3)
    # the fixed point: ∂E/∂g = 0 on free entries, by jax.grad of a plain energy written here
    W3, W2 = model.synapse("abc").W, model.synapse("ac").W

    def syn_energy(ga, gb, gc):
        return -jnp.einsum("ijk,i,j,k->", W3, ga, gb, gc) - ga @ W2 @ gc

    for s in range(2):
        x = {k: v[s] for k, v in res.states.items()}
        g = (jnp.tanh(x["a"]), x["b"], jnp.tanh(x["c"]))
        da, _, dc = jax.grad(syn_energy, argnums=(0, 1, 2))(*g)
        free = np.concatenate([np.asarray(x["a"] + da), np.asarray(x["c"] + dc)[~np.asarray(mask)]])
        assert np.sqrt(np.mean(free**2)) <= TOL * 1.01


def test_euler_solver_retraces_the_core_run(getkey):
    """diffrax.Euler with a constant step is the Euler map of ``run``: same trajectory."""
    model = make_model(getkey())
    xs = init(model, getkey())
    res = hg.solve(model, xs, solver=diffrax.Euler(), dt0=0.2, clamp=("v",), tol=TOL, saveat="steps")
    n = int(res.num_steps)
    assert bool(np.all(np.asarray(res.converged))) and 10 < n < 4096
    np.testing.assert_allclose(np.asarray(res.ts[:n]), 0.2 * np.arange(1, n + 1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(res.ts[n:]), float(res.t_final))
    _, energies = model.run(xs, steps=n, dt=0.2, clamp=("v",))
    np.testing.assert_allclose(np.asarray(res.energies[:n]), np.asarray(energies[1:]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(res.energies[n:]), np.broadcast_to(energies[-1], res.energies[n:].shape), rtol=1e-4, atol=1e-5
    )


def test_failed_solves_are_reported(getkey):
    model = make_model(getkey())
    xs = init(model, getkey())
    # float32 cannot get ∂E/∂g down to 1e-10: the solve runs into max_steps
    unreachable = dict(clamp=("v",), tol=1e-10, saveat=TS)
    with pytest.raises(hg.ConvergenceError, match=r"did not reach a fixed point.*max_steps\) was reached"):
        hg.solve(model, xs, **unreachable)
    res = hg.solve(model, xs, throw=False, **unreachable)
    assert not np.any(np.asarray(res.converged))
    assert "max_steps" in res.message and int(res.num_steps) == 4096
    assert np.all(np.asarray(res.residual) > 1e-10)
    with pytest.raises(hg.ConvergenceError, match="did not reach a fixed point"):
        res.check()
    # stopping at t1 before the steady state is a failure too, not a result
    with pytest.raises(hg.ConvergenceError, match=r"t1=0.5 reached before the steady state"):
        hg.solve(model, xs, clamp=("v",), tol=TOL, t1=0.5, saveat=jnp.linspace(0.0, 0.5, 9))


def test_bad_arguments_and_missing_extra(getkey, monkeypatch):
    model = make_model(getkey())
    xs = init(model, getkey())
    with pytest.raises(hg.ArgumentError, match="solver must be a diffrax solver"):
        hg.solve(model, xs, solver="tsit5")
    with pytest.raises(hg.ArgumentError, match="saveat must be None, an array of times or 'steps'"):
        hg.solve(model, xs, saveat="all")
    with pytest.raises(hg.ArgumentError, match="dt0 is required for the non-adaptive solver Euler"):
        hg.solve(model, xs, solver=diffrax.Euler(), dt0=None)
    with pytest.raises(hg.ArgumentError, match="tol must be a finite number > 0"):
        hg.solve(model, xs, tol=0.0)
    with pytest.raises(hg.ArgumentError, match="t1 must be greater than t0"):
        hg.solve(model, xs, t0=1.0, t1=1.0)
    monkeypatch.setitem(sys.modules, "diffrax", None)
    with pytest.raises(ImportError, match=r"pip install hamux_graph\[ode\]"):
        model.solve(xs)
