"""What every dynamics method shares: argument checks, the clamp, the Euler step, one epilogue.

``step``/``run``, ``energy_trace``, ``relax`` (its loop and its implicit fixed-point map),
``solve`` (the ODE vector field) and ``eqprop_grad`` all use the pieces here (through the
engine of ``engine.py``), so they accept the same arguments, treat clamped entries the same
way and report a missed fixed point the same way, concrete or traced:

- ``normalize_clamp`` turns a user's ``clamp=`` (a ``ClampSpec``) into one entry per layer
  (a ``Clamp``), and ``split_clamp`` splits that, once, into the static kind of every layer
  and the mask arrays (a ``ClampSplit``);
- ``check_dt``, ``check_steps`` and ``check_scalar`` check step sizes, step counts and
  tolerances (a concrete ``dt`` must be finite and > 0 in every method);
- ``group_rates`` is the one computation of the rates ``dt/τ`` (per layer group);
- ``euler_step`` is THE clamp-aware Euler step ``x ← x − (dt/τ)·∂E/∂g`` on grouped states:
  the only place the update is written (a noise term or a per-step schedule goes there);
- ``free_rms`` is the convergence measure (RMS of ``∂E/∂g`` over the free entries);
- ``finish`` raises ``ConvergenceError`` for a concrete result that did not converge, and
  attaches the same check as an equinox runtime error inside a trace (diffrax's
  ``result.error_if`` pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool

from .._energy.kernel import FREE, HELD, MASK, Structure
from .._errors import ArgumentError, ConvergenceError, StateError
from .._internal.parse import parse_steps
from .._types import Clamp, ClampEntry, ClampSpec, Shape


__all__ = [
    "normalize_clamp",
    "check_batched_clamp",
    "ClampSplit",
    "split_clamp",
    "check_dt",
    "check_steps",
    "check_scalar",
    "Schedule",
    "check_schedule",
    "schedule_value",
    "is_concrete",
    "group_rates",
    "euler_step",
    "free_rms",
    "failure_message",
    "finish",
    "RELAX_HINT",
]

RELAX_HINT = (
    "Increase max_steps, use a larger dt (if the energy trace still decreases smoothly), loosen tol, or "
    "pass throw=False to get the result with its `converged` flag instead."
)


# ---- arguments ------------------------------------------------------------------------


def is_concrete(x: Any) -> bool:
    """Whether ``x`` has a value now (``False`` for tracers inside ``jit``/``grad``)."""
    try:
        np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False
    return True


def check_scalar(name: str, value: Any, *, allow_zero: bool = False) -> Array:
    """A float scalar that is finite and > 0 (or >= 0); traced values pass unchecked.

    Raises:
        ArgumentError: for an array, a non-number, or a concrete value out of range.
    """
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise ArgumentError(f"{name} must be a number, got {value!r}.")
    if isinstance(value, (int, float, np.integer, np.floating)):  # no device round trip
        f = float(value)
        _check_range(name, f, allow_zero)
        return jnp.asarray(f, dtype=jnp.result_type(float))
    try:
        v = jnp.asarray(value, dtype=jnp.result_type(float))
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} must be a number, got {type(value).__name__}.") from None
    if v.ndim != 0:
        raise ArgumentError(f"{name} must be a scalar, got an array of shape {v.shape}.")
    if is_concrete(v):
        _check_range(name, float(v), allow_zero)
    return v


def _check_range(name: str, f: float, allow_zero: bool) -> None:
    if not ((f >= 0 if allow_zero else f > 0) and np.isfinite(f)):
        raise ArgumentError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {f!r}.")


def check_dt(dt: Any) -> Array:
    """The step size as a float scalar array; a concrete ``dt`` must be finite and > 0.

    Raises:
        ArgumentError: for an array, a non-number, ``dt <= 0`` or a non-finite ``dt``.
    """
    return check_scalar("dt", dt)


Schedule = Callable[[Array], Any]
"""A schedule: ``step → value`` (an int32 step index in, a float scalar out), e.g. an optax schedule."""


def check_schedule(name: str, value: Any, *, allow_zero: bool = False) -> tuple[Array, Schedule | None]:
    """A constant or a schedule: ``(constant, None)`` or ``(placeholder 1.0, schedule)``.

    A constant goes through ``check_scalar`` (so it keeps the exact code path of a plain
    number); a callable ``step → value`` (an optax schedule works as it is) is evaluated
    inside the compiled loop at every step (``schedule_value``). Its value at step 0 is
    checked here: a scalar, finite and > 0 (or >= 0 with ``allow_zero``).

    Raises:
        ArgumentError: for a bad constant, or a callable that fails or returns no scalar at step 0.
    """
    if not callable(value):
        return check_scalar(name, value, allow_zero=allow_zero), None
    try:
        first = value(jnp.zeros((), jnp.int32))
    except Exception as e:  # the user's function: report any failure as an argument error
        raise ArgumentError(
            f"{name}: a schedule must be a function step -> value (an int step in, a number out, like an optax "
            f"schedule); calling it at step 0 raised {type(e).__name__}: {e}"
        ) from None
    check_scalar(f"{name} (the schedule's value at step 0)", first, allow_zero=allow_zero)
    return jnp.ones((), jnp.result_type(float)), value


def schedule_value(schedule: Schedule | None, constant: Array, step: Array) -> Array:
    """The value at ``step`` (inside a compiled loop): ``schedule(step)``, or the constant."""
    if schedule is None:
        return constant
    return jnp.asarray(schedule(step), dtype=jnp.result_type(float)).reshape(())


def check_steps(name: str, value: Any, minimum: int = 0) -> int:
    """An int in ``[minimum, 2**31 - 1]`` (numpy integers accepted; bools and floats refused).

    Raises:
        ArgumentError: otherwise.
    """
    return parse_steps(value, name, minimum=minimum, error=ArgumentError)


# ---- the clamp ------------------------------------------------------------------------


def normalize_clamp(model: Any, clamp: ClampSpec) -> Clamp:
    """Turn a clamp specification into one entry per layer (None, True or a bool mask).

    Raises:
        StateError: for unknown layer names or masks that don't fit the layer.
    """
    out: list[ClampEntry] = [None] * len(model.layer_names)
    if clamp is None:
        return tuple(out)
    if isinstance(clamp, str):
        clamp = (clamp,)
    if isinstance(clamp, Mapping):
        items = list(clamp.items())
    else:
        try:
            items = [(name, True) for name in clamp]
        except TypeError:
            raise StateError(
                f"clamp must be a layer name, a sequence of layer names or a dict {{layer: bool mask}}, "
                f"got {type(clamp).__name__}."
            ) from None
    for name, mask in items:
        if not isinstance(name, str) or name not in model.layer_names:
            raise StateError(f"clamp names unknown layer {name!r}; this model's layers are {list(model.layer_names)}.")
        i = model.layer_names.index(name)
        if isinstance(mask, (bool, np.bool_)):
            out[i] = True if mask else None
            continue
        if mask is None:
            raise StateError(
                f"clamp[{name!r}] is None; give True (hold the whole layer), False (free) or a boolean mask."
            )
        m = jnp.asarray(mask)
        if m.dtype != jnp.bool_:
            raise StateError(f"clamp mask for layer {name!r} must be boolean (True = held), got dtype {m.dtype}.")
        shape = model.shapes[i]
        try:
            np.broadcast_shapes(m.shape, shape)
            if len(m.shape) > len(shape) + 1:
                raise ValueError
        except ValueError:
            raise StateError(
                f"clamp mask for layer {name!r} has shape {m.shape}, which does not broadcast to the layer "
                f"shape {shape} (or (batch,) + {shape})."
            ) from None
        out[i] = m
    return tuple(out)


def check_batched_clamp(model: Any, clamp: Clamp, batch: int | None) -> None:
    """Check masks carrying a batch axis against the states' batch size.

    Raises:
        StateError: for a batch axis the states do not have, or of another size.
    """
    for name, s, c in zip(model.layer_names, model.shapes, clamp):
        if c is None or c is True or c.ndim <= len(s):
            continue
        if batch is None or c.shape[0] not in (1, batch):
            raise StateError(
                f"clamp mask for layer {name!r} has shape {c.shape} with a batch axis, but the states are "
                f"{'unbatched' if batch is None else f'batched with batch size {batch}'}. Give a mask of "
                f"shape {s} or (batch,) + {s} matching the states."
            )


class ClampSplit(NamedTuple):
    """A normalised clamp as the compiled code takes it.

    Attributes:
        kinds: per layer ``kernel.FREE``, ``kernel.HELD`` or ``kernel.MASK`` (static: it
            decides the grouping and what is computed once per call).
        masks: per layer the boolean mask (``True`` = held) of a ``MASK`` layer, else
            ``None`` (traced arrays: a new mask of the same shape does not recompile).
    """

    kinds: tuple[str, ...]
    masks: tuple[Array | None, ...]


def split_clamp(clamp: Clamp) -> ClampSplit:
    """Split a normalised clamp into static kinds and mask arrays (the one place that does)."""
    kinds = tuple(HELD if c is True else FREE if c is None else MASK for c in clamp)
    masks = tuple(None if (c is None or c is True) else c for c in clamp)
    return ClampSplit(kinds, masks)


# ---- the Euler step -------------------------------------------------------------------


def group_rates(st: Structure, taus: Sequence[float], shapes: Sequence[Shape], dt: Any) -> dict[int, Array]:
    """``dt/τ`` of every free layer group of ``st`` (FREE and MASK groups).

    A group of one layer gets a scalar; a stacked group one rate per member, shaped
    ``(members, 1, …)`` to broadcast over the group's array (batched or not).
    """
    dt = jnp.asarray(dt)
    rates: dict[int, Array] = {}
    for gid in st.ids(FREE, MASK):
        members = st.layer_groups[gid].members
        if len(members) == 1:
            rates[gid] = dt / taus[members[0]]
        else:
            per_member = dt / jnp.asarray([taus[i] for i in members], dtype=dt.dtype)
            rates[gid] = per_member.reshape((len(members),) + (1,) * len(shapes[members[0]]))
    return rates


def euler_step(
    states: dict[int, Array],
    grads: dict[int, Array],
    rates: Mapping[int, Array | float],
    masks: Mapping[int, Array],
    held: Mapping[int, Array] | None = None,
    noise: Mapping[int, Array] | None = None,
) -> dict[int, Array]:
    """THE clamp-aware Euler step ``x ← x − (dt/τ)·∂E/∂g`` on grouped states.

    ``states``, ``grads`` and ``rates`` are keyed by free layer group (batched or not);
    a group with a boolean mask in ``masks`` (``True`` = held) keeps ``x`` on its held
    entries, or takes ``held[gid]`` there when given (the clamped values, as in the
    implicit map of ``relax``). The result has ``x``'s dtype: ``rate·d`` is computed in the
    promoted (usually float32) precision and rounded once into the state.
    With ``x = 0`` and ``dt = 1`` this is the ODE velocity ``−∂E/∂g / τ`` (zero on held
    entries). With ``noise`` (per group, ``x``'s shape) the step is the Euler–Maruyama step
    ``x ← x − (dt/τ)·d + noise`` of Langevin dynamics (``d`` then is ``∂E/∂x``); held entries
    still keep their values. A schedule passes each step's ``rates``. This function is the
    only place the update is written.

    Example:
        >>> import jax.numpy as jnp
        >>> x = {0: jnp.array([1.0, 2.0])}
        >>> new = euler_step(x, {0: jnp.array([1.0, 1.0])}, {0: 0.5}, {0: jnp.array([False, True])})
        >>> new[0].tolist()
        [0.5, 2.0]
    """
    out = {}
    for gid, x in states.items():
        # explicit broadcasts (no implicit rank promotion): a stacked group's rates are (M, 1, ...)
        # against (B, M, ...) with a batch; a mask may lack the batch axis
        rate = jnp.broadcast_to(rates[gid], jnp.shape(grads[gid]))
        new = x - rate * grads[gid]
        if noise is not None:  # Euler–Maruyama: the Langevin step's noise
            new = new + noise[gid]
        new = new.astype(x.dtype)  # states keep their dtype (bfloat16 stays bfloat16)
        if gid in masks:
            keep = x if held is None else jnp.broadcast_to(held[gid], x.shape)
            new = jnp.where(jnp.broadcast_to(masks[gid], x.shape), keep, new).astype(x.dtype)
        out[gid] = new
    return out


def free_rms(
    st: Structure, shapes: Sequence[Shape], grads: dict[int, Array], masks: Mapping[int, Array], batch: int
) -> Array:
    """Per-sample RMS of ``∂E/∂g`` over free entries; ``grads`` batched (leading axis ``batch``).

    ``grads`` holds the free layer groups; a group with a mask counts its free entries only.
    """
    dtype = jnp.result_type(*grads.values()) if grads else jnp.result_type(float)
    total: Any = 0.0
    count: Any = 0.0
    for gid, d in grads.items():
        axes = tuple(range(1, d.ndim))
        if gid in masks:
            free = jnp.broadcast_to(~masks[gid], d.shape)
            total = total + jnp.sum(jnp.where(free, d * d, 0.0), axis=axes)
            count = count + jnp.sum(free, axis=axes)
        else:
            total = total + jnp.sum(d * d, axis=axes)
            members = st.layer_groups[gid].members
            count = count + float(len(members) * np.prod(shapes[members[0]]))
    total = jnp.broadcast_to(jnp.asarray(total, dtype), (batch,))
    count = jnp.maximum(jnp.asarray(count, dtype), 1.0)
    return jnp.sqrt(total / count)


# ---- the epilogue ---------------------------------------------------------------------


def failure_message(converged: Any, residual: Any, steps: Any, tol: float | None, what: str, hint: str) -> str:
    """The message of a missed fixed point: how many samples, how far off, after how many steps."""
    conv = np.atleast_1d(np.asarray(converged))
    if residual is None or steps is None:
        return f"{what} did not converge ({int((~conv).sum())} of {conv.size} failed). {hint}"
    res = np.atleast_1d(np.asarray(residual))
    n_bad = int((~conv).sum())
    worst = float(np.nanmax(np.where(conv, -np.inf, res))) if n_bad else float("nan")
    tol_txt = "" if tol is None else f" (tol={tol:g})"
    return (
        f"{what} did not reach a fixed point: {n_bad} of {conv.size} sample(s) still have RMS ∂E/∂g up to "
        f"{worst:.3g}{tol_txt} after {int(np.max(np.asarray(steps)))} steps. {hint}"
    )


def finish(
    guarded: Any,
    converged: Bool[Array, "*batch"],
    residual: Any,
    steps: Any,
    *,
    throw: bool,
    what: str,
    hint: str = RELAX_HINT,
    tol: Any = None,
    result: Any = None,
) -> Any:
    """Check convergence once, the same way concrete or traced; returns ``guarded``.

    With ``throw`` and a concrete ``converged`` that is not all true, raises
    ``ConvergenceError`` (``err.result = result``). With ``throw`` inside a trace,
    returns ``guarded`` (a pytree of arrays) wrapped in ``eqx.error_if``, so the same
    failure raises when the compiled function runs. Without ``throw``, returns
    ``guarded`` unchanged.
    """
    if not throw:
        return guarded
    if is_concrete(converged):
        if not bool(np.all(np.asarray(converged))):
            tol_f = float(tol) if tol is not None and is_concrete(tol) else None
            err = ConvergenceError(failure_message(converged, residual, steps, tol_f, what, hint))
            err.result = result
            raise err
        return guarded
    return eqx.error_if(guarded, ~jnp.all(converged), f"ConvergenceError: {what} did not reach a fixed point. {hint}")
