"""hg.memory: storage rules against formulas written out here, binary recall against plain loops."""

from __future__ import annotations

import typing

import jax
import numpy as np
import pytest

import hamux_graph as hg
from hamux_graph import memory


def _pm1(k, n, seed):
    return np.where(np.random.default_rng(seed).random((k, n)) < 0.5, 1.0, -1.0).astype(np.float32)


def _flip(patterns, frac, seed):
    """Flip exactly round(frac * N) bits of every row, positions from numpy."""
    rng = np.random.default_rng(seed)
    out = patterns.copy()
    k = int(round(frac * patterns.shape[1]))
    for row in out:
        row[rng.choice(row.size, k, replace=False)] *= -1
    return out


# ---- plain reference implementations (independent of the library) ---------------------------


def hebb_ref(P):
    K, N = P.shape
    W = np.zeros((N, N))
    for i in range(N):
        for j in range(N):
            if i != j:
                W[i, j] = sum(P[mu, i] * P[mu, j] for mu in range(K)) / N
    return W


def storkey_ref(P):
    """Storkey (1997), term by term: w_ij += (ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j)/N, h_ij = Σ_{k≠i,j} w_ik ξ_k."""
    K, N = P.shape
    W = np.zeros((N, N))
    for xi in P.astype(np.float64):
        h = np.array([[sum(W[i, k] * xi[k] for k in range(N) if k not in (i, j)) for j in range(N)] for i in range(N)])
        new = W.copy()
        for i in range(N):
            for j in range(N):
                if i != j:
                    new[i, j] = W[i, j] + (xi[i] * xi[j] - xi[i] * h[j, i] - h[i, j] * xi[j]) / N
        W = new
    return W


def ties(W):
    """The documented tie band: |h_i| <= N * eps(float32) * sum_j |W_ij| counts as h_i = 0."""
    W = np.asarray(W, np.float32)
    return W.shape[1] * np.finfo(np.float32).eps * np.abs(W).astype(np.float64).sum(axis=1)


def async_ref(W, s, perms, energy, tie):
    """One probe, the documented order; asserts that every single flip lowers the energy."""
    s = s.copy()
    changed_sweeps = 0
    for perm in perms:
        changed = False
        for i in perm:
            h = W[i] @ s
            new = 1.0 if h > tie[i] else -1.0 if h < -tie[i] else s[i]
            if new != s[i]:
                before = energy(s)
                s[i] = new
                assert energy(s) < before
                changed = True
        if not changed:
            break
        changed_sweeps += 1
    return s, changed_sweeps


def perms_for(key, N, sweeps):
    return [np.asarray(jax.random.permutation(jax.random.fold_in(key, t), N)) for t in range(sweeps)]


def fixed_fraction(W, P):
    """Fraction of patterns no single neuron would leave (h_i ξ_i > 0, or h_i a tie)."""
    h = P @ np.asarray(W, np.float64).T
    return float(np.all((P * h > 0) | (np.abs(h) <= ties(W)), axis=1).mean())


# ---- storage rules ------------------------------------------------------------------------------


def test_hebbian_is_the_outer_product_rule():
    P = _pm1(3, 9, 0)
    W = np.asarray(memory.hebbian(P))
    np.testing.assert_allclose(W, hebb_ref(P), atol=1e-6)
    assert np.array_equal(W, W.T) and np.all(np.diag(W) == 0)


def test_storkey_matches_a_plain_loop():
    P = _pm1(4, 10, 1)
    W = np.asarray(memory.storkey(P))
    np.testing.assert_allclose(W, storkey_ref(P), atol=1e-5)
    assert np.array_equal(W, W.T) and np.all(np.diag(W) == 0)
    # one pattern: Storkey reduces to Hebb
    np.testing.assert_allclose(np.asarray(memory.storkey(P[:1])), hebb_ref(P[:1]), atol=1e-6)


def test_pseudo_inverse_is_the_projection_rule():
    P = _pm1(6, 20, 2)
    W = np.asarray(memory.pseudo_inverse(P))
    proj = np.linalg.pinv(P.astype(np.float64)) @ P  # projection onto the patterns' span
    ref = proj - np.diag(np.diag(proj))
    np.testing.assert_allclose(W, ref, atol=1e-5)
    np.testing.assert_allclose(W, W.T, atol=0)
    assert np.all(np.diag(W) == 0)


