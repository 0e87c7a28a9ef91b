"""Placing a scene: the layered layout's geometry, in inches, and the networkx layouts.

``place`` takes the grid cells of the visible nodes (``_scene.grid``) and their
footprints (measured text and marker sizes) and returns anchor positions:

- empty columns are dropped, so a collapsed group leaves no gap;
- in each column, layers (and groups) stack downwards from the layer line ``y = 0`` and
  synapses upwards from one baseline above it, so the synapses between two ranks form a
  row and a hyperedge that spans more ranks sits higher;
- a column holding more than ``max_stack`` layers is split into side-by-side columns;
- columns are packed into bands of at most ``max_width``, breaking after a column that
  holds layers, with as many bands as bring the drawing near ``aspect`` (width over
  height); odd bands run right to left (a serpentine), so the flow never jumps across.

The page (``_page.js``) implements the same placement for expanding groups in the browser.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx

from .._errors import ValidationError


__all__ = ["Item", "Placement", "place", "networkx_positions", "NAMED_LAYOUTS"]

NAMED_LAYOUTS = ("spring", "kamada_kawai", "circular", "shell", "spectral", "bipartite")


@dataclasses.dataclass(frozen=True)
class Item:
    """A node to place: grid cell, stacking side and footprint (inches around its anchor)."""

    name: str
    col: int
    key: tuple[Any, ...]
    up: bool  # synapses stack upwards, layers and groups downwards
    width: float
    above: float
    below: float


@dataclasses.dataclass(frozen=True)
class Placement:
    """Anchor positions and the bounding box of the footprints (inches)."""

    pos: dict[str, tuple[float, float]]
    box: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    bands: int


def _columns(items: Sequence[Item], max_stack: int) -> list[list[Item]]:
    by_col: dict[int, list[Item]] = {}
    for it in items:
        by_col.setdefault(it.col, []).append(it)
    cols = []
    for c in sorted(by_col):
        its = sorted(by_col[c], key=lambda it: (it.up, it.key))
        downs = [it for it in its if not it.up]
        ups = [it for it in its if it.up]
        n = max(1, math.ceil(len(downs) / max_stack), math.ceil(len(ups) / max_stack))
        for k in range(n):
            cols.append(downs[k::n] + ups[k::n])
    return cols


def _band_heights(cols: list[list[Item]], gap: float) -> tuple[dict[str, float], float, float]:
    """Relative y of every anchor in one band, and the band's top and bottom."""
    ys: dict[str, float] = {}
    downs = [it for col in cols for it in col if not it.up]
    ups = [it for col in cols for it in col if it.up]
    layer_top = max([it.above for it in downs] + [0.0])
    base = layer_top + gap + max([it.below for it in ups] + [0.0])
    top, bottom = layer_top, 0.0
    for col in cols:
        prev = None
        for it in (it for it in col if not it.up):
            y = 0.0 if prev is None else ys[prev.name] - prev.below - gap - it.above
            ys[it.name] = y
            bottom = min(bottom, y - it.below)
            prev = it
        prev = None
        for it in (it for it in col if it.up):
            y = base if prev is None else ys[prev.name] + prev.above + gap + it.below
            ys[it.name] = y
            top = max(top, y + it.above)
            prev = it
    return ys, top, bottom


def _breaks(widths: list[float], has_layers: list[bool], target: float) -> list[tuple[int, int]]:
    bands, start, acc = [], 0, 0.0
    for i, w in enumerate(widths):
        if acc + w > target and i > start:
            cut = i
            for j in range(i - 1, start, -1):  # break after a column with layers if one is near
                if has_layers[j] and sum(widths[j + 1 : i + 1]) < 0.35 * target:
                    cut = j + 1
                    break
            bands.append((start, cut))
            start, acc = cut, sum(widths[cut:i])
        acc += w
    bands.append((start, len(widths)))
    return bands


