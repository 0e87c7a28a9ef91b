"""Zoo associative memories: classical Hopfield, dense associative memory, modern Hopfield.

Each has a ``"visible"`` layer that starts at a probe and relaxes to a stored pattern
(``recall``).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._api import HAM
from .._errors import StateError, ValidationError
from .._internal.parse import parse_float, parse_int
from ..lagrangians.elementwise import LRepu
from ..layers import IdentityLayer, Layer, SoftmaxLayer, TanhLayer
from ..memory.binary import rule as storage_rule
from ..synapses import DenseSynapse
from ._checks import check_shape


__all__ = ["classical_hopfield", "dense_associative_memory", "modern_hopfield", "recall"]


def _patterns(factory: str, patterns: Any, input_shape: Any, num_memories: Any) -> tuple[Array | None, tuple, int]:
    if patterns is None:
        if input_shape is None or num_memories is None:
            raise ValidationError(
                f"zoo.{factory}: give `patterns` (shape (K, *pattern_shape)) to store, or `input_shape` and "
                "`num_memories` for a memory with random (trainable) weights."
            )
        return (
            None,
            check_shape(factory, input_shape),
            parse_int(num_memories, f"zoo.{factory}: num_memories", minimum=1, error=ValidationError),
        )
    if np.iscomplexobj(patterns):
        raise ValidationError(
            f"zoo.{factory}: patterns are complex; stored patterns are real (the imaginary part would be dropped). "
            "Pass patterns.real if that is what you mean."
        )
    p = jnp.asarray(patterns, dtype=jnp.result_type(float))
    if not isinstance(p, jax.core.Tracer) and not bool(jnp.isfinite(p).all()):
        raise ValidationError(f"zoo.{factory}: patterns hold non-finite values (nan or inf); store finite patterns.")
    if p.ndim < 2 or p.shape[0] < 1 or 0 in p.shape:
        raise ValidationError(
            f"zoo.{factory}: patterns must have shape (K, *pattern_shape) with K >= 1 stored patterns, got shape "
            f"{tuple(p.shape)}. Stack single patterns with patterns[None]."
        )
    if input_shape is not None and check_shape(factory, input_shape) != tuple(p.shape[1:]):
        raise ValidationError(
            f"zoo.{factory}: input_shape {tuple(input_shape)} does not match the patterns' shape {tuple(p.shape[1:])}."
        )
    if (
        num_memories is not None
        and parse_int(num_memories, f"zoo.{factory}: num_memories", minimum=1, error=ValidationError) != p.shape[0]
    ):
        raise ValidationError(f"zoo.{factory}: num_memories={num_memories} but {p.shape[0]} patterns were given.")
    return p, tuple(p.shape[1:]), int(p.shape[0])


def classical_hopfield(
    patterns: Float[ArrayLike, "K ..."] | None = None,
    *,
    input_shape: Any = None,
    beta: float = 4.0,
    rule: str = "hebbian",
) -> HAM:
    """Classical Hopfield network with Hebbian weights ``W = (1/N) Σ_μ ξ_μ ξ_μᵀ`` (zero diagonal).

    One ``"visible"`` tanh layer with a self-connection ``"hebb"``. The synapse's energy is
    ``−gᵀ W' g`` with ``W' = W/2``, so ``∂E/∂g = x − W g`` and the fixed points satisfy
    ``x = W tanh(βx)``: the classical update. Capacity is about ``0.14 N`` patterns with
    Hebb's rule; ``rule="storkey"`` or ``"pseudo_inverse"`` store more (see ``hg.memory``).

    Args:
        patterns: ``(K, *shape)`` array of ±1 patterns to store; omit (and give
            ``input_shape``) for random trainable weights.
        input_shape: the pattern shape, when ``patterns`` is omitted.
        beta: inverse temperature of the visible tanh layer.
        rule: the storage rule for ``W``: ``"hebbian"``, ``"storkey"`` or
            ``"pseudo_inverse"`` (``hg.memory.hebbian`` etc. on the flattened patterns).

    Returns:
        The ``HAM`` (layer ``"visible"``, synapse ``"hebb"``).

    Raises:
        ValidationError: for badly shaped or non-±1 patterns, or an unknown rule.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> ham = hg.zoo.classical_hopfield(np.sign(np.random.default_rng(0).normal(size=(3, 32))))
        >>> ham.connections("hebb")
        ('visible', 'visible')
    """
    store = storage_rule(rule, where="zoo.classical_hopfield")
    if patterns is None:
        p, shape = None, check_shape("classical_hopfield", input_shape if input_shape is not None else ())
    else:
        p, shape, _ = _patterns("classical_hopfield", patterns, input_shape, None)
    W = None if p is None else 0.5 * store(p.reshape(p.shape[0], -1))
    ham = HAM()
    ham.add_layer("visible", TanhLayer(shape, beta=beta))
    ham.add_synapse("hebb", DenseSynapse(W=W), layers=("visible", "visible"))
    return ham


def _store(visible: Layer, memories: Layer, W: Any, stdinit: float) -> HAM:
    """Two layers, "visible" and "memories", joined by the dense synapse "store"."""
    ham = HAM()
    ham.add_layer("visible", visible)
    ham.add_layer("memories", memories)
    ham.add_synapse("store", DenseSynapse(W=W, stdinit=stdinit), layers=("visible", "memories"))
    return ham


def dense_associative_memory(
    patterns: Float[ArrayLike, "K ..."] | None = None,
    *,
    input_shape: Any = None,
    num_memories: int | None = None,
    n: float = 5.0,
    beta: float = 1.0,
    scale: float | None = None,
    hidden_tau: float = 0.1,
) -> HAM:
    """Dense associative memory (Krotov–Hopfield): a rectified-power layer of stored patterns.

    Layers ``"visible"`` (tanh, β) and ``"memories"`` (``K`` neurons, ``LRepu(n)``, fast
    time constant ``hidden_tau``), joined by the synapse ``"store"`` whose weights are the
    flattened patterns times ``scale`` (default ``1/√N``). At a fixed point the memories
    hold the overlaps ``m_μ = scale·ξ_μ·g`` and the visible state is
    ``x = scale·Σ_μ ξ_μ relu(m_μ)^{n−1}``: the energy ``−Σ_μ F(m_μ)`` with ``F(m) = m₊ⁿ/n``.

    Args:
        patterns: ``(K, *shape)`` array of ±1 patterns; omit for random trainable weights
            (then give ``input_shape`` and ``num_memories``).
        input_shape: pattern shape, when ``patterns`` is omitted.
        num_memories: number of memories, when ``patterns`` is omitted.
        n: power of the rectified polynomial (``n > 2`` stores more than ``0.14 N``).
        beta: inverse temperature of the visible tanh layer.
        scale: weight scale (default ``1/√N``).
        hidden_tau: time constant of the memories layer (fast; keep ``dt <= hidden_tau``).

    Returns:
        The ``HAM`` (layers ``"visible"``, ``"memories"``; synapse ``"store"``).

    Raises:
        ValidationError: for badly shaped patterns.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> ham = hg.zoo.dense_associative_memory(np.ones((4, 16)), n=3)
        >>> ham.layers["memories"].shape
        (4,)
    """
    p, shape, k = _patterns("dense_associative_memory", patterns, input_shape, num_memories)
    N = math.prod(shape)
    s = 1.0 / math.sqrt(N) if scale is None else float(scale)
    W = None if p is None else s * p.reshape(k, -1).T
    return _store(TanhLayer(shape, beta=beta), Layer(LRepu(n=n), shape=(k,), tau=hidden_tau), W, s)


def modern_hopfield(
    patterns: Float[ArrayLike, "K ..."] | None = None,
    *,
    input_shape: Any = None,
    num_memories: int | None = None,
    beta: float | None = None,
    hidden_tau: float = 0.1,
) -> HAM:
    """Modern (continuous) Hopfield network: a softmax layer over the stored patterns.

    Layers ``"visible"`` (identity) and ``"memories"`` (``K`` neurons, ``LSoftmax(β)``,
    fast ``hidden_tau``), joined by ``"store"`` whose weights are the flattened patterns
    ``Ξ`` (shape ``(N, K)``). At a fixed point ``x = Ξ softmax(β Ξᵀ x)``: the update rule
    of Ramsauer et al. (2020), retrieving a stored pattern in one step when the patterns
    are well separated.

    Args:
        patterns: ``(K, *shape)`` array of patterns; omit for random trainable weights
            (then give ``input_shape`` and ``num_memories``).
        input_shape: pattern shape, when ``patterns`` is omitted.
        num_memories: number of memories, when ``patterns`` is omitted.
        beta: inverse temperature (default ``4/√N``; larger separates similar patterns).
        hidden_tau: time constant of the memories layer (fast; keep ``dt <= hidden_tau``).

    Returns:
        The ``HAM`` (layers ``"visible"``, ``"memories"``; synapse ``"store"``).

    Raises:
        ValidationError: for badly shaped patterns.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> ham = hg.zoo.modern_hopfield(np.ones((4, 16)), beta=1.0)
        >>> ham.connections("store")
        ('visible', 'memories')
    """
    p, shape, k = _patterns("modern_hopfield", patterns, input_shape, num_memories)
    N = math.prod(shape)
    b = (
        4.0 / math.sqrt(N)
        if beta is None
        else parse_float(beta, "modern_hopfield: beta", positive=True, error=ValidationError)
    )
    W = None if p is None else p.reshape(k, -1).T
    return _store(IdentityLayer(shape), SoftmaxLayer((k,), beta=b, tau=hidden_tau), W, 1.0 / math.sqrt(N))


def recall(
    model: Any,
    probes: Float[ArrayLike, "..."],  # (B, *visible shape), or one pattern
    *,
    visible: str = "visible",
    steps: int = 100,
    dt: float = 0.1,
) -> tuple[Float[Array, "..."], Float[Array, " {steps}+1 *batch"]]:
    """Retrieve memories: start the visible layer at ``probes`` (others at zero) and relax.

    Args:
        model: a compiled associative memory (e.g. ``modern_hopfield(...).compile(...)``).
        probes: corrupted patterns, shape ``(B, *visible shape)`` (or one pattern).
        visible: the name of the visible layer.
        steps: Euler steps.
        dt: step size (keep ``dt <= hidden_tau``).

    Returns:
        ``(activations of the visible layer, energies of shape (steps + 1, B))``; compare
        ``sign`` of the activations with stored ±1 patterns.

    Raises:
        StateError: for an unknown layer or probes of the wrong shape.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> pats = np.sign(np.random.default_rng(0).normal(size=(8, 32)))
        >>> model = hg.zoo.modern_hopfield(pats, beta=0.5).compile(key=jax.random.key(0))
        >>> out, energies = hg.zoo.recall(model, pats[:2] * np.where(np.arange(32) < 4, -1, 1))
        >>> bool((np.sign(out) == pats[:2]).all())
        True
    """
    if visible not in model.layer_names:
        raise StateError(f"recall: no layer {visible!r} in this model; its layers are {list(model.layer_names)}.")
    probes = jnp.asarray(probes, dtype=jnp.result_type(float))
    shape = model.shapes[model.layer_index(visible)]
    single = probes.shape == shape
    if single:
        probes = probes[None]
    if probes.shape[1:] != shape:
        raise StateError(f"recall: probes have shape {probes.shape}, expected (batch,) + {shape}.")
    xs = model.init_states(batch_size=probes.shape[0])
    xs[visible] = probes
    xs, energies = model.run(xs, steps=steps, dt=dt)
    out = model.activations(xs)[visible]
    return (out[0], energies[:, 0]) if single else (out, energies)
