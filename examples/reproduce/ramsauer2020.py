"""Ramsauer et al. (2020), "Hopfield Networks is All You Need": one-update retrieval of images.

Published claims: the continuous modern Hopfield update ``x ← Ξ softmax(β Ξᵀ x)`` retrieves a
stored image from a half-masked query in one update; at large β (their β = 8) it reaches the
stored image, at small β (their β = 0.5) a metastable state mixing several images; and
"saddle points were never encountered".

Setting (ours): 24 faces of scikit-image's ``lfw_subset`` (25 × 25 grey images, the first 24),
each flattened to N = 625 pixels, standardised per image (zero mean, unit variance) and
divided by N^(1/4): then ``β ξᵀx`` is ``β`` times the overlap of standardised images over √N,
the 1/√d scaling of attention that Ramsauer et al. identify with β. (The paper does not state
its image normalisation; this is ours.) A query is a stored image with its lower half set to 0
(the standardised mean). The memory is ``hg.zoo.modern_hopfield(patterns, beta=β)``:

- one update is one Euler step of dt = 1 on the visible layer with the memories layer at
  ``Ξᵀx`` (``∂E/∂g_visible = x − Ξ softmax(βh)``), which is exactly the update above;
- the fixed point is ``model.relax`` from there; "converges in one update" means the one-update
  state already is that fixed point (distance printed);
- ``hg.analysis.stability`` classifies every fixed point reached (the softmax layer's all-ones
  direction projected out). At large β the softmax saturates and the memories block of the
  Hessian, ``β(diag g − ggᵀ)``, is singular to float32 precision, so the full (visible +
  memories) Hessian reads "flat" there; the kinds are therefore also taken for the energy with
  the memories layer eliminated, ``E(x) = ½‖x‖² − β⁻¹ log Σ_μ exp(β ξ_μᵀx)`` (the zoo's
  ``gaussian_memory``: equal pattern norms make the two energies equal), whose Hessian is
  ``I − β Ξ Cov_p Ξᵀ``.

Reported per β: mean and smallest cosine overlap of the one-update state with the query's own
image, the mean top softmax weight, and how many of the 24 fixed points are saddles (full and
reduced energy) with the kinds found.

Run:  python examples/reproduce/ramsauer2020.py [--betas 0.25 0.5 1 2 4 8 16]
Needs scikit-image (``skimage.data.lfw_subset``).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import hamux_graph as hg


PUBLISHED = {"large_beta": 8.0, "small_beta": 0.5}
BETAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def faces(count=24):
    try:
        from skimage.data import lfw_subset
    except ImportError as err:
        raise SystemExit("this script needs scikit-image: pip install scikit-image") from err
    X = lfw_subset()[:count].reshape(count, -1).astype(np.float64)
    Z = (X - X.mean(1, keepdims=True)) / X.std(1, keepdims=True)
    return (Z / Z.shape[1] ** 0.25).astype(np.float32)


def retrieve(P, beta, seed=0):
    """One-update states, fixed points and their stability for half-masked queries of ``P``."""
    K, N = P.shape
    model = hg.zoo.modern_hopfield(P, beta=beta).compile(key=jax.random.key(seed))
    queries = P.copy()
    queries[:, N // 2 :] = 0.0
    W = jnp.asarray(P.T)
    xs = {"visible": jnp.asarray(queries), "memories": jnp.asarray(queries) @ W}
    one = model.step(xs, dt=1.0, clamp=("memories",))["visible"]
    weights = jax.nn.softmax(beta * jnp.asarray(queries) @ W, axis=1)
    start = {"visible": one, "memories": one @ W}
    fixed = model.relax(start, dt=0.05, max_steps=20000, tol=1e-5).states
    stab = hg.analysis.stability(model, fixed)
    # the same energy with the memories layer eliminated: E(x) = ½‖x‖² − β⁻¹ lse(βΞᵀx), which is
    # the zoo's Gaussian memory for patterns of equal norm (ours: ‖ξ‖² = √N for every image)
    reduced = hg.zoo.gaussian_memory(P, beta=beta).compile(key=jax.random.key(seed))
    stab_visible = hg.analysis.stability(reduced, {"visible": fixed["visible"]})
    x1, xf = np.asarray(one), np.asarray(fixed["visible"])
    cos = (x1 * P).sum(1) / np.linalg.norm(x1, axis=1) / np.linalg.norm(P, axis=1)
    return {
        "overlap_mean": float(cos.mean()),
        "overlap_min": float(cos.min()),
        "top_weight_mean": float(jnp.max(weights, axis=1).mean()),
        "top_weight_max": float(jnp.max(weights, axis=1).max()),
        "to_fixed_point": float(np.max(np.linalg.norm(x1 - xf, axis=1) / np.linalg.norm(xf, axis=1))),
        "saddles": sum(k == "saddle" for k in stab.kind),
        "kinds": sorted(set(stab.kind)),
        "saddles_visible": sum(k == "saddle" for k in stab_visible.kind),
        "kinds_visible": sorted(set(stab_visible.kind)),
        "lowest_visible": float(np.min(np.asarray(stab_visible.eigenvalues)[:, 0])),
        "invariant": stab.invariant,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", type=float, nargs="+", default=list(BETAS))
    args = p.parse_args(argv)
    P = faces()
    print("   β   overlap mean (min)   top weight mean (max)   ‖x₁ − x*‖/‖x*‖   saddles   kinds (full; visible only)")
    rows = {}
    for beta in args.betas:
        r = retrieve(P, beta)
        rows[beta] = r
        print(
            f"{beta:5.2f}   {r['overlap_mean']:.4f} ({r['overlap_min']:.4f})      {r['top_weight_mean']:.3f} "
            f"({r['top_weight_max']:.3f})          {r['to_fixed_point']:.1e}        {r['saddles']:2d}   {r['kinds']}; "
            f"{r['kinds_visible']} (lowest eigenvalue {r['lowest_visible']:.3f})"
        )
    for beta, claim in ((8.0, "retrieval, overlap ≥ 0.99"), (0.5, "metastable, top weight ≤ 0.5")):
        if beta in rows:
            r = rows[beta]
            print(
                f"paper β = {beta} ({claim}): ours overlap {r['overlap_mean']:.4f}, top weight {r['top_weight_mean']:.3f}"
            )


if __name__ == "__main__":
    main()
