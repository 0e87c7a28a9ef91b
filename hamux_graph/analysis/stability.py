"""Which fixed points are minima: the Hessian of the energy with respect to the free states.

``stability(model, xs)`` takes the Hessian ``H = ∂²E/∂x²`` of the energy with respect to the
free entries of the states (the entries a clamp does not hold) at ``xs`` and classifies each
state by its smallest eigenvalue:

- ``"minimum"``: every eigenvalue ``> tol·s``;
- ``"saddle"``: some eigenvalue ``< −tol·s`` (a maximum counts as a saddle: it is not stable);
- ``"flat"``: otherwise (a zero mode the projection below did not remove),

with ``s = max(1, ‖H‖₂)`` the spectral scale (its estimate from the Lanczos tridiagonal with
``k``). ``residual`` is the RMS of ``∂E/∂g`` over the free entries, so a state that is not a
fixed point says so (the Hessian is then still computed, but "minimum" means only that
the energy is locally convex there).

Directions along which the energy is exactly invariant are projected out first: the
all-ones direction of every row of a softmax-family layer (``LSoftmax``, ``LSparsemax``,
``LEntmax``: ``L(x + c·1) = L(x) + c`` and ``g`` is unchanged) and of a layer-norm layer
(``LLayerNorm``: ``g`` depends on ``x − x̄`` only), counted only when the whole row is free.
``Stability.invariant`` reports how many were removed, and the eigenvalues are those of
``H`` on the orthogonal complement (``n`` = free entries minus ``invariant``).

Small models get the dense Hessian (``jax.hessian`` of the energy of the free entries,
``numpy.linalg.eigvalsh``, in float64 up to 512 entries). With ``k``, the ``k`` smallest eigenvalues come from
Lanczos iterations on Hessian-vector products (forward-mode derivative of the gradient; the
Hessian is never formed), with full reorthogonalisation and restarts on breakdown (so
repeated eigenvalues are found with their multiplicity).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._api import CompiledHAM, HAM
from .._dynamics.common import check_batched_clamp, normalize_clamp
from .._energy.core import flat_states, sample_dEdg, sample_energy, StatesLike
from .._errors import ArgumentError
from .._internal.parse import INT32_MAX, parse_float, parse_int
from .._types import ClampSpec
from ..lagrangians.elementwise import LLayerNorm, LSoftmax
from ..lagrangians.simplex import LEntmax, LSparsemax


__all__ = ["Stability", "stability", "KINDS", "DENSE_LIMIT", "SHIFT_INVARIANT"]

KINDS = ("minimum", "saddle", "flat")
"""The kinds a fixed point can have."""

DENSE_LIMIT = 4096
"""The most free entries the dense Hessian is formed for; above it, pass ``k``."""

SHIFT_INVARIANT = (LSoftmax, LSparsemax, LEntmax, LLayerNorm)
"""Lagrangians whose layer energy and activation do not change when a row along ``axis`` is shifted."""


class Stability(NamedTuple):
    """What ``stability`` returns; the fields follow the batch of the states.

    Attributes:
        eigenvalues: ``(B, n)`` (or ``(n,)``) the Hessian's eigenvalues in ascending order,
            on the free entries less the invariant directions (``n = k`` with Lanczos).
        kind: per state ``"minimum"``, ``"saddle"`` or ``"flat"`` (a tuple of ``B`` strings,
            or one string for unbatched states).
        residual: ``(B,)`` (or a scalar) the RMS of ``∂E/∂g`` over the free entries.
        invariant: how many exactly invariant directions were projected out (per state).
    """

    eigenvalues: Float[Array, "*batch n"]
    kind: tuple[str, ...] | str
    residual: Float[Array, "*batch"]
    invariant: int


# ---- the free entries -------------------------------------------------------------------


def _free_masks(model: CompiledHAM, clamp: ClampSpec, batch: int) -> list[np.ndarray]:
    """Per layer a bool array ``(B, *shape)``: ``True`` where the entry is free."""
    entries = normalize_clamp(model, clamp)
    check_batched_clamp(model, entries, None if batch == 0 else batch)
    B = max(batch, 1)
    out = []
    for shape, entry in zip(model.shapes, entries):
        if entry is None:
            out.append(np.ones((B,) + tuple(shape), bool))
        elif entry is True:
            out.append(np.zeros((B,) + tuple(shape), bool))
        else:
            held = np.asarray(entry)
            if held.ndim == len(shape) + 1:
                held = np.broadcast_to(held, (B,) + tuple(shape))
            else:
                held = np.broadcast_to(held, tuple(shape))[None]
                held = np.broadcast_to(held, (B,) + tuple(shape))
            out.append(~held)
    return out


def _invariant_directions(model: CompiledHAM, free: list[np.ndarray], b: int, index: np.ndarray) -> np.ndarray:
    """``(n, r)`` orthonormal invariant directions of sample ``b`` in free-entry coordinates."""
    pos = np.full(int(sum(math.prod(s) for s in model.shapes)), -1)
    pos[index] = np.arange(index.size)
    cols = []
    offset = 0
    for lag, shape, mask in zip(model.lagrangians, model.shapes, free):
        size = math.prod(shape)
        if isinstance(lag, SHIFT_INVARIANT) and len(shape) > 0:
            axis = lag.axis % len(shape)
            ids = np.arange(size).reshape(shape) + offset
            rows = np.moveaxis(ids, axis, -1).reshape(-1, shape[axis])
            row_free = np.moveaxis(mask[b], axis, -1).reshape(-1, shape[axis]).all(axis=1)
            for row in rows[row_free]:
                v = np.zeros(index.size)
                v[pos[row]] = 1.0 / math.sqrt(row.size)
                cols.append(v)
        offset += size
    return np.stack(cols, axis=1) if cols else np.zeros((index.size, 0))


def _complement(V: np.ndarray) -> np.ndarray:
    """An orthonormal basis ``(n, n − r)`` of the orthogonal complement of ``V``'s columns."""
    n, r = V.shape
    if r == 0:
        return np.eye(n)
    q, _ = np.linalg.qr(np.concatenate([V, np.eye(n)], axis=1))
    return q[:, r:n]


