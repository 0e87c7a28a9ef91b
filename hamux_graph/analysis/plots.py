"""Plots of ``hg.analysis`` results (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._internal.optional import require
from .census import Census
from .measures import BasinCurve, CapacityCurve


__all__ = ["ALPHA_C", "plot_capacity", "plot_basin", "plot_census"]

ALPHA_C = 0.138
"""The critical load of the Hebbian Hopfield network (Amit, Gutfreund & Sompolinsky 1985)."""


def _pyplot() -> Any:
    return require("matplotlib.pyplot", feature="plots of hg.analysis results")


def _axes(ax: Any) -> Any:
    return ax if ax is not None else _pyplot().subplots(figsize=(5.5, 3.8))[1]


def plot_capacity(
    curve: CapacityCurve, *, ax: Any = None, label: str | None = None, alpha_c: float | None = ALPHA_C
) -> Any:
    """Plot a capacity curve: final overlap and exact-retrieval fraction (± σ) against ``α``.

    Args:
        curve: a ``CapacityCurve``.
        ax: matplotlib axes to draw into (default: a new figure).
        label: legend prefix (e.g. the rule's name).
        alpha_c: draw a vertical line at this load (``None``: no line).

    Returns:
        The matplotlib axes.

    Raises:
        ImportError: without matplotlib (``pip install hamux_graph[draw]``).

    Example:
        >>> import jax, matplotlib; matplotlib.use("Agg")
        >>> import hamux_graph as hg
        >>> c = hg.analysis.capacity_curve("hebbian", 64, [0.1], trials=1, key=jax.random.key(0))
        >>> ax = hg.analysis.plot_capacity(c, label="Hebb")
    """
    ax = _axes(ax)
    pre = f"{label}: " if label else ""
    a = np.asarray(curve.loads)
    line = ax.errorbar(
        a,
        np.asarray(curve.overlap_mean),
        yerr=np.asarray(curve.overlap_std),
        marker="o",
        ms=3,
        capsize=2,
        label=f"{pre}final overlap",
    )[0]
    ax.errorbar(
        a,
        np.asarray(curve.exact_mean),
        yerr=np.asarray(curve.exact_std),
        marker="s",
        ms=3,
        capsize=2,
        ls="--",
        color=line.get_color(),
        label=f"{pre}exact retrieval",
    )
    if alpha_c is not None:
        ax.axvline(alpha_c, color="0.4", lw=1, ls=":", label=f"α_c ≈ {alpha_c:g}")
    ax.set_xlabel("load α = K/N")
    ax.set_ylabel("overlap / fraction")
    ax.set_title(f"capacity, N = {curve.N}, {curve.corruption:.0%} of bits flipped")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    return ax


def plot_basin(basin: BasinCurve, *, ax: Any = None, label: str | None = None) -> Any:
    """Plot retrieval against probe corruption, with the required fraction and the radius.

    Args:
        basin: a ``BasinCurve``.
        ax: matplotlib axes (default: a new figure).
        label: legend label.

    Returns:
        The matplotlib axes.

    Raises:
        ImportError: without matplotlib (``pip install hamux_graph[draw]``).

    Example:
        >>> import jax, matplotlib; matplotlib.use("Agg")
        >>> import hamux_graph as hg
        >>> b = hg.analysis.basin_radius("hebbian", 64, 0.1, corruptions=[0.0, 0.2], trials=1, key=jax.random.key(0))
        >>> ax = hg.analysis.plot_basin(b)
    """
    ax = _axes(ax)
    c = np.asarray(basin.corruptions)
    line = ax.errorbar(
        c,
        np.asarray(basin.retrieved_mean),
        yerr=np.asarray(basin.retrieved_std),
        marker="o",
        ms=3,
        capsize=2,
        label=label or f"K = {basin.num_patterns}",
    )[0]
    ax.axhline(basin.fraction, color="0.5", lw=1, ls=":")
    if not math.isnan(basin.radius):
        ax.axvline(basin.radius, color=line.get_color(), lw=1, ls="--")
    ax.set_xlabel("fraction of bits flipped in the probe")
    ax.set_ylabel("fraction retrieved")
    ax.set_title(f"basin of attraction, N = {basin.N}")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    return ax


_COLORS = {"pattern": "#31a354", "mixture": "#fd8d3c", "other": "#969696"}


def plot_census(census: Census, *, ax: Any = None, top: int = 20) -> Any:
    """Bar chart of an attractor census: visits per attractor, coloured by kind.

    Bars are labelled ``ξ3`` / ``−ξ3`` (a stored pattern or its negative), ``mix +0 −4 +7``
    (a mixture, with the signs of its overlaps) or ``other``.

    Args:
        census: a ``Census``.
        ax: matplotlib axes (default: a new figure).
        top: show the ``top`` most visited attractors.

    Returns:
        The matplotlib axes.

    Raises:
        ImportError: without matplotlib (``pip install hamux_graph[draw]``).

    Example:
        >>> import jax, numpy as np, matplotlib; matplotlib.use("Agg")
        >>> import hamux_graph as hg
        >>> pats = np.sign(np.random.default_rng(0).normal(size=(3, 50)))
        >>> c = hg.analysis.attractor_census(hg.memory.hebbian(pats), pats, patterns=pats, key=jax.random.key(0))
        >>> ax = hg.analysis.plot_census(c)
    """
    ax = _axes(ax)
    n = min(top, len(census.kinds))
    names = []
    m = np.asarray(census.overlaps)
    for a, (kind, members) in enumerate(zip(census.kinds[:n], census.members[:n])):
        signed = ["" if m[a, i] > 0 else "−" for i in members]
        if kind == "pattern":
            names.append(f"{signed[0]}ξ{members[0]}")
        elif kind == "mixture":
            names.append("mix " + " ".join(f"{sg or '+'}{i}" for sg, i in zip(signed, members)))
        else:
            names.append("other")
    counts = np.asarray(census.counts)[:n]
    ax.bar(range(n), counts, color=[_COLORS[k] for k in census.kinds[:n]])
    ax.set_xticks(range(n))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("starts ending here")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=col, label=k) for k, col in _COLORS.items()], fontsize=7)
    ax.set_title(f"attractor census: {len(census.kinds)} distinct end states")
    return ax
