"""Zoo classifiers (the 2022 HAMUX families): ``hn``, ``conv_ham``, ``energy_attn``.

Each has a clamped ``"input"`` layer and a softmax ``"label"`` layer that is read out after
a few steps of energy descent (see ``hamux_graph.train.forward``).
"""

from __future__ import annotations

import math
from typing import Any

from .._api import HAM
from .._errors import ValidationError
from .._internal.parse import parse_int
from ..lagrangians.elementwise import Lagrangian, LSoftmax
from ..layers import IdentityLayer, LayerNormLayer, SoftmaxLayer, TanhLayer
from ..synapses import (
    AttentionSynapse,
    ConvSynapse,
    ConvSynapseWithPool,
    DenseMatrixSynapseWithHiddenLayer,
    SelfAttentionSynapse,
)
from ._checks import check_shape, hidden_lagrangian


__all__ = ["hn", "conv_ham", "energy_attn"]


def hn(
    input_shape: Any = (8, 8),
    num_classes: int = 10,
    *,
    nhid: int = 256,
    hidden: str | Lagrangian = "relu",
    n: float = 5.0,
    beta: float = 1.0,
    label_beta: float = 1.0,
    stdinit: float | None = None,
    label_bias: bool = True,
) -> HAM:
    """Dense Hopfield classifier: ``input`` and ``label`` coupled through ``nhid`` hidden memories.

    The energy of the one synapse is ``−L_hid(g_in W_in + g_label W_label)``: the hidden
    neurons see the image and the label at once, and pull both toward stored memories.

    Args:
        input_shape: shape of one input sample (e.g. ``(8, 8)`` or ``(784,)``).
        num_classes: number of classes (the label layer's size).
        nhid: number of hidden memories.
        hidden: ``"relu"``, ``"repu"`` (power ``n``), ``"softmax"`` (inverse temperature
            ``beta``) or any ``hg.Lagrangian``.
        n: power of the repu hidden Lagrangian.
        beta: inverse temperature of the softmax hidden Lagrangian.
        label_beta: inverse temperature of the label softmax layer.
        stdinit: standard deviation of the initial weights (default 0.02, or 0.3 for the
            softmax hidden Lagrangian, whose memories need distinct scores to start learning).
        label_bias: give the label layer a learnable bias.

    Returns:
        The ``HAM`` with layers ``"input"`` (identity) and ``"label"`` (softmax) and the
        synapse ``"hidden"``.

    Raises:
        ValidationError: for a bad shape, class count or hidden Lagrangian.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.zoo.hn((8, 8), 10, hidden="softmax", beta=0.5)
        >>> ham.connections("hidden")
        ('input', 'label')
    """
    shape = check_shape("hn", input_shape)
    c = parse_int(num_classes, "zoo.hn: num_classes", minimum=2, error=ValidationError)
    nhid = parse_int(nhid, "zoo.hn: nhid", minimum=1, error=ValidationError)
    lag = hidden_lagrangian("hn", hidden, n, beta)
    if stdinit is None:
        stdinit = 0.3 if isinstance(lag, LSoftmax) else 0.02
    ham = HAM()
    ham.add_layer("input", IdentityLayer(shape))
    ham.add_layer("label", SoftmaxLayer((c,), beta=label_beta, use_bias=label_bias))
    ham.add_synapse(
        "hidden",
        DenseMatrixSynapseWithHiddenLayer(nhid=nhid, hidden_lagrangian=lag, stdinit=stdinit),
        layers=("input", "label"),
    )
    return ham


def _out_shape(factory: str, syn: Any, input_shape: tuple[int, ...], channels: int) -> tuple[int, ...]:
    try:
        return tuple(syn.output_shape(input_shape, channels))
    except ValidationError as err:
        raise ValidationError(f"zoo.{factory}: input_shape {input_shape} does not fit the convolution: {err}") from None


