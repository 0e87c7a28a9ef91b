"""GraphML files: a HAM's architecture as plain GraphML that any graph tool can open.

Every attribute is a plain GraphML scalar (string, int, double, boolean): ``kind``,
``type``, ``shape`` and ``config`` (JSON strings), ``tau``, ``use_bias``, ``layer_energy``
(written only when ``False``; a file without it has the default ``True``), ``shares`` on
nodes, int ``slot`` on edges, ``format="hamux_graph"`` and ``format_version`` on the
graph. Reading treats the file as untrusted: DTDs and entity declarations are refused
before parsing, the size is capped, compressed input is refused unless asked for, type
names resolve only through the registry, and every failure is a ``FormatError`` naming
the file, the node and the problem. See docs/files.md for the full format.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import xml.etree.ElementTree as ET
from typing import Any

import networkx as nx

from .._api import CompiledHAM, HAM
from .._errors import FormatError, HamuxGraphError, ValidationError
from .._graph.schema import (
    DEFAULT_LAYER_ENERGY,
    DEFAULT_TAU,
    DEFAULT_USE_BIAS,
    edge_attrs,
    KIND,
    kind_of,
    LAGRANGIAN,
    LAYER,
    layer_attrs,
    LAYER_ENERGY,
    SHAPE,
    SHARES,
    SLOT,
    SYNAPSE,
    synapse_attrs,
    TAU,
    USE_BIAS,
)
from .._graph.validate import as_plan, Plan, plan_graph
from .._internal.files import atomic_write
from .._internal.parse import is_int, parse_bool, parse_float, parse_int, parse_path
from .._internal.untrusted import (
    check_compression,
    check_graphml_structure,
    check_xml_text,
    read_limited,
    read_options,
    unique_pairs,
)
from .._internal.version import package_version
from ..lagrangians.elementwise import Lagrangian
from ..layers import Layer
from ..registry import lookup_type, type_name
from ..synapses import Synapse


__all__ = [
    "write_graphml",
    "read_graphml",
    "read_graphml_plan",
    "graphml_bytes",
    "parse_graphml_bytes",
    "parse_graphml_plan",
    "plan_of_architecture",
    "FORMAT",
    "FORMAT_VERSION",
]

FORMAT = "hamux_graph"
FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 64 * 2**20
_NS = "http://graphml.graphdrawing.org/xmlns"
# file-level attributes (the graph's node/edge attributes come from _schema)
_TYPE, _CONFIG, _LABEL = "type", "config", "label"


# ---- writing ------------------------------------------------------------------------


def plan_of_architecture(obj: Any) -> Plan:
    """The plan of a ``HAM`` (validated once), a compiled model, a ``Plan`` or a networkx HAM graph.

    The one conversion of the public writers (``write_graphml``, the command line); what
    they call takes the ``Plan``.

    Raises:
        ValidationError: for anything else, or an invalid graph.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> hg.formats.plan_of_architecture(ham.graph).layer_names
        ('v',)
    """
    if isinstance(obj, (HAM, CompiledHAM)):
        return obj.plan()
    return as_plan(obj, "hg.write_graphml", "It also takes a hg.HAM or a compiled model.")


def _json(value: Any, where: str) -> str:
    try:
        return json.dumps(value, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as e:
        raise FormatError(
            f"{where}: its hyperparameters {value!r} are not plain JSON values ({e}). Keep every "
            "hyperparameter an int, float, bool, str or tuple of those (finite numbers only)."
        ) from None


def _module_json(obj: Lagrangian | Synapse, where: str) -> dict[str, Any]:
    """``{"type": registered name, **config}``, nested Lagrangians/synapses included."""
    cfg = obj.config()
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name, None)
        if f.name in cfg and isinstance(value, (Lagrangian, Synapse)):
            cfg[f.name] = _module_json(value, f"{where}, field {f.name!r}")
    return {"type": type_name(obj, where), **cfg}


def _export_graph(plan: Plan) -> nx.MultiDiGraph:
    """A fresh graph of plain str/int/float/bool attributes, in the plan's node order."""
    out = nx.MultiDiGraph()
    out.graph.update(format=FORMAT, format_version=FORMAT_VERSION, hamux_graph_version=package_version())
    out.add_nodes_from(plan.nodes())
    for name, layer in zip(plan.layer_names, plan.layers):
        where = f"layer {name!r}"
        lag = _module_json(layer.lagrangian, where + " (lagrangian)")
        attrs: dict[str, Any] = {
            KIND: LAYER,
            _LABEL: name,
            _TYPE: "Layer",
            SHAPE: _json([int(s) for s in layer.shape], where),
            _CONFIG: _json({LAGRANGIAN: lag}, where),
            TAU: float(layer.tau),
            USE_BIAS: bool(layer.use_bias),
        }
        if not layer.layer_energy:  # written only when off: files of the default stay as they were
            attrs[LAYER_ENERGY] = False
        out.add_node(name, **attrs)
    for name, owner in zip(plan.synapse_names, plan.owners):
        where = f"synapse {name!r}"
        if owner == name:
            cfg = _module_json(plan.specs[owner], where)
            tname = cfg.pop("type")
            out.add_node(name, **{KIND: SYNAPSE, _LABEL: name, _TYPE: tname, _CONFIG: _json(cfg, where)})
        else:
            out.add_node(name, **{KIND: SYNAPSE, _LABEL: name, SHARES: owner})
    for name, conn in zip(plan.synapse_names, plan.connections):
        for slot, layer in enumerate(conn):
            out.add_edge(name, layer, **{SLOT: slot})
    return out


