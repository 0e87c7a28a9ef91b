"""The benchmark models rebuilt in the reference package ``hamux`` (v0.2.2), same weights.

This module supplies an optional third column for ``benchmarks/run.py``: every benchmark
model of ``models.MODELS`` (and the compile-time chain of ``models.chain_ham``) is rebuilt
as a ``hamux.HAM`` whose synapses hold the very arrays of the hamux_graph model, so the
three implementations (hamux_graph, hand-written JAX, hamux) compute the same numbers and
only their speed differs.

How hamux is used (as its own documentation does, nothing tuned for speed):

* Layers are ``hamux.NeuronLayer(lagrangian, shape)`` with the Lagrangians of
  ``hamux.lagrangians`` (``lagr_identity``, ``lagr_relu``, ``lagr_softmax``, ``lagr_tanh``);
  dense synapses are ``hamux.LinearSynapse`` (energy ``-g1 @ W @ g2``, the same ``W`` layout
  as hamux_graph's ``DenseSynapse``); the convolution is ``hamux.ConvSynapse`` with the
  hamux_graph kernel transposed from HWIO to hamux's OIHW (stride 1, ``"SAME"``).
* Per call: ``xhats = ham.activations(xs)`` then
  ``E, dEdxhat = ham.dEdact(xhats, xs, return_energy=True)``, inside ``eqx.filter_jit`` with
  the ham passed as an argument, so equinox's per-call flattening of the model is part of
  what is timed. Batched states (leading axis) go through ``ham.vectorize()`` (a
  ``VectorizedHAM``, i.e. ``jax.vmap`` over the single-sample HAM); unbatched states
  through the plain HAM.
* ``dEdact`` differentiates the energy with respect to the activations while the Legendre
  layer terms ``g·x - L(x)`` have a custom JVP that makes their gradient ``x``; the result
  is ``x + ∂E_syn/∂g``, which is exactly hamux_graph's ``energy_and_dEdg`` gradient.
* ``run`` does T Euler steps ``x <- x - dt · ∂E/∂g`` (all layers have τ = 1) in one
  ``jax.lax.scan``, clamped layers held fixed, the energy recorded before each step and
  after the last, like ``CompiledHAM.run``.

Conventions and offsets: hamux's Lagrangians equal hamux_graph's, with no additive
constant (``lagr_tanh`` is ``log cosh x``, as is hamux_graph's ``LTanh``; ``lagr_relu`` is
``½·relu(x)²``; ``lagr_softmax`` is ``logsumexp``; ``lagr_identity`` is ``½x²``), so
energies and gradients are compared directly. One numerical difference: hamux evaluates
``log(cosh(x))`` literally, which overflows to ``inf`` in float32 for ``|x| ≳ 89`` (the
gradient stays finite through its custom JVP); hamux_graph's form is stable. The
benchmark states are standard-normal, far from that range.

hamux is imported lazily (``available()`` tells whether it can be); importing this module
never imports it. hamux imports ``fastcore`` without declaring it:
``pip install hamux==0.2.2 fastcore``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


__all__ = ["available", "supports", "build", "energy_and_grad", "run", "chain_energy_and_grad"]


def available() -> bool:
    """Whether the reference package can be imported.

    Returns:
        True iff ``import hamux`` succeeds (hamux also needs ``fastcore``).
    """
    try:
        import hamux  # noqa: F401
    except Exception:  # ImportError, or a broken install failing at import time
        return False
    return True


def _hamux():
    import hamux
    import hamux.lagrangians as lagr

    return hamux, lagr


def _layer(lagrangian: Callable, shape: tuple[int, ...]):
    """A ``hamux.NeuronLayer``; its ``__post_init__`` prints a debug line, kept quiet here."""
    hamux, _ = _hamux()
    with contextlib.redirect_stdout(io.StringIO()):
        return hamux.NeuronLayer(lagrangian=lagrangian, shape=tuple(shape))


def _assemble(neurons: dict, synapses: dict, connections: list):
    hamux, _ = _hamux()
    return hamux.HAM(neurons=neurons, hypersynapses=synapses, connections=connections)


# ---- the three benchmark models -------------------------------------------------------------


def _dense(model) -> Any:
    hamux, lagr = _hamux()
    s = dict(zip(model.layer_names, model.shapes))
    neurons = {
        "img": _layer(lagr.lagr_identity, s["img"]),
        "hid": _layer(lagr.lagr_relu, s["hid"]),
        "lab": _layer(lagr.lagr_softmax, s["lab"]),
    }
    synapses = {
        "s1": hamux.LinearSynapse(W=model.synapse("s1").W),
        "s2": hamux.LinearSynapse(W=model.synapse("s2").W),
    }
    return _assemble(neurons, synapses, [(("img", "hid"), "s1"), (("hid", "lab"), "s2")])


def _hopfield(model) -> Any:
    hamux, lagr = _hamux()
    s = dict(zip(model.layer_names, model.shapes))
    neurons = {"v": _layer(lagr.lagr_tanh, s["v"]), "h": _layer(lagr.lagr_softmax, s["h"])}
    synapses = {"mem": hamux.LinearSynapse(W=model.synapse("mem").W)}
    return _assemble(neurons, synapses, [(("v", "h"), "mem")])


def _conv(model) -> Any:
    hamux, lagr = _hamux()
    s = dict(zip(model.layer_names, model.shapes))
    neurons = {"img": _layer(lagr.lagr_identity, s["img"]), "feat": _layer(lagr.lagr_tanh, s["feat"])}
    # hamux_graph: E = -<conv(g_img, K), g_feat>, K in HWIO, NHWC, stride 1, SAME, no bias.
    # hamux.ConvSynapse computes the same cross-correlation with an OIHW kernel on one
    # (H, W, C) sample, so only the kernel layout changes: HWIO -> OIHW.
    kernel = jnp.transpose(model.synapse("conv").kernel, (3, 2, 0, 1))
    synapses = {"conv": hamux.ConvSynapse(W=kernel, window_strides=(1, 1), padding="SAME")}
    return _assemble(neurons, synapses, [(("img", "feat"), "conv")])


_BUILDERS = {"dense": _dense, "hopfield": _hopfield, "conv": _conv}


def supports(name: str) -> bool:
    """Whether benchmark model ``name`` has a hamux version (hamux has no sparsemax or
    distance-kernel memory, so the sparse Hopfield and Gaussian memory rows have none)."""
    return name in _BUILDERS


def build(name: str, pair) -> Any:
    """The hamux ``HAM`` equivalent to a benchmark model, sharing its weights.

    Args:
        name: a key of ``models.MODELS`` (``"dense"``, ``"hopfield"`` or ``"conv"``).
        pair: the ``models.Pair`` that builder returned; weights are read from
            ``pair.model.synapse(...)``.

    Returns:
        A single-sample ``hamux.HAM`` (call ``.vectorize()`` for batches).
    """
    if name not in _BUILDERS:
        raise KeyError(f"no hamux version of benchmark model {name!r}; known: {sorted(_BUILDERS)}")
    return _BUILDERS[name](pair.model)


# ---- energy + gradient, and Euler runs --------------------------------------------------------


def _batched(model, xs) -> bool:
    first = model.layer_names[0]
    return xs[first].ndim > len(model.shapes[0])


def _energy_grad(ham, xs):
    """hamux's documented call: activations, then energy and ∂E/∂activations together."""
    xhats = ham.activations(xs)
    return ham.dEdact(xhats, xs, return_energy=True)


