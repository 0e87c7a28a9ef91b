"""A user-defined synapse used by the committed compatibility files (tests/data/compat).

Registered under the type name ``CompatBilinear``; the files were written with exactly this
definition, so it must not change.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

import hamux_graph as hg


@hg.register_synapse(name="CompatBilinear")
class CompatBilinear(hg.Synapse):
    """``F(g₁, g₂) = scale · tanh(g₁ᵀ W g₂)`` on flattened activations."""

    W: jax.Array | None = None
    scale: float = 1.0

    def param_shapes(self, shapes):
        return {"W": (math.prod(shapes[0]), math.prod(shapes[1]))}

    def __call__(self, g1, g2):
        return self.scale * jnp.tanh(g1.ravel() @ self.W @ g2.ravel())