def place(
    items: Sequence[Item],
    *,
    max_width: float,
    aspect: float = 2.5,
    col_gap: float = 0.12,
    row_gap: float = 0.08,
    band_gap: float = 0.3,
    max_stack: int = 12,
) -> Placement:
    """Positions of the items (module docstring); widths, heights and gaps are in inches."""
    if not items:
        return Placement({}, (0.0, 0.0, 0.0, 0.0), 0)
    cols = _columns(items, max_stack)
    widths = [max(it.width for it in col) + col_gap for col in cols]
    has_layers = [any(not it.up for it in col) for col in cols]
    _, top, bottom = _band_heights(cols, row_gap)
    height = top - bottom + band_gap
    total = sum(widths)
    n = max(math.ceil(total / max_width), round(math.sqrt(total / (aspect * height))), 1)
    n = min(n, len(cols))
    target = min(max_width, total / n * 1.08 + max(widths))
    if n == 1:
        target = max(total, target)
    bands = _breaks(widths, has_layers, target)
    xs = []
    for a, b in bands:
        x, row = 0.0, []
        for i in range(a, b):
            row.append(x + widths[i] / 2)
            x += widths[i]
        xs.append((row, x))
    full = max(w for _, w in xs)
    pos: dict[str, tuple[float, float]] = {}
    y0 = line = 0.0
    xmin = ymin = math.inf
    xmax = ymax = -math.inf
    for bi, ((a, b), (row, _width)) in enumerate(zip(bands, xs)):
        ys, top, bottom = _band_heights(cols[a:b], row_gap)
        shift = y0 - top
        for i, x in zip(range(a, b), row):
            cx = full - x if bi % 2 else x
            for it in cols[i]:
                p = (cx, ys[it.name] + shift)
                pos[it.name] = p
                xmin, xmax = min(xmin, cx - it.width / 2), max(xmax, cx + it.width / 2)
                ymin, ymax = min(ymin, p[1] - it.below), max(ymax, p[1] + it.above)
        y0 = shift + bottom - band_gap
        if bi == 0:
            line = shift  # the first band's layer line becomes y = 0
    pos = {n: (x, y - line) for n, (x, y) in pos.items()}
    return Placement(pos, (xmin, xmax, ymin - line, ymax - line), len(bands))


def networkx_positions(
    layers: Sequence[str], synapses: Sequence[str], edges: Sequence[tuple[str, str]], layout: Any
) -> dict[str, tuple[float, float]]:
    """Positions from a networkx layout name, a callable ``graph -> {node: (x, y)}`` or a dict.

    Raises:
        ValidationError: for an unknown layout name or positions missing nodes.
    """
    nodes = list(layers) + list(synapses)
    if isinstance(layout, Mapping):
        pos = dict(layout)
    else:
        U = nx.Graph()
        U.add_nodes_from(nodes)
        U.add_edges_from(edges)
        named: dict[str, Callable[[nx.Graph], Any]] = {
            "spring": lambda g: nx.spring_layout(g, seed=0),
            "kamada_kawai": nx.kamada_kawai_layout,
            "circular": nx.circular_layout,
            "shell": lambda g: nx.shell_layout(g, nlist=[list(layers), list(synapses)] if synapses else None),
            "spectral": nx.spectral_layout,
            "bipartite": lambda g: nx.bipartite_layout(g, list(layers)),
        }
        if callable(layout):
            fn: Callable[[nx.Graph], Any] = layout
        elif isinstance(layout, str) and layout in named:
            fn = named[layout]
        else:
            raise ValidationError(
                f"unknown layout {layout!r}; use 'layered', one of {sorted(named)}, a callable or a dict of positions."
            )
        pos = fn(U) if len(nodes) > 2 else {n: (float(i), 0.0) for i, n in enumerate(nodes)}
    missing = [n for n in nodes if n not in pos]
    if missing:
        raise ValidationError(f"layout positions are missing nodes {missing}.")
    return {n: (float(pos[n][0]), float(pos[n][1])) for n in nodes}
