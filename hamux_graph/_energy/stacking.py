"""Stacking arrays into groups and splitting them back, inside and outside ``jax.jit``.

The grouped evaluation (``kernel.py``) works on one array per group of identical layers,
its members stacked along a leading axis; the public API takes and returns one array per
layer. This module converts between the two without making compile time grow with the
number of members.

XLA compiles a kernel per operation of a program. A ``jnp.stack`` of n arrays is one huge
concatenate, and n static slices ``X[i]`` are n distinct kernels with their offsets baked
in (about 8 ms of compile time each on a laptop CPU). Inside a trace, large groups are
stacked with ``dynamic_update_slice`` and unstacked with ``dynamic_slice`` at offsets passed
in as runtime scalars (``indices``): one generic kernel per member, about 0.5 ms each.
Outside jit, on the CPU backend, concrete arrays are stacked with numpy (nothing to
compile), and groups are split by one compiled function over ``CHUNK`` members, called as
often as needed, so the compile time does not depend on the group size at all.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec


STACK_THRESHOLD = 8
_index: tuple[Any, ...] = ()


@contextlib.contextmanager
def indices(idx: tuple[Any, ...]):
    """While tracing: use the scalar int32 arrays ``idx`` (``idx[i] == i``) as offsets."""
    global _index
    old, _index = _index, tuple(idx)
    try:
        yield
    finally:
        _index = old


_index_arrays: list[Any] = []


def offsets(n: int) -> tuple[Any, ...]:
    """Device scalars ``0 … n-1`` (cached), runtime offsets for ``dynamic_slice``."""
    if len(_index_arrays) < n:
        # one batched transfer (a device_put per scalar costs ~0.1 ms each)
        _index_arrays.extend(jax.device_put([np.int32(i) for i in range(len(_index_arrays), n)]))
    return tuple(_index_arrays[:n])


def index_args(n: int) -> tuple[Any, ...]:
    """The ``indices`` to pass to a jitted call that stacks ``n`` arrays in its trace."""
    return () if n <= STACK_THRESHOLD else offsets(n)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    n = len(arrays)
    if n <= STACK_THRESHOLD or len(_index) < n:
        return jnp.stack(arrays, axis=axis)
    first = jnp.asarray(arrays[0])
    shape = first.shape[:axis] + (n,) + first.shape[axis:]
    out = jnp.zeros(shape, jnp.result_type(*arrays))
    for i, a in enumerate(arrays):
        out = lax.dynamic_update_index_in_dim(out, a, _index[i], axis)
    return out


def unstack(a: Any, axis: int = 0) -> list[Any]:
    n = a.shape[axis]
    if n <= STACK_THRESHOLD or len(_index) < n:
        return [lax.index_in_dim(a, i, axis=axis, keepdims=False) for i in range(n)]
    return [lax.dynamic_index_in_dim(a, _index[i], axis=axis, keepdims=False) for i in range(n)]


# Outside jit, groups are split and stacked in chunks of CHUNK members by one compiled
# function per (shape, chunk), called n / CHUNK times: XLA emits a kernel per output (or
# input) of a compiled call, so one call over all n members costs compile time growing with
# n (~0.5 ms a member on a laptop CPU), while the chunked calls compile once.
CHUNK = 32


def _chunks(n: int) -> list[tuple[int, int]]:
    """``(start, skip)`` per chunk: rows ``start + skip … start + CHUNK - 1`` are new.

    The last chunk is shifted back to end at row ``n - 1`` (it overlaps the previous one)
    so every call has the same shape.
    """
    out = []
    for s in range(0, n, CHUNK):
        s0 = min(s, n - CHUNK)
        out.append((s0, s - s0))
    return out


def take(a: Any, positions: Sequence[int], size: int, axis: int = 0) -> Any:
    """Members ``positions`` of the stacked ``a`` along ``axis`` (in a trace).

    All members: ``a`` itself; evenly spaced ones: one (strided) slice; otherwise a gather.
    """
    positions = list(positions)
    if positions == list(range(size)):
        return a
    step = positions[1] - positions[0] if len(positions) > 1 else 1
    if step > 0 and all(b - c == step for c, b in zip(positions, positions[1:])):
        return lax.slice_in_dim(a, positions[0], positions[-1] + 1, stride=step, axis=axis)
    return jnp.take(a, np.asarray(positions), axis=axis)


@functools.partial(jax.jit, static_argnums=2)
def _stack_jit(arrays, idx, axis):
    with indices(idx):
        return stack(arrays, axis)


@functools.partial(jax.jit, static_argnums=2)
def _unstack_jit(a, idx, axis):
    # A separate compiled call: here ``a`` is a parameter, so XLA cannot fuse (and duplicate)
    # the computation that produced it into each of the slices. The offsets ``idx`` are
    # runtime scalars: each slice is a generic kernel, cheap to compile (see the docstring).
    return tuple(lax.dynamic_index_in_dim(a, i, axis=axis, keepdims=False) for i in idx)


def split(a: Any, axis: int = 0) -> list[Any]:
    """All members of a stacked (concrete) array along ``axis``, in compiled chunks."""
    n = a.shape[axis]
    idx = offsets(n)
    if n <= CHUNK:
        return list(_unstack_jit(a, idx, axis))
    out: list[Any] = []
    for s0, skip in _chunks(n):
        out.extend(_unstack_jit(a, idx[s0 : s0 + CHUNK], axis)[skip:])
    return out


def _stack_compiled(arrays: Sequence[Any], axis: int) -> Any:
    n = len(arrays)
    if n <= CHUNK:
        return _stack_jit(tuple(arrays), index_args(n), axis)
    idx = index_args(CHUNK)
    parts = []
    for s0, skip in _chunks(n):
        part = _stack_jit(tuple(arrays[s0 : s0 + CHUNK]), idx, axis)
        parts.append(part if skip == 0 else lax.slice_in_dim(part, skip, CHUNK, axis=axis))
    return jnp.concatenate(parts, axis=axis)


def _on_host(arrays: Sequence[Any]) -> bool:
    """True if the arrays are concrete and live in host memory (the CPU backend)."""
    if jax.default_backend() != "cpu":
        return False
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def _spread(arrays: Sequence[Any]) -> Any:
    """The ``NamedSharding`` of the first concrete array laid out over several devices, or None.

    Such arrays (a model or states on a device mesh) are stacked by a compiled call that
    keeps their sharding (that of the first split member); numpy would gather them onto
    one device.
    """
    found = [
        a.sharding
        for a in arrays
        if isinstance(a, jax.Array)
        and not isinstance(a, jax.core.Tracer)
        and isinstance(a.sharding, NamedSharding)
        and len(a.sharding.device_set) > 1
    ]
    # members sharded differently get the sharding of the first split one
    return next((sh for sh in found if not sh.is_fully_replicated), found[0] if found else None)


@functools.lru_cache(maxsize=64)
def _sharded_stacker(sharding: NamedSharding, ndim: int, axis: int) -> Any:
    spec = list(sharding.spec) + [None] * (ndim - len(sharding.spec))
    out = NamedSharding(sharding.mesh, PartitionSpec(*(spec[:axis] + [None] + spec[axis:])))
    return jax.jit(lambda arrays: jnp.stack(arrays, axis=axis), out_shardings=out)


def _stack_spread(arrays: Sequence[Any], sharding: Any, axis: int) -> Any:
    return _sharded_stacker(sharding, jnp.ndim(arrays[0]), axis)(tuple(arrays))


def stack_groups(st: Any, flat: Sequence[Any], axis: int) -> tuple[Any, ...]:
    """Per-layer arrays (with a batch axis when ``axis == 1``) to per-group arrays, outside jit.

    On the CPU backend concrete arrays are stacked with numpy (no compilation: a compiled
    stack of n arrays costs compile time growing with n); otherwise in compiled chunks.
    """
    out = []
    host = None
    for lg in st.layer_groups:
        ms = lg.members
        if len(ms) == 1:
            out.append(flat[ms[0]])
            continue
        arrays = tuple(flat[i] for i in ms)
        spread = _spread(arrays)
        if host is None:
            host = _on_host(flat)
        if spread is not None:
            out.append(_stack_spread(arrays, spread, axis))
        elif host:
            out.append(jax.device_put(np.stack([np.asarray(a) for a in arrays], axis=axis)))
        else:
            out.append(_stack_compiled(arrays, axis))
    return tuple(out)


def from_groups(st: Any, arrays: dict[int, Any], n_layers: int, cut: Any = None) -> tuple[Any, ...]:
    """Grouped arrays ``{group id: array}`` back to the per-layer tuple (absent groups: None).

    ``cut(a, k)`` splits a stacked group into its ``k`` members (default: ``unstack``, in a
    trace).
    """
    flat: list[Any] = [None] * n_layers
    for gid, a in arrays.items():
        ms = st.layer_groups[gid].members
        if len(ms) == 1:
            flat[ms[0]] = a
        else:
            rows = unstack(a) if cut is None else cut(a, len(ms))
            for i, row in zip(ms, rows):
                flat[i] = row
    return tuple(flat)


def unstack_groups(st: Any, arrays: dict, n: int, axis: int) -> list[Any]:
    """Inverse of ``stack_groups`` (entries of absent groups stay None), outside jit."""
    return list(from_groups(st, arrays, n, cut=lambda a, k: split(a, axis)))


def unstack_vector(e: Any, batched: bool) -> list[Any]:
    """Split per-member energies ``(n,)`` (or ``(B, n)``) outside jit."""
    axis = 1 if batched else 0
    if e.ndim == axis:
        return [e]
    return split(e, axis)


def host_stack(arrays: Sequence[Any]) -> Any:
    # Concrete parameters are stacked once per model, without compiling anything (unless
    # they are laid out over several devices: then in one compiled call that keeps it).
    spread = _spread(arrays)
    if spread is not None:
        return _stack_spread(arrays, spread, 0)
    return jax.device_put(np.stack([np.asarray(a) for a in arrays]))
