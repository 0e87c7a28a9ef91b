"""Where a compiled model's arrays live on a device mesh: the model-parallel split.

A mesh may have a data axis (``"data"``, or ``"batch"`` for ``parallel.batch_mesh``) and a
model axis ``"model"``. Batched states are split along their leading axis over the data
axis. Each synapse type names, per parameter, the axes model parallelism may split
(``Synapse.shard_axes``); a parameter is split over ``"model"`` along the first of them
whose size the model axis divides, and replicated otherwise (as are layer biases,
Lagrangian scalars and every parameter of a synapse that names none). The layers a split
axis belongs to (``Synapse.memory_axes``: the memories layer of a dense memory) have their
states and bias split the same way.

The split is a pure function of the model's structure and shapes (never of values), so
it is the same concrete or traced: ``HAM.compile(..., mesh=...)`` uses it as the
``out_shardings`` of the jitted initialiser, ``parallel.shard_model`` to place an existing
model, and the training step to constrain its inputs and outputs.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._errors import ArgumentError


__all__ = [
    "init_sharded",
    "MODEL",
    "DATA_AXES",
    "check_mesh",
    "axis_size",
    "model_size",
    "data_axis",
    "is_arraylike",
    "split_axes",
    "parameter_specs",
    "parameter_shardings",
    "state_specs",
]

MODEL = "model"
DATA_AXES = ("data", "batch")


def check_mesh(mesh: Any, where: str) -> Mesh:
    """``mesh`` if it is a ``jax.sharding.Mesh``.

    Raises:
        ArgumentError: for anything else, naming ``where``.
    """
    if not isinstance(mesh, Mesh):
        raise ArgumentError(
            f"{where}: mesh must be a jax.sharding.Mesh (hg.parallel.make_mesh(data=..., model=...) or "
            f"hg.parallel.batch_mesh()), got {type(mesh).__name__}."
        )
    return mesh


def axis_size(mesh: Mesh, name: str) -> int:
    """The size of mesh axis ``name`` (1 when the mesh has no such axis)."""
    return int(dict(mesh.shape).get(name, 1))


def model_size(mesh: Mesh) -> int | None:
    """The size of the mesh's ``"model"`` axis, or ``None`` when it has none (all replicated)."""
    return axis_size(mesh, MODEL) if MODEL in mesh.axis_names else None


def data_axis(mesh: Mesh) -> str | None:
    """The name of the mesh's data axis (``"data"`` or ``"batch"``), or ``None``."""
    return next((a for a in DATA_AXES if a in mesh.axis_names), None)


def is_arraylike(x: Any) -> bool:
    """An array leaf: a ``jax.Array`` (or tracer), a numpy array, or an abstract ``ShapeDtypeStruct``."""
    return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def _owner_shapes(core: Any, owner: int) -> tuple[tuple[int, ...], ...]:
    edge = core.edge_params.index(owner)
    return tuple(tuple(core.shapes[i]) for i in core.edge_layers[edge])


def split_axes(core: Any, n: int | None) -> tuple[list[dict[str, int | None]], list[int | None]]:
    """The split axis of every synapse parameter and of every layer, for a model axis of size ``n``.

    ``n=None`` (a mesh without a model axis) splits nothing. A model axis of size 1 names
    the same axes as a larger one would (splitting them into one piece).

    Returns:
        ``(per owner synapse {parameter: axis or None}, per layer axis or None)``.
    """
    chosen: list[dict[str, int | None]] = []
    layer_axes: list[int | None] = [None] * len(core.layer_names)
    for owner, syn in enumerate(core.synapses):
        shapes = _owner_shapes(core, owner)
        picks: dict[str, int | None] = {}
        for name, axes in syn.shard_axes(shapes).items():
            value = getattr(syn, name)
            arrays = list(value) if isinstance(value, (tuple, list)) else [value]
            pick = None
            if n is not None and arrays and all(is_arraylike(a) for a in arrays):
                pick = next((a for a in axes if all(len(x.shape) > a and x.shape[a] % n == 0 for x in arrays)), None)
            picks[name] = pick
            if pick is None:
                continue
            edge = core.edge_params.index(owner)
            for slot, ax in syn.memory_axes(shapes, name, pick).items():
                layer = core.edge_layers[edge][slot]
                if layer_axes[layer] is None and core.shapes[layer][ax] % n == 0:
                    layer_axes[layer] = ax
        chosen.append(picks)
    return chosen, layer_axes


def _split(ndim: int, axis: int | None) -> PartitionSpec:
    if axis is None:
        return PartitionSpec()
    parts: list[str | None] = [None] * ndim
    parts[axis] = MODEL
    return PartitionSpec(*parts)


def parameter_specs(core: Any, n: int | None) -> Any:
    """A pytree like ``core`` with a ``PartitionSpec`` at every array leaf (``None`` elsewhere)."""
    chosen, layer_axes = split_axes(core, n)
    specs = jax.tree.map(lambda x: PartitionSpec() if is_arraylike(x) else None, core)
    where, values = [], []
    for owner, picks in enumerate(chosen):
        syn = core.synapses[owner]
        for name, axis in picks.items():
            if axis is None:
                continue
            value = getattr(syn, name)
            where.append(lambda t, o=owner, f=name: getattr(t.synapses[o], f))
            if isinstance(value, (tuple, list)):
                values.append(type(value)(_split(len(a.shape), axis) for a in value))
            else:
                values.append(_split(len(value.shape), axis))
    for layer, axis in enumerate(layer_axes):
        b = core.biases[layer]
        if axis is not None and b is not None:
            where.append(lambda t, i=layer: t.biases[i])
            values.append(_split(len(b.shape), axis))
    if not where:
        return specs
    return eqx.tree_at(lambda t: [w(t) for w in where], specs, values)


def parameter_shardings(core: Any, mesh: Mesh) -> Any:
    """``parameter_specs`` on ``mesh``: a ``NamedSharding`` at every array leaf (``None`` elsewhere)."""
    specs = parameter_specs(core, model_size(mesh))
    return jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, PartitionSpec))


def state_specs(core: Any, mesh: Mesh, batched: bool) -> tuple[PartitionSpec, ...]:
    """Per layer, the ``PartitionSpec`` of its states: the batch axis (if ``batched``) over the
    mesh's data axis, a memory axis over ``"model"``, everything else replicated."""
    _, layer_axes = split_axes(core, model_size(mesh))
    lead = [data_axis(mesh)] if batched else []
    out = []
    for shape, axis in zip(core.shapes, layer_axes):
        parts: list[str | None] = [None] * len(shape)
        if axis is not None:
            parts[axis] = MODEL
        out.append(PartitionSpec(*(lead + parts)))
    return tuple(out)


def init_sharded(build: Any, key: Any, mesh: Any, where: str = "HAM.compile") -> Any:
    """``build(key)`` (a function returning a model) with its arrays created already sharded.

    The initialiser is traced once abstractly for the shardings, then compiled with them
    as its output shardings: each device computes only its own slice of a split weight, and
    no weight is ever whole on one device.

    Raises:
        ArgumentError: if ``mesh`` is not a ``jax.sharding.Mesh`` (naming ``where``).
    """
    mesh = check_mesh(mesh, where)
    abstract = eqx.filter_eval_shape(build, key)
    shardings = parameter_shardings(abstract, mesh)
    static = eqx.filter(abstract, is_arraylike, inverse=True)
    make = jax.jit(lambda k: eqx.filter(build(k), eqx.is_array), out_shardings=shardings)
    return eqx.combine(make(key), static)
