"""Convert hamux v0.2 models (the ``hamux`` package) into hamux_graph.

``from_hamux(hamux_ham)`` reads a ``hamux.HAM`` (neurons, hypersynapses, connections) and
returns a hamux_graph ``HAM`` and its compiled model whose energy and Legendre gradient
``∂E/∂g`` equal hamux's ``ham.energy(ham.activations(xs), xs)`` and
``ham.dEdact(xhats, xs)`` on the same states (the state dict keys are the neuron names).

What converts (exact classes only: a subclass may change the energy):

- neurons: ``hamux.NeuronLayer`` of any shape, Lagrangian one of the functions of
  ``hamux.lagrangians``, plain or bound by keyword through ``functools.partial``, or
  already a hamux_graph ``Lagrangian``. hamux's norm Lagrangians add their shift
  ``⟨δ, x⟩`` once per row, so on a layer with R rows ``lagr_layernorm(delta=δ)`` becomes
  ``LLayerNorm(delta=R·δ)`` (the same function); a softmax or ghostmax over one axis of a
  rank > 1 layer is not a scalar in hamux (hamux cannot evaluate it) and is refused.
- synapses: ``LinearSynapse`` → ``SimpleDenseSynapse(W)``; ``LinearSynapseWithBias`` → that
  plus a one-layer ``DenseSynapse(W=b)`` on the second layer (``−⟨b, g₂⟩``, a synapse, not
  a layer bias: hamux's bias multiplies the activation); ``BiasSynapse`` → one-layer
  ``DenseSynapse(W=b)``; ``ConvSynapse`` → ``ConvSynapse`` with the OIHW kernel transposed to
  ``(kh, kw, C_in, C_out)``, no bias, same strides and padding.

Names: layers keep the neuron names. Connection ``i`` that uses hamux synapse ``key`` for the
``u``-th time (``u = 0, 1, …`` in the order of ``connections``) becomes the synapse node
``key`` (``u = 0``) or ``f"{key}_{u}"`` (``u ≥ 1``, sharing the parameters of node ``key``);
the bias half of a ``LinearSynapseWithBias`` is that name plus ``"_bias"``. A hamux synapse
no connection uses adds no energy and is left out.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .._api import CompiledHAM, HAM
from .._errors import ValidationError
from .._internal.optional import require
from .._internal.parse import parse_float, parse_int
from ..lagrangians.elementwise import (
    Lagrangian,
    LExp,
    LIdentity,
    LLayerNorm,
    LRelu,
    LRepu,
    LRexp,
    LSigmoid,
    LSoftmax,
    LSphericalNorm,
    LTanh,
)
from ..lagrangians.simplex import LGhostmax
from ..layers import Layer
from ..synapses import ConvSynapse, DenseSynapse, SimpleDenseSynapse, Synapse


__all__ = ["from_hamux", "SUPPORTED_SYNAPSES", "SUPPORTED_LAGRANGIANS"]

#: The hamux v0.2 synapse classes ``from_hamux`` converts.
SUPPORTED_SYNAPSES = ("LinearSynapse", "LinearSynapseWithBias", "BiasSynapse", "ConvSynapse")
#: The functions of ``hamux.lagrangians`` ``from_hamux`` converts.
SUPPORTED_LAGRANGIANS = (
    "lagr_identity",
    "lagr_repu",
    "lagr_relu",
    "lagr_exp",
    "lagr_rexp",
    "lagr_tanh",
    "lagr_sigmoid",
    "lagr_softmax",
    "lagr_layernorm",
    "lagr_spherical_norm",
    "lagr_ghostmax",
)


# ---- Lagrangians ---------------------------------------------------------------------------


def _axes(axis: Any, shape: tuple[int, ...], what: str) -> tuple[int, ...]:
    """The axes hamux reduces over (``None``: all), as sorted non-negative ints."""
    rank = len(shape)
    if axis is None:
        return tuple(range(rank))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    hint = (
        f" hamux's axis={axis!r} must name axes (an int or a tuple of ints) of the layer of shape {shape}, or be None."
    )
    out = set()
    for a in items:
        out.add(parse_int(a, f"{what}: axis", minimum=-rank, maximum=rank - 1, error=ValidationError, hint=hint) % rank)
    return tuple(sorted(out))


def _beta(a: dict, what: str) -> dict:
    beta = parse_float(a["beta"], f"{what}: beta", error=ValidationError)
    # hamux_graph clips beta at min_beta (default 1e-6); a smaller positive beta stays exact
    return {"beta": beta, "min_beta": min(beta, 1e-6) if beta > 0 else 1e-6}


def _row_softmax(cls: type, a: dict, shape: tuple[int, ...], what: str) -> int:
    """The row axis of a logsumexp-type Lagrangian; hamux's is a scalar only when it reduces all axes."""
    axes = _axes(a["axis"], shape, what)
    if len(shape) == 1:
        return -1
    if len(axes) == len(shape):
        raise ValidationError(
            f"{what}: on the layer of shape {shape}, hamux takes one log-sum-exp over the whole layer "
            f"(axis={a['axis']!r}); hamux_graph's {cls.__name__} acts row by row along one axis and has no "
            f"equivalent for rank {len(shape)}. Use a vector (rank-1) layer in hamux, or build the layer "
            f"with hg.{cls.__name__}(axis=...) directly."
        )
    raise ValidationError(
        f"{what}: on the layer of shape {shape}, hamux's log-sum-exp over axis={a['axis']!r} is not a "
        "scalar, so hamux itself cannot compute this layer's activations or energy (jax.grad needs a "
        f"scalar). hamux_graph's {cls.__name__}(axis=...) sums the rows into a scalar: build the layer "
        "with it directly."
    )


