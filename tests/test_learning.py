"""hg.learning: the local rules against written-out formulas, their convergence, and fit."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hamux_graph as hg


def _covariance_data(n=2000, seed=0):
    """5-D Gaussian samples of a known covariance with eigenvalues 5, 3, 2, 1, 0.5."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    C = Q @ np.diag([5.0, 3.0, 2.0, 1.0, 0.5]) @ Q.T
    x = rng.multivariate_normal(np.zeros(5), C, size=n)
    values, vectors = np.linalg.eigh(C)
    return x, vectors[:, np.argsort(values)[::-1]].T  # rows: eigenvectors, largest eigenvalue first


def _cos(a, b):
    return abs(float(np.dot(a, b))) / (np.linalg.norm(a) * np.linalg.norm(b))


# ---- one update against the formulas, written out per sample ------------------------------


def test_oja_and_sanger_updates_are_the_batch_means_of_their_formulas():
    rng = np.random.default_rng(1)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=(6, 4))
    oja = np.zeros_like(W)
    sanger = np.zeros_like(W)
    for v in x:
        y = W @ v
        for i in range(3):
            oja[i] += y[i] * (v - y[i] * W[i])
            sanger[i] += y[i] * (v - sum(y[j] * W[j] for j in range(i + 1)))
    np.testing.assert_allclose(hg.learning.oja(W, x, lr=0.3), 0.3 * oja / 6, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hg.learning.sanger(W, x, lr=0.3), 0.3 * sanger / 6, rtol=1e-5, atol=1e-6)
    # one sample is a batch of one; a single row of sanger is oja
    np.testing.assert_allclose(hg.learning.oja(W, x[0], lr=1.0), hg.learning.oja(W, x[:1], lr=1.0))
    np.testing.assert_allclose(hg.learning.sanger(W[:1], x, lr=1.0), hg.learning.oja(W[:1], x, lr=1.0), rtol=1e-6)


def test_bcm_update_and_threshold_follow_the_formulas():
    rng = np.random.default_rng(2)
    W, theta, x = rng.normal(size=(2, 3)), np.array([0.5, 1.5]), rng.normal(size=(4, 3))
    dW, theta_new = hg.learning.bcm(W, theta, x, lr=0.1, tau_theta=4.0)
    want = np.zeros_like(W)
    for v in x:
        y = W @ v
        want += np.outer(y * (y - theta), v)
    y2 = np.mean((x @ W.T) ** 2, axis=0)
    np.testing.assert_allclose(dW, 0.1 * want / 4, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theta_new, theta + (y2 - theta) / 4.0, rtol=1e-5)


def _published_competing_units(synapses, inputs, eps, p, k, delta, prec):
    """The minibatch update of Krotov & Hopfield's published code, in plain numpy.

    ``synapses`` (hidden, N), ``inputs`` (N, batch): rank the currents of each sample with
    ``argsort``, +1 for the last (strongest), -delta for the k-th from the end, then
    ``ds = g·vᵀ − (Σ g·I) w`` summed over the batch and divided by its largest magnitude.
    """
    hidden, batch = synapses.shape[0], inputs.shape[1]
    currents = np.dot(np.sign(synapses) * np.absolute(synapses) ** (p - 1), inputs)
    order = np.argsort(currents, axis=0)
    g = np.zeros((hidden, batch))
    g[order[hidden - 1, :], np.arange(batch)] = 1.0
    g[order[hidden - k], np.arange(batch)] = -delta
    xx = np.sum(np.multiply(g, currents), 1)
    ds = np.dot(g, np.transpose(inputs)) - np.multiply(
        np.tile(xx.reshape(xx.shape[0], 1), (1, inputs.shape[0])), synapses
    )
    nc = np.amax(np.absolute(ds))
    if nc < prec:
        nc = prec
    return eps * np.true_divide(ds, nc)


@pytest.mark.parametrize(("p", "k", "delta"), [(2.0, 2, 0.4), (3.0, 7, 0.4), (4.5, 3, 0.1)])
def test_competing_units_equals_the_published_update(p, k, delta):
    rng = np.random.default_rng(3)
    W, x = rng.normal(size=(20, 30)), rng.uniform(size=(16, 30))
    want = _published_competing_units(W, x.T, 0.02, p, k, delta, 1e-30)
    got = hg.learning.competing_units(W, x, lr=0.02, p=p, k=k, delta=delta)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    assert float(np.max(np.abs(got))) == pytest.approx(0.02, rel=1e-5)  # the largest entry moves by lr


