"""Sparse maps onto the probability simplex: sparsemax, α-entmax and their convex conjugates.

A private module with public names, used by ``simplex_lagrangians``. Every function acts row
by row along ``axis`` of an array of any rank.

For a row ``z`` and ``α ≥ 1`` the α-entmax is the regularised argmax

    entmax_α(z) = argmax_{p ∈ Δ} ⟨p, z⟩ + H_α(p),
    H_α(p) = Σ_i (p_i − p_i^α) / (α(α − 1))     (Tsallis; α = 1: Shannon −Σ p log p),

with solution ``p_i = [(α − 1) z_i − τ]₊^{1/(α−1)}`` for the threshold ``τ`` that makes
``Σ p = 1``. ``α = 1`` is softmax, ``α = 2`` sparsemax ``p = [z − τ]₊``. The optimal value
``Ω*_α(z) = ⟨p, z⟩ + H_α(p)`` (the Fenchel–Young identity) is the convex conjugate of
``−H_α`` on the simplex, a convex function whose gradient is ``entmax_α(z)``.

Algorithms: sparsemax and 1.5-entmax exactly by sorting (Martins & Astudillo 2016;
Peters, Niculae & Martins 2019); any other ``α`` by bisection on ``τ`` (enough halvings to
reach the dtype's resolution), then normalised. Derivatives never go through the iterative
solver: ``entmax_and_conjugate`` carries a custom JVP with the closed-form Jacobian
``J = diag(s) − s sᵀ / Σ s``, ``s_i = p_i^{2−α}`` on the support (0 off it), and
``∂Ω*/∂z = p``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from .._internal.parse import parse_float


__all__ = [
    "sparsemax",
    "sparsemax_threshold",
    "sparsemax_conjugate",
    "sparsemax_and_conjugate",
    "entmax",
    "entmax_conjugate",
    "entmax_and_conjugate",
    "tsallis_entropy",
    "ghostmax",
    "ghostmax_conjugate",
    "bisection_steps",
]


def _last(fn, z: Array, axis: int) -> Array:
    """Apply a last-axis row function along ``axis`` (output keeps the row axis)."""
    return jnp.moveaxis(fn(jnp.moveaxis(z, axis, -1)), -1, axis)


def _counts(w: Array) -> Array:
    """``1, 2, …, d`` along the last axis, shaped to broadcast with ``w`` without rank promotion."""
    d = w.shape[-1]
    return jnp.arange(1, d + 1, dtype=w.dtype).reshape((1,) * (w.ndim - 1) + (d,))


def _row_max(z: Array) -> Array:
    """The row maximum (last axis, kept), gradient-free and finite."""
    m = lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    return jnp.where(jnp.isfinite(m), m, 0.0)


# ---- sparsemax (α = 2), exact ------------------------------------------------------------


def _sparsemax_tau(w: Array) -> Array:
    """Threshold of the last-axis rows of ``w`` (kept axis): ``Σ [w − τ]₊ = 1``."""
    ws = -jnp.sort(-w, axis=-1)  # descending
    cs = jnp.cumsum(ws, axis=-1)
    k = _counts(ws)
    n = jnp.sum(1.0 + k * ws > cs, axis=-1, keepdims=True)  # support size (a prefix), >= 1
    return (jnp.take_along_axis(cs, n - 1, axis=-1) - 1.0) / n.astype(w.dtype)


def sparsemax_threshold(z: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """The sparsemax threshold ``τ`` of every row (the row axis kept with size 1).

    Args:
        z: scores of any rank.
        axis: the axis each row runs along.

    Returns:
        ``τ`` with ``Σ_i [z_i − τ]₊ = 1`` per row, shaped like ``z`` with ``axis`` of size 1.

    Example:
        >>> import jax.numpy as jnp
        >>> sparsemax_threshold(jnp.array([1.0, 0.5, -1.0])).tolist()
        [0.25]
    """

    def row(z):
        c = _row_max(z)
        return _sparsemax_tau(z - c) + c

    return _last(row, z, axis)


def sparsemax(z: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """``[z − τ]₊`` row by row: the Euclidean projection of ``z`` onto the simplex.

    Differentiable (through the sort) with the exact sparsemax Jacobian.

    Args:
        z: scores of any rank.
        axis: the axis each row runs along.

    Returns:
        Probabilities of ``z``'s shape; every row sums to one, entries below ``τ`` are 0.

    Example:
        >>> import jax.numpy as jnp
        >>> sparsemax(jnp.array([1.0, 0.5, -1.0])).tolist()
        [0.75, 0.25, 0.0]
    """

    def row(z):
        w = z - _row_max(z)
        return jnp.maximum(w - _sparsemax_tau(w), 0.0)

    return _last(row, z, axis)


def sparsemax_and_conjugate(z: Float[Array, "..."], axis: int = -1) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """``(sparsemax(z), sparsemax_conjugate(z))`` sharing one sort (the value has ``axis`` removed).

    Args:
        z: scores of any rank.
        axis: the axis each row runs along.

    Returns:
        The probabilities (``z``'s shape) and the row values (``axis`` removed).

    Example:
        >>> import jax.numpy as jnp
        >>> p, v = sparsemax_and_conjugate(jnp.array([1.0, 0.5, -1.0]))
        >>> p.tolist(), float(v)
        ([0.75, 0.25, 0.0], 0.5625)
    """
    z = jnp.moveaxis(z, axis, -1)
    c = _row_max(z)
    w = z - c
    tau = _sparsemax_tau(w)
    terms = jnp.where(w > tau, (w - tau) * (w + tau), 0.0)
    return jnp.moveaxis(jnp.maximum(w - tau, 0.0), -1, axis), 0.5 * jnp.sum(terms, axis=-1) + c[..., 0]


def sparsemax_conjugate(z: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """``max_{p∈Δ} ⟨p, z⟩ − ½‖p‖²`` per row, in closed form ``½ Σ_i [z_i − τ]₊ (z_i + τ)``.

    The row axis is reduced. Its gradient (by autodiff through the threshold) is
    ``sparsemax(z)``.

    Args:
        z: scores of any rank.
        axis: the axis each row runs along.

    Returns:
        The row values, ``z``'s shape without ``axis``.

    Example:
        >>> import jax.numpy as jnp
        >>> float(sparsemax_conjugate(jnp.array([1.0, 0.5, -1.0])))
        0.5625
    """
    return sparsemax_and_conjugate(z, axis)[1]


# ---- 1.5-entmax, exact ----------------------------------------------------------------------


def _entmax15_rows(w: Array) -> Array:
    """1.5-entmax of last-axis rows (``w`` shifted so its row maximum is 0)."""
    u = 0.5 * w
    us = -jnp.sort(-u, axis=-1)
    k = _counts(us)
    mean = jnp.cumsum(us, axis=-1) / k
    mean_sq = jnp.cumsum(us * us, axis=-1) / k
    delta = (1.0 - k * (mean_sq - mean * mean)) / k
    tau_k = mean - jnp.sqrt(jnp.maximum(delta, 0.0))
    n = jnp.sum(tau_k <= us, axis=-1, keepdims=True)
    tau = jnp.take_along_axis(tau_k, n - 1, axis=-1)
    p = jnp.maximum(u - tau, 0.0) ** 2
    return p / jnp.sum(p, axis=-1, keepdims=True)


# ---- general α, bisection ------------------------------------------------------------------


def bisection_steps(dtype) -> int:
    """Halvings of the threshold interval (width < 1) that reach ``dtype``'s resolution, plus margin.

    Args:
        dtype: a floating dtype.

    Returns:
        The number of bisection steps (mantissa bits + 9).

    Example:
        >>> import jax.numpy as jnp
        >>> bisection_steps(jnp.float32), bisection_steps(jnp.float64)
        (32, 61)
    """
    return int(jnp.finfo(dtype).nmant) + 9


def _bisect_rows(w: Array, alpha: float) -> Array:
    """α-entmax of last-axis rows by bisection on ``τ`` (``w`` shifted so its maximum is 0)."""
    am1 = alpha - 1.0
    u = am1 * w  # max u = 0
    d = w.shape[-1]
    inv = 1.0 / am1

    def probs(tau):
        return jnp.maximum(u - tau, 0.0) ** inv

    # Σ p(lo) >= 1 (the top entry alone gives 1), Σ p(hi) <= 1 (every entry <= 1/d)
    lo = jnp.full(u.shape[:-1] + (1,), -1.0, u.dtype)
    hi = jnp.full(u.shape[:-1] + (1,), -((1.0 / d) ** am1), u.dtype)

    def body(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        big = jnp.sum(probs(mid), axis=-1, keepdims=True) >= 1.0
        return jnp.where(big, mid, lo), jnp.where(big, hi, mid)

    lo, hi = lax.fori_loop(0, bisection_steps(u.dtype), body, (lo, hi))
    p = probs(lo)
    return p / jnp.sum(p, axis=-1, keepdims=True)


# ---- entmax with its conjugate and a closed-form derivative --------------------------------


def _shannon_or_tsallis(p: Array, alpha: float) -> Array:
    """``H_α(p)`` of last-axis rows (reduced), accurate also for α near 1."""
    pos = p > 0
    logp = jnp.log(jnp.where(pos, p, 1.0))
    if alpha == 1.0:
        return -jnp.sum(jnp.where(pos, p * logp, 0.0), axis=-1)
    # p − p^α = −p·expm1((α − 1) log p): no cancellation as α → 1
    terms = jnp.where(pos, -p * jnp.expm1((alpha - 1.0) * logp), 0.0)
    return jnp.sum(terms, axis=-1) / (alpha * (alpha - 1.0))


def _entmax_rows(w: Array, alpha: float) -> Array:
    if alpha == 1.0:
        return jax.nn.softmax(w, axis=-1)
    if alpha == 2.0:
        return jnp.maximum(w - _sparsemax_tau(w), 0.0)
    if alpha == 1.5:
        return _entmax15_rows(w)
    return _bisect_rows(w, alpha)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _pair(z: Array, alpha: float) -> tuple[Array, Array]:
    """``(entmax_α(z), Ω*_α(z))`` over the last axis (the value reduces it)."""
    c = _row_max(z)
    w = z - c
    p = _entmax_rows(w, alpha)
    value = jnp.sum(jnp.where(p > 0, p * w, 0.0), axis=-1) + _shannon_or_tsallis(p, alpha) + c[..., 0]
    return p, value


@_pair.defjvp
def _pair_jvp(alpha, primals, tangents):
    (z,), (dz,) = primals, tangents
    p, value = _pair(z, alpha)
    if alpha == 2.0:
        s = (p > 0).astype(p.dtype)
    elif alpha == 1.0:
        s = p
    else:
        s = jnp.where(p > 0, jnp.where(p > 0, p, 1.0) ** (2.0 - alpha), 0.0)
    sdz = s * dz
    dp = sdz - s * jnp.sum(sdz, axis=-1, keepdims=True) / jnp.sum(s, axis=-1, keepdims=True)
    return (p, value), (dp, jnp.sum(p * dz, axis=-1))


def entmax_and_conjugate(
    z: Float[Array, "..."], alpha: float = 1.5, axis: int = -1
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """``(entmax_α(z), Ω*_α(z))`` row by row along ``axis`` (the value has that axis removed).

    Differentiable with a custom JVP: the closed-form entmax Jacobian for the first output
    and ``∂Ω*/∂z = entmax_α(z)`` for the second.

    Args:
        z: scores of any rank.
        alpha: the entmax parameter, ``>= 1`` (1 softmax, 1.5 exact by sorting, 2 sparsemax,
            others by bisection).
        axis: the axis each row runs along.

    Returns:
        The probabilities (``z``'s shape) and ``Ω*_α`` per row (``axis`` removed).

    Raises:
        ValueError: for ``alpha < 1`` or a non-finite ``alpha``.

    Example:
        >>> import jax.numpy as jnp
        >>> p, v = entmax_and_conjugate(jnp.zeros(4), alpha=1.5)
        >>> p.tolist(), round(float(v), 4)
        ([0.25, 0.25, 0.25, 0.25], 0.6667)
    """
    alpha = parse_float(alpha, "entmax: alpha", minimum=1)
    p, value = _pair(jnp.moveaxis(z, axis, -1), alpha)
    return jnp.moveaxis(p, -1, axis), value


def entmax(z: Float[Array, "..."], alpha: float = 1.5, axis: int = -1) -> Float[Array, "..."]:
    """α-entmax row by row along ``axis`` (α = 1 softmax, α = 2 sparsemax).

    Args:
        z: scores of any rank.
        alpha: the entmax parameter, ``>= 1``.
        axis: the axis each row runs along.

    Returns:
        Probabilities of ``z``'s shape (see ``entmax_and_conjugate``).

    Example:
        >>> import jax.numpy as jnp
        >>> [round(v, 4) for v in entmax(jnp.array([1.0, 0.5, -1.0]), alpha=1.5).tolist()]
        [0.674, 0.326, 0.0]
    """
    return entmax_and_conjugate(z, alpha, axis)[0]


def entmax_conjugate(z: Float[Array, "..."], alpha: float = 1.5, axis: int = -1) -> Float[Array, "..."]:
    """``Ω*_α(z) = max_{p∈Δ} ⟨p, z⟩ + H_α(p)`` per row (``axis`` reduced).

    Args:
        z: scores of any rank.
        alpha: the entmax parameter, ``>= 1``.
        axis: the axis each row runs along.

    Returns:
        The row values, ``z``'s shape without ``axis``; the gradient is ``entmax(z, alpha)``.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(entmax_conjugate(jnp.zeros(3), alpha=1.0)), 4)  # log 3
        1.0986
    """
    return entmax_and_conjugate(z, alpha, axis)[1]


def tsallis_entropy(p: Float[Array, "..."], alpha: float = 1.5, axis: int = -1) -> Float[Array, "..."]:
    """``H_α(p) = Σ (p − p^α)/(α(α−1))`` per row (α = 1: ``−Σ p log p``).

    Args:
        p: probabilities of any rank.
        alpha: the entropic index, ``>= 1``.
        axis: the axis each row runs along.

    Returns:
        The entropy per row, ``p``'s shape without ``axis``.

    Example:
        >>> import jax.numpy as jnp
        >>> float(tsallis_entropy(jnp.array([0.5, 0.5]), alpha=2.0))
        0.25
    """
    return _shannon_or_tsallis(jnp.moveaxis(p, axis, -1), parse_float(alpha, "entmax: alpha", minimum=1))


# ---- ghostmax: softmax with one extra zero logit --------------------------------------------


def ghostmax(z: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """``e^{z} / (1 + Σ e^{z})`` row by row (softmax with a "null" logit fixed at 0).

    Args:
        z: scores of any rank.
        axis: the axis each row runs along.

    Returns:
        Activations of ``z``'s shape; each row sums to less than one.

    Example:
        >>> import jax.numpy as jnp
        >>> ghostmax(jnp.zeros(3)).tolist()
        [0.25, 0.25, 0.25]
    """

    def row(z):
        m = jnp.maximum(_row_max(z), 0.0)
        e = jnp.exp(z - m)
        return e / (jnp.exp(-m) + jnp.sum(e, axis=-1, keepdims=True))

    return _last(row, z, axis)


def ghostmax_conjugate(z: Float[Array, "..."], axis: int = -1) -> Float[Array, "..."]:
    """``log(1 + Σ e^{z})`` per row (``axis`` reduced); its gradient is ``ghostmax(z)``.

    Args:
        z: scores of any rank.
        axis: the axis each row runs along.

    Returns:
        The row values, ``z``'s shape without ``axis`` (stable for any ``|z|``).

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(ghostmax_conjugate(jnp.zeros(3))), 4)  # log 4
        1.3863
    """
    z = jnp.moveaxis(z, axis, -1)
    m = jnp.maximum(_row_max(z), 0.0)
    return jnp.log(jnp.exp(-m[..., 0]) + jnp.sum(jnp.exp(z - m), axis=-1)) + m[..., 0]
