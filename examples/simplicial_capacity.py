"""Capacity of simplicial Hopfield networks against the pairwise one, at the same number of weights.

Burns & Fukai (ICLR 2023) couple ±1 units through simplices (pairs, triangles, …) with
setwise Hebbian weights ``w_σ = (1/N) Σ_μ Π_{i∈σ} ξ^μ_i`` and report that a diluted mixture
of pairs and triangles stores more patterns than the classical network with all
``N(N−1)/2`` pairs, at the same number of weights. Here, at N = 100 (4950 weights each):

- ``pairwise``: every pair (the classical Hopfield network);
- ``mixed``: 2475 random pairs and 2475 random triangles (``hg.memory.random_simplices``).

For each load α = K/N, K random patterns are stored, each is probed with 10 % of its bits
flipped, and recalled by asynchronous flips (``hg.memory.recall_binary_simplicial``); the
curve is the mean final overlap ``(1/N) ξ·s`` over patterns and trials. The figure is
``docs/images/simplicial_capacity.png``.

Run:  python examples/simplicial_capacity.py [--trials 3] [--out docs/images]
Needs matplotlib (the ``draw`` extra) for the figure.
"""

from __future__ import annotations

import argparse
import itertools
import os

import jax
import numpy as np

import hamux_graph as hg


LOADS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


def networks(N, key):
    pairs = tuple(itertools.combinations(range(N), 2))
    half = len(pairs) // 2
    mixed = hg.memory.random_simplices(N, counts={2: half, 3: len(pairs) - half}, key=key)
    return {"pairwise": pairs, "mixed": mixed}


def overlap(simplices, N, K, key):
    k_pat, k_flip, k_rec = jax.random.split(key, 3)
    patterns = np.asarray(hg.memory.random_patterns(K, N, key=k_pat))
    probes = hg.memory.corrupt(patterns, 0.1, key=k_flip)
    w = hg.memory.simplicial(patterns, simplices)
    out = hg.memory.recall_binary_simplicial(w, simplices, probes, key=k_rec, max_sweeps=30)
    return float(np.mean(np.sum(np.asarray(out.states) * patterns, axis=1) / N))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=100)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--loads", type=float, nargs="*", default=list(LOADS))
    parser.add_argument("--out", default=None, help="folder for simplicial_capacity.png (none: no figure)")
    args = parser.parse_args(argv)
    curves: dict[str, list[float]] = {}
    for trial in range(args.trials):
        nets = networks(args.N, jax.random.key(1000 + trial))
        for name, simplices in nets.items():
            row = [
                overlap(simplices, args.N, max(1, round(a * args.N)), jax.random.key(trial * 100 + i))
                for i, a in enumerate(args.loads)
            ]
            curves.setdefault(name, [0.0] * len(row))
            curves[name] = [c + r / args.trials for c, r in zip(curves[name], row)]
    print(f"N = {args.N}, {len(networks(args.N, jax.random.key(0))['pairwise'])} weights each, 10 % flips")
    print("alpha     " + "  ".join(f"{a:5.2f}" for a in args.loads))
    for name, row in curves.items():
        print(f"{name:9s} " + "  ".join(f"{v:5.3f}" for v in row))
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(args.out, exist_ok=True)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for name, row in curves.items():
            label = "pairwise (all pairs)" if name == "pairwise" else "mixed (½ pairs, ½ triangles)"
            ax.plot(args.loads, row, "o-", label=label)
        ax.set(xlabel="load α = K/N", ylabel="mean final overlap", title=f"N = {args.N}, same number of weights")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "simplicial_capacity.png"), dpi=120)
        plt.close(fig)
    return curves


if __name__ == "__main__":
    main()
