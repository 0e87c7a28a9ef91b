"""Tests for AttentionSynapse, SelfAttentionSynapse and BinaryMixerSynapse against numpy."""

from __future__ import annotations

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings, strategies as st

import hamux_graph as hg


# ---- independent numpy references ---------------------------------------------------------


def tokens(g):
    g = np.asarray(g, np.float64)
    return g[None, :] if g.ndim == 1 else g.reshape(-1, g.shape[-1])


def logsumexp(v):
    m = np.max(v)
    return m + np.log(np.sum(np.exp(v - m)))


def np_attention(gq, gk, Wq, Wk, beta, qk_norm=False, eps=1e-6):
    """Σ_h Σ_q (1/β) logsumexp_k(β Q_q·K_k), with explicit loops over heads and queries."""
    Xq, Xk = tokens(gq), tokens(gk)
    Wq, Wk = np.asarray(Wq, np.float64), np.asarray(Wk, np.float64)
    total = 0.0
    for h in range(Wq.shape[1]):
        Q = Xq @ Wq[:, h, :]
        K = Xk @ Wk[:, h, :]
        if qk_norm:
            Q = Q / np.sqrt((Q**2).sum(1, keepdims=True) + eps)
            K = K / np.sqrt((K**2).sum(1, keepdims=True) + eps)
        for q in range(Q.shape[0]):
            scores = np.array([Q[q] @ K[k] for k in range(K.shape[0])])
            total += logsumexp(beta * scores) / beta
    return total


def np_mixer_hidden(ga, gb, W):
    A, B = tokens(ga), tokens(gb)
    H, Z = W.shape[:2]
    M = np.zeros((H, A.shape[0], B.shape[0], Z))
    for h in range(H):
        for i in range(A.shape[0]):
            for j in range(B.shape[0]):
                for z in range(Z):
                    M[h, i, j, z] = A[i] @ np.asarray(W[h, z], np.float64) @ B[j]
    return M


def _randn(rng, shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


# ---- alignments equal the references -------------------------------------------------------


@pytest.mark.parametrize(
    "q_shape, k_shape, heads, z, beta, qk_norm",
    [
        ((2, 3, 4), (5,), 2, 3, 0.7, False),  # rank-3 queries (6 tokens), a vector key (1 token)
        ((3, 4), (2, 6), 1, 5, 2.0, True),
        ((4,), (2, 2, 3), 3, 2, 1.0, True),
    ],
)
def test_attention_matches_reference(q_shape, k_shape, heads, z, beta, qk_norm):
    rng = np.random.default_rng(sum(q_shape) + 10 * heads)
    Wq = _randn(rng, (q_shape[-1], heads, z))
    Wk = _randn(rng, (k_shape[-1], heads, z))
    gq, gk = _randn(rng, q_shape), _randn(rng, k_shape)
    syn = hg.AttentionSynapse(
        num_heads=heads, zspace_dim=z, hidden_lagrangian=hg.LSoftmax(beta=beta), do_qk_norm=qk_norm, Wq=Wq, Wk=Wk
    )
    syn.check_shapes([q_shape, k_shape])
    want = np_attention(gq, gk, Wq, Wk, beta, qk_norm)
    np.testing.assert_allclose(float(eqx.filter_jit(syn)(gq, gk)), want, rtol=1e-5, atol=1e-5)
    nq = int(np.prod(q_shape[:-1])) if len(q_shape) > 1 else 1
    nk = int(np.prod(k_shape[:-1])) if len(k_shape) > 1 else 1
    assert syn.output_shape(q_shape, k_shape) == (heads, nq, nk)


def test_attention_with_identity_hidden_lagrangian():
    rng = np.random.default_rng(3)
    Wq, Wk = _randn(rng, (3, 2, 4)), _randn(rng, (5, 2, 4))
    gq, gk = _randn(rng, (4, 3)), _randn(rng, (2, 5))
    syn = hg.AttentionSynapse(num_heads=2, zspace_dim=4, hidden_lagrangian=hg.LIdentity(), Wq=Wq, Wk=Wk)
    S = np.einsum("qd,dhz,ke,ehz->hqk", gq, Wq, gk, Wk)  # all score entries
    np.testing.assert_allclose(float(eqx.filter_jit(syn)(gq, gk)), 0.5 * np.sum(S**2), rtol=1e-5)


def test_self_attention_is_attention_with_itself():
    rng = np.random.default_rng(4)
    Wq, Wk = _randn(rng, (6, 2, 3)), _randn(rng, (6, 2, 3))
    g = _randn(rng, (2, 2, 6))
    syn = hg.SelfAttentionSynapse(
        num_heads=2, zspace_dim=3, hidden_lagrangian=hg.LSoftmax(beta=0.5), do_qk_norm=True, Wq=Wq, Wk=Wk
    )
    assert syn.arity() == (1, 1) and syn.output_shape((2, 2, 6)) == (2, 4, 4)
    want = np_attention(g, g, Wq, Wk, 0.5, True)
    np.testing.assert_allclose(float(eqx.filter_jit(syn)(g)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 2])
def test_binary_mixer_matches_loops(axis):
    rng = np.random.default_rng(5)
    H, Z = 2, 3
    ga, gb = _randn(rng, (2, 2, 4)), _randn(rng, (3,))  # 4 tokens of 4 features, 1 token of 3
    W = _randn(rng, (H, Z, 4, 3))
    beta = 1.5
    syn = hg.BinaryMixerSynapse(num_heads=H, zspace_dim=Z, hidden_lagrangian=hg.LSoftmax(beta=beta, axis=axis), W=W)
    syn.check_shapes([(2, 2, 4), (3,)])
    assert syn.output_shape((2, 2, 4), (3,)) == (H, 4, 1, Z)
    M = np_mixer_hidden(ga, gb, W)
    if axis == -1:  # compete over z for every (head, token pair)
        want = sum(logsumexp(beta * M[h, i, j, :]) for h in range(H) for i in range(4) for j in range(1)) / beta
    else:  # compete over the second layer's tokens
        want = sum(logsumexp(beta * M[h, i, :, z]) for h in range(H) for i in range(4) for z in range(Z)) / beta
    np.testing.assert_allclose(float(eqx.filter_jit(syn)(ga, gb)), want, rtol=1e-5, atol=1e-5)


def _graphml_round_trip(syn):
    import tempfile

    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((4,)))
    ham.add_layer("b", hg.TanhLayer((3,)))
    ham.add_synapse("mix", syn, layers=("a", "b"))
    path = tempfile.mktemp(suffix=".graphml")
    hg.write_graphml(ham, path)
    return path