def test_rules_at_N100_K20_fixed_points_and_recall(getkey):
    """Five sets of K = 20 patterns at N = 100 (α = 0.2, above Hebb's 0.138)."""
    fixed = {r: [] for r in memory.RULES}
    exact = {r: [] for r in memory.RULES}
    for seed in range(5):
        P = _pm1(20, 100, 10 + seed)
        probes = _flip(P, 0.1, 20 + seed)
        for name, store in memory.RULES.items():
            W = store(P)
            fixed[name].append(fixed_fraction(W, P))
            out = memory.recall_binary(W, probes, key=getkey())
            exact[name].append(float(np.all(np.asarray(out.states) == P, axis=1).mean()))
    f = {r: np.mean(v) for r, v in fixed.items()}
    e = {r: np.mean(v) for r, v in exact.items()}
    print(f"fixed-point fraction {f}; exact recall from 10% flips {e}")
    assert f["hebbian"] <= 0.6 and f["storkey"] >= 0.95 and f["pseudo_inverse"] >= 0.95
    assert e["hebbian"] <= 0.6 and e["storkey"] >= 0.95 and e["pseudo_inverse"] >= 0.95
    assert e["hebbian"] < min(e["storkey"], e["pseudo_inverse"])


@pytest.mark.bad_arguments
def test_rule_lookup_and_errors():
    assert memory.rule("pseudo_inverse") is memory.pseudo_inverse
    with pytest.raises(hg.ValidationError, match=r"rule must be one of \['hebbian', 'pseudo_inverse', 'storkey'\]"):
        memory.rule("oja")
    with pytest.raises(hg.ValidationError, match=r"hebbian: patterns must have shape \(K, N\).*got shape \(8,\)"):
        memory.hebbian(np.ones(8))
    with pytest.raises(hg.ValidationError, match=r"storkey: patterns must hold only \+1 and -1.*0\.5.*np.where"):
        memory.storkey(np.full((2, 4), 0.5))
    with pytest.raises(hg.ValidationError, match="pseudo_inverse: patterns must hold real numbers.*dtype bool"):
        memory.pseudo_inverse(np.ones((2, 4), bool))


# ---- binary recall ------------------------------------------------------------------------------


def test_async_recall_is_bit_equal_to_a_plain_loop(getkey):
    """Hebbian weights at N = 64 are multiples of 1/64: every field is exact in float32, ties
    (h = 0) included, so any summation order gives the same bits."""
    N, K, B = 64, 12, 24
    P = _pm1(K, N, 3)
    W = np.asarray(memory.hebbian(P), np.float32)
    assert np.all(W * N == np.round(W * N))
    probes = np.concatenate([_flip(P, 0.25, 4), _pm1(B - K, N, 5)])
    key = getkey()
    out = memory.recall_binary(W, probes, key=key, max_sweeps=30)
    perms = perms_for(key, N, 30)
    Wd = W.astype(np.float64)
    energy = lambda s: -0.5 * s @ Wd @ s  # noqa: E731
    ref = [async_ref(Wd, p.astype(np.float64), perms, energy, ties(W)) for p in probes]
    np.testing.assert_array_equal(np.asarray(out.states), np.stack([r[0] for r in ref]))
    np.testing.assert_array_equal(np.asarray(out.sweeps), [r[1] for r in ref])
    assert out.states.shape == probes.shape and out.states.dtype == np.float32
    assert bool(out.converged.all())
    # the result of one probe does not depend on the batch around it
    one = memory.recall_binary(W, probes[7], key=key, max_sweeps=30)
    np.testing.assert_array_equal(np.asarray(one.states), np.asarray(out.states[7]))
    assert one.sweeps.shape == () and one.converged.shape == ()


def test_async_energy_never_increases_sweep_by_sweep(getkey):
    N = 64
    rng = np.random.default_rng(6)
    A = rng.normal(size=(N, N))
    W = ((A + A.T) / 2).astype(np.float32)
    np.fill_diagonal(W, 0.0)  # Sherrington–Kirkpatrick couplings: many sweeps to settle
    probes = _pm1(16, N, 7)
    key = getkey()
    E = []
    for t in range(8):
        s = np.asarray(memory.recall_binary(W, probes, key=key, max_sweeps=t).states, np.float64)
        E.append(-0.5 * np.einsum("bi,ij,bj->b", s, W.astype(np.float64), s))
    E = np.stack(E)
    assert np.all(np.diff(E, axis=0) <= 1e-6) and np.any(np.diff(E, axis=0) < 0)
    # and the final states agree with the plain loop (fields are not exact here, but ties are unlikely)
    out = memory.recall_binary(W, probes, key=key, max_sweeps=100)
    perms = perms_for(key, N, 100)
    Wd = W.astype(np.float64)
    ref = np.stack(
        [async_ref(Wd, p.astype(np.float64), perms, lambda s: -0.5 * s @ Wd @ s, ties(W))[0] for p in probes]
    )
    np.testing.assert_array_equal(np.asarray(out.states), ref)


