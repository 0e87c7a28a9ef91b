"""Sizes for a figure: marker and text sizes, footprints, and the font and detail that fit.

``Sizes`` measures label text with matplotlib's Agg renderer at 72 dpi (one pixel is one
point), so footprints are exact before anything is drawn. ``fit`` lays a scene out at
9, 8, 7 and 6 pt (or the font asked for), with full labels and then compact ones, and
keeps the first that fits ``MAX_INCHES`` square; when none does it warns and keeps the
smallest. ``positions`` returns what ``draw_ham`` and ``layout_positions`` both use.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable
from typing import Any

from .._errors import ArgumentError
from .._graph.validate import Plan
from .._internal.optional import require
from .._internal.parse import parse_float
from .placement import Item, networkx_positions, place, Placement
from .scene import build_scene, Scene


__all__ = [
    "Sizes",
    "items",
    "legend_entries",
    "legend_texts",
    "legend_layout",
    "legend_width",
    "fit",
    "widen",
    "positions",
    "check_font",
    "MAX_INCHES",
    "MIN_FONT",
    "MARGIN",
    "GROUP_LEGEND",
    "SHARED_LEGEND",
]

MAX_INCHES = 20.0
MIN_FONT = 6.0
MARGIN = 0.25
GROUP_LEGEND = "collapsed group (×layers)"
SHARED_LEGEND = "shares parameters"


class Sizes:
    """Marker and text sizes (points) for one font size; text widths from the Agg renderer.

    A layer's radius grows with the logarithm of its neuron count (from 0.65 to 1.5 font
    sizes); a group's is a little larger, a synapse's half side 0.6 font sizes.
    """

    def __init__(self, scene: Scene, font: float):
        feature = "laying out a drawing (its labels are measured with matplotlib)"
        agg = require("matplotlib.backends.backend_agg", feature=feature)
        fonts = require("matplotlib.font_manager", feature=feature)

        self.font = font
        self.slot_font = max(MIN_FONT, font - 1.0)
        self.renderer = agg.RendererAgg(8, 8, 72)  # one pixel = one point
        self.prop = fonts.FontProperties(size=font)
        counts = [v.neurons for v in scene.nodes.values() if v.kind != "synapse"]
        big = max([math.log10(n + 1) for n in counts] + [1.0])
        self.radius = {}
        for name, v in scene.nodes.items():
            if v.kind == "synapse":
                self.radius[name] = 0.6 * font
            else:
                r = 0.65 * font + 0.85 * font * math.log10(v.neurons + 1) / big
                self.radius[name] = r + (0.25 * font if v.kind == "group" else 0.0)
        self.slot_w = self.width("00", fonts.FontProperties(size=self.slot_font)) + 2.0
        self.slot_h = 1.25 * self.slot_font

    def width(self, text: str, prop: Any = None) -> float:
        w = 0.0
        for line in text.split("\n"):
            if line:
                w = max(w, self.renderer.get_text_width_height_descent(line, prop or self.prop, ismath=False)[0])
        return w

    def text_height(self, lines: int) -> float:
        return self.font * (1.2 * lines + 0.25)


def items(scene: Scene, sz: Sizes) -> list[Item]:
    """The footprint of every node (inches): marker, label, and slot numbers beside a hub."""
    out, gap = [], 2.0
    for name, v in scene.nodes.items():
        r = sz.radius[name]
        lw, lh = sz.width("\n".join(v.lines)), sz.text_height(len(v.lines))
        if v.kind == "synapse":
            slots = 2 * (sz.slot_w + gap) if v.slots > 1 else 0.0
            w = max(2 * r + slots, lw)
            out.append(
                Item(
                    name,
                    v.col,
                    v.key,
                    True,
                    w / 72,
                    (r + gap + lh) / 72,
                    (r + (sz.slot_h + gap if v.slots > 1 else 0.0)) / 72,
                )
            )
        else:
            out.append(Item(name, v.col, v.key, False, max(2 * r, lw) / 72, r / 72, (r + gap + lh) / 72))
    return out


def legend_entries(scene: Scene) -> tuple[list[str], list[str]]:
    """The distinct Lagrangian texts (layers, groups) and synapse types, in drawing order."""
    lags = list(dict.fromkeys(v.color_key for v in scene.nodes.values() if v.kind != "synapse"))
    types = list(dict.fromkeys(v.color_key for v in scene.nodes.values() if v.kind == "synapse"))
    return lags, types


def fit(scene_of, font: float | None, layered: bool):
    """Font, scene, sizes and placement that fit ``MAX_INCHES`` (smaller font, then less detail)."""
    fonts = [font] if font is not None else [9.0, 8.0, 7.0, 6.0]
    details = ["auto", "compact"]
    best: tuple[Scene, Sizes, Placement] | None = None
    for detail in details:
        scene = scene_of(detail)
        for f in fonts:
            sz = Sizes(scene, f)
            if not layered:
                return scene, sz, None
            pl = place(
                items(scene, sz),
                max_width=MAX_INCHES - 2 * MARGIN,
                aspect=2.2,
                col_gap=0.35 * f / 72 + 0.04,
                row_gap=0.25 * f / 72,
                band_gap=0.9 * f / 72,
            )
            pl = widen(pl, legend_width(scene, sz))
            legend_h = legend_layout(scene, sz, pl.box[1] - pl.box[0])[1]
            h = pl.box[3] - pl.box[2] + 2 * MARGIN + legend_h
            best = (scene, sz, pl)
            if h <= MAX_INCHES:
                return best
        if scene.detail == "compact":
            break
    if best is None:
        raise AssertionError("unreachable: a layered fit tries at least one font")  # pragma: no cover
    w, h = best[2].box[1] - best[2].box[0], best[2].box[3] - best[2].box[2]
    warnings.warn(
        f"this graph needs {w:.1f} × {h:.1f} inches at {MIN_FONT:g} pt, more than {MAX_INCHES:g} × {MAX_INCHES:g}; "
        "the figure is larger. Draw it with collapse=True, or open ham.to_html(path) to explore it.",
        stacklevel=4,
    )
    return best


def widen(pl: Placement, width: float) -> Placement:
    """The placement with its box widened, both sides alike, to at least ``width``."""
    x0, x1, y0, y1 = pl.box
    extra = max(0.0, width - (x1 - x0)) / 2
    return dataclasses.replace(pl, box=(x0 - extra, x1 + extra, y0, y1))


def check_font(font_size: Any) -> float | None:
    """``font_size`` as a float (``None`` stays ``None``); refuses sizes under ``MIN_FONT``."""
    if font_size is None:
        return None
    return parse_float(font_size, "font_size", minimum=MIN_FONT, error=ArgumentError, hint=" Font sizes are in points.")


def positions(
    plan: Plan,
    layout: Any,
    collapse: bool,
    first: Iterable[str] | None,
    last: Iterable[str] | None,
    font: float | None,
):
    """Scene, sizes, positions, content box and inches per data unit (the box fits the legend)."""
    layered = isinstance(layout, str) and layout == "layered"
    scene, sz, pl = fit(lambda d: build_scene(plan, collapse=collapse, detail=d, first=first, last=last), font, layered)
    if pl is not None:  # layered
        return scene, sz, dict(pl.pos), pl.box, 1.0
    layers = scene.names("layer", "group")
    syns = scene.names("synapse")
    pos = networkx_positions(layers, syns, [(e.synapse, e.target) for e in scene.edges], layout)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    extent = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    target = min(MAX_INCHES - 4.0, max(3.0, 1.6 * math.sqrt(len(pos)) + 2.0))
    ipu = target / extent
    pad = max(it.width for it in items(scene, sz)) / 2 + 0.3
    box = (min(xs) - pad / ipu, max(xs) + pad / ipu, min(ys) - pad / ipu, max(ys) + pad / ipu)
    lw = legend_width(scene, sz) / ipu
    if box[1] - box[0] < lw:
        extra = (lw - box[1] + box[0]) / 2
        box = (box[0] - extra, box[1] + extra, box[2], box[3])
    return scene, sz, pos, box, ipu


def legend_texts(scene: Scene) -> list[tuple[str, str]]:
    """``(marker kind, text)`` of every legend entry: Lagrangians, synapse types, groups, sharing."""
    lags, types = legend_entries(scene)
    out = [("layer", t) for t in lags] + [("synapse", t) for t in types]
    if scene.groups:
        out.append(("group", GROUP_LEGEND))
    if any(v.shared for v in scene.nodes.values()):
        out.append(("shared", SHARED_LEGEND))
    return out


def legend_width(scene: Scene, sz: Sizes, rows: int = 3) -> float:
    """The width (inches) a figure needs for its legend in at most ``rows`` rows (or 20 inches)."""
    n = len(legend_texts(scene))
    per_col = legend_layout(scene, sz, MAX_INCHES)[2]
    return min(MAX_INCHES - 2 * MARGIN, math.ceil(n / rows) * per_col) if n else 0.0


def legend_layout(scene: Scene, sz: Sizes, width: float) -> tuple[int, float, float]:
    """Columns, height and the width of one column (inches) of a legend strip ``width`` wide."""
    texts = [t for _, t in legend_texts(scene)]
    if not texts:
        return 1, 0.0, 0.0
    per_col = (max(sz.width(t) for t in texts) + 3.6 * sz.font) / 72
    ncol = max(1, min(len(texts), int(width // per_col)))
    return ncol, math.ceil(len(texts) / ncol) * 1.75 * sz.font / 72 + 0.12, per_col
