"""The Energy Transformer (Hoover et al. 2023) as a HAM: one token layer, two synapses.

The energy of token states ``x (T, D)`` with activations ``g = LN(x)`` (ET's energy layer
norm: a scalar ``γ``, a vector ``δ``) is

    E = E_layer(x) − (1/β) Σ_h Σ_q logsumexp_k(β Q[h,q]·K[h,k]) − ½ Σ_t Σ_μ relu(g_t · ξ_μ)²,

``Q[h,q] = Wq_hᵀ g_q`` and ``K[h,k] = Wk_hᵀ g_k`` (``Y`` dimensions per head, ``β = 1/√Y`` by
default), ``E_layer`` the Legendre energy of the layer norm. The image pipeline around it
(patches, encoder and decoder, CLS/MASK tokens, positions) is ``hamux_graph.vision``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._api import HAM
from .._errors import ValidationError
from .._internal.parse import parse_bool, parse_int
from ..lagrangians.elementwise import LLayerNorm, LRelu, LSoftmax
from ..layers import Layer
from ..synapses import DenseMatrixSynapseWithHiddenLayer, SelfAttentionSynapse
from ..vision import num_patches
from ._checks import check_shape


__all__ = ["energy_transformer"]


def energy_transformer(
    image_shape: Any = (28, 28, 1),
    patch_size: Any = (4, 4),
    dim: int = 64,
    num_heads: int = 4,
    zspace_dim: int = 16,
    num_memories: int = 256,
    exclude_self: bool = False,
    beta: float | None = None,
    eps: float = 1e-5,
    stdinit: float = 0.02,
    published_update: bool = False,
) -> HAM:
    """An Energy Transformer over the patch tokens of ``(H, W, C)`` images.

    Layer ``"tokens"`` (``(1 + NP, dim)``: the CLS token, then one token per patch, row-major;
    ``LayerNormLayer`` with scalar ``γ = 1``, vector ``δ = 0`` of length ``dim``, no bias; the
    only layer). Synapses ``"attention"`` (``SelfAttentionSynapse(num_heads, zspace_dim,
    hidden_lagrangian=LSoftmax(beta))``, weights ``Wq``/``Wk`` ``(dim, heads, Y)``) and
    ``"memory"`` (``DenseMatrixSynapseWithHiddenLayer(nhid=num_memories, do_ravel=False)``
    with ``LRelu``: the ReLU² Hopfield memory ``−½ Σ relu(g·ξ)²``, ``ξ`` of shape
    ``(dim, num_memories)``). Use ``hg.vision.patch_pipeline(image_shape, patch_size, dim,
    key=...)`` for the encoder, decoder and embeddings that build the initial token states.

    Args:
        image_shape: ``(height, width, channels)``.
        patch_size: ``(p, q)`` (or one int); must tile the image.
        dim: token dimension ``D``.
        num_heads: attention heads.
        zspace_dim: query/key dimension ``Y`` per head.
        num_memories: Hopfield memories ``M``.
        exclude_self: leave each token's score with itself out of the attention (``B ≠ C``
            in the paper; the published code keeps it, ``False``).
        beta: attention inverse temperature (default ``1/√zspace_dim``).
        eps: the layer norm's ``eps``.
        stdinit: standard deviation of the initial attention and memory weights.
        published_update: build the token layer with ``layer_energy=False``, so that the
            energy is ``E_attn + E_memory`` and ``model.step(xs, dt=α)`` is the published
            update ``x ← x − α ∂(E_attn + E_memory)/∂g`` (no Legendre leak term).

    Returns:
        The ``HAM``.

    Raises:
        ValidationError: for a geometry that does not tile or bad sizes.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.zoo.create("energy_transformer", image_shape=(8, 8, 1), patch_size=(4, 4), dim=16)
        >>> ham.layers["tokens"].shape, sorted(ham.synapses)
        ((5, 16), ['attention', 'memory'])
    """
    shape = check_shape("energy_transformer", image_shape, rank=3, what="image_shape")
    try:
        n = num_patches(shape, patch_size)
    except ValueError as err:
        raise ValidationError(f"zoo.energy_transformer: {err}") from None
    D = parse_int(dim, "zoo.energy_transformer: dim", minimum=1, error=ValidationError)
    Y = parse_int(zspace_dim, "zoo.energy_transformer: zspace_dim", minimum=1, error=ValidationError)
    M = parse_int(num_memories, "zoo.energy_transformer: num_memories", minimum=1, error=ValidationError)
    published = parse_bool(published_update, "zoo.energy_transformer: published_update", error=ValidationError)
    if beta is None:
        beta = 1.0 / math.sqrt(Y)
    ham = HAM()
    norm = LLayerNorm(gamma=1.0, delta=np.zeros(D), eps=eps)
    ham.add_layer("tokens", Layer(norm, shape=(1 + n, D), layer_energy=not published))
    ham.add_synapse(
        "attention",
        SelfAttentionSynapse(
            num_heads=num_heads,
            zspace_dim=Y,
            stdinit=stdinit,
            hidden_lagrangian=LSoftmax(beta=beta),
            exclude_self=exclude_self,
        ),
        layers=("tokens",),
    )
    ham.add_synapse(
        "memory",
        DenseMatrixSynapseWithHiddenLayer(nhid=M, stdinit=stdinit, hidden_lagrangian=LRelu(), do_ravel=False),
        layers=("tokens",),
    )
    return ham
