"""Simplicial (setwise) Hopfield memories over ±1 units (Burns & Fukai, ICLR 2023).

The energy of states ``s ∈ {−1, +1}^N`` over a list of simplices (sets of unit indices) is

    E(s) = −Σ_σ w_σ Π_{i∈σ} s_i,        Hebbian weights  w_σ = (1/N) Σ_μ Π_{i∈σ} ξ^μ_i.

With every pair as a simplex this is the classical Hopfield network (``w_ij = (1/N) Σ_μ
ξ^μ_i ξ^μ_j``). ``simplicial`` computes the weights, ``random_simplices`` draws a diluted
mixture of pairs and triangles, ``recall_binary_simplicial`` recalls by asynchronous
(or synchronous) sign updates of the local fields ``h_i = Σ_{σ∋i} w_σ Π_{j∈σ∖i} s_j``,
``simplicial_energy`` evaluates ``E``, and ``simplices_to_hif`` writes a simplex list as an
abstract simplicial complex (``"network-type": "asc"``) in the Hypergraph Interchange Format.
For continuous states and training, the same energy is ``hg.SimplicialMemorySynapse``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real

from .._errors import ValidationError
from .._internal.files import atomic_write
from .._internal.limits import check_state_memory, MAX_NEURONS
from .._internal.parse import INT32_MAX, parse_int, parse_key
from .._internal.version import package_version
from ..synapses.simplicial import Simplices, simplicial_alignment
from .binary import BinaryRecall, check_temperature, run_hot, run_recall
from .recall import check_order, check_patterns, check_probes, float_array, Simplicial, SWEEPS_HINT


__all__ = [
    "simplicial",
    "simplicial_energy",
    "recall_binary_simplicial",
    "random_simplices",
    "simplices_to_hif",
]


def _simplices(where: str, simplices: Any, N: int | None = None) -> Simplices:
    s = Simplices.parse(simplices, where)
    if N is not None and s.max_index >= N:
        raise ValidationError(
            f"{where}: a simplex uses unit {s.max_index}, but there are {N} units (indices 0..{N - 1}). "
            f"Draw simplices for N={N} (hg.memory.random_simplices({N}, ...))."
        )
    return s


def simplicial(
    patterns: Real[ArrayLike, "K N"] | Sequence[Sequence[float]], simplices: Sequence[Sequence[int]]
) -> Float[Array, " S"]:
    """Setwise Hebbian weights ``w_σ = (1/N) Σ_μ Π_{i∈σ} ξ^μ_i``, one per simplex, in list order.

    Args:
        patterns: ``(K, N)`` stored ±1 patterns.
        simplices: tuples of unit indices (sizes 2, 3, …), each set listed once.

    Returns:
        The weights ``(len(simplices),)``: pass them as ``hg.SimplicialMemorySynapse(simplices, w=...)``
        or to ``recall_binary_simplicial``.

    Raises:
        ValidationError: for patterns that are not ±1 ``(K, N)`` or a bad simplex list.

    Example:
        >>> import hamux_graph as hg
        >>> hg.memory.simplicial([[1, -1, 1, 1]], [(0, 1), (0, 2, 3)]).tolist()   # (1/4)·(1·−1), (1/4)·(1·1·1)
        [-0.25, 0.25]
    """
    where = "memory.simplicial"
    P = jnp.asarray(check_patterns(where, patterns))
    s = _simplices(where, simplices, P.shape[1])
    w = jnp.zeros((len(s),), P.dtype)
    for _, positions, index in s.groups:
        w = w.at[positions].set(jnp.sum(jnp.prod(P[:, index], axis=-1), axis=0) / P.shape[1])
    return w


def simplicial_energy(
    weights: Real[ArrayLike, " S"] | Sequence[float],
    simplices: Sequence[Sequence[int]],
    states: Real[ArrayLike, "*batch N"] | Sequence[Any],
) -> Float[Array, "*batch"]:
    """``E(s) = −Σ_σ w_σ Π_{i∈σ} s_i`` for each state (any real states, not only ±1).

    Example:
        >>> import hamux_graph as hg
        >>> float(hg.memory.simplicial_energy([0.5, 2.0], [(0, 1), (0, 1, 2)], [1.0, -1.0, -1.0]))
        -1.5
    """
    where = "memory.simplicial_energy"
    w = jnp.asarray(float_array(where, "weights", weights))
    x = jnp.asarray(float_array(where, "states", states))
    s = _simplices(where, simplices, x.shape[-1] if x.ndim else None)
    if x.ndim < 1 or w.shape != (len(s),):
        raise ValidationError(
            f"{where}: weights must have shape ({len(s)},) (one per simplex) and states (..., N); got "
            f"{tuple(w.shape)} and {tuple(x.shape)}."
        )
    flat = x.reshape(-1, x.shape[-1])
    energies = -jax.vmap(lambda g: simplicial_alignment(w, s, g))(flat)
    return energies.reshape(x.shape[:-1])


def _tables(w: np.ndarray, s: Simplices, N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron incidence tables ``(others, weights, tie)`` for ``recall.Simplicial``."""
    rank = max(len(x) for x in s) - 1
    rows: list[list[tuple[list[int], float]]] = [[] for _ in range(N)]
    for simplex, weight in zip(s, w.tolist()):
        for i in simplex:
            rest = [j for j in simplex if j != i]
            rows[i].append((rest + [N] * (rank - len(rest)), weight))
    M = max(1, max(len(r) for r in rows))
    others = np.full((N, M, rank), N, np.int32)
    weights = np.zeros((N, M), w.dtype)
    for i, r in enumerate(rows):
        for m, (rest, weight) in enumerate(r):
            others[i, m] = rest
            weights[i, m] = weight
    # a field is a sum of M terms ±w: within M·ε·Σ|w| of zero its sign is rounding (a tie)
    tie = (M * float(np.finfo(w.dtype).eps)) * np.abs(weights).sum(axis=1)
    return others, weights, tie.astype(w.dtype)