def test_config_round_trip_and_init_shapes(getkey):
    syn = hg.AttentionSynapse(
        num_heads=3,
        zspace_dim=4,
        stdinit=0.1,
        hidden_lagrangian=hg.LSoftmax(beta=0.25),
        do_qk_norm=True,
        qk_norm_eps=1e-4,
    )
    cfg = json.loads(json.dumps(syn.config()))
    assert cfg["hidden_lagrangian"]["type"] == "LSoftmax" and cfg["num_heads"] == 3
    mix = hg.BinaryMixerSynapse(num_heads=2, zspace_dim=5)
    back = hg.read_graphml(_graphml_round_trip(mix))
    assert back.synapses["mix"].config() == mix.config()
    syn = syn.init([(5, 7), (2, 3, 6)], key=getkey())
    assert syn.Wq.shape == (7, 3, 4) and syn.Wk.shape == (6, 3, 4)
    assert abs(float(jnp.std(syn.Wq)) - 0.1) < 0.03
    assert mix.param_shapes([(4,), (2, 3)]) == {"W": (2, 5, 4, 3)}


# ---- validation errors ---------------------------------------------------------------------


def _ham(syn, shapes, layers=None):
    ham = hg.HAM()
    for i, s in enumerate(shapes):
        ham.add_layer(f"l{i}", hg.LayerNormLayer(s))
    ham.add_synapse("att", syn, layers=layers or [f"l{i}" for i in range(len(shapes))])
    return ham


@pytest.mark.bad_arguments
def test_a_config_dict_is_no_hidden_lagrangian():
    mix = hg.BinaryMixerSynapse(num_heads=2, zspace_dim=5)
    with pytest.raises(hg.ValidationError, match="hidden_lagrangian must be a hamux_graph Lagrangian"):
        type(mix)(
            **json.loads(json.dumps(mix.config()))
        )  # a plain dict is no Lagrangian: files go through the registry


