"""The Graph Energy Transformer: one token per graph node, attention along the graph's edges.

The Energy Transformer on graphs (as in ET for graph classification and anomaly detection)
lets a token attend only to its graph neighbours: the attention synapse carries the mask of
the graph's adjacency (``hg.attention_mask``). Here each node has two layers, stacked as
rows of two token layers: ``"features"`` (what is observed or completed, e.g. a class
distribution) and ``"tokens"`` (the ET's hidden token, with its energy layer norm). A
joint ReLU² Hopfield memory couples a node's features with its token, and masked
multi-head energy attention couples the tokens of neighbouring nodes:

    E = E_features + E_tokens − (1/β) Σ_h Σ_q log Σ_{k ∈ N(q)} exp(β Q[h,q]·K[h,k])
        − ½ Σ_n Σ_μ relu(f_n·ξ^f_μ + g_n·ξ^g_μ)².

Clamping the features of some nodes and descending the energy completes the others.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import networkx as nx

from .._api import HAM
from .._errors import ValidationError
from .._internal.parse import parse_int
from ..lagrangians.elementwise import Lagrangian, LRelu, LSoftmax
from ..layers import Layer, LayerNormLayer
from ..synapses import attention_mask, DenseMatrixSynapseWithHiddenLayer, SelfAttentionSynapse


__all__ = ["graph_energy_transformer"]


def graph_energy_transformer(
    graph: Any,
    feature_dim: int,
    dim: int = 16,
    num_heads: int = 1,
    zspace_dim: int = 16,
    num_memories: int = 32,
    nodes: Sequence[Hashable] | None = None,
    self_loops: bool = True,
    feature_lagrangian: Lagrangian | None = None,
    beta: float | None = None,
    eps: float = 1e-5,
    stdinit: float = 0.02,
) -> HAM:
    """A Graph Energy Transformer over the nodes of a networkx graph.

    Layers ``"features"`` (``(N, feature_dim)``, Lagrangian ``feature_lagrangian``, default
    ``LSoftmax()``: one distribution per node, bounded) and ``"tokens"`` (``(N, dim)``,
    ``LayerNormLayer`` with scalar ``γ = 1`` and vector ``δ = 0``), one row per node in the
    order of ``nodes``. Synapses ``"attention"`` (``SelfAttentionSynapse(num_heads,
    zspace_dim, hidden_lagrangian=LSoftmax(beta), mask=hg.attention_mask(graph, nodes,
    self_loops=self_loops))`` on the tokens: a token attends its neighbours (and itself
    with ``self_loops``)) and ``"memory"`` (``DenseMatrixSynapseWithHiddenLayer(nhid=num_memories,
    hidden_lagrangian=LRelu(), do_ravel=False)`` over ``("features", "tokens")``: per node,
    ``−½ Σ_μ relu(f·ξ^f_μ + g·ξ^g_μ)²``). The mask is stored in files as an edge list.

    Args:
        graph: a networkx graph (its nodes are the tokens).
        feature_dim: features per node ``F``.
        dim: token dimension ``D``.
        num_heads: attention heads.
        zspace_dim: query/key dimension ``Y`` per head.
        num_memories: memories ``M`` of the joint feature–token memory.
        nodes: the node order (default ``list(graph.nodes)``).
        self_loops: whether each token also attends itself (needed for isolated nodes).
        feature_lagrangian: the features' Lagrangian (default ``LSoftmax()``).
        beta: attention inverse temperature (default ``1/√zspace_dim``).
        eps: the token layer norm's ``eps``.
        stdinit: standard deviation of the initial weights.

    Returns:
        The ``HAM``.

    Raises:
        ValidationError: for a graph that is not a networkx graph, bad sizes, or a node
            without neighbours when ``self_loops=False``.

    Example:
        >>> import networkx as nx, hamux_graph as hg
        >>> ham = hg.zoo.create("graph_energy_transformer", graph=nx.path_graph(4), feature_dim=2,
        ...                     dim=8, num_heads=2, zspace_dim=4, num_memories=6)
        >>> ham.layers["features"].shape, ham.layers["tokens"].shape, sorted(ham.synapses)
        ((4, 2), (4, 8), ['attention', 'memory'])
        >>> int(ham.synapses["attention"].mask.sum())           # 3 edges both ways + 4 self loops
        10
    """
    where = "zoo.graph_energy_transformer"
    if not isinstance(graph, nx.Graph):
        raise ValidationError(f"{where}: graph must be a networkx graph, got {type(graph).__name__}.")
    F = parse_int(feature_dim, f"{where}: feature_dim", minimum=1, error=ValidationError)
    D = parse_int(dim, f"{where}: dim", minimum=2, error=ValidationError)
    Y = parse_int(zspace_dim, f"{where}: zspace_dim", minimum=1, error=ValidationError)
    M = parse_int(num_memories, f"{where}: num_memories", minimum=1, error=ValidationError)
    mask = attention_mask(graph, nodes, self_loops=self_loops)
    n = mask.shape[0]
    if beta is None:
        beta = 1.0 / math.sqrt(Y)
    lag = LSoftmax() if feature_lagrangian is None else feature_lagrangian
    ham = HAM()
    ham.add_layer("features", Layer(lag, shape=(n, F)))
    ham.add_layer("tokens", LayerNormLayer((n, D), gamma=1.0, delta=[0.0] * D, eps=eps))
    ham.add_synapse(
        "attention",
        SelfAttentionSynapse(
            num_heads=num_heads, zspace_dim=Y, stdinit=stdinit, hidden_lagrangian=LSoftmax(beta=beta), mask=mask
        ),
        layers=("tokens",),
    )
    ham.add_synapse(
        "memory",
        DenseMatrixSynapseWithHiddenLayer(nhid=M, stdinit=stdinit, hidden_lagrangian=LRelu(), do_ravel=False),
        layers=("features", "tokens"),
    )
    return ham
