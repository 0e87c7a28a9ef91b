"""Compile a validated plan into a ``CompiledHAM``: create missing parameters, flatten."""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from .model import CompiledHAM
from .validate import Plan

__all__ = ["compile_plan", "node_key"]


def node_key(key: PRNGKeyArray, name: str) -> PRNGKeyArray:
    """The key of node ``name``: depends only on ``key`` and the name, not on graph order."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def compile_plan(plan: Plan, *, key: PRNGKeyArray) -> CompiledHAM:
    """Create every missing parameter and return the flat compiled model.

    Raises:
        ValidationError: if a synapse's parameters cannot be created for its layers.
    """
    owner_names = tuple(dict.fromkeys(plan.owners))
    shape_of = dict(zip(plan.layer_names, (l.shape for l in plan.layers)))
    synapses = []
    for owner in owner_names:
        conn = plan.connections[plan.synapse_names.index(owner)]
        shapes = [shape_of[l] for l in conn]
        synapses.append(plan.specs[owner].init(shapes, key=node_key(key, owner)))
    dtype = jnp.result_type(float)
    return CompiledHAM(
        lagrangians=tuple(l.lagrangian for l in plan.layers),
        biases=tuple(jnp.zeros(l.shape, dtype) if l.use_bias else None for l in plan.layers),
        synapses=tuple(synapses),
        layer_names=plan.layer_names,
        shapes=tuple(l.shape for l in plan.layers),
        taus=tuple(l.tau for l in plan.layers),
        synapse_names=plan.synapse_names,
        edge_params=tuple(owner_names.index(o) for o in plan.owners),
        edge_layers=tuple(tuple(plan.layer_names.index(l) for l in conn) for conn in plan.connections),
        owner_names=owner_names,
    )