def test_attention_validation_errors():
    msg = r"explicit Wq has shape \(5, 3, 4\), but it must be \(D, num_heads, zspace_dim\) with .* = \(2, 4\)"
    with pytest.raises(hg.ValidationError, match=msg):
        hg.AttentionSynapse(num_heads=2, zspace_dim=4, Wq=np.zeros((5, 3, 4)))
    with pytest.raises(hg.ValidationError, match=r"explicit Wk has shape \(5, 8\)"):
        hg.SelfAttentionSynapse(num_heads=2, zspace_dim=4, Wk=np.zeros((5, 8)))
    with pytest.raises(hg.ValidationError, match=r"explicit W has shape \(2, 4, 3\)"):
        hg.BinaryMixerSynapse(num_heads=2, zspace_dim=4, W=np.zeros((2, 4, 3)))
    with pytest.raises(hg.ValidationError, match=r"num_heads must be an int >= 1, got 0"):
        hg.AttentionSynapse(num_heads=0)
    with pytest.raises(hg.ValidationError, match=r"zspace_dim must be an int >= 1, got -2"):
        hg.BinaryMixerSynapse(zspace_dim=-2)
    with pytest.raises(hg.ValidationError, match=r"qk_norm_eps must be > 0"):
        hg.AttentionSynapse(qk_norm_eps=0.0)
    # explicit weights that fit the heads but not the connected layer
    syn = hg.AttentionSynapse(num_heads=1, zspace_dim=4, Wq=np.zeros((5, 1, 4)))
    msg = (
        r"synapse 'att' over layers \['l0', 'l1'\]: AttentionSynapse: explicit parameter `Wq` has shape "
        r"\(5, 1, 4\), .* need \(6, 1, 4\)"
    )
    with pytest.raises(hg.ValidationError, match=msg):
        _ham(syn, [(3, 6), (2, 6)]).validate()
    mix = hg.BinaryMixerSynapse(num_heads=1, zspace_dim=2, W=np.zeros((1, 2, 3, 3)))
    with pytest.raises(hg.ValidationError, match=r"explicit parameter `W` has shape \(1, 2, 3, 3\).*\(1, 2, 3, 4\)"):
        _ham(mix, [(3,), (4,)]).validate()
    # a hidden Lagrangian that cannot act on the (heads, queries, keys) scores
    with pytest.raises(hg.ValidationError, match=r"LSoftmax\(axis=3\) .* layer has shape \(1, 3, 2\)"):
        _ham(hg.AttentionSynapse(hidden_lagrangian=hg.LSoftmax(axis=3)), [(3, 6), (2, 6)]).validate()
    # arity: self-attention takes one layer, attention two
    with pytest.raises(hg.ValidationError, match=r"SelfAttentionSynapse connects exactly 1 layer"):
        _ham(hg.SelfAttentionSynapse(), [(3, 6), (2, 6)]).validate()
    with pytest.raises(hg.ValidationError, match=r"AttentionSynapse connects exactly 2 layer"):
        _ham(hg.AttentionSynapse(), [(3, 6)]).validate()
    _ham(hg.AttentionSynapse(), [(3, 6)], layers=["l0", "l0"]).validate()  # a layer attending to itself


# ---- BERT-base-like heads ----------------------------------------------------------------------


def test_bert_base_configuration_builds_and_runs(getkey):
    syn = hg.AttentionSynapse(num_heads=12, zspace_dim=64, hidden_lagrangian=hg.LSoftmax(beta=1 / 8))
    ham = hg.HAM()
    ham.add_layer("q", hg.LayerNormLayer((16, 768)))
    ham.add_layer("k", hg.LayerNormLayer((16, 768)))
    ham.add_synapse("attn", syn, layers=("q", "k"))
    model = ham.compile(key=getkey())
    s = model.synapse("attn")
    assert s.Wq.shape == (768, 12, 64) and s.Wk.shape == (768, 12, 64)
    xs = model.init_states(key=getkey())
    xs = {n: 50.0 * x for n, x in xs.items()}
    tree = model.energy_tree(xs)
    g = model.activations(xs)
    want = np_attention(np.asarray(g["q"]), np.asarray(g["k"]), s.Wq, s.Wk, 1 / 8)
    np.testing.assert_allclose(float(tree["synapses"]["attn"]), -want, rtol=1e-4)
    _, energies = model.run(xs, steps=5, dt=0.1)
    assert np.all(np.diff(np.asarray(energies)) <= 1e-5 * np.abs(np.asarray(energies[:-1])))


# ---- an energy-attention graph mixing conv, pooling, attention and dense synapses ------------


