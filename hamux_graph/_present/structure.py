"""Structure inside a synapse, as hover-card text: attention masks and simplex lists.

``structure_rows`` gives the extra rows of a synapse's card (``[label, text]``), and
``STRUCTURE_KEYS`` the configuration keys those rows replace in the card's one-line
hyperparameter list (a mask or a simplex list is data, not a short hyperparameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._types import Shape
from ..synapses import AttentionSynapse, SelfAttentionSynapse, SimplicialMemorySynapse
from ..synapses.attention import token_shape
from ..synapses.simplicial import Simplices


__all__ = ["STRUCTURE_KEYS", "structure_rows"]

STRUCTURE_KEYS = ("mask", "simplices")


def structure_rows(spec: Any, shapes: Sequence[Shape]) -> list[list[str]]:
    """Hover-card rows for a synapse's inner structure (none for other synapses).

    Example:
        >>> import hamux_graph as hg
        >>> structure_rows(hg.SelfAttentionSynapse(mask="causal"), [(4, 8)])
        [['mask', 'causal 4×4, density 62.5 %']]
        >>> structure_rows(hg.SimplicialMemorySynapse([(0, 1), (0, 1, 2)]), [(3,)])
        [['simplices', '2 (size 2: 1, size 3: 1) over 3 units']]
    """
    if isinstance(spec, (AttentionSynapse, SelfAttentionSynapse)):
        stored = spec.stored_mask
        nq = token_shape(shapes[0])[0]
        nk = token_shape(shapes[-1])[0]
        if stored is not None:
            return [["mask", stored.describe(nq, nk, spec.exclude_self)]]
        if spec.exclude_self:
            return [["mask", f"all but self {nq}×{nk}, density {100.0 * (1 - 1 / nk):.3g} %"]]
        return []
    if isinstance(spec, SimplicialMemorySynapse):
        simplices: Simplices = spec.simplices
        units = 1
        for s in shapes[0]:
            units *= int(s)
        sizes = ", ".join(f"size {k}: {n:,}" for k, n in sorted(simplices.counts().items()))
        return [["simplices", f"{len(simplices):,} ({sizes}) over {units:,} units"]]
    return []
