"""Binary memories at finite temperature: the overlaps along Glauber dynamics.

``overlap_trace`` runs Glauber heat-bath sweeps (``hg.memory.recall_binary(...,
temperature=T)``) and records the overlaps ``m_μ = ξ_μ·σ/N`` with every stored pattern
after every sweep: what a phase diagram in load ``α = K/N`` and temperature needs (the
retrieval region of Amit, Gutfreund & Sompolinsky lies below ``T_M(α)``, from ``T = 1`` at
``α = 0`` to ``α ≈ 0.138`` at ``T = 0``).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real

from .._errors import ValidationError
from .._internal.parse import parse_float, parse_int
from ..memory.binary import hebbian
from ..memory.glauber import run_heat_bath
from ..memory.recall import check_order, check_patterns, check_probes, Classical, float_array, tie_tolerance


__all__ = ["overlap_trace"]


def overlap_trace(
    W_or_patterns: Real[ArrayLike, "R N"],
    probes: Real[ArrayLike, "*batch N"],
    patterns: Real[ArrayLike, "K N"],
    *,
    temperature: float,
    sweeps: int,
    key: PRNGKeyArray,
    order: str = "async",
) -> Float[Array, "n_sweeps *batch K"]:
    """Overlaps with ``patterns`` after each of ``sweeps`` Glauber sweeps at temperature ``T``.

    The memory is ``E = −½σᵀWσ``: ``W_or_patterns`` is either the ``(N, N)`` weight matrix
    (any matrix that is not all ±1, e.g. from ``hg.memory.storkey``) or ``(K', N)`` ±1
    patterns, stored with Hebb's rule (``hg.memory.hebbian``). Neuron ``i`` takes ``+1``
    with probability ``σ(2h_i/T)``, ``h_i = Σ_{j≠i} W_ij σ_j``, in the sweeps of
    ``hg.memory.recall_binary(W, probes, temperature=T, key=key, max_sweeps=sweeps)``
    (the same states, for the same key).

    Args:
        W_or_patterns: ``(N, N)`` weights, or ``(K', N)`` ±1 patterns to store (Hebb).
        probes: ±1 start states ``(..., N)``.
        patterns: ``(K, N)`` ±1 patterns to measure the overlaps with.
        temperature: ``T > 0``.
        sweeps: the number of sweeps (an int ≥ 0).
        key: PRNG key (permutations and heat-bath draws).
        order: ``"async"`` (one neuron at a time) or ``"sync"``.

    Returns:
        ``m`` of shape ``(sweeps + 1, *batch, K)``: ``m[t, b, μ] = ξ_μ·σ_b/N`` after ``t`` sweeps
        (``t = 0``: the probes).

    Raises:
        ValidationError: for bad shapes, non-±1 probes or patterns, ``T <= 0``, bad ``sweeps``
            or ``order``.

    Example:
        >>> import jax, numpy as np, hamux_graph as hg
        >>> xi = np.sign(np.random.default_rng(0).normal(size=(1, 400)))     # one pattern: Curie–Weiss
        >>> m = hg.analysis.overlap_trace(xi, xi, xi, temperature=0.5, sweeps=20, key=jax.random.key(0))
        >>> m.shape, round(float(m[5:].mean()), 1)                             # m = tanh(m/T): 0.96
        ((21, 1, 1), 1.0)
    """
    where = "overlap_trace"
    M = float_array(where, "W_or_patterns", W_or_patterns)
    if M.ndim != 2 or 0 in M.shape:
        raise ValidationError(
            f"{where}: W_or_patterns must be an (N, N) weight matrix or (K, N) ±1 patterns, got shape {tuple(M.shape)}."
        )
    is_patterns = bool(np.all(np.abs(np.asarray(M)) == 1))
    W = hebbian(check_patterns(where, M)) if is_patterns else jnp.asarray(M)
    N = W.shape[-1]
    if W.shape != (N, N):
        raise ValidationError(
            f"{where}: a weight matrix must be square (N, N), got shape {tuple(W.shape)}; ±1 patterns (K, N) are "
            "stored with Hebb's rule."
        )
    s = check_probes(where, probes, N)
    P = check_patterns(where, patterns)
    if P.shape[1] != N:
        raise ValidationError(f"{where}: patterns must have shape (K, {N}), got shape {tuple(P.shape)}.")
    T = parse_float(temperature, f"{where}: temperature", positive=True, error=ValidationError)
    n = parse_int(sweeps, f"{where}: sweeps", minimum=0, error=ValidationError)
    synchronous = check_order(where, order, key)
    system = Classical(jnp.asarray(W), jnp.asarray(tie_tolerance(W)))
    dtype: Any = W.dtype
    _, _, trace = run_heat_bath(system, dtype, s, key, synchronous, n, T, record=P)
    if trace is None:  # record is given, so a trace comes back
        raise ValidationError(f"{where}: internal error, no overlaps recorded.")
    return trace