def _energy_attention_ham(rng):
    """The 2022 HAMUX "energy attention" shape, plus a pooled conv and a dense readout.

    All weights are explicit numpy draws, so compiling creates nothing (fast).
    """
    ham = hg.HAM()
    ham.add_layer("img", hg.TanhLayer((8, 8, 1)))
    ham.add_layer("tok", hg.LayerNormLayer((2, 2, 32)))
    ham.add_layer("pooled", hg.ReluLayer((4, 4, 3)))
    ham.add_layer("label", hg.SoftmaxLayer((10,), beta=2.0))
    patch = hg.ConvSynapse(
        4, strides=4, padding="VALID", kernel=_randn(rng, (4, 4, 1, 32), 0.25), bias=_randn(rng, (32,), 0.1)
    )
    ham.add_synapse("patch", patch, layers=("img", "tok"))
    selfattn = hg.SelfAttentionSynapse(
        num_heads=2,
        zspace_dim=8,
        hidden_lagrangian=hg.LSoftmax(beta=0.5),
        Wq=_randn(rng, (32, 2, 8), 0.2),
        Wk=_randn(rng, (32, 2, 8), 0.2),
    )
    ham.add_synapse("self", selfattn, layers=("tok",))
    cross = hg.AttentionSynapse(
        num_heads=1, zspace_dim=8, do_qk_norm=True, Wq=_randn(rng, (32, 1, 8), 0.2), Wk=_randn(rng, (10, 1, 8), 0.2)
    )
    ham.add_synapse("cross", cross, layers=("tok", "label"))
    pool = hg.ConvSynapseWithPool(
        3,
        pool_window=2,
        pool_stride=2,
        pool_type="max",
        kernel=_randn(rng, (3, 3, 1, 3), 0.3),
        bias=np.zeros(3, np.float32),
    )
    ham.add_synapse("pool", pool, layers=("img", "pooled"))
    ham.add_synapse("readout", hg.DenseSynapse(W=_randn(rng, (48, 10), 0.2)), layers=("pooled", "label"))
    return ham


def test_energy_attention_graph(getkey):
    rng = np.random.default_rng(7)
    model = _energy_attention_ham(rng).compile(key=getkey())
    B = 3
    xs = {n: jnp.asarray(_randn(rng, (B,) + s)) for n, s in zip(model.layer_names, model.shapes)}

    # one compilation for everything batched: energy, Legendre gradient, per-node energies,
    # activations, and both sides of dE/dx = ∇²L(x) · dE/dg (autodiff of the energy vs. a
    # Hessian-vector product of each activation with dEdg; no biases here, so u = x)
    @jax.jit
    def batched(xs):
        E, dEdg = model.energy(xs), model.dEdg(xs)
        grads = jax.grad(lambda x: jnp.sum(model.energy(x)))(xs)
        hvps = {
            n: jax.vjp(jax.vmap(model.lagrangians[i].activation), xs[n])[1](dEdg[n])[0]
            for i, n in enumerate(model.layer_names)
        }
        return E, dEdg, model.energy_tree(xs), model.activations(xs), grads, hvps

    E, dEdg, tree, acts, grads, hvps = batched(xs)
    assert E.shape == (B,)
    for n in model.layer_names:
        np.testing.assert_allclose(grads[n], hvps[n], rtol=1e-3, atol=1e-4)

    # batched and unbatched agree
    unbatched = jax.jit(lambda one: (model.energy(one), model.dEdg(one)))
    for b in (0, 2):
        e1, d1 = unbatched({n: x[b] for n, x in xs.items()})
        np.testing.assert_allclose(float(e1), float(E[b]), rtol=1e-5, atol=1e-5)
        for n in xs:
            np.testing.assert_allclose(d1[n], dEdg[n][b], rtol=1e-4, atol=1e-5)

    # per-synapse energies against independent formulas (sample 0)
    g = {n: np.asarray(a[0], np.float64) for n, a in acts.items()}
    p = model.synapse("patch")
    patches = g["img"].reshape(2, 4, 2, 4, 1).transpose(0, 2, 1, 3, 4)  # (i, j, a, b, c): 4x4 patches
    conv = np.einsum("ijabc,abco->ijo", patches, np.asarray(p.kernel, np.float64)) + np.asarray(p.bias)
    np.testing.assert_allclose(float(tree["synapses"]["patch"][0]), -np.sum(conv * g["tok"]), rtol=1e-4, atol=1e-4)
    s = model.synapse("self")
    want = np_attention(g["tok"], g["tok"], s.Wq, s.Wk, 0.5)
    np.testing.assert_allclose(float(tree["synapses"]["self"][0]), -want, rtol=1e-4, atol=1e-5)
    c = model.synapse("cross")
    want = np_attention(g["tok"], g["label"], c.Wq, c.Wk, 1.0, qk_norm=True)
    np.testing.assert_allclose(float(tree["synapses"]["cross"][0]), -want, rtol=1e-4, atol=1e-5)

    # dynamics: energy never increases; a clamped image stays put
    out, energies = model.run(xs, steps=30, dt=0.05, clamp=("img",))
    e = np.asarray(energies)
    assert e.shape == (31, B)
    assert np.all(np.diff(e, axis=0) <= 1e-5 * (1 + np.abs(e[:-1])))
    assert np.all(e[-1] < e[0])
    np.testing.assert_array_equal(out["img"], xs["img"])


