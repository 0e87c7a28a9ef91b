"""Devices and processes: data parallelism, sharded memories, multi-process runs.

A mesh has a data axis and a model axis (``make_mesh(data=..., model=...)``; the older
``batch_mesh(n)`` is a data axis ``"batch"`` alone). Batches are split along their leading
axis over the data axis. ``shard_model`` splits every synapse weight along its memory or
hidden axis over ``"model"`` (which axis, per synapse type: ``Synapse.shard_axes``; see
docs/scaling.md) and replicates the small parameters; ``HAM.compile(key=..., mesh=mesh)``
creates the parameters in that layout directly. ``shard_states`` splits the states of the
layers that carry a memory axis the same way. Energies, gradients, ``run``, ``relax`` and
``train.make_train_step(..., mesh=mesh)`` then work unchanged: XLA partitions the
computation and inserts the collectives.

Several processes (hosts) start with ``initialize`` (over ``jax.distributed.initialize``);
``process_batch`` builds a global batch from each process's rows; ``gather`` brings arrays
back to the host (``hg.save`` uses it and writes from process 0 only).

Example:
    >>> import jax, hamux_graph as hg
    >>> mesh = hg.parallel.make_mesh(data=1, model=1)
    >>> x = hg.parallel.shard_batch(jax.numpy.ones((4, 3)), mesh)
    >>> tuple(x.sharding.spec)
    ('data',)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PyTree

from .._api import CompiledHAM
from .._energy import sharding
from .._energy.core import as_dict, flat_states, leaf_name
from .._errors import ArgumentError
from .._internal.parse import parse_int, parse_sequence
from .._types import States
from .processes import check_batch, data_sharding, data_size, global_batch, place, place_tree


__all__ = [
    "make_mesh",
    "batch_mesh",
    "batch_sharding",
    "replicated_sharding",
    "shard_batch",
    "replicate",
    "shard_model",
    "shard_states",
    "parameter_specs",
]

_FORCE_HINT = "On CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before importing jax."


# ---- meshes ---------------------------------------------------------------------------------


def make_mesh(data: int | None = None, model: int = 1, *, devices: Sequence[jax.Device] | None = None) -> Mesh:  # pyright: ignore[reportInvalidTypeForm]  # jax.Device: pyright reads the alias as a variable
    """A 2-D device mesh with axes ``"data"`` (batches) and ``"model"`` (memory/hidden axes).

    Both axes have JAX's ``Auto`` type (what ``eqx.filter_shard`` and XLA's partitioner
    need); either may have size 1. It takes the first ``data * model`` devices.

    Args:
        data: devices along the data axis (default: all devices not used by ``model``).
        model: devices along the model axis.
        devices: the devices to choose from (default ``jax.devices()``, all processes').

    Returns:
        The mesh.

    Raises:
        ArgumentError: for sizes that are not positive ints, or more devices than exist.

    Example:
        >>> import hamux_graph as hg
        >>> mesh = hg.parallel.make_mesh(data=1, model=1)
        >>> mesh.axis_names, dict(mesh.shape)
        (('data', 'model'), {'data': 1, 'model': 1})
    """
    devices = list(jax.devices() if devices is None else devices)
    model = parse_int(model, "make_mesh: model", minimum=1, error=ArgumentError)
    if data is None:
        if len(devices) % model:
            raise ArgumentError(
                f"make_mesh: model={model} does not divide the {len(devices)} available device(s), so data cannot "
                "be chosen automatically; pass data=... explicitly (data * model <= the device count)."
            )
        data = len(devices) // model
    data = parse_int(data, "make_mesh: data", minimum=1, error=ArgumentError)
    if data * model > len(devices):
        raise ArgumentError(
            f"make_mesh: data={data} x model={model} needs {data * model} devices, but {len(devices)} exist. "
            f"Use smaller sizes. {_FORCE_HINT}"
        )
    auto = jax.sharding.AxisType.Auto
    return jax.make_mesh(
        (data, model), ("data", sharding.MODEL), axis_types=(auto, auto), devices=devices[: data * model]
    )


def batch_mesh(n_devices: int | None = None, *, devices: Sequence[jax.Device] | None = None) -> Mesh:  # pyright: ignore[reportInvalidTypeForm]  # jax.Device: pyright reads the alias as a variable
    """A 1-D mesh named ``"batch"`` over ``n_devices`` devices (default: all of them).

    Args:
        n_devices: how many devices to use (the first ``n_devices`` of ``devices``).
        devices: the devices to choose from (default ``jax.devices()``).

    Raises:
        ArgumentError: if more devices are asked for than exist.

    Example:
        >>> import hamux_graph as hg
        >>> hg.parallel.batch_mesh(1).axis_names
        ('batch',)
    """
    if devices is not None:
        devices = list(parse_sequence(devices, "batch_mesh: devices", error=ArgumentError))
        if not devices:
            raise ArgumentError("batch_mesh: devices is empty; pass at least one device (e.g. jax.devices()).")
        bad = [d for d in devices if not isinstance(d, jax.Device)]
        if bad:
            raise ArgumentError(f"batch_mesh: devices must be jax devices (jax.devices()), got {bad[0]!r}.")
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices) if n_devices is None else n_devices
    n = parse_int(
        n,
        "batch_mesh: n_devices",
        minimum=1,
        maximum=len(devices),
        error=ArgumentError,
        hint=f" {len(devices)} device(s) are available. {_FORCE_HINT}",
    )
    return jax.make_mesh((n,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices[:n])


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding that splits an array's leading (batch) axis over the mesh's data axis.

    Example:
        >>> import hamux_graph as hg
        >>> tuple(hg.parallel.batch_sharding(hg.parallel.batch_mesh(1)).spec)
        ('batch',)
    """
    return data_sharding(sharding.check_mesh(mesh, "batch_sharding"))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy of an array on every device of the mesh.

    Example:
        >>> import hamux_graph as hg
        >>> hg.parallel.replicated_sharding(hg.parallel.batch_mesh(1)).is_fully_replicated
        True
    """
    return NamedSharding(sharding.check_mesh(mesh, "replicated_sharding"), PartitionSpec())


def shard_batch(tree: PyTree, mesh: Mesh) -> PyTree:
    """Place every array in ``tree`` split along its leading axis over the mesh's data axis.

    With several processes every process passes the same global arrays and contributes
    the rows its devices hold (see ``process_batch``).

    Raises:
        ArgumentError: if a leading axis is not divisible by the data axis's size.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.parallel.shard_batch({"x": jnp.ones((2, 5))}, hg.parallel.batch_mesh(1))["x"].shape
        (2, 5)
    """
    return global_batch(tree, mesh, False, "shard_batch")


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Place a full copy of every array of ``tree`` (a model, an optimizer state) on each device.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.parallel.replicate(jnp.ones(3), hg.parallel.batch_mesh(1)).sharding.is_fully_replicated
        True
    """
    sh = replicated_sharding(mesh)
    dynamic, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: place(x, sh), dynamic), static)


