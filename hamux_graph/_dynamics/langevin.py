"""Langevin sampling of a compiled HAM at temperature ``T``: ``langevin`` (ULA and MALA).

The free entries of the states are sampled from the density ``p(x) ∝ exp(−E(x)/T)`` by the
Euler–Maruyama discretisation of the overdamped Langevin equation, with the engine's one
clamp-aware step (``common.euler_step`` with a noise term)::

    x ← x − (dt/τ)·∂E/∂x + √(2T·dt/τ)·ξ,     ξ ~ N(0, I),

where the drift is the true gradient ``∂E/∂x = ∇²L(u)·∂E/∂g`` (a JVP of the activation,
``Engine.curvature``; no Hessian is materialised). With ``metropolis=True`` each step is a
Metropolis-adjusted Langevin (MALA) proposal, accepted with probability

    min(1, exp(−(E(y) − E(x))/T) · q(x | y) / q(y | x)),   q(y | x) = N(y; x − (dt/τ)∂E/∂x, 2T·dt/τ),

per chain, which removes the discretisation bias: the chain's stationary law is exactly
``exp(−E/T)/Z``. Held layers and held entries keep their values; their energy is part of
``E`` (a constant that cancels in the test).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._energy.calls import GroupedCall
from .._energy.core import AbstractEnergyCore, StatesLike, StatesOut
from .._energy.kernel import GroupParameters
from .._errors import ArgumentError
from .._graph.compile import check_key
from .._internal.parse import parse_bool
from .._types import ClampSpec
from .common import check_schedule, check_steps, euler_step, is_concrete, Schedule, schedule_value
from .engine import call_dynamics, DynamicsInputs, Engine, GroupedStates, start_engine


__all__ = ["LangevinConfig", "langevin"]


class LangevinConfig(NamedTuple):
    """``langevin``'s static settings (schedules are ``None`` for constants)."""

    steps: int
    dt: Schedule | None
    temperature: Schedule | None
    metropolis: bool


def _per_sample_sum(engine: Engine, terms: GroupedStates) -> Array:
    """Sum of every group's entries, per sample (``(B,)`` batched, else a scalar)."""
    total: Any = 0.0
    for a in terms.values():
        axes = tuple(range(1, a.ndim)) if engine.batched else tuple(range(a.ndim))
        total = total + jnp.sum(a, axis=axes)
    return jnp.asarray(total)


def _log_proposal(engine: Engine, to: GroupedStates, mean: GroupedStates, rates: dict[int, Array], T: Array) -> Array:
    """``log q`` up to a constant: ``−Σ (to − mean)² / (4T·rate)`` per sample (0 on held entries)."""
    terms = {}
    for gid, y in to.items():
        r = jnp.broadcast_to(rates[gid], y.shape)
        diff = y - mean[gid]
        terms[gid] = diff * diff / (4.0 * T * r)
    return -_per_sample_sum(engine, terms)


def _langevin_impl(model: AbstractEnergyCore, call: GroupedCall, params: GroupParameters, xg, inputs: DynamicsInputs):
    config: LangevinConfig = call.config
    engine, free = start_engine(model, call.structure, params, xg, call.batched, inputs.dt, inputs.masks)
    temperature, key = inputs.extra

    def evaluate(x: GroupedStates) -> tuple[Array, GroupedStates]:
        e, d = engine.energy_and_dEdg(x)
        return e, engine.curvature(x, d)

    def proposal(x: GroupedStates, drift: GroupedStates, rates: dict[int, Array], T: Array, k: Array):
        noise = {}
        for i, (gid, v) in enumerate(x.items()):
            scale = jnp.sqrt(2.0 * T * jnp.broadcast_to(rates[gid], v.shape))
            noise[gid] = scale * jax.random.normal(jax.random.fold_in(k, i), v.shape, v.dtype)
        return engine.step(x, drift, rates=rates, noise=noise)

    def advance(carry, inp):
        x, e, drift, accepted = carry
        t, k = inp
        dt = schedule_value(config.dt, inputs.dt, t)
        T = schedule_value(config.temperature, temperature, t)
        rates = engine.rates if config.dt is None else engine.rates_at(dt)
        y = proposal(x, drift, rates, T, k)
        if not config.metropolis:
            e_y, drift_y = evaluate(y)
            return (y, e_y, drift_y, accepted), e
        e_y, drift_y = evaluate(y)
        forward = euler_step(x, drift, rates, engine.masks, engine.mask_values)
        backward = euler_step(y, drift_y, rates, engine.masks, engine.mask_values)
        # a schedule may reach T = 0: there the proposal is the deterministic Euler step, and the
        # T -> 0 limit of the Metropolis test keeps it exactly when the energy does not rise
        hot = T > 0
        t_positive = jnp.where(hot, T, jnp.ones_like(T))
        log_ratio = (
            -(e_y - e) / t_positive
            + _log_proposal(engine, x, backward, rates, t_positive)
            - _log_proposal(engine, y, forward, rates, t_positive)
        )
        u = jax.random.uniform(jax.random.fold_in(k, len(x)), jnp.shape(e), dtype=jnp.result_type(e))
        accept = jnp.where(hot, jnp.log(u) < log_ratio, e_y <= e)

        def pick(a: Array, b: Array) -> Array:
            return jnp.where(jnp.reshape(accept, jnp.shape(accept) + (1,) * (a.ndim - jnp.ndim(accept))), a, b)

        x_new = {gid: pick(y[gid], x[gid]) for gid in x}
        drift_new = {gid: pick(drift_y[gid], drift[gid]) for gid in x}
        e_new = jnp.where(accept, e_y, e)
        return (x_new, e_new, drift_new, accepted + accept.astype(accepted.dtype)), e

    e0, drift0 = evaluate(free)
    accepted0 = jnp.zeros(jnp.shape(e0), jnp.result_type(float))
    keys = jax.random.split(key, config.steps)
    steps = jnp.arange(config.steps, dtype=jnp.int32)
    (final, e_final, _, accepted), es = jax.lax.scan(advance, (free, e0, drift0, accepted0), (steps, keys))
    energies = jnp.concatenate([es, e_final[None]], axis=0)
    rate = accepted / max(config.steps, 1)
    return final, (energies, rate)