def _row_norm(a: dict, shape: tuple[int, ...], what: str) -> tuple[int, Any]:
    """The axis and the hamux_graph ``delta`` of a hamux norm Lagrangian.

    hamux adds ``(delta * x).sum()`` to each of the ``R`` rows before summing them, so its
    linear term is ``R·⟨δ, x⟩``: hamux_graph's ``delta`` is ``R·δ``, which must be one value
    (or one vector along ``axis``) for every row.
    """
    axes = _axes(a["axis"], shape, what)
    if len(shape) == 1:
        axis = -1
    elif len(axes) == 1 and not isinstance(a["axis"], (tuple, list)):
        axis = axes[0]
    else:
        raise ValidationError(
            f"{what}: on the layer of shape {shape}, axis={a['axis']!r} normalises over several axes; "
            "hamux_graph's norm Lagrangians normalise row by row along one axis. Use one int axis."
        )
    d = shape[axis]
    rows = math.prod(shape) // d
    delta = a["delta"]
    if np.ndim(delta) == 0:
        return axis, rows * parse_float(delta, f"{what}: delta", error=ValidationError)
    arr = np.asarray(delta, dtype=np.float64)
    try:
        full = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValidationError(
            f"{what}: delta of shape {arr.shape} does not broadcast to the layer shape {shape}."
        ) from None
    per_row = np.moveaxis(full, axis, -1).reshape(-1, d)
    if not np.array_equal(per_row, np.broadcast_to(per_row[0], per_row.shape)):
        raise ValidationError(
            f"{what}: delta of shape {arr.shape} differs between the rows of the layer of shape {shape} "
            f"(axis {axis}); hamux_graph's delta is one scalar or one vector of length {d} shared by all rows."
        )
    return axis, rows * per_row[0]


def _norm(cls: type) -> Callable[[dict, tuple[int, ...], str], Lagrangian]:
    def convert(a, shape, what):
        axis, delta = _row_norm(a, shape, what)
        return cls(
            gamma=parse_float(a["gamma"], f"{what}: gamma", error=ValidationError),
            delta=delta,
            axis=axis,
            eps=parse_float(a["eps"], f"{what}: eps", error=ValidationError),
        )

    return convert


