"""Energy-descent dynamics: Euler steps of ``τ_ℓ dx_ℓ/dt = −∂E/∂g_ℓ``, with clamping.

A whole ``run`` is one compiled ``lax.scan``. Clamped layers (or clamped entries, with a
boolean mask) keep their values. Because every Lagrangian is convex, the energy never
increases along the continuous flow, nor along Euler steps with a small enough ``dt``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._errors import StateError

if TYPE_CHECKING:
    from .model import CompiledHAM

__all__ = ["step", "run", "normalize_clamp"]

Clamp = tuple[Any, ...]  # per layer: None (free), True (held), or a boolean mask array


def normalize_clamp(model: "CompiledHAM", clamp: Any) -> Clamp:
    """Turn a clamp specification into one entry per layer (None, True or a bool mask).

    Raises:
        StateError: for unknown layer names or masks that don't fit the layer.
    """
    out: list[Any] = [None] * len(model.layer_names)
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
        if name not in model.layer_names:
            raise StateError(
                f"clamp names unknown layer {name!r}; this model's layers are {list(model.layer_names)}."
            )
        i = model.layer_names.index(name)
        if isinstance(mask, (bool, np.bool_)):
            out[i] = True if mask else None
            continue
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


def _update(model: "CompiledHAM", flat, d, dt, clamp: Clamp):
    new = []
    for x, g, tau, c in zip(flat, d, model.taus, clamp):
        if c is True:
            new.append(x)
            continue
        x_new = x - (dt / tau) * g
        new.append(x_new if c is None else jnp.where(c, x, x_new))
    return tuple(new)


def _per_sample(fn, batch):
    return fn if batch is None else jax.vmap(fn)


@eqx.filter_jit
def _step_jit(model: "CompiledHAM", xs, dt, clamp: Clamp):
    flat, batch = model._flat(xs)
    d = _per_sample(model._dEdg1, batch)(flat)
    return model._dict(_update(model, flat, d, dt, clamp))


@eqx.filter_jit
def _run_jit(model: "CompiledHAM", xs, dt, clamp: Clamp, steps: int):
    flat, batch = model._flat(xs)
    eg = _per_sample(model._energy_and_dEdg1, batch)
    energy = _per_sample(model._energy1, batch)

    def body(state, _):
        e, d = eg(state)
        return _update(model, state, d, dt, clamp), e

    final, es = jax.lax.scan(body, flat, None, length=steps)
    energies = jnp.concatenate([es, energy(final)[None]], axis=0)
    return model._dict(final), energies


def _check_dt(dt: Any) -> Array:
    dt = jnp.asarray(dt, dtype=jnp.result_type(float))
    if dt.ndim != 0:
        raise StateError(f"dt must be a scalar step size, got an array of shape {dt.shape}.")
    return dt


def step(model: "CompiledHAM", xs, *, dt: Any = 0.1, clamp: Any = None):
    """One Euler step of the dynamics (see ``CompiledHAM.step``)."""
    return _step_jit(model, xs, _check_dt(dt), normalize_clamp(model, clamp))


def run(model: "CompiledHAM", xs, *, steps: int = 50, dt: Any = 0.1, clamp: Any = None):
    """``steps`` Euler steps in one ``lax.scan`` (see ``CompiledHAM.run``)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise StateError(f"steps must be an int >= 0, got {steps!r}.")
    return _run_jit(model, xs, _check_dt(dt), normalize_clamp(model, clamp), int(steps))
