"""Zoo associative memories since 2022: sparse modern Hopfield and distance-kernel memories.

Each has a ``"visible"`` layer that starts at a probe and relaxes to a stored pattern (use
``recall``):

- ``sparse_hopfield``: a modern Hopfield network whose memory layer is sparsemax (α = 2) or
  α-entmax, so that retrieval of a well separated pattern is exact (Hu et al. 2023);
- ``gaussian_memory``, ``epanechnikov_memory``, ``random_feature_memory``: one memory synapse
  over the visible layer (``GaussianMemorySynapse``, ``EpanechnikovMemorySynapse``,
  ``RandomFeatureMemorySynapse``).

The visible layer of the distance-kernel memories is an identity layer, whose energy
``½‖x‖²`` would add to the memory's ``−F(x)`` and shrink every fixed point towards zero
(with the Gaussian kernel to ``½ Σ_μ p_μ ξ_μ``). With ``self_coupling=True`` (default) a
fixed ``DenseSynapse`` ``"self"`` with ``W = I/2`` over ``(visible, visible)`` cancels it, so
the model's energy is exactly ``E(x) = −F(x)`` and its dynamics ``dx/dt = ∂F/∂x``: the
distance-form memory of the papers, whose minima are the stored patterns (or, for the
Epanechnikov kernel, centroids of overlapping patterns). Keep ``"self"`` out of training
(its ``N × N`` weights are a constant of the construction), or pass ``self_coupling=False``
for a memory with no ``N²`` term whose fixed points are scaled towards zero.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._api import HAM
from .._errors import ValidationError
from .._internal.parse import parse_float, parse_int, parse_key
from ..layers import EntmaxLayer, IdentityLayer, SparsemaxLayer
from ..synapses import DenseSynapse, EpanechnikovMemorySynapse, GaussianMemorySynapse, RandomFeatureMemorySynapse
from ._checks import check_shape


__all__ = ["sparse_hopfield", "gaussian_memory", "epanechnikov_memory", "random_feature_memory"]


def _patterns(factory: str, patterns: Any, input_shape: Any, num_memories: Any) -> tuple[Array | None, tuple, int]:
    """``(patterns or None, pattern shape, K)``, checked."""
    if patterns is None:
        if input_shape is None or num_memories is None:
            raise ValidationError(
                f"zoo.{factory}: give `patterns` (shape (K, *pattern_shape)) to store, or `input_shape` and "
                "`num_memories` for a memory with random (trainable) patterns."
            )
        return (
            None,
            check_shape(factory, input_shape),
            parse_int(num_memories, f"zoo.{factory}: num_memories", minimum=1, error=ValidationError),
        )
    p = jnp.asarray(patterns, dtype=jnp.result_type(float))
    if p.ndim < 2 or 0 in p.shape:
        raise ValidationError(
            f"zoo.{factory}: patterns must have shape (K, *pattern_shape) with K >= 1 stored patterns, got shape "
            f"{tuple(p.shape)}. Stack a single pattern with patterns[None]."
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


def sparse_hopfield(
    patterns: Float[ArrayLike, "K ..."] | None = None,
    *,
    input_shape: Any = None,
    num_memories: int | None = None,
    beta: float | None = None,
    alpha: float = 2.0,
    hidden_tau: float = 0.1,
) -> HAM:
    """Sparse modern Hopfield network: a sparsemax (or α-entmax) layer over the stored patterns.

    As ``modern_hopfield`` (layers ``"visible"``, identity, and ``"memories"``, ``K`` neurons
    with the fast ``hidden_tau``; synapse ``"store"`` with the flattened patterns ``Ξ`` as
    weights) with the softmax replaced by ``LSparsemax(β)`` (``alpha=2``) or
    ``LEntmax(alpha, β)``. At a fixed point ``x = Ξ·sparsemax(β Ξᵀ x)``; when the probe's
    pattern leads the others by more than ``1/β`` in overlap, the memory layer is exactly
    one-hot and the visible state is exactly the stored pattern (Hu et al. 2023).

    Args:
        patterns: ``(K, *shape)`` array of patterns; omit for random trainable weights (then
            give ``input_shape`` and ``num_memories``).
        input_shape: pattern shape, when ``patterns`` is omitted.
        num_memories: number of memories, when ``patterns`` is omitted.
        beta: inverse temperature (default ``4/√N``).
        alpha: entmax parameter of the memory layer (2 = sparsemax, 1 = softmax).
        hidden_tau: time constant of the memories layer (fast; keep ``dt <= hidden_tau``).

    Returns:
        The ``HAM`` (layers ``"visible"``, ``"memories"``; synapse ``"store"``).

    Raises:
        ValidationError: for badly shaped patterns, ``alpha < 1`` or a non-positive ``beta``.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> ham = hg.zoo.sparse_hopfield(np.ones((4, 16)), beta=1.0)
        >>> type(ham.layers["memories"].lagrangian).__name__
        'LSparsemax'
    """
    p, shape, k = _patterns("sparse_hopfield", patterns, input_shape, num_memories)
    N = math.prod(shape)
    b = (
        4.0 / math.sqrt(N)
        if beta is None
        else parse_float(beta, "zoo.sparse_hopfield: beta", positive=True, error=ValidationError)
    )
    a = parse_float(alpha, "zoo.sparse_hopfield: alpha", minimum=1, error=ValidationError)
    if a == 2.0:
        memories = SparsemaxLayer((k,), beta=b, tau=hidden_tau)
    else:
        memories = EntmaxLayer((k,), alpha=a, beta=b, tau=hidden_tau)
    ham = HAM()
    ham.add_layer("visible", IdentityLayer(shape))
    ham.add_layer("memories", memories)
    W = None if p is None else p.reshape(k, -1).T
    ham.add_synapse("store", DenseSynapse(W=W, stdinit=1.0 / math.sqrt(N)), layers=("visible", "memories"))
    return ham


def _memory_ham(shape: tuple, memory: Any, self_coupling: bool) -> HAM:
    ham = HAM()
    ham.add_layer("visible", IdentityLayer(shape))
    ham.add_synapse("memory", memory, layers=("visible",))
    if self_coupling:
        N = math.prod(shape)
        ham.add_synapse("self", DenseSynapse(W=0.5 * jnp.eye(N)), layers=("visible", "visible"))
    return ham


def gaussian_memory(
    patterns: Float[ArrayLike, "K ..."] | None = None,
    *,
    input_shape: Any = None,
    num_memories: int | None = None,
    beta: float | None = None,
    self_coupling: bool = True,
) -> HAM:
    """Gaussian-kernel dense associative memory: ``E(x) = −(1/β) log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)``.

    One ``"visible"`` identity layer with a ``GaussianMemorySynapse`` ``"memory"`` (and the
    ``"self"`` coupling that makes the energy exactly ``−F``; see the module docstring). The
    dynamics ``dx/dt = Σ_μ p_μ(x)(ξ_μ − x)`` with ``p = softmax(−(β/2)‖x − ξ‖²)`` have a
    fixed point at every well separated pattern for large β; patterns closer than
    ``≈ 2/√β`` merge into one minimum.

    Args:
        patterns: ``(K, *shape)`` array of patterns; omit for random trainable patterns
            (then give ``input_shape`` and ``num_memories``).
        input_shape: pattern shape, when ``patterns`` is omitted.
        num_memories: number of memories, when ``patterns`` is omitted.
        beta: inverse kernel width (default ``4/√N``: for patterns of equal norm the energy
            is then the modern Hopfield energy at the same β).
        self_coupling: add the ``"self"`` synapse that cancels the visible ``½‖x‖²``.

    Returns:
        The ``HAM`` (layer ``"visible"``; synapses ``"memory"`` and, optionally, ``"self"``).

    Raises:
        ValidationError: for badly shaped patterns or a non-positive ``beta``.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> ham = hg.zoo.gaussian_memory(np.ones((4, 16)), beta=0.5)
        >>> sorted(ham.synapses)
        ['memory', 'self']
    """
    p, shape, k = _patterns("gaussian_memory", patterns, input_shape, num_memories)
    b = (
        4.0 / math.sqrt(math.prod(shape))
        if beta is None
        else parse_float(beta, "zoo.gaussian_memory: beta", positive=True, error=ValidationError)
    )
    return _memory_ham(shape, GaussianMemorySynapse(k, beta=b, patterns=p), self_coupling)


def epanechnikov_memory(
    patterns: Float[ArrayLike, "K ..."] | None = None,
    *,
    input_shape: Any = None,
    num_memories: int | None = None,
    beta: float | None = None,
    eps: float = 1e-3,
    self_coupling: bool = True,
) -> HAM:
    """Epanechnikov (log-sum-ReLU) dense associative memory with a Gaussian fallback.

    One ``"visible"`` identity layer with an ``EpanechnikovMemorySynapse`` ``"memory"`` (and
    the ``"self"`` coupling, as in ``gaussian_memory``): ``E(x) = −(1/β) log Σ_μ
    [relu(1 − (β/2)‖x − ξ_μ‖²) + eps·exp(−(β/2)‖x − ξ_μ‖²)]``. Each pattern has a support of
    radius ``√(2/β)``; where supports overlap the energy has extra ("emergent") minima at the
    centroids of the overlapping patterns.

    Args:
        patterns: ``(K, *shape)`` array of patterns; omit for random trainable patterns
            (then give ``input_shape`` and ``num_memories``).
        input_shape: pattern shape, when ``patterns`` is omitted.
        num_memories: number of memories, when ``patterns`` is omitted.
        beta: inverse kernel width (default ``2/N``: support radius ``√N``, the distance of
            ±1 patterns that differ in a quarter of their entries).
        eps: weight of the Gaussian fallback (``> 0``).
        self_coupling: add the ``"self"`` synapse that cancels the visible ``½‖x‖²``.

    Returns:
        The ``HAM`` (layer ``"visible"``; synapses ``"memory"`` and, optionally, ``"self"``).

    Raises:
        ValidationError: for badly shaped patterns, a non-positive ``beta`` or ``eps``.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> ham = hg.zoo.epanechnikov_memory(np.ones((4, 16)))
        >>> round(float(ham.synapses["memory"].beta), 4)
        0.125
    """
    p, shape, k = _patterns("epanechnikov_memory", patterns, input_shape, num_memories)
    b = (
        2.0 / math.prod(shape)
        if beta is None
        else parse_float(beta, "zoo.epanechnikov_memory: beta", positive=True, error=ValidationError)
    )
    return _memory_ham(shape, EpanechnikovMemorySynapse(k, beta=b, eps=eps, patterns=p), self_coupling)


def random_feature_memory(
    patterns: Float[ArrayLike, "K ..."] | None = None,
    *,
    num_features: int = 4096,
    input_shape: Any = None,
    beta: float | None = None,
    eps: float = 1e-3,
    self_coupling: bool = True,
    key: PRNGKeyArray | None = None,
) -> HAM:
    """Distributed (random-feature) dense associative memory: the Gaussian memory through features.

    One ``"visible"`` identity layer with a ``RandomFeatureMemorySynapse`` ``"memory"`` (and
    the ``"self"`` coupling, as in ``gaussian_memory``). The patterns are not kept: only
    ``T = Σ_μ φ(ξ_μ)``, of length ``num_features``; the energy approaches
    ``gaussian_memory``'s as ``num_features`` grows.

    Args:
        patterns: ``(K, *shape)`` patterns to store now (needs ``key``); omit for an empty
            memory of ``input_shape`` (features drawn at compile time; store into the compiled
            model's synapse later).
        num_features: feature dimension (even).
        input_shape: pattern shape, when ``patterns`` is omitted.
        beta: inverse kernel width (default ``4/√N``).
        eps: scale of the guard where the kernel estimate is ``≤ 0``.
        self_coupling: add the ``"self"`` synapse that cancels the visible ``½‖x‖²``.
        key: draws the random frequencies (required with ``patterns``).

    Returns:
        The ``HAM`` (layer ``"visible"``; synapses ``"memory"`` and, optionally, ``"self"``).

    Raises:
        ValidationError: for badly shaped patterns, patterns without a ``key``, an odd
            ``num_features`` or a non-positive ``beta``.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> ham = hg.zoo.random_feature_memory(np.ones((4, 16)), num_features=256, key=jax.random.key(0))
        >>> ham.synapses["memory"].T.shape
        (256,)
    """
    factory = "random_feature_memory"
    parse_int(num_features, f"zoo.{factory}: num_features", minimum=2, error=ValidationError)
    if patterns is None:
        shape = check_shape(factory, input_shape if input_shape is not None else ())
        p = None
    else:
        p, shape, _ = _patterns(factory, patterns, input_shape, None)
    b = (
        4.0 / math.sqrt(math.prod(shape))
        if beta is None
        else parse_float(beta, f"zoo.{factory}: beta", positive=True, error=ValidationError)
    )
    memory = RandomFeatureMemorySynapse(num_features, beta=b, eps=eps)
    if p is not None:
        if key is None:
            raise ValidationError(
                f"zoo.{factory}: storing patterns draws the random features; pass key=jax.random.key(...)."
            )
        memory = memory.store(p, key=parse_key(key, f"zoo.{factory}: key"))
    return _memory_ham(shape, memory, self_coupling)