def _ghostmax(a: dict, shape: tuple[int, ...], what: str) -> Lagrangian:
    for name, plain in (("b", None), ("keepdims", False), ("return_sign", False)):
        if a[name] is not plain and (plain is None or bool(a[name])):
            raise ValidationError(
                f"{what}: {name}={a[name]!r} is not supported (it makes hamux's ghostmax a weighted, "
                f"non-scalar or (value, sign) function); leave {name} at {plain!r}."
            )
    return LGhostmax(axis=_row_softmax(LGhostmax, a, shape, what))


_CONVERTERS: dict[str, Callable[[dict, tuple[int, ...], str], Lagrangian]] = {
    "lagr_identity": lambda a, shape, what: LIdentity(),
    "lagr_repu": lambda a, shape, what: LRepu(n=parse_float(a["n"], f"{what}: n", error=ValidationError)),
    "lagr_relu": lambda a, shape, what: LRelu(),
    "lagr_exp": lambda a, shape, what: LExp(**_beta(a, what)),
    "lagr_rexp": lambda a, shape, what: LRexp(**_beta(a, what)),
    "lagr_tanh": lambda a, shape, what: LTanh(**_beta(a, what)),
    "lagr_sigmoid": lambda a, shape, what: LSigmoid(**_beta(a, what)),
    "lagr_softmax": lambda a, shape, what: LSoftmax(**_beta(a, what), axis=_row_softmax(LSoftmax, a, shape, what)),
    "lagr_layernorm": _norm(LLayerNorm),
    "lagr_spherical_norm": _norm(LSphericalNorm),
    "lagr_ghostmax": _ghostmax,
}


def _lagrangian(lagrangians: Any, fn: Any, shape: tuple[int, ...], where: str) -> Lagrangian:
    """The hamux_graph Lagrangian equal to hamux Lagrangian ``fn`` on a layer of ``shape``."""
    if isinstance(fn, Lagrangian):
        return fn
    base, kwargs = fn, {}
    if isinstance(fn, functools.partial):
        base, kwargs = fn.func, dict(fn.keywords)
    name = next((n for n in SUPPORTED_LAGRANGIANS if getattr(lagrangians, n) is base), None)
    if name is None:
        raise ValidationError(
            f"{where}: the Lagrangian {fn!r} is neither a function of hamux.lagrangians "
            f"({', '.join(SUPPORTED_LAGRANGIANS)}, plain or through functools.partial with keyword "
            "arguments) nor a hamux_graph Lagrangian, so from_hamux cannot convert it. Use one of those "
            "(a Lagrangian of your own: subclass hg.Lagrangian)."
        )
    params = list(inspect.signature(base).parameters.values())[1:]  # the first is the state
    known = [p.name for p in params]
    if isinstance(fn, functools.partial) and fn.args:
        raise ValidationError(
            f"{where}: functools.partial({name}, ...) binds positional arguments {fn.args!r}; bind "
            f"hyperparameters by keyword ({', '.join(known) or 'it has none'}), e.g. "
            f"functools.partial({name}, {known[0] if known else 'beta'}=...)."
        )
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ValidationError(
            f"{where}: {name} has no hyperparameter {', '.join(map(repr, unknown))}; its keyword arguments are {known}."
        )
    args = {p.name: kwargs.get(p.name, p.default) for p in params}
    missing = [k for k, v in args.items() if v is inspect.Parameter.empty]
    if missing:
        raise ValidationError(
            f"{where}: {name} needs {', '.join(missing)} (no default); bind it, e.g. "
            f"functools.partial({name}, {missing[0]}=3)."
        )
    what = f"{where}: {name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        return _CONVERTERS[name](args, shape, what)
    except ValidationError as err:
        if str(err).startswith(what):
            raise
        raise ValidationError(f"{what}: {err}") from None


# ---- synapses ------------------------------------------------------------------------------


def _array(module: Any, field: str, ndim: int, where: str) -> jax.Array | np.ndarray:
    value = getattr(module, field)
    if not isinstance(value, (jax.Array, np.ndarray)) or np.ndim(value) != ndim:
        raise ValidationError(
            f"{where}: {type(module).__name__}.{field} must be a {ndim}-d array, got shape {np.shape(value)}."
        )
    return value


