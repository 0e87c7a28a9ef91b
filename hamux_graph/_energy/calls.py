"""Low-overhead compiled calls on a ``CompiledHAM``.

``eqx.filter_jit`` re-flattens and re-partitions the whole model on every call; for a small
model at batch 1 that bookkeeping costs as much as the computation. A model is immutable, so
here its leaves are flattened once per instance (cached by identity, through a weak
reference) and every method calls a plain ``jax.jit`` function over ``(array leaves, states,
…)``. The jitted functions are shared between instances of the same structure (same tree
definition and non-array leaves), so a model with new weights reuses the compiled code.

Inside a JAX transformation (the model's leaves are tracers) nothing is cached; the same
jitted functions are called, nested in the outer trace.
"""

from __future__ import annotations

import functools
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from . import kernel, stacking
from .packed import Layout, regroup


_MAX_FUNCTIONS = 256
_functions: OrderedDict[Any, Callable] = OrderedDict()
_instances: dict[int, tuple[weakref.ref, _Entry]] = {}


class _Entry:
    __slots__ = ("dynamic", "treedef", "static", "key", "fns", "packed", "layout", "cacheable")

    def __init__(self, dynamic, treedef, static, key):
        self.dynamic = dynamic
        self.treedef = treedef
        self.static = static
        self.key = key
        self.fns: dict[Any, Callable] = {}
        self.packed: dict[Any, Any] = {}
        self.layout: Layout | None = None
        self.cacheable = False


class fast_method:
    """Method decorator: bind without creating an ``eqx`` ``BoundMethod``.

    Equinox turns every bound method of a Module into a ``BoundMethod`` module, whose
    construction flattens the whole model: tens of microseconds per call on a small model,
    milliseconds on a deep one. Methods decorated here bind with ``functools.partial``.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __set_name__(self, owner, name):
        self.__name__ = name

    def __get__(self, obj, cls=None):
        return self if obj is None else functools.partial(self.fn, obj)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def clear() -> None:
    """Forget all compiled functions and per-instance entries (for cold-compile benchmarks)."""
    _functions.clear()
    _instances.clear()


def _rebuild(treedef, static, dynamic):
    leaves = list(dynamic)
    for i, v in static:
        leaves.insert(i, v)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _make_entry(model: Any) -> tuple[_Entry, bool]:
    leaves, treedef = jax.tree_util.tree_flatten(model)
    dynamic = [l for l in leaves if eqx.is_array(l)]
    static = tuple((i, l) for i, l in enumerate(leaves) if not eqx.is_array(l))
    key: Any = (treedef, static)
    try:
        hash(key)
    except TypeError:
        key = None
    traced = any(isinstance(l, jax.core.Tracer) for l in dynamic)
    return _Entry(dynamic, treedef, static, key), not traced


def _entry(model: Any) -> _Entry:
    mid = id(model)
    hit = _instances.get(mid)
    if hit is not None and hit[0]() is model:
        return hit[1]
    ent, cacheable = _make_entry(model)
    ent.cacheable = cacheable
    if cacheable:
        try:
            ref = weakref.ref(model, lambda _, mid=mid: _instances.pop(mid, None))
        except TypeError:
            return ent
        _instances[mid] = (ref, ent)
    return ent


def grouped(model: Any, kinds: Any = None) -> tuple[Any, list[Any], Any]:
    """``(structure, packed parameter leaves, their treedef)`` for a clamp pattern (cached)."""
    ent = _entry(model)
    g = ent.packed.get(kinds)
    if g is None:
        st = kernel.build(model, kinds)
        leaves, tdef = jax.tree_util.tree_flatten(kernel.pack(st, model, host=ent.cacheable))
        g = (st, leaves, tdef)
        if ent.cacheable:
            ent.packed[kinds] = g
    return g


def layout(model: Any) -> Any:
    """The ``packed.Layout`` of a model's states in grouped form (cached)."""
    ent = _entry(model)
    lay = ent.layout
    if lay is None:
        st = grouped(model, None)[0]
        lay = Layout(tuple(model.layer_names), tuple(model.shapes), tuple(g.members for g in st.layer_groups))
        if ent.cacheable:
            ent.layout = lay
    return lay


def grouped_call(
    model: Any,
    impl: Callable,
    kinds: Any,
    extra: tuple,
    flat,
    batched: bool,
    *args: Any,
    packed: bool = False,
    post: Callable | None = None,
):
    """Run ``impl`` compiled, on grouped states and parameters; returns ``(structure, axis, out)``.

    ``impl(skeleton, (structure, *extra, batched), packed, xg, *args)`` is a module-level
    function; ``skeleton`` is the model with its array leaves replaced by ``None`` (use its
    static fields only), ``packed`` the grouped parameters and ``xg`` the grouped states
    ``{group id: array}`` (members stacked on axis 0 of a sample, i.e. axis 1 with a batch).

    ``flat`` holds one array per layer, or with ``packed=True`` one per group of the
    model's default grouping (``PackedStates.groups``), re-stacked in the trace for a clamp
    pattern's grouping; then ``post(default, structure, axis, xg, out)`` (module-level) may
    turn ``out`` back into the default grouping inside the compiled function.
    """
    ent = _entry(model)
    fkey = (impl, kinds, extra, batched, packed, post)
    fast = ent.fns.get(fkey)
    if fast is None:
        st, leaves, tdef = grouped(model, kinds)
        src = grouped(model, None)[0] if packed else None
        fn = _function(ent, impl, fkey, (st,) + extra + (batched,), tdef, src, post)
        singles = packed or all(len(g.members) == 1 for g in st.layer_groups)
        # runtime offsets only where the traced code stacks many arrays (see stacking.stack)
        index = stacking.index_args(len(flat)) if kernel.needs_index(st) else ()
        fast = (fn, st, leaves, singles, index)
        if ent.key is not None and ent.cacheable:
            ent.fns[fkey] = fast
    fn, st, leaves, singles, index = fast
    axis = 1 if batched else 0
    # all groups of one layer: group i is layer i, and the states pass through as they are
    xg = flat if singles else stacking.stack_groups(st, flat, axis)
    return st, axis, fn(leaves, index, xg, *args)


def _function(ent: _Entry, impl: Callable, fkey: Any, static: Any, tdef: Any, src: Any, post: Any) -> Callable:
    # the grouping and packed treedef depend on parameter shapes too (not all are static)
    gkey = None if ent.key is None else (ent.key, static, tdef) + fkey
    if gkey is not None:
        fn = _functions.get(gkey)
        if fn is not None:
            _functions.move_to_end(gkey)
            return fn
    treedef, static_leaves = ent.treedef, ent.static
    n_dynamic = len(ent.dynamic)

    st, axis = static[0], 1 if static[-1] else 0

    def wrapped(leaves, index, xg, *args):
        skeleton = _rebuild(treedef, static_leaves, [None] * n_dynamic)
        packed = jax.tree_util.tree_unflatten(tdef, leaves)
        xg = dict(enumerate(xg))
        if src is not None and src != st:
            xg = regroup(src, st, xg, axis)
        with stacking.indices(index):
            out = impl(skeleton, static, packed, xg, *args)
        return out if post is None else post(src, st, axis, xg, out)

    fn = jax.jit(wrapped)
    if gkey is not None:
        _functions[gkey] = fn
        while len(_functions) > _MAX_FUNCTIONS:
            _functions.popitem(last=False)
    return fn
