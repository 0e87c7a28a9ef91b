"""examples/retrieval_phase.py: the Amit–Gutfreund–Sompolinsky line and the simulated retrieval phase.

The line is checked against values known independently: ``α_c ≈ 0.138`` at ``T → 0``, and at
``α = 0`` the Curie–Weiss equation ``m = tanh(m/T)`` (root by ``brentq``) with ``T_M(0) = 1``.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from scipy.optimize import brentq


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _example():
    spec = importlib.util.spec_from_file_location(
        "retrieval_phase", os.path.join(ROOT, "examples", "retrieval_phase.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ags_line_has_the_known_end_points():
    example = _example()
    # at T → 0 retrieval ends at α_c ≈ 0.138: a solution with m > 0 just below it, none just above
    assert example.retrieval_overlap(0.135, 0.02) > 0.9
    assert example.retrieval_overlap(0.141, 0.02) == 0.0
    # at α = 0 the equations are Curie–Weiss: m = tanh(m/T), retrieval up to T_M(0) = 1
    root = brentq(lambda m: m - np.tanh(m / 0.5), 1e-6, 1.0)
    assert abs(example.retrieval_overlap(0.0, 0.5) - root) < 1e-4
    assert example.retrieval_overlap(1e-4, 0.9) > 0.3
    assert example.retrieval_overlap(1e-4, 1.1) == 0.0


@pytest.mark.slow
def test_glauber_retrieves_below_the_line_and_not_above():
    example = _example()
    grid = example.simulate(400, [0.02], [0.3, 1.2], sweeps=20, probes=4)
    print(f"overlaps at α = 0.02: T = 0.3 -> {grid[0, 0]:.3f}, T = 1.2 -> {grid[1, 0]:.3f}")
    assert grid[0, 0] > 0.9
    assert abs(grid[1, 0]) < 0.2