# ---- the Lyapunov property on random attention graphs -----------------------------------------

# Norm layers get a large eps: with the default 1e-5 their Hessian grows like 1/σ when a row's
# spread σ collapses, and explicit Euler at dt = 0.05 then overshoots (a step-size limit of the
# integrator, not a property of the synapses under test). For the same reason do_qk_norm uses
# qk_norm_eps = 0.1: near Q = 0 the normalisation's curvature grows like 1/sqrt(eps).
_LAYERS = {
    "layernorm": lambda s: hg.LayerNormLayer(s, eps=0.5),
    "tanh": lambda s: hg.TanhLayer(s, use_bias=True),
    "softmax": lambda s: hg.SoftmaxLayer(s, beta=1.5),
    "spherical": lambda s: hg.SphericalNormLayer(s, eps=0.5),
}


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    shapes=st.lists(st.sampled_from([(3,), (2, 3), (3, 2), (1, 2, 4)]), min_size=2, max_size=2),
    lags=st.lists(st.sampled_from(sorted(_LAYERS)), min_size=2, max_size=2),
    kind=st.sampled_from(["cross", "self", "mixer", "all"]),
    heads=st.integers(1, 2),
    z=st.integers(1, 3),
    qk_norm=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_energy_never_increases_on_random_attention_graphs(shapes, lags, kind, heads, z, qk_norm, seed):
    rng = np.random.default_rng(seed)
    ham = hg.HAM()
    for i, (s, lag) in enumerate(zip(shapes, lags)):
        ham.add_layer(f"l{i}", _LAYERS[lag](s))
    d0, d1 = shapes[0][-1], shapes[1][-1]
    W = lambda *s: _randn(rng, s, 0.7)  # noqa: E731
    lsm = hg.LSoftmax(beta=float(rng.uniform(0.5, 2.0)))
    if kind in ("cross", "all"):
        ham.add_synapse(
            "cross",
            hg.AttentionSynapse(
                num_heads=heads,
                zspace_dim=z,
                hidden_lagrangian=lsm,
                do_qk_norm=qk_norm,
                qk_norm_eps=0.1,
                Wq=W(d0, heads, z),
                Wk=W(d1, heads, z),
            ),
            layers=("l0", "l1"),
        )
    if kind in ("self", "all"):
        ham.add_synapse(
            "self",
            hg.SelfAttentionSynapse(
                num_heads=heads,
                zspace_dim=z,
                do_qk_norm=qk_norm,
                qk_norm_eps=0.1,
                Wq=W(d1, heads, z),
                Wk=W(d1, heads, z),
            ),
            layers=("l1",),
        )
    if kind in ("mixer", "all"):
        ham.add_synapse(
            "mix",
            hg.BinaryMixerSynapse(num_heads=heads, zspace_dim=z, hidden_lagrangian=lsm, W=W(heads, z, d1, d0)),
            layers=("l1", "l0"),
        )
    model = ham.compile(key=jax.random.key(seed))
    xs = {n: _randn(rng, (2,) + s) for n, s in zip(model.layer_names, model.shapes)}
    _, energies = model.run(xs, steps=30, dt=0.05)
    e = np.asarray(energies)
    assert np.all(np.isfinite(e))
    assert np.all(np.diff(e, axis=0) <= 1e-5 * (1.0 + np.abs(e[:-1]))), np.diff(e, axis=0).max()


# ---- masks (issue 28) ------------------------------------------------------------------------


def np_masked_attention(gq, gk, Wq, Wk, beta, allowed):
    """Energy −F and ∂E/∂(gq, gk) of masked attention, by explicit loops in float64.

    F = Σ_h Σ_q (1/β) log Σ_k exp(β S[h,q,k]) with S = −∞ where ``allowed`` is False;
    ∂F/∂S[h,q,k] = p[h,q,k] (the softmax over the allowed keys, 0 elsewhere).
    """
    Xq, Xk = tokens(gq), tokens(gk)
    Wq, Wk = np.asarray(Wq, np.float64), np.asarray(Wk, np.float64)
    F = 0.0
    dq, dk = np.zeros_like(Xq), np.zeros_like(Xk)
    for h in range(Wq.shape[1]):
        Q, K = Xq @ Wq[:, h, :], Xk @ Wk[:, h, :]
        for q in range(Q.shape[0]):
            scores = np.array([beta * (Q[q] @ K[k]) if allowed[q, k] else -np.inf for k in range(K.shape[0])])
            m = scores.max()
            F += (m + np.log(np.exp(scores - m).sum())) / beta
            p = np.exp(scores - m) / np.exp(scores - m).sum()
            for k in range(K.shape[0]):
                if allowed[q, k]:
                    dq[q] += p[k] * (Wq[:, h, :] @ K[k])
                    dk[k] += p[k] * (Wk[:, h, :] @ Q[q])
    return -F, -dq, -dk