def recall_binary_simplicial(
    weights: Real[ArrayLike, " S"] | Sequence[float],
    simplices: Sequence[Sequence[int]],
    probes: Real[ArrayLike, "*batch N"] | Sequence[Any],
    *,
    key: PRNGKeyArray | None,
    order: str = "async",
    max_sweeps: int = 50,
    temperature: float = 0.0,
) -> BinaryRecall:
    """Recall in a simplicial memory by energy-lowering flips, one neuron at a time.

    Neuron ``i`` takes ``sign(h_i)`` with the local field ``h_i = Σ_{σ∋i} w_σ Π_{j∈σ∖i} s_j``.
    The energy ``E = −Σ_σ w_σ Π_{i∈σ} s_i`` is affine in each ``s_i`` (``E = −s_i h_i + …``),
    so a flip changes it by ``−(s_i' − s_i) h_i = −2|h_i| < 0``: every flip lowers the
    energy (the same energy-difference rule as ``recall_binary_dense``, written for sets).
    A field within the rounding bound ``M·ε·Σ|w|`` of its ``M`` terms counts as a tie and
    keeps the neuron. Sweeps, permutations (``jax.random.fold_in(key, t)``), padding and
    the return value are those of ``hg.memory.recall_binary``; ``order="sync"`` updates all
    neurons at once. At ``temperature=T > 0`` the updates are Glauber heat-bath draws, as in
    ``recall_binary``: neuron ``i`` takes ``+1`` with probability ``σ(2h_i/T)``, exactly
    ``max_sweeps`` sweeps run and ``converged`` is ``False``.

    Args:
        weights: ``(S,)`` simplex weights (``hg.memory.simplicial(patterns, simplices)``).
        simplices: the ``S`` simplices (tuples of unit indices).
        probes: ±1 start states ``(..., N)``; ``N`` must exceed every unit index.
        key: PRNG key for the permutations (``None`` allowed with ``order="sync"``).
        order: ``"async"`` or ``"sync"``.
        max_sweeps: the most sweeps to run (an int ≥ 0).
        temperature: ``T >= 0``; ``T > 0`` runs Glauber heat-bath updates (needs a key).

    Returns:
        A ``BinaryRecall`` ``(states, sweeps, converged)``.

    Raises:
        ValidationError: for a bad simplex list, weights of the wrong shape, probes that are
            not ±1 or too short, a bad ``order`` or ``max_sweeps``.

    Example:
        >>> import itertools, jax, numpy as np, hamux_graph as hg
        >>> pats = np.sign(np.random.default_rng(0).normal(size=(3, 32)))
        >>> tri = list(itertools.combinations(range(32), 3))[::10]        # 497 triangles
        >>> w = hg.memory.simplicial(pats, tri)
        >>> probes = pats * np.where(np.arange(32) < 3, -1, 1)             # 3 bits flipped
        >>> out = hg.memory.recall_binary_simplicial(w, tri, probes, key=jax.random.key(0))
        >>> bool((out.states == pats).all())
        True
    """
    where = "recall_binary_simplicial"
    w = np.asarray(float_array(where, "weights", weights))
    s = _simplices(where, simplices)
    if w.shape != (len(s),):
        raise ValidationError(
            f"{where}: weights must have shape ({len(s)},), one per simplex, got {w.shape}. Compute them with "
            "hg.memory.simplicial(patterns, simplices)."
        )
    shape = np.shape(probes)
    N = int(shape[-1]) if len(shape) else s.max_index + 1
    states = check_probes(where, probes, N)
    if N <= s.max_index:
        raise ValidationError(
            f"{where}: a simplex uses unit {s.max_index}, but the probes have N={N} units; probes must be "
            f"(..., N) with N > {s.max_index}."
        )
    synchronous = check_order(where, order, key)
    sweeps = parse_int(
        max_sweeps, f"{where}: max_sweeps", minimum=0, maximum=INT32_MAX, error=ValidationError, hint=SWEEPS_HINT
    )
    others, table, tie = _tables(w, s, N)
    system = Simplicial(jnp.asarray(others), jnp.asarray(table), jnp.asarray(tie))
    T = check_temperature(where, temperature, key)
    if T > 0:
        return run_hot(system, w.dtype, states, key, synchronous, sweeps, T)
    return run_recall(system, w.dtype, states, key, synchronous, sweeps)


