"""Convergence-aware relaxation to a fixed point, with implicit (equilibrium) gradients.

``relax`` runs the Euler dynamics ``x_ℓ ← x_ℓ − (dt/τ_ℓ)·∂E/∂g_ℓ`` inside one compiled
``lax.while_loop`` until the RMS of ``∂E/∂g`` over the free (unclamped) entries of every
sample is at most ``tol``, or ``max_steps`` is reached. Each sample of a batch stops
updating as soon as it has converged; the loop ends when all have.

The final states are differentiable by the implicit function theorem. At a fixed point
``x* = F(x*, θ, c)`` of the Euler map ``F(x) = where(clamped, c, x − (dt/τ)·∂E/∂g(x; θ))``
(``c`` = the clamped input values), a cotangent ``ḡ`` of ``x*`` is pulled back by solving
the adjoint system ``(I − ∂F/∂x)ᵀ v = ḡ`` matrix-free and returning ``(∂F/∂θ)ᵀ v`` and
``(∂F/∂c)ᵀ v``. Nothing of the forward loop is stored, so training memory does not grow
with the number of dynamics steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ._errors import ConvergenceError, StateError
from .dynamics import _update, normalize_clamp

if TYPE_CHECKING:
    from .model import CompiledHAM

__all__ = ["ImplicitAdjoint", "RelaxResult", "relax"]

States = dict[str, Array]


class ImplicitAdjoint(eqx.Module):
    """How ``relax`` solves the adjoint system ``(I − ∂F/∂x)ᵀ v = ḡ`` on the backward pass.

    Args:
        solver: ``"fixed_point"`` iterates ``v ← ḡ + (∂F/∂x)ᵀ v`` (converges whenever the
            forward Euler iteration converges, at the same rate); ``"gmres"`` uses
            ``jax.scipy.sparse.linalg.gmres`` (usually far fewer matrix-vector products).
        tol: stop when ``max|Δv| ≤ tol·max(1, max|v|)`` (fixed point) or the GMRES residual
            is below ``tol`` (relative).
        max_steps: iteration cap of the adjoint solve.

    Example:
        >>> import hamux_graph as hg
        >>> hg.ImplicitAdjoint(solver="gmres", tol=1e-6).solver
        'gmres'
    """

    solver: str = eqx.field(static=True, default="fixed_point")
    tol: float = eqx.field(static=True, converter=float, default=1e-7)
    max_steps: int = eqx.field(static=True, converter=int, default=2000)

    def __check_init__(self):
        if self.solver not in ("fixed_point", "gmres"):
            raise StateError(f"ImplicitAdjoint: solver must be 'fixed_point' or 'gmres', got {self.solver!r}.")
        if not self.tol > 0:
            raise StateError(f"ImplicitAdjoint: tol must be > 0, got {self.tol!r}.")
        if self.max_steps < 1:
            raise StateError(f"ImplicitAdjoint: max_steps must be >= 1, got {self.max_steps!r}.")


class RelaxResult(eqx.Module):
    """What ``relax`` returns.

    Attributes:
        states: final states dict (differentiable through the implicit function theorem).
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

    states: States
    energies: Float[Array, "steps+1 *batch"] | None
    steps: Int[Array, "*batch"]
    converged: Bool[Array, "*batch"]
    residual: Float[Array, "*batch"]

    def check(self) -> "RelaxResult":
        """Raise ``ConvergenceError`` unless every sample converged; return ``self`` otherwise."""
        _raise_if_failed(self.converged, self.residual, self.steps, None, "relax")
        return self


# ---- helpers shared with ode.py -------------------------------------------------------


def check_batched_clamp(model: "CompiledHAM", clamp, batch: int | None):
    """Check masks carrying a batch axis against the states' batch size."""
    for name, s, c in zip(model.layer_names, model.shapes, clamp):
        if c is None or c is True or c.ndim <= len(s):
            continue
        if batch is None or c.shape[0] not in (1, batch):
            raise StateError(
                f"clamp mask for layer {name!r} has shape {c.shape} with a batch axis, but the states are "
                f"{'unbatched' if batch is None else f'batched with batch size {batch}'}. Give a mask of "
                f"shape {s} or (batch,) + {s} matching the states."
            )


def free_rms(model: "CompiledHAM", d, clamp) -> Array:
    """Per-sample RMS of ``d`` (batched flat tuple, leading axis B) over free entries."""
    total, count = 0.0, 0.0
    for x, c, s in zip(d, clamp, model.shapes):
        if c is True:
            continue
        axes = tuple(range(1, x.ndim))
        if c is None:
            total = total + jnp.sum(x * x, axis=axes)
            count = count + float(np.prod(s))
        else:
            free = jnp.broadcast_to(~c, x.shape)
            total = total + jnp.sum(jnp.where(free, x * x, 0.0), axis=axes)
            count = count + jnp.sum(free, axis=axes)
    total = jnp.broadcast_to(jnp.asarray(total, d[0].dtype), d[0].shape[:1])
    count = jnp.maximum(jnp.asarray(count, d[0].dtype), 1.0)
    return jnp.sqrt(total / count)


