"""hg.langevin: Langevin sampling (ULA and MALA) against closed forms, and schedules in run.

Every check compares with a formula written out here: the covariance ``T·A⁻¹`` of the
quadratic energy ``½xᵀAx``; a one-neuron density ``exp(−E(x)/T)/Z`` integrated by the
trapezoidal rule (``E`` written from the Legendre energy by hand); finite differences of the
energy for the drift; step-by-step runs for schedules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hamux_graph as hg


class LQuadLogCosh(hg.Lagrangian):
    """``L(x) = Σ(½x² + log cosh x)``: convex, activation ``x + tanh x``, ``∇²L = 1 + sech²x``."""

    def __call__(self, x):
        return jnp.sum(0.5 * x * x + jnp.logaddexp(x, -x) - jnp.log(2.0))

    def activation(self, x):
        return x + jnp.tanh(x)


def quadratic_model(A: np.ndarray):
    """One identity layer with a symmetric self-synapse: ``E = ½xᵀx − xᵀWx = ½xᵀAx`` for ``W = (I − A)/2``."""
    n = A.shape[0]
    ham = hg.HAM()
    ham.add_layer("x", hg.IdentityLayer((n,)))
    ham.add_synapse("self", hg.DenseSynapse(W=jnp.asarray((np.eye(n) - A) / 2)), layers=("x", "x"))
    return ham.compile(key=jax.random.key(0))


W_IN, C_IN = 1.5, 1.0  # the input weight and the clamped input value of the one-neuron model


def neuron_model():
    """A clamped identity input ``c`` driving one ``LQuadLogCosh`` neuron through a weight ``w``."""
    ham = hg.HAM()
    ham.add_layer("c", hg.IdentityLayer((1,)))
    ham.add_layer("x", hg.Layer(LQuadLogCosh(), shape=(1,)))
    ham.add_synapse("in", hg.DenseSynapse(W=jnp.full((1, 1), W_IN)), layers=("c", "x"))
    return ham.compile(key=jax.random.key(0))


def neuron_energy(x: np.ndarray) -> np.ndarray:
    """``E(x)`` up to a constant, by hand: ``E_ℓ = g·x − L(x)`` with ``g = x + tanh x``, minus ``w·c·g``."""
    g = x + np.tanh(x)
    L = 0.5 * x * x + np.logaddexp(x, -x) - np.log(2.0)
    return g * x - L - W_IN * C_IN * g


def quadrature_cdf(T: float):
    grid = np.linspace(-8.0, 8.0, 40001)
    p = np.exp(-(neuron_energy(grid) - neuron_energy(grid).min()) / T)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])
    return grid, cdf / cdf[-1]


def ks_distance(samples: np.ndarray, grid: np.ndarray, cdf: np.ndarray) -> float:
    s = np.sort(samples)
    model = np.interp(s, grid, cdf)
    n = len(s)
    return float(max(np.max(np.arange(1, n + 1) / n - model), np.max(model - np.arange(n) / n)))


def check_covariance(chains: int, steps: int, dt: float, key: int):
    A = np.array([[1.5, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.8]])
    T = 0.5
    model = quadratic_model(A)
    xs = {"x": jnp.zeros((chains, 3))}
    out, energies = hg.langevin(model, xs, steps=steps, dt=dt, temperature=T, key=jax.random.key(key))
    x = np.asarray(out["x"], dtype=np.float64)
    C = np.cov(x, rowvar=False)
    target = T * np.linalg.inv(A)
    err = np.max(np.abs(C - target)) / np.max(np.abs(target))
    print(f"covariance error at {chains} chains x {steps} steps (largest entry, relative): {err:.4f}")
    assert err <= 0.05
    assert energies.shape == (steps + 1, chains)
    # the energies are those of the states: ½xᵀAx at the end
    np.testing.assert_allclose(np.asarray(energies[-1]), 0.5 * np.einsum("bi,ij,bj->b", x, A, x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_the_quadratic_energy_gives_covariance_T_times_A_inverse():
    check_covariance(8000, 2000, 0.01, 3)  # the numbers


def test_the_quadratic_energy_gives_covariance_T_times_A_inverse_quick():
    check_covariance(4000, 500, 0.04, 4)  # bias of the step: T·A⁻¹(I − dt·A/2)⁻¹, about 3 % here


def test_the_drift_is_the_true_gradient_not_the_legendre_gradient():
    model = neuron_model()
    x0 = np.array([[0.7], [-1.2]])
    xs = {"c": jnp.full((2, 1), C_IN), "x": jnp.asarray(x0)}
    dt = 0.1
    out, _ = hg.langevin(model, xs, steps=1, dt=dt, temperature=0.0, key=jax.random.key(0), clamp=("c",))
    h = 1e-3
    grad = (neuron_energy(x0 + h) - neuron_energy(x0 - h)) / (2 * h)  # ∂E/∂x by finite differences
    np.testing.assert_allclose(np.asarray(out["x"]), x0 - dt * grad, rtol=1e-4, atol=1e-5)
    # ∂E/∂g differs: the HAM flow (run) takes another step
    flow, _ = model.run(xs, steps=1, dt=dt, clamp=("c",))
    assert np.max(np.abs(np.asarray(flow["x"]) - np.asarray(out["x"]))) > 1e-2
    # the clamped input did not move, and T = 0 draws no noise
    np.testing.assert_array_equal(np.asarray(out["c"]), np.full((2, 1), C_IN))


def test_mala_matches_the_density_by_quadrature():
    T = 1.0
    model = neuron_model()
    n = 20000
    xs = {"c": jnp.full((n, 1), C_IN), "x": jnp.zeros((n, 1))}
    out, energies, acceptance = hg.langevin(
        model, xs, steps=150, dt=0.3, temperature=T, key=jax.random.key(7), clamp=("c",), metropolis=True
    )
    grid, cdf = quadrature_cdf(T)
    ks = ks_distance(np.asarray(out["x"][:, 0], dtype=np.float64), grid, cdf)
    print(f"MALA KS distance at n={n}: {ks:.4f}; mean acceptance {float(acceptance.mean()):.3f}")
    assert ks <= 0.02
    assert acceptance.shape == (n,) and 0.5 < float(acceptance.mean()) < 1.0
    assert energies.shape == (151, n)


def test_without_metropolis_the_bias_shrinks_with_dt():
    T = 1.0
    model = neuron_model()
    n = 20000
    xs = {"c": jnp.full((n, 1), C_IN), "x": jnp.zeros((n, 1))}
    grid, cdf = quadrature_cdf(T)
    ks = {}
    for dt in (0.4, 0.025):  # the same number of steps: dt is traced, so one compiled loop serves both
        out, _ = model.langevin(xs, steps=320, dt=dt, temperature=T, key=jax.random.key(11), clamp=("c",))
        ks[dt] = ks_distance(np.asarray(out["x"][:, 0], dtype=np.float64), grid, cdf)
    print(f"ULA KS distances: {ks}")
    assert ks[0.4] > 0.035  # a visible bias at a large step (0.047; the sampling noise is about 0.006)
    assert ks[0.025] < ks[0.4] / 3 and ks[0.025] <= 0.02


def test_a_dt_schedule_equals_step_by_step_runs():
    A = np.array([[1.2, 0.4], [0.4, 0.9]])
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((2,)))
    ham.add_layer("h", hg.IdentityLayer((3,)))
    ham.add_synapse("vh", hg.DenseSynapse(W=jnp.asarray(np.arange(6.0).reshape(2, 3) / 10)), layers=("v", "h"))
    ham.add_synapse("self", hg.DenseSynapse(W=jnp.asarray((np.eye(2) - A) / 2)), layers=("v", "v"))
    model = ham.compile(key=jax.random.key(0))
    xs = model.init_states(batch_size=4, key=jax.random.key(1))
    dts = [0.3 * 0.8**t for t in range(6)]
    schedule = optax.exponential_decay(init_value=0.3, transition_steps=1, decay_rate=0.8)  # 0.3·0.8ᵗ
    out, energies = model.run(xs, steps=6, dt=schedule)
    ref = xs
    ref_energies = []
    for dt in dts:
        ref_energies.append(model.energy(ref))
        ref, _ = model.run(ref, steps=1, dt=dt)
    for name in ("v", "h"):
        np.testing.assert_allclose(np.asarray(out[name]), np.asarray(ref[name]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(energies[:-1]), np.stack(ref_energies), atol=1e-6)


def double_well():
    """``E(x) = −(1/β) log Σ_μ exp(−β(x − ξ_μ)²/2) − a·x``: wells at −1 and +1, the one at +1 deeper."""
    ham = hg.HAM()
    ham.add_layer("x", hg.IdentityLayer((1,)))
    ham.add_layer("c", hg.IdentityLayer((1,)))
    ham.add_synapse("cancel", hg.DenseSynapse(W=jnp.full((1, 1), 0.5)), layers=("x", "x"))
    ham.add_synapse("wells", hg.GaussianMemorySynapse(2, beta=4.0, patterns=jnp.array([[-1.0], [1.0]])), layers=("x",))
    ham.add_synapse("tilt", hg.DenseSynapse(W=jnp.full((1, 1), 0.15)), layers=("c", "x"))
    return ham.compile(key=jax.random.key(0))


def test_annealing_ends_in_the_deeper_well_more_often_than_descent():
    model = double_well()
    n = 1000
    starts = jax.random.uniform(jax.random.key(5), (n, 1), minval=-2.0, maxval=0.5)
    xs = {"x": starts, "c": jnp.ones((n, 1))}
    steps = 800
    cold, _ = model.langevin(xs, steps=steps, dt=0.04, temperature=0.0, key=jax.random.key(6), clamp=("c",))
    hot, _ = model.langevin(
        xs, steps=steps, dt=0.04, temperature=lambda t: 1.0 - t / steps, key=jax.random.key(6), clamp=("c",)
    )
    deep_cold = float(np.mean(np.asarray(cold["x"][:, 0]) > 0))
    deep_hot = float(np.mean(np.asarray(hot["x"][:, 0]) > 0))
    print(f"fraction in the deeper well: T = 0 descent {deep_cold:.3f}, annealed 1 -> 0 {deep_hot:.3f}")
    # descent keeps the basin it starts in: the barrier top lies between the wells, at the maximum of
    # E(x) = −(1/β) log Σ exp(−β(x − ξ)²/2) − a·x (β = 4, ξ = ±1, a = 0.15)
    grid = np.linspace(-0.9, 0.9, 18001)
    E = -np.logaddexp(-2.0 * (grid + 1) ** 2, -2.0 * (grid - 1) ** 2) / 4.0 - 0.15 * grid
    barrier = grid[np.argmax(E)]
    assert deep_cold == pytest.approx(float(np.mean(np.asarray(starts) > barrier)), abs=0.005)
    assert deep_hot > deep_cold + 0.3


def test_langevin_refuses_bad_arguments():
    model = quadratic_model(np.eye(2))
    xs = {"x": jnp.zeros((2,))}
    with pytest.raises(hg.ArgumentError, match="temperature"):
        model.langevin(xs, steps=2, dt=0.1, temperature=-1.0, key=jax.random.key(0))
    with pytest.raises(hg.ArgumentError, match="metropolis=True needs temperature > 0"):
        model.langevin(xs, steps=2, dt=0.1, temperature=0.0, key=jax.random.key(0), metropolis=True)
    with pytest.raises(hg.ArgumentError, match="dt"):
        model.langevin(xs, steps=2, dt=0.0, temperature=1.0, key=jax.random.key(0))
    with pytest.raises(hg.ArgumentError, match="schedule"):
        model.run(xs, steps=2, dt=lambda t, u: t)


def test_langevin_is_jittable_and_unbatched_states_work():
    model = quadratic_model(np.eye(2))

    @jax.jit
    def sample(key):
        out, energies, acc = model.langevin(
            {"x": jnp.zeros((2,))}, steps=50, dt=0.1, temperature=1.0, key=key, metropolis=True
        )
        return out["x"], energies, acc

    x, energies, acc = sample(jax.random.key(0))
    assert x.shape == (2,) and energies.shape == (51,) and acc.shape == ()
    assert bool(jnp.all(jnp.isfinite(x)))


def test_langevin_is_differentiable_with_respect_to_the_start():
    # with an identity layer the drift is linear: x_n = (I − dt·A)ⁿ x_0 + noise that does not depend on x_0,
    # so ∂(Σ x_n)/∂x_0 = ((I − dt·A)ⁿ)ᵀ 1 at any temperature
    A = np.array([[1.5, 0.3], [0.3, 1.0]])
    model = quadratic_model(A)
    dt, steps = 0.1, 7

    def total(x0):
        out, _ = model.langevin({"x": x0}, steps=steps, dt=dt, temperature=0.5, key=jax.random.key(3))
        return jnp.sum(out["x"])

    grad = jax.grad(total)(jnp.array([0.4, -0.2]))
    expected = np.linalg.matrix_power(np.eye(2) - dt * A, steps).T @ np.ones(2)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-5)


def test_metropolis_steps_where_a_schedule_gives_zero_temperature_keep_only_descents():
    """At ``T = 0`` the proposal is the Euler step ``x − dt·A·x``; the test's ``T → 0`` limit keeps
    it when ``½xᵀAx`` does not rise (small ``dt``) and refuses it when it does (``dt`` past ``2/λ``)."""
    A = np.diag([1.0, 2.0])
    model = quadratic_model(A)
    x0 = np.array([[2.0, -1.0], [0.5, 0.25]])
    cold = lambda t: 0.0 * t  # noqa: E731
    small, energies, acceptance = model.langevin(
        {"x": jnp.asarray(x0)}, steps=5, dt=0.1, temperature=cold, key=jax.random.key(0), metropolis=True
    )
    expected = x0 @ np.linalg.matrix_power(np.eye(2) - 0.1 * A, 5)
    np.testing.assert_allclose(np.asarray(small["x"]), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(acceptance), 1.0)
    assert np.all(np.isfinite(np.asarray(energies)))
    large, _, acceptance = model.langevin(
        {"x": jnp.asarray(x0)}, steps=3, dt=2.5, temperature=cold, key=jax.random.key(0), metropolis=True
    )
    np.testing.assert_allclose(np.asarray(large["x"]), x0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(acceptance), 0.0)