# ---- the energy of the free entries ---------------------------------------------------------


def _states_of(model: CompiledHAM, full: Array, index: Array, z: Array) -> tuple[Array, ...]:
    x = full.at[index].set(z)
    parts, offset = [], 0
    for shape in model.shapes:
        size = math.prod(shape)
        parts.append(x[offset : offset + size].reshape(shape))
        offset += size
    return tuple(parts)


def _free_energy(model: CompiledHAM, full: Array, index: Array, z: Array) -> Array:
    return sample_energy(model, _states_of(model, full, index, z))


@eqx.filter_jit
def _dense_hessians(model: CompiledHAM, full: Array, index: Array) -> Array:
    def one(f: Array, i: Array) -> Array:
        return jax.hessian(lambda z: _free_energy(model, f, i, z))(f[i])

    return jax.vmap(one)(full, index)


@eqx.filter_jit
def _hvp(model: CompiledHAM, full: Array, index: Array, v: Array) -> Array:
    def grad(z: Array) -> Array:
        return jax.grad(lambda w: _free_energy(model, full, index, w))(z)

    return jax.jvp(grad, (full[index],), (v,))[1]


@eqx.filter_jit
def _residuals(model: CompiledHAM, full: Array, index: Array) -> Array:
    def one(f: Array, i: Array) -> Array:
        d = jnp.concatenate([a.reshape(-1) for a in sample_dEdg(model, _states_of(model, f, i, f[i]))])
        return jnp.sqrt(jnp.mean(d[i] ** 2))

    return jax.vmap(one)(full, index)


# ---- Lanczos ---------------------------------------------------------------------------------