def _xml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    return "string"


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("NaN" if value != value else ("INF" if value > 0 else "-INF"))
    return str(value)


def graphml_bytes(plan: Plan) -> bytes:
    """The GraphML document (UTF-8 bytes) of a validated plan, as ``write_graphml`` writes it.

    Raises:
        FormatError: if a type is not registered or a hyperparameter is not JSON-able.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> b"hamux_graph" in hg.formats.graphml_bytes(ham.plan())
        True
    """
    G = _export_graph(plan)
    keys: dict[tuple[str, str], tuple[str, str]] = {}

    def key_id(domain: str, name: str, value: Any) -> str:
        typ = _xml_type(value)
        if (domain, name) not in keys:
            keys[(domain, name)] = (f"{domain[0]}_{name}", typ)
        return keys[(domain, name)][0]

    root = ET.Element("graphml", {"xmlns": _NS})
    graph = ET.Element("graph", {"id": "hamux_graph", "edgedefault": "directed"})

    def add_data(parent: ET.Element, domain: str, attrs: dict[str, Any]) -> None:
        for k, v in attrs.items():
            ET.SubElement(parent, "data", {"key": key_id(domain, k, v)}).text = _xml_text(v)

    add_data(graph, "graph", G.graph)
    for n, d in G.nodes(data=True):
        add_data(ET.SubElement(graph, "node", {"id": n}), "node", d)
    order = {n: i for i, n in enumerate(G.nodes)}
    edges = sorted(G.edges(data=True), key=lambda e: (order[e[0]], e[2][SLOT]))
    for i, (u, v, d) in enumerate(edges):
        add_data(ET.SubElement(graph, "edge", {"id": f"e{i}", "source": u, "target": v}), "edge", d)
    for (domain, name), (kid, typ) in keys.items():
        root.append(ET.Element("key", {"id": kid, "for": domain, "attr.name": name, "attr.type": typ}))
    root.append(graph)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_graphml(ham_or_model: Any, path: str | os.PathLike) -> None:
    """Write a HAM's architecture (no weights) as a GraphML file.

    A path ending in ``.gz`` is gzip-compressed (reading it back then needs
    ``allow_compressed=True``). The file is written to a temporary name in the same folder
    and then renamed into place. Parameter arrays are not written: use ``hg.save`` for a
    model with its weights.

    Args:
        ham_or_model: a ``HAM``, a compiled model (its architecture and current Lagrangian
            scalars), a validated ``Plan`` or a networkx HAM graph. It is not modified.
        path: the file to write.

    Raises:
        ValidationError: if the HAM is not valid.
        FormatError: if a type is not registered or a hyperparameter is not JSON-able.

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.graphml")
        >>> hg.write_graphml(ham, path)
        >>> hg.read_graphml(path).connections("s")
        ('v', 'v')
    """
    path = parse_path(path, "write_graphml: path")
    data = graphml_bytes(plan_of_architecture(ham_or_model))
    if path.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)


