"""Compile a validated plan into the fields of an energy core, and back.

``compile_fields(plan, key=...)`` creates every missing parameter (a node's draw depends
only on the key and the node's name) and returns the keyword arguments of the compiled
model: flat tuples of Lagrangians, biases and parameter-owning synapses, and the static
structure (names, shapes, τ, which layers each hyperedge connects). ``plan_of(core)`` is
the inverse: the plan of a compiled model, with its current parameters and Lagrangian
scalars, in its node order, without validating again.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from .._errors import ArgumentError, ValidationError
from .._internal.limits import device_memory_bytes
from ..layers import Layer
from .validate import Plan


__all__ = ["compile_fields", "node_key", "plan_of", "check_key", "check_parameter_memory", "device_memory_bytes"]


def node_key(key: PRNGKeyArray, name: str) -> PRNGKeyArray:
    """The key of node ``name``: depends only on ``key`` and the name, not on graph order."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def check_key(key: Any, where: str) -> PRNGKeyArray:
    """``key`` if it is one PRNG key (``jax.random.key(0)``).

    Raises:
        ArgumentError: for anything else (an int seed, a batch of keys, ...).
    """
    ok = isinstance(key, jax.Array) and (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        and key.shape == ()
        or key.dtype == jnp.uint32
        and key.shape == (2,)
    )
    if not ok:
        got = (
            type(key).__name__
            if not isinstance(key, jax.Array)
            else f"an array of shape {key.shape}, dtype {key.dtype}"
        )
        raise ArgumentError(f"{where}: key must be one PRNG key such as jax.random.key(0), got {got}.")
    return key


def _nbytes(shape: Any, itemsize: int) -> int:
    if isinstance(shape, list):  # a list-valued parameter: one shape per array
        return sum(_nbytes(s, itemsize) for s in shape)
    return math.prod(int(d) for d in shape) * itemsize


def check_parameter_memory(plan: Plan, max_param_bytes: int | None = None, devices: int = 1) -> int:
    """The bytes the compiled parameters of ``plan`` will take; refuse more than the limit.

    The limit is ``max_param_bytes``, or by default the default device's memory (the host's
    physical memory on CPU) times ``devices`` (the size of the mesh the parameters are
    spread over): a model that cannot be allocated is refused before anything is
    allocated, instead of failing (or aborting the process) later.

    Raises:
        ValidationError: naming the bytes needed, the largest synapses and how to override.
    """
    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    per_node = {name: sum(_nbytes(s, itemsize) for s in shapes.values()) for name, shapes in plan.param_shapes.items()}
    for name, layer in zip(plan.layer_names, plan.layers):
        if layer.use_bias:
            per_node[name] = per_node.get(name, 0) + math.prod(layer.shape) * itemsize
    total = sum(per_node.values())
    limit = device_memory_bytes() * devices if max_param_bytes is None else max_param_bytes
    if total > limit:
        worst = sorted(per_node.items(), key=lambda kv: -kv[1])[:3]
        which = ", ".join(f"'{n}' {b / 2**30:,.1f} GiB" for n, b in worst)
        raise ValidationError(
            f"the model's parameters need {total:,} bytes ({total / 2**30:,.1f} GiB), more than the limit of "
            f"{limit:,} bytes ({'this device' if max_param_bytes is None else 'max_param_bytes'}); largest: "
            f"{which}. Use smaller layers or fewer hidden units, or pass compile(..., max_param_bytes=N) to "
            "raise the limit if the memory is really there."
        )
    return total


def compile_fields(
    plan: Plan, *, key: PRNGKeyArray, max_param_bytes: int | None = None, devices: int = 1
) -> dict[str, Any]:
    """The fields of the compiled model of ``plan``, with every missing parameter created.

    The memory check runs first, on shapes alone: traced abstractly (as
    ``HAM.compile(mesh=...)`` does to find the layout), a model that does not fit is refused
    before anything is allocated.

    Raises:
        ValidationError: if a synapse's parameters cannot be created for its layers, or need
            more memory than ``max_param_bytes`` (default: the memory of ``devices`` devices).
    """
    check_parameter_memory(plan, max_param_bytes, devices)
    owner_names = tuple(dict.fromkeys(plan.owners))
    shape_of = dict(zip(plan.layer_names, (l.shape for l in plan.layers)))
    synapses = []
    for owner in owner_names:
        conn = plan.connections[plan.synapse_names.index(owner)]
        shapes = [shape_of[l] for l in conn]
        synapses.append(plan.specs[owner].init(shapes, key=node_key(key, owner)))
    dtype = jnp.result_type(float)
    return dict(
        lagrangians=tuple(l.lagrangian for l in plan.layers),
        biases=tuple(jnp.zeros(l.shape, dtype) if l.use_bias else None for l in plan.layers),
        synapses=tuple(synapses),
        layer_names=plan.layer_names,
        shapes=tuple(l.shape for l in plan.layers),
        taus=tuple(l.tau for l in plan.layers),
        layer_energies=tuple(l.layer_energy for l in plan.layers),
        synapse_names=plan.synapse_names,
        edge_params=tuple(owner_names.index(o) for o in plan.owners),
        edge_layers=tuple(tuple(plan.layer_names.index(l) for l in conn) for conn in plan.connections),
        owner_names=owner_names,
    )


def plan_of(core: Any) -> Plan:
    """The plan of a compiled model (its fields as ``compile_fields`` made them).

    Synapses carry the model's parameters and Lagrangians their current scalars; biases
    are not part of a plan (a layer only records ``use_bias``).
    """
    layers = tuple(
        Layer(lag, shape=s, tau=tau, use_bias=b is not None, layer_energy=le)
        for lag, s, tau, b, le in zip(core.lagrangians, core.shapes, core.taus, core.biases, core.layer_energies)
    )
    owners = tuple(core.owner_names[p] for p in core.edge_params)
    specs = dict(zip(core.owner_names, core.synapses))
    param_shapes = {
        name: {p: jax.tree.map(jnp.shape, getattr(syn, p)) for p in syn.param_names()} for name, syn in specs.items()
    }
    return Plan(
        layer_names=tuple(core.layer_names),
        layers=layers,
        synapse_names=tuple(core.synapse_names),
        connections=tuple(tuple(core.layer_names[i] for i in idx) for idx in core.edge_layers),
        owners=owners,
        specs=specs,
        param_shapes=param_shapes,
    )
