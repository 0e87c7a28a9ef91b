"""Setwise (simplicial) memory over the units of one layer (Burns & Fukai, ICLR 2023).

A simplex ``σ`` is a set of unit indices of the layer (flattened, row-major); the synapse
holds one weight ``w_σ`` per simplex and aligns

    F(g) = Σ_σ w_σ Π_{i∈σ} g_i,        E_σ = −F,

so a pair ``{i, j}`` is an ordinary Hopfield coupling and a triangle ``{i, j, k}`` a
three-unit coupling. Hebbian setwise weights are ``w_σ = (1/N) Σ_μ Π_{i∈σ} ξ^μ_i``
(``hg.memory.simplicial``); ``hg.memory.recall_binary_simplicial`` recalls ±1 patterns by
asynchronous flips.

``Simplices`` holds the list: a tuple of sorted index tuples (hashable, with the indices of
each order precomputed as numpy arrays), so the synapse stays static configuration under
``jax.jit``. Files store it as a JSON list of index lists, one entry per simplex.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import ValidationError
from ._base import created_param, numel, optional_array, static_float, Synapse


__all__ = ["Simplices", "SimplicialMemorySynapse", "parse_simplices"]


class Simplices(tuple):
    """A checked simplex list: a tuple of sorted, distinct-index tuples, each listed once.

    ``groups`` gives, for each simplex size ``k``, the positions of the size-``k``
    simplices in the list and their ``(S_k, k)`` index array (numpy, computed once).

    Example:
        >>> s = Simplices.parse([(2, 0), (0, 1, 2)], "demo")
        >>> s, s.max_index, sorted(s.counts().items())
        (((0, 2), (0, 1, 2)), 2, [(2, 1), (3, 1)])
    """

    groups: tuple[tuple[int, np.ndarray, np.ndarray], ...]

    @classmethod
    def parse(cls, value: Any, where: str) -> Simplices:
        """Check a simplex list (user's or file's).

        Raises:
            ValidationError: unless ``value`` is a non-empty list of simplices, each at least
                two distinct non-negative int unit indices, no simplex listed twice.
        """
        if isinstance(value, Simplices):
            return value
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
            raise ValidationError(
                f"{where}: simplices must be a list of tuples of unit indices, e.g. [(0, 1), (0, 1, 2)]; got "
                f"{type(value).__name__}."
            )
        items = []
        for n, simplex in enumerate(value):
            if isinstance(simplex, np.ndarray):
                simplex = simplex.tolist()
            ok = isinstance(simplex, (tuple, list)) and all(
                isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) and i >= 0 for i in simplex
            )
            if not ok:
                raise ValidationError(
                    f"{where}: simplex {n} must be a tuple of non-negative int unit indices, got {simplex!r:.80}."
                )
            members = tuple(sorted(int(i) for i in simplex))
            if len(members) < 2 or len(set(members)) != len(members):
                raise ValidationError(
                    f"{where}: simplex {n} = {tuple(simplex)} must join at least two distinct units (a pair, a "
                    "triangle, ...)."
                )
            items.append(members)
        if not items:
            raise ValidationError(f"{where}: simplices is empty; give at least one simplex such as (0, 1).")
        if len(set(items)) != len(items):
            seen: set[tuple[int, ...]] = set()
            dup = next(s for s in items if s in seen or seen.add(s))
            raise ValidationError(f"{where}: the simplex {dup} is listed twice; list each set of units once.")
        out = cls(items)
        sizes = np.array([len(s) for s in items])
        out.groups = tuple(
            (int(k), np.flatnonzero(sizes == k), np.array([s for s in items if len(s) == k], dtype=np.int32))
            for k in sorted(set(sizes.tolist()))
        )
        return out

    @property
    def max_index(self) -> int:
        """The largest unit index used."""
        return max(s[-1] for s in self)

    def counts(self) -> dict[int, int]:
        """``{size: number of simplices of that size}``."""
        return {k: len(pos) for k, pos, _ in self.groups}

    def __hash__(self) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = tuple.__hash__(self)
        return cached


def parse_simplices(value: Any, where: str) -> Simplices:
    """``Simplices.parse`` as a field converter."""
    return Simplices.parse(value, where)


def simplicial_alignment(w: Array, simplices: Simplices, g: Array) -> Array:
    """``Σ_σ w_σ Π_{i∈σ} g_i`` over the flattened units ``g`` (one sample; ``w`` in list order)."""
    flat = g.reshape(-1)
    total = jnp.zeros((), jnp.result_type(flat.dtype, w.dtype))
    for _, positions, index in simplices.groups:
        total = total + jnp.dot(w[positions], jnp.prod(flat[index], axis=-1))
    return total


class SimplicialMemorySynapse(Synapse):
    """Setwise memory of one layer: ``F(g) = Σ_σ w_σ Π_{i∈σ} g_i`` over a list of simplices.

    The units are the layer's entries, flattened row-major; each simplex is a tuple of unit
    indices (two or more, distinct). One learnable weight per simplex, ``w`` of shape
    ``(len(simplices),)`` in the order of the list: created ``N(0, stdinit²)`` at compile
    time, or given (``w=hg.memory.simplicial(patterns, simplices)`` for Hebbian storage).
    ``∂F/∂g_i = Σ_{σ∋i} w_σ Π_{j∈σ, j≠i} g_j`` (the local field). The energy is bounded on
    bounded activations (e.g. ``hg.TanhLayer``). Files store the simplices as a list of
    index lists (about ``k·(digits + 2)`` bytes per size-``k`` simplex).

    Args:
        simplices: the simplices, e.g. ``hg.memory.random_simplices(N, counts={2: 100, 3: 50}, key=...)``;
            the ``simplices`` attribute holds them sorted within each simplex.
        stdinit: standard deviation of the Gaussian initial weights.
        w: explicit weights ``(len(simplices),)``.

    Raises:
        ValidationError: for a bad simplex list (at construction), or a unit index outside
            the connected layer (at validation).

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> syn = hg.SimplicialMemorySynapse([(0, 1), (0, 1, 2)], w=jnp.array([2.0, 3.0]))
        >>> float(syn(jnp.array([1.0, -1.0, 0.5])))                 # 2·(1·−1) + 3·(1·−1·0.5)
        -3.5
    """

    simplices: Simplices = eqx.field(static=True, converter=lambda v: parse_simplices(v, "SimplicialMemorySynapse"))
    stdinit: float = eqx.field(static=True, converter=static_float("stdinit", nonnegative=True), default=0.02)
    w: Array | None = eqx.field(converter=optional_array, default=None)

    def __check_init__(self):
        if self.w is not None and tuple(jnp.shape(self.w)) != (len(self.simplices),):
            raise ValidationError(
                f"SimplicialMemorySynapse: explicit w has shape {tuple(jnp.shape(self.w))}, but there are "
                f"{len(self.simplices)} simplices, so it must be ({len(self.simplices)},): one weight per simplex."
            )

    def param_shapes(self, shapes):
        n = numel(shapes[0])
        if self.simplices.max_index >= n:
            raise ValidationError(
                f"SimplicialMemorySynapse: a simplex uses unit {self.simplices.max_index}, but the connected layer "
                f"of shape {tuple(shapes[0])} has {n} units (indices 0..{n - 1}). Draw simplices for {n} units."
            )
        return {"w": (len(self.simplices),)}

    def __call__(self, g: Float[Array, "..."]) -> Float[Array, ""]:
        return simplicial_alignment(created_param(self.w, self, "w"), self.simplices, g)