# ---- model parallelism -----------------------------------------------------------------------


def _check_model(model: Any, where: str) -> CompiledHAM:
    if not isinstance(model, CompiledHAM):
        raise ArgumentError(f"{where} takes a compiled model (ham.compile(key=...)), got {type(model).__name__}.")
    return model


def shard_model(model: CompiledHAM, mesh: Mesh) -> CompiledHAM:
    """The model with every parameter laid out on ``mesh`` (memory/hidden axes split over ``"model"``).

    Each synapse weight is split along the first of its ``shard_axes`` that the model axis
    divides: the stored-pattern (largest) axis of a dense memory, the hidden axis
    ``nhid`` of the hidden-layer synapses, the heads of attention; a memories layer's bias
    follows its synapse; everything else (Lagrangian scalars, other biases, convolution
    kernels, a weight no axis of which divides) is replicated. To create a large model
    without ever holding it whole, use ``ham.compile(key=..., mesh=mesh)`` instead.

    Args:
        model: the compiled model.
        mesh: a mesh from ``make_mesh`` (or ``batch_mesh``: everything replicated).

    Returns:
        The same model (equal values), its arrays placed on the mesh.

    Raises:
        ArgumentError: for a model that is not a ``CompiledHAM`` or a mesh that is not a mesh.

    Example:
        >>> import jax, hamux_graph as hg
        >>> model = hg.zoo.modern_hopfield(input_shape=(8,), num_memories=64).compile(key=jax.random.key(0))
        >>> sharded = hg.parallel.shard_model(model, hg.parallel.make_mesh(data=1, model=1))
        >>> bool((sharded.synapse("store").W == model.synapse("store").W).all())
        True
    """
    model = _check_model(model, "shard_model")
    mesh = sharding.check_mesh(mesh, "shard_model")
    return place_tree(model, sharding.parameter_shardings(model, mesh))


