"""What a drawing or a page shows of a plan: nodes, edges, their text and their place in the flow.

A ``Scene`` is the drawable graph: every layer and synapse of a plan, or (collapsed) one
node per group standing for its layers and links (``_collapse``). Each node knows its
label lines, its colour key (the Lagrangian text of a layer, the type of a synapse) and
its cell in the layered grid: ``col`` counts half ranks along the data flow (layers on
even columns, a synapse halfway between the layers it joins) and ``key`` orders nodes
within a column. The grid is computed on the full graph, so collapsing a group only
empties columns (the placement drops empty columns) and the page can expand groups
without a new layout of everything else.

Ranks follow the data flow: the layers given as ``first`` (by default the layers named
``input``, ``inputs``, ``visible`` or ``image``) start, the layers given as ``last`` (by
default ``label``, ``labels``, ``output``, ``outputs``, ``target``) end, the others keep
the graph's insertion order; a layer's rank is the longest path to it when every
hyperedge is read from its earliest layer to its latest.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._errors import ArgumentError, StateError
from .._graph.validate import Plan
from .collapse import find_groups, Group
from .summary import lagrangian_text


__all__ = [
    "Scene",
    "SceneNode",
    "SceneEdge",
    "build_scene",
    "grid",
    "energy_values",
    "wrap_type",
    "colors_of",
    "FIRST",
    "LAST",
    "LAYER_COLOR",
    "SYNAPSE_COLOR",
    "LAYER_COLORS",
    "SYNAPSE_COLORS",
]

FIRST = ("input", "inputs", "visible", "image")
LAST = ("label", "labels", "output", "outputs", "target")
DETAILS = ("auto", "full", "compact")
FULL_DETAIL_MAX_NODES = 20
LAYER_COLOR = "#9ecae1"
SYNAPSE_COLOR = "#fdae6b"
# layers are coloured by Lagrangian, synapses by type, from these palettes (cycled)
LAYER_COLORS = (
    "#9ecae1",
    "#a1d99b",
    "#fdd0a2",
    "#dadaeb",
    "#fcbba1",
    "#c7e9c0",
    "#bcbddc",
    "#fee391",
    "#d9d9d9",
    "#9ebcda",
)
SYNAPSE_COLORS = ("#fdae6b", "#fd8d3c", "#e6a0c4", "#c2a5cf", "#f4a582", "#bf812d", "#dfc27d", "#f1b6da")


@dataclasses.dataclass
class SceneNode:
    """One drawn node: a layer, a synapse or a collapsed group."""

    name: str
    kind: str
    lines: tuple[str, ...]
    color_key: str
    neurons: int = 0
    shared: bool = False
    members: int = 1
    col: int = 0
    key: tuple[Any, ...] = ()
    slots: int = 0


@dataclasses.dataclass(frozen=True)
class SceneEdge:
    """One argument slot: synapse ``synapse`` feeds its slot ``slot`` from node ``target``."""

    synapse: str
    target: str
    slot: int
    slots: int
    dashed: bool


@dataclasses.dataclass
class Scene:
    """The nodes (in drawing order: layers and groups, then synapses) and slot edges of a plan."""

    plan: Plan
    nodes: dict[str, SceneNode]
    edges: list[SceneEdge]
    groups: tuple[Group, ...]
    group_of: dict[str, str]
    detail: str

    def names(self, *kinds: str) -> list[str]:
        """Node names of the given kinds, in drawing order."""
        return [n for n, v in self.nodes.items() if v.kind in kinds]


def wrap_type(name: str, width: int = 18) -> str:
    """Break a long CamelCase type name at word boundaries (for figure labels)."""
    words = re.findall(r"[A-Z]+[a-z0-9]*|[a-z0-9]+|[^A-Za-z0-9]+", name) or [name]
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur += w
    return "\n".join(lines + [cur])


def _names(plan: Plan, given: Iterable[str] | None, default: tuple[str, ...], what: str) -> set[str]:
    if given is None:
        return {n for n in plan.layer_names if n in default}
    if isinstance(given, str):
        given = (given,)
    out = set()
    for n in given:
        if n not in plan.layer_names:
            raise ArgumentError(f"{what} names {n!r}, which is not a layer; the layers are {list(plan.layer_names)}.")
        out.add(n)
    return out


def grid(
    plan: Plan, first: Iterable[str] | None = None, last: Iterable[str] | None = None
) -> dict[str, tuple[int, tuple]]:
    """``{node: (column, key)}`` of every layer and synapse of the full graph (module docstring).

    Raises:
        ArgumentError: if ``first`` or ``last`` names something that is not a layer.
    """
    firsts = _names(plan, first, FIRST, "first")
    lasts = _names(plan, last, LAST, "last") - firsts
    index = {l: i for i, l in enumerate(plan.layer_names)}
    prio = {l: (0 if l in firsts else 2 if l in lasts else 1, index[l]) for l in plan.layer_names}
    order = sorted(plan.layer_names, key=prio.__getitem__)
    succ: dict[str, set[str]] = {l: set() for l in plan.layer_names}
    nbrs: dict[str, set[str]] = {l: set() for l in plan.layer_names}
    for conn in plan.connections:
        ls = sorted(set(conn), key=prio.__getitem__)
        for a, b in zip(ls, ls[1:]):
            succ[a].add(b)
        for a in ls:
            nbrs[a].update(ls)
    rank = {l: 0 for l in plan.layer_names}
    for l in order:  # edges go up in priority: this order is topological
        for b in succ[l]:
            rank[b] = max(rank[b], rank[l] + 1)
    comp: dict[str, int] = {}
    for l in order:  # connected components, to push the last layers to their component's end
        if l in comp:
            continue
        stack, comp[l] = [l], len(comp)
        while stack:
            for b in nbrs[stack.pop()]:
                if b not in comp:
                    comp[b] = comp[l]
                    stack.append(b)
    end: dict[int, int] = {}
    for l in plan.layer_names:
        end[comp[l]] = max(end.get(comp[l], 0), rank[l])
    for l in lasts:
        if len(nbrs[l]) > 1:
            rank[l] = end[comp[l]]
    # within a rank: barycentre of the neighbours in earlier ranks (one sweep), then insertion order
    pos: dict[str, float] = {}
    by_rank: dict[int, list[str]] = {}
    for l in order:
        by_rank.setdefault(rank[l], []).append(l)
    for r in sorted(by_rank):
        ls = by_rank[r]
        bary = {}
        for l in ls:
            prev = [pos[b] for b in nbrs[l] if b in pos]
            bary[l] = sum(prev) / len(prev) if prev else float(index[l])
        for i, l in enumerate(sorted(ls, key=lambda l: (bary[l], index[l]))):
            pos[l] = float(i)
    out: dict[str, tuple[int, tuple]] = {l: (2 * rank[l], (0, pos[l], index[l])) for l in plan.layer_names}
    for j, (s, conn) in enumerate(zip(plan.synapse_names, plan.connections)):
        rs = [rank[l] for l in dict.fromkeys(conn)]
        col = int(math.floor(2 * (sum(rs) / len(rs)) + 0.5))
        centre = sum(pos[l] for l in conn) / len(conn)
        out[s] = (col, (1, max(rs) - min(rs), centre, j))
    return out


def _layer_lines(name: str, plan: Plan, detail: str, layer_name: str | None = None) -> tuple[str, ...]:
    layer = plan.layer(layer_name or name)
    shape = "×".join(str(s) for s in layer.shape)
    if detail == "full":
        return (name, shape, lagrangian_text(layer.lagrangian))
    return (name, shape)


def _synapse_lines(name: str, plan: Plan, detail: str) -> tuple[str, ...]:
    owner = plan.shares(name)
    if owner:
        return (name, f"shares {owner}")
    if detail == "full":
        return (name, wrap_type(type(plan.synapse_of(name)).__name__))
    return (name,)


def build_scene(
    plan: Plan,
    *,
    collapse: bool = False,
    detail: str = "auto",
    first: Iterable[str] | None = None,
    last: Iterable[str] | None = None,
    cells: dict[str, tuple[int, tuple]] | None = None,
) -> Scene:
    """The scene of a plan (module docstring); ``detail="auto"`` is full for small graphs.

    ``cells`` is ``grid(plan, first, last)`` when the caller has it already (it is not
    computed twice for a page).

    Raises:
        ArgumentError: for an unknown ``detail`` or bad ``first``/``last``.
    """
    if detail not in DETAILS:
        raise ArgumentError(f"detail must be one of {DETAILS}, got {detail!r}.")
    cells = grid(plan, first, last) if cells is None else cells
    groups = find_groups(plan) if collapse else ()
    group_of = {m: g.name for g in groups for m in g.layers + g.synapses}
    hidden = {m for g in groups for m in g.synapses}
    shown = len(plan.layer_names) + len(plan.synapse_names) - sum(g.members - 1 for g in groups)
    if detail == "auto":
        detail = "full" if shown <= FULL_DETAIL_MAX_NODES else "compact"
    nodes: dict[str, SceneNode] = {}
    firsts = {g.layers[0]: g for g in groups}
    for l in plan.layer_names:
        layer = plan.layer(l)
        lag = lagrangian_text(layer.lagrangian)
        if l in firsts:
            g = firsts[l]
            lines = _layer_lines(g.label, plan, detail, l)
            if detail == "full" and g.synapses:
                via = g.synapses[0] if len(g.synapses) == 1 else f"{g.synapses[0]}…{g.synapses[-1]}"
                lines = lines + (f"via {via}",)
            nodes[g.name] = SceneNode(
                g.name, "group", lines, lag, neurons=layer.size, members=g.members, col=cells[l][0], key=cells[l][1]
            )
        elif l not in group_of:
            nodes[l] = SceneNode(
                l, "layer", _layer_lines(l, plan, detail), lag, neurons=layer.size, col=cells[l][0], key=cells[l][1]
            )
    edges = []
    for s, conn in zip(plan.synapse_names, plan.connections):
        if s in hidden:
            continue
        shared = plan.shares(s) is not None
        nodes[s] = SceneNode(
            s,
            "synapse",
            _synapse_lines(s, plan, detail),
            type(plan.synapse_of(s)).__name__,
            shared=shared,
            col=cells[s][0],
            key=cells[s][1],
            slots=len(conn),
        )
        for slot, l in enumerate(conn):
            edges.append(SceneEdge(s, group_of.get(l, l), slot, len(conn), shared))
    return Scene(plan, nodes, edges, groups, group_of, detail)


def energy_values(energies: Any, scene: Scene | None = None) -> tuple[dict[str, float], str]:
    """Per-node energies (batches averaged) and the colorbar text, from an ``energy_tree``.

    Accepts ``model.energy_tree(xs)`` or a dict ``{node: energy}``; with a collapsed
    ``scene``, a group gets the sum of its members' energies.

    Raises:
        StateError: for anything else, or an energy that is not a scalar or a batch ``(B,)``.
    """
    if energies is None:
        return {}, ""
    if not isinstance(energies, Mapping):
        raise StateError(
            "energies must be the dict returned by model.energy_tree(xs) ({'layers': ..., 'synapses': ...}) "
            f"or a dict {{node: energy}}, got {type(energies).__name__}."
        )
    flat: dict[str, Any] = {}
    if set(energies) >= {"layers", "synapses"} and all(isinstance(v, Mapping) for v in energies.values()):
        flat.update(energies["layers"])
        flat.update(energies["synapses"])
    else:
        flat.update(energies)
    if scene is not None:
        nodes = set(scene.nodes) | {m for g in scene.groups for m in g.layers + g.synapses}
        unknown = sorted(str(k) for k in flat if k not in nodes)
        if unknown or not flat:
            raise StateError(
                f"energies name no node, or nodes {unknown[:6]} that this HAM does not have. Pass "
                "model.energy_tree(xs) of a model compiled from this HAM."
            )
    out: dict[str, float] = {}
    batch = None
    for k, v in flat.items():
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise StateError(f"energy of node {k!r} is not a number: {v!r}.") from None
        if a.ndim == 1:
            batch = a.shape[0]
        elif a.ndim > 1:
            raise StateError(f"energy of node {k!r} has shape {a.shape}; expected a scalar or a batch (B,).")
        out[k] = float(a.mean())
    if scene is not None:
        for g in scene.groups:
            vals = [out[m] for m in g.layers + g.synapses if m in out]
            if vals:
                out[g.name] = float(sum(vals))
    return out, ("energy" if batch is None else f"energy (mean over {batch} samples)")


def colors_of(scene: Scene) -> dict[str, str]:
    """Node -> fill colour: a layer's (or group's) by its Lagrangian, a synapse's by its type."""
    lags = list(dict.fromkeys(v.color_key for v in scene.nodes.values() if v.kind != "synapse"))
    types = list(dict.fromkeys(v.color_key for v in scene.nodes.values() if v.kind == "synapse"))
    out = {}
    for name, v in scene.nodes.items():
        if v.kind == "synapse":
            out[name] = SYNAPSE_COLORS[types.index(v.color_key) % len(SYNAPSE_COLORS)]
        else:
            out[name] = LAYER_COLORS[lags.index(v.color_key) % len(LAYER_COLORS)]
    return out
