"""Building HAM graphs: the edits ``HAM`` offers, as functions on a ``networkx.MultiDiGraph``.

Every function keeps the graph a valid HAM graph (or raises ``ValidationError`` before
changing anything); attribute names come from ``_schema``. ``graph_of_plan`` is the inverse
of ``validate.plan_graph``: the graph of a validated plan, in the plan's node order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from .._errors import ValidationError
from .._internal.parse import parse_sequence
from ..layers import Layer
from ..synapses import Synapse
from .schema import edge_attrs, kind_of, LAYER, layer_attrs, SHARES, SLOT, SYNAPSE, synapse_attrs
from .validate import check_name, Plan


__all__ = [
    "add_layer",
    "add_synapse",
    "checked_copy",
    "connections",
    "graph_of_plan",
    "remove_layer",
    "remove_synapse",
    "rename",
    "sharers",
]


def _check_new_name(G: nx.MultiDiGraph, name: Any, what: str) -> None:
    check_name(name, what)
    if name in G:
        raise ValidationError(
            f"{what} '{name}': a {kind_of(G.nodes[name]) or 'node'} named '{name}' already "
            "exists. Node names are unique across layers and synapses: pick another name."
        )


def add_layer(G: nx.MultiDiGraph, name: str, layer: Layer) -> None:
    """Add a layer node to ``G``.

    Raises:
        ValidationError: for a bad or duplicate name, or a non-``Layer``.
    """
    _check_new_name(G, name, "layer")
    if not isinstance(layer, Layer):
        raise ValidationError(
            f"layer '{name}': expected a hg.Layer (e.g. hg.TanhLayer((64,))), got {type(layer).__name__}."
        )
    G.add_node(name, **layer_attrs(layer))


def add_synapse(
    G: nx.MultiDiGraph,
    name: str,
    synapse: Synapse | None,
    layers: Iterable[str] | str,
    shares: str | None,
) -> None:
    """Add a synapse node to ``G`` with one edge per layer in ``layers`` (slot order).

    Raises:
        ValidationError: for an unknown layer, a bad or duplicate name, or a bad ``shares``.
    """
    _check_new_name(G, name, "synapse")
    if isinstance(layers, str):
        layers = (layers,)
    layers = parse_sequence(layers, f"synapse '{name}': layers", error=ValidationError)
    if not layers:
        raise ValidationError(f"synapse '{name}': `layers` is empty; connect at least one layer.")
    for l in layers:
        if not isinstance(l, str) or l not in G or kind_of(G.nodes[l]) != LAYER:
            known = [n for n, d in G.nodes(data=True) if kind_of(d) == LAYER]
            raise ValidationError(
                f"synapse '{name}': unknown layer {l!r} in layers={list(layers)}. Known layers: "
                f"{known}. Add the layer first with HAM.add_layer."
            )
    if (synapse is None) == (shares is None):
        raise ValidationError(
            f"synapse '{name}': give exactly one of `synapse` (a new parameter set) or `shares` "
            "(the name of a synapse whose parameters to use)."
        )
    if synapse is not None and not isinstance(synapse, Synapse):
        raise ValidationError(
            f"synapse '{name}': expected a hg.Synapse (e.g. hg.DenseSynapse()), got {type(synapse).__name__}."
        )
    if shares is not None and (not isinstance(shares, str) or shares not in G or kind_of(G.nodes[shares]) != SYNAPSE):
        raise ValidationError(
            f"synapse '{name}': shares={shares!r} is not a synapse of this HAM. Add that synapse first."
        )
    G.add_node(name, **synapse_attrs(synapse, shares, len(layers)))
    for slot, l in enumerate(layers):
        G.add_edge(name, l, **edge_attrs(slot))


def connections(G: nx.MultiDiGraph, synapse: str) -> tuple[str, ...]:
    """The layers a synapse node connects, in slot order.

    Raises:
        ValidationError: if ``synapse`` is not a synapse node of ``G``.
    """
    if synapse not in G or kind_of(G.nodes[synapse]) != SYNAPSE:
        raise ValidationError(f"{synapse!r} is not a synapse of this HAM.")
    edges = sorted(G.out_edges(synapse, data=SLOT), key=lambda e: e[2])
    return tuple(v for _, v, _ in edges)


def checked_copy(graph: Any) -> nx.MultiDiGraph:
    """A copy of ``graph`` if it is a directed multigraph (validation comes after).

    Raises:
        ValidationError: for anything that is not a ``networkx.MultiDiGraph``.
    """
    if not isinstance(graph, nx.Graph):
        raise ValidationError(
            f"expected a networkx graph laid out as a HAM, got {type(graph).__name__}. Build one with hg.HAM()."
        )
    if not graph.is_directed():
        raise ValidationError(
            "expected a directed networkx graph (edges synapse -> layer), got an undirected "
            f"{type(graph).__name__}. A HAM graph is a networkx.MultiDiGraph; build it with hg.HAM()."
        )
    if not isinstance(graph, nx.MultiDiGraph):
        raise ValidationError(
            f"expected a networkx.MultiDiGraph (one edge per argument slot), got {type(graph).__name__}, "
            "which cannot hold self-connections. Convert with nx.MultiDiGraph(G)."
        )
    return graph.copy()


def graph_of_plan(plan: Plan) -> nx.MultiDiGraph:
    """The HAM graph of a validated plan: its nodes in the plan's order, one edge per slot."""
    G = nx.MultiDiGraph()
    G.add_nodes_from(plan.nodes())
    for name, layer in zip(plan.layer_names, plan.layers):
        G.add_node(name, **layer_attrs(layer))
    for name, conn, owner in zip(plan.synapse_names, plan.connections, plan.owners):
        own = owner == name
        G.add_node(name, **synapse_attrs(plan.specs[owner] if own else None, None if own else owner, len(conn)))
        for slot, l in enumerate(conn):
            G.add_edge(name, l, **edge_attrs(slot))
    return G


