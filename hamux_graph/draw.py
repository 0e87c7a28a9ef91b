"""Drawing a HAM: matplotlib figures that stay readable at any size, DOT text, energy traces.

``draw_ham`` lays the graph out along the data flow (``_scene`` ranks the layers,
``_layout`` places them in bands, serpentine when the flow is long), chooses the figure
size (at most 20 × 20 inches) and the font size (at least 6 pt) from the graph, draws the
nodes and one edge per argument slot, then measures every text with the renderer and
moves labels until no two overlap (``_labels``). Layers are circles coloured by
Lagrangian, sized by the logarithm of their neuron count; synapses are squares coloured
by type; a legend names the colours. ``collapse=True`` draws each run of identical layers
and links as one node (``_collapse``). matplotlib is imported only when drawing
(``pip install 'hamux_graph[draw]'``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._errors import StateError, ValidationError
from ._graph.validate import as_plan, Plan
from ._internal.optional import require
from ._present.collapse import find_groups, Group
from ._present.labels import Label, resolve
from ._present.scene import build_scene, colors_of, energy_values, LAYER_COLOR, Scene, SYNAPSE_COLOR
from ._present.sizing import check_font, legend_layout, legend_texts, MARGIN, MAX_INCHES, MIN_FONT, positions, Sizes


__all__ = [
    "draw_ham",
    "layout_positions",
    "collapse_groups",
    "to_dot",
    "plot_energy",
    "dot_quote",
    "MAX_INCHES",
    "MIN_FONT",
]


_RING = 2.5  # points between a group's disc and its ring


def _plan(obj: Any) -> Plan:
    """The plan to draw: the one conversion of the public functions here (``as_plan``)."""
    return as_plan(obj, "drawing", "Call ham.draw() / ham.to_dot() on a HAM.")


def _drawable(obj: Any) -> Plan:
    plan = _plan(obj)
    if not plan.layer_names:
        raise ValidationError("the HAM has no layers to draw. Add one with ham.add_layer(name, layer) first.")
    return plan


def collapse_groups(obj: Any) -> tuple[Group, ...]:
    """The groups ``collapse=True`` draws as one node each (the rule: docs/drawing.md).

    Args:
        obj: a validated plan (``ham.plan()``, ``model.plan()``) or a networkx HAM graph.

    Returns:
        ``Group`` objects with ``name`` (``"x1…x11"``), ``label`` (``"x1…x11 ×11"``),
        ``layers``, ``synapses`` (the links inside) and ``members`` (layers + links).

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM()
        >>> for i in range(6):
        ...     ham.add_layer(f"x{i}", hg.TanhLayer((4,)))
        >>> for i in range(5):
        ...     ham.add_synapse(f"s{i}", hg.DenseSynapse(), layers=(f"x{i}", f"x{i + 1}"))
        >>> [g.label for g in collapse_groups(ham.plan())]
        ['x1…x4 ×4']
    """
    return find_groups(_plan(obj))


def layout_positions(
    obj: Any,
    layout: Any = "layered",
    *,
    collapse: bool = False,
    first: Iterable[str] | None = None,
    last: Iterable[str] | None = None,
    font_size: float | None = None,
) -> dict[str, tuple[float, float]]:
    """Node positions for drawing (in inches for ``"layered"``).

    Args:
        obj: a validated plan (``ham.plan()``, ``model.plan()``) or a networkx HAM graph.
        layout: ``"layered"`` (the data flow left to right: see ``draw_ham``), a networkx
            layout name (``"spring"``, ``"kamada_kawai"``, ``"circular"``, ``"shell"``,
            ``"spectral"``, ``"bipartite"``), a callable ``graph -> {node: (x, y)}``, or a
            dict of positions.
        collapse: place collapsed groups (see ``collapse_groups``) instead of their members.
        first: layers that start the flow (default: those named input, visible, ...).
        last: layers that end it (default: those named label, output, ...).
        font_size: the label font size the layout makes room for (default: chosen).

    Raises:
        ValidationError: for a graph without layers, an unknown layout name or positions
            missing nodes.
        ArgumentError: for ``first``/``last`` naming no layer or a font size under 6 pt.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> pos = layout_positions(ham.plan())
        >>> pos["s"][0] == pos["v"][0] and pos["s"][1] > pos["v"][1]
        True
    """
    return positions(_drawable(obj), layout, collapse, first, last, check_font(font_size))[2]


def _colors(scene: Scene, values: dict[str, float], norm: Any, cmap: Any) -> dict[str, Any]:
    if norm is None:
        return dict(colors_of(scene))
    return {name: cmap(norm(values[name])) if name in values else "#dddddd" for name in scene.nodes}


def _legend(fig: Any, ax: Any, scene: Scene, sz: Sizes, colors: dict[str, Any], own: bool, width: float) -> None:
    from matplotlib.lines import Line2D

    first = {}
    for name, v in scene.nodes.items():
        first.setdefault(("synapse" if v.kind == "synapse" else "layer", v.color_key), name)
    handles, texts, m = [], [], sz.font
    for kind, text in legend_texts(scene):
        if kind == "group":
            h = Line2D(
                [],
                [],
                ls="none",
                marker="o",
                markersize=m,
                markerfacecolor="white",
                markeredgecolor="#333333",
                markeredgewidth=2.0,
            )
        elif kind == "shared":
            h = Line2D(
                [],
                [],
                ls="--",
                color="#555555",
                marker="s",
                markersize=m,
                markerfacecolor="white",
                markeredgecolor="#333333",
            )
        else:
            h = Line2D(
                [],
                [],
                ls="none",
                marker="s" if kind == "synapse" else "o",
                markersize=m,
                markerfacecolor=colors[first[(kind, text)]],
                markeredgecolor="#333333",
            )
        handles.append(h)
        texts.append(text)
    if own:
        ncol = legend_layout(scene, sz, width)[0]
        fig.legend(
            handles,
            texts,
            loc="upper center",
            bbox_to_anchor=(0.5, 1.0),
            ncol=ncol,
            fontsize=sz.font,
            frameon=False,
            handletextpad=0.3,
            columnspacing=1.2,
            borderaxespad=0.2,
        )
    else:
        ax.legend(handles, texts, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=sz.font, frameon=False)


def draw_ham(
    obj: Any,
    ax: Any = None,
    layout: Any = "layered",
    energies: Any = None,
    *,
    collapse: bool = False,
    first: Iterable[str] | None = None,
    last: Iterable[str] | None = None,
    cmap: str = "viridis",
    with_labels: bool = True,
    font_size: float | None = None,
    legend: bool = True,
) -> Any:
    """Draw a HAM with matplotlib (``HAM.draw`` calls this).

    The default ``"layered"`` layout follows the data flow left to right (``first``
    layers start, ``last`` layers end), in bands that wrap as a serpentine when the flow is
    long. With ``ax=None`` the figure size (at most 20 × 20 inches) and the font size (9
    down to 6 pt) are chosen from the graph; small graphs get full labels (name, shape,
    Lagrangian; name, type), larger ones name and shape (the legend names the colours).
    Every text is measured after layout and moved until no two labels overlap.

    Args:
        obj: a validated plan (``ham.plan()``, ``model.plan()``) or a networkx HAM graph.
        ax: the matplotlib Axes to draw into (a new figure sized to the graph when ``None``).
        layout: see ``layout_positions``.
        energies: optional ``model.energy_tree(xs)`` (or ``{node: energy}``): nodes are
            coloured by energy (batched energies are averaged; a group by its members'
            sum) and a colorbar is added.
        collapse: draw each run of identical layers and links as one node labelled
            ``first…last ×n`` (see ``collapse_groups``).
        first: layers that start the flow (default: those named input, inputs, visible, image).
        last: layers that end it (default: those named label, labels, output, outputs, target).
        cmap: colormap for energies.
        with_labels: write node labels and slot numbers.
        font_size: label font size in points (>= 6; default chosen from the graph).
        legend: add the legend of colours (not with ``energies``).

    Returns:
        The Axes. The layer markers are one scatter collection (gid ``"hamux-layers"``),
        collapsed groups another (``"hamux-groups"``), the synapse markers another
        (``"hamux-synapses"``), each slot one ``FancyArrowPatch`` (gid ``"hamux-edge"``).

    Raises:
        ImportError: without matplotlib (the ``draw`` extra).
        ValidationError: for a graph without layers, or an unknown layout.
        ArgumentError: for a font size under 6 pt or ``first``/``last`` naming no layer.

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> ax = ham.draw()
        >>> sum(p.get_gid() == "hamux-edge" for p in ax.patches)
        2
    """
    plt = require("matplotlib.pyplot", feature="drawing")
    from matplotlib.colors import Normalize
    from matplotlib.patches import FancyArrowPatch

    scene, sz, pos, box, ipu = positions(_drawable(obj), layout, collapse, first, last, check_font(font_size))
    values, clabel = energy_values(energies, scene)
    norm = None
    if values:
        vals = list(values.values())
        lo, hi = min(vals), max(vals)
        norm = Normalize(lo - 0.5 if lo == hi else lo, hi + 0.5 if lo == hi else hi)
    show_legend = legend and norm is None and with_labels
    legend_h = legend_layout(scene, sz, (box[1] - box[0]) * ipu)[1] if show_legend else 0.0
    own = ax is None
    cb_w = 1.0 if norm is not None else 0.0
    W = 0.0  # the figure's width in inches, set when this call makes the figure
    if own:
        w = (box[1] - box[0]) * ipu
        h = (box[3] - box[2]) * ipu
        W, H = w + 2 * MARGIN + cb_w, h + 2 * MARGIN + legend_h
        fig = plt.figure(figsize=(W, H))
        ax = fig.add_axes((MARGIN / W, MARGIN / H, w / W, h / H))
    fig = ax.figure
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    colors = _colors(scene, values, norm, plt.get_cmap(cmap))
    radius = sz.radius

    def scatter(names, marker, gid, **kw):
        sc = ax.scatter(
            [pos[n][0] for n in names],
            [pos[n][1] for n in names],
            marker=marker,
            s=[(2 * radius[n]) ** 2 for n in names],
            c=[colors[n] for n in names] or None,
            edgecolors="#333333",
            zorder=3,
            **kw,
        )
        sc.set_gid(gid)
        return sc

    L, G, S = scene.names("layer"), scene.names("group"), scene.names("synapse")
    scatter(L, "o", "hamux-layers", linewidths=1.0)
    if G:
        ring = ax.scatter(
            [pos[n][0] for n in G],
            [pos[n][1] for n in G],
            s=[(2 * (radius[n] + _RING)) ** 2 for n in G],
            facecolors="white",
            edgecolors="#333333",
            linewidths=1.0,
            zorder=2.5,
        )
        ring.set_gid("hamux-group-rings")
        scatter(G, "o", "hamux-groups", linewidths=1.6)
    if S:
        sc = scatter(S, "s", "hamux-synapses", linewidths=1.0)
        sc.set_linestyles(["--" if scene.nodes[n].shared else "-" for n in S])
    if norm is not None:
        from matplotlib.cm import ScalarMappable

        mappable = ScalarMappable(norm=norm, cmap=cmap)
        if own:
            cax = fig.add_axes(((W - 0.8) / W, 0.15, 0.12 / W, 0.7))
            fig.colorbar(mappable, cax=cax, label=clabel)
        else:
            fig.colorbar(mappable, ax=ax, label=clabel, shrink=0.8)
    by_pair: dict[tuple[str, str], list[int]] = {}
    for e in scene.edges:
        by_pair.setdefault((e.synapse, e.target), []).append(e.slot)
    slot_specs = []
    for (s, t), slots in by_pair.items():
        (x1, y1), (x2, y2) = pos[s], pos[t]
        bend = 0.4 * min(1.0, 1.5 / max(math.hypot(x2 - x1, y2 - y1) * ipu, 1e-9))
        rads = [0.0] if len(slots) == 1 else list(np.linspace(-bend, bend, len(slots)))
        for slot, rad in zip(slots, rads):
            patch = FancyArrowPatch(
                (x1, y1),
                (x2, y2),
                connectionstyle=f"arc3,rad={rad}",
                arrowstyle="-",
                color="#555555",
                linewidth=1.0,
                shrinkA=radius[s],
                shrinkB=radius[t] + (_RING if t in G else 0.0),
                zorder=1,
                linestyle="--" if scene.nodes[s].shared else "-",
            )
            patch.set_gid("hamux-edge")
            ax.add_artist(patch)  # one of ax.patches; the limits are set already
            if with_labels and scene.nodes[s].slots > 1:
                cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
                dx, dy = cx - x1, cy - y1
                n = math.hypot(dx, dy) or 1.0
                slot_specs.append((s, str(slot), (dx / n, dy / n)))
    if show_legend:
        _legend(fig, ax, scene, sz, colors, own, (box[1] - box[0]) * ipu)
    if with_labels:
        keep_out = (cb_w, legend_h) if own else None
        _place_labels(ax, scene, sz, pos, slot_specs, keep_out, set(G))
    return ax


def _place_labels(ax, scene, sz, pos, slot_specs, keep_out, groups) -> None:
    """Annotate every node and slot, then move the labels apart (``_labels.resolve``).

    ``keep_out`` is ``(colorbar width, legend height)`` in inches for a figure of our own
    (labels stay inside the figure, off the legend strip and the colorbar), or ``None`` for
    a given Axes (labels stay within it).
    """
    fig = ax.figure
    labels: list[Label] = []
    ax.apply_aspect()
    dpi = fig.dpi
    px = dpi / 72.0
    to_disp = ax.transData.transform
    order = scene.names("group") + scene.names("layer") + scene.names("synapse")
    for n in order:
        v = scene.nodes[n]
        r = sz.radius[n] + (_RING if n in groups else 0.0)
        up = v.kind == "synapse"
        h = sz.text_height(len(v.lines))
        ann = ax.annotate(
            "\n".join(v.lines),
            pos[n],
            xytext=(0, (r + 2 + h / 2) * (1 if up else -1)),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=sz.font,
            zorder=5,
            bbox=dict(boxstyle="square,pad=0.08", fc="white", ec="none", alpha=0.8),
        )
        ann.set_gid("hamux-label")
        labels.append(Label(ann, tuple(to_disp(pos[n])), r * px, "above" if up else "below"))
    for s, text, along in slot_specs:
        ann = ax.annotate(
            text,
            pos[s],
            xytext=(0, 0),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=sz.slot_font,
            zorder=4,
            color="#333333",
            bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="#999999", lw=0.5),
        )
        ann.set_gid("hamux-slot")
        labels.append(Label(ann, tuple(to_disp(pos[s])), sz.radius[s] * px, along=along))
    obstacles = []
    for n in scene.nodes:
        x, y = to_disp(pos[n])
        r = (sz.radius[n] + (_RING if n in groups else 0.0)) * px
        obstacles.append((x - r, y - r, x + r, y + r))
    if keep_out is not None:
        bounds = (0.0, 0.0, fig.bbox.width - keep_out[0] * dpi, fig.bbox.height - keep_out[1] * dpi)
    else:
        bb = ax.bbox
        bounds = (bb.x0 - 4 * px, bb.y0 - 4 * px, bb.x1 + 4 * px, bb.y1 + 4 * px)
    resolve(labels, obstacles, None, bounds=bounds, dpi=dpi)
    inv = ax.transData.inverted()
    for lab in labels:
        if lab.far:
            ex, ey = lab.anchor[0] + lab.offset[0], lab.anchor[1] + lab.offset[1]
            (x0, y0), (x1, y1) = inv.transform(lab.anchor), inv.transform((ex, ey))
            ax.plot([x0, x1], [y0, y1], color="#aaaaaa", lw=0.5, zorder=0.5)


def dot_quote(text: str) -> str:
    """``text`` as a quoted DOT string (backslashes, quotes and newlines escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(obj: Any) -> str:
    """Graphviz DOT text of a HAM (render with ``dot -Tpng``).

    Layers are ellipses, synapses boxes, one undirected-looking edge per slot labelled
    with its slot number when the synapse has several.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> print(ham.to_dot().splitlines()[0])
        digraph HAM {
    """
    plan = _plan(obj)
    scene = build_scene(plan, detail="full")
    lines = [
        "digraph HAM {",
        "  graph [rankdir=TB];",
        '  node [fontname="Helvetica", fontsize=10];',
        "  edge [arrowhead=none, fontsize=9];",
    ]
    for n in plan.layer_names:
        label = "\n".join(scene.nodes[n].lines)
        lines.append(
            f'  {dot_quote(n)} [shape=ellipse, style=filled, fillcolor="{LAYER_COLOR}", label={dot_quote(label)}];'
        )
    for n in plan.synapse_names:
        label = "\n".join(scene.nodes[n].lines)
        style = '"filled,dashed"' if plan.shares(n) else "filled"
        lines.append(
            f'  {dot_quote(n)} [shape=box, style={style}, fillcolor="{SYNAPSE_COLOR}", label={dot_quote(label)}];'
        )
    for s, conn in zip(plan.synapse_names, plan.connections):
        for slot, l in enumerate(conn):
            attr = f" [label={dot_quote(str(slot))}]" if len(conn) > 1 else ""
            lines.append(f"  {dot_quote(s)} -> {dot_quote(l)}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_energy(energies: Any, ax: Any = None, *, title: str | None = None) -> Any:
    """Plot an energy trace from ``model.run`` (batched: one line per sample).

    Args:
        energies: array of shape ``(steps + 1,)`` or ``(steps + 1, B)``.
        ax: the Axes to draw into (a new figure when ``None``).
        title: optional title.

    Returns:
        The Axes (one line per sample).

    Raises:
        StateError: for an array of another rank.
        ImportError: without matplotlib (the ``draw`` extra).

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import numpy as np, hamux_graph as hg
        >>> len(hg.plot_energy(np.zeros((11, 3))).lines)
        3
    """
    e = np.asarray(energies, dtype=float)
    if e.ndim not in (1, 2):
        raise StateError(f"energies must have shape (steps+1,) or (steps+1, B) as model.run returns, got {e.shape}.")
    plt = require("matplotlib.pyplot", feature="hg.plot_energy")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    steps = np.arange(e.shape[0])
    if e.ndim == 1:
        ax.plot(steps, e, color="C0", lw=1.5)
    else:
        alpha = 1.0 if e.shape[1] <= 5 else max(0.15, 3.0 / e.shape[1])
        for b in range(e.shape[1]):
            ax.plot(steps, e[:, b], lw=1.0, alpha=alpha)
    ax.set_xlabel("step")
    ax.set_ylabel("energy")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax
