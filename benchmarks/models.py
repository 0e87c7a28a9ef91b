"""Benchmark models, each built twice: in hamux_graph and as hand-written JAX with the same weights.

A hand-written model is a pair of plain functions over a ``params`` dict and a states dict:
``energy_and_dEdg(params, xs) -> (E, {layer: ∂E/∂g})`` and
``run(params, xs, dt) -> (final xs, energies)`` (T Euler steps in one ``lax.scan``, the
energy before every step and after the last, clamped layers held), written the way one
would write them by hand: batched matmuls and convolutions, no graph machinery.

For the ``relax`` and training-step rows: ``make_handwritten_relax`` (``hg.relax`` written
out: Euler steps in a ``lax.while_loop`` with the per-sample convergence test and energy
trace) and ``make_bptt_step`` (one BPTT training step of ``dense_classifier`` with optax).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

import hamux_graph as hg


@dataclasses.dataclass
class Pair:
    name: str
    model: Any  # hg.CompiledHAM
    params: dict[str, Any]
    synapse_energy: Callable  # (params, gs) -> per-sample synapse energy (B,)
    clamp: tuple[str, ...]


# ---- Lagrangians written out (batched: leading axis is the batch) ---------------------------


def _sum_rest(a):
    return jnp.sum(a.reshape(a.shape[0], -1), axis=1)


def tanh_layer(x):
    g = jnp.tanh(x)
    lag = _sum_rest(jnp.logaddexp(x, -x) - math.log(2.0))
    return x, g, _sum_rest(g * x) - lag


def relu_layer(x):
    g = jnp.maximum(x, 0.0)
    return x, g, _sum_rest(g * x) - 0.5 * _sum_rest(g * g)


def identity_layer(x):
    return x, x, 0.5 * _sum_rest(x * x)


def sparsemax_layer(x, beta=1.0):
    """Sparsemax along the last axis by sorting; ``L = ½ Σ [z − τ]₊(z + τ) / β`` with ``z = βx``."""
    z = beta * x
    zs = -jnp.sort(-z, axis=-1)
    cs = jnp.cumsum(zs, axis=-1)
    k = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    n = jnp.sum(1.0 + k * zs > cs, axis=-1, keepdims=True)
    tau = (jnp.take_along_axis(cs, n - 1, axis=-1) - 1.0) / n
    g = jnp.maximum(z - tau, 0.0)
    lag = 0.5 * jnp.sum(jnp.where(z > tau, (z - tau) * (z + tau), 0.0), axis=-1) / beta
    return x, g, _sum_rest(g * x) - lag


def softmax_layer(x, beta=1.0):
    g = jax.nn.softmax(beta * x, axis=-1)
    lag = jax.nn.logsumexp(beta * x, axis=-1) / beta
    return x, g, _sum_rest(g * x) - lag


# ---- hand-written energy+gradient and run ------------------------------------------------------


def _layer_terms(layer_fns: dict[str, Callable], xs):
    """Per layer ``x`` (= the layer part of ∂E/∂g) and ``g``, and the summed layer energies."""
    us, gs, el = {}, {}, 0.0
    for n, f in layer_fns.items():
        u, g, e = f(xs[n])
        us[n], gs[n] = u, g
        el = el + e
    return us, gs, el


def _free_energy_and_grad(synapse_energy, layer_fns, params, held, fx):
    """Energy (B,) and ``{layer: ∂E/∂g}`` of the free layers ``fx``, the layers ``held`` fixed."""
    us, gs, el = _layer_terms(layer_fns, {**held, **fx})
    gheld = {n: gs[n] for n in held}
    es, vjp = jax.vjp(lambda g: synapse_energy(params, {**gheld, **g}), {n: gs[n] for n in fx})
    (dg,) = vjp(jnp.ones_like(es))
    return el + es, {n: us[n] + dg[n] for n in fx}


def make_handwritten(pair: Pair, layer_fns: dict[str, Callable], steps: int = 100):
    names = list(layer_fns)

    def terms(params, xs):
        return _layer_terms(layer_fns, xs)

    def energy_and_dEdg_batched(params, xs):
        us, gs, el = terms(params, xs)
        es, vjp = jax.vjp(lambda g: pair.synapse_energy(params, g), gs)
        (dg,) = vjp(jnp.ones_like(es))
        return el + es, {n: us[n] + dg[n] for n in names}

    def energy_and_dEdg(params, xs):
        batched = xs[names[0]].ndim > pair.model.shapes[0].__len__()
        if batched:
            return energy_and_dEdg_batched(params, xs)
        e, d = energy_and_dEdg_batched(params, {n: x[None] for n, x in xs.items()})
        return e[0], {n: v[0] for n, v in d.items()}

    free = [n for n in names if n not in pair.clamp]

    def run_batched(params, xs, dt):
        held = {n: xs[n] for n in pair.clamp}

        def energy_grad(fx):
            return _free_energy_and_grad(pair.synapse_energy, layer_fns, params, held, fx)

        def body(fx, _):
            e, d = energy_grad(fx)
            return {n: fx[n] - dt * d[n] for n in free}, e

        fx0 = {n: xs[n] for n in free}
        final, es = lax.scan(body, fx0, None, length=steps)
        e_last, _ = energy_grad(final)
        return {**held, **final}, jnp.concatenate([es, e_last[None]], axis=0)

    def run(params, xs, dt):
        batched = xs[names[0]].ndim > len(pair.model.shapes[0])
        if batched:
            return run_batched(params, xs, dt)
        out, es = run_batched(params, {n: x[None] for n, x in xs.items()}, dt)
        return {n: v[0] for n, v in out.items()}, es[:, 0]

    return jax.jit(energy_and_dEdg), jax.jit(run)


def make_handwritten_relax(pair: Pair, layer_fns: dict[str, Callable], max_steps: int):
    """``relax(params, xs, dt, tol) -> (final xs, energies, converged, residual)``, jitted.

    What ``hg.relax`` does, written out: Euler steps ``x ← x − dt·∂E/∂g`` (every τ = 1) of
    the free layers in one ``lax.while_loop``, the clamped layers held. After every step the
    per-sample RMS of ∂E/∂g over the free entries is compared with ``tol``; a sample that
    reached it stops updating, and the loop ends when all have or after ``max_steps`` steps.
    ``energies[t]`` is the energy after ``t`` steps (the last value repeated after the loop
    ended). With ``tol = 0`` every sample takes ``max_steps`` steps.
    """
    free = [n for n in layer_fns if n not in pair.clamp]
    shapes = dict(zip(pair.model.layer_names, pair.model.shapes))
    size = float(sum(math.prod(shapes[n]) for n in free))

    def rms(d):
        total = sum(jnp.sum(jnp.square(v).reshape(v.shape[0], -1), axis=1) for v in d.values())
        return jnp.sqrt(total / size)

    def relax_batched(params, xs, dt, tol):
        held = {n: xs[n] for n in pair.clamp}

        def energy_grad(fx):
            return _free_energy_and_grad(pair.synapse_energy, layer_fns, params, held, fx)

        fx0 = {n: xs[n] for n in free}
        e0, d0 = energy_grad(fx0)
        trace0 = jnp.broadcast_to(e0, (max_steps + 1,) + e0.shape)

        def cond(carry):
            t, _, _, _, conv, _ = carry
            return (t < max_steps) & ~jnp.all(conv)

        def body(carry):
            t, fx, _, d, conv, trace = carry
            fx = {n: jnp.where(conv.reshape((-1,) + (1,) * (v.ndim - 1)), v, v - dt * d[n]) for n, v in fx.items()}
            e, d = energy_grad(fx)
            conv = conv | (rms(d) <= tol)
            return t + 1, fx, e, d, conv, trace.at[t + 1].set(e)

        carry = (jnp.zeros((), jnp.int32), fx0, e0, d0, rms(d0) <= tol, trace0)
        t, fx, e, d, conv, trace = lax.while_loop(cond, body, carry)
        energies = jnp.where(jnp.arange(max_steps + 1)[:, None] <= t, trace, e[None])
        return {**held, **fx}, energies, conv, rms(d)

    def relax(params, xs, dt, tol):
        batched = xs[free[0]].ndim > len(shapes[free[0]])
        if batched:
            return relax_batched(params, xs, dt, tol)
        out, es, conv, res = relax_batched(params, {n: x[None] for n, x in xs.items()}, dt, tol)
        return {n: v[0] for n, v in out.items()}, es[:, 0], conv[0], res[0]

    return jax.jit(relax)


# ---- hand-written BPTT training step ----------------------------------------------------------


def make_bptt_step(optimizer, steps: int, dt: float, hoist: bool = False):
    """A hand-written training step of ``dense_classifier`` by backpropagation through time.

    Returns ``(step, loss_and_grad)``, both jitted: ``step(params, opt_state, img, labels)
    -> (params, opt_state, loss)`` and ``loss_and_grad(params, img, labels)``, over
    ``params = {"W1", "W2", "beta"}`` (β of the softmax label layer, used as ``max(β, 1e-6)``).
    The image is held, the hidden and label layers start at 0 and take ``steps`` Euler steps
    ``x ← x − dt·∂E/∂g`` in a ``lax.scan``; the loss is the mean softmax cross-entropy of the
    logits ``β·x_lab``; ``jax.value_and_grad`` of it, then the optax update. The held image's
    drive ``img @ W1`` is computed inside every step, or once before the loop with ``hoist``.
    """

    def loss(p, img, labels):
        beta = jnp.maximum(p["beta"], 1e-6)
        layers = {"img": identity_layer, "hid": relu_layer, "lab": lambda x: softmax_layer(x, beta)}
        drive = img @ p["W1"] if hoist else None

        def synapses(q, gs):
            a = drive if hoist else gs["img"] @ q["W1"]
            return -(jnp.sum(a * gs["hid"], axis=-1) + jnp.sum((gs["hid"] @ q["W2"]) * gs["lab"], axis=-1))

        def body(fx, _):
            _, d = _free_energy_and_grad(synapses, layers, p, {"img": img}, fx)
            return {n: fx[n] - dt * d[n] for n in fx}, None

        B = img.shape[0]
        fx0 = {"hid": jnp.zeros((B, p["W1"].shape[1]), img.dtype), "lab": jnp.zeros((B, p["W2"].shape[1]), img.dtype)}
        final, _ = lax.scan(body, fx0, None, length=steps)
        logits = beta * final["lab"]
        onehot = jax.nn.one_hot(labels, logits.shape[-1])
        return jnp.mean(-jnp.sum(onehot * jax.nn.log_softmax(logits, axis=-1), axis=-1))

    def step(p, opt_state, img, labels):
        value, grads = jax.value_and_grad(loss)(p, img, labels)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, value

    return jax.jit(step), jax.jit(jax.value_and_grad(loss))


# ---- the models -------------------------------------------------------------------------------


def dense_classifier(key, n_in: int = 784, n_hid: int = 1000, n_out: int = 10) -> tuple[Pair, dict]:
    ham = hg.HAM()
    ham.add_layer("img", hg.IdentityLayer((n_in,)))
    ham.add_layer("hid", hg.ReluLayer((n_hid,)))
    ham.add_layer("lab", hg.SoftmaxLayer((n_out,)))
    ham.add_synapse("s1", hg.DenseSynapse(), layers=("img", "hid"))
    ham.add_synapse("s2", hg.DenseSynapse(), layers=("hid", "lab"))
    model = ham.compile(key=key)
    params = {"W1": model.synapse("s1").W, "W2": model.synapse("s2").W}

    def syn(p, gs):
        a = jnp.sum((gs["img"] @ p["W1"]) * gs["hid"], axis=-1)
        b = jnp.sum((gs["hid"] @ p["W2"]) * gs["lab"], axis=-1)
        return -(a + b)

    pair = Pair(f"dense {n_in}-{n_hid}-{n_out}", model, params, syn, clamp=("img",))
    return pair, {"img": identity_layer, "hid": relu_layer, "lab": softmax_layer}


def hopfield(key) -> tuple[Pair, dict]:
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((256,)))
    ham.add_layer("h", hg.SoftmaxLayer((2048,)))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    model = ham.compile(key=key)
    params = {"W": model.synapse("mem").W}

    def syn(p, gs):
        return -jnp.sum((gs["v"] @ p["W"]) * gs["h"], axis=-1)

    pair = Pair("Hopfield 256-2048", model, params, syn, clamp=())
    return pair, {"v": tanh_layer, "h": softmax_layer}


class _SmallConv(hg.Synapse):
    """Fallback 3x3 SAME conv synapse (used only if hg.ConvSynapse is unavailable)."""

    multiaffine = True
    kernel: Any = None

    def param_shapes(self, shapes):
        return {"kernel": (3, 3, shapes[0][-1], shapes[1][-1])}

    def __call__(self, g1, g2):
        y = lax.conv_general_dilated(g1[None], self.kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sum(y[0] * g2)


def conv(key) -> tuple[Pair, dict]:
    ham = hg.HAM()
    ham.add_layer("img", hg.IdentityLayer((28, 28, 1)))
    ham.add_layer("feat", hg.TanhLayer((28, 28, 16)))
    if hasattr(hg, "ConvSynapse"):
        syn_obj = hg.ConvSynapse(3, padding="SAME", use_bias=False)
    else:
        syn_obj = _SmallConv()
    ham.add_synapse("conv", syn_obj, layers=("img", "feat"))
    model = ham.compile(key=key)
    params = {"K": model.synapse("conv").kernel}

    def syn(p, gs):
        y = lax.conv_general_dilated(gs["img"], p["K"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return -_sum_rest(y * gs["feat"])

    pair = Pair("conv 28x28x1 -> 3x3 -> 28x28x16", model, params, syn, clamp=("img",))
    return pair, {"img": identity_layer, "feat": tanh_layer}


def sparse_hopfield(key) -> tuple[Pair, dict]:
    """The Hopfield row with a sparsemax memory layer (``hg.SparsemaxLayer``)."""
    ham = hg.HAM()
    ham.add_layer("v", hg.TanhLayer((256,)))
    ham.add_layer("h", hg.SparsemaxLayer((2048,)))
    ham.add_synapse("mem", hg.DenseSynapse(), layers=("v", "h"))
    model = ham.compile(key=key)
    params = {"W": model.synapse("mem").W}

    def syn(p, gs):
        return -jnp.sum((gs["v"] @ p["W"]) * gs["h"], axis=-1)

    pair = Pair("sparse Hopfield 256-2048", model, params, syn, clamp=())
    return pair, {"v": tanh_layer, "h": sparsemax_layer}


GAUSS_BETA = 0.05


def gaussian_memory(key) -> tuple[Pair, dict]:
    """One identity layer of 256 with a ``GaussianMemorySynapse`` of 2048 patterns."""
    ham = hg.HAM()
    ham.add_layer("v", hg.IdentityLayer((256,)))
    ham.add_synapse("mem", hg.GaussianMemorySynapse(2048, beta=GAUSS_BETA), layers=("v",))
    model = ham.compile(key=key)
    params = {"P": model.synapse("mem").patterns}

    def syn(p, gs):
        g, P = gs["v"], p["P"]
        d2 = jnp.sum(g * g, axis=-1, keepdims=True) - 2.0 * g @ P.T + jnp.sum(P * P, axis=-1)
        return -jax.nn.logsumexp(-0.5 * GAUSS_BETA * d2, axis=-1) / GAUSS_BETA

    pair = Pair("Gaussian memory 256, K=2048", model, params, syn, clamp=())
    return pair, {"v": identity_layer}


MODELS = {
    "dense": dense_classifier,
    "hopfield": hopfield,
    "conv": conv,
    "sparse_hopfield": sparse_hopfield,
    "gaussian_memory": gaussian_memory,
}


# ---- compile-time models -----------------------------------------------------------------------


def chain_ham(L: int, width: int = 64) -> hg.HAM:
    ham = hg.HAM()
    for i in range(L + 1):
        ham.add_layer(f"x{i}", hg.TanhLayer((width,)))
    for i in range(L):
        ham.add_synapse(f"s{i}", hg.DenseSynapse(), layers=(f"x{i}", f"x{i + 1}"))
    return ham


def chain_handwritten_stacked(L: int, width: int = 64):
    """Layers stacked as X (L+1, width), synapses as W (L, width, width)."""

    def fn(W, X):
        def energy_syn(G):
            return -jnp.einsum("li,lij,lj->", G[:-1], W, G[1:])

        G = jnp.tanh(X)
        el = jnp.sum(G * X) - jnp.sum(jnp.logaddexp(X, -X) - math.log(2.0))
        es, dg = jax.value_and_grad(energy_syn)(G)
        return el + es, X + dg

    return jax.jit(fn)


def chain_handwritten_unstacked(L: int, width: int = 64):
    """One array per layer and per synapse, the energy a sum of per-node terms."""

    def fn(Ws, xs):
        gs = [jnp.tanh(x) for x in xs]
        el = sum(jnp.sum(g * x) - jnp.sum(jnp.logaddexp(x, -x) - math.log(2.0)) for g, x in zip(gs, xs))

        def energy_syn(gs):
            return -sum(gs[i] @ Ws[i] @ gs[i + 1] for i in range(L))

        es, dg = jax.value_and_grad(energy_syn)(gs)
        return el + es, [x + d for x, d in zip(xs, dg)]

    return jax.jit(fn)


def hyperedge_ham(k: int, width: int = 64, nhid: int = 64) -> hg.HAM:
    ham = hg.HAM()
    for i in range(k):
        ham.add_layer(f"x{i}", hg.TanhLayer((width,)))
    ham.add_synapse("s", hg.DenseMatrixSynapseWithHiddenLayer(nhid=nhid), layers=[f"x{i}" for i in range(k)])
    return ham


def hyperedge_handwritten(k: int):
    def fn(Ws, xs):
        gs = [jnp.tanh(x) for x in xs]
        el = sum(jnp.sum(g * x) - jnp.sum(jnp.logaddexp(x, -x) - math.log(2.0)) for g, x in zip(gs, xs))

        def energy_syn(gs):
            h = sum(g @ W for g, W in zip(gs, Ws))
            return -0.5 * jnp.sum(jnp.maximum(h, 0.0) ** 2)

        es, dg = jax.value_and_grad(energy_syn)(gs)
        return el + es, [x + d for x, d in zip(xs, dg)]

    return jax.jit(fn)


def big_dense(key, d1=2048, d2=4096) -> hg.CompiledHAM:
    ham = hg.HAM()
    ham.add_layer("a", hg.TanhLayer((d1,)))
    ham.add_layer("b", hg.ReluLayer((d2,)))
    ham.add_synapse("W", hg.DenseSynapse(), layers=("a", "b"))
    return ham.compile(key=key)


def random_states(model, batch, key):
    keys = jax.random.split(key, len(model.layer_names))
    lead = () if batch is None else (batch,)
    return {n: jax.random.normal(k, lead + s, jnp.float32) for n, s, k in zip(model.layer_names, model.shapes, keys)}


def assert_close(a, b, what, rtol=2e-4, atol=2e-4):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=what)


def make_handwritten_langevin(pair: Pair, layer_fns: dict[str, Callable], steps: int):
    """``hg.langevin`` written out: Euler–Maruyama steps on the energy of ``x`` (no clamp).

    ``x ← x − dt·∂E/∂x + √(2T·dt)·ξ`` in one ``lax.scan``, ``∂E/∂x`` by reverse-mode autodiff of
    the energy as a function of the states, the energy before every step and after the last.
    """
    names = list(layer_fns)

    def energy(params, xs):
        _, gs, el = _layer_terms(layer_fns, xs)
        return el + pair.synapse_energy(params, gs)

    def value_and_grad(params, xs):
        e, vjp = jax.vjp(lambda z: energy(params, z), xs)
        (g,) = vjp(jnp.ones_like(e))
        return e, g

    def langevin(params, xs, dt, T, key):
        def body(carry, k):
            x, e, g = carry
            noise = {
                n: jnp.sqrt(2 * T * dt) * jax.random.normal(jax.random.fold_in(k, i), x[n].shape)
                for i, n in enumerate(names)
            }
            y = {n: x[n] - dt * g[n] + noise[n] for n in names}
            e_y, g_y = value_and_grad(params, y)
            return (y, e_y, g_y), e

        e0, g0 = value_and_grad(params, xs)
        (final, e_last, _), es = lax.scan(body, (xs, e0, g0), jax.random.split(key, steps))
        return final, jnp.concatenate([es, e_last[None]], axis=0)

    return jax.jit(langevin)
