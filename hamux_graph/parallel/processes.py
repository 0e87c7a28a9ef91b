"""Several processes: ``jax.distributed`` start-up, global batches, gathering to the host.

The multi-process half of ``hamux_graph.parallel`` (re-exported there): ``initialize``
starts this process as one of several, ``process_slice``/``process_batch`` turn each
process's rows into one global batch, ``gather`` brings arrays back to the host. ``place``
puts a host or local array onto a sharding that may span processes: each process supplies
the shards its own devices hold.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, PyTree

from .._energy.sharding import axis_size, check_mesh, data_axis
from .._errors import ArgumentError
from .._internal.parse import parse_int


__all__ = [
    "place",
    "place_tree",
    "data_size",
    "data_sharding",
    "check_batch",
    "global_batch",
    "initialize",
    "process_slice",
    "process_batch",
    "process_batches",
    "gather",
]


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis over the mesh's data axis (replicated if it has none)."""
    axis = data_axis(mesh)
    return NamedSharding(mesh, PartitionSpec(axis) if axis else PartitionSpec())


def place(x: Any, sharding: NamedSharding) -> Any:
    """``x`` laid out with ``sharding``; with several processes each one supplies its own shards."""
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x
    if jax.process_count() == 1 or (isinstance(x, jax.Array) and not x.is_fully_addressable):
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def place_tree(tree: PyTree, shardings: PyTree) -> PyTree:
    """``place`` every array of ``tree`` (``shardings``: a sharding per array, ``None`` elsewhere)."""
    dynamic, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(place, dynamic, shardings), static)


def data_size(mesh: Mesh) -> int:
    """The size of the mesh's data axis (1 without one)."""
    axis = data_axis(mesh)
    return 1 if axis is None else axis_size(mesh, axis)


def check_batch(where: str, shape: tuple[int, ...], n: int, what: str = "array") -> None:
    """Raise ArgumentError unless ``n`` divides the leading axis of ``shape``."""
    if not shape or shape[0] % n:
        raise ArgumentError(
            f"{where}: an {what} of shape {tuple(shape)} cannot be split over the {n} devices of the mesh's data "
            f"axis along its leading axis; use a batch size divisible by {n}."
        )


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ArgumentError(f"initialize: the environment variable {name}={raw!r} is not an int.") from None


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Sequence[int] | None = None,
    timeout: int = 300,
) -> tuple[int, int]:
    """Start this process as one of several cooperating JAX processes (``jax.distributed``).

    Call it first, before any other JAX work. Each argument left out is read from the
    environment: ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0),
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``; with none of them given or set,
    ``jax.distributed.initialize()`` detects a cluster (SLURM, Open MPI, TPU pods). On CPU the
    processes use the gloo collectives. Afterwards ``jax.devices()`` lists every process's
    devices, and meshes, ``compile(mesh=...)``, ``process_batch`` and the training step
    span them all.

    Args:
        coordinator_address: ``"host:port"`` of the coordinator (process 0 listens there).
        num_processes: how many processes take part.
        process_id: this process's id, ``0 <= process_id < num_processes``.
        local_device_ids: which local devices this process uses (default: all).
        timeout: seconds to wait for the other processes.

    Returns:
        ``(process index, process count)``.

    Raises:
        ArgumentError: for missing or bad settings, or when JAX is already running.

    Example:
        >>> import hamux_graph as hg
        >>> hg.parallel.initialize(num_processes=2)
        Traceback (most recent call last):
        ...
        hamux_graph._errors.ArgumentError: initialize: missing coordinator_address (or JAX_COORDINATOR_ADDRESS), process_id (or JAX_PROCESS_ID); give all three settings, or none to let JAX detect a cluster.
    """
    address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
    n = num_processes if num_processes is not None else _env_int("JAX_NUM_PROCESSES")
    pid = process_id if process_id is not None else _env_int("JAX_PROCESS_ID")
    given = {"coordinator_address": address, "num_processes": n, "process_id": pid}
    env = {
        "coordinator_address": "JAX_COORDINATOR_ADDRESS",
        "num_processes": "JAX_NUM_PROCESSES",
        "process_id": "JAX_PROCESS_ID",
    }
    if any(v is not None for v in given.values()):
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise ArgumentError(
                "initialize: missing "
                + ", ".join(f"{k} (or {env[k]})" for k in missing)
                + "; give all three settings, or none to let JAX detect a cluster."
            )
        n = parse_int(n, "initialize: num_processes", minimum=1, error=ArgumentError)
        pid = parse_int(pid, "initialize: process_id", minimum=0, maximum=n - 1, error=ArgumentError)
        host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
        if not host or not port.isdigit():
            raise ArgumentError(f"initialize: coordinator_address must be 'host:port', got {address!r}.")
    if jax.config.jax_cpu_collectives_implementation in (None, "none"):  # pyright: ignore[reportAttributeAccessIssue]  # jax.config's flags are not in its stubs
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            address,
            n,
            None if pid is None else int(pid),
            local_device_ids=local_device_ids,
            initialization_timeout=int(timeout),
        )
    except (RuntimeError, ValueError) as e:
        raise ArgumentError(
            f"initialize: jax.distributed.initialize failed ({e}). Call hg.parallel.initialize once, first, "
            "before any other JAX work, with the same coordinator_address and num_processes in every process."
        ) from e
    return jax.process_index(), jax.process_count()