def _need(shapes: list, expected: list, where: str, why: str) -> None:
    if [tuple(s) for s in shapes] != [tuple(e) for e in expected]:
        raise ValidationError(
            f"{where}: the connected layers have shapes {[tuple(s) for s in shapes]}, but {why} needs "
            f"{[tuple(e) for e in expected]}. Fix the hamux model (hamux would fail on it, or give a "
            "non-scalar energy)."
        )


def _synapse_parts(hmx: Any, syn: Any, shapes: list, where: str) -> list[tuple[str, Synapse, tuple[int, ...]]]:
    """``(name suffix, hamux_graph synapse, slots used)`` for one connection of hamux synapse ``syn``."""
    kind = type(syn)
    if kind is hmx.LinearSynapse or kind is hmx.LinearSynapseWithBias:
        W = _array(syn, "W", 2, where)
        _need(shapes, [(W.shape[0],), (W.shape[1],)], where, f"{kind.__name__} with W of shape {W.shape}")
        parts: list[tuple[str, Synapse, tuple[int, ...]]] = [("", SimpleDenseSynapse(W=W), (0, 1))]
        if kind is hmx.LinearSynapseWithBias:
            b = _array(syn, "b", 1, where)
            _need(shapes[1:], [b.shape], where, f"the bias b of shape {b.shape} (on the second layer)")
            parts.append(("_bias", DenseSynapse(W=b), (1,)))
        return parts
    if kind is hmx.BiasSynapse:
        b = _array(syn, "b", 1, where)
        _need(shapes, [b.shape], where, f"BiasSynapse with b of shape {b.shape}")
        return [("", DenseSynapse(W=b), (0,))]
    if kind is hmx.ConvSynapse:
        W = _array(syn, "W", 4, where)  # (C_out, C_in, kh, kw)
        if (
            len(shapes) != 2
            or any(len(s) != 3 for s in shapes)
            or shapes[0][-1] != W.shape[1]
            or shapes[1][-1] != W.shape[0]
        ):
            raise ValidationError(
                f"{where}: ConvSynapse with an OIHW kernel of shape {W.shape} connects an (H, W, {W.shape[1]}) "
                f"input to an (H', W', {W.shape[0]}) output, got layers of shapes {[tuple(s) for s in shapes]}."
            )
        try:
            return [
                (
                    "",
                    ConvSynapse(
                        tuple(W.shape[2:]),
                        strides=syn.window_strides,
                        padding=syn.padding,
                        use_bias=False,
                        kernel=W.transpose(2, 3, 1, 0),
                    ),
                    (0, 1),
                )
            ]
        except ValidationError as err:
            raise ValidationError(f"{where}: {err}") from None
    raise ValidationError(
        f"{where}: the synapse class {kind.__module__}.{kind.__qualname__} is not supported; from_hamux "
        f"converts the hamux classes {', '.join(SUPPORTED_SYNAPSES)}. Build that part with hamux_graph "
        "synapses directly (hg.register_synapse for a class of your own)."
    )


# ---- the graph -----------------------------------------------------------------------------


