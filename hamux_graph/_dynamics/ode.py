"""Continuous-time HAM dynamics with diffrax (optional extra ``ode``).

Integrates ``τ_ℓ dx_ℓ/dt = −∂E/∂g_ℓ`` (zero on clamped entries) with any diffrax solver
(``Euler``, ``Heun``, ``Tsit5``, ...), adaptive steps, energy traces at chosen times, and a
steady-state stop: the solve ends as soon as the RMS of ``∂E/∂g`` over the free entries of
every sample is ``≤ tol`` (the same criterion as ``relax``). A batch is integrated as one
system (one shared step size). A solve that did not reach the fixed point (step cap hit,
``t1`` reached first, or a diffrax failure) raises ``ConvergenceError`` unless
``throw=False``, in which case ``result.converged`` says so.

diffrax is imported lazily (``_internal.optional.require``): ``pip install hamux_graph[ode]``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._energy.core import AbstractEnergyCore, as_dict, flat_states, pack_flat, StatesLike, StatesOut
from .._errors import ArgumentError
from .._internal.optional import require
from .._types import ClampSpec
from .common import check_scalar, check_steps, finish, is_concrete
from .engine import Engine, group_in_trace, prepare, start_engine, ungroup


__all__ = ["ODEResult", "solve"]


def _diffrax() -> ModuleType:
    return require("diffrax", feature="hamux_graph.solve (ODE dynamics)")


class ODEResult(eqx.Module):
    """What ``solve`` returns.

    Attributes:
        states: final states: a dict, or ``PackedStates`` when ``solve`` was given ``PackedStates``.
        ts: the save times (``None`` without ``saveat``). With ``saveat="steps"`` these are
            the solver's step times, padded with ``t_final`` after the last step.
        energies: energy at each time of ``ts`` (``(T,)`` or ``(T, B)``); times after the
            solve stopped are **padded with the final energy** (the flow is at rest there
            to within ``tol``). ``None`` without ``saveat``.
        t_final: the time at which the solve stopped.
        num_steps: solver steps taken (accepted and rejected; what ``max_steps`` caps).
        converged: per-sample flag: RMS of ``∂E/∂g`` over free entries ``≤ tol`` at the end
            and diffrax reported success.
        residual: per-sample RMS of ``∂E/∂g`` over free entries at the final states.
        message: diffrax's result message (``""`` on success).
    """

    states: StatesOut
    ts: Float[Array, " T"] | None
    energies: Float[Array, "T ..."] | None
    t_final: Float[Array, ""]
    num_steps: Int[Array, ""]
    converged: Bool[Array, "*batch"]
    residual: Float[Array, "*batch"]
    message: str = eqx.field(static=True, default="")

    def check(self) -> ODEResult:
        """Raise ``ConvergenceError`` unless every sample converged; return ``self`` otherwise."""
        hint = (f"diffrax: {self.message}. " if self.message else "") + _HINT
        finish(self, self.converged, self.residual, self.num_steps, throw=True, what="solve", hint=hint, result=self)
        return self


_MESSAGES = {
    "max_steps_reached": "the maximum number of solver steps (max_steps) was reached",
    "dt_min_reached": "the minimum step size was reached",
}

_HINT = "Increase max_steps or t1, loosen tol, or pass throw=False to get the result with its `converged` flag instead."


def _vector_field(t: Any, y: dict[int, Array], engine: Engine) -> dict[int, Array]:
    """``dx/dt = −∂E/∂g / τ`` of the free groups, zero on clamped entries (the engine's velocity)."""
    return engine.velocity(y)


@eqx.filter_jit
def _solve_jit(
    model, flat, batch, kinds, masks, solver, controller, t0, t1, dt0, tol, max_steps, save_ts, save_steps, adjoint
):
    diffrax = _diffrax()
    y0_flat = flat if batch is not None else tuple(x[None] for x in flat)
    st, params, xg = group_in_trace(model, kinds, y0_flat, True)
    # dt = 1: the engine's rates are 1/τ, and its velocity is the ODE's vector field
    engine, y0 = start_engine(model, st, params, xg, True, 1.0, masks)

    def energy(t, y, engine):
        return engine.energy(y)

    def steady(t, y, args, **kwargs):
        return jnp.all(args.residual(args.dEdg(y)) <= tol)

    subs = [diffrax.SubSaveAt(t1=True)]
    if save_ts is not None:
        subs.append(diffrax.SubSaveAt(ts=save_ts, fn=energy))
    elif save_steps:
        subs.append(diffrax.SubSaveAt(steps=True, fn=energy))
    kwargs = {} if adjoint is None else {"adjoint": adjoint}
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_vector_field),
        solver,
        t0=t0,
        t1=t1,
        dt0=dt0,
        y0=y0,
        args=engine,
        stepsize_controller=controller,
        saveat=diffrax.SaveAt(subs=subs),
        event=diffrax.Event(steady),
        max_steps=max_steps,
        throw=False,
        **kwargs,
    )
    final = {gid: y[-1].astype(y0[gid].dtype) for gid, y in sol.ys[0].items()}  # states keep their dtype
    t_final = sol.ts[0][-1]
    ok = (sol.result == diffrax.RESULTS.successful) | (sol.result == diffrax.RESULTS.event_occurred)
    residual = jax.lax.stop_gradient(engine.residual(engine.dEdg(final)))
    converged = ok & (residual <= tol)
    ts = energies = None
    if len(subs) > 1:
        ts, es = sol.ts[1], sol.ys[1]
        reached = jnp.isfinite(ts) & (ts <= t_final)
        e_final = engine.energy(final)
        energies = jnp.where(reached[:, None], es, e_final[None])
        ts = ts if save_ts is not None else jnp.where(reached, ts, t_final)
    final_flat = ungroup(st, {**xg, **final}, len(flat), True)
    if batch is None:
        final_flat = tuple(x[0] for x in final_flat)
        residual, converged = residual[0], converged[0]
        energies = None if energies is None else energies[:, 0]
    return final_flat, ts, energies, t_final, sol.stats["num_steps"], converged, residual, sol.result


