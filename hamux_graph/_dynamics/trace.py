"""Energy traces: every node's energy at every Euler step of a run, in one ``lax.scan``.

``energy_trace`` runs the engine's clamp-aware Euler steps, as ``run`` does, and records
the per-node energies ``energy_tree`` reports, with a leading step axis: entry ``t`` is the
energy after ``t`` steps, so a trace of ``steps`` steps has ``steps + 1`` entries and its
totals equal the energies ``run`` returns. Each step evaluates the free layers' terms and
every synapse term once, in grouped form (identical nodes vmapped), and takes ``∂E/∂g``
from the same evaluation (``jax.value_and_grad`` with the terms as auxiliary output). Held
layers' activations and energies are computed once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._energy import kernel, stacking
from .._energy.calls import GroupedCall
from .._energy.core import AbstractEnergyCore, StatesLike
from .._energy.kernel import GroupParameters
from .._types import ClampSpec
from .common import check_dt, check_steps
from .engine import batch_map, call_measure, DynamicsInputs, GroupedStates, start_engine


__all__ = ["energy_trace"]


def _trace_impl(model: AbstractEnergyCore, call: GroupedCall, params: GroupParameters, xg, inputs: DynamicsInputs):
    st, steps = call.structure, call.config
    engine, free = start_engine(model, st, params, xg, call.batched, inputs.dt, inputs.masks)
    every = range(len(st.edge_groups))
    held_x = {gid: xg[gid] for gid in st.ids(kernel.HELD)}
    held_energies = {}
    if held_x:  # computed once
        held_energies = batch_map(call.batched)(lambda h: kernel.layer_terms(st, params.layers, h)[2])(held_x)

    def terms_and_grad(x: GroupedStates, held_g: GroupedStates):  # one sample
        us, gs, el = kernel.layer_terms(st, params.layers, x)

        def synapse_energy(g):
            terms = kernel.synapse_terms(st, params.synapses, {**held_g, **g}, every)
            return kernel.total(terms.values()), terms

        (_, es), dg = jax.value_and_grad(synapse_energy, has_aux=True)(gs)
        return (el, es), {gid: us[gid] + dg[gid] for gid in us}

    def terms(x: GroupedStates, held_g: GroupedStates):
        _, gs, el = kernel.layer_terms(st, params.layers, x)
        return el, kernel.synapse_terms(st, params.synapses, {**held_g, **gs}, every)

    def advance(x: GroupedStates, _):
        tree, d = batch_map(call.batched)(terms_and_grad)(x, engine.held.activations)
        return engine.step(x, d), tree

    final, trace = jax.lax.scan(advance, free, None, length=steps)
    last = batch_map(call.batched)(terms)(final, engine.held.activations)
    (el, es) = jax.tree_util.tree_map(lambda t, e: jnp.concatenate([t, e[None]], axis=0), trace, last)
    for gid, e in held_energies.items():
        el[gid] = jnp.broadcast_to(e, (steps + 1,) + e.shape)
    return el, es


def energy_trace(
    model: AbstractEnergyCore, xs: StatesLike, steps: int = 50, dt: float | Array = 0.1, clamp: ClampSpec = None
) -> dict[str, dict[str, Float[Array, "n_energies ..."]]]:
    """Every node's energy along ``steps`` Euler steps, in one compiled ``lax.scan``.

    Bound as ``CompiledHAM.energy_trace`` (``model.energy_trace(xs, ...)``). The same steps
    as ``run``; the result is shaped like ``energy_tree`` with a leading step axis:
    ``{"layers": {name: (steps + 1, *batch)}, "synapses": {...}}``, entry ``t`` after ``t``
    steps, so the components at each step sum to ``run``'s energies.

    Args:
        model: the compiled HAM.
        xs: initial states dict (optionally batched), or ``PackedStates``.
        steps: number of steps.
        dt: step size.
        clamp: layer names held fixed, or ``{layer: bool mask}`` (``True`` = held).

    Returns:
        ``{"layers": {name: energies}, "synapses": {name: energies}}``.

    Raises:
        StateError: for states or clamps that do not match the model.
        ArgumentError: for a bad ``steps`` or ``dt``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((4,)))
        >>> ham.add_synapse("self", hg.DenseSynapse(), layers=("v", "v"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> tr = model.energy_trace(model.init_states(batch_size=2, key=jax.random.key(1)), steps=5)
        >>> tr["layers"]["v"].shape, tr["synapses"]["self"].shape
        ((6, 2), (6, 2))
    """
    steps = check_steps("steps", steps)
    call, (el, es) = call_measure(model, _trace_impl, xs, clamp=clamp, dt=check_dt(dt), config=steps)
    st = call.structure
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
