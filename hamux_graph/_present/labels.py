"""Labels that never overlap: measure every text with the renderer, then place them greedily.

Each label is a matplotlib ``Annotation`` centred on an offset (in points) from its node.
``resolve`` measures every label once (its width, height and how its box sits around its
position), then places labels in order: for each, it tries candidate offsets from the
most to the least preferred (below or above the node, to the sides, the diagonals, then
further out; a slot number tries spots beside its edge near the hub) and keeps the first
whose box, padded, stays inside ``bounds`` and meets no label placed before it nor a node
marker. If none is free it searches rings around the node, and as a last resort accepts
covering a marker but never another label. Moving a label only translates its box, so the
boxes computed here are the boxes the renderer draws.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


__all__ = ["Label", "resolve", "text_boxes", "count_overlaps", "BoxIndex"]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in display pixels


@dataclasses.dataclass
class Label:
    """A label to place: its artist, the display point it belongs to and how to look around it.

    ``radius`` is the half size of the node's marker (pixels); ``prefer`` is ``"below"``
    or ``"above"``; ``along`` (a unit vector, display) makes it a slot number beside an edge.
    """

    artist: Any
    anchor: tuple[float, float]
    radius: float
    prefer: str = "below"
    along: tuple[float, float] | None = None
    offset: tuple[float, float] = (0.0, 0.0)  # the chosen centre offset, pixels
    far: bool = False  # placed away from its node: worth a leader line


class BoxIndex:
    """A spatial hash of boxes answering "does this box meet any stored box?"."""

    def __init__(self, cell: float = 40.0):
        self.cell = cell
        self.cells: dict[tuple[int, int], list[Box]] = {}

    def _keys(self, b: Box):
        c = self.cell
        for i in range(int(math.floor(b[0] / c)), int(math.floor(b[2] / c)) + 1):
            for j in range(int(math.floor(b[1] / c)), int(math.floor(b[3] / c)) + 1):
                yield i, j

    def add(self, b: Box) -> None:
        for k in self._keys(b):
            self.cells.setdefault(k, []).append(b)

    def hits(self, b: Box) -> bool:
        for k in self._keys(b):
            for o in self.cells.get(k, ()):
                if b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3]:
                    return True
        return False


def _node_candidates(r: float, w: float, h: float, g: float, prefer: str) -> list[tuple[float, float]]:
    out = []
    flip = -1.0 if prefer == "below" else 1.0
    for k in range(4):
        e = k * (h + g)
        vy = r + g + h / 2 + e
        hx = r + g + w / 2 + e
        dx, dy = r * 0.7 + g + w / 2 + 0.7 * e, r * 0.7 + g + h / 2 + 0.7 * e
        out += [
            (0.0, flip * vy),
            (0.0, -flip * vy),
            (hx, 0.0),
            (-hx, 0.0),
            (dx, flip * dy),
            (-dx, flip * dy),
            (dx, -flip * dy),
            (-dx, -flip * dy),
        ]
    return out


def _slot_candidates(r: float, w: float, h: float, g: float, along: tuple[float, float]) -> list[tuple[float, float]]:
    ux, uy = along
    nx_, ny = -uy, ux
    side = max(w, h) / 2 + g
    d0 = r + g + max(w, h) / 2
    out = []
    for t in (1.0, 1.6, 2.3, 3.2, 4.2):
        for s in (1.0, -1.0):
            out.append((ux * d0 * t + s * nx_ * side, uy * d0 * t + s * ny * side))
    for t in (1.0, 1.6, 2.3):
        out.append((ux * d0 * t, uy * d0 * t))
    return out


def _rings(r: float, w: float, h: float, g: float, rings: int = 14) -> Iterator[tuple[float, float]]:
    base = r + g + max(w, h) / 2
    stretch = max(1.0, w / (2 * h))
    for k in range(1, rings + 1):
        rad = base + k * (h + g) * 0.75
        n = 12 + 4 * k
        for i in range(n):
            a = 2 * math.pi * i / n - math.pi / 2
            yield rad * math.cos(a) * stretch, rad * math.sin(a)


def text_boxes(artists: Sequence[Any], renderer: Any) -> list[Box]:
    """The display boxes of text artists, as the renderer lays them out."""
    out = []
    for a in artists:
        e = a.get_window_extent(renderer)
        out.append((float(e.x0), float(e.y0), float(e.x1), float(e.y1)))
    return out


def count_overlaps(boxes: Sequence[Box], pad: float = 0.0) -> int:
    """How many pairs of boxes overlap (touching edges do not count)."""
    if len(boxes) < 2:
        return 0
    b = np.asarray(boxes, dtype=float)
    x0, y0, x1, y1 = (b[:, i][:, None] for i in range(4))
    hit = (x0 - pad < x1.T + pad) & (x0.T - pad < x1 + pad) & (y0 - pad < y1.T + pad) & (y0.T - pad < y1 + pad)
    np.fill_diagonal(hit, False)
    return int(hit.sum() // 2)


def resolve(
    labels: Sequence[Label],
    obstacles: Sequence[Box],
    renderer: Any,
    *,
    bounds: Box,
    dpi: float,
    pad: float = 1.5,
    gap_pt: float = 1.5,
) -> int:
    """Place every label (module docstring); returns how many could not avoid another label."""
    markers = BoxIndex()
    for b in obstacles:
        markers.add(b)
    placed = BoxIndex()
    gap = gap_pt * dpi / 72.0
    failures = 0
    boxes = text_boxes([lab.artist for lab in labels], renderer)
    for lab, box in zip(labels, boxes):
        w, h = box[2] - box[0], box[3] - box[1]
        ox, oy = lab.artist.get_position()
        cur = (ox * dpi / 72.0, oy * dpi / 72.0)
        # where the box centre sits relative to the anchor + offset (text metrics, descent)
        dcx = (box[0] + box[2]) / 2 - (lab.anchor[0] + cur[0])
        dcy = (box[1] + box[3]) / 2 - (lab.anchor[1] + cur[1])
        if lab.along is not None:
            cands = _slot_candidates(lab.radius, w, h, gap, lab.along)
        else:
            cands = _node_candidates(lab.radius, w, h, gap, lab.prefer)
        near = len(cands)

        def box_at(c):
            cx, cy = lab.anchor[0] + c[0] + dcx, lab.anchor[1] + c[1] + dcy
            return (cx - w / 2 - pad, cy - h / 2 - pad, cx + w / 2 + pad, cy + h / 2 + pad)

        def inside(b):
            return b[0] >= bounds[0] and b[1] >= bounds[1] and b[2] <= bounds[2] and b[3] <= bounds[3]

        chosen, far = None, False
        for strict in (True, False):
            for i, c in enumerate(itertools.chain(cands, _rings(lab.radius, w, h, gap))):
                b = box_at(c)
                if inside(b) and not placed.hits(b) and not (strict and markers.hits(b)):
                    chosen, far = c, i >= near or i >= 16
                    break
            if chosen is not None:
                break
        if chosen is None:
            failures += 1
            chosen, far = cands[0], False
        lab.offset, lab.far = chosen, far
        placed.add(box_at(chosen))
        lab.artist.set_position((chosen[0] * 72.0 / dpi, chosen[1] * 72.0 / dpi))
    return failures
