"""Euler steps of ``τ_ℓ dx_ℓ/dt = −∂E/∂g_ℓ`` with clamping: ``step`` and ``run``.

A whole ``run`` is one compiled ``lax.scan`` over the engine's step (``engine.py``).
Clamped layers (or clamped entries, with a boolean mask) keep their values. Because every
Lagrangian is convex, the energy never increases along the continuous flow, nor along Euler
steps with a small enough ``dt``. Held layers' activations and energies, hyperedges over
held layers only, and the drive of multiaffine synapses from held layers onto one free
layer are computed once per call.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._energy.calls import GroupedCall
from .._energy.core import AbstractEnergyCore, StatesLike, StatesOut
from .._energy.kernel import GroupParameters
from .._types import ClampSpec
from .common import check_dt, check_schedule, check_steps, Schedule, schedule_value
from .engine import call_dynamics, DynamicsInputs, GroupedStates, start_engine


__all__ = ["step", "run", "RunConfig"]


def _step_impl(model: AbstractEnergyCore, call: GroupedCall, params: GroupParameters, xg, inputs: DynamicsInputs):
    engine, free = start_engine(model, call.structure, params, xg, call.batched, inputs.dt, inputs.masks)
    return engine.step(free, engine.dEdg(free)), None


class RunConfig(NamedTuple):
    """``run``'s static settings: the step count and the ``dt`` schedule (``None``: a constant)."""

    steps: int
    dt: Schedule | None


def _run_impl(model: AbstractEnergyCore, call: GroupedCall, params: GroupParameters, xg, inputs: DynamicsInputs):
    """The whole run: held parts precomputed once, free groups in the carry."""
    engine, free = start_engine(model, call.structure, params, xg, call.batched, inputs.dt, inputs.masks)
    steps, schedule = call.config

    if schedule is None:  # a constant dt: the rates of the call (today's code, bit for bit)

        def advance(x: GroupedStates, _):
            return engine.advance(x)

        final, es = jax.lax.scan(advance, free, None, length=steps)
    else:

        def advance_at(x: GroupedStates, t: Array):
            return engine.advance_at(x, schedule_value(schedule, inputs.dt, t))

        final, es = jax.lax.scan(advance_at, free, jnp.arange(steps, dtype=jnp.int32))
    return final, jnp.concatenate([es, engine.energy(final)[None]], axis=0)


def step(model: AbstractEnergyCore, xs: StatesLike, dt: float | Array = 0.1, clamp: ClampSpec = None) -> StatesOut:
    """One Euler step ``x_ℓ ← x_ℓ − (dt/τ_ℓ)·∂E/∂g_ℓ``; clamped entries stay fixed.

    Bound as ``CompiledHAM.step`` (``model.step(xs, ...)``).

    Args:
        model: the compiled HAM.
        xs: states dict (optionally batched), or ``PackedStates`` (then the result is too).
        dt: step size.
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held).

    Returns:
        The new states.

    Raises:
        StateError: for states or a clamp that do not match the model.
        ArgumentError: for a bad ``dt``.

    Example:
        >>> import jax, jax.numpy as jnp, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.IdentityLayer((2,)))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> model.step({"v": jnp.array([1.0, -2.0])}, dt=0.5)["v"].tolist()  # ∂E/∂g = x
        [0.5, -1.0]
    """
    return call_dynamics(model, _step_impl, xs, clamp=clamp, dt=check_dt(dt))[0]


def run(
    model: AbstractEnergyCore,
    xs: StatesLike,
    steps: int = 50,
    dt: float | Array | Schedule = 0.1,
    clamp: ClampSpec = None,
) -> tuple[StatesOut, Float[Array, "n_energies ..."]]:
    """Run ``steps`` Euler steps inside one compiled ``lax.scan``.

    Bound as ``CompiledHAM.run`` (``model.run(xs, ...)``). The energy of every step comes
    with its gradient (``jax.value_and_grad``), so returning it costs almost nothing. Held
    layers' activations and energies, hyperedges over held layers only, and the drive of
    multiaffine synapses from held layers onto one free layer are computed once per run,
    not once per step.

    Args:
        model: the compiled HAM.
        xs: initial states dict (optionally batched), or ``PackedStates`` (then the final
            states are too).
        steps: number of steps (static: a new value recompiles).
        dt: step size (a traced value: changing it does not recompile), or a schedule
            ``step → dt`` (a callable of the int32 step index ``0 … steps − 1``; optax
            schedules work as they are), evaluated inside the compiled loop: step ``t``
            is ``x ← x − (dt(t)/τ)·∂E/∂g``. A constant keeps the plain code path, bit for
            bit; a new schedule function compiles anew (keep one and reuse it).
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held).

    Returns:
        ``(final_states, energies)``; ``energies[t]`` is the energy after ``t`` steps, so it
        has ``steps + 1`` entries (``(steps + 1, B)`` for batched states).

    Raises:
        StateError: for states or a clamp that do not match the model.
        ArgumentError: for a bad ``steps`` or ``dt``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((4,)))
        >>> ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> xs, energies = model.run(model.init_states(batch_size=3, key=jax.random.key(1)), steps=10)
        >>> energies.shape, bool((energies[-1] <= energies[0]).all())
        ((11, 3), True)
        >>> xs, energies = model.run(xs, steps=10, dt=lambda t: 0.2 * 0.9**t)   # a decaying step size
        >>> energies.shape
        (11, 3)
    """
    steps = check_steps("steps", steps)
    dt_value, schedule = check_schedule("dt", dt)
    return call_dynamics(model, _run_impl, xs, clamp=clamp, dt=dt_value, config=RunConfig(steps, schedule))