def sharers(G: nx.MultiDiGraph, synapse: str) -> list[str]:
    """The synapse nodes whose ``shares`` names ``synapse``."""
    return [n for n, d in G.nodes(data=True) if kind_of(d) == SYNAPSE and d.get(SHARES) == synapse]


def remove_synapse(G: nx.MultiDiGraph, name: str) -> None:
    """Remove a synapse node and its slot edges.

    Raises:
        ValidationError: if ``name`` is not a synapse, or other synapses share its parameters.
    """
    if not isinstance(name, str) or name not in G or kind_of(G.nodes[name]) != SYNAPSE:
        raise ValidationError(f"remove_synapse: {name!r} is not a synapse of this HAM.")
    users = sharers(G, name)
    if users:
        raise ValidationError(
            f"remove_synapse: synapses {users} share the parameters of '{name}'. Remove them first (or give "
            "them their own synapse objects)."
        )
    G.remove_node(name)


def remove_layer(G: nx.MultiDiGraph, name: str, *, with_synapses: bool = False) -> None:
    """Remove a layer node; with ``with_synapses`` also every synapse that connects it.

    Raises:
        ValidationError: if ``name`` is not a layer, or synapses connect it and
            ``with_synapses`` is False (a hyperedge must never silently lose a slot).
    """
    if not isinstance(name, str) or name not in G or kind_of(G.nodes[name]) != LAYER:
        raise ValidationError(f"remove_layer: {name!r} is not a layer of this HAM.")
    users = list(dict.fromkeys(u for u, _ in G.in_edges(name)))
    if users and not with_synapses:
        raise ValidationError(
            f"remove_layer: layer '{name}' is connected by the synapse(s) {users}. Remove those first, or pass "
            "with_synapses=True to remove them too."
        )
    for s in users:
        outside = [u for u in sharers(G, s) if u not in users]
        if outside:
            raise ValidationError(
                f"remove_layer: synapse '{s}' (connecting '{name}') has its parameters shared by {outside}, "
                "which would lose them. Remove those synapses first."
            )
    for s in sorted(users, key=lambda s: G.nodes[s].get(SHARES) is None):  # sharers before owners
        G.remove_node(s)
    G.remove_node(name)


def rename(G: nx.MultiDiGraph, old: str, new: str) -> nx.MultiDiGraph:
    """A copy of ``G`` with node ``old`` renamed ``new`` (``shares`` references follow).

    Raises:
        ValidationError: if ``old`` is not a node, or ``new`` is invalid or taken.
    """
    if not isinstance(old, str) or old not in G:
        raise ValidationError(f"rename: {old!r} is not a node of this HAM.")
    what = kind_of(G.nodes[old]) or "node"
    if new == old:
        raise ValidationError(f"rename: the new name of {what} {old!r} is its current name; pass a different name.")
    _check_new_name(G, new, what)
    out = nx.relabel_nodes(G, {old: new}, copy=True)
    for _, d in out.nodes(data=True):
        if d.get(SHARES) == old:
            d[SHARES] = new
    return out