def _make_energy_and_grad(ham, model) -> Callable:
    import equinox as eqx

    hams = (ham, ham.vectorize())

    # A fresh jitted function per factory call: the first call of what is returned compiles.
    @eqx.filter_jit
    def eg(h, xs):
        return _energy_grad(h, xs)

    def call(xs):
        return eg(hams[_batched(model, xs)], xs)

    return call


def energy_and_grad(name: str, pair) -> Callable:
    """Energy and ``∂E/∂g`` of a benchmark model, computed by hamux.

    Args:
        name: a key of ``models.MODELS``.
        pair: the ``models.Pair`` built for it.

    Returns:
        ``f(xs) -> (E, {layer: ∂E/∂g})``, directly comparable with
        ``pair.model.energy_and_dEdg(xs)`` (no offset). ``xs`` may be unbatched (plain HAM,
        ``E`` a scalar) or carry a leading batch axis (``VectorizedHAM``, ``E`` of shape
        ``(B,)``). Each call goes through ``eqx.filter_jit`` with the ham as an argument.
    """
    return _make_energy_and_grad(build(name, pair), pair.model)


def run(name: str, pair, steps: int) -> Callable:
    """Euler dynamics of a benchmark model in hamux, ``pair.clamp`` held fixed.

    Args:
        name: a key of ``models.MODELS``.
        pair: the ``models.Pair`` built for it; ``pair.clamp`` names the held layers.
        steps: number of Euler steps T.

    Returns:
        ``f(xs, dt) -> (final xs, energies)`` doing ``x <- x - dt · ∂E/∂g`` on the free layers
        T times in one ``jax.lax.scan`` inside ``eqx.filter_jit`` (ham passed as an
        argument). ``energies`` has shape ``(T + 1,)`` or ``(T + 1, B)``: the energy before
        every step and after the last, as ``pair.model.run(xs, steps=T, dt=dt,
        clamp=pair.clamp)`` returns them.
    """
    import equinox as eqx

    ham = build(name, pair)
    hams = (ham, ham.vectorize())
    model = pair.model
    clamp = frozenset(pair.clamp)
    steps = int(steps)

    @eqx.filter_jit
    def go(h, xs, dt):
        def body(x, _):
            e, d = _energy_grad(h, x)
            return {k: v if k in clamp else v - dt * d[k] for k, v in x.items()}, e

        final, es = jax.lax.scan(body, dict(xs), None, length=steps)
        e_last, _ = _energy_grad(h, final)
        return final, jnp.concatenate([es, e_last[None]], axis=0)

    def call(xs, dt):
        return go(hams[_batched(model, xs)], xs, dt)

    return call


# ---- compile-time chain -----------------------------------------------------------------------


def chain_energy_and_grad(model) -> Callable:
    """Energy and ``∂E/∂g`` of a compiled ``models.chain_ham(L)`` model, computed by hamux.

    The chain is ``L + 1`` tanh layers ``x0..xL`` and a ``LinearSynapse`` ``s_i`` (the
    hamux_graph model's ``W``) between ``x_i`` and ``x_{i+1}``. The ham is built here; the
    returned function is freshly jitted, so its first call measures hamux's cold compile.

    Args:
        model: ``models.chain_ham(L).compile(key=...)``.

    Returns:
        ``f(xs) -> (E, {layer: ∂E/∂g})`` for a single-sample states dict (a batched one also
        works, through the ``VectorizedHAM``), comparable with ``model.energy_and_dEdg(xs)``.
    """
    hamux, lagr = _hamux()
    neurons = {n: _layer(lagr.lagr_tanh, s) for n, s in zip(model.layer_names, model.shapes)}
    L = len(model.layer_names) - 1
    synapses = {f"s{i}": hamux.LinearSynapse(W=model.synapse(f"s{i}").W) for i in range(L)}
    connections = [((f"x{i}", f"x{i + 1}"), f"s{i}") for i in range(L)]
    return _make_energy_and_grad(_assemble(neurons, synapses, connections), model)