def _mask_case(name, rng, n):
    if name == "random":
        m = rng.random((n, n)) < 0.4
        m[np.arange(n), rng.integers(0, n, n)] = True  # every query keeps a key
        return m, False
    if name == "random_exclude_self":
        m = rng.random((n, n)) < 0.5
        m[np.arange(n), (np.arange(n) + 1) % n] = True  # an off-diagonal key for every query
        return m, True
    if name == "causal":
        return "causal", False
    return None, True  # exclude_self alone: the diagonal mask


@pytest.mark.parametrize("case", ["random", "random_exclude_self", "causal", "exclude_self"])
def test_masked_self_attention_matches_numpy_loop(case):
    rng = np.random.default_rng(7)
    n, d, H, Z, beta = 6, 5, 2, 3, 0.7
    mask, exclude = _mask_case(case, rng, n)
    Wq, Wk = _randn(rng, (d, H, Z), 0.8), _randn(rng, (d, H, Z), 0.8)
    syn = hg.SelfAttentionSynapse(
        num_heads=H,
        zspace_dim=Z,
        hidden_lagrangian=hg.LSoftmax(beta=beta),
        Wq=Wq,
        Wk=Wk,
        exclude_self=exclude,
        mask=mask,
    )
    syn.check_shapes([(n, d)])
    g = _randn(rng, (n, d))
    allowed = np.tril(np.ones((n, n), bool)) if case == "causal" else (np.ones((n, n), bool) if mask is None else mask)
    if exclude:
        allowed = allowed & ~np.eye(n, dtype=bool)
    E, dq, dk = np_masked_attention(g, g, Wq, Wk, beta, allowed)
    got_E, got_grad = jax.value_and_grad(lambda x: syn.energy(x))(jnp.asarray(g))
    np.testing.assert_allclose(float(got_E), E, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got_grad), dq + dk, rtol=1e-5, atol=1e-5)


def test_masked_cross_attention_matches_numpy_loop():
    rng = np.random.default_rng(3)
    nq, nk, dq_, dk_, H, Z = 4, 7, 5, 3, 2, 4
    Wq, Wk = _randn(rng, (dq_, H, Z)), _randn(rng, (dk_, H, Z))
    gq, gk = _randn(rng, (nq, dq_)), _randn(rng, (nk, dk_))
    for mask in ("causal", rng.random((nq, nk)) < 0.5):
        allowed = np.tri(nq, nk, dtype=bool) if isinstance(mask, str) else mask.copy()
        allowed[:, 0] = True
        given = mask if isinstance(mask, str) else allowed
        syn = hg.AttentionSynapse(num_heads=H, zspace_dim=Z, Wq=Wq, Wk=Wk, mask=given)
        syn.check_shapes([(nq, dq_), (nk, dk_)])
        E, gradq, gradk = np_masked_attention(gq, gk, Wq, Wk, 1.0, allowed)
        got_E, (got_q, got_k) = jax.value_and_grad(lambda a, b: syn.energy(a, b), argnums=(0, 1))(gq, gk)
        np.testing.assert_allclose(float(got_E), E, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(got_q), gradq, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(got_k), gradk, rtol=1e-5, atol=1e-5)


def test_mask_attribute_returns_what_was_given_and_storage_is_hashable():
    m = np.random.default_rng(0).random((5, 5)) < 0.5
    np.fill_diagonal(m, True)
    a, b = hg.SelfAttentionSynapse(mask=m), hg.SelfAttentionSynapse(mask=m.copy())
    assert isinstance(a.mask, np.ndarray) and a.mask.dtype == bool and np.array_equal(a.mask, m)
    m[0, 1] = not m[0, 1]  # later edits of the caller's array do not reach the synapse
    assert not np.array_equal(a.mask, m)
    assert hg.SelfAttentionSynapse(mask="causal").mask == "causal"
    assert hg.SelfAttentionSynapse().mask is None
    jm = jnp.asarray(np.eye(3, dtype=bool))
    assert np.array_equal(np.asarray(hg.AttentionSynapse(mask=jm).mask), np.eye(3, dtype=bool))
    # equal masks give equal, hashable static structure: one compiled function serves both
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    hash(jax.tree_util.tree_structure(a))
    traces = []

    @eqx.filter_jit
    def energy(syn, g):
        traces.append(1)
        return syn.energy(g)

    a1 = a.init([(5, 4)], key=jax.random.key(0))
    b1 = eqx.tree_at(lambda s: (s.Wq, s.Wk), b, (a1.Wq, a1.Wk), is_leaf=lambda x: x is None)
    g = jnp.ones((5, 4))
    assert float(energy(a1, g)) == float(energy(b1, g)) and len(traces) == 1


