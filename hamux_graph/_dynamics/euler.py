"""Euler steps of ``τ_ℓ dx_ℓ/dt = −∂E/∂g_ℓ`` with clamping, in grouped form: ``step`` and ``run``.

A whole ``run`` is one compiled ``lax.scan``. Clamped layers (or clamped entries, with a
boolean mask) keep their values. Because every Lagrangian is convex, the energy never
increases along the continuous flow, nor along Euler steps with a small enough ``dt``.
Held layers' activations and energies, hyperedges over held layers only, and the drive of
multiaffine synapses from held layers onto one free layer are computed once per call.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .._energy import calls, kernel, stacking
from .._energy.core import AbstractEnergyCore
from .._energy.packed import PackedStates, regroup
from .._types import Clamp
from .common import check_batched_clamp, check_dt, check_steps, clamped_update, normalize_clamp


__all__ = ["step", "run"]


def _split_clamp(clamp: Clamp) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Static clamp kinds per layer, and the mask arrays (traced arguments)."""
    kinds = tuple(kernel.HELD if c is True else kernel.FREE if c is None else kernel.MASK for c in clamp)
    masks = tuple(None if (c is None or c is True) else c for c in clamp)
    return kinds, masks


def _prepare(model: AbstractEnergyCore, st, batched, packed, xg, dt, masks):
    """Held parts (computed once per call) and the Euler update of the free groups."""
    G = kernel
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
            group = st.layer_groups[gid]
            entry = masks[group.members[0]] if group.kind == G.MASK else None
            new[gid] = clamped_update(x, d[gid], rates[gid], entry)
        return new, e

    return free_x, advance, energy_and_grad


def _step_impl(model: AbstractEnergyCore, static, packed, xg, dt, masks):
    st, batched = static
    free_x, advance, _ = _prepare(model, st, batched, packed, xg, dt, masks)
    return advance(free_x)[0]


def _run_impl(model: AbstractEnergyCore, static, packed, xg, dt, masks):
    """The whole run: held parts precomputed once, free layers in grouped form in the carry."""
    st, steps, batched = static
    free_x, advance, energy_and_grad = _prepare(model, st, batched, packed, xg, dt, masks)
    final, es = jax.lax.scan(lambda c, _: advance(c), free_x, None, length=steps)
    e_last = energy_and_grad(final, need_grad=False)[0]
    return final, jnp.concatenate([es, e_last[None]], axis=0)


def _to_default(default, st, axis, xg, out):
    """In the trace: the new states (held groups from the input) in the default grouping."""
    final, rest = (out, None) if isinstance(out, dict) else out
    full = {gid: final[gid] if gid in final else xg[gid] for gid in range(len(st.layer_groups))}
    if st != default:
        full = regroup(st, default, full, axis)
    groups = tuple(full[g] for g in range(len(default.layer_groups)))
    return groups if rest is None else (groups, rest)


def _grouped_call(model: AbstractEnergyCore, impl, xs, dt, clamp, extra=()):
    flat, batch, layout = model.states_in(xs)
    packed = layout is not None
    clamp_n = normalize_clamp(model, clamp)
    check_batched_clamp(model, clamp_n, batch)
    kinds, masks = _split_clamp(clamp_n)
    st, axis, out = calls.grouped_call(
        model,
        impl,
        kinds,
        tuple(extra),
        flat,
        batch is not None,
        check_dt(dt),
        masks,
        packed=packed,
        post=_to_default if packed else None,
    )
    final, rest = (out, None) if impl is _step_impl else out
    if packed:
        return PackedStates(final, layout, batch is not None), rest
    new = stacking.unstack_groups(st, final, len(flat), axis)
    new = [x if k == kernel.HELD else n for x, n, k in zip(flat, new, kinds)]
    return model.as_dict(new), rest


def step(model: AbstractEnergyCore, xs, *, dt: Any = 0.1, clamp: Any = None):
    """One Euler step of the dynamics (see ``CompiledHAM.step``)."""
    return _grouped_call(model, _step_impl, xs, dt, clamp)[0]


def run(model: AbstractEnergyCore, xs, *, steps: int = 50, dt: Any = 0.1, clamp: Any = None):
    """``steps`` Euler steps in one ``lax.scan`` (see ``CompiledHAM.run``).

    The energy of every step comes with its gradient (``jax.value_and_grad``), so returning
    it costs almost nothing. Held layers' activations and energies, hyperedges over held
    layers only, and the drive of multiaffine synapses from held layers onto one free layer
    are computed once per run, not once per step.
    """
    steps = check_steps("steps", steps)
    return _grouped_call(model, _run_impl, xs, dt, clamp, (steps,))
