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
from typing import Any, Concatenate, Generic, NamedTuple, overload, ParamSpec, TypeVar

import equinox as eqx
import jax
import jax.core

from . import kernel, stacking
from .kernel import Structure
from .packed import Layout, regroup


__all__ = ["fast_method", "clear", "grouping", "packed_layout", "GroupedCall", "grouped_call"]

_MAX_FUNCTIONS = 256
_functions: OrderedDict[Any, Callable] = OrderedDict()
_instances: dict[int, tuple[weakref.ref, _Entry]] = {}

Model = TypeVar("Model")
Params = ParamSpec("Params")
Result = TypeVar("Result")


class _Entry:
    __slots__ = ("dynamic", "treedef", "static", "key", "fns", "groupings", "packed_layout", "cacheable")

    def __init__(self, dynamic, treedef, static, key):
        self.dynamic = dynamic
        self.treedef = treedef
        self.static = static
        self.key = key
        self.fns: dict[Any, Any] = {}
        self.groupings: dict[Any, Any] = {}
        self.packed_layout: Layout | None = None
        self.cacheable = False


class fast_method(Generic[Model, Params, Result]):
    """Bind a function of the model as a method, without an ``eqx`` ``BoundMethod``.

    Equinox turns every bound method of a Module into a ``BoundMethod`` module, whose
    construction flattens the whole model: tens of microseconds per call on a small model,
    milliseconds on a deep one. ``name = fast_method(fn)`` in a class body binds ``fn``
    (whose first parameter is the model) with ``functools.partial``; the method has
    ``fn``'s name, docstring and signature (less the model), written once on ``fn``.
    """

    def __init__(self, fn: Callable[Concatenate[Model, Params], Result]):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __set_name__(self, owner: type, name: str) -> None:
        self.__name__ = name

    @overload
    def __get__(self, obj: None, cls: type | None = None) -> fast_method[Model, Params, Result]: ...
    @overload
    def __get__(self, obj: Model, cls: type | None = None) -> Callable[Params, Result]: ...
    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        return self if obj is None else functools.partial(self.fn, obj)

    def __call__(self, model: Model, *args: Params.args, **kwargs: Params.kwargs) -> Result:
        return self.fn(model, *args, **kwargs)


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


def grouping(model: Any, kinds: tuple[str, ...] | None = None) -> tuple[Structure, list[Any], Any]:
    """``(structure, grouped parameter leaves, their treedef)`` for a clamp pattern (cached).

    ``kinds`` is the clamp status of every layer (``kernel.FREE``/``HELD``/``MASK``; ``None``:
    all free). The parameters are ``kernel.group_parameters`` of the model, flattened.
    """
    ent = _entry(model)
    found = ent.groupings.get(kinds)
    if found is None:
        st = kernel.build(model, kinds)
        leaves, tdef = jax.tree_util.tree_flatten(kernel.group_parameters(st, model, host=ent.cacheable))
        found = (st, leaves, tdef)
        if ent.cacheable:
            ent.groupings[kinds] = found
    return found


def packed_layout(model: Any) -> Layout:
    """The ``Layout`` of a model's ``PackedStates`` (its default grouping; cached)."""
    ent = _entry(model)
    lay = ent.packed_layout
    if lay is None:
        st = grouping(model, None)[0]
        lay = Layout(tuple(model.layer_names), tuple(model.shapes), tuple(g.members for g in st.layer_groups))
        if ent.cacheable:
            ent.packed_layout = lay
    return lay


class GroupedCall(NamedTuple):
    """The static side of a grouped call, as its implementation sees it (hashable).

    Attributes:
        structure: the grouping of the model for the call's clamp pattern.
        batched: whether the states carry a leading batch axis.
        config: the driver's own static settings (a step count, a named tuple; hashable).
    """

    structure: Structure
    batched: bool
    config: Any

    @property
    def member_axis(self) -> int:
        """The axis along which a group's members are stacked (1 with a batch axis)."""
        return 1 if self.batched else 0


def grouped_call(
    model: Any,
    impl: Callable,
    *,
    states: tuple[Any, ...],
    batched: bool,
    kinds: tuple[str, ...] | None = None,
    config: Any = None,
    inputs: Any = None,
    states_packed: bool = False,
    post: Callable | None = None,
) -> tuple[GroupedCall, Any]:
    """Run ``impl`` compiled, on grouped states and parameters; returns ``(call, out)``.

    ``impl(skeleton, call, params, xg, inputs)`` is a module-level function: ``skeleton``
    is the model with its array leaves replaced by ``None`` (use its static fields only),
    ``call`` the ``GroupedCall`` (structure for ``kinds``, ``batched``, ``config``),
    ``params`` the ``kernel.GroupParameters``, ``xg`` the grouped states ``{group id:
    array}`` (members stacked on axis 0 of a sample, i.e. axis 1 with a batch) and
    ``inputs`` the traced arguments (a pytree of arrays, e.g. a named tuple).

    ``states`` holds one array per layer, or with ``states_packed=True`` one per group of
    the model's default grouping (``PackedStates.groups``), re-stacked in the trace for the
    clamp pattern's grouping; then ``post(default, call, xg, out)`` (module-level) may turn
    ``out`` back into the default grouping inside the compiled function.
    """
    ent = _entry(model)
    fkey = (impl, kinds, config, batched, states_packed, post)
    fast = ent.fns.get(fkey)
    if fast is None:
        st, leaves, tdef = grouping(model, kinds)
        call = GroupedCall(st, batched, config)
        source = grouping(model, None)[0] if states_packed else None
        fn = _function(ent, impl, fkey, call, tdef, source, post)
        singles = states_packed or all(len(g.members) == 1 for g in st.layer_groups)
        # runtime offsets only where the traced code stacks many arrays (see stacking.stack)
        index = stacking.index_args(len(states)) if kernel.needs_index(st) else ()
        fast = (fn, call, leaves, singles, index)
        if ent.key is not None and ent.cacheable:
            ent.fns[fkey] = fast
    fn, call, leaves, singles, index = fast
    # all groups of one layer: group i is layer i, and the states pass through as they are
    xg = states if singles else stacking.stack_groups(call.structure, states, call.member_axis)
    return call, fn(leaves, index, xg, inputs)


def _function(ent: _Entry, impl: Callable, fkey: Any, call: GroupedCall, tdef: Any, source: Any, post: Any) -> Callable:
    # the grouping and the parameters' treedef depend on parameter shapes too (not all are static)
    gkey = None if ent.key is None else (ent.key, call, tdef) + fkey
    if gkey is not None:
        fn = _functions.get(gkey)
        if fn is not None:
            _functions.move_to_end(gkey)
            return fn
    treedef, static_leaves = ent.treedef, ent.static
    n_dynamic = len(ent.dynamic)
    st, axis = call.structure, call.member_axis

    def wrapped(leaves, index, xg, inputs):
        skeleton = _rebuild(treedef, static_leaves, [None] * n_dynamic)
        params = jax.tree_util.tree_unflatten(tdef, leaves)
        xg = dict(enumerate(xg))
        if source is not None and source != st:
            xg = regroup(source, st, xg, axis)
        with stacking.indices(index):
            out = impl(skeleton, call, params, xg, inputs)
        return out if post is None else post(source, call, xg, out)

    fn = jax.jit(wrapped)
    if gkey is not None:
        _functions[gkey] = fn
        while len(_functions) > _MAX_FUNCTIONS:
            _functions.popitem(last=False)
    return fn
