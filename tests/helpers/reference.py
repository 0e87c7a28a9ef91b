"""Reference energies for the tests: the compiled model's energy, node by node, in plain JAX.

The library evaluates the energy in grouped form (identical nodes stacked and vmapped); this
is the direct sum over nodes of DESIGN.md §1, read off the model's public fields.
"""

from __future__ import annotations

import jax.numpy as jnp


def node_by_node_energy(model, flat):
    """``Σ_ℓ (⟨g_ℓ, u_ℓ⟩ − L_ℓ(u_ℓ)) − Σ_σ F_σ(g…)`` for one sample's flat state tuple."""
    us = [x if b is None else x - b for x, b in zip(flat, model.biases)]
    gs = [lag.activation(u) for lag, u in zip(model.lagrangians, us)]
    e_layers = sum(jnp.sum(g * u) - lag(u) for lag, u, g in zip(model.lagrangians, us, gs))
    e_synapses = sum(
        model.synapses[p].energy(*[gs[i] for i in idx]) for p, idx in zip(model.edge_params, model.edge_layers)
    )
    return e_layers + e_synapses
