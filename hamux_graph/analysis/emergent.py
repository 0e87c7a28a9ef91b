"""Emergent memories: the fixed points of a distance memory that are no stored pattern.

``emergent_minima(model, patterns, layer=...)`` enumerates the fixed points of a model whose
layer ``layer`` carries a distance-kernel memory (``GaussianMemorySynapse``,
``EpanechnikovMemorySynapse`` or ``RandomFeatureMemorySynapse``, e.g. the zoo's
``gaussian_memory`` and ``epanechnikov_memory``):

1. candidates: the centroids of pattern subsets (``Centroids(max_size=3)``), or, for the
   compact Epanechnikov kernel, of the cliques of the support-overlap graph (patterns closer
   than twice the support radius ``√(2/β)``; ``SupportCliques()``), or explicit states;
2. each candidate is refined by ``model.relax`` (the other layers free, starting at zero);
3. converged end states are merged when closer than ``merge`` (first found kept);
4. each is classified by ``stability``.

A fixed point's *members* are the patterns that carry it: for a compact kernel those whose
support contains it, otherwise those whose kernel weight ``exp(−(β/2)‖x − ξ_μ‖²)`` is at
least half the largest one. A minimum with one member is a stored pattern (``stored``);
one with several is emergent (Epanechnikov's centroids of overlapping supports, or the
merged minimum of a Gaussian memory at small β).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, cast, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import networkx as nx
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._api import CompiledHAM, HAM
from .._errors import ArgumentError, ValidationError
from .._internal.parse import parse_float, parse_int
from ..synapses import EpanechnikovMemorySynapse, GaussianMemorySynapse, RandomFeatureMemorySynapse
from .stability import stability


__all__ = ["EmergentMinima", "Centroids", "SupportCliques", "emergent_minima", "CANDIDATES"]


class Centroids(eqx.Module):
    """Candidates: the centroids of every subset of at most ``max_size`` patterns."""

    max_size: int = eqx.field(static=True, default=3)

    def __check_init__(self):
        if not isinstance(self.max_size, int) or self.max_size < 1:
            raise ArgumentError(f"Centroids: max_size must be an int >= 1, got {self.max_size!r}.")

    def subsets(self, patterns: np.ndarray, radius: float | None) -> list[tuple[int, ...]]:
        """The pattern subsets whose centroids are the candidates."""
        K = patterns.shape[0]
        return [c for size in range(1, min(self.max_size, K) + 1) for c in itertools.combinations(range(K), size)]


class SupportCliques(eqx.Module):
    """Candidates: the centroids of the cliques of the support-overlap graph (compact kernels).

    Two patterns are joined when their supports overlap (distance ``< 2·radius``); the
    candidates are every clique up to ``max_candidates`` (smallest first) and every maximal
    clique (at most ``max_candidates`` more).
    """

    max_candidates: int = eqx.field(static=True, default=20000)

    def __check_init__(self):
        if not isinstance(self.max_candidates, int) or self.max_candidates < 1:
            raise ArgumentError(f"SupportCliques: max_candidates must be an int >= 1, got {self.max_candidates!r}.")

    def subsets(self, patterns: np.ndarray, radius: float | None) -> list[tuple[int, ...]]:
        """The cliques whose centroids are the candidates."""
        if radius is None:
            raise ArgumentError(
                "emergent_minima: SupportCliques needs a compact kernel (EpanechnikovMemorySynapse); use "
                "candidates=Centroids() for Gaussian memories."
            )
        K = patterns.shape[0]
        flat = patterns.reshape(K, -1)
        d = np.sqrt(np.maximum(((flat[:, None, :] - flat[None, :, :]) ** 2).sum(-1), 0.0))
        graph = nx.Graph()
        graph.add_nodes_from(range(K))
        graph.add_edges_from((i, j) for i in range(K) for j in range(i + 1, K) if d[i, j] < 2.0 * radius)
        found: dict[tuple[int, ...], None] = {}
        for clique in itertools.islice(nx.enumerate_all_cliques(graph), self.max_candidates):
            found[tuple(sorted(clique))] = None
        for clique in itertools.islice(nx.find_cliques(graph), self.max_candidates):
            found[tuple(sorted(clique))] = None
        return list(found)


CANDIDATES = ("centroids",)
"""The string forms of ``candidates``: ``"centroids"`` (``SupportCliques()`` for compact kernels, else ``Centroids(3)``)."""


class EmergentMinima(NamedTuple):
    """What ``emergent_minima`` returns: the distinct fixed points found, minima first.

    Attributes:
        states: ``(A, *shape)`` the fixed points (the layer's states).
        kind: per fixed point ``"minimum"``, ``"saddle"`` or ``"flat"`` (``stability``).
        lowest: ``(A,)`` the smallest Hessian eigenvalue at each.
        energies: ``(A,)`` the energy at each.
        members: per fixed point the indices of the patterns that carry it.
        sizes: ``(A,)`` the number of members.
        stored: ``(A,)`` ``True`` for a minimum with one member (a stored pattern).
        emergent: ``(A,)`` ``True`` for a minimum with several members.
        residual: ``(A,)`` the RMS of ``∂E/∂g`` at each.
        unconverged: how many candidates did not reach a fixed point (left out).
    """

    states: Float[Array, "A ..."]
    kind: tuple[str, ...]
    lowest: Float[Array, " A"]
    energies: Float[Array, " A"]
    members: tuple[tuple[int, ...], ...]
    sizes: Int[Array, " A"]
    stored: Bool[Array, " A"]
    emergent: Bool[Array, " A"]
    residual: Float[Array, " A"]
    unconverged: int

    @property
    def num_minima(self) -> int:
        """How many minima were found."""
        return sum(k == "minimum" for k in self.kind)

    @property
    def num_emergent(self) -> int:
        """How many minima are emergent (carried by several patterns)."""
        return int(np.asarray(self.emergent).sum())


def _memory_of(where: str, model: CompiledHAM, layer: str) -> tuple[Any, float, float | None]:
    """The memory synapse on ``layer``, its β and its support radius (``None``: not compact)."""
    found = []
    for name, layers in zip(model.synapse_names, model.edge_layers):
        syn = model.synapse(name)
        if isinstance(syn, (GaussianMemorySynapse, EpanechnikovMemorySynapse, RandomFeatureMemorySynapse)):
            if model.layer_names[layers[0]] == layer:
                found.append(syn)
    if len(found) != 1:
        raise ValidationError(
            f"{where}: layer {layer!r} must carry exactly one distance memory synapse (GaussianMemorySynapse, "
            f"EpanechnikovMemorySynapse or RandomFeatureMemorySynapse), found {len(found)}. Build the model with "
            "hg.zoo.gaussian_memory or hg.zoo.epanechnikov_memory."
        )
    syn = found[0]
    beta = float(syn.effective_beta)
    radius = math.sqrt(2.0 / beta) if isinstance(syn, EpanechnikovMemorySynapse) else None
    return syn, beta, radius


def _members(x: np.ndarray, patterns: np.ndarray, beta: float, radius: float | None) -> tuple[int, ...]:
    d2 = ((patterns - x[None]) ** 2).sum(-1)
    if radius is not None:
        inside = np.flatnonzero(d2 < radius**2)
        if inside.size:
            return tuple(int(i) for i in inside[np.argsort(d2[inside], kind="stable")])
    w = -0.5 * beta * (d2 - d2.min())
    carry = np.flatnonzero(w >= math.log(0.5))
    return tuple(int(i) for i in carry[np.argsort(d2[carry], kind="stable")])


def emergent_minima(
    model: CompiledHAM,
    patterns: Float[ArrayLike, "K ..."],
    *,
    layer: str,
    candidates: str | Centroids | SupportCliques | Float[ArrayLike, "C ..."] = "centroids",
    tol: float = 1e-5,
    merge: float = 1e-3,
    dt: float = 0.5,
    max_steps: int = 20000,
) -> EmergentMinima:
    """Enumerate the fixed points of a distance memory: stored, emergent, and saddles.

    Candidates (centroids of pattern subsets, or of the cliques of the support-overlap graph
    for the compact Epanechnikov kernel) are relaxed with ``model.relax``, merged when closer
    than ``merge``, and classified with ``hg.analysis.stability``. Candidates that do not
    converge within ``max_steps`` are left out and counted in ``unconverged``.

    Args:
        model: a compiled model whose ``layer`` carries one distance memory synapse.
        patterns: ``(K, *shape)`` the stored patterns (the synapse's own, usually).
        layer: the layer the memory acts on (``"visible"`` in the zoo's memories).
        candidates: ``"centroids"`` (``SupportCliques()`` for an Epanechnikov memory, else
            ``Centroids(max_size=3)``), a strategy object, or explicit start states
            ``(C, *shape)``.
        tol: convergence threshold of the relaxation (RMS of ``∂E/∂g``).
        merge: end states closer than this are one fixed point.
        dt: Euler step of the relaxation.
        max_steps: step cap of the relaxation.

    Returns:
        An ``EmergentMinima`` (minima first, then by energy): ``result.num_minima``,
        ``result.num_emergent``, and per fixed point its kind, members and sizes.

    Raises:
        ValidationError: for a layer without exactly one distance memory, or patterns that do
            not fit the layer.
        ArgumentError: for an uncompiled ``HAM``, an unknown candidates form or bad settings.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> P = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # unit-side triangle
        >>> model = hg.zoo.epanechnikov_memory(P, beta=4.0).compile(key=jax.random.key(0))
        >>> found = hg.analysis.emergent_minima(model, P, layer="visible")
        >>> found.num_minima, found.num_emergent, sorted(found.sizes.tolist())
        (7, 4, [1, 1, 1, 2, 2, 2, 3])
    """
    where = "emergent_minima"
    if isinstance(model, HAM):
        raise ArgumentError(f"{where}: got an uncompiled hg.HAM; pass ham.compile(key=jax.random.key(0)).")
    if not isinstance(model, CompiledHAM):
        raise ArgumentError(f"{where}: model must be a CompiledHAM, got {type(model).__name__}.")
    if not isinstance(layer, str) or layer not in model.layer_names:
        raise ValidationError(f"{where}: unknown layer {layer!r}; this model's layers are {list(model.layer_names)}.")
    shape = tuple(model.shapes[model.layer_index(layer)])
    P = np.asarray(patterns, dtype=np.float64)
    if P.ndim < 2 or tuple(P.shape[1:]) != shape or P.shape[0] < 1:
        raise ValidationError(
            f"{where}: patterns must have shape (K, *{shape}) for layer {layer!r}, got {tuple(P.shape)}."
        )
    tol_a = parse_float(tol, f"{where}: tol", positive=True, error=ArgumentError)
    merge_f = parse_float(merge, f"{where}: merge", positive=True, error=ArgumentError)
    steps = parse_int(max_steps, f"{where}: max_steps", minimum=1, error=ArgumentError)
    _, beta, radius = _memory_of(where, model, layer)
    flat = P.reshape(P.shape[0], -1)
    if isinstance(candidates, str):
        if candidates not in CANDIDATES:
            raise ArgumentError(
                f"{where}: candidates must be one of {list(CANDIDATES)}, a strategy object "
                f"(Centroids(), SupportCliques()) or start states, got {candidates!r}."
            )
        strategy: Centroids | SupportCliques = SupportCliques() if radius is not None else Centroids()
        starts = np.stack([flat[list(s)].mean(0) for s in strategy.subsets(flat, radius)])
    elif isinstance(candidates, (Centroids, SupportCliques)):
        starts = np.stack([flat[list(s)].mean(0) for s in candidates.subsets(flat, radius)])
    else:
        C = np.asarray(candidates, dtype=np.float64)
        if C.ndim < 2 or tuple(C.shape[1:]) != shape:
            raise ArgumentError(f"{where}: explicit candidates must have shape (C, *{shape}), got {tuple(C.shape)}.")
        starts = C.reshape(C.shape[0], -1)
    xs = model.init_states(batch_size=starts.shape[0])
    xs[layer] = jnp.asarray(starts.reshape((-1,) + shape), dtype=xs[layer].dtype)
    res = model.relax(xs, tol=tol_a, dt=dt, max_steps=steps, throw=False, trace=False)
    ok = np.asarray(res.converged).reshape(-1)
    relaxed = cast(dict[str, Array], res.states)  # a dict in, a dict out
    ends = {n: np.asarray(a)[ok] for n, a in relaxed.items()}
    end_layer = ends[layer].reshape(int(ok.sum()), -1)
    keep: list[int] = []
    for i in range(end_layer.shape[0]):
        if all(np.linalg.norm(end_layer[i] - end_layer[j]) >= merge_f for j in keep):
            keep.append(i)
    unconverged = int((~ok).sum())
    if not keep:
        empty = jnp.zeros((0,), dtype=xs[layer].dtype)
        return EmergentMinima(
            jnp.zeros((0,) + shape, xs[layer].dtype),
            (),
            empty,
            empty,
            (),
            jnp.zeros((0,), jnp.int32),
            jnp.zeros((0,), bool),
            jnp.zeros((0,), bool),
            empty,
            unconverged,
        )
    fixed = {n: jnp.asarray(a[keep]) for n, a in ends.items()}
    st = stability(model, fixed)
    energies = np.asarray(model.energy(fixed))
    kinds = tuple(st.kind) if isinstance(st.kind, tuple) else (st.kind,)
    lowest = np.asarray(st.eigenvalues)[:, 0]
    order = sorted(range(len(keep)), key=lambda i: (kinds[i] != "minimum", float(energies[i])))
    pts = end_layer[keep][order]
    members = tuple(_members(p.astype(np.float64), flat, beta, radius) for p in pts)
    sizes = np.array([len(m) for m in members], dtype=np.int32)
    kind = tuple(kinds[i] for i in order)
    is_min = np.array([k == "minimum" for k in kind])
    dtype = xs[layer].dtype
    return EmergentMinima(
        states=jnp.asarray(pts.reshape((-1,) + shape), dtype=dtype),
        kind=kind,
        lowest=jnp.asarray(lowest[order], dtype=dtype),
        energies=jnp.asarray(energies[order], dtype=dtype),
        members=members,
        sizes=jnp.asarray(sizes),
        stored=jnp.asarray(is_min & (sizes == 1)),
        emergent=jnp.asarray(is_min & (sizes > 1)),
        residual=jnp.asarray(np.asarray(st.residual)[order], dtype=dtype),
        unconverged=unconverged,
    )