def test_hebbian_ties_follow_exact_arithmetic(getkey):
    """N = 100, K = 40: Hebbian fields N·h_i are integers, often exactly 0, but h_i = (integer)/100
    is not exact in float32. With the tie band the recall equals the exact integer dynamics."""
    N, K = 100, 40
    P = _pm1(K, N, 21)
    C = P.T.astype(np.int64) @ P.astype(np.int64)  # N * W, exactly
    np.fill_diagonal(C, 0)
    probes = _pm1(20, N, 23)
    key = getkey()
    out = memory.recall_binary(memory.hebbian(P), probes, key=key)
    perms = perms_for(key, N, 50)
    zeros, ref = 0, []
    for s in probes.astype(np.int64):
        s = s.copy()
        for perm in perms:
            changed = False
            for i in perm:
                h = C[i] @ s
                zeros += int(h == 0)
                new = 1 if h > 0 else -1 if h < 0 else s[i]
                changed |= bool(new != s[i])
                s[i] = new
            if not changed:
                break
        ref.append(s)
    assert zeros > 10  # ties were met along the way
    np.testing.assert_array_equal(np.asarray(out.states), np.stack(ref).astype(np.float32))


def test_sync_recall_and_two_cycles(getkey):
    N = 64
    P = _pm1(5, N, 8)
    W = np.asarray(memory.hebbian(P), np.float32)
    probes = _flip(P, 0.1, 9)
    out = memory.recall_binary(W, probes, key=None, order="sync", max_sweeps=20)
    s = probes.astype(np.float64)
    tie = ties(W)
    for _ in range(20):  # plain synchronous loop
        h = s @ W.T.astype(np.float64)
        new = np.where(h > tie, 1.0, np.where(h < -tie, -1.0, s))
        if np.array_equal(new, s):
            break
        s = new
    np.testing.assert_array_equal(np.asarray(out.states), s)
    # a 2-cycle: two neurons coupled positively, started anti-aligned, swap forever
    W2 = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    cyc = memory.recall_binary(W2, np.array([1.0, -1.0]), key=None, order="sync", max_sweeps=7)
    assert not bool(cyc.converged) and int(cyc.sweeps) == 7
    np.testing.assert_array_equal(np.asarray(cyc.states), [-1.0, 1.0])  # odd number of swaps
    asy = memory.recall_binary(W2, np.array([1.0, -1.0]), key=getkey(), max_sweeps=7)
    assert bool(asy.converged) and int(asy.sweeps) == 1 and abs(float(asy.states.sum())) == 2.0


def test_recall_inside_jit_and_zero_sweeps(getkey):
    P = _pm1(3, 64, 10)
    W = memory.hebbian(P)
    probes = _flip(P, 0.1, 11)
    key = getkey()
    f = jax.jit(lambda W, p: memory.recall_binary(W, p, key=key).states)
    np.testing.assert_array_equal(np.asarray(f(W, probes)), np.asarray(memory.recall_binary(W, probes, key=key).states))
    none = memory.recall_binary(W, probes, key=key, max_sweeps=0)
    np.testing.assert_array_equal(np.asarray(none.states), probes)
    assert none.sweeps.tolist() == [0, 0, 0] and not bool(none.converged.any())


@pytest.mark.bad_arguments
def test_recall_errors(getkey):
    W = np.zeros((4, 4))
    with pytest.raises(hg.ValidationError, match=r"recall_binary: W must be a square \(N, N\).*\(4, 3\)"):
        memory.recall_binary(np.zeros((4, 3)), np.ones(4), key=getkey())
    with pytest.raises(hg.ValidationError, match=r"probes must have shape \(\.\.\., 4\).*\(2, 5\)"):
        memory.recall_binary(W, np.ones((2, 5)), key=getkey())
    with pytest.raises(hg.ValidationError, match=r"probes must hold only \+1 and -1.*0\.0 at index \(1,\)"):
        memory.recall_binary(W, np.array([1.0, 0.0, 1.0, 1.0]), key=getkey())
    with pytest.raises(hg.ValidationError, match="order must be 'async'.*or 'sync'.*got 'random'"):
        memory.recall_binary(W, np.ones(4), key=getkey(), order="random")
    with pytest.raises(hg.ValidationError, match="order='async' draws one permutation per sweep from `key`"):
        memory.recall_binary(W, np.ones(4), key=None)
    for bad in (5.0, True, -1, "10"):
        with pytest.raises(hg.ValidationError, match=r"max_sweeps must be an int in \[0, 2147483647\].*max_sweeps=50"):
            memory.recall_binary(W, np.ones(4), key=getkey(), max_sweeps=bad)