def test_rules_take_traced_rates_and_compose_with_optax():
    rng = np.random.default_rng(4)
    W, x = jnp.asarray(rng.normal(size=(4, 6))), jnp.asarray(rng.uniform(size=(8, 6)))
    jitted = jax.jit(lambda W, x, lr: hg.learning.competing_units(W, x, lr=lr, k=3))
    np.testing.assert_allclose(jitted(W, x, 0.05), hg.learning.competing_units(W, x, lr=0.05, k=3), rtol=1e-6)
    # -ΔW fed to optax.sgd as a gradient gives W + ΔW
    opt = optax.sgd(1.0)
    updates, _ = opt.update(-hg.learning.oja(W, x, lr=0.1), opt.init(W))
    np.testing.assert_allclose(optax.apply_updates(W, updates), W + hg.learning.oja(W, x, lr=0.1), rtol=1e-6)


def test_bad_shapes_and_hyperparameters_are_refused():
    W = jnp.ones((3, 4))
    with pytest.raises(hg.ArgumentError, match=r"W must have shape \(M, D\)"):
        hg.learning.oja(jnp.ones(4), jnp.ones((2, 4)), lr=0.1)
    with pytest.raises(hg.ArgumentError, match=r"x must be a batch of shape \(B, 4\)"):
        hg.learning.sanger(W, jnp.ones((2, 5)), lr=0.1)
    with pytest.raises(hg.ArgumentError, match="lr must be a scalar"):
        hg.learning.oja(W, jnp.ones((2, 4)), lr=jnp.ones(2))
    with pytest.raises(hg.ArgumentError, match=r"theta must have shape \(3,\)"):
        hg.learning.bcm(W, jnp.zeros(2), jnp.ones((2, 4)), lr=0.1, tau_theta=5.0)
    with pytest.raises(hg.ArgumentError, match=r"k must be an int in \[2, 3\]"):
        hg.learning.competing_units(W, jnp.ones((2, 4)), lr=0.1, k=4)
    with pytest.raises(hg.ArgumentError, match=r"p must be a finite number >= 2.0, got 1.0"):
        hg.learning.competing_units(W, jnp.ones((2, 4)), lr=0.1, p=1.0)


# ---- convergence ------------------------------------------------------------------------------


def test_oja_converges_to_the_top_eigenvector_with_unit_norm():
    x, eigenvectors = _covariance_data()
    w0 = 0.1 * np.random.default_rng(5).normal(size=(1, 5))
    result = hg.learning.fit(
        hg.learning.oja,
        w0,
        x,
        epochs=20,
        batch_size=10,
        lr_schedule=optax.linear_schedule(0.01, 0.001, 4000),
        key=jax.random.key(0),
        show_progress=False,
    )
    w = np.asarray(result.W[0])
    assert _cos(w, eigenvectors[0]) >= 0.99
    assert abs(np.linalg.norm(w) - 1.0) <= 1e-2


def test_sanger_recovers_the_top_three_components_in_order():
    x, eigenvectors = _covariance_data()
    W0 = 0.1 * np.random.default_rng(6).normal(size=(3, 5))
    result = hg.learning.fit(
        hg.learning.sanger,
        W0,
        x,
        epochs=20,
        batch_size=10,
        lr_schedule=optax.linear_schedule(0.01, 0.001, 4000),
        key=jax.random.key(1),
        show_progress=False,
    )
    W = np.asarray(result.W)
    for i in range(3):
        assert _cos(W[i], eigenvectors[i]) >= 0.98, i
        assert abs(np.linalg.norm(W[i]) - 1.0) <= 2e-2, i


def test_bcm_neuron_becomes_selective_and_its_threshold_is_the_mean_squared_response():
    # two orthogonal patterns, shown equally often; the selective fixed point answers one with
    # y = theta and the other with 0, and theta = E[y^2] = y^2 / 2, so y = theta = 2
    patterns = np.eye(2)
    data = patterns[np.repeat([0, 1], 500)]
    w0 = np.random.default_rng(7).uniform(0.1, 0.3, size=(1, 2))
    rule = functools.partial(hg.learning.bcm, tau_theta=5.0)
    result = hg.learning.fit(
        rule,
        w0,
        data,
        epochs=50,
        batch_size=50,
        lr_schedule=0.1,
        key=jax.random.key(2),
        state0=jnp.zeros(1),
        show_progress=False,
    )
    responses = patterns @ np.asarray(result.W[0])
    strong, weak = max(responses), min(responses)
    assert strong >= 10 * max(abs(weak), 1e-12)
    mean_square = float(np.mean(responses**2))
    assert float(result.state[0]) == pytest.approx(mean_square, rel=0.05)