def _is_concrete(x) -> bool:
    try:
        np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False
    return True


def _failure_message(converged, residual, steps, tol, what, hint) -> str:
    conv = np.atleast_1d(np.asarray(converged))
    res = np.atleast_1d(np.asarray(residual))
    n_bad = int((~conv).sum())
    worst = float(np.nanmax(np.where(conv, -np.inf, res))) if n_bad else float("nan")
    tol_txt = "" if tol is None else f" (tol={tol:g})"
    return (
        f"{what} did not reach a fixed point: {n_bad} of {conv.size} sample(s) still have RMS ∂E/∂g up to "
        f"{worst:.3g}{tol_txt} after {int(np.max(np.asarray(steps)))} steps. {hint}"
    )


_RELAX_HINT = (
    "Increase max_steps, use a larger dt (if the energy trace still decreases smoothly), loosen tol, or "
    "pass throw=False to get the result with its `converged` flag instead."
)


def _raise_if_failed(converged, residual, steps, tol, what, hint=_RELAX_HINT, result=None):
    if bool(np.all(np.asarray(converged))):
        return
    err = ConvergenceError(_failure_message(converged, residual, steps, tol, what, hint))
    err.result = result
    raise err


def check_positive_scalar(name: str, value: Any, *, allow_zero: bool = False) -> Array:
    """A float scalar (traced values pass unchecked); ``StateError`` otherwise."""
    v = jnp.asarray(value, dtype=jnp.result_type(float))
    if v.ndim != 0:
        raise StateError(f"{name} must be a scalar, got an array of shape {v.shape}.")
    if _is_concrete(v):
        ok = float(v) >= 0 if allow_zero else float(v) > 0
        if not ok or not np.isfinite(float(v)):
            raise StateError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {float(v)!r}.")
    return v


def check_steps(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise StateError(f"{name} must be an int >= 0, got {value!r}.")
    return int(value)


# ---- the forward loop ------------------------------------------------------------------


def _relax_loop(model: "CompiledHAM", flat0, clamp, dt, tol, max_steps: int, trace: bool = True, eg=None):
    """Batched flat states in (leading axis B); per-sample convergence; no autodiff.

    ``eg`` maps batched flat states to (energies (B,), ∂E/∂g tuple); default: the model's.
    """
    eg = jax.vmap(model._energy_and_dEdg1) if eg is None else eg
    e0, d0 = eg(flat0)
    conv0 = free_rms(model, d0, clamp) <= tol
    buf = jnp.broadcast_to(e0, ((max_steps + 1) if trace else 1,) + e0.shape)
    nsteps0 = jnp.zeros(e0.shape, jnp.int32)

    def cond(carry):
        t, _, _, _, conv, _, _ = carry
        return (t < max_steps) & ~jnp.all(conv)

    def body(carry):
        t, flat, _, d, conv, nsteps, buf = carry
        new = _update(model, flat, d, dt, clamp)
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


# ---- implicit differentiation ------------------------------------------------------------


def _euler_map(model: "CompiledHAM", flat, c_vals, dt, clamp):
    """F(x) = where(clamped, c, x − (dt/τ)·∂E/∂g(x)) on batched flat states."""
    d = jax.vmap(model._dEdg1)(flat)
    new = _update(model, flat, d, dt, (None,) * len(flat))
    out = []
    for n, c, cv in zip(new, clamp, c_vals):
        if c is None:
            out.append(n)
        elif c is True:
            out.append(jnp.broadcast_to(cv, n.shape))
        else:
            out.append(jnp.where(c, cv, n))
    return tuple(out)


def _solve_adjoint(jt_fn, gbar, adjoint: ImplicitAdjoint):
    """Solve (I − J)ᵀ v = ḡ given jt_fn(v) = Jᵀ v; returns (v, converged)."""
    if adjoint.solver == "gmres":
        A = lambda v: jax.tree.map(jnp.subtract, v, jt_fn(v))
        v, _ = jax.scipy.sparse.linalg.gmres(
            A, gbar, x0=gbar, tol=adjoint.tol, atol=0.0, maxiter=adjoint.max_steps, restart=20
        )
        res = jax.tree.map(jnp.subtract, A(v), gbar)
        rnorm = jnp.sqrt(sum(jnp.sum(r * r) for r in jax.tree.leaves(res)))
        bnorm = jnp.sqrt(sum(jnp.sum(b * b) for b in jax.tree.leaves(gbar)))
        return v, rnorm <= 10 * adjoint.tol * jnp.maximum(bnorm, 1e-30)

    def step(v):
        return jax.tree.map(jnp.add, gbar, jt_fn(v))

    def maxabs(tree):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(a)) for a in jax.tree.leaves(tree)]))

    def cond(carry):
        k, _, delta, scale = carry
        return (k < adjoint.max_steps) & (delta > adjoint.tol * jnp.maximum(1.0, scale))

    def body(carry):
        k, v, _, _ = carry
        v_new = step(v)
        delta = maxabs(jax.tree.map(jnp.subtract, v_new, v))
        return k + 1, v_new, delta, maxabs(v_new)

    inf = jnp.asarray(jnp.inf, jax.tree.leaves(gbar)[0].dtype)
    k, v, delta, scale = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), gbar, inf, maxabs(gbar)))
    return v, delta <= adjoint.tol * jnp.maximum(1.0, scale)