def test_mask_errors():
    with pytest.raises(hg.ValidationError, match="got the string 'upper'"):
        hg.SelfAttentionSynapse(mask="upper")
    with pytest.raises(hg.ValidationError, match="dtype int64"):
        hg.SelfAttentionSynapse(mask=np.ones((3, 3), np.int64))
    with pytest.raises(hg.ValidationError, match="shape \\(3,\\)"):
        hg.SelfAttentionSynapse(mask=np.ones(3, bool))
    with pytest.raises(hg.ValidationError, match="got list"):
        hg.SelfAttentionSynapse(mask=[[True]])
    with pytest.raises(hg.ValidationError, match="must be an LSoftmax"):
        hg.SelfAttentionSynapse(mask="causal", hidden_lagrangian=hg.LRelu())
    with pytest.raises(hg.ValidationError, match=r"must be \(4, 4\)"):
        hg.SelfAttentionSynapse(mask=np.ones((3, 3), bool)).check_shapes([(4, 8)])
    m = np.eye(4, dtype=bool)
    m[2, 2] = False
    with pytest.raises(hg.ValidationError, match=r"no allowed score \(first at \(2,\)"):
        hg.SelfAttentionSynapse(mask=m).check_shapes([(4, 8)])
    with pytest.raises(hg.ValidationError, match="leaves query 0 no key"):
        hg.SelfAttentionSynapse(mask="causal", exclude_self=True).check_shapes([(4, 8)])
    with pytest.raises(hg.ValidationError, match="no allowed score"):
        hg.SelfAttentionSynapse(mask=np.eye(4, dtype=bool), exclude_self=True).check_shapes([(4, 8)])
    ham = hg.HAM()
    ham.add_layer("x", hg.LayerNormLayer((4, 8)))
    ham.add_synapse("att", hg.SelfAttentionSynapse(mask=np.ones((5, 5), bool)), layers=("x",))
    with pytest.raises(hg.ValidationError, match="att"):
        ham.validate()


def _masked_ham(mask, n=6, d=8, exclude_self=False):
    ham = hg.HAM()
    ham.add_layer("x", hg.LayerNormLayer((n, d)))
    ham.add_synapse(
        "att",
        hg.SelfAttentionSynapse(num_heads=2, zspace_dim=4, stdinit=0.5, mask=mask, exclude_self=exclude_self),
        layers=("x",),
    )
    return ham


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_energy_never_increases_along_small_euler_steps_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    n = 6
    mask = rng.random((n, n)) < 0.4
    mask[np.arange(n), (np.arange(n) + 1) % n] = True
    model = _masked_ham(mask, n, exclude_self=bool(seed % 2)).compile(key=jax.random.key(seed))
    xs = model.init_states(key=jax.random.key(10 + seed))
    xs = {"x": 2.0 * xs["x"]}
    _, energies = model.run(xs, steps=60, dt=0.02)
    e = np.asarray(energies, np.float64)
    assert e[-1] < e[0]
    assert np.all(np.diff(e) <= 1e-5 * (1 + np.abs(e[:-1])))


def test_masks_round_trip_through_graphml_and_saved_models_bit_exactly(tmp_path):
    rng = np.random.default_rng(5)
    n = 40
    sparse = rng.random((n, n)) < 0.05
    dense = rng.random((n, n)) < 0.7
    for m in (sparse, dense):
        np.fill_diagonal(m, True)
    for mask in (sparse, dense, "causal"):
        ham = _masked_ham(mask, n)
        hg.write_graphml(ham, tmp_path / "m.graphml")
        back = hg.read_graphml(tmp_path / "m.graphml").graph.nodes["att"]
        model = ham.compile(key=jax.random.key(0))
        hg.save(model, tmp_path / "m.hamux")
        loaded = hg.load(tmp_path / "m.hamux")
        for syn in (hg.read_graphml(tmp_path / "m.graphml").plan().synapse_of("att"), loaded.plan().synapse_of("att")):
            if isinstance(mask, str):
                assert syn.mask == "causal"
            else:
                assert syn.mask.dtype == bool and np.array_equal(np.asarray(syn.mask), mask)
        assert back is not None
    text = (tmp_path / "m.graphml").read_text()
    assert "&quot;mask&quot;: &quot;causal&quot;" in text or '"mask": "causal"' in text


