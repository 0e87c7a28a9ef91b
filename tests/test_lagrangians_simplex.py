"""Sparsemax, entmax and ghostmax Lagrangians against references written out here in float64.

References: sparsemax by sorting (Martins & Astudillo 2016, Algorithm 1), 1.5-entmax by
sorting with the threshold from the quadratic of each candidate support, every α (1.5 and 2
included, as an independent cross-check) by 100 halvings of the threshold interval in
float64, derivatives by central finite differences of those references.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg


def _enable_x64(flag):
    """``jax.enable_x64`` (newer jax) or ``jax.experimental.enable_x64`` (the declared floor)."""
    import jax.experimental

    ctx = jax.enable_x64 if "enable_x64" in dir(jax) else jax.experimental.enable_x64
    return ctx(flag)


act = eqx.filter_jit(lambda lag, x: lag.activation(x))
value = eqx.filter_jit(lambda lag, x: lag(x))
act_value = eqx.filter_jit(lambda lag, x: lag.activation_and_value(x))
jacs = eqx.filter_jit(lambda lag, x: (jax.jacfwd(lag.activation)(x), jax.jacrev(lag.activation)(x)))

# ---- float64 references (one row at a time) --------------------------------------------------


def ref_sparsemax(z):
    zs = np.sort(z)[::-1]
    cs = np.cumsum(zs)
    k = np.arange(1, z.size + 1)
    n = k[1 + k * zs > cs].max()
    tau = (cs[n - 1] - 1) / n
    return np.maximum(z - tau, 0.0), tau


def ref_entmax15(z):
    # p = [z/2 - tau]_+^2; for a support of the top k entries, tau solves sum (u_i - tau)^2 = 1
    u = np.sort(z / 2)[::-1]
    best = None
    for k in range(1, z.size + 1):
        s1, s2 = u[:k].sum(), (u[:k] ** 2).sum()
        disc = s1 * s1 - k * (s2 - 1)
        if disc < 0:
            break
        tau = (s1 - np.sqrt(disc)) / k
        if tau < u[k - 1]:  # every entry of the support is above the threshold
            best = tau
    return np.maximum(z / 2 - best, 0.0) ** 2


def ref_entmax_bisect(z, alpha, iters=100):
    if alpha == 1.0:
        e = np.exp(z - z.max())
        return e / e.sum()
    u = (alpha - 1) * z
    lo, hi = u.max() - 1.0, u.max()
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if (np.maximum(u - mid, 0.0) ** (1 / (alpha - 1))).sum() >= 1:
            lo = mid
        else:
            hi = mid
    p = np.maximum(u - 0.5 * (lo + hi), 0.0) ** (1 / (alpha - 1))
    return p / p.sum()


def tsallis(p, alpha):
    if alpha == 1.0:
        q = p[p > 0]
        return -(q * np.log(q)).sum()
    return (p - p**alpha).sum() / (alpha * (alpha - 1))


def along(fn, x, axis):
    return np.apply_along_axis(fn, axis, x)


def rows(x, axis):
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


def ref_value(x, beta, alpha, axis):
    """Σ_rows max_p <p, x> + H_α(p)/β at the reference p (α = 2: the sparsemax −‖p‖²/(2β))."""
    total = 0.0
    for r in rows(x, axis):
        z = beta * r
        if alpha == "sparsemax":
            p = ref_sparsemax(z)[0]
            total += p @ r - (p @ p) / (2 * beta)
        else:
            p = ref_entmax_bisect(z, alpha)
            total += p @ r + tsallis(p, alpha) / beta
    return total


def ref_activation(x, beta, alpha, axis):
    if alpha == "sparsemax":
        return along(lambda r: ref_sparsemax(beta * r)[0], x, axis)
    if alpha == 1.5:
        return along(lambda r: ref_entmax15(beta * r), x, axis)
    return along(lambda r: ref_entmax_bisect(beta * r, alpha), x, axis)


def inputs(kind, shape, rng):
    x = rng.normal(size=shape) * 1.5
    if kind == "ties":
        x = np.round(x * 2) / 2  # many exactly equal entries per row
        x.flat[: max(2, x.size // 3)] = x.max()
    elif kind == "large":
        x = x * 1e3
        x.flat[::3] = -1e4
    return x


SHAPES_AXES = [(s, a) for s in [(7,), (3, 5), (2, 3, 4)] for a in range(-len(s), 0)]
LAGS = [
    ("sparsemax", lambda: hg.LSparsemax(beta=1.3), "sparsemax", 1.3),
    ("entmax15", lambda: hg.LEntmax(1.5, beta=0.7), 1.5, 0.7),
    ("entmax2", lambda: hg.LEntmax(2.0, beta=1.1), "sparsemax", 1.1),
]


@pytest.mark.parametrize("name,make,alpha,beta", LAGS, ids=[c[0] for c in LAGS])
def test_activation_equals_sort_reference_every_rank_and_axis(name, make, alpha, beta):
    rng = np.random.default_rng(0)
    kinds = ["normal", "ties", "large"]
    for shape, axis in SHAPES_AXES:
        lag = make()
        lag = type(lag)(**{**lag.config(), "axis": axis})
        x = np.stack([inputs(kind, shape, rng) for kind in kinds])  # a leading axis: more rows, same axis
        gs = np.asarray(act(lag, jnp.asarray(x, jnp.float32)), dtype=np.float64)
        for xi, g, kind in zip(x, gs, kinds):
            want = ref_activation(xi.astype(np.float32).astype(np.float64), beta, alpha, axis)
            np.testing.assert_allclose(
                g, want, atol=2e-5 if kind != "large" else 1e-3, err_msg=f"{shape} {axis} {kind}"
            )
            np.testing.assert_allclose(g.sum(axis=axis), 1.0, atol=1e-5)
            assert g.min() >= 0.0
            if kind == "large":  # entries far apart: each row shares its mass among its tied maxima exactly
                for r in rows(g, axis):
                    top = r > 0
                    np.testing.assert_allclose(r[top], 1.0 / top.sum(), atol=1e-3)


@pytest.mark.parametrize("alpha", [1.5, 2.0])
def test_sort_algorithms_agree_with_bisection(alpha):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 9)) * 2
    g = np.asarray(act(hg.LEntmax(alpha), jnp.asarray(x, jnp.float32)))
    want = along(lambda r: ref_entmax_bisect(r.astype(np.float32).astype(np.float64), alpha), x, -1)
    np.testing.assert_allclose(g, want, atol=2e-6)


def test_sparsemax_value_closed_form_from_threshold(getkey):
    beta = 1.7
    x = np.asarray(jax.random.normal(getkey(), (3, 4, 5)), np.float64)
    lag = hg.LSparsemax(beta=beta, axis=1)
    total = 0.0
    for r in rows(x, 1):  # ½ Σ_S (z² − τ²) / β
        z = beta * r
        p, tau = ref_sparsemax(z)
        S = p > 0
        total += 0.5 * (z[S] ** 2 - tau**2).sum() / beta
    np.testing.assert_allclose(float(value(lag, jnp.asarray(x, jnp.float32))), total, rtol=1e-5)
    np.testing.assert_allclose(total, ref_value(x, beta, "sparsemax", 1), rtol=1e-10)  # = the max over p


@pytest.mark.parametrize(
    "lag,alpha",
    [(hg.LEntmax(1.5, beta=0.8, axis=0), 1.5), (hg.LEntmax(1.25, beta=1.3), 1.25), (hg.LEntmax(1.75, beta=0.6), 1.75)],
    ids=["a1.5-axis0", "a1.25", "a1.75"],
)
def test_entmax_value_is_fenchel_young(lag, alpha, getkey):
    x = np.asarray(2 * jax.random.normal(getkey(), (4, 6)), np.float64)
    want = ref_value(x, float(lag.beta), alpha, lag.axis)
    g, L = act_value(lag, jnp.asarray(x, jnp.float32))  # the fused value, and L itself below
    np.testing.assert_allclose(float(L), want, rtol=2e-5, atol=2e-5)


def test_ghostmax_closed_form(getkey):
    beta = 1.4
    x = np.asarray(3 * jax.random.normal(getkey(), (2, 3, 5)), np.float64)
    x[0, 0] = [800.0, -800.0, 0.0, 1.0, 2.0]  # stable at large arguments
    lag = hg.LGhostmax(beta=beta, axis=-1)
    z = beta * x
    m = np.maximum(z.max(-1, keepdims=True), 0)
    e = np.exp(z - m)
    denom = np.exp(-m) + e.sum(-1, keepdims=True)
    want_L = ((np.log(denom) + m)[..., 0]).sum() / beta
    g, L = act_value(lag, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(float(L), want_L, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g), e / denom, atol=1e-6)
    # a row of very negative inputs attends to nothing
    x[1, 2] = -50.0
    g = np.asarray(act(lag, jnp.asarray(x, jnp.float32)))
    assert g[1, 2].sum() < 1e-20
    # along axis 0 (an array of the same shape, without the huge entries)
    lag0 = hg.LGhostmax(beta=beta, axis=0)
    x[0, 0] = [0.5, -0.5, 0.0, 1.0, 2.0]
    e0 = np.exp(beta * x)
    np.testing.assert_allclose(
        np.asarray(act(lag0, jnp.asarray(x, jnp.float32))), e0 / (1 + e0.sum(0)), rtol=2e-5, atol=1e-7
    )


ALL = [
    ("sparsemax", hg.LSparsemax(beta=1.3, axis=0), "sparsemax"),
    ("entmax15", hg.LEntmax(1.5, beta=0.9), 1.5),
    ("entmax125", hg.LEntmax(1.25, beta=1.2), 1.25),
    ("entmax175", hg.LEntmax(1.75, beta=0.8, axis=0), 1.75),
    ("entmax1", hg.LEntmax(1.0, beta=0.8), 1.0),
    ("ghostmax", hg.LGhostmax(beta=1.1), "ghost"),
]


def _ref_L(x, beta, alpha, axis):
    if alpha == "ghost":
        return sum(np.log1p(np.exp(beta * r).sum()) / beta for r in rows(x, axis))
    return ref_value(x, beta, alpha, axis)


def test_legendre_identity_and_gradients_in_a_model(getkey):
    # E = <g, x> − L(x) as the model computes it, ∂E/∂g = x, and dE/dx = Jᵀx with J = ∂g/∂x
    # from central differences of the float64 reference activations
    shape = (3, 4)
    cases = [c for c in ALL if c[0] != "entmax1"]  # α = 1 is LSoftmax, tested with it
    ham = hg.HAM()
    for name, lag, _ in cases:
        ham.add_layer(name, hg.Layer(lag, shape=shape))
    model = ham.compile(key=getkey())
    xs = {name: jnp.asarray(1.5 * jax.random.normal(getkey(), shape), jnp.float32) for name, _, _ in cases}
    E, dEdg = model.energy_and_dEdg(xs)
    dEdx = jax.grad(lambda xs: model.energy(xs))(xs)
    want_E = 0.0
    h = 1e-5
    for name, lag, alpha in cases:
        xr = np.asarray(xs[name], np.float64)
        beta = float(lag.beta)
        g = _ref_grad(xr, beta, alpha, lag.axis)
        want_E += np.sum(g * xr) - _ref_L(xr, beta, alpha, lag.axis)
        np.testing.assert_allclose(np.asarray(dEdg[name]), xr, rtol=1e-6)
        gp = np.stack([_ref_grad(xr + e_, beta, alpha, lag.axis) for e_ in _unit(shape, h)])
        gm = np.stack([_ref_grad(xr - e_, beta, alpha, lag.axis) for e_ in _unit(shape, h)])
        J = ((gp - gm) / (2 * h)).reshape(xr.size, xr.size)  # J[i, j] = ∂g_j/∂x_i
        np.testing.assert_allclose(
            np.asarray(dEdx[name]), (J @ xr.ravel()).reshape(shape), rtol=2e-3, atol=2e-3, err_msg=name
        )
    np.testing.assert_allclose(float(E), want_E, rtol=1e-5, atol=1e-5)  # the layers' energies add up


def _unit(shape, h):
    for idx in np.ndindex(shape):
        e = np.zeros(shape)
        e[idx] = h
        yield e


def _ref_grad(x, beta, alpha, axis):
    if alpha == "ghost":
        z = np.moveaxis(beta * x, axis, -1)
        e = np.exp(z)
        return np.moveaxis(e / (1 + e.sum(-1, keepdims=True)), -1, axis)
    if alpha == "sparsemax":
        return along(lambda r: ref_sparsemax(beta * r)[0], x, axis)
    return along(lambda r: ref_entmax_bisect(beta * r, alpha), x, axis)


def test_grad_wrt_beta_matches_finite_differences(getkey):
    x = np.asarray(1.5 * jax.random.normal(getkey(), (3, 6)), np.float64)
    x32 = jnp.asarray(x, jnp.float32)
    xr = np.asarray(x32, np.float64)
    w = jnp.asarray(np.linspace(-1, 1, x.size).reshape(x.shape), jnp.float32)
    lags = tuple(lag for _, lag, _ in ALL)

    gL, gA = jax.jit(
        lambda ms: (
            [jax.grad(lambda m: m(x32))(m).beta for m in ms],
            [jax.grad(lambda m: jnp.sum(m.activation(x32) * w))(m).beta for m in ms],
        )
    )(lags)
    h = 1e-5
    wr = np.asarray(w, np.float64)
    for (name, lag, alpha), a, b in zip(ALL, gL, gA):
        beta = float(lag.beta)
        fd = (_ref_L(xr, beta + h, alpha, lag.axis) - _ref_L(xr, beta - h, alpha, lag.axis)) / (2 * h)
        np.testing.assert_allclose(float(a), fd, rtol=1e-4, atol=1e-5, err_msg=name)
        fdg = (
            np.sum(_ref_grad(xr, beta + h, alpha, lag.axis) * wr)
            - np.sum(_ref_grad(xr, beta - h, alpha, lag.axis) * wr)
        ) / (2 * h)
        np.testing.assert_allclose(float(b), fdg, rtol=1e-3, atol=1e-4, err_msg=name)


def test_alpha_limits(getkey):
    x = np.asarray(2 * jax.random.normal(getkey(), (3, 7)), np.float64)
    x32 = jnp.asarray(x, jnp.float32)
    beta = 0.9
    # α = 1: softmax and LSoftmax's Lagrangian
    z = beta * x
    sm = np.exp(z - z.max(-1, keepdims=True))
    sm /= sm.sum(-1, keepdims=True)
    lse = (np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)).sum() / beta
    g1, L1 = act_value(hg.LEntmax(1.0, beta=beta), x32)
    np.testing.assert_allclose(np.asarray(g1), sm, atol=1e-6)
    np.testing.assert_allclose(float(L1), lse, rtol=1e-6)
    # α → 1: the activation and the value approach softmax / log-sum-exp, linearly in α − 1
    errs = []
    for a in [1.05, 1.005]:
        ga, La = act_value(hg.LEntmax(a, beta=beta), x32)
        errs.append(np.abs(np.asarray(ga) - sm).max())
        assert abs(float(La) - lse) < 3 * (a - 1) * x.shape[0] * np.log(x.shape[1]) + 1e-4
    assert errs[0] > 5 * errs[1] and errs[1] < 5e-3, errs
    # α = 2: sparsemax, and LSparsemax's Lagrangian plus 1/(2β) per row
    g2, L2 = act_value(hg.LEntmax(2.0, beta=beta), x32)
    gs, Ls = act_value(hg.LSparsemax(beta=beta), x32)
    np.testing.assert_allclose(np.asarray(g2), along(lambda r: ref_sparsemax(beta * r)[0], x, -1), atol=1e-6)
    np.testing.assert_allclose(np.asarray(gs), np.asarray(g2), atol=1e-6)
    np.testing.assert_allclose(float(L2), float(Ls) + x.shape[0] / (2 * beta), rtol=1e-6)


@pytest.mark.parametrize("alpha", [1.25, 1.75])
def test_general_alpha_against_float64_bisection_and_fd_jacobian(alpha, getkey):
    rng = np.random.default_rng(int(alpha * 100))
    lag = hg.LEntmax(alpha, beta=1.0)
    x = rng.normal(size=(5, 8)) * 1.2
    x32 = jnp.asarray(x, jnp.float32)
    xr = np.asarray(x32, np.float64)
    want = along(lambda r: ref_entmax_bisect(r, alpha), xr, -1)
    got = np.asarray(act(lag, x32), np.float64)
    err32 = np.abs(got - want).max()
    assert err32 < 2e-6, err32
    with _enable_x64(True):  # the same code in float64 reaches the reference's precision
        got64 = np.asarray(act(lag, jnp.asarray(xr, jnp.float64)))
        err64 = np.abs(got64 - want).max()
        assert err64 < 1e-12, err64
        # the Jacobian on a row with a support of several entries (not a one-hot row)
        r = int(np.argmax((want > 0).sum(1)))
        support = int((want[r] > 0).sum())
        assert support >= 3, support
        J64 = np.asarray(jacs(lag, jnp.asarray(xr[r], jnp.float64))[0])
    h = 1e-6
    Jfd = np.stack(
        [
            (ref_entmax_bisect(xr[r] + h * e, alpha) - ref_entmax_bisect(xr[r] - h * e, alpha)) / (2 * h)
            for e in np.eye(8)
        ],
        axis=1,
    )
    assert np.abs(Jfd).max() > 0.05
    J32, J32r = (np.asarray(j, np.float64) for j in jacs(lag, x32[r]))
    np.testing.assert_allclose(J64, Jfd, atol=1e-7)
    np.testing.assert_allclose(J32, Jfd, atol=5e-6)
    np.testing.assert_allclose(J32r, Jfd, atol=5e-6)
    print(
        f"alpha={alpha}: max|p - ref| float32 {err32:.1e}, float64 {err64:.1e}; Jacobian on a row with "
        f"{support} nonzero entries (max |J| {np.abs(Jfd).max():.2f}): max|J - J_fd| float64 "
        f"{np.abs(J64 - Jfd).max():.1e}, float32 {np.abs(J32 - Jfd).max():.1e} (forward), {np.abs(J32r - Jfd).max():.1e} (reverse)"
    )


@pytest.mark.slow
def test_convex_hessian_psd(getkey):
    shape = (3, 4)
    cases = [c for c in ALL if c[0] != "entmax1"]  # α = 1 is LSoftmax's value, tested with it
    lags = tuple(lag for _, lag, _ in cases)
    xs = 1.5 * jax.random.normal(getkey(), (2, 12))
    Hs = jax.jit(lambda ms, xs: [jax.vmap(jax.hessian(lambda v: m(v.reshape(shape))))(xs) for m in ms])(lags, xs)
    for (name, _, _), H2 in zip(cases, Hs):
        for H in np.asarray(H2, np.float64):
            np.testing.assert_allclose(H, H.T, atol=1e-4, err_msg=name)
            assert np.linalg.eigvalsh(0.5 * (H + H.T)).min() >= -1e-4, name


@pytest.mark.bad_arguments
def test_bad_hyperparameters_and_layers():
    with pytest.raises(hg.ValidationError, match="alpha must be a finite number >= 1"):
        hg.LEntmax(0.5)
    with pytest.raises(hg.ValidationError, match="alpha must be a number"):
        hg.LEntmax("sparse")
    with pytest.raises(hg.ValidationError, match=r"LSparsemax\(axis=1\) needs a layer of rank > 1"):
        hg.SparsemaxLayer((3,), axis=1)
    with pytest.raises(hg.ValidationError, match=r"LEntmax\(axis=-3\)"):
        hg.EntmaxLayer((3, 4), axis=-3)
    with pytest.raises(hg.ValidationError, match=r"LGhostmax\(axis=2\)"):
        hg.GhostmaxLayer((3, 4), axis=2)
    with pytest.raises(hg.ValidationError, match="beta must be a scalar"):
        hg.LSparsemax(beta=jnp.ones(2))
    # beta <= 0 is refused at construction; a trained beta below min_beta is clipped there
    with pytest.raises(hg.ValidationError, match="beta must be > 0"):
        hg.LSparsemax(beta=-1.0, min_beta=0.5)
    lag = eqx.tree_at(lambda l: l.beta, hg.LSparsemax(beta=1.0, min_beta=0.5), jnp.asarray(-1.0))
    np.testing.assert_allclose(
        np.asarray(act(lag, jnp.array([1.0, 0.0]))), ref_sparsemax(np.array([0.5, 0.0]))[0], atol=1e-7
    )


def test_layers_config_and_positional_alpha():
    assert hg.LEntmax(1.25).alpha == 1.25 and float(hg.LEntmax(1.25, 2.0).beta) == 2.0
    for layer in [
        hg.SparsemaxLayer((4, 3), beta=2.0, axis=0),
        hg.EntmaxLayer((5,), alpha=1.75, beta=0.5),
        hg.GhostmaxLayer((6,), beta=3.0),
    ]:
        lag = layer.lagrangian
        again = type(lag)(**lag.config())
        x = jnp.linspace(-1.0, 1.0, layer.size).reshape(layer.shape)
        np.testing.assert_allclose(np.asarray(value(again, x)), np.asarray(value(lag, x)), rtol=1e-6)
        assert hg.registered_types()[type(lag).__name__] is type(lag)
    assert hg.EntmaxLayer((5,), alpha=1.75).lagrangian.config()["alpha"] == 1.75
