"""Energy-descent dynamics: Euler steps of ``τ_ℓ dx_ℓ/dt = −∂E/∂g_ℓ``, with clamping.

A whole ``run`` is one compiled ``lax.scan``. Clamped layers (or clamped entries, with a
boolean mask) keep their values. Because every Lagrangian is convex, the energy never
increases along the continuous flow, nor along Euler steps with a small enough ``dt``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _grouping, _jitcache, _stacking
from ._errors import StateError
from .packed import PackedStates, regroup

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


def _split_clamp(clamp: Clamp) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Static clamp kinds per layer, and the mask arrays (traced arguments)."""
    kinds = tuple(
        _grouping.HELD if c is True else _grouping.FREE if c is None else _grouping.MASK for c in clamp
    )
    masks = tuple(None if (c is None or c is True) else c for c in clamp)
    return kinds, masks


def _prepare(model: "CompiledHAM", st, batched, packed, xg, dt, masks):
    """Held parts (computed once per call) and the Euler update of the free groups."""
    G = _grouping
    vm = jax.vmap if batched else (lambda f: f)
    held_ids, free_ids = st.ids(G.HELD), st.ids(G.FREE, G.MASK)
    held_x = {g: xg[g] for g in held_ids}
    free_x = {g: xg[g] for g in free_ids}
    held_g, const, drives = vm(lambda h, f: G.precompute(st, packed, h, f))(held_x, free_x)

    rates = {}
    for gid in free_ids:
        ms = st.layer_groups[gid].members
        if len(ms) == 1:
            rates[gid] = dt / model.taus[ms[0]]
        else:
            taus = jnp.asarray([model.taus[i] for i in ms], dtype=dt.dtype)
            rates[gid] = (dt / taus).reshape((len(ms),) + (1,) * len(model.shapes[ms[0]]))

    def energy_and_grad(fx, need_grad=True):
        fn = lambda f, h, c, d: G.free_energy_and_dEdg(st, packed, f, h, c, d, need_grad=need_grad)
        return vm(fn)(fx, held_g, const, drives)

    def advance(fx):
        e, d = energy_and_grad(fx)
        new = {}
        for gid, x in fx.items():
            x_new = x - rates[gid] * d[gid]
            if st.layer_groups[gid].kind == G.MASK:
                x_new = jnp.where(masks[st.layer_groups[gid].members[0]], x, x_new)
            new[gid] = x_new
        return new, e

    return free_x, advance, energy_and_grad


def _step_impl(model: "CompiledHAM", static, packed, xg, dt, masks):
    st, batched = static
    free_x, advance, _ = _prepare(model, st, batched, packed, xg, dt, masks)
    return advance(free_x)[0]


def _run_impl(model: "CompiledHAM", static, packed, xg, dt, masks):
    """The whole run: held parts precomputed once, free layers in grouped form in the carry."""
    st, steps, batched = static
    free_x, advance, energy_and_grad = _prepare(model, st, batched, packed, xg, dt, masks)
    final, es = jax.lax.scan(lambda c, _: advance(c), free_x, None, length=steps)
    e_last = energy_and_grad(final, need_grad=False)[0]
    return final, jnp.concatenate([es, e_last[None]], axis=0)


def _check_dt(dt: Any) -> Array:
    if not isinstance(dt, jax.Array):
        dt = jnp.asarray(dt, dtype=jnp.result_type(float))
    elif dt.dtype != jnp.result_type(float):
        dt = dt.astype(jnp.result_type(float))
    if dt.ndim != 0:
        raise StateError(f"dt must be a scalar step size, got an array of shape {dt.shape}.")
    return dt


def _to_default(default, st, axis, xg, out):
    """In the trace: the new states (held groups from the input) in the default grouping."""
    final, rest = (out, None) if isinstance(out, dict) else out
    full = {gid: final[gid] if gid in final else xg[gid] for gid in range(len(st.layer_groups))}
    if st != default:
        full = regroup(st, default, full, axis)
    groups = tuple(full[g] for g in range(len(default.layer_groups)))
    return groups if rest is None else (groups, rest)


def _grouped_call(model: "CompiledHAM", impl, xs, dt, clamp, extra=()):
    flat, batch, layout = model._states(xs)
    packed = layout is not None
    kinds, masks = _split_clamp(normalize_clamp(model, clamp))
    st, axis, out = _jitcache.grouped_call(
        model,
        impl,
        kinds,
        tuple(extra),
        flat,
        batch is not None,
        _check_dt(dt),
        masks,
        packed=packed,
        post=_to_default if packed else None,
    )
    final, rest = (out, None) if impl is _step_impl else out
    if packed:
        return PackedStates(final, layout, batch is not None), rest
    new = _stacking.unstack_groups(st, final, len(flat), axis)
    new = [x if k == _grouping.HELD else n for x, n, k in zip(flat, new, kinds)]
    return model._dict(new), rest


def step(model: "CompiledHAM", xs, *, dt: Any = 0.1, clamp: Any = None):
    """One Euler step of the dynamics (see ``CompiledHAM.step``)."""
    return _grouped_call(model, _step_impl, xs, dt, clamp)[0]


def run(model: "CompiledHAM", xs, *, steps: int = 50, dt: Any = 0.1, clamp: Any = None):
    """``steps`` Euler steps in one ``lax.scan`` (see ``CompiledHAM.run``).

    The energy of every step comes with its gradient (``jax.value_and_grad``), so returning
    it costs almost nothing. Held layers' activations and energies, hyperedges over held
    layers only, and the drive of multiaffine synapses from held layers onto one free layer
    are computed once per run, not once per step.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise StateError(f"steps must be an int >= 0, got {steps!r}.")
    return _grouped_call(model, _run_impl, xs, dt, clamp, (int(steps),))
