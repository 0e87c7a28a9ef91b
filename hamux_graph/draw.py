"""Drawing a HAM: matplotlib figures, Graphviz DOT text and energy traces.

Layers are circles (area grows with the neuron count) labelled with name, shape and
Lagrangian; synapses are squares labelled with their type. Every argument slot is one
edge, numbered when the synapse has several slots; parallel edges (self-connections, a
layer used twice) are drawn as distinct arcs. matplotlib is imported only when drawing
(``pip install 'hamux_graph[draw]'``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

import networkx as nx
import numpy as np

from ._errors import StateError, ValidationError
from .summary import lagrangian_text
from .validate import Plan, plan_graph

__all__ = ["draw_ham", "layout_positions", "to_dot", "plot_energy", "dot_quote"]

LAYER_COLOR = "#9ecae1"
SYNAPSE_COLOR = "#fdae6b"
_SPACING = 3.0


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            "drawing needs matplotlib, which is not installed. Install the 'draw' extra: "
            "pip install 'hamux_graph[draw]'"
        ) from e
    return plt


def _structure(obj: Any) -> tuple[Plan, dict[str, str | None]]:
    """The plan to draw (of a plan, or of a networkx HAM graph) and who shares whose parameters."""
    if isinstance(obj, Plan):
        plan = obj
    elif isinstance(obj, nx.MultiDiGraph):
        plan = plan_graph(obj)
    else:
        raise ValidationError(
            f"drawing takes a validated plan (ham.plan(), model.plan()) or a networkx HAM graph, got "
            f"{type(obj).__name__}. Call ham.draw() / ham.to_dot() on a HAM."
        )
    return plan, {n: plan.shares(n) for n in plan.synapse_names}


def _layered(plan) -> dict[str, tuple[float, float]]:
    """Layers on a line; each synapse above the middle of its layers, stacked to avoid overlaps.

    A synapse that spans a layer it does not connect starts higher, so its edges pass
    above the synapses in between.
    """
    pos = {n: (i * _SPACING, 0.0) for i, n in enumerate(plan.layer_names)}
    placed: list[tuple[float, int]] = []
    for s, conn in zip(plan.synapse_names, plan.connections):
        xs = [pos[l][0] for l in dict.fromkeys(conn)]
        x = float(np.mean(xs))
        skipped = any(min(xs) < p[0] < max(xs) and n not in conn for n, p in list(pos.items())[: len(plan.layer_names)])
        level = 3 if skipped else 1
        while any(lv == level and abs(px - x) < 0.45 * _SPACING for px, lv in placed):
            level += 1
        placed.append((x, level))
        pos[s] = (x, 1.3 * level)
    return pos


def layout_positions(obj: Any, layout: Any = "layered") -> dict[str, tuple[float, float]]:
    """Node positions for drawing.

    Args:
        obj: a validated plan (``ham.plan()``, ``model.plan()``) or a networkx HAM graph.
        layout: ``"layered"`` (layers on a line in order, synapses above/below the middle of
            their layers), a networkx layout name (``"spring"``, ``"kamada_kawai"``,
            ``"circular"``, ``"shell"``, ``"spectral"``, ``"bipartite"``), a callable
            ``graph -> {node: (x, y)}``, or a dict of positions.

    Raises:
        ValidationError: for an unknown layout name or positions missing nodes.

    Example:
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> layout_positions(ham.plan())["s"]
        (0.0, 1.3)
    """
    plan, _ = _structure(obj)
    nodes = list(plan.layer_names) + list(plan.synapse_names)
    if isinstance(layout, Mapping):
        pos = dict(layout)
    elif layout == "layered":
        return _layered(plan)
    else:
        U = nx.Graph()
        U.add_nodes_from(nodes)
        U.add_edges_from((s, l) for s, conn in zip(plan.synapse_names, plan.connections) for l in conn)
        named: dict[str, Callable[[nx.Graph], Any]] = {
            "spring": lambda g: nx.spring_layout(g, seed=0),
            "kamada_kawai": nx.kamada_kawai_layout,
            "circular": nx.circular_layout,
            "shell": lambda g: nx.shell_layout(g, nlist=[list(plan.layer_names), list(plan.synapse_names)]),
            "spectral": nx.spectral_layout,
            "bipartite": lambda g: nx.bipartite_layout(g, list(plan.layer_names)),
        }
        if callable(layout):
            fn = layout
        elif layout in named:
            fn = named[layout]
        else:
            raise ValidationError(
                f"unknown layout {layout!r}; use 'layered', one of {sorted(named)}, a callable or a dict of positions."
            )
        pos = fn(U) if len(nodes) > 1 else {n: (0.0, 0.0) for n in nodes}
        pos = {n: tuple(float(c) * 2.5 * _SPACING for c in p) for n, p in pos.items()}
    missing = [n for n in nodes if n not in pos]
    if missing:
        raise ValidationError(f"layout positions are missing nodes {missing}.")
    return {n: (float(pos[n][0]), float(pos[n][1])) for n in nodes}


def _energy_values(energies: Any, plan: Plan) -> tuple[dict[str, float], str]:
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
    nodes = set(plan.layer_names) | set(plan.synapse_names)
    unknown = sorted(str(k) for k in flat if k not in nodes)
    if unknown or not flat:
        raise StateError(
            f"energies name no node or unknown nodes {unknown[:6]} of this HAM (its nodes: {sorted(nodes)[:8]}"
            f"{' ...' if len(nodes) > 8 else ''}). Pass model.energy_tree(xs) of a model compiled from this HAM."
        )
    out, batch = {}, None
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
    return out, ("energy" if batch is None else f"energy (mean over {batch} samples)")


def _node_label(name: str, plan: Plan, shares: dict[str, Any]) -> str:
    if name in plan.layer_names:
        layer = plan.layers[plan.layer_names.index(name)]
        shape = "×".join(str(s) for s in layer.shape)
        return f"{name}\n{shape}\n{lagrangian_text(layer.lagrangian)}"
    if shares.get(name):
        return f"{name}\nshares {shares[name]}"
    return f"{name}\n{_wrap_type(type(plan.synapse_of(name)).__name__)}"


def _wrap_type(name: str, width: int = 18) -> str:
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


def draw_ham(
    obj: Any,
    ax: Any = None,
    layout: Any = "layered",
    energies: Any = None,
    *,
    cmap: str = "viridis",
    with_labels: bool = True,
    font_size: float = 8.0,
) -> Any:
    """Draw a HAM with matplotlib (``HAM.draw`` calls this).

    Args:
        obj: a validated plan (``ham.plan()``, ``model.plan()``) or a networkx HAM graph.
        ax: the matplotlib Axes to draw into (a new figure when ``None``).
        layout: see ``layout_positions``.
        energies: optional ``model.energy_tree(xs)`` (or ``{node: energy}``): nodes are
            coloured by energy (batched energies are averaged) and a colorbar is added.
        cmap: colormap for energies.
        with_labels: write node labels and slot numbers.
        font_size: label font size.

    Returns:
        The Axes. The layer markers are one scatter collection (gid ``"hamux-layers"``),
        the synapse markers another (``"hamux-synapses"``), each slot one
        ``FancyArrowPatch`` (gid ``"hamux-edge"``).

    Raises:
        ImportError: without matplotlib (the ``draw`` extra).

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import hamux_graph as hg
        >>> ham = hg.HAM(); ham.add_layer("v", hg.TanhLayer((3,)))
        >>> ham.add_synapse("s", hg.DenseSynapse(), layers=("v", "v"))
        >>> ax = ham.draw()
        >>> sum(p.get_gid() == "hamux-edge" for p in ax.patches)
        2
    """
    plt = _pyplot()
    from matplotlib.colors import Normalize
    from matplotlib.patches import FancyArrowPatch

    plan, shares = _structure(obj)
    if not plan.layer_names:
        raise ValidationError("there is nothing to draw: the HAM has no layers. Add one with ham.add_layer(...).")
    pos = layout_positions(plan, layout)
    values, clabel = _energy_values(energies, plan)
    if ax is None:
        xr = max(p[0] for p in pos.values()) - min(p[0] for p in pos.values())
        yr = max(p[1] for p in pos.values()) - min(p[1] for p in pos.values())
        width = max(4.0, min(20.0, 0.75 * xr + 2.5))
        _, ax = plt.subplots(figsize=(width, max(3.5, min(12.0, 0.75 * yr + 3.0))))
    sizes = [math.prod(l.shape) for l in plan.layers]
    big = max([math.log10(n + 1) for n in sizes] + [1e-9])
    layer_s = {n: 350.0 + 1250.0 * math.log10(k + 1) / big for n, k in zip(plan.layer_names, sizes)}
    syn_s = 380.0
    norm = None
    if values:
        vals = list(values.values())
        lo, hi = min(vals), max(vals)
        norm = Normalize(lo - 0.5 if lo == hi else lo, hi + 0.5 if lo == hi else hi)

    def colors(names, default):
        if norm is None:
            return default
        cm = plt.get_cmap(cmap)
        return [cm(norm(values[n])) if n in values else "#dddddd" for n in names]

    L, S = list(plan.layer_names), list(plan.synapse_names)
    sc_l = ax.scatter(
        [pos[n][0] for n in L], [pos[n][1] for n in L], s=[layer_s[n] for n in L], c=colors(L, LAYER_COLOR),
        marker="o", edgecolors="#333333", linewidths=1.2, zorder=3,
    )
    sc_l.set_gid("hamux-layers")
    if S:
        sc_s = ax.scatter(
            [pos[n][0] for n in S], [pos[n][1] for n in S], s=syn_s, c=colors(S, SYNAPSE_COLOR), marker="s",
            edgecolors="#333333", linewidths=1.2, zorder=3,
        )
        sc_s.set_gid("hamux-synapses")
        sc_s.set_linestyles(["--" if shares.get(n) else "-" for n in S])
    for s, conn in zip(plan.synapse_names, plan.connections):
        groups: dict[str, list[int]] = {}
        for slot, l in enumerate(conn):
            groups.setdefault(l, []).append(slot)
        for l, slots in groups.items():
            (x1, y1), (x2, y2) = pos[s], pos[l]
            bend = 0.4 * min(1.0, 1.5 / max(math.hypot(x2 - x1, y2 - y1), 1e-9))
            rads = [0.0] if len(slots) == 1 else list(np.linspace(-bend, bend, len(slots)))
            for slot, rad in zip(slots, rads):
                patch = FancyArrowPatch(
                    (x1, y1), (x2, y2), connectionstyle=f"arc3,rad={rad}", arrowstyle="-", color="#555555",
                    linewidth=1.3, shrinkA=math.sqrt(syn_s) / 2, shrinkB=math.sqrt(layer_s[l]) / 2, zorder=1,
                    linestyle="--" if shares.get(s) else "-",
                )
                patch.set_gid("hamux-edge")
                ax.add_patch(patch)
                if with_labels and len(conn) > 1:
                    mx = (x1 + x2) / 2 + 0.5 * rad * (y2 - y1)
                    my = (y1 + y2) / 2 - 0.5 * rad * (x2 - x1)
                    ax.text(mx, my, str(slot), fontsize=font_size - 1, ha="center", va="center", zorder=4,
                            bbox=dict(boxstyle="circle,pad=0.15", fc="white", ec="#888888", lw=0.6))
    if with_labels:
        for n in L + S:
            r = math.sqrt(layer_s[n] if n in layer_s else syn_s) / 2
            above = n in S and pos[n][1] > 0
            ax.annotate(
                _node_label(n, plan, shares), pos[n], xytext=(0, (r + 3) if above else -(r + 3)),
                textcoords="offset points", ha="center", va="bottom" if above else "top", fontsize=font_size,
                zorder=5,
            )
    if norm is not None:
        from matplotlib.cm import ScalarMappable

        mappable = ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(mappable, ax=ax, label=clabel, shrink=0.8)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    pad_x = 0.35 * _SPACING + 0.05 * (max(xs) - min(xs))
    ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
    ax.set_ylim(min(ys) - 1.4, max(ys) + 1.2)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    return ax


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
    plan, shares = _structure(obj)
    lines = [
        "digraph HAM {",
        "  graph [rankdir=TB];",
        '  node [fontname="Helvetica", fontsize=10];',
        "  edge [arrowhead=none, fontsize=9];",
    ]
    for n in plan.layer_names:
        label = _node_label(n, plan, shares)
        lines.append(f'  {dot_quote(n)} [shape=ellipse, style=filled, fillcolor="{LAYER_COLOR}", label={dot_quote(label)}];')
    for n in plan.synapse_names:
        label = _node_label(n, plan, shares)
        style = '"filled,dashed"' if shares.get(n) else "filled"
        lines.append(f'  {dot_quote(n)} [shape=box, style={style}, fillcolor="{SYNAPSE_COLOR}", label={dot_quote(label)}];')
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
    plt = _pyplot()
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
