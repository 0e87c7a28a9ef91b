"""Attractor census: group the end states of many relaxations and classify them.

A private module; ``hamux_graph.analysis.attractor_census`` relaxes the starts and calls
``tally``; ``hamux_graph.analysis`` re-exports ``Census``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._errors import ValidationError


__all__ = ["Census", "KINDS", "classify", "tally", "single_flip_kinds"]

KINDS = ("pattern", "mixture", "other")


class Census(NamedTuple):
    """What ``attractor_census`` returns: distinct end states, most visited first.

    Attributes:
        states: ``(A, N)`` the distinct ±1 end states.
        counts: ``(A,)`` how many starts ended in each.
        overlaps: ``(A, K)`` overlaps ``m_μ = ξ_μ·σ/N`` with the stored patterns.
        kinds: per attractor ``"pattern"`` (a stored pattern or its negative, ``|m| ≥
            pattern_overlap``), ``"mixture"`` (several patterns with overlaps of about equal
            magnitude, well above all others) or ``"other"`` (spin-glass-like or asymmetric).
        sizes: ``(A,)`` the number of patterns involved: 1 for a pattern, ``k`` for a
            ``k``-mixture, 0 for other.
        members: per attractor, the indices of the patterns involved (largest overlap first).
        converged: ``(A,)`` ``True`` where every start that ended here reached a fixed point.
        stability: per attractor ``"minimum"``, ``"saddle"`` or ``"flat"``: for a
            ``CompiledHAM``, ``hg.analysis.stability`` of the relaxed state of the first start
            that ended there; for a weight matrix, single-flip stability (``"minimum"`` if
            every single flip raises ``E = −½ sᵀWs``, ``"saddle"`` if one lowers it, ``"flat"``
            if the best flip leaves it unchanged). Empty for a census built without it.
    """

    states: Float[Array, "A N"]
    counts: Int[Array, " A"]
    overlaps: Float[Array, "A K"]
    kinds: tuple[str, ...]
    sizes: Int[Array, " A"]
    members: tuple[tuple[int, ...], ...]
    converged: Bool[Array, " A"]
    stability: tuple[str, ...] = ()

    def select(self, kind: str, size: int | None = None) -> np.ndarray:
        """Indices of the attractors of ``kind`` (and mixture ``size``, if given).

        Args:
            kind: ``"pattern"``, ``"mixture"`` or ``"other"``.
            size: only attractors involving this many patterns (``None``: any).

        Returns:
            An int array of indices into the census' attractors.

        Raises:
            ValidationError: for an unknown kind.

        Example:
            >>> import jax, numpy as np, hamux_graph as hg
            >>> pats = np.sign(np.random.default_rng(0).normal(size=(2, 64)))
            >>> c = hg.analysis.attractor_census(hg.memory.hebbian(pats), pats, patterns=pats, key=jax.random.key(0))
            >>> c.select("pattern").tolist(), c.select("mixture", 3).tolist(), c.total("pattern")
            ([0, 1], [], 2)
        """
        if kind not in KINDS:
            raise ValidationError(f"Census.select: kind must be one of {list(KINDS)}, got {kind!r}.")
        sizes = np.asarray(self.sizes)
        return np.array(
            [i for i, k in enumerate(self.kinds) if k == kind and (size is None or sizes[i] == size)], dtype=int
        )

    def total(self, kind: str, size: int | None = None) -> int:
        """How many starts ended in an attractor of ``kind`` (and ``size``); see ``select``.

        Raises:
            ValidationError: for an unknown kind.
        """
        return int(np.asarray(self.counts)[self.select(kind, size)].sum())


def classify(
    m: np.ndarray, *, pattern_overlap: float, mixture_tol: float, min_gap: float
) -> tuple[str, int, tuple[int, ...]]:
    """``(kind, size, members)`` of a state from its overlaps ``m`` (shape ``(K,)``).

    With ``a₁ ≥ a₂ ≥ …`` the sorted ``|m_μ|``: a *pattern* if ``a₁ ≥ pattern_overlap``;
    otherwise ``k`` = the number of magnitudes within ``mixture_tol`` of ``a₁``, and a
    *k-mixture* if ``k ≥ 2`` and ``a_k − a_{k+1} ≥ min_gap`` (the group stands out from the
    rest; with ``k = K`` the gap is ``a_K``); else *other*.
    """
    a = np.abs(m)
    order = np.argsort(-a, kind="stable")
    s = a[order]
    if s[0] >= pattern_overlap:
        return "pattern", 1, (int(order[0]),)
    k = int(np.sum(s >= s[0] - mixture_tol))
    gap = s[k - 1] - (s[k] if k < len(s) else 0.0)
    if k >= 2 and gap >= min_gap:
        return "mixture", k, tuple(int(i) for i in order[:k])
    return "other", 0, ()


def tally(
    ends: ArrayLike,
    converged: ArrayLike,
    patterns: ArrayLike,
    *,
    pattern_overlap: float,
    mixture_tol: float,
    min_gap: float,
    stability: Callable[[np.ndarray, np.ndarray], tuple[str, ...]] | None = None,
) -> Census:
    """Group equal ±1 end states ``(S, N)``, classify each group, most visited first.

    ``stability(first, states)`` gets, per attractor, the index of the first start that ended
    there and the attractor's ±1 state ``(A, N)``, and returns the attractors' stability kinds.
    """
    E = np.asarray(ends)
    ok = np.asarray(converged, bool).reshape(-1)
    uniq, inverse, counts = np.unique(E, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(-counts, kind="stable")
    uniq, counts = uniq[order], counts[order]
    all_ok = np.array([bool(ok[inverse == j].all()) for j in order])
    P = np.asarray(patterns)
    m = uniq @ P.T / P.shape[1]
    rows = [classify(r, pattern_overlap=pattern_overlap, mixture_tol=mixture_tol, min_gap=min_gap) for r in m]
    first = np.array([int(np.flatnonzero(inverse == j)[0]) for j in order], dtype=int)
    kinds = () if stability is None else tuple(stability(first, uniq))
    return Census(
        states=jnp.asarray(uniq, dtype=jnp.asarray(ends).dtype),
        counts=jnp.asarray(counts, dtype=jnp.int32),
        overlaps=jnp.asarray(m, dtype=jnp.asarray(ends).dtype),
        kinds=tuple(r[0] for r in rows),
        sizes=jnp.asarray([r[1] for r in rows], dtype=jnp.int32),
        members=tuple(r[2] for r in rows),
        converged=jnp.asarray(all_ok, dtype=bool),
        stability=kinds,
    )


def single_flip_kinds(W: ArrayLike, states: ArrayLike) -> tuple[str, ...]:
    """Single-flip stability of ±1 states ``(A, N)`` under ``E = −½ sᵀWs``.

    Flipping unit ``i`` changes the energy by ``ΔE_i = 2 s_i Σ_{j≠i} W_ij s_j`` (for
    symmetric ``W``): ``"minimum"`` if every ``ΔE_i > 0``, ``"saddle"`` if some ``ΔE_i < 0``,
    ``"flat"`` otherwise (the best flip costs nothing).

    Example:
        >>> import numpy as np
        >>> W = np.array([[0.0, 1.0], [1.0, 0.0]])  # a ferromagnetic pair
        >>> single_flip_kinds(W, np.array([[1.0, 1.0], [1.0, -1.0]]))
        ('minimum', 'saddle')
    """
    Wm = np.asarray(W, dtype=np.float64)
    S = np.asarray(states, dtype=np.float64)
    W_sym = 0.5 * (Wm + Wm.T)
    h = S @ W_sym.T - S * np.diag(W_sym)[None, :]
    delta = 2.0 * S * h
    scale = max(1.0, float(np.abs(W_sym).max()))
    low = delta.min(axis=1)
    return tuple("minimum" if d > 1e-9 * scale else "saddle" if d < -1e-9 * scale else "flat" for d in low)
