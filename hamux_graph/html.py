"""An interactive page of a HAM: one self-contained HTML file, nothing fetched from anywhere.

``page_html`` returns the page, ``write_html`` writes it (``HAM.to_html`` and
``hamux-graph draw m.graphml -o m.html`` call it). The page inlines its script and style
(``_page.js``, ``_page.css``) and the graph as JSON, so it opens offline, from a file URL
and inside an iframe. It draws the layered layout of ``draw_ham`` as SVG (the script
places nodes the way ``_layout.place`` does, so groups expand in place), with pan and
zoom, hover cards, search by name, groups that expand and collapse on a click, and an
optional energy panel.

Markup contract (tests and other tools read it): every drawn layer, synapse and group is
an element with ``data-node="<name>"`` and ``data-kind="layer" | "synapse" | "group"``; a
group also carries ``data-members="<count>"`` (layers plus links it stands for). Each
shows its name in a visible ``<text>`` label. A group's name is ``first…last``.
"""

from __future__ import annotations

import html as _html_escape
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ._errors import StateError
from ._graph.validate import as_plan, Plan
from ._internal.files import atomic_write
from ._internal.memo import by_value
from ._present.collapse import find_groups, Group
from ._present.scene import build_scene, colors_of, energy_values, grid
from ._present.structure import STRUCTURE_KEYS, structure_rows
from ._present.summary import config_of, counted, lagrangian_text


__all__ = ["page_html", "write_html", "page_data", "MAX_TRACE_STEPS"]

MAX_TRACE_STEPS = 400
_HERE = os.path.dirname(os.path.abspath(__file__))


def _plan(obj: Any) -> Plan:
    """The plan of the page: the one conversion of the public functions here (``as_plan``)."""
    return as_plan(obj, "the page", "Call ham.to_html(path) on a HAM.")


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict) and "type" in v:
        inner = ", ".join(f"{k}={_value(x)}" for k, x in v.items() if k != "type")
        return f"{v['type']}({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v[:6]) + (", …" if len(v) > 6 else "") + "]"
    return str(v)


def _count(tree: Any) -> int:
    return sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x))


def _layer_card(plan: Plan, name: str, slots: list[str]) -> list[list[str]]:
    layer = plan.layer(name)
    lag = layer.lagrangian
    params = ", ".join(f"{k}={_value(v)}" for k, v in config_of(lag).items()) or "none"
    n_bias = layer.size if layer.use_bias else 0
    return [
        ["kind", "layer"],
        ["shape", str(tuple(layer.shape))],
        ["neurons", f"{layer.size:,}"],
        ["Lagrangian", type(lag).__name__],
        ["Lagrangian parameters", params],
        ["τ", f"{layer.tau:g}"],
        ["bias", "yes" if layer.use_bias else "no"],
        ["parameters", f"{n_bias + by_value(_count, lag):,}"],
        ["synapses (slot)", ", ".join(slots) or "none"],
    ]


def _num_params(spec: Any, shapes: tuple[tuple[int, ...], ...]) -> int:
    return spec.num_params(list(shapes))


def _synapse_card(plan: Plan, name: str, conn: tuple[str, ...]) -> list[list[str]]:
    spec = plan.synapse_of(name)
    owner = plan.shares(name)
    hyper = ", ".join(f"{k}={_value(v)}" for k, v in config_of(spec).items() if k not in STRUCTURE_KEYS) or "none"
    if owner is None:
        count = f"{by_value(_num_params, spec, tuple(tuple(plan.layer_shape(l)) for l in conn)):,}"
    else:
        count = f"shared with {owner}"
    return [
        ["kind", "synapse"],
        ["type", type(spec).__name__],
        ["hyperparameters", hyper],
        *structure_rows(spec, [plan.layer_shape(l) for l in conn]),
        ["parameters", count],
        ["slots", ", ".join(f"{i}: {l}" for i, l in enumerate(conn))],
    ]


def _series(a: Any) -> list[float]:
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        raise StateError("trace entries need a leading step axis; pass model.energy_trace(xs, ...).")
    a = a.reshape(a.shape[0], -1).mean(axis=1)
    if a.shape[0] > MAX_TRACE_STEPS:
        a = a[np.linspace(0, a.shape[0] - 1, MAX_TRACE_STEPS).round().astype(int)]
    return [float(f"{x:.6g}") if math.isfinite(x) else 0.0 for x in a]


