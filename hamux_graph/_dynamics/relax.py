"""Convergence-aware relaxation to a fixed point, with implicit (equilibrium) gradients.

``relax`` runs the Euler dynamics ``x_ℓ ← x_ℓ − (dt/τ_ℓ)·∂E/∂g_ℓ`` inside one compiled
``lax.while_loop`` until the RMS of ``∂E/∂g`` over the free (unclamped) entries of every
sample is at most ``tol``, or ``max_steps`` is reached. Each sample of a batch stops
updating as soon as it has converged; the loop ends when all have.

The final states are differentiable by the implicit function theorem. At a fixed point
``x* = F(x*, θ, c)`` of the Euler map ``F(x) = where(clamped, c, x − (dt/τ)·∂E/∂g(x; θ))``
(``c`` = the clamped input values), a cotangent of ``x*`` is pulled back through the adjoint
system ``(I − ∂F/∂x)ᵀ v = ḡ``, solved by the ``adjoint`` strategy (``_adjoint.py``). Nothing
of the forward loop is stored, so training memory does not grow with the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._energy.core import AbstractEnergyCore, StatesLike
from .._errors import ArgumentError
from .._types import Clamp
from .adjoint import AbstractAdjoint, ImplicitAdjoint
from .common import check_batched_clamp, check_scalar, check_steps, clamped_update, finish, free_rms, normalize_clamp


__all__ = ["RelaxResult", "relax", "relax_loop"]


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

    states: StatesLike
    energies: Float[Array, " T *batch"] | None
    steps: Int[Array, "*batch"]
    converged: Bool[Array, "*batch"]
    residual: Float[Array, "*batch"]

    def check(self) -> RelaxResult:
        """Raise ``ConvergenceError`` unless every sample converged; return ``self`` otherwise."""
        finish(self, self.converged, self.residual, self.steps, throw=True, what="relax", result=self)
        return self


def relax_loop(
    model: AbstractEnergyCore,
    flat0: tuple[Array, ...],
    clamp: Clamp,
    dt: Array,
    tol: Array,
    max_steps: int,
    trace: bool = True,
    eg: Callable | None = None,
):
    """The forward loop on batched flat states (leading axis B); per-sample convergence.

    ``eg`` maps batched flat states to (energies (B,), ∂E/∂g tuple); default: the model's.
    Returns ``(final, energies or None, steps, converged, residual)``; not differentiable
    (``relax`` wraps it in the implicit adjoint).
    """
    eg = jax.vmap(model.sample_energy_and_dEdg) if eg is None else eg
    e0, d0 = eg(flat0)
    conv0 = free_rms(model, d0, clamp) <= tol
    buf = jnp.broadcast_to(e0, ((max_steps + 1) if trace else 1,) + e0.shape)
    nsteps0 = jnp.zeros(e0.shape, jnp.int32)

    def cond(carry):
        t, _, _, _, conv, _, _ = carry
        return (t < max_steps) & ~jnp.all(conv)

    def body(carry):
        t, flat, _, d, conv, nsteps, buf = carry
        new = tuple(clamped_update(x, g, dt / tau, c) for x, g, tau, c in zip(flat, d, model.taus, clamp))
        flat = tuple(jnp.where(conv.reshape((-1,) + (1,) * (x.ndim - 1)), x, n) for x, n in zip(flat, new))
        nsteps = nsteps + (~conv).astype(jnp.int32)
        e, d = eg(flat)
        conv = conv | (free_rms(model, d, clamp) <= tol)
        t = t + 1
        buf = buf.at[t].set(e) if trace else buf
        return t, flat, e, d, conv, nsteps, buf

    carry = (jnp.zeros((), jnp.int32), flat0, e0, d0, conv0, nsteps0, buf)
    t, flat, e, d, conv, nsteps, buf = jax.lax.while_loop(cond, body, carry)
    if not trace:
        return flat, None, nsteps, conv, free_rms(model, d, clamp)
    rows = jnp.arange(max_steps + 1)[:, None]
    energies = jnp.where(rows <= t, buf, e[None])
    return flat, energies, nsteps, conv, free_rms(model, d, clamp)


def _euler_map(model: AbstractEnergyCore, flat, c_vals, dt, clamp):
    """F(x) = where(clamped, c, x − (dt/τ)·∂E/∂g(x)) on batched flat states."""
    d = jax.vmap(model.sample_dEdg)(flat)
    return tuple(
        clamped_update(x, g, dt / tau, c, held=cv) for x, g, tau, c, cv in zip(flat, d, model.taus, clamp, c_vals)
    )


@eqx.filter_custom_vjp
def _relax_diff(vjp_arg, clamp, dt, tol, max_steps, adjoint, throw, trace):
    model, flat0 = vjp_arg
    return relax_loop(model, flat0, clamp, dt, tol, max_steps, trace)


@_relax_diff.def_fwd
def _relax_fwd(perturbed, vjp_arg, clamp, dt, tol, max_steps, adjoint, throw, trace):
    out = _relax_diff.fn(vjp_arg, clamp, dt, tol, max_steps, adjoint, throw, trace)
    return out, out[0]


@_relax_diff.def_bwd
def _relax_bwd(x_star, grad_obj, perturbed, vjp_arg, clamp, dt, tol, max_steps, adjoint, throw, trace):
    model, flat0 = vjp_arg
    gbar = tuple(jnp.zeros_like(x) if g is None else g for x, g in zip(x_star, grad_obj[0]))
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def F(p, x, c):
        return _euler_map(eqx.combine(p, static), x, c, dt, clamp)

    _, jt = jax.vjp(lambda x: F(params, x, flat0), x_star)
    v, ok = adjoint.solve_adjoint(lambda v: jt(v)[0], gbar)
    v = finish(
        v,
        ok,
        None,
        None,
        throw=throw,
        what="the implicit-gradient adjoint solve of relax",
        hint="Increase the adjoint's max_steps, use hg.GMRESAdjoint(), or relax to a tighter tol first.",
    )
    _, pull = jax.vjp(lambda p, c: F(p, x_star, c), params, flat0)
    g_params, g_flat0 = pull(v)
    return g_params, g_flat0


@eqx.filter_jit
def _relax_jit(model, flat, batch, clamp, dt, tol, max_steps: int, adjoint, throw: bool, trace: bool):
    check_batched_clamp(model, clamp, batch)
    flat_b = flat if batch is not None else tuple(x[None] for x in flat)
    out = _relax_diff((model, flat_b), clamp, dt, tol, max_steps, adjoint, throw, trace)
    final, energies, nsteps, conv, res = out
    energies, nsteps, conv, res = jax.lax.stop_gradient((energies, nsteps, conv, res))
    if batch is None:
        final = tuple(x[0] for x in final)
        energies = None if energies is None else energies[:, 0]
        nsteps, conv, res = nsteps[0], conv[0], res[0]
    return final, energies, nsteps, conv, res


def check_adjoint(adjoint: Any) -> AbstractAdjoint:
    """``adjoint`` if it is an hg adjoint strategy.

    Raises:
        ArgumentError: naming the class expected (and diffrax's, for a diffrax adjoint).
    """
    if isinstance(adjoint, AbstractAdjoint):
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
    tol: float = 1e-5,
    max_steps: int = 1000,
    dt: float | Array = 0.1,
    clamp: Any = None,
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
        >>> bool(res.converged)
        True
    """
    max_steps = check_steps("max_steps", max_steps)
    tol_a = check_scalar("tol", tol, allow_zero=True)
    dt_a = check_scalar("dt", dt)
    adjoint = check_adjoint(adjoint)
    clamp_n = normalize_clamp(model, clamp)
    flat, batch, layout = model.states_in(xs)
    if layout is not None:
        flat = model.flat_states(xs)[0]
    final, energies, nsteps, conv, res = _relax_jit(
        model, flat, batch, clamp_n, dt_a, tol_a, max_steps, adjoint, bool(throw), bool(trace)
    )
    states = model.as_dict(final) if layout is None else model.pack(model.as_dict(final))
    result = RelaxResult(states, energies, nsteps, conv, res)
    states = finish(states, conv, res, nsteps, throw=bool(throw), what="relax", tol=tol_a, result=result)
    return result if states is result.states else eqx.tree_at(lambda r: r.states, result, states)
