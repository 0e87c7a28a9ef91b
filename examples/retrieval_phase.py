"""The retrieval phase of the Hebbian Hopfield network in load α = K/N and temperature T.

Glauber dynamics (``hg.analysis.overlap_trace``) start in a stored pattern; the overlap with it
after the sweeps is large inside the retrieval region and small outside. The boundary is the
line ``T_M(α)`` of Amit, Gutfreund & Sompolinsky (1987), computed here from their replica-
symmetric equations (``Dz`` the standard Gaussian measure, ``β = 1/T``)::

    m = ∫Dz tanh(β(m + √(αr) z)),   q = ∫Dz tanh²(β(m + √(αr) z)),   r = q / (1 − β(1 − q))²,

``T_M(α)`` being the highest temperature at which a solution with ``m > 0`` exists: from
``T = 1`` at ``α = 0`` down to ``α ≈ 0.138`` at ``T = 0``.

Run: ``python examples/retrieval_phase.py --out docs/images`` (``--quick`` for a small grid).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import jax
import numpy as np

import hamux_graph as hg


# ∫Dz f(z) ≈ Σ w f(z) on a fine uniform grid (Gauss–Hermite nodes miss the steep tanh at low T)
NODES = np.linspace(-8.0, 8.0, 4001)
WEIGHTS = np.exp(-0.5 * NODES**2)
WEIGHTS = WEIGHTS / WEIGHTS.sum()


def retrieval_overlap(alpha: float, T: float, iterations: int = 3000) -> float:
    """The AGS retrieval overlap ``m`` at ``(α, T)`` (0 where no retrieval solution exists)."""
    beta = 1.0 / T
    m, q = 1.0, 1.0
    for _ in range(iterations):
        r = q / max(1.0 - beta * (1.0 - q), 1e-9) ** 2
        h = np.tanh(beta * (m + np.sqrt(alpha * r) * NODES))
        m_new, q_new = float(WEIGHTS @ h), float(WEIGHTS @ h**2)
        if abs(m_new - m) < 1e-10 and abs(q_new - q) < 1e-10:
            break
        m, q = 0.5 * (m + m_new), 0.5 * (q + q_new)
    return m if m > 1e-3 else 0.0


def ags_line(temperatures: np.ndarray) -> np.ndarray:
    """``α_M(T)``: the largest load with a retrieval solution, by bisection, per temperature."""
    out = []
    for T in temperatures:
        lo, hi = 0.0, 0.2
        if retrieval_overlap(1e-6, T) == 0.0:
            out.append(0.0)
            continue
        for _ in range(24):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if retrieval_overlap(mid, T) > 0 else (lo, mid)
        out.append(lo)
    return np.asarray(out)


def simulate(N: int, alphas: Sequence[float], temperatures: Sequence[float], sweeps: int, probes: int) -> np.ndarray:
    """Mean overlap with the first stored pattern after ``sweeps`` Glauber sweeps, on the grid."""
    rng = np.random.default_rng(0)
    out = np.zeros((len(temperatures), len(alphas)))
    for j, alpha in enumerate(alphas):
        K = max(1, int(round(alpha * N)))
        xi = np.sign(rng.normal(size=(K, N)))
        W = hg.memory.hebbian(xi)
        for i, T in enumerate(temperatures):
            m = hg.analysis.overlap_trace(
                W, np.repeat(xi[:1], probes, axis=0), xi[:1], temperature=T, sweeps=sweeps, key=jax.random.key(i)
            )
            out[i, j] = float(np.asarray(m)[sweeps // 2 :].mean())
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for retrieval_phase.png")
    parser.add_argument("--quick", action="store_true", help="a small grid")
    args = parser.parse_args(argv)
    N, sweeps = (200, 10) if args.quick else (1000, 30)
    alphas = np.linspace(0.0, 0.2, 5 if args.quick else 11)
    temperatures = np.linspace(0.05, 1.2, 4 if args.quick else 13)
    line_T = np.linspace(0.02, 0.99, 8 if args.quick else 25)
    line_alpha = ags_line(line_T)
    print(f"AGS: α_M(T = {line_T[0]:.2f}) = {line_alpha[0]:.3f}; T_M(α → 0) = 1")
    grid = simulate(N, alphas, temperatures, sweeps, probes=4)
    if args.out:
        import matplotlib.pyplot as plt

        os.makedirs(args.out, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6.6, 4.5))
        da, dT = alphas[1] - alphas[0], temperatures[1] - temperatures[0]
        extent = (alphas[0] - da / 2, alphas[-1] + da / 2, temperatures[0] - dT / 2, temperatures[-1] + dT / 2)
        im = ax.imshow(grid, origin="lower", aspect="auto", extent=extent, vmin=0, vmax=1, cmap="magma")
        order = np.argsort(line_T)[::-1]
        ax.plot(
            np.concatenate([[0.0], line_alpha[order]]),
            np.concatenate([[1.0], line_T[order]]),
            "c-",
            lw=2,
            label="AGS T_M(α)",
        )
        ax.set_xlabel("load α = K/N")
        ax.set_ylabel("temperature T")
        ax.set_title(f"Overlap with a stored pattern after {sweeps} Glauber sweeps (N = {N})", fontsize=9)
        ax.legend(loc="upper right")
        fig.colorbar(im, ax=ax, label="overlap m")
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "retrieval_phase.png"), dpi=90)
        plt.close(fig)
    return {"alpha_c_low_T": float(line_alpha[0])}


if __name__ == "__main__":
    main()