# ---- reading: bytes ---------------------------------------------------------------------


def parse_graphml_bytes(
    data: bytes, source: str, *, allow_compressed: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
) -> HAM:
    """Parse GraphML bytes (untrusted) into a validated ``HAM``; ``source`` names them in errors.

    Raises:
        FormatError: for anything that is not a valid hamux_graph GraphML document.
    """
    return HAM.from_plan(parse_graphml_plan(data, source, allow_compressed=allow_compressed, max_bytes=max_bytes))


def parse_graphml_plan(
    data: bytes, source: str, *, allow_compressed: bool = False, max_bytes: int = DEFAULT_MAX_BYTES
) -> Plan:
    """Parse GraphML bytes (untrusted) into a validated ``Plan`` (validated once).

    Raises:
        FormatError: for anything that is not a valid hamux_graph GraphML document.
    """
    max_bytes, allow_compressed = read_options(max_bytes, allow_compressed)
    if len(data) > max_bytes:
        raise FormatError(f"{source}: {len(data):,} bytes, more than max_bytes={max_bytes:,}.")
    data = check_compression(data, source, allow_compressed, max_bytes)
    text = check_xml_text(data, source)
    check_graphml_structure(text, source)
    try:
        G = nx.parse_graphml(text, force_multigraph=True)
    except (KeyboardInterrupt, MemoryError, RecursionError):
        raise
    except Exception as e:  # any other parser failure is a format problem of this file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise FormatError(f"{source}: not readable as GraphML ({type(e).__name__}: {msg}).") from None
    return _plan_from_export(G, source)


# ---- reading: structure ---------------------------------------------------------------


