"""Glauber (heat-bath) dynamics of binary memories at temperature ``T > 0``.

Neuron ``i`` takes ``+1`` with probability ``σ(gain_i/T)``, where ``gain_i = E(σ_i = −1) −
E(σ_i = +1)`` given all the other neurons (``σ(z) = 1/(1 + e^{−z})``). For the classical
energy ``E = −½σᵀWσ`` (zero diagonal) ``gain_i = 2h_i`` with ``h_i = Σ_{j≠i} W_ij σ_j``, so
``P(σ_i = +1) = σ(2h_i/T)``; for a dense energy it is ``σ(−ΔE_i/T)`` with ``ΔE_i`` the energy
change of ``+1`` over ``−1``. The chain's stationary law is ``exp(−E/T)/Z``; at ``T → 0`` the
update becomes the sign rule of ``recall_binary``.

Sweeps use the permutations of the zero-temperature loop (sweep ``t`` visits neurons in the
order ``jax.random.permutation(jax.random.fold_in(key, t), N)``) and draw their uniforms from
``jax.random.fold_in(jax.random.fold_in(key, t), 1)``. A run is exactly ``sweeps`` sweeps, one
compiled ``lax.scan``; ``heat_bath`` may record the overlaps with given patterns after every
sweep (``hg.analysis.overlap_trace``).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, Int

from .recall import pad_batch, sweep_key


__all__ = ["heat_bath", "run_heat_bath"]


def _draw(gain: Array, T: Array, u: Array, dtype: Any) -> Array:
    """+1 with probability ``σ(gain/T)`` (``u`` uniform on [0, 1)), else −1."""
    return jnp.where(u < jax.nn.sigmoid(gain / T), 1.0, -1.0).astype(dtype)


@eqx.filter_jit
def heat_bath(
    system: Any,
    S0: Float[Array | np.ndarray, "N B"],
    key: Array,
    synchronous: bool,
    sweeps: int,
    temperature: Float[Array, ""],
    record: Float[Array, "K N"] | None = None,
) -> tuple[Float[Array, "N B"], Int[Array, " B"], Float[Array, "n_sweeps K B"] | None]:
    """``sweeps`` heat-bath sweeps; returns ``(S, changed sweeps per probe, overlaps or None)``.

    ``system`` is a ``recall.Classical`` or ``recall.Dense`` (its ``gain``, ``assign``,
    ``gains``). With ``record`` (patterns ``(K, N)``) the overlaps ``record @ S / N`` before
    the first sweep and after every sweep come back, ``(sweeps + 1, K, B)``.
    """
    S0 = jnp.asarray(S0)
    N, B = S0.shape
    T = jnp.asarray(temperature, S0.dtype)

    def overlaps(S: Array) -> Array | None:
        return None if record is None else (record @ S) / N

    def sweep(carry, t):
        S, aux, changed = carry
        k = sweep_key(key, t)
        u = jax.random.uniform(jax.random.fold_in(k, 1), (N, B), S.dtype)
        if synchronous:
            S1 = _draw(system.gains(S, aux), T, u, S.dtype)
            aux1 = system.init(S1)
        else:
            perm = jax.random.permutation(k, N)

            def one(j, c):
                i = perm[j]
                new = _draw(system.gain(c[0], c[1], i), T, u[i], S.dtype)
                return system.assign(c[0], c[1], i, new)

            S1, aux1 = lax.fori_loop(0, N, one, (S, aux))
        moved = jnp.any(S1 != S, axis=0)
        return (S1, aux1, changed + moved.astype(changed.dtype)), overlaps(S1)

    init = (S0, system.init(S0), jnp.zeros((B,), jnp.int32))
    (S, _, changed), after = lax.scan(sweep, init, jnp.arange(sweeps, dtype=jnp.int32))
    if record is None or after is None:
        return S, changed, None
    return S, changed, jnp.concatenate([((record @ S0) / N)[None], after], axis=0)


def run_heat_bath(
    system: Any,
    dtype: Any,
    probes: Array | np.ndarray,
    key: Array,
    synchronous: bool,
    sweeps: int,
    temperature: float,
    record: Array | np.ndarray | None = None,
) -> tuple[Array, Array, Array | None]:
    """``heat_bath`` on probes ``(..., N)``: ``(states (..., N), changed sweeps (...), overlaps)``.

    The batch is padded to ``recall.bucket`` sizes (copies of the first probe, dropped
    afterwards), as in the zero-temperature loop; ``overlaps`` is ``(sweeps + 1, *batch, K)``.

    Example:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> from hamux_graph.memory.recall import Classical
        >>> xi = np.sign(np.random.default_rng(0).normal(size=(1, 50)))
        >>> W = jnp.asarray(np.outer(xi, xi) * (1 - np.eye(50)) / 50)
        >>> states, changed, m = run_heat_bath(Classical(W, jnp.zeros(50)), np.float32, xi, jax.random.key(0),
        ...                                    False, 5, 0.2, record=xi)
        >>> states.shape, m.shape, bool(m[-1, 0, 0] > 0.9)
        ((1, 50), (6, 1, 1), True)
    """
    lead = probes.shape[:-1]
    flat, B = pad_batch(probes, dtype)
    rec = None if record is None else jnp.asarray(record, dtype)
    S, changed, trace = heat_bath(
        system, flat.T, key, synchronous, sweeps, jnp.asarray(temperature, jnp.result_type(float)), rec
    )
    states = jnp.asarray(S).T[:B].reshape(probes.shape)
    changed = jnp.asarray(changed)[:B].reshape(lead)
    if trace is not None:
        trace = jnp.swapaxes(trace, 1, 2)[:, :B].reshape((sweeps + 1,) + tuple(lead) + (trace.shape[1],))
    return states, changed, trace