@eqx.filter_custom_vjp
def _relax_diff(vjp_arg, clamp, dt, tol, max_steps, adjoint, throw, trace):
    model, flat0 = vjp_arg
    return _relax_loop(model, flat0, clamp, dt, tol, max_steps, trace)


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
    v, ok = _solve_adjoint(lambda v: jt(v)[0], gbar, adjoint)
    if throw:
        v = eqx.error_if(
            v,
            ~ok,
            "ConvergenceError: the implicit-gradient adjoint solve of relax did not converge; increase "
            "ImplicitAdjoint(max_steps=...), use solver='gmres', or relax to a tighter tol first.",
        )
    _, pull = jax.vjp(lambda p, c: F(p, x_star, c), params, flat0)
    g_params, g_flat0 = pull(v)
    return g_params, g_flat0


@eqx.filter_jit
def _relax_jit(model, xs, clamp, dt, tol, max_steps: int, adjoint, throw: bool, trace: bool):
    flat, batch = model._flat(xs)
    check_batched_clamp(model, clamp, batch)
    flat_b = flat if batch is not None else tuple(x[None] for x in flat)
    out = _relax_diff((model, flat_b), clamp, dt, tol, max_steps, adjoint, throw, trace)
    final, energies, nsteps, conv, res = out
    energies, nsteps, conv, res = jax.lax.stop_gradient((energies, nsteps, conv, res))
    if batch is None:
        final = tuple(x[0] for x in final)
        energies = None if energies is None else energies[:, 0]
        nsteps, conv, res = nsteps[0], conv[0], res[0]
    return RelaxResult(model._dict(final), energies, nsteps, conv, res)


def relax(
    model: "CompiledHAM",
    xs: States,
    *,
    tol: float = 1e-5,
    max_steps: int = 1000,
    dt: float | Array = 0.1,
    clamp: Any = None,
    throw: bool = True,
    adjoint: ImplicitAdjoint = ImplicitAdjoint(),
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
        xs: initial states dict (optionally with a leading batch axis).
        tol: convergence threshold on the per-sample RMS of ``∂E/∂g`` (free entries).
        max_steps: step cap (static: a new value recompiles).
        dt: Euler step size (traced).
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held).
        throw: raise ``ConvergenceError`` if any sample did not converge (inside a user's
            ``jit`` this becomes an equinox runtime error with the same message). With
            ``False`` the result is returned and ``result.converged`` must be checked
            (``result.check()`` raises).
        adjoint: settings of the backward (adjoint) solve.
        trace: record the energy trace; ``False`` sets ``energies`` to ``None`` and saves
            its ``(max_steps + 1)·B`` buffer (for training, where memory should not depend
            on ``max_steps`` at all).

    Returns:
        A ``RelaxResult`` (states, energies, steps, converged, residual).

    Raises:
        ConvergenceError: when ``throw`` and some sample did not converge.
        StateError: for bad states, clamp, ``tol``, ``dt`` or ``max_steps``.

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
    tol_a = check_positive_scalar("tol", tol, allow_zero=True)
    dt_a = check_positive_scalar("dt", dt)
    if not isinstance(adjoint, ImplicitAdjoint):
        raise StateError(f"adjoint must be an hg.ImplicitAdjoint, got {type(adjoint).__name__}.")
    clamp_n = normalize_clamp(model, clamp)
    result = _relax_jit(model, xs, clamp_n, dt_a, tol_a, max_steps, adjoint, bool(throw), bool(trace))
    if throw:
        if _is_concrete(result.converged):
            tol_f = float(tol_a) if _is_concrete(tol_a) else None
            _raise_if_failed(result.converged, result.residual, result.steps, tol_f, "relax", result=result)
        else:
            states = eqx.error_if(
                result.states,
                ~jnp.all(result.converged),
                "ConvergenceError: relax did not reach a fixed point within max_steps. " + _RELAX_HINT,
            )
            result = eqx.tree_at(lambda r: r.states, result, states)
    return result
