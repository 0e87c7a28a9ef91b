"""Type aliases shared across the package (one definition each)."""

from __future__ import annotations

from typing import Any

from jaxtyping import Array


__all__ = ["Shape", "States", "ClampSpec", "ClampEntry", "Clamp"]

Shape = tuple[int, ...]
"""A layer or parameter shape."""

States = dict[str, Array]
"""Layer states (or activations, or ∂E/∂g): ``{layer name: array}``, optionally batched."""

ClampSpec = Any
"""What users pass as ``clamp=``: ``None``, a layer name, layer names, or ``{layer: bool mask}``."""

ClampEntry = Any
"""One layer's normalised clamp: ``None`` (free), ``True`` (held) or a boolean mask array."""

Clamp = tuple[ClampEntry, ...]
"""A normalised clamp: one ``ClampEntry`` per layer, in the model's layer order."""
