"""Devices and processes: data parallelism, sharded memories, multi-process runs."""

from .mesh import (
    batch_mesh as batch_mesh,
    batch_sharding as batch_sharding,
    make_mesh as make_mesh,
    parameter_specs as parameter_specs,
    replicate as replicate,
    replicated_sharding as replicated_sharding,
    shard_batch as shard_batch,
    shard_model as shard_model,
    shard_states as shard_states,
)
from .processes import (
    gather as gather,
    initialize as initialize,
    process_batch as process_batch,
    process_batches as process_batches,
    process_slice as process_slice,
)


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
    "initialize",
    "process_slice",
    "process_batch",
    "process_batches",
    "gather",
]