def conv_ham(
    input_shape: Any = (8, 8, 1),
    num_classes: int = 10,
    *,
    channels: int = 16,
    kernel_size: int = 3,
    pool_type: str = "avg",
    pool_window: int = 2,
    pool_stride: int = 2,
    nhid: int = 128,
    hidden: str | Lagrangian = "relu",
    n: float = 5.0,
    beta: float = 1.0,
    feature_beta: float = 1.0,
    stdinit: float | None = None,
    label_bias: bool = True,
) -> HAM:
    """Convolutional HAM classifier: image → conv + pooling → features → hidden memories ↔ label.

    Layers ``"input"`` (identity, ``(H, W, C)``), ``"features"`` (tanh, the pooled
    convolution's shape with ``channels`` channels) and ``"label"`` (softmax). Synapses
    ``"conv"`` (``ConvSynapseWithPool``, 'SAME' convolution then ``pool_type`` pooling)
    and ``"hidden"`` (``DenseMatrixSynapseWithHiddenLayer`` over features and label).

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        num_classes: number of classes.
        channels: feature channels of the convolution.
        kernel_size: convolution kernel size.
        pool_type: ``"avg"`` or ``"max"``.
        pool_window: pooling window.
        pool_stride: pooling stride.
        nhid: hidden memories between features and label.
        hidden: hidden Lagrangian (``"relu"``, ``"repu"``, ``"softmax"`` or a Lagrangian).
        n: power of the repu hidden Lagrangian.
        beta: inverse temperature of the softmax hidden Lagrangian.
        feature_beta: β of the tanh feature layer.
        stdinit: standard deviation of the dense initial weights. Default
            ``0.5 / (√F + √nhid)`` for ``F`` feature units: the largest singular value of
            the random ``F × nhid`` matrix ``W`` is then about 0.5, so the features'
            self-excitation through the hidden memories (gain ``σ_max(W)² ≤ 0.25``) stays
            below their unit decay and the dynamics start stable at any image size. (A
            fixed 0.02 gives gain 0.3 at 8×8×1 with 16 channels but ≈ 3.6 at 28×28×1 with
            32: the feature states then grow at every Euler step from the first one.)
        label_bias: give the label layer a learnable bias.

    Returns:
        The ``HAM``.

    Raises:
        ValidationError: for an input that is not rank 3 or too small for the kernel and pool.

    Example:
        >>> import hamux_graph as hg
        >>> hg.zoo.conv_ham((8, 8, 1), 10, pool_type="max").layers["features"].shape
        (4, 4, 16)
    """
    shape = check_shape("conv_ham", input_shape, rank=3)
    c = parse_int(num_classes, "zoo.conv_ham: num_classes", minimum=2, error=ValidationError)
    channels = parse_int(channels, "zoo.conv_ham: channels", minimum=1, error=ValidationError)
    lag = hidden_lagrangian("conv_ham", hidden, n, beta)
    conv = ConvSynapseWithPool(
        kernel_size, pool_window=pool_window, pool_stride=pool_stride, pool_type=pool_type, padding="SAME"
    )
    feat = _out_shape("conv_ham", conv, shape, channels)
    nhid = parse_int(nhid, "zoo.conv_ham: nhid", minimum=1, error=ValidationError)
    if stdinit is None:
        stdinit = 0.5 / (math.sqrt(math.prod(feat)) + math.sqrt(nhid))
    ham = HAM()
    ham.add_layer("input", IdentityLayer(shape))
    ham.add_layer("features", TanhLayer(feat, beta=feature_beta))
    ham.add_layer("label", SoftmaxLayer((c,), use_bias=label_bias))
    ham.add_synapse("conv", conv, layers=("input", "features"))
    ham.add_synapse(
        "hidden",
        DenseMatrixSynapseWithHiddenLayer(nhid=nhid, hidden_lagrangian=lag, stdinit=stdinit),
        layers=("features", "label"),
    )
    return ham


def energy_attn(
    input_shape: Any = (8, 8, 1),
    num_classes: int = 10,
    *,
    patch: int = 2,
    dim: int = 32,
    num_heads: int = 2,
    zspace_dim: int = 16,
    nhid: int = 128,
    stdinit: float = 0.02,
    label_bias: bool = True,
) -> HAM:
    """Energy attention classifier: conv patch tokens, self-attention, cross-attention to the label.

    Layers ``"input"`` (identity, ``(H, W, C)``), ``"tokens"`` (layer norm over features,
    ``(H/patch, W/patch, dim)``) and ``"label"`` (softmax). Synapses: ``"patch"`` (a
    ``ConvSynapse`` with kernel = stride = ``patch``: the token embedding),
    ``"self_attn"`` (``SelfAttentionSynapse`` among the tokens), ``"cross_attn"``
    (``AttentionSynapse`` with the label as query and the tokens as keys) and, with
    ``nhid > 0``, ``"hidden"`` (dense hidden memories over tokens and label). The attention
    softmaxes use ``β = 1/√zspace_dim``.

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        num_classes: number of classes.
        patch: patch size (kernel and stride of the token convolution).
        dim: token feature dimension.
        num_heads: attention heads.
        zspace_dim: query/key dimension per head.
        nhid: hidden memories of the dense token–label synapse (0 for none).
        stdinit: standard deviation of the attention and dense initial weights.
        label_bias: give the label layer a learnable bias.

    Returns:
        The ``HAM``.

    Raises:
        ValidationError: for an input that is not rank 3 or smaller than one patch.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.zoo.energy_attn((8, 8, 1), 10)
        >>> ham.layers["tokens"].shape, ham.connections("cross_attn")
        ((4, 4, 32), ('label', 'tokens'))
    """
    shape = check_shape("energy_attn", input_shape, rank=3)
    c = parse_int(num_classes, "zoo.energy_attn: num_classes", minimum=2, error=ValidationError)
    dim = parse_int(dim, "zoo.energy_attn: dim", minimum=1, error=ValidationError)
    patch = parse_int(patch, "zoo.energy_attn: patch", minimum=1, error=ValidationError)
    nhid = parse_int(nhid, "zoo.energy_attn: nhid", minimum=0, error=ValidationError)
    beta = 1.0 / math.sqrt(parse_int(zspace_dim, "zoo.energy_attn: zspace_dim", minimum=1, error=ValidationError))
    embed = ConvSynapse(patch, strides=patch, padding="VALID")
    tokens = _out_shape("energy_attn", embed, shape, dim)
    attn: dict[str, Any] = dict(num_heads=num_heads, zspace_dim=zspace_dim, stdinit=stdinit)
    ham = HAM()
    ham.add_layer("input", IdentityLayer(shape))
    ham.add_layer("tokens", LayerNormLayer(tokens))
    ham.add_layer("label", SoftmaxLayer((c,), use_bias=label_bias))
    ham.add_synapse("patch", embed, layers=("input", "tokens"))
    ham.add_synapse(
        "self_attn", SelfAttentionSynapse(**attn, hidden_lagrangian=LSoftmax(beta=beta)), layers=("tokens",)
    )
    ham.add_synapse(
        "cross_attn", AttentionSynapse(**attn, hidden_lagrangian=LSoftmax(beta=beta)), layers=("label", "tokens")
    )
    if nhid:
        ham.add_synapse(
            "hidden", DenseMatrixSynapseWithHiddenLayer(nhid=nhid, stdinit=stdinit), layers=("tokens", "label")
        )
    return ham