def solve(
    model: AbstractEnergyCore,
    xs: StatesLike,
    *,
    solver: Any = None,
    t0: float = 0.0,
    t1: float = float("inf"),
    dt0: float | None = 0.1,
    rtol: float | None = None,
    atol: float | None = None,
    stepsize_controller: Any = None,
    tol: float = 1e-5,
    max_steps: int = 4096,
    saveat: Any = None,
    clamp: ClampSpec = None,
    throw: bool = True,
    adjoint: Any = None,
) -> ODEResult:
    """Integrate ``τ_ℓ dx_ℓ/dt = −∂E/∂g_ℓ`` with diffrax until a steady state.

    Bound as ``CompiledHAM.solve``: ``model.solve(xs, ...)`` is ``hg.solve(model, xs, ...)``.
    The vector field is the dynamics engine's (``engine.py``: held layers' contributions
    computed once per call), passed to diffrax as ``args`` so every diffrax adjoint sees it.

    Args:
        model: the compiled HAM.
        xs: initial states dict (optionally with a leading batch axis), or ``PackedStates``.
        solver: a diffrax solver (default ``diffrax.Tsit5()``).
        t0: start time.
        t1: end time (default ``inf``: stop only at the steady state or the step cap).
        dt0: initial step size (the fixed step for non-adaptive solvers such as Euler).
        rtol: relative tolerance of the default ``PIDController`` (default ``tol / 10``).
        atol: absolute tolerance of the default ``PIDController`` (default ``tol / 10``).
            Near the fixed point an adaptive explicit solver runs at its stability limit,
            where the state jitters at the level the controller allows; tolerances well
            below ``tol`` keep that jitter under the steady-state threshold.
        stepsize_controller: a diffrax step-size controller; default ``PIDController(rtol,
            atol)`` for adaptive solvers and ``ConstantStepSize()`` otherwise.
        tol: steady-state threshold on the per-sample RMS of ``∂E/∂g`` (free entries).
        max_steps: cap on solver steps (finite, so a solve always ends).
        saveat: ``None``; an array of times at which to record the energy; or ``"steps"``
            to record it after every solver step.
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held); the
            vector field is zero on clamped entries.
        throw: raise ``ConvergenceError`` when the steady state was not reached. With
            ``False``, check ``result.converged`` (``result.check()`` raises).
        adjoint: a diffrax adjoint (``diffrax.AbstractAdjoint``) for differentiating through
            the solve (default diffrax's). hamux_graph's own adjoints are for ``relax``.

    Returns:
        An ``ODEResult``.

    Raises:
        ImportError: without diffrax (``pip install hamux_graph[ode]``).
        ConvergenceError: when ``throw`` and the steady state was not reached.
        StateError: for bad states or clamp.
        ArgumentError: for bad arguments (a non-diffrax solver or adjoint, ``t1 <= t0``, ...).

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM()
        >>> ham.add_layer("v", hg.TanhLayer((4,)))
        >>> ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> res = hg.solve(model, model.init_states(key=jax.random.key(1)), saveat=[0.0, 1.0])
        >>> res.energies.shape
        (2,)
    """
    diffrax = _diffrax()
    max_steps = check_steps("max_steps", max_steps, minimum=1)
    tol_a = check_scalar("tol", tol)
    dt0_a = None if dt0 is None else check_scalar("dt0", dt0)  # dt0 <= 0 is a wrong argument, not a solver error
    solver = diffrax.Tsit5() if solver is None else solver
    if not isinstance(solver, diffrax.AbstractSolver):
        raise ArgumentError(f"solver must be a diffrax solver such as diffrax.Tsit5(), got {type(solver).__name__}.")
    if stepsize_controller is None:
        if isinstance(solver, diffrax.AbstractAdaptiveSolver):
            # arrays, not floats: changing a tolerance does not recompile
            stepsize_controller = diffrax.PIDController(
                rtol=tol_a / 10 if rtol is None else check_scalar("rtol", rtol),
                atol=tol_a / 10 if atol is None else check_scalar("atol", atol),
            )
        else:
            stepsize_controller = diffrax.ConstantStepSize()
            if dt0 is None:
                raise ArgumentError(f"dt0 is required for the non-adaptive solver {type(solver).__name__}.")
    if not (float(t1) > float(t0)):
        raise ArgumentError(f"t1 must be greater than t0, got t0={t0!r}, t1={t1!r}.")
    save_ts, save_steps = None, False
    if isinstance(saveat, str):
        if saveat != "steps":
            raise ArgumentError(f"saveat must be None, an array of times or 'steps', got {saveat!r}.")
        save_steps = True
    elif saveat is not None:
        save_ts = jnp.asarray(saveat, dtype=jnp.result_type(float))
        if save_ts.ndim != 1 or save_ts.shape[0] == 0:
            raise ArgumentError(f"saveat times must be a non-empty 1-D array, got shape {save_ts.shape}.")
        if is_concrete(save_ts):
            ts_np = np.asarray(save_ts)
            if np.any(np.diff(ts_np) < 0) or ts_np[0] < float(t0) or ts_np[-1] > float(t1):
                raise ArgumentError(f"saveat times must be non-decreasing and within [t0, t1] = [{t0}, {t1}].")
    if adjoint is not None and not isinstance(adjoint, diffrax.AbstractAdjoint):
        cls = type(adjoint)
        hint = " (hamux_graph adjoints belong to model.relax)" if cls.__module__.startswith("hamux_graph") else ""
        raise ArgumentError(
            f"solve: adjoint must be a diffrax adjoint such as diffrax.RecursiveCheckpointAdjoint() or "
            f"diffrax.ImplicitAdjoint(), got {cls.__module__.split('.')[0]}.{cls.__qualname__}{hint}."
        )
    given = prepare(model, xs, clamp)
    flat, batch = flat_states(model, xs) if given.layout is not None else (given.arrays, given.batch)
    out = _solve_jit(
        model,
        flat,
        batch,
        given.clamp.kinds,
        given.clamp.masks,
        solver,
        stepsize_controller,
        jnp.asarray(float(t0)),
        jnp.asarray(float(t1)),
        dt0_a,
        tol_a,
        max_steps,
        save_ts,
        save_steps,
        adjoint,
    )
    final, ts, energies, t_final, num_steps, converged, residual, dres = out
    states = as_dict(model, final) if given.layout is None else pack_flat(model, final, batch)
    message = ""
    if is_concrete(converged) and not bool(np.all(np.asarray(converged))):
        message = f"t1={t1} reached before the steady state"
        for name in ("max_steps_reached", "dt_min_reached", "max_steps_rejected", "internal_error"):
            if bool(np.asarray(dres == getattr(diffrax.RESULTS, name))):
                message = _MESSAGES.get(name, name)
    result = ODEResult(states, ts, energies, t_final, num_steps, converged, residual, message)
    hint = (f"diffrax: {message}. " if message else "") + _HINT
    states = finish(
        states, converged, residual, num_steps, throw=bool(throw), what="solve", hint=hint, tol=tol_a, result=result
    )
    return result if states is result.states else eqx.tree_at(lambda r: r.states, result, states)
