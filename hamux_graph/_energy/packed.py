"""States in grouped form: one array per group of identical layers, kept stacked between calls.

A deep HAM built from repeated blocks evaluates each group of identical layers as one
stacked array (see ``kernel.py``). Its public methods take and return one array per
layer, so every call splits and stacks the groups at the boundary: for a chain of 512
layers that costs a few milliseconds per call, ten times the computation. ``model.pack(xs)``
returns the states in the grouped form the compiled code uses; every method of
``CompiledHAM`` accepts it and then returns states in the same form, so a loop of calls
never converts. ``model.unpack(ps)`` (or ``ps[name]`` for one layer) gets the per-layer
arrays back.

``PackedStates`` is an immutable pytree: it passes through ``jax.jit``, ``jax.vmap`` and
``jax.grad`` like a dict of arrays does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._errors import StateError
from .stacking import take


__all__ = ["PackedStates"]


@dataclasses.dataclass(frozen=True)
class Layout:
    """Which layers each group holds (static): ``members[g]`` are layer indices."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    members: tuple[tuple[int, ...], ...]

    def locate(self, name: str) -> tuple[int, int]:
        try:
            i = self.names.index(name)
        except ValueError:
            raise StateError(f"unknown layer {name!r}; these states hold the layers {list(self.names)}.") from None
        for gid, ms in enumerate(self.members):
            if i in ms:
                return gid, ms.index(i)
        raise AssertionError("unreachable: every layer is in a group")  # pragma: no cover


@jax.tree_util.register_pytree_node_class
class PackedStates:
    """The states of a ``CompiledHAM`` in grouped form (from ``model.pack``).

    ``groups[g]`` stacks the states of the layers of group ``g`` along axis 0 (axis 1 with
    a batch axis); a group of one layer is that layer's array as it is. Immutable; a pytree
    whose leaves are ``groups`` (the layout is static).

    Example:
        >>> import jax, hamux_graph as hg
        >>> ham = hg.HAM()
        >>> for i in range(4):
        ...     ham.add_layer(f"x{i}", hg.TanhLayer((8,)))
        >>> for i in range(3):
        ...     ham.add_synapse(f"s{i}", hg.DenseSynapse(), layers=(f"x{i}", f"x{i + 1}"))
        >>> model = ham.compile(key=jax.random.key(0))
        >>> ps = model.pack(model.init_states(batch_size=2, key=jax.random.key(1)))
        >>> [g.shape for g in ps.groups]
        [(2, 4, 8)]
        >>> ps, energies = model.run(ps, steps=10, dt=0.1)
        >>> ps["x3"].shape, model.unpack(ps)["x0"].shape
        ((2, 8), (2, 8))
    """

    # A plain registered pytree rather than an equinox Module: it is built on every call
    # that returns states, and a Module's construction costs ~20 µs.
    __slots__ = ("groups", "layout", "batched")
    groups: tuple[Array, ...]
    layout: Layout
    batched: bool

    def __init__(self, groups: Sequence[Array], layout: Layout, batched: bool):
        object.__setattr__(self, "groups", tuple(groups))
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "batched", bool(batched))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PackedStates is immutable; cannot set {name!r}.")

    def tree_flatten(self):
        return self.groups, (self.layout, self.batched)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        object.__setattr__(obj, "groups", tuple(children))
        object.__setattr__(obj, "layout", aux[0])
        object.__setattr__(obj, "batched", aux[1])
        return obj

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(getattr(g, "shape", ()))) for g in self.groups)
        return f"PackedStates({len(self.layout.names)} layers in {len(self.groups)} groups: {shapes})"

    @property
    def names(self) -> tuple[str, ...]:
        """The layer names, in the model's order."""
        return self.layout.names

    def __getitem__(self, name: str) -> Array:
        """The state of one layer (a slice of its group)."""
        gid, pos = self.layout.locate(name)
        a = self.groups[gid]
        if len(self.layout.members[gid]) == 1:
            return a
        return lax.index_in_dim(a, pos, axis=1 if self.batched else 0, keepdims=False)


def check(ps: PackedStates, layout: Layout) -> int | None:
    """Validate ``ps`` against a model's layout; return its batch size (None if unbatched).

    Raises:
        StateError: if ``ps`` was packed for another model or its arrays have wrong shapes.
    """
    if ps.layout is not layout and ps.layout != layout:
        raise StateError(
            "these PackedStates were packed for a model with different layers or grouping "
            f"(layers {list(ps.layout.names)[:6]}{' …' if len(ps.layout.names) > 6 else ''}). "
            "Pack the states with this model: model.pack(model.unpack(ps)) or model.pack(dict_of_states)."
        )
    if len(ps.groups) != len(layout.members):
        raise StateError(f"PackedStates has {len(ps.groups)} groups, expected {len(layout.members)}.")
    batch = None
    for gid, (a, ms) in enumerate(zip(ps.groups, layout.members)):
        shape = layout.shapes[ms[0]]
        core = shape if len(ms) == 1 else (len(ms),) + shape
        sh = tuple(a.shape)
        lead = sh[: len(sh) - len(core)] if sh[len(sh) - len(core) :] == core else None
        if lead is None or len(lead) != int(ps.batched) or (batch is not None and lead[0] != batch):
            raise StateError(
                f"PackedStates group {gid} (layers {[layout.names[i] for i in ms][:4]}) has shape {sh}, expected "
                f"{'(batch,) + ' if ps.batched else ''}{core} with the same batch size in every group."
            )
        if ps.batched:
            batch = lead[0]
    return batch


# ---- regrouping inside a trace ------------------------------------------------------------------


def regroup(src: Any, dst: Any, arrays: dict[int, Any], axis: int, ids: Sequence[int] | None = None) -> dict:
    """Re-stack grouped arrays from structure ``src`` into structure ``dst`` (in a trace).

    ``axis`` is the member axis (1 with a batch axis). Members of a ``dst`` group that sit in
    one ``src`` group come out as one slice (or gather), so the number of operations grows
    with the number of groups, not of layers.
    """
    out = {}
    for gid in range(len(dst.layer_groups)) if ids is None else ids:
        ms = dst.layer_groups[gid].members
        locs = [src.loc[i] for i in ms]
        if len(ms) == 1:
            g, pos = locs[0]
            a = arrays[g]
            out[gid] = a if src.size(g) == 1 else lax.index_in_dim(a, pos, axis=axis, keepdims=False)
            continue
        pieces = []
        run: list[int] = []
        for k, (g, pos) in enumerate(locs):
            run.append(pos)
            if k + 1 < len(locs) and locs[k + 1][0] == g:
                continue
            a = arrays[g]
            pieces.append(jnp.expand_dims(a, axis) if src.size(g) == 1 else take(a, run, src.size(g), axis))
            run = []
        out[gid] = pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=axis)
    return out
