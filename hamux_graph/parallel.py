"""Data-parallel training with JAX's own sharding: a device mesh over the batch axis.

Parameters (the whole compiled model and the optimizer state) are replicated on every
device; each batch is split along its leading axis over the mesh axis ``"batch"``. Pass
the mesh to ``hamux_graph.train.make_train_step(..., mesh=mesh)`` and the same step runs
on 1 or N devices; XLA inserts the gradient all-reduce.

Example:
    >>> import jax, hamux_graph as hg
    >>> mesh = hg.parallel.batch_mesh(1)
    >>> x = hg.parallel.shard_batch(jax.numpy.ones((4, 3)), mesh)
    >>> tuple(x.sharding.spec)
    ('batch',)
"""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PyTree

from ._errors import ArgumentError

__all__ = ["batch_mesh", "batch_sharding", "replicated_sharding", "shard_batch", "replicate"]


def batch_mesh(n_devices: int | None = None, *, devices: Sequence[jax.Device] | None = None) -> Mesh:
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
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices) if n_devices is None else n_devices
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(devices):
        raise ArgumentError(
            f"n_devices must be an int between 1 and the {len(devices)} available device(s), got {n_devices!r}. "
            "On CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before importing jax."
        )
    return jax.make_mesh((n,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices[:n])


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding that splits an array's leading (batch) axis over the mesh's ``"batch"`` axis."""
    return NamedSharding(mesh, PartitionSpec("batch"))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy of an array on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def shard_batch(tree: PyTree, mesh: Mesh) -> PyTree:
    """Place every array in ``tree`` split along its leading axis over the mesh.

    Raises:
        ArgumentError: if a leading axis is not divisible by the number of devices.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.parallel.shard_batch({"x": jnp.ones((2, 5))}, hg.parallel.batch_mesh(1))["x"].shape
        (2, 5)
    """
    n = mesh.shape["batch"]
    for leaf in jax.tree.leaves(tree):
        shape = getattr(leaf, "shape", ())
        if not shape or shape[0] % n:
            raise ArgumentError(
                f"shard_batch: an array of shape {tuple(shape)} cannot be split over {n} devices along its "
                f"leading axis; use a batch size divisible by {n}."
            )
    return eqx.filter_shard(tree, batch_sharding(mesh))


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Place a full copy of every array of ``tree`` (a model, an optimizer state) on each device.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> hg.parallel.replicate(jnp.ones(3), hg.parallel.batch_mesh(1)).sharding.is_fully_replicated
        True
    """
    return eqx.filter_shard(tree, replicated_sharding(mesh))
