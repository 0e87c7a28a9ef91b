"""The Energy Transformer from the zoo against the ET energy written out from the paper."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hamux_graph as hg


# ---- the ET energy, from Hoover et al. (2023), eqs. for the layer norm, attention, memory ----


def et_layernorm(x, gamma, delta, eps):
    """g = γ (x − x̄)/√(var + eps) + δ, token by token (float64)."""
    xc = x - x.mean(-1, keepdims=True)
    return gamma * xc / np.sqrt((xc**2).mean(-1, keepdims=True) + eps) + delta


def et_lagrangian(x, gamma, delta, eps):
    """L(x) = Σ_tokens [D γ √(var + eps) + δ·x]."""
    D = x.shape[-1]
    xc = x - x.mean(-1, keepdims=True)
    return float(np.sum(D * gamma * np.sqrt((xc**2).mean(-1) + eps)) + np.sum(delta * x))


def et_attention(g, Wq, Wk, beta, exclude_self):
    """−(1/β) Σ_h Σ_q log Σ_{k (≠ q)} exp(β Σ_z Q[q,h,z] K[k,h,z]), with explicit loops."""
    T = g.shape[0]
    total = 0.0
    for h in range(Wq.shape[1]):
        Q, K = g @ Wq[:, h, :], g @ Wk[:, h, :]
        for q in range(T):
            s = np.array([beta * Q[q] @ K[k] for k in range(T) if not (exclude_self and k == q)])
            m = s.max()
            total += (m + np.log(np.exp(s - m).sum())) / beta
    return -total


def et_memory(g, Xi):
    """−½ Σ_t Σ_μ relu(g_t · ξ_μ)²."""
    return -0.5 * float(np.sum(np.maximum(g @ Xi, 0.0) ** 2))


def et_energy(x, gamma, delta, eps, Wq, Wk, Xi, beta, exclude_self):
    g = et_layernorm(x, gamma, delta, eps)
    layer = float(np.sum(g * x)) - et_lagrangian(x, gamma, delta, eps)
    return layer + et_attention(g, Wq, Wk, beta, exclude_self) + et_memory(g, Xi)


def et_synapse_energy_jax(g, Wq, Wk, Xi, beta, exclude_self):
    """The same synapse energies in jnp (for autodiff w.r.t. g), written from the formulas."""
    Q = jnp.einsum("td,dhz->htz", g, Wq)
    K = jnp.einsum("td,dhz->htz", g, Wk)
    S = beta * jnp.einsum("hqz,hkz->hqk", Q, K)
    if exclude_self:
        S = S - 1e30 * jnp.eye(g.shape[0])[None]
    attn = -jnp.sum(jax.nn.logsumexp(S, axis=-1)) / beta
    return attn - 0.5 * jnp.sum(jax.nn.relu(g @ Xi) ** 2)


def _weights(model):
    att, mem = model.synapse("attention"), model.synapse("memory")
    lag = model.lagrangians[model.layer_index("tokens")]
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    return dict(
        gamma=float(lag.gamma), delta=f64(lag.delta), eps=lag.eps, Wq=f64(att.Wq), Wk=f64(att.Wk), Xi=f64(mem.Ws[0])
    )


@pytest.mark.parametrize("exclude_self", [False, True])
def test_energy_equals_the_paper_formula(getkey, exclude_self):
    Y = 8
    ham = hg.zoo.create(
        "energy_transformer",
        image_shape=(8, 8, 2),
        patch_size=(4, 4),
        dim=12,
        num_heads=3,
        zspace_dim=Y,
        num_memories=20,
        exclude_self=exclude_self,
        stdinit=0.3,
    )
    model = ham.compile(key=getkey())
    # random γ and δ, so that the layer norm's parameters are exercised too
    lag = lambda m: m.lagrangians[m.layer_index("tokens")]  # noqa: E731
    model = eqx.tree_at(
        lambda m: (lag(m).gamma, lag(m).delta), model, (jnp.asarray(1.7), jax.random.normal(getkey(), (12,)))
    )
    w = _weights(model)
    assert w["gamma"] == pytest.approx(1.7) and np.abs(w["delta"]).sum() > 1
    x = np.asarray(jax.random.normal(getkey(), (3, 5, 12)), np.float64) * 2.0
    got = np.asarray(model.energy({"tokens": jnp.asarray(x, jnp.float32)}))
    want = [et_energy(xi, **w, beta=1 / math.sqrt(Y), exclude_self=exclude_self) for xi in x]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-3)


@pytest.mark.parametrize("exclude_self", [False, True])
def test_legendre_gradient_is_x_plus_autodiff_of_the_synapses(getkey, exclude_self):
    Y = 4
    ham = hg.zoo.energy_transformer(
        (4, 4, 1), (2, 2), dim=8, num_heads=2, zspace_dim=Y, num_memories=16, exclude_self=exclude_self, stdinit=0.4
    )
    model = ham.compile(key=getkey())
    w = _weights(model)
    x = jax.random.normal(getkey(), (5, 8))
    with jax.default_matmul_precision("highest"):
        g = jnp.asarray(et_layernorm(np.asarray(x, np.float64), w["gamma"], w["delta"], w["eps"]), jnp.float32)
        dsyn = jax.grad(et_synapse_energy_jax)(
            g,
            jnp.asarray(w["Wq"], jnp.float32),
            jnp.asarray(w["Wk"], jnp.float32),
            jnp.asarray(w["Xi"], jnp.float32),
            1 / math.sqrt(Y),
            exclude_self,
        )
        got = model.dEdg({"tokens": x})["tokens"]
    np.testing.assert_allclose(np.asarray(got), np.asarray(x + dsyn), rtol=1e-4, atol=1e-4)


def test_structure_and_layouts():
    ham = hg.zoo.create(
        "energy_transformer",
        image_shape=(28, 28, 1),
        patch_size=(7, 7),
        dim=32,
        num_heads=4,
        zspace_dim=8,
        num_memories=64,
    )
    assert list(ham.layers) == ["tokens"]
    tokens = ham.layers["tokens"]
    assert tokens.shape == (17, 32) and tokens.use_bias is False
    assert isinstance(tokens.lagrangian, hg.LLayerNorm) and tokens.lagrangian.delta.shape == (32,)
    att = ham.synapses["attention"]
    assert isinstance(att, hg.SelfAttentionSynapse) and att.exclude_self is False
    assert math.isclose(float(att.hidden_lagrangian.beta), 1 / math.sqrt(8), rel_tol=1e-6)
    model = ham.compile(key=jax.random.key(0))
    assert model.synapse("attention").Wq.shape == (32, 4, 8)
    assert model.synapse("memory").Ws[0].shape == (32, 64)


def test_descent_lowers_the_energy_and_the_model_round_trips(tmp_path, getkey):
    ham = hg.zoo.energy_transformer(
        (8, 8, 1), (4, 4), dim=16, num_heads=2, zspace_dim=8, num_memories=32, exclude_self=True, stdinit=0.2
    )
    model = ham.compile(key=getkey())
    xs = {"tokens": jax.random.normal(getkey(), (2, 5, 16))}
    _, E = model.run(xs, steps=20, dt=0.05)
    assert np.all(np.diff(np.asarray(E), axis=0) <= 1e-4)
    path = tmp_path / "et.hg"
    hg.save(model, path)
    loaded = hg.load(path)
    np.testing.assert_array_equal(np.asarray(loaded.energy(xs)), np.asarray(model.energy(xs)))
    assert loaded.synapse("attention").exclude_self is True


@pytest.mark.bad_arguments
def test_exclude_self_refusals():
    with pytest.raises(hg.ValidationError, match="exclude_self=True .* LSoftmax"):
        hg.SelfAttentionSynapse(exclude_self=True, hidden_lagrangian=hg.LRelu())
    with pytest.raises(hg.ValidationError, match="exclude_self"):
        hg.SelfAttentionSynapse(exclude_self="yes")
    ham = hg.HAM()
    ham.add_layer("q", hg.LayerNormLayer((3, 8)))
    ham.add_layer("k", hg.LayerNormLayer((4, 8)))
    ham.add_synapse("a", hg.AttentionSynapse(exclude_self=True, zspace_dim=4), layers=("q", "k"))
    with pytest.raises(hg.ValidationError, match="3 query and 4 key"):
        ham.validate()
    one = hg.HAM()
    one.add_layer("t", hg.LayerNormLayer((8,)))
    one.add_synapse("a", hg.SelfAttentionSynapse(exclude_self=True, zspace_dim=4), layers=("t",))
    with pytest.raises(hg.ValidationError, match="at least 2 tokens"):
        one.validate()


def test_cross_attention_exclude_self_matches_the_loop(getkey):
    ham = hg.HAM()
    ham.add_layer("q", hg.IdentityLayer((4, 6)))
    ham.add_layer("k", hg.IdentityLayer((4, 5)))
    ham.add_synapse(
        "a",
        hg.AttentionSynapse(
            num_heads=2, zspace_dim=3, exclude_self=True, stdinit=0.5, hidden_lagrangian=hg.LSoftmax(beta=0.7)
        ),
        layers=("q", "k"),
    )
    model = ham.compile(key=getkey())
    gq, gk = np.asarray(jax.random.normal(getkey(), (4, 6))), np.asarray(jax.random.normal(getkey(), (4, 5)))
    a = model.synapse("a")
    Wq, Wk = np.asarray(a.Wq, np.float64), np.asarray(a.Wk, np.float64)
    want = 0.0
    for h in range(2):
        Q, K = gq @ Wq[:, h], gk @ Wk[:, h]
        for q in range(4):
            s = np.array([0.7 * Q[q] @ K[k] for k in range(4) if k != q])
            want -= np.log(np.exp(s).sum()) / 0.7
    got = model.energy_tree({"q": jnp.asarray(gq), "k": jnp.asarray(gk)})["synapses"]["a"]
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(image_shape=(28, 28), patch_size=(4, 4)), "rank 3"),
        (dict(image_shape=(28, 28, 1), patch_size=(5, 5)), "does not tile"),
        (dict(image_shape=(28, 28, 1), patch_size=(4, 4), dim=0), "dim must be an int >= 1"),
        (dict(image_shape=(28, 28, 1), patch_size=(4, 4), num_memories=2.5), "num_memories"),
    ],
)
@pytest.mark.bad_arguments
def test_bad_arguments(kwargs, match):
    with pytest.raises(hg.ValidationError, match=match):
        hg.zoo.create("energy_transformer", **kwargs)
