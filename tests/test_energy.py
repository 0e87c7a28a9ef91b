"""The compiled energy against DESIGN.md §1 written out by hand, and the Legendre gradient."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings

import hamux_graph as hg

from helpers.strategies import random_hams


def _rand(key, shape, scale=1.0):
    return np.asarray(scale * jax.random.normal(key, shape), dtype=np.float64)


def _lse(z):
    m = z.max()
    return m + np.log(np.exp(z - m).sum())


@pytest.fixture
def hand_model(getkey):
    """A 3-way DenseSynapse, a self-connected biased layer and a 2-way synapse, explicit weights."""
    W3 = _rand(getkey(), (3, 4, 2), 0.5)
    Wself = _rand(getkey(), (3, 3), 0.5)
    Wbc = _rand(getkey(), (4, 2), 0.5)
    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((3,), beta=1.5, use_bias=True, tau=2.0))
    ham.add_layer("b", hg.SoftmaxLayer((4,), beta=2.0))
    ham.add_layer("c", hg.ReluLayer((2,)))
    ham.add_synapse("tri", hg.DenseSynapse(W=W3), layers=("a", "b", "c"))
    ham.add_synapse("self", hg.DenseSynapse(W=Wself), layers=("a", "a"))
    ham.add_synapse("bc", hg.SimpleDenseSynapse(W=Wbc), layers=("b", "c"))
    model = ham.compile(key=getkey())
    bias = _rand(getkey(), (3,), 0.3)
    model = eqx.tree_at(lambda m: m.biases[0], model, jnp.asarray(bias, jnp.float32))
    return model, dict(W3=W3, Wself=Wself, Wbc=Wbc, bias=bias)


def _hand_energy(x, p):
    """DESIGN.md §1 with numpy: E = Σ_ℓ (⟨g,u⟩ − L(u)) − Σ_σ F_σ."""
    ua = x["a"] - p["bias"]
    ga = np.tanh(1.5 * ua)
    Ea = ga @ ua - np.sum(np.log(np.cosh(1.5 * ua))) / 1.5
    ub = x["b"]
    gb = np.exp(2.0 * ub - _lse(2.0 * ub))
    Eb = gb @ ub - _lse(2.0 * ub) / 2.0
    uc = x["c"]
    gc = np.maximum(uc, 0)
    Ec = gc @ uc - 0.5 * np.sum(gc**2)
    F_tri = np.einsum("ijk,i,j,k->", p["W3"], ga, gb, gc)
    F_self = ga @ p["Wself"] @ ga
    F_bc = gb @ p["Wbc"] @ gc
    return Ea + Eb + Ec - F_tri - F_self - F_bc, dict(a=ga, b=gb, c=gc), dict(a=ua, b=ub, c=uc)


def _states(getkey, batch=None):
    lead = () if batch is None else (batch,)
    return {n: _rand(getkey(), lead + s) for n, s in [("a", (3,)), ("b", (4,)), ("c", (2,))]}


def _to_jnp(xs):
    return {k: jnp.asarray(v, jnp.float32) for k, v in xs.items()}


def test_energy_matches_hand_formula(hand_model, getkey):
    model, p = hand_model
    for _ in range(3):
        x = _states(getkey)
        want, g_want, _ = _hand_energy(x, p)
        got = float(model.energy(_to_jnp(x)))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        g = model.activations(_to_jnp(x))
        for n in "abc":
            np.testing.assert_allclose(np.asarray(g[n]), g_want[n], rtol=1e-5, atol=1e-6)


def test_energy_tree_sums_to_energy_and_matches_terms(hand_model, getkey):
    model, p = hand_model
    x = _states(getkey)
    tree = model.energy_tree(_to_jnp(x))
    _, g, _ = _hand_energy(x, p)
    np.testing.assert_allclose(float(tree["synapses"]["self"]), -(g["a"] @ p["Wself"] @ g["a"]), rtol=1e-5)
    total = sum(float(v) for part in tree.values() for v in part.values())
    np.testing.assert_allclose(total, float(model.energy(_to_jnp(x))), rtol=1e-5)


def test_batched_and_unbatched_agree(hand_model, getkey):
    model, p = hand_model
    xb = _states(getkey, batch=5)
    Eb = np.asarray(model.energy(_to_jnp(xb)))
    dEb = model.dEdg(_to_jnp(xb))
    assert Eb.shape == (5,)
    for i in range(5):
        xi = {k: v[i] for k, v in xb.items()}
        np.testing.assert_allclose(Eb[i], _hand_energy(xi, p)[0], rtol=1e-5, atol=1e-6)
        dEi = model.dEdg(_to_jnp(xi))
        for n in "abc":
            np.testing.assert_allclose(np.asarray(dEb[n][i]), np.asarray(dEi[n]), rtol=1e-5, atol=1e-6)


def test_dEdg_is_u_plus_synapse_gradient(hand_model, getkey):
    """∂E/∂g = u + ∂E_syn/∂g with E_syn written independently in the test."""
    model, p = hand_model
    x = _states(getkey)
    _, g, u = _hand_energy(x, p)

    def e_syn(ga, gb, gc):
        W3, Ws, Wbc = (jnp.asarray(p[k], jnp.float32) for k in ("W3", "Wself", "Wbc"))
        return -(jnp.einsum("ijk,i,j,k->", W3, ga, gb, gc) + ga @ Ws @ ga + gb @ Wbc @ gc)

    grads = jax.grad(e_syn, argnums=(0, 1, 2))(*(jnp.asarray(g[n], jnp.float32) for n in "abc"))
    d = model.dEdg(_to_jnp(x))
    for n, gr in zip("abc", grads):
        np.testing.assert_allclose(np.asarray(d[n]), u[n] + np.asarray(gr), rtol=1e-4, atol=1e-5)


def test_dEdx_equals_hessian_times_dEdg(hand_model, getkey):
    """The chain rule ∂E/∂x = ∇²L(u)·∂E/∂g (a JVP of the autodiff Lagrangian gradient)."""
    model, _ = hand_model
    x = _to_jnp(_states(getkey))
    dEdx = jax.grad(model.energy)(x)
    d = model.dEdg(x)
    for i, n in enumerate(model.layer_names):
        lag = model.lagrangians[i]
        b = model.biases[i]
        u = x[n] if b is None else x[n] - b
        _, hv = jax.jvp(jax.grad(lag), (u,), (d[n],))
        np.testing.assert_allclose(np.asarray(dEdx[n]), np.asarray(hv), rtol=1e-4, atol=1e-5)


def test_hidden_layer_synapses_match_formulas(getkey):
    g1 = _rand(getkey(), (3,))
    g2 = _rand(getkey(), (2, 2))
    W = _rand(getkey(), (2, 5, 3, 4), 0.5)
    syn = hg.DenseTensorSynapseWithHiddenLayer(nhid=5, num_heads=2, hidden_lagrangian=hg.LSoftmax(beta=1.5), W=W)
    h = np.einsum("hnij,i,j->hn", W, g1, g2.ravel())
    want = sum(_lse(1.5 * h[k]) / 1.5 for k in range(2))
    np.testing.assert_allclose(float(syn(jnp.asarray(g1, jnp.float32), jnp.asarray(g2, jnp.float32))), want, rtol=1e-5)

    Ws = [_rand(getkey(), (3, 6)), _rand(getkey(), (4, 6))]
    for do_norm in (False, True):
        syn = hg.DenseMatrixSynapseWithHiddenLayer(nhid=6, Ws=Ws, do_norm=do_norm)
        A, B = Ws
        if do_norm:
            nrm = np.sqrt((A**2).sum(0) + (B**2).sum(0))
            A, B = A / nrm, B / nrm
        hid = g1 @ A + g2.ravel() @ B
        want = 0.5 * np.sum(np.maximum(hid, 0) ** 2)
        got = float(syn(jnp.asarray(g1, jnp.float32), jnp.asarray(g2, jnp.float32)))
        np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 7), (7, 3), (4, 4)], ids=["wide", "tall", "square"])
@pytest.mark.parametrize("cls", [hg.DenseSynapse, hg.SimpleDenseSynapse])
def test_bilinear_energy_and_gradients_in_either_contraction_order(shape, cls, getkey):
    # the product over W's larger axis is formed first: both orders against g1ᵀ W g2,
    # and the batched gradients against the closed forms W g2 and Wᵀ g1
    W = _rand(getkey(), shape)
    syn = cls(W=jnp.asarray(W, jnp.float32))
    G1, G2 = _rand(getkey(), (6, shape[0])), _rand(getkey(), (6, shape[1]))
    e = jax.vmap(syn)(jnp.asarray(G1, jnp.float32), jnp.asarray(G2, jnp.float32))
    np.testing.assert_allclose(np.asarray(e), np.einsum("bi,ij,bj->b", G1, W, G2), rtol=1e-5, atol=1e-6)
    d1, d2 = jax.vmap(jax.grad(lambda a, b: syn(a, b), argnums=(0, 1)))(
        jnp.asarray(G1, jnp.float32), jnp.asarray(G2, jnp.float32)
    )
    np.testing.assert_allclose(np.asarray(d1), G2 @ W.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(d2), G1 @ W, rtol=1e-5, atol=1e-6)


def test_dense_synapse_without_flatten_contracts_last_axis(getkey):
    g1 = _rand(getkey(), (5, 3))
    g2 = _rand(getkey(), (5, 4))
    W = _rand(getkey(), (3, 4))
    syn = hg.DenseSynapse(flatten_args=False, W=W)
    want = sum(g1[t] @ W @ g2[t] for t in range(5))
    np.testing.assert_allclose(float(syn(jnp.asarray(g1, jnp.float32), jnp.asarray(g2, jnp.float32))), want, rtol=1e-5)
    assert syn.check_shapes([(5, 3), (5, 4)]) == {"W": (3, 4)}
    with pytest.raises(hg.ValidationError, match="do not broadcast"):
        syn.check_shapes([(5, 3), (6, 4)])


def test_custom_synapse_in_ten_lines(getkey):
    class Bilinear(hg.Synapse):
        W: jax.Array | None = None

        def param_shapes(self, shapes):
            return {"W": (shapes[0][0], shapes[1][0])}

        def __call__(self, g1, g2):
            return jnp.tanh(g1 @ self.W @ g2)

    ham = hg.HAM()
    ham.add_layer("x", hg.IdentityLayer((3,)))
    ham.add_layer("y", hg.IdentityLayer((2,)))
    ham.add_synapse("bil", Bilinear(), layers=("x", "y"))
    with pytest.raises(hg.ValidationError, match="Bilinear connects exactly 2"):
        ham.add_synapse("bad", Bilinear(), layers=("x",))
        ham.validate()
    ham.graph.remove_node("bad")
    model = ham.compile(key=getkey())
    W = np.asarray(model.synapse("bil").W)
    assert W.shape == (3, 2) and 0.0 < W.std() < 0.1
    x = _states(getkey)
    xs = {"x": x["a"], "y": x["c"]}
    want = 0.5 * (xs["x"] @ xs["x"] + xs["y"] @ xs["y"]) - np.tanh(xs["x"] @ W @ xs["y"])
    np.testing.assert_allclose(float(model.energy(_to_jnp(xs))), want, rtol=1e-5)


@pytest.mark.bad_arguments
def test_state_errors(hand_model):
    model, _ = hand_model
    xs = model.init_states()
    with pytest.raises(hg.StateError, match=r"missing \['c'\]"):
        model.energy({k: v for k, v in xs.items() if k != "c"})
    with pytest.raises(hg.StateError, match=r"unexpected \['zz'\]"):
        model.energy({**xs, "zz": jnp.zeros(2)})
    with pytest.raises(hg.StateError, match=r"states\['b'\] has shape \(5,\), expected \(4,\)"):
        model.dEdg({**xs, "b": jnp.zeros(5)})
    with pytest.raises(hg.StateError, match="same leading batch axis"):
        model.run({**xs, "a": jnp.zeros((2, 3))}, steps=2)
    with pytest.raises(hg.StateError, match="must be a dict"):
        model.energy([xs["a"], xs["b"], xs["c"]])
    with pytest.raises(hg.StateError, match="clamp names unknown layer 'q'"):
        model.run(xs, steps=2, clamp=("q",))
    assert isinstance(hg.StateError("x"), ValueError)


def test_init_states_shapes_and_noise(hand_model, getkey):
    model, _ = hand_model
    xs = model.init_states(batch_size=3, key=getkey())
    assert {k: v.shape for k, v in xs.items()} == {"a": (3, 3), "b": (3, 4), "c": (3, 2)}
    assert all(float(jnp.abs(v).max()) > 0 for v in xs.values())
    assert all(float(jnp.abs(v).max()) == 0 for v in model.init_states().values())


def test_parameters_are_array_leaves(hand_model):
    model, _ = hand_model
    params = eqx.filter(model, eqx.is_inexact_array)
    leaves = jax.tree_util.tree_leaves(params)
    # W3, Wself, Wbc, bias of a, beta of a (tanh), beta of b (softmax)
    assert sum(l.size for l in leaves) == 24 + 9 + 8 + 3 + 1 + 1


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_hams())
def test_legendre_gradient_equals_autodiff_on_random_graphs(case):
    """∂E/∂x from autodiff of the energy equals ∇²L(u)·dEdg, on random graphs."""
    ham, seed = case
    k1, k2 = jax.random.split(jax.random.key(seed))
    model = ham.compile(key=k1)
    xs = {
        n: jax.random.normal(jax.random.fold_in(k2, i), s)
        for i, (n, s) in enumerate(zip(model.layer_names, model.shapes))
    }
    dEdx = jax.grad(model.energy)(xs)
    d = model.dEdg(xs)
    for i, n in enumerate(model.layer_names):
        b = model.biases[i]
        u = xs[n] if b is None else xs[n] - b
        _, hv = jax.jvp(jax.grad(model.lagrangians[i]), (u,), (d[n],))
        scale = 1.0 + float(jnp.abs(hv).max())
        np.testing.assert_allclose(np.asarray(dEdx[n]), np.asarray(hv), rtol=1e-3, atol=1e-4 * scale)


# ---- bad states, clamps and compile/init arguments: the library error, naming the culprit ----


def _bad_model():
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((3,)))
    ham.add_layer("h", hg.SoftmaxLayer((4,)))
    ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "h"))
    return ham


_MODEL = None


def _compiled():
    global _MODEL
    if _MODEL is None:
        _MODEL = _bad_model().compile(key=jax.random.key(0))
    return _MODEL


def _xs(batch=None):
    return _compiled().init_states(batch_size=batch)


STATE_CASES = [
    ("not-a-dict", lambda m: m.energy([jnp.zeros(3), jnp.zeros(4)]), hg.StateError, "states must be a dict"),
    ("missing-layer", lambda m: m.energy({"v": jnp.zeros(3)}), hg.StateError, r"missing \['h'\]"),
    ("extra-layer", lambda m: m.energy({**_xs(), "x": jnp.zeros(1)}), hg.StateError, r"unexpected \['x'\]"),
    ("wrong-shape", lambda m: m.energy({**_xs(), "v": jnp.zeros(5)}), hg.StateError, r"states\['v'\] has shape \(5,\)"),
    (
        "mixed-batch",
        lambda m: m.energy({"v": jnp.zeros((2, 3)), "h": jnp.zeros(4)}),
        hg.StateError,
        "same leading batch",
    ),
    (
        "other-batch",
        lambda m: m.energy({"v": jnp.zeros((2, 3)), "h": jnp.zeros((3, 4))}),
        hg.StateError,
        "batch size 2",
    ),
    ("strings", lambda m: m.energy({**_xs(), "v": np.array(["a", "b", "c"])}), hg.StateError, r"states\['v'\]"),
    ("none-state", lambda m: m.energy({**_xs(), "v": None}), hg.StateError, r"states\['v'\]"),
    (
        "complex",
        lambda m: m.energy({**_xs(), "v": jnp.zeros(3, jnp.complex64)}),
        hg.StateError,
        r"states\['v'\] has dtype complex64",
    ),
    ("dEdg-missing", lambda m: m.dEdg({"h": jnp.zeros(4)}), hg.StateError, r"missing \['v'\]"),
    ("tree-wrong-shape", lambda m: m.energy_tree({**_xs(), "h": jnp.zeros((4, 1))}), hg.StateError, r"states\['h'\]"),
    ("unpack-dict", lambda m: m.unpack(_xs()), hg.StateError, "unpack takes PackedStates"),
    ("init-batch-negative", lambda m: m.init_states(batch_size=-1), hg.ArgumentError, "batch_size must be an int >= 1"),
    ("init-batch-zero", lambda m: m.init_states(batch_size=0), hg.ArgumentError, "batch_size"),
    ("init-batch-float", lambda m: m.init_states(batch_size=2.5), hg.ArgumentError, "batch_size must be an int"),
    ("init-batch-str", lambda m: m.init_states(batch_size="2"), hg.ArgumentError, "batch_size must be an int"),
    ("init-key-int", lambda m: m.init_states(key=0), hg.ArgumentError, "key must be a PRNG key"),
    ("layer-index", lambda m: m.layer_index("nope"), hg.StateError, "unknown layer 'nope'"),
    ("synapse-name", lambda m: m.synapse("nope"), hg.StateError, "unknown synapse 'nope'"),
    ("bias-name", lambda m: m.bias("nope"), hg.StateError, "unknown layer 'nope'"),
]


@pytest.mark.parametrize("case", STATE_CASES, ids=lambda c: c[0])
@pytest.mark.bad_arguments
def test_bad_states_raise_named_errors(case):
    _, call, error, match = case
    with pytest.raises(error, match=match):
        call(_compiled())


COMPILE_CASES = [
    ("key-int", dict(key=0), hg.ArgumentError, "key must be one PRNG key"),
    ("key-str", dict(key="seed"), hg.ArgumentError, "key must be one PRNG key"),
    ("key-batch", dict(key=jax.random.split(jax.random.key(0), 2)), hg.ArgumentError, r"shape \(2,\)"),
    ("max-bytes-negative", dict(key=jax.random.key(0), max_param_bytes=-1), hg.ArgumentError, "max_param_bytes"),
    ("max-bytes-float", dict(key=jax.random.key(0), max_param_bytes=1.5), hg.ArgumentError, "max_param_bytes"),
    ("max-bytes-small", dict(key=jax.random.key(0), max_param_bytes=10), hg.ValidationError, r"need 48 bytes.*'s'"),
]


@pytest.mark.parametrize("case", COMPILE_CASES, ids=lambda c: c[0])
@pytest.mark.bad_arguments
def test_bad_compile_arguments_raise_named_errors(case):
    _, kwargs, error, match = case
    with pytest.raises(error, match=match):
        _bad_model().compile(**kwargs)


def test_state_dtype_policy(getkey):
    """Floating states keep their dtype through every method; ints and bools become the default float."""
    model = _compiled()
    for dtype in (jnp.float16, jnp.bfloat16):
        xs = {k: (0.3 * jnp.ones(v.shape)).astype(dtype) for k, v in model.init_states(batch_size=2).items()}
        assert model.step(xs)["v"].dtype == dtype
        assert model.run(xs, steps=3)[0]["v"].dtype == dtype
        assert model.relax(xs, tol=1e-2, throw=False).states["v"].dtype == dtype
        assert model.solve(xs, tol=1e-2, throw=False).states["v"].dtype == dtype
        e32 = model.energy({k: v.astype(jnp.float32) for k, v in xs.items()})
        np.testing.assert_allclose(model.energy(xs), e32, rtol=1e-6)  # same values: computed in float32
    for dtype in (jnp.int32, jnp.bool_):
        xs = {k: jnp.ones(v.shape, dtype) for k, v in model.init_states(batch_size=2).items()}
        assert model.run(xs, steps=2)[0]["v"].dtype == jnp.float32


def test_huge_model_is_refused_in_a_subprocess(tmp_path):
    """4 TB of weights: compile refuses with a ValidationError; nothing aborts (exit 0, not 134)."""
    import subprocess
    import sys

    script = tmp_path / "huge.py"
    script.write_text(
        "import jax, hamux_graph as hg\n"
        "ham = hg.HAM(); ham.add_layer('a', hg.TanhLayer((10**6,))); ham.add_layer('b', hg.TanhLayer((10**6,)))\n"
        "ham.add_synapse('big', hg.DenseSynapse(), layers=('a', 'b'))\n"
        "try:\n    ham.compile(key=jax.random.key(0))\nexcept hg.ValidationError as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout and "'big'" in out.stdout and "4,000,000,000,000 bytes" in out.stdout


def test_dynamics_methods_are_the_driver_functions_bound(hand_model, getkey):
    import inspect

    from hamux_graph._dynamics import euler, ode, relax, trace

    model, _ = hand_model
    drivers = {
        "step": euler.step,
        "run": euler.run,
        "energy_trace": trace.energy_trace,
        "relax": relax.relax,
        "solve": ode.solve,
    }
    for name, fn in drivers.items():
        method = getattr(model, name)
        # one signature and one docstring, written on the driver
        want = inspect.signature(fn)
        assert inspect.signature(method) == want.replace(parameters=list(want.parameters.values())[1:]), name
        assert getattr(hg.CompiledHAM, name).__doc__ == fn.__doc__ and "Example:" in fn.__doc__, name
        assert want.parameters["clamp"].annotation == "ClampSpec", name
    assert hg.relax is relax.relax and hg.solve is ode.solve
    # hg.relax(model, ...) and model.relax(...) are one function
    xs = model.init_states(batch_size=2, key=getkey())
    a = hg.relax(model, xs, tol=1e-5, dt=0.1, clamp=("a",), throw=False)
    b = model.relax(xs, tol=1e-5, dt=0.1, clamp=("a",), throw=False)
    for n in model.layer_names:
        np.testing.assert_array_equal(np.asarray(a.states[n]), np.asarray(b.states[n]))
    np.testing.assert_array_equal(np.asarray(a.steps), np.asarray(b.steps))
    with pytest.raises(TypeError):
        model.relax(xs, 1e-5)  # keyword-only, as hg.relax
