"""Hopfield pooling (hopfield-layers' ``HopfieldPooling``) as a HAM: learned queries retrieve from a set.

A set ``Y`` of ``n`` instances (``d`` features each) is a clamped layer; a query layer of
``q`` states (``d_q`` features each, identity Lagrangian) is joined to it by an energy
attention synapse with a softmax hidden Lagrangian (inverse temperature ``β``). With
``Q = g W_Q`` and ``K = Y W_K`` (per head), the energy of the query layer is

    E(x) = ½‖x − b‖² − (1/β) Σ_q logsumexp_k(β Q_q · K_k),        g = x − b,

and ``∂E/∂g = g − softmax(β Q Kᵀ) K W_Qᵀ``. One Euler step of size ``dt = τ = 1`` therefore
maps the query activations to

    g⁺ = softmax(β Q Kᵀ) V,        V = K W_Qᵀ,

the modern-Hopfield update (Ramsauer et al. 2021) that hopfield-layers' pooling applies,
with values tied to the keys by the energy (``V = K W_Qᵀ``). hopfield-layers' free value
projection and output projection are not part of any energy: here they are the readout
after the energy step, a dense synapse from the query layer to a softmax ``"label"`` layer.

The learned query states ``ξ`` (one row per query) are trainable parameters of the model:
the query layer's bias, ``ξ = −b``. Every free layer starts at ``x = 0``
(``hg.train.forward``), so the query layer's first activation is ``g = x − b = ξ``; with
``dt = 1``, step 1 pools (``g¹ = softmax(β ξ W_Q Kᵀ) V``, plus the readout's constant
feedback from the label layer's uniform start) and step 2 reads the pooled states out into
the label layer. ``hg.train.forward(model, sets, input="set", steps=2, dt=1.0,
read="logits")`` is the whole pooling classifier, and training it with ``hg.train`` learns
``ξ``, ``W_Q``, ``W_K`` and the readout by backpropagation through the two steps.
"""

from __future__ import annotations

import math
from typing import Any

from .._api import HAM
from .._errors import ValidationError
from .._internal.parse import parse_float, parse_int
from ..lagrangians.elementwise import LSoftmax
from ..layers import IdentityLayer, SoftmaxLayer
from ..synapses import AttentionSynapse, DenseSynapse
from ._checks import check_shape


__all__ = ["hopfield_pooling"]


def hopfield_pooling(
    set_shape: Any,
    num_queries: int = 1,
    zspace_dim: int = 32,
    num_classes: int = 2,
    query_dim: int | None = None,
    num_heads: int = 1,
    beta: float | None = None,
    stdinit: float = 0.02,
) -> HAM:
    """A set classifier: learned query states attend over a set, then a readout.

    Layers: ``"set"`` (``set_shape = (n, d)``, identity; clamp it to the instances),
    ``"query"`` (``(num_queries, query_dim)``, identity, with a learnable bias ``b``: the
    learned query states are ``ξ = −b``) and ``"label"`` (``SoftmaxLayer((num_classes,))``).
    Synapses: ``"pooling"`` (``AttentionSynapse(num_heads, zspace_dim,
    hidden_lagrangian=LSoftmax(beta))`` over ``("query", "set")``: ``W_Q (d_q, H, Z)``,
    ``W_K (d, H, Z)``) and ``"readout"`` (``DenseSynapse`` over ``("query", "label")``). One
    Euler step of size 1 on the query layer is the modern-Hopfield pooling step
    ``g⁺ = softmax(β Q Kᵀ) K W_Qᵀ`` (see the module docstring for the derivation); run
    ``steps=2, dt=1.0`` to pool and read out.

    Args:
        set_shape: ``(n, d)``: instances per set (pad smaller sets, e.g. by repeating their
            instances) and features per instance.
        num_queries: learned query states ``q``.
        zspace_dim: query/key dimension ``Z`` per head.
        num_classes: classes of the readout.
        query_dim: features ``d_q`` of a query state (default ``d``).
        num_heads: attention heads.
        beta: inverse temperature of the softmax over the instances (default ``1/√Z``).
        stdinit: standard deviation of the initial ``W_Q``, ``W_K`` and readout weights.

    Raises:
        ValidationError: for a ``set_shape`` that is not ``(n, d)`` or bad counts.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> ham = hg.zoo.create("hopfield_pooling", set_shape=(15, 32), num_queries=1, zspace_dim=16, num_classes=2)
        >>> sorted(ham.layers)
        ['label', 'query', 'set']
        >>> model = ham.compile(key=jax.random.key(0))
        >>> logits = hg.train.forward(model, jnp.ones((4, 15, 32)), input="set", steps=2, dt=1.0, read="logits")
        >>> logits.shape
        (4, 2)
    """
    shape = check_shape("hopfield_pooling", set_shape, rank=None, what="set_shape")
    if len(shape) != 2:
        raise ValidationError(
            f"zoo.hopfield_pooling: set_shape must be (instances, features), rank 2, got {shape}. Flatten each "
            "instance, e.g. (n, 28 * 28) for sets of MNIST digits."
        )
    n, d = shape
    num_queries = parse_int(num_queries, "zoo.hopfield_pooling: num_queries", minimum=1, error=ValidationError)
    zspace_dim = parse_int(zspace_dim, "zoo.hopfield_pooling: zspace_dim", minimum=1, error=ValidationError)
    num_classes = parse_int(num_classes, "zoo.hopfield_pooling: num_classes", minimum=2, error=ValidationError)
    num_heads = parse_int(num_heads, "zoo.hopfield_pooling: num_heads", minimum=1, error=ValidationError)
    query_dim = d if query_dim is None else query_dim
    query_dim = parse_int(query_dim, "zoo.hopfield_pooling: query_dim", minimum=1, error=ValidationError)
    beta = 1.0 / math.sqrt(zspace_dim) if beta is None else beta
    beta = parse_float(beta, "zoo.hopfield_pooling: beta", positive=True, error=ValidationError)

    ham = HAM()
    ham.add_layer("set", IdentityLayer((n, d)))
    ham.add_layer("query", IdentityLayer((num_queries, query_dim), use_bias=True))
    ham.add_layer("label", SoftmaxLayer((num_classes,)))
    ham.add_synapse(
        "pooling",
        AttentionSynapse(
            num_heads=num_heads, zspace_dim=zspace_dim, stdinit=stdinit, hidden_lagrangian=LSoftmax(beta=beta)
        ),
        layers=("query", "set"),
    )
    ham.add_synapse("readout", DenseSynapse(stdinit=stdinit), layers=("query", "label"))
    return ham
