"""Energy traces: every node's energy at every Euler step of a run, in one ``lax.scan``.

``energy_trace`` runs the same clamp-aware Euler steps as ``run`` (``_euler``) and records
the per-node energies ``energy_tree`` reports, with a leading step axis: entry ``t`` is the
energy after ``t`` steps, so a trace of ``steps`` steps has ``steps + 1`` entries and its
totals equal the energies ``run`` returns. Each step evaluates the layer terms and the
synapse terms once, in grouped form (identical nodes vmapped), and takes ``∂E/∂g`` from the
same evaluation (``jax.value_and_grad`` with the terms as auxiliary output).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .._energy import calls, kernel, stacking
from .._energy.core import AbstractEnergyCore
from .common import check_batched_clamp, check_dt, check_steps, clamped_update, normalize_clamp


__all__ = ["energy_trace"]


def _trace_impl(model: AbstractEnergyCore, static, packed, xg, dt, masks):
    st, steps, batched = static
    G = kernel
    vm = jax.vmap if batched else (lambda f: f)
    layers, syns = packed
    every = range(len(st.edge_groups))
    rates = {}
    for gid, group in enumerate(st.layer_groups):
        ms = group.members
        if len(ms) == 1:
            rates[gid] = dt / model.taus[ms[0]]
        else:
            taus = jnp.asarray([model.taus[i] for i in ms], dtype=dt.dtype)
            rates[gid] = (dt / taus).reshape((len(ms),) + (1,) * len(model.shapes[ms[0]]))

    def terms_and_grad(x):  # one sample, every group
        us, gs, el = G.layer_terms(st, layers, x)

        def synapse_energy(g):
            terms = G.synapse_terms(st, syns, g, every)
            return G.total(terms.values()), terms

        (_, es), dg = jax.value_and_grad(synapse_energy, has_aux=True)(gs)
        return (el, es), {gid: us[gid] + dg[gid] for gid in us}

    def terms(x):
        _, gs, el = G.layer_terms(st, layers, x)
        return el, G.synapse_terms(st, syns, gs, every)

    def advance(x, _):
        tree, d = vm(terms_and_grad)(x)
        new = {}
        for gid, a in x.items():
            group = st.layer_groups[gid]
            if group.kind == G.HELD:
                new[gid] = a
            else:
                entry = masks[group.members[0]] if group.kind == G.MASK else None
                new[gid] = clamped_update(a, d[gid], rates[gid], entry)
        return new, tree

    final, trace = jax.lax.scan(advance, xg, None, length=steps)
    last = vm(terms)(final)
    return jax.tree_util.tree_map(lambda t, e: jnp.concatenate([t, e[None]], axis=0), trace, last)


def energy_trace(model: AbstractEnergyCore, xs: Any, *, steps: int = 50, dt: Any = 0.1, clamp: Any = None):
    """Per-node energies along ``steps`` Euler steps (see ``CompiledHAM.energy_trace``)."""
    steps = check_steps("steps", steps)
    flat, batch, layout = model.states_in(xs)
    clamp_n = normalize_clamp(model, clamp)
    check_batched_clamp(model, clamp_n, batch)
    kinds = tuple(kernel.HELD if c is True else kernel.FREE if c is None else kernel.MASK for c in clamp_n)
    masks = tuple(None if (c is None or c is True) else c for c in clamp_n)
    st, _, (el, es) = calls.grouped_call(
        model, _trace_impl, kinds, (steps,), flat, batch is not None, check_dt(dt), masks, packed=layout is not None
    )
    layers: list[Any] = [None] * len(model.layer_names)
    for gid, e in el.items():
        members = st.layer_groups[gid].members
        rows = [e] if len(members) == 1 else stacking.split(e, e.ndim - 1)
        for i, v in zip(members, rows):
            layers[i] = v
    synapses: list[Any] = [None] * len(model.synapse_names)
    for k, e in es.items():
        edges = st.edge_groups[k].edges
        rows = [e] if len(edges) == 1 else stacking.split(e, e.ndim - 1)
        for j, v in zip(edges, rows):
            synapses[j] = v
    return {"layers": dict(zip(model.layer_names, layers)), "synapses": dict(zip(model.synapse_names, synapses))}