def from_hamux(hamux_ham: Any) -> tuple[HAM, CompiledHAM]:
    """Convert a hamux v0.2 ``HAM`` into a hamux_graph ``HAM`` and its compiled model.

    The compiled model's ``energy(xs)`` equals hamux's ``ham.energy(ham.activations(xs), xs)``
    and its ``dEdg(xs)`` equals ``ham.dEdact(ham.activations(xs), xs)``, for the same states
    ``xs`` (a dict keyed by the neuron names; hamux_graph also takes a leading batch axis).
    Weights are copied as they are (the conv kernel transposed); layers get ``tau=1`` and no
    layer bias. See the module docstring for the names of the synapse nodes (``key``, then
    ``f"{key}_{u}"`` for the ``u``-th further use of a shared hamux synapse) and what
    converts.

    Args:
        hamux_ham: a ``hamux.HAM`` (or a ``hamux.VectorizedHAM``, which is unwrapped).

    Returns:
        ``(ham, model)``: the graph (``hg.HAM``) and ``ham.compile(...)`` (``hg.CompiledHAM``).

    Raises:
        ImportError: without the ``hamux`` package (``pip install hamux_graph[interop]``).
        ValidationError: for input that is not a hamux HAM, a Lagrangian or synapse class
            that does not convert (the message names the neuron or synapse, the function or
            class and the argument), connections to unknown neurons or synapses, layer
            shapes a synapse cannot take, or names that collide.

    Example:
        >>> import contextlib, functools, io, jax.numpy as jnp, hamux as hmx, hamux_graph as hg
        >>> with contextlib.redirect_stdout(io.StringIO()):  # some hamux versions print "Post init"
        ...     neurons = {"v": hmx.NeuronLayer(hmx.lagr_identity, (3,)),
        ...                "h": hmx.NeuronLayer(functools.partial(hmx.lagr_softmax, beta=2.0), (4,))}
        >>> synapses = {"W": hmx.LinearSynapse(W=jnp.ones((3, 4)))}
        >>> old = hmx.HAM(neurons, synapses, [(("v", "h"), "W")])
        >>> ham, model = hg.interop.from_hamux(old)
        >>> xs = {"v": jnp.arange(3.0), "h": jnp.zeros(4)}
        >>> bool(jnp.allclose(model.energy(xs), old.energy(old.activations(xs), xs)))
        True
    """
    hmx = require("hamux", feature="hg.interop.from_hamux (hamux v0.2)")
    if type(hamux_ham) is hmx.VectorizedHAM:
        hamux_ham = hamux_ham.unvectorize()
    if type(hamux_ham) is not hmx.HAM:
        raise ValidationError(
            f"from_hamux: expected a hamux.HAM (or hamux.VectorizedHAM), got {type(hamux_ham).__module__}."
            f"{type(hamux_ham).__qualname__}."
        )
    ham = HAM()
    shapes = {}
    for name, neuron in hamux_ham.neurons.items():
        where = f"hamux neuron {name!r}"
        if type(neuron) is not hmx.NeuronLayer:
            raise ValidationError(f"{where}: expected a hamux.NeuronLayer, got {type(neuron).__qualname__}.")
        shape = (neuron.shape,) if isinstance(neuron.shape, int) else tuple(neuron.shape)
        lagrangian = _lagrangian(hmx.lagrangians, neuron.lagrangian, shape, where)
        try:
            ham.add_layer(name, Layer(lagrangian, shape=shape))
        except ValidationError as err:
            raise ValidationError(f"{where}: {err}") from None
        shapes[name] = tuple(ham.layers[name].shape)

    uses: dict[str, int] = {}
    taken = set(shapes)
    for i, connection in enumerate(hamux_ham.connections):
        layers, key = connection
        layers = tuple(layers)
        where = f"hamux connection {i} ({layers}, {key!r})"
        if key not in hamux_ham.hypersynapses:
            raise ValidationError(f"{where}: no hypersynapse named {key!r}; known: {list(hamux_ham.hypersynapses)}.")
        unknown = [n for n in layers if n not in shapes]
        if unknown:
            raise ValidationError(f"{where}: unknown neuron(s) {unknown}; known: {list(shapes)}.")
        syn = hamux_ham.hypersynapses[key]
        parts = _synapse_parts(hmx, syn, [shapes[n] for n in layers], f"hamux synapse {key!r} in {where}")
        u = uses.get(key, 0)
        uses[key] = u + 1
        base = str(key) if u == 0 else f"{key}_{u}"
        for suffix, synapse, slots in parts:
            node = base + suffix
            if node in taken:
                raise ValidationError(
                    f"{where}: the hamux_graph node name {node!r} (from hamux synapse {key!r}) is already "
                    "taken by a neuron or another synapse. Rename one of them in the hamux model."
                )
            taken.add(node)
            connected = [layers[s] for s in slots]
            if u == 0:
                ham.add_synapse(node, synapse, layers=connected)
            else:
                ham.add_synapse(node, shares=str(key) + suffix, layers=connected)
    return ham, ham.compile(key=jax.random.key(0))