def process_slice(batch_size: int, mesh: Mesh) -> slice:
    """The rows of a global batch of ``batch_size`` that this process's devices hold.

    With one process that is every row. A process can load only these rows and pass
    them to ``process_batch(..., local=True)``.

    Raises:
        ArgumentError: if the data axis does not divide ``batch_size``, or this process's
            rows are not contiguous in the mesh.

    Example:
        >>> import hamux_graph as hg
        >>> hg.parallel.process_slice(8, hg.parallel.make_mesh(data=1, model=1))
        slice(0, 8, None)
    """
    mesh = check_mesh(mesh, "process_slice")
    batch_size = parse_int(batch_size, "process_slice: batch_size", minimum=1, error=ArgumentError)
    check_batch("process_slice", (batch_size,), data_size(mesh), "batch")
    index = data_sharding(mesh).addressable_devices_indices_map((batch_size,))
    rows = sorted(
        {(s[0].start or 0, batch_size if s[0].stop is None else s[0].stop) for s in index.values() if s is not None}
    )
    start, stop = rows[0][0], rows[0][1]
    for a, b in rows[1:]:
        if a != stop:
            raise ArgumentError(
                "process_slice: this process's devices hold rows that are not contiguous; build the mesh with "
                "each process's devices next to each other (hg.parallel.make_mesh does)."
            )
        stop = b
    return slice(start, stop)


def process_batch(batch: PyTree, mesh: Mesh, *, local: bool = False) -> PyTree:
    """A global batch split over the mesh's data axis, each process supplying only its rows.

    Args:
        batch: a pytree of arrays. By default each is the whole global batch (the same on
            every process, e.g. every process draws the same shuffled minibatch) and each
            process copies only the rows ``process_slice`` names to its devices. With
            ``local=True`` each array holds only this process's rows.
        mesh: the mesh.
        local: whether ``batch`` holds only this process's rows.

    Returns:
        The global arrays (``jax.Array``s spanning every process's devices).

    Raises:
        ArgumentError: if the data axis does not divide a batch size.

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> x = hg.parallel.process_batch(np.ones((4, 3)), hg.parallel.make_mesh(data=1, model=1))
        >>> x.shape, tuple(x.sharding.spec)
        ((4, 3), ('data',))
    """
    return global_batch(batch, mesh, bool(local), "process_batch")


def global_batch(batch: PyTree, mesh: Mesh, local: bool, where: str) -> PyTree:
    """``process_batch`` with the function name ``where`` for errors."""
    mesh = check_mesh(mesh, where)
    sh = data_sharding(mesh)
    n = data_size(mesh)

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            check_batch(where, x.shape, n)
            return jax.device_put(x, sh)
        host = np.asarray(x)
        if local:
            try:
                out = jax.make_array_from_process_local_data(sh, host)
            except ValueError as e:
                raise ArgumentError(
                    f"{where}: this process's rows (shape {host.shape}) do not fit the mesh ({e}); pass the rows "
                    "process_slice(global batch size, mesh) names."
                ) from None
            check_batch(where, out.shape, n)
            return out
        check_batch(where, host.shape, n)
        if jax.process_count() == 1:
            return jax.device_put(x, sh)
        return jax.make_array_from_callback(host.shape, sh, lambda index: host[index])

    return jax.tree.map(one, batch)


def process_batches(batches: Iterable[PyTree], mesh: Mesh, *, local: bool = False) -> Iterator[PyTree]:
    """``process_batch`` of every batch of an iterable (e.g. ``train.batches(...)``).

    Example:
        >>> import numpy as np, hamux_graph as hg
        >>> mesh = hg.parallel.make_mesh(data=1, model=1)
        >>> batches = hg.train.batches(np.ones((8, 2)), np.arange(8), batch_size=4)
        >>> [xb.shape for xb, yb in hg.parallel.process_batches(batches, mesh)]
        [(4, 2), (4, 2)]
    """
    for batch in batches:
        yield global_batch(batch, mesh, bool(local), "process_batches")


def gather(tree: PyTree) -> PyTree:
    """Host (numpy) copies of every array of ``tree``, gathered from all processes.

    Arrays split across processes are all-gathered, so with several processes every one of
    them must call this (it is a collective). Non-array leaves (and PRNG key arrays) pass
    through.

    Example:
        >>> import jax.numpy as jnp, hamux_graph as hg
        >>> type(hg.parallel.gather({"a": jnp.ones(2)})["a"]).__name__
        'ndarray'
    """

    def one(x: Array | np.ndarray) -> np.ndarray | Array:
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return x  # key arrays have no numpy form; they stay as they are
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    dynamic, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(one, dynamic), static)
