"""Attention masks: which (query, key) pairs an attention synapse scores.

A mask is ``None`` (every pair), the string ``"causal"`` (query ``i`` attends keys
``j ≤ i``) or a boolean ``(queries, keys)`` array (``True`` = attend). ``AttentionMask``
stores one compactly and hashably (the bits of an array packed into ``bytes``), so that a
synapse holding it stays a static, hashable configuration under ``jax.jit`` and
``equinox.filter_jit``; the synapse's ``mask`` attribute still returns what was given.

In files a mask is a JSON value (``AttentionMask.plain`` / ``AttentionMask.parse``):

- ``"causal"``: the string;
- ``{"shape": [Nq, Nk], "keys": [[k, …], …]}``: for each query, its allowed keys (an edge
  list grouped by query), chosen when it is the shorter text (sparse masks: a graph mask
  with ≤ 16 neighbours per token costs about 6 bytes per allowed pair);
- ``{"shape": [Nq, Nk], "packed": "<base64>"}``: ``numpy.packbits`` of the row-major bits
  (``Nq·Nk/8`` bytes, base64 adds a third), chosen for dense masks.

``attention_mask(graph)`` builds the mask of a networkx graph.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Hashable, Sequence
from typing import Any

import jax
import jax.core
import networkx as nx
import numpy as np
from jaxtyping import Bool

from .._errors import ValidationError


__all__ = ["AttentionMask", "attention_mask", "parse_mask", "CAUSAL", "MAX_MASK_ENTRIES"]

CAUSAL = "causal"
MAX_MASK_ENTRIES = 2**28
"""The most (query, key) pairs a mask read from a file may describe (16384² tokens)."""


def _hint(where: str) -> str:
    return (
        f"{where}: mask must be None (every key), 'causal' (query i attends keys j <= i) or a boolean "
        "(queries, keys) array with True where a query attends a key"
    )


class AttentionMask:
    """A hashable attention mask: ``"causal"`` or the packed bits of a boolean array.

    Equality and the hash look only at the mask's content (kind, shape and bits), so two
    synapses with equal masks share compiled code. ``given`` is what the user passed (the
    string or the array); ``array(nq, nk)`` the boolean mask for a score tensor of ``nq``
    queries and ``nk`` keys.

    Example:
        >>> import numpy as np
        >>> m = AttentionMask.parse(np.eye(3, dtype=bool), "demo")
        >>> m == AttentionMask.parse(np.eye(3, dtype=bool), "demo"), m.shape, m.plain()
        (True, (3, 3), {'shape': [3, 3], 'packed': 'iIA='})
        >>> AttentionMask.parse(np.eye(50, dtype=bool), "demo").plain()["keys"][:3]   # sparse: an edge list
        [[0], [1], [2]]
    """

    __slots__ = ("kind", "shape", "bits", "given", "_hash")

    def __init__(self, kind: str, shape: tuple[int, int] | None, bits: bytes, given: Any):
        self.kind = kind
        self.shape = shape
        self.bits = bits
        self.given = given
        self._hash = hash((kind, shape, bits))

    # ---- construction ------------------------------------------------------------------

    @classmethod
    def parse(cls, value: Any, where: str) -> AttentionMask:
        """Check a user's or a file's mask; ``where`` names the owner in errors.

        Raises:
            ValidationError: for anything but ``"causal"``, a boolean 2-d array or a file
                encoding (``{"shape", "keys"}`` / ``{"shape", "packed"}``) that is consistent.
        """
        if isinstance(value, AttentionMask):
            return value
        if isinstance(value, str):
            if value != CAUSAL:
                raise ValidationError(f"{_hint(where)}; got the string {value!r}.")
            return cls(CAUSAL, None, b"", CAUSAL)
        if isinstance(value, dict):
            return cls.from_array(_decode(value, where), where)
        if isinstance(value, jax.core.Tracer):
            raise ValidationError(
                f"{_hint(where)}; got a traced array. A mask is part of the synapse's configuration: build it "
                "outside jax.jit, from concrete values."
            )
        if not isinstance(value, (np.ndarray, jax.Array)):
            raise ValidationError(f"{_hint(where)}; got {type(value).__name__}. Wrap lists with np.array(..., bool).")
        return cls.from_array(value, where)

    @classmethod
    def from_array(cls, value: Any, where: str) -> AttentionMask:
        """A mask from a boolean array (numpy or jax), kept as ``given``."""
        arr = np.asarray(value)
        if arr.dtype != np.bool_:
            raise ValidationError(
                f"{_hint(where)}; got an array of dtype {arr.dtype}. Convert it with mask.astype(bool) "
                "(nonzero = attend)."
            )
        if arr.ndim != 2 or 0 in arr.shape:
            raise ValidationError(f"{_hint(where)}; got an array of shape {arr.shape} (it must be 2-d, non-empty).")
        given = value
        if isinstance(value, np.ndarray):  # a private read-only copy: later edits of the caller's array change nothing
            given = value.copy()
            given.flags.writeable = False
        shape = (int(arr.shape[0]), int(arr.shape[1]))
        return cls("array", shape, np.packbits(arr, axis=None).tobytes(), given)

    # ---- reading -------------------------------------------------------------------------

    @property
    def is_causal(self) -> bool:
        """Whether this is the ``"causal"`` mask."""
        return self.kind == CAUSAL

    def array(self, nq: int, nk: int) -> Bool[np.ndarray, "nq nk"]:
        """The boolean mask of ``nq`` queries and ``nk`` keys (``True`` = attend)."""
        if self.kind == CAUSAL:
            return np.tri(nq, nk, dtype=bool)
        if self.shape != (nq, nk):
            raise ValidationError(f"mask of shape {self.shape} used for {nq} queries and {nk} keys.")
        bits = np.unpackbits(np.frombuffer(self.bits, np.uint8), count=nq * nk)
        return bits.reshape(nq, nk).astype(bool)

    def plain(self) -> Any:
        """The compact JSON value written to files (see the module docstring)."""
        if self.kind == CAUSAL:
            return CAUSAL
        if self.shape is None:  # only the causal mask has no shape
            raise ValidationError("an array mask without a shape")
        nq, nk = self.shape
        arr = self.array(nq, nk)
        count = int(arr.sum())
        keys_cost = count * (len(str(max(nk - 1, 0))) + 2) + 4 * nq
        packed_cost = -(-len(self.bits) // 3) * 4
        if keys_cost <= packed_cost:
            return {"shape": [nq, nk], "keys": [np.flatnonzero(row).tolist() for row in arr]}
        return {"shape": [nq, nk], "packed": base64.b64encode(self.bits).decode("ascii")}

    def describe(self, nq: int, nk: int, exclude_self: bool = False) -> str:
        """A short text for hover cards: kind, shape and density, e.g. ``causal 4×4, density 62.5 %``."""
        arr = self.array(nq, nk)
        if exclude_self:
            arr = arr & ~np.eye(nq, nk, dtype=bool)
        kind = "causal" if self.kind == CAUSAL else "boolean"
        return f"{kind} {nq}×{nk}, density {100.0 * float(arr.mean()):.3g} %"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AttentionMask):
            return NotImplemented
        return (self.kind, self.shape, self.bits) == (other.kind, other.shape, other.bits)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return "AttentionMask('causal')" if self.kind == CAUSAL else f"AttentionMask(shape={self.shape})"


def parse_mask(value: Any, where: str) -> AttentionMask | None:
    """``None``, or the ``AttentionMask`` of a user's or file's mask (see ``AttentionMask.parse``)."""
    return None if value is None else AttentionMask.parse(value, where)


def _shape_of(value: Any, where: str) -> tuple[int, int]:
    shape = value.get("shape")
    ok = (
        isinstance(shape, (list, tuple))
        and len(shape) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    )
    if not ok:
        raise ValidationError(f"{where}: a stored mask needs 'shape': [queries, keys] (positive ints), got {shape!r}.")
    nq, nk = int(shape[0]), int(shape[1])
    if nq * nk > MAX_MASK_ENTRIES:
        raise ValidationError(f"{where}: a stored mask of shape {(nq, nk)} exceeds {MAX_MASK_ENTRIES:,} entries.")
    return nq, nk


def _decode(value: dict[str, Any], where: str) -> np.ndarray:
    """The boolean array of a file's mask encoding (untrusted: every index and length checked)."""
    keys = set(value)
    if keys not in ({"shape", "keys"}, {"shape", "packed"}):
        raise ValidationError(
            f"{where}: a stored mask is {{'shape': [Nq, Nk], 'keys': [[...], ...]}} or "
            f"{{'shape': [Nq, Nk], 'packed': '<base64>'}}; got the keys {sorted(keys)}."
        )
    nq, nk = _shape_of(value, where)
    if "packed" in value:
        text = value["packed"]
        try:
            raw = base64.b64decode(text, validate=True) if isinstance(text, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None or len(raw) != -(-nq * nk // 8):
            raise ValidationError(
                f"{where}: 'packed' must be the base64 text of {-(-nq * nk // 8)} bytes (numpy.packbits of the "
                f"{nq}×{nk} bits), got {str(text)[:40]!r}."
            )
        return np.unpackbits(np.frombuffer(raw, np.uint8), count=nq * nk).reshape(nq, nk).astype(bool)
    rows = value["keys"]
    if not isinstance(rows, (list, tuple)) or len(rows) != nq:
        raise ValidationError(f"{where}: 'keys' must list the allowed keys of each of the {nq} queries.")
    out = np.zeros((nq, nk), bool)
    for q, row in enumerate(rows):
        ok = isinstance(row, (list, tuple)) and all(
            isinstance(k, int) and not isinstance(k, bool) and 0 <= k < nk for k in row
        )
        if not ok:
            raise ValidationError(f"{where}: 'keys' of query {q} must be key indices in [0, {nk}), got {row!r:.80}.")
        out[q, list(row)] = True
    return out


def attention_mask(
    graph: nx.Graph, nodes: Sequence[Hashable] | None = None, *, self_loops: bool = True
) -> Bool[np.ndarray, "n n"]:
    """The attention mask of a networkx graph: token ``i`` attends token ``j`` along an edge.

    ``mask[i, j]`` is ``True`` when the graph has an edge from ``nodes[i]`` to ``nodes[j]``
    (either direction for an undirected graph; for a directed graph the adjacency
    matrix's orientation), and on the diagonal when ``self_loops`` is ``True`` (every node
    attends itself; with ``False`` only nodes with a self-loop edge do). Pass it as
    ``SelfAttentionSynapse(mask=...)`` for one token per node, in the order of ``nodes``.

    Args:
        graph: any networkx graph (multigraphs included).
        nodes: the node order of the tokens (default ``list(graph.nodes)``); every node of
            the graph at most once, each one a node of the graph.
        self_loops: put ``True`` on the diagonal.

    Returns:
        A boolean numpy array ``(len(nodes), len(nodes))``.

    Raises:
        ValidationError: for a graph that is not a networkx graph, or ``nodes`` with
            repeats, unknown nodes, or no node at all.

    Example:
        >>> import networkx as nx, hamux_graph as hg
        >>> hg.attention_mask(nx.path_graph(3)).astype(int).tolist()
        [[1, 1, 0], [1, 1, 1], [0, 1, 1]]
        >>> hg.attention_mask(nx.path_graph(3), nodes=[2, 1], self_loops=False).astype(int).tolist()
        [[0, 1], [1, 0]]
    """
    if not isinstance(graph, nx.Graph):
        raise ValidationError(f"attention_mask: graph must be a networkx graph, got {type(graph).__name__}.")
    order = list(graph.nodes) if nodes is None else list(nodes)
    if not order:
        raise ValidationError("attention_mask: no nodes (an empty graph or nodes=[]); a mask needs at least one token.")
    unknown = [n for n in order if n not in graph]
    if unknown:
        raise ValidationError(f"attention_mask: {unknown[:5]!r} are not nodes of the graph; pass nodes of the graph.")
    if len(set(order)) != len(order):
        raise ValidationError("attention_mask: nodes lists a node more than once; each node is one token.")
    if not isinstance(self_loops, bool):
        raise ValidationError(f"attention_mask: self_loops must be True or False, got {self_loops!r}.")
    index = {n: i for i, n in enumerate(order)}
    mask = np.zeros((len(order), len(order)), bool)
    for u, v in graph.edges():
        if u in index and v in index:
            mask[index[u], index[v]] = True
            if not graph.is_directed():
                mask[index[v], index[u]] = True
    if self_loops:
        np.fill_diagonal(mask, True)
    return mask
