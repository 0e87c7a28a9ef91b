"""Lagrangians whose activations live on the probability simplex: sparsemax, α-entmax, ghostmax.

Each acts row by row along ``axis`` on a layer of any rank and sums the row Lagrangians,
so the Lagrangian is a scalar (like ``LSoftmax``). With ``z = βx`` a row's Lagrangian is the
convex conjugate of a regulariser of the simplex, scaled by ``1/β``:

============  ===============================================  ==========================
class         L(x) per row                                      activation ∇L
============  ===============================================  ==========================
LSparsemax    max_{p∈Δ} ⟨p, x⟩ − ‖p‖²/(2β)                      sparsemax(βx)
LEntmax       max_{p∈Δ} ⟨p, x⟩ + H_α(p)/β  (Tsallis entropy)    α-entmax(βx)
LGhostmax     log(1 + Σ e^{βx}) / β                             e^{βx} / (1 + Σ e^{βx})
============  ===============================================  ==========================

Sparsemax and entmax give exactly sparse activations: entries below the threshold are 0, so
a memory layer with one of them can settle on a single stored pattern exactly. Ghostmax is a
softmax with one extra logit fixed at zero (a "null" memory): its activations sum to less than
one and all tend to zero when every input is very negative. See docs/memories.md.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp

from .._errors import ValidationError
from .._internal.parse import parse_float, parse_int
from .elementwise import AbstractBetaLagrangian, check_axis
from .entmax import (
    entmax_and_conjugate,
    ghostmax,
    ghostmax_conjugate,
    sparsemax,
    sparsemax_and_conjugate,
    sparsemax_conjugate,
)


__all__ = ["LSparsemax", "LEntmax", "LGhostmax"]


class LSparsemax(AbstractBetaLagrangian):
    """Sparsemax: ``L(x) = Σ_rows max_{p∈Δ} ⟨p, x⟩ − ‖p‖²/(2β)``; activation ``sparsemax(βx)``.

    In closed form, with ``z = βx`` and the sparsemax threshold ``τ`` of the row
    (``Σ_i [z_i − τ]₊ = 1``): ``L = Σ_rows ½ Σ_i [z_i − τ]₊ (z_i + τ) / β``. The activation
    ``[z − τ]₊`` is the Euclidean projection of ``z`` onto the simplex (Martins & Astudillo
    2016): rows sum to one and entries below ``τ`` are exactly zero.

    Args:
        beta: inverse temperature (learnable; clipped below at ``min_beta``).
        axis: the axis each row runs along.
        min_beta: the smallest β used.

    Raises:
        ValidationError: for a non-scalar ``beta`` or (at layer construction) an ``axis``
            outside the layer's rank.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.LSparsemax(beta=2.0).activation(jnp.array([1.0, 0.75, -1.0])).tolist()
        [0.75, 0.25, 0.0]
    """

    axis: int = eqx.field(static=True, converter=lambda v: parse_int(v, "axis", error=ValidationError), default=-1)

    def __call__(self, x):
        b = self.effective_beta
        return jnp.sum(sparsemax_conjugate(b * x, axis=self.axis)) / b

    def activation(self, x):
        return sparsemax(self.effective_beta * x, axis=self.axis)

    def activation_and_value(self, x):
        b = self.effective_beta
        p, value = sparsemax_and_conjugate(b * x, axis=self.axis)
        return p, jnp.sum(value) / b

    def check_shape(self, shape):
        check_axis(self, self.axis, shape)


def _alpha(value) -> float:
    return parse_float(value, "LEntmax: alpha", error=ValidationError)


class LEntmax(AbstractBetaLagrangian):
    """α-entmax: ``L(x) = Σ_rows max_{p∈Δ} ⟨p, x⟩ + H_α(p)/β``; activation ``α-entmax(βx)``.

    ``H_α(p) = Σ (p − p^α)/(α(α − 1))`` is the Tsallis α-entropy (Shannon at α = 1). The
    activation is ``p_i = [(α−1)z_i − τ]₊^{1/(α−1)}`` with ``z = βx`` (Peters et al. 2019):
    ``alpha=1`` gives softmax (and ``L`` equals ``LSoftmax``), ``alpha=2`` sparsemax (``L``
    equals ``LSparsemax`` plus ``1/(2β)`` per row, the constant ``H_2`` adds on the simplex),
    values in between a sparse but smoother map. ``alpha=1.5`` is computed exactly by
    sorting, other values by bisection on ``τ`` to the dtype's resolution; derivatives use
    the closed-form entmax Jacobian (never autodiff through the bisection). The value comes
    from the Fenchel–Young identity ``L = (⟨p, z⟩ + H_α(p))/β`` at ``p = ∇L``.

    Args:
        alpha: the entmax parameter, ``>= 1`` (static).
        beta: inverse temperature (learnable; clipped below at ``min_beta``).
        axis: the axis each row runs along.
        min_beta: the smallest β used.

    Raises:
        ValidationError: for ``alpha < 1`` (or not finite), a non-scalar ``beta``, or (at layer
            construction) an ``axis`` outside the layer's rank.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> [round(v, 3) for v in hg.LEntmax(1.5).activation(jnp.array([1.0, 0.5, -1.0])).tolist()]
        [0.674, 0.326, 0.0]
    """

    alpha: float = eqx.field(static=True, converter=_alpha, default=1.5)
    axis: int = eqx.field(static=True, converter=lambda v: parse_int(v, "axis", error=ValidationError), default=-1)

    def __init__(self, alpha: float = 1.5, beta=1.0, axis: int = -1, *, min_beta: float = 1e-6):
        self.alpha = alpha
        self.beta = beta
        self.axis = axis
        self.min_beta = min_beta

    def __check_init__(self):
        if not (math.isfinite(self.alpha) and self.alpha >= 1.0):
            raise ValidationError(
                f"LEntmax: alpha must be a finite number >= 1 (1 = softmax, 2 = sparsemax), got alpha={self.alpha}."
            )

    def __call__(self, x):
        b = self.effective_beta
        return jnp.sum(entmax_and_conjugate(b * x, self.alpha, self.axis)[1]) / b

    def activation(self, x):
        return entmax_and_conjugate(self.effective_beta * x, self.alpha, self.axis)[0]

    def activation_and_value(self, x):
        b = self.effective_beta
        p, value = entmax_and_conjugate(b * x, self.alpha, self.axis)
        return p, jnp.sum(value) / b

    def check_shape(self, shape):
        check_axis(self, self.axis, shape)


class LGhostmax(AbstractBetaLagrangian):
    """Ghostmax: ``L(x) = Σ_rows log(1 + Σ e^{βx}) / β``; activation ``e^{βx} / (1 + Σ e^{βx})``.

    A log-sum-exp with one extra logit fixed at zero (HAMUX v0.2's ``lagr_ghostmax``): the
    activations sum to ``1 − 1/(1 + Σ e^{βx}) < 1``, so a row can "attend to nothing".
    Stable for any ``|βx|``.

    Args:
        beta: inverse temperature (learnable; clipped below at ``min_beta``).
        axis: the axis each row runs along.
        min_beta: the smallest β used.

    Raises:
        ValidationError: for a non-scalar ``beta`` or (at layer construction) an ``axis``
            outside the layer's rank.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.LGhostmax().activation(jnp.zeros(3)).tolist()
        [0.25, 0.25, 0.25]
    """

    axis: int = eqx.field(static=True, converter=lambda v: parse_int(v, "axis", error=ValidationError), default=-1)

    def __call__(self, x):
        b = self.effective_beta
        return jnp.sum(ghostmax_conjugate(b * x, axis=self.axis)) / b

    def activation(self, x):
        return ghostmax(self.effective_beta * x, axis=self.axis)

    def check_shape(self, shape):
        check_axis(self, self.axis, shape)
