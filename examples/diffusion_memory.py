"""Diffusion as associative memory: K points on the unit circle, sampled by the reverse SDE.

The data are K points ``ξ_μ`` equally spaced on the unit circle. Under the variance-exploding
diffusion ``dx = σ dw`` the density at time ``t`` is the mixture ``p_t(x) = (1/K) Σ_μ N(x; ξ_μ,
σ²t I)``, so ``log p_t = −β_t E(x) + const`` with ``β_t = 1/(σ²t)`` and

    E(x) = −(1/β) log Σ_μ exp(−(β/2)‖x − ξ_μ‖²),

the energy of a ``GaussianMemorySynapse`` at inverse temperature ``β = β_t`` on an identity
layer whose ``½‖x‖²`` is cancelled by a self-synapse ``W = I/2`` (as ``hg.zoo`` does). A
diffusion model with this exact score is an associative memory whose β falls with noise.

The sampler is the reverse SDE ``x ← x + σ²∇log p_t(x)·h + σ√h·ξ`` from ``t_max`` down to
``t_min``: with ``∇log p_t = −β_t ∂E/∂x`` one step is one ``hg.langevin`` step with
``dt = σ²β_t h = h/t`` at temperature ``T = 1/(2β_t)`` (a Langevin step at ``T = 1/β_t`` would
have half the drift for the same noise: annealed Langevin, not the reverse SDE). β changes
per step by the library's recipe for parameter schedules: ``eqx.tree_at`` on the model's
parameter (``with_beta``), which reuses the compiled step.

At the final noise level ``σ²t_min = 1e-4`` the kernel width ``√(σ²t_min) = 0.01``: with K = 2
points the samples collapse onto the stored points (memorisation); with K = 2000 the spacing
``2π/K ≈ 0.003`` is below the kernel width, the memories merge into the circle and the
samples spread uniformly over it (generalisation).

Run: ``python examples/diffusion_memory.py --out docs/images`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import hamux_graph as hg


SIGMA = 1.0
T_MAX = 4.0  # σ²t_max: a broad Gaussian, std 2, around the circle
T_MIN = 1e-4  # σ²t_min: the final noise level, kernel width 0.01


def circle_points(K: int) -> np.ndarray:
    """``K`` points equally spaced on the unit circle, the first at angle 0."""
    angles = 2 * np.pi * np.arange(K) / K
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def memory_model(K: int, beta: float = 1.0) -> hg.CompiledHAM:
    """``E(x) = −(1/β) log Σ_μ exp(−(β/2)‖x − ξ_μ‖²)`` over the ``K`` circle points."""
    ham = hg.HAM()
    ham.add_layer("x", hg.IdentityLayer((2,)))
    ham.add_synapse("cancel", hg.DenseSynapse(W=0.5 * jnp.eye(2)), layers=("x", "x"))  # −½‖x‖²
    memory = hg.GaussianMemorySynapse(K, beta=beta, patterns=jnp.asarray(circle_points(K), jnp.float32))
    ham.add_synapse("memory", memory, layers=("x",))
    return ham.compile(key=jax.random.key(0))


def with_beta(model: hg.CompiledHAM, beta: float) -> hg.CompiledHAM:
    """The model with the memory's β replaced (``eqx.tree_at``: a new model, same compiled code)."""
    return eqx.tree_at(lambda m: m.synapse("memory").beta, model, jnp.asarray(beta, jnp.float32))


def noise_levels(steps: int, t_max: float = T_MAX, t_min: float = T_MIN) -> np.ndarray:
    """``steps + 1`` times from ``t_max`` down to ``t_min``, geometrically spaced (σ = 1)."""
    return t_max * (t_min / t_max) ** (np.arange(steps + 1) / steps)


def sample(model: hg.CompiledHAM, n: int, *, key: jax.Array, steps: int = 200, t_min: float = T_MIN) -> np.ndarray:
    """``n`` samples of the reverse SDE from ``t_max`` to ``t_min``, as ``hg.langevin`` steps."""
    ts = noise_levels(steps, t_min=t_min) / SIGMA**2
    start, key = jax.random.split(key)
    x = SIGMA * np.sqrt(ts[0]) * jax.random.normal(start, (n, 2))
    for i in range(steps):
        t, h = ts[i], ts[i] - ts[i + 1]
        beta = 1.0 / (SIGMA**2 * t)
        # reverse SDE: x + σ²·(−β ∂E/∂x)·h + σ√h·ξ  =  a Langevin step with dt = σ²βh, T = 1/(2β)
        xs, _ = with_beta(model, beta).langevin(
            {"x": x}, steps=1, dt=SIGMA**2 * beta * h, temperature=0.5 / beta, key=jax.random.fold_in(key, i)
        )
        x = xs["x"]
    return np.asarray(x, dtype=np.float64)


def nearest_distance(x: np.ndarray, K: int) -> np.ndarray:
    """Distance from each sample to its nearest stored point."""
    return np.min(np.linalg.norm(x[:, None, :] - circle_points(K)[None], axis=-1), axis=1)


def nearest_arc(x: np.ndarray, K: int) -> np.ndarray:
    """Distance along the unit circle from each sample's angle to the nearest stored point's angle.

    For angles uniform on the circle it is uniform on ``[0, π/K]``: its mean is a quarter of the
    spacing ``2π/K``; for samples on the stored points it is ``≈ 0``. (The Euclidean distance
    would be dominated by the radial noise, of width ``√(σ²t_min)``, once the spacing is below it.)
    """
    spacing = 2 * np.pi / K
    angle = np.mod(np.arctan2(x[:, 1], x[:, 0]), spacing)
    return np.minimum(angle, spacing - angle)