def random_simplices(N: int, counts: Mapping[int, int], *, key: PRNGKeyArray) -> tuple[tuple[int, ...], ...]:
    """Draw distinct simplices uniformly: ``counts[k]`` different ``k``-subsets of ``range(N)`` per size.

    Sizes come out in increasing order, each simplex sorted; the draw is a function of
    ``key`` (one key per size, ``jax.random.fold_in(key, k)``). A mixture such as
    ``counts={2: 2475, 3: 2475}`` at ``N = 100`` has as many weights as the full pairwise
    network (``N(N−1)/2 = 4950``), the comparison of Burns & Fukai (2023).

    Args:
        N: number of units.
        counts: ``{size k ≥ 2: how many}``; at most ``C(N, k)`` of each.
        key: a JAX PRNG key.

    Returns:
        A tuple of sorted index tuples.

    Raises:
        ValidationError: for ``N < 2``, a size outside ``[2, N]``, or a count that is
            negative or more than ``C(N, k)``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> s = hg.memory.random_simplices(10, counts={2: 5, 3: 4}, key=jax.random.key(0))
        >>> [len(x) for x in s], len(set(s))
        ([2, 2, 2, 2, 2, 3, 3, 3, 3], 9)
    """
    where = "memory.random_simplices"
    n = parse_int(N, f"{where}: N", minimum=2, maximum=MAX_NEURONS, error=ValidationError)
    key = parse_key(key, f"{where}: key", error=ValidationError)
    if not isinstance(counts, Mapping) or not counts:
        raise ValidationError(f"{where}: counts must be a non-empty dict {{size: count}}, e.g. {{2: 100, 3: 50}}.")
    sizes = {parse_int(k, f"{where}: a simplex size", minimum=2, error=ValidationError): k for k in counts}
    out: list[tuple[int, ...]] = []
    for size in sorted(sizes):
        k = sizes[size]
        if size > n:
            raise ValidationError(f"{where}: simplex size {size} is larger than N={n}; sizes go from 2 to N.")
        total = math.comb(n, size)
        want = parse_int(counts[k], f"{where}: counts[{size}]", minimum=0, error=ValidationError)
        if want > total:
            raise ValidationError(f"{where}: counts[{size}]={want}, but only C({n}, {size}) = {total} exist.")
        rng = np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(key, size))).ravel())
        if total <= 4 * want or total <= 200_000:  # enumerate and choose without replacement
            chosen = rng.choice(total, size=want, replace=False) if want else np.zeros(0, int)
            picked = set(chosen.tolist())
            out.extend(c for j, c in enumerate(itertools.combinations(range(n), size)) if j in picked)
            continue
        check_state_memory(
            [(2 * want, n)], 8, f"{where}(N={n}, counts[{size}]={want})", fix="Ask for fewer simplices or units."
        )
        seen: set[tuple[int, ...]] = set()
        drawn: list[tuple[int, ...]] = []
        while len(drawn) < want:  # rejection: fewer than a quarter of all subsets are wanted
            cand = np.sort(np.argsort(rng.random((2 * (want - len(drawn)), n)), axis=1)[:, :size], axis=1)
            for row in map(tuple, cand.tolist()):
                if row not in seen and len(drawn) < want:
                    seen.add(row)
                    drawn.append(row)
        out.extend(sorted(drawn))
    return tuple(out)


