"""HIF files: a HAM's architecture in the Hypergraph Interchange Format (JSON).

HIF ("The hypergraph interchange format for higher-order networks", Network Science 2025;
JSON Schema draft-07, https://github.com/pszufe/HIF-standard) is read and written by XGI,
HyperNetX, hypergraphx, HAT, TopoNetX and SimpleHypergraphs.jl. A HAM is a hypergraph, and
its HIF file says so directly:

- ``"network-type": "undirected"``;
- ``nodes``: one record per layer, ``attrs`` holding the layer spec (``shape``, ``config``
  with the Lagrangian's type and hyperparameters, ``tau``, ``use_bias``, ...);
- ``edges``: one record per synapse, ``attrs`` holding ``type`` and ``config`` (or
  ``shares``, the synapse whose parameters it uses);
- ``incidences``: one record per argument slot, ``attrs.slot`` its position (a
  self-connection is two incidences of one node and one edge, which HIF allows);
- ``metadata``: ``format`` (``"hamux_graph"``), ``format_version`` and the writing
  library's version.

The attributes are those of the GraphML writer (``graphml.architecture_graph``), with the
JSON strings of GraphML held as JSON objects, so both formats always carry the same fields
and read back through the same checks. Reading treats the file as untrusted (size cap,
nesting depth, duplicate keys, non-finite numbers; type names only through the registry);
every failure is one ``FormatError`` naming the file and the record.
"""

from __future__ import annotations

import json
import os
from typing import Any

import networkx as nx

from .._api import HAM
from .._errors import FormatError
from .._graph.schema import KIND, LAYER, SHARES, SLOT, SYNAPSE
from .._graph.validate import Plan
from .._internal.files import atomic_write
from .._internal.untrusted import read_limited, read_options
from .graphml import (
    architecture_graph,
    DISPLAY_ATTRIBUTES,
    FORMAT,
    JSON_ATTRIBUTES,
    plan_of_architecture,
    plan_of_architecture_graph,
)
from .untrusted_json import parse_json


__all__ = [
    "write_hif",
    "read_hif",
    "read_hif_plan",
    "hif_document",
    "hif_bytes",
    "parse_hif_plan",
    "plan_of_hif_document",
    "NETWORK_TYPE",
]

NETWORK_TYPE = "undirected"
SLOTS = "slots"
"""An edge attribute some writers keep (``hg.interop.to_xgi``): the synapse's layers in slot order.

Read when no incidence of the edge has ``attrs.slot`` (XGI's ``write_hif`` drops incidence
attributes but keeps edge attributes)."""
DEFAULT_MAX_BYTES = 64 * 2**20
_TOP_KEYS = ("network-type", "metadata", "incidences", "nodes", "edges")
_RECORD_KEYS = {
    "nodes": ("node", "weight", "attrs"),
    "edges": ("edge", "weight", "attrs"),
    "incidences": ("edge", "node", "weight", "direction", "attrs"),
}
_WHAT_IS_NEEDED = (
    "A hamux_graph HIF file holds metadata.format='hamux_graph' and metadata.format_version, each layer's spec "
    "in nodes[].attrs (shape, config with the lagrangian, tau, use_bias), each synapse's spec in edges[].attrs "
    "(type and config, or shares) and the argument position of every incidence in incidences[].attrs.slot. "
    "Write one with hg.write_hif."
)


# ---- writing ----------------------------------------------------------------------------