def _integral(value: Any) -> Any:
    """An int for an int-valued float (tools such as igraph store every number as a double)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _named_by_id_attribute(G: nx.Graph) -> nx.Graph:
    """Nodes renamed to their ``id`` data attribute where a tool (igraph) moved the names there."""
    names = {n: d.get("id") for n, d in G.nodes(data=True)}
    if not names or not all(isinstance(v, str) and v for v in names.values()):
        return G
    if len(set(names.values())) != len(names):
        return G
    H = nx.relabel_nodes(G, names, copy=True)
    for _, d in H.nodes(data=True):
        d.pop("id", None)
    return H


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _load_json(d: dict[str, Any], attr: str, where: str) -> Any:
    raw = d.get(attr)
    if not isinstance(raw, str):
        raise FormatError(
            f"{where}: attribute {attr!r} must be a JSON string, got {raw!r}."
            + (" It is missing." if raw is None else "")
        )
    try:
        return json.loads(raw, parse_constant=_reject_constant, object_pairs_hook=unique_pairs)
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{where}: attribute {attr!r} is not valid JSON ({e}): {raw[:200]!r}.") from None


def _to_arg(value: Any, where: str) -> Any:
    if isinstance(value, list):
        return tuple(_to_arg(v, where) for v in value)
    if isinstance(value, dict):
        if "type" in value:
            return _build(value, (Lagrangian, Synapse), where)
        return {k: _to_arg(v, where) for k, v in value.items()}
    return value


def _build(cfg: Any, base: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise FormatError(f"{where}: expected a JSON object with a 'type' key, got {cfg!r}.")
    cfg = dict(cfg)
    cls = lookup_type(cfg.pop("type"), base, where)
    kwargs = {k: _to_arg(v, f"{where}, {k}") for k, v in cfg.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, HamuxGraphError) as e:
        raise FormatError(f"{where}: cannot build {cls.__name__} from config {cfg}: {e}") from e


def _layer_node(name: str, d: dict[str, Any], where: str) -> dict[str, Any]:
    if d.get(_TYPE, "Layer") != "Layer":
        raise FormatError(f"{where}: a layer node has type 'Layer', got {d.get(_TYPE)!r}.")
    shape = _load_json(d, SHAPE, where)
    if not isinstance(shape, list) or not shape or not all(is_int(s) and s > 0 for s in shape):
        raise FormatError(f"{where}: 'shape' must be a non-empty JSON list of positive ints like [64], got {shape!r}.")
    cfg = _load_json(d, _CONFIG, where)
    if not isinstance(cfg, dict) or set(cfg) != {LAGRANGIAN}:
        raise FormatError(
            f"{where}: a layer's 'config' must be a JSON object with exactly the key 'lagrangian', got {cfg!r}."
        )
    lag = _build(cfg[LAGRANGIAN], Lagrangian, where + " lagrangian")
    use_bias = parse_bool(d.get(USE_BIAS, DEFAULT_USE_BIAS), f"{where}: attribute 'use_bias'", error=FormatError)
    tau = parse_float(d.get(TAU, DEFAULT_TAU), f"{where}: attribute 'tau'", finite=False, error=FormatError)
    layer_energy = parse_bool(
        d.get(LAYER_ENERGY, DEFAULT_LAYER_ENERGY), f"{where}: attribute 'layer_energy'", error=FormatError
    )
    try:
        layer = Layer(lag, shape=tuple(shape), tau=tau, use_bias=use_bias, layer_energy=layer_energy)
    except ValidationError as e:
        raise FormatError(f"{where}: {e}") from e
    return layer_attrs(layer)


def _synapse_node(name: str, d: dict[str, Any], where: str) -> dict[str, Any]:
    shares = d.get(SHARES)
    if shares not in (None, ""):
        if d.get(_TYPE) not in (None, "") or d.get(_CONFIG) not in (None, ""):
            raise FormatError(f"{where}: a sharing synapse (shares={shares!r}) must not also have a type/config.")
        if not isinstance(shares, str):
            raise FormatError(f"{where}: attribute 'shares' must be a node name, got {shares!r}.")
        return synapse_attrs(None, shares, None)
    if _TYPE not in d:
        raise FormatError(f"{where}: a synapse node needs a 'type' attribute (or 'shares').")
    cfg = _load_json(d, _CONFIG, where)
    if not isinstance(cfg, dict) or "type" in cfg:
        raise FormatError(f"{where}: 'config' must be a JSON object of hyperparameters, got {cfg!r}.")
    syn = _build({"type": d[_TYPE], **cfg}, Synapse, where)
    params = sorted(set(cfg) & set(syn.param_names()))
    if params:
        raise FormatError(
            f"{where}: config sets the parameter array(s) {params}; GraphML holds hyperparameters only. Parameters "
            "belong in a saved model (hg.save / hg.load)."
        )
    return synapse_attrs(syn, None, None)


def _plan_from_export(G: nx.Graph, source: str) -> Plan:
    if not G.is_directed():
        raise FormatError(f"{source}: the graph is undirected; a hamux_graph file has edgedefault='directed'.")
    fmt = G.graph.get("format")
    if fmt != FORMAT:
        raise FormatError(
            f"{source}: graph attribute format={fmt!r}, expected {FORMAT!r}: not a hamux_graph GraphML file "
            "(write one with hg.write_graphml)."
        )
    version = _integral(G.graph.get("format_version"))
    if isinstance(version, str):
        try:
            version = _integral(float(version))
        except ValueError:
            pass
    version = parse_int(version, f"{source}: graph attribute format_version", error=FormatError)
    if version != FORMAT_VERSION:
        newer = " (written by a newer hamux_graph: upgrade)" if version > FORMAT_VERSION else ""
        raise FormatError(
            f"{source}: format_version {version} is not supported{newer}; this hamux_graph reads version "
            f"{FORMAT_VERSION}."
        )
    G = _named_by_id_attribute(G)
    out = nx.MultiDiGraph()
    for name, d in G.nodes(data=True):
        where = f"{source}: node {name!r}"
        kind = kind_of(d)
        if kind == LAYER:
            out.add_node(name, **_layer_node(name, d, where))
        elif kind == SYNAPSE:
            out.add_node(name, **_synapse_node(name, d, where))
        else:
            raise FormatError(f"{where}: attribute kind={kind!r}, expected 'layer' or 'synapse'.")
    for u, v, d in G.edges(data=True):
        where = f"{source}: edge {u!r} -> {v!r}"
        if kind_of(out.nodes[u]) != SYNAPSE or kind_of(out.nodes[v]) != LAYER:
            raise FormatError(
                f"{where}: edges go from a synapse to a layer, got {kind_of(out.nodes[u])} -> {kind_of(out.nodes[v])}."
            )
        slot = _integral(d.get(SLOT))
        if slot is None:
            raise FormatError(f"{where}: missing the int attribute 'slot' (the argument position).")
        out.add_edge(u, v, **edge_attrs(parse_int(slot, f"{where}: attribute 'slot'", error=FormatError)))
    try:
        return plan_graph(out)
    except ValidationError as e:
        raise FormatError(f"{source}: {e}") from e


def read_graphml(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, allow_compressed: bool = False) -> HAM:
    """Read a HAM architecture from a GraphML file written by ``write_graphml``.

    The file is treated as untrusted (see the module docstring). Nothing is returned
    unless the whole file is valid.

    Args:
        path: the file to read.
        max_bytes: refuse files (or decompressed content) larger than this.
        allow_compressed: accept gzip/bzip2/xz-compressed files (decompression capped).

    Returns:
        The validated ``HAM``.

    Raises:
        FormatError: naming the file, node and problem (malformed XML, DTD/entities,
            unknown type, bad JSON or shape, missing slot, wrong format_version, an
            invalid graph, ...).
        OSError: if the file cannot be opened.

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.SoftmaxLayer((4,), beta=2.0))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.graphml")
        >>> hg.write_graphml(ham, path)
        >>> float(hg.read_graphml(path).layers["v"].lagrangian.beta)
        2.0
    """
    return HAM.from_plan(read_graphml_plan(path, max_bytes=max_bytes, allow_compressed=allow_compressed))


def read_graphml_plan(
    path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES, allow_compressed: bool = False
) -> Plan:
    """The validated ``Plan`` of a GraphML file: ``read_graphml`` without building a ``HAM``.

    Takes the arguments of ``read_graphml`` and raises what it raises.

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.graphml")
        >>> hg.write_graphml(ham, path)
        >>> hg.formats.read_graphml_plan(path).layer_names
        ('v',)
    """
    source = parse_path(path, "path")
    max_bytes, allow_compressed = read_options(max_bytes, allow_compressed)
    return parse_graphml_plan(
        read_limited(path, max_bytes), source, allow_compressed=allow_compressed, max_bytes=max_bytes
    )


# ---- the attribute graph, shared with the other architecture formats (HIF, XGI) -----------

JSON_ATTRIBUTES = (SHAPE, _CONFIG)
"""The node attributes that GraphML stores as JSON strings (other formats hold them as objects)."""
DISPLAY_ATTRIBUTES = (_LABEL,)
"""Node attributes written for viewers only and ignored when reading."""


def architecture_graph(plan: Plan) -> nx.MultiDiGraph:
    """The plan as a graph of plain attributes: exactly what ``write_graphml`` writes.

    Every format that carries the architecture (GraphML, HIF, XGI) serialises these
    attributes, so a field added to the GraphML writer reaches all of them.

    Raises:
        FormatError: if a type is not registered or a hyperparameter is not JSON-able.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> hg.formats.graphml.architecture_graph(ham.plan()).nodes["v"]["shape"]
        '[3]'
    """
    return _export_graph(plan)


def plan_of_architecture_graph(G: nx.Graph, source: str) -> Plan:
    """The validated plan of a graph with ``architecture_graph``'s attributes (untrusted values).

    Raises:
        FormatError: naming ``source``, the node or edge and the problem.

    Example:
        >>> import hamux_graph as hg
        >>> from hamux_graph.formats.graphml import architecture_graph, plan_of_architecture_graph
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> plan_of_architecture_graph(architecture_graph(ham.plan()), "here").layer_names
        ('v',)
    """
    return _plan_from_export(G, source)