def simplices_to_hif(
    simplices: Sequence[Sequence[int]],
    path: str | os.PathLike,
    *,
    weights: Real[ArrayLike, " S"] | Sequence[float] | None = None,
    num_units: int | None = None,
) -> None:
    """Write a simplex list as an abstract simplicial complex in HIF (JSON).

    The file is a Hypergraph Interchange Format document with ``"network-type": "asc"``:
    the units as ``nodes`` (``{"node": i}``, ``0 … num_units−1``), each simplex as an edge
    (``{"edge": s}`` in list order, with ``attrs.weight`` when ``weights`` is given) and one
    ``incidences`` entry ``{"edge": s, "node": i}`` per member. HIF's ``asc`` says the
    edges are closed under subsets; the file lists the simplices given (the faces of a
    triangle are implied, not written). A HAM's own HIF stays ``"undirected"``.

    Args:
        simplices: tuples of unit indices.
        path: the JSON file to write (atomically).
        weights: optional ``(S,)`` weights, written as each edge's ``attrs.weight``.
        num_units: the number of units (default: the largest index + 1).

    Raises:
        ValidationError: for a bad simplex list, weights of the wrong shape or a
            ``num_units`` smaller than an index.

    Example:
        >>> import json, os, tempfile, hamux_graph as hg
        >>> path = os.path.join(tempfile.mkdtemp(), "complex.json")
        >>> hg.memory.simplices_to_hif([(0, 1), (0, 1, 2)], path)
        >>> doc = json.load(open(path))
        >>> doc["network-type"], len(doc["nodes"]), len(doc["edges"]), len(doc["incidences"])
        ('asc', 3, 2, 5)
    """
    where = "memory.simplices_to_hif"
    s = _simplices(where, simplices)
    n = s.max_index + 1 if num_units is None else parse_int(num_units, f"{where}: num_units", error=ValidationError)
    if n <= s.max_index:
        raise ValidationError(f"{where}: num_units={n}, but a simplex uses unit {s.max_index}.")
    w = None
    if weights is not None:
        w = np.asarray(float_array(where, "weights", weights), np.float64)
        if w.shape != (len(s),) or not np.isfinite(w).all():
            raise ValidationError(
                f"{where}: weights must be {len(s)} finite numbers (one per simplex), got shape {w.shape}."
            )
    edges = [{"edge": e} if w is None else {"edge": e, "attrs": {"weight": float(w[e])}} for e in range(len(s))]
    doc = {
        "network-type": "asc",
        "metadata": {"creator": f"hamux_graph {package_version()}", "units": n},
        "nodes": [{"node": i} for i in range(n)],
        "edges": edges,
        "incidences": [{"edge": e, "node": i} for e, simplex in enumerate(s) for i in simplex],
    }
    atomic_write(path, (json.dumps(doc, allow_nan=False) + "\n").encode("utf-8"))