def langevin(
    model: AbstractEnergyCore,
    xs: StatesLike,
    *,
    steps: int,
    dt: float | Array | Schedule,
    temperature: float | Array | Schedule,
    key: PRNGKeyArray,
    clamp: ClampSpec = None,
    metropolis: bool = False,
) -> tuple[StatesOut, Float[Array, "n_energies ..."]] | tuple[StatesOut, Float[Array, "n_energies ..."], Array]:
    """Sample the free entries from ``p(x) ∝ exp(−E(x)/T)`` by Langevin dynamics.

    Bound as ``CompiledHAM.langevin`` (``model.langevin(xs, ...)``). Every step is
    ``x ← x − (dt/τ)·∂E/∂x + √(2T·dt/τ)·ξ`` (Euler–Maruyama; ``ξ ~ N(0, I)`` per entry and
    chain), all steps in one compiled ``lax.scan``, batched chains independent.

    **Drift.** ``∂E/∂x = ∇²L(u)·∂E/∂g`` is the true gradient of the energy, computed as a
    JVP of the activation (no Hessian). It differs from the HAM flow ``−∂E/∂g`` of
    ``run`` whenever a Lagrangian is not the identity (the flow is the gradient
    preconditioned by ``∇²L⁻¹``, which has the same fixed points but not the same
    stationary law under noise); the two coincide for identity layers (``LIdentity``,
    ``∇²L = I``). ``τ`` acts as a constant preconditioner: it changes the speed, not the
    stationary law.

    **Metropolis.** ``metropolis=True`` accepts or rejects each step per chain (MALA): the
    discretisation bias of the plain (unadjusted) chain disappears, and the acceptance
    rate is returned.

    **When is there a density?** ``exp(−E/T)`` is a density only where
    ``∫ exp(−E/T) dx < ∞``. Tanh, sigmoid, the softmax family and the norm layers have
    bounded activations, so their layer energy grows only linearly or not at all, and
    ReLU/RePU/exp layers are flat for ``x < 0``: free entries of those layers on their own
    have no stationary distribution and drift away. Sample layers whose energy confines
    (grows at least linearly in every direction): an identity layer, or a convex
    Lagrangian such as ``L(x) = Σ(½x² + log cosh x)`` (``E`` grows like ``½x²``).

    Args:
        model: the compiled HAM.
        xs: initial states (batched: one chain per sample), or ``PackedStates``.
        steps: number of steps (static).
        dt: step size (> 0), or a schedule ``step → dt`` (as in ``run``).
        temperature: ``T >= 0`` (``> 0`` with ``metropolis``), or a schedule ``step → T``
            (annealing); ``T = 0`` is the deterministic descent along ``−∂E/∂x``. With
            ``metropolis``, a step where the schedule gives ``T = 0`` keeps its deterministic
            proposal exactly when the energy does not rise (the ``T → 0`` limit of the test).
        key: PRNG key (``jax.random.key(0)``); step ``t`` uses ``jax.random.split(key,
            steps)[t]``.
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held).
        metropolis: accept or reject each step (MALA).

    Returns:
        ``(states, energies)`` as ``run`` (``energies[t]`` after ``t`` steps, ``steps + 1``
        entries), and with ``metropolis=True`` ``(states, energies, acceptance)``,
        ``acceptance`` the per-chain fraction of accepted steps (``(B,)``, or a scalar).

    Raises:
        StateError: for states or a clamp that do not match the model.
        ArgumentError: for a bad ``steps``, ``dt``, ``temperature``, ``key`` or ``metropolis``.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("x", hg.IdentityLayer((2,)))      # E = ½‖x‖²: p = N(0, T·I)
        >>> model = ham.compile(key=jax.random.key(0))
        >>> xs = {"x": jnp.zeros((4000, 2))}
        >>> xs, energies = model.langevin(xs, steps=200, dt=0.05, temperature=0.5, key=jax.random.key(1))
        >>> round(float(xs["x"].var()), 1)
        0.5
    """
    steps = check_steps("steps", steps)
    dt_value, dt_schedule = check_schedule("dt", dt)
    metropolis = parse_bool(metropolis, "langevin: metropolis", error=ArgumentError)
    t_value, t_schedule = check_schedule("temperature", temperature, allow_zero=True)
    key = check_key(key, "langevin")
    if metropolis and t_schedule is None and is_concrete(t_value) and float(t_value) <= 0:
        raise ArgumentError(
            f"langevin: metropolis=True needs temperature > 0 (the acceptance test divides by T), got "
            f"{float(t_value)!r}. Pass a positive temperature, or metropolis=False for the T = 0 descent."
        )
    config = LangevinConfig(steps, dt_schedule, t_schedule, metropolis)
    states, (energies, acceptance) = call_dynamics(
        model, _langevin_impl, xs, clamp=clamp, dt=dt_value, config=config, extra=(t_value, key)
    )
    if metropolis:
        return states, energies, acceptance
    return states, energies
