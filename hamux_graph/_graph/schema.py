"""The attribute schema of HAM graphs: the one place that names node and edge attributes.

A HAM graph is a ``networkx.MultiDiGraph`` whose nodes carry ``kind`` (``"layer"`` or
``"synapse"``). A layer node carries ``lagrangian``, ``shape``, ``tau`` and ``use_bias``; a
synapse node carries either ``synapse`` (a ``Synapse``: its own parameter set) or
``shares`` (the name of the synapse node whose parameters it uses), and ``arity`` (the
number of argument slots it was built with). Each edge synapse → layer carries ``slot``.
Every module that reads or writes graph attributes (validation, the builder, files,
drawing) takes the names and defaults from here.
"""

from __future__ import annotations

from typing import Any

from .._errors import ValidationError
from .._internal.memo import value_key
from ..layers import Layer
from ..synapses import Synapse


__all__ = [
    "KIND",
    "LAYER",
    "SYNAPSE",
    "LAGRANGIAN",
    "SHAPE",
    "TAU",
    "USE_BIAS",
    "LAYER_ENERGY",
    "SYNAPSE_SPEC",
    "SHARES",
    "ARITY",
    "SLOT",
    "DEFAULT_TAU",
    "DEFAULT_USE_BIAS",
    "DEFAULT_LAYER_ENERGY",
    "layer_attrs",
    "synapse_attrs",
    "edge_attrs",
    "layer_of",
    "kind_of",
]

KIND = "kind"
LAYER = "layer"
SYNAPSE = "synapse"

LAGRANGIAN = "lagrangian"
SHAPE = "shape"
TAU = "tau"
USE_BIAS = "use_bias"
LAYER_ENERGY = "layer_energy"
SYNAPSE_SPEC = "synapse"
SHARES = "shares"
ARITY = "arity"
SLOT = "slot"

DEFAULT_TAU = 1.0
DEFAULT_USE_BIAS = False
DEFAULT_LAYER_ENERGY = True


def layer_attrs(layer: Layer) -> dict[str, Any]:
    """The node attributes of a layer node."""
    return {
        KIND: LAYER,
        LAGRANGIAN: layer.lagrangian,
        SHAPE: layer.shape,
        TAU: layer.tau,
        USE_BIAS: layer.use_bias,
        LAYER_ENERGY: layer.layer_energy,
    }


def synapse_attrs(synapse: Synapse | None, shares: str | None, arity: int | None) -> dict[str, Any]:
    """The node attributes of a synapse node: its own ``synapse`` or the node it ``shares``."""
    out: dict[str, Any] = {KIND: SYNAPSE}
    if synapse is not None:
        out[SYNAPSE_SPEC] = synapse
    else:
        out[SHARES] = shares
    if arity is not None:
        out[ARITY] = arity
    return out


def edge_attrs(slot: int) -> dict[str, Any]:
    """The attributes of the edge for argument slot ``slot``."""
    return {SLOT: slot}


def kind_of(data: dict[str, Any]) -> Any:
    """The ``kind`` attribute of a node (``None`` if missing)."""
    return data.get(KIND)


def layer_of(name: str, data: dict[str, Any]) -> Layer:
    """The ``Layer`` a layer node's attributes describe.

    Raises:
        ValidationError: naming the node, for missing or invalid attributes.
    """
    missing = [k for k in (LAGRANGIAN, SHAPE) if k not in data]
    if missing:
        raise ValidationError(
            f"layer '{name}': missing node attribute(s) {missing}. A layer node needs '{LAGRANGIAN}' "
            f"(a hamux_graph Lagrangian) and '{SHAPE}'; add it with HAM.add_layer(name, hg.Layer(...)). "
            "A graph read with networkx.read_graphml holds the file's strings, not these objects: read "
            "hamux_graph files with hg.read_graphml."
        )
    lag, shape = data[LAGRANGIAN], data[SHAPE]
    tau, use_bias = data.get(TAU, DEFAULT_TAU), data.get(USE_BIAS, DEFAULT_USE_BIAS)
    layer_energy = data.get(LAYER_ENERGY, DEFAULT_LAYER_ENERGY)
    key = _layer_key(lag, shape, tau, use_bias, layer_energy)
    hit = _LAYERS.get(key) if key is not None else None
    if hit is not None:
        return hit
    try:
        layer = Layer(lag, shape=shape, tau=tau, use_bias=use_bias, layer_energy=layer_energy)
    except ValidationError as e:
        raise ValidationError(f"layer '{name}': {e}") from None
    except (TypeError, ValueError) as e:
        raise ValidationError(f"layer '{name}': invalid layer attributes ({e}).") from None
    if key is not None:
        if len(_LAYERS) >= 1 << 16:
            _LAYERS.clear()
        _LAYERS[key] = layer
    return layer


# Layers built by ``layer_of``, by the value of (Lagrangian, shape, tau, use_bias, layer_energy): Lagrangians
# and layers are immutable, so equal layer nodes (the 20 000 of a long chain, or one node read
# by every ``plan()``) are built and checked once.
_LAYERS: dict[tuple[Any, ...], Layer] = {}


def _layer_key(lag: Any, shape: Any, tau: Any, use_bias: Any, layer_energy: Any) -> tuple[Any, ...] | None:
    if not isinstance(shape, tuple) or not all(type(d) is int for d in shape):
        return None
    if type(tau) not in (int, float) or type(use_bias) is not bool or type(layer_energy) is not bool:
        return None
    value = value_key(lag)
    return None if value is None else (value, shape, type(tau), tau, use_bias, layer_energy)