def _hif_attrs(data: dict[str, Any]) -> dict[str, Any]:
    """GraphML's attributes of one node as HIF attrs: JSON strings become JSON values."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == KIND or key in DISPLAY_ATTRIBUTES:
            continue
        out[key] = json.loads(value) if key in JSON_ATTRIBUTES else value
    return out


def hif_document(plan: Plan) -> dict[str, Any]:
    """The HIF document (a JSON-able dict) of a validated plan, as ``write_hif`` writes it.

    Raises:
        FormatError: if a type is not registered or a hyperparameter is not JSON-able.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> doc = hg.formats.hif_document(ham.plan())
        >>> doc["network-type"], [i["attrs"]["slot"] for i in doc["incidences"]]
        ('undirected', [0, 1])
    """
    G = architecture_graph(plan)
    nodes = [{"node": name, "attrs": _hif_attrs(G.nodes[name])} for name in plan.layer_names]
    edges = [{"edge": name, "attrs": _hif_attrs(G.nodes[name])} for name in plan.synapse_names]
    incidences = [
        {"edge": name, "node": layer, "attrs": {SLOT: slot}}
        for name, conn in zip(plan.synapse_names, plan.connections)
        for slot, layer in enumerate(conn)
    ]
    return {
        "network-type": NETWORK_TYPE,
        "metadata": dict(G.graph),
        "nodes": nodes,
        "edges": edges,
        "incidences": incidences,
    }


def hif_bytes(plan: Plan) -> bytes:
    """The HIF file (UTF-8 JSON bytes) of a validated plan.

    Raises:
        FormatError: if a type is not registered or a hyperparameter is not JSON-able.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> hg.formats.hif_bytes(ham.plan()).startswith(b"{")
        True
    """
    try:
        return json.dumps(hif_document(plan), indent=1, allow_nan=False).encode("utf-8") + b"\n"
    except (TypeError, ValueError) as e:
        raise FormatError(f"the architecture holds a value HIF (JSON) cannot store ({e}).") from None


def write_hif(ham_or_model: Any, path: str | os.PathLike) -> None:
    """Write a HAM's architecture (no weights) as a HIF (Hypergraph Interchange Format) file.

    Layers become HIF nodes, synapses HIF edges, and each argument slot one incidence with
    ``attrs.slot``; the specs are the nodes' and edges' ``attrs`` (see the module
    docstring and docs/formats.md). Hypergraph tools (XGI, HyperNetX, hypergraphx, ...)
    open the file as it is; ``read_hif`` gives back the same architecture. The file is
    written to a temporary name and renamed into place.

    Args:
        ham_or_model: a ``HAM``, a compiled model, a validated ``Plan`` or a networkx HAM graph.
        path: the file to write (``.hif.json`` is the conventional suffix).

    Raises:
        ValidationError: if the HAM is not valid.
        FormatError: if a type is not registered or a hyperparameter is not JSON-able.

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.hif.json")
        >>> hg.write_hif(ham, path)
        >>> hg.read_hif(path).connections("s")
        ('v', 'v')
    """
    atomic_write(path, hif_bytes(plan_of_architecture(ham_or_model)))


# ---- reading ----------------------------------------------------------------------------


def _records(doc: dict[str, Any], field: str, source: str) -> list[dict[str, Any]]:
    records = doc.get(field, [])
    if not isinstance(records, list):
        raise FormatError(f"{source}: '{field}' must be a JSON array of records, got {type(records).__name__}.")
    allowed = _RECORD_KEYS[field]
    for i, record in enumerate(records):
        where = f"{source}: {field}[{i}]"
        if not isinstance(record, dict):
            raise FormatError(f"{where} must be a JSON object, got {type(record).__name__}.")
        extra = sorted(set(record) - set(allowed))
        if extra:
            raise FormatError(f"{where} has the key(s) {extra}; a HIF {field} record holds only {list(allowed)}.")
        for id_key in allowed[: 2 if field == "incidences" else 1]:
            if id_key not in record:
                raise FormatError(f"{where} has no '{id_key}' (required by HIF).")
            ident = record[id_key]
            if isinstance(ident, bool) or not isinstance(ident, (str, int)):
                raise FormatError(f"{where}: '{id_key}' must be a string or an integer (HIF ids), got {ident!r}.")
            if not isinstance(ident, str):
                raise FormatError(
                    f"{where}: '{id_key}' is {ident!r}; in a hamux_graph file every {id_key} id is a layer or "
                    "synapse name (a string)."
                )
        weight = record.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise FormatError(f"{where}: 'weight' must be a number, got {weight!r}.")
        if "direction" in record:
            raise FormatError(
                f"{where} has a 'direction' ({record['direction']!r}); a hamux_graph file is an undirected "
                "hypergraph whose argument order is attrs.slot."
            )
        if not isinstance(record.get("attrs", {}), dict):
            raise FormatError(f"{where}: 'attrs' must be a JSON object, got {type(record['attrs']).__name__}.")
    return records


def _graph_attrs(attrs: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
    """HIF attrs as GraphML's attributes: JSON values of the JSON attributes become strings again."""
    if attrs.get(KIND, kind) != kind:
        raise FormatError(f"{where}: attrs.kind is {attrs[KIND]!r}, but the record is a {kind}.")
    out: dict[str, Any] = {KIND: kind}
    for key, value in attrs.items():
        if key == KIND or key in DISPLAY_ATTRIBUTES or key == "id":
            continue
        out[key] = json.dumps(value) if key in JSON_ATTRIBUTES else value
    return out


