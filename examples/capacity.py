"""The classical capacity results of binary Hopfield networks, measured with hg.analysis.

1. Capacity curves (``capacity.png``): K random ±1 patterns of N = 500 neurons stored with
   Hebb's rule, Storkey's rule and the pseudo-inverse (projection) rule; each pattern is
   probed with 10 % of its bits flipped and recalled by asynchronous sign updates. Hebb's
   final overlap collapses near α = K/N ≈ 0.138 (Amit, Gutfreund & Sompolinsky 1985);
   Storkey's rule holds to about twice that, the projection rule further still.
2. Dense binary memory (``dense.png``): the Krotov–Hopfield energy ``−Σ_μ (ξ_μ·σ)³`` at
   N = 100 stores several times N patterns, where Hebb stores none.
3. Basins of attraction (``basins.png``): retrieval against the fraction of flipped bits
   for Hebb's rule at several loads; the radius shrinks as the load approaches α_c.
4. Attractor census (``census.png``): a Hebbian memory at α = 0.02 relaxed from random
   starts and from the symmetric mixtures sign(ξ_a + ξ_b + ξ_c): stored patterns, their
   negatives and symmetric 3-pattern mixtures (overlaps ½), which are stable at this load.

Runs in well under a minute on two CPU cores (most of it compiling for each pattern count).

Run:  python examples/capacity.py [--out out/capacity] [--N 500] [--trials 2]
Needs matplotlib (the ``draw`` extra: pip install hamux_graph[draw]); tqdm for progress bars.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import jax
import numpy as np

import hamux_graph as hg


LOADS = [0.05, 0.1, 0.125, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6]
RULES = ("hebbian", "storkey", "pseudo_inverse")


def table(title, curve):
    print(f"\n{title}")
    print("  alpha    K   overlap (± sd)    exact (± sd)")
    for a, k, m, ms, e, es in zip(*(np.asarray(x) for x in curve[:6])):
        print(f"  {a:5.3f} {k:4d}   {m:6.3f} ± {ms:5.3f}    {e:5.2f} ± {es:4.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--N", type=int, default=500, help="neurons of the capacity curves")
    p.add_argument("--trials", type=int, default=2, help="pattern sets per load")
    p.add_argument("--probes", type=int, default=100, help="probes per trial (at most)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("out", "capacity"))
    args = p.parse_args(argv)
    try:
        import matplotlib
    except ImportError as err:
        raise SystemExit("this example needs matplotlib: pip install hamux_graph[draw]") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    key = jax.random.key(args.seed)
    t0 = time.perf_counter()
    common = dict(trials=args.trials, max_probes=args.probes, progress=True)

    # 1. capacity curves of the three storage rules
    curves = {}
    for i, rule in enumerate(RULES):
        curves[rule] = hg.analysis.capacity_curve(
            rule, args.N, LOADS, corruption=0.1, key=jax.random.fold_in(key, i), **common
        )
        table(f"{rule}, N = {args.N}, 10 % of bits flipped", curves[rule])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule in RULES:
        hg.analysis.plot_capacity(curves[rule], ax=ax, label=rule, alpha_c=None)
    ax.axvline(hg.analysis.ALPHA_C, color="0.3", lw=1, ls=":", label="α_c ≈ 0.138")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "capacity.png"), dpi=110)
    plt.close(fig)

    # 2. dense binary memory (polynomial n = 3) against Hebb, N = 100, K up to 8N
    dense_loads = [1, 2, 3, 4, 6]
    k_dense = jax.random.fold_in(key, 10)
    dense = hg.analysis.capacity_curve(
        hg.memory.Polynomial(n=3), 100, dense_loads, corruption=0.1, key=k_dense, **common
    )
    hebb = hg.analysis.capacity_curve("hebbian", 100, dense_loads, corruption=0.1, key=k_dense, **common)
    print(f"\n[{time.perf_counter() - t0:.0f} s]")
    table("dense binary memory F(m) = m^3, N = 100", dense)
    table("Hebbian, N = 100, same loads", hebb)
    fig, ax = plt.subplots(figsize=(6, 4))
    hg.analysis.plot_capacity(dense, ax=ax, label="dense n=3", alpha_c=None)
    hg.analysis.plot_capacity(hebb, ax=ax, label="Hebb", alpha_c=None)
    ax.set_xscale("log")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "dense.png"), dpi=110)
    plt.close(fig)

    print(f"\n[{time.perf_counter() - t0:.0f} s]")
    # 3. basins of attraction (Hebb), exact retrieval against the fraction of flipped bits
    fig, ax = plt.subplots(figsize=(6, 4))
    levels = np.round(np.arange(0.0, 0.51, 0.05), 2)
    print("\nbasin radius (>= 90 % of probes retrieved with final overlap >= 0.95), Hebbian, N =", args.N)
    for j, load in enumerate((0.02, 0.06, 0.1, 0.13)):
        b = hg.analysis.basin_radius(
            "hebbian", args.N, load, corruptions=levels, min_overlap=0.95, key=jax.random.fold_in(key, 20 + j), **common
        )
        print(f"  alpha {load:4.2f}: radius {b.radius}")
        hg.analysis.plot_basin(b, ax=ax, label=f"α = {load}")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "basins.png"), dpi=110)
    plt.close(fig)

    print(f"\n[{time.perf_counter() - t0:.0f} s]")
    # 4. attractor census of a Hebbian memory at alpha = 0.02
    N = 500
    P = np.asarray(hg.memory.random_patterns(10, N, key=jax.random.fold_in(key, 30)))
    W = hg.memory.hebbian(P)
    mixes = np.stack([np.sign(P[a] + P[b] + P[c]) for a, b, c in itertools.combinations(range(10), 3)])
    randoms = np.asarray(hg.memory.random_patterns(200, N, key=jax.random.fold_in(key, 31)))
    census = hg.analysis.attractor_census(
        W, np.concatenate([randoms, mixes]), patterns=P, key=jax.random.fold_in(key, 32)
    )
    print(
        f"\ncensus, Hebbian N = {N}, K = 10 (alpha = 0.02), {len(randoms)} random starts and "
        f"{len(mixes)} 3-mixtures: {len(census.kinds)} distinct attractors"
    )
    print(f"  starts ending in a stored pattern (or its negative): {census.total('pattern')}")
    for k in sorted({int(s) for s, kind in zip(np.asarray(census.sizes), census.kinds) if kind == "mixture"}):
        found = census.select("mixture", k)
        m = np.abs(np.asarray(census.overlaps)[found])
        top = np.sort(m, axis=1)[:, ::-1][:, :k]
        print(
            f"  {k}-mixtures: {len(found)} distinct, {census.total('mixture', k)} starts, mean overlaps "
            f"{np.round(top.mean(0), 3).tolist()}"
        )
    print(f"  other (spin-glass-like / asymmetric): {census.total('other')} starts")
    ax = hg.analysis.plot_census(census, top=30)
    ax.figure.set_size_inches(9, 4)
    ax.figure.tight_layout()
    ax.figure.savefig(os.path.join(args.out, "census.png"), dpi=110)
    plt.close(ax.figure)

    print(f"\nfigures written to {args.out}/ in {time.perf_counter() - t0:.1f} s")
    return curves


if __name__ == "__main__":
    main()