# ---- dense binary memories --------------------------------------------------------------------


def dense_ref(s, perms, E):
    """Krotov–Hopfield bit flips: neuron i takes the value of lower energy E (a tie keeps it)."""
    s = s.copy()
    for perm in perms:
        changed = False
        for i in perm:
            up, down = s.copy(), s.copy()
            up[i], down[i] = 1.0, -1.0
            gain = E(down) - E(up)
            new = 1.0 if gain > 0 else -1.0 if gain < 0 else s[i]
            if new != s[i]:
                before = E(s)
                s[i] = new
                assert E(s) < before
                changed = True
        if not changed:
            break
    return s


def test_dense_polynomial_n3_stores_3N_where_hebb_stores_none(getkey):
    N, K = 100, 300
    P = _pm1(K, N, 12)
    probes = _flip(P, 0.1, 13)
    key = getkey()
    out = memory.recall_binary_dense(P, probes, energy="polynomial", n=3, key=key)
    dense_exact = float(np.all(np.asarray(out.states) == P, axis=1).mean())
    hebb = memory.recall_binary(memory.hebbian(P), probes, key=key)
    hebb_exact = float(np.all(np.asarray(hebb.states) == P, axis=1).mean())
    print(f"K = 3N = {K}: dense n=3 exact {dense_exact:.3f}, Hebbian exact {hebb_exact:.3f}")
    assert dense_exact >= 0.9 and hebb_exact == 0.0 and bool(out.converged.all())
    # bit-equal to the plain loop (integer overlaps: exact in float32) on a subset of probes
    perms = perms_for(key, N, 50)
    Pd = P.astype(np.float64)
    ref = np.stack([dense_ref(p.astype(np.float64), perms, lambda s: -np.sum((Pd @ s) ** 3)) for p in probes[:5]])
    np.testing.assert_array_equal(np.asarray(out.states[:5]), ref)


def _lse_energy(P, beta):
    def E(s):
        m = beta * (P @ s)
        return -(m.max() + np.log(np.sum(np.exp(m - m.max())))) / beta

    return E


@pytest.mark.parametrize(
    "energy, kwargs, make_E, strategy",
    [
        (
            "rectified",
            dict(n=4),
            lambda P: lambda s: -np.sum(np.maximum(P @ s, 0.0) ** 4),
            memory.RectifiedPolynomial(4.0),
        ),
        ("lse", dict(beta=0.5), lambda P: _lse_energy(P, 0.5), memory.LogSumExp(beta=0.5)),
    ],
)
def test_dense_energies_match_plain_loops(getkey, energy, kwargs, make_E, strategy):
    N, K = 40, 60
    P = _pm1(K, N, 14)
    probes = _flip(P, 0.2, 15)[:10]
    key = getkey()
    out = memory.recall_binary_dense(P, probes, energy=energy, key=key, **kwargs)
    # the strategy object instead of the name: the same recall
    same = memory.recall_binary_dense(P, probes, energy=strategy, key=key)
    np.testing.assert_array_equal(np.asarray(same.states), np.asarray(out.states))
    perms = perms_for(key, N, 50)
    E = make_E(P.astype(np.float64))
    ref = np.stack([dense_ref(p.astype(np.float64), perms, E) for p in probes])
    np.testing.assert_array_equal(np.asarray(out.states), ref)
    got = np.asarray(memory.dense_energy(P, out.states, energy=energy, **kwargs))
    np.testing.assert_allclose(got, [E(r) for r in ref], rtol=1e-5)
    assert all(E(r) <= E(p.astype(np.float64)) for r, p in zip(ref, probes))


