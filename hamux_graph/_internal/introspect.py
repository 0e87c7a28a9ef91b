"""Hyperparameter introspection shared by Lagrangians, layers and synapses.

Every configurable object in hamux_graph is an equinox Module (a dataclass) whose
constructor keywords are exactly its fields. ``module_config`` reads those fields back as
plain JSON-able Python values, so that ``type(m)(**module_config(m))`` rebuilds an
equivalent object (parameter arrays excluded). GraphML files, summaries and reprs use it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax
import numpy as np


__all__ = ["to_plain", "module_config", "Configurable"]


@runtime_checkable
class Configurable(Protocol):
    """What ``to_plain`` nests as ``{"type": ..., **config()}``: an object with a ``config()`` method."""

    def config(self) -> dict[str, Any]:
        """Hyperparameters as plain Python values."""
        ...


def to_plain(value: Any) -> Any:
    """Turn arrays, tuples and nested modules into JSON-able Python values."""
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        arr = np.asarray(value)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, Configurable) and dataclasses.is_dataclass(value):
        return {"type": type(value).__name__, **value.config()}
    return value


def module_config(module: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The constructor keywords of ``module`` as plain values, skipping ``exclude``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(module):
        if f.name in exclude or not f.init:
            continue
        out[f.name] = to_plain(getattr(module, f.name))
    return out
