"""Convergence-aware relaxation to a fixed point, with implicit (equilibrium) gradients.

``relax`` runs the Euler dynamics ``x_ℓ ← x_ℓ − (dt/τ_ℓ)·∂E/∂g_ℓ`` inside one compiled
``lax.while_loop`` until the RMS of ``∂E/∂g`` over the free (unclamped) entries of every
sample is at most ``tol``, or ``max_steps`` is reached. Each sample of a batch stops
updating as soon as it has converged; the loop ends when all have.

The final states are differentiable by the implicit function theorem. At a fixed point
``x* = F(x*, θ, c)`` of the Euler map ``F(x) = where(clamped, c, x − (dt/τ)·∂E/∂g(x; θ))``
(``c`` = the clamped input values), a cotangent of ``x*`` is pulled back through the adjoint
system ``(I − ∂F/∂x)ᵀ v = ḡ``, solved by the ``adjoint`` strategy (``adjoint.py``). Nothing
of the forward loop is stored, so training memory does not grow with the number of steps.

The loop and ``F`` are the engine's Euler step (``engine.py``) on the free layer groups,
with held layers' contributions computed once per call; the custom VJP is taken with
respect to the ``Engine`` (grouped parameters, held activations and drives, mask values),
and ordinary autodiff carries the cotangents on to the model and the clamped inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._energy.calls import GroupedCall
from .._energy.core import AbstractEnergyCore, StatesLike, StatesOut
from .._energy.kernel import GroupParameters
from .._errors import ArgumentError
from .._types import ClampSpec
from .adjoint import AbstractAdjoint, ImplicitAdjoint
from .common import check_scalar, check_steps, finish
from .engine import call_dynamics, DynamicsInputs, Engine, GroupedStates, start_engine


__all__ = ["RelaxResult", "RelaxConfig", "relax", "relax_loop", "check_adjoint"]


class RelaxResult(eqx.Module):
    """What ``relax`` returns.

    Attributes:
        states: final states (differentiable through the implicit function theorem): a
            dict, or ``PackedStates`` when ``relax`` was given ``PackedStates``.
        energies: energy trace of shape ``(max_steps + 1,)`` or ``(max_steps + 1, B)``;
            ``energies[t]`` is the energy after ``t`` steps. Entries after a sample stopped
            (``t > steps``) are **padded with its last value** (never NaN). ``None`` with
            ``trace=False``.
        steps: Euler steps each sample took (int; shape ``()`` or ``(B,)``).
        converged: per-sample flag, ``True`` where the RMS of ``∂E/∂g`` reached ``tol``.
        residual: per-sample RMS of ``∂E/∂g`` over the free entries at the final states.

    Only ``states`` carries gradients; the other fields are constants for autodiff (take
    ``model.energy(result.states)`` for a differentiable energy).
    """

    states: StatesOut
    energies: Float[Array, "n_energies ..."] | None
    steps: Int[Array, "*batch"]
    converged: Bool[Array, "*batch"]
    residual: Float[Array, "*batch"]

    def check(self) -> RelaxResult:
        """Raise ``ConvergenceError`` unless every sample converged; return ``self`` otherwise."""
        finish(self, self.converged, self.residual, self.steps, throw=True, what="relax", result=self)
        return self


class RelaxConfig(NamedTuple):
    """``relax``'s static settings (part of the compiled function's cache key)."""

    max_steps: int
    trace: bool
    throw: bool
    adjoint: AbstractAdjoint


def relax_loop(
    engine: Engine,
    start: GroupedStates,
    tol: Array,
    max_steps: int,
    trace: bool = True,
    energy_and_dEdg: Callable[[GroupedStates], tuple[Array, GroupedStates]] | None = None,
):
    """The forward loop on a batched engine's free groups; per-sample convergence.

    ``energy_and_dEdg`` maps the free groups to (energies (B,), ∂E/∂g); default: the
    engine's. Returns ``(final, energies or None, steps, converged, residual)``; not
    differentiable (``relax`` wraps it in the implicit adjoint).
    """
    evaluate = engine.energy_and_dEdg if energy_and_dEdg is None else energy_and_dEdg
    e0, d0 = evaluate(start)
    conv0 = engine.residual(d0) <= tol
    buf = jnp.broadcast_to(e0, ((max_steps + 1) if trace else 1,) + e0.shape)
    nsteps0 = jnp.zeros(e0.shape, jnp.int32)

    def cond(carry):
        t, _, _, _, conv, _, _ = carry
        return (t < max_steps) & ~jnp.all(conv)

    def body(carry):
        t, x, _, d, conv, nsteps, buf = carry
        new = engine.step(x, d)
        x = {gid: jnp.where(conv.reshape((-1,) + (1,) * (a.ndim - 1)), a, new[gid]) for gid, a in x.items()}
        nsteps = nsteps + (~conv).astype(jnp.int32)
        e, d = evaluate(x)
        conv = conv | (engine.residual(d) <= tol)
        t = t + 1
        buf = buf.at[t].set(e) if trace else buf
        return t, x, e, d, conv, nsteps, buf

    carry = (jnp.zeros((), jnp.int32), start, e0, d0, conv0, nsteps0, buf)
    t, final, e, d, conv, nsteps, buf = jax.lax.while_loop(cond, body, carry)
    if not trace:
        return final, None, nsteps, conv, engine.residual(d)
    rows = jnp.arange(max_steps + 1)[:, None]
    energies = jnp.where(rows <= t, buf, e[None])
    return final, energies, nsteps, conv, engine.residual(d)


def _euler_map(engine: Engine, x: GroupedStates) -> GroupedStates:
    """F(x) = where(clamped, c, x − (dt/τ)·∂E/∂g(x)) on the free groups (the engine's step)."""
    return engine.step(x, engine.dEdg(x))


def _or_zeros(cotangent: Array | None, like: Array) -> Array:
    return jnp.zeros_like(like) if cotangent is None else cotangent


@eqx.filter_custom_vjp
def _relax_diff(engine_and_start, tol, config):
    engine, start = engine_and_start
    return relax_loop(engine, start, tol, config.max_steps, config.trace)


@_relax_diff.def_fwd
def _relax_fwd(perturbed, engine_and_start, tol, config):
    out = _relax_diff.fn(engine_and_start, tol, config)
    return out, out[0]


@_relax_diff.def_bwd
def _relax_bwd(x_star, grad_obj, perturbed, engine_and_start, tol, config):
    engine, start = engine_and_start
    cotangents = {} if grad_obj[0] is None else grad_obj[0]
    gbar = {gid: _or_zeros(cotangents.get(gid), x) for gid, x in x_star.items()}
    differentiable, rest = eqx.partition(engine, eqx.is_inexact_array)

    def euler_map(part, x):
        return _euler_map(eqx.combine(part, rest), x)

    _, transposed = jax.vjp(lambda x: euler_map(differentiable, x), x_star)
    v, ok = config.adjoint.solve_adjoint(lambda v: transposed(v)[0], gbar)
    v = finish(
        v,
        ok,
        None,
        None,
        throw=config.throw,
        what="the implicit-gradient adjoint solve of relax",
        hint="Increase the adjoint's max_steps, use hg.GMRESAdjoint(), or relax to a tighter tol first.",
    )
    _, pull = jax.vjp(lambda part: euler_map(part, x_star), differentiable)
    # the fixed point does not depend on where the free entries started (clamped values are
    # the engine's: held parts and mask values)
    return pull(v)[0], {gid: None for gid in start}


def _relax_impl(model: AbstractEnergyCore, call: GroupedCall, params: GroupParameters, xg, inputs: DynamicsInputs):
    """The relaxation on a batched engine (a batch of one for unbatched states), held parts once."""
    config: RelaxConfig = call.config
    xb = xg if call.batched else {gid: x[None] for gid, x in xg.items()}
    engine, start = start_engine(model, call.structure, params, xb, True, inputs.dt, inputs.masks)
    final, energies, nsteps, conv, res = _relax_diff((engine, start), inputs.extra, config)
    energies, nsteps, conv, res = jax.lax.stop_gradient((energies, nsteps, conv, res))
    if not call.batched:
        final = {gid: x[0] for gid, x in final.items()}
        energies = None if energies is None else energies[:, 0]
        nsteps, conv, res = nsteps[0], conv[0], res[0]
    return final, (energies, nsteps, conv, res)


def check_adjoint(adjoint: Any) -> AbstractAdjoint:
    """``adjoint`` if it is an hg adjoint strategy.

    Raises:
        ArgumentError: naming the class expected (and diffrax's, for a diffrax adjoint).
    """
    if isinstance(adjoint, AbstractAdjoint):
        try:
            hash(adjoint)  # part of the compiled function's cache key
        except TypeError:
            raise ArgumentError(
                f"relax: the adjoint {type(adjoint).__name__} must be hashable (hold its settings in static "
                "fields, as hg.FixedPointAdjoint does); it is part of the compiled function's cache key."
            ) from None
        return adjoint
    cls = type(adjoint)
    origin = f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"
    hint = " (diffrax adjoints belong to model.solve)" if cls.__module__.startswith("diffrax") else ""
    raise ArgumentError(
        f"relax: adjoint must be a hamux_graph adjoint (hg.ImplicitAdjoint(), hg.FixedPointAdjoint() or "
        f"hg.GMRESAdjoint()), got {origin}{hint}."
    )


def relax(
    model: AbstractEnergyCore,
    xs: StatesLike,
    *,
    tol: float | Array = 1e-5,
    max_steps: int = 1000,
    dt: float | Array = 0.1,
    clamp: ClampSpec = None,
    throw: bool = True,
    adjoint: AbstractAdjoint = ImplicitAdjoint(),
    trace: bool = True,
) -> RelaxResult:
    """Relax states to a fixed point of the energy descent, stopping on convergence.

    Euler steps ``x_ℓ ← x_ℓ − (dt/τ_ℓ)·∂E/∂g_ℓ`` run in one compiled ``lax.while_loop``
    until, for every sample, the RMS of ``∂E/∂g`` over its free entries is ``≤ tol`` (each
    sample freezes once it converged), or ``max_steps`` steps were taken. The returned
    states are differentiable w.r.t. the model's parameters and the clamped inputs via the
    implicit function theorem (memory independent of the number of steps).

    Bound as ``CompiledHAM.relax``: ``model.relax(xs, ...)`` is ``hg.relax(model, xs, ...)``.
    It runs on the dynamics engine (``engine.py``): held layers' contributions are computed
    once per call, not once per step.

    Args:
        model: the compiled HAM.
        xs: initial states dict (optionally with a leading batch axis), or ``PackedStates``
            (then ``result.states`` is ``PackedStates`` too).
        tol: convergence threshold on the per-sample RMS of ``∂E/∂g`` (free entries).
        max_steps: step cap (static: a new value recompiles).
        dt: Euler step size (traced).
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held).
        throw: raise ``ConvergenceError`` if any sample did not converge (inside a user's
            ``jit`` this becomes an equinox runtime error with the same message). With
            ``False`` the result is returned and ``result.converged`` must be checked
            (``result.check()`` raises).
        adjoint: how the backward (adjoint) system is solved: ``hg.ImplicitAdjoint()``
            (default; fixed-point iteration), ``hg.FixedPointAdjoint(...)`` or
            ``hg.GMRESAdjoint(...)``.
        trace: record the energy trace; ``False`` sets ``energies`` to ``None`` and saves
            its ``(max_steps + 1)·B`` buffer (for training, where memory should not depend
            on ``max_steps`` at all).

    Returns:
        A ``RelaxResult`` (states, energies, steps, converged, residual).

    Raises:
        ConvergenceError: when ``throw`` and some sample did not converge.
        StateError: for bad states or clamp.
        ArgumentError: for a bad ``tol``, ``dt``, ``max_steps`` or ``adjoint``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM()
        >>> ham.add_layer("v", hg.TanhLayer((4,)))
        >>> ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> res = hg.relax(model, model.init_states(key=jax.random.key(1)), tol=1e-6)
        >>> bool(res.converged), res.energies.shape
        (True, (1001,))
        >>> same = model.relax(model.init_states(key=jax.random.key(1)), tol=1e-6)
        >>> bool((same.states["v"] == res.states["v"]).all())
        True
    """
    max_steps = check_steps("max_steps", max_steps)
    tol_a = check_scalar("tol", tol, allow_zero=True)
    dt_a = check_scalar("dt", dt)
    config = RelaxConfig(max_steps, bool(trace), bool(throw), check_adjoint(adjoint))
    states, (energies, nsteps, conv, res) = call_dynamics(
        model, _relax_impl, xs, clamp=clamp, dt=dt_a, config=config, extra=tol_a
    )
    result = RelaxResult(states, energies, nsteps, conv, res)
    states = finish(states, conv, res, nsteps, throw=config.throw, what="relax", tol=tol_a, result=result)
    return result if states is result.states else eqx.tree_at(lambda r: r.states, result, states)