@pytest.mark.bad_arguments
def test_dense_energy_objects_and_errors(getkey):
    P = _pm1(60, 40, 16)
    s = _pm1(3, 40, 17)
    m = s @ P.T
    np.testing.assert_allclose(np.asarray(memory.dense_energy(P, s, n=3)), -np.sum(m**3, axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(memory.dense_energy(P, s, energy="rectified", n=2.5)),
        -np.sum(np.maximum(m, 0) ** 2.5, axis=1),
        rtol=1e-5,
    )
    lse = -np.log(np.sum(np.exp(0.3 * m), axis=1)) / 0.3
    np.testing.assert_allclose(np.asarray(memory.dense_energy(P, s, energy="lse", beta=0.3)), lse, rtol=1e-5)
    key = getkey()
    with pytest.raises(hg.ValidationError, match="energy must be 'polynomial', 'rectified', 'lse'.*got 'cubic'"):
        memory.recall_binary_dense(P, s, energy="cubic", key=key)
    with pytest.raises(
        hg.ValidationError, match=r"n must be an int >= 1, got 2\.5 \(float\)\. energy='polynomial' has F\(m\) = m\*\*n"
    ):
        memory.recall_binary_dense(P, s, n=2.5, key=key)
    with pytest.raises(hg.ValidationError, match="beta must be > 0"):
        memory.recall_binary_dense(P, s, energy="lse", beta=0.0, key=key)
    with pytest.raises(hg.ValidationError, match=r"recall_binary_dense: probes must have shape \(\.\.\., 40\)"):
        memory.recall_binary_dense(P, np.ones(15), key=key)
    with pytest.raises(hg.ValidationError, match="max_sweeps must be an int"):
        memory.recall_binary_dense(P, s, key=key, max_sweeps=2.0)


# ---- helpers -------------------------------------------------------------------------------------


def test_energy_overlaps_corrupt_random_patterns(getkey):
    P = _pm1(4, 30, 18)
    W = memory.hebbian(P)
    s = _pm1(2, 30, 19)
    np.testing.assert_allclose(np.asarray(memory.energy(W, s)), [-0.5 * x @ np.asarray(W) @ x for x in s], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(memory.overlaps(s, P)), s @ P.T / 30, atol=1e-6)
    key = getkey()
    c = np.asarray(memory.corrupt(P, 0.2, key=key))
    assert (c != P).sum(axis=1).tolist() == [6, 6, 6, 6] and set(np.unique(c)) == {-1.0, 1.0}
    np.testing.assert_array_equal(c, np.asarray(memory.corrupt(P, 0.2, key=key)))
    assert np.array_equal(np.asarray(memory.corrupt(P, 0.0, key=key)), P)
    with pytest.raises(hg.ValidationError, match=r"corrupt: fraction must be a number in \[0.0, 1.0\], got 1.5"):
        memory.corrupt(P, 1.5, key=key)
    R = np.asarray(memory.random_patterns(200, 50, key=key))
    assert R.shape == (200, 50) and set(np.unique(R)) == {-1.0, 1.0} and abs(R.mean()) < 0.05
    with pytest.raises(hg.ValidationError, match="random_patterns: num must be an int >= 1"):
        memory.random_patterns(0, 5, key=key)


def test_zoo_classical_hopfield_rules(getkey):
    P = _pm1(3, 12, 20)
    for rule, ref in (("hebbian", hebb_ref(P)), ("storkey", storkey_ref(P))):
        W = hg.zoo.classical_hopfield(P, rule=rule).compile(key=getkey()).synapse("hebb").W
        np.testing.assert_allclose(np.asarray(W), 0.5 * ref, atol=1e-5)
    proj = np.linalg.pinv(P.astype(np.float64)) @ P
    W = hg.zoo.classical_hopfield(P, rule="pseudo_inverse").compile(key=getkey()).synapse("hebb").W
    np.testing.assert_allclose(np.asarray(W), 0.5 * (proj - np.diag(np.diag(proj))), atol=1e-5)
    with pytest.raises(hg.ValidationError, match="zoo.classical_hopfield: rule must be one of"):
        hg.zoo.classical_hopfield(P, rule="hopfield")
    # images are flattened before storing
    imgs = P.reshape(3, 3, 4)
    W2 = hg.zoo.classical_hopfield(imgs, rule="storkey").compile(key=getkey()).synapse("hebb").W
    np.testing.assert_allclose(np.asarray(W2), 0.5 * storkey_ref(P), atol=1e-5)


@pytest.mark.parametrize("energy", [memory.Polynomial, memory.RectifiedPolynomial, memory.LogSumExp])
def test_energy_shape_annotations_evaluate(energy):
    # "K *batch" must stay a string: unquoted, it is the expression K * batch (a NameError)
    hints = typing.get_type_hints(energy.energy)
    assert (hints["m"].dim_str, hints["return"].dim_str) == ("K *batch", "*batch")