def angle_ks(x: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance of the samples' angles from the uniform law on [0, 2π)."""
    u = np.sort(np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi) / (2 * np.pi))
    n = len(u)
    return float(max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n)))


def closed_form(r: np.ndarray, beta: float) -> np.ndarray:
    """``½(1 + r²) − β⁻¹ log I₀(βr)``, with ``log I₀(z) = log i0e(z) + z`` (no overflow)."""
    from scipy.special import i0e

    z = beta * r
    return 0.5 * (1 + r**2) - (np.log(i0e(z)) + z) / beta


def energy_at(model: hg.CompiledHAM, points: np.ndarray) -> np.ndarray:
    return np.asarray(model.energy({"x": jnp.asarray(points, jnp.float32)}))


def plot_landscape(path: str, K: int = 8) -> None:
    import matplotlib.pyplot as plt

    model = memory_model(K)
    grid = np.linspace(-1.6, 1.6, 161)
    X, Y = np.meshgrid(grid, grid)
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    for ax, t in zip(axes, (1.0, 0.1, 0.02, 0.002)):
        E = energy_at(with_beta(model, 1 / t), pts).reshape(X.shape)
        ax.contourf(X, Y, E - E.min(), levels=30, cmap="viridis")
        ax.scatter(*circle_points(K).T, c="white", s=12)
        ax.set_title(f"σ²t = {t:g} (β = {1 / t:g})")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Energy of the diffusion memory of K = {K} points: one basin, then one per point")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_samples(path: str, few: np.ndarray, many: np.ndarray) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    for ax, x, K, title in ((axes[0], few, 2, "memorisation"), (axes[1], many, 2000, "generalisation")):
        ax.scatter(*circle_points(K).T, s=1 if K > 10 else 40, c="red", marker="x", label="stored points", zorder=1)
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, label="samples", zorder=2)
        ax.set_title(f"K = {K}: {title}")
        ax.set_aspect("equal")
        ax.set_xlim(-1.4, 1.4)
        ax.set_ylim(-1.4, 1.4)
        ax.legend(loc="center", fontsize=8)
    fig.suptitle("Reverse-SDE samples at σ²t_min = 1e-4 (kernel width 0.01)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_transition(path: str, Ks: Sequence[int], ratios: Sequence[float]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(Ks, ratios, "o-", label="samples")
    ax.axhline(0.25, color="gray", ls="--", label="uniform angles: 1/4")
    ax.axvline(2 * np.pi / np.sqrt(T_MIN), color="red", ls=":", label="spacing 2π/K = kernel width √(σ²t)")
    ax.set_xlabel("stored points K")
    ax.set_ylabel("mean arc to the nearest point / (2π/K)")
    ax.set_title("Memorisation to generalisation (σ²t_min = 1e-4)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default=None, help="folder for the plots (none: no plots)")
    parser.add_argument("--quick", action="store_true", help="fewer samples and steps, no transition sweep")
    args = parser.parse_args(argv)
    n, steps = (500, 100) if args.quick else (args.samples, args.steps)
    key = jax.random.key(0)

    r = np.linspace(0.2, 2.0, 50)
    pts = np.stack([r, np.zeros_like(r)], axis=1) @ np.array([[np.cos(0.3), np.sin(0.3)], [-np.sin(0.3), np.cos(0.3)]])
    model = memory_model(2000)
    worst = max(
        float(np.max(np.abs(energy_at(with_beta(model, b), pts) + np.log(2000) / b - closed_form(r, b))))
        for b in (1.0, 10.0, 100.0, 1000.0)
    )
    print(f"closed form: largest |E + log K / β − [½(1 + r²) − log I0(βr)/β]| = {worst:.2e}")

    few = sample(memory_model(2), n, key=jax.random.fold_in(key, 2), steps=steps)
    near = float(np.mean(nearest_distance(few, 2) < 0.05))
    print(f"K = 2: {near:.1%} of samples within 0.05 of a stored point")
    many = sample(model, n, key=jax.random.fold_in(key, 2000), steps=steps)
    radius = np.linalg.norm(many, axis=1)
    on_circle = float(np.mean(np.abs(radius - 1) < 0.05))
    ks = angle_ks(many)
    print(f"K = 2000: {on_circle:.1%} of radii within 1 ± 0.05, angles KS distance {ks:.4f}")
    results = {"closed_form": worst, "k2_near": near, "k2000_on_circle": on_circle, "k2000_angle_ks": ks}

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        plot_landscape(os.path.join(args.out, "diffusion_landscape.png"))
        plot_samples(os.path.join(args.out, "diffusion_samples.png"), few, many)
        if not args.quick:
            Ks = [2, 8, 32, 128, 512, 2048, 8192]
            ratios = []
            for K in Ks:
                x = sample(memory_model(K), 500, key=jax.random.fold_in(key, K), steps=steps)
                ratios.append(float(np.mean(nearest_arc(x, K)) / (2 * np.pi / K)))
                print(f"K = {K}: mean arc to the nearest point / spacing = {ratios[-1]:.3f}")
            plot_transition(os.path.join(args.out, "diffusion_transition.png"), Ks, ratios)
    return results


if __name__ == "__main__":
    main()
