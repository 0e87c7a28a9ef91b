"""Layers: the specification of a node of neurons (Lagrangian, shape, time constant, bias).

A layer holds a state ``x`` of shape ``shape`` per sample. With ``use_bias`` it also owns a
learnable bias ``b`` (created at compile time, zeros) and its Lagrangian acts on
``u = x − b``. The convenience constructors (``TanhLayer((64,), beta=4.0)``, ...) pair a shape
with a Lagrangian.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx

from ._errors import ValidationError
from ._internal.limits import MAX_NEURONS
from ._internal.parse import parse_bool, parse_float, parse_shape
from .lagrangians.elementwise import (
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
from .lagrangians.simplex import LEntmax, LGhostmax, LSparsemax


__all__ = [
    "Layer",
    "IdentityLayer",
    "RepuLayer",
    "ReluLayer",
    "ExpLayer",
    "RexpLayer",
    "TanhLayer",
    "SigmoidLayer",
    "SoftmaxLayer",
    "LayerNormLayer",
    "SphericalNormLayer",
    "SparsemaxLayer",
    "EntmaxLayer",
    "GhostmaxLayer",
]


def _as_shape(shape: Any) -> tuple[int, ...]:
    out = parse_shape(shape, "a layer shape", error=ValidationError)
    if math.prod(out) > MAX_NEURONS:
        raise ValidationError(
            f"a layer shape {out} has {math.prod(out):,} neurons, more than the limit of {MAX_NEURONS:,} per layer "
            "(2**31 - 1: a layer's flat index is an int32). Split it into several layers."
        )
    return out


def _as_tau(tau: Any) -> float:
    return parse_float(tau, "Layer: tau (the time constant)", positive=True, error=ValidationError)


def _as_bias_flag(flag: Any) -> bool:
    return parse_bool(flag, "Layer: use_bias", error=ValidationError)


def _as_layer_energy_flag(flag: Any) -> bool:
    return parse_bool(flag, "Layer: layer_energy", error=ValidationError)


# Lagrangians with a bounded activation: without its own energy term such a layer's energy is
# still bounded below (the synapses see bounded activations)
BOUNDED_ACTIVATIONS = (LTanh, LSigmoid, LSoftmax, LSparsemax, LEntmax, LGhostmax, LLayerNorm, LSphericalNorm)


class Layer(eqx.Module):
    """A layer of neurons: Lagrangian, per-sample state shape, time constant, bias flag.

    Args:
        lagrangian: the convex Lagrangian whose gradient is the activation.
        shape: the state shape of one sample, e.g. ``(64,)`` or ``(28, 28, 1)``.
        tau: time constant ``τ > 0``; larger is slower (``τ dx/dt = −∂E/∂g``).
        use_bias: give the layer a learnable bias ``b`` (the Lagrangian acts on ``x − b``).
        layer_energy: keep the layer's own energy ``E_ℓ = ⟨g, u⟩ − L(u)`` (default). With
            ``False`` it is left out, and with it the Legendre leak ``u`` in ``∂E/∂g``: the
            dynamics are ``τ dx/dt = −Σ_σ ∂E_σ/∂g`` (the published Energy Transformer
            update). Still a descent (``∇²L`` is positive semidefinite), but bounded below
            only for bounded activations, so it is allowed only for tanh, sigmoid, the
            softmax family (softmax, sparsemax, entmax, ghostmax) and the norm Lagrangians.
            For an identity layer under a confining synapse (a distance memory), keep the
            layer energy and cancel ``½‖x‖²`` with a self-synapse ``W = I/2`` instead.

    Raises:
        ValidationError: for a non-positive ``tau``, a bad shape, a non-Lagrangian, or
            ``layer_energy=False`` with an unbounded activation.

    Example:
        >>> import hamux_graph as hg
        >>> hg.Layer(hg.LTanh(beta=4.0), shape=(64,), tau=2.0).size
        64
    """

    lagrangian: Lagrangian
    shape: tuple[int, ...] = eqx.field(static=True, converter=_as_shape)
    tau: float = eqx.field(static=True, converter=_as_tau, default=1.0)
    use_bias: bool = eqx.field(static=True, converter=_as_bias_flag, default=False)
    layer_energy: bool = eqx.field(static=True, converter=_as_layer_energy_flag, default=True)

    def __check_init__(self):
        if not isinstance(self.lagrangian, Lagrangian):
            raise ValidationError(
                f"Layer: `lagrangian` must be a hamux_graph Lagrangian (e.g. hg.LTanh()), got "
                f"{type(self.lagrangian).__name__}."
            )
        if not (math.isfinite(self.tau) and self.tau > 0):
            raise ValidationError(
                f"Layer: tau must be a finite number > 0 (the layer's time constant), got tau={self.tau}. "
                "Use e.g. tau=1.0."
            )
        self.lagrangian.check_shape(self.shape)
        if not self.layer_energy and not isinstance(self.lagrangian, BOUNDED_ACTIVATIONS):
            raise ValidationError(
                f"Layer: layer_energy=False needs a Lagrangian with a bounded activation (tanh, sigmoid, softmax, "
                f"sparsemax, entmax, ghostmax, layer norm or spherical norm), got {type(self.lagrangian).__name__}: "
                "without the layer's own energy an unbounded activation leaves the energy without a lower bound. "
                "Keep layer_energy=True; for an identity layer under a distance memory, cancel ½‖x‖² with a "
                "self-synapse W = I/2 (as hg.zoo does)."
            )

    @property
    def size(self) -> int:
        """Number of neurons per sample."""
        return math.prod(self.shape)


def _make(lagrangian: Lagrangian, shape: Any, tau: float, use_bias: bool) -> Layer:
    return Layer(lagrangian, shape=shape, tau=tau, use_bias=use_bias)


def IdentityLayer(shape: Any, *, tau: float = 1.0, use_bias: bool = False) -> Layer:
    """A layer with the identity activation (``LIdentity``).

    Example:
        >>> import hamux_graph as hg
        >>> hg.IdentityLayer((3,)).shape
        (3,)
    """
    return _make(LIdentity(), shape, tau, use_bias)


def RepuLayer(shape: Any, n: float = 2.0, *, tau: float = 1.0, use_bias: bool = False) -> Layer:
    """A rectified-power layer (``LRepu(n)``), e.g. the hidden layer of a dense memory.

    Example:
        >>> import hamux_graph as hg
        >>> hg.RepuLayer((10,), n=5).lagrangian.n
        5.0
    """
    return _make(LRepu(n=n), shape, tau, use_bias)


def ReluLayer(shape: Any, *, tau: float = 1.0, use_bias: bool = False) -> Layer:
    """A ReLU layer (``LRelu``).

    Example:
        >>> import hamux_graph as hg
        >>> type(hg.ReluLayer((10,)).lagrangian).__name__
        'LRelu'
    """
    return _make(LRelu(), shape, tau, use_bias)


def ExpLayer(
    shape: Any, beta: float = 1.0, *, min_beta: float = 1e-6, tau: float = 1.0, use_bias: bool = False
) -> Layer:
    """An exponential layer (``LExp(beta)``).

    Example:
        >>> import hamux_graph as hg
        >>> float(hg.ExpLayer((4,), beta=0.5).lagrangian.beta)
        0.5
    """
    return _make(LExp(beta=beta, min_beta=min_beta), shape, tau, use_bias)


def RexpLayer(
    shape: Any, beta: float = 1.0, *, min_beta: float = 1e-6, tau: float = 1.0, use_bias: bool = False
) -> Layer:
    """A rectified-exponential layer (``LRexp(beta)``).

    Example:
        >>> import hamux_graph as hg
        >>> hg.RexpLayer((4,)).shape
        (4,)
    """
    return _make(LRexp(beta=beta, min_beta=min_beta), shape, tau, use_bias)


def TanhLayer(
    shape: Any, beta: float = 1.0, *, min_beta: float = 1e-6, tau: float = 1.0, use_bias: bool = False
) -> Layer:
    """A tanh layer (``LTanh(beta)``).

    Example:
        >>> import hamux_graph as hg
        >>> hg.TanhLayer((64,), beta=4.0).size
        64
    """
    return _make(LTanh(beta=beta, min_beta=min_beta), shape, tau, use_bias)


def SigmoidLayer(
    shape: Any,
    beta: float = 1.0,
    scale: float = 1.0,
    *,
    min_beta: float = 1e-6,
    tau: float = 1.0,
    use_bias: bool = False,
) -> Layer:
    """A sigmoid layer (``LSigmoid(beta, scale)``).

    Example:
        >>> import hamux_graph as hg
        >>> float(hg.SigmoidLayer((4,), scale=2.0).lagrangian.scale)
        2.0
    """
    return _make(LSigmoid(beta=beta, scale=scale, min_beta=min_beta), shape, tau, use_bias)


def SoftmaxLayer(
    shape: Any,
    beta: float = 1.0,
    axis: int = -1,
    *,
    min_beta: float = 1e-6,
    tau: float = 1.0,
    use_bias: bool = False,
) -> Layer:
    """A softmax layer (``LSoftmax(beta, axis)``), row by row along ``axis``.

    Example:
        >>> import hamux_graph as hg
        >>> hg.SoftmaxLayer((256,), beta=2.0).lagrangian.axis
        -1
    """
    return _make(LSoftmax(beta=beta, axis=axis, min_beta=min_beta), shape, tau, use_bias)


def LayerNormLayer(
    shape: Any,
    gamma: Any = 1.0,
    delta: Any = 0.0,
    axis: int = -1,
    eps: float = 1e-5,
    *,
    tau: float = 1.0,
    use_bias: bool = False,
) -> Layer:
    """A layer-norm layer (``LLayerNorm(gamma, delta, axis, eps)``).

    Example:
        >>> import hamux_graph as hg
        >>> hg.LayerNormLayer((4, 16)).shape
        (4, 16)
    """
    return _make(LLayerNorm(gamma=gamma, delta=delta, axis=axis, eps=eps), shape, tau, use_bias)


def SphericalNormLayer(
    shape: Any,
    gamma: Any = 1.0,
    delta: Any = 0.0,
    axis: int = -1,
    eps: float = 1e-5,
    *,
    tau: float = 1.0,
    use_bias: bool = False,
) -> Layer:
    """A spherical-norm layer (``LSphericalNorm(gamma, delta, axis, eps)``).

    Example:
        >>> import hamux_graph as hg
        >>> hg.SphericalNormLayer((16,)).size
        16
    """
    return _make(LSphericalNorm(gamma=gamma, delta=delta, axis=axis, eps=eps), shape, tau, use_bias)


def SparsemaxLayer(
    shape: Any,
    beta: float = 1.0,
    axis: int = -1,
    *,
    min_beta: float = 1e-6,
    tau: float = 1.0,
    use_bias: bool = False,
) -> Layer:
    """A sparsemax layer (``LSparsemax(beta, axis)``), row by row along ``axis``.

    Example:
        >>> import hamux_graph as hg
        >>> type(hg.SparsemaxLayer((256,), beta=2.0).lagrangian).__name__
        'LSparsemax'
    """
    return _make(LSparsemax(beta=beta, axis=axis, min_beta=min_beta), shape, tau, use_bias)


def EntmaxLayer(
    shape: Any,
    alpha: float = 1.5,
    beta: float = 1.0,
    axis: int = -1,
    *,
    min_beta: float = 1e-6,
    tau: float = 1.0,
    use_bias: bool = False,
) -> Layer:
    """An α-entmax layer (``LEntmax(alpha, beta, axis)``), row by row along ``axis``.

    Example:
        >>> import hamux_graph as hg
        >>> hg.EntmaxLayer((4, 16), alpha=1.25).lagrangian.alpha
        1.25
    """
    return _make(LEntmax(alpha=alpha, beta=beta, axis=axis, min_beta=min_beta), shape, tau, use_bias)


def GhostmaxLayer(
    shape: Any,
    beta: float = 1.0,
    axis: int = -1,
    *,
    min_beta: float = 1e-6,
    tau: float = 1.0,
    use_bias: bool = False,
) -> Layer:
    """A ghostmax layer (``LGhostmax(beta, axis)``): softmax with an extra zero logit.

    Example:
        >>> import hamux_graph as hg
        >>> hg.GhostmaxLayer((8,)).size
        8
    """
    return _make(LGhostmax(beta=beta, axis=axis, min_beta=min_beta), shape, tau, use_bias)
