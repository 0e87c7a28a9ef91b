"""Helpers of ``hg.memory`` for ±1 states: energies, overlaps, corruption, random patterns.

A private module; ``hamux_graph.memory`` re-exports its public names.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real

from .._errors import ValidationError
from .._internal.limits import check_state_memory
from .._internal.parse import parse_float, parse_int, parse_key
from .recall import DenseEnergy, flip_bits, float_array, LogSumExp, Polynomial, RectifiedPolynomial


__all__ = ["resolve_energy", "energy", "dense_energy", "overlaps", "corrupt", "random_patterns"]


def resolve_energy(where: str, energy: Any, n: Any, beta: Any) -> DenseEnergy:
    """The ``DenseEnergy`` named by ``energy`` (with power ``n`` or inverse temperature ``beta``).

    ``beta`` is checked whatever the energy (a NaN or a string is an error even where only
    ``energy="lse"`` reads it).
    """
    hint = " beta is the inverse temperature of energy='lse' (> 0)."
    beta = parse_float(beta, f"{where}: beta", positive=True, error=ValidationError, hint=hint)
    if isinstance(energy, DenseEnergy):
        return energy
    if energy == "polynomial":
        power = int(n) if isinstance(n, float) and n.is_integer() else n  # 3.0 is the integer power 3
        hint = " energy='polynomial' has F(m) = m**n; use energy='rectified' for a non-integer power."
        return Polynomial(n=parse_int(power, f"{where}: n", minimum=1, error=ValidationError, hint=hint))
    if energy == "rectified":
        hint = " energy='rectified' has F(m) = max(m, 0)**n."
        return RectifiedPolynomial(n=parse_float(n, f"{where}: n", minimum=1.0, error=ValidationError, hint=hint))
    if energy == "lse":
        return LogSumExp(beta=beta)
    raise ValidationError(
        f"{where}: energy must be 'polynomial', 'rectified', 'lse' or an hg.memory.DenseEnergy, got {energy!r}."
    )


def energy(
    W: Real[ArrayLike, "N N"] | Sequence[Sequence[float]], states: Real[ArrayLike, "*batch N"] | Sequence[Any]
) -> Float[Array, "*batch"]:
    """The classical energy ``E(σ) = −½ σᵀWσ``.

    Args:
        W: ``(N, N)`` weights.
        states: states of shape ``(..., N)``.

    Returns:
        One energy per state.

    Example:
        >>> import hamux_graph as hg
        >>> float(hg.memory.energy(hg.memory.hebbian([[1, 1, -1, -1]]), [1, 1, -1, -1]))
        -1.5
    """
    Wa, s = jnp.asarray(W), jnp.asarray(states)
    return -0.5 * jnp.einsum("...i,ij,...j->...", s, Wa, s)


def dense_energy(
    patterns: Real[ArrayLike, "K N"] | Sequence[Sequence[float]],
    states: Real[ArrayLike, "*batch N"] | Sequence[Any],
    *,
    energy: str | DenseEnergy = "polynomial",
    n: int | float = 3,
    beta: float = 1.0,
) -> Float[Array, "*batch"]:
    """The energy of a dense binary memory, ``−Σ_μ F(ξ_μ·σ)`` (or the ``"lse"`` energy).

    Args:
        patterns: ``(K, N)`` stored patterns.
        states: states of shape ``(..., N)``.
        energy: as in ``recall_binary_dense``.
        n: the power of the polynomial energies.
        beta: the inverse temperature of ``"lse"``.

    Returns:
        One energy per state.

    Raises:
        ValidationError: for an unknown ``energy`` or a bad ``n`` or ``beta``.

    Example:
        >>> import hamux_graph as hg
        >>> float(hg.memory.dense_energy([[1, 1, 1, 1]], [1, 1, 1, -1], n=3))
        -8.0
    """
    strategy = resolve_energy("dense_energy", energy, n, beta)
    P, s = float_array("dense_energy", "patterns", patterns), float_array("dense_energy", "states", states)
    m = jnp.moveaxis(s @ P.T, -1, 0)
    return strategy.energy(m)


def overlaps(
    states: Real[ArrayLike, "*batch N"] | Sequence[Any], patterns: Real[ArrayLike, "K N"] | Sequence[Sequence[float]]
) -> Float[Array, "*batch K"]:
    """Overlaps ``m_μ = (1/N) ξ_μ·σ`` of states with patterns (1 for equal, −1 for opposite).

    Args:
        states: states of shape ``(..., N)``.
        patterns: ``(K, N)`` patterns.

    Returns:
        ``(..., K)`` overlaps.

    Example:
        >>> import hamux_graph as hg
        >>> hg.memory.overlaps([1, 1, -1, -1], [[1, 1, -1, -1], [1, 1, 1, 1]]).tolist()
        [1.0, 0.0]
    """
    P, s = jnp.asarray(patterns), jnp.asarray(states)
    return s @ P.T / P.shape[-1]


def corrupt(
    patterns: Real[ArrayLike, "*batch N"] | Sequence[Any], fraction: float, *, key: PRNGKeyArray
) -> Float[Array, "*batch N"]:
    """Flip exactly ``round(fraction·N)`` randomly chosen bits of every ±1 pattern.

    Args:
        patterns: ±1 states of shape ``(..., N)``.
        fraction: the fraction of bits to flip, in ``[0, 1]``.
        key: PRNG key (each pattern gets its own random positions).

    Returns:
        The corrupted copies, same shape.

    Raises:
        ValidationError: for a fraction outside ``[0, 1]``.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> p = hg.memory.corrupt(np.ones((2, 50)), 0.1, key=jax.random.key(0))
        >>> (p == -1).sum(axis=1).tolist()
        [5, 5]
    """
    hint = " It is the share of bits flipped."
    fraction = parse_float(fraction, "corrupt: fraction", minimum=0.0, maximum=1.0, error=ValidationError, hint=hint)
    p = float_array("corrupt", "patterns", patterns)
    if p.ndim < 1 or p.shape[-1] == 0:
        raise ValidationError(f"corrupt: patterns must have shape (..., N) with N >= 1, got shape {tuple(p.shape)}.")
    N = p.shape[-1]
    key = parse_key(key, "corrupt: key", error=ValidationError)
    out = flip_bits(p.reshape(-1, N), key, int(round(fraction * N)))
    return out if out.shape == p.shape else out.reshape(p.shape)


def random_patterns(num: int, N: int, *, key: PRNGKeyArray) -> Float[Array, "num N"]:
    """``num`` independent random ±1 patterns of ``N`` neurons (each bit +1 with probability ½).

    Args:
        num: number of patterns (an int ≥ 1).
        N: number of neurons (an int ≥ 1).
        key: PRNG key.

    Returns:
        A ``(num, N)`` float array of ±1.

    Raises:
        ValidationError: for a count that is not a positive int.

    Example:
        >>> import jax, hamux_graph as hg
        >>> P = hg.memory.random_patterns(3, 8, key=jax.random.key(0))
        >>> P.shape, sorted(set(P.ravel().tolist()))
        ((3, 8), [-1.0, 1.0])
    """
    num = parse_int(num, "random_patterns: num", minimum=1, error=ValidationError)
    N = parse_int(N, "random_patterns: N", minimum=1, error=ValidationError)
    check_state_memory([(num, N)], 4, f"random_patterns(num={num}, N={N})", fix="Draw fewer or smaller patterns.")
    return _random_patterns(parse_key(key, "random_patterns: key", error=ValidationError), num, N)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _random_patterns(key: Array, num: int, N: int) -> Array:
    return jnp.where(jax.random.bernoulli(key, 0.5, (num, N)), 1.0, -1.0).astype(jnp.result_type(float))