def parameter_specs(model: CompiledHAM, mesh: Mesh) -> dict[str, PartitionSpec]:
    """How ``shard_model`` lays out each parameter: ``{saved parameter name: PartitionSpec}``.

    Example:
        >>> import jax, hamux_graph as hg
        >>> model = hg.zoo.modern_hopfield(input_shape=(8,), num_memories=64).compile(key=jax.random.key(0))
        >>> specs = hg.parallel.parameter_specs(model, hg.parallel.make_mesh(data=1, model=1))
        >>> tuple(specs["synapses/store/W"]), tuple(specs["layers/memories/lagrangian/beta"])
        ((None, 'model'), ())
    """
    model = _check_model(model, "parameter_specs")
    mesh = sharding.check_mesh(mesh, "parameter_specs")
    specs = jax.tree.leaves(
        sharding.parameter_specs(model, sharding.model_size(mesh)), is_leaf=lambda x: isinstance(x, PartitionSpec)
    )
    paths = [p for p, leaf in jax.tree_util.tree_flatten_with_path(model)[0] if sharding.is_arraylike(leaf)]
    return {leaf_name(model, p): s for p, s in zip(paths, specs)}


def shard_states(model: CompiledHAM, xs: States, mesh: Mesh) -> States:
    """States laid out on ``mesh``: the batch axis over the data axis, memory axes over ``"model"``.

    A layer whose units are a split axis of a synapse weight (the memories layer of a dense
    memory split along its stored patterns) is split the same way; other layers are
    replicated along ``"model"``.

    Args:
        model: the compiled model (its layout decides which layers are split).
        xs: a states dict, optionally with a leading batch axis.
        mesh: the mesh the model lives on.

    Returns:
        The states dict, placed.

    Raises:
        StateError: for states that do not fit the model.
        ArgumentError: for a batch size the data axis does not divide.

    Example:
        >>> import jax, hamux_graph as hg
        >>> model = hg.zoo.modern_hopfield(input_shape=(8,), num_memories=64).compile(key=jax.random.key(0))
        >>> mesh = hg.parallel.make_mesh(data=1, model=1)
        >>> xs = hg.parallel.shard_states(model, model.init_states(batch_size=2), mesh)
        >>> tuple(xs["memories"].sharding.spec), tuple(xs["visible"].sharding.spec)
        (('data', 'model'), ('data', None))
    """
    model = _check_model(model, "shard_states")
    mesh = sharding.check_mesh(mesh, "shard_states")
    flat, batch = flat_states(model, xs)
    if batch is not None:
        check_batch("shard_states", (batch,), data_size(mesh), "states batch")
    specs = sharding.state_specs(model, mesh, batch is not None)
    placed = [place(x, NamedSharding(mesh, s)) for x, s in zip(flat, specs)]
    return as_dict(model, tuple(placed))
