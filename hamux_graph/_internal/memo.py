"""Per-value memos for large graphs (validation, pages and drawings).

A 20 000-layer chain holds 20 000 equal Lagrangians and synapses; building each layer and
computing each one's ``config()`` (about half a millisecond of equinox and jax calls each)
dominates ``plan``, ``to_dot`` and ``to_html``. ``by_value(fn, obj, *args)`` computes ``fn(obj, *args)`` once per *value* of
``obj``: its type, its static fields (the pytree structure) and its small array leaves. An
object with a large or traced array leaf is not memoised (its key would cost as much as the
call). Results are returned as shallow copies when they are dicts, so callers may not share
state by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import jax
import jax.core
import numpy as np


__all__ = ["by_value", "value_key"]

T = TypeVar("T")
_MAX_LEAF = 64  # entries; larger arrays (weights) make an object unmemoised
_MAX_ENTRIES = 4096
_CACHE: dict[Hashable, Any] = {}
_KEYS: dict[int, tuple[Any, Hashable | None]] = {}


def value_key(obj: Any) -> Hashable | None:
    """A hashable key equal for objects of equal value, or ``None`` when there is no cheap one.

    Example:
        >>> import hamux_graph as hg
        >>> from hamux_graph._internal.memo import value_key
        >>> value_key(hg.LTanh(beta=2.0)) == value_key(hg.LTanh(beta=2.0)) != value_key(hg.LTanh(beta=3.0))
        True
    """
    try:
        leaves, treedef = jax.tree_util.tree_flatten(obj)
    except Exception:  # an object jax cannot flatten
        return None
    parts: list[Any] = []
    for x in leaves:
        if isinstance(x, jax.core.Tracer):
            return None
        if isinstance(x, (jax.Array, np.ndarray, np.generic)):
            if np.size(x) > _MAX_LEAF:
                return None
            a = np.asarray(x)
            parts.append((a.dtype.str, a.shape, a.tobytes()))
        elif isinstance(x, (bool, int, float, str, complex)) or x is None:
            parts.append((type(x).__name__, x))
        else:
            return None
    key = (type(obj), treedef, tuple(parts))
    try:
        hash(key)
    except TypeError:  # an unhashable static field
        return None
    return key


def _known_key(obj: Any) -> Hashable | None:
    """``value_key(obj)``, found by identity when ``obj`` was seen already (the entry keeps ``obj``
    alive, so its id is not reused while the entry lives)."""
    seen = _KEYS.get(id(obj))
    if seen is not None and seen[0] is obj:
        return seen[1]
    key = value_key(obj)
    if len(_KEYS) >= _MAX_ENTRIES * 16:
        _KEYS.clear()
    _KEYS[id(obj)] = (obj, key)
    return key


def by_value(fn: Callable[..., T], obj: Any, *args: Hashable) -> T:
    """``fn(obj, *args)``, computed once per value of ``obj`` (see the module docstring)."""
    key = _known_key(obj)
    if key is None:
        return fn(obj, *args)
    full = (fn, key, args)
    try:
        out = _CACHE[full]
    except KeyError:
        if len(_CACHE) >= _MAX_ENTRIES:
            _CACHE.clear()
        out = _CACHE[full] = fn(obj, *args)
    return out.copy() if isinstance(out, dict) else out  # pyright: ignore[reportReturnType]