def _lanczos(matvec, n: int, k: int, steps: int, V: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The ``k`` smallest eigenvalues of a symmetric operator on the complement of ``V``, and ``‖·‖₂``'s estimate."""

    def orthogonalise(w: np.ndarray, Q: list[np.ndarray]) -> np.ndarray:
        for _ in range(2):  # twice is enough (Kahan–Parlett)
            if Q:
                M = np.stack(Q, axis=1)
                w = w - M @ (M.T @ w)
            if V.shape[1]:
                w = w - V @ (V.T @ w)
        return w

    def fresh(Q: list[np.ndarray]) -> np.ndarray | None:
        for _ in range(3):
            w = orthogonalise(rng.normal(size=n), Q)
            norm = np.linalg.norm(w)
            if norm > 1e-8:
                return w / norm
        return None

    Q: list[np.ndarray] = []
    alphas: list[float] = []
    betas: list[float] = []
    q = fresh(Q)
    prev = np.zeros(n)
    beta = 0.0
    while q is not None and len(Q) < steps:
        Q.append(q)
        w = matvec(q)
        alpha = float(q @ w)
        w = w - alpha * q - beta * prev
        w = orthogonalise(w, Q)
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        scale = max(1.0, max(abs(a) for a in alphas))
        if len(Q) == steps:
            break
        if beta <= 1e-6 * scale:  # an invariant subspace: restart from a new direction
            betas.append(0.0)
            prev, beta = np.zeros(n), 0.0
            q = fresh(Q)
        else:
            betas.append(beta)
            prev, q = q, w / beta
    m = len(alphas)
    T = np.diag(alphas) + np.diag(betas[: m - 1], 1) + np.diag(betas[: m - 1], -1)
    ritz = np.linalg.eigvalsh(T)
    return ritz[:k], float(np.max(np.abs(ritz)))


# ---- the public function ---------------------------------------------------------------------


def stability(
    model: CompiledHAM,
    xs: StatesLike,
    *,
    clamp: ClampSpec = None,
    k: int | None = None,
    tol: float = 1e-5,
    steps: int | None = None,
    seed: int = 0,
) -> Stability:
    """Classify states as minima, saddles or flat points from the Hessian of the energy.

    The Hessian is taken with respect to the free entries of all layers (those ``clamp``
    does not hold), at ``xs``; exactly invariant directions (the all-ones direction of the
    rows of softmax-family and layer-norm layers) are projected out and counted. A state is a
    ``"minimum"`` if every eigenvalue is ``> tol·s``, a ``"saddle"`` if one is ``< −tol·s``
    and ``"flat"`` otherwise, with ``s = max(1, ‖H‖₂)``. ``residual`` (the RMS of
    ``∂E/∂g`` over the free entries) says how far the state is from a fixed point.

    Args:
        model: the compiled HAM.
        xs: states dict, with or without a leading batch axis (e.g. ``model.relax(...).states``).
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held), as in
            ``model.relax``. A batched mask must leave the same number of entries free in
            every sample.
        k: ``None`` for the dense Hessian (all eigenvalues; up to ``DENSE_LIMIT`` free
            entries), or the number of smallest eigenvalues to find by Lanczos iterations on
            Hessian-vector products (for large models).
        tol: the relative eigenvalue threshold of the kinds.
        steps: Lanczos iterations (default ``min(n, max(20·k, 100))``).
        seed: seed of the Lanczos start vectors.

    Returns:
        A ``Stability``: ``eigenvalues`` ``(B, n)`` ascending, ``kind`` (``B`` strings),
        ``residual`` ``(B,)``, ``invariant``; unbatched states give ``(n,)``, a string and
        a scalar.

    Raises:
        StateError: for states or a clamp that do not fit the model.
        ArgumentError: for an uncompiled ``HAM``, nothing free, a batched clamp that frees a
            different number of entries per sample, a bad ``k``/``tol``/``steps``, or more than
            ``DENSE_LIMIT`` free entries without ``k``.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> P = jnp.array([[1.0, 0.0], [-1.0, 0.0]])  # Gaussian memory of ±e₁ at β = 4
        >>> model = hg.zoo.gaussian_memory(P, beta=4.0).compile(key=jax.random.key(0))
        >>> st = hg.analysis.stability(model, {"visible": jnp.zeros((1, 2))})
        >>> st.kind, [round(float(e), 4) for e in st.eigenvalues[0]]  # 1 − β at the origin
        (('saddle',), [-3.0, 1.0])
    """
    where = "stability"
    if isinstance(model, HAM):
        raise ArgumentError(f"{where}: got an uncompiled hg.HAM; pass ham.compile(key=jax.random.key(0)).")
    if not isinstance(model, CompiledHAM):
        raise ArgumentError(f"{where}: model must be a CompiledHAM, got {type(model).__name__}.")
    tol_f = parse_float(tol, f"{where}: tol", minimum=0.0, error=ArgumentError)
    flat, batch = flat_states(model, xs)
    B = 1 if batch is None else batch
    full = jnp.concatenate([a.reshape(B, -1) for a in flat], axis=1)
    free = _free_masks(model, clamp, 0 if batch is None else batch)
    free_flat = np.concatenate([m.reshape(B, -1) for m in free], axis=1)
    counts = free_flat.sum(axis=1)
    if counts.min() == 0:
        raise ArgumentError(f"{where}: the clamp holds every entry; there is nothing free to take the Hessian over.")
    if counts.min() != counts.max():
        raise ArgumentError(
            f"{where}: a batched clamp mask frees {counts.min()} to {counts.max()} entries in different samples; "
            "the eigenvalues of a batch need the same number of free entries in every sample. Call stability per "
            "sample (or per group of samples with equal masks)."
        )
    n = int(counts[0])
    index_np = np.stack([np.flatnonzero(row) for row in free_flat])
    index = jnp.asarray(index_np)
    Vs = [_invariant_directions(model, free, b, index_np[b]) for b in range(B)]
    r = Vs[0].shape[1]
    if any(V.shape[1] != r for V in Vs):
        raise ArgumentError(
            f"{where}: the samples' clamp masks leave a different number of whole softmax/layer-norm rows free; "
            "call stability per sample."
        )
    if n - r == 0:
        raise ArgumentError(f"{where}: every free direction is an invariant one; nothing is left to classify.")
    residual = np.asarray(_residuals(model, full, index))
    if k is None:
        if n > DENSE_LIMIT:
            raise ArgumentError(
                f"{where}: {n} free entries is more than the dense Hessian's limit of {DENSE_LIMIT}; pass k=<number "
                "of smallest eigenvalues> to use Lanczos iterations on Hessian-vector products."
            )
        H = np.asarray(_dense_hessians(model, full, index))
        # float64 for small Hessians; large ones keep their dtype (LAPACK time halves in float32)
        H = H.astype(np.float64 if n <= 512 else H.dtype)
        eig = []
        scales = []
        for b in range(B):
            Hs = 0.5 * (H[b] + H[b].T)
            if r:
                C = _complement(Vs[b])
                Hs = C.T @ Hs @ C
            values = np.linalg.eigvalsh(Hs)
            eig.append(values)
            scales.append(max(1.0, float(np.max(np.abs(values)))))
    else:
        kk = parse_int(k, f"{where}: k", minimum=1, error=ArgumentError)
        if kk > n - r:
            raise ArgumentError(f"{where}: k={kk} but only {n - r} free directions are left; pass k <= {n - r}.")
        m = parse_int(
            steps if steps is not None else min(n - r, max(20 * kk, 100)),
            f"{where}: steps",
            minimum=kk,
            maximum=INT32_MAX,
            error=ArgumentError,
        )
        m = min(m, n - r)
        rng = np.random.default_rng(parse_int(seed, f"{where}: seed", minimum=0, error=ArgumentError))
        eig, scales = [], []
        dtype = full.dtype
        for b in range(B):

            def matvec(v: np.ndarray, b: int = b) -> np.ndarray:
                out = _hvp(model, full[b], index[b], jnp.asarray(v, dtype=dtype))
                return np.asarray(out, dtype=np.float64)

            values, norm = _lanczos(matvec, n, kk, m, Vs[b], rng)
            eig.append(values)
            scales.append(max(1.0, norm))
    kinds = tuple(_kind(values, tol_f * s) for values, s in zip(eig, scales))
    values = jnp.asarray(np.stack(eig), dtype=full.dtype)
    res = jnp.asarray(residual, dtype=full.dtype)
    if batch is None:
        return Stability(values[0], kinds[0], res[0], r)
    return Stability(values, kinds, res, r)


def _kind(values: np.ndarray, threshold: float) -> str:
    if values[0] > threshold:
        return "minimum"
    if values[0] < -threshold:
        return "saddle"
    return "flat"