def _check_specs(records: list[dict[str, Any]], field: str, source: str) -> None:
    """Every record carries the attributes of a layer (nodes) or a synapse (edges)."""
    for i, record in enumerate(records):
        attrs = record.get("attrs", {})
        name = record["node" if field == "nodes" else "edge"]
        where = f"{source}: {field}[{i}] ({name!r})"
        if field == "nodes":
            missing = [k for k in ("shape", "config") if k not in attrs]
        elif attrs.get(SHARES) not in (None, ""):
            missing = []
        else:
            missing = [k for k in ("type", "config") if k not in attrs]
        if missing:
            what = "layer spec" if field == "nodes" else "synapse spec (or 'shares')"
            raise FormatError(f"{where}: attrs has no {missing}, part of the {what}. {_WHAT_IS_NEEDED}")


def plan_of_hif_document(doc: Any, source: str) -> Plan:
    """The validated plan of a parsed HIF document (untrusted values; ``source`` names it in errors).

    Raises:
        FormatError: naming ``source`` and the record, for anything that is not a hamux_graph
            architecture (a plain hypergraph without the specs included: the message says
            which attributes are missing).

    Example:
        >>> import hamux_graph as hg
        >>> from hamux_graph.formats import hif_document, plan_of_hif_document
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> plan_of_hif_document(hif_document(ham.plan()), "here").layer_names
        ('v',)
    """
    if not isinstance(doc, dict):
        raise FormatError(f"{source}: a HIF file holds one JSON object, got {type(doc).__name__}.")
    extra = sorted(set(doc) - set(_TOP_KEYS))
    if extra:
        raise FormatError(f"{source}: top-level key(s) {extra}; a HIF file holds only {list(_TOP_KEYS)}.")
    if "incidences" not in doc:
        raise FormatError(f"{source}: no 'incidences' (the one field HIF requires).")
    network = doc.get("network-type", NETWORK_TYPE)
    if network != NETWORK_TYPE:
        raise FormatError(
            f"{source}: network-type is {network!r}; a hamux_graph architecture is an {NETWORK_TYPE!r} hypergraph "
            "(argument order is attrs.slot)."
        )
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict):
        raise FormatError(f"{source}: 'metadata' must be a JSON object, got {type(metadata).__name__}.")
    if metadata.get("format") != FORMAT or "format_version" not in metadata:
        missing = [f"metadata.{k}" for k in ("format", "format_version") if k not in metadata]
        got = f"metadata.format is {metadata['format']!r}" if "format" in metadata else f"missing {missing}"
        raise FormatError(
            f"{source}: not a hamux_graph architecture ({got}; expected metadata.format={FORMAT!r}). The file "
            f"may be a plain hypergraph written by another tool. {_WHAT_IS_NEEDED}"
        )
    records = {field: _records(doc, field, source) for field in ("nodes", "edges")}
    _check_specs(records["nodes"], "nodes", source)
    _check_specs(records["edges"], "edges", source)
    records["incidences"] = _records(doc, "incidences", source)

    G = nx.MultiDiGraph()
    G.graph.update({k: v for k, v in metadata.items() if k in ("format", "format_version")})
    order_of: dict[str, Any] = {}
    for field, kind, id_key in (("nodes", LAYER, "node"), ("edges", SYNAPSE, "edge")):
        for i, record in enumerate(records[field]):
            name = record[id_key]
            where = f"{source}: {field}[{i}] ({name!r})"
            if name in G:
                other = "a layer (nodes)" if _kind(G, name) == LAYER else "a synapse (edges)"
                raise FormatError(f"{where}: the name {name!r} is already {other}; names are unique across both.")
            attrs = dict(record.get("attrs", {}))
            if kind == SYNAPSE:
                order_of[name] = attrs.pop(SLOTS, None)
            G.add_node(name, **_graph_attrs(attrs, kind, where))
    incidences: dict[str, list[tuple[str, dict[str, Any], str]]] = {name: [] for name in order_of}
    for i, record in enumerate(records["incidences"]):
        edge, node = record["edge"], record["node"]
        where = f"{source}: incidences[{i}] (edge {edge!r}, node {node!r})"
        if _kind(G, edge) != SYNAPSE:
            raise FormatError(f"{where}: the edge {edge!r} has no record in 'edges' (its synapse spec).")
        if _kind(G, node) != LAYER:
            raise FormatError(f"{where}: the node {node!r} has no record in 'nodes' (its layer spec).")
        incidences[edge].append((node, record.get("attrs", {}), where))
    for edge, found in incidences.items():
        order = order_of[edge]
        if found and order is not None and all(SLOT not in attrs for _, attrs, _ in found):
            # written by a tool that kept the edge attributes but not the incidences' (XGI from hg.interop.to_xgi)
            if not isinstance(order, list) or {n for n, _, _ in found} != set(order):
                raise FormatError(
                    f"{source}: edge {edge!r}: attrs.{SLOTS} {order!r} does not name the layers of its incidences "
                    f"{sorted({n for n, _, _ in found})}."
                )
            for slot, node in enumerate(order):
                G.add_edge(edge, node, **{SLOT: slot})
            continue
        for node, attrs, where in found:
            if SLOT not in attrs:
                raise FormatError(f"{where}: attrs has no 'slot' (the argument position, 0, 1, ...). {_WHAT_IS_NEEDED}")
            slot = attrs[SLOT]
            if isinstance(slot, bool) or not isinstance(slot, int):
                raise FormatError(f"{where}: attrs.slot must be an integer (0, 1, ...), got {slot!r}.")
            G.add_edge(edge, node, **{SLOT: slot})
    return plan_of_architecture_graph(G, source)