def _trace_data(trace: Any, groups: Sequence[Group]) -> dict[str, Any]:
    if not (isinstance(trace, Mapping) and set(trace) >= {"layers", "synapses"}):
        raise StateError(
            "trace must be the dict model.energy_trace(xs, steps, dt) returns ({'layers': ..., 'synapses': ...}), "
            f"got {type(trace).__name__}."
        )
    series = {k: _series(v) for part in ("layers", "synapses") for k, v in trace[part].items()}
    lengths = {len(v) for v in series.values()}
    if len(lengths) > 1:
        raise StateError(f"trace entries have different numbers of steps {sorted(lengths)}; pass one energy_trace.")
    for g in groups:
        rows = [series[m] for m in g.layers + g.synapses if m in series]
        if rows:
            series[g.name] = [float(f"{x:.6g}") for x in np.sum(rows, axis=0)]
    steps = lengths.pop() if lengths else 0
    total = np.sum([series[k] for part in ("layers", "synapses") for k in trace[part]], axis=0) if series else []
    return {"mode": "trace", "steps": steps, "series": series, "total": [float(f"{x:.6g}") for x in total]}


def page_data(
    obj: Any,
    *,
    collapse: bool = True,
    energies: Any = None,
    trace: Any = None,
    title: str | None = None,
    first: Iterable[str] | None = None,
    last: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The JSON the page draws: nodes with grid cells and cards, groups, slot edges, energies.

    Takes the arguments of ``page_html``.

    Returns:
        ``{"title", "collapsed", "nodes", "groups", "edges", "energy"}``: every layer and
        synapse with its grid cell (``col``, ``key``), colour, hover card and group, the
        groups (``_collapse``), one edge per slot, and the energies or trace (or ``None``).

    Raises:
        ValidationError: for something that is not a plan or a HAM graph.
        StateError: for energies or a trace that are not ``energy_tree`` / ``energy_trace`` output.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> data = page_data(ham.plan())
        >>> [n["id"] for n in data["nodes"]], [e["slot"] for e in data["edges"]]
        (['v', 's'], [0, 1])
    """
    return _data(_plan(obj), collapse=collapse, energies=energies, trace=trace, title=title, first=first, last=last)


def _data(
    plan: Plan,
    *,
    collapse: bool,
    energies: Any,
    trace: Any,
    title: str | None,
    first: Iterable[str] | None,
    last: Iterable[str] | None,
) -> dict[str, Any]:
    """``page_data`` of a plan."""
    if energies is not None and trace is not None:
        raise StateError("give energies= (one energy_tree snapshot) or trace= (an energy_trace), not both.")
    cells = grid(plan, first, last)
    scene = build_scene(plan, detail="compact", first=first, last=last, cells=cells)
    colors = colors_of(scene)
    groups = find_groups(plan)
    group_of = {m: g.name for g in groups for m in g.layers + g.synapses}
    slots_of: dict[str, list[str]] = {l: [] for l in plan.layer_names}
    for s, conn in zip(plan.synapse_names, plan.connections):
        for i, l in enumerate(conn):
            slots_of[l].append(f"{s} ({i})")
    sizes = [plan.layer(l).size for l in plan.layer_names]
    big = max([math.log10(n + 1) for n in sizes] + [1.0])
    nodes = []
    for l in plan.layer_names:
        layer = plan.layer(l)
        nodes.append(
            {
                "id": l,
                "kind": "layer",
                "col": cells[l][0],
                "key": list(cells[l][1]),
                "color": colors[l],
                "sub": "×".join(str(s) for s in layer.shape),
                "r": round(7 + 9 * math.log10(layer.size + 1) / big, 2),
                "group": group_of.get(l),
                "card": _layer_card(plan, l, slots_of[l]),
                "legend": lagrangian_text(layer.lagrangian),
            }
        )
    edges = []
    for s, conn in zip(plan.synapse_names, plan.connections):
        nodes.append(
            {
                "id": s,
                "kind": "synapse",
                "col": cells[s][0],
                "key": list(cells[s][1]),
                "color": colors[s],
                "sub": f"shares {plan.shares(s)}" if plan.shares(s) else "",
                "slots": len(conn),
                "group": group_of.get(s),
                "card": _synapse_card(plan, s, conn),
                "legend": type(plan.synapse_of(s)).__name__,
                "shared": plan.shares(s) is not None,
            }
        )
        edges.extend({"s": s, "l": l, "slot": i} for i, l in enumerate(conn))
    gdata = []
    for g in groups:
        lead = plan.layer(g.layers[0])
        kinds = sorted({type(plan.synapse_of(s)).__name__ for s in g.synapses})
        gdata.append(
            {
                "id": g.name,
                "label": g.label,
                "members": g.members,
                "layers": list(g.layers),
                "synapses": list(g.synapses),
                "card": [
                    ["kind", "group (collapsed run)"],
                    ["members", f"{len(g.layers)} layers, {len(g.synapses)} synapses"],
                    ["layers", f"{g.layers[0]} … {g.layers[-1]}"],
                    ["each layer", f"{tuple(lead.shape)}, {lagrangian_text(lead.lagrangian)}, τ={lead.tau:g}"],
                    ["links", f"{g.synapses[0]} … {g.synapses[-1]} ({', '.join(kinds)})" if g.synapses else "none"],
                    ["click", "expand"],
                ],
            }
        )
    energy = None
    if energies is not None:
        values, label = energy_values(energies, scene)  # the scene's nodes: energies of another model are refused
        for g in groups:
            vals = [values[m] for m in g.layers + g.synapses if m in values]
            if vals:
                values[g.name] = float(sum(vals))
        energy = {"mode": "snapshot", "values": values, "label": label}
    elif trace is not None:
        energy = _trace_data(trace, groups)
        known = set(plan.layer_names) | set(plan.synapse_names)
        unknown = sorted(str(k) for part in ("layers", "synapses") for k in trace[part] if k not in known)
        if unknown or not energy["series"]:
            raise StateError(
                f"trace names no node, or nodes {unknown[:6]} that this HAM does not have. Pass "
                "model.energy_trace(xs, ...) of a model compiled from this HAM."
            )
    n_l, n_s = len(plan.layer_names), len(plan.synapse_names)
    return {
        "title": title or f"HAM: {counted(n_l, 'layer')}, {counted(n_s, 'synapse')}",
        "collapsed": bool(collapse),
        "nodes": nodes,
        "groups": gdata,
        "edges": edges,
        "energy": energy,
    }


def _asset(name: str) -> str:
    with open(os.path.join(_HERE, "_present", name), encoding="utf-8") as f:
        return f.read()


def _script_json(data: Any) -> str:
    # inside <script>: no "</script>", "<!--" or "&" can appear, every "<" ">" "&" is escaped
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_html(
    obj: Any,
    *,
    collapse: bool = True,
    energies: Any = None,
    trace: Any = None,
    title: str | None = None,
    first: Iterable[str] | None = None,
    last: Iterable[str] | None = None,
) -> str:
    """The interactive page of a HAM, as one HTML string (module docstring).

    Args:
        obj: a validated plan (``ham.plan()``, ``model.plan()``) or a networkx HAM graph.
        collapse: start with every group collapsed (a click expands one).
        energies: optional ``model.energy_tree(xs)`` (or ``{node: energy}``): nodes coloured
            by energy (batches averaged; a group by its members' sum).
        trace: optional ``model.energy_trace(xs, steps, dt)``: the energy panel shows the
            total and per-component traces, with a step slider that recolours the nodes.
        title: the page title.
        first: layers that start the flow (default: those named input, visible, ...).
        last: layers that end it (default: those named label, output, ...).

    Returns:
        The page (UTF-8 text).

    Raises:
        ValidationError: for something that is not a plan or a HAM graph.
        StateError: for bad ``energies`` or ``trace``, or both given.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> text = page_html(ham.plan())
        >>> text.startswith("<!DOCTYPE html>") and "<script src" not in text
        True
    """
    return _html(
        _data(_plan(obj), collapse=collapse, energies=energies, trace=trace, title=title, first=first, last=last)
    )


def _html(data: dict[str, Any]) -> str:
    """The page around its JSON ``data``."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_html_escape.escape(data['title'])}</title>\n"
        f"<style>\n{_asset('page.css')}</style>\n</head>\n<body>\n"
        f'<script type="application/json" id="hamux-data">{_script_json(data)}</script>\n'
        f"<script>\n{_asset('page.js')}</script>\n</body>\n</html>\n"
    )


def write_html(
    obj: Any,
    path: str | os.PathLike,
    *,
    collapse: bool = True,
    energies: Any = None,
    trace: Any = None,
    title: str | None = None,
    first: Iterable[str] | None = None,
    last: Iterable[str] | None = None,
) -> None:
    """Write ``page_html(obj, ...)`` to ``path`` atomically (UTF-8); it takes the same arguments.

    Raises:
        ValidationError: for something that is not a plan or a HAM graph.
        StateError: for bad ``energies`` or ``trace``, or both given.
        OSError: naming ``path`` when it cannot be written.

    Example:
        >>> import os, tempfile, hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> path = os.path.join(tempfile.mkdtemp(), "m.html")
        >>> write_html(ham.plan(), path)
        >>> os.path.getsize(path) > 1000
        True
    """
    data = _data(_plan(obj), collapse=collapse, energies=energies, trace=trace, title=title, first=first, last=last)
    atomic_write(path, _html(data).encode("utf-8"))
