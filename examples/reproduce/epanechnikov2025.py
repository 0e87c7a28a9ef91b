"""Epanechnikov memories (NeurIPS 2025): more minima than stored patterns, and log-sum-exp's few extras.

Published claims:
1. The log-sum-ReLU (Epanechnikov) energy has *emergent* minima, at centroids of patterns whose
   compact supports overlap, so that over an intermediate range of β it has more minima than
   stored patterns. The log-sum-exp (Gaussian) energy does not.
2. The log-sum-exp energy has at most M minima, except in narrow windows: an isotropic
   Gaussian mixture can have more modes than components (Carreira-Perpiñán & Williams 2003).

Setting (ours; the paper's figure uses random patterns too): M ∈ {5, 15, 25} patterns with
i.i.d. N(0, 1/d) entries (norm ≈ 1, pairwise distance ≈ √2) in d ∈ {8, 32}, one draw per
(M, d), over a β sweep. The supports have radius √(2/β), so pairs overlap below β ≈ 4.
``hg.analysis.emergent_minima`` enumerates the fixed points:

- Epanechnikov: centroids of the cliques of the support-overlap graph;
- log-sum-exp: centroids of subsets of ≤ 3 patterns.

Each is refined by ``relax`` and classified by ``stability``. Reduced settings, for time on
two cores: one pattern draw per (M, d), at most 20000 clique candidates (smallest first, then
every maximal clique), and relaxations capped at 600 steps (Epanechnikov: its minima are exact
centroids, already fixed points) or 4000 steps (log-sum-exp).

Also the unit-side triangle of the NeurIPS paper's illustration: Epanechnikov 7 minima at β = 4;
log-sum-exp 1, 4, 3 minima at β = 5.0, 5.7, 7.

Writes ``docs/images/reproduce_epanechnikov.png`` with ``--plot``.

Run:  python examples/reproduce/epanechnikov2025.py [--quick] [--plot]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import jax
import numpy as np

import hamux_graph as hg


BETAS = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0)
CONFIGS = ((5, 8), (15, 8), (25, 8), (5, 32), (15, 32), (25, 32))
TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])


def count(kind, patterns, beta, seed=0):
    """Number of minima (and of emergent ones) of the memory of ``patterns`` at ``beta``."""
    if kind == "epanechnikov":
        ham = hg.zoo.epanechnikov_memory(patterns, beta=beta)
        steps = 600
    else:
        ham = hg.zoo.gaussian_memory(patterns, beta=beta)
        steps = 4000
    model = ham.compile(key=jax.random.key(seed))
    found = hg.analysis.emergent_minima(model, patterns, layer="visible", max_steps=steps, tol=1e-4, merge=1e-2)
    return found.num_minima, found.num_emergent


def triangle():
    out = {}
    epa = hg.zoo.epanechnikov_memory(TRIANGLE, beta=4.0).compile(key=jax.random.key(0))
    out["epanechnikov_4"] = hg.analysis.emergent_minima(epa, TRIANGLE, layer="visible").num_minima
    for beta in (5.0, 5.7, 7.0):
        lse = hg.zoo.gaussian_memory(TRIANGLE, beta=beta).compile(key=jax.random.key(0))
        out[f"lse_{beta}"] = hg.analysis.emergent_minima(lse, TRIANGLE, layer="visible").num_minima
    return out


def sweep(configs=CONFIGS, betas=BETAS, seed=0, log=print):
    """``{(M, d): {"epanechnikov": [(minima, emergent)…], "lse": […]}}`` over ``betas``."""
    rows = {}
    for M, d in configs:
        rng = np.random.default_rng(seed + 1000 * M + d)
        patterns = rng.normal(size=(M, d)) / math.sqrt(d)
        rows[(M, d)] = {}
        for kind in ("epanechnikov", "lse"):
            t = time.time()
            rows[(M, d)][kind] = [count(kind, patterns, b, seed) for b in betas]
            log(f"M={M:2d} d={d:2d} {kind:12s} minima {[c[0] for c in rows[(M, d)][kind]]} ({time.time() - t:.0f} s)")
    return rows


def plot(rows, betas, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, d in zip(axes, sorted({d for _, d in rows})):
        for (M, dd), r in sorted(rows.items()):
            if dd != d:
                continue
            (line,) = ax.plot(betas, [c[0] / M for c in r["epanechnikov"]], "o-", label=f"Epanechnikov M={M}")
            ax.plot(betas, [c[0] / M for c in r["lse"]], "s--", color=line.get_color(), label=f"log-sum-exp M={M}")
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("β")
        ax.set_title(f"d = {d}")
    axes[0].set_ylabel("minima / stored patterns")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="M = 5 and 15 in d = 8 only")
    p.add_argument("--plot", action="store_true", help="write docs/images/reproduce_epanechnikov.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    tri = triangle()
    print("unit triangle: Epanechnikov β=4 minima", tri["epanechnikov_4"], "(paper: 7)")
    print(
        "unit triangle: log-sum-exp minima at β=5.0, 5.7, 7:",
        tri["lse_5.0"],
        tri["lse_5.7"],
        tri["lse_7.0"],
        "(closed form: 1, 4, 3)",
    )
    configs = CONFIGS[:2] if args.quick else CONFIGS
    rows = sweep(configs, BETAS, args.seed)
    print("\nminima per β", BETAS)
    print("  M  d  energy        minima (emergent)")
    for (M, d), r in rows.items():
        for kind in ("epanechnikov", "lse"):
            cells = " ".join(f"{c[0]:3d}({c[1]:2d})" for c in r[kind])
            print(f"{M:3d} {d:2d}  {kind:12s} {cells}")
    for (M, d), r in rows.items():
        more = [b for b, c in zip(BETAS, r["epanechnikov"]) if c[0] > M]
        extra = [(b, c[0]) for b, c in zip(BETAS, r["lse"]) if c[0] > M]
        print(
            f"M={M} d={d}: Epanechnikov has more minima than patterns at β ∈ {more}; log-sum-exp extra minima: {extra or 'none'}"
        )
    if args.plot:
        path = os.path.join("docs", "images", "reproduce_epanechnikov.png")
        plot(rows, BETAS, path)
        print("wrote", path)


if __name__ == "__main__":
    main()