def _kind(G: nx.MultiDiGraph, name: str) -> str | None:
    """``"layer"``, ``"synapse"`` or ``None`` (not in ``G``)."""
    return G.nodes[name][KIND] if name in G else None


def parse_hif_plan(data: bytes, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Plan:
    """Parse HIF bytes (untrusted) into a validated ``Plan``; ``source`` names them in errors.

    Raises:
        FormatError: for anything that is not a hamux_graph HIF document.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> hg.formats.parse_hif_plan(hg.formats.hif_bytes(ham.plan()), "here").layer_names
        ('v',)
    """
    max_bytes, _ = read_options(max_bytes, False)
    return plan_of_hif_document(parse_json(data, source, max_bytes=max_bytes), source)


def read_hif_plan(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Plan:
    """The validated ``Plan`` of a HIF file: ``read_hif`` without building a ``HAM``.

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.hif.json")
        >>> hg.write_hif(ham, path)
        >>> hg.formats.read_hif_plan(path).layer_names
        ('v',)
    """
    return parse_hif_plan(read_limited(path, max_bytes), os.fspath(path), max_bytes=max_bytes)


def read_hif(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> HAM:
    """Read a HAM architecture from a HIF file written by ``write_hif``.

    The file is treated as untrusted: its size is capped (``max_bytes``), its JSON nesting
    depth too, a key repeated within one object, ``NaN``/``Infinity``, records with keys
    HIF does not define, unknown types and missing or bad slots are refused. A HIF file of
    a plain hypergraph (written by XGI, HyperNetX, ...) has no architecture attributes; the
    error names what is missing.

    Args:
        path: the file to read.
        max_bytes: refuse files larger than this.

    Returns:
        The validated ``HAM``.

    Raises:
        FormatError: naming the file, the record and the problem.
        OSError: if the file cannot be opened.

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.SoftmaxLayer((4,), beta=2.0))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.hif.json")
        >>> hg.write_hif(ham, path)
        >>> float(hg.read_hif(path).layers["v"].lagrangian.beta)
        2.0
    """
    return HAM.from_plan(read_hif_plan(path, max_bytes=max_bytes))
