"""User-defined synapses the tests register, as a user of the library would.

``CompatBilinear`` is the custom synapse of the committed compatibility files
(``tests/data/compat``): the files were written with exactly this definition and name, so it
must not change. ``ScaledBilinear`` has a static hyperparameter and a nested Lagrangian, the
two things a file format must carry for a user's type.
"""

from __future__ import annotations

import math

import equinox as eqx
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


@hg.register_synapse
class ScaledBilinear(hg.Synapse):
    """A user-defined synapse (registered) with a hyperparameter and a nested Lagrangian."""

    scale: float = eqx.field(static=True, converter=float, default=1.0)
    squash: hg.Lagrangian = eqx.field(default_factory=hg.LIdentity)
    W: jax.Array | None = None

    def param_shapes(self, shapes):
        return {"W": (math.prod(shapes[0]), math.prod(shapes[1]))}

    def __call__(self, g1, g2):
        return self.scale * self.squash(g1.ravel() @ self.W @ g2.ravel())
