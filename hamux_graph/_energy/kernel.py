"""Grouped evaluation of a compiled HAM: identical nodes become one stacked computation.

A deep HAM is usually built from a few kinds of blocks repeated many times (a chain of
identical layers, the same synapse between each pair). Evaluated node by node, its energy is
a long serial chain of small terms, and XLA's compile time grows faster than linearly with
depth. Here layers with the same Lagrangian (class, static configuration, parameter shapes),
shape and bias flag form one *layer group*, and hyperedges with the same synapse class,
configuration, parameter shapes and connected layer shapes form one *edge group*. Each group
is evaluated once, ``jax.vmap``-ed over its members, with its members' parameters stacked
along a leading axis, and the energy is a sum over groups. The number of operations in the
compiled program then depends on the number of *kinds* of nodes, not on the number of nodes.

The grouping is computed while tracing (it depends only on the model's static structure and
parameter shapes), so ``CompiledHAM`` keeps its parameters node by node. Groups of one
member are evaluated directly, without stacking, so small heterogeneous models compile to
exactly the code a hand-written energy would.

The dynamics refine the grouping by clamp status: the activations and energies of held
layers are computed once per call (``precompute``); a hyperedge whose layers are all held
contributes a constant; and a hyperedge whose synapse is ``multiaffine`` (affine in each
argument when the others are fixed: dense and convolutional synapses) with exactly one free
slot contributes a constant drive ``∂E_σ/∂g`` to that layer, computed once per call instead
of every step.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .stacking import host_stack, stack, STACK_THRESHOLD, take


__all__ = [
    "FREE",
    "HELD",
    "MASK",
    "DYNAMIC",
    "DRIVE",
    "CONST",
    "LayerGroup",
    "EdgeGroup",
    "Structure",
    "GroupParameters",
    "HeldParts",
    "is_multiaffine",
    "build",
    "tree_stack",
    "group_parameters",
    "to_groups",
    "layer_terms",
    "needs_index",
    "synapse_terms",
    "total",
    "energy",
    "energy_and_dEdg",
    "dEdg",
    "precompute",
    "drive_targets",
    "free_energy",
    "free_energy_and_dEdg",
]

FREE, HELD, MASK = "free", "held", "mask"
DYNAMIC, DRIVE, CONST = "dynamic", "drive", "const"


@dataclasses.dataclass(frozen=True)
class LayerGroup:
    """Layers evaluated together: ``members`` are layer indices; ``kind`` their clamp status.

    ``layer_energy`` is ``False`` for layers without their own energy term (``Layer(...,
    layer_energy=False)``): their energy is the synapses' only, and ``∂E/∂g`` has no leak ``u``.
    """

    members: tuple[int, ...]
    kind: str
    layer_energy: bool = True


@dataclasses.dataclass(frozen=True)
class EdgeGroup:
    """Hyperedges evaluated together.

    ``owners`` are the distinct parameter owners used by the group (first-use order),
    ``owner_pos[e]`` the owner of the group's ``e``-th edge, ``slots[j][e]`` the
    ``(layer group, position)`` feeding slot ``j`` of edge ``e``.
    """

    edges: tuple[int, ...]
    owners: tuple[int, ...]
    owner_pos: tuple[int, ...]
    slots: tuple[tuple[tuple[int, int], ...], ...]
    role: str


@dataclasses.dataclass(frozen=True)
class Structure:
    """The grouping of one model for one clamp pattern."""

    layer_groups: tuple[LayerGroup, ...]
    loc: tuple[tuple[int, int], ...]
    edge_groups: tuple[EdgeGroup, ...]

    def ids(self, *kinds: str) -> tuple[int, ...]:
        return tuple(i for i, g in enumerate(self.layer_groups) if g.kind in kinds)

    def edges(self, role: str) -> tuple[int, ...]:
        return tuple(i for i, g in enumerate(self.edge_groups) if g.role == role)

    def size(self, gid: int) -> int:
        return len(self.layer_groups[gid].members)


def _signature(module: Any) -> Any:
    """A hashable key equal for modules that can be stacked and vmapped together, else None."""
    leaves, treedef = jax.tree_util.tree_flatten(module)
    if not all(isinstance(l, (jax.Array, np.ndarray)) for l in leaves):
        return None
    key = (type(module), treedef, tuple((tuple(l.shape), np.dtype(l.dtype).str) for l in leaves))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def is_multiaffine(synapse: Any) -> bool:
    return bool(type(synapse).multiaffine)


def build(model: Any, kinds: Sequence[str] | None = None, *, group: bool = True) -> Structure:
    """Group the layers and hyperedges of ``model`` (see the module docstring).

    Args:
        model: a ``CompiledHAM`` (its leaves may be tracers).
        kinds: per layer ``FREE``, ``HELD`` or ``MASK`` (default: all free).
        group: ``False`` puts every node in its own group (the ungrouped reference path).
    """
    n = len(model.layer_names)
    kinds = tuple(kinds) if kinds is not None else (FREE,) * n
    index: dict[Any, int] = {}
    members: list[list[int]] = []
    gkinds: list[str] = []
    genergy: list[bool] = []
    for i in range(n):
        key: Any = ("solo", i)
        own = bool(model.layer_energies[i])
        if group and kinds[i] != MASK:
            sig = _signature(model.lagrangians[i])
            b = model.biases[i]
            bsig = None if b is None else _signature(b)
            if sig is not None and (b is None or bsig is not None):
                key = (kinds[i], sig, tuple(model.shapes[i]), bsig, own)
        if key not in index:
            index[key] = len(members)
            members.append([])
            gkinds.append(kinds[i])
            genergy.append(own)
        members[index[key]].append(i)
    loc: list[tuple[int, int]] = [(0, 0)] * n
    for gid, ms in enumerate(members):
        for pos, i in enumerate(ms):
            loc[i] = (gid, pos)

    eindex: dict[Any, int] = {}
    edges: list[list[int]] = []
    roles: list[str] = []
    for e, (p, idx) in enumerate(zip(model.edge_params, model.edge_layers)):
        syn = model.synapses[p]
        slot_kinds = [kinds[l] for l in idx]
        n_free = sum(k != HELD for k in slot_kinds)
        if n_free == 0:
            role = CONST
        elif n_free == 1 and HELD in slot_kinds and is_multiaffine(syn):
            role = DRIVE
        else:
            role = DYNAMIC
        key = ("solo", e)
        if group:
            sig = _signature(syn)
            if sig is not None:
                key = (role, sig, tuple(tuple(model.shapes[l]) for l in idx))
        if key not in eindex:
            eindex[key] = len(edges)
            edges.append([])
            roles.append(role)
        edges[eindex[key]].append(e)

    egroups = []
    for es, role in zip(edges, roles):
        owners = tuple(dict.fromkeys(model.edge_params[e] for e in es))
        owner_pos = tuple(owners.index(model.edge_params[e]) for e in es)
        k = len(model.edge_layers[es[0]])
        slots = tuple(tuple(loc[model.edge_layers[e][j]] for e in es) for j in range(k))
        egroups.append(EdgeGroup(tuple(es), owners, owner_pos, slots, role))
    layer_groups = tuple(LayerGroup(tuple(ms), k, own) for ms, k, own in zip(members, gkinds, genergy))
    return Structure(layer_groups, tuple(loc), tuple(egroups))


# ---- parameters in grouped form (states: see stacking.py) --------------------------------


def tree_stack(modules: Sequence[Any], host: bool = False) -> Any:
    """Modules of one structure stacked leaf by leaf into one module.

    Each module is flattened once (``tree_map`` over n modules matches every one against
    the first's structure, ~0.2 ms a module for equinox Modules).
    """
    fn = host_stack if host else stack
    leaves, treedef = jax.tree_util.tree_flatten(modules[0])
    columns = [leaves] + [jax.tree_util.tree_leaves(m) for m in modules[1:]]
    return jax.tree_util.tree_unflatten(treedef, [fn([c[i] for c in columns]) for i in range(len(leaves))])


class GroupParameters(NamedTuple):
    """The parameters in grouped form (a pytree): what the grouped evaluation reads.

    ``layers[gid]`` is ``(lagrangian, bias)`` of layer group ``gid``, ``synapses[k]`` the
    synapse of edge group ``k``; the members' modules are stacked along a leading axis
    when a group has several (``tree_stack``).
    """

    layers: list[Any]
    synapses: list[Any]


def group_parameters(st: Structure, model: Any, *, host: bool = False) -> GroupParameters:
    """Per layer group ``(lagrangian, bias)`` and per edge group the synapse, stacked if shared.

    ``host=True`` stacks concrete arrays with numpy (no compilation); otherwise with jnp
    (inside a trace, differentiable with respect to ``model``).
    """
    stack_ = host_stack if host else stack
    layers = []
    for lg in st.layer_groups:
        lags = [model.lagrangians[i] for i in lg.members]
        bs = [model.biases[i] for i in lg.members]
        if len(lags) == 1:
            layers.append((lags[0], bs[0]))
        else:
            layers.append((tree_stack(lags, host), None if bs[0] is None else stack_(bs)))
    syns = []
    for eg in st.edge_groups:
        owners = [model.synapses[p] for p in eg.owners]
        syns.append(owners[0] if len(owners) == 1 else tree_stack(owners, host))
    return GroupParameters(layers, syns)


def _row(a: Any, pos: int) -> Any:
    return lax.index_in_dim(a, pos, axis=0, keepdims=False)


def to_groups(st: Structure, flat: Sequence[Any], ids: Sequence[int] | None = None) -> dict[int, Any]:
    """Stack one sample's per-layer arrays into ``{group id: array}`` (singletons unstacked)."""
    ids = range(len(st.layer_groups)) if ids is None else ids
    out = {}
    for gid in ids:
        ms = st.layer_groups[gid].members
        out[gid] = flat[ms[0]] if len(ms) == 1 else stack([flat[i] for i in ms])
    return out


# ---- energies (one sample) ----------------------------------------------------------------


def _act_and_value(lag, u):
    return lag.activation_and_value(u)


def _activation(lag, u):
    return lag.activation(u)


def layer_terms(st: Structure, layers: list[Any], xs: dict[int, Any], drives: dict[int, Any] | None = None):
    """The leak, ``g`` and the energy (scalar, or per member ``(n,)``) of each given group.

    The leak is the layer's own term of ``∂E/∂g``: ``u = x − b``, or zeros for a group
    without its layer energy (``LayerGroup.layer_energy``), whose energy is then ``0``.
    With ``drives``, a group's energy also includes ``⟨drive, g⟩`` (in the same reduction).
    """
    us, gs, es = {}, {}, {}
    drives = drives or {}
    for gid, x in xs.items():
        lag, b = layers[gid]
        u = x if b is None else x - b
        own = st.layer_groups[gid].layer_energy
        if st.size(gid) == 1:
            if own:
                g, L = lag.activation_and_value(u)
                w = u + drives[gid] if gid in drives else u
                e = jnp.sum(g * w) - L
            else:
                g = lag.activation(u)
                e = jnp.sum(g * drives[gid]) if gid in drives else jnp.zeros((), g.dtype)
        else:
            if own:
                g, L = jax.vmap(_act_and_value)(lag, u)
                w = u + drives[gid] if gid in drives else u
                e = jnp.sum((g * w).reshape(u.shape[0], -1), axis=1) - L
            else:
                g = jax.vmap(_activation)(lag, u)
                e = (
                    jnp.sum((g * drives[gid]).reshape(u.shape[0], -1), axis=1)
                    if gid in drives
                    else jnp.zeros((u.shape[0],), g.dtype)
                )
        us[gid], gs[gid], es[gid] = (u if own else jnp.zeros_like(u)), g, e
    return us, gs, es


def _gathers(st: Structure, slot: tuple[tuple[int, int], ...]) -> bool:
    """True if a slot's rows all come from one stacked group (one slice or gather)."""
    return len({gid for gid, _ in slot}) == 1 and st.size(slot[0][0]) > 1


def _fetch(st: Structure, slot: tuple[tuple[int, int], ...], gs: dict[int, Any]) -> Any:
    if len(slot) == 1:
        gid, pos = slot[0]
        return gs[gid] if st.size(gid) == 1 else _row(gs[gid], pos)
    if _gathers(st, slot):
        gid = slot[0][0]
        return take(gs[gid], [pos for _, pos in slot], st.size(gid))
    return stack([_fetch(st, (s,), gs) for s in slot])


def needs_index(st: Structure) -> bool:
    """True if evaluating ``st`` stacks more than ``STACK_THRESHOLD`` arrays in the trace."""
    return any(len(slot) > STACK_THRESHOLD and not _gathers(st, slot) for eg in st.edge_groups for slot in eg.slots)


def _energy_of(syn, *gs):
    return syn.energy(*gs)


def synapse_terms(st: Structure, syns: list[Any], gs: dict[int, Any], which: Sequence[int]) -> dict[int, Any]:
    """Energy (scalar, or per edge ``(n,)``) of each given edge group."""
    out = {}
    for k in which:
        eg = st.edge_groups[k]
        syn = syns[k]
        args = [_fetch(st, slot, gs) for slot in eg.slots]
        if len(eg.edges) == 1:
            out[k] = syn.energy(*args)
        elif len(eg.owners) == 1:
            out[k] = jax.vmap(_energy_of, in_axes=(None,) + (0,) * len(args))(syn, *args)
        else:
            if list(eg.owner_pos) != list(range(len(eg.owners))):
                pos = eg.owner_pos
                syn = jax.tree_util.tree_map(lambda a: take(a, pos, len(eg.owners)), syn)
            out[k] = jax.vmap(_energy_of)(syn, *args)
    return out


def total(terms: Any) -> Any:
    """Sum of scalar or vector energy terms, as a balanced sum (no long serial chain)."""
    terms = [jnp.sum(t) for t in terms]
    if not terms:
        return jnp.zeros((), jnp.result_type(float))
    if len(terms) <= 8:  # a few scalar adds fuse into one kernel
        return functools.reduce(jnp.add, terms)
    return jnp.sum(jnp.stack(terms))


def energy(st: Structure, params: GroupParameters, xs: dict[int, Any]) -> Any:
    """The energy of one sample, every layer free."""
    _, gs, el = layer_terms(st, params.layers, xs)
    return total(el.values()) + total(synapse_terms(st, params.synapses, gs, range(len(st.edge_groups))).values())


def energy_and_dEdg(st: Structure, params: GroupParameters, xs: dict[int, Any]) -> tuple[Any, dict[int, Any]]:
    """Energy and ``∂E/∂g`` (per group) of one sample, every layer free."""
    us, gs, el = layer_terms(st, params.layers, xs)
    every = range(len(st.edge_groups))
    es, dg = jax.value_and_grad(lambda g: total(synapse_terms(st, params.synapses, g, every).values()))(gs)
    return total(el.values()) + es, {gid: us[gid] + dg[gid] for gid in us}


def dEdg(st: Structure, params: GroupParameters, xs: dict[int, Any]) -> dict[int, Any]:
    """``∂E/∂g`` (per group) of one sample; XLA drops the unused energy value."""
    return energy_and_dEdg(st, params, xs)[1]


# ---- clamped dynamics ---------------------------------------------------------------------


class HeldParts(NamedTuple):
    """What held layers contribute to one sample, computed once per call (``precompute``).

    ``activations[gid]`` is ``g`` of held group ``gid``; ``energy`` the held layers' energies
    plus the hyperedges over held layers only plus the drives' offset; ``drives[gid]`` the
    constant ``∂E_σ/∂g`` that multiaffine hyperedges from held layers put on free group ``gid``.
    """

    activations: dict[int, Any]
    energy: Any
    drives: dict[int, Any]


def precompute(st: Structure, params: GroupParameters, held_x: dict[int, Any], free_x: dict[int, Any]) -> HeldParts:
    """Once per call: held activations, the constant energy, and the constant drives."""
    _, held_g, held_e = layer_terms(st, params.layers, held_x)
    const = total(held_e.values()) + total(synapse_terms(st, params.synapses, held_g, st.edges(CONST)).values())
    drive_edges = st.edges(DRIVE)
    targets = drive_targets(st)
    drives: dict[int, Any] = {}
    if drive_edges:
        zeros = {gid: jnp.zeros_like(free_x[gid]) for gid in targets}

        def e_drive(gz):
            return total(synapse_terms(st, params.synapses, {**held_g, **gz}, drive_edges).values())

        offset, drives = jax.value_and_grad(e_drive)(zeros)
        const = const + offset
    return HeldParts(held_g, const, drives)


def drive_targets(st: Structure) -> tuple[int, ...]:
    """Layer groups that receive a constant drive in a clamped call."""
    held = set(st.ids(HELD))
    out: dict[int, None] = {}
    for k in st.edges(DRIVE):
        for slot in st.edge_groups[k].slots:
            for gid, _ in slot:
                if gid not in held:
                    out[gid] = None
    return tuple(out)


def _free_synapse_energy(st: Structure, params: GroupParameters, held: HeldParts, extra: Any) -> Callable:
    dyn = st.edges(DYNAMIC)

    def e_syn(g):
        every_g = {**held.activations, **g}
        e = total(synapse_terms(st, params.synapses, every_g, dyn).values())
        return e if extra is None else e + extra(every_g)

    return e_syn


def free_energy(
    st: Structure,
    params: GroupParameters,
    free_x: dict[int, Any],
    held: HeldParts,
    *,
    extra: Callable[[dict[int, Any]], Any] | None = None,
) -> Any:
    """The energy of one sample, held parts precomputed (``extra`` as in ``free_energy_and_dEdg``)."""
    _, gs, el = layer_terms(st, params.layers, free_x, held.drives)
    return held.energy + total(el.values()) + _free_synapse_energy(st, params, held, extra)(gs)


def free_energy_and_dEdg(
    st: Structure,
    params: GroupParameters,
    free_x: dict[int, Any],
    held: HeldParts,
    *,
    extra: Callable[[dict[int, Any]], Any] | None = None,
) -> tuple[Any, dict[int, Any]]:
    """Energy and ``∂E/∂g`` of the free groups of one sample, held parts precomputed.

    ``extra(activations)``, a scalar function of every group's activations (held and free),
    is added to the energy and its gradient to ``∂E/∂g`` (the nudge of equilibrium
    propagation).
    """
    us, gs, el = layer_terms(st, params.layers, free_x, held.drives)
    es, dg = jax.value_and_grad(_free_synapse_energy(st, params, held, extra))(gs)
    e = held.energy + total(el.values()) + es
    d = {}
    for gid in us:
        d[gid] = us[gid] + dg[gid] + held.drives[gid] if gid in held.drives else us[gid] + dg[gid]
    return e, d
