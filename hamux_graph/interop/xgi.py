"""XGI: a HAM as an ``xgi.Hypergraph``, for hypergraph statistics, centralities and drawings.

``to_xgi(ham)`` gives a hypergraph whose nodes are the layers and whose edges are the
synapses, each edge the *set* of layers it connects, with the layer and synapse specs as
attributes (the attributes of ``hg.write_hif``). XGI's edges are sets: the slot order and
repeated members (a self-connection's two slots) are not part of them, so each edge also
carries the attribute ``slots``, the layers in slot order, from which ``from_xgi`` rebuilds
the HAM exactly. Needs the ``hypergraph`` extra (``pip install hamux_graph[hypergraph]``).
"""

from __future__ import annotations

from typing import Any

from .._api import HAM
from .._errors import FormatError, ValidationError
from .._internal.optional import require
from ..formats.graphml import plan_of_architecture
from ..formats.hif import hif_document, plan_of_hif_document, SLOTS


__all__ = ["to_xgi", "from_xgi", "SLOTS"]

_SOURCE = "xgi.Hypergraph"


def to_xgi(ham: Any) -> Any:
    """The HAM as an ``xgi.Hypergraph``: layers as nodes, synapses as edges (sets of layers).

    Node attributes are the layer specs (``shape``, ``config`` with the Lagrangian, ``tau``,
    ``use_bias``), edge attributes the synapse specs (``type`` and ``config``, or ``shares``)
    plus ``slots``, the connected layers in argument order; the hypergraph's own attributes
    are ``format`` and ``format_version``.

    Args:
        ham: a ``HAM``, a compiled model, a ``Plan`` or a networkx HAM graph.

    Raises:
        ImportError: without XGI (the ``hypergraph`` extra).
        ValidationError: if the HAM is not valid.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,))); ham.add_layer("h", hg.TanhLayer((2,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> ham.add_synapse("m", hg.DenseSynapse(), layers=("v", "h"))
        >>> H = hg.interop.to_xgi(ham)
        >>> H.num_nodes, H.num_edges, sorted(H.edges.members("m")), H.edges["s"]["slots"]
        (2, 2, ['h', 'v'], ['v', 'v'])
    """
    xgi = require("xgi", feature="hg.interop.to_xgi")
    plan = plan_of_architecture(ham)
    doc = hif_document(plan)
    H = xgi.Hypergraph()
    for key in ("format", "format_version"):
        H[key] = doc["metadata"][key]
    for record in doc["nodes"]:
        H.add_node(record["node"], **record["attrs"])
    for record, conn in zip(doc["edges"], plan.connections):
        H.add_edge(list(conn), idx=record["edge"], **record["attrs"], **{SLOTS: list(conn)})
    return H


def _net_attr(H: Any, key: str, missing: type[Exception]) -> Any:
    """The hypergraph attribute ``key`` of ``H``, or None (XGI raises its own error for a missing one)."""
    try:
        return H[key]
    except (KeyError, TypeError, missing):
        return None


def from_xgi(H: Any) -> HAM:
    """The HAM an ``xgi.Hypergraph`` from ``to_xgi`` describes (its attributes must be present).

    Args:
        H: an ``xgi.Hypergraph`` with the node, edge and hypergraph attributes ``to_xgi``
            writes (the specs, and ``slots`` on every edge).

    Returns:
        The validated ``HAM``.

    Raises:
        ImportError: without XGI (the ``hypergraph`` extra).
        ValidationError: naming what is missing or wrong (a plain hypergraph has no specs;
            an edge whose ``slots`` disagree with its members).

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> hg.interop.from_xgi(hg.interop.to_xgi(ham)).connections("s")
        ('v', 'v')
    """
    xgi = require("xgi", feature="hg.interop.from_xgi")
    if not isinstance(H, xgi.Hypergraph):
        raise ValidationError(f"hg.interop.from_xgi expects an xgi.Hypergraph, got {type(H).__name__}.")
    metadata = {
        k: v for k in ("format", "format_version") if (v := _net_attr(H, k, xgi.exception.XGIError)) is not None
    }
    nodes = [{"node": n, "attrs": dict(H.nodes[n])} for n in H.nodes]
    edges = [{"edge": e, "attrs": dict(H.edges[e])} for e in H.edges]
    # the members as a set; the order and repeats come from the edge attribute `slots` (formats.hif.SLOTS)
    incidences = [{"edge": e, "node": n} for e in H.edges for n in sorted(H.edges.members(e), key=str)]
    doc = {"network-type": "undirected", "metadata": metadata, "nodes": nodes, "edges": edges, "incidences": incidences}
    try:
        return HAM.from_plan(plan_of_hif_document(doc, _SOURCE))
    except FormatError as e:
        message = str(e).replace("A hamux_graph HIF file holds", "A hamux_graph hypergraph holds")
        message = message.replace("Write one with hg.write_hif.", "Build one with hg.interop.to_xgi.")
        message = message.replace(
            "incidences[].attrs.slot", "the edge attribute 'slots' (the layers in argument order)"
        )
        raise ValidationError(message) from e