def test_mask_files_are_compact(tmp_path):
    n, d = 4096, 4
    hg.write_graphml(_masked_ham("causal", n, d), tmp_path / "causal.graphml")
    assert (tmp_path / "causal.graphml").stat().st_size < 1_000_000
    rng = np.random.default_rng(0)
    graph = np.zeros((n, n), bool)
    rows = np.repeat(np.arange(n), 15)
    graph[rows, rng.integers(0, n, rows.size)] = True  # ≤ 15 neighbours + the self loop: ≤ 16 per token
    np.fill_diagonal(graph, True)
    hg.write_graphml(_masked_ham(graph, n, d), tmp_path / "graph.graphml")
    size = (tmp_path / "graph.graphml").stat().st_size
    assert size < 1_000_000, size
    back = hg.read_graphml(tmp_path / "graph.graphml").plan().synapse_of("att")
    assert np.array_equal(back.mask, graph)
    # a dense mask is packed: about N²/8 bytes (base64 adds a third) in GraphML and in a saved model
    m = 512
    dense = rng.random((m, m)) < 0.5
    np.fill_diagonal(dense, True)
    ham = _masked_ham(dense, m, d)
    hg.write_graphml(ham, tmp_path / "dense.graphml")
    empty = _masked_ham(None, m, d)
    hg.write_graphml(empty, tmp_path / "none.graphml")
    extra = (tmp_path / "dense.graphml").stat().st_size - (tmp_path / "none.graphml").stat().st_size
    assert m * m / 8 <= extra <= 1.4 * m * m / 8
    hg.save(ham.compile(key=jax.random.key(0)), tmp_path / "dense.hamux")
    hg.save(empty.compile(key=jax.random.key(0)), tmp_path / "none.hamux")
    extra = (tmp_path / "dense.hamux").stat().st_size - (tmp_path / "none.hamux").stat().st_size
    assert extra <= 1.4 * m * m / 8


def test_stored_mask_encodings_are_checked(tmp_path):
    ham = _masked_ham(np.eye(200, dtype=bool) | np.eye(200, k=1, dtype=bool), 200, 4)
    hg.write_graphml(ham, tmp_path / "m.graphml")
    text = (tmp_path / "m.graphml").read_text()
    assert "keys" in text and "packed" not in text
    bad = text.replace("[198, 199]", "[198, 200]")
    (tmp_path / "bad.graphml").write_text(bad)
    with pytest.raises(hg.FormatError, match="key indices"):
        hg.read_graphml(tmp_path / "bad.graphml")
    (tmp_path / "big.graphml").write_text(text.replace("[200, 200]", "[100000, 100000]"))
    with pytest.raises(hg.FormatError, match="exceeds"):
        hg.read_graphml(tmp_path / "big.graphml")


def test_attention_mask_of_a_graph():
    import networkx as nx

    G = nx.Graph([("a", "b"), ("b", "c")])
    m = hg.attention_mask(G, nodes=["c", "b", "a"])
    expected = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], bool)
    assert m.dtype == bool and np.array_equal(m, expected)
    assert np.array_equal(hg.attention_mask(G, self_loops=False), np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool))
    D = nx.DiGraph([(0, 1)])
    assert np.array_equal(hg.attention_mask(D, self_loops=False), np.array([[0, 1], [0, 0]], bool))
    K = nx.karate_club_graph()
    mk = hg.attention_mask(K)
    A = nx.to_numpy_array(K, weight=None) > 0
    assert np.array_equal(mk, A | np.eye(34, dtype=bool))
    with pytest.raises(hg.ValidationError, match="not nodes of the graph"):
        hg.attention_mask(G, nodes=["a", "z"])
    with pytest.raises(hg.ValidationError, match="more than once"):
        hg.attention_mask(G, nodes=["a", "a"])


def test_hover_card_shows_the_mask_and_its_density():
    from hamux_graph.html import page_data

    data = page_data(_masked_ham("causal", 4).plan())
    card = next(node["card"] for node in data["nodes"] if node["id"] == "att")
    rows = {row[0]: row[1] for row in card}
    assert rows["mask"] == "causal 4×4, density 62.5 %"  # 10 of 16 pairs
    assert "mask=" not in rows["hyperparameters"]
