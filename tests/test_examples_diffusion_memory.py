"""examples/diffusion_memory.py: the diffusion memory's energy in closed form, memorisation and generalisation.

The energy of K equally spaced points on the unit circle is checked against the Bessel closed
form ``½(1 + r²) − β⁻¹ log I₀(βr)`` (minus ``β⁻¹ log K``), written here with ``scipy.special.i0e``;
samples of the reverse SDE against the stored points (K = 2) and the uniform law on the circle
(K = 2000).
"""

from __future__ import annotations

import importlib.util
import os

import jax
import numpy as np
import pytest
from scipy.special import i0e


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location(
        "diffusion_memory", os.path.join(ROOT, "examples", "diffusion_memory.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_energy_is_the_bessel_closed_form(example):
    K = 2000
    model = example.memory_model(K)
    r = np.linspace(0.2, 2.0, 46)
    for angle in (0.0, 0.3):  # on a stored point's ray, and between rays
        pts = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
        for beta in (1.0, 10.0, 100.0, 1000.0):
            E = np.asarray(example.with_beta(model, beta).energy({"x": pts.astype(np.float32)}), dtype=np.float64)
            z = beta * r
            closed = 0.5 * (1 + r**2) - (np.log(i0e(z)) + z) / beta  # log I0(z) = log i0e(z) + z
            err = np.max(np.abs(E + np.log(K) / beta - closed))
            print(f"beta={beta:g}, angle={angle}: largest error {err:.2e}")
            assert err <= 1e-5


def test_two_points_are_memorised(example):
    x = example.sample(example.memory_model(2), 1000, key=jax.random.key(1), steps=60)
    near = np.mean(example.nearest_distance(x, 2) < 0.05)
    print(f"K = 2: {near:.2%} within 0.05 of a stored point")
    assert near >= 0.99
    assert abs(np.mean(x[:, 0] > 0) - 0.5) < 0.05  # both memories are reached


def check_generalisation(example, steps):
    K = 2000
    x = example.sample(example.memory_model(K), 2000, key=jax.random.key(2), steps=steps)
    radius = np.linalg.norm(x, axis=1)
    on_circle = np.mean(np.abs(radius - 1) < 0.05)
    ks = example.angle_ks(x)
    ratio = np.mean(example.nearest_arc(x, K)) / (2 * np.pi / K)
    print(f"K = 2000, {steps} steps: {on_circle:.2%} radii in 1 ± 0.05, angle KS {ks:.4f}, arc ratio {ratio:.3f}")
    assert on_circle >= 0.99
    assert ks <= 0.05
    assert abs(ratio - 0.25) < 0.02  # uniform angles: a quarter of the spacing


def test_two_thousand_points_generalise_to_the_circle(example):
    check_generalisation(example, 40)


@pytest.mark.slow
def test_two_thousand_points_generalise_to_the_circle_fine_steps(example):
    check_generalisation(example, 200)