def test_competing_units_rows_converge_to_the_unit_p_sphere():
    # 6 units compete for 12 clusters of non-negative inputs: every unit wins some samples
    rng = np.random.default_rng(8)
    centers = rng.uniform(0, 1, size=(12, 20))
    data = np.clip(centers[rng.integers(0, 12, size=2000)] + 0.1 * rng.normal(size=(2000, 20)), 0, None)
    W0 = np.abs(rng.normal(size=(6, 20)))  # p-norms about 2 to 5
    p = 3.0
    rule = functools.partial(hg.learning.competing_units, p=p, k=2, delta=0.4)
    result = hg.learning.fit(
        rule,
        W0,
        data,
        epochs=20,
        batch_size=100,
        lr_schedule=optax.linear_schedule(0.04, 0.0, 400),
        key=jax.random.key(3),
        show_progress=False,
    )
    norms = np.sum(np.abs(np.asarray(result.W)) ** p, axis=1) ** (1 / p)
    assert np.all(np.abs(np.sum(W0**p, axis=1) ** (1 / p) - 1.0) > 0.5)  # far from the sphere at the start
    np.testing.assert_allclose(norms, 1.0, rtol=0.05)
    assert result.updates == 20 * 20


# ---- fit --------------------------------------------------------------------------------------


def test_fit_applies_the_rule_to_shuffled_batches_with_the_scheduled_rate():
    rng = np.random.default_rng(9)
    data, W0 = rng.normal(size=(10, 3)), rng.normal(size=(2, 3))
    key = jax.random.key(4)
    schedule = optax.linear_schedule(0.1, 0.05, 6)
    result = hg.learning.fit(
        hg.learning.oja, W0, data, epochs=2, batch_size=4, lr_schedule=schedule, key=key, show_progress=False
    )
    # by hand: epoch e shuffles with fold_in(key, e), uses 2 batches of 4 (2 rows left out)
    W, step, sizes = np.asarray(W0), 0, []
    for epoch in range(2):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), 10))
        epoch_sizes = []
        for b in range(2):
            batch = data[order[4 * b : 4 * b + 4]]
            lr = 0.1 - 0.05 * step / 6
            dW = np.zeros_like(W)
            for v in batch:
                y = W @ v
                dW += (y[:, None] * (v[None, :] - y[:, None] * W)) / 4
            W = W + lr * dW
            epoch_sizes.append(np.max(np.abs(lr * dW)))
            step += 1
        sizes.append(np.mean(epoch_sizes))
    np.testing.assert_allclose(result.W, W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.history.update_size, sizes, rtol=1e-4)
    np.testing.assert_allclose(result.history.lr, [0.1 - 0.05 / 6, 0.1 - 0.05 * 3 / 6], rtol=1e-5)
    assert result.updates == 4 and result.state is None


def test_fit_refuses_bad_arguments():
    W0, data = np.ones((2, 3)), np.ones((5, 3))
    fit = functools.partial(hg.learning.fit, hg.learning.oja, epochs=1, key=jax.random.key(0), show_progress=False)
    with pytest.raises(hg.ArgumentError, match=r"data must have shape \(N, 3\)"):
        fit(W0, np.ones((5, 4)), batch_size=2, lr_schedule=0.1)
    with pytest.raises(hg.ArgumentError, match=r"batch_size must be an int in \[1, 5\]"):
        fit(W0, data, batch_size=6, lr_schedule=0.1)
    with pytest.raises(hg.ArgumentError, match="lr_schedule must be > 0"):
        fit(W0, data, batch_size=2, lr_schedule=-0.1)
    with pytest.raises(hg.ArgumentError, match=r"returned an update of shape \(3,\)"):
        hg.learning.fit(
            lambda W, x, lr: lr * x[0],
            W0,
            data,
            epochs=1,
            batch_size=2,
            lr_schedule=0.1,
            key=jax.random.key(0),
            show_progress=False,
        )
